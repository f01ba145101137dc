#!/usr/bin/env bash
# The independent edXML reader (tests/referee/edxml_read.py, lxml) in its own venv, for
# tests/edxml_field.rs: prints one JSON object per file. Needs python3 with venv (Debian:
# python3-venv) and PyPI the first time; the venv is kept in the target dir.
#
#   scripts/edxml-referee.sh FILE...
set -euo pipefail
cd "$(dirname "$0")/.."

LXML_VERSION=6.0.2
TARGET=${CARGO_TARGET_DIR:-target}
VENV=${EDXML_REFEREE_VENV:-$TARGET/edxml-referee-venv}
if ! "$VENV/bin/python" -c "import lxml; assert lxml.__version__ == '$LXML_VERSION'" 2>/dev/null; then
  echo "edxml referee: installing lxml $LXML_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "lxml==$LXML_VERSION" >&2
fi
exec "$VENV/bin/python" tests/referee/edxml_read.py "$@"
