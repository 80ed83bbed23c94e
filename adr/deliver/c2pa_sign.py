"""Content credentials (C2PA) for adr's synthetic deliverables, through ``c2pa-python``.

When the user configures a signing key, ``adr export`` attaches a C2PA manifest to every
per-cue Broadcast WAV (``c2pa.created`` by a trained algorithm, IPTC digital source type
``trainedAlgorithmicMedia``) and to the dialog stem (``compositeWithTrainedAlgorithmicMedia``),
each with adr's provenance as an ``org.adr.provenance`` assertion. The manifest goes into a
``C2PA`` chunk after the audio; the bext and iXML chunks stay as written.

The key is configured with two environment variables (no key, no manifest: the CLI says so
once):

* ``ADR_C2PA_CERT``: the signing certificate chain, PEM (leaf first);
* ``ADR_C2PA_KEY``: its private key, PKCS#8 PEM;
* ``ADR_C2PA_ALG`` (optional): ``es256`` (default), ``es384``, ``es512``, ``ps256``, ``ed25519``.

No time-stamp authority is contacted (nothing goes to the network at run time), so a
manifest's signing time is the signer's own claim.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adr.core.errors import AdrError
from adr.core.fsio import atomic_path

__all__ = ["C2paKey", "key_from_env", "sign_wav", "read_credentials", "NO_KEY_NOTE"]

ENV_CERT, ENV_KEY, ENV_ALG = "ADR_C2PA_CERT", "ADR_C2PA_KEY", "ADR_C2PA_ALG"
_ALGS = ("es256", "es384", "es512", "ps256", "ps384", "ps512", "ed25519")
_IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
NO_KEY_NOTE = (
    f"no C2PA signing key ({ENV_CERT} and {ENV_KEY} unset): content credentials "
    "skipped; the deliverables still carry bext/iXML marking and the watermark"
)


@dataclass(frozen=True)
class C2paKey:
    """A signing certificate chain and key (PEM files) and the algorithm."""

    cert: str
    key: str
    alg: str = "es256"

    def identity(self) -> list[Any]:
        """What an output's cache key should know of the signer (paths and file stats)."""
        return [self.alg] + [
            [p, os.stat(p).st_size, os.stat(p).st_mtime_ns] for p in (self.cert, self.key)
        ]


def key_from_env(environ: Mapping[str, str] | None = None) -> C2paKey | None:
    """The key configured in the environment, or None when neither variable is set.

    Raises
    ------
    AdrError
        Only one of the two variables set, a file missing, or an unknown algorithm.
    """
    env = os.environ if environ is None else environ
    cert, key = env.get(ENV_CERT, ""), env.get(ENV_KEY, "")
    if not cert and not key:
        return None
    if not cert or not key:
        missing = ENV_KEY if cert else ENV_CERT
        raise AdrError(
            missing,
            "is not set; C2PA signing needs both the certificate chain "
            f"({ENV_CERT}) and its private key ({ENV_KEY})",
        )
    for var, path in ((ENV_CERT, cert), (ENV_KEY, key)):
        if not Path(path).is_file():
            raise AdrError(path, f"file not found (given by {var})")
    alg = env.get(ENV_ALG, "es256").strip().lower()
    if alg not in _ALGS:
        raise AdrError(ENV_ALG, f"unknown signing algorithm {alg!r} (one of {', '.join(_ALGS)})")
    return C2paKey(cert, key, alg)


def sign_wav(
    path: str | Path,
    key: C2paKey,
    provenance: Mapping[str, Any],
    *,
    title: str = "",
    composite: bool = False,
    adr_version: str = "",
) -> Path:
    """Attach a signed C2PA manifest to the WAV at ``path`` (rewritten atomically).

    Parameters
    ----------
    provenance : mapping
        adr's provenance of the file (a take's fields, or the stem's list of synthetic cues).
    composite : bool
        The file mixes recorded and synthetic audio (the dialog stem).

    Raises
    ------
    AdrError
        The key cannot be read or c2pa refuses it (naming the key), or signing fails.
    """
    import c2pa

    p = Path(path)
    try:
        info = c2pa.C2paSignerInfo(
            key.alg.encode(), Path(key.cert).read_bytes(), Path(key.key).read_bytes(), None
        )
        signer = c2pa.Signer.from_info(info)
    except (OSError, c2pa.C2paError) as exc:
        raise AdrError(key.cert, f"C2PA signer not usable ({str(exc)[:160]})") from None
    source = "compositeWithTrainedAlgorithmicMedia" if composite else "trainedAlgorithmicMedia"
    manifest = {
        "claim_generator_info": [{"name": "adr", "version": adr_version or "unknown"}],
        "title": title or p.name,
        "format": "audio/wav",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": _IPTC + source,
                            "softwareAgent": {"name": "adr", "version": adr_version or "unknown"},
                        }
                    ]
                },
            },
            {"label": "org.adr.provenance", "data": dict(provenance)},
        ],
    }
    try:
        builder = c2pa.Builder(json.dumps(manifest))
        with atomic_path(p) as tmp, open(p, "rb") as src, open(tmp, "w+b") as dst:
            builder.sign(signer, "audio/wav", src, dst)
    except c2pa.C2paError as exc:
        raise AdrError(p, f"C2PA signing failed ({str(exc)[:160]})") from None
    finally:
        signer.close()
    return p


def read_credentials(path: str | Path) -> dict[str, Any] | None:
    """The C2PA manifest of a file, summarized, or None when it has none.

    Returns
    -------
    dict or None
        ``{"issuer", "common_name", "source_type", "provenance", "validation"}``:
        ``validation`` lists c2pa's status codes (``signingCredential.untrusted`` for a key
        no trust list knows; anything about ``mismatch`` means the file changed after signing).
    """
    import c2pa

    try:
        data = json.loads(c2pa.Reader(str(path)).json())
    except c2pa.C2paError:
        return None
    active = data.get("manifests", {}).get(data.get("active_manifest", ""), {})
    sig = active.get("signature_info", {})
    source, prov = "", None
    for a in active.get("assertions", []):
        if a.get("label", "").startswith("c2pa.actions"):
            acts = a.get("data", {}).get("actions", [])
            source = (acts[0].get("digitalSourceType", "") if acts else "").rsplit("/", 1)[-1]
        elif a.get("label") == "org.adr.provenance":
            prov = a.get("data")
    return {
        "issuer": sig.get("issuer", ""),
        "common_name": sig.get("common_name", ""),
        "source_type": source,
        "provenance": prov,
        "validation": [s.get("code", "") for s in data.get("validation_status", [])],
    }
