//! The landed files' format, JSON lines: one record per line, each line one compact JSON
//! object, which Hive's JSON SerDe and Spark's JSON source read as table rows. Everything that
//! knows the format is here: how an event and a dead letter are encoded, the files'
//! extension, and how a record's size in a file is counted. Another format (Parquet, say)
//! would replace this module and the two table definitions under `scripts/hive/`; file names
//! take their extension from [`EXTENSION`].

use common::ColorEvent;

/// The landed files' extension, without the dot.
pub const EXTENSION: &str = "json";

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

/// The bytes `line` takes in a file.
pub fn encoded_len(line: &[u8]) -> usize {
    line.len() + 1
}

/// Appends `line` to a file's `bytes`.
pub fn append(bytes: &mut Vec<u8>, line: &[u8]) {
    bytes.extend_from_slice(line);
    bytes.push(b'\n');
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
}
