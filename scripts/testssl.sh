#!/usr/bin/env bash
# testssl.sh (Debian package `testssl.sh`) against both TLS listeners of a demo gateway: the
# office API and the peer exchange (mutual TLS; testssl presents no client certificate, which is
# enough for every protocol, cipher, key exchange and vulnerability check — they happen before
# the server asks for one). Prints the findings at LOW and above and exits non-zero on any
# MEDIUM, HIGH or CRITICAL finding (docs/SECURITY.md lists the last run's findings). None is
# accepted: `cert_revocation` was, until the CA wrote a CRL distribution point (issue #11).
#
#   scripts/testssl.sh                 # builds lienthong if needed, ~3 minutes for both listeners
#   LIENTHONG_BIN=target/release/lienthong TESTSSL_OUT=/tmp/tls scripts/testssl.sh
set -euo pipefail
cd "$(dirname "$0")/.."

TESTSSL=$(command -v testssl || command -v testssl.sh || true)
if [ -z "$TESTSSL" ]; then
  echo "testssl.sh is not installed (apt-get install testssl.sh)" >&2
  exit 2
fi
BIN=${LIENTHONG_BIN:-}
if [ -z "$BIN" ]; then
  cargo build --locked --quiet
  BIN=${CARGO_TARGET_DIR:-target}/debug/lienthong
fi
OUT=${TESTSSL_OUT:-$(mktemp -d)}
mkdir -p "$OUT"
WORK=$(mktemp -d)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN" demo setup --dir "$WORK/demo" --json >"$WORK/setup.json"
LIENTHONG_LOG=warn "$BIN" serve --config "$WORK/demo/province/gateway.toml" \
  >"$WORK/serve.out" 2>"$WORK/serve.err" &
PID=$!
for _ in $(seq 1 120); do
  grep -q '"ready":true' "$WORK/serve.out" 2>/dev/null && break
  sleep 0.5
done
if ! grep -q '"ready":true' "$WORK/serve.out"; then
  echo "the demo gateway did not start:" >&2
  cat "$WORK/serve.err" >&2
  exit 2
fi
ready=$(head -n1 "$WORK/serve.out")
api=$(sed -E 's/.*"api":"([^"]+)".*/\1/' <<<"$ready")
exchange=$(sed -E 's/.*"exchange":"([^"]+)".*/\1/' <<<"$ready")

status=0
for target in "api $api" "exchange $exchange"; do
  set -- $target
  name=$1 url=$2
  echo "== testssl.sh: $name listener $url"
  rm -f "$OUT/$name.json" "$OUT/$name.log"
  # -p protocols, -s cipher categories, -f forward secrecy, -P server preference, -S server
  # defaults and certificate, -U vulnerabilities, -h HTTP security headers; --fast skips the
  # per-cipher scan (rustls offers nine suites, all AEAD, all seen by -s and -P).
  "$TESTSSL" --quiet --color 0 --warnings off --fast --sneaky \
    --connect-timeout 5 --openssl-timeout 10 \
    --add-ca "$WORK/demo/pki/root.pem" --severity LOW \
    --jsonfile "$OUT/$name.json" --logfile "$OUT/$name.log" \
    -p -s -f -P -S -U -h "$url" >/dev/null 2>&1 || true
  if [ ! -s "$OUT/$name.json" ]; then
    echo "testssl.sh produced no findings file for $name" >&2
    status=1
    continue
  fi
  # The flat JSON has one finding per object: print id, severity and finding of each.
  findings=$(tr -d '\n' <"$OUT/$name.json" | sed 's/},/}\n/g' |
    sed -nE 's/.*"id" *: *"([^"]*)".*"severity" *: *"([^"]*)".*"finding" *: *"([^"]*)".*/\2 \1: \3/p')
  printf '%s\n' "$findings" | sed 's/^/   /'
  bad=$(printf '%s\n' "$findings" | grep -E '^(MEDIUM|HIGH|CRITICAL) ' || true)
  if [ -n "$bad" ]; then
    echo "FAIL ($name): medium or high findings:" >&2
    printf '%s\n' "$bad" >&2
    status=1
  fi
done
echo "testssl.sh reports in $OUT"
exit $status
