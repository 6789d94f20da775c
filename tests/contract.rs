//! The command line keeps its word: JSON matches the schemas in assets/schemas/ (every
//! documented array present, empty when empty), exit codes follow the README's table, a
//! closed pipe is no error, a typo gets a suggestion and creates nothing, and Ctrl-C in a
//! terminal stops apply and verify within a second with nothing partial left.

#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;

fn valid(name: &str, out: &std::process::Output) -> serde_json::Value {
    valid_bytes(name, &out.stdout, &String::from_utf8_lossy(&out.stderr))
}

/// `stdout` is JSON that matches the schema `name` (`stderr` is shown when it does not).
fn valid_bytes(name: &str, stdout: &[u8], stderr: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(stdout)
        .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {}\n{stderr}", String::from_utf8_lossy(stdout)));
    let errors = schema_errors(name, &v);
    assert!(
        errors.is_empty(),
        "{name} --json does not match its schema:\n{}",
        errors.join("\n")
    );
    v
}

struct Ws {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    data: PathBuf,
}

impl Ws {
    fn new() -> Ws {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_path_buf();
        Ws {
            data: base.join("data"),
            base,
            _tmp: tmp,
        }
    }

    fn run(&self, args: &[&std::ffi::OsStr]) -> std::process::Output {
        dams(&self.data).args(args).output().unwrap()
    }
}

fn os(s: &str) -> &std::ffi::OsStr {
    s.as_ref()
}

/// Every JSON report of every command, on the demo (masks, SEG, XML, a truncated file) and on
/// real files without a `PatientID`, matches its schema.
#[test]
fn json_matches_the_schemas() {
    let ws = Ws::new();
    let demo = ws.base.join("demo");
    let input = dams::demo::make_workspace(&demo).unwrap();
    stage(
        &input,
        &[
            ("pydicom/reportsi.dcm", "extra/reportsi.dcm"),
            ("pydicom/priv_SQ.dcm", "extra/mixed/priv_SQ.dcm"),
            ("pydicom/MR_small.dcm", "extra/mixed/MR_small.dcm"),
            ("pydicom/rtplan.dcm", "extra/mixed/rtplan.dcm"),
        ],
    );
    std::fs::write(input.join("extra/notes.txt"), "not DICOM").unwrap();
    let out = ws.base.join("out");
    let i = input.as_os_str();
    valid("scan", &ws.run(&[os("scan"), i, os("--json")]));
    let plan = valid("plan", &ws.run(&[os("plan"), i, os("--json")]));
    assert!(plan["patients"][0]["xml"].is_array());
    valid("map", &ws.run(&[os("map"), i, os("--json")]));
    // Every kind of object: derived images, an ambiguous stack, files with missing references.
    let objects = fixture("objects");
    let map = valid("map", &ws.run(&[os("map"), objects.as_os_str(), os("--json")]));
    assert!(!map["derived_images"].as_array().unwrap().is_empty());
    valid("xml", &ws.run(&[os("xml"), i, os("--json")]));
    valid("assign", &ws.run(&[os("assign"), i, os("--json")]));
    let applied = valid(
        "apply",
        &ws.run(&[os("apply"), i, os("--out"), out.as_os_str(), os("--yes"), os("--json")]),
    );
    assert!(applied["failed"].is_array() && applied["unplaced"].is_array());
    valid(
        "verify",
        &ws.run(&[os("verify"), out.as_os_str(), os("--against"), i, os("--json")]),
    );
    send_echo_fetch(&ws, &out, i);
    // verify checks with the manifest's rules; an option given names other rules.
    let o = ws.run(&[
        os("verify"),
        out.as_os_str(),
        os("--option"),
        os("retain-longitudinal-modified-dates"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("name other rules"));
    let basic = ws.base.join("basic");
    valid(
        "plan",
        &ws.run(&[os("plan"), i, os("--json"), os("--profile"), os("basic")]),
    );
    valid(
        "apply",
        &ws.run(&[
            os("apply"),
            i,
            os("--out"),
            basic.as_os_str(),
            os("--yes"),
            os("--json"),
            os("--profile"),
            os("basic"),
        ]),
    );
}

/// send (a dry run, and a run that cannot reach its node), echo and fetch against nodes that
/// do not answer (tests/send.rs checks them against a real Orthanc).
fn send_echo_fetch(ws: &Ws, out: &Path, input: &std::ffi::OsStr) {
    use std::os::unix::fs::PermissionsExt;
    let config = ws.base.join("config.toml");
    let text = "[nodes.nowhere]\ndicom = \"NOWHERE@127.0.0.1:1\"\nretry_delay = \"10ms\"\n\n\
                [nodes.web]\nstow = \"http://127.0.0.1:1/dicom-web\"\nretry_delay = \"10ms\"\n";
    std::fs::write(&config, text).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    let c = config.as_os_str();
    let send = [
        os("send"),
        out.as_os_str(),
        os("--to"),
        os("nowhere"),
        os("--config"),
        c,
        os("--json"),
    ];
    let dry = valid(
        "send",
        &ws.run(&[&send[..], &[os("--no-verify"), os("--dry-run")]].concat()),
    );
    assert!(!dry["files"].as_array().unwrap().is_empty(), "{dry:#}");
    // dams' own files (the manifest, the tables) are no files that could not be sent.
    assert_eq!(dry["unreadable"], serde_json::json!([]), "{dry:#}");
    let sent = valid("send", &ws.run(&[&send[..], &[os("--against"), input]].concat()));
    assert!(sent["stopped"].is_string() && sent["sent"] == 0, "{sent:#}");
    valid(
        "echo",
        &ws.run(&[os("echo"), os("nowhere"), os("--config"), c, os("--json")]),
    );
    let into = ws.base.join("fetched");
    let args = [
        os("fetch"),
        os("web"),
        os("--study"),
        os("1.2.3"),
        os("--into"),
        into.as_os_str(),
    ];
    valid(
        "fetch",
        &ws.run(&[&args[..], &[os("--config"), c, os("--json")]].concat()),
    );
}

/// The exit-code table: 0 done, 1 needs attention, 2 usage error or nothing done.
#[test]
fn exit_codes_follow_the_table() {
    let ws = Ws::new();
    let clean = ws.base.join("clean");
    stage(&clean, &[("pydicom/CT_small.dcm", "a/CT_small.dcm")]);
    std::fs::write(clean.join("a/notes.txt"), "a stray text file").unwrap();
    let code = |o: std::process::Output| o.status.code();
    // A stray non-DICOM file is skipped, not a failure.
    let out = ws.base.join("out");
    let o = ws.run(&[
        os("apply"),
        clean.as_os_str(),
        os("--out"),
        out.as_os_str(),
        os("--yes"),
    ]);
    assert_eq!(code(o), Some(0));
    // A damaged DICOM file is not written: attention.
    let damaged = ws.base.join("damaged");
    stage(
        &damaged,
        &[
            ("pydicom/CT_small.dcm", "CT_small.dcm"),
            ("pydicom/MR_truncated.dcm", "MR_truncated.dcm"),
        ],
    );
    let out2 = ws.base.join("out2");
    let o = ws.run(&[
        os("apply"),
        damaged.as_os_str(),
        os("--out"),
        out2.as_os_str(),
        os("--yes"),
    ]);
    assert_eq!(code(o), Some(1));
    // Listing commands exit 0 whatever they list.
    assert_eq!(code(ws.run(&[os("scan"), damaged.as_os_str()])), Some(0));
    assert_eq!(code(ws.run(&[os("plan"), damaged.as_os_str()])), Some(0));
    let mixed = ws.base.join("mixed");
    stage(&mixed, &[("pydicom/CT_small.dcm", "p/CT_small.dcm")]);
    std::fs::write(mixed.join("orphan.xml"), "<?xml version=\"1.0\"?><r>nothing</r>").unwrap();
    std::fs::create_dir_all(mixed.join("q")).unwrap();
    std::fs::copy(fixture("pydicom/MR_small.dcm"), mixed.join("q/MR_small.dcm")).unwrap();
    assert_eq!(code(ws.run(&[os("xml"), mixed.as_os_str()])), Some(0));
    // A mask without a sure source: map says so with 1.
    let mapping = fixture("mapping");
    assert_eq!(code(ws.run(&[os("map"), mapping.as_os_str()])), Some(1));
    // Usage errors and nothing done: 2.
    assert_eq!(
        code(ws.run(&[os("apply"), clean.as_os_str()])),
        Some(2),
        "--out missing"
    );
    assert_eq!(code(ws.run(&[os("plan"), os("/nonexistent/folder")])), Some(2));
    assert_eq!(code(ws.run(&[os("profile"), os("show"), os("nope")])), Some(2));
    assert_eq!(code(ws.run(&[os("key"), os("lookup"), os("P9999")])), Some(1));
}

/// A mistyped command is reported as such, and nothing (no key store, no data folder) is
/// created for it; options that mean nothing for a command are refused.
#[test]
fn a_typo_gets_a_suggestion_and_creates_nothing() {
    let ws = Ws::new();
    let o = ws.run(&[os("scna")]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Did you mean `dams scan`?"), "{err}");
    assert!(!ws.data.exists(), "nothing was created");
    // Followed by a folder, the typo is no folder but an unexpected argument to clap: still
    // the suggestion, also after an option with its value.
    let folder = ws.base.join("big");
    std::fs::create_dir_all(&folder).unwrap();
    for args in [
        vec![os("plna"), folder.as_os_str()],
        vec![os("--key"), os("k.db"), os("aplly"), folder.as_os_str(), os("--yes")],
    ] {
        let o = ws.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        let wanted = if args[0] == "plna" { "dams plan" } else { "dams apply" };
        assert!(err.contains(&format!("Did you mean `{wanted}`?")), "{err}");
        assert!(!ws.data.exists(), "nothing was created");
    }
    // A real command with a stray argument is clap's error, with no suggestion.
    let o = ws.run(&[os("plan"), folder.as_os_str(), os("extra")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&o.stderr).contains("Did you mean `dams"));
    // Options that mean nothing for a command are refused, before the command name or after.
    for args in [
        vec![os("--profile"), os("basic"), os("profile"), os("list")],
        vec![os("--option"), os("x"), os("profile"), os("list")],
        vec![os("--value"), os("a=b"), os("echo"), os("A@localhost:1")],
    ] {
        let o = ws.run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("mean nothing"), "{args:?}");
    }
    // send verifies with the manifest's rules: it takes no --profile.
    let o = ws.run(&[
        os("send"),
        folder.as_os_str(),
        os("--to"),
        os("A@localhost:1"),
        os("--profile"),
        os("nope"),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unexpected argument '--profile'"));
    // Given before the command, --option counts for it (an unknown one is refused).
    let o = ws.run(&[os("--option"), os("bogus"), os("plan"), folder.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bogus"));
    assert!(!ws.data.exists(), "nothing was created");
    let o = ws.run(&[os("apply"), os("--help")]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("required unless --in-place"));
}

/// The schema files `--help` names are there, and each schema is named by the command it
/// describes (the names were once `assets/schemas/scan.json` for `scan.schema.json`).
#[test]
fn help_names_schema_files_that_exist() {
    let ws = Ws::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut named = std::collections::BTreeSet::new();
    let mut commands: Vec<Vec<String>> = vec![vec![]];
    while let Some(command) = commands.pop() {
        let mut args: Vec<&std::ffi::OsStr> = command.iter().map(|c| os(c)).collect();
        args.push(os("--help"));
        let o = ws.run(&args);
        assert_eq!(o.status.code(), Some(0), "{command:?}");
        let help = String::from_utf8(o.stdout).unwrap();
        let listed = help
            .lines()
            .skip_while(|l| *l != "Commands:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split_whitespace().next())
            .filter(|c| *c != "help");
        for sub in listed {
            commands.push(command.iter().cloned().chain([sub.to_string()]).collect());
        }
        for (at, _) in help.match_indices("assets/schemas/") {
            let path: String = help[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "/._-".contains(*c))
                .collect();
            let path = path.trim_end_matches('.');
            assert!(
                root.join(path).is_file(),
                "dams {command:?} --help names {path}, which is not there"
            );
            named.insert(path.to_string());
        }
    }
    let schemas: std::collections::BTreeSet<String> = std::fs::read_dir(root.join("assets/schemas"))
        .unwrap()
        .map(|e| format!("assets/schemas/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(named, schemas, "every schema is named by its command's --help");
}

/// A command that fails on its arguments creates nothing: no key store, no secret, no log in
/// a fresh data folder (the names are checked against the scan before the store is made).
#[test]
fn failing_commands_create_nothing() {
    let ws = Ws::new();
    let input = ws.base.join("in");
    stage(&input, &[("pydicom/CT_small.dcm", "a/CT_small.dcm")]);
    // An output folder written with another key store.
    let theirs = ws.base.join("theirs");
    let other_key = ws.base.join("other/key.db");
    let o = ws.run(&[
        os("apply"),
        input.as_os_str(),
        os("--out"),
        theirs.as_os_str(),
        os("--yes"),
        os("--key"),
        other_key.as_os_str(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!ws.data.exists());
    let i = input.as_os_str();
    let out = ws.base.join("out");
    let cases: [&[&std::ffi::OsStr]; 8] = [
        &[
            os("apply"),
            i,
            os("--out"),
            os("/proc/dams-no-such-folder"),
            os("--yes"),
        ],
        &[os("apply"), i, os("--out"), theirs.as_os_str(), os("--yes")],
        &[
            os("apply"),
            i,
            os("--out"),
            out.as_os_str(),
            os("--yes"),
            os("--shard"),
            os("0/2"),
        ],
        &[os("map"), i, os("--set"), os("a=b")],
        &[os("xml"), i, os("--assign"), os("x.xml=P1")],
        &[os("assign"), i, os("nothere=P1")],
        &[os("assign"), i, os("--clear"), os("a/CT_small.dcm")],
        &[os("plan"), i, os("--profile"), os("nope")],
    ];
    for args in cases {
        let o = ws.run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(!ws.data.exists(), "{args:?} created {:?}: {err}", tree(&ws.data));
        assert!(!out.exists(), "{args:?}");
    }
    // The same commands that succeed make the store, once.
    let o = ws.run(&[os("map"), i]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("created the key store"));
    assert!(ws.data.join("key.db").is_file());
}

/// `key export -o FILE` does not replace an existing file unless told to.
#[test]
fn key_export_does_not_overwrite() {
    let ws = Ws::new();
    let target = ws.base.join("key.csv");
    std::fs::write(&target, "precious").unwrap();
    let o = ws.run(&[os("key"), os("export"), os("-o"), target.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    let o = ws.run(&[os("key"), os("export"), os("-o"), target.as_os_str(), os("--force")]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
}

/// `dams plan … | head`: the reader stops, dams ends quietly with 0, as text and as JSON (a
/// JSON writer hides the closed pipe inside an error of its own); a closed stderr is no panic.
#[test]
fn a_closed_pipe_is_no_error() {
    let ws = Ws::new();
    let input = ws.base.join("in");
    // One series per patient: map's list of sources is long too.
    dams::demo::make_cohort(&input, 400, 1, 16, 16).unwrap();
    let i = input.as_os_str();
    for args in [
        [os("plan"), i, os("--files")],
        [os("scan"), i, os("--json")],
        [os("plan"), i, os("--json")],
        [os("map"), i, os("--json")],
    ] {
        let mut child = dams(&ws.data)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 64];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let o = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("Broken pipe"), "{args:?}: {err}");
    }
    // `dams plan … 2>&1 | head`: stderr closed too. Progress lines (after a second), messages
    // and errors are given up, never a panic (exit 101).
    let closed_stderr = |args: &[&std::ffi::OsStr]| {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        dams(&ws.data)
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(writer)
            .output()
            .unwrap()
    };
    let o = closed_stderr(&[os("plan"), i]);
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Nothing was written"));
    assert_eq!(
        closed_stderr(&[os("plan"), os("/nonexistent/folder")]).status.code(),
        Some(2)
    );
}

/// How a run stopped by Ctrl-C ended.
struct Stopped {
    code: u32,
    /// From Ctrl-C to the end.
    took: Duration,
    /// What the terminal showed (stdout and stderr).
    screen: String,
}

/// Runs dams in a pseudo-terminal (its stdout into the file `stdout` when given), presses
/// Ctrl-C once `ready` holds for what the screen shows so far and the process id, and says
/// how it ended.
fn ctrl_c_in_a_terminal(
    data: &Path,
    args: &[&std::ffi::OsStr],
    stdout: Option<&Path>,
    ready: impl Fn(&str, u32) -> bool,
) -> Stopped {
    use portable_pty::{CommandBuilder, PtySize, native_pty_system};
    let pty = native_pty_system()
        .openpty(PtySize {
            rows: 24,
            cols: 80,
            pixel_width: 0,
            pixel_height: 0,
        })
        .unwrap();
    let mut cmd = match stdout {
        // The shell becomes dams (exec), with stdout in the file and the terminal for the rest.
        Some(file) => {
            let _ = std::fs::remove_file(file);
            let mut c = CommandBuilder::new("sh");
            c.args([
                os("-c"),
                os("exec \"$0\" \"$@\" > \"$DAMS_TEST_STDOUT\""),
                os(env!("CARGO_BIN_EXE_dams")),
            ]);
            c.env("DAMS_TEST_STDOUT", file);
            c
        }
        None => CommandBuilder::new(env!("CARGO_BIN_EXE_dams")),
    };
    cmd.args(args);
    cmd.env("DAMS_DATA_DIR", data);
    cmd.env_remove("DAMS_KEY");
    let mut child = pty.slave.spawn_command(cmd).unwrap();
    let pid = child.process_id().unwrap();
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let shown = screen.clone();
    let reading = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            shown.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let mut writer = pty.master.take_writer().unwrap();
    let started = Instant::now();
    while !ready(&String::from_utf8_lossy(&screen.lock().unwrap()), pid) {
        assert!(started.elapsed() < Duration::from_mins(1), "never got ready");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("finished before Ctrl-C could be pressed: {status:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::io::Write::write_all(&mut writer, b"\x03").unwrap();
    let pressed = Instant::now();
    let (code, took) = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break (status.exit_code(), pressed.elapsed());
        }
        assert!(pressed.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(5));
    };
    // The reader ends when the terminal closes with the process.
    drop(writer);
    drop(pty.master);
    reading.join().unwrap();
    let screen = String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    Stopped { code, took, screen }
}

/// Ctrl-C during apply and during verify: each stops within a second, exits 130, leaves no
/// partial or temporary file, and a rerun finishes the job.
#[test]
fn ctrl_c_stops_apply_and_verify() {
    let ws = Ws::new();
    let input = ws.base.join("in");
    dams::demo::make_corpus(&input, 2500, 32, 32).unwrap();
    let out = ws.base.join("out");
    let files_in = |dir: &Path| {
        walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .count()
    };
    let stopped = ctrl_c_in_a_terminal(
        &ws.data,
        &[
            os("apply"),
            input.as_os_str(),
            os("--out"),
            out.as_os_str(),
            os("--yes"),
        ],
        None,
        |_, _| out.is_dir() && files_in(&out) > 50,
    );
    assert_eq!(stopped.code, 130);
    assert!(
        stopped.took < Duration::from_secs(1),
        "stopped after {:?}",
        stopped.took
    );
    let written = tree(&out);
    assert!(written.len() < 2500, "it stopped early: {} files", written.len());
    for (rel, _) in &written {
        assert!(
            !rel.to_string_lossy().contains(".dams-tmp"),
            "temporary file left: {rel:?}"
        );
        dams::dicom::parse::parse_file(&out.join(rel)).unwrap_or_else(|e| panic!("{rel:?} is partial: {e}"));
    }
    let o = dams(&ws.data)
        .args([
            os("apply"),
            input.as_os_str(),
            os("--out"),
            out.as_os_str(),
            os("--yes"),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));

    let stopped = ctrl_c_in_a_terminal(
        &ws.data,
        &[os("verify"), out.as_os_str(), os("--against"), input.as_os_str()],
        None,
        // The progress bar of the check itself is on the screen.
        |screen, _| screen.contains("verify ["),
    );
    assert!(
        stopped.took < Duration::from_secs(1),
        "stopped after {:?}",
        stopped.took
    );
    assert_eq!(stopped.code, 130, "a verify that was stopped is never a clean bill");
    // No bar is drawn before it has something to count (verify's used to show `0/0 files`
    // during the scan).
    assert!(!stopped.screen.contains("0/0 files"), "{}", stopped.screen);
    // The report says so: what it counts is not all there is.
    let screen: String = stopped.screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        screen.contains("cancelled: verify was stopped before the end") && screen.contains("was not checked"),
        "{}",
        stopped.screen
    );
}

/// Ctrl-C at apply's question stops it at once (the handler kept the read from being
/// interrupted, so dams waited for Enter): exit 130, nothing written, the report says so.
#[test]
fn ctrl_c_at_the_question_stops_apply() {
    let ws = Ws::new();
    let input = ws.base.join("in");
    stage(&input, &[("pydicom/CT_small.dcm", "a/CT_small.dcm")]);
    let out = ws.base.join("out");
    let args = [os("apply"), input.as_os_str(), os("--out"), out.as_os_str()];
    let stopped = ctrl_c_in_a_terminal(&ws.data, &args, None, |screen, _| screen.contains("[y/N]"));
    assert_eq!(stopped.code, 130, "{}", stopped.screen);
    assert!(
        stopped.took < Duration::from_secs(1),
        "stopped after {:?}",
        stopped.took
    );
    assert!(!out.exists(), "nothing written");
    assert!(stopped.screen.contains("cancelled"), "{}", stopped.screen);
}

/// Whether dams' Ctrl-C handler is there (it runs on a thread of its own): pressed from then
/// on, Ctrl-C stops the first stage, the scan.
#[cfg(target_os = "linux")]
fn handler_installed(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/task")).is_ok_and(|d| d.count() >= 2)
}

/// Ctrl-C with --json before the last stage still gives a report, valid against its schema,
/// that says `cancelled: true`: apply and verify stopped in the scan, plan in the middle of its
/// stream (the document is closed).
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_with_json_still_reports() {
    let ws = Ws::new();
    let input = ws.base.join("in");
    dams::demo::make_corpus(&input, 2500, 32, 32).unwrap();
    let stdout = ws.base.join("stdout.json");
    let report = |name: &str, stopped: &Stopped| {
        assert_eq!(stopped.code, 130, "{name}: {}", stopped.screen);
        assert!(
            stopped.took < Duration::from_secs(1),
            "{name}: stopped after {:?}",
            stopped.took
        );
        let v = valid_bytes(name, &std::fs::read(&stdout).unwrap(), &stopped.screen);
        assert_eq!(v["cancelled"], true, "{name}: {v:#}");
        v
    };
    let out = ws.base.join("out");
    let i = input.as_os_str();
    let args = [os("apply"), i, os("--out"), out.as_os_str(), os("--yes"), os("--json")];
    let stopped = ctrl_c_in_a_terminal(&ws.data, &args, Some(&stdout), |_, pid| handler_installed(pid));
    let applied = report("apply", &stopped);
    assert_eq!(applied["written"], 0);
    assert!(tree(&out).is_empty(), "nothing written");

    let args = [os("plan"), i, os("--json")];
    // Pressed once the first patients are out.
    let stopped = ctrl_c_in_a_terminal(&ws.data, &args, Some(&stdout), |_, _| {
        std::fs::metadata(&stdout).is_ok_and(|m| m.len() > 0)
    });
    let plan = report("plan", &stopped);
    // Stopped in the stream: the patients printed are whole, the others are not there.
    let patients = plan["patients"].as_array().unwrap().len();
    assert!((1..13).contains(&patients), "{patients} of 13 patients");

    // A whole output to verify, then a verify stopped in its scan of the input.
    let o = ws.run(&[os("apply"), i, os("--out"), out.as_os_str(), os("--yes")]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let args = [os("verify"), out.as_os_str(), os("--against"), i, os("--json")];
    let stopped = ctrl_c_in_a_terminal(&ws.data, &args, Some(&stdout), |_, pid| handler_installed(pid));
    let verified = report("verify", &stopped);
    assert_eq!(verified["checked"], 0, "{verified:#}");

    // scan stopped: an empty document that says so.
    let args = [os("scan"), i, os("--json")];
    let stopped = ctrl_c_in_a_terminal(&ws.data, &args, Some(&stdout), |_, pid| handler_installed(pid));
    let scanned = report("scan", &stopped);
    assert_eq!(scanned["patients"].as_array().map(Vec::len), Some(0), "{scanned:#}");
}
