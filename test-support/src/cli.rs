//! What a binary says about itself before it does anything: its `--help`.

use std::process::Command;

/// The `--help` of the binary at `path`, run with only `env` in its environment.
pub fn help(path: &str, env: &[(&str, &str)]) -> String {
    let output = Command::new(path)
        .arg("--help")
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{path} --help: {output:?}");
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// Asserts that the help names each variable of `reads`, and holds none of `secrets`.
pub fn assert_names_and_hides(help: &str, reads: &[&str], secrets: &[&str]) {
    for variable in reads {
        assert!(
            help.contains(&format!("[env: {variable}")),
            "{variable} is not in --help:\n{help}"
        );
    }
    for secret in secrets {
        assert!(!help.contains(secret), "--help shows {secret}:\n{help}");
    }
}
