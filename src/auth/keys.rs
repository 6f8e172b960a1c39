//! The keys file (`--auth-file`): who may call, as what, on which sheets.
//!
//! ```toml
//! [[principal]]
//! id = "alice-laptop"          # names the key in logs and audit; unique
//! subject = "alice"            # recorded as the actor of her writes
//! role = "writer"              # reader | writer | admin
//! key_sha256 = "9f86d08…"      # SHA-256 of the token, hex
//! certificate = "alice"        # or/and: her client certificate's Common Name (mutual TLS)
//! spread = true                # may write aggregate cells (admins always may)
//! expires = 2027-06-30T00:00:00Z
//! sheets = [{ name = "sheets/budget_*", access = "write" }, { name = "sheets/sales", access = "read" }]
//! ```
//!
//! Only digests are stored: a token is 32 random bytes, so a single SHA-256
//! is as strong as a password hash would be, and costs nothing per request.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a principal may do anywhere it has access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and watches.
    Reader,
    /// Also writes.
    Writer,
    /// Everything, on every sheet; may name another actor.
    Admin,
    /// An edge's own key: reads every sheet, and forwards callers' calls
    /// naming the principal it authenticated (which only an edge may).
    Edge,
}

/// Reading, or reading and writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// Access to the sheets whose names match a pattern (`*` matches any run
/// of characters, `?` one).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    pub name: String,
    pub access: Access,
}

/// One key and what it allows.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    pub id: String,
    pub subject: String,
    pub role: Role,
    /// SHA-256 of the token, hex.
    #[serde(default)]
    pub key_sha256: Option<String>,
    /// The Common Name of the principal's client certificate (mutual TLS).
    #[serde(default)]
    pub certificate: Option<String>,
    #[serde(default)]
    pub spread: bool,
    #[serde(default)]
    pub expires: Option<toml::value::Datetime>,
    /// `None`: every sheet, at the role's level.
    #[serde(default)]
    pub sheets: Option<Vec<Grant>>,
    #[serde(skip)]
    digest: Option<[u8; 32]>,
    #[serde(skip)]
    expires_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    principal: Vec<Principal>,
}

/// The principals of one reading of the keys file.
#[derive(Debug, Default)]
pub struct Keys {
    pub principals: Vec<std::sync::Arc<Principal>>,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Expired(String),
}

impl Keys {
    /// Reads and checks the file; every problem is listed.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading the keys file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|problems| {
            anyhow::anyhow!(
                "the keys file {} has {} problem(s):\n  {}",
                path.display(),
                problems.len(),
                problems.join("\n  ")
            )
        })
    }

    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let file: File = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut problems = Vec::new();
        let mut principals = Vec::new();
        for (i, mut p) in file.principal.into_iter().enumerate() {
            let at = format!("principal {} ({:?})", i + 1, p.id);
            if !plain_name(&p.id) {
                problems.push(format!("{at}: id must be 1-64 letters, digits or - _ . @"));
            }
            if p.subject.trim().is_empty() || p.subject.chars().count() > 128 {
                problems.push(format!("{at}: subject must be 1-128 characters"));
            }
            match (&p.key_sha256, &p.certificate) {
                (None, None) => problems.push(format!(
                    "{at}: needs key_sha256 (a token's digest) or certificate (a client \
                     certificate's Common Name), or both"
                )),
                (Some(hex), _) => match parse_digest(hex) {
                    Some(d) => p.digest = Some(d),
                    None => problems.push(format!(
                        "{at}: key_sha256 must be 64 hex digits (the SHA-256 of the token)"
                    )),
                },
                (None, Some(_)) => {}
            }
            if let Some(cn) = &p.certificate
                && (cn.trim().is_empty() || cn.chars().count() > 256)
            {
                problems.push(format!("{at}: certificate must be 1-256 characters"));
            }
            if let Some(expires) = &p.expires {
                match DateTime::parse_from_rfc3339(&expires.to_string()) {
                    Ok(t) => p.expires_at = Some(t.with_timezone(&Utc)),
                    Err(_) => problems.push(format!(
                        "{at}: expires must be a date and time with its offset, e.g. 2027-06-30T00:00:00Z"
                    )),
                }
            }
            if principals.iter().any(|q: &Principal| q.id == p.id) {
                problems.push(format!("{at}: the id is used twice"));
            }
            if p.digest.is_some() && principals.iter().any(|q: &Principal| q.digest == p.digest) {
                problems.push(format!("{at}: the same key is listed twice"));
            }
            if p.certificate.is_some()
                && principals
                    .iter()
                    .any(|q: &Principal| q.certificate == p.certificate)
            {
                problems.push(format!("{at}: the same certificate is listed twice"));
            }
            principals.push(p);
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            principals: principals.into_iter().map(std::sync::Arc::new).collect(),
        })
    }

    /// The principal whose key `token` is, if it is valid at `now`. Every
    /// digest is compared, in constant time.
    pub fn authenticate(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<&std::sync::Arc<Principal>, Refusal> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for p in &self.principals {
            if let Some(d) = &p.digest
                && bool::from(d.ct_eq(&digest))
            {
                found = Some(p);
            }
        }
        found.ok_or(Refusal::Unknown)?.valid(now)
    }

    /// The principal whose client certificate has Common Name `cn`.
    pub fn by_certificate(
        &self,
        cn: &str,
        now: DateTime<Utc>,
    ) -> Result<&std::sync::Arc<Principal>, Refusal> {
        self.principals
            .iter()
            .find(|p| p.certificate.as_deref() == Some(cn))
            .ok_or(Refusal::Unknown)?
            .valid(now)
    }

    /// The principal with id `id` (whom an edge names as its caller).
    pub fn by_id(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<&std::sync::Arc<Principal>, Refusal> {
        self.principals
            .iter()
            .find(|p| p.id == id)
            .ok_or(Refusal::Unknown)?
            .valid(now)
    }
}

trait Valid: Sized {
    fn valid(self, now: DateTime<Utc>) -> Result<Self, Refusal>;
}

impl Valid for &std::sync::Arc<Principal> {
    fn valid(self, now: DateTime<Utc>) -> Result<Self, Refusal> {
        match self.expires_at {
            Some(at) if at <= now => Err(Refusal::Expired(at.to_rfc3339())),
            _ => Ok(self),
        }
    }
}

impl Principal {
    /// The access this principal has to `sheet`, if any.
    pub fn access(&self, sheet: &str) -> Option<Access> {
        let cap = match self.role {
            Role::Admin => return Some(Access::Write),
            Role::Edge => return Some(Access::Read),
            Role::Reader => Access::Read,
            Role::Writer => Access::Write,
        };
        let granted = match &self.sheets {
            None => Some(Access::Write),
            Some(grants) => grants
                .iter()
                .filter(|g| matches(&g.name, sheet))
                .map(|g| g.access)
                .max(),
        };
        granted.map(|a| a.min(cap))
    }

    /// True when no sheet is out of this principal's reach.
    pub fn reads_every_sheet(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Edge) || self.sheets.is_none()
    }

    /// May write at all (with grants that allow it).
    pub fn writes(&self) -> bool {
        matches!(self.role, Role::Writer | Role::Admin)
    }

    /// The principal of a client certificate when there is no keys file:
    /// the handshake proved it, so it may do what anyone could without
    /// authentication, under its own name.
    pub fn certified(cn: &str) -> Self {
        Self {
            id: format!("cert:{}", cn.chars().take(60).collect::<String>()),
            subject: cn.to_owned(),
            role: Role::Writer,
            key_sha256: None,
            certificate: Some(cn.to_owned()),
            spread: true,
            expires: None,
            sheets: None,
            digest: None,
            expires_at: None,
        }
    }

    /// May write aggregate cells (a spread over many facts).
    pub fn may_spread(&self) -> bool {
        self.role == Role::Admin || self.spread
    }

    /// Still valid at `now`.
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_none_or(|at| at > now)
    }

    /// The same key as `other` (a reload may have changed what it allows).
    pub fn same_key(&self, other: &Principal) -> bool {
        self.id == other.id
            && self.certificate == other.certificate
            && match (&self.digest, &other.digest) {
                (Some(a), Some(b)) => bool::from(a.ct_eq(b)),
                (a, b) => a.is_none() && b.is_none(),
            }
    }
}

/// 1-64 letters, digits or `-_.@`: a key id (it goes into headers and
/// logs as it is), or a client name `certs new` makes files of.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
}

/// `*` matches any run of characters, `?` exactly one; the rest literally.
fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    // Iterative wildcard matching with one backtrack point (linear-ish).
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::issue::new_token;

    fn keys(extra: &str) -> (Keys, String) {
        let (token, digest) = new_token();
        let text = format!(
            "[[principal]]\nid = \"a\"\nsubject = \"alice\"\nrole = \"writer\"\nkey_sha256 = \"{digest}\"\n{extra}"
        );
        (Keys::parse(&text).unwrap(), token)
    }

    #[test]
    fn a_token_is_known_by_its_digest_only_until_it_expires() {
        let (k, token) = keys("expires = 2030-01-01T00:00:00Z\n");
        let now = Utc::now();
        assert_eq!(k.authenticate(&token, now).unwrap().subject, "alice");
        assert_eq!(
            k.authenticate("dg_nope", now).unwrap_err(),
            Refusal::Unknown
        );
        let later = DateTime::parse_from_rfc3339("2031-01-01T00:00:00Z").unwrap();
        assert!(matches!(
            k.authenticate(&token, later.with_timezone(&Utc)),
            Err(Refusal::Expired(_))
        ));
    }

    #[test]
    fn grants_match_globs_and_the_role_caps_them() {
        let (k, _) = keys(
            "sheets = [{ name = \"sheets/budget_*\", access = \"write\" }, { name = \"sheets/sales\", access = \"read\" }]\n",
        );
        let p = &k.principals[0];
        assert_eq!(p.access("sheets/budget_2027"), Some(Access::Write));
        assert_eq!(p.access("sheets/sales"), Some(Access::Read));
        assert_eq!(p.access("sheets/salesx"), None);
        assert!(!p.reads_every_sheet() && !p.may_spread());
        assert!(matches("a*b?d", "aXXbcd") && !matches("a*b?d", "aXXbd"));
        assert!(matches("*", "") && matches("**x", "yx") && !matches("x", "xy"));
    }

    #[test]
    fn a_principal_is_known_by_its_certificate_or_its_id_and_an_edge_only_reads() {
        let text = "[[principal]]\nid = \"carol\"\nsubject = \"carol\"\nrole = \"writer\"\ncertificate = \"carol\"\n\
                    [[principal]]\nid = \"e\"\nsubject = \"edge\"\nrole = \"edge\"\ncertificate = \"edge-1\"\n";
        let k = Keys::parse(text).unwrap();
        let now = Utc::now();
        assert_eq!(k.by_certificate("carol", now).unwrap().id, "carol");
        assert_eq!(
            k.by_certificate("mallory", now).unwrap_err(),
            Refusal::Unknown
        );
        let edge = k.by_id("e", now).unwrap();
        assert_eq!(edge.access("sheets/anything"), Some(Access::Read));
        assert!(edge.reads_every_sheet() && !edge.writes() && !edge.may_spread());
        assert_eq!(k.by_id("nobody", now).unwrap_err(), Refusal::Unknown);
        // Every way of being known ends with the key's expiry.
        let old = format!("{text}expires = 2001-01-01T00:00:00Z\n");
        let k2 = Keys::parse(&old).unwrap();
        assert!(matches!(k2.by_id("e", now), Err(Refusal::Expired(_))));
        assert!(matches!(
            k2.by_certificate("edge-1", now),
            Err(Refusal::Expired(_))
        ));
        // A certificate's principal has no token: none authenticates as it.
        assert_eq!(k.authenticate("", now).unwrap_err(), Refusal::Unknown);
        let neither = "[[principal]]\nid = \"x\"\nsubject = \"x\"\nrole = \"reader\"\n";
        let problems = Keys::parse(neither).unwrap_err();
        assert!(problems[0].contains("needs key_sha256"), "{problems:?}");
        let twice = format!(
            "{text}[[principal]]\nid = \"c2\"\nsubject = \"c\"\nrole = \"reader\"\ncertificate = \"carol\"\n"
        );
        let problems = Keys::parse(&twice).unwrap_err();
        assert!(
            problems.iter().any(|p| p.contains("same certificate")),
            "{problems:?}"
        );
    }

    #[test]
    fn every_problem_of_a_keys_file_is_listed() {
        let text = "[[principal]]\nid = \"bad id\"\nsubject = \"\"\nrole = \"writer\"\nkey_sha256 = \"zz\"\n\
                    [[principal]]\nid = \"bad id\"\nsubject = \"b\"\nrole = \"reader\"\nkey_sha256 = \"zz\"\n";
        let problems = Keys::parse(text).unwrap_err();
        assert!(problems.len() >= 5, "{problems:?}");
        assert!(Keys::parse("[[principal]]\nid = \"x\"\nrole = \"root\"\n").is_err());
    }
}
