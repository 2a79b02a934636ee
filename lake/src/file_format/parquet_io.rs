//! Parquet's asynchronous reader and writer over OpenDAL, so a Parquet file is read and written
//! the same way on a folder and on HDFS. Written here rather than taken from a crate: the one
//! published for it enables OpenDAL's HTTP transport, and with it a second TLS stack to build,
//! which neither backend needs.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use opendal::{Operator, Reader, Writer};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::async_writer::AsyncFileWriter;
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

/// How much of a file's end is read at once to find its footer: our footers are a few KiB, so
/// one read usually holds the whole metadata (one round trip to a DataNode instead of two).
const FOOTER_READ_BYTES: usize = 64 << 10;

fn storage_error(error: opendal::Error) -> ParquetError {
    ParquetError::External(Box::new(error))
}

/// A Parquet file being written: each encoded chunk goes to OpenDAL's writer as it comes.
pub struct FileWriter(Writer);

impl FileWriter {
    pub async fn create(op: &Operator, path: &str) -> opendal::Result<Self> {
        Ok(Self(op.writer(path).await?))
    }
}

impl AsyncFileWriter for FileWriter {
    fn write(&mut self, bytes: Bytes) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move { self.0.write(bytes).await.map_err(storage_error) }.boxed()
    }

    fn complete(&mut self) -> BoxFuture<'_, parquet::errors::Result<()>> {
        async move { self.0.close().await.map(drop).map_err(storage_error) }.boxed()
    }
}

/// A Parquet file being read: its length, known from a stat, and ranges read on demand.
pub struct FileReader {
    reader: Reader,
    length: u64,
}

impl FileReader {
    /// Opens `path`; also returns its length.
    pub async fn open(op: &Operator, path: &str) -> opendal::Result<(Self, u64)> {
        let length = op.stat(path).await?.content_length();
        let reader = op.reader(path).await?;
        Ok((Self { reader, length }, length))
    }
}

impl AsyncFileReader for FileReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        async move {
            let buffer = self.reader.read(range).await.map_err(storage_error)?;
            Ok(buffer.to_bytes())
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let length = self.length;
        let prefetch = FOOTER_READ_BYTES.min(usize::try_from(length).unwrap_or(usize::MAX));
        async move {
            let metadata = ParquetMetaDataReader::new()
                .with_prefetch_hint(Some(prefetch))
                .load_and_finish(self, length)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
