"""iXML documents in Broadcast WAV: track names of a polyphonic file and adr's provenance.

:func:`make_ixml` writes the minimal document adr puts in its files (project, take, note,
track list, and for a synthetic line an ``ADR_PROVENANCE`` element); :func:`ixml_track_names`
and :func:`ixml_provenance` read them back from any iXML (unparseable XML gives None). The
chunk itself is read and written by :mod:`adr.ingest.bwf`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

__all__ = ["ixml_provenance", "ixml_track_names", "make_ixml"]


def make_ixml(
    track_names: list[str] | tuple[str, ...],
    *,
    project: str = "",
    scene: str = "",
    take: str = "",
    note: str = "",
    provenance: dict[str, str] | None = None,
) -> str:
    """A minimal iXML document naming the tracks of a polyphonic file.

    Parameters
    ----------
    track_names : sequence of str, length C
        Name of each interleaved channel, in order.
    provenance : dict of str to str, optional
        A synthetic line's provenance (:meth:`adr.core.consent.Provenance.fields`: keys such
        as ``SYNTHETIC``, ``VOICE``, ``CONSENT_ID``), written as an ``ADR_PROVENANCE``
        element (iXML readers keep unknown elements) and as the ``USER`` text.
    """
    root = ET.Element("BWFXML")
    ET.SubElement(root, "IXML_VERSION").text = "1.61"
    for tag, value in (("PROJECT", project), ("SCENE", scene), ("TAKE", take), ("NOTE", note)):
        if value:
            ET.SubElement(root, tag).text = value
    if provenance:
        ET.SubElement(root, "USER").text = "; ".join(f"{k}={v}" for k, v in provenance.items())
        block = ET.SubElement(root, "ADR_PROVENANCE")
        for key, value in provenance.items():
            ET.SubElement(block, key).text = value
    tracks = ET.SubElement(root, "TRACK_LIST")
    ET.SubElement(tracks, "TRACK_COUNT").text = str(len(track_names))
    for i, name in enumerate(track_names, start=1):
        t = ET.SubElement(tracks, "TRACK")
        ET.SubElement(t, "CHANNEL_INDEX").text = str(i)
        ET.SubElement(t, "INTERLEAVE_INDEX").text = str(i)
        ET.SubElement(t, "NAME").text = name
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def ixml_track_names(ixml: str, num_channels: int) -> tuple[str, ...] | None:
    """Track names from an iXML ``TRACK_LIST``, ordered by interleave index.

    Returns None when the document is not parseable XML or names no track; channels the
    list does not name get their 1-based number as name.
    """
    try:
        root = ET.fromstring(ixml.strip().lstrip("\ufeff"))
    except ET.ParseError:
        return None
    names: dict[int, str] = {}
    for k, track in enumerate(root.iter("TRACK"), start=1):
        name = (track.findtext("NAME") or "").strip()
        index = track.findtext("INTERLEAVE_INDEX") or track.findtext("CHANNEL_INDEX") or ""
        try:
            i = int(index.strip())
        except ValueError:
            i = k
        if name and 1 <= i <= num_channels:
            names[i] = name
    if not names:
        return None
    return tuple(names.get(i, str(i)) for i in range(1, num_channels + 1))


def ixml_provenance(ixml: str) -> dict[str, str] | None:
    """The ``ADR_PROVENANCE`` element of an iXML document as a dict, or None."""
    try:
        root = ET.fromstring(ixml.strip().lstrip("\ufeff"))
    except ET.ParseError:
        return None
    block = root.find("ADR_PROVENANCE")
    if block is None:
        return None
    return {child.tag: (child.text or "") for child in block}
