//! Apache Parquet: the Hive table's columns (the event's field names, `browser` a struct,
//! times as UTC timestamps in milliseconds), zstd-compressed. Files are written and merged
//! through OpenDAL, so the same code lands on a folder and on HDFS, and a merge holds at most
//! one row group of its input and one of its output in memory.

use arrow_array::BooleanArray;
use common::ColorEvent;
use futures::TryStreamExt;
use opendal::Operator;
use parquet::arrow::{AsyncArrowWriter, ParquetRecordBatchStreamBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

pub use super::parquet_columns::{OFFSET_COLUMN, events_of, schema};
use super::parquet_columns::{batch, clicks_of, in_current_columns, named_rows};
use super::parquet_io::{FileReader, FileWriter};
use super::{FormatError, Merged, RowKey};
use crate::repeats::{LandedClick, RepeatWindow, Seen};

/// The extension of Parquet files, without the dot.
pub const EXTENSION: &str = "parquet";

/// A row group is closed once its encoded size passes this: what a merge holds of its output,
/// and about what a reader fetches at a time.
pub const ROW_GROUP_MAX_BYTES: usize = 4 << 20;

/// Rows a merge reads at a time, and rows a landing turns from JSON into columns at a time:
/// what a file costs beside the buffered lines is a thousand rows' columns (about half a MiB
/// with real browsers' user agents) and the file's encoded row group. Three workers landing
/// at once peaked about 6 MiB higher with 4,096, at the same rate.
const BATCH_ROWS: usize = 1024;

/// zstd's level: 3, its own default, compresses clicks about as well as 9 at a third of the
/// time.
const ZSTD_LEVEL: i32 = 3;

fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).expect("a valid zstd level"),
        ))
        .set_max_row_group_bytes(Some(ROW_GROUP_MAX_BYTES))
        .build()
}

async fn writer(op: &Operator, path: &str) -> Result<AsyncArrowWriter<FileWriter>, FormatError> {
    let target = FileWriter::create(op, path).await?;
    Ok(AsyncArrowWriter::try_new(
        target,
        schema(),
        Some(properties()),
    )?)
}

/// Writes the events whose offsets and lines of JSON are `records` as the Parquet file at
/// `path` (replacing it), a thousand rows at a time; returns its size.
pub async fn write<'a>(
    op: &Operator,
    path: &str,
    records: impl Iterator<Item = (i64, &'a [u8])>,
) -> Result<u64, FormatError> {
    let mut writer = writer(op, path).await?;
    let mut records = records.peekable();
    while records.peek().is_some() {
        let rows =
            batch(records.by_ref().take(BATCH_ROWS)).map_err(|reason| FormatError::Unreadable {
                path: path.to_owned(),
                reason,
            })?;
        writer.write(&rows).await?;
    }
    writer.finish().await?;
    Ok(writer.bytes_written() as u64)
}

async fn reader(
    op: &Operator,
    path: &str,
) -> Result<
    (
        parquet::arrow::async_reader::ParquetRecordBatchStream<FileReader>,
        u64,
    ),
    FormatError,
> {
    let (input, length) = FileReader::open(op, path).await?;
    let stream = ParquetRecordBatchStreamBuilder::new(input)
        .await?
        .with_batch_size(BATCH_ROWS)
        .build()?;
    Ok((stream, length))
}

/// A reader of the file at `path` that reads only `columns` (one absent from an older file is
/// left out), a thousand rows at a time.
async fn columns_reader(
    op: &Operator,
    path: &str,
    columns: [&str; 3],
) -> Result<parquet::arrow::async_reader::ParquetRecordBatchStream<FileReader>, FormatError> {
    let (input, _) = FileReader::open(op, path).await?;
    let builder = ParquetRecordBatchStreamBuilder::new(input).await?;
    let wanted = parquet::arrow::ProjectionMask::columns(builder.parquet_schema(), columns);
    Ok(builder
        .with_projection(wanted)
        .with_batch_size(BATCH_ROWS)
        .build()?)
}

/// Reads the rows of `inputs` in order and writes them as one file at `output`, in row groups
/// of up to [`ROW_GROUP_MAX_BYTES`]: small inputs become few, large row groups, which compress
/// and read better than the inputs' own. A row `repeats` finds a repeat of is left out.
pub async fn merge(
    op: &Operator,
    inputs: &[String],
    output: &str,
    repeats: &mut RepeatWindow,
) -> Result<Merged, FormatError> {
    let mut writer = writer(op, output).await?;
    let mut merged = Merged::default();
    for input in inputs {
        let (mut batches, length) = reader(op, input).await?;
        merged.bytes_in += length;
        while let Some(batch) = batches.try_next().await? {
            let mut batch = in_current_columns(batch).ok_or_else(|| FormatError::Unreadable {
                path: input.clone(),
                reason: "its columns are not the landed files' columns".into(),
            })?;
            if !repeats.span().is_zero() {
                let first: BooleanArray = clicks_of(&batch, input)?
                    .into_iter()
                    .map(|click| Some(repeats.see(click.id, click.at) == Seen::First))
                    .collect();
                merged.repeats += first.false_count() as u64;
                batch = arrow_select::filter::filter_record_batch(&batch, &first)?;
            }
            merged.rows += batch.num_rows() as u64;
            if batch.num_rows() > 0 {
                writer.write(&batch).await?;
            }
        }
    }
    writer.finish().await?;
    merged.bytes_out = writer.bytes_written() as u64;
    Ok(merged)
}

/// Calls `each` with the clicks of the file at `path`, in order, reading only the id, time and
/// offset columns.
pub async fn read_clicks(
    op: &Operator,
    path: &str,
    each: &mut dyn FnMut(LandedClick),
) -> Result<(), FormatError> {
    let mut batches = columns_reader(op, path, ["eventId", "timestamp", OFFSET_COLUMN]).await?;
    while let Some(batch) = batches.try_next().await? {
        clicks_of(&batch, path)?.into_iter().for_each(&mut *each);
    }
    Ok(())
}

/// The events of a Parquet file.
pub async fn read_events(op: &Operator, path: &str) -> Result<Vec<ColorEvent>, FormatError> {
    let (mut batches, _) = reader(op, path).await?;
    let mut events = Vec::new();
    while let Some(batch) = batches.try_next().await? {
        events.extend(events_of(&batch, path)?);
    }
    Ok(events)
}

/// How many rows the file at `path` has, and how many of them `named` names: read from the
/// user name, event id and offset columns only, at a fraction of reading the events.
pub async fn count_named(
    op: &Operator,
    path: &str,
    named: &dyn Fn(&RowKey) -> bool,
) -> Result<(u64, u64), FormatError> {
    let mut batches = columns_reader(op, path, ["userName", "eventId", OFFSET_COLUMN]).await?;
    let (mut rows, mut matching) = (0, 0);
    while let Some(batch) = batches.try_next().await? {
        rows += batch.num_rows() as u64;
        matching += named_rows(&batch, path, named)?.true_count() as u64;
    }
    Ok((rows, matching))
}

/// Writes the rows of `input` that `named` does not name, in order, as the file at `output`:
/// a thousand rows read, filtered and written at a time, so whatever the file's size the
/// rewrite holds one row group of it and one of its output. Returns the rows kept and removed.
pub async fn rewrite_without(
    op: &Operator,
    input: &str,
    output: &str,
    named: &dyn Fn(&RowKey) -> bool,
) -> Result<(u64, u64), FormatError> {
    let mut writer = writer(op, output).await?;
    let (mut batches, _) = reader(op, input).await?;
    let (mut kept, mut removed) = (0, 0);
    while let Some(batch) = batches.try_next().await? {
        let batch = in_current_columns(batch).ok_or_else(|| FormatError::Unreadable {
            path: input.to_owned(),
            reason: "its columns are not the landed files' columns".into(),
        })?;
        let named = named_rows(&batch, input, named)?;
        removed += named.true_count() as u64;
        let keep: BooleanArray = named.iter().map(|named| named.map(|n| !n)).collect();
        let batch = arrow_select::filter::filter_record_batch(&batch, &keep)?;
        kept += batch.num_rows() as u64;
        if batch.num_rows() > 0 {
            writer.write(&batch).await?;
        }
    }
    writer.finish().await?;
    Ok((kept, removed))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::RecordBatch;
    use arrow_schema::Schema;
    use chrono::Utc;
    use common::event::BrowserInfo;

    use super::super::parquet_columns::BROWSER_FIELDS;
    use super::*;

    #[tokio::test]
    async fn a_rewrite_keeps_every_row_but_those_named_and_counts_both() {
        let (_dir, op) = folder();
        let events = events();
        let lines = lines(&events);
        write(&op, "f.parquet", records(&lines, 40)).await.unwrap();
        let first_named = |row: &RowKey| row.user_name == "a" && row.offset == Some(40);
        assert_eq!(
            count_named(&op, "f.parquet", &first_named).await.unwrap(),
            (2, 1)
        );
        let by_id = events[1].event_id.to_string();
        let second = |row: &RowKey| row.event_id == by_id && row.offset == Some(41);
        assert_eq!(
            count_named(&op, "f.parquet", &second).await.unwrap(),
            (2, 1)
        );
        let kept = rewrite_without(&op, "f.parquet", "g.parquet", &first_named)
            .await
            .unwrap();
        assert_eq!(kept, (1, 1));
        assert_eq!(read_events(&op, "g.parquet").await.unwrap(), events[1..]);
        assert_eq!(
            count_named(&op, "g.parquet", &|row| row.offset == Some(41))
                .await
                .unwrap(),
            (1, 1),
            "the kept row keeps its offset"
        );
    }

    fn events() -> Vec<ColorEvent> {
        let mut with_client_time = ColorEvent::sample("김민수", "blue", Utc::now());
        with_client_time.client_timestamp =
            Some(with_client_time.timestamp - chrono::Duration::seconds(3));
        with_client_time.user_agent = "Mozilla/5.0 (X11; Linux x86_64)".into();
        with_client_time.browser = Arc::new(BrowserInfo {
            name: "Chrome".into(),
            version: "131.0.0.0".into(),
            category: "pc".into(),
            os: "Linux".into(),
            os_version: "UNKNOWN".into(),
            vendor: "Google".into(),
        });
        vec![ColorEvent::sample("a", "red", Utc::now()), with_client_time]
    }

    /// An operator on a fresh folder, kept while the folder is.
    fn folder() -> (tempfile::TempDir, Operator) {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let op = crate::storage::operator_for(&url).unwrap();
        (dir, op)
    }

    fn lines(events: &[ColorEvent]) -> Vec<Vec<u8>> {
        events.iter().map(ColorEvent::to_json_bytes).collect()
    }

    /// The lines as records of consecutive offsets from `first`.
    fn records(lines: &[Vec<u8>], first: i64) -> impl Iterator<Item = (i64, &[u8])> {
        (first..).zip(lines.iter().map(Vec::as_slice))
    }

    /// A window that finds no repeat: every copy is merged.
    fn every_copy() -> RepeatWindow {
        RepeatWindow::new(std::time::Duration::ZERO)
    }

    #[tokio::test]
    async fn a_merge_leaves_out_a_copy_received_within_the_window() {
        let (_dir, op) = folder();
        let events = events();
        let mut retried = events[0].clone();
        retried.timestamp += chrono::Duration::seconds(20);
        let mut late = events[1].clone();
        late.timestamp += chrono::Duration::minutes(11);
        write(&op, "a.parquet", records(&lines(&events), 0))
            .await
            .unwrap();
        write(
            &op,
            "b.parquet",
            records(&lines(&[retried, late.clone()]), 2),
        )
        .await
        .unwrap();
        let inputs = ["a.parquet".into(), "b.parquet".into()];
        let mut window = RepeatWindow::new(std::time::Duration::from_secs(600));
        let merged = merge(&op, &inputs, "m.parquet", &mut window).await.unwrap();
        assert_eq!((merged.rows, merged.repeats), (3, 1));
        let back = read_events(&op, "m.parquet").await.unwrap();
        assert_eq!(back, [events[0].clone(), events[1].clone(), late]);
        let mut offsets = Vec::new();
        read_clicks(&op, "m.parquet", &mut |click| offsets.push(click.offset))
            .await
            .unwrap();
        assert_eq!(
            offsets,
            [Some(0), Some(1), Some(3)],
            "the copy at 2 is gone"
        );
    }

    #[test]
    fn events_become_columns_and_read_back_equal() {
        let events = events();
        let lines = lines(&events);
        let batch = batch(records(&lines, 7)).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let (mut fields, browser_fields) = common::event::json_field_names();
        fields.insert(OFFSET_COLUMN.to_owned());
        let columns = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(fields, columns);
        assert_eq!(
            browser_fields,
            BROWSER_FIELDS.iter().map(|f| f.to_string()).collect()
        );
        assert_eq!(events_of(&batch, "x").unwrap(), events);
    }

    #[tokio::test]
    async fn a_file_landed_before_do_not_track_merges_and_reads_as_tracked() {
        let (_dir, op) = folder();
        let events = events();
        let current = batch(records(&lines(&events), 0)).unwrap();
        // The columns of schema version 1: all but doNotTrack, and the offsets kept since.
        let older_fields = schema().fields()[..schema().fields().len() - 2].to_vec();
        let older = RecordBatch::try_new(
            Arc::new(Schema::new(older_fields)),
            current.columns()[..current.num_columns() - 2].to_vec(),
        )
        .unwrap();
        let target = FileWriter::create(&op, "old.parquet").await.unwrap();
        let mut writer = AsyncArrowWriter::try_new(target, older.schema(), None).unwrap();
        writer.write(&older).await.unwrap();
        writer.close().await.unwrap();
        assert_eq!(read_events(&op, "old.parquet").await.unwrap(), events);

        let mut asked = events[0].clone();
        asked.do_not_track = true;
        asked.user_agent = String::new();
        write(&op, "new.parquet", records(&lines(&[asked.clone()]), 9))
            .await
            .unwrap();
        let merged = merge(
            &op,
            &["old.parquet".into(), "new.parquet".into()],
            "m.parquet",
            &mut every_copy(),
        )
        .await
        .unwrap();
        assert_eq!(merged.rows, 3);
        let back = read_events(&op, "m.parquet").await.unwrap();
        assert_eq!(back, [&events[..], &[asked]].concat());
        let unknown = |row: &RowKey| row.offset.is_none();
        assert_eq!(
            count_named(&op, "m.parquet", &unknown).await.unwrap(),
            (3, 2),
            "the older rows have no offset, the new one its own"
        );
    }

    #[tokio::test]
    async fn a_file_written_and_merged_reads_back_in_order() {
        let (_dir, op) = folder();
        let events = events();
        let lines = lines(&events);
        let size = write(&op, "a.parquet", records(&lines, 0)).await.unwrap();
        assert_eq!(op.stat("a.parquet").await.unwrap().content_length(), size);
        write(&op, "b.parquet", records(&lines[..1], 2))
            .await
            .unwrap();
        let inputs = ["a.parquet".into(), "b.parquet".into()];
        let merged = merge(&op, &inputs, "m.parquet", &mut every_copy())
            .await
            .unwrap();
        assert_eq!(merged.rows, 3);
        let back = read_events(&op, "m.parquet").await.unwrap();
        assert_eq!(back, [&events[..], &events[..1]].concat());
        let not_an_event: [&[u8]; 1] = [b"{}"];
        assert!(
            write(&op, "c.parquet", [(0, not_an_event[0])].into_iter())
                .await
                .is_err()
        );
    }
}
