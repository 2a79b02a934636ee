//! A real HDFS for a test: an Apache Hadoop NameNode and DataNode on loopback, started by
//! `scripts/hdfs-local.sh` (which `scripts/test.sh` installs the jars for), keeping their data
//! in a temporary folder. Both are stopped when the value is dropped.

use std::path::PathBuf;
use std::process::Command;

/// One of the two daemons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    NameNode,
    DataNode,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::NameNode => "namenode",
            Role::DataNode => "datanode",
        }
    }
}

pub struct LocalHdfs {
    dir: tempfile::TempDir,
    /// `hdfs://127.0.0.1:<port>`, the NameNode.
    pub namenode: url::Url,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/hdfs-local.sh")
}

impl LocalHdfs {
    /// Formats, starts both daemons, and returns once a file can be written.
    pub fn start() -> LocalHdfs {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new(script())
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("scripts/hdfs-local.sh runs");
        assert!(
            output.status.success(),
            "HDFS did not start: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let namenode = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .last()
            .expect("the script prints the namenode's URL")
            .parse()
            .unwrap();
        LocalHdfs { dir, namenode }
    }

    /// A `LANDING_URL` on this HDFS.
    pub fn landing_url(&self, path: &str) -> url::Url {
        self.namenode.join(path).unwrap()
    }

    /// Stops one daemon; the other keeps running.
    pub fn stop(&self, role: Role) {
        self.run(&["stop", role.as_str()]);
    }

    /// Starts one daemon again, on its ports, with its data.
    pub fn restart(&self, role: Role) {
        self.run(&["start", role.as_str()]);
    }

    fn run(&self, args: &[&str]) {
        let (command, role) = (args[0], args[1]);
        let status = Command::new(script())
            .arg(command)
            .arg(self.dir.path())
            .arg(role)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "hdfs-local.sh {command} {role} failed");
    }
}

impl Drop for LocalHdfs {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .status();
    }
}
