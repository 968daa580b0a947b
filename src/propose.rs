//! `genms propose "<prompt>"`: the first level of the search on its own — interpret the request, draw candidate
//! formulae from a backend (the embedded data-driven proposer, or an OpenAI-compatible LLM endpoint), and print each
//! with its log-probability and the filters it passed. With `--json`, one object
//! `{"constraints": {...}, "drawn": N, "proposals": [{"formula", "logprob", "novel", "charge_neutral",
//! "satisfies_constraints"}]}` holding only proposals that passed every filter the request asks for (novelty only
//! when the constraints ask for new materials), at most n.
//!
//! The per-proposal flags are recomputed here, independently of the backend: `novel` (reduced formula neither on
//! the known list nor excluded by the user), `charge_neutral` (`diffcsp_smact_validity`, SMACT-14 oxidation states),
//! `satisfies_constraints` (`Constraints::check_composition`).
//!
//! `genms propose --bench` times the embedded backend at n = 100 on a fixed set of prompts across families and
//! reports, per family: share of returned formulae satisfying the constraints, share of drawn candidates that are
//! charge neutral before filtering, share novel, unique/returned, and the time to propose.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use genms_shared::constraints::{interpret, Constraints};
use genms_shared::search::{ProposeTask, ProposedFormula};
use genms_shared::smact::diffcsp_smact_validity;
use genms_shared::{Composition, OxidationStates};
use genms_worker::proposer::openai::{OpenAiConfig, OpenAiProposer};
use genms_worker::proposer::{FormulaProposer, ProposeStats, SubstitutionProposer};
use serde::Serialize;

/// Which proposer draws the formulae.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// Offline: retrieval over the known-formula data plus ion substitution.
    Embedded,
    /// An OpenAI-compatible chat-completions endpoint (`--llm-url`, `--llm-model`; key from $GENMS_LLM_API_KEY or
    /// $OPENAI_API_KEY).
    Openai,
}

#[derive(Debug, Args)]
pub struct ProposeArgs {
    /// The request in plain words, e.g. "a lead-free halide perovskite semiconductor with a band gap around 1.5
    /// eV, not CsSnI3". Several words without quotes are joined with spaces.
    #[arg(num_args = 1.., required_unless_present = "bench")]
    pub prompt: Vec<String>,
    /// How many formulae to propose (at most; fewer when fewer pass the filters).
    #[arg(short = 'n', long, default_value_t = 50)]
    pub n: u32,
    /// Proposer backend.
    #[arg(long, value_enum, default_value_t = Backend::Embedded, env = "GENMS_PROPOSER")]
    pub backend: Backend,
    /// Base URL of an OpenAI-compatible API, e.g. http://localhost:8000/v1 (backend openai).
    #[arg(long, env = "GENMS_LLM_URL")]
    pub llm_url: Option<String>,
    /// Model name sent to the API (backend openai).
    #[arg(long, env = "GENMS_LLM_MODEL")]
    pub llm_model: Option<String>,
    /// Seconds to wait for one LLM answer.
    #[arg(long, default_value_t = 120.0, env = "GENMS_LLM_TIMEOUT")]
    pub llm_timeout: f64,
    /// Sampling temperature of the LLM.
    #[arg(long, default_value_t = 0.7, env = "GENMS_LLM_TEMPERATURE")]
    pub temperature: f64,
    /// Most LLM requests per proposal (later ones exclude what was already drawn).
    #[arg(long, default_value_t = 3)]
    pub llm_requests: u32,
    /// Ask the LLM for token log-probabilities and score formulae with them (otherwise by rank).
    #[arg(long)]
    pub llm_logprobs: bool,
    /// Seed of the proposal (same seed, same data, same answer for the embedded backend; passed to the LLM).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Formulae not to propose (comma-separated), on top of those the prompt excludes.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Folder of composition CSVs (default $GENMS_SHARED/data/compositions).
    #[arg(long, env = "GENMS_COMPOSITIONS_DIR")]
    pub compositions_dir: Option<PathBuf>,
    /// Novelty list (default <compositions dir>/known_formulas.txt).
    #[arg(long, env = "GENMS_KNOWN_FORMULAS")]
    pub known_formulas: Option<PathBuf>,
    /// Benchmark the embedded backend at -n (default 100 with --bench) on built-in prompts; prints a table.
    #[arg(long, conflicts_with_all = ["prompt", "json"])]
    pub bench: bool,
}

impl ProposeArgs {
    fn compositions_dir(&self) -> PathBuf {
        self.compositions_dir.clone().unwrap_or_else(|| genms_shared::paths::shared_root().join("data/compositions"))
    }

    fn known_formulas(&self) -> PathBuf {
        self.known_formulas.clone().unwrap_or_else(|| self.compositions_dir().join("known_formulas.txt"))
    }
}

/// A loaded backend.
enum Proposer {
    Embedded(SubstitutionProposer),
    Openai(Box<OpenAiProposer>),
}

impl Proposer {
    fn load(args: &ProposeArgs) -> anyhow::Result<Proposer> {
        let (dir, known) = (args.compositions_dir(), args.known_formulas());
        Ok(match args.backend {
            Backend::Embedded => Proposer::Embedded(
                SubstitutionProposer::load(&dir, &known).context("loading the embedded proposer's data")?,
            ),
            Backend::Openai => {
                let url = args.llm_url.clone().context("--backend openai needs --llm-url (or $GENMS_LLM_URL)")?;
                let model =
                    args.llm_model.clone().context("--backend openai needs --llm-model (or $GENMS_LLM_MODEL)")?;
                if !(args.llm_timeout.is_finite() && args.llm_timeout > 0.0) {
                    bail!("--llm-timeout must be a positive number of seconds, got {}", args.llm_timeout);
                }
                let mut cfg = OpenAiConfig::new(url, model);
                cfg.api_key = OpenAiConfig::api_key_from_env();
                cfg.timeout = Duration::from_secs_f64(args.llm_timeout);
                cfg.temperature = args.temperature;
                cfg.max_requests = args.llm_requests.max(1);
                cfg.request_logprobs = args.llm_logprobs;
                Proposer::Openai(Box::new(OpenAiProposer::load(cfg, &dir, &known).context("loading the LLM proposer")?))
            }
        })
    }

    fn propose(&self, task: &ProposeTask) -> anyhow::Result<(Vec<ProposedFormula>, ProposeStats)> {
        Ok(match self {
            Proposer::Embedded(p) => p.propose_with_stats(task)?,
            Proposer::Openai(p) => p.propose_with_stats(task)?,
        })
    }

    /// The proposal exactly as a worker makes it (`FormulaProposer::propose`, no extra counting).
    fn propose_timed(&self, task: &ProposeTask) -> anyhow::Result<Vec<ProposedFormula>> {
        Ok(match self {
            Proposer::Embedded(p) => p.propose(task)?,
            Proposer::Openai(p) => p.propose(task)?,
        })
    }

    fn is_known(&self, reduced: &str) -> bool {
        match self {
            Proposer::Embedded(p) => p.is_known(reduced),
            Proposer::Openai(p) => p.is_known(reduced),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Proposer::Embedded(_) => "embedded (substitution)",
            Proposer::Openai(_) => "openai",
        }
    }
}

/// One proposal with its independently recomputed filter flags.
#[derive(Debug, Serialize)]
struct Checked {
    formula: String,
    logprob: f64,
    novel: bool,
    charge_neutral: bool,
    satisfies_constraints: bool,
}

impl Checked {
    fn passes(&self, c: &Constraints) -> bool {
        self.charge_neutral && self.satisfies_constraints && (self.novel || !c.novel)
    }
}

fn check(p: &ProposedFormula, task: &ProposeTask, proposer: &Proposer) -> Checked {
    let comp = Composition::parse(&p.formula).ok();
    let reduced = comp.as_ref().map_or_else(|| p.formula.clone(), Composition::reduced_formula);
    let excluded = task.exclude.contains(&reduced) || task.constraints.excluded_formulas.contains(&reduced);
    Checked {
        formula: p.formula.clone(),
        logprob: p.logprob,
        novel: !proposer.is_known(&reduced) && !excluded,
        charge_neutral: comp.as_ref().is_some_and(|c| diffcsp_smact_validity(c, OxidationStates::Smact14)),
        satisfies_constraints: comp.as_ref().is_some_and(|c| task.constraints.check_composition(c).is_ok()),
    }
}

fn task_for(prompt: &str, constraints: Constraints, n: u32, seed: u64, exclude: &[String]) -> ProposeTask {
    let exclude = exclude
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
        .map(|f| Composition::parse(f).map(|c| c.reduced_formula()).unwrap_or_else(|_| f.to_string()))
        .collect();
    ProposeTask { task_id: "propose".into(), prompt: prompt.into(), constraints, n, seed, exclude, context: Vec::new() }
}

pub fn run(args: ProposeArgs) -> anyhow::Result<()> {
    if args.bench {
        return bench(&args);
    }
    let prompt = args.prompt.join(" ");
    let interpretation = interpret(&prompt).with_context(|| format!("cannot interpret {prompt:?}"))?;
    if !interpretation.unknown_words.is_empty() {
        tracing::warn!(words = ?interpretation.unknown_words, "prompt words not understood (ignored)");
    }
    let proposer = Proposer::load(&args)?;
    let task = task_for(&prompt, interpretation.constraints, args.n, args.seed, &args.exclude);
    let start = Instant::now();
    let (proposals, stats) = proposer.propose(&task).context("proposing formulae")?;
    let elapsed = start.elapsed();
    let checked: Vec<Checked> = proposals.iter().map(|p| check(p, &task, &proposer)).collect();
    if args.json {
        let passed: Vec<&Checked> =
            checked.iter().filter(|c| c.passes(&task.constraints)).take(args.n as usize).collect();
        let out = serde_json::json!({"constraints": task.constraints, "drawn": stats.drawn, "proposals": passed});
        println!("{}", serde_json::to_string(&out).context("cannot serialise the proposals")?);
        return Ok(());
    }
    println!(
        "# {}: {} proposals from {} candidates drawn ({} charge neutral, {} satisfying the constraints) in {:.3} s",
        proposer.name(),
        checked.len(),
        stats.drawn,
        stats.charge_neutral,
        stats.satisfies_constraints,
        elapsed.as_secs_f64()
    );
    if !interpretation.unknown_words.is_empty() {
        println!("# words not understood (ignored): {}", interpretation.unknown_words.join(", "));
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    println!("{:<24} {:>9}  {:<5}  {:<14}  constraints", "formula", "logprob", "novel", "charge_neutral");
    for c in &checked {
        println!(
            "{:<24} {:>9.3}  {:<5}  {:<14}  {}",
            c.formula,
            c.logprob,
            yes(c.novel),
            yes(c.charge_neutral),
            yes(c.satisfies_constraints)
        );
    }
    Ok(())
}

/// Benchmark prompts: (family label, prompt).
const BENCH_PROMPTS: &[(&str, &str)] = &[
    ("perovskite", "perovskite oxide"),
    ("perovskite", "a lead-free halide perovskite semiconductor with a band gap between 1 and 2 eV"),
    ("spinel", "Li-containing spinel oxide"),
    ("spinel", "a spinel without cobalt or nickel"),
    ("olivine", "olivine phosphate-like cathode materials containing lithium, not LiFePO4 or LiMnPO4"),
    ("rock salt / fluorite", "a rock salt nitride"),
    ("rock salt / fluorite", "fluorite-type oxides containing a rare earth"),
    ("heusler", "a half-Heusler semiconductor"),
    ("heusler", "Heusler alloy containing cobalt"),
    ("pyrochlore / garnet", "pyrochlore oxide insulator"),
    ("pyrochlore / garnet", "garnet oxide containing lithium"),
    ("free form", "a ternary nitride semiconductor with a band gap between 1 and 3 eV"),
    ("free form", "wide-gap sulfide without toxic elements"),
    ("free form", "quaternary oxides containing Li and Mn"),
];

#[derive(Default)]
struct Tally {
    prompts: usize,
    returned: usize,
    satisfies: usize,
    novel: usize,
    unique: usize,
    drawn: u64,
    neutral_drawn: u64,
    time: Duration,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.prompts += other.prompts;
        self.returned += other.returned;
        self.satisfies += other.satisfies;
        self.novel += other.novel;
        self.unique += other.unique;
        self.drawn += other.drawn;
        self.neutral_drawn += other.neutral_drawn;
        self.time += other.time;
    }

    fn row(&self, label: &str) -> String {
        let pct = |a: f64, b: f64| if b > 0.0 { format!("{:.1}", 100.0 * a / b) } else { "-".into() };
        let r = self.returned as f64;
        format!(
            "{label:<22} {:>3} {:>8} {:>7} {:>10} {:>7} {:>8} {:>14} {:>9.0}",
            self.prompts,
            self.returned,
            self.drawn,
            pct(self.satisfies as f64, r),
            pct(self.neutral_drawn as f64, self.drawn as f64),
            pct(self.novel as f64, r),
            if r > 0.0 { format!("{:.3}", self.unique as f64 / r) } else { "-".into() },
            1000.0 * self.time.as_secs_f64() / self.prompts.max(1) as f64,
        )
    }
}

fn bench(args: &ProposeArgs) -> anyhow::Result<()> {
    if args.backend != Backend::Embedded {
        bail!("--bench measures the embedded backend only");
    }
    let n = if args.n == 50 { 100 } else { args.n };
    let build = if cfg!(debug_assertions) {
        "debug build (dependencies and genms-worker at opt-level 3)"
    } else {
        "release build"
    };
    let start = Instant::now();
    let proposer = Proposer::load(args)?;
    println!(
        "# propose bench: embedded backend, n = {n}, {build}; data loaded in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    println!(
        "{:<22} {:>3} {:>8} {:>7} {:>10} {:>7} {:>8} {:>14} {:>9}",
        "family", "N", "returned", "drawn", "satisfy%", "neutral%", "novel%", "unique/return", "ms/prompt"
    );
    let mut families: Vec<(&str, Tally)> = Vec::new();
    let mut total = Tally::default();
    for (family, prompt) in BENCH_PROMPTS {
        let c = interpret(prompt).with_context(|| format!("bench prompt {prompt:?}"))?.constraints;
        let task = task_for(prompt, c, n, args.seed, &args.exclude);
        // Counters from the full-statistics run; the time from the worker's path (the trait's `propose`), warm.
        let (out, stats) = proposer.propose(&task)?;
        let t0 = Instant::now();
        let timed = proposer.propose_timed(&task)?;
        let time = t0.elapsed();
        if timed != out {
            bail!("the timed proposal differs from the counted one for {prompt:?}");
        }
        let checked: Vec<Checked> = out.iter().map(|p| check(p, &task, &proposer)).collect();
        let unique: std::collections::HashSet<&str> = checked.iter().map(|c| c.formula.as_str()).collect();
        let t = Tally {
            prompts: 1,
            returned: checked.len(),
            satisfies: checked.iter().filter(|c| c.satisfies_constraints).count(),
            novel: checked.iter().filter(|c| c.novel).count(),
            unique: unique.len(),
            drawn: stats.drawn,
            neutral_drawn: stats.charge_neutral,
            time,
        };
        println!("{}   <- {prompt}", t.row(""));
        match families.iter_mut().find(|(f, _)| f == family) {
            Some((_, acc)) => acc.add(&t),
            None => {
                let mut acc = Tally::default();
                acc.add(&t);
                families.push((family, acc));
            }
        }
        total.add(&t);
    }
    println!("# per family");
    for (family, t) in &families {
        println!("{}", t.row(family));
    }
    println!("{}", total.row("all"));
    Ok(())
}
