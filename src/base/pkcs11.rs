//! Keys on a PKCS#11 token (a hardware security module, a smartcard,
//! SoftHSM): the RFC 7512 URI that names one, and a [`Signer`] that asks
//! the token to sign with CKM_EDDSA, so that the private key never leaves
//! it; also making a key pair on a token and reading its public key.
//!
//! The URI is parsed strictly ([`Pkcs11Uri::parse`]): percent-encoding is
//! decoded and checked, an attribute this module does not know, or one
//! given twice, is refused rather than ignored (a URI that names less than
//! its writer meant could pick another key), and `pin-value` is refused
//! because a PIN on the command line is visible to every user of the
//! machine (`ps`) and kept in shell histories.
//!
//! The token is outside the ledger and its answers are hostile input: the
//! public key (CKA_EC_POINT) is taken only as 32 bytes, raw or in the DER
//! OCTET STRING that PKCS#11 3.0 specifies, on a key whose CKA_EC_PARAMS
//! name edwards25519; a signature only as 64 bytes. Like every [`Signer`],
//! the signature is then verified strictly under that public key before a
//! byte is written (FORMAT §5.2), and the writer checks that the key is
//! the acting party's. Strings the token reports (labels) are stripped of
//! control characters before they reach a message.
//!
//! This module never reads the environment, a terminal or a PIN file: the
//! binary finds the module and the PIN and hands them here; the PIN is a
//! [`SecretString`], zeroized when dropped, and never in a message. A
//! module is native code the user chose to load: its calls cannot be
//! given a timeout from here.

use std::fmt;
use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::{Slot, TokenInfo};
pub use secrecy::SecretString;

use crate::base::crypto::{PublicKey, Signer, SignerError};

/// The scheme of a PKCS#11 URI (RFC 7512 §2.3), compared without case.
pub const SCHEME: &str = "pkcs11:";

/// Longer URIs are refused before they are parsed.
const MAX_URI: usize = 4096;

/// DER of the OID 1.3.101.112 (id-Ed25519, RFC 8410), one of the two
/// CKA_EC_PARAMS PKCS#11 3.0 allows for edwards25519.
const ED25519_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
/// DER of the PrintableString "edwards25519", the other (and the one
/// OpenSC's `pkcs11-tool` writes).
const ED25519_NAME: &[u8] = b"\x13\x0cedwards25519";

/// A PKCS#11 URI as RFC 7512 defines it, with the attributes this tool
/// can honour. Every value is percent-decoded.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    text: String,
    /// Path attributes naming the token: `token`, `manufacturer`,
    /// `serial`, `model`.
    pub token: Option<String>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub model: Option<String>,
    /// `slot-id` (RFC 7512 §2.3), a decimal number.
    pub slot_id: Option<u64>,
    /// `object`: the key's CKA_LABEL.
    pub object: Option<Vec<u8>>,
    /// `id`: the key's CKA_ID.
    pub id: Option<Vec<u8>>,
    /// `type`: `private` or `public`, if given.
    pub kind: Option<String>,
    /// Query `module-path`: the module to load.
    pub module_path: Option<PathBuf>,
    /// Query `pin-source`: a `file:` URI whose first line is the PIN.
    pub pin_source: Option<PathBuf>,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Uri({:?})", self.text)
    }
}

impl fmt::Display for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&one_line(&self.text))
    }
}

/// Why a PKCS#11 URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    #[error("{uri:?} is not a PKCS#11 URI: {reason} (RFC 7512; e.g. 'pkcs11:token=MOST;object=ledger-2017')")]
    Syntax { uri: String, reason: String },
    #[error("a PKCS#11 URI with pin-value: that puts the PIN on the command line, where every user of the machine can read it (ps) and the shell keeps it; use pin-source=file:/path, --pin-file FILE, --pin-env VAR, or type it when asked")]
    PinValue,
}

impl Pkcs11Uri {
    /// Whether `text` is meant as a PKCS#11 URI (its scheme is `pkcs11:`).
    pub fn is_uri(text: &str) -> bool {
        text.get(..SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME))
    }

    /// Parses `text` strictly (RFC 7512 §2.3): path attributes separated
    /// by `;`, query attributes by `&`, each `name=value` once, values
    /// percent-decoded. Unknown attributes are refused, and so is a
    /// `pin-value`.
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let err = |reason: String| UriError::Syntax {
            uri: shown(text),
            reason,
        };
        if text.len() > MAX_URI {
            return Err(err(format!("longer than {MAX_URI} bytes")));
        }
        if !Self::is_uri(text) {
            return Err(err("it does not start with pkcs11:".into()));
        }
        let rest = &text[SCHEME.len()..];
        if rest.contains('#') {
            return Err(err("a PKCS#11 URI has no fragment ('#')".into()));
        }
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri {
            text: text.to_owned(),
            ..Default::default()
        };
        let mut seen: Vec<String> = Vec::new();
        let mut attrs =
            |part: &str, sep: char, is_path: bool| -> Result<Vec<(String, Vec<u8>)>, UriError> {
                let mut out = Vec::new();
                if part.is_empty() {
                    return Ok(out);
                }
                for attr in part.split(sep) {
                    let (name, value) = attr
                        .split_once('=')
                        .ok_or_else(|| err("an attribute is not name=value".into()))?;
                    if name.is_empty()
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    {
                        return Err(err(format!("{name:?} is not an attribute name")));
                    }
                    if seen.iter().any(|s| s == name) {
                        return Err(err(format!("{name} is given twice")));
                    }
                    seen.push(name.to_owned());
                    let value = decode(value, is_path).map_err(|r| err(format!("{name}: {r}")))?;
                    out.push((name.to_owned(), value));
                }
                Ok(out)
            };
        let path_attrs = attrs(path, ';', true)?;
        let query_attrs = match query {
            Some(q) => attrs(q, '&', false)?,
            None => Vec::new(),
        };
        let utf8 = |name: &str, v: Vec<u8>| {
            String::from_utf8(v).map_err(|_| err(format!("{name} is not UTF-8")))
        };
        for (name, value) in path_attrs {
            match name.as_str() {
                "token" => uri.token = Some(utf8(&name, value)?),
                "manufacturer" => uri.manufacturer = Some(utf8(&name, value)?),
                "serial" => uri.serial = Some(utf8(&name, value)?),
                "model" => uri.model = Some(utf8(&name, value)?),
                "object" => uri.object = Some(value),
                "id" => uri.id = Some(value),
                "slot-id" => {
                    let s = utf8(&name, value)?;
                    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(err(format!("slot-id {s:?} is not a decimal number")));
                    }
                    uri.slot_id = Some(s.parse().map_err(|_| err(format!("slot-id {s} is too large")))?);
                }
                "type" => {
                    let s = utf8(&name, value)?;
                    if s != "private" && s != "public" {
                        return Err(err(format!("type={s}: an Ed25519 key is type=private or type=public")));
                    }
                    uri.kind = Some(s);
                }
                "library-manufacturer" | "library-description" | "library-version"
                | "slot-description" | "slot-manufacturer" => {
                    return Err(err(format!(
                        "the path attribute {name} is not supported by ledger; name the token with token=, serial=, manufacturer=, model= or slot-id="
                    )))
                }
                _ => {
                    return Err(err(format!(
                        "unknown path attribute {name:?} (ledger knows token, manufacturer, serial, model, slot-id, object, id, type)"
                    )))
                }
            }
        }
        for (name, value) in query_attrs {
            match name.as_str() {
                "pin-value" => return Err(UriError::PinValue),
                "pin-source" => {
                    let s = utf8(&name, value)?;
                    let path = s
                        .strip_prefix("file://")
                        .or_else(|| s.strip_prefix("file:"))
                        .filter(|p| p.starts_with('/'))
                        .ok_or_else(|| {
                            err(format!(
                                "pin-source {s:?}: ledger reads a PIN only from a file:/absolute/path"
                            ))
                        })?;
                    uri.pin_source = Some(PathBuf::from(path));
                }
                "module-path" => {
                    let s = utf8(&name, value)?;
                    if !s.starts_with('/') {
                        return Err(err(format!("module-path {s:?} is not an absolute path")));
                    }
                    uri.module_path = Some(PathBuf::from(s));
                }
                "module-name" => {
                    return Err(err(
                        "module-name is not supported; give the module's file with module-path=, --pkcs11-module or LEDGER_PKCS11_MODULE".into(),
                    ))
                }
                _ => {
                    return Err(err(format!(
                        "unknown query attribute {name:?} (ledger knows pin-source and module-path)"
                    )))
                }
            }
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(err(
                "it names no key: give object= (the key's label) or id=".into(),
            ));
        }
        Ok(uri)
    }

    /// The token the URI names, for people: its `token=`, or else the URI.
    pub fn token_name(&self) -> String {
        match &self.token {
            Some(t) => one_line(t),
            None => self.to_string(),
        }
    }

    fn matches_token(&self, slot: Slot, info: &TokenInfo) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_ref().is_none_or(|w| w == have);
        eq(&self.token, info.label())
            && eq(&self.manufacturer, info.manufacturer_id())
            && eq(&self.serial, info.serial_number())
            && eq(&self.model, info.model())
            && self.slot_id.is_none_or(|id| id == slot.id())
    }

    /// The template that finds the key of class `class`.
    fn template(&self, class: ObjectClass) -> Vec<Attribute> {
        let mut t = vec![
            Attribute::Class(class),
            Attribute::KeyType(KeyType::EC_EDWARDS),
        ];
        if let Some(label) = &self.object {
            t.push(Attribute::Label(label.clone()));
        }
        if let Some(id) = &self.id {
            t.push(Attribute::Id(id.clone()));
        }
        t
    }

    fn object_name(&self) -> String {
        match (&self.object, &self.id) {
            (Some(o), _) => format!("labelled {:?}", one_line(&String::from_utf8_lossy(o))),
            (None, Some(id)) => format!("with id {}", hex::encode(id)),
            (None, None) => "of any label".into(),
        }
    }
}

/// `text` for a message: the path, and of the query only the values of
/// the attributes that are no secret (a mistyped `pin-value` is one).
fn shown(text: &str) -> String {
    let text: String = one_line(text).chars().take(MAX_URI).collect();
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text.as_str(), None),
    };
    // Of the path, only the values that name a token or a key: anything
    // else may be a PIN typed in the wrong place (`;pin-value=1234`).
    let (scheme, path) = match path.get(..SCHEME.len()) {
        Some(sc) if sc.eq_ignore_ascii_case(SCHEME) => (sc, &path[SCHEME.len()..]),
        _ => ("", path),
    };
    let path: Vec<String> = path
        .split(';')
        .map(|a| match a.split_once('=') {
            Some((
                n @ ("token" | "object" | "type" | "id" | "manufacturer" | "model" | "serial"
                | "slot-id"),
                v,
            )) => format!("{n}={v}"),
            Some((n, _)) => format!("{n}=…"),
            None if a.is_empty() => String::new(),
            None => "…".into(),
        })
        .collect();
    let path = format!("{scheme}{}", path.join(";"));
    let Some(query) = query else {
        return path;
    };
    let attrs: Vec<String> = query
        .split('&')
        .map(|a| match a.split_once('=') {
            Some((n @ ("module-path" | "pin-source"), v)) => format!("{n}={v}"),
            Some((n, _)) => format!("{n}=…"),
            None => "…".into(),
        })
        .collect();
    format!("{path}?{}", attrs.join("&"))
}

/// Percent-decodes one attribute value, refusing a `%` not followed by two
/// hex digits and any character RFC 7512 does not allow unencoded there.
fn decode(value: &str, is_path: bool) -> Result<Vec<u8>, String> {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .filter(|_| b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
                .ok_or_else(|| format!("'%' at byte {i} is not followed by two hex digits"))?;
            out.push(hex);
            i += 3;
            continue;
        }
        // RFC 7512 §2.3: pk11-unreserved and pk11-p-res-avail (path, and
        // '&' there), pk11-q-res-avail (query: '/', '?', '|', ';' too).
        let ok = c.is_ascii_alphanumeric()
            || b"-._~:[]@!$'()*+,=".contains(&c)
            || (is_path && c == b'&')
            || (!is_path && b"/?|;".contains(&c));
        if !ok {
            return Err(format!(
                "{:?} must be percent-encoded",
                char::from(c).escape_debug().to_string()
            ));
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

/// Why a token did not give a key or a signature. Each message is one
/// line naming the module or the token, and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("cannot load the PKCS#11 module {}: {reason}; check --pkcs11-module, module-path= or LEDGER_PKCS11_MODULE", .module.display())]
    Module { module: PathBuf, reason: String },
    #[error(
        "no token matches {uri} (tokens present: {present}); check token= (and serial=) in the URI"
    )]
    TokenNotFound { uri: String, present: String },
    #[error("{count} tokens match {uri}; add serial= or slot-id= to the URI to pick one")]
    TokenAmbiguous { uri: String, count: usize },
    #[error("token {token} has no Ed25519 {what} {name}; list its keys with `pkcs11-tool --module MODULE --list-objects`, or make one with `ledger keygen --pkcs11`")]
    ObjectNotFound {
        token: String,
        what: &'static str,
        name: String,
    },
    #[error("token {token} has {count} Ed25519 {what}s {name}; add id= to the URI to pick one")]
    ObjectAmbiguous {
        token: String,
        what: &'static str,
        name: String,
        count: usize,
    },
    #[error(
        "token {token} already has a key {name}; choose another object= (nothing was changed)"
    )]
    Exists { token: String, name: String },
    #[error("wrong PIN for token {token}{state}; nothing was written")]
    WrongPin { token: String, state: PinState },
    #[error("the user PIN of token {token} is locked (too many wrong PINs); its security officer must reset it (pkcs11-tool --init-pin --login --login-type so); nothing was written")]
    Locked { token: String },
    #[error("token {token} has no user PIN set yet; set one (softhsm2-util --init-token, or pkcs11-tool --init-pin)")]
    PinNotInitialized { token: String },
    #[error("the PIN for token {token} is not one the token accepts (its length or characters); nothing was written")]
    PinInvalid { token: String },
    #[error("token {token}: the key {name} is not an Ed25519 key ledger can use: {reason}")]
    NotEd25519 {
        token: String,
        name: String,
        reason: String,
    },
    #[error("token {token} failed to {op}: {reason}")]
    Failed {
        token: String,
        op: &'static str,
        reason: String,
    },
}

/// What the token's flags say of the user PIN after a wrong one
/// (PKCS#11 CK_TOKEN_INFO: CKF_USER_PIN_COUNT_LOW, _FINAL_TRY, _LOCKED).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinState {
    /// The module reports nothing.
    Unreported,
    /// Some wrong PINs were entered (CKF_USER_PIN_COUNT_LOW).
    CountLow,
    /// One more wrong PIN locks it (CKF_USER_PIN_FINAL_TRY).
    FinalTry,
    /// It is now locked (CKF_USER_PIN_LOCKED).
    Locked,
}

impl PinState {
    fn of(info: &TokenInfo) -> Self {
        if info.user_pin_locked() {
            PinState::Locked
        } else if info.user_pin_final_try() {
            PinState::FinalTry
        } else if info.user_pin_count_low() {
            PinState::CountLow
        } else {
            PinState::Unreported
        }
    }
}

impl fmt::Display for PinState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinState::Unreported => " (the token does not say how many tries are left)",
            PinState::CountLow => {
                " (the token reports that wrong PINs were entered and few tries are left: CKF_USER_PIN_COUNT_LOW)"
            }
            PinState::FinalTry => {
                " (the token reports that one more wrong PIN locks it: CKF_USER_PIN_FINAL_TRY)"
            }
            PinState::Locked => " (the token is now locked: CKF_USER_PIN_LOCKED)",
        })
    }
}

/// A loaded PKCS#11 module, initialised. It is not finalised: a process
/// may open the same module twice (a `--party` read from the token that
/// also signs), and PKCS#11 initialises a module once per process.
pub struct Module {
    ctx: Pkcs11,
    path: PathBuf,
}

impl fmt::Debug for Module {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Module({})", self.path.display())
    }
}

impl Module {
    /// Loads and initialises the module at `path` (a shared library).
    pub fn open(path: &Path) -> Result<Self, TokenError> {
        let fail = |reason: String| TokenError::Module {
            module: path.to_owned(),
            reason,
        };
        // A missing file says so plainly, before the loader's message.
        if let Err(e) = std::fs::metadata(path) {
            return Err(fail(e.to_string()));
        }
        let ctx = Pkcs11::new(path).map_err(|e| fail(one_line(&e.to_string())))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(fail(rv_text(&e))),
        }
        Ok(Module {
            ctx,
            path: path.to_owned(),
        })
    }

    /// The one slot whose token the URI names.
    fn slot(&self, uri: &Pkcs11Uri) -> Result<(Slot, String, TokenInfo), TokenError> {
        let failed = |op, e: CkError| TokenError::Failed {
            token: uri.token_name(),
            op,
            reason: rv_text(&e),
        };
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(|e| failed("list its slots", e))?;
        let mut found = Vec::new();
        let mut present = Vec::new();
        for slot in slots {
            let Ok(info) = self.ctx.get_token_info(slot) else {
                continue;
            };
            if !info.token_initialized() {
                continue;
            }
            present.push(one_line(info.label()));
            if uri.matches_token(slot, &info) {
                found.push((slot, info));
            }
        }
        match found.len() {
            0 => Err(TokenError::TokenNotFound {
                uri: uri.to_string(),
                present: if present.is_empty() {
                    "none".into()
                } else {
                    present.join(", ")
                },
            }),
            1 => {
                let (slot, info) = found.remove(0);
                Ok((slot, one_line(info.label()), info))
            }
            count => Err(TokenError::TokenAmbiguous {
                uri: uri.to_string(),
                count,
            }),
        }
    }

    /// The public key of the key the URI names, read without logging in
    /// (a public key object is public); with `pin`, after logging in, for
    /// a token that keeps even public keys private.
    pub fn public_key(
        &self,
        uri: &Pkcs11Uri,
        pin: Option<&SecretString>,
    ) -> Result<PublicKey, TokenError> {
        let (slot, token, info) = self.slot(uri)?;
        let session = self.session(slot, &token, false)?;
        if let Some(pin) = pin {
            login(&self.ctx, &session, slot, &token, &info, pin)?;
        }
        let public = find_one(&session, uri, &token, ObjectClass::PUBLIC_KEY, "public key")?;
        read_public(&session, public, uri, &token)
    }

    /// Logs in to the token the URI names and returns the signer of its
    /// private key, with the public key of the same label and id.
    pub fn signer(self, uri: &Pkcs11Uri, pin: &SecretString) -> Result<TokenSigner, TokenError> {
        let (slot, token, info) = self.slot(uri)?;
        let session = self.session(slot, &token, false)?;
        login(&self.ctx, &session, slot, &token, &info, pin)?;
        let private = find_one(
            &session,
            uri,
            &token,
            ObjectClass::PRIVATE_KEY,
            "private key",
        )?;
        let public = find_one(&session, uri, &token, ObjectClass::PUBLIC_KEY, "public key")?;
        let public = read_public(&session, public, uri, &token)?;
        Ok(TokenSigner {
            session,
            key: private,
            public,
            token,
            _module: self,
        })
    }

    /// Makes an Ed25519 key pair on the token (CKM_EC_EDWARDS_KEY_PAIR_GEN),
    /// the private key sensitive and never extractable, labelled with the
    /// URI's `object` (and its `id`, or a random one); refuses if the token
    /// already has a key of that label or id. Returns the public key.
    pub fn generate(&self, uri: &Pkcs11Uri, pin: &SecretString) -> Result<PublicKey, TokenError> {
        let (slot, token, info) = self.slot(uri)?;
        let session = self.session(slot, &token, true)?;
        login(&self.ctx, &session, slot, &token, &info, pin)?;
        let failed = |op, e: CkError| TokenError::Failed {
            token: token.clone(),
            op,
            reason: rv_text(&e),
        };
        for class in [ObjectClass::PRIVATE_KEY, ObjectClass::PUBLIC_KEY] {
            let mut t = vec![Attribute::Class(class)];
            if let Some(l) = &uri.object {
                t.push(Attribute::Label(l.clone()));
            }
            if let Some(id) = &uri.id {
                t.push(Attribute::Id(id.clone()));
            }
            let found = session
                .find_objects(&t)
                .map_err(|e| failed("search its keys", e))?;
            if !found.is_empty() {
                return Err(TokenError::Exists {
                    token,
                    name: uri.object_name(),
                });
            }
        }
        let id = match &uri.id {
            Some(id) => id.clone(),
            None => session
                .generate_random_vec(16)
                .map_err(|e| failed("make a random key id", e))?,
        };
        let mut common = vec![Attribute::Token(true), Attribute::Id(id)];
        if let Some(l) = &uri.object {
            common.push(Attribute::Label(l.clone()));
        }
        // A signing key and nothing else: a module's defaults may allow
        // more (SoftHSM2 allows decrypt and unwrap).
        let private = [
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
        ];
        let mut last = None;
        // PKCS#11 3.0 §2.3.10 allows both forms of the curve; some modules
        // know only one.
        for params in [ED25519_OID, ED25519_NAME] {
            let mut pub_t = common.clone();
            pub_t.extend([
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::Encrypt(false),
                Attribute::Wrap(false),
                Attribute::Derive(false),
                Attribute::EcParams(params.to_vec()),
            ]);
            let mut priv_t = common.clone();
            priv_t.extend(private.iter().cloned());
            match session.generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &pub_t, &priv_t) {
                Ok((public, _)) => return read_public(&session, public, uri, &token),
                Err(
                    e @ CkError::Pkcs11(
                        RvError::AttributeValueInvalid
                        | RvError::DomainParamsInvalid
                        | RvError::CurveNotSupported,
                        _,
                    ),
                ) => last = Some(e),
                Err(e) => return Err(failed("make an Ed25519 key pair", e)),
            }
        }
        Err(failed(
            "make an Ed25519 key pair (does it support CKM_EC_EDWARDS_KEY_PAIR_GEN?)",
            last.expect("tried at least once"),
        ))
    }

    fn session(&self, slot: Slot, token: &str, rw: bool) -> Result<Session, TokenError> {
        let s = if rw {
            self.ctx.open_rw_session(slot)
        } else {
            self.ctx.open_ro_session(slot)
        };
        s.map_err(|e| TokenError::Failed {
            token: token.to_owned(),
            op: "open a session",
            reason: rv_text(&e),
        })
    }
}

fn login(
    ctx: &Pkcs11,
    session: &Session,
    slot: Slot,
    token: &str,
    info: &TokenInfo,
    pin: &SecretString,
) -> Result<(), TokenError> {
    let token = token.to_owned();
    // A locked PIN is refused before another try is spent on it.
    if info.user_pin_locked() {
        return Err(TokenError::Locked { token });
    }
    match session.login(UserType::User, Some(pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
            let state = ctx
                .get_token_info(slot)
                .map(|i| PinState::of(&i))
                .unwrap_or(PinState::Unreported);
            if state == PinState::Locked {
                return Err(TokenError::Locked { token });
            }
            Err(TokenError::WrongPin { token, state })
        }
        Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(TokenError::Locked { token }),
        Err(CkError::Pkcs11(RvError::UserPinNotInitialized, _)) => {
            Err(TokenError::PinNotInitialized { token })
        }
        Err(CkError::Pkcs11(RvError::PinLenRange | RvError::PinInvalid, _)) => {
            Err(TokenError::PinInvalid { token })
        }
        Err(e) => Err(TokenError::Failed {
            token,
            op: "log in",
            reason: rv_text(&e),
        }),
    }
}

fn find_one(
    session: &Session,
    uri: &Pkcs11Uri,
    token: &str,
    class: ObjectClass,
    what: &'static str,
) -> Result<ObjectHandle, TokenError> {
    let found = session
        .find_objects(&uri.template(class))
        .map_err(|e| TokenError::Failed {
            token: token.to_owned(),
            op: "search its keys",
            reason: rv_text(&e),
        })?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(TokenError::ObjectNotFound {
            token: token.to_owned(),
            what,
            name: uri.object_name(),
        }),
        more => Err(TokenError::ObjectAmbiguous {
            token: token.to_owned(),
            what,
            name: uri.object_name(),
            count: more.len(),
        }),
    }
}

/// The public key of a CKK_EC_EDWARDS object: CKA_EC_PARAMS must name
/// edwards25519, CKA_EC_POINT be 32 bytes, raw or as a DER OCTET STRING.
fn read_public(
    session: &Session,
    object: ObjectHandle,
    uri: &Pkcs11Uri,
    token: &str,
) -> Result<PublicKey, TokenError> {
    let bad = |reason: String| TokenError::NotEd25519 {
        token: token.to_owned(),
        name: uri.object_name(),
        reason,
    };
    let attrs = session
        .get_attributes(object, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| TokenError::Failed {
            token: token.to_owned(),
            op: "read the public key",
            reason: rv_text(&e),
        })?;
    let (mut params, mut point) = (None, None);
    for a in attrs {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    let params = params.ok_or_else(|| bad("it has no CKA_EC_PARAMS".into()))?;
    if params != ED25519_OID && params != ED25519_NAME {
        return Err(bad(format!(
            "its curve (CKA_EC_PARAMS {}) is not edwards25519",
            hex::encode(&params[..params.len().min(32)])
        )));
    }
    let point = point.ok_or_else(|| bad("it has no CKA_EC_POINT".into()))?;
    let bytes = ec_point(&point).ok_or_else(|| {
        bad(format!(
            "its CKA_EC_POINT ({} bytes) is neither 32 bytes nor a DER OCTET STRING of 32 bytes",
            point.len()
        ))
    })?;
    PublicKey::from_bytes(&bytes, &format!("the public key on token {token}"))
        .map_err(|e| bad(e.to_string()))
}

/// CKA_EC_POINT of an Edwards key: PKCS#11 3.0 says a DER OCTET STRING
/// (04 20 and 32 bytes), as SoftHSM2 and OpenSC write it; some modules
/// give the 32 bytes raw. The two lengths differ, so neither is mistaken
/// for the other.
pub fn ec_point(value: &[u8]) -> Option<[u8; 32]> {
    match value {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest.try_into().ok(),
        raw if raw.len() == 32 => raw.try_into().ok(),
        _ => None,
    }
}

/// A [`Signer`] whose private key is on a PKCS#11 token; holds the
/// logged-in session (closed when dropped).
pub struct TokenSigner {
    session: Session,
    key: ObjectHandle,
    public: PublicKey,
    token: String,
    // The module the session belongs to, kept while it is used.
    _module: Module,
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TokenSigner({}, {})",
            self.token,
            self.public.fingerprint()
        )
    }
}

impl TokenSigner {
    /// The token's label, for messages.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], TokenError> {
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let sig = self
            .session
            .sign(&mechanism, self.key, message)
            .map_err(|e| TokenError::Failed {
                token: self.token.clone(),
                op: "sign with CKM_EDDSA",
                reason: rv_text(&e),
            })?;
        <[u8; 64]>::try_from(sig.as_slice()).map_err(|_| TokenError::Failed {
            token: self.token.clone(),
            op: "sign with CKM_EDDSA",
            reason: format!(
                "it returned {} bytes, not an Ed25519 signature of 64",
                sig.len()
            ),
        })
    }
}

impl Signer for TokenSigner {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        self.sign(message).map_err(SignerError::new)
    }
}

/// The PKCS#11 return value's name (CKR_PIN_INCORRECT, ...), not the
/// paragraph cryptoki's Display gives.
fn rv_text(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, f) => format!("C_{f:?} returned {}", rv_name(*rv)),
        other => one_line(&other.to_string()),
    }
}

fn rv_name(rv: RvError) -> String {
    // cryptoki's Debug of RvError is the variant's name (PinIncorrect);
    // PKCS#11 spells it CKR_PIN_INCORRECT.
    let name = format!("{rv:?}");
    let mut out = String::from("CKR_");
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// At most 200 characters of `text`, without control characters: labels
/// and messages from a module are hostile input on their way to a terminal.
fn one_line(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_message_shows_a_pin_typed_in_the_wrong_place() {
        for uri in [
            "pkcs11:token=a;pin-value=1234;object=k",
            "pkcs11:token=a;object=k?pin-value:1234",
            "pkcs11:token=a;1234;object=k",
            "pkcs11:token=a;object=k?pin-value=1234",
            "pkcs11:token=a;object=k?pin=1234",
        ] {
            let e = Pkcs11Uri::parse(uri).expect_err(uri).to_string();
            assert!(!e.contains("1234"), "{uri}: {e}");
        }
        assert_eq!(
            shown("pkcs11:token=MOST;object=ledger-2017"),
            "pkcs11:token=MOST;object=ledger-2017"
        );
    }

    #[test]
    fn parses_the_issue_example_and_percent_encoding() {
        let u = Pkcs11Uri::parse("pkcs11:token=MOST;object=ledger-2017").unwrap();
        assert_eq!(u.token.as_deref(), Some("MOST"));
        assert_eq!(u.object.as_deref(), Some(&b"ledger-2017"[..]));
        let u = Pkcs11Uri::parse(
            "pkcs11:token=Ministry%20of%20Science;id=%01%02;type=private?pin-source=file:/run/pin&module-path=/usr/lib/x.so",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("Ministry of Science"));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(u.pin_source.as_deref(), Some(Path::new("/run/pin")));
        assert_eq!(u.module_path.as_deref(), Some(Path::new("/usr/lib/x.so")));
        let u = Pkcs11Uri::parse("PKCS11:object=a?pin-source=file:///p").unwrap();
        assert_eq!(u.pin_source.as_deref(), Some(Path::new("/p")));
    }

    #[test]
    fn refuses_what_it_cannot_honour() {
        for (uri, needle) in [
            ("pkcs11:token=MOST", "names no key"),
            (
                "pkcs11:token=MOST;object=a;x-vendor=1",
                "unknown path attribute",
            ),
            ("pkcs11:object=a;object=b", "given twice"),
            ("pkcs11:object=a%2", "two hex digits"),
            ("pkcs11:object=a%zz", "two hex digits"),
            ("pkcs11:object=a b", "percent-encoded"),
            ("pkcs11:object=a/b", "percent-encoded"),
            ("pkcs11:object=a?foo=1", "unknown query attribute"),
            ("pkcs11:object=a?pin-source=/etc/pin", "file:/absolute"),
            ("pkcs11:object=a?pin-source=|cat", "file:/absolute"),
            ("pkcs11:object=a?module-name=softhsm2", "module-name"),
            ("pkcs11:object=a;type=cert", "type=private"),
            ("pkcs11:object=a;slot-id=x", "decimal"),
            ("pkcs11:object=a;library-version=1", "not supported"),
            ("pkcs11:object", "name=value"),
            ("pkcs11:object=a#frag", "fragment"),
            ("file:object=a", "pkcs11:"),
            ("pkcs11:token=%C3;object=a", "not UTF-8"),
        ] {
            let e = Pkcs11Uri::parse(uri).unwrap_err().to_string();
            assert!(e.contains(needle), "{uri}: {e}");
        }
        let e = Pkcs11Uri::parse("pkcs11:object=a?pin-value=1234").unwrap_err();
        assert!(matches!(e, UriError::PinValue));
        assert!(!e.to_string().contains("1234"), "{e}");
        // Nor does any other error show a value it does not know.
        let e = Pkcs11Uri::parse("pkcs11:object=a?pin%2Dvalue=1234").unwrap_err();
        assert!(!e.to_string().contains("1234"), "{e}");
    }

    #[test]
    fn ec_point_raw_and_wrapped() {
        let k = [7u8; 32];
        let mut wrapped = vec![0x04, 0x20];
        wrapped.extend_from_slice(&k);
        assert_eq!(ec_point(&wrapped), Some(k));
        assert_eq!(ec_point(&k), Some(k));
        assert_eq!(ec_point(&wrapped[..33]), None);
        assert_eq!(ec_point(&[0x04, 0x21, 0]), None);
        let mut long = wrapped.clone();
        long.push(0);
        assert_eq!(ec_point(&long), None);
    }

    #[test]
    fn rv_names_are_pkcs11s() {
        assert_eq!(rv_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
    }
}
