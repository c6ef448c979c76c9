//! Signing through an ssh-agent: the private key stays in the agent
//! (`ssh-agent`, `gpg-agent`, 1Password, a hardware key behind an agent),
//! and the ledger only asks it to sign (draft-miller-ssh-agent §3.6).
//!
//! The agent is a program outside the ledger, and its answers are hostile
//! input: each request has its own connection with read and write
//! timeouts, answers are bounded (ssh-agent-client-rs refuses a message of
//! over 1 MiB and lists of over 1,024 keys), and the signature returned is
//! taken only if it is an `ssh-ed25519` signature of 64 bytes. Like every
//! [`Signer`], it is then verified strictly under the key's public key
//! before anything is written (FORMAT §5.2). An Ed25519 signature from an
//! agent is a plain RFC 8032 signature of the bytes sent, so the bytes
//! signed are exactly those a key file would sign.
//!
//! This module never reads `SSH_AUTH_SOCK`: the binary does, and names the
//! socket; and it never prints: its errors say what failed and what to do.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh_agent_client_rs::{Client, Error as ClientError, Identity};

use crate::base::crypto::{Fingerprint, PublicKey, Signer, SignerError};

/// How long the agent may take to list its keys.
const LIST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the agent may take to sign: long enough for a person to
/// confirm on a prompt (`ssh-add -c`) or touch a hardware key.
const SIGN_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the agent did not sign. Each message is one line naming the
/// socket and, where it helps, the key's fingerprint.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    #[error("cannot reach the ssh-agent at {}: {source}; start one (eval \"$(ssh-agent)\"), ssh-add the key, and check SSH_AUTH_SOCK", .socket.display())]
    Connect {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error("the ssh-agent at {} did not answer within {} s; check the agent (or confirm the request on its prompt)", .socket.display(), .timeout.as_secs())]
    Timeout { socket: PathBuf, timeout: Duration },
    #[error("the ssh-agent at {} failed: {reason}", .socket.display())]
    Protocol { socket: PathBuf, reason: String },
    #[error("the ssh-agent at {} holds no key {fingerprint}; add it with ssh-add, or check the fingerprint with `ledger fingerprint` or `ssh-add -l`", .socket.display())]
    NoSuchKey {
        socket: PathBuf,
        fingerprint: Fingerprint,
    },
    #[error("the ssh-agent at {} refused to sign with {fingerprint} (a confirmation declined or impossible, or a locked agent); nothing was written", .socket.display())]
    Refused {
        socket: PathBuf,
        fingerprint: Fingerprint,
    },
    #[error("the ssh-agent at {} answered with {found} for {fingerprint}, not an ssh-ed25519 signature of 64 bytes", .socket.display())]
    NotEd25519 {
        socket: PathBuf,
        fingerprint: Fingerprint,
        found: String,
    },
    #[error("{0}")]
    Key(#[from] crate::base::crypto::KeyError),
}

/// A [`Signer`] whose key an ssh-agent holds.
#[derive(Debug)]
pub struct AgentSigner {
    socket: PathBuf,
    identity: ssh_key::PublicKey,
    public: PublicKey,
}

impl AgentSigner {
    /// The agent at `socket`, signing with its `ssh-ed25519` key whose
    /// fingerprint is `wanted`; refuses if the agent has no such key.
    pub fn new(socket: &Path, wanted: Fingerprint) -> Result<Self, AgentError> {
        let mut client = connect(socket, LIST_TIMEOUT)?;
        let identities = client
            .list_all_identities()
            .map_err(|e| client_error(socket, LIST_TIMEOUT, wanted, e))?;
        for identity in identities {
            let Identity::PublicKey(key) = identity else {
                continue;
            };
            let Some(ed) = key.key_data().ed25519() else {
                continue;
            };
            if Fingerprint::of(&ed.0) != wanted {
                continue;
            }
            let public = PublicKey::from_bytes(&ed.0, &format!("the agent's key {wanted}"))?;
            return Ok(AgentSigner {
                socket: socket.to_owned(),
                identity: key.into_owned(),
                public,
            });
        }
        Err(AgentError::NoSuchKey {
            socket: socket.to_owned(),
            fingerprint: wanted,
        })
    }

    fn sign(&self, message: &[u8]) -> Result<[u8; 64], AgentError> {
        let fingerprint = self.public.fingerprint();
        let mut client = connect(&self.socket, SIGN_TIMEOUT)?;
        let sig = client
            .sign(&self.identity, message)
            .map_err(|e| client_error(&self.socket, SIGN_TIMEOUT, fingerprint, e))?;
        let not_ed = |found: String| AgentError::NotEd25519 {
            socket: self.socket.clone(),
            fingerprint,
            found,
        };
        if sig.algorithm() != ssh_key::Algorithm::Ed25519 {
            return Err(not_ed(format!("a {} signature", sig.algorithm())));
        }
        <[u8; 64]>::try_from(sig.as_bytes())
            .map_err(|_| not_ed(format!("a signature of {} bytes", sig.as_bytes().len())))
    }
}

impl Signer for AgentSigner {
    fn public_key(&self) -> PublicKey {
        self.public
    }

    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        self.sign(message).map_err(SignerError::new)
    }
}

/// A new connection whose reads and writes give up after `timeout`.
fn connect(socket: &Path, timeout: Duration) -> Result<Client, AgentError> {
    let fail = |source| AgentError::Connect {
        socket: socket.to_owned(),
        source,
    };
    let stream = UnixStream::connect(socket).map_err(fail)?;
    stream.set_read_timeout(Some(timeout)).map_err(fail)?;
    stream.set_write_timeout(Some(timeout)).map_err(fail)?;
    Ok(Client::with_read_write(Box::new(stream)))
}

fn client_error(
    socket: &Path,
    timeout: Duration,
    fingerprint: Fingerprint,
    e: ClientError,
) -> AgentError {
    let socket = socket.to_owned();
    match e {
        ClientError::RemoteFailure => AgentError::Refused {
            socket,
            fingerprint,
        },
        ClientError::AgentCommunicationError(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            AgentError::Timeout { socket, timeout }
        }
        ClientError::AgentCommunicationError(io) => AgentError::Protocol {
            socket,
            reason: format!("the connection broke ({io})"),
        },
        // The crate's other errors are about the agent's answer; the
        // messages are the crate's, without the agent's bytes.
        other => AgentError::Protocol {
            socket,
            reason: format!(
                "its answer is not one ledger can use ({})",
                one_line(&other.to_string())
            ),
        },
    }
}

/// At most 200 characters of `text`, without control characters: an
/// error of the client crate may quote what the agent sent.
fn one_line(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}
