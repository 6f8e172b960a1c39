//! Fault injection: points where a test can make the writer fail (panic,
//! stall) to prove that it fails safely. Empty in production: no flag
//! sets it, only the library API (`Config::faults`).

use std::sync::Arc;

use crate::edit::WriteRequest;

/// Where in the writer a fault is injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// Applying one request (inside its group's transaction).
    Apply,
    /// Writing the group's facts, just before commit (once per request of
    /// the group: a fault here belongs to the group, not to one request).
    Flush,
    /// After the group committed and a request's event was published,
    /// before its caller is answered.
    Committed,
}

/// The hook called at each [`FaultPoint`] with the request concerned.
pub type FaultHook = Arc<dyn Fn(FaultPoint, &WriteRequest) + Send + Sync>;

/// An optional fault hook.
#[derive(Clone, Default)]
pub struct Faults(pub Option<FaultHook>);

impl Faults {
    pub fn at(&self, point: FaultPoint, request: &WriteRequest) {
        if let Some(hook) = &self.0 {
            hook(point, request);
        }
    }
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Faults(hook)"
        } else {
            "Faults(none)"
        })
    }
}
