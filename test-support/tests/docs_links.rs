//! Every relative link in the README and in `docs/` resolves: the file or folder it names is in
//! the checkout, and a `#fragment` names a heading of the page it points to, as GitHub makes
//! heading anchors.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use test_support::demo::repo_root;

/// The pages a reader follows links between.
fn pages() -> Vec<PathBuf> {
    let root = repo_root();
    let mut pages = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ is there")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// The page's lines outside fenced code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut in_code = false;
    text.lines()
        .filter(|line| {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                return false;
            }
            !in_code
        })
        .collect()
}

/// A line without its `inline code`, where link syntax is only text.
fn without_code_spans(line: &str) -> String {
    line.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// The targets of the Markdown links `[text](target)` and HTML `src="..."`/`href="..."` in a
/// page.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
        for attribute in ["src=\"", "href=\""] {
            let mut rest = line.as_str();
            while let Some(at) = rest.find(attribute) {
                let after = &rest[at + attribute.len()..];
                let Some(end) = after.find('"') else { break };
                targets.push(after[..end].to_owned());
                rest = &after[end..];
            }
        }
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces made hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings; a repeated heading gets `-1`, `-2`, … as on GitHub.
fn anchors(text: &str) -> HashSet<String> {
    let mut anchors = HashSet::new();
    for line in prose(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(&heading.replace('`', ""));
        let mut anchor = base.clone();
        let mut n = 0;
        while anchors.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        anchors.insert(anchor);
    }
    anchors
}

/// Why `target`, linked from `page`, does not resolve; `None` when it does or is not relative.
fn broken(page: &Path, target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("an empty link".into());
    }
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, fragment) = match target.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (target, None),
    };
    let file = if path.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().unwrap().join(path)
    };
    if !file.exists() {
        return Some(format!("{} does not exist", file.display()));
    }
    let fragment = fragment?;
    if file.extension().is_none_or(|ext| ext != "md") {
        return None;
    }
    let text = std::fs::read_to_string(&file).unwrap();
    if anchors(&text).contains(fragment) {
        None
    } else {
        Some(format!("{} has no heading #{fragment}", file.display()))
    }
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in link_targets(&text) {
            checked += 1;
            if let Some(problem) = broken(&page, &target) {
                problems.push(format!("{}: ({target}): {problem}", page.display()));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} links found: is the parser still reading them?"
    );
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_page_in_docs_is_linked_from_the_readme_or_another_page() {
    let pages = pages();
    let mut linked = HashSet::new();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for target in link_targets(&text) {
            let path = target.split('#').next().unwrap();
            if !path.is_empty() && !path.contains("://") {
                let file = page.parent().unwrap().join(path);
                if let Ok(file) = file.canonicalize() {
                    linked.insert(file);
                }
            }
        }
    }
    let orphans: Vec<_> = pages[1..]
        .iter()
        .filter(|page| !linked.contains(&page.canonicalize().unwrap()))
        .map(|page| page.display().to_string())
        .collect();
    assert!(orphans.is_empty(), "pages nothing links to: {orphans:?}");
}

#[test]
fn the_link_reader_finds_links_and_headings_as_github_does() {
    let text = "# The lake\n\n## Hive\n\n### The lake\n\nSee [Hive](#hive), `[not](a-link)`, \
                <img src=\"shot.png\" alt=\"x\">.\n\n```\n[inside](code.md)\n```\n\
                ## Forgetting: retention and erasure\n";
    assert_eq!(link_targets(text), ["#hive", "shot.png"]);
    let found = anchors(text);
    for anchor in [
        "the-lake",
        "hive",
        "the-lake-1",
        "forgetting-retention-and-erasure",
    ] {
        assert!(found.contains(anchor), "{anchor} not in {found:?}");
    }
}
