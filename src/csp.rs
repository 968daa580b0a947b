//! `genms csp`: crystal structure prediction with genms's diffusion model. Reads `material_id, composition` rows (a
//! `cif` column, if present, is never read), writes `material_id, sample, cif` with K P1 CIFs per row. Also
//! `genms csp --make-input <cdvae.csv>`, which writes such an input from a dataset.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use genms_shared::dataset::CdvaeReader;
use genms_shared::io::write_cif;
use genms_shared::Composition;
use genms_worker::diffusion::checkpoint::load_model;
use genms_worker::diffusion::sample::{species_of, DEFAULT_STEPS};
use genms_worker::diffusion::{sample_structures, SampleRequest, SamplerOptions};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args, Debug)]
pub struct CspArgs {
    /// Input CSV with columns material_id, composition (full cell composition such as Ga4Te4).
    #[arg(long, env = "GENMS_CSP_INPUT", required_unless_present = "make_input")]
    pub input: Option<PathBuf>,
    /// Instead of sampling: write the input CSV (material_id, composition) for a CDVAE-style dataset file.
    #[arg(long, env = "GENMS_CSP_MAKE_INPUT", conflicts_with = "input")]
    pub make_input: Option<PathBuf>,
    /// Output CSV (material_id, sample, cif), or the input CSV with --make-input.
    #[arg(long, env = "GENMS_CSP_OUT")]
    pub out: PathBuf,
    /// Structures per input row.
    #[arg(long, default_value_t = 1, env = "GENMS_CSP_SAMPLES")]
    pub samples: usize,
    /// Which of genms's own diffusion models (perov5, carbon24, general) or a model folder path.
    #[arg(long, default_value = "general", env = "GENMS_DIFFUSION_MODEL")]
    pub model: String,
    /// Root folder of model files; genms's own diffusion models are `<dir>/<name>/` (default: ./models, else the
    /// `models/` folder of the source tree genms was built from).
    #[arg(long, env = "GENMS_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// Reverse diffusion steps.
    #[arg(long, default_value_t = DEFAULT_STEPS, env = "GENMS_CSP_STEPS")]
    pub steps: usize,
    /// Langevin corrector step size (0: predictor only, twice as fast); default: the model's own.
    #[arg(long, env = "GENMS_CSP_CORRECTOR_LR")]
    pub corrector_lr: Option<f64>,
    /// Most structures sampled together in one batch (see also --batch-atoms). Results are deterministic for a given
    /// seed and batching; other batchings give equally distributed but not bit-identical samples.
    #[arg(long, default_value_t = 256, env = "GENMS_CSP_BATCH")]
    pub batch: usize,
    /// Most padded atoms (structures x largest cell) in one batch: on CPU, small batches run faster per structure.
    #[arg(long, default_value_t = 640, env = "GENMS_CSP_BATCH_ATOMS")]
    pub batch_atoms: usize,
    /// Random seed: each structure's noise is keyed by (seed, row, sample index).
    #[arg(long, default_value_t = 0, env = "GENMS_CSP_SEED")]
    pub seed: u64,
}

/// Finds a model folder from a name or path.
pub fn resolve_model(model: &str, models_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let direct = PathBuf::from(model);
    if direct.join("model.json").is_file() {
        return Ok(direct);
    }
    let mut roots: Vec<PathBuf> = Vec::new();
    match models_dir {
        Some(d) => roots.push(d.to_path_buf()),
        None => {
            roots.push(PathBuf::from("models"));
            roots.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"));
        }
    }
    for r in &roots {
        let dir = r.join(model);
        if dir.join("model.json").is_file() {
            return Ok(dir);
        }
    }
    let tried: Vec<String> = roots.iter().map(|r| r.join(model).display().to_string()).collect();
    bail!("diffusion model {model:?} not found (no model.json in {model} or {})", tried.join(", "))
}

pub fn run(args: CspArgs) -> anyhow::Result<()> {
    if let Some(src) = &args.make_input {
        return make_input(src, &args.out);
    }
    let input = args.input.as_ref().context("--input is required")?;
    let rows = read_input(input)?;
    let model_dir = resolve_model(&args.model, args.models_dir.as_deref())?;
    let device = candle_core::Device::Cpu;
    let (model, meta) = load_model(&model_dir, &device).with_context(|| format!("loading {}", model_dir.display()))?;
    eprintln!(
        "model {} ({} steps trained), {} rows x {} samples",
        model_dir.display(),
        meta.steps,
        rows.len(),
        args.samples
    );
    let opts = SamplerOptions {
        steps: args.steps,
        corrector_lr: args.corrector_lr.unwrap_or(meta.corrector_lr),
        seed: args.seed,
    };
    let mut requests = Vec::with_capacity(rows.len() * args.samples);
    for (row, (id, comp)) in rows.iter().enumerate() {
        let species = species_of(comp).with_context(|| format!("row {} ({id})", row + 1))?;
        for k in 0..args.samples {
            requests.push((id.clone(), SampleRequest { species: species.clone(), row: row as u64, sample: k as u64 }));
        }
    }
    // Batch crystals of similar size together (less padding); output keeps input order.
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by_key(|&i| requests[i].1.species.len());
    let mut cifs: Vec<Option<String>> = vec![None; requests.len()];
    let bar = ProgressBar::new(requests.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} structures ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let t0 = std::time::Instant::now();
    // Batches hold at most --batch structures and --batch-atoms padded atoms (small batches stay in CPU cache).
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    for &i in &order {
        let n = requests[i].1.species.len();
        match chunks.last_mut() {
            Some(c) if c.len() < args.batch.max(1) && (c.len() + 1) * n <= args.batch_atoms => c.push(i),
            _ => chunks.push(vec![i]),
        }
    }
    for chunk in &chunks {
        let reqs: Vec<SampleRequest> = chunk.iter().map(|&i| requests[i].1.clone()).collect();
        let out = sample_structures(&model, &meta, &reqs, &opts, &device)?;
        for (&i, s) in chunk.iter().zip(&out) {
            cifs[i] = Some(write_cif(s));
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    eprintln!(
        "sampled {} structures in {secs:.1} s ({:.2} structures/s, {} steps)",
        requests.len(),
        requests.len() as f64 / secs.max(1e-9),
        opts.steps
    );
    let mut w = csv::Writer::from_path(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    w.write_record(["material_id", "sample", "cif"])?;
    for ((id, req), cif) in requests.iter().zip(cifs) {
        w.write_record([id.as_str(), &req.sample.to_string(), &cif.unwrap_or_default()])?;
    }
    w.flush()?;
    Ok(())
}

/// Reads `material_id, composition` (other columns ignored; a `cif` column is never read).
fn read_input(path: &Path) -> anyhow::Result<Vec<(String, Composition)>> {
    let mut r = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let headers: Vec<String> = r.headers()?.iter().map(|h| h.trim().to_string()).collect();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| format!("{}: no {name} column", path.display()))
    };
    let (id_col, comp_col) = (col("material_id")?, col("composition")?);
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.with_context(|| format!("{}: record {}", path.display(), i + 1))?;
        let id = rec.get(id_col).unwrap_or("").trim().to_string();
        let text = rec.get(comp_col).unwrap_or("").trim();
        let comp = Composition::parse(text)
            .with_context(|| format!("{}: row {} ({id}): composition {text:?}", path.display(), i + 1))?;
        rows.push((id, comp));
    }
    Ok(rows)
}

/// The full cell composition of a structure, elements in order of first appearance: `Sr1Ti1O3`.
pub fn cell_composition(s: &genms_shared::Structure) -> String {
    let mut seen: Vec<(genms_shared::Element, usize)> = Vec::new();
    for &e in s.species() {
        match seen.iter_mut().find(|(x, _)| *x == e) {
            Some((_, n)) => *n += 1,
            None => seen.push((e, 1)),
        }
    }
    seen.iter().map(|(e, n)| format!("{}{n}", e.symbol())).collect()
}

fn make_input(src: &Path, out: &Path) -> anyhow::Result<()> {
    let reader = CdvaeReader::open(src).with_context(|| format!("opening {}", src.display()))?;
    let mut w = csv::Writer::from_path(out).with_context(|| format!("creating {}", out.display()))?;
    w.write_record(["material_id", "composition"])?;
    let mut n = 0;
    for rec in reader {
        let rec = rec?;
        let s = rec.structure().map_err(anyhow::Error::msg)?;
        w.write_record([rec.material_id.as_str(), &cell_composition(&s)])?;
        n += 1;
    }
    w.flush()?;
    eprintln!("wrote {n} rows to {}", out.display());
    Ok(())
}
