//! What the erasure asks Kafka: where each partition ends now, and how far es-sink's group has
//! committed.

use std::collections::BTreeMap;

use common::kafka::{ClientError, KafkaArgs, committed, end_offsets, lookup_consumer};

/// Each partition's end offset: the offset the next click produced there will have.
pub fn ends(args: &KafkaArgs) -> Result<BTreeMap<i32, i64>, ClientError> {
    end_offsets(&lookup_consumer(args, "erase", "erase")?, args)
}

/// The partitions whose committed offset in `group` is still before their end in `ends`.
pub fn behind(
    args: &KafkaArgs,
    group: &str,
    ends: &BTreeMap<i32, i64>,
) -> Result<Vec<i32>, ClientError> {
    let consumer = lookup_consumer(args, group, "erase")?;
    let committed = committed(&consumer, args, ends.keys().copied())?;
    Ok(ends
        .iter()
        .filter(|(partition, end)| **end > committed.get(partition).copied().unwrap_or(0))
        .map(|(partition, _)| *partition)
        .collect())
}
