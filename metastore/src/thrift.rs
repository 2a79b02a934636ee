//! Thrift's binary protocol (strict messages), as plain functions over a value tree. The
//! metastore's structs are read whole into [`Value`]s, fields we do not know included, so a
//! table read, changed and written back keeps what other engines put in it.

use std::collections::BTreeMap;

/// A Thrift value, as its wire type names it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Byte(i8),
    Double(f64),
    I16(i16),
    I32(i32),
    I64(i64),
    /// A string or binary.
    Binary(Vec<u8>),
    Struct(Struct),
    Map {
        key: u8,
        value: u8,
        entries: Vec<(Value, Value)>,
    },
    Set {
        element: u8,
        items: Vec<Value>,
    },
    List {
        element: u8,
        items: Vec<Value>,
    },
}

/// A struct's fields by id.
pub type Struct = BTreeMap<i16, Value>;

const STOP: u8 = 0;
const BOOL: u8 = 2;
const BYTE: u8 = 3;
const DOUBLE: u8 = 4;
const I16: u8 = 6;
const I32: u8 = 8;
const I64: u8 = 10;
const STRING: u8 = 11;
const STRUCT: u8 = 12;
const MAP: u8 = 13;
const SET: u8 = 14;
const LIST: u8 = 15;

/// Strict messages carry this version in their first word.
const VERSION_1: u32 = 0x8001_0000;

/// The kind of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Call = 1,
    Reply = 2,
    Exception = 3,
}

/// A message as it came: its kind, method name, sequence id and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub kind: MessageKind,
    pub name: String,
    pub seq: i32,
    pub body: Struct,
}

/// Bytes that are not a message of the binary protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// More bytes are needed: the message is not complete yet.
    #[error("the message ends early")]
    Incomplete,
    #[error("not a Thrift binary message: {0}")]
    Malformed(String),
}

impl Value {
    pub fn string(text: &str) -> Value {
        Value::Binary(text.as_bytes().to_vec())
    }

    pub fn strings<'a>(texts: impl IntoIterator<Item = &'a str>) -> Value {
        Value::List {
            element: STRING,
            items: texts.into_iter().map(Value::string).collect(),
        }
    }

    pub fn structs(items: Vec<Struct>) -> Value {
        Value::List {
            element: STRUCT,
            items: items.into_iter().map(Value::Struct).collect(),
        }
    }

    pub fn string_map<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
        Value::Map {
            key: STRING,
            value: STRING,
            entries: entries
                .into_iter()
                .map(|(k, v)| (Value::string(k), Value::string(v)))
                .collect(),
        }
    }

    fn wire_type(&self) -> u8 {
        match self {
            Value::Bool(_) => BOOL,
            Value::Byte(_) => BYTE,
            Value::Double(_) => DOUBLE,
            Value::I16(_) => I16,
            Value::I32(_) => I32,
            Value::I64(_) => I64,
            Value::Binary(_) => STRING,
            Value::Struct(_) => STRUCT,
            Value::Map { .. } => MAP,
            Value::Set { .. } => SET,
            Value::List { .. } => LIST,
        }
    }

    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Binary(bytes) => std::str::from_utf8(bytes).ok(),
            _ => None,
        }
    }

    pub fn as_struct(&self) -> Option<&Struct> {
        match self {
            Value::Struct(fields) => Some(fields),
            _ => None,
        }
    }

    pub fn as_struct_mut(&mut self) -> Option<&mut Struct> {
        match self {
            Value::Struct(fields) => Some(fields),
            _ => None,
        }
    }

    /// The items of a list or set.
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Value::List { items, .. } | Value::Set { items, .. } => Some(items),
            _ => None,
        }
    }
}

/// A call's message: `name` with `args`.
pub fn encode_call(name: &str, seq: i32, args: &Struct) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&(VERSION_1 | MessageKind::Call as u32).to_be_bytes());
    write_binary(&mut out, name.as_bytes());
    out.extend_from_slice(&seq.to_be_bytes());
    write_struct(&mut out, args);
    out
}

/// A whole message from the start of `bytes`, and how many bytes it took.
pub fn decode_message(bytes: &[u8]) -> Result<(Message, usize), DecodeError> {
    let mut reader = Reader { bytes, at: 0 };
    let word = reader.u32()?;
    if word & 0xffff_0000 != VERSION_1 {
        return Err(DecodeError::Malformed(format!(
            "message header {word:#010x} is not strict binary version 1"
        )));
    }
    let kind = match word & 0xff {
        1 => MessageKind::Call,
        2 => MessageKind::Reply,
        3 => MessageKind::Exception,
        other => return Err(DecodeError::Malformed(format!("message kind {other}"))),
    };
    let name = String::from_utf8_lossy(reader.binary()?).into_owned();
    let seq = reader.u32()? as i32;
    let body = reader.structure(0)?;
    Ok((
        Message {
            kind,
            name,
            seq,
            body,
        },
        reader.at,
    ))
}

fn write_binary(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn write_struct(out: &mut Vec<u8>, fields: &Struct) {
    for (id, value) in fields {
        out.push(value.wire_type());
        out.extend_from_slice(&id.to_be_bytes());
        write_value(out, value);
    }
    out.push(STOP);
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::Byte(b) => out.push(*b as u8),
        Value::Double(d) => out.extend_from_slice(&d.to_bits().to_be_bytes()),
        Value::I16(n) => out.extend_from_slice(&n.to_be_bytes()),
        Value::I32(n) => out.extend_from_slice(&n.to_be_bytes()),
        Value::I64(n) => out.extend_from_slice(&n.to_be_bytes()),
        Value::Binary(bytes) => write_binary(out, bytes),
        Value::Struct(fields) => write_struct(out, fields),
        Value::Map {
            key,
            value,
            entries,
        } => {
            out.extend_from_slice(&[*key, *value]);
            out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
            for (k, v) in entries {
                write_value(out, k);
                write_value(out, v);
            }
        }
        Value::Set { element, items } | Value::List { element, items } => {
            out.push(*element);
            out.extend_from_slice(&(items.len() as i32).to_be_bytes());
            for item in items {
                write_value(out, item);
            }
        }
    }
}

/// Nesting deeper than this is refused: no metastore struct comes near it, and a corrupt
/// answer must not exhaust the stack.
const MAX_DEPTH: usize = 64;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).ok_or(DecodeError::Incomplete)?;
        let taken = self
            .bytes
            .get(self.at..end)
            .ok_or(DecodeError::Incomplete)?;
        self.at = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn size(&mut self) -> Result<usize, DecodeError> {
        let size = self.u32()? as i32;
        let size = usize::try_from(size)
            .map_err(|_| DecodeError::Malformed(format!("negative size {size}")))?;
        // Each element takes at least one byte: a size past what is left is not yet here.
        if size > self.bytes.len() - self.at {
            return Err(DecodeError::Incomplete);
        }
        Ok(size)
    }

    fn binary(&mut self) -> Result<&'a [u8], DecodeError> {
        let size = self.size()?;
        self.take(size)
    }

    fn structure(&mut self, depth: usize) -> Result<Struct, DecodeError> {
        let mut fields = Struct::new();
        loop {
            let kind = self.u8()?;
            if kind == STOP {
                return Ok(fields);
            }
            let id = i16::from_be_bytes(self.array()?);
            fields.insert(id, self.value(kind, depth + 1)?);
        }
    }

    fn value(&mut self, kind: u8, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::Malformed(format!(
                "nested deeper than {MAX_DEPTH}"
            )));
        }
        Ok(match kind {
            BOOL => Value::Bool(self.u8()? != 0),
            BYTE => Value::Byte(self.u8()? as i8),
            DOUBLE => Value::Double(f64::from_bits(u64::from_be_bytes(self.array()?))),
            I16 => Value::I16(i16::from_be_bytes(self.array()?)),
            I32 => Value::I32(i32::from_be_bytes(self.array()?)),
            I64 => Value::I64(i64::from_be_bytes(self.array()?)),
            STRING => Value::Binary(self.binary()?.to_vec()),
            STRUCT => Value::Struct(self.structure(depth)?),
            MAP => {
                let (key, value) = (self.u8()?, self.u8()?);
                let size = self.size()?;
                let mut entries = Vec::with_capacity(size);
                for _ in 0..size {
                    let k = self.value(key, depth + 1)?;
                    entries.push((k, self.value(value, depth + 1)?));
                }
                Value::Map {
                    key,
                    value,
                    entries,
                }
            }
            SET | LIST => {
                let element = self.u8()?;
                let size = self.size()?;
                let mut items = Vec::with_capacity(size);
                for _ in 0..size {
                    items.push(self.value(element, depth + 1)?);
                }
                if kind == SET {
                    Value::Set { element, items }
                } else {
                    Value::List { element, items }
                }
            }
            other => return Err(DecodeError::Malformed(format!("unknown type {other}"))),
        })
    }
}

/// A struct written with these fields, for tests and callers alike.
#[macro_export]
macro_rules! fields {
    ($($id:expr => $value:expr),* $(,)?) => {{
        let mut fields = $crate::thrift::Struct::new();
        $(fields.insert($id, $value);)*
        fields
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_the_bytes_thrift_writes_for_it() {
        // get_database("default"), seq 1, as Thrift's Java TBinaryProtocol writes it.
        let args = fields! { 1 => Value::string("default") };
        let bytes = encode_call("get_database", 1, &args);
        let mut expected = vec![0x80, 0x01, 0x00, 0x01, 0, 0, 0, 12];
        expected.extend_from_slice(b"get_database");
        expected.extend_from_slice(&[0, 0, 0, 1]);
        expected.extend_from_slice(&[11, 0, 1, 0, 0, 0, 7]);
        expected.extend_from_slice(b"default");
        expected.push(0);
        assert_eq!(bytes, expected);
    }

    #[test]
    fn every_type_reads_back_as_written() {
        let nested = fields! {
            1 => Value::Bool(true),
            2 => Value::Byte(-3),
            3 => Value::Double(1.5),
            4 => Value::I16(-2),
            5 => Value::I32(70000),
            6 => Value::I64(-1 << 40),
            7 => Value::string("naïve"),
            8 => Value::string_map([("a", "1"), ("b", "2")]),
            9 => Value::Set { element: I32, items: vec![Value::I32(1), Value::I32(2)] },
            10 => Value::strings(["x", "y"]),
        };
        let body =
            fields! { 0 => Value::Struct(nested.clone()), 1 => Value::structs(vec![nested]) };
        let mut bytes = encode_call("m", 7, &body);
        bytes[3] = MessageKind::Reply as u8;
        bytes.extend_from_slice(b"next message");
        let (message, used) = decode_message(&bytes).unwrap();
        assert_eq!(used, bytes.len() - b"next message".len());
        assert_eq!(
            message,
            Message {
                kind: MessageKind::Reply,
                name: "m".into(),
                seq: 7,
                body
            }
        );
    }

    #[test]
    fn a_message_cut_short_asks_for_more_and_garbage_is_refused() {
        let bytes = encode_call("get_table", 3, &fields! { 1 => Value::string("db") });
        for end in 0..bytes.len() {
            assert_eq!(
                decode_message(&bytes[..end]).unwrap_err(),
                DecodeError::Incomplete,
                "cut at {end}"
            );
        }
        assert!(matches!(
            decode_message(b"HTTP/1.1 400 Bad Request\r\n"),
            Err(DecodeError::Malformed(_))
        ));
        // A list claiming two billion elements in a short message is incomplete, not a
        // two-billion-element allocation.
        let mut huge = bytes[..bytes.len() - 1].to_vec();
        huge.extend_from_slice(&[LIST, 0, 2, STRING, 0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(decode_message(&huge).unwrap_err(), DecodeError::Incomplete);
    }
}
