//! What a commit log entry says, and what the member that published the latest one holds.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::layout::HourPartition;

/// A member's hold on a partition: one claim, from its publication until another member
/// claims the partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Unique to the claim: the same worker claiming again gets a new one.
    pub claim: Uuid,
    /// Who holds it, for people: host, process and worker.
    pub member: String,
}

impl Owner {
    /// A new claim by `member`.
    pub fn new(member: &str) -> Owner {
        Owner {
            claim: Uuid::now_v7(),
            member: member.to_owned(),
        }
    }

    /// The claim as temporary file names carry it.
    pub fn tag(&self) -> String {
        self.claim.simple().to_string()
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (claim {})", self.member, self.claim)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A member took the partition over; nothing new landed.
    Claim,
    /// A batch landed.
    Commit,
    /// An hour's files were merged.
    Compaction,
    /// Files of hours past the retention were deleted.
    Expiry,
    /// Files were rewritten without the clicks an erasure request names.
    Erasure,
}

/// A file of a commit: where it was written, and its visible name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRename {
    pub tmp: String,
    pub path: String,
}

/// One entry of a partition's commit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub kind: EntryKind,
    pub owner: Owner,
    /// Every record up to this offset is landed; `None` while nothing is.
    pub last_offset: Option<i64>,
    /// A commit's or a compaction's files, in the order they are made visible.
    #[serde(default)]
    pub files: Vec<PendingRename>,
    /// A compaction's input files, deleted once its files are visible.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<String>,
    /// The hours the partition landed in since they were last compacted.
    #[serde(default)]
    pub uncompacted: Vec<Uncompacted>,
    /// The erasure requests carried out on this partition and still on file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub erasures: Vec<Erased>,
}

/// An erasure request carried out on one partition, and what it removed there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Erased {
    /// The request's id.
    pub request: String,
    /// Landed clicks removed.
    pub rows: u64,
    /// Dead letters removed.
    pub dead_letters: u64,
    /// Files rewritten or deleted.
    pub files: u64,
}

/// An hour with files not yet merged, and when the partition last landed a file in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Uncompacted {
    /// `dt=YYYY-MM-DD/hour=HH`
    pub hour: String,
    pub last_landed: DateTime<Utc>,
}

/// The uncompacted hours as a holder keeps them: by hour, when it last landed there.
pub type UncompactedHours = BTreeMap<HourPartition, DateTime<Utc>>;

fn to_entry(hours: &UncompactedHours) -> Vec<Uncompacted> {
    hours
        .iter()
        .map(|(hour, at)| Uncompacted {
            hour: hour.dir(),
            last_landed: *at,
        })
        .collect()
}

impl Entry {
    /// Whether `other` publishes the same change: the same kind, claim, offset and files. The
    /// times in `uncompacted` may differ between two attempts of one landing.
    pub fn same_change(&self, other: &Entry) -> bool {
        (
            &self.kind,
            &self.owner,
            self.last_offset,
            &self.files,
            &self.inputs,
        ) == (
            &other.kind,
            &other.owner,
            other.last_offset,
            &other.files,
            &other.inputs,
        )
    }

    /// The entry's uncompacted hours; one whose name is not an hour is left out.
    pub fn uncompacted_hours(&self) -> UncompactedHours {
        self.uncompacted
            .iter()
            .filter_map(|u| Some((HourPartition::parse_dir(&u.hour)?, u.last_landed)))
            .collect()
    }
}

/// What an entry records of its change, beside the files it names: the one thing each kind of
/// change adds to what the partition's holder knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A batch landed, up to `last_offset`; its data files are in `hours`, landed at `at`.
    Landing {
        last_offset: i64,
        hours: Vec<HourPartition>,
        at: DateTime<Utc>,
    },
    /// `hour`'s files were merged: it is no longer to merge.
    Compaction { hour: HourPartition },
    /// The files of `hours` past the retention were deleted: they are no longer to merge.
    Expiry { hours: Vec<HourPartition> },
    /// An erasure request was carried out, and this is what it removed.
    Erasure(Erased),
}

/// The latest entry of a partition's log, as its publisher knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub seq: u64,
    pub owner: Owner,
    pub last_offset: Option<i64>,
    pub uncompacted: UncompactedHours,
    pub erasures: Vec<Erased>,
}

impl Held {
    /// The entry that publishes a change recording `recorded`, with its number (the one after
    /// this hold's): its new `files` and the files it retires (`inputs`), and what it leaves to
    /// merge and knows of erasures.
    pub fn next(
        &self,
        recorded: &Recorded,
        files: Vec<PendingRename>,
        inputs: Vec<String>,
    ) -> (u64, Entry) {
        let mut last_offset = self.last_offset;
        let mut uncompacted = self.uncompacted.clone();
        let mut erasures = self.erasures.clone();
        let kind = match recorded {
            Recorded::Landing {
                last_offset: landed,
                hours,
                at,
            } => {
                last_offset = Some(*landed);
                for hour in hours {
                    uncompacted.insert(*hour, *at);
                }
                EntryKind::Commit
            }
            Recorded::Compaction { hour } => {
                uncompacted.remove(hour);
                EntryKind::Compaction
            }
            Recorded::Expiry { hours } => {
                for hour in hours {
                    uncompacted.remove(hour);
                }
                EntryKind::Expiry
            }
            Recorded::Erasure(erased) => {
                erasures.retain(|e| e.request != erased.request);
                erasures.push(erased.clone());
                EntryKind::Erasure
            }
        };
        (
            self.seq + 1,
            Entry {
                kind,
                owner: self.owner.clone(),
                last_offset,
                files,
                inputs,
                uncompacted: to_entry(&uncompacted),
                erasures,
            },
        )
    }

    /// Whether the erasure request `request` was carried out on the partition.
    pub fn has_erased(&self, request: &str) -> bool {
        self.erasures.iter().any(|e| e.request == request)
    }

    /// What its writer holds once `entry` is published as `seq`.
    pub fn published(&self, seq: u64, entry: &Entry) -> Held {
        Held {
            seq,
            owner: self.owner.clone(),
            last_offset: entry.last_offset,
            uncompacted: entry.uncompacted_hours(),
            erasures: entry.erasures.clone(),
        }
    }

    /// The same hold, with `hour` no longer to compact (it has nothing to merge).
    pub fn without(&self, hour: HourPartition) -> Held {
        let mut held = self.clone();
        held.uncompacted.remove(&hour);
        held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner::new("host pid 7 worker 0")
    }

    #[test]
    fn an_entry_is_small_camel_case_json_and_reads_back() {
        let owner = owner();
        let held = Held {
            seq: 41,
            owner: owner.clone(),
            last_offset: Some(1196),
            uncompacted: UncompactedHours::new(),
            erasures: Vec::new(),
        };
        let hour = HourPartition::parse_dir("dt=2026-12-02/hour=18").unwrap();
        let now = "2026-12-02T18:59:58.5Z".parse().unwrap();
        let landing = Recorded::Landing {
            last_offset: 1442,
            hours: vec![hour],
            at: now,
        };
        let file = PendingRename {
            tmp: "t/_tmp/2.x.data.f".into(),
            path: "t/dt=2026-12-02/hour=18/f".into(),
        };
        let (seq, entry) = held.next(&landing, vec![file], Vec::new());
        assert_eq!(seq, 42);
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["kind"], "commit");
        assert_eq!(json["lastOffset"], 1442);
        assert_eq!(json["owner"]["member"], "host pid 7 worker 0");
        assert_eq!(json["files"][0]["tmp"], "t/_tmp/2.x.data.f");
        assert_eq!(json["uncompacted"][0]["hour"], "dt=2026-12-02/hour=18");
        assert_eq!(
            json["uncompacted"][0]["lastLanded"],
            "2026-12-02T18:59:58.500Z"
        );
        assert!(json.get("inputs").is_none(), "only compactions have inputs");
        let back: Entry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
        let committed = held.published(seq, &entry);
        assert_eq!(
            committed,
            Held {
                seq: 42,
                owner,
                last_offset: Some(1442),
                uncompacted: [(hour, now)].into(),
                erasures: Vec::new(),
            }
        );

        let (seq, compaction) = committed.next(
            &Recorded::Compaction { hour },
            Vec::new(),
            vec!["t/dt=2026-12-02/hour=18/f".into()],
        );
        assert_eq!(seq, 43);
        assert_eq!(compaction.kind, EntryKind::Compaction);
        assert_eq!(compaction.last_offset, Some(1442), "nothing new landed");
        assert!(compaction.uncompacted.is_empty());
        let json = serde_json::to_value(&compaction).unwrap();
        assert_eq!(json["kind"], "compaction");
        assert_eq!(json["inputs"][0], "t/dt=2026-12-02/hour=18/f");
        assert!(committed.without(hour).uncompacted.is_empty());
    }

    #[test]
    fn expiries_and_erasures_keep_the_offset_and_record_what_they_did() {
        let (ten, eleven) = (
            HourPartition::parse_dir("dt=2026-12-02/hour=10").unwrap(),
            HourPartition::parse_dir("dt=2026-12-02/hour=11").unwrap(),
        );
        let at = "2026-12-02T11:30:00Z".parse().unwrap();
        let held = Held {
            seq: 7,
            owner: owner(),
            last_offset: Some(99),
            uncompacted: [(ten, at), (eleven, at)].into(),
            erasures: Vec::new(),
        };
        let (seq, expiry) = held.next(
            &Recorded::Expiry { hours: vec![ten] },
            Vec::new(),
            vec!["t/dt=2026-12-02/hour=10/f".into()],
        );
        assert_eq!(
            (seq, expiry.kind, expiry.last_offset),
            (8, EntryKind::Expiry, Some(99))
        );
        assert_eq!(
            expiry.uncompacted_hours().keys().collect::<Vec<_>>(),
            [&eleven]
        );
        let expired = held.published(seq, &expiry);

        let erased = Erased {
            request: "r1".into(),
            rows: 3,
            dead_letters: 1,
            files: 2,
        };
        let (seq, erasure) =
            expired.next(&Recorded::Erasure(erased.clone()), Vec::new(), Vec::new());
        assert_eq!(
            (seq, erasure.kind, erasure.last_offset),
            (9, EntryKind::Erasure, Some(99))
        );
        let after = expired.published(seq, &erasure);
        assert!(after.has_erased("r1"));
        let again = Erased { rows: 0, ..erased };
        let (_, repeated) = after.next(&Recorded::Erasure(again.clone()), Vec::new(), Vec::new());
        assert_eq!(
            repeated.erasures,
            [again],
            "a request is recorded once, as last carried out"
        );
    }

    #[test]
    fn a_claim_with_nothing_landed_has_no_offset_and_no_files() {
        let json = serde_json::json!({
            "kind": "claim",
            "owner": {"claim": Uuid::nil(), "member": "m"},
            "lastOffset": null
        });
        let entry: Entry = serde_json::from_value(json).unwrap();
        assert_eq!(entry.kind, EntryKind::Claim);
        assert_eq!(entry.last_offset, None);
        assert!(entry.files.is_empty());
        assert!(
            entry.uncompacted_hours().is_empty(),
            "earlier versions kept none"
        );
    }

    #[test]
    fn each_claim_is_its_own_and_named_for_people_and_files() {
        let (a, b) = (owner(), owner());
        assert_ne!(a.claim, b.claim);
        assert_eq!(a.tag().len(), 32);
        assert!(a.to_string().starts_with("host pid 7 worker 0 (claim "));
    }
}
