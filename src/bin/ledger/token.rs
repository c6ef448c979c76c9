//! `pkcs11:` keys (RFC 7512 URIs) for every option that takes a key:
//! which PKCS#11 module to load (the URI's `module-path`, else
//! `--pkcs11-module`, else `LEDGER_PKCS11_MODULE`) and where the PIN comes
//! from (`--pin-file`, `--pin-env`, the URI's `pin-source`, or else the
//! terminal, without echo). A PIN is never taken from the command line, is
//! held in a `SecretString` (zeroized when dropped) and never printed. The
//! token work itself is `ledger::base::pkcs11`'s.

use std::path::{Path, PathBuf};

use ledger::base::crypto::{read_secret_file, PublicKey, Signer};
use ledger::base::pkcs11::{Module, Pkcs11Uri, SecretString, TokenError};

use crate::cli::PassArgs;
use crate::error::Failure;
use crate::out::Out;

/// The environment variable naming the PKCS#11 module.
pub(crate) const MODULE_ENV: &str = "LEDGER_PKCS11_MODULE";

/// The options of a `pkcs11:` key, beside the passphrase options of key
/// files.
#[derive(clap::Args, Clone, Default)]
pub(crate) struct TokenArgs {
    /// The PKCS#11 module (a .so) for a pkcs11: key (default: $LEDGER_PKCS11_MODULE)
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) pkcs11_module: Option<PathBuf>,
    /// Read a token's PIN from the first line of FILE (which only its owner may read)
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "pin_env")]
    pub(crate) pin_file: Option<PathBuf>,
    /// Read a token's PIN from the environment variable VAR
    #[arg(long, global = true, value_name = "VAR")]
    pub(crate) pin_env: Option<String>,
}

impl TokenArgs {
    /// The option given that only a token's key uses, if any.
    pub(crate) fn given(&self) -> Option<&'static str> {
        if self.pin_file.is_some() {
            Some("--pin-file")
        } else if self.pin_env.is_some() {
            Some("--pin-env")
        } else if self.pkcs11_module.is_some() {
            Some("--pkcs11-module")
        } else {
            None
        }
    }

    /// Refuses a token option on a command whose keys are all files: it
    /// would be ignored, and the user meant something by it.
    pub(crate) fn refuse_unused(&self, key: &Path) -> Result<(), Failure> {
        match self.given() {
            Some(option) => Err(Failure::usage(format!(
                "{option} is for a PKCS#11 token's key (--key 'pkcs11:token=...;object=...'), and {} is a file; drop {option}",
                key.display()
            ))),
            None => Ok(()),
        }
    }
}

/// `text` as a PKCS#11 URI, if it is meant as one (its scheme is
/// `pkcs11:`); a malformed one is a usage error.
pub(crate) fn uri(text: &Path) -> Result<Option<Pkcs11Uri>, Failure> {
    let Some(text) = text.to_str().filter(|t| Pkcs11Uri::is_uri(t)) else {
        return Ok(None);
    };
    Pkcs11Uri::parse(text)
        .map(Some)
        .map_err(|e| Failure::usage(e.to_string()))
}

fn failure(e: TokenError) -> Failure {
    Failure::usage(e.to_string())
}

/// The module the URI is to be used with, loaded.
fn module(uri: &Pkcs11Uri, args: &TokenArgs) -> Result<Module, Failure> {
    let from_env = std::env::var_os(MODULE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let path = match (&uri.module_path, &args.pkcs11_module) {
        (Some(a), Some(b)) if a != b => {
            return Err(Failure::usage(format!(
                "the URI's module-path {} and --pkcs11-module {} differ; give one",
                a.display(),
                b.display()
            )))
        }
        (Some(a), _) => a.clone(),
        (None, Some(b)) => b.clone(),
        (None, None) => from_env.ok_or_else(|| {
            Failure::usage(format!(
                "{uri}: no PKCS#11 module given; use --pkcs11-module FILE or set {MODULE_ENV} (SoftHSM2's is /usr/lib/softhsm/libsofthsm2.so)"
            ))
        })?,
    };
    Module::open(&path).map_err(failure)
}

/// The PIN for the URI's token, from the one place it was given, or else
/// asked on the terminal.
fn pin(uri: &Pkcs11Uri, args: &TokenArgs) -> Result<SecretString, Failure> {
    let mut sources = Vec::new();
    if args.pin_file.is_some() {
        sources.push("--pin-file");
    }
    if args.pin_env.is_some() {
        sources.push("--pin-env");
    }
    if uri.pin_source.is_some() {
        sources.push("the URI's pin-source");
    }
    if sources.len() > 1 {
        return Err(Failure::usage(format!(
            "the PIN is given twice ({}); give it one way",
            sources.join(" and ")
        )));
    }
    let instead = "--pin-env VAR";
    let pin = if let Some(f) = args.pin_file.as_ref().or(uri.pin_source.as_ref()) {
        read_secret_file(f, "PIN file", instead)?
    } else if let Some(var) = &args.pin_env {
        zeroize::Zeroizing::new(
            std::env::var(var)
                .map_err(|_| Failure::usage(format!("--pin-env {var}: the variable is not set")))?,
        )
    } else {
        let prompt = format!("PIN for token {}: ", uri.token_name());
        zeroize::Zeroizing::new(rpassword::prompt_password(prompt).map_err(|e| {
            Failure::usage(format!(
                "no terminal to ask the PIN of token {} on ({e}); use --pin-file FILE, --pin-env VAR or pin-source=file:/path in the URI",
                uri.token_name()
            ))
        })?)
    };
    if pin.is_empty() {
        return Err(Failure::usage(format!(
            "the PIN for token {} is empty",
            uri.token_name()
        )));
    }
    Ok(SecretString::from(pin.as_str()))
}

/// The signer of the key the URI names, logged in to its token.
pub(crate) fn signer(uri: &Pkcs11Uri, args: &TokenArgs) -> Result<Box<dyn Signer>, Failure> {
    let module = module(uri, args)?;
    let pin = pin(uri, args)?;
    Ok(Box::new(module.signer(uri, &pin).map_err(failure)?))
}

/// The public key of the key the URI names, read from the token without
/// a PIN.
pub(crate) fn public_key(uri: &Pkcs11Uri, args: &TokenArgs) -> Result<PublicKey, Failure> {
    module(uri, args)?.public_key(uri, None).map_err(failure)
}

/// `ledger keygen --pkcs11 URI NAME`: an Ed25519 key pair made on the
/// token, and NAME.pub written.
pub(crate) fn keygen(out: &Out, uri: &str, name: &Path, pass: &PassArgs) -> Result<(), Failure> {
    let args = &pass.token;
    let uri = Pkcs11Uri::parse(uri).map_err(|e| Failure::usage(format!("--pkcs11: {e}")))?;
    if let Some(option) = pass.given() {
        return Err(Failure::usage(format!(
            "{option} is for a key file's passphrase; a token's key is protected by the token's PIN: drop {option}"
        )));
    }
    if uri.object.is_none() {
        return Err(Failure::usage(format!(
            "--pkcs11 {uri}: give object= (the new key's label), so that --key can name it"
        )));
    }
    let pub_path = {
        let mut s = name.as_os_str().to_owned();
        s.push(".pub");
        PathBuf::from(s)
    };
    // Refused before the token is touched: no key is made that no file
    // could name.
    if std::fs::symlink_metadata(&pub_path).is_ok() {
        return Err(Failure::usage(format!(
            "{} exists; choose another name (nothing was changed)",
            pub_path.display()
        )));
    }
    let module = module(&uri, args)?;
    let pin = pin(&uri, args)?;
    let public = module.generate(&uri, &pin).map_err(failure)?;
    let written = public.write_new(name)?;
    let fingerprint = public.fingerprint();
    if out.json {
        return out.print(format_args!(
            "{}",
            serde_json::json!({"token": uri.token_name(), "uri": uri.to_string(), "public_key": written, "fingerprint": fingerprint})
        ));
    }
    out.info(format_args!(
        "made an Ed25519 key pair on token {} (the private key is sensitive and never leaves the token)",
        uri.token_name()
    ))?;
    out.info(format_args!(
        "wrote public key  {} (fingerprint {fingerprint}; give it to the other parties and auditors, who compare it with `ledger fingerprint`)",
        written.display()
    ))
}
