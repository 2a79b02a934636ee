//! JSON lines: one record per line, each line one compact JSON object, which Hive's JSON SerDe
//! and Spark's JSON source read as table rows. Dead letters are written this way in every
//! format.

use common::ColorEvent;
use futures::TryStreamExt;
use opendal::Operator;

use super::{FormatError, Merged};

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
/// [`WRITE_CHUNK_BYTES`]; returns the bytes written.
pub async fn write<'a>(
    op: &Operator,
    path: &str,
    lines: impl Iterator<Item = &'a [u8]>,
) -> Result<u64, FormatError> {
    let mut writer = op.writer(path).await?;
    let mut chunk = Vec::with_capacity(WRITE_CHUNK_BYTES);
    let mut written = 0;
    for line in lines {
        append(&mut chunk, line);
        if chunk.len() >= WRITE_CHUNK_BYTES {
            written += chunk.len() as u64;
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(WRITE_CHUNK_BYTES));
            writer.write(full).await?;
        }
    }
    written += chunk.len() as u64;
    if !chunk.is_empty() {
        writer.write(chunk).await?;
    }
    writer.close().await?;
    Ok(written)
}

/// Copies `inputs` one after the other into `output`, as they are read: every input ends with
/// a line break, so the lines stay whole.
pub async fn merge(op: &Operator, inputs: &[String], output: &str) -> Result<Merged, FormatError> {
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
