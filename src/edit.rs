//! Edits: a write request validated at the edge into domain terms.
//!
//! Everything that can be checked without the data is checked here (names,
//! enums, decimals, limits), so the writer only ever sees well-formed edits
//! and a rejected request never reaches the queue.

use crate::decimal::{self, Units};
use crate::error::{Error, Result};
use crate::model::{CellAddr, HoldSet, Model};
use crate::proto::v1 as pb;
use crate::spread::{Method, Mode};

/// The most edits one batch may hold.
pub const MAX_EDITS_PER_BATCH: usize = 1_000;
/// The most holds one edit may name.
pub const MAX_HOLDS_PER_EDIT: usize = 100;
/// The longest request id (and actor) accepted, in characters (Unicode
/// scalar values, as the contract says; at most 4 bytes each).
pub const MAX_ID_CHARS: usize = 128;
/// Decimal places a percentage may have.
pub const PERCENT_SCALE: u32 = 6;

/// One validated edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    pub cell: CellAddr,
    pub mode: Mode,
    pub method: Method,
    /// The facts of the held cells.
    pub holds: HoldSet,
    /// Compare-and-set: the value the client saw (an empty cell reads as 0).
    pub expected: Option<Units>,
}

/// What a revert takes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevertTarget {
    /// RevertRevision: this revision.
    Revision(i64),
    /// Undo: the actor's latest revision in effect (in this session, when
    /// given), which must still be `authorized`: the one the caller was
    /// found allowed to take back (`None`: there was none). Otherwise the
    /// writer refuses it with [`UNDO_TARGET_MOVED`] and the service looks
    /// again.
    LatestOf {
        session: Option<String>,
        authorized: Option<i64>,
    },
}

/// The writer's refusal of an Undo whose target changed after the caller
/// was authorized for it (another write or undo came first).
pub const UNDO_TARGET_MOVED: &str = "UNDO_TARGET_MOVED";

/// A revert (RevertRevision or Undo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert {
    pub target: RevertTarget,
    /// Restore the facts even where later revisions changed them.
    pub overwrite: bool,
}

/// A validated write: one edit (UpdateCell), several (BatchUpdateCells),
/// or a revert (then `edits` is empty).
#[derive(Debug, Clone)]
pub struct WriteRequest {
    pub edits: Vec<Edit>,
    /// The edits as the client sent them, recorded in the change event.
    pub source: Vec<pb::CellEdit>,
    pub request_id: Option<String>,
    pub actor: String,
    /// Whose request ids these are (the principal's id; empty with auth
    /// off): a stored response is found only by the principal that wrote it.
    pub scope: String,
    /// The client session (`x-duckgrid-session`), which Undo can be scoped to.
    pub session: Option<String>,
    pub revert: Option<Box<Revert>>,
    /// Applies only if the head is this revision (reverts).
    pub expected_head: Option<i64>,
}

impl WriteRequest {
    /// Validates the edits of a request.
    pub fn new(
        model: &Model,
        source: Vec<pb::CellEdit>,
        request_id: String,
        actor: String,
    ) -> Result<Self> {
        if source.is_empty() {
            return Err(Error::invalid("at least one edit is required"));
        }
        if source.len() > MAX_EDITS_PER_BATCH {
            return Err(Error::ResourceExhausted {
                reason: "TOO_MANY_EDITS",
                message: format!(
                    "{} edits in one batch; at most {MAX_EDITS_PER_BATCH} are allowed",
                    source.len()
                ),
                resume_revision: None,
            });
        }
        check_id_length("request_id", &request_id)?;
        let edits = source
            .iter()
            .enumerate()
            .map(|(i, e)| {
                Edit::from_proto(model, e).map_err(|err| match err {
                    // Say which edit of a batch was wrong.
                    Error::InvalidArgument(m) if source.len() > 1 => {
                        Error::InvalidArgument(format!("edit {i}: {m}"))
                    }
                    Error::NotFound(m) if source.len() > 1 => {
                        Error::NotFound(format!("edit {i}: {m}"))
                    }
                    other => other,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            edits,
            source,
            request_id: Some(request_id).filter(|r| !r.is_empty()),
            actor,
            scope: String::new(),
            session: None,
            revert: None,
            expected_head: None,
        })
    }

    /// A validated revert.
    pub fn revert(
        revert: Revert,
        expected_head: Option<i64>,
        request_id: String,
        actor: String,
    ) -> Result<Self> {
        check_id_length("request_id", &request_id)?;
        if let RevertTarget::Revision(r) = revert.target
            && r <= 0
        {
            return Err(Error::invalid(format!(
                "revision must be positive (it is {r}); revision 0 is the import"
            )));
        }
        if let RevertTarget::LatestOf {
            session: Some(session),
            ..
        } = &revert.target
        {
            check_id_length("session_id", session)?;
        }
        Ok(Self {
            edits: Vec::new(),
            source: Vec::new(),
            request_id: Some(request_id).filter(|r| !r.is_empty()),
            actor,
            scope: String::new(),
            session: None,
            revert: Some(Box::new(revert)),
            expected_head,
        })
    }

    /// The request with the client session it came from.
    pub fn in_session(mut self, session: Option<String>) -> Self {
        self.session = session;
        self
    }

    /// The request with its ids scoped to a principal.
    pub fn scoped(mut self, scope: &str) -> Self {
        self.scope = scope.to_owned();
        self
    }

    /// What the changelog finds a retried request by: its id, prefixed with
    /// its principal's (ids never hold a `:`) when auth is on.
    pub fn dedup_key(&self) -> Option<String> {
        let id = self.request_id.as_ref()?;
        Some(if self.scope.is_empty() {
            id.clone()
        } else {
            format!("{}:{id}", self.scope)
        })
    }
}

/// Refuses an identifier (request id, actor) of more than [`MAX_ID_CHARS`]
/// characters.
pub fn check_id_length(what: &str, id: &str) -> Result<()> {
    let chars = id.chars().count();
    if chars > MAX_ID_CHARS {
        return Err(Error::invalid(format!(
            "{what} has {chars} characters; at most {MAX_ID_CHARS} are allowed"
        )));
    }
    Ok(())
}

impl Edit {
    /// Validates one edit against the model.
    pub fn from_proto(model: &Model, e: &pb::CellEdit) -> Result<Self> {
        let cell = resolve(model, e.cell.as_ref(), "cell")?;
        let scale = model.def.measures[cell.measure].scale;
        let value = |what: &str, text: &str, scale: u32| {
            decimal::parse_any(text, scale).map_err(|err| Error::invalid(format!("{what} {err}")))
        };
        let mode = match pb::UpdateMode::try_from(e.mode) {
            Ok(pb::UpdateMode::Unspecified | pb::UpdateMode::Set) => Mode::Set(
                decimal::parse(&e.value, scale)
                    .map_err(|err| Error::invalid(format!("value {err}")))?,
            ),
            Ok(pb::UpdateMode::Add) => Mode::Add(
                decimal::parse(&e.value, scale)
                    .map_err(|err| Error::invalid(format!("value {err}")))?,
            ),
            Ok(pb::UpdateMode::Percent) => {
                let (digits, scale) = value("percentage", &e.value, PERCENT_SCALE)?;
                Mode::Percent { digits, scale }
            }
            Err(_) => return Err(Error::invalid(format!("unknown update mode {}", e.mode))),
        };
        let method = match pb::SpreadMethod::try_from(e.spread) {
            Ok(pb::SpreadMethod::Unspecified | pb::SpreadMethod::Proportional) => {
                Method::Proportional
            }
            Ok(pb::SpreadMethod::Equal) => Method::Equal,
            Err(_) => {
                return Err(Error::invalid(format!(
                    "unknown spread method {}",
                    e.spread
                )));
            }
        };
        if e.holds.len() > MAX_HOLDS_PER_EDIT {
            return Err(Error::invalid(format!(
                "{} holds; at most {MAX_HOLDS_PER_EDIT} are allowed",
                e.holds.len()
            )));
        }
        let holds = e
            .holds
            .iter()
            .map(|h| {
                let held = resolve(model, Some(h), "hold")?;
                if held.measure != cell.measure {
                    return Err(Error::invalid(format!(
                        "hold on {} is for another measure than the edit ({})",
                        model.describe(&held),
                        model.def.measures[cell.measure].name
                    )));
                }
                Ok(model.atoms(&held))
            })
            .collect::<Result<Vec<_>>>()?;
        let holds = HoldSet::new(&holds, model.def.months.count);
        let expected = e
            .expected_value
            .as_deref()
            .map(|text| decimal::parse(text, scale))
            .transpose()
            .map_err(|err| Error::invalid(format!("expected_value {err}")))?;
        Ok(Self {
            cell,
            mode,
            method,
            holds,
            expected,
        })
    }
}

/// Resolves a cell reference, which must be present.
pub fn resolve(model: &Model, cell: Option<&pb::CellRef>, what: &str) -> Result<CellAddr> {
    let c = cell.ok_or_else(|| Error::invalid(format!("{what} is required")))?;
    if c.sheet.is_empty() {
        return Err(Error::invalid(format!("{what}.sheet is required")));
    }
    model.resolve_cell(&c.sheet, &c.row_path, &c.column, &c.measure)
}
