//! Who may do what: bearer tokens from a keys file, roles, sheet grants,
//! and the separate right to write aggregate cells.
//!
//! [`layer`] authenticates every call (`authorization: Bearer <token>`)
//! against the keys ([`keys`]) and checks the role the RPC needs (one
//! table, [`crate::rpc`]); the handlers then check the sheets of every
//! cell, hold and watch selection through the [`Caller`] the layer put in
//! the request. A caller is known by its bearer token, or by the Common
//! Name of its client certificate (mutual TLS, [`crate::tls`]); an edge's
//! key may name the caller it authenticated ([`Caller::Forwarded`]).
//! Without `--auth-file` (and without `--client-ca`) every caller is
//! [`Caller::Open`] and the server binds loopback only (unless
//! `--insecure-no-auth`).

pub mod issue;
pub mod keys;
pub mod layer;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use chrono::Utc;
use tokio::sync::watch;

use crate::error::{Error, Result};
pub use keys::{Access, Keys, Principal, Role};

/// The keys in force, reloadable (SIGHUP).
pub struct Auth {
    /// `None`: no keys file, only client certificates (each one a writer
    /// under its own name: [`Principal::certified`]).
    path: Option<PathBuf>,
    keys: RwLock<Arc<Keys>>,
    /// Bumped by every reload: open watches re-check their principal.
    generation: watch::Sender<u64>,
}

impl Auth {
    pub fn load(path: PathBuf) -> anyhow::Result<Arc<Self>> {
        let keys = Keys::read(&path)?;
        tracing::info!(principals = keys.principals.len(), file = %path.display(), "keys loaded");
        Ok(Arc::new(Self {
            path: Some(path),
            keys: RwLock::new(Arc::new(keys)),
            generation: watch::channel(0).0,
        }))
    }

    /// Mutual TLS without a keys file: a client certificate is the only
    /// credential.
    pub fn certificates_only() -> Arc<Self> {
        Arc::new(Self {
            path: None,
            keys: RwLock::default(),
            generation: watch::channel(0).0,
        })
    }

    /// Reads the file again; a file with problems leaves the keys as they
    /// were (and says why).
    pub fn reload(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let keys = Keys::read(path)?;
        tracing::info!(principals = keys.principals.len(), file = %path.display(), "keys reloaded");
        *self.keys.write().expect("keys lock") = Arc::new(keys);
        self.generation.send_modify(|g| *g += 1);
        Ok(())
    }

    /// Tells of every reload.
    pub fn reloads(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// The principal a bearer token names.
    pub fn authenticate(&self, token: &str) -> Result<Arc<Principal>> {
        let keys = self.keys();
        refused(
            keys.authenticate(token, Utc::now()),
            "INVALID_TOKEN",
            || "the bearer token is not a valid key".into(),
        )
    }

    /// The principal a client certificate (its Common Name) names.
    pub fn certificate(&self, cn: &str) -> Result<Arc<Principal>> {
        if self.path.is_none() {
            return Ok(Arc::new(Principal::certified(cn)));
        }
        let keys = self.keys();
        refused(
            keys.by_certificate(cn, Utc::now()),
            "UNKNOWN_CERTIFICATE",
            || {
                format!(
                    "no key names the client certificate {}",
                    crate::error::quoted(cn)
                )
            },
        )
    }

    /// The principal an edge says it is calling for.
    pub fn forwarded(&self, id: &str) -> Result<Arc<Principal>> {
        let keys = self.keys();
        refused(keys.by_id(id, Utc::now()), "UNKNOWN_PRINCIPAL", || {
            format!(
                "the edge names a caller no key here has ({})",
                crate::error::quoted(id)
            )
        })
    }

    fn keys(&self) -> Arc<Keys> {
        Arc::clone(&self.keys.read().expect("keys lock"))
    }

    /// `principal` as the keys now say (a reload may have removed it or
    /// changed its grants; an expired key is gone).
    pub fn current(&self, principal: &Principal) -> Option<Arc<Principal>> {
        if self.path.is_none() {
            return Some(Arc::new(principal.clone()));
        }
        let keys = self.keys.read().expect("keys lock");
        keys.principals
            .iter()
            .find(|p| p.same_key(principal) && p.valid_at(Utc::now()))
            .cloned()
    }
}

pub fn unauthenticated(reason: &'static str, message: String) -> Error {
    Error::Unauthenticated { reason, message }
}

/// A lookup's refusal as the caller hears it.
fn refused(
    found: std::result::Result<&Arc<Principal>, keys::Refusal>,
    unknown: &'static str,
    message: impl FnOnce() -> String,
) -> Result<Arc<Principal>> {
    match found {
        Ok(p) => Ok(Arc::clone(p)),
        Err(keys::Refusal::Unknown) => Err(unauthenticated(unknown, message())),
        Err(keys::Refusal::Expired(at)) => Err(unauthenticated(
            "TOKEN_EXPIRED",
            format!("the key expired at {at}"),
        )),
    }
}

/// Who is calling, as the auth layer established it.
#[derive(Debug, Clone)]
pub enum Caller {
    /// Authentication is off: everything is allowed, as before auth existed.
    Open,
    Principal(Arc<Principal>),
    /// A call an edge forwarded: the edge authenticated `principal` (and
    /// the writer knows it by the same keys); `edge` is the edge's key.
    Forwarded {
        principal: Arc<Principal>,
        edge: Arc<Principal>,
        /// The caller's address, as the edge saw it.
        peer: Option<std::net::SocketAddr>,
    },
}

impl Caller {
    /// The caller of a request (the layer always sets one; a request that
    /// bypassed it is treated as unauthenticated, never as open).
    pub fn of<T>(request: &tonic::Request<T>) -> Result<Caller> {
        request
            .extensions()
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| {
                unauthenticated("MISSING_CREDENTIALS", "no credentials were checked".into())
            })
    }

    pub fn principal(&self) -> Option<&Arc<Principal>> {
        match self {
            Caller::Open => None,
            Caller::Principal(p) | Caller::Forwarded { principal: p, .. } => Some(p),
        }
    }

    /// The edge that forwarded the call, if one did.
    pub fn edge(&self) -> Option<&Arc<Principal>> {
        match self {
            Caller::Forwarded { edge, .. } => Some(edge),
            _ => None,
        }
    }

    /// The caller's address: the connection's, or for a forwarded call the
    /// one its edge saw.
    pub fn peer(&self, connection: Option<std::net::SocketAddr>) -> Option<std::net::SocketAddr> {
        match self {
            Caller::Forwarded { peer, .. } => peer.or(connection),
            _ => connection,
        }
    }

    /// Refuses a sheet the caller may not read (existing or not: the
    /// answer is the same, so nothing is revealed).
    pub fn read(&self, sheet: &str) -> Result<()> {
        match self.principal() {
            None => Ok(()),
            Some(p) => match p.access(sheet) {
                Some(_) => Ok(()),
                None => Err(Error::denied(
                    "SHEET_NOT_ALLOWED",
                    format!("{} may not read {}", p.id, crate::error::quoted(sheet)),
                )),
            },
        }
    }

    /// Refuses a sheet the caller may not write.
    pub fn write(&self, sheet: &str) -> Result<()> {
        match self.principal() {
            None => Ok(()),
            Some(p) => match p.access(sheet) {
                Some(Access::Write) => Ok(()),
                Some(Access::Read) => Err(Error::denied(
                    "SHEET_READ_ONLY",
                    format!(
                        "{} may read but not write {}",
                        p.id,
                        crate::error::quoted(sheet)
                    ),
                )),
                None => Err(Error::denied(
                    "SHEET_NOT_ALLOWED",
                    format!("{} may not write {}", p.id, crate::error::quoted(sheet)),
                )),
            },
        }
    }

    /// Refuses a write to an aggregate cell by a caller without the right.
    pub fn spread(&self, cell: &str) -> Result<()> {
        match self.principal() {
            Some(p) if !p.may_spread() => Err(Error::denied(
                "SPREADING_NOT_ALLOWED",
                format!(
                    "{} may write leaf cells only; {cell} is an aggregate (spreading needs `spread = true`)",
                    p.id
                ),
            )),
            _ => Ok(()),
        }
    }

    /// False when some sheets are out of the caller's reach.
    pub fn reads_every_sheet(&self) -> bool {
        self.principal().is_none_or(|p| p.reads_every_sheet())
    }

    /// Whose request ids these are: stored responses are found only by the
    /// principal that wrote them.
    pub fn scope(&self) -> &str {
        self.principal().map_or("", |p| p.id.as_str())
    }

    /// The actor a write records: the authenticated subject. Naming another
    /// one (`x-duckgrid-actor`) is for admins, and recorded as such.
    pub fn actor(&self, asked: Option<String>) -> Result<String> {
        match (self.principal(), asked) {
            (None, asked) => Ok(asked.unwrap_or_else(|| crate::service::ANONYMOUS.into())),
            (Some(p), None) => Ok(p.subject.clone()),
            (Some(p), Some(other)) if p.role == Role::Admin => {
                Ok(format!("{other} (by {})", p.subject))
            }
            (Some(p), Some(_)) => Err(Error::denied(
                "IMPERSONATION_NOT_ALLOWED",
                format!(
                    "{} may not name another actor ({}): only admins may",
                    p.id,
                    crate::service::ACTOR_HEADER
                ),
            )),
        }
    }
}
