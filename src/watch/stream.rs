//! The two ends of one watch's buffer: the task's [`Sink`] and the
//! [`WatchStream`] tonic sends from.
//!
//! The buffer holds changes already encoded for the watch's selection,
//! bytes shared by every watch with the same selection (see
//! [`crate::feed::Event::encoded`]), not per-watcher copies. The buffer is
//! bounded in messages and in bytes (`--watch-buffer-bytes`, counted as
//! what goes over the wire); a client that leaves it full for the stall
//! timeout ends its watch with RESOURCE_EXHAUSTED and where to resume.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use prost::Message;
use prost::bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tonic::Status;

use super::Selection;
use crate::error::Error;
use crate::proto::v1 as pb;
use crate::wire::WatchFrame;

/// Messages buffered per watch (the byte budget usually binds first).
const BUFFER: usize = 64;

/// One message waiting for the client.
pub enum Outgoing {
    Snapshot(pb::Grid),
    /// An encoded `WatchUpdatesResponse` carrying a change.
    Change(Bytes),
    Progress(i64),
}

impl Outgoing {
    /// What the message weighs against the watch's byte budget.
    fn size(&self) -> usize {
        match self {
            Outgoing::Snapshot(grid) => grid.encoded_len(),
            Outgoing::Change(bytes) => bytes.len(),
            Outgoing::Progress(_) => 16,
        }
    }
}

/// A buffered message and its share of the byte budget, returned when the
/// stream hands the message to tonic.
struct Item {
    message: Outgoing,
    _bytes: OwnedSemaphorePermit,
}

/// Why a watch's task stopped.
pub enum Stop {
    ClientGone,
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

/// Creates a watch's buffer: the task's end and the stream's end.
pub fn channel(
    selection: Arc<Selection>,
    stall: Duration,
    budget_bytes: usize,
) -> (Sink, WatchStream, oneshot::Sender<Status>) {
    let (tx, data) = mpsc::channel(BUFFER);
    let (end_tx, end) = oneshot::channel();
    // Permits are u32; a budget beyond 4 GiB is no budget anyway.
    let budget = budget_bytes.clamp(1, u32::MAX as usize);
    let sink = Sink {
        selection,
        tx,
        stall,
        budget: Arc::new(Semaphore::new(budget)),
        budget_total: budget,
    };
    let stream = WatchStream {
        data,
        end: Some(end),
    };
    (sink, stream, end_tx)
}

/// The sending side of a watch, with the stall timeout and byte budget.
pub struct Sink {
    /// What the watch selects: what its changes are encoded for.
    pub selection: Arc<Selection>,
    tx: mpsc::Sender<Item>,
    stall: Duration,
    budget: Arc<Semaphore>,
    budget_total: usize,
}

impl Sink {
    /// Completes when the client has gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }

    /// The bytes of messages waiting for the client.
    pub fn buffered_bytes(&self) -> usize {
        self.budget_total - self.budget.available_permits()
    }

    /// Sends a message; `resume` is the revision a client should resume from
    /// if this message cannot be delivered. A message larger than the whole
    /// budget waits for an empty buffer.
    pub async fn send(&mut self, message: Outgoing, resume: Option<i64>) -> Result<(), Stop> {
        let want = message.size().clamp(1, self.budget_total) as u32;
        // One stall timeout for the whole send: room in the byte budget,
        // then room in the channel.
        let deadline = Instant::now() + self.stall;
        // The common case, room in the buffer, needs no timer.
        let bytes = match Arc::clone(&self.budget).try_acquire_many_owned(want).ok() {
            Some(bytes) => bytes,
            None => {
                let acquire = Arc::clone(&self.budget).acquire_many_owned(want);
                tokio::select! {
                    permit = tokio::time::timeout_at(deadline, acquire) => match permit {
                        Ok(Ok(permit)) => permit,
                        Ok(Err(_)) => return Err(Stop::ClientGone),
                        Err(_) => return Err(self.too_slow(resume)),
                    },
                    () = self.tx.closed() => return Err(Stop::ClientGone),
                }
            }
        };
        let item = Item {
            message,
            _bytes: bytes,
        };
        let item = match self.tx.try_send(item) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(Stop::ClientGone),
            Err(mpsc::error::TrySendError::Full(item)) => item,
        };
        match tokio::time::timeout_at(deadline, self.tx.send(item)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Stop::ClientGone),
            Err(_) => Err(self.too_slow(resume)),
        }
    }

    fn too_slow(&self, resume: Option<i64>) -> Stop {
        Stop::Failed(Error::ResourceExhausted {
            reason: "WATCHER_TOO_SLOW",
            message: match resume {
                Some(r) => format!(
                    "the client did not read for {:?}; resume from revision {r}",
                    self.stall
                ),
                None => format!(
                    "the client did not read for {:?}; start the watch again",
                    self.stall
                ),
            },
            resume_revision: resume,
        })
    }
}

/// The response stream of a watch: the buffered messages, then (if the
/// watch ended with an error) its status.
pub struct WatchStream {
    data: mpsc::Receiver<Item>,
    end: Option<oneshot::Receiver<Status>>,
}

impl Stream for WatchStream {
    type Item = Result<WatchFrame, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        use pb::watch_updates_response::Kind;
        match self.data.poll_recv(cx) {
            Poll::Ready(Some(item)) => {
                let message =
                    |kind| WatchFrame::Message(pb::WatchUpdatesResponse { kind: Some(kind) });
                let frame = match item.message {
                    Outgoing::Snapshot(grid) => message(Kind::Snapshot(grid)),
                    Outgoing::Change(bytes) => WatchFrame::Encoded(bytes),
                    Outgoing::Progress(head) => message(Kind::Progress(pb::Progress {
                        head_revision: head,
                    })),
                };
                // The item (and its bytes of the budget) goes here: tonic
                // encodes the frame before it asks for the next one.
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => Poll::Pending,
            // The task is done and everything it sent has been read.
            Poll::Ready(None) => match self.end.take() {
                Some(mut end) => match end.try_recv() {
                    Ok(status) => Poll::Ready(Some(Err(status))),
                    Err(_) => Poll::Ready(None),
                },
                None => Poll::Ready(None),
            },
        }
    }
}
