#!/usr/bin/env bash
# Set up adr on this machine: Debian packages, a virtual environment in .venv, and adr itself.
# Idempotent: a rerun installs only what is missing. Used by both README commands and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ffmpeg sox libsox-fmt-all espeak-ng festival festvox-us-slt-hts festvox-kallpc16k
              festvox-kdlpc16k chromium)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${ADR_PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

stamp=.venv/.adr-installed
want=$(sha1sum pyproject.toml scripts/setup.sh | sha1sum | cut -c1-40)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages into .venv (first time: several minutes)" >&2
  # torch first, pinned, so that no other package pulls a different build.
  "${PIP[@]}" install "torch==2.14.1" "torchaudio==2.11.0" "torchcodec==0.17.0" 2> >(grep -v "^WARNING: Location" >&2)
  "${PIP[@]}" install -e ".[dev]" 2> >(grep -v "^WARNING: Location" >&2)
  echo "$want" > "$stamp"
fi
echo "setup: ready (.venv/bin/adr)" >&2
