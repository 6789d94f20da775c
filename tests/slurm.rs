//! A real Slurm (issue 17, point 4): a single-node cluster started by the test — munged,
//! slurmctld and slurmd on free ports, with a configuration in a temporary folder — runs the
//! example array job (`examples/slurm/pseudonymise.sbatch`) over four shards and the join of
//! the mapping tables as a job depending on it (`dams tables`), and the output
//! is compared with one run's. Without Slurm installed (Debian `slurm-wlm`, `munge`) it says
//! it skipped; `DAMS_REQUIRE_SLURM=1` (CI) makes that a failure. The daemons run as root (as
//! in CI), as Slurm's own test setups do.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SHARDS: usize = 4;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn installed(bin: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(bin))
        .find(|p| p.is_file())
}

/// A one-node Slurm cluster of its own, stopped when dropped.
struct Slurm {
    dir: tempfile::TempDir,
    daemons: Vec<Child>,
}

impl Slurm {
    fn start() -> Option<Slurm> {
        let required = std::env::var_os("DAMS_REQUIRE_SLURM").is_some_and(|v| v == "1");
        let bins = ["munged", "slurmctld", "slurmd", "sbatch", "squeue"];
        if bins.iter().any(|b| installed(b).is_none()) {
            assert!(
                !required,
                "DAMS_REQUIRE_SLURM=1 but Slurm is not installed (apt-get install slurm-wlm munge)"
            );
            eprintln!("skipped: Slurm is not installed (Debian packages slurm-wlm, munge)");
            return None;
        }
        // SAFETY: reading the effective user ID has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(!required, "DAMS_REQUIRE_SLURM=1 but the test does not run as root");
            eprintln!("skipped: the test's Slurm daemons run as root, and this is not root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let d = d.as_path();
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let key = d.join("munge.key");
        let mut bytes = vec![0u8; 1024];
        getrandom::fill(&mut bytes).unwrap();
        std::fs::write(&key, &bytes).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
        let socket = d.join("munge.socket");
        let host = String::from_utf8(Command::new("hostname").arg("-s").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_string();
        let conf = d.join("slurm.conf");
        let path = |p: &str| d.join(p).display().to_string();
        std::fs::write(
            &conf,
            format!(
                "ClusterName=damstest\nSlurmctldHost={host}\nSlurmctldPort={ctld}\nSlurmdPort={slurmd}\n\
                 SlurmUser=root\nSlurmdUser=root\nAuthType=auth/munge\nCredType=cred/munge\n\
                 AuthInfo=socket={socket}\nStateSaveLocation={state}\nSlurmdSpoolDir={spool}\n\
                 SlurmctldPidFile={ctld_pid}\nSlurmdPidFile={slurmd_pid}\n\
                 SlurmctldLogFile={ctld_log}\nSlurmdLogFile={slurmd_log}\n\
                 ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nJobAcctGatherType=jobacct_gather/none\n\
                 SchedulerType=sched/builtin\nSelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n\
                 ReturnToService=2\nMpiDefault=none\n\
                 NodeName={host} CPUs=2 RealMemory=4000 State=UNKNOWN\n\
                 PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP\n",
                ctld = free_port(),
                slurmd = free_port(),
                socket = socket.display(),
                state = path("state"),
                spool = path("spool"),
                ctld_pid = path("slurmctld.pid"),
                slurmd_pid = path("slurmd.pid"),
                ctld_log = path("log/slurmctld.log"),
                slurmd_log = path("log/slurmd.log"),
            ),
        )
        .unwrap();
        let spawn = |cmd: &mut Command| cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let mut slurm = Slurm {
            daemons: Vec::new(),
            dir,
        };
        slurm.daemons.push(spawn(
            Command::new(installed("munged").unwrap())
                .args(["-F", "--force"])
                .arg(format!("--socket={}", socket.display()))
                .arg(format!("--key-file={}", key.display()))
                .arg(format!("--pid-file={}", path("munged.pid")))
                .arg(format!("--log-file={}", path("log/munged.log")))
                .arg(format!("--seed-file={}", path("munged.seed"))),
        ));
        wait_for(|| socket.exists(), "munged's socket");
        slurm.daemons.push(spawn(
            Command::new(installed("slurmctld").unwrap())
                .args(["-D", "-c", "-f"])
                .arg(&conf),
        ));
        slurm.daemons.push(spawn(
            Command::new(installed("slurmd").unwrap()).args(["-D", "-f"]).arg(&conf),
        ));
        // The node is up when the controller lists it idle.
        wait_for(
            || {
                slurm
                    .command("sinfo")
                    .args(["-h", "-o", "%T"])
                    .output()
                    .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "idle")
            },
            "the Slurm node to be idle",
        );
        Some(slurm)
    }

    /// A Slurm client command talking to this cluster.
    fn command(&self, bin: &str) -> Command {
        let mut c = Command::new(installed(bin).unwrap_or_else(|| PathBuf::from(bin)));
        c.env("SLURM_CONF", self.dir.path().join("slurm.conf"));
        c
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        for d in self.daemons.iter_mut().rev() {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
    let until = Instant::now() + Duration::from_mins(1);
    while !ok() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_example_array_job_on_a_real_slurm_writes_what_one_run_writes() {
    let Some(slurm) = Slurm::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    dams::demo::make_cohort_named(&input, "SLURM", 24, 3, 16, 16).unwrap();
    copy_tree(&fixture("mapping"), &input.join("segmented"));
    let data = tmp.path().join("data");
    let o = dams(&data).args(["key", "allocate"]).arg(&input).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let out = tmp.path().join("out");
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let submitted = slurm
        .command("sbatch")
        .args(["--parsable", &format!("--array=1-{SHARDS}")])
        .arg(format!("--output={}/task-%a.out", logs.display()))
        .arg(format!("--chdir={}", tmp.path().display()))
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/slurm/pseudonymise.sbatch"))
        .env("IN", &input)
        .env("OUT", &out)
        .env("DAMS", env!("CARGO_BIN_EXE_dams"))
        .env("DAMS_DATA_DIR", &data)
        .env_remove("DAMS_KEY")
        .output()
        .unwrap();
    assert!(
        submitted.status.success(),
        "{}",
        String::from_utf8_lossy(&submitted.stderr)
    );
    let job = String::from_utf8(submitted.stdout).unwrap().trim().to_string();
    // The join, as the script's comment says: a job that runs once every task has succeeded.
    let join = slurm
        .command("sbatch")
        .args(["--parsable", &format!("--dependency=afterok:{job}")])
        .arg(format!("--output={}/tables.out", logs.display()))
        .arg(format!("--chdir={}", tmp.path().display()))
        .arg("--wrap")
        .arg(format!("{} tables {}", env!("CARGO_BIN_EXE_dams"), out.display()))
        .env("DAMS_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(join.status.success(), "{}", String::from_utf8_lossy(&join.stderr));
    let join = String::from_utf8(join.stdout).unwrap().trim().to_string();
    // Done when the queue no longer holds either job.
    let until = Instant::now() + Duration::from_mins(3);
    loop {
        let q = slurm
            .command("squeue")
            .args(["-h", "-j", &format!("{job},{join}")])
            .output()
            .unwrap();
        if q.status.success() && q.stdout.iter().all(u8::is_ascii_whitespace) {
            break;
        }
        assert!(Instant::now() < until, "the array job did not finish in 3 minutes");
        std::thread::sleep(Duration::from_millis(300));
    }
    for task in 1..=SHARDS {
        let log = std::fs::read(logs.join(format!("task-{task}.out"))).unwrap();
        let report: serde_json::Value = serde_json::from_slice(&log)
            .unwrap_or_else(|e| panic!("task {task}: {e}: {}", String::from_utf8_lossy(&log)));
        assert_eq!(report["failed"], serde_json::json!([]), "task {task}");
        assert!(
            out.join(format!("dams-manifest.{}-of-{SHARDS}.json", task - 1))
                .is_file()
        );
    }

    let single = tmp.path().join("single");
    let o = dams(&data)
        .arg("apply")
        .arg(&input)
        .arg("--out")
        .arg(&single)
        .arg("--yes")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(tree_without_tables(&single).len() > 24);
    assert_eq!(
        tree_without_tables(&out),
        tree_without_tables(&single),
        "the array job wrote what one run writes"
    );
    for t in ["mapping.csv", "mapping.json"] {
        assert_eq!(
            std::fs::read(out.join(t)).ok(),
            std::fs::read(single.join(t)).ok(),
            "{t} joined as one run writes it: {}",
            String::from_utf8_lossy(&std::fs::read(logs.join("tables.out")).unwrap_or_default())
        );
    }
    assert_verifies_clean(&data, &out, &input);
}
