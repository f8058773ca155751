#!/usr/bin/env bash
# The embedded default, no Kafka or PostgreSQL: simulator -> engine -> SQLite, then a summary.
# Extra arguments go to `distillguard demo` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/bootstrap.sh
exec .venv/bin/distillguard demo "$@"
