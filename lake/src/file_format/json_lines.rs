//! JSON lines: one record per line, each line one compact JSON object, which Hive's JSON SerDe
//! and Spark's JSON source read as table rows. Dead letters are written this way in every
//! format.

use common::ColorEvent;
use futures::TryStreamExt;
use opendal::Operator;

use super::{FormatError, Merged};
use crate::repeats::{LandedClick, RepeatWindow, Seen};

/// The extension of JSON-lines files, without the dot.
pub const EXTENSION: &str = "json";

/// A file is written in chunks of about this size, so writing costs one chunk of memory beside
/// the buffered records rather than a second copy of the whole file.
const WRITE_CHUNK_BYTES: usize = 256 * 1024;

/// The line of a valid event whose record value is `value`: the value itself, as the
/// collector writes compact JSON; a value holding a raw line break is written again compactly
/// (from `event`, read from it), so that one record stays one line.
pub fn event_line(value: &[u8], event: &ColorEvent) -> Vec<u8> {
    if value.contains(&b'\n') || value.contains(&b'\r') {
        event.to_json_bytes()
    } else {
        value.to_vec()
    }
}

/// The bytes `line` takes in a file.
pub fn encoded_len(line: &[u8]) -> usize {
    line.len() + 1
}

/// Appends `line` to a file's `bytes`.
pub fn append(bytes: &mut Vec<u8>, line: &[u8]) {
    bytes.extend_from_slice(line);
    bytes.push(b'\n');
}

/// Writes `lines` as the file at `path` (replacing it), in chunks of about
/// [`WRITE_CHUNK_BYTES`]; returns the bytes written. Dead letters are written this way.
pub async fn write<'a>(
    op: &Operator,
    path: &str,
    lines: impl Iterator<Item = &'a [u8]>,
) -> Result<u64, FormatError> {
    let mut writer = ChunkedWriter::open(op, path).await?;
    for line in lines {
        append(writer.chunk(), line);
        writer.flush_if_full().await?;
    }
    writer.close().await
}

/// Writes the events whose offsets and lines are `records` as the file at `path`, each line
/// with its offset in the partition added as `kafkaOffset` (erasure reads it to keep the clicks
/// made after a request; readers of the event ignore it).
pub async fn write_events<'a>(
    op: &Operator,
    path: &str,
    records: impl Iterator<Item = (i64, &'a [u8])>,
) -> Result<u64, FormatError> {
    let mut writer = ChunkedWriter::open(op, path).await?;
    for (offset, line) in records {
        let Some(open) = line.strip_suffix(b"}") else {
            return Err(FormatError::Unreadable {
                path: path.to_owned(),
                reason: "an event line is not a JSON object".into(),
            });
        };
        let chunk = writer.chunk();
        chunk.extend_from_slice(open);
        if open.len() > 1 {
            chunk.push(b',');
        }
        chunk.extend_from_slice(format!("\"{OFFSET_FIELD}\":{offset}}}\n").as_bytes());
        writer.flush_if_full().await?;
    }
    writer.close().await
}

/// The field of an event line that holds its offset in the partition.
pub const OFFSET_FIELD: &str = "kafkaOffset";

/// A file written in chunks of about [`WRITE_CHUNK_BYTES`], so writing costs one chunk of
/// memory beside what is written rather than a second copy of the whole file.
struct ChunkedWriter {
    writer: opendal::Writer,
    chunk: Vec<u8>,
    written: u64,
}

impl ChunkedWriter {
    async fn open(op: &Operator, path: &str) -> Result<Self, FormatError> {
        Ok(ChunkedWriter {
            writer: op.writer(path).await?,
            chunk: Vec::with_capacity(WRITE_CHUNK_BYTES),
            written: 0,
        })
    }

    fn chunk(&mut self) -> &mut Vec<u8> {
        &mut self.chunk
    }

    async fn flush_if_full(&mut self) -> Result<(), FormatError> {
        if self.chunk.len() >= WRITE_CHUNK_BYTES {
            self.written += self.chunk.len() as u64;
            let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(WRITE_CHUNK_BYTES));
            self.writer.write(full).await?;
        }
        Ok(())
    }

    async fn close(mut self) -> Result<u64, FormatError> {
        self.written += self.chunk.len() as u64;
        if !self.chunk.is_empty() {
            self.writer.write(std::mem::take(&mut self.chunk)).await?;
        }
        self.writer.close().await?;
        Ok(self.written)
    }
}

/// Splits a file read a chunk at a time into its lines: whatever the file's size, this holds
/// one chunk and one line.
#[derive(Default)]
struct Lines {
    /// The start of a line whose end is in a later chunk.
    partial: Vec<u8>,
}

impl Lines {
    /// Calls `each` with every line `chunk` completes.
    fn feed(&mut self, chunk: &[u8], mut each: impl FnMut(&[u8])) {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            let (line, after) = rest.split_at(end);
            if self.partial.is_empty() {
                if !line.is_empty() {
                    each(line);
                }
            } else {
                self.partial.extend_from_slice(line);
                each(&self.partial);
                self.partial.clear();
            }
            rest = &after[1..];
        }
        self.partial.extend_from_slice(rest);
    }

    /// Calls `each` with a last line that had no line break.
    fn finish(self, mut each: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            each(&self.partial);
        }
    }
}

/// Calls `each` with every line of the file at `path`, read a chunk at a time.
async fn for_each_line(
    op: &Operator,
    path: &str,
    mut each: impl FnMut(&[u8]),
) -> Result<(), FormatError> {
    let mut split = Lines::default();
    let mut chunks = op.reader(path).await?.into_bytes_stream(..).await?;
    while let Some(chunk) = chunks.try_next().await? {
        split.feed(&chunk, &mut each);
    }
    split.finish(&mut each);
    Ok(())
}

/// How many lines the file at `path` has, and how many of them `named` names.
pub async fn count_named(
    op: &Operator,
    path: &str,
    named: &dyn Fn(&[u8]) -> bool,
) -> Result<(u64, u64), FormatError> {
    let (mut lines, mut matching) = (0, 0);
    for_each_line(op, path, |line| {
        lines += 1;
        matching += u64::from(named(line));
    })
    .await?;
    Ok((lines, matching))
}

/// Writes the lines of `input` that `named` does not name, in order, as the file at
/// `output`, a chunk at a time. Returns the lines kept and removed.
pub async fn rewrite_without(
    op: &Operator,
    input: &str,
    output: &str,
    named: &dyn Fn(&[u8]) -> bool,
) -> Result<(u64, u64), FormatError> {
    let mut writer = ChunkedWriter::open(op, output).await?;
    let (mut kept, mut removed) = (0, 0);
    let mut split = Lines::default();
    let mut chunks = op.reader(input).await?.into_bytes_stream(..).await?;
    let mut keep = |line: &[u8], out: &mut Vec<u8>| {
        if named(line) {
            removed += 1;
        } else {
            kept += 1;
            append(out, line);
        }
    };
    while let Some(chunk) = chunks.try_next().await? {
        split.feed(&chunk, |line| keep(line, writer.chunk()));
        writer.flush_if_full().await?;
    }
    split.finish(|line| keep(line, writer.chunk()));
    writer.close().await?;
    Ok((kept, removed))
}

/// The user name, event id and offset of an event line, as erasure reads them; `None` when
/// the line is not an event.
pub fn row_key(
    line: &[u8],
) -> Option<(
    std::borrow::Cow<'_, str>,
    std::borrow::Cow<'_, str>,
    Option<i64>,
)> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Key<'a> {
        #[serde(borrow)]
        user_name: std::borrow::Cow<'a, str>,
        #[serde(borrow)]
        event_id: std::borrow::Cow<'a, str>,
        #[serde(default)]
        kafka_offset: Option<i64>,
    }
    let key: Key = serde_json::from_slice(line).ok()?;
    Some((key.user_name, key.event_id, key.kafka_offset))
}

/// Copies `inputs` one after the other into `output`: every input ends with a line break, so
/// the lines stay whole. Without a window, the bytes are copied as they are read; with one, line
/// by line, and a line `repeats` finds a repeat of is left out.
pub async fn merge(
    op: &Operator,
    inputs: &[String],
    output: &str,
    repeats: &mut RepeatWindow,
) -> Result<Merged, FormatError> {
    if !repeats.span().is_zero() {
        return merge_lines(op, inputs, output, repeats).await;
    }
    let mut writer = op.writer(output).await?;
    let mut merged = Merged::default();
    for input in inputs {
        let mut chunks = op.reader(input).await?.into_bytes_stream(..).await?;
        let mut last = None;
        while let Some(chunk) = chunks.try_next().await? {
            merged.rows += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            merged.bytes_in += chunk.len() as u64;
            last = chunk.last().copied().or(last);
            writer.write(chunk).await?;
        }
        if last.is_some_and(|b| b != b'\n') {
            writer.write(vec![b'\n']).await?;
            merged.rows += 1;
        }
    }
    merged.bytes_out = writer.close().await?.content_length();
    Ok(merged)
}

/// [`merge`] with a window: each line read, checked and written again, a chunk at a time.
async fn merge_lines(
    op: &Operator,
    inputs: &[String],
    output: &str,
    repeats: &mut RepeatWindow,
) -> Result<Merged, FormatError> {
    let mut writer = ChunkedWriter::open(op, output).await?;
    let mut merged = Merged::default();
    let mut keep = |line: &[u8], out: &mut Vec<u8>| {
        let repeat = click_of(line).is_some_and(|c| repeats.see(c.id, c.at) == Seen::Repeat);
        if repeat {
            merged.repeats += 1;
        } else {
            merged.rows += 1;
            append(out, line);
        }
    };
    for input in inputs {
        let mut split = Lines::default();
        let mut chunks = op.reader(input).await?.into_bytes_stream(..).await?;
        while let Some(chunk) = chunks.try_next().await? {
            merged.bytes_in += chunk.len() as u64;
            split.feed(&chunk, |line| keep(line, writer.chunk()));
            writer.flush_if_full().await?;
        }
        split.finish(|line| keep(line, writer.chunk()));
    }
    merged.bytes_out = writer.close().await?;
    Ok(merged)
}

/// Calls `each` with the clicks of the file at `path`, in order; lines that are not clicks are
/// passed over.
pub async fn read_clicks(
    op: &Operator,
    path: &str,
    each: &mut dyn FnMut(LandedClick),
) -> Result<(), FormatError> {
    for_each_line(op, path, |line| {
        if let Some(click) = click_of(line) {
            each(click);
        }
    })
    .await
}

/// Calls `each` with the clicks of the dead-letter file at `path` whose records carry an id and
/// a time ([`crate::repeats::carried`]), in order.
pub async fn read_dead_letter_clicks(
    op: &Operator,
    path: &str,
    each: &mut dyn FnMut(LandedClick),
) -> Result<(), FormatError> {
    #[derive(serde::Deserialize)]
    struct DeadLetter {
        offset: i64,
        #[serde(default)]
        record: Option<String>,
    }
    for_each_line(op, path, |line| {
        let Ok(letter) = serde_json::from_slice::<DeadLetter>(line) else {
            return;
        };
        let carried = letter
            .record
            .as_deref()
            .and_then(|record| crate::repeats::carried(record.as_bytes()));
        if let Some((id, at)) = carried {
            each(LandedClick {
                offset: Some(letter.offset),
                id,
                at,
            });
        }
    })
    .await
}

/// The offset, id and time of an event line; `None` when the line is not an event.
fn click_of(line: &[u8]) -> Option<LandedClick> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Click<'a> {
        event_id: uuid::Uuid,
        #[serde(borrow)]
        timestamp: std::borrow::Cow<'a, str>,
        #[serde(default)]
        kafka_offset: Option<i64>,
    }
    let click: Click = serde_json::from_slice(line).ok()?;
    let at = chrono::DateTime::parse_from_rfc3339(&click.timestamp).ok()?;
    Some(LandedClick {
        offset: click.kafka_offset,
        id: click.event_id,
        at: at.with_timezone(&chrono::Utc),
    })
}

/// The events of a JSON-lines file.
pub async fn read_events(op: &Operator, path: &str) -> Result<Vec<ColorEvent>, FormatError> {
    let bytes = op.read(path).await?.to_vec();
    bytes
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            ColorEvent::from_json_slice(line).map_err(|err| FormatError::Unreadable {
                path: path.to_owned(),
                reason: err.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_merge_with_a_window_leaves_out_copies_and_keeps_other_lines() {
        let dir = tempfile::tempdir().unwrap();
        let url = url::Url::from_directory_path(dir.path()).unwrap();
        let op = crate::storage::operator_for(&url).unwrap();
        let first = ColorEvent::sample("a", "red", chrono::Utc::now());
        let mut retried = first.clone();
        retried.timestamp += chrono::Duration::seconds(5);
        let other = ColorEvent::sample("b", "blue", chrono::Utc::now());
        let lines = [first.to_json_bytes(), other.to_json_bytes()];
        write_events(&op, "a.json", (0..).zip(lines.iter().map(Vec::as_slice)))
            .await
            .unwrap();
        let lines = [retried.to_json_bytes()];
        write_events(&op, "b.json", (2..).zip(lines.iter().map(Vec::as_slice)))
            .await
            .unwrap();
        let inputs = ["a.json".to_owned(), "b.json".to_owned()];
        let mut window = RepeatWindow::new(std::time::Duration::from_secs(60));
        let merged = merge(&op, &inputs, "m.json", &mut window).await.unwrap();
        assert_eq!((merged.rows, merged.repeats), (2, 1));
        assert_eq!(read_events(&op, "m.json").await.unwrap(), [first, other]);
        let mut every_copy = RepeatWindow::new(std::time::Duration::ZERO);
        let merged = merge(&op, &inputs, "n.json", &mut every_copy)
            .await
            .unwrap();
        assert_eq!((merged.rows, merged.repeats), (3, 0));
    }

    #[test]
    fn lines_are_counted_as_they_are_written() {
        let mut file = Vec::new();
        for line in [&b"{\"a\":1}"[..], b"{}"] {
            let before = file.len();
            append(&mut file, line);
            assert_eq!(file.len() - before, encoded_len(line));
        }
        assert_eq!(file, b"{\"a\":1}\n{}\n");
    }
}
