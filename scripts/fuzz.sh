#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets/) for SECONDS each, one after the other, one
# process each, at nice 10. Needs the nightly toolchain and cargo-fuzz (see fuzz/README.md).
# Seeds the corpus first (fuzz/seed.sh); the corpus in fuzz/corpus/ keeps growing across runs.
# Logs: fuzz/logs/TARGET.log; crashes: fuzz/artifacts/TARGET/. Exit 1 if any target failed.
#
# Usage: scripts/fuzz.sh SECONDS [TARGET...]
# LIENTHONG_FUZZ_BUILD_FLAGS (optional) is passed to both `cargo fuzz build` and `cargo fuzz run`,
# e.g. "--codegen-units 16" for a faster build, or "-s none" to run without AddressSanitizer.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs=${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}
shift
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=(envelope_parse field_parse c14n verify_mutated config_parse api_json pki_load exchange_headers keystore_file seal_open ocsp_response)
fi

# The dictionaries and input caps per target.
dict_of() {
  case $1 in
    envelope_parse | field_parse | seal_open) echo dict/xml.dict ;;
    c14n | verify_mutated) echo logs/xml+xmldsig.dict ;;
    config_parse) echo dict/toml.dict ;;
    api_json | exchange_headers | keystore_file) echo dict/json.dict ;;
    pki_load | ocsp_response) echo dict/pem.dict ;;
  esac
}
max_len_of() {
  case $1 in
    envelope_parse | field_parse | c14n | pki_load | keystore_file) echo 16384 ;;
    *) echo 4096 ;;
  esac
}

./seed.sh >/dev/null
# One build for all targets (the default cargo-fuzz profile: optimised, debug assertions and
# overflow checks on, AddressSanitizer).
# shellcheck disable=SC2086 # word splitting of the flags is intended
nice -n 10 cargo +nightly fuzz build ${LIENTHONG_FUZZ_BUILD_FLAGS:-}

mkdir -p logs
cat dict/xml.dict dict/xmldsig.dict >logs/xml+xmldsig.dict
failed=()
printf '%-18s %8s %12s %8s %8s %8s  %s\n' target seconds execs exec/s cov ft result
for t in "${targets[@]}"; do
  log=logs/$t.log
  mkdir -p "corpus/$t" "artifacts/$t"
  start=$(date +%s)
  set +e
  # shellcheck disable=SC2086
  nice -n 10 cargo +nightly fuzz run ${LIENTHONG_FUZZ_BUILD_FLAGS:-} "$t" "corpus/$t" -- \
    -max_total_time="$secs" -dict="$(dict_of "$t")" -max_len="$(max_len_of "$t")" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  took=$(($(date +%s) - start))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || true)
  result=ok
  if [ $rc -ne 0 ]; then
    result="FAILED (rc $rc, see fuzz/$log and fuzz/artifacts/$t/)"
    failed+=("$t")
  fi
  printf '%-18s %8s %12s %8s %8s %8s  %s\n' "$t" "$took" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "$result"
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failures in: ${failed[*]}" >&2
  exit 1
fi
