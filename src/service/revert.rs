//! RevertRevision and Undo: who may take a revision back (as if writing its
//! edits again), and handing the revert to the writer — an Undo's target
//! found and authorized on the read pool first, and looked for again if
//! another write moved it before the writer got there.

use tonic::Request;

use super::{GridApi, SESSION_HEADER, Who, caller_and_actor, header, record_request_id};
use crate::auth::Caller;
use crate::edit::{Revert, RevertTarget, UNDO_TARGET_MOVED, WriteRequest};
use crate::error::{Error, Result};
use crate::history;
use crate::proto::v1 as pb;

impl GridApi {
    /// Checks that `caller` may take back the edits behind `revision` (as
    /// if writing them again); a revision whose edits the changelog no
    /// longer has needs a caller who may write and spread on every sheet.
    async fn authorize_revert(&self, caller: &Caller, revision: i64) -> Result<()> {
        let sources = match history::edits_behind(&self.pool, revision).await? {
            Some(sources) => sources,
            None => {
                for sheet in 0..self.model.sheets.len() {
                    caller.write(&self.model.sheet_name(sheet))?;
                }
                return caller.spread(&format!("revision {revision}"));
            }
        };
        self.authorize(caller, &sources)?;
        let edits = sources
            .iter()
            .filter_map(|e| crate::edit::Edit::from_proto(&self.model, e).ok())
            .collect::<Vec<_>>();
        if edits.len() < sources.len() {
            // An edit this model no longer names (its sheet gone from the
            // model file) may have been anything: a spread.
            caller.spread(&format!("revision {revision}"))?;
        }
        self.authorize_spreads(caller, &edits)
    }

    /// Refuses a caller who may write no sheet at all.
    fn authorize_any_write(&self, caller: &Caller) -> Result<()> {
        let names = (0..self.model.sheets.len()).map(|s| self.model.sheet_name(s));
        let mut refusal = Ok(());
        for name in names {
            match caller.write(&name) {
                Ok(()) => return Ok(()),
                Err(e) => refusal = Err(e),
            }
        }
        refusal
    }

    /// Hands a revert (RevertRevision or Undo) to the writer.
    pub(super) async fn revert<T>(
        &self,
        rpc: &'static str,
        request: Request<T>,
        revert: impl FnOnce(&T) -> (Revert, Option<i64>, String),
    ) -> Result<pb::Revision> {
        let (caller, actor) = caller_and_actor(&request)?;
        let session = header(&request, SESSION_HEADER)?;
        let peer = caller.peer(request.remote_addr());
        let (mut revert, expected_head, request_id) = revert(request.get_ref());
        record_request_id(&request_id);
        // An Undo's target is found, and the caller authorized for it, on
        // the read pool; the writer takes it back only if it is still the
        // latest, else it is looked for again.
        const UNDO_ATTEMPTS: usize = 3;
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            match &mut revert.target {
                RevertTarget::Revision(target) => self.authorize_revert(&caller, *target).await?,
                RevertTarget::LatestOf {
                    session,
                    authorized,
                } => {
                    *authorized =
                        history::undo_target(&self.pool, &actor, session.as_deref()).await?;
                    match *authorized {
                        Some(target) => self.authorize_revert(&caller, target).await?,
                        // Nothing to undo is for writers to hear.
                        None => self.authorize_any_write(&caller)?,
                    }
                }
            }
            let request = WriteRequest::revert(
                revert.clone(),
                expected_head,
                request_id.clone(),
                actor.clone(),
            )?
            .scoped(caller.scope())
            .in_session(session.clone());
            let who = Who {
                caller: &caller,
                peer,
            };
            match self.write(rpc, who, request).await {
                Err(Error::Aborted { reason, .. })
                    if reason == UNDO_TARGET_MOVED && attempt < UNDO_ATTEMPTS => {}
                result => break result?,
            }
        };
        tracing::Span::current().record("revision", outcome.event.revision);
        Ok(pb::Revision {
            change: history::visible(&caller, outcome.event.change().clone()),
            reverted_by: 0,
        })
    }
}
