//! Fused element-wise kernels of the CGCNN forward pass.
//!
//! On the CPU they run as candle custom ops (one pass over memory instead of five); on other devices they fall back
//! to compositions of candle's built-in ops, so the model runs wherever candle does.

use candle_core::{CpuStorage, CustomOp1, CustomOp3, Layout, Result, Shape, Tensor};

/// `exp(x)` in f32 without libm calls, so loops over it vectorise: range reduction `x = n ln2 + r` (round to
/// nearest by the 1.5 * 2^23 trick, which needs no SSE4.1), a degree-7 Taylor polynomial for `exp(r)` on
/// |r| <= ln2/2 (relative error < 2e-7, below f32 rounding of the sums that follow), and `2^n` built from bits.
#[inline(always)]
fn fast_exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * scale
}

/// `ln(1 + y)` for `y` in [0, 1] without libm calls: `2 atanh(s)` with `s = y / (2 + y)` in [0, 1/3], summed to
/// `s^15` (truncation < 5e-9); exact to f32 precision, including for tiny `y`.
#[inline(always)]
fn fast_ln1p_unit(y: f32) -> f32 {
    let s = y / (2.0 + y);
    let s2 = s * s;
    let series = 1.0
        + s2 * (1.0 / 3.0
            + s2 * (1.0 / 5.0
                + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0 + s2 * (1.0 / 15.0)))))));
    2.0 * s * series
}

/// PyTorch's `Softplus()` (beta 1, threshold 20) as `max(x, 0) + ln(1 + exp(-|x|))`; above the threshold the two
/// differ by less than 3e-9.
#[inline(always)]
fn softplus_f32(x: f32) -> f32 {
    x.max(0.0) + fast_ln1p_unit(fast_exp(-x.abs()))
}

#[inline(always)]
fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + fast_exp(-x))
}

/// Work split over at most this many threads (the scorer's CPU budget is small; inputs are small too).
fn worker_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, name: &str) -> Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(d) => d,
        _ => candle_core::bail!("{name}: only f32 is supported"),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{name}: input must be contiguous"),
    }
}

struct Softplus;

impl CustomOp1 for Softplus {
    fn name(&self) -> &'static str {
        "cgcnn-softplus"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let out: Vec<f32> = x.iter().map(|&v| softplus_f32(v)).collect();
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// The edge block of one conv layer's `fc_full` (bn1 folded): `(F, 2A)` weights and `(2A,)` bias, with host copies
/// for the fused CPU kernel.
#[derive(Debug)]
pub struct EdgeWeights {
    w: Tensor,
    b: Tensor,
    host_w: Vec<f32>,
    host_b: Vec<f32>,
}

impl EdgeWeights {
    /// `w`: `(F, 2A)`, `b`: `(2A,)`.
    pub fn new(w: Tensor, b: Tensor) -> Result<Self> {
        let host_w = w.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        let host_b = b.to_dtype(candle_core::DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(EdgeWeights { w, b, host_w, host_b })
    }
}

/// One CGCNN conv layer's gated neighbour sum straight from its inputs, without materialising per-edge tensors:
/// `out[i] = sum_j sigmoid(g[..A]) * softplus(g[A..])` with
/// `g = self_part[i] + nbr_part[nbr_idx[i, j]] + edge_fea[i * M + j] @ W + b`.
/// Inputs: `pq` = `(N, 4A)` (self part in columns `0..2A`, neighbour part in `2A..4A`), `edge_fea` = `(N * M, F)`,
/// `nbr_idx` = `(N * M,)` u32. Projecting the edge features here, per layer, avoids allocating an `(N * M, 2A)`
/// buffer per layer: on the CPU the page faults of those fresh buffers cost more than the arithmetic.
struct GatedConv<'w> {
    weights: &'w EdgeWeights,
    m: usize,
}

impl CustomOp3 for GatedConv<'_> {
    fn name(&self) -> &'static str {
        "cgcnn-gated-conv"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let pq = contiguous_f32(s1, l1, self.name())?;
        let fea = contiguous_f32(s2, l2, self.name())?;
        let idx = match (s3, l3.contiguous_offsets()) {
            (CpuStorage::U32(d), Some((start, end))) => &d[start..end],
            _ => candle_core::bail!("{}: nbr_idx must be contiguous u32", self.name()),
        };
        let (n, four_a) = l1.shape().dims2()?;
        let (edges, f) = l2.shape().dims2()?;
        let (a, two_a, m) = (four_a / 4, four_a / 2, self.m);
        let (w, b) = (&self.weights.host_w[..], &self.weights.host_b[..]);
        if edges != n * m || idx.len() != n * m || w.len() != f * two_a || b.len() != two_a {
            candle_core::bail!("{}: inconsistent shapes", self.name());
        }
        if let Some(&bad) = idx.iter().find(|&&j| j as usize >= n) {
            candle_core::bail!("{}: neighbour index {bad} out of range for {n} atoms", self.name());
        }
        let rows = ConvRows { pq, fea, idx, w, b, a, m, f };
        let mut out = vec![0f32; n * a];
        let conv_atoms = |first_atom: usize, out: &mut [f32]| rows.run(first_atom, out);
        let threads = worker_threads().min(n.div_ceil(256)).max(1);
        if threads == 1 || a == 0 {
            conv_atoms(0, &mut out);
        } else {
            let per = n.div_ceil(threads);
            std::thread::scope(|scope| {
                for (t, chunk) in out.chunks_mut(per * a).enumerate() {
                    let conv_atoms = &conv_atoms;
                    scope.spawn(move || conv_atoms(t * per, chunk));
                }
            });
        }
        Ok((CpuStorage::F32(out), Shape::from((n, a))))
    }
}

/// Edge-feature values below this are skipped in the edge projection (weights are O(1), so each skipped term is
/// below 1e-9 while the sums it would join are O(1)).
const NEGLIGIBLE_FEATURE: f32 = 1e-9;

/// The inputs of [`GatedConv`] for one pass over a range of atoms.
struct ConvRows<'a> {
    pq: &'a [f32],
    fea: &'a [f32],
    idx: &'a [u32],
    w: &'a [f32],
    b: &'a [f32],
    a: usize,
    m: usize,
    f: usize,
}

impl ConvRows<'_> {
    /// Fills `out` (atoms `first_atom..`, `A` values each), with AVX2 + FMA where the CPU has them: the build
    /// targets baseline x86-64, and the gate's exp/softplus polynomials are most of this model's arithmetic.
    fn run(&self, first_atom: usize, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features this function is compiled for (checked just above).
            unsafe { self.run_avx2(first_atom, out) };
            return;
        }
        self.run_portable(first_atom, out);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, first_atom: usize, out: &mut [f32]) {
        self.run_portable(first_atom, out);
    }

    #[inline(always)]
    fn run_portable(&self, first_atom: usize, out: &mut [f32]) {
        let (a, m) = (self.a, self.m);
        let (two_a, four_a) = (2 * a, 4 * a);
        let mut g = vec![0f32; two_a];
        for (k, o) in out.chunks_exact_mut(a).enumerate() {
            let i = first_atom + k;
            let own = &self.pq[i * four_a..i * four_a + two_a];
            for j in 0..m {
                let e = i * m + j;
                let nb = self.idx[e] as usize;
                let theirs = &self.pq[nb * four_a + two_a..(nb + 1) * four_a];
                for (((g, &x), &y), &z) in g.iter_mut().zip(own).zip(theirs).zip(self.b) {
                    *g = x + y + z;
                }
                for (&fk, wk) in self.fea[e * self.f..(e + 1) * self.f].iter().zip(self.w.chunks_exact(two_a)) {
                    // Gaussian features are ~0 except within ~0.9 A of their centre (about 9 of 41): terms below
                    // NEGLIGIBLE_FEATURE change g by less than f32 rounding of its O(1) entries.
                    if fk.abs() < NEGLIGIBLE_FEATURE {
                        continue;
                    }
                    for (g, &wkc) in g.iter_mut().zip(wk) {
                        *g += fk * wkc;
                    }
                }
                let (filter, core) = g.split_at(a);
                for ((o, &f), &c) in o.iter_mut().zip(filter).zip(core) {
                    *o += sigmoid_f32(f) * softplus_f32(c);
                }
            }
        }
    }
}

/// The gated neighbour sum of one conv layer from the per-atom projections `pq` (`(N, 4A)`: self block, then
/// neighbour block), the Gaussian edge features `edge_fea` (`(N * M, F)`) and `nbr_idx` (`(N * M,)`): `(N, A)`.
pub fn gated_conv(pq: &Tensor, edge_fea: &Tensor, nbr_idx: &Tensor, edge: &EdgeWeights, m: usize) -> Result<Tensor> {
    if pq.device().is_cpu() && pq.dtype() == candle_core::DType::F32 && edge_fea.dtype() == candle_core::DType::F32 {
        pq.contiguous()?.apply_op3_no_bwd(
            &edge_fea.contiguous()?,
            &nbr_idx.contiguous()?,
            &GatedConv { weights: edge, m },
        )
    } else {
        gated_conv_generic(pq, edge_fea, nbr_idx, edge, m)
    }
}

/// [`gated_conv`] composed of candle ops (any device).
fn gated_conv_generic(
    pq: &Tensor,
    edge_fea: &Tensor,
    nbr_idx: &Tensor,
    edge: &EdgeWeights,
    m: usize,
) -> Result<Tensor> {
    let (n, four_a) = pq.dims2()?;
    let (a, two_a) = (four_a / 4, four_a / 2);
    let p = pq.narrow(1, 0, two_a)?;
    let q = pq.narrow(1, two_a, two_a)?.contiguous()?;
    let e = edge_fea.matmul(&edge.w)?.broadcast_add(&edge.b)?;
    let gated = q.index_select(nbr_idx, 0)?.add(&e)?;
    let gated = gated.reshape((n, m, two_a))?.broadcast_add(&p.unsqueeze(1)?)?;
    let filter = candle_nn::ops::sigmoid(&gated.narrow(2, 0, a)?)?;
    let core = softplus_generic(&gated.narrow(2, a, a)?)?;
    (filter * core)?.sum(1)
}

fn softplus_generic(x: &Tensor) -> Result<Tensor> {
    // max(x, 0) + log(1 + exp(-|x|)): stable, equal to PyTorch's thresholded form to f32 precision.
    x.relu()? + ((x.abs()?.neg()?.exp()? + 1.0)?.log()?)
}

/// Element-wise softplus.
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 {
        x.contiguous()?.apply_op1_no_bwd(&Softplus)
    } else {
        softplus_generic(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn fast_math_is_accurate_to_f32() {
        for i in -20_000..=20_000 {
            let x = i as f32 * 0.005; // -100 .. 100
            let e = fast_exp(x.clamp(-80.0, 80.0)) as f64;
            let exact = (x.clamp(-80.0, 80.0) as f64).exp();
            assert!(((e - exact) / exact).abs() < 5e-7, "exp({x}) = {e} vs {exact}");
            let sp = softplus_f32(x) as f64;
            let exact_sp = if x > 20.0 { x as f64 } else { (x as f64).exp().ln_1p() };
            assert!((sp - exact_sp).abs() <= 5e-7 * (1.0 + exact_sp.abs()), "softplus({x}) = {sp} vs {exact_sp}");
            let sg = sigmoid_f32(x) as f64;
            let exact_sg = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((sg - exact_sg).abs() < 5e-7, "sigmoid({x}) = {sg} vs {exact_sg}");
        }
    }

    #[test]
    fn gated_conv_matches_its_composition() {
        let dev = Device::Cpu;
        let (n, m, a, f) = (7usize, 3usize, 4usize, 5usize);
        let pq: Vec<f32> = (0..n * 4 * a).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.05).collect();
        let fea: Vec<f32> = (0..n * m * f).map(|i| ((i * 53 % 89) as f32) / 89.0).collect();
        let w: Vec<f32> = (0..f * 2 * a).map(|i| ((i * 29 % 61) as f32 - 30.0) * 0.03).collect();
        let b: Vec<f32> = (0..2 * a).map(|i| i as f32 * 0.1 - 0.3).collect();
        let idx: Vec<u32> = (0..n * m).map(|e| ((e * 5 + 1) % n) as u32).collect();
        let pq = Tensor::from_vec(pq, (n, 4 * a), &dev).unwrap();
        let fea = Tensor::from_vec(fea, (n * m, f), &dev).unwrap();
        let edge =
            EdgeWeights::new(Tensor::from_vec(w, (f, 2 * a), &dev).unwrap(), Tensor::from_vec(b, 2 * a, &dev).unwrap())
                .unwrap();
        let idx = Tensor::from_vec(idx, n * m, &dev).unwrap();
        let fused = gated_conv(&pq, &fea, &idx, &edge, m).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let want = gated_conv_generic(&pq, &fea, &idx, &edge, m).unwrap();
        let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(fused.len(), n * a);
        for (x, y) in fused.iter().zip(&want) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
        }
        let bad = Tensor::from_vec(vec![n as u32; n * m], n * m, &dev).unwrap();
        assert!(gated_conv(&pq, &fea, &bad, &edge, m).is_err());
    }

    #[test]
    fn fused_softplus_matches_generic() {
        let dev = Device::Cpu;
        let v: Vec<f32> = (0..2 * 3 * 8).map(|i| (i as f32 - 20.0) * 0.7).collect();
        let x = Tensor::from_vec(v, (2, 3, 8), &dev).unwrap();
        let fused = softplus(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let generic = softplus_generic(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in fused.iter().zip(&generic) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
