//! How a crystal is represented for diffusion, and the noise schedules.
//!
//! - Lattice: `[ln(a/N^(1/3)), ln(b/N^(1/3)), ln(c/N^(1/3)), alpha, beta, gamma]` (angles in radians), standardised
//!   with [`LatticeStats`]; DDPM with the cosine schedule ([`alpha_bar`]) in continuous time t in [0, 1].
//! - Fractional coordinates: wrapped-normal VE diffusion, `sigma(t) = 0.005 * 100^t` ([`sigma_at`]); the training
//!   target is the wrapped-normal score ([`wrapped_normal_score`]) divided by `sqrt(E|score|^2)` ([`ScoreNorm`]).

use genms_shared::{Element, Lattice, Structure};
use serde::{Deserialize, Serialize};

use super::{DiffusionError, Result};

/// Smallest coordinate noise level (t = 0).
pub const SIGMA_BEGIN: f64 = 0.005;
/// Largest coordinate noise level (t = 1): close to uniform on the torus.
pub const SIGMA_END: f64 = 0.5;
/// Number of atom-type embeddings (Z = 1..=118; 0 is padding).
pub const NUM_ELEMENTS: usize = 120;
/// Decoded angles are clamped into this range (degrees).
pub const ANGLE_RANGE_DEG: (f64, f64) = (30.0, 150.0);

/// Coordinate noise level at time t.
pub fn sigma_at(t: f64) -> f64 {
    SIGMA_BEGIN * (SIGMA_END / SIGMA_BEGIN).powf(t)
}

/// Cosine-schedule signal level `alpha_bar(t)` (Nichol & Dhariwal, s = 0.008), clamped to [1e-4, 1].
pub fn alpha_bar(t: f64) -> f64 {
    let s = 0.008;
    let f = |u: f64| ((u + s) / (1.0 + s) * std::f64::consts::FRAC_PI_2).cos().powi(2);
    (f(t.clamp(0.0, 1.0)) / f(0.0)).clamp(1e-4, 1.0)
}

/// d/dx log N_W(x | x0, sigma^2) at displacement `d = x - x0`, summed over images k in -3..=3 (log-sum-exp stable).
pub fn wrapped_normal_score(d: f64, sigma: f64) -> f64 {
    let d = d - d.round();
    let s2 = sigma * sigma;
    let logw: Vec<f64> = (-3..=3).map(|k| -(d + k as f64).powi(2) / (2.0 * s2)).collect();
    let m = logw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (mut num, mut den) = (0.0, 0.0);
    for (k, lw) in (-3..=3).zip(&logw) {
        let w = (lw - m).exp();
        num += -(d + k as f64) / s2 * w;
        den += w;
    }
    num / den
}

/// `lambda(sigma) = E|score|^2` per coordinate under the wrapped normal, tabulated on a log-sigma grid by quadrature and
/// interpolated; the coordinate target is `score / sqrt(lambda)`.
#[derive(Debug, Clone)]
pub struct ScoreNorm {
    log_sigmas: Vec<f64>,
    values: Vec<f64>,
}

impl Default for ScoreNorm {
    fn default() -> Self {
        ScoreNorm::new()
    }
}

impl ScoreNorm {
    pub fn new() -> ScoreNorm {
        let n = 200;
        let (lo, hi) = (SIGMA_BEGIN.ln() - 0.1, SIGMA_END.ln() + 0.1);
        let mut log_sigmas = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            let ls = lo + (hi - lo) * i as f64 / (n - 1) as f64;
            let sigma = ls.exp();
            // Integrate p_W(d) s(d)^2 over one period around 0 (the density is negligible beyond 10 sigma).
            let r = (10.0 * sigma).min(0.5);
            let m = 1001;
            let (mut num, mut den) = (0.0, 0.0);
            for j in 0..m {
                let d = -r + 2.0 * r * j as f64 / (m - 1) as f64;
                let p: f64 = (-3..=3).map(|k| (-(d + k as f64).powi(2) / (2.0 * sigma * sigma)).exp()).sum();
                let s = wrapped_normal_score(d, sigma);
                num += p * s * s;
                den += p;
            }
            log_sigmas.push(ls);
            values.push(num / den);
        }
        ScoreNorm { log_sigmas, values }
    }

    /// `E|score|^2` at `sigma` (linear interpolation in ln sigma, clamped at the ends).
    pub fn lambda(&self, sigma: f64) -> f64 {
        let ls = sigma.ln();
        let n = self.log_sigmas.len();
        if ls <= self.log_sigmas[0] {
            return self.values[0];
        }
        if ls >= self.log_sigmas[n - 1] {
            return self.values[n - 1];
        }
        let step = self.log_sigmas[1] - self.log_sigmas[0];
        let f = (ls - self.log_sigmas[0]) / step;
        let i = (f.floor() as usize).min(n - 2);
        let w = f - i as f64;
        self.values[i] * (1.0 - w) + self.values[i + 1] * w
    }
}

/// Training-set mean and standard deviation of the raw lattice 6-vector.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatticeStats {
    pub mean: [f64; 6],
    pub std: [f64; 6],
}

impl LatticeStats {
    /// Mean/std over `items`, with the std floored (0.01) so constant components (e.g. right angles) stay finite.
    pub fn from_items(items: &[CrystalItem]) -> LatticeStats {
        let n = items.len().max(1) as f64;
        let mut mean = [0.0; 6];
        let mut std = [0.0; 6];
        for it in items {
            for (m, v) in mean.iter_mut().zip(it.lattice) {
                *m += v / n;
            }
        }
        for it in items {
            for ((s, v), m) in std.iter_mut().zip(it.lattice).zip(mean) {
                *s += (v - m).powi(2) / n;
            }
        }
        for s in std.iter_mut() {
            *s = s.sqrt().max(0.01);
        }
        LatticeStats { mean, std }
    }

    pub fn standardise(&self, raw: &[f64; 6]) -> [f64; 6] {
        std::array::from_fn(|i| (raw[i] - self.mean[i]) / self.std[i])
    }

    pub fn unstandardise(&self, z: &[f64; 6]) -> [f64; 6] {
        std::array::from_fn(|i| z[i] * self.std[i] + self.mean[i])
    }
}

/// One training crystal, preprocessed: atomic numbers, fractional coordinates in [0, 1), raw lattice 6-vector.
#[derive(Debug, Clone, PartialEq)]
pub struct CrystalItem {
    pub z: Vec<u32>,
    pub frac: Vec<[f64; 3]>,
    pub lattice: [f64; 6],
}

/// The raw (unstandardised) lattice 6-vector of a lattice holding `n` atoms.
pub fn encode_lattice(lattice: &Lattice, n: usize) -> [f64; 6] {
    let p = lattice.parameters();
    let scale = (n.max(1) as f64).cbrt();
    [
        (p[0] / scale).ln(),
        (p[1] / scale).ln(),
        (p[2] / scale).ln(),
        p[3].to_radians(),
        p[4].to_radians(),
        p[5].to_radians(),
    ]
}

/// The lattice of a raw 6-vector for `n` atoms: lengths exponentiated (clamped to 0.5..100 A), angles clamped into
/// [`ANGLE_RANGE_DEG`]; when the angles cannot close a cell, right angles are used instead.
pub fn decode_lattice(raw: &[f64; 6], n: usize) -> Lattice {
    let scale = (n.max(1) as f64).cbrt();
    let len = |x: f64| if x.is_finite() { (x.clamp(-5.0, 5.0).exp() * scale).clamp(0.5, 100.0) } else { scale };
    let ang = |x: f64| {
        if x.is_finite() {
            x.to_degrees().clamp(ANGLE_RANGE_DEG.0, ANGLE_RANGE_DEG.1)
        } else {
            90.0
        }
    };
    let (a, b, c) = (len(raw[0]), len(raw[1]), len(raw[2]));
    let (al, be, ga) = (ang(raw[3]), ang(raw[4]), ang(raw[5]));
    // The three angles close a cell iff the metric is positive definite.
    let (ca, cb, cg) = (al.to_radians().cos(), be.to_radians().cos(), ga.to_radians().cos());
    let det = 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg;
    let lat = if det > 1e-3 { Lattice::from_parameters(a, b, c, al, be, ga).ok() } else { None };
    lat.unwrap_or_else(|| {
        Lattice::from_parameters(a, b, c, 90.0, 90.0, 90.0)
            .unwrap_or_else(|_| Lattice::cubic(scale).expect("a positive cubic cell is valid"))
    })
}

impl CrystalItem {
    pub fn from_structure(s: &Structure) -> Result<CrystalItem> {
        if s.is_empty() {
            return Err(DiffusionError::Invalid("structure has no atoms".into()));
        }
        let z = s.species().iter().map(|e| e.z() as u32).collect();
        let frac = s.frac_coords().iter().map(|f| [wrap(f[0]), wrap(f[1]), wrap(f[2])]).collect();
        Ok(CrystalItem { z, frac, lattice: encode_lattice(s.lattice(), s.num_sites()) })
    }

    pub fn num_atoms(&self) -> usize {
        self.z.len()
    }

    /// Back to a structure (lattice decoded with [`decode_lattice`]).
    pub fn to_structure(&self) -> Result<Structure> {
        let species = self
            .z
            .iter()
            .map(|&z| Element::from_z(z).ok_or_else(|| DiffusionError::Invalid(format!("bad atomic number {z}"))))
            .collect::<Result<Vec<_>>>()?;
        let frac = self.frac.iter().map(|f| nalgebra::Vector3::new(f[0], f[1], f[2])).collect();
        Structure::new(decode_lattice(&self.lattice, self.z.len()), species, frac)
            .map_err(|e| DiffusionError::Invalid(e.to_string()))
    }
}

/// Wraps into [0, 1).
pub fn wrap(x: f64) -> f64 {
    let w = x - x.floor();
    if w >= 1.0 {
        0.0
    } else {
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_have_the_right_ends() {
        assert!((sigma_at(0.0) - SIGMA_BEGIN).abs() < 1e-12 && (sigma_at(1.0) - SIGMA_END).abs() < 1e-12);
        assert!((alpha_bar(0.0) - 1.0).abs() < 1e-12 && alpha_bar(1.0) <= 1e-4 + 1e-12);
        assert!(alpha_bar(0.3) > alpha_bar(0.6));
    }

    #[test]
    fn score_matches_the_gaussian_for_small_sigma_and_the_norm_table() {
        let s = 0.01;
        assert!((wrapped_normal_score(0.004, s) + 0.004 / (s * s)).abs() < 1e-6);
        // Periodic and odd.
        assert!((wrapped_normal_score(0.2, 0.3) - wrapped_normal_score(1.2, 0.3)).abs() < 1e-9);
        assert!((wrapped_normal_score(0.2, 0.3) + wrapped_normal_score(-0.2, 0.3)).abs() < 1e-9);
        let norm = ScoreNorm::new();
        let small = norm.lambda(SIGMA_BEGIN) * SIGMA_BEGIN * SIGMA_BEGIN;
        assert!((small - 1.0).abs() < 0.01, "E|s|^2 sigma^2 = {small}");
        // Near-uniform at sigma = 0.5: the score is small.
        assert!(norm.lambda(SIGMA_END) < 1.0 / (SIGMA_END * SIGMA_END));
    }

    #[test]
    fn lattice_round_trips() {
        let lat = Lattice::from_parameters(3.0, 4.0, 5.0, 80.0, 95.0, 110.0).unwrap();
        let raw = encode_lattice(&lat, 4);
        let back = decode_lattice(&raw, 4).parameters();
        for (x, y) in back.iter().zip(lat.parameters()) {
            assert!((x - y).abs() < 1e-9, "{back:?}");
        }
        // Impossible angles fall back to a valid cell.
        let bad = [0.0, 0.0, 0.0, 2.6, 2.6, 2.6];
        assert!(decode_lattice(&bad, 2).volume() > 0.0);
    }
}
