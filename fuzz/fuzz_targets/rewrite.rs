//! Fuzz target: one DICOM file through plan (the seed profile, and the basic profile with its
//! UID remapping, inserted elements and cleared preamble; library API) and rewrite into
//! memory; the output must parse again. Inputs that do not parse are simply skipped.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use dams::profile::Profile;
use dams::dicom::parse::parse_bytes;
use dams::dicom::rewrite;
use dams::key::KeyStore;
use dams::plan::Planner;
use libfuzzer_sys::fuzz_target;

fn fixed() -> &'static ([Profile; 2], KeyStore) {
    static FIXED: OnceLock<([Profile; 2], KeyStore)> = OnceLock::new();
    FIXED.get_or_init(|| {
        let seed = Profile::resolve(None, &[]).expect("seed profile");
        let basic = Profile::resolve(Some("basic"), &[]).expect("basic profile");
        // A key store that is never saved: opening a missing file gives an empty one.
        let key = KeyStore::open(Path::new("/nonexistent/dams-fuzz/key.json")).expect("empty key store");
        ([seed, basic], key)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = parse_bytes(data.to_vec()) else { return };
    let rel = Path::new("f.dcm");
    let header = dams::scan::header::from_parsed(&parsed, rel, data.len() as u64, None);
    let mut index = dams::scan::Index::new(Path::new("/fuzz"));
    index.add(header);
    index.finish();
    let Some(patient) = index.patients.first() else { return };
    let (profiles, key) = fixed();
    for profile in profiles {
        let planner = dams::plan::prepare(&index, profile.clone(), key, &Default::default()).planner;
        let Ok(fp) = planner.plan_parsed(&parsed, rel, &patient.patient_id) else { continue };
        let _ = serde_json::to_vec(&fp);
        let changes = Planner::changes(&fp);
        let Ok(rendered) = rewrite::render_with(
            &parsed,
            &changes,
            Planner::inserts(&fp),
            fp.clear_preamble,
            Planner::file_meta(&fp),
        ) else {
            continue;
        };
        let mut out = Vec::new();
        rewrite::write_pieces(&parsed, &rendered.pieces, &mut out).expect("writing into memory cannot fail");
        if parsed.layout.deflated {
            // The rewrite works on the inflated data set; apply deflates it again when writing.
            continue;
        }
        if let Err(e) = parse_bytes(out) {
            panic!("the rewritten file does not parse: {e}");
        }
    }
});
