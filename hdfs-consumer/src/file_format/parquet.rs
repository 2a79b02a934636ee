//! Apache Parquet: the Hive table's columns (the event's field names, `browser` a struct,
//! times as UTC timestamps in milliseconds), zstd-compressed. Files are written and merged
//! through OpenDAL, so the same code lands on a folder and on HDFS, and a merge holds at most
//! one row group of its input and one of its output in memory.

use std::sync::{Arc, LazyLock};

use arrow_array::builder::{StringBuilder, TimestampMillisecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, Int32Array, RecordBatch, StructArray};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use common::ColorEvent;
use common::event::BrowserInfo;
use futures::TryStreamExt;
use opendal::Operator;
use parquet::arrow::{AsyncArrowWriter, ParquetRecordBatchStreamBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet_opendal::{AsyncReader, AsyncWriter};

use super::{FormatError, Merged, Row};

/// The extension of Parquet files, without the dot.
pub const EXTENSION: &str = "parquet";

/// A row group is closed once its encoded size passes this: what a merge holds of its output,
/// and about what a reader fetches at a time.
pub const ROW_GROUP_MAX_BYTES: usize = 4 << 20;

/// Rows a merge reads at a time.
const READ_BATCH_ROWS: usize = 8192;

/// zstd's level: 3, its own default, compresses clicks about as well as 9 at a third of the
/// time.
const ZSTD_LEVEL: i32 = 3;

const BROWSER_FIELDS: [&str; 6] = ["name", "version", "category", "os", "osVersion", "vendor"];

fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn browser_fields() -> Fields {
    BROWSER_FIELDS
        .iter()
        .map(|name| Field::new(*name, DataType::Utf8, false))
        .collect()
}

/// The files' schema: the event's JSON field names, in its order.
pub fn schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        Arc::new(Schema::new(vec![
            Field::new("eventId", DataType::Utf8, false),
            Field::new("schemaVersion", DataType::Int32, false),
            Field::new("timestamp", utc_millis(), false),
            Field::new("userName", DataType::Utf8, false),
            Field::new("colorName", DataType::Utf8, false),
            Field::new("userAgent", DataType::Utf8, false),
            Field::new("browser", DataType::Struct(browser_fields()), false),
            Field::new("clientTimestamp", utc_millis(), true),
        ]))
    });
    Arc::clone(&SCHEMA)
}

fn properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).expect("a valid zstd level"),
        ))
        .set_max_row_group_bytes(Some(ROW_GROUP_MAX_BYTES))
        .build()
}

/// The columns of `events`.
pub fn batch<'a>(events: impl Iterator<Item = &'a ColorEvent>) -> Result<RecordBatch, FormatError> {
    let mut ids = StringBuilder::new();
    let mut versions = Vec::new();
    let mut times = TimestampMillisecondBuilder::new();
    let mut names = StringBuilder::new();
    let mut colours = StringBuilder::new();
    let mut agents = StringBuilder::new();
    let mut browser: [StringBuilder; 6] = Default::default();
    let mut client_times = TimestampMillisecondBuilder::new();
    for event in events {
        ids.append_value(event.event_id.hyphenated().to_string());
        versions.push(event.schema_version as i32);
        times.append_value(event.timestamp.timestamp_millis());
        names.append_value(&event.user_name);
        colours.append_value(&event.color_name);
        agents.append_value(&event.user_agent);
        let b = &event.browser;
        for (builder, value) in browser.iter_mut().zip([
            &b.name,
            &b.version,
            &b.category,
            &b.os,
            &b.os_version,
            &b.vendor,
        ]) {
            builder.append_value(value);
        }
        client_times.append_option(event.client_timestamp.map(|t| t.timestamp_millis()));
    }
    let browser: Vec<ArrayRef> = browser
        .iter_mut()
        .map(|b| Arc::new(b.finish()) as ArrayRef)
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(ids.finish()),
        Arc::new(Int32Array::from(versions)),
        Arc::new(times.finish().with_timezone("UTC")),
        Arc::new(names.finish()),
        Arc::new(colours.finish()),
        Arc::new(agents.finish()),
        Arc::new(StructArray::try_new(browser_fields(), browser, None)?),
        Arc::new(client_times.finish().with_timezone("UTC")),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}

/// The events of a batch read from one of these files.
pub fn events_of(batch: &RecordBatch, path: &str) -> Result<Vec<ColorEvent>, FormatError> {
    let unreadable = |reason: String| FormatError::Unreadable {
        path: path.to_owned(),
        reason,
    };
    let column = |name: &str| {
        batch
            .column_by_name(name)
            .ok_or_else(|| unreadable(format!("no column {name}")))
    };
    let strings = |name: &str| -> Result<_, FormatError> {
        column(name)?
            .as_string_opt::<i32>()
            .ok_or_else(|| unreadable(format!("{name} is not a string column")))
    };
    let millis = |name: &str| -> Result<_, FormatError> {
        column(name)?
            .as_primitive_opt::<TimestampMillisecondType>()
            .ok_or_else(|| unreadable(format!("{name} is not a timestamp column")))
    };
    let ids = strings("eventId")?;
    let versions = column("schemaVersion")?
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| unreadable("schemaVersion is not an int column".into()))?;
    let times = millis("timestamp")?;
    let (names, colours, agents) = (
        strings("userName")?,
        strings("colorName")?,
        strings("userAgent")?,
    );
    let browser = column("browser")?
        .as_struct_opt()
        .ok_or_else(|| unreadable("browser is not a struct".into()))?;
    let browser: Vec<_> = BROWSER_FIELDS
        .iter()
        .map(|name| {
            browser
                .column_by_name(name)
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| unreadable(format!("no browser.{name}")))
        })
        .collect::<Result<_, _>>()?;
    let client_times = millis("clientTimestamp")?;
    let time = |millis: i64| {
        DateTime::<Utc>::from_timestamp_millis(millis)
            .ok_or_else(|| unreadable(format!("timestamp {millis} out of range")))
    };
    (0..batch.num_rows())
        .map(|row| {
            let text = |i: usize| browser[i].value(row).to_owned();
            Ok(ColorEvent {
                event_id: ids
                    .value(row)
                    .parse()
                    .map_err(|err| unreadable(format!("eventId: {err}")))?,
                schema_version: versions.value(row) as u32,
                timestamp: time(times.value(row))?,
                user_name: names.value(row).to_owned(),
                color_name: colours.value(row).to_owned(),
                user_agent: agents.value(row).to_owned(),
                browser: Arc::new(BrowserInfo {
                    name: text(0),
                    version: text(1),
                    category: text(2),
                    os: text(3),
                    os_version: text(4),
                    vendor: text(5),
                }),
                client_timestamp: if client_times.is_null(row) {
                    None
                } else {
                    Some(time(client_times.value(row))?)
                },
            })
        })
        .collect()
}

async fn writer(op: &Operator, path: &str) -> Result<AsyncArrowWriter<AsyncWriter>, FormatError> {
    let target = AsyncWriter::new(op.writer(path).await?);
    Ok(AsyncArrowWriter::try_new(
        target,
        schema(),
        Some(properties()),
    )?)
}

/// Writes the events of `rows` as the Parquet file at `path` (replacing it); returns its size.
pub async fn write<'a>(
    op: &Operator,
    path: &str,
    rows: impl Iterator<Item = &'a Row>,
) -> Result<u64, FormatError> {
    let events = rows
        .map(|row| match row {
            Row::Event(event) => Ok(event.as_ref()),
            // Dead letters are lines, and go to JSON-lines files in every format.
            Row::Line(_) => Err(FormatError::Unreadable {
                path: path.to_owned(),
                reason: "a line of JSON given to the Parquet writer".into(),
            }),
        })
        .collect::<Result<Vec<&ColorEvent>, _>>()?;
    let mut writer = writer(op, path).await?;
    writer.write(&batch(events.into_iter())?).await?;
    writer.finish().await?;
    Ok(writer.bytes_written() as u64)
}

async fn reader(
    op: &Operator,
    path: &str,
) -> Result<
    (
        parquet::arrow::async_reader::ParquetRecordBatchStream<AsyncReader>,
        u64,
    ),
    FormatError,
> {
    let length = op.stat(path).await?.content_length();
    let input = AsyncReader::new(op.reader(path).await?, length);
    let stream = ParquetRecordBatchStreamBuilder::new(input)
        .await?
        .with_batch_size(READ_BATCH_ROWS)
        .build()?;
    Ok((stream, length))
}

/// Reads the rows of `inputs` in order and writes them as one file at `output`, in row groups
/// of up to [`ROW_GROUP_MAX_BYTES`]: small inputs become few, large row groups, which compress
/// and read better than the inputs' own.
pub async fn merge(op: &Operator, inputs: &[String], output: &str) -> Result<Merged, FormatError> {
    let mut writer = writer(op, output).await?;
    let mut merged = Merged::default();
    for input in inputs {
        let (mut batches, length) = reader(op, input).await?;
        merged.bytes_in += length;
        while let Some(batch) = batches.try_next().await? {
            if batch.schema().fields() != schema().fields() {
                return Err(FormatError::Unreadable {
                    path: input.clone(),
                    reason: "its columns are not the landed files' columns".into(),
                });
            }
            merged.rows += batch.num_rows() as u64;
            writer.write(&batch).await?;
        }
    }
    writer.finish().await?;
    merged.bytes_out = writer.bytes_written() as u64;
    Ok(merged)
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn events_become_columns_and_read_back_equal() {
        let events = events();
        let batch = batch(events.iter()).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let (fields, browser_fields) = common::event::json_field_names();
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
    async fn a_file_written_and_merged_reads_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let op = crate::storage::operator_for(&url::Url::from_directory_path(dir.path()).unwrap())
            .unwrap();
        let events = events();
        let rows: Vec<Row> = events
            .iter()
            .map(|e| Row::Event(Box::new(e.clone())))
            .collect();
        let size = write(&op, "a.parquet", rows.iter()).await.unwrap();
        assert_eq!(op.stat("a.parquet").await.unwrap().content_length(), size);
        write(&op, "b.parquet", rows[..1].iter()).await.unwrap();
        let merged = merge(&op, &["a.parquet".into(), "b.parquet".into()], "m.parquet")
            .await
            .unwrap();
        assert_eq!(merged.rows, 3);
        let back = read_events(&op, "m.parquet").await.unwrap();
        assert_eq!(back, [&events[..], &events[..1]].concat());
        let dead_letter = [Row::Line(b"{}".to_vec())];
        assert!(write(&op, "c.parquet", dead_letter.iter()).await.is_err());
    }
}
