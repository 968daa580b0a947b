//! `genms search "<prompt>"`: the whole GenMS search in one process — the coordinator's engine with an embedded
//! store and an in-process worker (the same code `genms coordinator` and `genms worker` run). Writes
//! `DIR/candidates.csv`, `DIR/cif/<candidate_id>.cif` and `DIR/campaign.json`. With `--state FILE` the store is
//! persisted after every step: an interrupted search (Ctrl-C, crash) resumes when run again with the same file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use genms_coordinator::store::memory::MemoryStore;
use genms_coordinator::{CampaignState, Coordinator, Engine, FrontierStore, WorkerPool};
use genms_shared::search::Candidate;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cmd_worker::ModelArgs;
use crate::executor::Executor;
use crate::inproc::InProcessWorker;
use crate::params::{EngineArgs, ParamArgs};

/// Id of the campaign a `genms search` runs (one per state file).
const CAMPAIGN_ID: &str = "search";

#[derive(Args, Debug)]
pub struct SearchArgs {
    /// What to look for, e.g. "a novel perovskite oxide that is a semiconductor".
    pub prompt: String,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Output folder.
    #[arg(long, default_value = "genms-out", env = "GENMS_OUT")]
    pub out: PathBuf,
    /// Persist the search state here; rerun with the same file to resume an interrupted search.
    #[arg(long, env = "GENMS_STATE")]
    pub state: Option<PathBuf>,
    #[command(flatten)]
    pub models: ModelArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    /// No progress bars.
    #[arg(long, env = "GENMS_QUIET")]
    pub quiet: bool,
}

pub fn run(args: SearchArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(search(args))
}

async fn search(args: SearchArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let params = args.params.params();
    params.validate().map_err(anyhow::Error::msg).context("search parameters")?;
    let store: Arc<dyn FrontierStore> = match &args.state {
        Some(p) => Arc::new(MemoryStore::open(p).with_context(|| format!("opening state file {}", p.display()))?),
        None => Arc::new(MemoryStore::new()),
    };
    let resuming = match store.campaign(CAMPAIGN_ID).await? {
        Some(s) if s.meta.prompt != args.prompt.trim() => bail!(
            "state file {} holds a different search (prompt {:?}); use another --state",
            args.state.as_deref().map(Path::display).map(|d| d.to_string()).unwrap_or_default(),
            s.meta.prompt
        ),
        Some(_) => true,
        None => false,
    };

    let models = args.models.clone();
    let worker = tokio::task::spawn_blocking(move || models.load_worker("in-process", 4096))
        .await
        .context("model loader panicked")?
        .context("loading models")?;
    let executor = Executor::start(Arc::new(worker), 1, 4);
    let client = Arc::new(InProcessWorker::new("in-process", executor.clone()));
    let pool = Arc::new(WorkerPool::from_clients(vec![client], 1));
    let known = crate::cmd_coordinator::load_known(Some(&args.models.known_formulas()))?;
    let mut engine_cfg = args.engine.config();
    engine_cfg.health_every = Duration::from_millis(500);
    let engine = Engine::new(store.clone(), pool.clone(), known, engine_cfg);
    let coordinator = Coordinator::new(engine.clone());
    pool.refresh(Duration::from_secs(1)).await;

    if resuming {
        eprintln!(
            "resuming the search in {}",
            args.state.as_deref().map(|p| p.display().to_string()).unwrap_or_default()
        );
    } else {
        coordinator
            .create_campaign(&args.prompt, params, Some(CAMPAIGN_ID.into()))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let view = coordinator.campaign(CAMPAIGN_ID).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if !view.unknown_words.is_empty() {
        eprintln!("note: words not understood in the prompt: {}", view.unknown_words.join(", "));
    }
    eprintln!("constraints: {}", serde_json::to_string(&view.snapshot.meta.constraints)?);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let dispatcher = tokio::spawn(engine.clone().run(stop_rx));
    let progress = Progress::new(args.quiet);
    let interrupted = loop {
        let snap = store.campaign(CAMPAIGN_ID).await?.context("campaign vanished from the store")?;
        progress.update(&snap);
        if !snap.state.is_active() {
            break false;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = tokio::signal::ctrl_c() => break true,
        }
    };
    let _ = stop_tx.send(true);
    let _ = dispatcher.await;
    progress.finish();
    if interrupted {
        engine.drain(Duration::from_secs(5)).await;
        match &args.state {
            Some(p) => bail!("interrupted; run the same command again to resume from {}", p.display()),
            None => bail!("interrupted (without --state the search cannot resume)"),
        }
    }
    let snap = store.campaign(CAMPAIGN_ID).await?.context("campaign vanished from the store")?;
    let candidates =
        coordinator.candidates(CAMPAIGN_ID, snap.params.top_k as usize).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    write_outputs(&args.out, &snap, &candidates, started.elapsed())?;
    executor.drain();
    eprintln!(
        "{} candidates ({} structures scored, state {}) -> {}",
        candidates.len(),
        snap.count("structures.scored"),
        snap.state.as_str(),
        args.out.display()
    );
    if snap.state == CampaignState::Failed {
        bail!("search failed: {}", snap.error.unwrap_or_default());
    }
    Ok(())
}

/// Progress bars per tree level.
struct Progress {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar, ProgressBar)>,
}

impl Progress {
    fn new(quiet: bool) -> Progress {
        if quiet {
            return Progress { bars: None };
        }
        let multi = MultiProgress::new();
        let style = ProgressStyle::with_template("{prefix:>11} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = |name: &str| {
            let b = multi.add(ProgressBar::new(0));
            b.set_style(style.clone());
            b.set_prefix(name.to_string());
            b
        };
        let (f, g, s) = (bar("formulas"), bar("structures"), bar("scored"));
        Progress { bars: Some((multi, f, g, s)) }
    }

    fn update(&self, snap: &genms_coordinator::model::CampaignSnapshot) {
        let Some((_, f, g, s)) = &self.bars else { return };
        let rounds = u64::from(snap.params.rounds);
        f.set_length(rounds * u64::from(snap.params.formulas));
        f.set_position(snap.count("formulas.proposed").max(0) as u64);
        f.set_message(format!("kept {} (round {}/{rounds})", snap.count("formulas.kept"), snap.round + 1));
        let planned = snap.count("structures.planned").max(0) as u64;
        g.set_length(planned);
        let generated = snap.count("structures.generated") + snap.count("structures.failed.generation");
        g.set_position(generated.max(0) as u64);
        g.set_message(format!("rejected {}", prefixed(snap, "structures.rejected.")));
        s.set_length(planned);
        s.set_position(snap.count("structures.scored").max(0) as u64);
        s.set_message(format!("candidates {}", snap.count("candidates")));
    }

    fn finish(&self) {
        if let Some((_, f, g, s)) = &self.bars {
            f.finish();
            g.finish();
            s.finish();
        }
    }
}

fn prefixed(snap: &genms_coordinator::model::CampaignSnapshot, prefix: &str) -> i64 {
    snap.counts.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v).sum()
}

/// Columns of candidates.csv (and of `genms ctl candidates --json`).
pub const CANDIDATE_COLUMNS: [&str; 11] = [
    "rank",
    "candidate_id",
    "formula",
    "e_form_per_atom",
    "band_gap",
    "p_metal",
    "spacegroup_number",
    "num_sites",
    "novel",
    "formula_logprob",
    "cif_path",
];

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_default()
}

fn write_outputs(
    out: &Path,
    snap: &genms_coordinator::model::CampaignSnapshot,
    candidates: &[Candidate],
    wall: Duration,
) -> anyhow::Result<()> {
    let cif_dir = out.join("cif");
    std::fs::create_dir_all(&cif_dir).with_context(|| format!("creating {}", cif_dir.display()))?;
    let mut csv = csv::Writer::from_path(out.join("candidates.csv")).context("writing candidates.csv")?;
    csv.write_record(CANDIDATE_COLUMNS)?;
    for (i, c) in candidates.iter().enumerate() {
        let rel = format!("cif/{}.cif", c.candidate_id);
        let mut f = std::fs::File::create(out.join(&rel)).with_context(|| format!("writing {rel}"))?;
        f.write_all(c.cif.as_bytes())?;
        csv.write_record([
            (i + 1).to_string(),
            c.candidate_id.clone(),
            c.formula.clone(),
            opt(c.properties.e_form_per_atom),
            opt(c.properties.band_gap),
            opt(c.properties.p_metal),
            c.spacegroup_number.map(|n| n.to_string()).unwrap_or_default(),
            c.num_sites.to_string(),
            c.novel.to_string(),
            format!("{:.6}", c.formula_logprob),
            rel,
        ])?;
    }
    csv.flush()?;
    let json = campaign_json(snap, candidates.len(), wall);
    std::fs::write(out.join("campaign.json"), serde_json::to_string_pretty(&json)?).context("writing campaign.json")?;
    Ok(())
}

/// `campaign.json`: prompt, constraints, params, counts per tree level, rejections by reason, timings.
pub fn campaign_json(
    snap: &genms_coordinator::model::CampaignSnapshot,
    reported: usize,
    wall: Duration,
) -> serde_json::Value {
    let level = |prefix: &str| -> serde_json::Map<String, serde_json::Value> {
        snap.counts
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|rest| (rest.to_string(), serde_json::json!(v))))
            .filter(|(k, _)| !k.contains('.'))
            .collect()
    };
    let reasons = |prefix: &str| -> serde_json::Map<String, serde_json::Value> {
        snap.counts
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|rest| (rest.to_string(), serde_json::json!(v))))
            .collect()
    };
    serde_json::json!({
        "campaign_id": snap.meta.id,
        "prompt": snap.meta.prompt,
        "state": snap.state.as_str(),
        "constraints": snap.meta.constraints,
        "params": snap.params,
        "counts": {
            "rounds": level("rounds."),
            "formulas": level("formulas."),
            "structures": level("structures."),
            "candidates": snap.count("candidates"),
            "reported": reported,
        },
        "rejections": {
            "formulas": reasons("formulas.rejected."),
            "structures": reasons("structures.rejected."),
        },
        "failures": {
            "formulas": reasons("formulas.failed."),
            "structures": reasons("structures.failed."),
        },
        "timings": { "wall_s": wall.as_secs_f64(), "created_ms": snap.meta.created_ms },
    })
}
