#!/usr/bin/env bash
# Sets up the peers `lienthong bench` compares against, on this machine:
#   xmlsec1 (Debian package; one process per document) and
#   signxml (PyPI, in bench/.venv; in-process, lxml + cryptography on OpenSSL).
# Then: cargo run --release -- bench
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v xmlsec1 >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
  $SUDO apt-get update -q && $SUDO apt-get install -y -q xmlsec1
fi
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check 'signxml==5.2.0'
.venv/bin/python -c 'import signxml, lxml; print("signxml ready:", signxml.__name__)'
