#!/usr/bin/env bash
# Makes a PRACTICE Time-Stamping Authority in DIR with the openssl binary,
# for `openssl ts -reply -config DIR/tsa.cnf` (FORMAT §17): a root CA
# (DIR/ca.pem) and a TSA certificate it issues (extendedKeyUsage critical
# timeStamping, as verify requires). DIR is made mode 0700 and holds the
# private keys: it is a practice authority, trusted by nobody; delete DIR
# when done.
#
# Usage: scripts/practice-tsa.sh DIR [CA_NAME]
set -euo pipefail

tsa="$1"
name="${2:-PRACTICE TSA}"
mkdir -m 700 "$tsa"
tsa="$(cd "$tsa" && pwd)"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tsa/ca.key" -out "$tsa/ca.pem" -days 7300 \
    -subj "/O=ledger sample/CN=$name Root - not a real authority" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$tsa/tsa.key" -out "$tsa/tsa.csr" \
    -subj "/O=ledger sample/CN=$name - not a real authority" 2>/dev/null
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
