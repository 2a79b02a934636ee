//! The audit file: one JSON line per erasure, its id, when, how many names and ids, and what
//! each store removed. It never holds a name.

use std::io::Write;
use std::path::Path;

use crate::error::Error;
use crate::report::Report;

/// Appends `report` to the audit file at `path`, making it if needed.
pub fn append(path: &Path, report: &Report) -> Result<(), Error> {
    let failed = |source| Error::Audit {
        path: path.display().to_string(),
        source,
    };
    let mut line = serde_json::to_vec(report).expect("a report serializes");
    line.push(b'\n');
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(failed)?;
    file.write_all(&line).map_err(failed)
}
