//! The import graph between the top-level modules of `src/` runs one way, as ARCHITECTURE.md
//! draws it: faces (cli, tui) → engine → stages → shared. This test reads every `crate::…`
//! path in the library's code (comments and `#[cfg(test)]` code left out) and fails on a
//! circle, or on a module importing one of a higher layer.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Layer of each top-level module: a module may import only modules of a lower layer, or of
/// its own layer when the table below allows it. Keep in step with ARCHITECTURE.md.
const LAYERS: &[(&str, u8)] = &[
    // Shared: what every stage uses.
    ("atomic", 0),
    ("dicom", 0),
    ("paths", 0),
    ("progress", 0),
    ("present", 1),
    ("identity", 0),
    ("shown", 0),
    ("values", 1),
    ("key", 1),
    ("profile", 2),
    ("matcher", 2),
    ("residual", 3),
    ("manifest", 3),
    // Stages, in pipeline order.
    ("scan", 4),
    ("xml", 5),
    ("link", 5),
    ("review", 5),
    ("plan", 6),
    ("apply", 7),
    ("verify", 8),
    ("send", 8),
    ("tables", 8),
    // The engine and what only faces use.
    ("engine", 9),
    ("demo", 9),
    // Faces.
    ("tui", 10),
    ("cli", 10),
];

/// Files of `src/` that belong to the binary, not the library.
const NOT_LIBRARY: &[&str] = &["main.rs", "lib.rs"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The code of a file without comments, and without what follows a `#[cfg(test)]` (tests may
/// reach anywhere; they sit at the end of a file by our convention).
fn library_code(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = match line.find("//") {
            // A `//` inside a string ("http://…") is rare in paths; cut only after code.
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    code
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Top-level modules named by `crate::…` paths, `use crate::{a, b::c}` groups included.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Names at depth one of the brace group, each at the start of an item.
            let mut depth = 1;
            let mut start = true;
            let mut j = 0;
            let bytes = group.as_bytes();
            while j < bytes.len() && depth > 0 {
                let c = bytes[j] as char;
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 1 => start = true,
                    c if c.is_whitespace() => {}
                    _ if start && depth == 1 => {
                        let name = ident_at(&group[j..]);
                        if !name.is_empty() {
                            found.insert(name.to_string());
                            j += name.len();
                            start = false;
                            continue;
                        }
                        start = false;
                    }
                    _ => {}
                }
                j += 1;
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                found.insert(name.to_string());
            }
        }
    }
    found
}

/// Module → modules it imports, over the library's files.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = LAYERS.iter().map(|(m, _)| m.to_string()).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src/");
        let rel_text = rel.to_string_lossy().replace('\\', "/");
        if NOT_LIBRARY.contains(&rel_text.as_str()) {
            continue;
        }
        let top = rel_text
            .split('/')
            .next()
            .expect("a first component")
            .trim_end_matches(".rs")
            .to_string();
        // A module's own tests file may reach anywhere.
        if rel.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        assert!(
            modules.contains(&top),
            "src/{rel_text}: module `{top}` has no layer in tests/layers.rs (add it there and \
             to ARCHITECTURE.md)"
        );
        let text = std::fs::read_to_string(&file).expect("a source file");
        let deps = graph.entry(top.clone()).or_default();
        for d in imports(&library_code(&text)) {
            if d != top && modules.contains(&d) {
                deps.insert(d);
            }
        }
    }
    graph
}

fn layer(m: &str) -> u8 {
    LAYERS
        .iter()
        .find(|(n, _)| *n == m)
        .map(|(_, l)| *l)
        .expect("every module has a layer")
}

#[test]
fn no_module_imports_a_higher_layer() {
    let mut wrong = Vec::new();
    for (m, deps) in graph() {
        for d in deps {
            if layer(&d) > layer(&m) || (layer(&d) == layer(&m) && d != m) {
                wrong.push(format!("{m} (layer {}) imports {d} (layer {})", layer(&m), layer(&d)));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layers:\n{}", wrong.join("\n"));
}

#[test]
fn no_import_circle() {
    let graph = graph();
    // Depth-first search for a back edge, reporting the circle it closes.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == m) {
            let mut circle = stack[i..].to_vec();
            circle.push(m.to_string());
            return Some(circle);
        }
        if done.contains(m) {
            return None;
        }
        stack.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, graph, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        if let Some(circle) = visit(m, &graph, &mut Vec::new(), &mut done) {
            panic!("import circle: {}", circle.join(" → "));
        }
    }
}

#[test]
fn the_reader_sees_grouped_and_plain_imports() {
    let code = library_code(
        "use crate::{plan::{self, Planner}, scan, values::dates};\n\
         // crate::tui is only named in a comment\n\
         let x = crate::key::KeyStore::open();\n\
         #[cfg(test)]\nmod tests { use crate::cli; }\n",
    );
    let found: Vec<String> = imports(&code).into_iter().collect();
    assert_eq!(found, ["key", "plan", "scan", "values"]);
}
