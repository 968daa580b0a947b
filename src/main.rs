//! The `genms` binary: one executable for every role (inspect, convert, bench today; search, coordinator, worker,
//! ctl, train as their issues land). Subcommands live in their own modules; this file only parses and dispatches.

mod bench;
mod bench_score;
mod convert;
mod inspect;
mod models;
#[allow(dead_code, clippy::all)]
mod proto;
mod score;

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
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("GENMS_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Bench(cmd) => bench::run(cmd),
        Command::Score(args) => score::run(args),
        Command::Models(cmd) => models::run(cmd),
    };
    if let Err(e) = result {
        // One line on stderr: the chain of contexts, outermost first.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
