#!/usr/bin/env python3
"""Hand-crafted edge-case ledgers, each with the verdict FORMAT.md requires.

    python3 tools/crafted.py OUTDIR

writes OUTDIR/<case>/{events.cbor,docs/} for every case below and
OUTDIR/cases.json, a list of {"name", "expect", "event", "why"} where
`expect` is the exit status FORMAT.md requires of a verifier (0 verifies,
1 fails, 2 not a ledger at all) and `event` the index of the first failing event (null if none).

These are ledgers the `ledger` binary cannot write (duplicate keys, floats,
non-canonical points, small-order signatures, ...), signed with real keys so
that each case fails for the one reason it is about and nothing else.
tests/python_verifier.rs runs both verifiers on all of them.

The signing keys are the RFC 8032 §7.1 test keys, as in FORMAT §10.
Standard library, `cryptography` and nothing else: the CBOR encoder here
is deliberately separate from verify.py's decoder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# ---------------------------------------------------------------------------
# A deterministic CBOR encoder (RFC 8949 §4.2.1), plus ways to break it.
# ---------------------------------------------------------------------------


class Raw:
    """Bytes inserted verbatim (to build non-deterministic encodings)."""

    def __init__(self, data):
        self.data = data


class Pairs:
    """A map encoded with its pairs in the given order, duplicates kept."""

    def __init__(self, pairs):
        self.pairs = pairs


class Tag:
    def __init__(self, tag, value):
        self.tag = tag
        self.value = value


def head(major, arg):
    if arg < 24:
        return bytes([major << 5 | arg])
    for ai, n in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if arg < 1 << (8 * n):
            return bytes([major << 5 | ai]) + arg.to_bytes(n, "big")
    raise ValueError("too big")


def enc(v):
    if isinstance(v, Raw):
        return v.data
    if isinstance(v, bool) or v is None:
        raise TypeError("use Raw for simple values")
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, bytes):
        return head(2, len(v)) + v
    if isinstance(v, str):
        b = v.encode("utf-8")
        return head(3, len(b)) + b
    if isinstance(v, (list, tuple)):
        return head(4, len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        items = sorted((enc(k), enc(x)) for k, x in v.items())
        return head(5, len(items)) + b"".join(k + x for k, x in items)
    if isinstance(v, Pairs):
        return head(5, len(v.pairs)) + b"".join(enc(k) + enc(x) for k, x in v.pairs)
    if isinstance(v, Tag):
        return head(6, v.tag) + enc(v.value)
    raise TypeError(type(v))


# ---------------------------------------------------------------------------
# Keys and signatures.
# ---------------------------------------------------------------------------

L_ORDER = 2**252 + 27742317777372353535851937790883648493
P = 2**255 - 19


class Key:
    def __init__(self, seed):
        self.seed = seed
        self.sk = Ed25519PrivateKey.from_private_bytes(seed)
        self.pub = self.sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.kid = hashlib.sha256(self.pub).digest()

    def sign(self, msg):
        return self.sk.sign(msg)

    def sign_small_order_r(self, msg):
        """A signature with R = the identity (small order) that passes the
        cofactorless equation [S]B = R + [k]A: S = k*a mod L. verify_strict
        rejects it; a lax verifier accepts it."""
        h = hashlib.sha512(self.seed).digest()
        a = int.from_bytes(h[:32], "little")
        a &= (1 << 254) - 8
        a |= 1 << 254
        r_enc = (1).to_bytes(32, "little")
        k = int.from_bytes(hashlib.sha512(r_enc + self.pub + msg).digest(), "little") % L_ORDER
        s = k * a % L_ORDER
        return r_enc + s.to_bytes(32, "little")


MOST = Key(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"))
MED = Key(bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb"))
THIRD = Key(bytes.fromhex("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7"))
KEYS = {"most": MOST, "med": MED, "third": THIRD}
AAD = b"ledger/v1/event"
LEDGER_ID = bytes(range(16))

# Encodings of points for the §5.6 cases.
IDENTITY = (1).to_bytes(32, "little")  # order 1
ORDER_2 = (P - 1).to_bytes(32, "little")  # (0, -1)
# An order-8 point (RFC 8032 / dalek's EIGHT_TORSION[1]).
ORDER_8 = bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
NOT_ON_CURVE = (2).to_bytes(32, "little")  # y = 2: (y^2-1)/(dy^2+1) is not a square


def _find_noncanonical():
    """A point with y < 19 that is not of small order, encoded as y + p."""
    d = (-121665 * pow(121666, P - 2, P)) % P
    for y in range(2, 19):
        x2 = (y * y - 1) * pow(d * y * y + 1, P - 2, P) % P
        if x2 == 0 or pow(x2, (P - 1) // 2, P) == 1:
            return (y + P).to_bytes(32, "little"), y.to_bytes(32, "little")
    raise AssertionError("no such y")


NONCANONICAL_KEY, CANONICAL_TWIN = _find_noncanonical()


def sig_structure(protected, payload):
    return enc(["Signature1", protected, AAD, payload])


# ---------------------------------------------------------------------------
# Checkpoints (FORMAT §12.1, §13): the Merkle tree and signed notes.
# ---------------------------------------------------------------------------

ORIGIN = "ledger/" + LEDGER_ID.hex()


def tree_hash(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + tree_hash(leaves[:k]) + tree_hash(leaves[k:])).digest()


def note_line(name, key, text):
    """A signature line: the Ed25519 note signature (type 0x01) of `text`
    by `key` under the key name `name`."""
    import base64

    kid = hashlib.sha256(name.encode() + b"\n\x01" + key.pub).digest()[:4]
    return "\u2014 %s %s\n" % (name, base64.b64encode(kid + key.sign(text.encode())).decode())


def checkpoint_note(events, size, signers, extra_lines=()):
    import base64

    leaves = [hashlib.sha256(b"\x00" + e).digest() for e in events[:size]]
    text = "%s\n%d\n%s\n" % (ORIGIN, size, base64.b64encode(tree_hash(leaves)).decode())
    lines = "".join(note_line(ORIGIN, k, text) for k in signers) + "".join(extra_lines)
    return (text + "\n" + lines).encode("utf-8")


# ---------------------------------------------------------------------------
# A ledger builder.
# ---------------------------------------------------------------------------


class Builder:
    def __init__(self, parties=None, author="most", title="Crafted", time="2017-06-13T09:00:00+08:00", **kw):
        self.events = []
        self.docs = {}
        self.checkpoints = {}
        self.after = []
        self.prev = None
        self.minute = 0
        parties = parties if parties is not None else {"most": MOST.pub, "med": MED.pub}
        self.add("ledger-created", author, {"title": title, "parties": parties}, time=time, **kw)

    def next_time(self):
        self.minute += 1
        return "2017-06-13T%02d:%02d:00+08:00" % (9 + self.minute // 60, self.minute % 60)

    def doc(self, content):
        sha = hashlib.sha256(content).digest()
        self.docs[sha.hex()] = content
        return sha

    def add(
        self,
        kind,
        author,
        fields,
        time=None,
        body=None,
        drop=(),
        payload=None,
        protected=None,
        unprotected=None,
        signer=None,
        sign=None,
        event=None,
        seq=None,
    ):
        """Append an event. Every argument after `fields` breaks something."""
        b = {
            "v": 1,
            "seq": len(self.events) if seq is None else seq,
            "kind": kind,
            "time": time or self.next_time(),
            "author": author,
            "ledger": LEDGER_ID,
        }
        if self.prev is not None:
            b["prev"] = self.prev
        b.update(fields)
        for k in drop:
            b.pop(k, None)
        if body is not None:
            b = body(b)
        payload = enc(b) if payload is None else payload(b)
        key = signer or KEYS.get(author, MOST)
        prot = enc({1: -8, 4: key.kid}) if protected is None else protected
        msg = sig_structure(prot, payload)
        sig = key.sign(msg) if sign is None else sign(key, msg)
        unprot = {} if unprotected is None else unprotected
        raw = enc(Tag(18, [prot, unprot, payload, sig]))
        if event is not None:
            raw = event(raw)
        self.events.append(raw)
        self.prev = hashlib.sha256(raw).digest()
        return self

    def checkpoint(self, size, signers, name=None, extra_lines=()):
        """Store checkpoints/<size> (or <name>): the tree of the first
        `size` events (FORMAT §12.1, §13.7), signed by each of `signers`
        (FORMAT §13.3, §13.4), then `extra_lines` (raw signature lines)."""
        self.checkpoints[str(size) if name is None else name] = checkpoint_note(
            self.events, size, signers, extra_lines
        )
        return self

    def then(self, fn):
        """Run fn(path) after the ledger is written (links, FIFOs, ...)."""
        self.after.append(fn)
        return self

    def write(self, path, extra=b""):
        os.makedirs(os.path.join(path, "docs"))
        with open(os.path.join(path, "events.cbor"), "wb") as f:
            f.write(b"".join(self.events) + extra)
        for name, content in self.docs.items():
            with open(os.path.join(path, "docs", name), "wb") as f:
                f.write(content)
        if self.checkpoints:
            os.makedirs(os.path.join(path, "checkpoints"))
        for name, content in self.checkpoints.items():
            with open(os.path.join(path, "checkpoints", name), "wb") as f:
                f.write(content)
        for fn in self.after:
            fn(path)


# ---------------------------------------------------------------------------
# The cases.
# ---------------------------------------------------------------------------

CASES = []


def case(name, expect, event, why, torn_tail=None):
    """`torn_tail`, if given, is the flag FORMAT §3 requires on the failure
    (true: a torn tail; false: anything else, damage included)."""

    def deco(fn):
        CASES.append((name, expect, event, why, fn, torn_tail))
        return fn

    return deco


def with_note(fields_or_builder_fn=None, **kw):
    """Genesis plus one note carrying the breakage in kw."""
    b = Builder()
    b.add("note", "med", {"text": "hello"}, **kw)
    return b


def annotated(value):
    return with_note(body=lambda b: {**b, "_x": value})


def raw_annotation(raw):
    """A note whose body map gets an extra entry "_x": <raw bytes>."""

    def payload(b):
        body = dict(b)
        body["_x"] = Raw(raw)
        return enc(body)

    return with_note(payload=payload)


# --- well-formed ledgers ---------------------------------------------------


@case("ok-full-flow", 0, None, "every kind, a full amend/approve/sign flow")
def _():
    b = Builder()
    b.add("session-opened", "most", {"session": "plenary", "title": "Plenary", "place": "Beijing", "chair": "Ye", "notes": "line one\n\tline two"})
    v1, v2 = b.doc(b"version one\n"), b.doc(b"version two\n")
    b.add("document-drafted", "most", {"doc": "decl", "sha256": v1, "title": "Declaration", "signatories": ["med", "most"]})
    b.add("document-approved", "med", {"doc": "decl", "sha256": v1})
    b.add("document-amended", "med", {"doc": "decl", "sha256": v2, "notes": "wording"})
    b.add("document-approved", "med", {"doc": "decl", "sha256": v2})
    b.add("document-signed", "most", {"doc": "decl", "sha256": v2})
    b.add("document-signed", "med", {"doc": "decl", "sha256": v2})
    b.add("document-approved", "most", {"doc": "decl", "sha256": v2})
    b.add("session-closed", "most", {"session": "plenary"})
    b.add("session-opened", "med", {"session": "plenary", "title": "Plenary again"})
    b.add("note", "med", {"text": "done"})
    return b


@case("ok-annotations", 0, None, "annotations of every allowed type are signed and ignored (§5.3)")
def _():
    return annotated([0, 23, 24, 255, 256, 65535, 65536, 2**32, 2**64 - 1, -1, -2**64, b"", "", {}, [], {"a": {1: [b"x"]}}])


@case("ok-annotation-mixed-keys", 0, None, "int and text keys sorted bytewise: 100 (1864) before -1 (20) (§4)")
def _():
    return annotated({100: 1, -1: 2, "b": 4, "aa": 5, 0: 6})


@case("fail-annotation-bytes-key", 1, 1, "map keys are integers or text strings (§4)")
def _():
    return annotated({b"k": 1})


@case("fail-annotation-array-key", 1, 1, "map keys are integers or text strings (§4)")
def _():
    return annotated({(1,): 1})


@case("fail-annotation-map-key", 1, 1, "map keys are integers or text strings (§4)")
def _():
    return raw_annotation(b"\xa1\xa0\x01")


@case("fail-annotation-length-first-order", 1, 1, "keys sorted length-first (RFC 7049), not bytewise (§4)")
def _():
    return annotated(Pairs([(-1, 2), (100, 1)]))


@case("ok-annotation-underscore-only", 0, None, "the key \"_\" begins with _ (§5.3)")
def _():
    return with_note(body=lambda b: {**b, "_": 1})


@case("ok-annotation-deep-nesting-16", 0, None, "an annotation's innermost item 16 deep (§4 allows 16)")
def _():
    return raw_annotation(b"\x81" * 15 + b"\x00")


@case("fail-annotation-deep-nesting-17", 1, 1, "an item nested 17 deep (§4: at most 16)")
def _():
    return raw_annotation(b"\x81" * 16 + b"\x00")


@case("fail-annotation-deep-nesting-10000", 1, 1, "an item nested 10001 deep (§4: at most 16)")
def _():
    return raw_annotation(b"\x81" * 10000 + b"\x00")


@case("ok-mixed-order-party-key", 0, None, "a party key P+T (mixed order) is not of small order (§5.6)")
def _():
    # Add an order-8 point to MED's key: not in the prime-order subgroup,
    # but not of small order either. The party never signs.
    from verify import _point_add, decode_point  # type: ignore

    p = _point_add(decode_point(MED.pub), decode_point(ORDER_8))
    enc_p = (p[1] | ((p[0] & 1) << 255)).to_bytes(32, "little")
    return Builder(parties={"most": MOST.pub, "mixed": enc_p})


@case("ok-64-parties", 0, None, "64 parties is the maximum (§5.4)")
def _():
    parties = {"p%02d" % i: Key(hashlib.sha256(b"%d" % i).digest()).pub for i in range(63)}
    parties["most"] = MOST.pub
    return Builder(parties=parties)


@case("fail-65-parties", 1, 0, "65 parties (§5.4)")
def _():
    parties = {"p%02d" % i: Key(hashlib.sha256(b"%d" % i).digest()).pub for i in range(64)}
    parties["most"] = MOST.pub
    return Builder(parties=parties)


@case("fail-no-parties", 1, 0, "parties must have 1 to 64 entries (§5.4)")
def _():
    return Builder(parties={})


@case("ok-times-as-instants", 0, None, "equal instants in different offsets; fractions (§5.5, §6.7)")
def _():
    b = Builder(time="2017-06-14T09:00:00+08:00")
    b.add("note", "med", {"text": "a"}, time="2017-06-14T01:00:00Z")
    b.add("note", "med", {"text": "b"}, time="2017-06-13T20:30:00.000000001-04:30")
    b.add("note", "med", {"text": "c"}, time="2017-06-14T01:00:00.1Z")
    b.add("note", "med", {"text": "d"}, time="2017-06-14T01:00:00.100000000+00:00")
    b.add("note", "med", {"text": "e"}, time="2017-06-13T01:01:00.1-23:59")
    return b


@case("fail-time-goes-back-by-1ns", 1, 2, "time earlier than the previous event's (§6.7)")
def _():
    b = Builder(time="2017-06-14T09:00:00+08:00")
    b.add("note", "med", {"text": "a"}, time="2017-06-14T01:00:00.000000001Z")
    b.add("note", "med", {"text": "b"}, time="2017-06-14T09:00:00+08:00")
    return b


for _t in [
    "2016-02-29T00:00:00Z",
    "2000-02-29T23:59:59.999999999+23:59",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-23:59",
    "2017-06-14T09:00:00-00:00",
]:

    def _mk(t=_t):
        b = Builder(time="0001-01-01T00:00:00+23:59")
        b.add("note", "med", {"text": "t"}, time=t)
        return b

    case("ok-time-" + _t, 0, None, "a valid time (§5.5)")(_mk)

for _t in [
    "2017-02-29T00:00:00Z",
    "1900-02-29T00:00:00Z",
    "2017-06-31T00:00:00Z",
    "2017-13-01T00:00:00Z",
    "2017-00-01T00:00:00Z",
    "2017-06-00T00:00:00Z",
    "0000-06-14T00:00:00Z",
    "2017-06-14T24:00:00Z",
    "2017-06-14T23:60:00Z",
    "2016-12-31T23:59:60Z",
    "2017-06-14t09:00:00Z",
    "2017-06-14T09:00:00z",
    "2017-06-14 09:00:00Z",
    "2017-06-14T09:00:00",
    "2017-06-14T09:00Z",
    "2017-06-14T09:00:00.Z",
    "2017-06-14T09:00:00.1234567890Z",
    "2017-06-14T09:00:00+24:00",
    "2017-06-14T09:00:00+08:60",
    "2017-06-14T09:00:00+0800",
    "2017-06-14T09:00:00+08",
    "2017-06-14T09:00:00,5Z",
    "17-06-14T09:00:00Z",
    "+2017-06-14T09:00:00Z",
    "2017-06-14T09:00:00Z ",
    "2017-6-14T09:00:00Z",
    "２017-06-14T09:00:00Z",
    "2017-06-14T09:00:0٣Z",
]:

    def _mk(t=_t):
        b = Builder()
        b.add("note", "med", {"text": "t"}, time=t)
        return b

    case("fail-time-" + _t.encode("unicode_escape").decode(), 1, 1, "not the §5.5 profile")(_mk)


# --- text classes (§5.4) ---------------------------------------------------

for _name, _text, _ok in [
    ("line-1024-bytes", "é" * 512, True),
    ("line-1025-bytes", "é" * 512 + "a", False),
    ("line-empty", "", False),
    ("line-tab", "a\tb", False),
    ("line-del", "a\x7fb", False),
    ("line-c1-nel", "a\x85b", False),
    ("line-c1-9f", "a\x9fb", False),
    ("line-a0", "a\xa0b", True),
    ("line-u2028", "a\u2028b", True),
]:

    def _mk(text=_text):
        b = Builder()
        b.add("session-opened", "most", {"session": "s", "title": text})
        return b

    case(("ok-" if _ok else "fail-") + _name, 0 if _ok else 1, None if _ok else 1, "title is a line (§5.4)")(_mk)

for _name, _text, _ok in [
    ("text-65000-bytes", "a\n\t" * 21666 + "ab", True),
    # One byte over the text limit, though a note of it fits in an event (§5.4).
    ("text-65001-bytes", "a\n\t" * 21666 + "abc", False),
    # Over the text limit, and no event could hold it anyway (§3, §5.4).
    ("text-65536-bytes-event-too-large", "a\n\t" * 21845 + "a", False),
    ("text-65537-bytes", "a\n\t" * 21845 + "ab", False),
    ("text-cr", "a\r\nb", False),
    ("text-nul", "a\x00b", False),
    ("text-empty", "", False),
    ("text-c1", "a\x80", False),
]:

    def _mk(text=_text):
        b = Builder()
        b.add("note", "med", {"text": text})
        return b

    case(("ok-" if _ok else "fail-") + _name, 0 if _ok else 1, None if _ok else 1, "note text is a text (§5.4)")(_mk)

for _name, _id, _ok in [
    ("id-64", "a" * 64, True),
    ("id-65", "a" * 65, False),
    ("id-digit-first", "9.a_b-c", True),
    ("id-dash-first", "-a", False),
    ("id-dot-first", ".a", False),
    ("id-underscore-first", "_a", False),
    ("id-upper", "Plenary", False),
    ("id-space", "a b", False),
    ("id-unicode", "sessión", False),
    ("id-empty", "", False),
]:

    def _mk(i=_id):
        b = Builder()
        b.add("session-opened", "most", {"session": i, "title": "t"})
        return b

    case(("ok-" if _ok else "fail-") + _name, 0 if _ok else 1, None if _ok else 1, "session is an id (§5.4)")(_mk)


@case("fail-party-id-upper", 1, 0, "party ids are ids (§5.4)")
def _():
    return Builder(parties={"most": MOST.pub, "MED": MED.pub})


# --- CBOR (§4) -------------------------------------------------------------


@case("fail-duplicate-body-key-same-value", 1, 1, "a duplicate key, even with the same value (§4)")
def _():
    return with_note(payload=lambda b: enc(Pairs(sorted(list(b.items()) + [("text", "hello")], key=lambda kv: enc(kv[0])))))


@case("fail-duplicate-body-key-other-value", 1, 1, "a duplicate key that a lax decoder would merge (§4)")
def _():
    return with_note(payload=lambda b: enc(Pairs(sorted(list(b.items()) + [("text", "bye")], key=lambda kv: enc(kv[0])))))


@case("fail-duplicate-annotation-map-key", 1, 1, "a duplicate key inside an annotation (§4)")
def _():
    return annotated(Pairs([(1, 1), (1, 1)]))


@case("fail-unsorted-body", 1, 1, "body keys out of order (§4)")
def _():
    return with_note(payload=lambda b: enc(Pairs(sorted(b.items(), key=lambda kv: enc(kv[0]), reverse=True))))


@case("fail-nonshortest-seq", 1, 1, "seq 1 encoded as 18 01 (§4)")
def _():
    return with_note(body=lambda b: {**b, "seq": Raw(b"\x18\x01")})


@case("fail-nonshortest-text-length", 1, 1, "a text length not in shortest form (§4)")
def _():
    return with_note(body=lambda b: {**b, "text": Raw(b"\x78\x05hello")})


@case("fail-nonshortest-uint64", 1, 1, "an 8-byte argument for a value < 2^32 (§4)")
def _():
    return raw_annotation(b"\x1b" + (2**32 - 1).to_bytes(8, "big"))


@case("ok-shortest-uint64", 0, None, "an 8-byte argument for 2^32 (§4)")
def _():
    return raw_annotation(b"\x1b" + (2**32).to_bytes(8, "big"))


for _name, _raw in [
    ("indefinite-bstr", b"\x5f\x41a\xff"),
    ("indefinite-tstr", b"\x7f\x61a\xff"),
    ("indefinite-array", b"\x9f\x01\xff"),
    ("indefinite-map", b"\xbf\x01\x01\xff"),
    ("float16", b"\xf9\x3c\x00"),
    ("float32", b"\xfa\x3f\x80\x00\x00"),
    ("float64", b"\xfb\x3f\xf0\x00\x00\x00\x00\x00\x00"),
    ("false", b"\xf4"),
    ("true", b"\xf5"),
    ("null", b"\xf6"),
    ("undefined", b"\xf7"),
    ("simple-16", b"\xf0"),
    ("simple-255", b"\xf8\xff"),
    ("tag-0", b"\xc0\x74" + b"2017-06-14T09:00:00Z"),
    ("tag-2-bignum", b"\xc2\x41\x01"),
    ("tag-18-nested", b"\xd2\x84\x40\xa0\x40\x40"),
    ("tag-55799", b"\xd9\xd9\xf7\x01"),
    ("invalid-utf8", b"\x62\xc3\x28"),
    ("utf8-surrogate", b"\x63\xed\xa0\x80"),
    ("utf8-overlong", b"\x62\xc0\xaf"),
    ("reserved-ai-28", b"\x1c"),
]:
    case("fail-annotation-" + _name, 1, 1, "not allowed by §4")(lambda r=_raw: raw_annotation(r))


@case("fail-annotation-tag-18-deep", 1, 1, "tag 18 deep inside an annotation: no tag inside the payload (§4, §5.3)")
def _():
    return annotated([{"a": Tag(18, [b"", {}, b"", b""])}])


@case("fail-annotation-tag-18-on-a-number", 1, 1, "tag 18 on an annotation's integer (§4, §5.3)")
def _():
    return annotated(Tag(18, 1))


@case("fail-protected-header-tagged", 1, 1, "the protected header's map carries tag 18 (§4, §5.1)")
def _():
    return with_note(protected=enc(Tag(18, {1: -8, 4: MED.kid})))


@case("fail-tag18-on-body", 1, 1, "the payload is a map, not a tagged map (§5.3)")
def _():
    return with_note(payload=lambda b: enc(Tag(18, b)))


@case("fail-untagged-event", 1, 1, "the event must carry tag 18 (§5.1)")
def _():
    return with_note(event=lambda raw: raw[1:])


@case("fail-tag18-nonshortest", 1, 1, "tag 18 encoded d8 12 (§4)")
def _():
    return with_note(event=lambda raw: b"\xd8\x12" + raw[1:])


@case("fail-double-tag18", 1, 1, "tag 18 inside tag 18 (§5.1)")
def _():
    return with_note(event=lambda raw: b"\xd2" + raw)


@case("fail-cose-five-elements", 1, 1, "COSE_Sign1 has 4 elements (§5.1)")
def _():
    return with_note(event=lambda raw: b"\xd2\x85" + raw[2:] + b"\x00")


@case("fail-protected-extra-label", 1, 1, "protected header with a third label (§5.1)")
def _():
    return with_note(protected=enc({1: -8, 4: MED.kid, 3: 0}))


@case("fail-protected-alg-es256", 1, 1, "alg -7 (§5.1)")
def _():
    return with_note(protected=enc({1: -7, 4: MED.kid}))


@case("fail-protected-unsorted", 1, 1, "protected header keys out of order (§4)")
def _():
    return with_note(protected=enc(Pairs([(4, MED.kid), (1, -8)])))


@case("fail-protected-kid-31", 1, 1, "kid of 31 bytes (§5.1)")
def _():
    return with_note(protected=enc({1: -8, 4: MED.kid[:31]}))


@case("fail-protected-trailing-byte", 1, 1, "bytes after the protected header map (§5.1)")
def _():
    return with_note(protected=enc({1: -8, 4: MED.kid}) + b"\x00")


@case("fail-protected-crit", 1, 1, "a crit header (§5.1)")
def _():
    return with_note(protected=enc({1: -8, 2: [4], 4: MED.kid}))


@case("fail-unprotected-kid", 1, 1, "kid in the unprotected header (§5.1)")
def _():
    return with_note(unprotected={4: MED.kid})


@case("fail-payload-trailing-byte", 1, 1, "bytes after the body map (§5.3)")
def _():
    return with_note(payload=lambda b: enc(b) + b"\x00")


@case("fail-body-is-array", 1, 1, "the body is a map (§5.3)")
def _():
    return with_note(payload=lambda b: enc(list(b.items())))


# --- the body (§5.3) -------------------------------------------------------


@case("fail-unknown-critical-field", 1, 1, "a field not defined for the kind (§5.3)")
def _():
    return with_note(body=lambda b: {**b, "foo": 1})


@case("fail-field-of-other-kind", 1, 1, "`title` in a note (§5.3)")
def _():
    return with_note(body=lambda b: {**b, "title": "x"})


@case("fail-non-text-body-key", 1, 1, "an integer key in the body is critical (§5.3)")
def _():
    return with_note(body=lambda b: {**b, 1: 1})


@case("fail-bytes-underscore-key", 1, 1, "a byte-string key h'5f78' is not an annotation (§4, §5.3)")
def _():
    return with_note(body=lambda b: {**b, b"_x": 1})


@case("fail-missing-time", 1, 1, "time is required (§5.3)")
def _():
    return with_note(drop=["time"])


@case("fail-missing-ledger", 1, 1, "ledger is required (§5.3)")
def _():
    return with_note(drop=["ledger"])


@case("fail-missing-prev", 1, 1, "prev is required after the genesis (§5.3)")
def _():
    return with_note(drop=["prev"])


@case("fail-missing-text", 1, 1, "a note's text is required (§5.4)")
def _():
    return with_note(drop=["text"])


@case("fail-v-2", 1, 1, "v is 1 (§6.2)")
def _():
    return with_note(body=lambda b: {**b, "v": 2})


@case("fail-v-negative", 1, 1, "v is a uint (§5.3)")
def _():
    return with_note(body=lambda b: {**b, "v": -1})


@case("fail-v-text", 1, 1, "v is a uint (§5.3)")
def _():
    return with_note(body=lambda b: {**b, "v": "1"})


@case("fail-seq-wrong", 1, 1, "seq equals i (§6.3)")
def _():
    return with_note(seq=2)


@case("fail-seq-huge", 1, 1, "seq equals i (§6.3)")
def _():
    return with_note(seq=2**64 - 1)


@case("fail-ledger-id-differs", 1, 1, "the genesis ledger id (§6.4)")
def _():
    return with_note(body=lambda b: {**b, "ledger": bytes(16)})


@case("fail-ledger-id-15-bytes", 1, 0, "ledger is bstr .size 16 (§5.3)")
def _():
    return Builder(body=lambda b: {**b, "ledger": bytes(15)})


@case("fail-prev-wrong", 1, 1, "prev is the hash of event i-1 (§6.4)")
def _():
    return with_note(body=lambda b: {**b, "prev": bytes(32)})


@case("fail-prev-31", 1, 1, "prev is bstr .size 32 (§5.3)")
def _():
    return with_note(body=lambda b: {**b, "prev": b["prev"][:31]})


@case("fail-genesis-with-prev", 1, 0, "prev is absent at the genesis (§6.4)")
def _():
    return Builder(body=lambda b: {**b, "prev": bytes(32)})


@case("fail-second-genesis", 1, 1, "ledger-created after the genesis (§6.4)")
def _():
    b = Builder()
    b.add("ledger-created", "most", {"title": "again", "parties": {"most": MOST.pub}})
    return b


@case("fail-genesis-not-ledger-created", 1, 0, "the genesis is ledger-created (§6.4)")
def _():
    b = Builder()
    b.events = []
    b.prev = None
    b.add("note", "most", {"text": "x"})
    return b


@case("fail-unknown-kind", 1, 1, "an unknown kind (§5.4)")
def _():
    b = Builder()
    b.add("document-burned", "most", {"doc": "x"})
    return b


@case("fail-genesis-author-not-party", 1, 0, "the genesis author is one of its parties (§6.5)")
def _():
    return Builder(parties={"med": MED.pub, "third": THIRD.pub}, author="most")


@case("fail-author-not-party", 1, 1, "author is a party (§6.5)")
def _():
    return with_note(body=lambda b: {**b, "author": "third"}, signer=THIRD)


@case("fail-kid-of-other-party", 1, 1, "kid is the hash of the author's key (§6.5)")
def _():
    return with_note(protected=enc({1: -8, 4: MOST.kid}))


@case("fail-signed-by-other-party", 1, 1, "the signature is by the author's key (§6.6)")
def _():
    return with_note(sign=lambda k, m: MOST.sign(m))


@case("fail-signature-s-plus-l", 1, 1, "S >= L: S + L satisfies the equation (§5.2)")
def _():
    def sign(key, msg):
        s = key.sign(msg)
        s_int = int.from_bytes(s[32:], "little") + L_ORDER
        return s[:32] + s_int.to_bytes(32, "little")

    return with_note(sign=sign)


@case("fail-signature-small-order-r", 1, 1, "R is the identity; the cofactorless equation holds (§5.2)")
def _():
    return with_note(sign=lambda k, m: k.sign_small_order_r(m))


@case("fail-signature-wrong-aad", 1, 1, "signed without the external_aad (§5.2)")
def _():
    def sign(key, msg):
        # Re-sign the same structure with an empty external_aad.
        arr = msg.replace(b"\x4f" + AAD, b"\x40", 1)
        return key.sign(arr)

    return with_note(sign=sign)


@case("fail-signature-over-payload-only", 1, 1, "a signature over the payload, not the Sig_structure (§5.2)")
def _():
    b = Builder()
    body = {"v": 1, "seq": 1, "kind": "note", "time": b.next_time(), "author": "med", "ledger": LEDGER_ID, "prev": b.prev, "text": "x"}
    return b.add("note", "med", {"text": "x"}, time=body["time"], sign=lambda k, m: k.sign(enc(body)))


# --- parties (§5.6) --------------------------------------------------------

for _name, _key in [
    ("identity", IDENTITY),
    ("order-2", ORDER_2),
    ("order-8", ORDER_8),
    ("not-on-curve", NOT_ON_CURVE),
    ("noncanonical-y", NONCANONICAL_KEY),
    ("identity-sign-bit", (1 | 1 << 255).to_bytes(32, "little")),
]:
    case("fail-party-key-" + _name, 1, 0, "party keys are valid points, not of small order (§5.6)")(
        lambda k=_key: Builder(parties={"most": MOST.pub, "x": k})
    )


@case("ok-party-key-canonical-twin", 0, None, "the canonical encoding of the same point as fail-party-key-noncanonical-y")
def _():
    return Builder(parties={"most": MOST.pub, "x": CANONICAL_TWIN})


@case("fail-parties-share-key", 1, 0, "no two parties share a key (§5.6)")
def _():
    return Builder(parties={"most": MOST.pub, "most2": MOST.pub})


@case("fail-party-key-31-bytes", 1, 0, "party keys are bstr .size 32 (§5.4)")
def _():
    return Builder(parties={"most": MOST.pub, "x": MED.pub[:31]})


# --- kind rules (§6.8) and documents (§6.9) --------------------------------


def drafted(signatories=("med", "most")):
    b = Builder()
    v1 = b.doc(b"v1")
    b.add("document-drafted", "most", {"doc": "d", "sha256": v1, "title": "D", "signatories": list(signatories)})
    return b, v1


@case("fail-session-open-twice", 1, 2, "no open session with this id (§6.8)")
def _():
    b = Builder()
    b.add("session-opened", "most", {"session": "s", "title": "t"})
    b.add("session-opened", "med", {"session": "s", "title": "t"})
    return b


@case("fail-session-close-unopened", 1, 1, "the session is open (§6.8)")
def _():
    return Builder().add("session-closed", "most", {"session": "s"})


@case("fail-session-close-twice", 1, 3, "the session is open (§6.8)")
def _():
    b = Builder()
    b.add("session-opened", "most", {"session": "s", "title": "t"})
    b.add("session-closed", "most", {"session": "s"})
    b.add("session-closed", "most", {"session": "s"})
    return b


@case("fail-draft-twice", 1, 2, "no document with this id exists (§6.8)")
def _():
    b, v1 = drafted()
    b.add("document-drafted", "med", {"doc": "d", "sha256": v1, "title": "D", "signatories": []})
    return b


@case("fail-draft-signatory-not-party", 1, 1, "every signatory is a party (§6.8)")
def _():
    return drafted(["med", "third"])[0]


@case("fail-draft-signatories-unsorted", 1, 1, "signatories sorted bytewise (§5.4)")
def _():
    return drafted(["most", "med"])[0]


@case("fail-draft-signatories-duplicate", 1, 1, "signatories without duplicates (§5.4)")
def _():
    return drafted(["med", "med"])[0]


@case("fail-draft-65-signatories", 1, 1, "at most 64 signatories (§5.4)")
def _():
    return drafted(["a%02d" % i for i in range(65)])[0]


@case("fail-draft-doc-missing", 1, 1, "docs/<sha256> exists (§6.9)")
def _():
    b, v1 = drafted()
    b.docs.clear()
    return b


@case("fail-draft-doc-wrong-content", 1, 1, "docs/<sha256> hashes to its name (§6.9)")
def _():
    b, v1 = drafted()
    b.docs[v1.hex()] = b"v2"
    return b


@case("fail-amend-same-version", 1, 2, "sha256 differs from the current version (§6.8)")
def _():
    b, v1 = drafted()
    b.add("document-amended", "med", {"doc": "d", "sha256": v1})
    return b


@case("fail-amend-unknown-doc", 1, 1, "the document exists (§6.8)")
def _():
    b = Builder()
    b.add("document-amended", "med", {"doc": "d", "sha256": b.doc(b"x")})
    return b


@case("fail-amend-executed", 1, 4, "no amendment after execution (§6.8)")
def _():
    b, v1 = drafted()
    b.add("document-signed", "med", {"doc": "d", "sha256": v1})
    b.add("document-signed", "most", {"doc": "d", "sha256": v1})
    b.add("document-amended", "med", {"doc": "d", "sha256": b.doc(b"v2")})
    return b


@case("ok-amend-no-signatures-doc", 0, None, "a no-signature document is never executed (§5.4)")
def _():
    b, v1 = drafted([])
    b.add("document-approved", "med", {"doc": "d", "sha256": v1})
    b.add("document-amended", "med", {"doc": "d", "sha256": b.doc(b"v2")})
    return b


@case("fail-sign-no-signatures-doc", 1, 2, "the author is a required signatory (§6.8)")
def _():
    b, v1 = drafted([])
    b.add("document-signed", "most", {"doc": "d", "sha256": v1})
    return b


@case("fail-sign-twice", 1, 3, "not signed this version before (§6.8)")
def _():
    b, v1 = drafted()
    b.add("document-signed", "med", {"doc": "d", "sha256": v1})
    b.add("document-signed", "med", {"doc": "d", "sha256": v1})
    return b


@case("fail-sign-old-version", 1, 3, "sha256 is the current version (§6.8)")
def _():
    b, v1 = drafted()
    b.add("document-amended", "med", {"doc": "d", "sha256": b.doc(b"v2")})
    b.add("document-signed", "med", {"doc": "d", "sha256": v1})
    return b


@case("fail-sign-not-signatory", 1, 2, "the author is a required signatory (§6.8)")
def _():
    b, v1 = drafted(["med"])
    b.add("document-signed", "most", {"doc": "d", "sha256": v1})
    return b


@case("fail-approve-twice", 1, 3, "not approved this version before (§6.8)")
def _():
    b, v1 = drafted()
    b.add("document-approved", "med", {"doc": "d", "sha256": v1})
    b.add("document-approved", "med", {"doc": "d", "sha256": v1})
    return b


@case("ok-approve-again-after-amend", 0, None, "approvals of older versions no longer count (§6.8)")
def _():
    b, v1 = drafted()
    b.add("document-approved", "med", {"doc": "d", "sha256": v1})
    b.add("document-amended", "most", {"doc": "d", "sha256": b.doc(b"v2")})
    b.add("document-approved", "med", {"doc": "d", "sha256": b.doc(b"v2")})
    return b


@case("ok-sign-again-after-amend-back", 0, None, "A -> B -> A: signatures of the first A no longer count (§6.8)")
def _():
    b, v1 = drafted()
    b.add("document-signed", "med", {"doc": "d", "sha256": v1})
    b.add("document-amended", "most", {"doc": "d", "sha256": b.doc(b"v2")})
    b.add("document-amended", "most", {"doc": "d", "sha256": v1})
    b.add("document-signed", "med", {"doc": "d", "sha256": v1})
    b.add("document-signed", "most", {"doc": "d", "sha256": v1})
    return b


@case("fail-approve-unknown-doc", 1, 1, "the document exists (§6.8)")
def _():
    b = Builder()
    b.add("document-approved", "med", {"doc": "d", "sha256": bytes(32)})
    return b


@case("ok-approve-after-execution", 0, None, "approving an executed document is not forbidden (§6.8)")
def _():
    b, v1 = drafted(["med"])
    b.add("document-signed", "med", {"doc": "d", "sha256": v1})
    b.add("document-approved", "most", {"doc": "d", "sha256": v1})
    return b


# --- framing (§3) ----------------------------------------------------------


def big_note(total):
    """A ledger whose event 1 is exactly `total` bytes, padded by an annotation."""
    pad = total - 400
    for _ in range(5):
        b = Builder()
        b.add("note", "med", {"text": "big"}, body=lambda x, n=pad: {**x, "_pad": bytes(n)})
        if len(b.events[1]) == total:
            return b
        pad += total - len(b.events[1])
    raise AssertionError("could not hit %d bytes" % total)


@case("ok-event-exactly-max", 0, None, "an event of exactly 65 535 bytes (§3)")
def _():
    return big_note(65535)


@case("fail-event-max-plus-1", 1, 1, "an event of 65 536 bytes (§3)")
def _():
    return big_note(65536)


@case("fail-torn-tail", 1, 2, "the log ends inside an event (§3)", torn_tail=True)
def _():
    b = with_note()
    b.events.append(b.events[1][:-1])
    return b


@case("fail-trailing-zero-byte", 1, 2, "a zero byte after the last event: a torn tail (§3)", torn_tail=True)
def _():
    b = with_note()
    b.events.append(b"\x00")
    return b


# --- keys: key-added, key-rotated, key-revoked (§5.4, §5.7, §6.5, §6.8) ---

NEW1 = Key(hashlib.sha256(b"ledger crafted new key 1").digest())
NEW2 = Key(hashlib.sha256(b"ledger crafted new key 2").digest())


def key_proof(b, author, new, seq=None, prev=None, ledger=None):
    """§5.7: the new key's signature over the key-proof message of the next event."""
    msg = enc(
        [
            "ledger/v1/key-proof",
            LEDGER_ID if ledger is None else ledger,
            len(b.events) if seq is None else seq,
            b.prev if prev is None else prev,
            author,
            new.pub,
        ]
    )
    return new.sign(msg)


def add_key(b, kind, author, new, signer=None, **proof_kw):
    b.add(kind, author, {"key": new.pub, "proof": key_proof(b, author, new, **proof_kw)}, signer=signer)
    return b


@case("ok-key-added-both-sign", 0, None, "an added key signs, and so does the old one (§6.8)")
def _():
    b = add_key(Builder(), "key-added", "most", NEW1)
    b.add("note", "most", {"text": "new"}, signer=NEW1)
    b.add("note", "most", {"text": "old"})
    return b


@case("ok-key-rotated-then-revoked", 0, None, "rotate, then revoke the rotated-out key (§6.8)")
def _():
    b = add_key(Builder(), "key-rotated", "most", NEW1)
    b.add("key-revoked", "most", {"key": MOST.kid, "reason": "compromised"}, signer=NEW1)
    b.add("note", "most", {"text": "new"}, signer=NEW1)
    return b


@case("fail-signed-by-rotated-out-key", 1, 2, "a rotated-out key may no longer sign (§6.5)")
def _():
    b = add_key(Builder(), "key-rotated", "most", NEW1)
    b.add("note", "most", {"text": "old key"})
    return b


@case("fail-signed-by-revoked-key", 1, 3, "a revoked key may no longer sign (§6.5)")
def _():
    b = add_key(Builder(), "key-added", "most", NEW1)
    b.add("key-revoked", "most", {"key": MOST.kid, "reason": "lost"}, signer=NEW1)
    b.add("note", "most", {"text": "old key"})
    return b


@case("fail-key-rotated-signed-by-new-key", 1, 1, "the new key is not current until the event is applied (§6.5)")
def _():
    return add_key(Builder(), "key-rotated", "most", NEW1, signer=NEW1)


@case("fail-key-proof-wrong-key", 1, 1, "the proof must be the new key's signature (§5.7)")
def _():
    b = Builder()
    return b.add("key-added", "most", {"key": NEW1.pub, "proof": key_proof(b, "most", NEW2)})


@case("fail-key-proof-other-seq", 1, 1, "a proof is bound to its seq (§5.7)")
def _():
    return add_key(Builder(), "key-added", "most", NEW1, seq=2)


@case("fail-key-proof-other-ledger", 1, 1, "a proof is bound to its ledger (§5.7)")
def _():
    return add_key(Builder(), "key-added", "most", NEW1, ledger=bytes(16))


@case("fail-key-proof-other-author", 1, 1, "a proof is bound to its author (§5.7)")
def _():
    b = Builder()
    return b.add("key-added", "most", {"key": NEW1.pub, "proof": key_proof(b, "med", NEW1)})


@case("fail-key-rotated-to-other-partys-key", 1, 1, "no key is held twice (§6.8)")
def _():
    return add_key(Builder(), "key-rotated", "most", MED)


@case("fail-key-added-back-after-rotation", 1, 2, "a rotated-out key cannot come back (§6.8)")
def _():
    b = add_key(Builder(), "key-rotated", "most", NEW1)
    return add_key(b, "key-added", "most", MOST, signer=NEW1)


@case("fail-key-added-small-order", 1, 1, "a new key must not be of small order (§5.6)")
def _():
    return Builder().add("key-added", "most", {"key": ORDER_8, "proof": bytes(64)})


@case("fail-key-revoked-last-key", 1, 1, "a party keeps at least one current key (§6.8)")
def _():
    return Builder().add("key-revoked", "med", {"key": MED.kid, "reason": "gone"})


@case("fail-key-revoked-unknown", 1, 1, "only a key the author holds or held may be revoked (§6.8)")
def _():
    return Builder().add("key-revoked", "most", {"key": MED.kid, "reason": "not mine"})


@case("fail-key-revoked-twice", 1, 3, "a key is revoked once (§6.8)")
def _():
    b = add_key(Builder(), "key-added", "most", NEW1)
    b.add("key-revoked", "most", {"key": NEW1.kid, "reason": "lost"})
    b.add("key-revoked", "most", {"key": NEW1.kid, "reason": "lost again"})
    return b


@case("fail-key-revoked-reason-not-a-line", 1, 2, "reason is a line (§5.4)")
def _():
    b = add_key(Builder(), "key-added", "most", NEW1)
    return b.add("key-revoked", "most", {"key": NEW1.kid, "reason": "two\nlines"})


@case("fail-key-added-proof-63-bytes", 1, 1, "proof is 64 bytes (§5.4)")
def _():
    return Builder().add("key-added", "most", {"key": NEW1.pub, "proof": bytes(63)})


@case("fail-trailing-break", 1, 2, "a stray break code (§4): not a torn tail (§3)", torn_tail=False)
def _():
    b = with_note()
    b.events.append(b"\xff")
    return b


@case("fail-bad-event-before-torn-tail", 1, 1, "the first failing event is the verdict, not the torn tail (§1, §6)", torn_tail=False)
def _():
    b = with_note(body=lambda x: {**x, "v": 2})
    b.events.append(b"\xd2\x84")
    return b


# --- the framing of the log: torn tails and damage (§3) --------------------


@case("fail-trailing-zero-bytes-100", 1, 2, "100 zero bytes after the last event: a torn tail (§3)", torn_tail=True)
def _():
    b = with_note()
    b.events.append(bytes(100))
    return b


@case("fail-trailing-zero-bytes-65536", 1, 2, "65 536 zero bytes: more than a torn tail can be (§3)", torn_tail=False)
def _():
    b = with_note()
    b.events.append(bytes(65536))
    return b


@case("fail-only-zero-bytes", 1, 0, "a log of zero bytes only: a torn tail at offset 0 (§3)", torn_tail=True)
def _():
    b = Builder()
    b.events = [bytes(10)]
    return b


def _damage_length(raw):
    """The event with its payload's length head (at byte 43, after the tag,
    the array head, the 40-byte protected header and the empty map) made
    to claim 65 280 bytes: it runs past the end of any small file."""
    assert raw[43] == 0x59 or raw[43] == 0x58, raw[:44].hex()
    width = 2 if raw[43] == 0x58 else 3
    return raw[:43] + b"\x59\xff\x00" + raw[43 + width :]


@case("fail-damaged-length-then-event", 1, 1, "a length running past the end while a complete event follows: damage, not a torn tail (§3)", torn_tail=False)
def _():
    b = Builder()
    b.add("note", "med", {"text": "hello"}, event=_damage_length)
    b.add("note", "most", {"text": "after"})
    return b


@case("fail-damaged-length-at-end", 1, 1, "a length running past the end, nothing after it: a torn tail (§3)", torn_tail=True)
def _():
    return Builder().add("note", "med", {"text": "hello"}, event=_damage_length)


@case("fail-torn-tail-nonshortest-head", 1, 2, "a tail that ends inside its item is torn, whatever else is wrong with it (§3)", torn_tail=True)
def _():
    b = with_note()
    b.events.append(b"\xd2\x84\x58\x05\x01")
    return b


@case("fail-torn-tail-claims-65536", 1, 2, "a short tail whose item claims more than an event may hold is still torn (§3)", torn_tail=True)
def _():
    b = with_note()
    b.events.append(b"\xd2\x84\x5a\x00\x01\x00\x00\x01\x02")
    return b


@case("fail-trailing-indefinite", 1, 2, "an indefinite-length item cannot be framed: not a torn tail (§3, §4)", torn_tail=False)
def _():
    b = with_note()
    b.events.append(b"\xd2\x9f\x01")
    return b


# --- checkpoints: signers by size (§13.1, §13.2) ----------------------------


def _revoking_ledger(extra=0):
    """most adds NEW1 (event 1), two notes (2, 3), a note (4), then revokes
    its genesis key with NEW1 (event 5); `extra` notes after that."""
    b = add_key(Builder(), "key-added", "most", NEW1)
    b.add("note", "med", {"text": "two"})
    b.add("note", "most", {"text": "three"})
    b.add("note", "med", {"text": "four"})
    b.add("key-revoked", "most", {"key": MOST.kid, "reason": "lost"}, signer=NEW1)
    for i in range(extra):
        b.add("note", "med", {"text": "more %d" % i})
    return b


@case("ok-checkpoint-signer-revoked-later", 0, None, "a checkpoint of size 4 signed by a key revoked at event 5 stays valid (§13.1)")
def _():
    return _revoking_ledger().checkpoint(4, [MOST])


@case("fail-checkpoint-signer-revoked-before", 1, None, "a checkpoint of size 6 signed by a key revoked at event 5 (§13.1)")
def _():
    return _revoking_ledger(extra=1).checkpoint(6, [MOST])


@case("ok-checkpoint-signer-revoked-at-size", 0, None, "size 5: the revocation is event 5, not among the first 5 (§13.1)")
def _():
    return _revoking_ledger().checkpoint(5, [MOST])


@case("ok-checkpoint-revoked-and-current-signer", 0, None, "size 6 signed by the revoked key and a current one: the revoked key's line is ignored (§13.1, §13.6)")
def _():
    return _revoking_ledger().checkpoint(6, [MOST, NEW1])


@case("fail-checkpoint-signer-rotated-before", 1, None, "a checkpoint of size 2 signed by a key rotated out at event 1 (§13.1)")
def _():
    b = add_key(Builder(), "key-rotated", "most", NEW1)
    return b.checkpoint(2, [MOST])


@case("ok-checkpoint-signer-rotated-later", 0, None, "a checkpoint of size 1 signed by a key rotated out at event 1 (§13.1)")
def _():
    b = add_key(Builder(), "key-rotated", "most", NEW1)
    return b.checkpoint(1, [MOST])


@case("fail-checkpoint-signer-added-later", 1, None, "a checkpoint of size 1 signed by a key added at event 1 (§13.1)")
def _():
    b = add_key(Builder(), "key-added", "most", NEW1)
    return b.checkpoint(1, [NEW1])


@case("ok-checkpoint-signer-added-before", 0, None, "a checkpoint of size 2 signed by a key added at event 1 (§13.1)")
def _():
    b = add_key(Builder(), "key-added", "most", NEW1)
    return b.checkpoint(2, [NEW1])


@case("fail-checkpoint-size-0-by-party", 1, None, "no party key may sign a checkpoint of size 0 (§13.1)")
def _():
    return with_note().checkpoint(0, [MOST])


@case("fail-checkpoint-bad-signature-of-later-revoked-key", 1, None, "a key trusted at the size must verify, though revoked since (§13.6)")
def _():
    b = _revoking_ledger()
    text = checkpoint_note(b.events, 4, [], ())
    good = checkpoint_note(b.events, 4, [NEW1], ())  # NEW1 added at 1: may sign size 4
    # most's genesis key (current at 4) signs another text: a bad line.
    bad = note_line(ORIGIN, MOST, "another text\n")
    b.checkpoints["4"] = good + bad.encode()
    del text
    return b


# --- checkpoints: key names (§13.3 rule 5) ----------------------------------


for _label, _ch in [
    ("U+00A0", "\u00a0"),
    ("U+0085", "\u0085"),
    ("U+2028", "\u2028"),
    ("U+3000", "\u3000"),
    ("U+1680", "\u1680"),
    ("U+202F", "\u202f"),
    ("U+007F", "\u007f"),
    ("U+0080", "\u0080"),
    ("U+009B", "\u009b"),
    ("plus", "+"),
]:

    def _mk(ch=_ch):
        b = with_note()
        stranger = note_line("stranger" + ch + "name", THIRD, "whatever\n")
        return b.checkpoint(2, [MOST], extra_lines=[stranger])

    case(
        "fail-checkpoint-unknown-key-name-" + _label,
        1,
        None,
        "an unknown signature line whose key name holds a forbidden character (§13.3 rule 5)",
    )(_mk)


for _label, _ch in [("U+00E9", "\u00e9"), ("U+200B", "\u200b"), ("U+FEFF", "\ufeff"), ("U+00A1", "\u00a1")]:

    def _mk(ch=_ch):
        b = with_note()
        stranger = note_line("stranger" + ch + "name", THIRD, "whatever\n")
        return b.checkpoint(2, [MOST], extra_lines=[stranger])

    case(
        "ok-checkpoint-unknown-key-name-" + _label,
        0,
        None,
        "a key name may hold any other character; an unknown key's line is ignored (§13.3 rule 5, §13.6)",
    )(_mk)


@case("ok-checkpoint-c1-in-extension-line", 0, None, "U+0085 in the note's text (an extension line) is allowed (§13.3 rule 1, §13.7)")
def _():
    import base64

    b = with_note()
    leaves = [hashlib.sha256(b"\x00" + e).digest() for e in b.events[:2]]
    text = "%s\n2\n%s\next\u0085ension\n" % (ORIGIN, base64.b64encode(tree_hash(leaves)).decode())
    b.checkpoints["2"] = (text + "\n" + note_line(ORIGIN, MOST, text)).encode()
    return b


# --- files the ledger holds: regular files only (§2, §7, §13.2) -------------


def _valid_checkpoint_ledger():
    return with_note().checkpoint(2, [MOST])


@case("fail-checkpoints-entry-is-a-directory", 1, None, "an entry of checkpoints/ that is a directory (§2, §13.2)")
def _():
    return _valid_checkpoint_ledger().then(lambda p: os.mkdir(os.path.join(p, "checkpoints", "1")))


@case("fail-checkpoints-entry-dangling-link", 1, None, "an entry of checkpoints/ that is a dangling symbolic link (§2, §13.2)")
def _():
    return _valid_checkpoint_ledger().then(lambda p: os.symlink("nowhere", os.path.join(p, "checkpoints", "1")))


def _link_to_valid(p):
    cdir = os.path.join(p, "checkpoints")
    os.rename(os.path.join(cdir, "2"), os.path.join(p, "elsewhere"))
    os.symlink(os.path.join("..", "elsewhere"), os.path.join(cdir, "2"))


@case("fail-checkpoints-entry-link-to-valid", 1, None, "a symbolic link to a valid checkpoint is not followed (§2, §13.2)")
def _():
    return _valid_checkpoint_ledger().then(_link_to_valid)


def _checkpoints_a_file(p):
    with open(os.path.join(p, "checkpoints"), "wb") as f:
        f.write(b"not a directory")


@case("fail-checkpoints-is-a-file", 1, None, "checkpoints that is not a directory (§2, §13.2)")
def _():
    return with_note().then(_checkpoints_a_file)


@case("fail-checkpoints-is-a-link", 1, None, "checkpoints that is a symbolic link (§2)")
def _():
    def link(p):
        os.rename(os.path.join(p, "checkpoints"), os.path.join(p, "cps"))
        os.symlink("cps", os.path.join(p, "checkpoints"))

    return _valid_checkpoint_ledger().then(link)


@case("fail-checkpoints-entry-fifo", 1, None, "a FIFO in checkpoints/ is refused, not waited on (§2, §13.2)")
def _():
    return _valid_checkpoint_ledger().then(lambda p: os.mkfifo(os.path.join(p, "checkpoints", "1")))


def _sparse(path, size):
    with open(path, "wb") as f:
        f.truncate(size)


@case("fail-checkpoints-entry-sparse-1-GiB", 1, None, "a 1 GiB checkpoint file is refused without being read whole (§2, §13.3 rule 6)")
def _():
    return _valid_checkpoint_ledger().then(lambda p: _sparse(os.path.join(p, "checkpoints", "1"), 1 << 30))


def _doc_ledger():
    b = Builder()
    v1 = b.doc(b"The document.\n")
    b.add("document-drafted", "most", {"doc": "d", "sha256": v1, "title": "D", "signatories": []})
    return b, v1.hex()


def _replace_doc(name, how):
    def fn(p):
        path = os.path.join(p, "docs", name)
        os.remove(path)
        how(path)

    return fn


@case("fail-document-fifo", 1, 1, "a FIFO in place of a document is refused, not waited on (§2, §7)")
def _():
    b, name = _doc_ledger()
    return b.then(_replace_doc(name, os.mkfifo))


@case("fail-document-link-to-the-right-bytes", 1, 1, "a symbolic link to the document's bytes is not followed (§2, §7)")
def _():
    b, name = _doc_ledger()

    def link(path):
        with open(path + ".real", "wb") as f:
            f.write(b"The document.\n")
        os.symlink(os.path.basename(path) + ".real", path)

    return b.then(_replace_doc(name, link))


@case("fail-document-sparse-over-256-MiB", 1, 1, "a document file of more than 256 MiB is refused without being read (§7)")
def _():
    b, name = _doc_ledger()
    return b.then(_replace_doc(name, lambda path: _sparse(path, (256 << 20) + 1)))


@case("fail-docs-is-a-link", 1, None, "docs that is a symbolic link (§2)")
def _():
    b, _name = _doc_ledger()

    def link(p):
        os.rename(os.path.join(p, "docs"), os.path.join(p, "real-docs"))
        os.symlink("real-docs", os.path.join(p, "docs"))

    return b.then(link)




@case("fail-events-is-a-link", 1, None, "events.cbor that is a symbolic link (§2)")
def _():
    def link(p):
        os.rename(os.path.join(p, "events.cbor"), os.path.join(p, "real-events"))
        os.symlink("real-events", os.path.join(p, "events.cbor"))

    return with_note().then(link)


@case("usage-events-is-a-fifo", 2, None, "events.cbor that is a FIFO: not a ledger, and not waited on (§2)")
def _():
    def fifo(p):
        os.remove(os.path.join(p, "events.cbor"))
        os.mkfifo(os.path.join(p, "events.cbor"))

    return with_note().then(fifo)


def main(argv):
    if len(argv) != 1:
        sys.stderr.write("usage: crafted.py OUTDIR\n")
        return 2
    out = argv[0]
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    manifest = []
    names = set()
    for name, expect, event, why, fn, torn_tail in CASES:
        safe = "".join(c if (c.isascii() and c.isalnum()) or c in "-_.+" else "_" for c in name)
        assert safe not in names, safe
        names.add(safe)
        fn().write(os.path.join(out, safe))
        row = {"name": safe, "expect": expect, "event": event, "why": why}
        if torn_tail is not None:
            row["torn_tail"] = torn_tail
        manifest.append(row)
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("%d cases written to %s" % (len(manifest), out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
