//! Where landed data goes, as pure functions: file names, the Hive partition of an event, and
//! how a batch of records splits into files.
//!
//! ```text
//! <root>/<topic>/dt=YYYY-MM-DD/hour=HH/<topic>+<partition>+<firstOffset>+<lastOffset>.parquet (or .json)
//! <root>/<topic>/_invalid/<topic>+<partition>+<firstOffset>+<lastOffset>.json
//! <root>/<topic>/_tmp/<partition>.<owner>.<kind>.<name>   files being written
//! <root>/<topic>/_commits/<partition>/<entry>.json          each partition's commit log
//! <root>/<topic>/_erasures/<request>.json                   erasure requests being carried out
//! <root>/<topic>/_erasures/<request>/                       what each holder says of one: why it failed, the ids it erased
//! ```
//!
//! A file rewritten without erased clicks keeps its offsets and adds the number of the commit
//! log entry that published it (`...+<lastOffset>+e<entry>.parquet`), so its name is new.
//!
//! Hive skips names that start with `_`. Earlier versions kept one checkpoint per partition in
//! `<root>/<topic>/_checkpoints/<topic>+<partition>.json`; it is read once, when a partition has
//! no commit log yet.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Timelike, Utc};

use crate::file_format::EXTENSIONS;

/// Offsets in file names are zero-padded to this width, so names sort by offset.
pub const OFFSET_WIDTH: usize = 19;

/// The Hive partition (`dt`, `hour`) an event belongs to, from its timestamp in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HourPartition {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
}

impl HourPartition {
    pub fn of(at: &DateTime<Utc>) -> Self {
        HourPartition {
            year: at.year(),
            month: at.month(),
            day: at.day(),
            hour: at.hour(),
        }
    }

    /// `dt=YYYY-MM-DD/hour=HH`
    pub fn dir(&self) -> String {
        format!(
            "dt={:04}-{:02}-{:02}/hour={:02}",
            self.year, self.month, self.day, self.hour
        )
    }

    /// The hour a `dt=YYYY-MM-DD/hour=HH` folder name stands for.
    pub fn parse_dir(dir: &str) -> Option<Self> {
        let (dt, hour) = dir.trim_end_matches('/').split_once('/')?;
        let day = NaiveDate::parse_from_str(dt.strip_prefix("dt=")?, "%Y-%m-%d").ok()?;
        let hour = hour.strip_prefix("hour=")?;
        let hour: u32 = (hour.len() == 2).then(|| hour.parse().ok()).flatten()?;
        (hour < 24).then_some(HourPartition {
            year: day.year(),
            month: day.month(),
            day: day.day(),
            hour,
        })
    }

    /// When the hour is over: the first instant of the next one.
    pub fn end(&self) -> DateTime<Utc> {
        let start = Utc
            .with_ymd_and_hms(self.year, self.month, self.day, self.hour, 0, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        start + chrono::Duration::hours(1)
    }
}

/// `<topic>+<partition>+<first>+<last>.<extension>`, the extension of the file's format
/// ([`crate::file_format`]).
pub fn file_name(topic: &str, partition: i32, first: i64, last: i64, extension: &str) -> String {
    format!(
        "{topic}+{partition}+{first:0w$}+{last:0w$}.{extension}",
        w = OFFSET_WIDTH
    )
}

/// The name of a landed file of offsets `first..=last` rewritten by commit log entry `entry`.
pub fn rewritten_file_name(
    topic: &str,
    partition: i32,
    first: i64,
    last: i64,
    entry: u64,
    extension: &str,
) -> String {
    format!(
        "{topic}+{partition}+{first:0w$}+{last:0w$}+e{entry}.{extension}",
        w = OFFSET_WIDTH
    )
}

/// The offsets in a landed file's name, if the name is one of this topic and partition, in
/// any format, rewritten or not.
pub fn parse_file_name(name: &str, topic: &str, partition: i32) -> Option<(i64, i64)> {
    let rest = name.strip_prefix(topic)?.strip_prefix('+')?;
    let rest = EXTENSIONS
        .iter()
        .find_map(|extension| rest.strip_suffix(extension)?.strip_suffix('.'))?;
    let mut parts = rest.split('+');
    let p: i32 = parts.next()?.parse().ok()?;
    let first: i64 = parts.next()?.parse().ok()?;
    let last: i64 = parts.next()?.parse().ok()?;
    let rewritten = match parts.next() {
        None => true,
        Some(entry) => entry
            .strip_prefix('e')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
    };
    (rewritten && parts.next().is_none() && p == partition && first <= last)
        .then_some((first, last))
}

pub fn topic_dir(topic: &str) -> String {
    format!("{topic}/")
}

/// The folder of an hour's files, with a trailing slash.
pub fn hour_dir(topic: &str, hour: &HourPartition) -> String {
    format!("{topic}/{}/", hour.dir())
}

pub fn data_path(topic: &str, hour: &HourPartition, name: &str) -> String {
    format!("{topic}/{}/{name}", hour.dir())
}

pub fn invalid_path(topic: &str, name: &str) -> String {
    format!("{topic}/_invalid/{name}")
}

/// The folder of erasure requests being carried out.
pub fn erasures_dir(topic: &str) -> String {
    format!("{topic}/_erasures/")
}

/// Where erasure request `id` is filed.
pub fn erasure_path(topic: &str, id: &str) -> String {
    format!("{topic}/_erasures/{id}.json")
}

/// The folder of what the holders say about request `id`, partition by partition.
pub fn erasure_notes_dir(topic: &str, id: &str) -> String {
    format!("{topic}/_erasures/{id}/")
}

/// Where a holder says why request `id` failed on `partition`.
pub fn erasure_failure_path(topic: &str, id: &str, partition: i32) -> String {
    format!("{topic}/_erasures/{id}/failed-{partition}.json")
}

/// Where a holder lists the ids of the clicks request `id` erased on `partition`.
pub fn erased_ids_path(topic: &str, id: &str, partition: i32) -> String {
    format!("{topic}/_erasures/{id}/ids-{partition}.json")
}

pub fn tmp_dir(topic: &str) -> String {
    format!("{topic}/_tmp/")
}

/// Temporary files carry the partition in their name, so one partition's leftovers can be
/// found and removed without touching another's, and their writer's claim, so two members
/// writing the same offsets never write the same file.
pub fn tmp_path(topic: &str, partition: i32, owner: &str, kind: &str, name: &str) -> String {
    format!("{topic}/_tmp/{partition}.{owner}.{kind}.{name}")
}

/// How the names of a partition's temporary files start.
pub fn tmp_prefix(partition: i32) -> String {
    format!("{partition}.")
}

/// The checkpoint earlier versions kept, one file per partition.
pub fn legacy_checkpoint_path(topic: &str, partition: i32) -> String {
    format!("{topic}/_checkpoints/{topic}+{partition}.json")
}

/// Entry numbers in names are zero-padded to this width, so names sort by number.
const ENTRY_WIDTH: usize = 20;

/// The folder of a partition's commit log.
pub fn commit_dir(topic: &str, partition: i32) -> String {
    format!("{topic}/_commits/{partition}/")
}

/// Where entry `seq` of a partition's commit log is published.
pub fn commit_entry_path(topic: &str, partition: i32, seq: u64) -> String {
    format!(
        "{}{seq:0w$}.json",
        commit_dir(topic, partition),
        w = ENTRY_WIDTH
    )
}

/// The number of a commit log entry, from its file name.
pub fn parse_commit_entry_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    (digits.len() == ENTRY_WIDTH && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// Where one record of a batch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Hour(HourPartition),
    Invalid,
    /// Nowhere: the record is landed past, not landed.
    Dropped(Dropped),
}

/// Why a record is landed past without being landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Its click was erased (its id is a tombstone): a replay must not bring it back.
    Erased,
    /// A copy of a click landed within the repeat window ([`crate::repeats`]).
    Repeat,
}

/// Where a planned file goes: an hour's folder, or the dead letters'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileDestination {
    Hour(HourPartition),
    Invalid,
}

/// A file to write: its destination and the index range (into the batch) of its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    pub destination: FileDestination,
    pub first_offset: i64,
    pub last_offset: i64,
    /// Indices into the batch, in offset order.
    pub records: Vec<usize>,
}

/// Splits a batch (in offset order) into files: valid records into one file per run of
/// consecutive records in the same hour, so a batch that spans an hour boundary becomes two
/// files; invalid records into one `_invalid` file. Files are returned in the order of their
/// last offset, the order they must be made visible in.
pub fn plan_files(batch: &[(i64, Destination)]) -> Vec<PlannedFile> {
    let mut files: Vec<PlannedFile> = Vec::new();
    let mut invalid: Option<PlannedFile> = None;
    let mut current: Option<PlannedFile> = None;
    for (index, (offset, destination)) in batch.iter().enumerate() {
        match destination {
            Destination::Dropped(_) => {}
            Destination::Invalid => {
                let file = invalid.get_or_insert_with(|| PlannedFile {
                    destination: FileDestination::Invalid,
                    first_offset: *offset,
                    last_offset: *offset,
                    records: Vec::new(),
                });
                file.last_offset = *offset;
                file.records.push(index);
            }
            Destination::Hour(hour) => {
                match &mut current {
                    Some(file) if file.destination == FileDestination::Hour(*hour) => {
                        file.last_offset = *offset;
                        file.records.push(index);
                        continue;
                    }
                    _ => {}
                }
                if let Some(done) = current.take() {
                    files.push(done);
                }
                current = Some(PlannedFile {
                    destination: FileDestination::Hour(*hour),
                    first_offset: *offset,
                    last_offset: *offset,
                    records: vec![index],
                });
            }
        }
    }
    files.extend(current);
    files.extend(invalid);
    files.sort_by_key(|f| f.last_offset);
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn hour(h: u32) -> Destination {
        Destination::Hour(HourPartition::of(
            &Utc.with_ymd_and_hms(2026, 11, 22, h, 30, 0).unwrap(),
        ))
    }

    #[test]
    fn names_are_zero_padded_and_parse_back() {
        let name = file_name("select-color", 2, 7, 1234, "json");
        assert_eq!(
            name,
            "select-color+2+0000000000000000007+0000000000000001234.json"
        );
        assert_eq!(parse_file_name(&name, "select-color", 2), Some((7, 1234)));
        assert_eq!(parse_file_name(&name, "select-color", 1), None);
        let rewritten = rewritten_file_name("select-color", 2, 7, 1234, 42, "parquet");
        assert_eq!(
            rewritten,
            "select-color+2+0000000000000000007+0000000000000001234+e42.parquet"
        );
        assert_eq!(
            parse_file_name(&rewritten, "select-color", 2),
            Some((7, 1234))
        );
        assert_eq!(
            parse_file_name("select-color+2+1+4+x.json", "select-color", 2),
            None
        );
        assert_eq!(
            parse_file_name("select-color+2+1+4+e.json", "select-color", 2),
            None
        );
        assert_eq!(parse_file_name(&name, "select", 2), None);
        assert_eq!(
            parse_file_name("select-color+2+5+4.json", "select-color", 2),
            None
        );
        assert_eq!(
            parse_file_name("select-color+2+5+9.parquet", "select-color", 2),
            Some((5, 9))
        );
        assert_eq!(
            parse_file_name("select-color+2+5+9.csv", "select-color", 2),
            None
        );
        assert_eq!(
            parse_file_name("select-color+2+1+4.json.tmp", "select-color", 2),
            None
        );
    }

    #[test]
    fn commit_entries_are_numbered_and_their_names_parse_back() {
        let path = commit_entry_path("select-color", 2, 41);
        assert_eq!(path, "select-color/_commits/2/00000000000000000041.json");
        let name = path.rsplit('/').next().unwrap();
        assert_eq!(parse_commit_entry_name(name), Some(41));
        assert_eq!(
            parse_commit_entry_name(&format!("{}.json", u64::MAX)),
            Some(u64::MAX)
        );
        for other in [
            "41.json",
            "0000000000000000004x.json",
            "00000000000000000041.tmp",
            "",
        ] {
            assert_eq!(parse_commit_entry_name(other), None, "{other}");
        }
        assert_eq!(
            tmp_path("t", 2, "0192abcd", "data", "x.json"),
            "t/_tmp/2.0192abcd.data.x.json"
        );
        assert!(
            tmp_path("t", 2, "o", "data", "x")
                .rsplit('/')
                .next()
                .unwrap()
                .starts_with(&tmp_prefix(2))
        );
    }

    #[test]
    fn an_hour_folder_parses_back_and_ends_at_the_next_hour() {
        let hour = HourPartition::of(&Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 0).unwrap());
        assert_eq!(HourPartition::parse_dir(&hour.dir()), Some(hour));
        assert_eq!(
            HourPartition::parse_dir("dt=2026-12-31/hour=23/"),
            Some(hour)
        );
        assert_eq!(
            hour.end(),
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        for wrong in [
            "dt=2026-12-31/hour=24",
            "dt=2026-13-01/hour=01",
            "x/hour=01",
            "dt=2026-12-31/hour=1",
        ] {
            assert_eq!(HourPartition::parse_dir(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn hour_partition_is_taken_in_utc() {
        let at = DateTime::parse_from_rfc3339("2026-11-23T01:15:00+09:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(HourPartition::of(&at).dir(), "dt=2026-11-22/hour=16");
        assert_eq!(
            data_path("t", &HourPartition::of(&at), "x.json"),
            "t/dt=2026-11-22/hour=16/x.json"
        );
    }

    #[test]
    fn dropped_records_land_nowhere_and_do_not_split_runs() {
        let erased = Destination::Dropped(Dropped::Erased);
        let batch = vec![(5, hour(3)), (6, erased), (7, hour(3)), (8, erased)];
        let files = plan_files(&batch);
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].records, vec![0, 2]);
        assert_eq!((files[0].first_offset, files[0].last_offset), (5, 7));
    }

    #[test]
    fn a_batch_spanning_an_hour_boundary_becomes_two_files() {
        let batch = vec![(10, hour(3)), (11, hour(3)), (12, hour(4)), (13, hour(4))];
        let files = plan_files(&batch);
        assert_eq!(files.len(), 2);
        assert_eq!((files[0].first_offset, files[0].last_offset), (10, 11));
        assert_eq!((files[1].first_offset, files[1].last_offset), (12, 13));
        assert_eq!(files[1].records, vec![2, 3]);
    }

    #[test]
    fn invalid_records_go_to_one_file_and_do_not_split_runs() {
        let batch = vec![
            (5, hour(3)),
            (6, Destination::Invalid),
            (7, hour(3)),
            (8, Destination::Invalid),
        ];
        let files = plan_files(&batch);
        assert_eq!(files.len(), 2);
        let Destination::Hour(three) = hour(3) else {
            unreachable!()
        };
        assert_eq!(files[0].destination, FileDestination::Hour(three));
        assert_eq!(files[0].records, vec![0, 2]);
        assert_eq!((files[0].first_offset, files[0].last_offset), (5, 7));
        assert_eq!(files[1].destination, FileDestination::Invalid);
        assert_eq!((files[1].first_offset, files[1].last_offset), (6, 8));
    }

    #[test]
    fn late_events_start_a_new_file_in_their_own_hour() {
        let batch = vec![(1, hour(4)), (2, hour(3)), (3, hour(4))];
        let files = plan_files(&batch);
        let ranges: Vec<_> = files
            .iter()
            .map(|f| (f.first_offset, f.last_offset))
            .collect();
        assert_eq!(ranges, [(1, 1), (2, 2), (3, 3)]);
        let covered: usize = files.iter().map(|f| f.records.len()).sum();
        assert_eq!(covered, 3);
    }
}
