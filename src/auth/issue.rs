//! `duckgrid keys new`: a new token, shown once, and the keys-file entry
//! that names it by its digest (or a principal known by its client
//! certificate, with no token at all).

use chrono::DateTime;
use rand::RngExt;
use sha2::{Digest, Sha256};

use super::keys::Keys;

/// A new token (`dg_` and 64 hex digits: 32 random bytes) and its digest.
pub fn new_token() -> (String, String) {
    let bytes: [u8; 32] = rand::rng().random();
    let token = format!("dg_{}", hex(&bytes));
    let digest = hex(&Sha256::digest(token.as_bytes()));
    (token, digest)
}

/// What `duckgrid keys new` prints: the token once, and the entry.
pub fn new_key_entry(args: &crate::config::NewKeyArgs) -> anyhow::Result<String> {
    // A certificate's principal has no token: the handshake proves it.
    let (token, digest) = match &args.certificate {
        None => {
            let (token, digest) = new_token();
            (Some(token), Some(digest))
        }
        Some(_) => (None, None),
    };
    let suffix = digest.as_deref().map_or("cert", |d| &d[..8]);
    let id = args
        .id
        .clone()
        .unwrap_or_else(|| format!("{}-{suffix}", slug(&args.subject)));
    let role = format!("{:?}", args.role).to_lowercase();
    let mut entry = format!(
        "[[principal]]\nid = {id:?}\nsubject = {:?}\nrole = \"{role}\"\n",
        args.subject
    );
    if let Some(digest) = &digest {
        entry.push_str(&format!("key_sha256 = \"{digest}\"\n"));
    }
    if let Some(cn) = &args.certificate {
        entry.push_str(&format!("certificate = {cn:?}\n"));
    }
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
    let how = match &token {
        Some(token) => format!(
            "# The token, shown this once (duckgrid keeps only its digest):\n#   {token}\n\
             # Callers send it as `authorization: Bearer {token}`.\n"
        ),
        None => "# Callers present a client certificate with this Common Name (--client-ca).\n"
            .to_owned(),
    };
    Ok(format!(
        "{how}# Add this to the keys file, then reload (SIGHUP) or restart:\n{entry}"
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
    use crate::auth::Role;
    use chrono::Utc;

    #[test]
    fn a_new_key_is_printed_once_with_its_entry_or_names_a_certificate() {
        let mut args = crate::config::NewKeyArgs {
            subject: "Alice Smith".into(),
            role: Role::Writer,
            id: None,
            spread: true,
            expires: None,
            certificate: None,
        };
        let text = new_key_entry(&args).unwrap();
        let token = text
            .lines()
            .find_map(|l| l.strip_prefix("#   "))
            .expect("the token line");
        let keys = Keys::parse(&text).unwrap();
        let p = keys.authenticate(token, Utc::now()).unwrap();
        assert!(p.id.starts_with("alice-smith-") && p.may_spread());
        assert!(
            !text
                .lines()
                .any(|l| !l.starts_with('#') && l.contains(token))
        );
        args.certificate = Some("alice".into());
        let text = new_key_entry(&args).unwrap();
        assert!(
            !text.contains("dg_") && !text.contains("key_sha256"),
            "{text}"
        );
        let keys = Keys::parse(&text).unwrap();
        assert_eq!(
            keys.by_certificate("alice", Utc::now()).unwrap().subject,
            "Alice Smith"
        );
    }
}
