#!/usr/bin/env bash
# Property-based API testing: schemathesis generates requests for every operation of the
# committed OpenAPI document and checks every answer against it (no 5xx, documented status
# codes, content types, headers and bodies). It runs against a real `cascade serve` (the debug
# build, which also refuses any write that leaves no audit record) on a fresh SQLite database
# with the demo partnership, as an admin. Time-bounded by ST_MAX_TIME (seconds, default 240).
# With ST_POSTGRES_URL (a server, e.g. postgres://postgres@127.0.0.1:5432/postgres) it runs on a
# fresh PostgreSQL database there instead, dropped afterwards.
# Then, against the same server, the scim2-tester compliance suite (RFC 7643/7644) on /scim/v2
# with a partner key (.ci/scim_check.py): every check must pass.
# One worker: with two, hypothesis parses lambdas from two threads at once and CPython 3.11's
# `ast` fails with "AST constructor recursion depth mismatch" (a Python bug, not an API finding).
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
if ! command -v st >/dev/null || ! st --version 2>/dev/null | grep -q "$ST_VERSION"; then
  python3 -m pip install --quiet "schemathesis==$ST_VERSION"
fi
SCIM_TESTER_VERSION=0.5.2
if ! python3 -c "import importlib.metadata as m; assert m.version('scim2-tester') == '$SCIM_TESTER_VERSION'; import httpx2" 2>/dev/null; then
  python3 -m pip install --quiet "scim2-tester==$SCIM_TESTER_VERSION" "scim2-client==0.13.2" "httpx2==2.16.2"
fi

cargo build --quiet -p cascade
BIN="$PWD/target/debug/cascade"
WORK="$(mktemp -d)"
DB="sqlite://$WORK/cascade.db?mode=rwc"
PG_DB=""
if [ -n "${ST_POSTGRES_URL:-}" ]; then
  PG_DB="schemathesis_$(date +%s)_$$"
  psql "$ST_POSTGRES_URL" -q -c "CREATE DATABASE $PG_DB"
  DB="${ST_POSTGRES_URL%/*}/$PG_DB"
fi
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

CASCADE_DATABASE_URL="$DB" "$BIN" demo >/dev/null
KEY="$(CASCADE_DATABASE_URL="$DB" "$BIN" keys create --role admin --name schemathesis | tail -1)"

# Limits that protect a public deployment would only slow the generator down.
CASCADE_DATABASE_URL="$DB" CASCADE_BIND="127.0.0.1:$PORT" \
  CASCADE_RATE_LIMIT_PER_MINUTE=0 CASCADE_AUTH_FAILURES_PER_MINUTE=0 \
  CASCADE_PUBLIC_PER_MINUTE=0 CASCADE_VERIFY_PER_MINUTE=0 CASCADE_LOG=warn \
  "$BIN" serve >"$WORK/serve.log" 2>&1 &
SERVER=$!
cleanup() {
  cd /
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
  if [ -n "$PG_DB" ]; then
    psql "$ST_POSTGRES_URL" -q -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || true
  fi
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done

# Run from the scratch folder: schemathesis and hypothesis keep caches in the working directory.
SPEC="$PWD/openapi/openapi.json"
SCIM_CHECK="$PWD/.ci/scim_check.py"
cd "$WORK"
status=0
st run "$SPEC" \
  --url "http://127.0.0.1:$PORT/api/v1" \
  --header "Authorization: Bearer $KEY" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --workers 1 \
  --max-time "${ST_MAX_TIME:-240}" \
  --request-timeout 30 \
  --suppress-health-check all \
  --warnings off \
  --no-color || status=$?

echo "--- scim2-tester against /scim/v2 with a partner key ---"
# A partner of its own: schemathesis may have deactivated or renamed any organisation it found.
ORG="$(curl -fsS -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
  -d '{"name":"SCIM compliance partner","sector":"voluntary"}' "http://127.0.0.1:$PORT/api/v1/organisations" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')"
PARTNER_KEY="$(CASCADE_DATABASE_URL="$DB" "$BIN" keys create --role partner --organisation "$ORG" --name scim2-tester | tail -1)"
python3 "$SCIM_CHECK" "http://127.0.0.1:$PORT/scim/v2" "$PARTNER_KEY" || status=$?

if [ "$status" -ne 0 ]; then
  echo "--- server log (warnings and errors) ---"
  tail -n 50 "$WORK/serve.log"
fi
exit "$status"
