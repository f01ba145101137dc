#!/bin/sh
# Regenerates the committed demo PKI in certs/ (see certs/README.md).
#
# DEMO ONLY: the passphrase below is public and plain PKCS#8 copies of the keys are written.
# Never use these keys, this passphrase or this script's output for anything real.
#
# Dates are fixed so a regeneration differs only in keys and signatures:
#   CA (root, intermediate): 2026-01-01 + 3650 days; leaves and the empty CRL: + 1825 days.
# The CRL URL is what every leaf names as CRL distribution point; the .invalid host never
# resolves and nothing fetches it (see README.md).
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."

# Remove what the previous run made (everything but this script and the README).
find "$here" -mindepth 1 -maxdepth 1 ! -name gen.sh ! -name README.md -exec rm -rf {} +

pass=lienthong-demo-only
LIENTHONG_PASSPHRASE="$pass" \
  cargo run --quiet -- pki init --dir "$here" \
    --organ VPTW --organ TU.BENTRE --organ HU.CHAUTHANH \
    --not-before 2026-01-01 --ca-days 3650 --days 1825 --crl-days 1825 \
    --crl-url http://pki.lienthong.invalid/crl/intermediate.crl \
    --export-plain-keys
# The example gateway configs (config/*.toml) read the passphrase from this file. No newline:
# the bytes are the passphrase.
printf '%s' "$pass" >"$here/demo-passphrase.txt"
