#!/usr/bin/env bash
# The full test run: installs what is missing, starts a real Kafka 4.0 broker (KRaft) and a
# throwaway PostgreSQL on 127.0.0.1, runs ruff and pytest against them, stops them again.
# Extra arguments go to pytest (e.g. `bash deploy/test.sh -k e2e -x`).
set -euo pipefail
cd "$(dirname "$0")/.."

DG_EXTRAS="dev,litellm" bash deploy/bootstrap.sh   # the LiteLLM callback/bouncer tests need litellm
bash deploy/promtool.sh
# A SASL_PLAINTEXT listener too, for the Kafka security tests (tests/integration/test_kafka_sasl.py).
export KAFKA_SASL_PORT="${KAFKA_SASL_PORT:-$(( ${KAFKA_PORT:-9092} + 2 ))}"
bash deploy/kafka.sh start
bash deploy/postgres.sh start
cleanup() { bash deploy/kafka.sh stop >/dev/null || true; bash deploy/postgres.sh stop >/dev/null || true; }
trap cleanup EXIT

export DG_TEST_BROKER="127.0.0.1:${KAFKA_PORT:-9092}"
export DG_TEST_KAFKA_SASL="127.0.0.1:${KAFKA_SASL_PORT}"
DG_TEST_DATABASE_URL="$(bash deploy/postgres.sh url)"
export DG_TEST_DATABASE_URL
export DG_REQUIRE_SERVICES=1   # a missing service fails the run instead of skipping tests

.venv/bin/ruff check .
.venv/bin/pytest "$@"
