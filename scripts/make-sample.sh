#!/usr/bin/env bash
# Regenerates the sample ledger (ledger/) and its parties' public keys
# (keys/) with fresh keys: the history of the 1st China-Russia Innovation
# Dialogue, Beijing, 13-14 June 2017.
#
# The private keys live in a temporary directory for the length of the run
# and are deleted at exit: only public keys are ever written to the repo.
#
# Usage: scripts/make-sample.sh            (from anywhere in the repo)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --release --quiet
ledger="$root/target/release/ledger"

secret="$(mktemp -d)"
trap 'rm -rf "$secret"' EXIT
chmod 700 "$secret"

"$ledger" keygen "$secret/most" >/dev/null
"$ledger" keygen "$secret/med" >/dev/null

rm -rf ledger.new
docs="$root/scripts/sample"
most=(--key "$secret/most.key")
med=(--key "$secret/med.key")

"$ledger" init ledger.new "${most[@]}" \
    --title "1st China-Russia Innovation Dialogue, Beijing, 13-14 June 2017" \
    --party most="$secret/most.pub" --party med="$secret/med.pub" \
    --at 2017-06-13T09:00:00+08:00

a() { "$ledger" append ledger.new "$@"; }

a "${most[@]}" --at 2017-06-13T09:30:00+08:00 session-open --session dialogue \
    --title "1st China-Russia Innovation Dialogue" --place "Beijing" \
    --notes "The Dialogue between China's Ministry of Science and Technology (MOST) and Russia's Ministry of Economic Development (MED) opens in Beijing."

a "${most[@]}" --at 2017-06-14T09:00:00+08:00 session-open --session plenary \
    --title "Plenary session" --place "Beijing" --chair "Ye Dongbai (MOST)" \
    --notes "With Vice Minister Huang Wei (MOST) and Deputy Minister Oleg Fomichev (MED); more than 150 delegates attended."

a "${most[@]}" --at 2017-06-14T10:00:00+08:00 draft --doc joint-declaration \
    --file "$docs/joint-declaration.txt" \
    --title "Joint Declaration of the 1st China-Russia Innovation Dialogue"

a "${med[@]}" --at 2017-06-14T10:15:00+08:00 draft --doc work-plan-2017-2020 \
    --file "$docs/work-plan-2017-2020.txt" --no-signatures \
    --title "Work Plan for China-Russia Collaboration in Innovation, 2017-2020"

"$ledger" sign ledger.new "${most[@]}" --doc joint-declaration \
    --file "$docs/joint-declaration.txt" --at 2017-06-14T11:00:00+08:00
"$ledger" sign ledger.new "${med[@]}" --doc joint-declaration \
    --file "$docs/joint-declaration.txt" --at 2017-06-14T11:00:30+08:00

a "${most[@]}" --at 2017-06-14T11:10:00+08:00 approve --doc work-plan-2017-2020 \
    --file "$docs/work-plan-2017-2020.txt"
a "${med[@]}" --at 2017-06-14T11:10:30+08:00 approve --doc work-plan-2017-2020 \
    --file "$docs/work-plan-2017-2020.txt"

a "${most[@]}" --at 2017-06-14T12:00:00+08:00 session-close --session plenary

a "${most[@]}" --at 2017-06-14T14:30:00+08:00 session-open --session coordination-committee-1 \
    --title "First session of the China-Russia Committee on Coordination of Innovation Cooperation" \
    --place "Beijing"
a "${med[@]}" --at 2017-06-14T17:00:00+08:00 session-close --session coordination-committee-1

a "${med[@]}" --at 2017-06-14T17:30:00+08:00 note \
    --text "This is a sample ledger: the documents are short summaries written for it, not the official texts."

a "${most[@]}" --at 2017-06-14T18:00:00+08:00 session-close --session dialogue \
    --notes "The 1st China-Russia Innovation Dialogue closes."

# A checkpoint of the whole history (FORMAT §13), signed by both parties
# and cosigned by a witness whose key, like the parties', lives only in
# the temporary directory; its vkey is published in keys/witness.vkey.
"$ledger" checkpoint ledger.new "${most[@]}" >/dev/null
"$ledger" checkpoint ledger.new "${med[@]}" >/dev/null
"$ledger" keygen "$secret/witness" >/dev/null
witness=witness.example/w1
"$ledger" vkey --key "$secret/witness.pub" --witness "$witness" >"$secret/witness.vkey"
"$ledger" vkey --key "$secret/most.pub" --ledger ledger.new >"$secret/log.vkey"
"$ledger" witness request ledger.new --old 0 -o "$secret/request" >/dev/null
"$ledger" witness cosign "$secret/request" --key "$secret/witness.key" --name "$witness" \
    --state "$secret/witness-state" --log "$secret/log.vkey" -o "$secret/cosigned" >/dev/null
"$ledger" checkpoint ledger.new --add "$secret/cosigned" >/dev/null

# An RFC 3161 timestamp of that checkpoint from a sample TSA (FORMAT §17),
# after every signature: a token stamps the checkpoint's exact bytes.
mkdir -p keys
scripts/sample-tsa.sh ledger.new keys/sample-tsa-ca.pem.new "$ledger" >/dev/null

# Swap in the new sample only once it is complete and verifies.
rm -rf ledger.new/cache
mkdir -p keys
cp "$secret/most.pub" keys/most.pub.new
cp "$secret/med.pub" keys/med.pub.new
"$ledger" verify --trust keys/most.pub.new --trust keys/med.pub.new \
    --witness "$secret/witness.vkey" --tsa-ca keys/sample-tsa-ca.pem.new ledger.new >/dev/null
rm -rf ledger
mv ledger.new ledger
mv keys/most.pub.new keys/most.pub
mv keys/med.pub.new keys/med.pub
cp "$secret/witness.vkey" keys/witness.vkey
mv keys/sample-tsa-ca.pem.new keys/sample-tsa-ca.pem
"$ledger" head ledger
