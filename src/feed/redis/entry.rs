//! The stream's entry format: one entry per revision, id `<revision>-0`,
//! with stable fields so that consumers that do not speak gRPC can follow
//! edits (see the README): `revision`, `time` (RFC 3339), `actor`,
//! `request_id`, `db` (the database's identity), `event` (the
//! `duckgrid.v1.ChangeEvent` protobuf encoding) and `json` (the same event
//! as JSON, protobuf JSON field names).

use std::collections::HashMap;

use fred::prelude::Value;
use serde_json::json;

use crate::error::{Error, Result};
use crate::feed::{Event, EventCache, EventRef};
use crate::proto::v1 as pb;

/// The entry id of a revision.
pub fn entry_id(revision: i64) -> String {
    format!("{revision}-0")
}

/// The revision of an entry id.
pub fn revision_of(id: &str) -> Option<i64> {
    id.split_once('-').and_then(|(r, _)| r.parse().ok())
}

/// The name of the field naming the database an entry came from.
pub const DB_FIELD: &str = "db";

/// The fields of a revision's stream entry, written by the database `db`.
pub fn entry_fields(event: &Event, db: &str) -> Vec<(&'static str, Value)> {
    let c = event.change();
    let time = c
        .commit_time
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default();
    vec![
        ("revision", event.revision.to_string().into()),
        ("time", time.clone().into()),
        ("actor", c.actor.clone().into()),
        ("request_id", c.request_id.clone().into()),
        (DB_FIELD, db.into()),
        ("event", Value::Bytes(event.bytes().clone())),
        ("json", event_json(c, &time).to_string().into()),
    ]
}

/// A change event as JSON, with the protobuf JSON mapping's field names.
pub fn event_json(c: &pb::ChangeEvent, time: &str) -> serde_json::Value {
    let cell = |r: &pb::CellRef| json!({"sheet": r.sheet, "rowPath": r.row_path, "column": r.column, "measure": r.measure});
    json!({
        "revision": c.revision.to_string(),
        "commitTime": time,
        "actor": c.actor,
        "requestId": c.request_id,
        "revertsRevision": c.reverts_revision.to_string(),
        "sessionId": c.session_id,
        "edits": c.edits.iter().map(|e| json!({
            "cell": e.cell.as_ref().map(cell),
            "value": e.value,
            "mode": pb::UpdateMode::try_from(e.mode).map(|m| m.as_str_name()).unwrap_or("UPDATE_MODE_UNSPECIFIED"),
            "spread": pb::SpreadMethod::try_from(e.spread).map(|m| m.as_str_name()).unwrap_or("SPREAD_METHOD_UNSPECIFIED"),
            "holds": e.holds.iter().map(cell).collect::<Vec<_>>(),
            "expectedValue": e.expected_value,
        })).collect::<Vec<_>>(),
        "results": c.results.iter().map(|r| json!({
            "previousValue": r.previous_value,
            "newValue": r.new_value,
            "factsChanged": r.facts_changed.to_string(),
        })).collect::<Vec<_>>(),
        "changes": c.changes.iter().map(|s| json!({
            "sheet": s.sheet,
            "cells": s.cells.iter().map(|x| json!({
                "rowPath": x.row_path, "column": x.column, "measure": x.measure, "value": x.value,
                "previousValue": x.previous_value,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// The database an entry came from (`None` for entries written before
/// entries carried it).
pub fn entry_db(fields: &HashMap<String, Value>) -> Option<String> {
    fields.get(DB_FIELD).and_then(|v| v.as_string())
}

/// Whether an entry was written by another database than `ours` (entries
/// written before entries named their database pass).
pub fn is_foreign(fields: &HashMap<String, Value>, ours: Option<&String>) -> bool {
    match (entry_db(fields), ours) {
        (Some(db), Some(ours)) => db != *ours,
        _ => false,
    }
}

/// Decodes a stream entry back into its event (shared through `cache`).
pub fn decode_entry(
    id: &str,
    fields: &HashMap<String, Value>,
    cache: &EventCache,
) -> Result<EventRef> {
    let revision = revision_of(id)
        .ok_or_else(|| Error::Internal(format!("stream entry {id} is not a duckgrid revision")))?;
    let bytes = fields
        .get("event")
        .and_then(|v| v.as_bytes())
        .ok_or_else(|| Error::Internal(format!("stream entry {id} has no event field")))?;
    cache.decode(revision, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_carry_the_documented_fields() {
        let change = pb::ChangeEvent {
            revision: 42,
            commit_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5_000,
            }),
            actor: "alice".into(),
            request_id: "r-1".into(),
            ..Default::default()
        };
        let event = Event::new(42, change);
        let fields: HashMap<String, Value> = entry_fields(&event, "db-1")
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let names: Vec<_> = entry_fields(&event, "db-1")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            names,
            [
                "revision",
                "time",
                "actor",
                "request_id",
                "db",
                "event",
                "json"
            ]
        );
        assert_eq!(
            fields["time"].as_str().unwrap(),
            "2023-11-14T22:13:20.000005Z"
        );
        assert_eq!(entry_db(&fields).as_deref(), Some("db-1"));
        let cache = EventCache::default();
        let decoded = decode_entry(&entry_id(42), &fields, &cache).unwrap();
        assert_eq!(decoded, event);
        let json: serde_json::Value =
            serde_json::from_str(&fields["json"].as_str().unwrap()).unwrap();
        assert_eq!(json["revision"], "42");
        assert_eq!(json["actor"], "alice");
        assert!(
            decode_entry("43-0", &fields, &cache).is_err(),
            "an entry holds the event of its own revision"
        );
    }
}
