//! Sending to a real Orthanc: the tests start their own Orthanc (own ports, storage and AE
//! title, `DICOMweb` plugin loaded) in a temporary folder, send a patient written by
//! `dams apply` over C-STORE and STOW-RS, and read it back through Orthanc's REST API.
//! Without Orthanc they say they skipped; `DAMS_REQUIRE_ORTHANC=1` (CI) makes that a failure.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use common::*;

const AET: &str = "DAMSTEST";

fn orthanc_binary() -> Option<PathBuf> {
    ["/usr/sbin/Orthanc", "/usr/bin/Orthanc", "/usr/local/bin/Orthanc"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

fn dicomweb_plugin() -> Option<PathBuf> {
    let dirs = [
        "/usr/share/orthanc/plugins",
        "/usr/lib/orthanc",
        "/usr/local/share/orthanc/plugins",
    ];
    dirs.iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libOrthancDicomWeb.so"))
        })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// How the test's Orthanc is set up.
#[derive(Clone, Default)]
struct Setup {
    /// Transfer syntaxes its C-STORE SCP accepts (default: all).
    accepted: Option<Vec<&'static str>>,
    /// HTTP basic authentication with this user and password.
    user: Option<(&'static str, &'static str)>,
}

/// An Orthanc of the test's own, stopped when dropped.
struct Orthanc {
    child: Mutex<Option<Child>>,
    dir: tempfile::TempDir,
    binary: PathBuf,
    dicom_port: u16,
    http_port: u16,
    setup: Setup,
}

impl Orthanc {
    /// Starts Orthanc, or says why the test is skipped (`None`).
    fn start(setup: Setup) -> Option<Orthanc> {
        let required = std::env::var_os("DAMS_REQUIRE_ORTHANC").is_some_and(|v| v == "1");
        let (Some(binary), Some(plugin)) = (orthanc_binary(), dicomweb_plugin()) else {
            assert!(
                !required,
                "DAMS_REQUIRE_ORTHANC=1 but Orthanc or its DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb)"
            );
            eprintln!(
                "skipped: Orthanc with the DICOMweb plugin is not installed (Debian packages orthanc, orthanc-dicomweb)"
            );
            return None;
        };
        // A port taken by someone else between our probe and Orthanc's bind: try others.
        for _ in 0..3 {
            let dir = tempfile::tempdir().unwrap();
            let (dicom_port, http_port) = (free_port(), free_port());
            let mut config = serde_json::json!({
                "Name": "dams-test",
                "StorageDirectory": dir.path().join("db"),
                "IndexDirectory": dir.path().join("db"),
                "DicomAet": AET,
                "DicomPort": dicom_port,
                "HttpPort": http_port,
                "RemoteAccessAllowed": false,
                "AuthenticationEnabled": false,
                "DicomCheckCalledAet": true,
                "StorageCompression": false,
                "Plugins": [plugin],
                "DicomWeb": {"Enable": true, "Root": "/dicom-web/"},
                "HttpThreadsCount": 4,
                "DicomThreadsCount": 2,
            });
            if let Some(ts) = &setup.accepted {
                config["AcceptedTransferSyntaxes"] = serde_json::json!(ts);
            }
            if let Some((user, password)) = setup.user {
                config["AuthenticationEnabled"] = serde_json::json!(true);
                config["RegisteredUsers"] = serde_json::json!({ user: password });
            }
            std::fs::write(dir.path().join("orthanc.json"), config.to_string()).unwrap();
            let o = Orthanc {
                child: Mutex::new(None),
                dir,
                binary: binary.clone(),
                dicom_port,
                http_port,
                setup: setup.clone(),
            };
            if o.launch() {
                return Some(o);
            }
            o.stop();
            let log = std::fs::read_to_string(o.dir.path().join("orthanc.log")).unwrap_or_default();
            eprintln!("Orthanc did not come up; trying other ports. Its log:\n{log}");
        }
        panic!("Orthanc did not start (three tries)");
    }

    /// Runs Orthanc on the config in `dir` and waits until both ports answer.
    fn launch(&self) -> bool {
        let log = std::fs::File::create(self.dir.path().join("orthanc.log")).unwrap();
        let child = Command::new(&self.binary)
            .arg(self.dir.path().join("orthanc.json"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        *self.child.lock().unwrap() = Some(child);
        let until = Instant::now() + Duration::from_mins(1);
        while Instant::now() < until {
            if let Some(c) = self.child.lock().unwrap().as_mut()
                && c.try_wait().unwrap().is_some()
            {
                return false;
            }
            let dicom_up = std::net::TcpStream::connect(("127.0.0.1", self.dicom_port)).is_ok();
            if dicom_up && self.get("/system").is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    /// Kills Orthanc (as a crash or a pulled plug would) and waits until it is gone.
    fn stop(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&self) {
        self.stop();
        assert!(self.launch(), "Orthanc came back");
    }

    fn dicom(&self) -> String {
        format!("{AET}@127.0.0.1:{}", self.dicom_port)
    }

    fn web(&self) -> String {
        format!("http://127.0.0.1:{}/dicom-web", self.http_port)
    }

    fn request(&self, path: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let r = ureq::get(format!("http://127.0.0.1:{}{path}", self.http_port));
        match self.setup.user {
            Some((u, p)) => {
                use base64::Engine;
                let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                r.header("Authorization", format!("Basic {token}"))
            }
            None => r,
        }
    }

    fn get(&self, path: &str) -> Result<serde_json::Value, ureq::Error> {
        self.request(path).call()?.body_mut().read_json_value()
    }

    fn bytes(&self, path: &str) -> Vec<u8> {
        self.request(path)
            .call()
            .unwrap()
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap()
    }

    /// Every stored instance: (Orthanc ID, its tags as Orthanc shows them, its file).
    fn instances(&self) -> Vec<(String, serde_json::Value, Vec<u8>)> {
        let ids = self.get("/instances").unwrap();
        ids.as_array()
            .unwrap()
            .iter()
            .map(|id| {
                let id = id.as_str().unwrap().to_string();
                let tags = self.get(&format!("/instances/{id}/tags?simplify")).unwrap();
                let file = self.bytes(&format!("/instances/{id}/file"));
                (id, tags, file)
            })
            .collect()
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        self.stop();
    }
}

trait ReadJsonValue {
    fn read_json_value(&mut self) -> Result<serde_json::Value, ureq::Error>;
}

impl ReadJsonValue for ureq::Body {
    fn read_json_value(&mut self) -> Result<serde_json::Value, ureq::Error> {
        let text = self.read_to_string()?;
        Ok(serde_json::from_str(&text).unwrap())
    }
}

/// A workspace: the mapping fixtures' patients (real files made with pydicom, highdicom and
/// rt-utils) written by `dams apply --profile basic`, and a config file naming the node.
struct Workspace {
    tmp: tempfile::TempDir,
    input: PathBuf,
    out: PathBuf,
    key: PathBuf,
    config: PathBuf,
}

impl Workspace {
    fn new(patients: &[&str]) -> Workspace {
        let ws = Workspace::staged(patients);
        ws.apply();
        ws
    }

    /// The patients' input files, not written yet.
    fn staged(patients: &[&str]) -> Workspace {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in");
        for (rel, bytes) in tree(&fixture("mapping")) {
            if patients.iter().any(|p| rel.starts_with(p)) {
                let dest = input.join(&rel);
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::write(dest, bytes).unwrap();
            }
        }
        Workspace {
            out: tmp.path().join("out"),
            key: tmp.path().join("state/key.json"),
            config: tmp.path().join("config.toml"),
            input,
            tmp,
        }
    }

    /// A workspace of single fixture files.
    fn of_files(files: &[(&str, &str)]) -> Workspace {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in");
        stage(&input, files);
        let ws = Workspace {
            out: tmp.path().join("out"),
            key: tmp.path().join("state/key.json"),
            config: tmp.path().join("config.toml"),
            input,
            tmp,
        };
        ws.apply();
        ws
    }

    /// Applies the Basic Profile, keeping `ManufacturerModelName` by a rule of its own: the
    /// SEG's is its generator's name, `make_mapping_fixtures.py`, which holds the fixtures' fake
    /// surname "Mapping". Kept on purpose, it is the one file verify does not find clean.
    fn apply(&self) {
        let profile = self.tmp.path().join("basic-keep-model.toml");
        let text = dams::profile::builtin_text("basic").unwrap().to_string()
            + "\n[[dicom]]\ntag = \"ManufacturerModelName\"\naction = \"keep\"\n";
        std::fs::write(&profile, text).unwrap();
        let o = self
            .dams()
            .arg("--profile")
            .arg(&profile)
            .args(["apply", "--yes", "--accept-burned-in", "--key"])
            .arg(&self.key)
            .arg(&self.input)
            .arg("--out")
            .arg(&self.out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }

    fn dams(&self) -> Command {
        let mut c = dams(&self.tmp.path().join("data"));
        c.env_remove("DAMS_CONFIG");
        c
    }

    fn write_config(&self, text: &str) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(&self.config, text).unwrap();
        std::fs::set_permissions(&self.config, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    /// `dams send OUT --to NODE` after verifying against the input, with `extra` arguments.
    fn send(&self, node: &str, extra: &[&str]) -> Output {
        self.dams()
            .arg("send")
            .arg(&self.out)
            .args(["--to", node, "--config"])
            .arg(&self.config)
            .arg("--key")
            .arg(&self.key)
            .args(extra)
            .output()
            .unwrap()
    }

    fn send_json(&self, node: &str, extra: &[&str]) -> (Option<i32>, serde_json::Value, String) {
        let mut args = vec!["--json"];
        args.extend_from_slice(extra);
        let o = self.send(node, &args);
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{stderr}");
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("no JSON ({e}): {stderr}"));
        let errors = schema_errors("send", &v);
        assert!(
            errors.is_empty(),
            "send --json does not match its schema:\n{}",
            errors.join("\n")
        );
        (o.status.code(), v, stderr)
    }

    /// The DICOM files of the output folder (relative path, bytes).
    fn outputs(&self) -> Vec<(PathBuf, Vec<u8>)> {
        tree(&self.out)
            .into_iter()
            .filter(|(_, b)| dams::dicom::parse::parse_bytes(b.clone()).is_ok())
            .collect()
    }

    fn log_lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.out.join(dams::send::LOG_NAME))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn top(bytes: &[u8], tag: dams::dicom::Tag) -> String {
    dams::dicom::parse::parse_bytes(bytes.to_vec())
        .unwrap()
        .top_string(tag)
        .unwrap_or_default()
        .trim_end_matches(['\0', ' '])
        .to_string()
}

/// The bytes of the top-level `PixelData` value (`None`: an RTSTRUCT, say).
fn pixel_data(bytes: &[u8]) -> Option<Vec<u8>> {
    let p = dams::dicom::parse::parse_bytes(bytes.to_vec()).unwrap();
    let e = p
        .elements
        .iter()
        .find(|e| e.tag == dams::dicom::tags::PIXEL_DATA && e.parent == dams::dicom::parse::TOP)?;
    let mut v = vec![0u8; e.value_len() as usize];
    p.read_at(e.value_start, &mut v).unwrap();
    Some(v)
}

/// The input patients' identifying values, as the scan found them.
fn identifiers(input: &Path) -> Vec<String> {
    let index = scan_lib(input);
    let mut out = Vec::new();
    for p in &index.patients {
        let i = &p.identity;
        out.extend(i.ids.iter().cloned());
        out.extend(i.birth_dates.iter().filter(|d| !d.is_empty()).cloned());
        for n in &i.names {
            out.push(n.clone());
            // Each part of a name on its own (Mapping^Bob: "Bob" and "Mapping").
            out.extend(n.split(['^', ' ']).filter(|s| s.len() >= 3).map(str::to_string));
        }
    }
    out.sort();
    out.dedup();
    assert!(!out.is_empty());
    out
}

/// What Orthanc holds is what was written: one instance per output file, `PatientID` the
/// patient's code, pixel data byte for byte the output's, no original identifier anywhere.
fn assert_delivered(ws: &Workspace, orthanc: &Orthanc, expected: &[(PathBuf, Vec<u8>)]) {
    let stored = orthanc.instances();
    assert_eq!(stored.len(), expected.len(), "instance count");
    let key = dams::key::KeyStore::open(&ws.key).unwrap();
    let codes: Vec<&str> = key.entries().iter().map(|e| e.code.as_str()).collect();
    let ids = identifiers(&ws.input);
    for (id, tags, file) in &stored {
        let uid = tags["SOPInstanceUID"].as_str().unwrap();
        let (path, written) = expected
            .iter()
            .find(|(_, b)| top(b, dams::dicom::tags::SOP_INSTANCE_UID) == uid)
            .unwrap_or_else(|| panic!("instance {uid} ({id}) is not one of the output files"));
        let pid = tags["PatientID"].as_str().unwrap();
        assert!(
            codes.contains(&pid),
            "{}: PatientID {pid} is a code of the key",
            path.display()
        );
        assert_eq!(pid, top(written, dams::dicom::tags::PATIENT_ID));
        assert_eq!(
            tags["PatientName"].as_str().unwrap(),
            pid,
            "PatientName is the code too"
        );
        assert!(
            pixel_data(file) == pixel_data(written),
            "{}: the stored pixel data is byte for byte the output's",
            path.display()
        );
        let text = tags.to_string();
        for x in &ids {
            assert!(
                !text.contains(x.as_str()),
                "{}: an original identifier is in the stored tags",
                path.display()
            );
            assert!(
                !file.windows(x.len()).any(|w| w == x.as_bytes()),
                "{}: an original identifier is in the stored file",
                path.display()
            );
        }
    }
}

fn config_for(orthanc: &Orthanc, extra: &str) -> String {
    format!(
        "[nodes.research]\ndicom = \"{}\"\ncalling = \"DAMS\"\ntimeout = \"10s\"\nretries = 2\nretry_delay = \"50ms\"\n\n\
         [nodes.web]\nstow = \"{}\"\ntimeout = \"10s\"\nretries = 2\nretry_delay = \"50ms\"\n{extra}",
        orthanc.dicom(),
        orthanc.web()
    )
}

/// Sends PAT1 and PAT2 to `node` of a fresh Orthanc, reads them back, sends again.
fn deliver_and_read_back(node: &str, setup: Setup, extra_config: &str) {
    let Some(orthanc) = Orthanc::start(setup) else { return };
    let ws = Workspace::new(&["PAT1", "PAT2"]);
    ws.write_config(&config_for(&orthanc, extra_config));
    let outputs = ws.outputs();
    // The one file verify does not find clean (the SEG's ManufacturerModelName is the
    // generator's name, which holds the fake surname "Mapping"): it must not be sent.
    let seg = PathBuf::from("PAT1/seg/seg.dcm");
    let expected: Vec<(PathBuf, Vec<u8>)> = outputs.iter().filter(|(p, _)| *p != seg).cloned().collect();
    assert!(expected.len() > 40, "{}", expected.len());

    // A dry run lists and sends nothing.
    let o = ws.send(node, &["--against", ws.input.to_str().unwrap(), "--dry-run"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        text.contains(&format!("would send {} of {}", expected.len(), expected.len())),
        "{text}"
    );
    assert!(
        text.contains("PAT2/ct/ct_001.dcm  CT Image Storage, Explicit VR Little Endian  send"),
        "{text}"
    );
    assert!(
        text.contains("PAT1/seg/seg.dcm: verify: an original identifier"),
        "{text}"
    );
    assert!(orthanc.instances().is_empty(), "a dry run sends nothing");
    assert!(ws.log_lines().is_empty());

    let (code, r, stderr) = ws.send_json(node, &["--against", ws.input.to_str().unwrap()]);
    assert_eq!(code, Some(1), "the refused SEG makes it exit 1: {r:#}{stderr}");
    assert_eq!(r["sent"], expected.len(), "{r:#}{stderr}");
    assert_eq!(r["failed"].as_array().unwrap().len(), 0, "{r:#}");
    assert_eq!(r["not_sent"], 0);
    let refused = r["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 1, "{r:#}");
    assert_eq!(refused[0]["path"], "PAT1/seg/seg.dcm");
    assert_delivered(&ws, &orthanc, &expected);

    // The log: one line per instance, by SOP Instance UID and digest, nothing identifying.
    let log = ws.log_lines();
    assert_eq!(log.len(), expected.len());
    let log_text = std::fs::read_to_string(ws.out.join(dams::send::LOG_NAME)).unwrap();
    for x in identifiers(&ws.input) {
        assert!(!log_text.contains(&x), "the send log holds no identifier");
    }
    for l in &log {
        assert_eq!(l["status"], "success");
        assert_eq!(l["sha256"].as_str().unwrap().len(), 64);
    }

    // Again: nothing is sent, the log says the node has everything.
    let (code, r, _) = ws.send_json(node, &["--against", ws.input.to_str().unwrap()]);
    assert_eq!(code, Some(1), "still the refused SEG");
    assert_eq!(r["sent"], 0, "{r:#}");
    assert_eq!(r["already_sent"], expected.len());
    assert_eq!(ws.log_lines().len(), expected.len(), "nothing new in the log");
    assert_eq!(orthanc.instances().len(), expected.len());

    // --again sends them anyway (the node keeps one copy of each).
    let (_, r, _) = ws.send_json(node, &["--against", ws.input.to_str().unwrap(), "--again"]);
    assert_eq!(r["sent"], expected.len(), "{r:#}");
    assert_eq!(orthanc.instances().len(), expected.len());
}

/// The review screen sends a patient it has written: `s` in the write's result, the node
/// chosen by hand, the files verified first; sent again later from the patients pane, the
/// send log finds everything on the node already.
#[test]
fn the_review_screen_sends_a_written_patient() {
    use ratatui::crossterm::event::KeyCode;
    let Some(orthanc) = Orthanc::start(Setup::default()) else {
        return;
    };
    let ws = Workspace::staged(&["PAT2"]);
    ws.write_config(&config_for(&orthanc, ""));
    let opts = dams::tui::Options {
        root: ws.input.clone(),
        out: ws.out.clone(),
        key_path: ws.key.clone(),
        profile: dams::profile::Profile::resolve(Some("basic"), &[]).unwrap(),
        config: Some(ws.config.clone()),
    };
    let mut h = dams::tui::testing::Harness::new(opts, 100, 30);
    h.type_keys("ray");
    let screen = h.render();
    assert!(
        screen.contains("Written:") && screen.contains("s send them"),
        "{screen}"
    );
    assert!(orthanc.instances().is_empty(), "nothing is sent before it is asked for");

    h.type_keys("s");
    let screen = h.render();
    assert!(
        screen.contains("Choose the node") && screen.contains("research") && screen.contains("web"),
        "{screen}"
    );
    h.key(KeyCode::Enter);
    let screen = h.render();
    let outputs = ws.outputs();
    assert!(outputs.len() >= 8, "{}", outputs.len());
    assert!(
        screen.contains(&format!(
            "Sent: every instance is on research ({} now, 0 before)",
            outputs.len()
        )),
        "{screen}"
    );
    assert_delivered(&ws, &orthanc, &outputs);
    assert_eq!(ws.log_lines().len(), outputs.len());

    // Later, from the patients pane: the log says the node has them all.
    h.key(KeyCode::Esc);
    h.type_keys("g");
    h.type_keys("s");
    h.key(KeyCode::Enter);
    let screen = h.render();
    assert!(
        screen.contains(&format!("(0 now, {} before)", outputs.len())),
        "{screen}"
    );
    assert_eq!(ws.log_lines().len(), outputs.len(), "nothing new in the log");
    assert_eq!(orthanc.instances().len(), outputs.len());
}

#[test]
fn c_store_delivers_a_pseudonymised_patient() {
    deliver_and_read_back("research", Setup::default(), "");
}

#[test]
fn stow_rs_delivers_a_pseudonymised_patient_with_basic_authentication() {
    let setup = Setup {
        user: Some(("dams", "s3cret-pw")),
        ..Setup::default()
    };
    // The password comes from a file only its owner can read.
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("web.password");
    std::fs::write(&secret, "s3cret-pw\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let extra = format!("user = \"dams\"\npassword_file = \"{}\"\n", secret.display());
    deliver_and_read_back("web", setup, &extra);
}

#[test]
fn wrong_stow_credentials_are_a_clear_error_that_never_shows_the_secret() {
    let Some(orthanc) = Orthanc::start(Setup {
        user: Some(("dams", "right-password")),
        ..Setup::default()
    }) else {
        return;
    };
    let ws = Workspace::new(&["PAT2"]);
    ws.write_config(&config_for(
        &orthanc,
        "user = \"dams\"\npassword_env = \"DAMS_TEST_WEB_PASSWORD\"\n",
    ));
    let o = ws
        .dams()
        .env("DAMS_TEST_WEB_PASSWORD", "wrong-password")
        .arg("send")
        .arg(&ws.out)
        .args(["--to", "web", "--no-verify", "--config"])
        .arg(&ws.config)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("authentication failed (HTTP 401)"), "{all}");
    assert!(!all.contains("wrong-password"), "{all}");
    let log = std::fs::read_to_string(ws.tmp.path().join("data/dams.log")).unwrap_or_default();
    assert!(!log.contains("wrong-password"));
    assert!(orthanc.instances().is_empty());
    // Without the variable: a usage error that names it, before anything is sent.
    let o = ws
        .dams()
        .env_remove("DAMS_TEST_WEB_PASSWORD")
        .args(["echo", "web", "--config"])
        .arg(&ws.config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("DAMS_TEST_WEB_PASSWORD is not set"));
}

/// Orthanc is killed after three instances; the send stops with a clear error, the log says
/// what was delivered, and a rerun once Orthanc is back sends the rest.
fn stopped_mid_send(node: &str) {
    let Some(orthanc) = Orthanc::start(Setup::default()) else {
        return;
    };
    let ws = Workspace::new(&["PAT2"]);
    ws.write_config(&config_for(&orthanc, ""));
    let outgoing = dams::send::collect(&ws.out, &|_, _| {}, &AtomicBool::new(false)).unwrap();
    assert_eq!(outgoing.files.len(), 10);
    let config = dams::send::Config::load(Some(&ws.config)).unwrap();
    let n = config.node(node).unwrap();
    let cancel = AtomicBool::new(false);
    let report = dams::send::send(
        &ws.out,
        &outgoing.files,
        &n,
        &dams::send::SendOptions::default(),
        &|done, _| {
            if done == 3 {
                orthanc.stop();
            }
        },
        &cancel,
    )
    .unwrap();
    assert_eq!(report.sent, 3, "{report:#?}");
    assert_eq!(report.not_sent, 7, "{report:#?}");
    let why = report.stopped.as_deref().unwrap();
    assert!(why.contains("tried 3 times"), "{why}");
    assert!(!report.complete());
    let log = ws.log_lines();
    assert_eq!(log.len(), 3, "the log says what was delivered");

    // The CLI against the stopped node: a clear message and exit 1.
    let o = ws.send(node, &["--no-verify"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("stopped:") && text.contains("cannot connect"), "{text}");
    assert!(
        text.contains("7 file(s) not sent; run the same command again"),
        "{text}"
    );

    orthanc.restart();
    assert_eq!(orthanc.instances().len(), 3, "what was stored survived the kill");
    let (code, r, stderr) = ws.send_json(node, &["--against", ws.input.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{r:#}{stderr}");
    assert_eq!(r["sent"], 7);
    assert_eq!(r["already_sent"], 3);
    assert_eq!(ws.log_lines().len(), 10);
    assert_delivered(&ws, &orthanc, &ws.outputs());
}

#[test]
fn c_store_node_stopped_mid_send() {
    stopped_mid_send("research");
}

#[test]
fn stow_rs_node_stopped_mid_send() {
    stopped_mid_send("web");
}

#[test]
fn echo_and_refused_associations() {
    let Some(orthanc) = Orthanc::start(Setup::default()) else {
        return;
    };
    let ws = Workspace::new(&["PAT2"]);
    ws.write_config(&format!(
        "{}\n[nodes.wrong]\ndicom = \"NOT_ORTHANC@127.0.0.1:{}\"\nretry_delay = \"10ms\"\n\n\
         [nodes.nowhere]\nstow = \"http://127.0.0.1:{}/no-dicom-web\"\n",
        config_for(&orthanc, ""),
        orthanc.dicom_port,
        orthanc.http_port
    ));
    let echo = |node: &str| {
        let o = ws
            .dams()
            .args(["echo", node, "--config"])
            .arg(&ws.config)
            .output()
            .unwrap();
        (
            o.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        )
    };
    let (code, text) = echo("research");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("answered C-ECHO"), "{text}");
    let (code, text) = echo("web");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("answered (QIDO-RS, HTTP 200)"), "{text}");
    let (code, text) = echo(&orthanc.dicom());
    assert_eq!(code, Some(0), "an address works as well as a name: {text}");
    // As JSON, the shape of its schema.
    for node in ["research", "wrong"] {
        let o = ws
            .dams()
            .args(["echo", node, "--json", "--config"])
            .arg(&ws.config)
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert!(schema_errors("echo", &v).is_empty(), "{v:#}");
        assert_eq!(v["ok"], node == "research", "{v:#}");
    }

    let (code, text) = echo("wrong");
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("association rejected") && text.contains("called AE title not recognized"),
        "{text}"
    );
    let (code, text) = echo("nowhere");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("HTTP 404"), "{text}");

    // Sending to the wrong AE title: rejected at once (permanent), nothing sent.
    let o = ws.send("wrong", &["--no-verify"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("stopped: association rejected"), "{text}");
    assert!(!text.contains("tried"), "a permanent rejection is not retried: {text}");
    assert!(text.contains("10 file(s) not sent"), "{text}");
    let o = ws.send("nowhere", &["--no-verify"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("no STOW-RS service there (HTTP 404)"), "{text}");
    assert!(orthanc.instances().is_empty());
    assert!(ws.log_lines().is_empty());
}

#[test]
fn a_refused_transfer_syntax_is_reported_per_file() {
    // This node takes neither JPEG 2000 nor (retired) Explicit VR Big Endian.
    let setup = Setup {
        accepted: Some(vec!["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]),
        ..Setup::default()
    };
    let Some(orthanc) = Orthanc::start(setup) else { return };
    let ws = Workspace::of_files(&[
        ("pydicom/JPEG2000.dcm", "nm/jpeg2000.dcm"),
        // No PatientID: it goes with the JPEG 2000 file's patient, whose folder it shares.
        ("pydicom/image_dfl.dcm", "nm/deflated.dcm"),
        ("pydicom/MR_small_bigendian.dcm", "mr/bigendian.dcm"),
        ("pydicom/CT_small.dcm", "ct/little.dcm"),
    ]);
    ws.write_config(&config_for(&orthanc, ""));
    let (code, r, stderr) = ws.send_json("research", &["--no-verify"]);
    assert_eq!(code, Some(1), "{r:#}{stderr}");
    assert_eq!(r["sent"], 1, "{r:#}");
    let failed = r["failed"].as_array().unwrap();
    let reason = |p: &str| {
        failed
            .iter()
            .find(|f| f["path"] == p)
            .unwrap_or_else(|| panic!("{p} failed: {r:#}"))["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let j2k = reason("nm/jpeg2000.dcm");
    assert!(
        j2k.contains("refused its transfer syntax JPEG 2000") && j2k.contains("compressed data is never decoded"),
        "{j2k}"
    );
    let be = reason("mr/bigendian.dcm");
    assert!(
        be.contains("refused its transfer syntax Explicit VR Big Endian") && be.contains("--convert"),
        "{be}"
    );
    assert!(reason("nm/deflated.dcm").contains("--convert"), "{r:#}");
    assert_eq!(orthanc.instances().len(), 1);

    // With --convert the big endian and the deflated file go as little endian (a warning
    // says so); the JPEG 2000 file still does not (compressed data is never decoded).
    let (code, r, _) = ws.send_json("research", &["--no-verify", "--convert"]);
    assert_eq!(code, Some(1));
    assert_eq!(r["sent"], 2, "{r:#}");
    assert_eq!(r["already_sent"], 1);
    let warnings = r["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 2, "{r:#}");
    let warning = |p: &str| {
        warnings
            .iter()
            .find(|w| w["path"] == p)
            .unwrap_or_else(|| panic!("{p}: {r:#}"))["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        warning("mr/bigendian.dcm").contains("re-encoded from Explicit VR Big Endian to"),
        "{r:#}"
    );
    assert!(warning("nm/deflated.dcm").contains("re-encoded from Deflated"), "{r:#}");
    assert_eq!(r["failed"].as_array().unwrap().len(), 1);
    // The re-encoded image holds the same pixel values: byte for byte those of pydicom's
    // little endian copy of the same data set.
    let little = std::fs::read(fixture("pydicom/MR_small.dcm")).unwrap();
    let be_uid = top(
        &std::fs::read(ws.out.join("mr/bigendian.dcm")).unwrap(),
        dams::dicom::tags::SOP_INSTANCE_UID,
    );
    let stored = orthanc.instances();
    let (_, tags, file) = stored
        .iter()
        .find(|(_, t, _)| t["SOPInstanceUID"] == be_uid.as_str())
        .expect("the converted instance");
    assert_eq!(tags["Rows"], "64");
    assert!(pixel_data(&little).is_some());
    assert_eq!(pixel_data(file), pixel_data(&little));
    let deflated = std::fs::read(ws.out.join("nm/deflated.dcm")).unwrap();
    let uid = top(&deflated, dams::dicom::tags::SOP_INSTANCE_UID);
    let (_, _, file) = stored
        .iter()
        .find(|(_, t, _)| t["SOPInstanceUID"] == uid.as_str())
        .expect("inflated");
    assert!(pixel_data(&deflated).is_some());
    assert_eq!(pixel_data(file), pixel_data(&deflated), "the same pixel data, inflated");
    let log = ws.log_lines();
    let converted = log.iter().find(|l| l["path"] == "mr/bigendian.dcm").unwrap();
    assert_eq!(converted["status"], "warning");
    assert_ne!(converted["transfer_syntax"], "1.2.840.10008.1.2.2");
}

#[test]
fn unverified_output_is_not_sent_and_bad_configs_are_refused() {
    // No Orthanc needed: nothing reaches a node.
    let ws = Workspace::new(&["PAT2"]);
    ws.write_config("[nodes.research]\ndicom = \"X@127.0.0.1:9\"\n");
    let o = ws
        .dams()
        .arg("send")
        .arg(&ws.out)
        .args(["--to", "research", "--config"])
        .arg(&ws.config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("refusing to send files that were not verified") && e.contains("--against"),
        "{e}"
    );

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ws.config, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = ws
        .dams()
        .args(["echo", "research", "--config"])
        .arg(&ws.config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("others can write"));

    // DAMS_CONFIG names the file when --config does not.
    ws.write_config("[nodes.research]\ndicom = \"X@127.0.0.1:9\"\ntimout = \"1s\"\n");
    let o = ws
        .dams()
        .env("DAMS_CONFIG", &ws.config)
        .args(["echo", "research"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("config.toml:3:") && e.contains("timout"), "{e}");
}

#[test]
fn ctrl_c_stops_a_send_and_says_so() {
    // No Orthanc: a closed port, and a long pause before the next try, during which Ctrl-C
    // comes.
    let ws = Workspace::new(&["PAT2"]);
    let port = free_port();
    ws.write_config(&format!(
        "[nodes.down]\ndicom = \"X@127.0.0.1:{port}\"\nretries = 5\nretry_delay = \"20s\"\n"
    ));
    let mut child = ws
        .dams()
        .arg("send")
        .arg(&ws.out)
        .args(["--to", "down", "--no-verify", "--config"])
        .arg(&ws.config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once it says it is sending, its Ctrl-C handler is in place and the first try failed
    // (or is about to): it is in the pause.
    use std::io::BufRead;
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("sending 10 file(s)") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "dams ended before sending");
    }
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    let o = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it stopped during the pause"
    );
    assert_eq!(o.status.code(), Some(130), "cancelled: 128 + SIGINT. {text}");
    assert!(text.contains("cancelled"), "{text}");
    assert!(text.contains("10 file(s) not sent"), "{text}");
}

#[test]
fn files_of_one_patient_from_their_headers() {
    let ws = Workspace::new(&["PAT2"]);
    let paths = vec![PathBuf::from("PAT2/ct/ct_001.dcm"), PathBuf::from("PAT2/nothing.dcm")];
    let o = dams::send::files_at(&ws.out, &paths);
    assert_eq!(o.files.len(), 1);
    assert_eq!(o.files[0].sop_class_uid, "1.2.840.10008.5.1.4.1.1.2");
    assert_eq!(o.files[0].transfer_syntax, "1.2.840.10008.1.2.1");
    assert_eq!(o.unreadable.len(), 1);
    assert_eq!(o.unreadable[0].path, PathBuf::from("PAT2/nothing.dcm"));
}

#[test]
fn an_output_folder_without_room_for_the_log_sends_nothing() {
    // As root (CI) permissions do not stop writes: a directory where the log should be does.
    let ws = Workspace::new(&["PAT2"]);
    std::fs::create_dir(ws.out.join(dams::send::LOG_NAME)).unwrap();
    ws.write_config(&format!("[nodes.x]\ndicom = \"X@127.0.0.1:{}\"\n", free_port()));
    let o = ws.send("x", &["--no-verify"]);
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("send log") && e.contains("nothing was sent"), "{e}");
}

#[test]
fn fetch_a_patient_and_a_study_over_dicomweb() {
    let Some(orthanc) = Orthanc::start(Setup::default()) else {
        return;
    };
    let ws = Workspace::new(&["PAT2"]);
    ws.write_config(&config_for(&orthanc, ""));
    // The clinical side: the input itself on the node (its identities are synthetic).
    let o = ws
        .dams()
        .arg("send")
        .arg(&ws.input)
        .args(["--to", "web", "--no-verify", "--config"])
        .arg(&ws.config)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));
    let fetch = |args: &[&str], into: &Path| {
        let o = ws
            .dams()
            .args(["fetch", "web", "--json", "--config"])
            .arg(&ws.config)
            .args(args)
            .arg("--into")
            .arg(into)
            .output()
            .unwrap();
        let r: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
        let errors = schema_errors("fetch", &r);
        assert!(
            errors.is_empty(),
            "fetch --json does not match its schema:\n{}",
            errors.join("\n")
        );
        (o.status.code(), r)
    };
    let into = ws.tmp.path().join("fetched");
    let (code, r) = fetch(&["--patient", "MAP002"], &into);
    assert_eq!(code, Some(0), "{r:#}");
    assert_eq!(
        (r["studies"].as_u64(), r["written"].as_u64()),
        (Some(1), Some(10)),
        "{r:#}"
    );
    // Each instance as the node stores it, in its own transfer syntax, owner-only.
    let stored = orthanc.instances();
    let fetched = tree(&into);
    assert_eq!(fetched.len(), 10);
    for (rel, bytes) in &fetched {
        let uid = top(bytes, dams::dicom::tags::SOP_INSTANCE_UID);
        assert!(rel.ends_with(format!("{uid}.dcm")), "{}", rel.display());
        let (_, _, file) = stored
            .iter()
            .find(|(_, t, _)| t["SOPInstanceUID"] == uid.as_str())
            .unwrap();
        assert!(bytes == file, "{}: byte for byte what the node stores", rel.display());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(into.join(rel)).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "owner-only");
    }
    // Those are the input's files.
    let inputs: Vec<Vec<u8>> = tree(&ws.input).into_iter().map(|(_, b)| b).collect();
    for (_, bytes) in &fetched {
        assert!(inputs.iter().any(|i| pixel_data(i) == pixel_data(bytes)));
    }

    // Again: nothing new. By study, into another folder: the same files.
    let (code, r) = fetch(&["--patient", "MAP002"], &into);
    assert_eq!(code, Some(0));
    assert_eq!(
        (r["written"].as_u64(), r["already_there"].as_u64()),
        (Some(0), Some(10))
    );
    let study = top(&fetched[0].1, dams::dicom::tags::STUDY_INSTANCE_UID);
    let other = ws.tmp.path().join("by-study");
    let (code, r) = fetch(&["--study", &study], &other);
    assert_eq!(code, Some(0), "{r:#}");
    assert_eq!(tree(&other), fetched);
    // Nobody: exit 1, nothing written.
    let (code, r) = fetch(&["--patient", "NOBODY"], &ws.tmp.path().join("none"));
    assert_eq!(code, Some(1));
    assert_eq!(r["studies"], 0);
}
