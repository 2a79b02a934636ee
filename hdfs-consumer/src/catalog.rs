//! The Hive Metastore kept up to date, beside landing and never in its way: a task of its own
//! makes the table (and its database) when they are missing, adds the columns a newer event
//! has, registers each hour the workers say they landed in, and, every minute and after each
//! expiry, makes the table's partitions the hour folders storage holds.
//!
//! Every process of the group does this for the hours it lands, so registration needs no owner:
//! adding an hour the table has is not an error, and dropping one it lacks is nothing. A member
//! that lost its partition but has not heard yet may register an hour; it is one that exists.
//! The metastore's names are read before storage is listed, so an hour another process
//! registered meanwhile is never dropped: it was registered after its first file was visible.
//!
//! A metastore that fails is retried with growing waits (up to [`MAX_BACKOFF`]), said in the log
//! at most once a minute, and counted; the hours it has not registered yet show as
//! `hdfs_consumer_hive_hours_waiting`, which the results page shows.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::Utc;
use lake::{HourPartition, Lake};
use metastore::{Client, TableSpec};
use tokio::sync::mpsc;
use url::Url;

use crate::Error;
use crate::metrics::{ConsumerMetrics, OutcomeLabel};

/// How long a connection or a call may take. Generous: a metastore on embedded Derby makes
/// its schema on its first calls.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the table's partitions are made the hour folders storage holds, without a nudge.
pub const RESYNC_INTERVAL: Duration = Duration::from_secs(60);

/// The longest wait between two attempts on a metastore that fails.
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// How often a failing metastore is said in the log, at most.
pub const LOG_EVERY: Duration = Duration::from_secs(60);

/// What the workers tell the keeper.
#[derive(Debug)]
enum Nudge {
    /// A landing made files visible in these hours.
    Landed(Vec<HourPartition>),
    /// An expiry deleted files: some hour may be gone.
    Expired,
}

/// The workers' side: cheap to clone, never blocks.
#[derive(Debug, Clone)]
pub struct Nudges(mpsc::UnboundedSender<Nudge>);

impl Nudges {
    pub fn landed(&self, hours: &[HourPartition]) {
        if !hours.is_empty() {
            let _ = self.0.send(Nudge::Landed(hours.to_vec()));
        }
    }

    pub fn expired(&self) {
        let _ = self.0.send(Nudge::Expired);
    }
}

/// The change a sync makes: hours storage holds that the table lacks, and partitions of the
/// table whose folders are gone (pure).
pub fn sync_plan(registered: &[String], in_storage: &[String]) -> (Vec<String>, Vec<String>) {
    let registered: BTreeSet<&String> = registered.iter().collect();
    let in_storage: BTreeSet<&String> = in_storage.iter().collect();
    let add = in_storage
        .difference(&registered)
        .map(|s| (*s).clone())
        .collect();
    let drop = registered
        .difference(&in_storage)
        .map(|s| (*s).clone())
        .collect();
    (add, drop)
}

/// A metastore that fails: attempts in a row, when the next one is due, when it was last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Failing {
    failures: u32,
    retry_at: Instant,
    logged_at: Instant,
}

impl Failing {
    /// One more failure at `now`; returns the new state, and whether to say it in the log.
    fn after(earlier: Option<Failing>, now: Instant, wait: Duration) -> (Failing, bool) {
        let log = earlier.is_none_or(|f| now.duration_since(f.logged_at) >= LOG_EVERY);
        let failing = Failing {
            failures: earlier.map_or(1, |f| f.failures + 1),
            retry_at: now + wait,
            logged_at: if log {
                now
            } else {
                earlier.map_or(now, |f| f.logged_at)
            },
        };
        (failing, log)
    }
}

/// The keeper's task.
pub struct Keeper {
    spec: TableSpec,
    uris: Vec<Url>,
    lake: Lake,
    metrics: ConsumerMetrics,
    nudges: mpsc::UnboundedReceiver<Nudge>,
    client: Option<Client>,
    /// The table was made or checked on this connection.
    table_checked: bool,
    /// Hours known to be in the table.
    registered: BTreeSet<String>,
    /// Hours landed and not registered yet.
    waiting: BTreeSet<String>,
    sync_due: bool,
    synced_at: Option<Instant>,
    failing: Option<Failing>,
}

/// The keeper of `spec` in the metastores at `uris`, and the workers' side of it.
pub fn keeper(
    spec: TableSpec,
    uris: Vec<Url>,
    lake: Lake,
    metrics: ConsumerMetrics,
) -> (Keeper, Nudges) {
    let (sender, nudges) = mpsc::unbounded_channel();
    let keeper = Keeper {
        spec,
        uris,
        lake,
        metrics,
        nudges,
        client: None,
        table_checked: false,
        registered: BTreeSet::new(),
        waiting: BTreeSet::new(),
        sync_due: true,
        synced_at: None,
        failing: None,
    };
    (keeper, Nudges(sender))
}

impl Keeper {
    /// Keeps the table until aborted.
    pub async fn run(mut self) {
        loop {
            let now = Instant::now();
            if self
                .synced_at
                .is_some_and(|at| now.duration_since(at) >= RESYNC_INTERVAL)
            {
                self.sync_due = true;
            }
            let due = self.failing.is_none_or(|f| now >= f.retry_at);
            if due && (self.sync_due || !self.waiting.is_empty()) {
                match self.attempt().await {
                    Ok(()) => self.recovered(),
                    Err(err) => self.failed(&err),
                }
            }
            self.metrics
                .hive_hours_waiting
                .set(self.waiting.len() as i64);
            let wake = match self.failing {
                Some(f) => f.retry_at,
                None => self.synced_at.map_or(now, |at| at + RESYNC_INTERVAL),
            };
            let wake = wake.max(Instant::now() + Duration::from_millis(50));
            tokio::select! {
                nudge = self.nudges.recv() => match nudge {
                    Some(nudge) => self.take(nudge),
                    None => return,
                },
                () = tokio::time::sleep_until(wake.into()) => {}
            }
            while let Ok(nudge) = self.nudges.try_recv() {
                self.take(nudge);
            }
        }
    }

    fn take(&mut self, nudge: Nudge) {
        match nudge {
            Nudge::Landed(hours) => {
                for hour in hours {
                    let name = hour.dir();
                    if !self.registered.contains(&name) {
                        self.waiting.insert(name);
                    }
                }
            }
            Nudge::Expired => self.sync_due = true,
        }
    }

    async fn attempt(&mut self) -> Result<(), Error> {
        if self.client.as_ref().is_none_or(Client::is_spent) {
            self.client = None;
            self.table_checked = false;
            self.client = Some(Client::connect(&self.uris, CALL_TIMEOUT).await?);
        }
        if !self.table_checked {
            self.check_table().await?;
            self.table_checked = true;
        }
        if self.sync_due {
            self.sync().await?;
        } else {
            self.register_waiting().await?;
        }
        Ok(())
    }

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("connected before use")
    }

    /// Makes the database and table when they are missing, and adds the columns it lacks.
    async fn check_table(&mut self) -> Result<(), Error> {
        let spec = self.spec.clone();
        let (database, table) = (spec.database.as_str(), spec.table.as_str());
        if self.client().get_database(database).await?.is_none()
            && self
                .client()
                .create_database(spec.database_struct())
                .await?
        {
            tracing::info!(database, "made the metastore database");
        }
        let Some(existing) = self.client().get_table(database, table).await? else {
            if self
                .client()
                .create_table(spec.table_struct(now_seconds()))
                .await?
            {
                tracing::info!(
                    database,
                    table,
                    location = spec.location,
                    "made the metastore table"
                );
            }
            return Ok(());
        };
        if let Some(location) = TableSpec::location_of(&existing)
            && location.trim_end_matches('/') != spec.location.trim_end_matches('/')
        {
            tracing::warn!(
                database,
                table,
                location,
                landing = spec.location,
                "the metastore table is located elsewhere than the landing; its partitions are registered at the landing"
            );
        }
        let missing = spec.missing_columns(&existing);
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|c| c.name.as_str()).collect();
            let altered = metastore::table::with_columns(existing, &missing);
            self.client().alter_table(database, table, altered).await?;
            self.metrics.hive_columns_added.inc_by(missing.len() as u64);
            tracing::info!(database, table, columns = ?names, "added the event's new columns to the metastore table");
        }
        Ok(())
    }

    /// Registers the hours landed since the last call.
    async fn register_waiting(&mut self) -> Result<(), Error> {
        let hours: Vec<String> = self.waiting.iter().cloned().collect();
        self.add(&hours).await?;
        for hour in hours {
            self.waiting.remove(&hour);
            self.registered.insert(hour);
        }
        Ok(())
    }

    /// Makes the table's partitions the hour folders storage holds.
    async fn sync(&mut self) -> Result<(), Error> {
        let (database, table) = (self.spec.database.clone(), self.spec.table.clone());
        // Read before the listing: see the module.
        let registered = self.client().partition_names(&database, &table).await?;
        let in_storage: Vec<String> =
            lake::listing::hours(self.lake.storage(), self.lake.topic(), None)
                .await?
                .into_iter()
                .map(|h| h.hour.dir())
                .collect();
        let (add, drop) = sync_plan(&registered, &in_storage);
        self.add(&add).await?;
        for name in &drop {
            if self
                .client()
                .drop_partition(&database, &table, name)
                .await?
            {
                self.count("dropped", 1);
                tracing::info!(
                    database,
                    table,
                    hour = name,
                    "dropped the partition of an hour no longer in storage"
                );
            }
        }
        self.registered = in_storage.into_iter().collect();
        self.waiting.retain(|hour| !self.registered.contains(hour));
        self.sync_due = false;
        self.synced_at = Some(Instant::now());
        Ok(())
    }

    async fn add(&mut self, hours: &[String]) -> Result<(), Error> {
        if hours.is_empty() {
            return Ok(());
        }
        let now = now_seconds();
        let partitions = hours
            .iter()
            .filter_map(|hour| self.spec.partition_struct(hour, now))
            .collect();
        let (database, table) = (self.spec.database.clone(), self.spec.table.clone());
        self.client()
            .add_partitions(&database, &table, partitions)
            .await?;
        self.count("registered", hours.len() as u64);
        tracing::info!(database, table, hours = ?hours, "registered hours in the metastore");
        Ok(())
    }

    fn count(&self, outcome: &'static str, n: u64) {
        self.metrics
            .hive_registrations
            .get_or_create(&OutcomeLabel { outcome })
            .inc_by(n);
    }

    fn recovered(&mut self) {
        if let Some(failing) = self.failing.take() {
            tracing::info!(
                failures = failing.failures,
                "the metastore answers again; the hours that waited are registered"
            );
        }
    }

    fn failed(&mut self, err: &Error) {
        self.client = None;
        let now = Instant::now();
        let failures = self.failing.map_or(1, |f| f.failures + 1);
        let wait = common::backoff::retry_wait(failures, Duration::from_secs(1), MAX_BACKOFF);
        let (failing, log) = Failing::after(self.failing, now, wait);
        self.failing = Some(failing);
        self.count("failed", 1);
        if log {
            tracing::warn!(
                failures,
                waiting = self.waiting.len(),
                %err,
                "the metastore cannot be kept up to date; landing goes on, and the hours wait to be registered (said at most once a minute)"
            );
        }
    }
}

fn now_seconds() -> i32 {
    i32::try_from(Utc::now().timestamp()).unwrap_or(i32::MAX)
}

/// Starts the keeper of the table `spec`, when one is set (a metastore is).
pub fn start(
    spec: Option<TableSpec>,
    uris: &[Url],
    lake: &Lake,
    metrics: &ConsumerMetrics,
) -> Option<(tokio::task::JoinHandle<()>, Nudges)> {
    let spec = spec?;
    tracing::info!(
        metastore = ?uris.iter().map(Url::as_str).collect::<Vec<_>>(),
        database = spec.database,
        table = spec.table,
        "keeping the Hive Metastore's table"
    );
    let (keeper, nudges) = keeper(spec, uris.to_vec(), lake.clone(), metrics.clone());
    Some((tokio::spawn(keeper.run()), nudges))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sync_adds_what_storage_holds_and_drops_what_it_lost() {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let (add, drop) = sync_plan(
            &names(&["dt=2026-12-01/hour=05", "dt=2026-12-01/hour=06"]),
            &names(&["dt=2026-12-01/hour=06", "dt=2026-12-01/hour=07"]),
        );
        assert_eq!(add, names(&["dt=2026-12-01/hour=07"]));
        assert_eq!(drop, names(&["dt=2026-12-01/hour=05"]));
        assert_eq!(sync_plan(&[], &[]), (vec![], vec![]));
    }

    #[test]
    fn a_failing_metastore_is_said_once_a_minute() {
        let start = Instant::now();
        let wait = Duration::from_secs(5);
        let (first, log) = Failing::after(None, start, wait);
        assert!(log);
        assert_eq!(first.failures, 1);
        assert_eq!(first.retry_at, start + wait);
        let (second, log) = Failing::after(Some(first), start + Duration::from_secs(30), wait);
        assert!(!log);
        assert_eq!(second.failures, 2);
        assert_eq!(second.logged_at, start);
        let (third, log) = Failing::after(Some(second), start + LOG_EVERY, wait);
        assert!(log);
        assert_eq!(third.logged_at, start + LOG_EVERY);
    }
}
