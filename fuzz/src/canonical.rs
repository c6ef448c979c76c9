//! An independent checker for the CBOR subset of FORMAT §4, written from
//! the spec and RFC 8949 §4.2.1 without ciborium, used as an oracle: every
//! event that `ledger` accepts must pass it.
//!
//! It parses the bytes directly and requires shortest-form heads, definite
//! lengths only, no floats or simple values, valid UTF-8 text, map keys
//! that are integers or text strings, unique and in bytewise order of
//! their encodings, and tags only where the caller allows tag 18. The fuzz targets use it through
//! `ledger_fuzz::canonical`; `tests/` include this file with `#[path]`.

/// A parsed item. Byte and text strings borrow from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item<'a> {
    Uint(u64),
    /// The negative integer `-1 - n`.
    Nint(u64),
    Bytes(&'a [u8]),
    Text(&'a str),
    Array(Vec<Item<'a>>),
    Map(Vec<(Item<'a>, Item<'a>)>),
    Tag(u64, Box<Item<'a>>),
}

/// Deeper than anything ciborium's default recursion limit (256) lets
/// through; the checker refuses beyond it rather than overflow the stack.
const MAX_DEPTH: usize = 300;

/// Parses `input` as exactly one deterministically encoded item of the
/// FORMAT §4 subset. `tag18` allows a tag 18 as the outermost item (and
/// nowhere else).
pub fn parse(input: &[u8], tag18: bool) -> Result<Item<'_>, String> {
    let mut p = Parser { input, pos: 0 };
    let item = p.item(0, tag18)?;
    if p.pos != input.len() {
        return Err(format!("{} bytes follow the item", input.len() - p.pos));
    }
    Ok(item)
}

/// The three canonical layers of a stored event (FORMAT §5.1): the
/// envelope, the protected header and the payload. Checks only the CBOR
/// rules and the envelope's shape (tag 18, array of 4, two byte strings,
/// an empty map, a byte string), not the meaning of any field.
pub struct EventLayers<'a> {
    pub protected: Item<'a>,
    pub payload: Item<'a>,
    pub payload_bytes: &'a [u8],
    pub signature: &'a [u8],
}

pub fn parse_event(stored: &[u8]) -> Result<EventLayers<'_>, String> {
    let Item::Tag(18, inner) = parse(stored, true)? else {
        return Err("not tag 18".into());
    };
    let Item::Array(items) = *inner else {
        return Err("tag 18 does not hold an array".into());
    };
    let [Item::Bytes(protected), Item::Map(unprotected), Item::Bytes(payload), Item::Bytes(signature)] =
        items.as_slice()
    else {
        return Err("not [bstr, map, bstr, bstr]".into());
    };
    if !unprotected.is_empty() {
        return Err("unprotected header not empty".into());
    }
    Ok(EventLayers {
        protected: parse(protected, false).map_err(|e| format!("protected: {e}"))?,
        payload: parse(payload, false).map_err(|e| format!("payload: {e}"))?,
        payload_bytes: payload,
        signature,
    })
}

/// The text keys of a map item that start with `_` (FORMAT §5.3
/// annotations), which a decoded `Body` does not keep.
pub fn has_annotations(item: &Item<'_>) -> bool {
    match item {
        Item::Map(entries) => entries
            .iter()
            .any(|(k, _)| matches!(k, Item::Text(t) if t.starts_with('_'))),
        _ => false,
    }
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.input.get(self.pos).ok_or("truncated")?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| "length overflows usize")?;
        let end = self.pos.checked_add(n).ok_or("length overflows")?;
        let s = self.input.get(self.pos..end).ok_or("truncated")?;
        self.pos = end;
        Ok(s)
    }

    /// A head: major type and argument, which must be in shortest form.
    fn head(&mut self) -> Result<(u8, u64), String> {
        let b = self.byte()?;
        let (major, info) = (b >> 5, b & 0x1f);
        let (arg, min) = match info {
            0..=23 => (u64::from(info), 0),
            24 => (u64::from(self.byte()?), 24),
            25 => (self.be(2)?, 1 << 8),
            26 => (self.be(4)?, 1 << 16),
            27 => (self.be(8)?, 1 << 32),
            31 => return Err(format!("indefinite length (major type {major})")),
            _ => return Err(format!("reserved additional information {info}")),
        };
        if arg < min {
            return Err(format!("argument {arg} not in shortest form"));
        }
        Ok((major, arg))
    }

    fn be(&mut self, n: u64) -> Result<u64, String> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, b| (a << 8) | u64::from(*b)))
    }

    fn item(&mut self, depth: usize, tag18: bool) -> Result<Item<'a>, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        let (major, arg) = self.head()?;
        Ok(match major {
            0 => Item::Uint(arg),
            1 => Item::Nint(arg),
            2 => Item::Bytes(self.take(arg)?),
            3 => Item::Text(std::str::from_utf8(self.take(arg)?).map_err(|e| e.to_string())?),
            4 => {
                let mut items = Vec::new();
                for _ in 0..arg {
                    items.push(self.item(depth + 1, false)?);
                }
                Item::Array(items)
            }
            5 => {
                let mut entries = Vec::new();
                let mut last: Option<&[u8]> = None;
                for _ in 0..arg {
                    let start = self.pos;
                    let k = self.item(depth + 1, false)?;
                    if !matches!(k, Item::Uint(_) | Item::Nint(_) | Item::Text(_)) {
                        return Err("map key that is not an integer or text string".into());
                    }
                    let key_bytes = &self.input[start..self.pos];
                    if let Some(prev) = last {
                        if prev >= key_bytes {
                            return Err("map keys not strictly increasing".into());
                        }
                    }
                    last = Some(key_bytes);
                    let v = self.item(depth + 1, false)?;
                    entries.push((k, v));
                }
                Item::Map(entries)
            }
            6 if tag18 && arg == 18 => Item::Tag(18, Box::new(self.item(depth + 1, false)?)),
            6 => return Err(format!("tag {arg} not allowed here")),
            _ => return Err("float or simple value".into()),
        })
    }
}
