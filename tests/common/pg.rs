//! A throw-away `PostgreSQL` cluster for one test: initdb in a temporary folder, a free port on
//! 127.0.0.1, the Unix socket in the same folder, TLS with a self-signed certificate made by
//! `openssl`, stopped (immediately) when dropped. initdb refuses to run as root: as root the
//! cluster belongs to the `postgres` user (Debian's package makes it) or `nobody`, and every
//! server command runs as that user with `runuser`.
//!
//! Without `PostgreSQL` the tests skip with a message; `DAMS_REQUIRE_POSTGRES=1` (CI) makes that
//! a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Pg {
    _dir: tempfile::TempDir,
    run: PathBuf,
    bin: PathBuf,
    user: Option<String>,
    pub port: u16,
}

fn find_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    // The newest version (folders are named by major version).
    found.sort_by_key(|b| {
        b.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop().or_else(|| {
        let o = Command::new("pg_config").arg("--bindir").output().ok()?;
        let b = PathBuf::from(String::from_utf8_lossy(&o.stdout).trim());
        b.join("initdb").exists().then_some(b)
    })
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn user_exists(name: &str) -> bool {
    Command::new("id")
        .arg("-u")
        .arg(name)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Pg {
    /// A running cluster, or `None` (the test then returns) when `PostgreSQL` is not installed.
    pub fn start() -> Option<Pg> {
        let Some(bin) = find_bin() else {
            assert!(
                std::env::var_os("DAMS_REQUIRE_POSTGRES").is_none(),
                "DAMS_REQUIRE_POSTGRES is set but no PostgreSQL (initdb, pg_ctl) is installed"
            );
            eprintln!("PostgreSQL is not installed (no initdb): skipping this test");
            return None;
        };
        let user = is_root().then(|| {
            if user_exists("postgres") {
                "postgres".to_string()
            } else {
                "nobody".to_string()
            }
        });
        let dir = tempfile::tempdir().expect("temp dir");
        let run = dir.path().join("pg");
        std::fs::create_dir(&run).expect("mkdir");
        if let Some(u) = &user {
            use std::os::unix::fs::PermissionsExt;
            // The server's user must reach its folder; nothing else of the test is in it.
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).expect("chmod");
            let ok = Command::new("chown").arg(u).arg(&run).status().expect("chown");
            assert!(ok.success(), "chown {u}");
        }
        let mut pg = Pg {
            _dir: dir,
            run,
            bin,
            user,
            port: 0,
        };
        pg.server_cmd("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
            ])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(pg.run.join("server.key"))
            .arg("-out")
            .arg(pg.run.join("server.crt"))
            .output()
            .map(|o| assert!(o.status.success(), "openssl: {}", String::from_utf8_lossy(&o.stderr)))
            .expect("openssl");
        let o = pg
            .server_cmd(pg.bin.join("initdb"))
            .arg("-D")
            .arg(pg.run.join("data"))
            .args(["-A", "trust", "-U", "dams", "-E", "UTF8", "--locale=C", "--no-sync"])
            .output()
            .expect("initdb");
        assert!(o.status.success(), "initdb: {}", String::from_utf8_lossy(&o.stderr));
        pg.port = free_port();
        pg.start_server();
        Some(pg)
    }

    fn server_cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    /// Starts the server (again, after [`stop`](Self::stop)) on the same port.
    pub fn start_server(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60 -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            self.port,
            self.run.display(),
            self.run.join("server.crt").display(),
            self.run.join("server.key").display()
        );
        let o = self
            .server_cmd(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.run.join("data"))
            .arg("-l")
            .arg(self.run.join("log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"])
            .output()
            .expect("pg_ctl start");
        let log = std::fs::read_to_string(self.run.join("log")).unwrap_or_default();
        assert!(
            o.status.success(),
            "pg_ctl start: {}\n{log}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Stops the server as an administrator would (`-m fast`: sessions are ended, open
    /// transactions rolled back).
    pub fn stop(&self) {
        let o = self
            .server_cmd(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.run.join("data"))
            .args(["-w", "-m", "fast", "stop"])
            .output()
            .expect("pg_ctl stop");
        assert!(
            o.status.success(),
            "pg_ctl stop: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// A new database in the cluster, and its URL.
    pub fn database(&self, name: &str) -> String {
        let mut c = postgres::Client::connect(
            &format!(
                "host=127.0.0.1 port={} user=dams dbname=postgres sslmode=disable",
                self.port
            ),
            postgres::NoTls,
        )
        .expect("connect to the test cluster");
        c.batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        format!("postgres://dams@127.0.0.1:{}/{name}?sslmode=disable", self.port)
    }

    /// The server's certificate (to trust with `sslrootcert`).
    pub fn cert(&self) -> PathBuf {
        self.run.join("server.crt")
    }

    pub fn dir(&self) -> &Path {
        &self.run
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self
            .server_cmd(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.run.join("data"))
            .args(["-w", "-m", "immediate", "stop"])
            .output();
    }
}
