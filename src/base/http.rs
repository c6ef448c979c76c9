//! The one HTTP client of the commands that reach the network: `monitor`
//! (a published directory), `checkpoint --policy` (the witnesses) and
//! `timestamp --tsa` (the TSAs). It owns the client's configuration, made
//! in [`Client::new`] and nowhere else: one timeout on each whole exchange
//! (connect, TLS handshake, request, answer), no redirect followed (a 3xx
//! is handed back as an answer, for the caller to report), answer headers
//! capped at [`MAX_HEADER_BYTES`], a body read under the caller's cap
//! ([`Client::body`]); and TLS for `https://` URLs: rustls on ring, TLS 1.2
//! and 1.3 only (rustls has nothing older), the server's chain and its
//! host name (or IP address) always verified: there is no switch that
//! turns that off.
//!
//! The roots are the system's ([`Roots::system`]: rustls-platform-verifier,
//! which on Linux reads the store OpenSSL uses, `/etc/ssl/certs`, or the
//! file and directory `SSL_CERT_FILE` and `SSL_CERT_DIR` name), or instead
//! exactly the certificates of one PEM bundle ([`Roots::from_pem`], the
//! binary's `--tls-ca`), for a private CA. No list of roots is built in.
//!
//! It also owns what a failed exchange was ([`HttpError`]: a URL of
//! another scheme, a timeout, an answer too large, a TLS failure, another
//! transport failure). It knows nothing of logs: the callers read the
//! statuses, headers and bodies.

use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};

/// The most a CA bundle may hold (the whole Mozilla list is about 220 KB).
pub const MAX_CA_BUNDLE_BYTES: u64 = 1 << 20;
/// The most an answer's status line and headers may take.
pub const MAX_HEADER_BYTES: usize = 16 << 10;

/// An answer: its status, headers and a body to read with [`Client::body`].
pub type Response = ureq::http::Response<ureq::Body>;

/// The CA certificates a TLS server's chain must end at.
#[derive(Clone, Debug, Default)]
pub struct Roots(Option<Arc<Vec<Certificate<'static>>>>);

/// Why a CA bundle was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    #[error("is not a PEM file: {reason}")]
    Pem { reason: String },
    #[error("holds no certificate (no -----BEGIN CERTIFICATE----- block)")]
    Empty,
    #[error("holds a private key: give the CA's certificates only, and keep the key elsewhere")]
    PrivateKey,
    #[error("certificate {index} (of the PEM blocks, from 1) cannot be a trust anchor: {reason}")]
    Certificate { index: usize, reason: String },
}

impl Roots {
    /// The system's store (the default).
    pub fn system() -> Roots {
        Roots(None)
    }

    /// Exactly the certificates of `pem` (one or more `CERTIFICATE` blocks,
    /// text between them ignored), each parsed as a trust anchor now, so
    /// that a bad bundle is refused before anything is sent.
    pub fn from_pem(pem: &[u8]) -> Result<Roots, CaError> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            match item.map_err(|e| CaError::Pem {
                reason: e.to_string(),
            })? {
                PemItem::Certificate(c) => certs.push(c.to_owned()),
                PemItem::PrivateKey(_) => return Err(CaError::PrivateKey),
                // Anything else (a CRL, parameters) is not ours to use.
                _ => {}
            }
        }
        if certs.is_empty() {
            return Err(CaError::Empty);
        }
        let mut store = rustls::RootCertStore::empty();
        for (i, c) in certs.iter().enumerate() {
            store
                .add(rustls::pki_types::CertificateDer::from(c.der()))
                .map_err(|e| CaError::Certificate {
                    index: i + 1,
                    reason: e.to_string(),
                })?;
        }
        Ok(Roots(Some(Arc::new(certs))))
    }

    /// How many certificates a bundle holds; `None` for the system's store.
    pub fn bundle_len(&self) -> Option<usize> {
        self.0.as_ref().map(|c| c.len())
    }
}

/// Why an exchange failed. Nothing here says anything about what was
/// being fetched: the caller names it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    #[error("not an http:// or https:// URL")]
    Scheme,
    #[error("no complete answer within {secs} s (timeout)")]
    Timeout { secs: u64 },
    #[error("answered more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("TLS: {reason}")]
    Tls { reason: String },
    #[error("{reason}")]
    Transport { reason: String },
}

/// The client: one agent (its connections are reused), its timeout, and
/// whether its roots are a bundle (for messages).
pub struct Client {
    agent: ureq::Agent,
    timeout: Duration,
    bundle: bool,
}

impl Client {
    /// A client whose every exchange ends within `timeout`, trusting
    /// `roots` for https://, sending `User-Agent: PRODUCT/VERSION`.
    pub fn new(roots: &Roots, timeout: Duration, product: &str) -> Client {
        let root_certs = match &roots.0 {
            None => RootCerts::PlatformVerifier,
            Some(c) => RootCerts::Specific(Arc::clone(c)),
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .root_certs(root_certs)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .build();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .max_response_header_size(MAX_HEADER_BYTES)
            .user_agent(format!("{product}/{}", env!("CARGO_PKG_VERSION")))
            .tls_config(tls)
            .build()
            .into();
        Client {
            agent,
            timeout,
            bundle: roots.0.is_some(),
        }
    }

    /// The timeout of each exchange.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET url`: the answer, whatever its status.
    pub fn get(&self, url: &str) -> Result<Response, HttpError> {
        check_scheme(url)?;
        self.agent.get(url).call().map_err(|e| self.error(e, 0))
    }

    /// `POST url` with `body` and `headers`: the answer, whatever its
    /// status.
    pub fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        check_scheme(url)?;
        let mut req = self.agent.post(url);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        req.send(body).map_err(|e| self.error(e, 0))
    }

    /// The answer's body, at most `limit` bytes (more is refused, not
    /// cut), within the exchange's timeout.
    pub fn body(&self, resp: &mut Response, limit: u64) -> Result<Vec<u8>, HttpError> {
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| self.error(e, limit))
    }

    fn error(&self, e: ureq::Error, limit: u64) -> HttpError {
        let tls = |r: &rustls::Error| HttpError::Tls {
            reason: tls_reason(r, self.bundle),
        };
        match e {
            ureq::Error::Timeout(_) => HttpError::Timeout {
                secs: self.timeout.as_secs(),
            },
            ureq::Error::BodyExceedsLimit(_) => HttpError::TooLarge { limit },
            ureq::Error::Rustls(r) => tls(&r),
            ureq::Error::Tls(s) => HttpError::Tls { reason: s.into() },
            ureq::Error::Io(io) => {
                match io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
                    Some(r) => tls(r),
                    None => HttpError::Transport {
                        reason: format!("io: {io}"),
                    },
                }
            }
            e => HttpError::Transport {
                reason: e.to_string(),
            },
        }
    }
}

/// The target of a redirect, as `" to URL"` (escaped), or `""`.
pub fn redirect_target(resp: &Response) -> String {
    resp.headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .map(|l| format!(" to {}", l.escape_debug()))
        .unwrap_or_default()
}

/// Whether `url` is one this client fetches: `http://` or `https://`.
pub fn is_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

fn check_scheme(url: &str) -> Result<(), HttpError> {
    if is_url(url) {
        Ok(())
    } else {
        Err(HttpError::Scheme)
    }
}

/// rustls's words, with what to do about the usual case: a server whose
/// certificate is not issued by a trusted CA.
fn tls_reason(r: &rustls::Error, bundle: bool) -> String {
    use rustls::{CertificateError, Error};
    match r {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) if bundle => format!(
            "{r}: the server's certificate does not chain to any certificate of the --tls-ca bundle"
        ),
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "{r}: the server's certificate does not chain to a CA of the system's store; for a private CA, give its certificate with --tls-ca FILE.pem"
        ),
        r => r.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_bundles_are_checked_before_use() {
        let sample = include_bytes!("../../keys/sample-tsa-ca.pem");
        assert_eq!(Roots::from_pem(sample).unwrap().bundle_len(), Some(1));
        let two = [&sample[..], b"a comment between\n", &sample[..]].concat();
        assert_eq!(Roots::from_pem(&two).unwrap().bundle_len(), Some(2));
        assert_eq!(Roots::system().bundle_len(), None);
        assert!(matches!(Roots::from_pem(b"hello\n"), Err(CaError::Empty)));
        let junk = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            Roots::from_pem(junk),
            Err(CaError::Certificate { index: 1, .. })
        ));
        let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            Roots::from_pem(&[&sample[..], key].concat()),
            Err(CaError::PrivateKey)
        ));
    }

    #[test]
    fn only_http_and_https_urls_are_fetched() {
        let c = Client::new(&Roots::system(), Duration::from_secs(1), "test");
        for url in ["ftp://x/", "file:///etc/passwd", "HTTP://x/", "x"] {
            assert!(matches!(c.get(url), Err(HttpError::Scheme)), "{url}");
            assert!(matches!(c.post(url, &[], b""), Err(HttpError::Scheme)));
        }
    }
}
