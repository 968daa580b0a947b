//! Periodic crystal structures: a lattice, and sites with an element and fractional coordinates (site order kept).
//! Distances here are minimum-image distances that stay exact for strongly skewed cells.

use nalgebra::{Matrix3, Vector3};

use crate::element::Element;
use crate::error::CrystalError;
use crate::lattice::Lattice;

/// An ordered periodic crystal: every site holds exactly one element.
#[derive(Debug, Clone, PartialEq)]
pub struct Structure {
    lattice: Lattice,
    species: Vec<Element>,
    frac_coords: Vec<Vector3<f64>>,
}

impl Structure {
    /// A structure from its lattice, species and fractional coordinates (same length, finite coordinates).
    /// Coordinates are kept as given (not wrapped into [0, 1)).
    pub fn new(
        lattice: Lattice,
        species: Vec<Element>,
        frac_coords: Vec<Vector3<f64>>,
    ) -> Result<Structure, CrystalError> {
        if species.len() != frac_coords.len() {
            return Err(CrystalError::InvalidStructure(format!(
                "{} species but {} coordinate triples",
                species.len(),
                frac_coords.len()
            )));
        }
        if let Some(i) = frac_coords.iter().position(|f| f.iter().any(|x| !x.is_finite())) {
            return Err(CrystalError::InvalidStructure(format!("site {i} has a non-finite coordinate")));
        }
        Ok(Structure { lattice, species, frac_coords })
    }

    /// A structure from Cartesian coordinates (A).
    pub fn from_cartesian(
        lattice: Lattice,
        species: Vec<Element>,
        cart_coords: &[Vector3<f64>],
    ) -> Result<Structure, CrystalError> {
        let frac = cart_coords.iter().map(|c| lattice.to_fractional(c)).collect();
        Structure::new(lattice, species, frac)
    }

    pub fn lattice(&self) -> &Lattice {
        &self.lattice
    }
    pub fn species(&self) -> &[Element] {
        &self.species
    }
    pub fn frac_coords(&self) -> &[Vector3<f64>] {
        &self.frac_coords
    }
    /// Number of sites (atoms) in the cell.
    pub fn num_sites(&self) -> usize {
        self.species.len()
    }
    pub fn is_empty(&self) -> bool {
        self.species.is_empty()
    }
    pub fn volume(&self) -> f64 {
        self.lattice.volume()
    }

    /// Cartesian coordinates of every site (A).
    pub fn cart_coords(&self) -> Vec<Vector3<f64>> {
        self.frac_coords.iter().map(|f| self.lattice.to_cartesian(f)).collect()
    }

    /// Density in g/cm^3.
    pub fn density(&self) -> f64 {
        let mass: f64 = self.species.iter().map(|e| e.mass()).sum();
        // 1 u / A^3 = 1.66053906660 g/cm^3
        mass * 1.660_539_066_60 / self.volume()
    }

    /// The same structure with every coordinate wrapped into [0, 1).
    pub fn wrapped(&self) -> Structure {
        let frac = self.frac_coords.iter().map(|f| f.map(wrap_unit)).collect();
        Structure { lattice: self.lattice, species: self.species.clone(), frac_coords: frac }
    }

    /// Minimum-image distance between sites `i` and `j` (A); 0 for `i == j`.
    pub fn distance(&self, i: usize, j: usize) -> f64 {
        min_image_distance(&self.lattice, &(self.frac_coords[j] - self.frac_coords[i]))
    }

    /// All minimum-image distances (A), `n x n`, zero diagonal (an atom's own periodic images are not considered,
    /// as in pymatgen's `distance_matrix`).
    pub fn distance_matrix(&self) -> Vec<Vec<f64>> {
        let n = self.num_sites();
        (0..n).map(|i| (0..n).map(|j| if i == j { 0.0 } else { self.distance(i.min(j), i.max(j)) }).collect()).collect()
    }

    /// Smallest minimum-image distance between two different sites (A); `None` for fewer than two sites.
    pub fn min_pairwise_distance(&self) -> Option<f64> {
        let n = self.num_sites();
        let mut best: Option<f64> = None;
        for i in 0..n {
            for j in (i + 1)..n {
                let x = self.distance(i, j);
                best = Some(best.map_or(x, |b| b.min(x)));
            }
        }
        best
    }

    /// A supercell: row i of `scaling` gives new lattice vector i as integer multiples of the old a, b, c
    /// (e.g. `[[2,0,0],[0,2,0],[0,0,1]]`). Sites keep their order by original site, then by lattice translation;
    /// coordinates are wrapped into [0, 1) (as pymatgen's `make_supercell`).
    pub fn supercell(&self, scaling: &[[i32; 3]; 3]) -> Result<Structure, CrystalError> {
        let s = Matrix3::from_fn(|i, j| scaling[i][j] as f64);
        let det = s.determinant().round();
        if det.abs() < 0.5 {
            return Err(CrystalError::InvalidStructure("supercell matrix is singular".into()));
        }
        let n_cells = det.abs() as usize;
        if n_cells.saturating_mul(self.num_sites()) > 10_000_000 {
            return Err(CrystalError::InvalidStructure(format!(
                "supercell of {n_cells} cells x {} sites is too large",
                self.num_sites()
            )));
        }
        let lattice = self.lattice.supercell(scaling)?;
        // Translations of the old lattice inside the new cell: integer points t with t * S^-1 in [0, 1)^3.
        let s_inv = s.try_inverse().ok_or_else(|| CrystalError::InvalidStructure("singular supercell".into()))?;
        let mut lo = [i64::MAX; 3];
        let mut hi = [i64::MIN; 3];
        for corner in 0..8 {
            let c = Vector3::new((corner & 1) as f64, ((corner >> 1) & 1) as f64, ((corner >> 2) & 1) as f64);
            let p = (c.transpose() * s).transpose();
            for k in 0..3 {
                lo[k] = lo[k].min(p[k].floor() as i64);
                hi[k] = hi[k].max(p[k].ceil() as i64);
            }
        }
        let mut translations = Vec::with_capacity(n_cells);
        for x in lo[0]..=hi[0] {
            for y in lo[1]..=hi[1] {
                for z in lo[2]..=hi[2] {
                    let t = Vector3::new(x as f64, y as f64, z as f64);
                    let f = (t.transpose() * s_inv).transpose();
                    if f.iter().all(|v| *v > -1e-8 && *v < 1.0 - 1e-8) {
                        translations.push(t);
                    }
                }
            }
        }
        debug_assert_eq!(translations.len(), n_cells);
        let mut species = Vec::with_capacity(n_cells * self.num_sites());
        let mut frac = Vec::with_capacity(n_cells * self.num_sites());
        for (el, f) in self.species.iter().zip(&self.frac_coords) {
            for t in &translations {
                species.push(*el);
                frac.push((((f + t).transpose()) * s_inv).transpose().map(wrap_unit));
            }
        }
        Structure::new(lattice, species, frac)
    }
}

/// Wrap a fractional coordinate into [0, 1). Values that round to 1.0 become 0.0.
pub fn wrap_unit(x: f64) -> f64 {
    let w = x - x.floor();
    if w >= 1.0 {
        0.0
    } else {
        w
    }
}

/// Length of the shortest lattice translate of the fractional displacement `df` (A). Exact for any cell shape:
/// starting from the wrapped displacement, it searches every image that could be shorter, bounded by the distances
/// between opposite cell faces.
pub fn min_image_distance(lattice: &Lattice, df: &Vector3<f64>) -> f64 {
    let widths = lattice.perpendicular_widths();
    let lengths = lattice.lengths();
    // A skewed cell (thin between two faces) would make the image box below huge: search in an LLL-reduced basis
    // of the same lattice instead, where the box is small. Fractional vectors transform as f' = f u^-1.
    if widths.iter().zip(&lengths).any(|(w, l)| !(*w > 0.25 * l)) {
        let (reduced, u) = lattice.lll_reduced();
        if let Some(u_inv) = u.try_inverse() {
            let f = (df.transpose() * u_inv).transpose();
            if reduced.perpendicular_widths().iter().all(|w| *w > 0.0) {
                return min_image_distance_in(&reduced, &f);
            }
        }
    }
    min_image_distance_in(lattice, df)
}

fn min_image_distance_in(lattice: &Lattice, df: &Vector3<f64>) -> f64 {
    let base = df.map(|x| x - x.round());
    let mut best = lattice.to_cartesian(&base).norm();
    let widths = lattice.perpendicular_widths();
    if !best.is_finite() || widths.iter().any(|w| !(*w > 0.0)) {
        return best;
    }
    // Component k of an image's fractional vector, times width_k, bounds its length from below; so only images with
    // |base_k + n_k| <= best / width_k can be shorter.
    let lo: [i64; 3] = std::array::from_fn(|k| (-best / widths[k] - base[k]).ceil() as i64);
    let hi: [i64; 3] = std::array::from_fn(|k| (best / widths[k] - base[k]).floor() as i64);
    for i in lo[0]..=hi[0] {
        for j in lo[1]..=hi[1] {
            for k in lo[2]..=hi[2] {
                let v = Vector3::new(base[0] + i as f64, base[1] + j as f64, base[2] + k as f64);
                let d = lattice.to_cartesian(&v).norm();
                if d < best {
                    best = d;
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_image_distance_is_the_same_in_a_very_skewed_basis_of_the_same_lattice() {
        let cubic = Lattice::cubic(3.0).unwrap();
        // Rows: a, b, and 7a + 5b + c — the same lattice, a cell 0.1 % as thick as it is long.
        let skewed = Lattice::from_rows([[3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [21.0, 15.0, 3.0]]).unwrap();
        for df in [Vector3::new(0.1, 0.2, 0.3), Vector3::new(0.5, 0.5, 0.5), Vector3::new(0.9, 0.05, 0.45)] {
            // The same Cartesian displacement, expressed in each basis.
            let cart = cubic.to_cartesian(&df);
            let in_skewed = skewed.to_fractional(&cart);
            let expect = min_image_distance(&cubic, &df);
            let got = min_image_distance(&skewed, &in_skewed);
            assert!((expect - got).abs() < 1e-9, "{df:?}: {expect} vs {got}");
        }
        let (reduced, u) = skewed.lll_reduced();
        assert!((reduced.volume() - 27.0).abs() < 1e-9);
        assert!(reduced.lengths().iter().all(|l| (l - 3.0).abs() < 1e-9), "{:?}", reduced.lengths());
        assert!((u.determinant().abs() - 1.0).abs() < 1e-9);
    }

    fn el(s: &str) -> Element {
        Element::from_symbol(s).unwrap()
    }

    #[test]
    fn rock_salt_distances() {
        let l = Lattice::cubic(4.0).unwrap();
        let s =
            Structure::new(l, vec![el("Na"), el("Cl")], vec![Vector3::zeros(), Vector3::new(0.5, 0.5, 0.5)]).unwrap();
        assert!((s.distance(0, 1) - (3.0f64).sqrt() * 2.0).abs() < 1e-12);
        assert_eq!(s.min_pairwise_distance(), Some(s.distance(0, 1)));
    }

    #[test]
    fn skewed_cell_finds_the_true_minimum_image() {
        // A very oblique cell: a = (1,0,0), b = (10,1,0), c = (0,0,1). Two atoms at the same Cartesian point up to
        // the lattice vector b - 10a = (0,1,0): their distance is 0.3, which naive +-1 image searches miss.
        let l = Lattice::from_rows([[1.0, 0.0, 0.0], [10.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).unwrap();
        let a = Vector3::new(0.0, 0.0, 0.0);
        let cart_b = Vector3::new(0.0, 0.3, 0.0);
        let b = l.to_fractional(&cart_b);
        let s = Structure::new(l, vec![el("C"), el("C")], vec![a, b]).unwrap();
        assert!((s.distance(0, 1) - 0.3).abs() < 1e-12, "{}", s.distance(0, 1));
    }

    #[test]
    fn supercell_multiplies_sites_and_volume() {
        let l = Lattice::from_parameters(3.0, 3.5, 4.0, 80.0, 95.0, 105.0).unwrap();
        let s =
            Structure::new(l, vec![el("Si"), el("O")], vec![Vector3::new(0.1, 0.2, 0.3), Vector3::new(0.6, 0.5, 0.9)])
                .unwrap();
        let sc = s.supercell(&[[1, 1, 0], [-1, 1, 0], [0, 0, 2]]).unwrap();
        assert_eq!(sc.num_sites(), 2 * 4);
        assert!((sc.volume() - 4.0 * s.volume()).abs() < 1e-9);
        assert!(
            (sc.min_pairwise_distance().unwrap() - s.min_pairwise_distance().unwrap().min(3.0)).abs() < 1e-9
                || sc.min_pairwise_distance().unwrap() <= s.min_pairwise_distance().unwrap() + 1e-9
        );
        assert!(sc.frac_coords().iter().all(|f| f.iter().all(|x| *x > -1e-8 && *x < 1.0)));
    }

    #[test]
    fn rejects_mismatched_input() {
        let l = Lattice::cubic(3.0).unwrap();
        assert!(Structure::new(l, vec![el("Fe")], vec![]).is_err());
        assert!(Structure::new(l, vec![el("Fe")], vec![Vector3::new(f64::NAN, 0.0, 0.0)]).is_err());
    }
}
