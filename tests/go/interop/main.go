// Command interop checks what `ledger` produces with Go's own
// golang.org/x/mod/sumdb/note and golang.org/x/mod/sumdb/tlog (Debian's
// golang-golang-x-mod-dev, built offline in GOPATH mode by
// tests/go_interop.rs). It reads a directory the test wrote:
//
//	log.vkey        the ledger's log vkey (type 0x01)
//	witness.vkeys   witness vkeys (type 0x04), one per line, each of which
//	                must have cosigned `checkpoint`
//	checkpoint      a cosigned checkpoint note
//	inclusion       index, base64 event bytes, then the proof, one hash a line
//	old             an older checkpoint note, and
//	consistency     the proof from `old` to `checkpoint`, one hash a line
//
// It prints one line per check and exits 1 at the first that fails.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Printf("FAIL "+format+"\n", args...)
	os.Exit(1)
}

func read(dir, name string) []byte {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		fail("%s: %v", name, err)
	}
	return b
}

// cosigV1 verifies tlog-cosignature's Ed25519 cosignature/v1 (type 0x04),
// which sumdb/note does not know: the signature is an 8-byte big-endian
// timestamp and an Ed25519 signature of "cosignature/v1\ntime <t>\n" and
// the note text. Note parsing, key-hash matching and the rule that every
// signature by a known key must verify stay sumdb/note's.
type cosigV1 struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v cosigV1) Name() string    { return v.name }
func (v cosigV1) KeyHash() uint32 { return v.hash }
func (v cosigV1) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig[:8])
	m := append([]byte(fmt.Sprintf("cosignature/v1\ntime %d\n", t)), msg...)
	return ed25519.Verify(v.key, m, sig[8:])
}

func parseCosigVkey(vkey string) cosigV1 {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		fail("witness vkey %q", vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		fail("witness vkey %q: not a 0x04 key", vkey)
	}
	h := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	id := binary.BigEndian.Uint32(h[:4])
	if fmt.Sprintf("%08x", id) != parts[1] {
		fail("witness vkey %q: key ID should be %08x", vkey, id)
	}
	return cosigV1{name: parts[0], hash: id, key: ed25519.PublicKey(raw[1:])}
}

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
}

func open(msg []byte, verifiers ...note.Verifier) (*note.Note, checkpoint) {
	n, err := note.Open(msg, note.VerifierList(verifiers...))
	if err != nil {
		fail("note.Open: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint text %q", n.Text)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size %q", lines[1])
	}
	root, err := tlog.ParseHash(lines[2])
	if err != nil {
		fail("checkpoint root %q", lines[2])
	}
	return n, checkpoint{lines[0], size, root}
}

func hashes(lines []string) []tlog.Hash {
	var out []tlog.Hash
	for _, l := range lines {
		if l == "" {
			continue
		}
		h, err := tlog.ParseHash(l)
		if err != nil {
			fail("proof hash %q", l)
		}
		out = append(out, h)
	}
	return out
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: interop DIR")
	}
	dir := os.Args[1]
	logV, err := note.NewVerifier(strings.TrimSpace(string(read(dir, "log.vkey"))))
	if err != nil {
		fail("note.NewVerifier(log.vkey): %v", err)
	}
	verifiers := []note.Verifier{logV}
	for _, l := range strings.Split(string(read(dir, "witness.vkeys")), "\n") {
		if l != "" {
			verifiers = append(verifiers, parseCosigVkey(l))
		}
	}
	n, cp := open(read(dir, "checkpoint"), verifiers...)
	signed := map[string]bool{}
	for _, s := range n.Sigs {
		signed[fmt.Sprintf("%s+%08x", s.Name, s.Hash)] = true
	}
	for _, v := range verifiers {
		if !signed[fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash())] {
			fail("checkpoint: no verified signature by %s", v.Name())
		}
	}
	if cp.origin != logV.Name() {
		fail("origin %q, log key %q", cp.origin, logV.Name())
	}
	fmt.Printf("ok note: checkpoint of size %d signed by the log and %d witness(es)\n", cp.size, len(verifiers)-1)

	incl := strings.Split(string(read(dir, "inclusion")), "\n")
	index, err := strconv.ParseInt(incl[0], 10, 64)
	if err != nil {
		fail("inclusion index %q", incl[0])
	}
	event, err := base64.StdEncoding.DecodeString(incl[1])
	if err != nil {
		fail("inclusion event: %v", err)
	}
	if err := tlog.CheckRecord(hashes(incl[2:]), cp.size, cp.root, index, tlog.RecordHash(event)); err != nil {
		fail("tlog.CheckRecord(%d in %d): %v", index, cp.size, err)
	}
	fmt.Printf("ok inclusion: record %d in tree %d\n", index, cp.size)

	_, old := open(read(dir, "old"), logV)
	proof := hashes(strings.Split(string(read(dir, "consistency")), "\n"))
	if err := tlog.CheckTree(proof, cp.size, cp.root, old.size, old.root); err != nil {
		fail("tlog.CheckTree(%d -> %d): %v", old.size, cp.size, err)
	}
	if !bytes.Equal([]byte(old.origin), []byte(cp.origin)) {
		fail("old origin %q", old.origin)
	}
	fmt.Printf("ok consistency: tree %d -> %d\n", old.size, cp.size)
}
