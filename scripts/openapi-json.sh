#!/usr/bin/env bash
# Regenerates schemas/openapi.json (what the gateway serves at /api/v1/openapi.json) from the
# source of truth, schemas/openapi.yaml. `cargo test` fails while the two differ.
set -euo pipefail
cd "$(dirname "$0")/.."
LIENTHONG_BLESS_OPENAPI=1 cargo test --lib api::routes::tests::served_json_is_the_yaml -- --exact --quiet
# Check the result the way CI will.
cargo test --lib api::routes::tests -- --quiet
