#!/usr/bin/env bash
# Property-based API testing with schemathesis against real gateways: a fresh three-gateway demo
# (lienthong demo setup) on loopback, HTTPS with the demo CA, valid tokens per role. Every
# operation of the served /api/v1/openapi.json is exercised with generated valid and invalid
# requests; the run fails on any 5xx or any response that does not match the description
# (status code, content type, headers, body schema), or on invalid data that is not refused.
#
#   scripts/schemathesis.sh                 # SCHEMATHESIS_MAX_EXAMPLES=N to go deeper (default 25)
#
# Needs python3 with venv (Debian: python3-venv) and PyPI; the venv is kept in the target dir.
set -euo pipefail
cd "$(dirname "$0")/.."

ST_VERSION=4.32.5
TARGET=${CARGO_TARGET_DIR:-target}
VENV=${SCHEMATHESIS_VENV:-$TARGET/schemathesis-venv}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-25}
# Network-level failures are retried twice (--request-retries): a handler that refuses before
# reading a request body (401/403/415) answers and closes, and a client still sending then sees
# a reset instead of the answer; that is TCP, not the API. What is checked on every response. `negative_data_rejection`: data outside the schema must be
# refused with a 4xx, not accepted.
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection

if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  echo "schemathesis: installing $ST_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "schemathesis==$ST_VERSION"
fi
PY="$VENV/bin/python"

cargo build --locked --quiet
BIN="$TARGET/debug/lienthong"

WORK=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${SCHEMATHESIS_REPORTS:-}" ]; then
    mkdir -p "$SCHEMATHESIS_REPORTS" && cp "$WORK"/*.xml "$WORK"/*.txt "$WORK"/*.log "$SCHEMATHESIS_REPORTS"/ 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Demo keys with the documented fast KDF (test-only knob).
"$BIN" demo setup --dir "$WORK/demo" --json --pbkdf2-iterations 1000 >"$WORK/demo.json"
# Short long polls: once the run has acknowledged every pending document, a generated
# `wait=3600` would otherwise hold each call for the default 30 s.
for role in central province district; do
  printf '\n[limits]\nmax_wait_secs = 2\n' >>"$WORK/demo/$role/gateway.toml"
done
for role in central province district; do
  cfg="$WORK/demo/$role/gateway.toml"
  LIENTHONG_LOG=warn "$BIN" serve --config "$cfg" >"$WORK/$role.out" 2>"$WORK/$role.log" &
  pids+=("$!")
done
for role in central province district; do
  for _ in $(seq 1 600); do
    grep -q '"ready":true' "$WORK/$role.out" 2>/dev/null && break
    sleep 0.1
  done
  grep -q '"ready":true' "$WORK/$role.out" || { echo "$role did not start:" >&2; cat "$WORK/$role.log" >&2; exit 1; }
done

# Names for the runs, and a pending document in the province's and the central office's inbox
# (so that long polls answer at once): submitted as the district with the JSON form.
eval "$("$PY" - "$WORK/demo.json" <<'EOF'
import json, ssl, sys, time, urllib.request
d = json.load(open(sys.argv[1]))
g = {x["role"]: x for x in d["gateways"]}
ctx = ssl.create_default_context(cafile=d["root_pem"])
def call(role, token, path, body=None):
    req = urllib.request.Request(g[role]["api_url"] + path, data=body, method="POST" if body else "GET")
    req.add_header("Authorization", "Bearer " + g[role]["tokens"][token])
    req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return json.load(r)
for to in ["TU.BENTRE", "VPTW"]:
    call("district", "submit", "/api/v1/documents", json.dumps({
        "to": [{"organ_id": to}], "code": {"number": "1", "notation": "TB/HU"},
        "subject": "schemathesis", "document_type": {"type": "TB", "name": "Thông báo"},
        "label": {"level": "thuong", "procedure": "VB-01", "public": True}}).encode())
for role in ["province", "central"]:
    for _ in range(30):
        if call(role, "receive", "/api/v1/inbox?wait=5")["documents"]:
            break
    else:
        sys.exit(f"nothing reached the {role} inbox")
print(f"ROOT={d['root_pem']!r}")
for role, x in g.items():
    print(f"API_{role.upper()}={x['api_url']!r}")
    for t, v in x["tokens"].items():
        print(f"TOKEN_{role.upper()}_{t.upper()}={v!r}")
EOF
)"

status=0
run() {
  local name=$1 api=$2; shift 2
  echo "== schemathesis: $name" >&2
  "$VENV/bin/st" run "$api/api/v1/openapi.json" --url "$api" --tls-verify "$ROOT" \
    --checks "$CHECKS" --max-examples "$MAX_EXAMPLES" --seed 7303 --no-color \
    --suppress-health-check all --request-timeout 40 --request-retries 2 \
    --report junit,vcr --report-junit-path "$WORK/$name.xml" --report-vcr-path "$WORK/$name.vcr.txt" "$@" 2>&1 | tee "$WORK/$name.txt" | tail -"${SCHEMATHESIS_TAIL:-25}" || status=1
  grep -E "^  [0-9]+ generated" "$WORK/$name.txt" | sed "s/^ */   $name: /" >&2 || true
  if [ -f "$WORK/$name.xml" ]; then
    "$PY" -c 'import sys,re; t=open(sys.argv[1]).read(); print("   junit:", re.search(r"<testsuites[^>]*>", t).group(0))' "$WORK/$name.xml" >&2
  fi
}
# Offices (role submit) at the district; receiving systems (role receive) at the province;
# everything without a token (401s, health, metrics, portal) at the central office.
run office "$API_DISTRICT" --include-tag office -H "Authorization: Bearer $TOKEN_DISTRICT_SUBMIT"
[ -n "${SCHEMATHESIS_ONLY:-}" ] || run inbox "$API_PROVINCE" --include-tag inbox -H "Authorization: Bearer $TOKEN_PROVINCE_RECEIVE"
[ -n "${SCHEMATHESIS_ONLY:-}" ] || run anonymous "$API_CENTRAL"
# The wrong role everywhere: 403s must match the description too.
[ -n "${SCHEMATHESIS_ONLY:-}" ] || run wrong-role "$API_PROVINCE" --include-tag office --include-tag inbox \
  -H "Authorization: Bearer $TOKEN_PROVINCE_ADMIN" --max-examples 5

for role in central province district; do
  if grep -q "panicked" "$WORK/$role.log"; then echo "$role panicked" >&2; status=1; fi
done
exit $status
