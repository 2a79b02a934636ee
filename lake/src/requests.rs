//! Erasure requests: which clicks a person asked to have forgotten, as the landing's holders
//! read them.
//!
//! Whoever asks files a request under `<topic>/_erasures/` ([`layout::erasure_path`]) naming
//! user names and event ids, and each partition's end offset at that moment. The holder of each
//! partition carries it out once everything before that end is landed, so every click produced
//! before the request is among the files it rewrites: it rewrites the partition's files that
//! hold such clicks (landed and dead letters) and publishes the change through the commit log,
//! as a compaction does, with what it removed. The asker reads that from each partition's latest
//! entry, then withdraws the request; clicks produced after the request are new and kept.
//!
//! A request holds the names it erases, so it stays on file only while it is carried out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use common::event::canonical_user_name;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::file_format::RowKey;
use crate::layout;
use crate::storage::{Storage, StorageError};

/// One erasure request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErasureRequest {
    /// Unique to the request; logs and the audit file name it, never the names.
    pub id: String,
    pub requested_at: DateTime<Utc>,
    /// Each partition's end offset when the request was made: the clicks before it are erased.
    /// A partition not named had none.
    pub ends: BTreeMap<i32, i64>,
    #[serde(default)]
    pub user_names: Vec<String>,
    #[serde(default)]
    pub event_ids: Vec<Uuid>,
}

impl ErasureRequest {
    /// A new request, with an id of its own; names are compared as
    /// [`common::event::canonical_user_name`] gives them, trimmed and composed.
    pub fn new(ends: BTreeMap<i32, i64>, user_names: Vec<String>, event_ids: Vec<Uuid>) -> Self {
        ErasureRequest {
            id: Uuid::now_v7().to_string(),
            requested_at: Utc::now(),
            ends,
            user_names: user_names
                .iter()
                .map(|name| canonical_user_name(name).into_owned())
                .collect(),
            event_ids,
        }
    }

    /// The partition's end offset when the request was made: clicks at it and after were made
    /// after the request.
    pub fn end(&self, partition: i32) -> i64 {
        self.ends.get(&partition).copied().unwrap_or(0)
    }

    /// Whether a partition whose landed offset is `landed` has landed every click produced
    /// before the request, so the request can be carried out on it.
    pub fn due(&self, partition: i32, landed: Option<i64>) -> bool {
        landed.map_or(0, |l| l + 1) >= self.end(partition)
    }

    /// Whether a click at `offset` of `partition` was produced before the request. A row
    /// landed before offsets were kept (`None`) was.
    pub fn before(&self, partition: i32, offset: Option<i64>) -> bool {
        offset.is_none_or(|offset| offset < self.end(partition))
    }

    /// Whether the request names a click by its user name (compared trimmed and composed) or
    /// its event id (as text).
    pub fn names(&self, user_name: &str, event_id: &str) -> bool {
        (!self.event_ids.is_empty()
            && Uuid::parse_str(event_id).is_ok_and(|id| self.event_ids.contains(&id)))
            || (!self.user_names.is_empty()
                && self
                    .user_names
                    .iter()
                    .any(|n| *n == canonical_user_name(user_name)))
    }

    /// Whether the request erases this landed row of `partition`: named, and produced before
    /// the request.
    pub fn erases(&self, partition: i32, row: &RowKey) -> bool {
        self.names(row.user_name, row.event_id) && self.before(partition, row.offset)
    }

    /// Whether the request erases this dead letter of `partition`: it holds a name or id the
    /// request names, and its record was produced before the request.
    pub fn erases_dead_letter(&self, partition: i32, line: &[u8]) -> bool {
        #[derive(Deserialize)]
        struct Where {
            offset: Option<i64>,
        }
        let offset = serde_json::from_slice::<Where>(line)
            .ok()
            .and_then(|w| w.offset);
        self.names_dead_letter(line) && self.before(partition, offset)
    }

    /// Whether a dead-letter line holds a click the request names. A dead letter need not be
    /// an event, so any JSON string in it that is one of the names or ids counts: the line
    /// holds the record as text, whose own strings appear escaped once more.
    pub fn names_dead_letter(&self, line: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(line) else {
            return false;
        };
        let strings = self
            .user_names
            .iter()
            .cloned()
            .chain(self.event_ids.iter().map(Uuid::to_string));
        strings.into_iter().any(|s| {
            let quoted = serde_json::to_string(&s).expect("a string serializes");
            let inside_record = serde_json::to_string(&quoted).expect("a string serializes");
            let inner = &inside_record[1..inside_record.len() - 1];
            text.contains(&quoted) || text.contains(inner)
        })
    }
}

/// The requests on file, oldest first; one that cannot be read is skipped and logged.
pub async fn requests(storage: &Storage, topic: &str) -> Result<Vec<ErasureRequest>, StorageError> {
    let dir = layout::erasures_dir(topic);
    let entries = match storage.operator().list(&dir).await {
        Ok(entries) => entries,
        Err(err) if err.kind() == opendal::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(storage.failed("list", &dir)(err)),
    };
    let mut requests = Vec::new();
    for entry in entries {
        if !entry.metadata().is_file() || !entry.name().ends_with(".json") {
            continue;
        }
        let path = entry.path();
        match storage.operator().read(path).await {
            Ok(bytes) => match serde_json::from_slice::<ErasureRequest>(&bytes.to_vec()) {
                Ok(request) => requests.push(request),
                Err(err) => tracing::warn!(path, %err, "unreadable erasure request"),
            },
            // Withdrawn meanwhile.
            Err(err) if err.kind() == opendal::ErrorKind::NotFound => {}
            Err(err) => return Err(storage.failed("read", path)(err)),
        }
    }
    requests.sort_by_key(|r| r.requested_at);
    Ok(requests)
}

/// Files a request, readable by its owner only (it holds names).
pub async fn file(
    storage: &Storage,
    topic: &str,
    request: &ErasureRequest,
) -> Result<(), StorageError> {
    let path = layout::erasure_path(topic, &request.id);
    let body = serde_json::to_vec(request).expect("a request serializes");
    storage.write_private(&path, body).await
}

/// Withdraws a request once it is carried out everywhere (or given up), with what the holders
/// said of it.
pub async fn withdraw(storage: &Storage, topic: &str, id: &str) -> Result<(), StorageError> {
    storage.delete(&layout::erasure_path(topic, id)).await?;
    let notes = layout::erasure_notes_dir(topic, id);
    for name in storage.list_files(&notes).await? {
        storage.delete(&format!("{notes}{name}")).await?;
    }
    storage.remove_empty_dir(&notes).await?;
    Ok(())
}

/// Why request `id` failed on a partition, as its holder said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub partition: i32,
    pub at: DateTime<Utc>,
    /// What could not be done, naming the storage and the file.
    pub reason: String,
    /// Failures in a row.
    pub attempts: u32,
}

/// Says why request `id` failed on a partition, for the asker.
pub async fn record_failure(
    storage: &Storage,
    topic: &str,
    id: &str,
    failure: &Failure,
) -> Result<(), StorageError> {
    let path = layout::erasure_failure_path(topic, id, failure.partition);
    let body = serde_json::to_vec(failure).expect("a failure serializes");
    storage.write_private(&path, body).await
}

/// Clears what a holder said of a failure, once the request is carried out on its partition.
pub async fn clear_failure(
    storage: &Storage,
    topic: &str,
    id: &str,
    partition: i32,
) -> Result<(), StorageError> {
    storage
        .delete(&layout::erasure_failure_path(topic, id, partition))
        .await
}

/// Lists the ids of the clicks request `id` erased on `partition`, for the asker, who keeps
/// them as tombstones.
pub async fn record_erased_ids(
    storage: &Storage,
    topic: &str,
    id: &str,
    partition: i32,
    ids: &[Uuid],
) -> Result<(), StorageError> {
    let path = layout::erased_ids_path(topic, id, partition);
    let body = serde_json::to_vec(ids).expect("ids serialize");
    storage.write_private(&path, body).await
}

/// What the holders said of request `id`: the failures not cleared, and every id erased.
pub async fn notes(
    storage: &Storage,
    topic: &str,
    id: &str,
) -> Result<(Vec<Failure>, Vec<Uuid>), StorageError> {
    let dir = layout::erasure_notes_dir(topic, id);
    let (mut failures, mut ids) = (Vec::new(), Vec::new());
    for name in storage.list_files(&dir).await? {
        let path = format!("{dir}{name}");
        let bytes = match storage.operator().read(&path).await {
            Ok(bytes) => bytes.to_vec(),
            Err(err) if err.kind() == opendal::ErrorKind::NotFound => continue,
            Err(err) => return Err(storage.failed("read", &path)(err)),
        };
        if name.starts_with("failed-") {
            failures.extend(serde_json::from_slice::<Failure>(&bytes).ok());
        } else if name.starts_with("ids-") {
            ids.extend(serde_json::from_slice::<Vec<Uuid>>(&bytes).unwrap_or_default());
        }
    }
    failures.sort_by_key(|f| f.partition);
    Ok((failures, ids))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ErasureRequest {
        ErasureRequest::new(
            [(0, 10), (1, 0)].into(),
            vec!["Ada \"the\" Lovelace".into(), "민수".into()],
            vec!["01939a7e-0000-7000-8000-000000000001".parse().unwrap()],
        )
    }

    #[test]
    fn a_request_is_due_once_its_partition_landed_everything_before_its_end() {
        let request = request();
        assert!(!request.due(0, None));
        assert!(!request.due(0, Some(8)));
        assert!(request.due(0, Some(9)));
        assert!(request.due(1, None), "the partition was empty");
        assert!(request.due(2, None), "a partition made since");
    }

    #[test]
    fn a_dead_letter_holding_a_name_as_a_string_or_inside_its_record_is_named() {
        let request = request();
        let record = serde_json::json!({"userName": "Ada \"the\" Lovelace", "colorName": 3});
        let line = crate::file_format::dead_letter_line(
            "t",
            0,
            7,
            "bad colour",
            Some(record.to_string().as_bytes()),
        );
        assert!(request.names_dead_letter(&line));
        let korean = br#"{"record":"{\"userName\":\"\uBBFC\uC218\"}"}"#;
        assert!(
            !request.names_dead_letter(korean),
            "escaped as \\u is not matched"
        );
        assert!(request.names_dead_letter(r#"{"record":"{\"userName\":\"민수\"}"}"#.as_bytes()));
        assert!(request.names_dead_letter(
            br#"{"record":"x 01939a7e-0000-7000-8000-000000000001 y","id":"01939a7e-0000-7000-8000-000000000001"}"#
        ));
        assert!(
            !request.names_dead_letter(br#"{"record":"{\"userName\":\"Ada\"}"}"#),
            "a part of a name is another name"
        );
        assert!(!request.names_dead_letter(b"\xff not text"));
    }

    #[test]
    fn a_request_reads_back_from_its_json() {
        let request = request();
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(json["ends"]["0"], 10);
        assert_eq!(json["userNames"][1], "민수");
        let back: ErasureRequest = serde_json::from_value(json).unwrap();
        assert_eq!(back, request);
    }
}
