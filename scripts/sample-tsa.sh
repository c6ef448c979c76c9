#!/usr/bin/env bash
# Timestamps a ledger's latest checkpoint with a SAMPLE Time-Stamping
# Authority made for the run with openssl (FORMAT §17): a root CA and a TSA
# certificate (extendedKeyUsage critical timeStamping), whose private keys
# live in a temporary directory and are deleted at exit. Only the root's
# certificate is kept, at CA_OUT: it is a sample authority, trusted by
# nobody, that shows how verify checks tokens. Uses the offline flow
# (`ledger timestamp request`, `openssl ts -reply`, `ledger timestamp add`).
#
# Usage: scripts/sample-tsa.sh LEDGER CA_OUT [LEDGER_BIN]
set -euo pipefail

dir="$1"
ca_out="$2"
ledger="${3:-ledger}"

tsa="$(mktemp -d)"
trap 'rm -rf "$tsa"' EXIT
chmod 700 "$tsa"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tsa/ca.key" -out "$tsa/ca.pem" -days 7300 \
    -subj "/O=ledger sample/CN=SAMPLE TSA Root - not a real authority" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tsa/tsa.key" -out "$tsa/tsa.csr" \
    -subj "/O=ledger sample/CN=SAMPLE TSA - not a real authority" 2>/dev/null
printf 'extendedKeyUsage=critical,timeStamping\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n' >"$tsa/tsa.ext"
openssl x509 -req -in "$tsa/tsa.csr" -CA "$tsa/ca.pem" -CAkey "$tsa/ca.key" \
    -CAcreateserial -days 7300 -extfile "$tsa/tsa.ext" -out "$tsa/tsa.pem" 2>/dev/null
cat >"$tsa/tsa.cnf" <<CNF
[ tsa ]
default_tsa = sample
[ sample ]
serial = $tsa/serial
crypto_device = builtin
signer_cert = $tsa/tsa.pem
certs = $tsa/ca.pem
signer_key = $tsa/tsa.key
signer_digest = sha256
default_policy = 1.3.6.1.4.1.4146.999.1
digests = sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
CNF
echo 01 >"$tsa/serial"

"$ledger" timestamp request "$dir" -o "$tsa/request.tsq" >/dev/null
openssl ts -reply -config "$tsa/tsa.cnf" -queryfile "$tsa/request.tsq" \
    -out "$tsa/response.tsr" 2>/dev/null
"$ledger" timestamp add "$dir" "$tsa/response.tsr" --request "$tsa/request.tsq" \
    --tsa-ca "$tsa/ca.pem"
cp "$tsa/ca.pem" "$ca_out"
