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
//
// `interop tiles SITE` instead reads a directory `ledger publish` wrote
// (C2SP tlog-tiles) through tlog.TileHashReader, mapping Go's tile paths
// (tile/8/L/N[.p/W]) to C2SP's (tile/L/N[.p/W]), and checks against the
// size and root of SITE/checkpoint: tlog.TreeHash, and for records 0,
// 300 and the last, tlog.ProveRecord + tlog.CheckRecord of the leaf hash
// given in SITE/../records (one "index base64-hash" a line), and
// tlog.ProveTree + tlog.CheckTree from half the size.
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

// c2spTiles is a tlog.TileReader over a C2SP tlog-tiles directory.
type c2spTiles struct{ site string }

func (r c2spTiles) Height() int { return 8 }

func (r c2spTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		goPath := t.Path() // tile/8/L/N[.p/W]
		rest := strings.TrimPrefix(goPath, "tile/8/")
		if rest == goPath {
			return nil, fmt.Errorf("unexpected tile path %q", goPath)
		}
		data, err := os.ReadFile(filepath.Join(r.site, "tile", filepath.FromSlash(rest)))
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

func (r c2spTiles) SaveTiles([]tlog.Tile, [][]byte) {}

func tiles(site string) {
	body := strings.Split(string(read(site, "checkpoint")), "\n")
	if len(body) < 3 {
		fail("checkpoint: too short")
	}
	size, err := strconv.ParseInt(body[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	rootB, err := base64.StdEncoding.DecodeString(body[2])
	if err != nil || len(rootB) != 32 {
		fail("checkpoint root: %v", err)
	}
	var root tlog.Hash
	copy(root[:], rootB)
	thr := tlog.TileHashReader(tlog.Tree{N: size, Hash: root}, c2spTiles{site})
	h, err := tlog.TreeHash(size, thr)
	if err != nil {
		fail("tlog.TreeHash: %v", err)
	}
	if h != root {
		fail("tlog.TreeHash: %v, checkpoint %v", h, root)
	}
	fmt.Printf("ok tiles: tree hash of %d records is the checkpoint's root\n", size)
	for _, l := range strings.Split(string(read(filepath.Dir(site), "records")), "\n") {
		if l == "" {
			continue
		}
		f := strings.Fields(l)
		i, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			fail("records: %v", err)
		}
		lb, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil || len(lb) != 32 {
			fail("records: bad hash")
		}
		var leaf tlog.Hash
		copy(leaf[:], lb)
		p, err := tlog.ProveRecord(size, i, thr)
		if err != nil {
			fail("tlog.ProveRecord(%d): %v", i, err)
		}
		if err := tlog.CheckRecord(p, size, root, i, leaf); err != nil {
			fail("tlog.CheckRecord(%d): %v", i, err)
		}
		fmt.Printf("ok tiles: record %d proven from the tiles\n", i)
	}
	half := size / 2
	hh, err := tlog.TreeHash(half, thr)
	if err != nil {
		fail("tlog.TreeHash(%d): %v", half, err)
	}
	tp, err := tlog.ProveTree(size, half, thr)
	if err != nil {
		fail("tlog.ProveTree: %v", err)
	}
	if err := tlog.CheckTree(tp, size, root, half, hh); err != nil {
		fail("tlog.CheckTree: %v", err)
	}
	fmt.Printf("ok tiles: tree %d -> %d proven from the tiles\n", half, size)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "tiles" {
		tiles(os.Args[2])
		return
	}
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
