//! The landed Parquet files' columns and the event as one another: the Hive table's columns
//! (the event's field names, `browser` a struct, times as UTC timestamps in milliseconds, and
//! each row's offset), the columns of a thousand events' lines, the events of a batch, the
//! columns of files landed by earlier versions, and what an erasure reads of a row.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};

use arrow_array::builder::{BooleanBuilder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMillisecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StructArray,
};
use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use common::ColorEvent;
use common::event::BrowserInfo;

use super::{FormatError, RowKey};
use crate::repeats::LandedClick;

pub(super) const BROWSER_FIELDS: [&str; 6] =
    ["name", "version", "category", "os", "osVersion", "vendor"];

fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn browser_fields() -> Fields {
    BROWSER_FIELDS
        .iter()
        .map(|name| Field::new(*name, DataType::Utf8, false))
        .collect()
}

/// The column of each row's offset in its partition.
pub const OFFSET_COLUMN: &str = "kafkaOffset";

/// The files' schema: the event's JSON field names, in its order, then [`OFFSET_COLUMN`].
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
            Field::new("doNotTrack", DataType::Boolean, false),
            // Not an event field: where the click is in its partition, which erasure reads to
            // keep the clicks made after a request. Null in files landed before it was kept.
            Field::new(OFFSET_COLUMN, DataType::Int64, true),
        ]))
    });
    Arc::clone(&SCHEMA)
}

/// An event as its line of JSON holds it, borrowed where it can be: a landing reads each line
/// once more, into columns, without making the event's strings again.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventView<'a> {
    event_id: uuid::Uuid,
    schema_version: u32,
    #[serde(borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    user_name: Cow<'a, str>,
    #[serde(borrow)]
    color_name: Cow<'a, str>,
    #[serde(borrow)]
    user_agent: Cow<'a, str>,
    #[serde(borrow)]
    browser: BrowserView<'a>,
    #[serde(default, borrow)]
    client_timestamp: Option<Cow<'a, str>>,
    #[serde(default)]
    do_not_track: bool,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct BrowserView<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    version: Cow<'a, str>,
    #[serde(borrow)]
    category: Cow<'a, str>,
    #[serde(borrow)]
    os: Cow<'a, str>,
    #[serde(borrow)]
    os_version: Cow<'a, str>,
    #[serde(borrow)]
    vendor: Cow<'a, str>,
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn millis(text: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|err| format!("{text:?}: {err}"))
}

/// The columns of the events whose offsets and lines of JSON are `records`.
pub fn batch<'a>(records: impl Iterator<Item = (i64, &'a [u8])>) -> Result<RecordBatch, String> {
    let mut ids = StringBuilder::new();
    let mut versions = Vec::new();
    let mut times = TimestampMillisecondBuilder::new();
    let mut names = StringBuilder::new();
    let mut colours = StringBuilder::new();
    let mut agents = StringBuilder::new();
    let mut browser: [StringBuilder; 6] = Default::default();
    let mut client_times = TimestampMillisecondBuilder::new();
    let mut do_not_track = BooleanBuilder::new();
    let mut offsets = Vec::new();
    let mut id = [0u8; uuid::fmt::Hyphenated::LENGTH];
    for (offset, line) in records {
        offsets.push(offset);
        let event: EventView = serde_json::from_slice(line).map_err(|err| err.to_string())?;
        ids.append_value(event.event_id.hyphenated().encode_lower(&mut id));
        versions.push(event.schema_version as i32);
        times.append_value(millis(&event.timestamp)?);
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
        client_times.append_option(event.client_timestamp.as_deref().map(millis).transpose()?);
        do_not_track.append_value(event.do_not_track);
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
        Arc::new(StructArray::try_new(browser_fields(), browser, None).map_err(|e| e.to_string())?),
        Arc::new(client_times.finish().with_timezone("UTC")),
        Arc::new(do_not_track.finish()),
        Arc::new(Int64Array::from(offsets)),
    ];
    RecordBatch::try_new(schema(), columns).map_err(|err| err.to_string())
}

/// A batch read from a landed file in today's columns: a file landed before `doNotTrack`
/// existed (event schema version 1) has every column but that one, which is `false` for all
/// of its rows. `None` for any other set of columns.
pub(super) fn in_current_columns(batch: RecordBatch) -> Option<RecordBatch> {
    let current = schema();
    if batch.schema().fields() == current.fields() {
        return Some(batch);
    }
    let had = batch.num_columns();
    if had > current.fields().len()
        || batch
            .schema()
            .fields()
            .iter()
            .ne(current.fields()[..had].iter())
    {
        return None;
    }
    let rows = batch.num_rows();
    let mut columns = batch.columns().to_vec();
    for added in &current.fields()[had..] {
        let filled: ArrayRef = match added.name().as_str() {
            // Before schema version 2 no browser asked not to be tracked.
            "doNotTrack" => Arc::new(BooleanArray::from(vec![false; rows])),
            OFFSET_COLUMN => Arc::new(Int64Array::new_null(rows)),
            _ => return None,
        };
        columns.push(filled);
    }
    RecordBatch::try_new(current, columns).ok()
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
    // Absent from files landed before schema version 2.
    let do_not_track = match batch.column_by_name("doNotTrack") {
        None => None,
        Some(column) => Some(
            column
                .as_boolean_opt()
                .ok_or_else(|| unreadable("doNotTrack is not a boolean column".into()))?,
        ),
    };
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
                do_not_track: do_not_track.is_some_and(|column| column.value(row)),
            })
        })
        .collect()
}

/// The column `name` of `batch`, of text, or why the file at `path` is not readable.
fn text_column<'b>(
    batch: &'b RecordBatch,
    name: &str,
    path: &str,
) -> Result<&'b arrow_array::StringArray, FormatError> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_string_opt::<i32>())
        .ok_or_else(|| FormatError::Unreadable {
            path: path.to_owned(),
            reason: format!("no {name} column of text"),
        })
}

/// Each row's offset in its partition: absent from files landed before offsets were kept, and
/// null in rows merged from them.
struct Offsets<'b>(Option<&'b Int64Array>);

impl<'b> Offsets<'b> {
    fn of(batch: &'b RecordBatch) -> Self {
        Offsets(
            batch
                .column_by_name(OFFSET_COLUMN)
                .and_then(|c| c.as_primitive_opt::<Int64Type>()),
        )
    }

    fn at(&self, row: usize) -> Option<i64> {
        self.0.filter(|o| o.is_valid(row)).map(|o| o.value(row))
    }
}

/// The clicks of `batch` as a repeat window reads them: offset (null in older files), id and
/// time, row by row.
pub(super) fn clicks_of(batch: &RecordBatch, path: &str) -> Result<Vec<LandedClick>, FormatError> {
    let unreadable = |reason: String| FormatError::Unreadable {
        path: path.to_owned(),
        reason,
    };
    let ids = text_column(batch, "eventId", path)?;
    let times = batch
        .column_by_name("timestamp")
        .and_then(|c| c.as_primitive_opt::<TimestampMillisecondType>())
        .ok_or_else(|| unreadable("no timestamp column".into()))?;
    let offsets = Offsets::of(batch);
    (0..batch.num_rows())
        .map(|row| {
            let id = ids
                .value(row)
                .parse()
                .map_err(|err| unreadable(format!("eventId: {err}")))?;
            let millis = times.value(row);
            let at = DateTime::<Utc>::from_timestamp_millis(millis)
                .ok_or_else(|| unreadable(format!("timestamp {millis} out of range")))?;
            Ok(LandedClick {
                offset: offsets.at(row),
                id,
                at,
            })
        })
        .collect()
}

/// Whether each row of `batch` is one `named` names, reading its user name, event id and
/// offset (null in older files, or absent).
pub(super) fn named_rows(
    batch: &RecordBatch,
    path: &str,
    named: &dyn Fn(&RowKey) -> bool,
) -> Result<BooleanArray, FormatError> {
    let names = text_column(batch, "userName", path)?;
    let ids = text_column(batch, "eventId", path)?;
    let offsets = Offsets::of(batch);
    Ok((0..batch.num_rows())
        .map(|row| {
            Some(named(&RowKey {
                user_name: names.value(row),
                event_id: ids.value(row),
                offset: offsets.at(row),
            }))
        })
        .collect())
}
