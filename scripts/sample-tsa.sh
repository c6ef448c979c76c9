#!/usr/bin/env bash
# Timestamps a ledger's latest checkpoint with a SAMPLE Time-Stamping
# Authority made for the run by scripts/practice-tsa.sh (FORMAT §17), whose
# private keys live in a temporary directory and are deleted at exit. Only
# the root's certificate is kept, at CA_OUT: it is a sample authority,
# trusted by nobody, that shows how verify checks tokens. Uses the offline
# flow (`ledger timestamp request`, `openssl ts -reply`, `ledger timestamp
# add`).
#
# Usage: scripts/sample-tsa.sh LEDGER CA_OUT [LEDGER_BIN]
set -euo pipefail

dir="$1"
ca_out="$2"
ledger="${3:-ledger}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tsa="$work/tsa"
"$(dirname "$0")/practice-tsa.sh" "$tsa" "SAMPLE TSA"

"$ledger" timestamp request "$dir" -o "$work/request.tsq" >/dev/null
openssl ts -reply -config "$tsa/tsa.cnf" -queryfile "$work/request.tsq" \
    -out "$work/response.tsr" 2>/dev/null
"$ledger" timestamp add "$dir" "$work/response.tsr" --request "$work/request.tsq" \
    --tsa-ca "$tsa/ca.pem"
cp "$tsa/ca.pem" "$ca_out"
