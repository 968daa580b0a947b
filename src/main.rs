//! The `genms` binary: one executable for every role — search (embedded), coordinator, worker, ctl, train, csp,
//! score, inspect, convert, bench. Subcommands live in their own modules; this file only parses and dispatches.

mod bench;
mod bench_dispatch;
mod bench_score;
mod cmd_coordinator;
mod cmd_worker;
mod convert;
mod csp;
mod ctl;
mod executor;
mod inproc;
mod inspect;
mod interpret;
mod models;
mod params;
mod propose;
#[allow(dead_code, clippy::all)]
mod proto;
mod rpc;
mod score;
mod search;
mod telemetry;
mod tls;
mod train;

use clap::{Parser, Subcommand};

/// genms — language-guided crystal discovery (GenMS: prompt -> formulae -> structures -> ranked crystals).
#[derive(Parser, Debug)]
#[command(name = "genms", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Search for new crystals matching a prompt, in one process: formulae -> structures -> scored candidates.
    /// Writes DIR/candidates.csv, DIR/cif/*.cif and DIR/campaign.json.
    Search(search::SearchArgs),
    /// Run the search coordinator: campaigns in Redis, tasks dispatched to workers over gRPC.
    Coordinator(cmd_coordinator::CoordinatorArgs),
    /// Run a worker: serves formula sampling, diffusion and scoring over gRPC.
    Worker(cmd_worker::WorkerArgs),
    /// Operate a running coordinator: create, get, watch, set, pause, resume, cancel, candidates, workers.
    Ctl(ctl::CtlArgs),
    /// Describe a formula or a structure file (CIF, POSCAR, extended XYZ): formulae, charge neutrality, novelty,
    /// lattice, space group, validity.
    Inspect(inspect::InspectArgs),
    /// Convert a structure between CIF, POSCAR and extended XYZ (formats picked by file extension).
    Convert(convert::ConvertArgs),
    /// Benchmarks that print throughput numbers.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Score structures with the pretrained CGCNN models: formation energy per atom (eV/atom), band gap (eV) and the
    /// probability of being a metal. Writes CSV: id, formula, e_form_per_atom, band_gap, p_metal.
    Score(score::ScoreArgs),
    /// Pretrained model files: fetch them into the cache, list what is present.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Train genms's own models (resumable): `genms train diffusion --train <cdvae.csv> --out <dir>`.
    #[command(subcommand)]
    Train(train::TrainCommand),
    /// Crystal structure prediction: sample K structures for each `material_id, composition` row with the diffusion
    /// model; writes `material_id, sample, cif` (P1 CIFs).
    Csp(csp::CspArgs),
    /// Show how a plain-language request is read: the constraints (elements in/out, family, anions, element count,
    /// metal/semiconductor, band-gap range, novelty, excluded formulae), recognised phrases and unknown words, as JSON.
    Interpret(interpret::InterpretArgs),
    /// Propose candidate formulae for a plain-language request (embedded proposer or an OpenAI-compatible LLM) and
    /// show each with its log-probability and the filters it passed; `--json` for one object, `--bench` to measure.
    Propose(propose::ProposeArgs),
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GENMS_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Search(args) => search::run(args),
        Command::Coordinator(args) => cmd_coordinator::run(args),
        Command::Worker(args) => cmd_worker::run(args),
        Command::Ctl(args) => ctl::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Score(args) => score::run(args),
        Command::Models(cmd) => models::run(cmd),
        Command::Train(cmd) => train::run(cmd),
        Command::Csp(args) => csp::run(args),
        Command::Interpret(args) => interpret::run(args),
        Command::Propose(args) => propose::run(args),
    };
    if let Err(e) = result {
        // One line on stderr: the chain of contexts, outermost first.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
