//! README command 1, `scripts/demo.sh`, run as a user runs it: started in a session of its own
//! on free ports, known by the description it writes once everything is ready (`demo.json`),
//! stopped with SIGTERM. Nothing here reads the banner or looks processes up by name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;

use crate::crash::send_signal as signal;
use crate::ports::free_port;

/// Where the demo lands: a local folder, or a real HDFS it starts (`--hdfs`), with the Hive
/// Metastore it starts and keeps (`--hdfs --hive`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Landing {
    Folder,
    HdfsWithMetastore,
}

/// What `scripts/demo.sh` started, as it describes it in `RUN_DIR/demo.json`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Description {
    pub page: String,
    pub results: String,
    pub api: String,
    pub search: String,
    pub kafka: KafkaDescription,
    pub landing_url: String,
    /// The Hive Metastore it keeps (`thrift://…`), when started with `--hive`.
    pub hive_metastore: Option<String>,
    pub logs: PathBuf,
    /// Every process the demo started, by name.
    pub pids: BTreeMap<String, u32>,
    /// Each sink process's admin server, by process name.
    pub admin: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KafkaDescription {
    pub bootstrap_servers: String,
    pub topic: String,
    pub dead_letter_topic: String,
    pub in_memory: bool,
}

/// A running `scripts/demo.sh`. Dropped without [`DemoRun::stop`] (a failing test), it is sent
/// SIGTERM so nothing outlives the test.
pub struct DemoRun {
    child: Child,
    run_dir: PathBuf,
    pub description: Description,
}

/// The checkout's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("test-support sits in the workspace")
        .to_path_buf()
}

/// Where cargo puts what it builds for this checkout.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// Takes away the variables cargo gives a test about the package under test
/// (`CARGO_MANIFEST_DIR`, `CARGO_PKG_NAME`, `OUT_DIR`, …) from a command that runs cargo. Some
/// build scripts watch them (ring's does): inherited, they would make that cargo rebuild ring
/// and everything above it, and the next build outside the tests rebuild it all again.
fn without_package_variables(command: &mut Command) -> &mut Command {
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let about_the_package = [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || matches!(
                name,
                "CARGO_PRIMARY_PACKAGE" | "CARGO_TARGET_TMPDIR" | "OUT_DIR"
            );
        if about_the_package {
            command.env_remove(name);
        }
    }
    command
}

/// A binary of another package of the workspace, as the test build left it (a workspace test
/// run builds every package's binaries); built here when it is missing.
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    let path = target_dir().join("debug").join(bin);
    if !path.exists() {
        let status = without_package_variables(&mut Command::new(env!("CARGO")))
            .args(["build", "--locked", "-p", package, "--bin", bin])
            .current_dir(repo_root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "cannot build {bin} of {package}");
    }
    path
}

impl DemoRun {
    /// Starts the demo with its logs and landed files in `run_dir`, each server on a free
    /// port, built with its default (dev) profile, and waits (up to 10 minutes: the first run builds) for
    /// its description.
    pub fn start(run_dir: &Path, landing: Landing) -> DemoRun {
        std::fs::create_dir_all(run_dir).unwrap();
        let output = std::fs::File::create(run_dir.join("demo.out")).unwrap();
        let mut command = Command::new("setsid");
        without_package_variables(&mut command).arg(repo_root().join("scripts/demo.sh"));
        if landing == Landing::HdfsWithMetastore {
            command.args(["--hdfs", "--hive"]);
        }
        for variable in [
            "API_PORT",
            "API_ADMIN_PORT",
            "WEB_PORT",
            "HDFS_CONSUMER_ADMIN_PORT",
            "ES_PORT",
            "ES_SINK_ADMIN_PORT",
        ] {
            command.env(variable, free_port().to_string());
        }
        command
            .env("RUN_DIR", run_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(output.try_clone().unwrap()))
            .stderr(Stdio::from(output));
        let mut child = command.spawn().expect("scripts/demo.sh starts");
        let described = run_dir.join("demo.json");
        let mut description = None;
        let ready = crate::wait::wait_until_blocking(Duration::from_secs(600), || {
            if let Ok(text) = std::fs::read_to_string(&described) {
                description = Some(
                    serde_json::from_str::<Description>(&text)
                        .unwrap_or_else(|e| panic!("demo.json does not parse ({e}): {text}")),
                );
                return true;
            }
            if let Some(status) = child.try_wait().unwrap() {
                show_logs(run_dir);
                panic!("scripts/demo.sh exited before it was ready: {status}");
            }
            false
        });
        let Some(description) = description.filter(|_| ready) else {
            show_logs(run_dir);
            let _ = signal(child.id(), "TERM");
            panic!("scripts/demo.sh was not ready within 600 s");
        };
        DemoRun {
            child,
            run_dir: run_dir.to_path_buf(),
            description,
        }
    }

    /// The admin server of the sink process `name` (`hdfs-consumer`, `es-sink-2`...).
    pub fn admin(&self, name: &str) -> &str {
        self.description
            .admin
            .get(name)
            .unwrap_or_else(|| panic!("the demo has no sink process {name}"))
    }

    /// Prints every log of the run, to explain a failure.
    pub fn show_logs(&self) {
        show_logs(&self.run_dir);
    }

    /// Stops the demo as Ctrl-C does (SIGTERM), and checks the stop was clean: the script
    /// exits within 30 s, every process it started is gone, its description is removed, and
    /// no log has an ERROR line.
    pub fn stop(mut self) {
        let (status, _) =
            crate::crash::stop_within(&mut self.child, "TERM", Duration::from_secs(30));
        if status.is_none() {
            self.show_logs();
            panic!("scripts/demo.sh still running 30 s after SIGTERM");
        }
        for (name, pid) in &self.description.pids {
            assert!(
                signal(*pid, "0").is_err(),
                "{name} (pid {pid}) outlived scripts/demo.sh"
            );
        }
        assert!(
            !self.run_dir.join("demo.json").exists(),
            "demo.json outlived the demo"
        );
        let errors = error_lines(&self.run_dir);
        assert!(
            errors.is_empty(),
            "a clean stop left ERROR lines:\n{}",
            errors.join("\n")
        );
    }
}

impl DemoRun {
    /// Stops the demo as a person does who presses Ctrl-C twice, with a sink that cannot stop
    /// by itself: `stuck` (a process of the demo's, by name) is frozen first (SIGSTOP), so the
    /// first signal's stop waits on it until the second signal hurries it. Checks that the
    /// script says it stops at once, exits within 30 s, and leaves no process it started.
    pub fn stop_twice_with_one_stuck(mut self, stuck: &str) {
        let frozen = self.description.pids[stuck];
        signal(frozen, "STOP").unwrap();
        signal(self.child.id(), "TERM").unwrap();
        let out = self.run_dir.join("demo.out");
        let stopping = crate::wait::wait_until_blocking(Duration::from_secs(30), || {
            std::fs::read_to_string(&out).is_ok_and(|text| text.contains("stopping"))
        });
        assert!(stopping, "the demo did not start stopping within 30 s");
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the demo stopped while {stuck} was frozen"
        );
        let (status, _) =
            crate::crash::stop_within(&mut self.child, "TERM", Duration::from_secs(30));
        if status.is_none() {
            self.show_logs();
            panic!("scripts/demo.sh still running 30 s after a second SIGTERM");
        }
        let said = std::fs::read_to_string(&out).unwrap_or_default();
        assert!(
            said.contains("stopping at once"),
            "the hurried stop was not said:\n{said}"
        );
        let left: Vec<String> = self
            .description
            .pids
            .iter()
            .filter(|(_, pid)| signal(**pid, "0").is_ok())
            .map(|(name, pid)| format!("{name} (pid {pid})"))
            .collect();
        assert!(left.is_empty(), "left running after two signals: {left:?}");
        assert!(
            !self.run_dir.join("demo.json").exists(),
            "demo.json outlived the demo"
        );
    }
}

impl Drop for DemoRun {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = signal(self.child.id(), "TERM");
            let _ = self.child.wait();
        }
    }
}

/// Lines of the run's service logs at level ERROR, each prefixed by its log's name.
fn error_lines(run_dir: &Path) -> Vec<String> {
    logs(run_dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "log"))
        .flat_map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .filter(|line| line.contains(" ERROR "))
                .map(|line| format!("{name}: {line}"))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn logs(run_dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(run_dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "log" || e == "out"));
    paths.sort();
    paths
}

fn show_logs(run_dir: &Path) {
    for path in logs(run_dir) {
        eprintln!("==== {}", path.display());
        eprintln!("{}", std::fs::read_to_string(&path).unwrap_or_default());
    }
}
