//! Process harness of the end-to-end search tests: free ports, temp dirs, a real `redis-server`, `genms worker` /
//! `genms coordinator` processes (killed on drop), `genms ctl --json` calls, and a tiny **randomly initialised**
//! (untrained) diffusion model made by the test — the engine's tests exercise the real model code without waiting
//! for trained weights.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use genms_worker::diffusion::checkpoint::{read_meta, save_random_model};
use genms_worker::diffusion::DenoiserConfig;
use serde_json::Value;

pub const TOKEN: &str = "test-token-0123456789";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_genms")
}

pub fn shared() -> PathBuf {
    genms_shared::paths::shared_root()
}

pub fn workspace() -> PathBuf {
    genms_shared::paths::workspace_root()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("genms-e2e-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (SIGKILL) on drop.
pub struct Proc {
    pub name: String,
    pub child: Option<Child>,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command, log: &Path) -> Proc {
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let err = out.try_clone().unwrap();
        let child = cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err)).spawn().unwrap_or_else(|e| {
            panic!("starting {name}: {e}");
        });
        Proc { name: name.into(), child: Some(child) }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// kill -9.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait for exit (at most `timeout`); returns whether it exited successfully.
    pub fn sigterm(&mut self, timeout: Duration) -> bool {
        let Some(mut c) = self.child.take() else { return false };
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let end = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.success();
            }
            if Instant::now() > end {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn wait_port(port: u16, timeout: Duration) {
    let end = Instant::now() + timeout;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < end, "nothing listening on port {port} after {timeout:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A private redis-server on a free port (AOF with fsync on every write when `aof`).
pub struct Redis {
    pub port: u16,
    dir: PathBuf,
    aof: bool,
    proc: Option<Proc>,
}

impl Redis {
    pub fn start(dir: &Path, aof: bool) -> Redis {
        let mut r = Redis { port: free_port(), dir: dir.join("redis"), aof, proc: None };
        std::fs::create_dir_all(&r.dir).unwrap();
        r.launch();
        r
    }

    fn launch(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""]);
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        cmd.arg("--dir").arg(&self.dir);
        if Command::new("redis-server").arg("--version").output().is_err() {
            panic!("redis-server is not installed (apt-get install -y redis-server); the end-to-end tests need it");
        }
        self.proc = Some(Proc::spawn("redis-server", &mut cmd, &self.dir.join("redis.log")));
        wait_port(self.port, Duration::from_secs(10));
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// kill -9 and start again on the same port and data dir.
    pub fn restart(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill9();
        }
        std::thread::sleep(Duration::from_millis(300));
        self.launch();
    }
}

/// A tiny randomly initialised diffusion model (untrained: it exists so the pipeline runs real model code fast).
pub fn tiny_random_model(dir: &Path) -> PathBuf {
    let path = dir.join("tiny-random");
    let stats = read_meta(&workspace().join("models/general")).expect("models/general/model.json").lattice_stats;
    let cfg = DenoiserConfig { hidden: 16, layers: 1, heads: 2, freqs: 2, edge_hidden: 4, time_dim: 8 };
    save_random_model(&path, &cfg, stats).unwrap();
    path
}

/// Flags every worker of these tests gets: the test's tiny model as `tiny-random`, CGCNN from the shared models.
pub fn worker_cmd(port: u16, model: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["worker", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--models-dir")
        .arg(shared().join("models"))
        .arg("--diffusion-models")
        .arg(format!("tiny-random={}", model.display()))
        .env("GENMS_LOG", "info");
    cmd
}

pub fn start_worker(dir: &Path, model: &Path, name: &str) -> (Proc, u16) {
    let port = free_port();
    let p = Proc::spawn(name, &mut worker_cmd(port, model), &dir.join(format!("{name}.log")));
    (p, port)
}

pub fn start_coordinator(dir: &Path, port: u16, redis: &str, workers: &[u16], extra: &[&str]) -> Proc {
    let list: Vec<String> = workers.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let mut cmd = Command::new(bin());
    cmd.args(["coordinator", "--listen", &format!("127.0.0.1:{port}"), "--redis", redis])
        .args(["--workers", &list.join(","), "--token", TOKEN])
        .args(["--health-every-ms", "200", "--backoff-ms", "50", "--task-timeout-s", "60", "--max-wait-ms", "10"])
        .args(extra)
        .env("GENMS_LOG", "info");
    let p = Proc::spawn("coordinator", &mut cmd, &dir.join("coordinator.log"));
    wait_port(port, Duration::from_secs(30));
    p
}

/// `genms ctl --json ...`: Ok(parsed stdout) or Err(stderr).
pub fn ctl(port: u16, token: Option<&str>, args: &[&str]) -> Result<Value, String> {
    ctl_with(port, token, &[], args)
}

/// `genms ctl --json <global flags> ...` (e.g. TLS flags).
pub fn ctl_with(port: u16, token: Option<&str>, global: &[&str], args: &[&str]) -> Result<Value, String> {
    let mut cmd = Command::new(bin());
    cmd.args(["ctl", "--coordinator", &format!("127.0.0.1:{port}"), "--json"]).args(global).env_remove("GENMS_TOKEN");
    if let Some(t) = token {
        cmd.env("GENMS_TOKEN", t);
    }
    let out = cmd.args(args).output().unwrap();
    if out.status.success() {
        serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("bad json ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The campaign parameters most tests share (small: tiny model, few steps).
pub fn create_args<'a>(prompt: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["create", prompt, "--model", "tiny-random", "--seed", "7"];
    v.extend_from_slice(extra);
    v
}

pub fn count(c: &Value, key: &str) -> i64 {
    c["counts"][key].as_i64().unwrap_or(0)
}

/// Polls `ctl get` until `pred` holds (panics after `timeout`, printing the coordinator log tail).
pub fn wait_for(port: u16, id: &str, timeout: Duration, log: &Path, pred: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + timeout;
    loop {
        if let Ok(c) = ctl(port, None, &["get", id]) {
            if pred(&c) {
                return c;
            }
            if Instant::now() > end {
                let tail = std::fs::read_to_string(log).unwrap_or_default();
                let tail: String =
                    tail.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                panic!("campaign {id} did not reach the expected state in {timeout:?}: {c}\n--- log tail ---\n{tail}");
            }
        } else if Instant::now() > end {
            panic!("coordinator not answering for campaign {id}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn wait_done(port: u16, id: &str, timeout: Duration, log: &Path) -> Value {
    wait_for(port, id, timeout, log, |c| c["state"] != "running" && c["state"] != "paused")
}

/// Checks the books of a finished campaign: no open node, every planned structure ended somewhere, every scored
/// structure is exactly one candidate.
pub fn assert_accounted(c: &Value) {
    assert_eq!(c["state"], "done", "{c}");
    assert_eq!(count(c, "open"), 0, "open nodes left: {c}");
    let sum = |prefix: &str| -> i64 {
        c["counts"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.as_i64().unwrap())
            .sum()
    };
    let planned = count(c, "structures.planned");
    let generated = count(c, "structures.generated");
    let failed = sum("structures.failed.");
    let rejected = sum("structures.rejected.");
    let scored = count(c, "structures.scored");
    assert!(planned > 0, "nothing planned: {c}");
    // Every planned structure is generated or failed before generation; every generated one is rejected, scored or
    // failed at scoring.
    let failed_before = count(c, "structures.failed.generation") + count(c, "structures.failed.missing_result");
    assert!(generated + failed_before <= planned, "{c}");
    assert_eq!(planned, rejected + scored + failed, "structure books do not balance: {c}");
    assert_eq!(scored, count(c, "candidates"), "{c}");
    assert_eq!(
        count(c, "formulas.proposed"),
        count(c, "formulas.kept") + count(c, "formulas.pruned") + sum("formulas.rejected."),
        "{c}"
    );
}

/// Candidate ids of a campaign (asserting no duplicates) with their formulae.
pub fn candidate_set(port: u16, id: &str) -> Vec<(String, String, f64)> {
    let list = ctl(port, None, &["candidates", id]).unwrap();
    let rows: Vec<(String, String, f64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["candidate_id"].as_str().unwrap().to_string(),
                c["formula"].as_str().unwrap().to_string(),
                c["e_form_per_atom"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    let mut ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate candidates");
    rows
}
