//! The landed files' format: everything that knows how a landed file is laid out is here.
//!
//! [`LandingFormat`] is chosen at start (`LANDING_FORMAT`) and has two implementations:
//! - [`parquet`]: the default. Columns are the Hive table's, zstd-compressed, in row groups
//!   of up to [`parquet::ROW_GROUP_MAX_BYTES`]; what Hive, Spark, pyarrow and DuckDB read.
//! - [`json_lines`]: one compact JSON event per line, as the collector produced it.
//!
//! Records that are not events (dead letters, under `_invalid/`) are JSON lines whatever the
//! format: people read them. Both formats are written from the records' lines of JSON, which is
//! how the partition buffers hold them (one allocation each, the smallest form a record has).

pub mod hive_columns;
pub mod json_lines;
pub mod parquet;
mod parquet_columns;
mod parquet_io;

use common::ColorEvent;
use opendal::Operator;

use crate::repeats::{LandedClick, RepeatWindow};
use crate::storage::{Storage, StorageError};

/// The extension of dead-letter files, which are JSON lines in every format.
pub const DEAD_LETTER_EXTENSION: &str = json_lines::EXTENSION;

/// Every extension a landed file may have, whichever format landed it.
pub const EXTENSIONS: [&str; 2] = [parquet::EXTENSION, json_lines::EXTENSION];

/// The format of landed event files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LandingFormat {
    /// Apache Parquet, zstd-compressed: small files that query engines read by column.
    #[default]
    Parquet,
    /// JSON lines: one event per line, readable with `cat`.
    Json,
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error(transparent)]
    Storage(#[from] opendal::Error),
    /// Reading a file's bytes failed.
    #[error(transparent)]
    Read(#[from] std::io::Error),
    #[error("Parquet: {0}")]
    Parquet(#[from] ::parquet::errors::ParquetError),
    #[error("Arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
}

impl FormatError {
    /// Whether storage failed (worth retrying), rather than a file's content.
    pub fn storage_kind(&self) -> Option<opendal::ErrorKind> {
        match self {
            FormatError::Storage(err) => Some(err.kind()),
            FormatError::Read(_) => Some(opendal::ErrorKind::Unexpected),
            FormatError::Parquet(::parquet::errors::ParquetError::External(err)) => err
                .downcast_ref::<opendal::Error>()
                .map(opendal::Error::kind)
                .or(Some(opendal::ErrorKind::Unexpected)),
            _ => None,
        }
    }
}

impl FormatError {
    /// The failure as `storage` reports it: which storage, which operation, on what.
    pub fn on(self, storage: &Storage, operation: &'static str, path: &str) -> StorageError {
        match self {
            FormatError::Storage(err) => storage.failed(operation, path)(err),
            other => StorageError::Io {
                storage: storage.name().to_owned(),
                operation,
                path: path.to_owned(),
                kind: other
                    .storage_kind()
                    .unwrap_or(opendal::ErrorKind::Unexpected),
                reason: other.to_string(),
            },
        }
    }
}

/// What tells a landed row apart for an erasure: its user name, its event id (as text), and
/// its offset in the partition (`None` in files landed before offsets were kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowKey<'a> {
    pub user_name: &'a str,
    pub event_id: &'a str,
    pub offset: Option<i64>,
}

impl RowKey<'_> {
    /// Whether `named` names the event on a JSON line; a line that is not an event is not.
    fn of_line(line: &[u8], named: &dyn Fn(&RowKey) -> bool) -> bool {
        json_lines::row_key(line).is_some_and(|(user_name, event_id, offset)| {
            named(&RowKey {
                user_name: &user_name,
                event_id: &event_id,
                offset,
            })
        })
    }
}

/// What a merge read and wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Merged {
    /// Rows written.
    pub rows: u64,
    /// Rows left out as repeats of clicks before them.
    pub repeats: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl LandingFormat {
    /// The extension of landed event files, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            LandingFormat::Parquet => parquet::EXTENSION,
            LandingFormat::Json => json_lines::EXTENSION,
        }
    }

    /// Writes the events whose offsets and lines of JSON are `records` as the file at `path`,
    /// replacing it; returns the bytes written.
    pub async fn write<'a>(
        self,
        op: &Operator,
        path: &str,
        records: impl Iterator<Item = (i64, &'a [u8])> + Send,
    ) -> Result<u64, FormatError> {
        match self {
            LandingFormat::Parquet => parquet::write(op, path, records).await,
            LandingFormat::Json => json_lines::write_events(op, path, records).await,
        }
    }

    /// How many rows the landed file at `path` has, and how many of them `named` names.
    pub async fn count_named(
        self,
        op: &Operator,
        path: &str,
        named: &dyn Fn(&RowKey) -> bool,
    ) -> Result<(u64, u64), FormatError> {
        match self {
            LandingFormat::Parquet => parquet::count_named(op, path, named).await,
            LandingFormat::Json => {
                json_lines::count_named(op, path, &|line| RowKey::of_line(line, named)).await
            }
        }
    }

    /// Writes the rows of the landed file `input` that `named` does not name, in order, as
    /// the file at `output`, a bounded amount at a time; returns the rows kept and removed.
    pub async fn rewrite_without(
        self,
        op: &Operator,
        input: &str,
        output: &str,
        named: &dyn Fn(&RowKey) -> bool,
    ) -> Result<(u64, u64), FormatError> {
        match self {
            LandingFormat::Parquet => parquet::rewrite_without(op, input, output, named).await,
            LandingFormat::Json => {
                let named = |line: &[u8]| RowKey::of_line(line, named);
                json_lines::rewrite_without(op, input, output, &named).await
            }
        }
    }

    /// Writes the rows of `inputs`, in order, as one file at `output`, reading and writing a
    /// bounded amount at a time whatever the files' sizes; a row `repeats` finds a repeat of
    /// is left out.
    pub async fn merge(
        self,
        op: &Operator,
        inputs: &[String],
        output: &str,
        repeats: &mut RepeatWindow,
    ) -> Result<Merged, FormatError> {
        match self {
            LandingFormat::Parquet => parquet::merge(op, inputs, output, repeats).await,
            LandingFormat::Json => json_lines::merge(op, inputs, output, repeats).await,
        }
    }

    /// Calls `each` with the clicks of the landed file at `path`, in order: their offsets, ids
    /// and times, which is all a repeat window reads.
    pub async fn read_clicks(
        self,
        op: &Operator,
        path: &str,
        each: &mut dyn FnMut(LandedClick),
    ) -> Result<(), FormatError> {
        match self {
            LandingFormat::Parquet => parquet::read_clicks(op, path, each).await,
            LandingFormat::Json => json_lines::read_clicks(op, path, each).await,
        }
    }

    /// The events of the landed file at `path`: for tools and tests, which read whole files.
    pub async fn read_events(
        self,
        op: &Operator,
        path: &str,
    ) -> Result<Vec<ColorEvent>, FormatError> {
        match self {
            LandingFormat::Parquet => parquet::read_events(op, path).await,
            LandingFormat::Json => json_lines::read_events(op, path).await,
        }
    }

    /// The format of a landed file, by its name's extension.
    pub fn of_path(path: &str) -> Option<LandingFormat> {
        let (_, extension) = path.rsplit_once('.')?;
        [LandingFormat::Parquet, LandingFormat::Json]
            .into_iter()
            .find(|f| f.extension() == extension)
    }
}

/// The line of a record that is not an event: where it came from, why it was set aside, and
/// the record itself as text (invalid UTF-8 replaced), or null when it had no value.
pub fn dead_letter_line(
    topic: &str,
    partition: i32,
    offset: i64,
    reason: &str,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let record = value.map(String::from_utf8_lossy);
    serde_json::to_vec(&serde_json::json!({
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "reason": reason,
        "record": record,
    }))
    .expect("a JSON value serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_letter_line_is_one_json_object_naming_its_record() {
        let line = dead_letter_line("t", 2, 7, "not a JSON event", Some(b"a\nb\xff"));
        assert!(!line.contains(&b'\n'));
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["partition"], 2);
        assert_eq!(value["offset"], 7);
        assert_eq!(value["record"], "a\nb\u{fffd}");
        let empty: serde_json::Value =
            serde_json::from_slice(&dead_letter_line("t", 0, 1, "no value", None)).unwrap();
        assert!(empty["record"].is_null());
    }

    #[test]
    fn a_files_format_is_known_by_its_extension() {
        assert_eq!(
            LandingFormat::of_path("t/dt=x/hour=01/t+0+1+2.parquet"),
            Some(LandingFormat::Parquet)
        );
        assert_eq!(
            LandingFormat::of_path("t+0+1+2.json"),
            Some(LandingFormat::Json)
        );
        assert_eq!(LandingFormat::of_path("t+0+1+2.csv"), None);
        assert_eq!(LandingFormat::default(), LandingFormat::Parquet);
    }
}
