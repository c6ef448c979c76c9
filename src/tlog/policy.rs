//! C2SP tlog-policy files (docs/FORMAT.md §18): the logs a client accepts,
//! the witnesses it knows (with the URL of each one's submission prefix),
//! and the quorum, possibly through nested groups.
//!
//! This module owns the strict parse of the file. What it must never do is
//! guess: an unknown line kind, a name used before it is defined or
//! defined twice, a duplicate key, a threshold out of range, a control
//! character, a missing or second `quorum` line are each refused with the
//! line number, never skipped. What the quorum means is
//! [`WitnessPolicy`]'s; this module only builds one.

use crate::tlog::note::{
    parse_decimal, NoteError, NoteVerifier, PolicyGroup, PolicyMember, VerifierKind, WitnessPolicy,
};

/// The largest policy file read.
pub const MAX_POLICY_BYTES: usize = 64 << 10;
/// At most this many logs, witnesses and groups each (tlog-policy asks
/// implementations to support at least 32).
pub const MAX_ENTRIES: usize = 256;

/// Why a policy file was refused: `line` is 1-based (0: the whole file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy line {line}: {reason}")]
pub struct PolicyError {
    pub line: usize,
    pub reason: String,
}

/// A log of the policy: its key (Ed25519, named by its origin) and URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    pub verifier: NoteVerifier,
    pub url: Option<String>,
}

/// A witness of the policy: its name in the policy (which need not be its
/// key's name), its `cosignature/v1` key, and its submission prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    pub name: String,
    pub verifier: NoteVerifier,
    pub url: Option<String>,
}

/// A parsed policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    quorum: WitnessPolicy,
}

impl Policy {
    pub fn logs(&self) -> &[PolicyLog] {
        &self.logs
    }

    /// The witnesses, in file order; index `i` is
    /// `self.witness_policy().witnesses()[i]`.
    pub fn witnesses(&self) -> &[PolicyWitness] {
        &self.witnesses
    }

    /// The quorum rule, as checked on a cosigned checkpoint.
    pub fn witness_policy(&self) -> &WitnessPolicy {
        &self.quorum
    }

    /// Parses a policy file (tlog-policy, "Policy file syntax and
    /// structure"). Names are compared as exact bytes; the file must be
    /// UTF-8 (vkeys are, and a note's key names must be), a limit of this
    /// implementation on the spec's opaque high-bit octets.
    pub fn parse(bytes: &[u8]) -> Result<Policy, PolicyError> {
        let whole = |reason: String| PolicyError { line: 0, reason };
        if bytes.len() > MAX_POLICY_BYTES {
            return Err(whole(format!(
                "expected at most {MAX_POLICY_BYTES} bytes; found {}",
                bytes.len()
            )));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| {
            whole(format!(
                "expected UTF-8; found an invalid byte at offset {}",
                e.valid_up_to()
            ))
        })?;
        if let Some((i, b)) = bytes
            .iter()
            .enumerate()
            .find(|(_, &b)| b < 0x20 && b != b'\t' && b != b'\n' || b == 0x7f)
        {
            let line = bytes[..i].iter().filter(|&&c| c == b'\n').count() + 1;
            return Err(PolicyError {
                line,
                reason: format!("control character 0x{b:02x}; only tab and newline are allowed"),
            });
        }
        let body = match text.strip_suffix('\n') {
            Some(b) => b,
            None if text.is_empty() => "",
            None => {
                return Err(PolicyError {
                    line: text.split('\n').count(),
                    reason: "the last line does not end in a newline".into(),
                })
            }
        };
        let mut b = Builder::default();
        for (i, line) in body.split('\n').enumerate() {
            b.line(line).map_err(|reason| PolicyError {
                line: i + 1,
                reason,
            })?;
        }
        let (quorum, rule) = b
            .quorum
            .ok_or_else(|| whole("expected one \"quorum <name>\" line; found none".into()))?;
        let verifiers = b.witnesses.iter().map(|w| w.verifier.clone()).collect();
        let quorum = WitnessPolicy::with_groups(verifiers, b.groups, quorum, rule)
            .map_err(|e| whole(e.to_string()))?;
        Ok(Policy {
            logs: b.logs,
            witnesses: b.witnesses,
            quorum,
        })
    }
}

#[derive(Default)]
struct Builder {
    logs: Vec<PolicyLog>,
    witnesses: Vec<PolicyWitness>,
    groups: Vec<PolicyGroup>,
    quorum: Option<(Option<PolicyMember>, String)>,
}

fn vkey(text: &str, kind: VerifierKind, what: &str) -> Result<NoteVerifier, String> {
    let v = NoteVerifier::parse(text).map_err(|e: NoteError| e.to_string())?;
    if v.kind() != kind {
        return Err(format!(
            "a {what} key must be a {kind} key; {} is a {} key",
            v.name(),
            v.kind()
        ));
    }
    Ok(v)
}

impl Builder {
    fn lookup(&self, name: &str) -> Option<PolicyMember> {
        if let Some(i) = self.witnesses.iter().position(|w| w.name == name) {
            return Some(PolicyMember::Witness(i));
        }
        self.groups
            .iter()
            .position(|g| g.name == name)
            .map(PolicyMember::Group)
    }

    /// A new name: not `none`, not already a witness's or group's.
    fn define(&self, name: &str) -> Result<(), String> {
        if name == "none" {
            return Err("\"none\" is predefined and cannot be defined".into());
        }
        if self.lookup(name).is_some() {
            return Err(format!("{name:?} is already defined"));
        }
        Ok(())
    }

    fn line(&mut self, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
        let Some((&kind, args)) = words.split_first() else {
            return Ok(());
        };
        if kind.starts_with('#') {
            return Ok(());
        }
        match (kind, args) {
            ("log", [key, rest @ ..]) if rest.len() <= 1 => {
                if self.logs.len() == MAX_ENTRIES {
                    return Err(format!("more than {MAX_ENTRIES} logs"));
                }
                let verifier = vkey(key, VerifierKind::Ed25519, "log")?;
                if self.logs.iter().any(|l| l.verifier.key() == verifier.key()) {
                    return Err("this log's public key is already listed".into());
                }
                self.logs.push(PolicyLog {
                    verifier,
                    url: rest.first().map(|u| u.to_string()),
                });
            }
            ("witness", [name, key, rest @ ..]) if rest.len() <= 1 => {
                if self.witnesses.len() == MAX_ENTRIES {
                    return Err(format!("more than {MAX_ENTRIES} witnesses"));
                }
                self.define(name)?;
                let verifier = vkey(key, VerifierKind::CosignatureV1, "witness")?;
                if self
                    .witnesses
                    .iter()
                    .any(|w| w.verifier.key() == verifier.key())
                {
                    return Err(format!(
                        "witness {name}: its public key is already another witness's"
                    ));
                }
                self.witnesses.push(PolicyWitness {
                    name: name.to_string(),
                    verifier,
                    url: rest.first().map(|u| u.to_string()),
                });
            }
            ("group", [name, k, members @ ..]) if !members.is_empty() => {
                if self.groups.len() == MAX_ENTRIES {
                    return Err(format!("more than {MAX_ENTRIES} groups"));
                }
                self.define(name)?;
                let n = members.len();
                let threshold = match *k {
                    "all" => n,
                    "any" => 1,
                    k => parse_decimal(k)
                        .and_then(|k| usize::try_from(k).ok())
                        .filter(|&k| (1..=n).contains(&k))
                        .ok_or_else(|| {
                            format!(
                                "expected all, any or a decimal k with 1 <= k <= {n}; found {k:?}"
                            )
                        })?,
                };
                let mut list = Vec::with_capacity(n);
                for m in members {
                    if *m == "none" {
                        return Err("\"none\" cannot be a group member".into());
                    }
                    let member = self
                        .lookup(m)
                        .ok_or_else(|| format!("{m:?} is not defined on a line before"))?;
                    if list.contains(&member) {
                        return Err(format!("{m:?} is listed twice"));
                    }
                    list.push(member);
                }
                self.groups.push(PolicyGroup {
                    name: name.to_string(),
                    threshold,
                    members: list,
                });
            }
            ("quorum", [name]) => {
                if self.quorum.is_some() {
                    return Err("a second quorum line; expected exactly one".into());
                }
                let member = match *name {
                    "none" => None,
                    n => Some(
                        self.lookup(n)
                            .ok_or_else(|| format!("{n:?} is not defined on a line before"))?,
                    ),
                };
                self.quorum = Some((member, name.to_string()));
            }
            ("log" | "witness" | "group" | "quorum", _) => {
                return Err(format!(
                    "wrong number of fields for a {kind} line; expected {}",
                    match kind {
                        "log" => "log <vkey> [<url>]",
                        "witness" => "witness <name> <vkey> [<url>]",
                        "group" => "group <name> all|any|<k> <name>...",
                        _ => "quorum <name>",
                    }
                ))
            }
            (other, _) => {
                return Err(format!(
                    "unknown line kind {:?}; expected log, witness, group, quorum or a # comment",
                    other.chars().take(40).collect::<String>()
                ))
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::crypto::SigningKey;

    fn wkey(name: &str, _n: u8) -> String {
        let k = SigningKey::generate();
        NoteVerifier::new(name, VerifierKind::CosignatureV1, k.public())
            .unwrap()
            .to_string()
    }

    fn policy(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text.as_bytes())
    }

    #[test]
    fn the_spec_example_nests_groups() {
        let mut t = String::from("# example\n\n");
        for (i, n) in ["X1", "X2", "X3", "Y1", "Y2", "Y3"].iter().enumerate() {
            t += &format!(
                "witness {n} {} http://127.0.0.1:1/{n}\n",
                wkey(n, i as u8 + 1)
            );
            if *n == "X3" {
                t += "group X-witnesses 2 X1 X2 X3\n";
            }
        }
        t += "  group\tY-witnesses any Y1 Y2 Y3  \ngroup X-and-Y all X-witnesses Y-witnesses\nquorum X-and-Y\n";
        let p = policy(&t).unwrap();
        let wp = p.witness_policy();
        assert_eq!(p.witnesses().len(), 6);
        assert_eq!(wp.minimum(), 3);
        let f = |s: &[usize]| {
            let mut v = vec![false; 6];
            for &i in s {
                v[i] = true;
            }
            wp.satisfied(&v)
        };
        assert!(f(&[0, 1, 3]));
        assert!(f(&[0, 2, 5]));
        assert!(!f(&[0, 3, 4, 5]));
        assert!(!f(&[0, 1, 2]));
    }

    #[test]
    fn refusals_name_the_line() {
        let w1 = wkey("w1", 1);
        let w2 = wkey("w2", 2);
        let cases = [
            (format!("witness a {w1}\nquorum b\n"), 2),
            (format!("witness a {w1}\nwitness b {w1}\nquorum a\n"), 2),
            (format!("witness a {w1}\nwitness a {w2}\nquorum a\n"), 2),
            (format!("witness none {w1}\nquorum none\n"), 1),
            (format!("witness a {w1}\ngroup g 2 a\nquorum g\n"), 2),
            (format!("witness a {w1}\ngroup g 0 a\nquorum g\n"), 2),
            (format!("witness a {w1}\ngroup g 01 a\nquorum g\n"), 2),
            (format!("witness a {w1}\ngroup g any a a\nquorum g\n"), 2),
            (format!("witness a {w1}\ngroup g any none\nquorum g\n"), 2),
            (format!("witness a {w1}\nquorum a\nquorum a\n"), 3),
            (format!("witness a {w1}\nmonitor a\nquorum a\n"), 2),
            (format!("witness a {w1} u extra\nquorum a\n"), 1),
            (format!("witness a {w1}\r\nquorum a\n"), 1),
            (format!("witness a {w1}\nquorum a"), 2),
            (format!("log {w1}\nquorum none\n"), 1),
            (format!("witness a {w1}\n"), 0),
        ];
        for (text, line) in cases {
            let e = policy(&text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
        }
        let p = policy("quorum none\n").unwrap();
        assert!(p.witness_policy().satisfied(&[]));
    }
}
