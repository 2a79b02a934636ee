//! What became of one store's part of an erasure.

use serde::Serialize;

/// What became of one store's part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome<T> {
    /// Done: what was found and removed.
    Erased(T),
    /// The store was skipped, as the command was told (`--skip`).
    Skipped,
    /// Not done, and why.
    Unfinished(String),
}

impl<T> Outcome<T> {
    pub fn is_unfinished(&self) -> bool {
        matches!(self, Outcome::Unfinished(_))
    }
}
