//! The domain error, and its one mapping to a gRPC status.
//!
//! Every failure duckgrid reports has exactly one code, decided here (see
//! DESIGN §6). Errors carry a short, specific message and a
//! `google.rpc.ErrorInfo` (domain `duckgrid`, a stable reason and metadata)
//! so clients can branch on the reason rather than parse the message.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every duckgrid error.
pub const ERROR_DOMAIN: &str = "duckgrid";

/// The most characters of a client's input a message repeats.
const ECHO_CHARS: usize = 64;
/// The longest status message and `ErrorInfo` metadata value sent. Both
/// travel in HTTP/2 headers, and stock clients refuse header lists over
/// 8–16 KiB: an error that repeated a long input whole would reach the
/// client as RESOURCE_EXHAUSTED "metadata too large" instead of itself.
const MAX_MESSAGE_BYTES: usize = 1024;
const MAX_METADATA_BYTES: usize = 256;

/// A client's input as an error message shows it: quoted, and cut after
/// [`ECHO_CHARS`] characters (saying how much was left out).
pub struct Quoted<'a>(pub &'a str);

/// Shorthand for [`Quoted`].
pub fn quoted(text: &str) -> Quoted<'_> {
    Quoted(text)
}

impl std::fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.char_indices().nth(ECHO_CHARS) {
            None => write!(f, "{:?}", self.0),
            Some((cut, _)) => {
                let rest = self.0[cut..].chars().count();
                write!(f, "{:?}… ({rest} more characters)", &self.0[..cut])
            }
        }
    }
}

/// A row path as an error message shows it: its first members, quoted.
pub fn quoted_path(path: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut out: Vec<String> = path
        .iter()
        .take(SHOWN)
        .map(|m| quoted(m).to_string())
        .collect();
    if path.len() > SHOWN {
        out.push(format!("… ({} more members)", path.len() - SHOWN));
    }
    format!("[{}]", out.join(", "))
}

/// `text` cut to at most `max` bytes, on a character boundary.
fn truncated(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max.saturating_sub('…'.len_utf8());
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// A failed request. A request that fails changes nothing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed request: bad decimal, unknown enum value, missing field.
    #[error("{0}")]
    InvalidArgument(String),

    /// Bytes that are not a valid protobuf message.
    #[error("{0}")]
    Malformed(String),

    /// An unknown sheet, row member, column or measure.
    #[error("{0}")]
    NotFound(String),

    /// Compare-and-set failed: the cell is no longer what the client saw.
    #[error("{cell} is {}, not the expected {expected}", shown(.current))]
    ExpectedValueMismatch {
        cell: String,
        expected: String,
        current: String,
    },

    /// The data moved since the client looked: a revert that later
    /// revisions conflict with, a head that is no longer the expected one.
    #[error("{message}")]
    Aborted {
        reason: &'static str,
        message: String,
        metadata: Vec<(&'static str, String)>,
    },

    /// The request is well-formed but the data forbids it (a negative
    /// quantity, everything held).
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },

    /// A watch asked for a revision that is not retained, or in the future.
    /// A writer names its database (edges check the stream against it).
    #[error("{message}")]
    OutOfRange {
        message: String,
        oldest: i64,
        head: i64,
        database_id: Option<String>,
    },

    /// A configured limit was hit.
    #[error("{message}")]
    ResourceExhausted {
        reason: &'static str,
        message: String,
        resume_revision: Option<i64>,
    },

    /// Temporarily impossible: the server is draining or storage is down.
    /// Watches ended this way say where to resume.
    #[error("{message}")]
    Unavailable {
        reason: &'static str,
        message: String,
        resume_revision: Option<i64>,
    },

    /// An edge could not reach its writer (or lost the connection before
    /// an answer). For a write, `request_id` is the id it was sent with:
    /// retrying with it is safe.
    #[error("{message}")]
    WriterUnavailable {
        message: String,
        request_id: Option<String>,
    },

    /// No credentials, or none that are valid now.
    #[error("{message}")]
    Unauthenticated {
        reason: &'static str,
        message: String,
    },

    /// Valid credentials that do not allow this. The message never tells
    /// whether a sheet the caller may not read exists.
    #[error("{message}")]
    PermissionDenied {
        reason: &'static str,
        message: String,
    },

    /// A bug or a storage failure: nothing was committed.
    #[error("internal error: {0}")]
    Internal(String),

    /// An error the writer returned to an edge, passed on unchanged.
    #[error("{}", .0.message())]
    Passthrough(Status),
}

/// How a cell value reads in a message: an empty cell has no value.
fn shown(value: &str) -> &str {
    if value.is_empty() { "empty" } else { value }
}

/// Shorthand for results with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument(message.into())
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Error::NotFound(message.into())
    }

    pub fn denied(reason: &'static str, message: impl Into<String>) -> Self {
        Error::PermissionDenied {
            reason,
            message: message.into(),
        }
    }

    /// The head is not the revision the client expected.
    pub fn head_moved(expected: i64, head: i64) -> Self {
        Error::Aborted {
            reason: "HEAD_MOVED",
            message: format!("the head is revision {head}, not the expected {expected}"),
            metadata: vec![("head_revision", head.to_string())],
        }
    }

    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Error::FailedPrecondition {
            reason,
            message: message.into(),
        }
    }

    /// The gRPC code of this error.
    pub fn code(&self) -> Code {
        match self {
            Error::InvalidArgument(_) | Error::Malformed(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::ExpectedValueMismatch { .. } | Error::Aborted { .. } => Code::Aborted,
            Error::FailedPrecondition { .. } => Code::FailedPrecondition,
            Error::OutOfRange { .. } => Code::OutOfRange,
            Error::ResourceExhausted { .. } => Code::ResourceExhausted,
            Error::Unavailable { .. } | Error::WriterUnavailable { .. } => Code::Unavailable,
            Error::Unauthenticated { .. } => Code::Unauthenticated,
            Error::PermissionDenied { .. } => Code::PermissionDenied,
            Error::Internal(_) => Code::Internal,
            Error::Passthrough(status) => status.code(),
        }
    }

    /// The stable `ErrorInfo.reason` and metadata of this error.
    fn info(&self) -> (&'static str, HashMap<String, String>) {
        let mut meta = HashMap::new();
        let reason = match self {
            Error::InvalidArgument(_) => "INVALID_ARGUMENT",
            Error::Malformed(_) => "MALFORMED_MESSAGE",
            Error::NotFound(_) => "NOT_FOUND",
            Error::ExpectedValueMismatch {
                expected, current, ..
            } => {
                meta.insert("current_value".to_owned(), current.clone());
                meta.insert("expected_value".to_owned(), expected.clone());
                "EXPECTED_VALUE_MISMATCH"
            }
            Error::Aborted {
                reason, metadata, ..
            } => {
                for (k, v) in metadata {
                    meta.insert((*k).to_owned(), v.clone());
                }
                reason
            }
            Error::FailedPrecondition { reason, .. }
            | Error::Unauthenticated { reason, .. }
            | Error::PermissionDenied { reason, .. } => reason,
            Error::OutOfRange {
                oldest,
                head,
                database_id,
                ..
            } => {
                meta.insert("oldest_revision".to_owned(), oldest.to_string());
                meta.insert("head_revision".to_owned(), head.to_string());
                if let Some(id) = database_id {
                    meta.insert("database_id".to_owned(), id.clone());
                }
                "REVISION_OUT_OF_RANGE"
            }
            Error::ResourceExhausted {
                reason,
                resume_revision,
                ..
            }
            | Error::Unavailable {
                reason,
                resume_revision,
                ..
            } => {
                if let Some(r) = resume_revision {
                    meta.insert("resume_revision".to_owned(), r.to_string());
                }
                reason
            }
            Error::WriterUnavailable { request_id, .. } => {
                if let Some(id) = request_id {
                    meta.insert("request_id".to_owned(), id.clone());
                }
                "WRITER_UNAVAILABLE"
            }
            Error::Internal(_) | Error::Passthrough(_) => "INTERNAL",
        };
        (reason, meta)
    }
}

impl From<duckdb::Error> for Error {
    fn from(e: duckdb::Error) -> Self {
        Error::Internal(format!("storage: {e}"))
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Self {
        if let Error::Passthrough(status) = e {
            return status;
        }
        if let Error::Internal(message) = &e {
            // Internal details belong in the log, not on the wire.
            tracing::error!(%message, "request failed");
        }
        let message = match &e {
            Error::Internal(_) => "internal error; nothing was committed".to_owned(),
            other => truncated(other.to_string(), MAX_MESSAGE_BYTES),
        };
        let (reason, metadata) = e.info();
        let metadata = metadata
            .into_iter()
            .map(|(k, v)| (k, truncated(v, MAX_METADATA_BYTES)))
            .collect::<HashMap<_, _>>();
        let details = ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata);
        Status::with_error_details(e.code(), message, details)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_is_aborted_with_the_current_value_in_the_details() {
        let status = Status::from(Error::ExpectedValueMismatch {
            cell: "cell".into(),
            expected: "1.00".into(),
            current: "2.00".into(),
        });
        assert_eq!(status.code(), Code::Aborted);
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, "EXPECTED_VALUE_MISMATCH");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(info.metadata["current_value"], "2.00");
    }

    #[test]
    fn internal_errors_do_not_leak_details() {
        let status = Status::from(Error::Internal("disk on fire".into()));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("disk"));
        assert_eq!(status.get_details_error_info().unwrap().reason, "INTERNAL");
    }

    #[test]
    fn long_input_is_cut_in_messages_and_metadata() {
        let long = "é".repeat(20_000);
        assert_eq!(
            quoted(&long).to_string(),
            format!("{:?}… (19936 more characters)", "é".repeat(64))
        );
        assert_eq!(quoted("short").to_string(), "\"short\"");
        let status = Status::from(Error::ExpectedValueMismatch {
            cell: long.clone(),
            expected: long.clone(),
            current: "1".into(),
        });
        assert!(status.message().len() <= MAX_MESSAGE_BYTES);
        let info = status.get_details_error_info().unwrap();
        assert!(info.metadata["expected_value"].len() <= MAX_METADATA_BYTES);
        let path: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert_eq!(
            quoted_path(&path),
            "[\"0\", \"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\", … (12 more members)]"
        );
    }
}
