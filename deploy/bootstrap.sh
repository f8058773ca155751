#!/usr/bin/env bash
# Create .venv with the pinned dependencies of pyproject.toml. Idempotent: re-installs only when
# pyproject.toml changed since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY="$candidate"; break
    fi
  done
fi
[ -n "$PY" ] || { echo "bootstrap: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

# DG_EXTRAS: the optional dependency groups to install (deploy/test.sh adds litellm for CI).
EXTRAS="${DG_EXTRAS:-dev}"
stamp=".venv/.installed-$( (cat pyproject.toml setup.py; echo "$EXTRAS") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing pinned dependencies into .venv (first run takes a minute)" >&2
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[${EXTRAS}]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
echo "bootstrap: .venv ready ($(.venv/bin/python --version))" >&2
