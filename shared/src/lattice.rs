//! Crystal lattices: three lattice vectors as the **rows** of a 3x3 matrix (pymatgen's convention), so a fractional
//! row vector `f` maps to Cartesian `f * M`.

use nalgebra::{Matrix3, Vector3};

use crate::error::CrystalError;

/// A 3D periodic lattice. Rows of `matrix` are the lattice vectors a, b, c in Angstrom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lattice {
    matrix: Matrix3<f64>,
    inv: Matrix3<f64>,
}

impl Lattice {
    /// A lattice from its row-vector matrix. Fails when the vectors are not finite or (nearly) coplanar.
    pub fn from_matrix(matrix: Matrix3<f64>) -> Result<Lattice, CrystalError> {
        if matrix.iter().any(|x| !x.is_finite()) {
            return Err(CrystalError::InvalidLattice("lattice matrix has a non-finite entry".into()));
        }
        let det = matrix.determinant();
        let scale = matrix.row(0).norm() * matrix.row(1).norm() * matrix.row(2).norm();
        if !(det.abs() > 1e-12 * scale.max(1e-300)) || det.abs() < 1e-30 {
            return Err(CrystalError::InvalidLattice(format!(
                "lattice vectors are (nearly) coplanar: volume {det:.3e} A^3"
            )));
        }
        let inv =
            matrix.try_inverse().ok_or_else(|| CrystalError::InvalidLattice("lattice matrix is singular".into()))?;
        Ok(Lattice { matrix, inv })
    }

    /// A lattice from rows `[[ax, ay, az], [bx, by, bz], [cx, cy, cz]]`.
    pub fn from_rows(rows: [[f64; 3]; 3]) -> Result<Lattice, CrystalError> {
        Lattice::from_matrix(Matrix3::from_row_slice(&[
            rows[0][0], rows[0][1], rows[0][2], rows[1][0], rows[1][1], rows[1][2], rows[2][0], rows[2][1], rows[2][2],
        ]))
    }

    /// A lattice from lengths (A) and angles (degrees), oriented exactly as pymatgen's `Lattice.from_parameters`
    /// (c along z, a in the xz plane), so Cartesian coordinates agree with pymatgen's.
    pub fn from_parameters(a: f64, b: f64, c: f64, alpha: f64, beta: f64, gamma: f64) -> Result<Lattice, CrystalError> {
        for (name, v) in [("a", a), ("b", b), ("c", c)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(CrystalError::InvalidLattice(format!("cell length {name} = {v} must be positive")));
            }
        }
        for (name, v) in [("alpha", alpha), ("beta", beta), ("gamma", gamma)] {
            if !(v.is_finite() && v > 0.0 && v < 180.0) {
                return Err(CrystalError::InvalidLattice(format!(
                    "cell angle {name} = {v} must be strictly between 0 and 180 degrees"
                )));
            }
        }
        let (al, be, ga) = (alpha.to_radians(), beta.to_radians(), gamma.to_radians());
        let (ca, cb, cg) = (al.cos(), be.cos(), ga.cos());
        let (sa, sb) = (al.sin(), be.sin());
        let val = ((ca * cb - cg) / (sa * sb)).clamp(-1.0, 1.0);
        let gamma_star = val.acos();
        Lattice::from_rows([
            [a * sb, 0.0, a * cb],
            [-b * sa * gamma_star.cos(), b * sa * gamma_star.sin(), b * ca],
            [0.0, 0.0, c],
        ])
    }

    /// A cubic lattice of edge `a`.
    pub fn cubic(a: f64) -> Result<Lattice, CrystalError> {
        Lattice::from_rows([[a, 0.0, 0.0], [0.0, a, 0.0], [0.0, 0.0, a]])
    }

    /// The row-vector matrix.
    pub fn matrix(&self) -> &Matrix3<f64> {
        &self.matrix
    }

    /// The matrix as nested rows.
    pub fn rows(&self) -> [[f64; 3]; 3] {
        let m = &self.matrix;
        [[m[(0, 0)], m[(0, 1)], m[(0, 2)]], [m[(1, 0)], m[(1, 1)], m[(1, 2)]], [m[(2, 0)], m[(2, 1)], m[(2, 2)]]]
    }

    /// Lattice vector `i` (0 = a, 1 = b, 2 = c).
    pub fn vector(&self, i: usize) -> Vector3<f64> {
        self.matrix.row(i).transpose()
    }

    /// Lengths a, b, c (A).
    pub fn lengths(&self) -> [f64; 3] {
        [self.vector(0).norm(), self.vector(1).norm(), self.vector(2).norm()]
    }

    /// Angles alpha (b,c), beta (a,c), gamma (a,b) in degrees.
    pub fn angles(&self) -> [f64; 3] {
        let ang =
            |u: Vector3<f64>, v: Vector3<f64>| (u.dot(&v) / (u.norm() * v.norm())).clamp(-1.0, 1.0).acos().to_degrees();
        let (a, b, c) = (self.vector(0), self.vector(1), self.vector(2));
        [ang(b, c), ang(a, c), ang(a, b)]
    }

    /// (a, b, c, alpha, beta, gamma).
    pub fn parameters(&self) -> [f64; 6] {
        let [a, b, c] = self.lengths();
        let [al, be, ga] = self.angles();
        [a, b, c, al, be, ga]
    }

    /// Cell volume in A^3 (always positive, whatever the handedness).
    pub fn volume(&self) -> f64 {
        self.matrix.determinant().abs()
    }

    /// Fractional -> Cartesian.
    pub fn to_cartesian(&self, frac: &Vector3<f64>) -> Vector3<f64> {
        (frac.transpose() * self.matrix).transpose()
    }

    /// Cartesian -> fractional.
    pub fn to_fractional(&self, cart: &Vector3<f64>) -> Vector3<f64> {
        (cart.transpose() * self.inv).transpose()
    }

    /// Reciprocal lattice **with** the 2*pi factor (rows are b1, b2, b3), as pymatgen's `reciprocal_lattice`.
    pub fn reciprocal(&self) -> Lattice {
        self.reciprocal_crystallographic().scaled_by(2.0 * std::f64::consts::PI)
    }

    /// Reciprocal lattice without the 2*pi factor: rows `r_i` with `a_i . r_j = delta_ij`.
    pub fn reciprocal_crystallographic(&self) -> Lattice {
        let m = self.inv.transpose();
        Lattice { matrix: m, inv: self.matrix.transpose() }
    }

    fn scaled_by(&self, s: f64) -> Lattice {
        Lattice { matrix: self.matrix * s, inv: self.inv / s }
    }

    /// Distances between opposite faces of the cell (A): `volume / |b x c|` etc. A sphere of radius r fits in the
    /// cell repeated `ceil(r / d_i)` times along axis i, which is how neighbour searches bound their image range.
    pub fn perpendicular_widths(&self) -> [f64; 3] {
        let r = self.reciprocal_crystallographic();
        let l = r.lengths();
        [1.0 / l[0], 1.0 / l[1], 1.0 / l[2]]
    }

    /// An LLL-reduced basis of the same lattice (delta 3/4) and the integer matrix `u` with `reduced = u * self`
    /// (rows are vectors). Reduced vectors are short and nearly orthogonal, so image searches in the reduced basis
    /// stay small even for a very skewed input cell.
    pub fn lll_reduced(&self) -> (Lattice, Matrix3<f64>) {
        let mut b = [self.vector(0), self.vector(1), self.vector(2)];
        let mut u = Matrix3::<f64>::identity();
        let gram_schmidt = |b: &[Vector3<f64>; 3]| {
            let mut bs = *b;
            let mut mu = [[0.0f64; 3]; 3];
            for i in 0..3 {
                for j in 0..i {
                    mu[i][j] = b[i].dot(&bs[j]) / bs[j].norm_squared().max(f64::MIN_POSITIVE);
                    bs[i] -= bs[j] * mu[i][j];
                }
            }
            (bs, mu)
        };
        let mut k = 1;
        // Each swap shrinks a positive potential; the cap only guards against NaN input.
        for _ in 0..10_000 {
            if k >= 3 {
                break;
            }
            for j in (0..k).rev() {
                let (_, mu) = gram_schmidt(&b);
                let q = mu[k][j].round();
                if q != 0.0 {
                    b[k] -= b[j] * q;
                    let row_j = u.row(j).into_owned();
                    let new_row = u.row(k) - row_j * q;
                    u.set_row(k, &new_row);
                }
            }
            let (bs, mu) = gram_schmidt(&b);
            if bs[k].norm_squared() >= (0.75 - mu[k][k - 1] * mu[k][k - 1]) * bs[k - 1].norm_squared() {
                k += 1;
            } else {
                b.swap(k, k - 1);
                u.swap_rows(k, k - 1);
                k = (k - 1).max(1);
            }
        }
        let m = Matrix3::from_rows(&[b[0].transpose(), b[1].transpose(), b[2].transpose()]);
        let reduced = Lattice::from_matrix(m).unwrap_or(*self);
        (reduced, u)
    }

    /// The lattice of a supercell: row i of `scaling` (integer) gives new vector i in units of the old ones.
    pub fn supercell(&self, scaling: &[[i32; 3]; 3]) -> Result<Lattice, CrystalError> {
        let s = Matrix3::from_fn(|i, j| scaling[i][j] as f64);
        Lattice::from_matrix(s * self.matrix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_round_trip_for_a_triclinic_cell() {
        let l = Lattice::from_parameters(3.1, 4.7, 5.9, 77.0, 95.5, 101.2).unwrap();
        let p = l.parameters();
        for (x, y) in p.iter().zip([3.1, 4.7, 5.9, 77.0, 95.5, 101.2]) {
            assert!((x - y).abs() < 1e-10, "{p:?}");
        }
        let f = Vector3::new(0.1, -0.7, 1.3);
        let back = l.to_fractional(&l.to_cartesian(&f));
        assert!((back - f).norm() < 1e-12);
    }

    #[test]
    fn pymatgen_orientation_and_volume() {
        // pymatgen: Lattice.from_parameters(4, 5, 6, 90, 90, 90).matrix == [[4,0,0],[0,5,0],[0,0,6]] (to rounding)
        let l = Lattice::from_parameters(4.0, 5.0, 6.0, 90.0, 90.0, 90.0).unwrap();
        let r = l.rows();
        assert!((r[0][0] - 4.0).abs() < 1e-12 && r[0][2].abs() < 1e-12);
        assert!((r[1][1] - 5.0).abs() < 1e-12 && (r[2][2] - 6.0).abs() < 1e-12);
        assert!((l.volume() - 120.0).abs() < 1e-9);
    }

    #[test]
    fn reciprocal_is_dual() {
        let l = Lattice::from_parameters(3.0, 4.0, 5.0, 70.0, 80.0, 100.0).unwrap();
        let r = l.reciprocal_crystallographic();
        for i in 0..3 {
            for j in 0..3 {
                let d = l.vector(i).dot(&r.vector(j));
                assert!((d - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
        assert!((l.reciprocal().volume() - (2.0 * std::f64::consts::PI).powi(3) / l.volume()).abs() < 1e-9);
    }

    #[test]
    fn rejects_bad_cells() {
        assert!(Lattice::from_parameters(0.0, 1.0, 1.0, 90.0, 90.0, 90.0).is_err());
        assert!(Lattice::from_parameters(1.0, 1.0, 1.0, 180.0, 90.0, 90.0).is_err());
        assert!(Lattice::from_rows([[1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 1.0]]).is_err());
        assert!(Lattice::from_rows([[f64::NAN, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).is_err());
    }
}
