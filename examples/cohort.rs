//! A synthetic cohort for measuring dams by hand (the benchmarks make the same one):
//! `cargo run --release --example cohort -- DIR FILES PER_PATIENT [SIZE]` writes FILES small
//! CT files, PER_PATIENT a patient, SIZE×SIZE pixels (default 16), into DIR.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, files, per_patient, rest @ ..] = args.as_slice() else {
        eprintln!("usage: cohort DIR FILES PER_PATIENT [SIZE]");
        std::process::exit(2);
    };
    let number = |s: &str| -> usize {
        s.parse().unwrap_or_else(|_| {
            eprintln!("{s:?} is not a number");
            std::process::exit(2)
        })
    };
    let size = rest.first().map_or(16, |s| number(s));
    let size = u16::try_from(size).unwrap_or(u16::MAX);
    if let Err(e) = dams::demo::make_cohort(
        std::path::Path::new(dir),
        number(files),
        number(per_patient),
        size,
        size,
    ) {
        eprintln!("{dir}: {e}");
        std::process::exit(1);
    }
}
