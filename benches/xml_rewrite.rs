//! Throughput of the XML sidecar pipeline (plan + rewrite) on a 50 MB tool log generated
//! deterministically here, against the physical limit of copying the same bytes.
//!
//! Run with `cargo bench --bench xml_rewrite`; prints MB/s (1 MB = 10^6 bytes), the best of
//! five runs on one thread, the document and output held in memory (no disk I/O).

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{ROUNDS, best};
use dams::profile::Profile;
use dams::scan::Identity;
use dams::xml::{self, XmlContext};

const SIZE: usize = 50_000_000;

/// A session log: entries with attributes, patient blocks (ID, name, birth date, institution)
/// and free text that now and then names the patient or someone else.
fn generate() -> Vec<u8> {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) as usize
    };
    let words = [
        "loaded",
        "series",
        "mask",
        "threshold",
        "contour",
        "saved",
        "reviewed",
        "slice",
        "window",
        "level",
        "smoothing",
        "export",
        "label",
        "liver",
        "lesion",
        "volume",
        "&amp;",
        "&lt;ok&gt;",
    ];
    let mut out = String::with_capacity(SIZE + 4096);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- SegTool session log -->\n<Log tool='SegTool' version=\"4.1\">\n");
    let mut n = 0usize;
    while out.len() < SIZE {
        n += 1;
        let (h, m, s) = (n / 3600 % 24, n / 60 % 60, n % 60);
        if n % 50 == 1 {
            out.push_str(&format!(
                "  <Patient id=\"MAP001\" seq='{n}'>\n    <Name>Mapping^Alice^Q</Name>\n    <BirthDate>1950-03-17</BirthDate>\n    <Institution>General Hospital</Institution>\n  </Patient>\n"
            ));
        }
        out.push_str(&format!(
            "  <Entry time=\"{h:02}:{m:02}:{s:02}\" user='tech{}' level=\"info\">",
            next() % 7
        ));
        for i in 0..(6 + next() % 10) {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(words[next() % words.len()]);
        }
        match next() % 20 {
            0 => out.push_str(" for Mapping Alice"),
            1 => out.push_str(" (MAP001)"),
            2 => out.push_str(" born 17.03.1950"),
            3 => out.push_str(" <![CDATA[raw <data> & more]]>"),
            _ => {}
        }
        out.push_str("</Entry>\n");
    }
    out.push_str("</Log>\n");
    out.into_bytes()
}

fn mbps(bytes: usize, t: Duration) -> f64 {
    bytes as f64 / 1e6 / t.as_secs_f64()
}

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("xml_rewrite: a benchmark; run it with `cargo bench --bench xml_rewrite`");
        return;
    }
    let doc = generate();
    let mut identity = Identity::default();
    identity.ids.insert("MAP001".into());
    identity.names.insert("Mapping^Alice^Q".into());
    identity.birth_dates.insert("19500317".into());
    let ctx = XmlContext::new("P0001", &identity);
    let rules = Profile::resolve(None, &[]).expect("seed profile").xml;

    let plan = xml::plan(&doc, &rules, &ctx).expect("plan");
    let mut out = Vec::with_capacity(doc.len());
    xml::rewrite(&doc, &plan, &mut out).expect("rewrite");
    println!(
        "xml_rewrite: {:.1} MB document, {} edits, output {:.1} MB",
        doc.len() as f64 / 1e6,
        plan.edits.len(),
        out.len() as f64 / 1e6
    );

    let copy = best(|| {
        let mut v = Vec::with_capacity(doc.len());
        v.extend_from_slice(black_box(&doc));
        black_box(v);
    });
    let plan_only = best(|| {
        black_box(xml::plan(black_box(&doc), &rules, &ctx).expect("plan"));
    });
    let rewrite_only = best(|| {
        let mut v = Vec::with_capacity(doc.len());
        xml::rewrite(black_box(&doc), &plan, &mut v).expect("rewrite");
        black_box(v);
    });
    let both = best(|| {
        let p = xml::plan(black_box(&doc), &rules, &ctx).expect("plan");
        let mut v = Vec::with_capacity(doc.len());
        xml::rewrite(&doc, &p, &mut v).expect("rewrite");
        black_box(v);
    });
    let ids = dams::matcher::Identifiers::new(&identity);
    let verify = best(|| {
        black_box(xml::residual(black_box(&out), &ids).expect("residual"));
    });
    let n = doc.len();
    println!("copy (physical limit)   {:>8.1} MB/s", mbps(n, copy));
    println!("plan                    {:>8.1} MB/s", mbps(n, plan_only));
    println!("rewrite (given a plan)  {:>8.1} MB/s", mbps(n, rewrite_only));
    println!(
        "plan + rewrite          {:>8.1} MB/s   (best of {ROUNDS})",
        mbps(n, both)
    );
    println!("residual scan (verify)  {:>8.1} MB/s", mbps(out.len(), verify));
}
