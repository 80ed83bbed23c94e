#!/usr/bin/env bash
# One command: set up adr (first time only), lint, check formatting, type-check, and run the
# test suite.
#   scripts/test.sh          fast tests (the default suite, < 10 minutes on 2 cores)
#   scripts/test.sh --slow   the slow tests only (CI runs them as a separate step)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "--slow" ]; then
  shift
  # exit code 5 = no slow tests collected: not a failure
  .venv/bin/python -m pytest -m slow "$@" || { rc=$?; [ $rc -eq 5 ] && exit 0; exit $rc; }
else
  .venv/bin/ruff check adr tests bench
  .venv/bin/ruff format --check adr tests bench
  .venv/bin/mypy  # adr/, settings in pyproject.toml; zero errors
  .venv/bin/python -m pytest "$@"
fi
