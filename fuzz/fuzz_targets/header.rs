//! Fuzz target: one file's bytes → parse → the header the Index keeps. Whatever the bytes,
//! this must return (an error is fine) without panicking, hanging or allocating without bound.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(parsed) = dams::dicom::parse::parse_bytes(data.to_vec()) {
        let h = dams::scan::header::from_parsed(&parsed, Path::new("f.dcm"), len, None);
        // Everything the Index and the JSON report do with a header must hold too.
        let mut index = dams::scan::Index::new(Path::new("/fuzz"));
        index.add(h);
        index.finish();
        let _ = serde_json::to_vec(&index);
    }
});
