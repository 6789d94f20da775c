//! Fuzz target: one XML sidecar through plan (the seed profile's XML rules and a patient's
//! identifiers), rewrite and the residual scan. The rewritten file must be well-formed again.
#![no_main]

use std::sync::OnceLock;

use dams::profile::{Profile, XmlRule};
use dams::matcher::Identifiers;
use dams::scan::Identity;
use dams::xml::{self, XmlContext};
use libfuzzer_sys::fuzz_target;

struct Fixed {
    rules: Vec<XmlRule>,
    ctx: XmlContext,
    ids: Identifiers,
}

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        // The synthetic patients of tests/fixtures (mapping/ and xml/).
        let mut who = Identity::default();
        who.ids.insert("MAP001".into());
        who.names.insert("Mapping^Alice^Q".into());
        who.birth_dates.insert("19500317".into());
        who.other_ids.insert("MAP002".into());
        who.other_names.insert("Mapping^Bob".into());
        Fixed {
            rules: Profile::resolve(None, &[]).expect("seed profile").xml,
            ctx: XmlContext::new("P0001", &who),
            ids: Identifiers::new(&who),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixed();
    let _ = xml::residual(data, &f.ids);
    let Ok(plan) = xml::plan(data, &f.rules, &f.ctx) else { return };
    let _ = serde_json::to_vec(&plan);
    let out = xml::rewrite_to_vec(data, &plan).expect("a plan rewrites the bytes it was made from");
    if let Err(e) = xml::check(&out) {
        panic!("the rewritten file is not well-formed: {e}");
    }
    let _ = xml::residual(&out, &f.ids);
});
