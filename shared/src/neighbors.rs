//! Periodic neighbour lists by cell lists: every pair of sites closer than a cutoff radius, over all periodic images,
//! in time linear in the number of atoms for a fixed density. Also the k-nearest-within-radius view CGCNN uses.
//!
//! Images: a neighbour `j` with image `n` sits at fractional position `frac[j] + n` relative to the stored
//! (unwrapped) coordinates, the convention of pymatgen's `get_all_neighbors`. Pairs closer than 1e-8 A (a site and
//! itself, or two overlapping sites) are excluded, as pymatgen does.

use nalgebra::Vector3;
use thiserror::Error;

use crate::structure::Structure;

/// Pairs at or below this distance (A) are not neighbours (pymatgen's `numerical_tol`).
pub const SELF_TOLERANCE: f64 = 1e-8;
/// Refuse neighbour searches that would have to consider more image points than this (tiny or flat cells with a
/// large radius): they would exhaust memory rather than answer.
pub const MAX_IMAGE_POINTS: usize = 4_000_000;

/// One neighbour of a site.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    /// Site index of the neighbour.
    pub index: usize,
    /// Distance in A.
    pub distance: f64,
    /// Lattice translation of the neighbour's image.
    pub image: [i32; 3],
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum NeighborError {
    #[error("neighbour radius must be positive and finite, got {0}")]
    BadRadius(f64),
    #[error(
        "neighbour search over {points} image points is too large (cell volume {volume:.3e} A^3, radius {radius} A)"
    )]
    TooManyImages { points: usize, volume: f64, radius: f64 },
}

/// All neighbours within a radius, per site, each site's list sorted by (distance, index, image).
#[derive(Debug, Clone, PartialEq)]
pub struct NeighborList {
    radius: f64,
    offsets: Vec<usize>,
    neighbors: Vec<Neighbor>,
}

impl NeighborList {
    /// Every neighbour within `radius` (A, inclusive) of every site, by cell lists.
    pub fn build(structure: &Structure, radius: f64) -> Result<NeighborList, NeighborError> {
        build_cell_list(structure, radius)
    }

    /// The same list by checking every pair against every image in range: O(n^2 * images). A reference for tests
    /// and benchmarks.
    pub fn brute_force(structure: &Structure, radius: f64) -> Result<NeighborList, NeighborError> {
        check_radius(radius)?;
        let lattice = structure.lattice();
        let widths = lattice.perpendicular_widths();
        let frac = structure.frac_coords();
        let n = frac.len();
        let mut per_site = vec![Vec::new(); n];
        for (i, fi) in frac.iter().enumerate() {
            for (j, fj) in frac.iter().enumerate() {
                let d0 = fj - fi;
                // Image n is within reach only if |d0_k + n_k| * width_k <= radius for every axis.
                let lo: [i64; 3] = std::array::from_fn(|k| (-radius / widths[k] - d0[k]).floor() as i64);
                let hi: [i64; 3] = std::array::from_fn(|k| (radius / widths[k] - d0[k]).ceil() as i64);
                let count: i128 = (0..3).map(|k| (hi[k] - lo[k] + 1) as i128).product();
                if count.saturating_mul(n as i128 * n as i128) > MAX_IMAGE_POINTS as i128 * 20 {
                    return Err(NeighborError::TooManyImages {
                        points: count as usize,
                        volume: lattice.volume(),
                        radius,
                    });
                }
                for a in lo[0]..=hi[0] {
                    for b in lo[1]..=hi[1] {
                        for c in lo[2]..=hi[2] {
                            let v = Vector3::new(d0[0] + a as f64, d0[1] + b as f64, d0[2] + c as f64);
                            let d = lattice.to_cartesian(&v).norm();
                            if d <= radius && d > SELF_TOLERANCE {
                                per_site[i].push(Neighbor {
                                    index: j,
                                    distance: d,
                                    image: [a as i32, b as i32, c as i32],
                                });
                            }
                        }
                    }
                }
            }
        }
        Ok(NeighborList::from_per_site(radius, per_site))
    }

    fn from_per_site(radius: f64, mut per_site: Vec<Vec<Neighbor>>) -> NeighborList {
        let mut offsets = Vec::with_capacity(per_site.len() + 1);
        offsets.push(0);
        let total = per_site.iter().map(Vec::len).sum();
        let mut neighbors = Vec::with_capacity(total);
        for list in &mut per_site {
            list.sort_by(canonical_order);
            neighbors.extend_from_slice(list);
            offsets.push(neighbors.len());
        }
        NeighborList { radius, offsets, neighbors }
    }

    /// The cutoff radius (A).
    pub fn radius(&self) -> f64 {
        self.radius
    }
    /// Number of sites.
    pub fn num_sites(&self) -> usize {
        self.offsets.len() - 1
    }
    /// Number of directed pairs (i, j, image): each undirected bond counts twice.
    pub fn num_pairs(&self) -> usize {
        self.neighbors.len()
    }
    /// Neighbours of site `i`, nearest first.
    pub fn of(&self, i: usize) -> &[Neighbor] {
        &self.neighbors[self.offsets[i]..self.offsets[i + 1]]
    }
    /// Checks that `other` holds the same (site, neighbour, image) triples with distances within `tol` A; the
    /// error names the first difference.
    pub fn compare(&self, other: &NeighborList, tol: f64) -> Result<(), String> {
        if self.num_sites() != other.num_sites() {
            return Err(format!("{} sites vs {}", self.num_sites(), other.num_sites()));
        }
        for i in 0..self.num_sites() {
            let key = |n: &Neighbor| (n.index, n.image);
            let mut a = self.of(i).to_vec();
            let mut b = other.of(i).to_vec();
            a.sort_by_key(key);
            b.sort_by_key(key);
            if a.len() != b.len() {
                return Err(format!("site {i}: {} neighbours vs {}", a.len(), b.len()));
            }
            for (x, y) in a.iter().zip(&b) {
                if key(x) != key(y) || (x.distance - y.distance).abs() > tol {
                    return Err(format!("site {i}: {x:?} vs {y:?}"));
                }
            }
        }
        Ok(())
    }

    /// At most `k` nearest neighbours of site `i` within the radius (CGCNN's `max_num_nbr`), nearest first; among
    /// neighbours tied at the same distance the order is (index, image).
    pub fn k_nearest(&self, i: usize, k: usize) -> &[Neighbor] {
        let all = self.of(i);
        &all[..all.len().min(k)]
    }
}

/// Distances are compared on a 1e-9 A grid so that neighbours tied up to rounding noise are ordered by
/// (index, image) whichever way their distances were computed.
fn canonical_order(a: &Neighbor, b: &Neighbor) -> std::cmp::Ordering {
    let q = |d: f64| (d * 1e9).round() as i64;
    q(a.distance).cmp(&q(b.distance)).then(a.index.cmp(&b.index)).then(a.image.cmp(&b.image))
}

fn check_radius(radius: f64) -> Result<(), NeighborError> {
    if radius.is_finite() && radius > 0.0 {
        Ok(())
    } else {
        Err(NeighborError::BadRadius(radius))
    }
}

/// A fractional coordinate wrapped into [0, 1) and the integer shift that was removed.
fn wrap_with_shift(x: f64) -> (f64, i64) {
    let s = x.floor();
    let w = x - s;
    if w >= 1.0 {
        (0.0, s as i64 + 1)
    } else {
        (w, s as i64)
    }
}

fn build_cell_list(structure: &Structure, radius: f64) -> Result<NeighborList, NeighborError> {
    check_radius(radius)?;
    let lattice = structure.lattice();
    let n = structure.num_sites();
    let widths = lattice.perpendicular_widths();
    // Every point within `radius` of the unit cell lies in this fractional box.
    let reach: [f64; 3] = std::array::from_fn(|k| radius / widths[k]);
    let image_range: [f64; 3] = std::array::from_fn(|k| 2.0 * reach[k].ceil() + 2.0);
    let estimate = image_range.iter().fold(n as f64, |acc, r| acc * r);
    if !(estimate <= MAX_IMAGE_POINTS as f64) {
        return Err(NeighborError::TooManyImages {
            points: estimate.min(usize::MAX as f64) as usize,
            volume: lattice.volume(),
            radius,
        });
    }

    let mut wrapped = Vec::with_capacity(n);
    let mut shifts = Vec::with_capacity(n);
    for f in structure.frac_coords() {
        let (x, sx) = wrap_with_shift(f[0]);
        let (y, sy) = wrap_with_shift(f[1]);
        let (z, sz) = wrap_with_shift(f[2]);
        wrapped.push(Vector3::new(x, y, z));
        shifts.push([sx, sy, sz]);
    }

    // Image points: (site, image relative to the wrapped cell, Cartesian position).
    let mut points: Vec<(usize, [i32; 3], Vector3<f64>)> = Vec::new();
    for (j, f) in wrapped.iter().enumerate() {
        let lo: [i64; 3] = std::array::from_fn(|k| (-reach[k] - f[k]).floor() as i64);
        let hi: [i64; 3] = std::array::from_fn(|k| (1.0 + reach[k] - f[k]).ceil() as i64);
        for a in lo[0]..=hi[0] {
            let fa = f[0] + a as f64;
            if fa < -reach[0] || fa > 1.0 + reach[0] {
                continue;
            }
            for b in lo[1]..=hi[1] {
                let fb = f[1] + b as f64;
                if fb < -reach[1] || fb > 1.0 + reach[1] {
                    continue;
                }
                for c in lo[2]..=hi[2] {
                    let fc = f[2] + c as f64;
                    if fc < -reach[2] || fc > 1.0 + reach[2] {
                        continue;
                    }
                    let cart = lattice.to_cartesian(&Vector3::new(fa, fb, fc));
                    points.push((j, [a as i32, b as i32, c as i32], cart));
                }
            }
        }
    }

    let grid = Grid::new(&points, radius);
    let centers: Vec<Vector3<f64>> = wrapped.iter().map(|f| lattice.to_cartesian(f)).collect();
    let r2 = radius * radius;
    let mut per_site = vec![Vec::new(); n];
    for (i, ci) in centers.iter().enumerate() {
        let cell = grid.cell_of(ci);
        let reach = grid.reach;
        for dx in -reach..=reach {
            for dy in -reach..=reach {
                for dz in -reach..=reach {
                    let Some(bin) = grid.bin_index([cell[0] + dx, cell[1] + dy, cell[2] + dz]) else { continue };
                    for &p in grid.bin(bin) {
                        let (j, img, ref pos) = points[p as usize];
                        let d2 = (pos - ci).norm_squared();
                        if d2 > r2 {
                            continue;
                        }
                        let d = d2.sqrt();
                        if d <= SELF_TOLERANCE || d > radius {
                            continue;
                        }
                        let image: [i32; 3] =
                            std::array::from_fn(|k| (img[k] as i64 - shifts[j][k] + shifts[i][k]) as i32);
                        per_site[i].push(Neighbor { index: j, distance: d, image });
                    }
                }
            }
        }
    }
    Ok(NeighborList::from_per_site(radius, per_site))
}

/// A dense Cartesian grid of cubic bins, stored as counting-sorted point indices. Bins are half the radius wide
/// where that keeps the grid small (neighbours then lie in the 5^3 surrounding bins, a tighter cover of the sphere
/// than 3^3 bins of edge r), and grow when sparse points would leave most bins empty.
struct Grid {
    origin: Vector3<f64>,
    edge: f64,
    /// How many bins on each side of a point's bin can hold neighbours.
    reach: i64,
    dims: [i64; 3],
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl Grid {
    fn new(points: &[(usize, [i32; 3], Vector3<f64>)], radius: f64) -> Grid {
        let mut lo = Vector3::repeat(f64::INFINITY);
        let mut hi = Vector3::repeat(f64::NEG_INFINITY);
        for (_, _, p) in points {
            lo = lo.inf(p);
            hi = hi.sup(p);
        }
        if points.is_empty() {
            lo = Vector3::zeros();
            hi = Vector3::zeros();
        }
        let extent = hi - lo;
        // Bins no smaller than the radius; grown when sparse points would leave most bins empty.
        let max_bins = (points.len() as f64 * 2.0).max(1000.0);
        let bins_for = |e: f64| extent.iter().map(|x| (x / e).floor() + 1.0).product::<f64>();
        let (mut edge, reach) = if bins_for(radius / 2.0) <= max_bins { (radius / 2.0, 2) } else { (radius, 1) };
        while bins_for(edge) > max_bins {
            edge *= 1.26;
        }
        let dims: [i64; 3] = std::array::from_fn(|k| (extent[k] / edge).floor() as i64 + 1);
        let total = (dims[0] * dims[1] * dims[2]) as usize;
        let mut grid = Grid { origin: lo, edge, reach, dims, starts: vec![0; total + 1], items: vec![0; points.len()] };
        let bins: Vec<usize> = points.iter().map(|(_, _, p)| grid.bin_index(grid.cell_of(p)).unwrap_or(0)).collect();
        for &b in &bins {
            grid.starts[b + 1] += 1;
        }
        for b in 0..total {
            grid.starts[b + 1] += grid.starts[b];
        }
        let mut fill = grid.starts.clone();
        for (p, &b) in bins.iter().enumerate() {
            grid.items[fill[b] as usize] = p as u32;
            fill[b] += 1;
        }
        grid
    }

    fn cell_of(&self, p: &Vector3<f64>) -> [i64; 3] {
        std::array::from_fn(|k| {
            (((p[k] - self.origin[k]) / self.edge).floor() as i64).clamp(-self.reach, self.dims[k] + self.reach - 1)
        })
    }

    fn bin_index(&self, c: [i64; 3]) -> Option<usize> {
        if (0..3).any(|k| c[k] < 0 || c[k] >= self.dims[k]) {
            return None;
        }
        Some(((c[0] * self.dims[1] + c[1]) * self.dims[2] + c[2]) as usize)
    }

    fn bin(&self, b: usize) -> &[u32] {
        &self.items[self.starts[b] as usize..self.starts[b + 1] as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Element, Lattice};

    fn fcc_copper() -> Structure {
        let cu = Element::from_symbol("Cu").unwrap();
        let f = |x, y, z| Vector3::new(x, y, z);
        Structure::new(
            Lattice::cubic(3.61).unwrap(),
            vec![cu; 4],
            vec![f(0.0, 0.0, 0.0), f(0.5, 0.5, 0.0), f(0.5, 0.0, 0.5), f(0.0, 0.5, 0.5)],
        )
        .unwrap()
    }

    #[test]
    fn fcc_has_twelve_nearest_neighbours() {
        let s = fcc_copper();
        let nl = NeighborList::build(&s, 2.6).unwrap();
        for i in 0..4 {
            assert_eq!(nl.of(i).len(), 12);
            let d = 3.61 / 2f64.sqrt();
            assert!(nl.of(i).iter().all(|n| (n.distance - d).abs() < 1e-9));
        }
        nl.compare(&NeighborList::brute_force(&s, 2.6).unwrap(), 1e-9).unwrap();
    }

    #[test]
    fn images_are_relative_to_unwrapped_coordinates() {
        let na = Element::from_symbol("Na").unwrap();
        let l = Lattice::cubic(3.0).unwrap();
        let s =
            Structure::new(l, vec![na, na], vec![Vector3::new(-0.9, 0.0, 0.0), Vector3::new(1.3, 0.2, 0.0)]).unwrap();
        let nl = NeighborList::build(&s, 4.0).unwrap();
        for n in nl.of(0) {
            let pos = s.frac_coords()[n.index] + Vector3::new(n.image[0] as f64, n.image[1] as f64, n.image[2] as f64);
            let d = l.to_cartesian(&(pos - s.frac_coords()[0])).norm();
            assert!((d - n.distance).abs() < 1e-9);
        }
        nl.compare(&NeighborList::brute_force(&s, 4.0).unwrap(), 1e-9).unwrap();
    }

    #[test]
    fn rejects_bad_radius_and_absurd_cells() {
        let s = fcc_copper();
        assert!(matches!(NeighborList::build(&s, 0.0), Err(NeighborError::BadRadius(_))));
        assert!(matches!(NeighborList::build(&s, f64::NAN), Err(NeighborError::BadRadius(_))));
        let h = Element::from_symbol("H").unwrap();
        let tiny = Structure::new(Lattice::cubic(0.01).unwrap(), vec![h], vec![Vector3::zeros()]).unwrap();
        assert!(matches!(NeighborList::build(&tiny, 8.0), Err(NeighborError::TooManyImages { .. })));
    }
}
