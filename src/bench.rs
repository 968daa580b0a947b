//! `genms bench ...`: throughput benchmarks that report numbers against a reference measured in the same run.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use genms_shared::dataset::CdvaeReader;
use genms_shared::neighbors::NeighborList;
use genms_shared::Structure;

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Build periodic neighbour lists for every structure of a CDVAE CSV; prints structures/s and pairs/s for the
    /// cell-list search and for the brute-force reference (all pairs x all images) measured in the same run.
    Neighbors(NeighborsArgs),
    /// CGCNN scoring throughput (formation energy, band gap, P(metal)) on a CDVAE CSV: end to end (CIF text ->
    /// graphs -> predictions) and model only (forward passes on prepared graphs), in structures/s.
    Score(crate::bench_score::ScoreBenchArgs),
    /// Search-engine throughput with bench-mode workers (simulated device latency, no models): items/s, RPCs/s and
    /// scale-out efficiency from 1 to N workers, with redis-benchmark on the same server for scale.
    Dispatch(crate::bench_dispatch::DispatchArgs),
}

#[derive(Args, Debug)]
pub struct NeighborsArgs {
    /// CDVAE-style CSV (material_id, formula, cif, ...).
    #[arg(long, env = "GENMS_BENCH_CSV")]
    pub csv: PathBuf,
    /// Cutoff radius in A (CGCNN uses 8).
    #[arg(long, default_value_t = 8.0)]
    pub radius: f64,
    /// Use only the first N structures.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Repeat the timed pass this many times and report the best.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Replace every structure by its N x N x N supercell (shows how each method scales with atoms per cell).
    #[arg(long, default_value_t = 1)]
    pub supercell: i32,
    /// Skip the brute-force reference.
    #[arg(long)]
    pub no_reference: bool,
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Neighbors(args) => neighbors(args),
        BenchCommand::Score(args) => crate::bench_score::run(args),
        BenchCommand::Dispatch(args) => crate::bench_dispatch::run(args),
    }
}

fn neighbors(args: NeighborsArgs) -> anyhow::Result<()> {
    let mut structures: Vec<Structure> = Vec::new();
    for row in CdvaeReader::open(&args.csv)? {
        let row = row?;
        let s = row.structure().map_err(anyhow::Error::msg).with_context(|| args.csv.display().to_string())?;
        let s = if args.supercell > 1 {
            let n = args.supercell;
            s.supercell(&[[n, 0, 0], [0, n, 0], [0, 0, n]])?
        } else {
            s
        };
        structures.push(s);
        if args.limit.is_some_and(|n| structures.len() >= n) {
            break;
        }
    }
    if structures.is_empty() {
        bail!("{} holds no structures", args.csv.display());
    }
    let atoms: usize = structures.iter().map(Structure::num_sites).sum();
    println!(
        "neighbour lists: {} structures, {atoms} atoms, radius {} A, best of {} passes",
        structures.len(),
        args.radius,
        args.repeats.max(1)
    );
    let time = |f: &dyn Fn(&Structure) -> anyhow::Result<usize>| -> anyhow::Result<(f64, usize)> {
        let mut best = f64::INFINITY;
        let mut pairs = 0;
        for _ in 0..args.repeats.max(1) {
            let t = Instant::now();
            pairs = 0;
            for s in &structures {
                pairs += f(s)?;
            }
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok((best, pairs))
    };
    let (t_cell, pairs) = time(&|s| Ok(NeighborList::build(s, args.radius)?.num_pairs()))?;
    let n = structures.len() as f64;
    println!(
        "cell lists : {:>10.1} structures/s {:>14.0} pairs/s ({pairs} pairs, {:.3} s)",
        n / t_cell,
        pairs as f64 / t_cell,
        t_cell
    );
    if !args.no_reference {
        let (t_ref, ref_pairs) = time(&|s| Ok(NeighborList::brute_force(s, args.radius)?.num_pairs()))?;
        println!(
            "brute force: {:>10.1} structures/s {:>14.0} pairs/s ({ref_pairs} pairs, {:.3} s)",
            n / t_ref,
            ref_pairs as f64 / t_ref,
            t_ref
        );
        if ref_pairs != pairs {
            bail!("cell lists found {pairs} pairs but brute force {ref_pairs}");
        }
        println!("speed-up of cell lists over brute force: {:.2}x", t_ref / t_cell);
    }
    Ok(())
}
