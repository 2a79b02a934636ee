//! A connection to a Hive Metastore and the calls the pipeline makes, each bounded in time. The
//! metastore speaks Thrift's binary protocol on a plain socket (no framing, no SASL): the
//! default of Hive 2 and 4 alike. A connection that failed or timed out mid-call is out of
//! step with its answers, so it is spent: the caller connects again.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::thrift::{self, DecodeError, MessageKind, Struct, Value};
use crate::{Error, fields};

/// The largest answer read: a table's partition names for years of hours stay far below it.
const MAX_ANSWER: usize = 64 << 20;

/// One connection to a metastore.
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    uri: String,
    seq: i32,
    timeout: Duration,
    /// An earlier call failed mid-way: its answer may still come.
    spent: bool,
}

impl Client {
    /// Connects to the first of `uris` (`thrift://host:port`) that answers within `timeout`.
    pub async fn connect(uris: &[Url], timeout: Duration) -> Result<Client, Error> {
        let mut last = Error::NoUri;
        for uri in uris {
            let (Some(host), Some(port)) = (uri.host_str(), uri.port()) else {
                last = Error::BadUri(uri.to_string());
                continue;
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(Client {
                        stream,
                        uri: uri.to_string(),
                        seq: 0,
                        timeout,
                        spent: false,
                    });
                }
                Ok(Err(source)) => {
                    last = Error::Connect {
                        uri: uri.to_string(),
                        reason: source.to_string(),
                    }
                }
                Err(_) => {
                    last = Error::Connect {
                        uri: uri.to_string(),
                        reason: format!("no answer within {timeout:?}"),
                    }
                }
            }
        }
        Err(last)
    }

    /// The metastore this connection reaches.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// Whether a call failed mid-way, so the connection cannot be used again.
    pub fn is_spent(&self) -> bool {
        self.spent
    }

    /// Calls `method` with `args` and returns its result struct: field 0 the answer, other
    /// fields the exceptions the method declares.
    async fn call(&mut self, method: &'static str, args: Struct) -> Result<Struct, Error> {
        if self.spent {
            return Err(self.failed(method, "the connection was spent by an earlier failure"));
        }
        self.seq = self.seq.wrapping_add(1);
        let request = thrift::encode_call(method, self.seq, &args);
        self.spent = true;
        let answer = tokio::time::timeout(self.timeout, exchange(&mut self.stream, &request))
            .await
            .map_err(|_| self.failed(method, &format!("no answer within {:?}", self.timeout)))?
            .map_err(|reason| self.failed(method, &reason))?;
        if answer.seq != self.seq || answer.name != method {
            return Err(self.failed(
                method,
                &format!("answer to {} #{} came instead", answer.name, answer.seq),
            ));
        }
        self.spent = false;
        match answer.kind {
            MessageKind::Reply => Ok(answer.body),
            MessageKind::Exception => Err(Error::Application {
                method,
                message: message_of(&answer.body),
            }),
            MessageKind::Call => Err(self.failed(method, "a call came back")),
        }
    }

    fn failed(&self, method: &'static str, reason: &str) -> Error {
        Error::Call {
            uri: self.uri.clone(),
            method,
            reason: reason.to_owned(),
        }
    }

    /// The database named `name`, or `None` when there is none.
    pub async fn get_database(&mut self, name: &str) -> Result<Option<Struct>, Error> {
        let result = self
            .call("get_database", fields! { 1 => Value::string(name) })
            .await?;
        match answer(result) {
            Answer::Value(Value::Struct(database)) => Ok(Some(database)),
            Answer::Refused(1, _) => Ok(None),
            other => Err(other.unexpected("get_database")),
        }
    }

    /// Makes a database; false when it already exists.
    pub async fn create_database(&mut self, database: Struct) -> Result<bool, Error> {
        let result = self
            .call("create_database", fields! { 1 => Value::Struct(database) })
            .await?;
        match answer(result) {
            Answer::Void => Ok(true),
            Answer::Refused(1, _) => Ok(false),
            other => Err(other.unexpected("create_database")),
        }
    }

    /// The table, or `None` when there is none.
    pub async fn get_table(
        &mut self,
        database: &str,
        table: &str,
    ) -> Result<Option<Struct>, Error> {
        let args = fields! { 1 => Value::string(database), 2 => Value::string(table) };
        match answer(self.call("get_table", args).await?) {
            Answer::Value(Value::Struct(table)) => Ok(Some(table)),
            Answer::Refused(2, _) => Ok(None),
            other => Err(other.unexpected("get_table")),
        }
    }

    /// Makes a table; false when it already exists.
    pub async fn create_table(&mut self, table: Struct) -> Result<bool, Error> {
        let args = fields! { 1 => Value::Struct(table) };
        match answer(self.call("create_table", args).await?) {
            Answer::Void => Ok(true),
            Answer::Refused(1, _) => Ok(false),
            other => Err(other.unexpected("create_table")),
        }
    }

    /// Replaces the table's definition with `table`.
    pub async fn alter_table(
        &mut self,
        database: &str,
        name: &str,
        table: Struct,
    ) -> Result<(), Error> {
        let args = fields! {
            1 => Value::string(database),
            2 => Value::string(name),
            3 => Value::Struct(table),
        };
        match answer(self.call("alter_table", args).await?) {
            Answer::Void => Ok(()),
            other => Err(other.unexpected("alter_table")),
        }
    }

    /// Adds `partitions` to the table, skipping those it already has: adding one twice is
    /// not an error.
    pub async fn add_partitions(
        &mut self,
        database: &str,
        table: &str,
        partitions: Vec<Struct>,
    ) -> Result<(), Error> {
        let request = fields! {
            1 => Value::string(database),
            2 => Value::string(table),
            3 => Value::structs(partitions),
            4 => Value::Bool(true),
            5 => Value::Bool(false),
        };
        let args = fields! { 1 => Value::Struct(request) };
        match answer(self.call("add_partitions_req", args).await?) {
            Answer::Value(_) | Answer::Void => Ok(()),
            other => Err(other.unexpected("add_partitions_req")),
        }
    }

    /// The names of the table's partitions (`dt=2026-12-01/hour=05`).
    pub async fn partition_names(
        &mut self,
        database: &str,
        table: &str,
    ) -> Result<Vec<String>, Error> {
        let args = fields! {
            1 => Value::string(database),
            2 => Value::string(table),
            3 => Value::I16(-1),
        };
        match answer(self.call("get_partition_names", args).await?) {
            Answer::Value(list) => Ok(list
                .items()
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()),
            other => Err(other.unexpected("get_partition_names")),
        }
    }

    /// Drops the partition named `name`, leaving its files; false when there was none.
    pub async fn drop_partition(
        &mut self,
        database: &str,
        table: &str,
        name: &str,
    ) -> Result<bool, Error> {
        let args = fields! {
            1 => Value::string(database),
            2 => Value::string(table),
            3 => Value::string(name),
            4 => Value::Bool(false),
        };
        match answer(self.call("drop_partition_by_name", args).await?) {
            Answer::Value(Value::Bool(dropped)) => Ok(dropped),
            Answer::Refused(1, _) => Ok(false),
            other => Err(other.unexpected("drop_partition_by_name")),
        }
    }
}

/// Writes `request` and reads one whole message back.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> Result<thrift::Message, String> {
    stream.write_all(request).await.map_err(|e| e.to_string())?;
    let mut buffer = Vec::with_capacity(4096);
    loop {
        match thrift::decode_message(&buffer) {
            Ok((message, _)) => return Ok(message),
            Err(DecodeError::Malformed(reason)) => return Err(reason),
            Err(DecodeError::Incomplete) if buffer.len() >= MAX_ANSWER => {
                return Err(format!("an answer larger than {MAX_ANSWER} bytes"));
            }
            Err(DecodeError::Incomplete) => {}
        }
        let read = stream
            .read_buf(&mut buffer)
            .await
            .map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("the metastore closed the connection".to_owned());
        }
    }
}

/// What a result struct says.
#[derive(Debug, PartialEq)]
enum Answer {
    /// Field 0: the method's answer.
    Value(Value),
    /// No field set: a void method succeeded.
    Void,
    /// An exception the method declares, by its field id, with its message.
    Refused(i16, String),
}

impl Answer {
    fn unexpected(self, method: &'static str) -> Error {
        match self {
            Answer::Refused(_, message) => Error::Refused { method, message },
            other => Error::Application {
                method,
                message: format!("unexpected answer {other:?}"),
            },
        }
    }
}

fn answer(mut result: Struct) -> Answer {
    if let Some(value) = result.remove(&0) {
        return Answer::Value(value);
    }
    match result.into_iter().next() {
        None => Answer::Void,
        Some((id, exception)) => Answer::Refused(
            id,
            exception
                .as_struct()
                .map(message_of)
                .unwrap_or_else(|| format!("{exception:?}")),
        ),
    }
}

/// Field 1 of an exception: its message, in every metastore exception and in Thrift's own.
fn message_of(exception: &Struct) -> String {
    exception
        .get(&1)
        .and_then(Value::as_str)
        .unwrap_or("(no message)")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_an_answer_nothing_or_a_declared_exception() {
        let answered = fields! { 0 => Value::Bool(true) };
        assert_eq!(answer(answered), Answer::Value(Value::Bool(true)));
        assert_eq!(answer(Struct::new()), Answer::Void);
        let refused = fields! {
            2 => Value::Struct(fields! { 1 => Value::string("Table default.t not found") }),
        };
        assert_eq!(
            answer(refused),
            Answer::Refused(2, "Table default.t not found".into())
        );
    }
}
