#!/usr/bin/env python3
"""An independent verifier for `ledger` directories, written from docs/FORMAT.md.

It shares no code with the Rust implementation: every rule below was written
from the format document, and each function cites the section it implements.

    FORMAT §2    directory layout: only events.cbor, docs/ and checkpoints/
                 are read; regular files only, no links followed, no FIFO
                 waited on, every read capped
    FORMAT §3    the log: a CBOR sequence, 65 535 bytes per event, torn tails
                 and damage
    FORMAT §4    strict CBOR: core deterministic encoding, allowed types
    FORMAT §5.1  the COSE_Sign1 envelope
    FORMAT §5.2  the Sig_structure and strict Ed25519 verification
    FORMAT §5.3  the body, annotations and critical fields
    FORMAT §5.4  the kinds and the id/line/text classes
    FORMAT §5.5  the strict RFC 3339 time profile
    FORMAT §5.6  the parties' keys
    FORMAT §5.7  key proofs (key-added, key-rotated)
    FORMAT §5.8  party proofs (parties-proposed)
    FORMAT §6    replay, keys by log position (§6.5), --trust and --head
    FORMAT §6.10 changing the parties (parties-proposed, parties-approved)
    FORMAT §7    documents
    FORMAT §9    public key files (for --trust)
    FORMAT §12   the Merkle tree
    FORMAT §13   stored checkpoints: signers by size (§13.1), the note
                 format and key names (§13.3), verification (§13.6)

Everything printed (file names, titles, ids, reasons) is escaped as
`ledger` escapes it (terminal_safe); --json output is ASCII.

Usage:
    python3 tools/verify.py DIR [--trust PATH ...] [--head HASH] [--json]

Exit status: 0 the ledger verifies (the last line on stdout is
`OK: N events verified, head HEX`); 1 it does not (one line on stdout,
`FAIL: event I (byte offset O of events.cbor): reason`); 2 usage or I/O
error (on stderr). With --json, one JSON document on stdout instead. No
input makes it print a traceback: an unexpected exception is reported as an
internal error (exit 2), and is a bug.

Batch mode, for tests (tests/python_verifier.rs uses it to check thousands
of mutated ledgers in one process):

    python3 tools/verify.py --batch FILE      (FILE may be - for stdin)

Each line of FILE is a JSON array of command-line arguments (as above,
without --json); for each, one JSON object is written to stdout on its own
line: {"exit", "count", "head", "event", "offset", "torn_tail", "reason"}.

Dependencies (tools/requirements.txt): the standard library, `cryptography`
(the Ed25519 verification equation, and PEM/OpenSSH key parsing) and `cbor2`
(to encode the Sig_structure).
Decoding is done by the strict decoder below, not by cbor2: cbor2 merges
duplicate map keys by default, accepts floats, simple values, any tag and
non-shortest integers, and its `canonical=True` encoder sorts map keys
length-first (RFC 7049 §3.9), not bytewise (RFC 8949 §4.2.1), so it cannot
serve for the re-encode-and-compare check of FORMAT §4 when a map mixes
keys of different encoded lengths ({100: 1, -1: 2} must be a2 1864 01 20 02).
The small-order and canonical-encoding checks of §5.2/§5.6 are pure Python,
since OpenSSL (behind `cryptography`) does not make them.
"""

from __future__ import annotations

import datetime
import errno
import functools
import hashlib
import json
import os
import re
import stat
import sys

try:  # §8: readers hold a shared flock on events.cbor (POSIX only)
    import fcntl
except ImportError:  # pragma: no cover - non-POSIX
    fcntl = None

MAX_EVENT_BYTES = 65535  # FORMAT §3
MAX_TEXT_BYTES = 65000  # FORMAT §5.4: a note of the longest text fits an event
KEY_PROOF_CONTEXT = "ledger/v1/key-proof"  # FORMAT §5.7
PARTY_PROOF_CONTEXT = "ledger/v1/party-proof"  # FORMAT §5.8
EXTERNAL_AAD = b"ledger/v1/event"  # FORMAT §5.2
MAX_PARTIES = 64  # FORMAT §5.4
MAX_SIGNATORIES = 64  # FORMAT §5.4


class Failure(Exception):
    """The ledger does not verify (exit 1)."""

    def __init__(self, reason, event=None, offset=None, torn_tail=False):
        super().__init__(reason)
        self.reason = reason
        self.event = event
        self.offset = offset
        self.torn_tail = torn_tail


class UsageError(Exception):
    """Bad arguments, or an I/O error outside the ledger's rules (exit 2)."""


# ---------------------------------------------------------------------------
# FORMAT §4: a strict CBOR decoder for the subset the format allows.
#
# FORMAT §4 suggests "decode, re-encode deterministically, compare bytes".
# This decoder instead rejects each violation at the byte where it occurs,
# which accepts exactly the same inputs: a deterministic re-encoding equals
# the input if and only if every argument (integer, length, tag) is in its
# shortest form, every length is definite, and the encoded keys of every map
# strictly increase bytewise (which both sorts them and forbids duplicates,
# even duplicates a dict-based decoder would silently merge). FORMAT §4 also
# limits map keys to integers and text strings, and nesting to 16 levels.
# ---------------------------------------------------------------------------


class CborInvalid(Exception):
    """Not well-formed, or outside FORMAT §4."""


class CborTruncated(Exception):
    """The input ends inside the item (a strict prefix of an item)."""


class CborTooLarge(Exception):
    """The item would extend past its size cap (FORMAT §3: 65 535 bytes)."""


class CMap:
    """A decoded CBOR map: its pairs in encoded (= sorted) order, and an
    index by key (keys are integers or text strings, FORMAT §4)."""

    __slots__ = ("pairs", "index")

    def __init__(self):
        self.pairs = []
        self.index = {}

    def add(self, key, value):
        self.pairs.append((key, value))
        # An int never equals a str, and the byte-order check has already
        # excluded duplicates, so the index loses nothing.
        self.index[key] = value

    def __len__(self):
        return len(self.pairs)


class Tagged:
    __slots__ = ("tag", "value")

    def __init__(self, tag, value):
        self.tag = tag
        self.value = value


_ARRAY, _MAP, _TAG = 0, 1, 2
MAX_DEPTH = 16  # FORMAT §4


def cbor_decode(buf, pos, avail_end, cap_end, allow_top_tag18=False):
    """Decode one data item of `buf` starting at `pos`.

    Bytes up to `avail_end` exist; the item must end by `cap_end`. Returns
    (value, end). Raises CborTruncated if the input ends inside the item,
    CborTooLarge if it would pass `cap_end`, CborInvalid otherwise.
    Tag 18 is accepted only as the very first byte when allow_top_tag18.
    """
    first = pos
    # Each frame: [kind, container, remaining, start, last_key_enc, key, have_key]
    stack = []

    def need(p, n):
        if p + n > cap_end:
            raise CborTooLarge()
        if p + n > avail_end:
            raise CborTruncated()

    while True:
        start = pos
        # FORMAT §4: an item inside more than MAX_DEPTH containers is refused.
        if len(stack) > MAX_DEPTH:
            raise CborInvalid("nested more than %d deep" % MAX_DEPTH)
        need(pos, 1)
        ib = buf[pos]
        pos += 1
        major, ai = ib >> 5, ib & 0x1F
        if major == 7:
            # Floats, simple values (false, true, null, undefined) and the
            # break code: none is allowed (FORMAT §4).
            if ai == 31:
                raise CborInvalid("unexpected break code 0xff")
            if ai in (25, 26, 27):
                raise CborInvalid("floats are not allowed")
            raise CborInvalid("simple values (false, true, null, undefined) are not allowed")
        if ai < 24:
            arg = ai
        elif ai <= 27:
            n = 1 << (ai - 24)
            need(pos, n)
            arg = int.from_bytes(buf[pos : pos + n], "big")
            pos += n
            shortest_min = 24 if n == 1 else 1 << (4 * n)
            if arg < shortest_min:
                raise CborInvalid("integer, length or tag not in its shortest form")
        elif ai == 31:
            raise CborInvalid("indefinite lengths are not allowed")
        else:
            raise CborInvalid("reserved additional information value %d" % ai)

        if major == 0:
            value = arg
        elif major == 1:
            value = -1 - arg
        elif major == 2:
            need(pos, arg)
            value = bytes(buf[pos : pos + arg])
            pos += arg
        elif major == 3:
            need(pos, arg)
            try:
                # Python's UTF-8 codec is strict: overlong forms, surrogates
                # and code points above U+10FFFF are errors.
                value = bytes(buf[pos : pos + arg]).decode("utf-8")
            except UnicodeDecodeError:
                raise CborInvalid("text string is not valid UTF-8") from None
            pos += arg
        elif major == 6:
            if not (allow_top_tag18 and start == first and arg == 18):
                if arg == 18:
                    raise CborInvalid("tag 18 is only allowed on the event itself")
                raise CborInvalid("tag %d is not allowed" % arg)
            stack.append([_TAG, None, 1, start, None, None, False])
            continue
        elif major == 4:
            if arg == 0:
                value = []
            else:
                stack.append([_ARRAY, [], arg, start, None, None, False])
                continue
        else:  # major == 5
            if arg == 0:
                value = CMap()
            else:
                stack.append([_MAP, CMap(), arg, start, None, None, False])
                continue

        # Attach the finished item buf[start:pos] to its parents.
        while True:
            if not stack:
                return value, pos
            frame = stack[-1]
            kind = frame[0]
            if kind == _MAP and not frame[6]:
                if not isinstance(value, (int, str)):
                    raise CborInvalid("map keys must be integers or text strings")
                enc = bytes(buf[start:pos])
                last = frame[4]
                if last is not None and enc <= last:
                    if enc == last:
                        raise CborInvalid("duplicate map key")
                    raise CborInvalid("map keys not in bytewise order of their encodings")
                frame[4] = enc
                frame[5] = value
                frame[6] = True
                break  # now decode the key's value
            if kind == _MAP:
                frame[1].add(frame[5], value)
                frame[6] = False
            elif kind == _ARRAY:
                frame[1].append(value)
            else:
                frame[1] = Tagged(18, value)
            frame[2] -= 1
            if frame[2]:
                break
            stack.pop()
            value = frame[1]
            start = frame[3]


def decode_embedded(data, what):
    """Decode a bstr .cbor: exactly one item filling the byte string."""
    try:
        value, end = cbor_decode(data, 0, len(data), len(data))
    except (CborTruncated, CborTooLarge):
        raise Failure("%s: the byte string ends inside a CBOR item" % what) from None
    except CborInvalid as e:
        raise Failure("%s: %s (FORMAT §4)" % (what, e)) from None
    if end != len(data):
        raise Failure("%s: %d bytes after the CBOR item" % (what, len(data) - end))
    return value


def encode_sig_structure(protected, payload):
    """FORMAT §5.2: ["Signature1", protected, external_aad, payload].

    Encoded with cbor2: for an array of one text and three byte strings there
    is exactly one deterministic encoding, which cbor2 always produces.
    """
    import cbor2

    return cbor2.dumps(["Signature1", protected, EXTERNAL_AAD, payload])


def encode_key_proof(ledger, seq, prev, author, key):
    """FORMAT §5.7: ["ledger/v1/key-proof", ledger, seq, prev, author, key].

    An array of texts, byte strings and one unsigned integer: cbor2 writes
    integers and lengths in their shortest form, which is the only
    deterministic encoding of such an array.
    """
    import cbor2

    return cbor2.dumps([KEY_PROOF_CONTEXT, ledger, seq, prev, author, key])


def encode_party_proof(ledger, seq, prev, party, key):
    """FORMAT §5.8: ["ledger/v1/party-proof", ledger, seq, prev, party, key].

    The same shape as the key proof (§5.7), so the same argument holds: the
    only deterministic encoding, which cbor2 writes.
    """
    import cbor2

    return cbor2.dumps([PARTY_PROOF_CONTEXT, ledger, seq, prev, party, key])


# ---------------------------------------------------------------------------
# FORMAT §5.2 and §5.6: Ed25519 point checks in pure Python (RFC 8032).
# The verification equation itself is computed by `cryptography`; the strict
# checks of ed25519-dalek's verify_strict that it may not make (S < L, no
# small-order A or R, canonical encodings) are made here first.
# ---------------------------------------------------------------------------

_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_L = 2**252 + 27742317777372353535851937790883648493
_IDENTITY = (0, 1)


def decode_point(enc):
    """RFC 8032 §5.1.3 point decoding, rejecting non-canonical encodings.

    Returns the affine (x, y), or raises ValueError naming why the bytes are
    not the canonical encoding of a curve point.
    """
    if len(enc) != 32:
        raise ValueError("not 32 bytes")
    n = int.from_bytes(enc, "little")
    sign = n >> 255
    y = n & ((1 << 255) - 1)
    if y >= _P:
        raise ValueError("non-canonical encoding (y >= p)")
    # x^2 = u/v; candidate root x = u v^3 (u v^7)^((p-5)/8) (RFC 8032 §5.1.3).
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    v3 = v * v % _P * v % _P
    x = u * v3 % _P * pow(u * v3 % _P * v3 % _P * v % _P, (_P - 5) // 8, _P) % _P
    vx2 = v * x % _P * x % _P
    if vx2 != u:
        if vx2 != (-u) % _P:
            raise ValueError("not a point on the curve")
        x = x * _SQRT_M1 % _P
    if x == 0 and sign:
        raise ValueError("non-canonical encoding (x = 0 with the sign bit set)")
    if x & 1 != sign:
        x = _P - x
    return (x, y)


def _point_add(a, b):
    """Affine addition on -x^2 + y^2 = 1 + d x^2 y^2 (complete: d is not a square)."""
    x1, y1 = a
    x2, y2 = b
    t = _D * x1 * x2 * y1 * y2 % _P
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, _P - 2, _P) % _P
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, _P - 2, _P) % _P
    return (x3, y3)


def is_small_order(point):
    """True when [8]P is the identity, i.e. P lies in the torsion subgroup.

    Three doublings in projective coordinates (no inversions; the formulas
    are dbl-2008-hwcd for a = -1); the identity is X = 0, Y = Z.
    """
    x, y = point
    z = 1
    for _ in range(3):
        a, b = x * x % _P, y * y % _P
        c = 2 * z * z % _P
        e = ((x + y) * (x + y) - a - b) % _P
        g = (b - a) % _P  # D + B with D = -A
        f = (g - c) % _P
        h = (-a - b) % _P  # D - B
        x, y, z = e * f % _P, g * h % _P, f * g % _P
    return x == 0 and y == z


@functools.lru_cache(maxsize=1024)
def check_public_key(key):
    """FORMAT §5.6: a canonical point encoding, not of small order."""
    try:
        point = decode_point(key)
    except ValueError as e:
        return "is not a valid Ed25519 public key: %s" % e
    if is_small_order(point):
        return "is a point of small order"
    return None


@functools.lru_cache(maxsize=4096)
def verify_strict(public_key, signature, message):
    """FORMAT §5.2: RFC 8032 §5.1.7 verification with verify_strict's checks.

    Returns None when the signature verifies, else the reason it does not.
    (A pure function of its bytes, so memoised: in --batch mode the events
    that mutated copies of one ledger share are checked once.)
    """
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if len(signature) != 64:
        return "the signature is not 64 bytes"
    if int.from_bytes(signature[32:], "little") >= _L:
        return "the signature's S is not less than the group order L"
    try:
        r = decode_point(signature[:32])
    except ValueError as e:
        return "the signature's R is not a valid point: %s" % e
    if is_small_order(r):
        return "the signature's R is of small order"
    problem = check_public_key(public_key)
    if problem:
        return "the public key %s" % problem
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return "the Ed25519 signature does not verify"
    except ValueError as e:  # pragma: no cover - key rejected by the library
        return "the Ed25519 library rejects the key: %s" % e
    return None


# ---------------------------------------------------------------------------
# FORMAT §5.4 text classes and §5.5 time.
# ---------------------------------------------------------------------------

_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}", re.ASCII)
_TIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)


def _is_control(ch, allowed=""):
    o = ord(ch)
    return (o <= 0x1F or 0x7F <= o <= 0x9F) and ch not in allowed


def check_id(value):
    """An id: 1-64 bytes of [a-z0-9._-], starting with a letter or digit."""
    return isinstance(value, str) and _ID_RE.fullmatch(value) is not None


def check_line(value):
    """A line: 1-1024 bytes of UTF-8, no control characters."""
    if not isinstance(value, str):
        return False
    n = len(value.encode("utf-8"))
    return 1 <= n <= 1024 and not any(_is_control(c) for c in value)


def check_text(value):
    """A text: 1-65000 bytes of UTF-8, no control characters but LF and TAB (§5.4)."""
    if not isinstance(value, str):
        return False
    n = len(value.encode("utf-8"))
    return 1 <= n <= MAX_TEXT_BYTES and not any(_is_control(c, "\n\t") for c in value)


def fingerprint(key):
    """How a key is shown to people (FORMAT §5.1, end): "SHA256:" and the unpadded
    standard Base64 of the SHA-256 of its SSH wire encoding (RFC 8709 §4),
    as `ssh-keygen -l` and `ledger fingerprint` print it."""
    import base64

    wire = b"\x00\x00\x00\x0bssh-ed25519" + len(key).to_bytes(4, "big") + key
    return "SHA256:" + base64.b64encode(hashlib.sha256(wire).digest()).decode().rstrip("=")


def _days_from_civil(y, m, d):
    """Days since 1970-01-01 in the proleptic Gregorian calendar."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_time(value):
    """FORMAT §5.5: the strict RFC 3339 profile. Returns the instant in ns."""
    if not isinstance(value, str):
        raise ValueError("not a text string")
    m = _TIME_RE.fullmatch(value)
    if not m:
        raise ValueError("not YYYY-MM-DDTHH:MM:SS[.F](Z|+HH:MM|-HH:MM)")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    frac, zone = m.group(7), m.group(8)
    if not 1 <= year <= 9999:
        raise ValueError("year out of range")
    if not 1 <= month <= 12:
        raise ValueError("month out of range")
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    mdays = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    if not 1 <= day <= mdays[month - 1]:
        raise ValueError("no such day")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("time of day out of range")
    offset = 0
    if zone != "Z":
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            raise ValueError("offset out of range")
        offset = (oh * 60 + om) * 60 * (1 if zone[0] == "+" else -1)
    secs = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    nanos = int(frac.ljust(9, "0")) if frac else 0
    return (secs - offset) * 1_000_000_000 + nanos


# ---------------------------------------------------------------------------
# FORMAT §5.1, §5.3, §5.4: decoding one event.
# ---------------------------------------------------------------------------

_COMMON = {"v", "seq", "kind", "prev", "time", "author", "ledger"}

# kind -> {field: (class, required)}; classes are checked by _check_field.
_KINDS = {
    "ledger-created": {"title": ("line", True), "parties": ("parties", True)},
    "session-opened": {
        "session": ("id", True),
        "title": ("line", True),
        "place": ("line", False),
        "chair": ("line", False),
        "notes": ("text", False),
    },
    "session-closed": {"session": ("id", True), "notes": ("text", False)},
    "document-drafted": {
        "doc": ("id", True),
        "sha256": ("hash", True),
        "title": ("line", True),
        "signatories": ("signatories", True),
    },
    "document-amended": {
        "doc": ("id", True),
        "sha256": ("hash", True),
        "notes": ("text", False),
    },
    "document-approved": {"doc": ("id", True), "sha256": ("hash", True)},
    "document-signed": {"doc": ("id", True), "sha256": ("hash", True)},
    "note": {"text": ("text", True)},
    "key-added": {"key": ("hash", True), "proof": ("sig", True)},
    "key-rotated": {"key": ("hash", True), "proof": ("sig", True)},
    "key-revoked": {"key": ("hash", True), "reason": ("line", True)},
    "parties-proposed": {
        "proposal": ("id", True),
        "add": ("add", True),
        "remove": ("signatories", True),
    },
    "parties-approved": {"proposal": ("id", True), "sha256": ("hash", True)},
}


def _check_field(name, cls, value):
    """Raise Failure unless `value` is of class `cls` (FORMAT §5.3, §5.4)."""
    bad = None
    if cls == "id":
        if not check_id(value):
            bad = "an id (1-64 bytes of a-z 0-9 . _ -, starting with a letter or digit)"
    elif cls == "line":
        if not check_line(value):
            bad = "a line (1-1024 bytes of UTF-8, no control characters)"
    elif cls == "text":
        if not check_text(value):
            bad = "a text (1-65000 bytes of UTF-8, no control characters but LF and TAB)"
    elif cls == "hash":
        if not (isinstance(value, bytes) and len(value) == 32):
            bad = "a 32-byte byte string"
    elif cls == "sig":
        if not (isinstance(value, bytes) and len(value) == 64):
            bad = "a 64-byte byte string"
    elif cls == "signatories":
        if not isinstance(value, list) or len(value) > MAX_SIGNATORIES:
            bad = "an array of at most 64 ids"
        elif not all(check_id(s) for s in value):
            bad = "an array of ids"
        elif any(a.encode() >= b.encode() for a, b in zip(value, value[1:])):
            bad = "an array of ids sorted bytewise, without duplicates"
    elif cls == "add":
        # FORMAT §5.4: id -> {"key": bstr .size 32, "proof": bstr .size 64}
        if not isinstance(value, CMap) or len(value) > MAX_PARTIES:
            bad = "a map of at most 64 parties"
        else:
            for pid, entry in value.pairs:
                if not check_id(pid):
                    raise Failure("field \"add\": %r is not an id (FORMAT §5.4)" % (pid,))
                if (
                    not isinstance(entry, CMap)
                    or len(entry) != 2
                    or not isinstance(entry.index.get("key"), bytes)
                    or len(entry.index["key"]) != 32
                    or not isinstance(entry.index.get("proof"), bytes)
                    or len(entry.index["proof"]) != 64
                ):
                    raise Failure(
                        "field \"add\": the entry of %r must be exactly {\"key\": 32 bytes, \"proof\": 64 bytes} (FORMAT §5.4)"
                        % pid
                    )
    elif cls == "parties":
        if not isinstance(value, CMap) or not 1 <= len(value) <= MAX_PARTIES:
            bad = "a map of 1 to 64 parties"
        else:
            seen = set()
            for pid, key in value.pairs:
                if not check_id(pid):
                    raise Failure("field \"parties\": %r is not an id (FORMAT §5.4)" % (pid,))
                if not (isinstance(key, bytes) and len(key) == 32):
                    raise Failure("field \"parties\": the key of %r is not a 32-byte byte string" % pid)
                problem = check_public_key(key)
                if problem:
                    raise Failure("the key of party %r %s (FORMAT §5.6)" % (pid, problem))
                if key in seen:
                    raise Failure("party %r has the same key as another party (FORMAT §5.6)" % pid)
                seen.add(key)
    if bad:
        raise Failure("field %r must be %s (FORMAT §5.4)" % (name, bad))


class Event:
    """One event, decoded and checked against FORMAT §5 (replay step 1)."""

    __slots__ = ("raw", "hash", "protected", "kid", "payload", "signature", "body", "instant")

    def __init__(self, raw):
        self.raw = raw
        self.hash = hashlib.sha256(raw).digest()


def parse_event(raw):
    """FORMAT §5.1-§5.5 for the stored bytes of one event (a decoded item)."""
    ev = Event(raw)
    # The framing already decoded the item; decode it again from its own
    # bytes to get the value (cheap, and keeps framing separate).
    value, _ = cbor_decode(raw, 0, len(raw), len(raw), allow_top_tag18=True)
    # §5.1: #6.18([protected, unprotected, payload, signature])
    if not isinstance(value, Tagged):
        raise Failure("the event is not a tagged COSE_Sign1 (tag 18) message (FORMAT §5.1)")
    msg = value.value
    if not isinstance(msg, list) or len(msg) != 4:
        raise Failure("COSE_Sign1 must be an array of 4 elements (FORMAT §5.1)")
    protected, unprotected, payload, signature = msg
    if not isinstance(protected, bytes):
        raise Failure("the protected header is not a byte string (FORMAT §5.1)")
    if not isinstance(unprotected, CMap) or len(unprotected):
        raise Failure("the unprotected header must be the empty map (FORMAT §5.1)")
    if not isinstance(payload, bytes):
        raise Failure("the payload must be a byte string, never detached (FORMAT §5.1)")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise Failure("the signature must be a 64-byte byte string (FORMAT §5.1)")

    header = decode_embedded(protected, "protected header")
    if (
        not isinstance(header, CMap)
        or len(header) != 2
        or header.index.get(1, None) != -8
        or not isinstance(header.index.get(4), bytes)
        or len(header.index[4]) != 32
    ):
        raise Failure(
            "the protected header must be exactly {1: -8, 4: kid} with a 32-byte kid (FORMAT §5.1)"
        )
    ev.protected, ev.kid, ev.payload, ev.signature = protected, header.index[4], payload, signature

    # §5.3: the body, a map with text keys.
    body = decode_embedded(payload, "payload")
    if not isinstance(body, CMap):
        raise Failure("the payload is not a map (FORMAT §5.3)")
    fields = {}
    for key, val in body.pairs:
        if isinstance(key, str) and key.startswith("_"):
            continue  # an annotation: signed, otherwise ignored (§5.3)
        fields[key] = val  # non-text keys end up critical below
    kind = fields.get("kind")
    if not isinstance(kind, str):
        raise Failure("missing or non-text field \"kind\" (FORMAT §5.3)")
    if kind not in _KINDS:
        raise Failure("unknown event kind %r (FORMAT §5.4)" % kind)
    spec = _KINDS[kind]
    for key in fields:
        if key not in _COMMON and key not in spec:
            raise Failure("unknown critical field %r in a %s event (FORMAT §5.3)" % (key, kind))
    for name in ("v", "seq"):
        if name not in fields:
            raise Failure("missing required field %r (FORMAT §5.3)" % name)
        if not isinstance(fields[name], int) or fields[name] < 0:
            raise Failure("field %r must be an unsigned integer (FORMAT §5.3)" % name)
    for name in ("time", "author"):
        if name not in fields:
            raise Failure("missing required field %r (FORMAT §5.3)" % name)
        if not isinstance(fields[name], str):
            raise Failure("field %r must be a text string (FORMAT §5.3)" % name)
    if not (isinstance(fields.get("ledger"), bytes) and len(fields["ledger"]) == 16):
        raise Failure("field \"ledger\" must be a 16-byte byte string (FORMAT §5.3)")
    if "prev" in fields and not (isinstance(fields["prev"], bytes) and len(fields["prev"]) == 32):
        raise Failure("field \"prev\" must be a 32-byte byte string (FORMAT §5.3)")
    try:
        ev.instant = parse_time(fields["time"])
    except ValueError as e:
        raise Failure("field \"time\" %r is not a valid time: %s (FORMAT §5.5)" % (fields["time"], e)) from None
    for name, (cls, required) in spec.items():
        if name not in fields:
            if required:
                raise Failure("missing required field %r in a %s event (FORMAT §5.4)" % (name, kind))
            continue
        _check_field(name, cls, fields[name])
    ev.body = fields
    return ev


# ---------------------------------------------------------------------------
# FORMAT §6: replay.
# ---------------------------------------------------------------------------


class Document:
    __slots__ = ("id", "title", "current", "signatories", "executed", "approved", "signed", "version")

    def __init__(self, doc_id, title, sha, signatories):
        self.id = doc_id
        self.title = title
        self.current = sha
        self.signatories = list(signatories)
        self.executed = None  # index of the event that executed it
        self.approved = []  # parties, for the current version only
        self.signed = []
        self.version = 1


class Key:
    """One key a party holds or held, and when it was in force (FORMAT §6.5)."""

    __slots__ = ("party", "key", "added", "rotated_out", "revoked", "reason", "removed")

    def __init__(self, party, key, added):
        self.party = party
        self.key = key
        self.added = added  # the event that introduced it (0: the genesis)
        self.rotated_out = None  # the key-rotated event it signed
        self.revoked = None  # the key-revoked event that named it
        self.reason = None
        self.removed = None  # the event that removed its party while current (§6.10)

    def current(self):
        return self.rotated_out is None and self.revoked is None and self.removed is None

    def describe(self):
        out = {
            "key": self.key.hex(),
            "fingerprint": fingerprint(self.key),
            "kid": hashlib.sha256(self.key).hexdigest(),
            "added": self.added,
            "current": self.current(),
        }
        if self.rotated_out is not None:
            out["rotated_out"] = self.rotated_out
        if self.revoked is not None:
            out["revoked"] = self.revoked
            out["revoked_reason"] = self.reason
        if self.removed is not None:
            out["party_removed"] = self.removed
        return out


class Proposal:
    """The open proposal to change the parties (FORMAT §6.10)."""

    __slots__ = ("id", "seq", "hash", "add", "remove", "required", "approved")

    def __init__(self, pid, seq, event_hash, add, remove, required):
        self.id = pid
        self.seq = seq
        self.hash = event_hash
        self.add = add  # party id -> key
        self.remove = remove
        self.required = required  # the parties current when it was made
        self.approved = set()


class Replay:
    """The replay state of FORMAT §6, fed one event at a time."""

    def __init__(self, read_doc):
        self.read_doc = read_doc  # sha256 hex -> the file's SHA-256; raises Failure
        self.ledger = None
        self.title = None
        self.parties = {}  # party id -> its kids, in the order introduced
        self.members = {}  # party id -> [joined, removed] (§6.10)
        self.keys = {}  # kid -> Key, every key ever introduced (§6.5)
        self.proposal = None  # the open Proposal (§6.10)
        self.proposal_ids = set()  # every proposal id used
        self.prev_hash = None
        self.prev_instant = None
        self.sessions = set()
        self.docs = {}
        self.hashes = []
        self.events = []

    def apply(self, i, offset, raw, ev=None):
        if ev is None:
            ev = parse_event(raw)  # 1. envelope and body
        b = ev.body
        kind = b["kind"]
        if b["v"] != 1:  # 2. version
            raise Failure("unsupported format version %d (FORMAT §6.2)" % b["v"])
        if b["seq"] != i:  # 3. sequence
            raise Failure("seq is %d, expected %d (FORMAT §6.3)" % (b["seq"], i))
        if i == 0:  # 4. ledger
            if kind != "ledger-created":
                raise Failure("the first event must be ledger-created (FORMAT §6.4)")
            if "prev" in b:
                raise Failure("the genesis event must not have \"prev\" (FORMAT §6.4)")
            parties = {pid: [hashlib.sha256(key).digest()] for pid, key in b["parties"].pairs}
            keys = {
                hashlib.sha256(key).digest(): Key(pid, key, 0) for pid, key in b["parties"].pairs
            }
        else:
            if kind == "ledger-created":
                raise Failure("ledger-created after the genesis (FORMAT §6.4)")
            if b["ledger"] != self.ledger:
                raise Failure("the ledger id differs from the genesis (FORMAT §6.4)")
            if "prev" not in b:
                raise Failure("missing field \"prev\" (FORMAT §6.4)")
            if b["prev"] != self.prev_hash:
                raise Failure("prev is not the hash of event %d (FORMAT §6.4)" % (i - 1))
            parties, keys = self.parties, self.keys
        author = b["author"]  # 5. author, and a key current for it (§6.5)
        if author not in parties:
            raise Failure("author %r is not a party (FORMAT §6.5)" % author)
        if i > 0 and self.members[author][1] is not None:
            raise Failure(
                "author %r was removed from the parties at event %d (FORMAT §6.5, §6.10)"
                % (author, self.members[author][1])
            )
        rec = keys.get(ev.kid)
        if rec is None or rec.party != author:
            if kind in ("key-added", "key-rotated") and ev.kid == hashlib.sha256(b["key"]).digest():
                raise Failure(
                    "signed by the key it introduces, which is not yet a key of %r (FORMAT §6.5)" % author
                )
            raise Failure("kid is not the SHA-256 of a key of %r (FORMAT §6.5)" % author)
        if rec.revoked is not None:
            raise Failure(
                "signed by key %s of party %r, revoked at event %d (FORMAT §6.5)"
                % (ev.kid.hex(), author, rec.revoked)
            )
        if rec.rotated_out is not None:
            raise Failure(
                "signed by key %s of party %r, rotated out at event %d (FORMAT §6.5)"
                % (ev.kid.hex(), author, rec.rotated_out)
            )
        if rec.removed is not None:  # pragma: no cover - the author check above comes first
            raise Failure("signed by key %s of a removed party (FORMAT §6.5)" % ev.kid.hex())
        key = rec.key
        problem = verify_strict(key, ev.signature, encode_sig_structure(ev.protected, ev.payload))
        if problem:  # 6. signature
            raise Failure("signature by %r: %s (FORMAT §6.6, §5.2)" % (author, problem))
        if self.prev_instant is not None and ev.instant < self.prev_instant:
            raise Failure("time %s is earlier than the previous event's (FORMAT §6.7)" % b["time"])
        self._kind_rules(i, ev, kind, b, author)  # 8 and 9
        if i == 0:
            self.ledger = b["ledger"]
            self.title = b["title"]
            self.parties = parties
            self.members = {pid: [0, None] for pid in parties}
            self.keys = keys
        self.prev_hash = ev.hash
        self.prev_instant = ev.instant
        self.hashes.append(ev.hash)
        self.events.append(
            {
                "seq": i,
                "offset": offset,
                "hash": ev.hash.hex(),
                "time": b["time"],
                "author": author,
                "kind": kind,
            }
        )

    def _kind_rules(self, i, ev, kind, b, author):
        """FORMAT §6 steps 8 (kind rules) and 9 (documents)."""
        if kind == "session-opened":
            if b["session"] in self.sessions:
                raise Failure("session %r is already open (FORMAT §6.8)" % b["session"])
            self.sessions.add(b["session"])
        elif kind == "session-closed":
            if b["session"] not in self.sessions:
                raise Failure("session %r is not open (FORMAT §6.8)" % b["session"])
            self.sessions.remove(b["session"])
        elif kind == "document-drafted":
            doc_id = b["doc"]
            if doc_id in self.docs:
                raise Failure("document %r already exists (FORMAT §6.8)" % doc_id)
            for s in b["signatories"]:
                if s not in self.parties or self.members[s][1] is not None:
                    raise Failure("signatory %r is not a current party (FORMAT §6.8)" % s)
                if self.proposal is not None and s in self.proposal.remove:
                    raise Failure(
                        "signatory %r is to be removed by the open proposal %r (FORMAT §6.8, §6.10)"
                        % (s, self.proposal.id)
                    )
            self._check_doc_file(b["sha256"])
            self.docs[doc_id] = Document(doc_id, b["title"], b["sha256"], b["signatories"])
        elif kind in ("document-amended", "document-approved", "document-signed"):
            doc = self.docs.get(b["doc"])
            if doc is None:
                raise Failure("document %r does not exist (FORMAT §6.8)" % b["doc"])
            sha = b["sha256"]
            if kind == "document-amended":
                if doc.executed is not None:
                    raise Failure("document %r was executed at event %d (FORMAT §6.8)" % (doc.id, doc.executed))
                if sha == doc.current:
                    raise Failure("the amendment of %r does not change it (FORMAT §6.8)" % doc.id)
                self._check_doc_file(sha)
                # The new version replaces the current one; approvals and
                # signatures of older versions no longer count.
                doc.current, doc.approved, doc.signed = sha, [], []
                doc.version += 1
            elif sha != doc.current:
                raise Failure("%s is not the current version of %r (FORMAT §6.8)" % (sha.hex(), doc.id))
            elif kind == "document-approved":
                if author in doc.approved:
                    raise Failure("%r already approved this version of %r (FORMAT §6.8)" % (author, doc.id))
                doc.approved.append(author)
            else:
                if author not in doc.signatories:
                    raise Failure("%r is not a required signatory of %r (FORMAT §6.8)" % (author, doc.id))
                if author in doc.signed:
                    raise Failure("%r already signed this version of %r (FORMAT §6.8)" % (author, doc.id))
                doc.signed.append(author)
                if all(s in doc.signed for s in doc.signatories):
                    doc.executed = i
        elif kind in ("key-added", "key-rotated"):
            new = b["key"]
            problem = check_public_key(new)
            if problem:
                raise Failure("the new key %s (FORMAT §5.6, §6.8)" % problem)
            new_kid = hashlib.sha256(new).digest()
            if new_kid in self.keys:
                raise Failure(
                    "the new key was introduced at event %d as a key of %r: a key is never held twice (FORMAT §6.8)"
                    % (self.keys[new_kid].added, self.keys[new_kid].party)
                )
            if self.proposal is not None and new in self.proposal.add.values():
                raise Failure("the new key is a key the open proposal adds (FORMAT §6.8, §6.10)")
            message = encode_key_proof(b["ledger"], i, b["prev"], author, new)
            problem = verify_strict(new, b["proof"], message)
            if problem:
                raise Failure("the key proof: %s (FORMAT §5.7, §6.8)" % problem)
            self.keys[new_kid] = Key(author, new, i)
            self.parties[author].append(new_kid)
            if kind == "key-rotated":
                self.keys[ev.kid].rotated_out = i
        elif kind == "key-revoked":
            kid = b["key"]
            rec = self.keys.get(kid)
            if rec is None or rec.party != author:
                raise Failure("party %r never held a key with kid %s (FORMAT §6.8)" % (author, kid.hex()))
            if rec.revoked is not None:
                raise Failure("key %s was already revoked at event %d (FORMAT §6.8)" % (kid.hex(), rec.revoked))
            others = [
                k for k in self.parties[author] if k != kid and self.keys[k].current()
            ]
            if not others:
                raise Failure("revoking key %s would leave %r with no current key (FORMAT §6.8)" % (kid.hex(), author))
            rec.revoked = i
            rec.reason = b["reason"]
        elif kind == "parties-proposed":
            self._propose(i, ev, b, author)
        elif kind == "parties-approved":
            p = self.proposal
            if p is None or p.id != b["proposal"]:
                raise Failure("no proposal %r is open (FORMAT §6.10)" % b["proposal"])
            if b["sha256"] != p.hash:
                raise Failure("sha256 is not the hash of the event of proposal %r (FORMAT §6.10)" % p.id)
            if author not in p.required:
                raise Failure("%r is not required to approve proposal %r (FORMAT §6.10)" % (author, p.id))
            if author in p.approved:
                raise Failure("%r already approved proposal %r (FORMAT §6.10)" % (author, p.id))
            p.approved.add(author)
            self._maybe_apply(i)
        # "note": no rule; ledger-created: checked in step 4.

    def _current(self, pid):
        return pid in self.members and self.members[pid][1] is None

    def _propose(self, i, ev, b, author):
        """FORMAT §6.10, parties-proposed, in the order given there."""
        pid = b["proposal"]
        if self.proposal is not None:
            raise Failure("proposal %r is still open (FORMAT §6.10)" % self.proposal.id)
        if pid in self.proposal_ids:
            raise Failure("proposal id %r was already used (FORMAT §6.10)" % pid)
        add, remove = b["add"], b["remove"]
        if not len(add) and not remove:
            raise Failure("proposal %r neither adds nor removes a party (FORMAT §6.10)" % pid)
        seen = set()
        added = {}
        for party, entry in add.pairs:
            if party in self.members:
                raise Failure("proposal %r would add %r, which is or was a party (FORMAT §6.10)" % (pid, party))
            key, proof = entry.index["key"], entry.index["proof"]
            problem = check_public_key(key)
            if problem:
                raise Failure("the key of new party %r %s (FORMAT §5.6, §6.10)" % (party, problem))
            kid = hashlib.sha256(key).digest()
            if kid in self.keys:
                raise Failure("the key of new party %r was held before: a key is never held twice (FORMAT §6.10)" % party)
            if kid in seen:
                raise Failure("two new parties of proposal %r have the same key (FORMAT §6.10)" % pid)
            seen.add(kid)
            message = encode_party_proof(b["ledger"], i, b["prev"], party, key)
            problem = verify_strict(key, proof, message)
            if problem:
                raise Failure("the party proof of %r: %s (FORMAT §5.8, §6.10)" % (party, problem))
            added[party] = key
        for party in remove:
            if not self._current(party):
                raise Failure("proposal %r would remove %r, which is not a current party (FORMAT §6.10)" % (pid, party))
            for doc in self.docs.values():
                if doc.executed is None and party in doc.signatories:
                    raise Failure(
                        "proposal %r would remove %r, a required signatory of %r, which is not executed (FORMAT §6.10)"
                        % (pid, party, doc.id)
                    )
        current = [p for p in self.members if self._current(p)]
        after = len(current) - len(remove) + len(added)
        if not 1 <= after <= MAX_PARTIES:
            raise Failure("proposal %r would leave %d parties (FORMAT §6.10)" % (pid, after))
        self.proposal_ids.add(pid)
        # Every current party agrees, those it removes included (§6.10).
        p = Proposal(pid, i, ev.hash, added, list(remove), list(current))
        if author in p.required:  # the proposal is its author's approval
            p.approved.add(author)
        self.proposal = p
        self._maybe_apply(i)

    def _maybe_apply(self, i):
        """FORMAT §6.10: apply the open proposal once all required approved."""
        p = self.proposal
        if any(q not in p.approved for q in p.required):
            return
        for party in p.remove:
            self.members[party][1] = i
            for kid in self.parties[party]:
                if self.keys[kid].current():
                    self.keys[kid].removed = i
        for party, key in p.add.items():
            kid = hashlib.sha256(key).digest()
            self.keys[kid] = Key(party, key, i)
            self.parties[party] = [kid]
            self.members[party] = [i, None]
        self.proposal = None

    def _check_doc_file(self, sha):
        """FORMAT §6.9 and §7: docs/<hex> exists and hashes to `sha`."""
        name = sha.hex()
        if self.read_doc(name) != sha:
            raise Failure("docs/%s does not hash to its name (FORMAT §6.9)" % name)


# FORMAT §3: the first ten bytes of every event (tag 18, an array of 4, the
# protected header's head up to the kid, §5.1).
EVENT_START = bytes.fromhex("d2845826a20127045820")
MAX_DAMAGE_CANDIDATES = 64  # FORMAT §3


def frame_needs_more(buf, pos, depth=0):
    """FORMAT §3: whether the data item at `pos` runs past the end of `buf`,
    read by its heads alone: True if the bytes end inside it, False if it is
    complete or cannot be framed (additional information 28-31, i.e.
    indefinite lengths, the break code and reserved values, or an item
    inside more than 16 containers). Nothing else is checked."""
    return _frame(buf, pos, depth) is None


class _Unframeable(Exception):
    pass


def _frame(buf, pos, depth):
    """The end of the item at `pos`, or None if `buf` ends inside it; raises
    _Unframeable (caught by the caller below) otherwise."""
    try:
        return _frame_at(buf, pos, depth)
    except _Unframeable:
        return -1


def _frame_at(buf, pos, depth):
    if depth > MAX_DEPTH:
        raise _Unframeable()
    if pos >= len(buf):
        return None
    ib = buf[pos]
    major, ai = ib >> 5, ib & 0x1F
    if ai >= 28:
        raise _Unframeable()
    width = 0 if ai < 24 else 1 << (ai - 24)
    p = pos + 1
    if p + width > len(buf):
        return None
    arg = ai if width == 0 else int.from_bytes(buf[p : p + width], "big")
    p += width
    if major in (0, 1, 7):
        return p
    if major in (2, 3):
        return p + arg if p + arg <= len(buf) else None
    if major in (4, 5):
        n = arg * 2 if major == 5 else arg
        # Every item takes at least one byte: the loop ends with the buffer.
        for _ in range(n):
            p = _frame_at(buf, p, depth + 1)
            if p is None:
                return None
        return p
    return _frame_at(buf, p, depth + 1)  # a tag


def complete_event_after(rest):
    """FORMAT §3: the first position after the first byte of `rest` where a
    complete event starts (an item that decodes as an event, replay step 1;
    its signature is not checked), looking only at positions that begin
    with EVENT_START; past MAX_DAMAGE_CANDIDATES of those, the position
    reached, as if one had been found. None if there is none."""
    seen = 0
    i = rest.find(EVENT_START, 1)
    while i >= 0:
        seen += 1
        if seen > MAX_DAMAGE_CANDIDATES:
            return i
        end = _frame(rest, i, 0)
        if end is not None and end > 0:
            try:
                parse_event(bytes(rest[i:end]))
                return i
            except (Failure, CborInvalid, CborTruncated, CborTooLarge):
                pass
        i = rest.find(EVENT_START, i + 1)
    return None


def tail_failure(data, pos, i):
    """FORMAT §3: a Failure if the bytes from `pos` to the end are a torn
    tail or damage that runs past the end of the file; None otherwise."""
    size = len(data) - pos
    if not 0 < size <= MAX_EVENT_BYTES:
        return None
    rest = bytes(data[pos:])
    if rest.count(0) == size:
        return Failure(
            "torn tail: the log ends in %d zero bytes, not an event (an interrupted append) (FORMAT §3)" % size,
            i,
            pos,
            torn_tail=True,
        )
    if not frame_needs_more(rest, 0):
        return None
    nxt = complete_event_after(rest)
    if nxt is not None:
        return Failure(
            "the event's encoding claims more bytes than the file holds, yet a complete event follows at "
            "byte offset %d: the log is damaged, not torn (FORMAT §3)" % (pos + nxt),
            i,
            pos,
        )
    return Failure(
        "torn tail: the log ends inside an event (%d bytes of an interrupted append) (FORMAT §3)" % size,
        i,
        pos,
        torn_tail=True,
    )


def verify_log(data, read_doc):
    """FORMAT §3 and §6: frame and replay the whole log. Returns the Replay."""
    if not data:
        raise Failure("events.cbor is empty: there is no genesis event (FORMAT §3)", 0, 0)
    replay = Replay(read_doc)
    leaves = []
    pos, i = 0, 0
    while pos < len(data):
        # §3: decode one item; its stored bytes are exactly its extent.
        try:
            _, end = cbor_decode(data, pos, len(data), pos + MAX_EVENT_BYTES, allow_top_tag18=True)
            raw = bytes(data[pos:end])
            event = parse_event(raw)
        except (CborTruncated, CborTooLarge, CborInvalid, Failure) as e:
            # §3: whatever the decoder found, a torn tail (or damage that
            # runs past the end) is decided from the bytes left.
            tail = tail_failure(data, pos, i)
            if tail is not None:
                raise tail from None
            if isinstance(e, CborTruncated):
                raise Failure("the log ends inside an event (FORMAT §3)", i, pos) from None
            if isinstance(e, CborTooLarge):
                raise Failure("the event is larger than 65 535 bytes (FORMAT §3)", i, pos) from None
            if isinstance(e, CborInvalid):
                raise Failure("%s (FORMAT §4)" % e, i, pos) from None
            e.event, e.offset = i, pos
            raise
        try:
            replay.apply(i, pos, raw, event)
        except Failure as f:
            f.event, f.offset = i, pos
            raise
        # §12.1: the Merkle leaf hash of the stored bytes.
        leaves.append(hashlib.sha256(b"\x00" + raw).digest())
        pos, i = end, i + 1
    replay.leaves = leaves
    return replay


# ---------------------------------------------------------------------------
# Checkpoints (FORMAT §12, §13): the Merkle tree and the signed notes stored
# in checkpoints/.
# ---------------------------------------------------------------------------


def merkle_root(leaves):
    """§12.1: MTH of leaf hashes (k: the largest power of two below n)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + merkle_root(leaves[:k]) + merkle_root(leaves[k:])).digest()


_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)


def _b64(text, what):
    """§13.3: standard, padded, canonical base64."""
    import base64
    import binascii

    if not _B64.fullmatch(text) or len(text) % 4:
        raise Failure("%s is not canonical base64 (FORMAT §13.3)" % what)
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise Failure("%s is not canonical base64 (FORMAT §13.3)" % what) from None
    if base64.b64encode(raw).decode() != text:
        raise Failure("%s is not canonical base64 (FORMAT §13.3)" % what)
    return raw


# FORMAT §13.3 rule 5: what a key name may not contain. Control characters
# (Unicode category Cc), the characters with the Unicode White_Space
# property, and "+", written out as FORMAT lists them (Python's
# str.isspace() is a slightly different set, so it is not used).
_NAME_FORBIDDEN_RANGES = (
    (0x00, 0x20),  # C0 controls (TAB, LF, VT, FF, CR among them) and SPACE
    (0x7F, 0xA0),  # DEL, C1 controls (NEL U+0085 among them), NO-BREAK SPACE
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
    (0x2B, 0x2B),  # "+"
)


def forbidden_in_name(ch):
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in _NAME_FORBIDDEN_RANGES)


def valid_key_name(name):
    """FORMAT §13.3 rule 5: non-empty, and nothing forbidden_in_name."""
    return bool(name) and not any(forbidden_in_name(c) for c in name)


def parse_checkpoint_note(raw, name):
    """§13.3 and §13.7: the checkpoint text and its signature lines."""
    where = "checkpoints/%s" % name
    if len(raw) > 1 << 20:
        raise Failure("%s: a note is at most 1 MiB (FORMAT §13.3)" % where)
    try:
        note = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Failure("%s: not UTF-8 (FORMAT §13.3)" % where) from None
    if any(c < " " and c != "\n" for c in note):
        raise Failure("%s: a control character (FORMAT §13.3)" % where)
    cut = note.rfind("\n\n")
    if cut < 0:
        raise Failure("%s: no signature lines (FORMAT §13.3)" % where)
    text, sigs = note[: cut + 1], note[cut + 2 :]
    if not sigs.endswith("\n") or not (1 <= sigs.count("\n") <= 100):
        raise Failure("%s: expected 1 to 100 signature lines (FORMAT §13.3)" % where)
    lines = []
    for line in sigs[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014" or not valid_key_name(parts[1]):
            raise Failure("%s: a malformed signature line (FORMAT §13.3)" % where)
        blob = _b64(parts[2], "%s: a signature" % where)
        if len(blob) < 5:
            raise Failure("%s: a signature line too short (FORMAT §13.3)" % where)
        lines.append((parts[1], blob[:4], blob[4:]))
    body = text[:-1].split("\n")
    if len(body) < 3 or any(not ln for ln in body):
        raise Failure("%s: a checkpoint has at least 3 non-empty lines (FORMAT §13.7)" % where)
    origin, size, root = body[0], body[1], body[2]
    if not re.fullmatch(r"0|[1-9][0-9]*", size, re.ASCII) or int(size) >= 2**64:
        raise Failure("%s: the tree size is not a decimal (FORMAT §13.7)" % where)
    root = _b64(root, "%s: the root" % where)
    if len(root) != 32:
        raise Failure("%s: the root is not 32 bytes (FORMAT §13.7)" % where)
    return text, origin, int(size), root, lines


MAX_NOTE_BYTES = 1 << 20  # FORMAT §13.3 rule 6
MAX_DOCUMENT_BYTES = 256 << 20  # FORMAT §7
MAX_KEY_FILE_BYTES = 64 << 10  # as `ledger` reads a key file
# This verifier reads the log whole (ledger verify streams it): a larger
# log is refused before it is read rather than exhausting memory.
MAX_LOG_BYTES = 1 << 30


def open_regular(path, where, limit):
    """FORMAT §2: a file of the ledger is a regular file, opened without
    following a link or waiting on a FIFO, its type and size checked on
    what was opened. Returns the open file (the caller closes it) and its
    size; raises Failure naming `where`. A file larger than `limit` is
    refused without being read."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise Failure("%s is missing" % where) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Failure("%s is a symbolic link: a ledger holds its files itself (FORMAT §2)" % where) from None
        raise Failure("%s cannot be read: %s" % (where, e.strerror or e)) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise Failure("%s is a directory, not a regular file (FORMAT §2)" % where)
        if not stat.S_ISREG(st.st_mode):
            raise Failure("%s is not a regular file (FORMAT §2)" % where)
        if limit is not None and st.st_size > limit:
            raise Failure("%s is %d bytes, more than the %d a verifier reads (FORMAT §2)" % (where, st.st_size, limit))
        fh = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    return fh, st.st_size


def read_capped(fh, where, limit):
    """At most limit + 1 bytes of an open file."""
    out = bytearray()
    try:
        while len(out) <= limit:
            chunk = fh.read(min(1 << 16, limit + 1 - len(out)))
            if not chunk:
                break
            out += chunk
    except OSError as e:
        raise Failure("%s cannot be read: %s" % (where, e.strerror or e)) from None
    return bytes(out)


def hash_file(fh, where, limit):
    """FORMAT §7: SHA-256 of an open document, read in pieces, never more
    than `limit` bytes (a file that grows past it is refused)."""
    h = hashlib.sha256()
    n = 0
    try:
        while True:
            chunk = fh.read(1 << 16)
            if not chunk:
                break
            n += len(chunk)
            if n > limit:
                raise Failure("%s is more than %d bytes (FORMAT §7)" % (where, limit))
            h.update(chunk)
    except OSError as e:
        raise Failure("%s cannot be read: %s" % (where, e.strerror or e)) from None
    return h.digest()


def may_sign(rec, size):
    """FORMAT §13.1: a party key may sign a checkpoint of size `size` if it
    was current after the ledger's first `size` events (§6.5): introduced
    by one of them, and not rotated out, revoked or retired by its party's
    removal by any of them. What became of it later does not matter."""

    def after(at):
        return at is None or at >= size

    return rec.added < size and after(rec.rotated_out) and after(rec.revoked) and after(rec.removed)


def check_checkpoints(directory, replay):
    """§13.2: every file of checkpoints/ against the replayed tree, signed
    by a key a party held at the checkpoint's size (§13.1). One file at a
    time, each read only up to one byte more than a note may have."""
    cdir = os.path.join(directory, "checkpoints")
    try:
        st = os.lstat(cdir)
    except FileNotFoundError:
        return []
    except OSError as e:
        raise Failure("checkpoints cannot be read: %s (FORMAT §13.2)" % (e.strerror or e)) from None
    if stat.S_ISLNK(st.st_mode):
        raise Failure("checkpoints is a symbolic link, not a directory (FORMAT §13.2)")
    if not stat.S_ISDIR(st.st_mode):
        raise Failure("checkpoints is not a directory (FORMAT §13.2)")
    try:
        # §17.2: timestamp tokens are not checkpoints (check_timestamps).
        names = sorted(n for n in os.listdir(cdir) if not n.startswith(".") and token_name(n) is None)
    except OSError as e:
        raise Failure("checkpoints cannot be read: %s (FORMAT §13.2)" % (e.strerror or e)) from None
    origin = "ledger/" + replay.ledger.hex()
    note_kid = {
        kid: hashlib.sha256(origin.encode() + b"\n\x01" + rec.key).digest()[:4]
        for kid, rec in replay.keys.items()
    }
    out = []
    for name in names:
        where = "checkpoints/%s" % name
        fh, _ = open_regular(os.path.join(cdir, name), where, None)
        with fh:
            raw = read_capped(fh, where, MAX_NOTE_BYTES)
        text, cp_origin, size, root, lines = parse_checkpoint_note(raw, name)
        if cp_origin != origin:
            raise Failure("%s: the checkpoint is for origin %r, not this ledger's (FORMAT §13.1)" % (where, cp_origin))
        if name != str(size):
            raise Failure("%s: a checkpoint is stored under its size (FORMAT §13.2)" % where)
        if size > len(replay.leaves):
            raise Failure("%s: the ledger has only %d events: truncated or rolled back" % (where, len(replay.leaves)))
        if merkle_root(replay.leaves[:size]) != root:
            raise Failure("%s: the root is not that of the first %d events: a split view or rewritten history" % (where, size))
        # §13.1: the party keys current after the first `size` events.
        keys = {}
        for kid, rec in replay.keys.items():
            if may_sign(rec, size):
                keys.setdefault(note_kid[kid], []).append(rec)
        signed = []
        for key_name, kid, sig in lines:
            if key_name != origin:
                continue
            for rec in keys.get(kid, []):
                # §13.6: a known key whose signature fails rejects the note.
                if verify_strict(rec.key, sig, text.encode()) is not None:
                    raise Failure("%s: a signature by a key of party %r does not verify (FORMAT §13.6)" % (where, rec.party))
                signed.append(rec.party)
        if not signed:
            raise Failure(
                "%s: no signature by a key that a party of this ledger held at size %d (FORMAT §13.1, §13.2)"
                % (where, size)
            )
        out.append({"file": name, "size": size, "signed_by": signed})
    return out


# ---------------------------------------------------------------------------
# FORMAT §17: RFC 3161 timestamps of checkpoints.
# ---------------------------------------------------------------------------

TOKEN_RE = re.compile(r"(0|[1-9][0-9]*)(?:\.([2-9]|[1-9][0-9]+))?\.tsr", re.ASCII)
MAX_RESPONSE_BYTES = 256 << 10
SKEW_ALLOWANCE_SECS = 300
MAX_CHAIN = 8


def token_name(name):
    """§17.2: (size, k) of a token file name, or None."""
    m = TOKEN_RE.fullmatch(name)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 1)


class Untrusted(Exception):
    """§17.3: a sound token whose TSA chains to no root given."""


def load_tsa_roots(paths):
    from cryptography import x509 as cx509

    roots = []
    for p in paths:
        try:
            with open(p, "rb") as fh:
                data = fh.read(MAX_RESPONSE_BYTES + 1)
            roots.extend(cx509.load_pem_x509_certificates(data))
        except (OSError, ValueError) as e:
            raise UsageError("--tsa-ca %s: not a PEM certificate file (%s)" % (p, e)) from None
    return roots


_HASHES = {"sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}


def _hash(name, data):
    return hashlib.new(name, data).digest()


def _verify_sig(public_key, alg, digest_name, data, sig):
    """ECDSA P-256/P-384 or RSA PKCS#1 v1.5 (>= 2048 bits) with SHA-2."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    algs = {
        "sha256_ecdsa": ("ec", "sha256"), "sha384_ecdsa": ("ec", "sha384"), "sha512_ecdsa": ("ec", "sha512"),
        "sha256_rsa": ("rsa", "sha256"), "sha384_rsa": ("rsa", "sha384"), "sha512_rsa": ("rsa", "sha512"),
        "rsassa_pkcs1v15": ("rsa", digest_name),
    }
    if alg not in algs or algs[alg][1] not in _HASHES:
        raise Failure("the token's algorithm %s is not supported" % alg)
    family, h = algs[alg]
    hobj = getattr(hashes, _HASHES[h])()
    try:
        if family == "ec":
            if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name not in (
                "secp256r1",
                "secp384r1",
            ):
                raise Failure("the token's key is not ECDSA P-256 or P-384")
            public_key.verify(sig, data, ec.ECDSA(hobj))
        else:
            if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size < 2048:
                raise Failure("the token's key is not RSA of at least 2048 bits")
            public_key.verify(sig, data, padding.PKCS1v15(), hobj)
        return True
    except InvalidSignature:
        return False


def _cert_signature_ok(cert, issuer):
    """Whether `issuer`'s key verifies `cert` (cryptography objects)."""
    from asn1crypto import x509 as ax509
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        alg = ax509.Certificate.load(cert.public_bytes(_DER()))["signature_algorithm"]["algorithm"].native
        return _verify_sig(issuer.public_key(), alg, None, cert.tbs_certificate_bytes, cert.signature)
    except (Failure, UnsupportedAlgorithm, ValueError):
        return False


def _DER():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


_KNOWN_CRITICAL = {"2.5.29.19", "2.5.29.15", "2.5.29.37"}


def _subject(cert):
    return cert.subject.rfc4514_string()


def _known_critical(cert):
    for e in cert.extensions:
        if e.critical and e.oid.dotted_string not in _KNOWN_CRITICAL:
            raise Failure("the certificate of %s has a critical extension %s that is not understood" % (_subject(cert), e.oid.dotted_string))


def _valid_at(cert, when):
    """notBefore <= genTime <= notAfter; `when` is genTime in ns (a
    fraction of a second after notAfter is after it)."""
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

    def ns(t):
        return int((t - epoch).total_seconds()) * 1_000_000_000

    if not (ns(cert.not_valid_before_utc) <= when <= ns(cert.not_valid_after_utc)):
        raise Failure("the certificate of %s was not valid at the token's time" % _subject(cert))


# §17.3: genTime in DER's one form (X.690 §11.7): seconds always, a
# fraction of 1 to 9 digits without a trailing zero, then Z.
_GEN_TIME_RE = re.compile(rb"([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})(?:\.([0-9]{0,8}[1-9]))?Z")


def parse_gen_time(contents):
    """A genTime's content octets: (POSIX seconds, nanoseconds, RFC 3339
    text with the fraction as given). Raises Failure for any other form."""
    m = _GEN_TIME_RE.fullmatch(contents)
    bad = Failure("is not a DER-encoded TSTInfo: its genTime %r is not DER's GeneralizedTime (YYYYMMDDHHMMSS[.f]Z)" % contents.decode("ascii", "replace"))
    if not m:
        raise bad
    y, mo, d, h, mi, sec = (int(g) for g in m.groups()[:6])
    frac = m.group(7)
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    mdays = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    # 1970 to 9999, as the binary's DER reader (POSIX time is not negative).
    if not (y >= 1970 and 1 <= mo <= 12 and 1 <= d <= mdays[mo - 1] and h <= 23 and mi <= 59 and sec <= 59):
        raise bad
    secs = _days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
    nanos = int(frac.decode().ljust(9, "0")) if frac else 0
    text = "%04d-%02d-%02dT%02d:%02d:%02d%sZ" % (y, mo, d, h, mi, sec, ("." + frac.decode()) if frac else "")
    return secs, nanos, text


def _is_ca(cert):
    from cryptography import x509 as cx509

    try:
        bc = cert.extensions.get_extension_for_class(cx509.BasicConstraints).value
    except cx509.ExtensionNotFound:
        raise Failure("the certificate of %s is not a CA" % _subject(cert)) from None
    try:
        ku = cert.extensions.get_extension_for_class(cx509.KeyUsage).value
        ku_ok = ku.key_cert_sign
    except cx509.ExtensionNotFound:
        ku_ok = True
    if not (bc.ca and ku_ok):
        raise Failure("the certificate of %s is not a CA" % _subject(cert))


def _chain(leaf, certs, roots, when):
    """§17.3 rule 7, as base::tsp's `chain`."""
    der = _DER()
    root_ders = [r.public_bytes(der) for r in roots]
    cur = leaf
    for _ in range(MAX_CHAIN):
        _known_critical(cur)
        if cur.public_bytes(der) in root_ders:
            _valid_at(cur, when)
            return
        for r in roots:
            if r.subject == cur.issuer and _cert_signature_ok(cur, r):
                _valid_at(cur, when)
                _known_critical(r)
                _is_ca(r)
                _valid_at(r, when)
                return
        nxt = None
        for c in certs:
            if c.subject == cur.issuer and c.subject != cur.subject and _cert_signature_ok(cur, c):
                nxt = c
                break
        if nxt is None:
            raise Untrusted("the TSA (%s) is not trusted: its certificate does not chain to any --tsa-ca root given" % _subject(leaf))
        _valid_at(cur, when)
        _is_ca(nxt)
        cur = nxt
    raise Failure("the chain from the TSA's certificate is longer than %d certificates" % MAX_CHAIN)


def der_strict(data, depth=0):
    """The DER rules a token must keep at the level of its bytes: definite,
    minimal lengths, nothing trailing, BOOLEANs 00 or FF, INTEGERs minimal.
    (asn1crypto parses; its forced re-encoding is not faithful enough to
    compare with.) Raises ValueError."""
    if depth > 64:
        raise ValueError("nested too deeply")
    pos = 0
    while pos < len(data):
        tag = data[pos]
        pos += 1
        if tag & 0x1F == 0x1F:
            while True:
                if pos >= len(data):
                    raise ValueError("truncated tag")
                b = data[pos]
                pos += 1
                if not b & 0x80:
                    break
        if pos >= len(data):
            raise ValueError("truncated length")
        first = data[pos]
        pos += 1
        if first < 0x80:
            length = first
        elif first == 0x80:
            raise ValueError("indefinite length")
        else:
            n = first & 0x7F
            if n > 4 or pos + n > len(data):
                raise ValueError("bad length")
            length = int.from_bytes(data[pos : pos + n], "big")
            if data[pos] == 0 or length < 0x80:
                raise ValueError("length not minimal")
            pos += n
        if pos + length > len(data):
            raise ValueError("truncated value")
        value = data[pos : pos + length]
        pos += length
        if tag & 0x20:
            der_strict(value, depth + 1)
        elif tag == 0x01 and value not in (b"\x00", b"\xff"):
            raise ValueError("BOOLEAN not 00 or FF")
        elif tag == 0x02 and (
            not value or (len(value) > 1 and ((value[0] == 0 and value[1] < 0x80) or (value[0] == 0xFF and value[1] >= 0x80)))
        ):
            raise ValueError("INTEGER not minimal")


def check_token(raw, imprint, roots):
    """FORMAT §17.3 for one stored response. Returns the stamp (a dict);
    raises Failure, or Untrusted."""
    from asn1crypto import core, tsp
    from cryptography import x509 as cx509

    if len(raw) > MAX_RESPONSE_BYTES:
        raise Failure("the response is larger than %d bytes" % MAX_RESPONSE_BYTES)
    try:
        resp = tsp.TimeStampResp.load(raw, strict=True)
        status = resp["status"]["status"].native
    except (ValueError, TypeError) as e:
        raise Failure("is not a DER-encoded time-stamp response (%s)" % e) from None
    if status not in ("granted", "granted_with_mods"):
        raise Failure("the TSA answered %s: no token was issued" % status)
    try:
        try:
            der_strict(raw)
        except ValueError as e:
            raise Failure("is not in canonical DER (%s)" % e) from None
        token = resp["time_stamp_token"]
        if token.native is None:
            raise Failure("the response says granted but holds no token")
        if token["content_type"].native != "signed_data":
            raise Failure("the token is not SignedData")
        sd = token["content"]
        if sd["version"].native != "v3":
            raise Failure("its SignedData version is not 3")
        encap = sd["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise Failure("its content is not a TSTInfo")
        tst_bytes = encap["content"].contents
        tst = tsp.TSTInfo.load(tst_bytes, strict=True)
        try:
            der_strict(tst_bytes)
        except ValueError as e:
            raise Failure("its TSTInfo is not in canonical DER (%s)" % e) from None
        if tst["version"].native != "v1":
            raise Failure("its TSTInfo version is not 1")
        mi = tst["message_imprint"]
        if mi["hash_algorithm"]["algorithm"].native != "sha256" or mi["hash_algorithm"]["parameters"].native is not None:
            raise Failure("its imprint is not SHA-256")
        if mi["hashed_message"].native != imprint:
            raise Failure("the token stamps %s, not the SHA-256 %s of its checkpoint" % (mi["hashed_message"].native.hex(), imprint.hex()))
        for ext in tst["extensions"] if tst["extensions"].native is not None else []:
            if ext["critical"].native:
                raise Failure("its TSTInfo has a critical extension")
        secs, nanos, time_text = parse_gen_time(tst["gen_time"].contents)
        when = secs * 1_000_000_000 + nanos
        if len(sd["signer_infos"]) != 1:
            raise Failure("it has not exactly one signer")
        si = sd["signer_infos"][0]
        sid = si["sid"]
        want = "v1" if sid.name == "issuer_and_serial_number" else "v3"
        if si["version"].native != want:
            raise Failure("its SignerInfo version does not match its signer identifier")
        dalg = si["digest_algorithm"]
        digest_name = dalg["algorithm"].native
        if digest_name not in _HASHES or dalg["parameters"].native is not None:
            raise Failure("its digest algorithm is not supported, or has parameters")
        if not any(a.dump() == dalg.dump() for a in sd["digest_algorithms"]):
            raise Failure("its signer's digest algorithm is not one the SignedData lists")
        attrs = si["signed_attrs"]
        if attrs.native is None:
            raise Failure("it has no signed attributes")

        def one(kind):
            found = [a for a in attrs if a["type"].native == kind]
            if len(found) != 1 or len(found[0]["values"]) != 1:
                raise Failure("its %s attribute is not exactly one value" % kind)
            return found[0]["values"][0]

        if one("content_type").native != "tst_info":
            raise Failure("its content-type attribute is not TSTInfo")
        if one("message_digest").native != _hash(digest_name, tst_bytes):
            raise Failure("the messageDigest does not match the token's content")
        v2 = [a for a in attrs if a["type"].native == "signing_certificate_v2"]
        v1 = [a for a in attrs if a["type"].native == "signing_certificate"]
        if v2:
            ess = v2[0]["values"][0]["certs"][0]
            # DER omits the DEFAULT hash algorithm (SHA-256).
            if ess.contents[:1] == b"\x30":
                alg = ess["hash_algorithm"]["algorithm"].native
                if alg == "sha256" or alg not in _HASHES:
                    raise Failure("its ESSCertIDv2 hash algorithm is not canonical or not supported")
            else:
                alg = "sha256"
            cert_hash = (alg, ess["cert_hash"].native)
        elif v1:
            cert_hash = ("sha1", v1[0]["values"][0]["certs"][0]["cert_hash"].native)
        else:
            raise Failure("it has no signing-certificate attribute")
        cert_set = sd["certificates"]
        certs = [] if isinstance(cert_set, core.Void) else [c.chosen for c in cert_set if c.name == "certificate"]
        signer = None
        for c in certs:
            if _hash(cert_hash[0], c.dump()) == cert_hash[1]:
                signer = c
                break
        if signer is None:
            raise Failure("the TSA's certificate is not in the token")
        if sid.name == "issuer_and_serial_number":
            ok = (
                sid.chosen["issuer"].dump() == signer["tbs_certificate"]["issuer"].dump()
                and sid.chosen["serial_number"].native == signer.serial_number
            )
        else:
            ok = signer.key_identifier == sid.chosen.native
        if not ok:
            raise Failure("the TSA's certificate does not match the signer identifier")
        signed = b"\x31" + attrs.dump()[1:]
        c_signer = cx509.load_der_x509_certificate(signer.dump())
        if not _verify_sig(c_signer.public_key(), si["signature_algorithm"]["algorithm"].native, digest_name, signed, si["signature"].native):
            raise Failure("the CMS signature does not verify with the TSA's certificate")
        ekus = [e for e in c_signer.extensions if e.oid.dotted_string == "2.5.29.37"]
        if len(ekus) != 1 or not ekus[0].critical or [o.dotted_string for o in ekus[0].value] != ["1.3.6.1.5.5.7.3.8"]:
            raise Failure("the TSA's certificate does not have exactly the critical extended key usage timeStamping")
        c_certs = [cx509.load_der_x509_certificate(c.dump()) for c in certs]
        _chain(c_signer, c_certs, roots, when)
    except (Failure, Untrusted):
        raise
    except Exception as e:  # noqa: BLE001 - any parser's complaint is a malformed token
        raise Failure("the token is malformed (%r)" % (e,)) from None
    acc = tst["accuracy"]
    accuracy = 0
    if acc.native is not None:
        accuracy = (acc["seconds"].native or 0) + (1 if (acc["millis"].native or 0) or (acc["micros"].native or 0) else 0)
    return {
        "time": secs,
        "nanos": nanos,
        "time_text": time_text,
        "accuracy_secs": accuracy,
        "serial": tst["serial_number"].contents.hex(),
        "tsa": _subject(c_signer),
        "policy": tst["policy"].native,
    }


def check_timestamps(directory, roots):
    """§17.3: every token in checkpoints/, in order of (size, k). Returns
    the reports; raises Failure (naming the file) at the first bad one."""
    cdir = os.path.join(directory, "checkpoints")
    try:
        names = os.listdir(cdir)
    except OSError:
        return []
    tokens = sorted((token_name(n), n) for n in names if token_name(n) is not None)
    out = []
    for (size, _k), name in tokens:
        where = "checkpoints/%s" % name
        if roots is None:
            out.append({"file": where, "size": size, "status": "unchecked"})
            continue
        fh, _ = open_regular(os.path.join(cdir, name), where, None)
        with fh:
            raw = read_capped(fh, where, MAX_RESPONSE_BYTES)
        try:
            cfh, _ = open_regular(os.path.join(cdir, str(size)), "checkpoints/%d" % size, None)
            with cfh:
                cp = read_capped(cfh, "checkpoints/%d" % size, MAX_NOTE_BYTES)
        except Failure as f:
            raise Failure("%s: stamps checkpoints/%d, which %s" % (where, size, f.reason)) from None
        try:
            stamp = check_token(raw, hashlib.sha256(cp).digest(), roots)
            out.append({"file": where, "size": size, "status": "valid", "stamp": stamp})
        except Untrusted as u:
            out.append({"file": where, "size": size, "status": "untrusted", "note": str(u)})
        except Failure as f:
            raise Failure("%s: %s" % (where, f.reason)) from None
    return out


def check_time_rule(replay, tokens):
    """§17.4: no event claims a time later than the least bound of the
    stamped checkpoints that hold it."""
    bounds = []
    for t in tokens:
        if t["status"] == "valid":
            st = t["stamp"]
            limit = (st["time"] + st["accuracy_secs"] + SKEW_ALLOWANCE_SECS) * 1_000_000_000 + st["nanos"]
            bounds.append((t["size"], limit, t))
    if not bounds:
        return
    for e in replay.events:
        limits = [b for b in bounds if b[0] > e["seq"]]
        if not limits:
            continue
        limit, t = min(((b[1], b[2]) for b in limits), key=lambda x: x[0])
        if parse_time(e["time"]) > limit:
            raise Failure(
                "the event claims the time %s, but %s (TSA %s) stamped a checkpoint holding it at %s (FORMAT §17.4)"
                % (e["time"], t["file"], t["stamp"]["tsa"], t["stamp"]["time_text"]),
                event=e["seq"],
                offset=e["offset"],
            )


# ---------------------------------------------------------------------------
# The command line: reading the directory, --trust, --head, output.
# ---------------------------------------------------------------------------


def load_trusted_keys(paths):
    """FORMAT §9: public keys (SPKI PEM, or OpenSSH `ssh-ed25519 ...`), from
    files or directories of .pub files."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        PublicFormat,
        load_pem_public_key,
        load_ssh_public_key,
    )

    files = []
    for path in paths:
        if os.path.isdir(path):
            try:
                names = sorted(n for n in os.listdir(path) if n.endswith(".pub"))
            except OSError as e:
                raise UsageError("--trust %s: %s" % (path, e.strerror or e)) from None
            if not names:
                raise UsageError("--trust %s: no .pub files in this directory" % path)
            files.extend(os.path.join(path, n) for n in names)
        else:
            files.append(path)
    keys = set()
    for f in files:
        # As `ledger` reads a key file: a regular file (a link the user
        # named is followed; a FIFO is not waited on), at most 64 KiB.
        try:
            fd = os.open(f, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as e:
            raise UsageError("cannot read key file %s: %s" % (f, e.strerror or e)) from None
        try:
            with os.fdopen(fd, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    raise UsageError("key file %s is not a regular file" % f)
                if st.st_size > MAX_KEY_FILE_BYTES:
                    raise UsageError("key file %s is %d bytes, more than a key file may have" % (f, st.st_size))
                pem = fh.read(MAX_KEY_FILE_BYTES + 1)
        except OSError as e:
            raise UsageError("cannot read key file %s: %s" % (f, e.strerror or e)) from None
        if len(pem) > MAX_KEY_FILE_BYTES:
            raise UsageError("key file %s is more than %d bytes" % (f, MAX_KEY_FILE_BYTES))
        try:
            if pem.lstrip().startswith(b"ssh-"):
                key = load_ssh_public_key(pem.strip())
            else:
                key = load_pem_public_key(pem)
        except Exception as e:  # ValueError, TypeError or the library's own
            raise UsageError("%s is not an SPKI PEM or OpenSSH public key: %s" % (f, e)) from None
        if not isinstance(key, Ed25519PublicKey):
            raise UsageError("%s is not an Ed25519 public key" % f)
        keys.add(key.public_bytes(Encoding.Raw, PublicFormat.Raw))
    return keys


def parse_args(argv):
    """A small argument parser (argparse would exit or print usage itself)."""
    opts = {"dir": None, "trust": [], "head": None, "json": False, "tsa_ca": []}
    it = iter(argv)
    positional_only = False
    for arg in it:
        if positional_only or arg == "-" or not arg.startswith("-"):
            if opts["dir"] is not None:
                raise UsageError("more than one DIR given")
            opts["dir"] = arg
        elif arg == "--":
            positional_only = True
        elif arg in ("-h", "--help"):
            raise UsageError("HELP")
        elif arg == "--json":
            opts["json"] = True
        elif arg in ("--trust", "--head", "--tsa-ca") or arg.startswith(("--trust=", "--head=", "--tsa-ca=")):
            name, eq, val = arg.partition("=")
            if not eq:
                val = next(it, None)
                if val is None:
                    raise UsageError("%s needs a value" % name)
            if name == "--trust":
                opts["trust"].append(val)
            elif name == "--tsa-ca":
                opts["tsa_ca"].append(val)
            elif opts["head"] is not None:
                raise UsageError("--head given twice")
            else:
                opts["head"] = val
        else:
            raise UsageError("unknown option %s" % arg)
    if opts["dir"] is None:
        raise UsageError("no ledger directory given")
    if opts["head"] is not None:
        opts["head"] = opts["head"].strip()
        if not re.fullmatch(r"[0-9a-fA-F]{64}", opts["head"], re.ASCII):
            raise UsageError("--head %r: expected the 64 hex digits of an event hash" % opts["head"])
        opts["head"] = opts["head"].lower()
    return opts


USAGE = "usage: verify.py DIR [--trust PATH ...] [--head HASH] [--tsa-ca PEM ...] [--json]"


LINKS_REFUSED = ("events.cbor", "docs", "checkpoints")


def linked_entry(directory):
    """FORMAT §2: the log, docs/ and checkpoints/ are the ledger's own,
    never symbolic links. The first that is one, or None."""
    for name in LINKS_REFUSED:
        if os.path.islink(os.path.join(directory, name)):
            return name
    return None


def read_events(directory):
    """Read events.cbor under a shared lock (FORMAT §8): a regular file,
    opened without waiting on a FIFO."""
    path = os.path.join(directory, "events.cbor")
    if not os.path.isdir(directory):
        raise UsageError("%s is not a directory" % directory)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise UsageError("%s is not a ledger: it has no events.cbor" % directory) from None
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (path, e.strerror or e)) from None
    try:
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise UsageError("%s is not a ledger: its events.cbor is not a regular file" % directory)
            if st.st_size > MAX_LOG_BYTES:
                raise UsageError(
                    "%s is %d bytes: tools/verify.py reads the log whole and stops at %d MiB; "
                    "verify it with `ledger verify`, which streams it" % (path, st.st_size, MAX_LOG_BYTES >> 20)
                )
            if fcntl is not None:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
                except OSError:
                    pass  # locking is advisory; read anyway
            # What fstat said (read(n) allocates n bytes up front, so n is
            # the real size), then in pieces what an append added since.
            data = fh.read(st.st_size)
            more, total = [], len(data)
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                total += len(chunk)
                if total > MAX_LOG_BYTES:
                    raise UsageError("%s grew past %d MiB while it was read" % (path, MAX_LOG_BYTES >> 20))
                more.append(chunk)
            return data + b"".join(more) if more else data
    except OSError as e:
        raise UsageError("cannot read %s: %s" % (path, e.strerror or e)) from None


def run(argv):
    """Verify as the command line says. Returns (exit code, result dict)."""
    try:
        opts = parse_args(argv)
        trusted = load_trusted_keys(opts["trust"]) if opts["trust"] else None
        tsa_roots = load_tsa_roots(opts["tsa_ca"]) if opts["tsa_ca"] else None
        if not os.path.isdir(opts["dir"]):
            raise UsageError("%s is not a directory" % opts["dir"])
        linked = linked_entry(opts["dir"])
        data = None if linked else read_events(opts["dir"])
    except UsageError as e:
        return 2, {"verified": False, "usage_error": str(e)}
    as_json = opts["json"]
    if linked:
        reason = (
            "%s is a symbolic link: a ledger must hold its log, documents and checkpoints itself (FORMAT §2)"
            % os.path.join(opts["dir"], linked)
        )
        return 1, {
            "json": as_json,
            "verified": False,
            "error": {"event": None, "offset": None, "reason": reason, "torn_tail": False},
        }

    docs_dir = os.path.join(opts["dir"], "docs")

    def doc_digest(name):
        """FORMAT §7: the SHA-256 of docs/<name>, a regular file of at most
        256 MiB, hashed in pieces."""
        where = "docs/%s" % name
        fh, _ = open_regular(os.path.join(docs_dir, name), where, MAX_DOCUMENT_BYTES)
        with fh:
            return hash_file(fh, where, MAX_DOCUMENT_BYTES)

    try:
        replay = verify_log(data, doc_digest)
        vouched = []
        if trusted is not None:  # --trust: any key each party held (§6)
            held = {rec.key: rec for rec in replay.keys.values()}
            for pid in sorted(replay.parties):
                mine = [rec for rec in held.values() if rec.party == pid and rec.key in trusted]
                # Parties that joined later were admitted by every party
                # then current: they need no trusted key (§6, §6.10).
                if not mine and replay.members[pid][0] == 0:
                    raise Failure("the key of party %r is not among the trusted keys (--trust)" % pid)
                for rec in mine:
                    vouched.append({"party": pid, "fingerprint": fingerprint(rec.key)})
            stray = trusted - set(held)
            if stray:
                raise Failure("%d trusted key(s) belong to no party of the ledger (--trust)" % len(stray))
        if opts["head"] is not None:  # --head: an event of the ledger (§6)
            if bytes.fromhex(opts["head"]) not in replay.hashes:
                raise Failure(
                    "the ledger does not contain event %s (--head): it has been truncated, "
                    "rolled back or rewritten" % opts["head"]
                )
        # §17.3-17.4: tokens are judged before the checkpoints, so that the
        # time rule (an event failure) comes first; a bad token is the
        # verdict only after the checkpoints, and then binds nothing.
        try:
            timestamps, bad_token = check_timestamps(opts["dir"], tsa_roots), None
        except Failure as f:
            timestamps, bad_token = [], f
        check_time_rule(replay, timestamps)
        checkpoints = check_checkpoints(opts["dir"], replay)  # §13.2, after --trust and --head
        if bad_token is not None:
            raise bad_token
    except Failure as f:
        return 1, {
            "json": as_json,
            "verified": False,
            "error": {"event": f.event, "offset": f.offset, "reason": f.reason, "torn_tail": f.torn_tail},
        }

    documents = []
    for doc in replay.docs.values():
        if not doc.signatories:
            status = "no signatures required"
        elif doc.executed is not None:
            status = "executed"
        else:
            status = "awaiting signatures"
        documents.append(
            {
                "id": doc.id,
                "title": doc.title,
                "version": doc.current.hex(),
                "version_number": doc.version,
                "signatories": doc.signatories,
                "status": status,
                "executed_at": doc.executed,
                "signed_by": doc.signed,
                "approved_by": doc.approved,
            }
        )
    return 0, {
        "json": as_json,
        "verified": True,
        "ledger": replay.ledger.hex(),
        "title": replay.title,
        "parties": [
            {
                "id": pid,
                "joined": replay.members[pid][0],
                "removed": replay.members[pid][1],
                "current": replay.members[pid][1] is None,
                "key": replay.keys[kids[0]].key.hex(),
                "fingerprint": fingerprint(replay.keys[kids[0]].key),
                "kid": kids[0].hex(),
                "keys": [replay.keys[k].describe() for k in kids],
            }
            for pid, kids in sorted(replay.parties.items())
        ],
        "trusted": vouched,
        "checkpoints": checkpoints,
        "timestamps": timestamps,
        "tree_root": merkle_root(replay.leaves).hex(),
        "events": replay.events,
        "documents": documents,
        "open_sessions": sorted(replay.sessions),
        "count": len(replay.hashes),
        "head": replay.hashes[-1].hex(),
    }


_SPECIAL_ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n"}


def terminal_safe(text):
    """What may be printed of a string from the ledger, a file name or an
    argument: control characters (Unicode category Cc) and the invisible
    and bidirectional-override characters U+200B-U+200F, U+202A-U+202E,
    U+2066-U+2069 and U+FEFF are shown escaped, as `ledger` shows them
    (Rust's char::escape_default: \\t, \\r, \\n, else \\u{hex}), never
    interpreted by a terminal. Undecodable bytes of a file name (Python's
    surrogate escapes) are shown as \\u{dcXX} too."""
    out = []
    for ch in str(text):
        o = ord(ch)
        if (
            o <= 0x1F
            or 0x7F <= o <= 0x9F
            or 0x200B <= o <= 0x200F
            or 0x202A <= o <= 0x202E
            or 0x2066 <= o <= 0x2069
            or o == 0xFEFF
            or 0xD800 <= o <= 0xDFFF
        ):
            out.append(_SPECIAL_ESCAPES.get(ch, "\\u{%x}" % o))
        else:
            out.append(ch)
    return "".join(out)


def print_result(code, result, as_json, out, err):
    """Everything printed that a ledger, a file name or an argument could
    influence goes through terminal_safe (text) or ASCII-only JSON."""
    t = terminal_safe
    if code == 2:
        msg = result["usage_error"]
        err.write("verify.py: %s\n%s\n" % (t(msg), USAGE))
        return
    if as_json:
        shown = {k: v for k, v in result.items() if k != "json"}
        out.write(json.dumps(shown, indent=2, ensure_ascii=True) + "\n")
        return
    if code == 1:
        e = result["error"]
        if e["event"] is None:
            out.write("FAIL: %s\n" % t(e["reason"]))
        else:
            out.write("FAIL: event %d (byte offset %d of events.cbor): %s\n" % (e["event"], e["offset"], t(e["reason"])))
        return
    out.write('ledger %s "%s"\n' % (result["ledger"], t(result["title"])))
    for p in result["parties"]:
        for k in p["keys"]:
            history = "added at event %d" % k["added"]
            if "rotated_out" in k:
                history += ", rotated out at event %d" % k["rotated_out"]
            if "revoked" in k:
                history += ", REVOKED at event %d" % k["revoked"]
            if "party_removed" in k:
                history += ", party removed at event %d" % k["party_removed"]
            if k["current"]:
                history += ", current"
            out.write("  party %-8s key %s (%s)\n" % (t(p["id"]), k["key"], history))
        if p["joined"] or p["removed"] is not None:
            out.write(
                "  party %-8s joined at event %d%s\n"
                % (t(p["id"]), p["joined"], "" if p["removed"] is None else ", removed at event %d" % p["removed"])
            )
    for tr in result["trusted"]:
        out.write("  trusted: party %s by key %s\n" % (t(tr["party"]), tr["fingerprint"]))
    for d in result["documents"]:
        out.write(
            "  document %s version %d (%s): %s\n" % (t(d["id"]), d["version_number"], d["version"][:12], d["status"])
        )
    for ts in result.get("timestamps", []):
        if ts["status"] == "valid":
            st = ts["stamp"]
            out.write(
                "  %s: events #0..#%d existed no later than %s (%s, serial %s)\n"
                % (ts["file"], ts["size"] - 1, st["time_text"], t(st["tsa"]), st["serial"])
            )
        elif ts["status"] == "untrusted":
            out.write("  %s: NOT COUNTED: %s\n" % (ts["file"], t(ts["note"])))
        else:
            out.write("  %s: present, unchecked (give --tsa-ca ROOT.pem)\n" % ts["file"])
    out.write("OK: %d events verified, head %s\n" % (result["count"], result["head"]))


def batch(path, out):
    """--batch: verify many argument lists in one process (see the docstring)."""
    try:
        fh = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as e:
        sys.stderr.write("verify.py: cannot read %s: %s\n" % (terminal_safe(path), e.strerror or e))
        return 2
    with fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                argv = json.loads(line)
                if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                    raise ValueError("not a JSON array of strings")
                code, result = run(argv)
            except Exception as e:  # a bug, or a bad batch line: never silent
                code, result = 2, {"usage_error": "internal error: %r" % (e,)}
            row = {"exit": code, "count": None, "head": None, "event": None, "offset": None, "torn_tail": False}
            if code == 0:
                row.update(count=result["count"], head=result["head"])
            elif code == 1:
                row.update(result["error"])
            else:
                row["reason"] = result["usage_error"]
            out.write(json.dumps(row) + "\n")
    return 0


def main(argv):
    if argv[:1] == ["--batch"]:
        if len(argv) != 2:
            sys.stderr.write("usage: verify.py --batch FILE\n")
            return 2
        return batch(argv[1], sys.stdout)
    code, result = run(argv)
    if result.get("usage_error") == "HELP":
        sys.stdout.write(USAGE + "\n")
        return 0
    print_result(code, result, result.get("json", False), sys.stdout, sys.stderr)
    return code


if __name__ == "__main__":
    try:
        status = main(sys.argv[1:])
        sys.stdout.flush()
    except BaseException as exc:  # noqa: BLE001 - the promise is: no traceback, ever
        try:
            sys.stderr.write("verify.py: internal error (a bug in verify.py): %s\n" % terminal_safe(repr(exc)))
        except Exception:
            pass
        status = 2
    sys.exit(status)
