//! A real Hive Metastore for tests: Hive 2.3's service from the pyspark jars on Java 17
//! (`scripts/metastore-local.sh`), with an embedded Derby database.
//!
//! One serves every test of a test binary's run: the runner starts each test as a process of
//! its own, so the first test starts it in a folder named after the binary and the runner, the
//! others find it there, and it stops when the runner ends. Tests keep apart by each using a
//! database of its own; the tests that stop it must not run beside the others (a nextest group
//! of one thread).

use std::path::PathBuf;
use std::process::Command;

pub struct LocalMetastore {
    dir: PathBuf,
    /// `thrift://127.0.0.1:<port>`.
    pub uri: url::Url,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/metastore-local.sh")
}

impl LocalMetastore {
    /// The metastore of this test binary's run, started if it is not running yet.
    pub fn shared() -> LocalMetastore {
        let runner = std::os::unix::process::parent_id();
        let binary = std::env::current_exe().unwrap();
        let name = binary.file_name().unwrap().to_string_lossy().into_owned();
        let dir = std::env::temp_dir().join(format!("web-events-metastore-{name}-{runner}"));
        std::fs::create_dir_all(&dir).unwrap();
        // One start at a time: the tests of a run begin together.
        let lock = std::fs::File::create(dir.with_extension("lock")).unwrap();
        lock.lock().unwrap();
        let printed = run(&["start", dir.to_str().unwrap(), &runner.to_string()]);
        drop(lock);
        let uri = printed
            .lines()
            .last()
            .and_then(|line| line.parse().ok())
            .unwrap_or_else(|| panic!("no thrift:// address printed: {printed}"));
        LocalMetastore { dir, uri }
    }

    /// Stops the metastore; its database stays.
    pub fn stop(&self) {
        run(&["stop", self.dir.to_str().unwrap()]);
    }

    /// Starts it again, on its port, with its database.
    pub fn restart(&self) {
        run(&["start", self.dir.to_str().unwrap()]);
    }
}

/// What the script printed.
fn run(args: &[&str]) -> String {
    let output = Command::new(script())
        .args(args)
        .output()
        .expect("scripts/metastore-local.sh runs");
    assert!(
        output.status.success(),
        "scripts/metastore-local.sh {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
