//! The matcher alone (issue 13): how fast one patient set's compiled search finds and replaces
//! identifiers in text, on plain ASCII values (the fast path, as nearly all DICOM values are)
//! and on text that needs folding (German, French and CJK free text), and how many forms one
//! patient's identifiers make.
//!
//! Run with `cargo bench --bench matcher`; prints MB/s (1 MB = 10^6 bytes), the best of five
//! runs on one thread, over 20 MB of values of 8 to 120 bytes each generated here.

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::best;
use dams::matcher::{Identifiers, Replacer, replacement_patterns};
use dams::scan::Identity;

const SIZE: usize = 20_000_000;

fn values(words: &[&str]) -> Vec<String> {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let mut out = Vec::new();
    let mut total = 0;
    while total < SIZE {
        let n = 1 + next() % 12;
        let v: Vec<&str> = (0..n).map(|_| words[next() % words.len()]).collect();
        let v = v.join(" ");
        total += v.len();
        out.push(v);
    }
    out
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("matcher: a benchmark; run it with `cargo bench --bench matcher`");
        return;
    }
    let mut identity = Identity::default();
    identity.ids.insert("778899123".into());
    identity.names.insert("Müller^Hans^Peter".into());
    identity.birth_dates.insert("19610423".into());
    let mut cjk = Identity::default();
    cjk.ids.insert("JP0042".into());
    cjk.names.insert("Yamada^Tarou=山田^太郎=やまだ^たろう".into());
    cjk.birth_dates.insert("19700102".into());
    let t = Instant::now();
    let ids = Identifiers::new(&identity);
    let replacer = Replacer::new(replacement_patterns([("P0001", &identity), ("P0002", &cjk)]));
    let compile = t.elapsed();
    let forms = replacement_patterns([("P0001", &identity)]).len();
    println!(
        "matcher: {forms} forms for one patient (name, ID, birth date); compiled in {:.2} ms",
        compile.as_secs_f64() * 1e3
    );
    let plain = [
        "CT",
        "THORAX",
        "AXIAL",
        "1.25mm",
        "SERIES",
        "contrast",
        "HANS",
        "MUELLER",
        "lung",
        "window",
        "778899123",
        "ORIGINAL",
        "PRIMARY",
        "23.04.1961",
        "liver",
        "segmentation",
        "mask",
        "v2",
        "2024-03-11",
    ];
    let folded = [
        "Aufnahme",
        "Thorax",
        "KÖHLER",
        "Müller",
        "Straße",
        "José",
        "résumé",
        "山田",
        "検査",
        "김민준",
        "Øresund",
        "Ärztin",
        "O’Brien",
        "–",
        "follow-up",
        "23 APR 1961",
        "Befund",
    ];
    for (label, words) in [("plain ASCII", &plain[..]), ("needs folding", &folded[..])] {
        let vals = values(words);
        let bytes: usize = vals.iter().map(String::len).sum();
        let mb = bytes as f64 / 1e6;
        let mut hits = 0;
        let find = best(|| {
            hits = vals
                .iter()
                .filter(|v| !ids.find(black_box(v.as_bytes())).is_empty())
                .count();
        });
        let mut changed = 0;
        let replace = best(|| {
            changed = vals.iter().filter(|v| replacer.replace(black_box(v)).is_some()).count();
        });
        println!(
            "matcher: {label}: {:.1} MB in {} values; find {:.0} MB/s ({hits} with a finding), replace {:.0} MB/s ({changed} changed)",
            mb,
            vals.len(),
            mb / find.as_secs_f64(),
            mb / replace.as_secs_f64(),
        );
    }
}
