#!/usr/bin/env bash
# The committed OpenAPI document, checked by tools partners run: openapi-spec-validator (PyPI),
# Redocly's linter and Spectral's `spectral:oas` ruleset (npm). Fails on any validator error,
# any Redocly error, and any Spectral error or warning (e.g. an operation without a description).
set -euo pipefail
cd "$(dirname "$0")/.."
SPEC="$PWD/openapi/openapi.json"

VALIDATOR_VERSION=0.9.0
REDOCLY_VERSION=2.77.0
SPECTRAL_VERSION=6.16.3

if ! python3 -c "import openapi_spec_validator" 2>/dev/null; then
  python3 -m pip install --quiet "openapi-spec-validator==$VALIDATOR_VERSION"
fi
python3 -m openapi_spec_validator "$SPEC"

if ! command -v npm >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
TOOLS="${TMPDIR:-/tmp}/cascade-openapi-lint-$REDOCLY_VERSION-$SPECTRAL_VERSION"
if [ ! -x "$TOOLS/node_modules/.bin/redocly" ] || [ ! -x "$TOOLS/node_modules/.bin/spectral" ]; then
  mkdir -p "$TOOLS"
  (cd "$TOOLS" && npm init -y >/dev/null &&
    npm install --silent --no-audit --no-fund \
      "@redocly/cli@$REDOCLY_VERSION" "@stoplight/spectral-cli@$SPECTRAL_VERSION" >/dev/null)
fi
REDOCLY_TELEMETRY=off "$TOOLS/node_modules/.bin/redocly" lint "$SPEC" --format=summary
printf 'extends: ["spectral:oas"]\n' >"$TOOLS/.spectral.yaml"
"$TOOLS/node_modules/.bin/spectral" lint "$SPEC" --ruleset "$TOOLS/.spectral.yaml" \
  --fail-severity=warn
