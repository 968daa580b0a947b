//! Fused element-wise kernels of the CGCNN forward pass.
//!
//! On the CPU they run as candle custom ops (one pass over memory instead of five); on other devices they fall back
//! to compositions of candle's built-in ops, so the model runs wherever candle does.

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, D};

/// PyTorch's `Softplus()` (beta 1, threshold 20).
#[inline]
fn softplus_f32(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

#[inline]
fn sigmoid_f32(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
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

/// `sum over dim 1 of sigmoid(x[.., .., :A]) * softplus(x[.., .., A..])` for `x` of shape `(N, M, 2A)`.
struct GateSum;

impl CustomOp1 for GateSum {
    fn name(&self) -> &'static str {
        "cgcnn-gate-sum"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(storage, layout, self.name())?;
        let (n, m, two_a) = layout.shape().dims3()?;
        let a = two_a / 2;
        let mut out = vec![0f32; n * a];
        for (i, o) in out.chunks_exact_mut(a).enumerate() {
            for j in 0..m {
                let row = &x[(i * m + j) * two_a..(i * m + j + 1) * two_a];
                let (filter, core) = row.split_at(a);
                for ((o, &f), &c) in o.iter_mut().zip(filter).zip(core) {
                    *o += sigmoid_f32(f) * softplus_f32(c);
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((n, a))))
    }
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

/// The gated neighbour sum of a CGCNN conv layer: `(N, M, 2A) -> (N, A)`.
pub fn gate_sum(gated: &Tensor) -> Result<Tensor> {
    if gated.device().is_cpu() && gated.dtype() == candle_core::DType::F32 {
        gated.contiguous()?.apply_op1_no_bwd(&GateSum)
    } else {
        let a = gated.dim(D::Minus1)? / 2;
        let filter = candle_nn::ops::sigmoid(&gated.narrow(2, 0, a)?)?;
        let core = softplus_generic(&gated.narrow(2, a, a)?)?;
        (filter * core)?.sum(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn fused_ops_match_generic_ones() {
        let dev = Device::Cpu;
        let v: Vec<f32> = (0..2 * 3 * 8).map(|i| (i as f32 - 20.0) * 0.7).collect();
        let x = Tensor::from_vec(v, (2, 3, 8), &dev).unwrap();
        let fused = softplus(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let generic = softplus_generic(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in fused.iter().zip(&generic) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
        let fused = gate_sum(&x).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let a = 4;
        let filter = candle_nn::ops::sigmoid(&x.narrow(2, 0, a).unwrap()).unwrap();
        let core = softplus_generic(&x.narrow(2, a, a).unwrap()).unwrap();
        let generic = (filter * core).unwrap().sum(1).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(fused.len(), generic.len());
        for (a, b) in fused.iter().zip(&generic) {
            assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
