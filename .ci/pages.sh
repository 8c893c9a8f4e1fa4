#!/usr/bin/env bash
# The pages people use, in a real browser: Debian's Chromium driven by Playwright (npm's
# playwright-core), each page scanned by axe-core (@axe-core/playwright) for WCAG 2.2 AA, on a
# desktop and a phone-sized viewport. Runs against a real `cascade serve` (the debug build) on a
# fresh SQLite database with the demo partnership, sending email to a real SMTP server (Python's
# aiosmtpd, into a maildir); .ci/pages_check.cjs makes what the pages show
# through the API and fails on any violation. The npm packages go to a cache outside the
# repository (CASCADE_BROWSER_DIR, default ~/.cache/cascade-browser).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! command -v npm >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
NODE_DIR="${CASCADE_BROWSER_DIR:-$HOME/.cache/cascade-browser}"
mkdir -p "$NODE_DIR"
if [ ! -d "$NODE_DIR/node_modules/jsqr" ]; then
  (cd "$NODE_DIR" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --silent --no-audit --no-fund playwright-core@1.64.1 @axe-core/playwright@4.13.0 \
      jsqr@1.4.0 pngjs@7.0.0)
fi
if ! command -v pdftoppm >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils >/dev/null
fi
python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install --quiet "aiosmtpd==1.4.6"
# libfaketime moves the server's clock (only its wall clock) to the day of a session's register.
FAKETIME_LIB="$(ls /usr/lib/*/faketime/libfaketime.so.1 2>/dev/null | head -1 || true)"
if [ -z "$FAKETIME_LIB" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq faketime >/dev/null
  FAKETIME_LIB="$(ls /usr/lib/*/faketime/libfaketime.so.1 | head -1)"
fi

cargo build --quiet -p cascade
BIN="$PWD/target/debug/cascade"
WORK="$(mktemp -d)"
DB="sqlite://$WORK/cascade.db?mode=rwc"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
CASCADE_DATABASE_URL="$DB" "$BIN" demo >/dev/null
KEY="$(CASCADE_DATABASE_URL="$DB" "$BIN" keys create --role admin --name pages | tail -1)"
# A real SMTP server: the sign-in links are read from what it received (a maildir).
SMTP_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$WORK/maildir" \
  >"$WORK/smtp.log" 2>&1 &
SMTP=$!
echo "+0d" >"$WORK/faketime"
CASCADE_DATABASE_URL="$DB" CASCADE_BIND="127.0.0.1:$PORT" CASCADE_SMTP_URL="smtp://127.0.0.1:$SMTP_PORT" \
  CASCADE_PUBLIC_URL="http://127.0.0.1:$PORT" CASCADE_LOG=warn \
  LD_PRELOAD="$FAKETIME_LIB" FAKETIME_TIMESTAMP_FILE="$WORK/faketime" FAKETIME_CACHE_DURATION=1 \
  FAKETIME_DONT_FAKE_MONOTONIC=1 \
  "$BIN" serve >"$WORK/serve.log" 2>&1 &
SERVER=$!
cleanup() {
  kill "$SMTP" 2>/dev/null || true
  kill "$SERVER" 2>/dev/null || true
  wait "$SERVER" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done

NODE_PATH="$NODE_DIR/node_modules" CASCADE_BASE="http://127.0.0.1:$PORT" CASCADE_KEY="$KEY" CASCADE_MAILDIR="$WORK/maildir" \
  CASCADE_FAKETIME="$WORK/faketime" \
  SHOTS="${CASCADE_SHOTS:-$WORK}" node .ci/pages_check.cjs
