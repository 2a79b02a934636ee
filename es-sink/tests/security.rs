//! Talking to a secured cluster: HTTPS with a private CA given by ES_CA_CERT, and basic or API
//! key authentication, against a stand-in cluster served over TLS by Python's `ssl` module with
//! a CA and certificate made by `openssl` for the test.

use test_support::ports;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};

use common::search::SearchArgs;
use es_sink::Config;
use es_sink::elastic::Elastic;

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA, and a certificate for localhost signed by it.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=localhost",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
    );
}

struct TlsCluster {
    child: Child,
    output: BufReader<ChildStdout>,
    port: u16,
}

impl TlsCluster {
    fn start(dir: &Path) -> TlsCluster {
        let port = ports::free_port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls_cluster.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(dir.join("server.pem"))
            .arg(dir.join("server.key"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut output = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        output.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "listening");
        TlsCluster {
            child,
            output,
            port,
        }
    }

    /// The next request line the server printed.
    fn next_request(&mut self) -> String {
        let mut line = String::new();
        self.output.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The search settings es-sink takes from these flags, against `https://localhost:port`.
fn search(port: u16, args: &[&str]) -> SearchArgs {
    let url = format!("https://localhost:{port}");
    let mut all = vec!["es-sink", "--es-url", &url];
    all.extend_from_slice(args);
    <Config as clap::Parser>::parse_from(all).search
}

#[tokio::test]
#[ignore = "needs openssl and python3: run scripts/test.sh"]
async fn https_with_a_private_ca_and_credentials() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let ca = dir.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let mut cluster = TlsCluster::start(dir.path());

    // Without the CA the server's certificate is not trusted.
    let untrusted = Elastic::connect(&search(cluster.port, &[]), true).unwrap();
    let err = untrusted.probe().await.unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let basic = Elastic::connect(
        &search(
            cluster.port,
            &[
                "--es-ca-cert",
                ca,
                "--es-username",
                "elastic",
                "--es-password",
                "s3cret",
            ],
        ),
        true,
    )
    .unwrap();
    basic.put_template().await.unwrap();
    let request = cluster.next_request();
    assert!(
        request.starts_with("PUT /_index_template/web-events"),
        "{request}"
    );
    // base64("elastic:s3cret")
    assert!(
        request.ends_with("authorization=Basic ZWxhc3RpYzpzM2NyZXQ="),
        "{request}"
    );
    let mapping = cluster.next_request();
    assert!(
        mapping.starts_with("PUT /web-events-*/_mapping")
            && mapping.ends_with("authorization=Basic ZWxhc3RpYzpzM2NyZXQ="),
        "{mapping}"
    );

    let api_key = Elastic::connect(
        &search(
            cluster.port,
            &["--es-ca-cert", ca, "--es-api-key", "aWQ6a2V5"],
        ),
        true,
    )
    .unwrap();
    api_key.probe().await.unwrap();
    let request = cluster.next_request();
    assert!(
        request.ends_with("authorization=ApiKey aWQ6a2V5"),
        "{request}"
    );
}

#[test]
fn an_unreadable_or_invalid_ca_file_is_a_configuration_error() {
    let missing = search(9200, &["--es-ca-cert", "/nonexistent/ca.pem"]);
    let err = Elastic::connect(&missing, true).err().expect("refused");
    assert!(err.to_string().contains("ES_CA_CERT"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let invalid = search(9200, &["--es-ca-cert", junk.to_str().unwrap()]);
    let err = Elastic::connect(&invalid, true).err().expect("refused");
    assert!(err.to_string().contains("ES_CA_CERT"), "{err}");
}
