#!/usr/bin/env bash
# (Re)builds the seed corpus of every fuzz target in fuzz/corpus/<target>/ from the repository's
# own inputs: schemas/examples/, tests/fixtures/, config/, certs/, and the curated seeds in
# fuzz/seeds/<target>/. corpus/ is git-ignored: it grows during runs; this script only adds.
# Usage: fuzz/seed.sh            (from anywhere)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
corpus="$here/corpus"

add() { # add TARGET FILE... : copy files in, named by content hash (idempotent)
  local target=$1
  shift
  mkdir -p "$corpus/$target"
  local f
  for f in "$@"; do
    [ -f "$f" ] || continue
    cp "$f" "$corpus/$target/$(sha1sum "$f" | cut -c1-40)"
  done
}
add_text() { # add_text TARGET TEXT : one seed from a string (printf %b escapes)
  local tmp
  tmp=$(mktemp)
  printf '%b' "$2" >"$tmp"
  add "$1" "$tmp"
  rm -f "$tmp"
}
b64url() { base64 -w0 | tr '+/' '-_' | tr -d '='; }

# Curated seeds, per target (keystore files at 1,000 PBKDF2 iterations, a CSR, ...).
for d in "$here"/seeds/*/; do
  add "$(basename "$d")" "$d"*
done

# XML: the example envelopes and every XML test fixture.
xml=("$root"/schemas/examples/*.xml "$root"/tests/fixtures/xml/*.xml)
add envelope_parse "${xml[@]}"
add c14n "${xml[@]}"
# field_parse: the examples (lienthong's profile) and the small real SDK files (the field form;
# the large ones are over the input cap).
add field_parse "${xml[@]}"
for f in "$root"/tests/data/edxml-field/*.edxml "$root"/tests/data/edxml-field/*.xml; do
  [ "$(stat -c %s "$f")" -le 16384 ] && add field_parse "$f"
done

# verify_mutated: edit scripts (see fuzz_targets/verify_mutated.rs). Empty = untouched.
add_text verify_mutated ''
add_text verify_mutated '\x00\x40\x00\x01X'                 # overwrite one byte at 64
add_text verify_mutated '\x01\x00\x02\x05<!---'             # insert at 512
add_text verify_mutated '\x02\x00\x04\x10\x00'              # delete 16 bytes at 1024
add_text verify_mutated '\x03\x00\x01\x00\x08\x00\x02'      # copy 512 bytes from 2048 to 256
add_text verify_mutated '\x01\x80\x00\x09<a>b</a>\n'        # insert an element at 128

# seal_open: odd first byte = mutation pairs (position u16 LE, XOR mask) on a valid sealed
# document; even = the rest read as a sealed document.
add_text seal_open '\x01'
add_text seal_open '\x01\x40\x00\x01'
add_text seal_open '\x01\x00\x02\x80\x10\x03\x04'
add_text seal_open '\x00<xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#" xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><xenc:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#aes256-gcm"/><ds:KeyInfo><xenc:EncryptedKey><xenc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p"/><xenc:CipherData><xenc:CipherValue>AAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedKey></ds:KeyInfo><xenc:CipherData><xenc:CipherValue>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</xenc:CipherValue></xenc:CipherData></xenc:EncryptedData>'

# config_parse: the gateway configs and the procedure catalog.
add config_parse "$root"/config/*.toml

# api_json: the JSON bodies the gateway reads.
add_text api_json '{"code":"02","note":"Sai thể thức văn bản"}'
add_text api_json '{"code":"06"}'
add_text api_json '{"event":{"message":"0123456789abcdef0123456789abcdef","organ":"TU.BENTRE","code":"03","note":null,"at_ms":1790000000000}}'
add_text api_json '{"receipt":"{\\"message_id\\":\\"0123456789abcdef0123456789abcdef\\",\\"digest_sha256\\":\\"00\\",\\"organ\\":\\"TU.BENTRE\\",\\"status\\":\\"01\\",\\"at\\":\\"2027-01-01T00:00:00Z\\"}","alg":"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256","sig":"AAAA","certs":["MIIB"]}'

# pki_load: every demo certificate and CRL, as PEM and as DER.
pems=("$root"/certs/*.pem "$root"/certs/*/*.cert.pem "$root"/certs/*/chain.pem)
add pki_load "${pems[@]}"
tmp=$(mktemp -d)
for f in "$root"/certs/root.pem "$root"/certs/intermediate.pem "$root"/certs/*/signing.cert.pem "$root"/certs/*/tls.cert.pem; do
  # The first block of each file, decoded to DER.
  awk '/-----BEGIN/{p=1;next} /-----END/{exit} p' "$f" | base64 -d >"$tmp/$(basename "$(dirname "$f")")-$(basename "$f").der"
done
awk '/-----BEGIN/{p=1;next} /-----END/{exit} p' "$root/certs/crl.pem" | base64 -d >"$tmp/crl.der"
add pki_load "$tmp"/*.der
rm -rf "$tmp"

# exchange_headers: message id \n for \n trace (base64url JSON of hop records).
id=0123456789abcdef0123456789abcdef
trace=$(printf '[{"organ":"HU.CHAUTHANH","at_ms":1790000000000,"receipt":null}]' | b64url)
add_text exchange_headers "$id\nTU.BENTRE\n$trace"
trace2=$(printf '[{"organ":"HU.CHAUTHANH","at_ms":1,"receipt":"{\\"receipt\\":\\"{}\\",\\"alg\\":\\"x\\",\\"sig\\":\\"\\",\\"certs\\":[]}"},{"organ":"TU.BENTRE","at_ms":2,"receipt":null}]' | b64url)
add_text exchange_headers "$id\nVPTW, TU.BENTRE ,,HU.CHAUTHANH\n$trace2"
add_text exchange_headers "$id\nVPTW\n$(printf '[]' | b64url)"

# keystore_file: the demo keystore files too (600,000 iterations: decoded, never opened).
add keystore_file "$root"/certs/*.key.json "$root"/certs/*/*.key.json

for d in "$corpus"/*/; do
  printf '%-18s %4d seeds\n' "$(basename "$d")" "$(find "$d" -type f | wc -l)"
done
