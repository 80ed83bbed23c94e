#!/usr/bin/env bash
# One command: set up adr (first time only) and run the whole pipeline on the built-in demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/adr demo "$@"
