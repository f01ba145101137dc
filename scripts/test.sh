#!/usr/bin/env bash
# The whole test suite, on a fresh Debian/Ubuntu machine: installs the external referees the
# tests use (xmllint, xmlsec1, openssl, SoftHSM2, pkcs11-tool, Chromium, PostgreSQL 15) when they are missing, then runs every
# test. This is the README's test command; .ci/run calls it too.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v xmllint >/dev/null || need+=(libxml2-utils)
command -v xmlsec1 >/dev/null || need+=(xmlsec1)
command -v openssl >/dev/null || need+=(openssl)
command -v softhsm2-util >/dev/null || need+=(softhsm2)
command -v pkcs11-tool >/dev/null || need+=(opensc)
# tests/edxml_field.rs runs the lxml referee in a venv (scripts/edxml-referee.sh).
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
# tests/portal_browser.rs drives headless Chromium (and fails without it).
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || need+=(chromium)
# tests/store_pg.rs and tests/gateway_pg.rs start a PostgreSQL 15 cluster of their own
# (scripts/pg-cluster.sh; they fail without it).
[ -x "${LIENTHONG_PG_BIN:-/usr/lib/postgresql/15/bin}/initdb" ] || need+=(postgresql-15)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing test tools: ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

exec cargo test --locked "$@"
