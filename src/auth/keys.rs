//! The keys file (`--auth-file`): who may call, as what, on which sheets.
//!
//! ```toml
//! [[principal]]
//! id = "alice-laptop"          # names the key in logs and audit; unique
//! subject = "alice"            # recorded as the actor of her writes
//! role = "writer"              # reader | writer | admin
//! key_sha256 = "9f86d08…"      # SHA-256 of the token, hex
//! spread = true                # may write aggregate cells (admins always may)
//! expires = 2027-06-30T00:00:00Z
//! sheets = [{ name = "sheets/budget_*", access = "write" }, { name = "sheets/sales", access = "read" }]
//! ```
//!
//! Only digests are stored: a token is 32 random bytes, so a single SHA-256
//! is as strong as a password hash would be, and costs nothing per request.

use std::path::Path;

use chrono::{DateTime, Utc};
use rand::RngExt;
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
    pub key_sha256: String,
    #[serde(default)]
    pub spread: bool,
    #[serde(default)]
    pub expires: Option<toml::value::Datetime>,
    /// `None`: every sheet, at the role's level.
    #[serde(default)]
    pub sheets: Option<Vec<Grant>>,
    #[serde(skip)]
    digest: [u8; 32],
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
            if p.id.is_empty()
                || p.id.len() > 64
                || !p
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
            {
                problems.push(format!("{at}: id must be 1-64 letters, digits or - _ . @"));
            }
            if p.subject.trim().is_empty() || p.subject.chars().count() > 128 {
                problems.push(format!("{at}: subject must be 1-128 characters"));
            }
            match parse_digest(&p.key_sha256) {
                Some(d) => p.digest = d,
                None => problems.push(format!(
                    "{at}: key_sha256 must be 64 hex digits (the SHA-256 of the token)"
                )),
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
            if principals.iter().any(|q: &Principal| q.digest == p.digest) {
                problems.push(format!("{at}: the same key is listed twice"));
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
            if bool::from(p.digest.ct_eq(&digest)) {
                found = Some(p);
            }
        }
        let p = found.ok_or(Refusal::Unknown)?;
        match p.expires_at {
            Some(at) if at <= now => Err(Refusal::Expired(at.to_rfc3339())),
            _ => Ok(p),
        }
    }
}

impl Principal {
    /// The access this principal has to `sheet`, if any.
    pub fn access(&self, sheet: &str) -> Option<Access> {
        let cap = if self.role == Role::Reader {
            Access::Read
        } else {
            Access::Write
        };
        if self.role == Role::Admin {
            return Some(Access::Write);
        }
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
        self.role == Role::Admin || self.sheets.is_none()
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
        self.id == other.id && bool::from(self.digest.ct_eq(&other.digest))
    }
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

/// A new token (`dg_` and 64 hex digits: 32 random bytes) and its digest.
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::rng().random();
    let token = format!("dg_{}", hex(&bytes));
    let digest = hex(&Sha256::digest(token.as_bytes()));
    (token, digest)
}

/// What `duckgrid keys new` prints: the token once, and the entry.
pub fn new_key_entry(args: &crate::config::NewKeyArgs) -> anyhow::Result<String> {
    let (token, digest) = new_token();
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("{}-{}", slug(&args.subject), &digest[..8]));
    let role = format!("{:?}", args.role).to_lowercase();
    let mut entry = format!(
        "[[principal]]\nid = {id:?}\nsubject = {:?}\nrole = \"{role}\"\nkey_sha256 = \"{digest}\"\n",
        args.subject
    );
    if args.spread {
        entry.push_str("spread = true\n");
    }
    if let Some(expires) = &args.expires {
        DateTime::parse_from_rfc3339(expires).map_err(|e| {
            anyhow::anyhow!("--expires {expires:?}: {e} (e.g. 2027-06-30T00:00:00Z)")
        })?;
        entry.push_str(&format!("expires = {expires}\n"));
    }
    // The entry must read back as it is meant.
    Keys::parse(&entry).map_err(|p| anyhow::anyhow!("{}", p.join("; ")))?;
    Ok(format!(
        "# The token, shown this once (duckgrid keeps only its digest):\n#   {token}\n\
         # Callers send it as `authorization: Bearer {token}`.\n\
         # Add this to the keys file, then reload (SIGHUP) or restart:\n{entry}"
    ))
}

/// A subject as an id's stem: letters and digits, the rest `-`.
fn slug(subject: &str) -> String {
    let s: String = subject
        .chars()
        .take(40)
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() { "key".into() } else { s }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn every_problem_of_a_keys_file_is_listed() {
        let text = "[[principal]]\nid = \"bad id\"\nsubject = \"\"\nrole = \"writer\"\nkey_sha256 = \"zz\"\n\
                    [[principal]]\nid = \"bad id\"\nsubject = \"b\"\nrole = \"reader\"\nkey_sha256 = \"zz\"\n";
        let problems = Keys::parse(text).unwrap_err();
        assert!(problems.len() >= 5, "{problems:?}");
        assert!(Keys::parse("[[principal]]\nid = \"x\"\nrole = \"root\"\n").is_err());
    }
}
