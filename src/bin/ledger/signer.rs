//! What `--key` names: a private key file (as it always did), or a key an
//! ssh-agent holds: `ssh-agent:SHA256:…` (the fingerprint `ledger
//! fingerprint` and `ssh-add -l` print), or a public key file with
//! `--agent`. The agent's socket is `SSH_AUTH_SOCK`, read here and nowhere
//! in the library. A `pkcs11:` URI names a key on a token (`token.rs`).

use std::path::Path;

use ledger::base::agent::AgentSigner;
use ledger::base::crypto::{Fingerprint, KeyError, PublicKey, Signer};

use crate::cli::PassArgs;
use crate::error::Failure;

/// The prefix of a `--key` that names a key in the ssh-agent.
const AGENT_PREFIX: &str = "ssh-agent:";

/// The signer `--key` names (with `--agent`, a public key file whose
/// private key the agent holds). A key file is read as before, its
/// passphrase asked as before; [`PassArgs::check_used`] must follow.
pub(crate) fn open(key: &Path, agent: bool, pass: &PassArgs) -> Result<Box<dyn Signer>, Failure> {
    if let Some(uri) = crate::token::uri(key)? {
        return through_token(&uri, agent, pass);
    }
    pass.token.refuse_unused(key)?;
    let text = key.to_str().unwrap_or("");
    if let Some(rest) = text.strip_prefix(AGENT_PREFIX) {
        let wanted = Fingerprint::parse(rest).ok_or_else(|| {
            Failure::usage(format!(
                "--key {text:?}: expected ssh-agent:SHA256: and 43 Base64 characters (as `ledger fingerprint` or `ssh-add -l` prints)"
            ))
        })?;
        return through_agent(wanted, pass);
    }
    if agent {
        let public = PublicKey::from_file(key).map_err(|e| match e {
            KeyError::PrivateWherePublic { .. } => Failure::usage(format!(
                "--agent: {e}: with --agent, --key is the public key of a key the ssh-agent holds"
            )),
            e => Failure::from(e),
        })?;
        return through_agent(public.fingerprint(), pass);
    }
    match pass.load_one_of(key) {
        Err(Failure::Usage(m)) if is_public_key_file(key) => Err(Failure::usage(format!(
            "{m} (or, if an ssh-agent holds its private key, add --agent)"
        ))),
        other => Ok(Box::new(other?)),
    }
}

/// The public key a `--party`, `--add` or `ledger fingerprint` names: a
/// public key file, or a `pkcs11:` URI whose key is read from its token.
pub(crate) fn public_key(key: &Path, pass: &PassArgs) -> Result<PublicKey, Failure> {
    match crate::token::uri(key)? {
        Some(uri) => crate::token::public_key(&uri, &pass.token),
        None => Ok(PublicKey::from_file(key)?),
    }
}

fn through_token(
    uri: &ledger::base::pkcs11::Pkcs11Uri,
    agent: bool,
    pass: &PassArgs,
) -> Result<Box<dyn Signer>, Failure> {
    if agent {
        return Err(Failure::usage(format!(
            "--agent is for a key an ssh-agent holds, and {uri} is a token's; drop --agent"
        )));
    }
    if let Some(option) = pass.given() {
        return Err(Failure::usage(format!(
            "{option} is for an encrypted key file; a token's key needs its PIN (--pin-file, --pin-env, or asked): drop {option}"
        )));
    }
    crate::token::signer(uri, &pass.token)
}

fn is_public_key_file(key: &Path) -> bool {
    PublicKey::from_file(key).is_ok()
}

fn through_agent(wanted: Fingerprint, pass: &PassArgs) -> Result<Box<dyn Signer>, Failure> {
    pass.token
        .refuse_unused(Path::new(&format!("{AGENT_PREFIX}{wanted}")))?;
    if let Some(option) = pass.given() {
        return Err(Failure::usage(format!(
            "{option} is for an encrypted key file; an ssh-agent's key needs none: drop {option}"
        )));
    }
    let socket = std::env::var_os("SSH_AUTH_SOCK")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            Failure::usage(format!(
                "--key {AGENT_PREFIX}{wanted}: SSH_AUTH_SOCK is not set; start an agent (eval \"$(ssh-agent)\") and ssh-add the key"
            ))
        })?;
    let signer =
        AgentSigner::new(Path::new(&socket), wanted).map_err(|e| Failure::usage(e.to_string()))?;
    Ok(Box::new(signer))
}
