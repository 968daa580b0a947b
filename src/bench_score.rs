//! `genms bench score`: CGCNN scoring throughput on a CDVAE CSV, end to end (CIF text -> structure -> graph -> the
//! three predictions) and model only (the three forward passes on collated graphs). Compare with
//! `tools/bench_cgcnn_torch.py` (PyTorch cgcnn2) on the same input, batch size and thread count.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use genms_shared::dataset::CdvaeReader;
use genms_shared::io::{read_cif_structure, CifOptions};
use genms_worker::cgcnn::{CrystalGraph, GraphBatch, Head, Scorer};

use crate::score::ModelsDirArgs;

#[derive(Args, Debug)]
pub struct ScoreBenchArgs {
    /// CDVAE-style CSV (material_id, cif, ...).
    #[arg(long, env = "GENMS_BENCH_CSV")]
    pub input: PathBuf,
    /// Structures per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Use only the first N structures.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Repeat each timed pass this many times and report the best.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,
    /// Device: cpu or cuda:N.
    #[arg(long, default_value = "cpu", env = "GENMS_DEVICE")]
    pub device: String,
    #[command(flatten)]
    pub models: ModelsDirArgs,
}

fn best_of<F: FnMut() -> anyhow::Result<()>>(repeats: usize, mut f: F) -> anyhow::Result<f64> {
    let mut best = f64::INFINITY;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

pub fn run(args: ScoreBenchArgs) -> anyhow::Result<()> {
    let mut cifs: Vec<String> = Vec::new();
    for row in CdvaeReader::open(&args.input)? {
        cifs.push(row.with_context(|| args.input.display().to_string())?.cif);
        if args.limit.is_some_and(|n| cifs.len() >= n) {
            break;
        }
    }
    anyhow::ensure!(!cifs.is_empty(), "no structures in {}", args.input.display());
    let device = genms_worker::parse_device(&args.device)?;
    let models_dir = args.models.resolve()?;
    let scorer = Scorer::load(&models_dir, &Head::ALL, &device)?;
    let batch = args.batch.max(1);
    let n = cifs.len();
    let atoms = |cifs: &[String]| -> anyhow::Result<usize> {
        Ok(cifs
            .iter()
            .map(|c| read_cif_structure(c, &CifOptions::default()).map(|s| s.num_sites()))
            .sum::<Result<usize, _>>()?)
    };
    println!(
        "cgcnn scoring: {n} structures ({} atoms) from {}, batch {batch}, {} threads, device {}, heads e_form+band_gap+metal",
        atoms(&cifs)?,
        args.input.display(),
        candle_core::utils::get_num_threads(),
        args.device
    );

    // End to end: CIF text -> structure -> graph -> collate -> three forward passes.
    let mut checksum = 0.0;
    let e2e = best_of(args.repeats, || {
        checksum = 0.0;
        for chunk in cifs.chunks(batch) {
            let graphs = chunk
                .iter()
                .map(|c| {
                    let s = read_cif_structure(c, &CifOptions::default())?;
                    Ok(scorer.graph(&s)?)
                })
                .collect::<anyhow::Result<Vec<CrystalGraph>>>()?;
            let refs: Vec<&CrystalGraph> = graphs.iter().collect();
            for s in scorer.score_graphs(&refs)? {
                checksum += s.e_form_per_atom.unwrap_or(0.0);
            }
        }
        Ok(())
    })?;

    // Stage timings (one pass each) to show where end-to-end time goes.
    let t = Instant::now();
    let structures =
        cifs.iter().map(|c| read_cif_structure(c, &CifOptions::default())).collect::<Result<Vec<_>, _>>()?;
    let t_parse = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let graphs = structures.iter().map(|s| scorer.graph(s)).collect::<Result<Vec<_>, _>>()?;
    let t_graph = t.elapsed().as_secs_f64();
    let refs: Vec<&CrystalGraph> = graphs.iter().collect();
    let t = Instant::now();
    let batches = refs.chunks(batch).map(|c| GraphBatch::new(c, &device)).collect::<Result<Vec<_>, _>>()?;
    let t_collate = t.elapsed().as_secs_f64();

    // Model only: the three forward passes on collated batches.
    let model = best_of(args.repeats, || {
        for b in &batches {
            scorer.predict_batch(b)?;
        }
        Ok(())
    })?;

    let rate = |secs: f64| n as f64 / secs;
    println!("end to end : {:>10.1} structures/s  ({e2e:.3} s, best of {})", rate(e2e), args.repeats.max(1));
    println!("model only : {:>10.1} structures/s  ({model:.3} s, best of {})", rate(model), args.repeats.max(1));
    println!(
        "stages     : CIF parse {:.1} ms, graphs {:.1} ms, collate {:.1} ms, forward x3 {:.1} ms",
        t_parse * 1e3,
        t_graph * 1e3,
        t_collate * 1e3,
        model * 1e3
    );
    println!("checksum   : mean e_form {:.6} eV/atom", checksum / n as f64);
    Ok(())
}
