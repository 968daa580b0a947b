//! `genms bench dispatch`: throughput of the search engine itself — coordinator, Redis store, gRPC and batching —
//! with workers started in BENCH MODE (`genms worker --bench-latency-ms T --threads 1`): they run no model and, like
//! a GPU, work on one batch at a time, answering each after a fixed simulated device latency with synthetic but valid outputs (charge-neutral formulae, cubic
//! P1 cells with sane distances, hash-derived scores). Runs the same campaign with 1 worker and with N workers and
//! prints items/s (an item = a formula proposed, a structure generated or a structure scored), RPCs/s and the
//! scale-out efficiency = items/s(N) / (N x items/s(1)); `redis-benchmark` against the same server, for scale.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use genms_coordinator::store::redis::RedisStore;
use genms_coordinator::workers::{CallResult, WorkerClient, WorkerConnector};
use genms_coordinator::{Coordinator, Engine, EngineConfig, FrontierStore, WorkerPool, WorkerSource};
use genms_shared::search::{
    Generated, GeneratedStructure, Properties, ProposedFormula, Scored, ScoredStructure, SearchParams, WorkerInfo,
};
use genms_shared::smact::diffcsp_smact_validity;
use genms_shared::{Composition, Element, OxidationStates};
use genms_worker::WorkerError;

use crate::executor::{Backend, Job, JobOutput};
use crate::rpc::worker_client::GrpcConnector;

/// The synthetic model of a bench worker.
pub struct BenchBackend {
    latency: Duration,
    max_batch: usize,
    formulas: Vec<String>,
    /// The synthetic cell of each composition, made once: the simulated device's time is the latency, not this.
    cells: std::sync::Mutex<std::collections::HashMap<String, Result<Generated, String>>>,
}

impl BenchBackend {
    pub fn new(latency_ms: u64, max_batch: usize) -> BenchBackend {
        BenchBackend {
            latency: Duration::from_millis(latency_ms),
            max_batch,
            formulas: formula_pool(),
            cells: Default::default(),
        }
    }
}

/// Charge-neutral binary and ternary oxide/halide/chalcogenide formulae, in a fixed order.
fn formula_pool() -> Vec<String> {
    let cations: Vec<Element> = Element::all().filter(|e| e.is_smact_metal() && e.z() <= 83).collect();
    let anions: Vec<Element> =
        ["O", "S", "F", "Cl", "N", "Se", "Br"].iter().filter_map(|s| Element::from_symbol(s)).collect();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut push = |c: Composition| {
        let f = c.reduced_formula();
        if diffcsp_smact_validity(&c, OxidationStates::Smact14) && seen.insert(f.clone()) {
            out.push(f);
        }
    };
    for &x in &anions {
        for &a in &cations {
            for (na, nx) in [(1.0, 1.0), (1.0, 2.0), (2.0, 1.0), (2.0, 3.0), (1.0, 3.0)] {
                if let Ok(c) = Composition::from_elements([(a, na), (x, nx)]) {
                    push(c);
                }
            }
        }
    }
    for &x in &anions {
        for &a in &cations {
            for &b in &cations {
                if a.z() < b.z() {
                    if let Ok(c) = Composition::from_elements([(a, 1.0), (b, 1.0), (x, 3.0)]) {
                        push(c);
                    }
                }
            }
        }
    }
    out
}

fn hash(s: &str) -> u64 {
    genms_coordinator::model::node_seed(0, s)
}

/// A cubic P1 cell with the atoms on a grid: 12 A^3 per atom, so neighbours sit about 2 A apart. Runs the same
/// generation checks a real worker runs.
fn grid_structure(composition: &str) -> Result<Generated, String> {
    let comp = Composition::parse(composition).map_err(|e| e.to_string())?;
    let species = genms_worker::diffusion::sample::species_of(&comp).map_err(|e| e.to_string())?;
    let n = species.len();
    let k = (1..).find(|k: &usize| k * k * k >= n).unwrap_or(1);
    let a = (12.0 * n as f64).cbrt();
    let mut frac = Vec::with_capacity(n);
    for i in 0..n {
        let (x, y, z) = (i % k, (i / k) % k, i / (k * k));
        frac.push(nalgebra::Vector3::new(x as f64 / k as f64, y as f64 / k as f64, z as f64 / k as f64));
    }
    let lattice = genms_shared::Lattice::from_parameters(a, a, a, 90.0, 90.0, 90.0).map_err(|e| e.to_string())?;
    let s = genms_shared::Structure::new(lattice, species, frac).map_err(|e| e.to_string())?;
    let rejection = genms_shared::validity::generation_check(&s).err().map(str::to_string);
    Ok(Generated { cif: genms_shared::io::write_cif(&s), num_sites: n as u32, rejection })
}

impl BenchBackend {
    fn cell(&self, composition: &str) -> Result<Generated, String> {
        let Ok(mut cells) = self.cells.lock() else { return grid_structure(composition) };
        cells.entry(composition.to_string()).or_insert_with(|| grid_structure(composition)).clone()
    }
}

impl Backend for BenchBackend {
    fn run(&self, job: Job) -> Result<JobOutput, WorkerError> {
        std::thread::sleep(self.latency);
        match job {
            Job::Propose(t) => {
                let exclude: BTreeSet<&str> = t.exclude.iter().map(String::as_str).collect();
                let start = (t.seed % self.formulas.len().max(1) as u64) as usize;
                let picked = self
                    .formulas
                    .iter()
                    .cycle()
                    .skip(start)
                    .take(self.formulas.len())
                    .filter(|f| !exclude.contains(f.as_str()))
                    .take(t.n as usize)
                    .enumerate()
                    .map(|(i, f)| ProposedFormula { formula: f.clone(), logprob: -(i as f64) / 100.0 })
                    .collect();
                Ok(JobOutput::Proposed(picked))
            }
            Job::Generate(t) => {
                if t.items.len() > self.max_batch {
                    return Err(WorkerError::Invalid(format!(
                        "{} items exceed max batch {}",
                        t.items.len(),
                        self.max_batch
                    )));
                }
                let out = t
                    .items
                    .into_iter()
                    .map(|i| GeneratedStructure { result: self.cell(&i.composition), item_id: i.item_id })
                    .collect();
                Ok(JobOutput::Generated(out))
            }
            Job::Score(t) => {
                let out = t
                    .items
                    .into_iter()
                    .map(|i| {
                        let h = hash(&i.item_id);
                        let props = Properties {
                            e_form_per_atom: Some(-((h % 3000) as f64) / 1000.0),
                            band_gap: Some(((h >> 16) % 4000) as f64 / 1000.0),
                            p_metal: Some(((h >> 32) % 1000) as f64 / 1000.0),
                        };
                        // Bench mode: no symmetry search (spacegroup_number None), as no model runs either.
                        let scored = Scored { properties: props, spacegroup_number: None, num_sites: 0 };
                        ScoredStructure { item_id: i.item_id, result: Ok(scored) }
                    })
                    .collect();
                Ok(JobOutput::Scored(out))
            }
        }
    }

    fn info(&self) -> WorkerInfo {
        WorkerInfo {
            name: "bench".into(),
            device: "none (bench mode)".into(),
            max_batch: self.max_batch as u32,
            proposer: "bench (fixed formula list)".into(),
            diffusion_models: vec!["bench".into()],
            score_heads: vec!["bench".into()],
            bench_latency_ms: Some(self.latency.as_millis() as u64),
        }
    }
}

#[derive(Args, Debug)]
pub struct DispatchArgs {
    /// Workers of the scale-out run (the reference run uses one).
    #[arg(long, default_value_t = 4)]
    pub workers: usize,
    /// Items to process per run (formulae proposed + structures generated + structures scored), approximately.
    #[arg(long, default_value_t = 20000)]
    pub items: u64,
    /// Simulated device latency per batch on the bench workers (ms).
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Items per generate / score task.
    #[arg(long, default_value_t = 64)]
    pub batch_items: usize,
    /// Tasks in flight per worker (one runs on the simulated device while the others wait in its queue).
    #[arg(long, default_value_t = 3)]
    pub tasks_per_worker: usize,
    /// L of the bench campaign (256 formulae kept per round). With the default 64 the whole budget fits one round;
    /// smaller values make several rounds, and each round boundary (score everything, then propose) idles workers.
    #[arg(long, default_value_t = 64)]
    pub structures: u32,
    /// Use this Redis instead of starting a private redis-server.
    #[arg(long)]
    pub redis: Option<String>,
}

/// Counts RPCs made through a client.
struct Counting {
    inner: Arc<dyn WorkerClient>,
    calls: Arc<AtomicU64>,
}

#[async_trait::async_trait]
impl WorkerClient for Counting {
    fn address(&self) -> &str {
        self.inner.address()
    }
    async fn ready(&self, d: Duration) -> CallResult<bool> {
        self.inner.ready(d).await
    }
    async fn info(&self, d: Duration) -> CallResult<WorkerInfo> {
        self.inner.info(d).await
    }
    async fn propose(&self, t: genms_shared::search::ProposeTask, d: Duration) -> CallResult<Vec<ProposedFormula>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.propose(t, d).await
    }
    async fn generate(
        &self,
        t: genms_shared::search::GenerateTask,
        d: Duration,
    ) -> CallResult<Vec<GeneratedStructure>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.generate(t, d).await
    }
    async fn score(&self, t: genms_shared::search::ScoreTask, d: Duration) -> CallResult<Vec<ScoredStructure>> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.score(t, d).await
    }
}

struct CountingConnector {
    calls: Arc<AtomicU64>,
}

impl WorkerConnector for CountingConnector {
    fn connect(&self, address: &str) -> Arc<dyn WorkerClient> {
        Arc::new(Counting { inner: GrpcConnector::default().connect(address), calls: self.calls.clone() })
    }
}

/// Kills child processes on drop.
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

struct RunResult {
    items: u64,
    rpcs: u64,
    wall: Duration,
}

pub fn run(args: DispatchArgs) -> anyhow::Result<()> {
    if args.workers == 0 {
        bail!("--workers must be at least 1");
    }
    let mut children = Children(Vec::new());
    let redis_url = match &args.redis {
        Some(u) => u.clone(),
        None => {
            let port = free_port()?;
            let dir = std::env::temp_dir().join(format!("genms-bench-redis-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .spawn()
                .context("starting redis-server (install it: apt-get install redis-server)")?;
            children.0.push(child);
            std::thread::sleep(Duration::from_millis(300));
            format!("redis://127.0.0.1:{port}")
        }
    };
    let exe = std::env::current_exe().context("locating the genms binary")?;
    let mut addrs = Vec::new();
    for _ in 0..args.workers {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(&exe)
            .args(["worker", "--listen", &addr, "--bench-latency-ms", &args.latency_ms.to_string()])
            .args(["--max-batch", &args.batch_items.max(256).to_string(), "--queue", "64", "--threads", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting a bench worker")?;
        children.0.push(child);
        addrs.push(addr);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let mut results = Vec::new();
    for (i, n) in [1usize, args.workers].into_iter().enumerate() {
        if i == 1 && n == 1 {
            break;
        }
        let r = rt.block_on(one_run(&args, &redis_url, &addrs[..n], &format!("bench{i}-{}", std::process::id())))?;
        println!(
            "workers {n}: {} items in {:.2} s = {:.0} items/s, {} RPCs = {:.0} RPCs/s (latency {} ms, batch {})",
            r.items,
            r.wall.as_secs_f64(),
            r.items as f64 / r.wall.as_secs_f64(),
            r.rpcs,
            r.rpcs as f64 / r.wall.as_secs_f64(),
            args.latency_ms,
            args.batch_items
        );
        results.push((n, r));
    }
    if let [(1, one), (n, many)] = results.as_slice() {
        let rate = |r: &RunResult| r.items as f64 / r.wall.as_secs_f64();
        println!("scale-out efficiency 1 -> {n} workers: {:.1} %", 100.0 * rate(many) / (*n as f64 * rate(one)));
    }
    let port = redis_url.rsplit(':').next().unwrap_or("6379").trim_end_matches('/').to_string();
    match Command::new("redis-benchmark").args(["-p", &port, "-q", "-t", "set,get,lpush", "-n", "100000"]).output() {
        Ok(out) => {
            println!("redis-benchmark (same server, 50 clients):");
            for line in
                String::from_utf8_lossy(&out.stdout).split(['\r', '\n']).filter(|l| l.contains("requests per second"))
            {
                println!("  {}", line.trim());
            }
        }
        Err(e) => println!("redis-benchmark not run: {e}"),
    }
    Ok(())
}

async fn one_run(args: &DispatchArgs, redis: &str, addrs: &[String], prefix: &str) -> anyhow::Result<RunResult> {
    let store: Arc<dyn FrontierStore> = Arc::new(RedisStore::connect(redis, prefix).await?);
    let calls = Arc::new(AtomicU64::new(0));
    let pool = Arc::new(WorkerPool::new(
        WorkerSource::Static(addrs.to_vec()),
        Arc::new(CountingConnector { calls: calls.clone() }),
        args.tasks_per_worker,
    ));
    // Wait until every bench worker answers.
    let deadline = Instant::now() + Duration::from_secs(30);
    while pool.healthy_count() < addrs.len() {
        if Instant::now() > deadline {
            bail!("bench workers did not become ready in 30 s");
        }
        pool.refresh(Duration::from_millis(500)).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let cfg = EngineConfig {
        max_batch: args.batch_items,
        max_wait: Duration::from_millis(5),
        task_timeout: Duration::from_secs(60),
        tick: Duration::from_millis(50),
        ..EngineConfig::default()
    };
    let engine = Engine::new(store.clone(), pool, None, cfg);
    let coordinator = Coordinator::new(engine.clone());
    let structures = (args.items / 2).max(1);
    let params = SearchParams {
        formulas: 256,
        keep: 256,
        structures: args.structures,
        rounds: 1000,
        budget: structures,
        top_k: 10,
        seed: 1,
        diffusion_steps: 1,
        model: "bench".into(),
    };
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let dispatcher = tokio::spawn(engine.clone().run(stop_rx));
    let started = Instant::now();
    let id = coordinator.create_campaign("bench campaign", params, None).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let snap = loop {
        let s = store.campaign(&id).await?.context("bench campaign vanished")?;
        if !s.state.is_active() {
            break s;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let wall = started.elapsed();
    let _ = stop_tx.send(true);
    let _ = dispatcher.await;
    let items =
        (snap.count("formulas.proposed") + snap.count("structures.generated") + snap.count("structures.scored")) as u64;
    Ok(RunResult { items, rpcs: calls.load(Ordering::Relaxed), wall })
}
