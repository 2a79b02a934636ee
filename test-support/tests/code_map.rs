//! The code map in `docs/architecture.md` names every module of every crate, and no module that
//! is gone: each crate of the workspace has a `### <crate>/` heading, and under it each file of
//! the crate's `src/` appears as `` `path/under/src.rs` ``.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use test_support::demo::repo_root;

/// The workspace's members, as the root manifest lists them.
fn members(root: &Path) -> Vec<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("a members line");
    line.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Every `.rs` file under `dir`, relative to it.
fn modules(dir: &Path, under: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            modules(&path, under, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(under).unwrap();
            found.insert(relative.to_string_lossy().replace('\\', "/"));
        }
    }
}

/// The `.rs` names in backticks under each `### <crate>/` heading of the map.
fn mapped(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut sections: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("## ") {
            current = None;
        }
        if let Some(heading) = line.strip_prefix("### ") {
            current = heading.trim().strip_suffix('/').map(str::to_owned);
            if let Some(name) = &current {
                sections.entry(name.clone()).or_default();
            }
            continue;
        }
        let Some(name) = &current else {
            continue;
        };
        for (n, span) in line.split('`').enumerate() {
            if n % 2 == 1 && span.ends_with(".rs") {
                sections.get_mut(name).unwrap().insert(span.to_owned());
            }
        }
    }
    sections
}

#[test]
fn the_code_map_names_every_module_of_every_crate_and_nothing_else() {
    let root = repo_root();
    let text = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    let map = mapped(&text);
    let mut problems = Vec::new();
    for member in members(&root) {
        let src = root.join(&member).join("src");
        let mut files = BTreeSet::new();
        modules(&src, &src, &mut files);
        let Some(named) = map.get(&member) else {
            problems.push(format!("no `### {member}/` section"));
            continue;
        };
        for missing in files.difference(named) {
            problems.push(format!("{member}/src/{missing} is not in the map"));
        }
        for gone in named.difference(&files) {
            problems.push(format!(
                "{member}: the map names {gone}, which is not in src/"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/architecture.md is behind the code:\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_module_left_out_of_a_section_is_found() {
    let text =
        "### lake/\n- `lib.rs` — x\n- `merge.rs`, `land.rs` — y\n## Invariants\n- `other.rs`\n";
    let map = mapped(text);
    let lake: Vec<&str> = map["lake"].iter().map(String::as_str).collect();
    assert_eq!(lake, ["land.rs", "lib.rs", "merge.rs"]);
    assert_eq!(map.len(), 1, "a section ends at the next heading");
}
