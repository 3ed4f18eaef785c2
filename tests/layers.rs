//! The architecture, checked: `src/` modules depend on each other in one
//! direction (see `docs/design.md`, "Layers"), no module cycle exists,
//! tenant scopes are built only in `src/auth/`, and the sea-orm models
//! (`store::entity`) are named only in `src/store/`.
//!
//! It reads the source as text: every `crate::…`, `super::…` and
//! child-module path in code (comments, `mod` declarations and `pub use`
//! re-exports do not count) is an edge from the file to the module file it
//! names. Cheap, and it fails with the offending file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Layer of each top-level module: a module may use only modules of a
/// strictly lower layer (and itself).
const LAYERS: &[(&str, u8)] = &[
    ("error", 0),
    ("pb", 0),
    ("domain", 1),
    ("cache", 1),
    ("config", 2),
    ("store", 3),
    ("metrics", 4),
    ("telemetry", 5),
    ("auth", 5),
    ("cluster", 6),
    ("event_hub", 6),
    ("api", 7),
    ("server", 8),
    ("ops", 8),
    ("cli", 9),
];

/// Module path (`store::keys`) → its code: comments, `mod` lines,
/// re-exports and unit tests removed.
fn modules() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|p| p == "mod") {
                parts.pop();
            }
            if parts == ["lib"] || parts == ["main"] {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests (`mod tests { use super::*; }`) are not the module's
            // dependencies.
            let text = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
            let code: Vec<&str> = text
                .leak()
                .lines()
                .filter(|line| {
                    let t = line.trim_start();
                    !(t.starts_with("//")
                        || t.starts_with("mod ")
                        || t.starts_with("pub mod ")
                        || t.starts_with("pub use "))
                })
                .collect();
            out.insert(parts.join("::"), code.join("\n"));
        }
    }
    out
}

/// Paths following `prefix` in `code`: `crate::store::keys::X` → `store::keys::X`.
fn paths_after<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        out.push(&rest[..end]);
    }
    out
}

/// File-module dependency edges.
fn edges(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in modules {
        let parent: Vec<&str> = module.split("::").collect();
        let parent = parent[..parent.len() - 1].join("::");
        let mut named: Vec<String> = paths_after(code, "crate::")
            .into_iter()
            .map(str::to_owned)
            .collect();
        for path in paths_after(code, "super::") {
            named.push(if parent.is_empty() {
                path.to_owned()
            } else {
                format!("{parent}::{path}")
            });
        }
        // Children named by their bare name (`accounts::create_account_in`).
        for child in modules.keys() {
            if let Some(name) = child
                .strip_prefix(module.as_str())
                .and_then(|c| c.strip_prefix("::"))
                .filter(|c| !c.contains("::"))
                && !paths_after(code, &format!("{name}::")).is_empty()
            {
                named.push(child.clone());
            }
        }
        for path in named {
            let parts: Vec<&str> = path.split("::").collect();
            let target = (0..=parts.len())
                .rev()
                .map(|n| parts[..n].join("::"))
                .find(|candidate| modules.contains_key(candidate));
            if let Some(target) = target.filter(|t| t != module && !t.is_empty()) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    edges
}

#[test]
fn layers_depend_one_way() {
    let modules = modules();
    let layer = |module: &str| -> u8 {
        let top = module.split("::").next().unwrap();
        LAYERS
            .iter()
            .find(|(name, _)| *name == top)
            .unwrap_or_else(|| panic!("src/{top} has no layer in tests/layers.rs"))
            .1
    };
    let mut wrong = Vec::new();
    for (from, targets) in edges(&modules) {
        let from_top = from.split("::").next().unwrap();
        for to in targets {
            let to_top = to.split("::").next().unwrap();
            if from_top != to_top && layer(&to) >= layer(&from) {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward or sideways dependencies: {wrong:#?}"
    );
}

#[test]
fn no_module_cycles() {
    let modules = modules();
    let edges = edges(&modules);
    // A module is on a cycle if it can reach itself.
    let mut cycles = BTreeSet::new();
    for start in modules.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&String> = edges.get(start).into_iter().flatten().collect();
        while let Some(next) = stack.pop() {
            if next == start {
                cycles.insert(start.clone());
                break;
            }
            if seen.insert(next) {
                stack.extend(edges.get(next).into_iter().flatten());
            }
        }
    }
    assert!(cycles.is_empty(), "modules on a cycle: {cycles:#?}");
}

#[test]
fn only_auth_grants_scopes() {
    let offenders: Vec<String> = modules()
        .into_iter()
        .filter(|(module, code)| {
            module != "domain::scope"
                && !module.starts_with("auth")
                && code.contains("Scope::grant(")
        })
        .map(|(module, _)| module)
        .collect();
    assert!(
        offenders.is_empty(),
        "scopes built outside src/auth: {offenders:?}"
    );
}

/// Entities named outside `store` by leave (none: every entity the API
/// hands out has its record in `domain::records`).
const ENTITIES_NOT_YET_RECORDS: &[(&str, &str)] = &[];

/// The entities `code` names through `store::entity` (`…::entity::room`,
/// `…::entity::{room, thread}`), and `*` where it names the module itself.
fn entities_named(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let compact: String = code.split_whitespace().collect();
    let mut rest = compact.as_str();
    while let Some(i) = rest.find("store::") {
        rest = &rest[i + "store::".len()..];
        // `store::{…, entity, …}` names the module itself.
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            if group
                .split(',')
                .any(|p| p == "entity" || p.starts_with("entity::"))
            {
                out.push("*".to_owned());
            }
            continue;
        }
        let Some(after) = rest.strip_prefix("entity") else {
            continue;
        };
        let Some(after) = after.strip_prefix("::") else {
            out.push("*".to_owned());
            continue;
        };
        if let Some(group) = after.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(
                group
                    .split(',')
                    .map(|p| p.split("::").next().unwrap().to_owned()),
            );
        } else {
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            out.push(after[..end].to_owned());
        }
    }
    out
}

#[test]
fn models_stay_in_the_store() {
    // `api` and `auth` see domain records (`domain::records`); the sea-orm
    // models are the store's own.
    let mut wrong = Vec::new();
    for (module, code) in modules() {
        if module == "store" || module.starts_with("store::") {
            continue;
        }
        for entity in entities_named(&code) {
            if !ENTITIES_NOT_YET_RECORDS.contains(&(module.as_str(), entity.as_str())) {
                wrong.push(format!("{module} names store::entity::{entity}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "sea-orm models outside src/store: {wrong:#?}"
    );
    assert_eq!(
        entities_named("use crate::store::entity::{room, thread};\nx: store::entity::user::Model"),
        ["room", "thread", "user"]
    );
    assert_eq!(entities_named("use crate::store::{self, entity};"), ["*"]);
}

#[test]
fn the_checker_sees_edges() {
    // Guards the checks above against passing vacuously.
    let modules = modules();
    let edges = edges(&modules);
    assert!(edges["store::keys"].contains("store::tenant"));
    assert!(edges["api::environment"].contains("auth::context"));
    assert!(edges["store::schema"].contains("store::accounts"));
}
