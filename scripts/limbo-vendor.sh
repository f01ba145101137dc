#!/usr/bin/env bash
# Regenerates tests/data/limbo.json, the x509-limbo suite (C2SP/x509-limbo, Apache-2.0) that
# tests/limbo.rs runs through `lienthong pki check-chain`.
#
#   scripts/limbo-vendor.sh                  # from a checkout of C2SP/x509-limbo (LIMBO_DIR)
#   scripts/limbo-vendor.sh FILE.json.gz     # from an already compiled copy
#
# From source: `python -m limbo compile` with the bettertls family left out (its generated
# input is not in the source tree). Certificates are freshly generated each time, so bytes
# differ between runs; ids and expected results do not. After regenerating, run
# `cargo test --locked --test limbo`: a changed verdict shows up as an unlisted or stale entry
# of tests/data/limbo-divergences.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
out=tests/data/limbo.json
if [[ $# -ge 1 ]]; then
    case "$1" in
        *.gz) gzip -dc "$1" >"$out" ;;
        *) cp "$1" "$out" ;;
    esac
else
    : "${LIMBO_DIR:?set LIMBO_DIR to a checkout of https://github.com/C2SP/x509-limbo}"
    (cd "$LIMBO_DIR" && python -m venv .venv && . .venv/bin/activate &&
        pip install -q -e . &&
        rm -rf limbo/testcases/bettertls* &&
        python -m limbo compile --testcases limbo.json)
    cp "$LIMBO_DIR/limbo.json" "$out"
fi
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["testcases"]), "testcases")' "$out"
