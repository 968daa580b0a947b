//! CGCNN (Xie & Grossman, PRL 2018) inference on candle, numerically the network of cgcnn2's
//! `CrystalGraphConvNet` in eval mode:
//!
//! ```text
//! x = embedding(atom_init[z])
//! n_conv x:  g   = bn1(fc_full(cat(x_i, x_j, e_ij)))          (per edge, BatchNorm with running stats)
//!            x_i = softplus(x_i + bn2(sum_j sigmoid(g_filter) * softplus(g_core)))
//! c = mean_i x_i per crystal
//! c = softplus(conv_to_fc(softplus(c)));  c = softplus(fc(c)) for the n_h - 1 hidden layers
//! out = fc_out(c)   (classification: log_softmax)
//! ```
//!
//! Computed in an equivalent but cheaper form: the embedding is a per-element lookup table; `fc_full` is split into
//! its self / neighbour / edge blocks, so the atom blocks are applied once per atom (not once per edge), and the edge
//! block is applied inside the fused gated-conv kernel (see `ops`); bn1 is folded into `fc_full` and bn2 into a
//! per-channel scale and shift.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, D};

use super::checkpoint::{CheckpointError, LegacyCheckpoint};
use super::graph::{AtomInit, GraphBatch, MAX_NEIGHBORS, NBR_FEA_LEN};
use super::ops::{self, EdgeWeights};

/// BatchNorm epsilon (PyTorch default).
const BN_EPS: f64 = 1e-5;

/// Errors building or running a CGCNN model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("checkpoint field {0} missing or malformed")]
    Field(String),
    #[error("weight {name}: {reason}")]
    Weight { name: String, reason: String },
    #[error("tensor: {0}")]
    Tensor(#[from] candle_core::Error),
}

type Result<T> = std::result::Result<T, ModelError>;

/// Hyper-parameters from the checkpoint's `args`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgcnnConfig {
    pub atom_fea_len: usize,
    pub n_conv: usize,
    pub h_fea_len: usize,
    pub n_h: usize,
    pub classification: bool,
}

/// Regression target normalisation: physical value = output * std + mean.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Normalizer {
    pub mean: f64,
    pub std: f64,
}

#[derive(Debug)]
struct Linear {
    /// `(in, out)`, already transposed.
    w_t: Tensor,
    b: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.w_t)?.broadcast_add(&self.b)?)
    }
}

#[derive(Debug)]
struct ConvLayer {
    /// `(A, 4A)`: bn1-folded self block (first 2A columns) and neighbour block (last 2A columns) of `fc_full`.
    w_atoms_t: Tensor,
    /// bn1-folded edge block of `fc_full`, `(41, 2A)`, and the bn1-folded bias.
    edge: EdgeWeights,
    /// bn2 as `x * scale + shift`, `(A,)` each.
    bn2_scale: Tensor,
    bn2_shift: Tensor,
}

/// A loaded CGCNN model.
#[derive(Debug)]
pub struct Cgcnn {
    config: CgcnnConfig,
    normalizer: Normalizer,
    /// `embedding(atom_init[z])` for every atomic number, `(Zmax + 1, A)`.
    embed_table: Tensor,
    convs: Vec<ConvLayer>,
    conv_to_fc: Linear,
    fcs: Vec<Linear>,
    fc_out: Linear,
}

/// Host-side f32 matrix (row-major) used while folding weights.
struct Mat {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

fn mat(weights: &HashMap<String, Tensor>, name: &str, rows: usize, cols: usize) -> Result<Mat> {
    let t = weights.get(name).ok_or_else(|| ModelError::Weight { name: name.into(), reason: "missing".into() })?;
    if t.dims() != [rows, cols] && !(cols == 1 && t.dims() == [rows]) {
        return Err(ModelError::Weight {
            name: name.into(),
            reason: format!("shape {:?}, expected {rows}x{cols}", t.dims()),
        });
    }
    let data = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok(Mat { rows, cols, data })
}

fn vector(weights: &HashMap<String, Tensor>, name: &str, n: usize) -> Result<Vec<f32>> {
    Ok(mat(weights, name, n, 1)?.data)
}

/// `(out, in)` weight -> `(in, out)` tensor with row `o` scaled by `scale[o]`.
fn transposed(w: &Mat, col_range: std::ops::Range<usize>, scale: &[f64], device: &Device) -> Result<Tensor> {
    let cols = col_range.len();
    let mut t = vec![0f32; cols * w.rows];
    for o in 0..w.rows {
        for (k, c) in col_range.clone().enumerate() {
            t[k * w.rows + o] = (w.data[o * w.cols + c] as f64 * scale[o]) as f32;
        }
    }
    Ok(Tensor::from_vec(t, (cols, w.rows), device)?)
}

fn linear(weights: &HashMap<String, Tensor>, prefix: &str, n_in: usize, n_out: usize, dev: &Device) -> Result<Linear> {
    let w = mat(weights, &format!("{prefix}.weight"), n_out, n_in)?;
    let b = vector(weights, &format!("{prefix}.bias"), n_out)?;
    Ok(Linear { w_t: transposed(&w, 0..n_in, &vec![1.0; n_out], dev)?, b: Tensor::from_vec(b, n_out, dev)? })
}

/// Eval-mode BatchNorm as `x * scale + shift`.
fn batch_norm(weights: &HashMap<String, Tensor>, prefix: &str, n: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let g = vector(weights, &format!("{prefix}.weight"), n)?;
    let b = vector(weights, &format!("{prefix}.bias"), n)?;
    let m = vector(weights, &format!("{prefix}.running_mean"), n)?;
    let v = vector(weights, &format!("{prefix}.running_var"), n)?;
    let scale: Vec<f64> = (0..n).map(|i| g[i] as f64 / (v[i] as f64 + BN_EPS).sqrt()).collect();
    let shift = (0..n).map(|i| b[i] as f64 - m[i] as f64 * scale[i]).collect();
    Ok((scale, shift))
}

fn arg_usize(ckpt: &LegacyCheckpoint, key: &str) -> Result<usize> {
    let path = format!("args.{key}");
    ckpt.value(&path)
        .and_then(|v| v.as_i64())
        .and_then(|v| usize::try_from(v).ok())
        .filter(|&v| v > 0 && v <= 4096)
        .ok_or(ModelError::Field(path))
}

impl Cgcnn {
    /// Reads the hyper-parameters (`args`) and the normaliser of a cgcnn checkpoint.
    pub fn config_of(ckpt: &LegacyCheckpoint) -> Result<(CgcnnConfig, Normalizer)> {
        let classification = match ckpt.value("args.task").and_then(|v| v.as_str()) {
            Some("classification") => true,
            Some("regression") | None => false,
            Some(other) => return Err(ModelError::Field(format!("args.task = {other}"))),
        };
        let config = CgcnnConfig {
            atom_fea_len: arg_usize(ckpt, "atom_fea_len")?,
            n_conv: arg_usize(ckpt, "n_conv")?,
            h_fea_len: arg_usize(ckpt, "h_fea_len")?,
            n_h: arg_usize(ckpt, "n_h")?,
            classification,
        };
        let num = |k: &str| ckpt.value(k).and_then(|v| v.as_f64()).ok_or_else(|| ModelError::Field(k.into()));
        let normalizer = Normalizer { mean: num("normalizer.mean")?, std: num("normalizer.std")? };
        Ok((config, normalizer))
    }

    /// Builds the model from a checkpoint (`state_dict`, `args`, `normalizer`) and the atom feature table.
    pub fn from_checkpoint(ckpt: &LegacyCheckpoint, atom_init: &AtomInit, device: &Device) -> Result<Self> {
        let (config, normalizer) = Self::config_of(ckpt)?;
        let w = ckpt.tensors("state_dict", device)?;
        let a = config.atom_fea_len;
        let h = config.h_fea_len;
        let orig = atom_init.dim();

        // Embedding table: atom_init (Z, 92) @ W^T + b.
        let emb = linear(&w, "embedding", orig, a, device)?;
        let table = Tensor::from_vec(atom_init.matrix(), (atom_init.num_rows(), orig), device)?;
        let embed_table = emb.forward(&table)?;

        let mut convs = Vec::with_capacity(config.n_conv);
        for l in 0..config.n_conv {
            let p = format!("convs.{l}");
            let fc = mat(&w, &format!("{p}.fc_full.weight"), 2 * a, 2 * a + NBR_FEA_LEN)?;
            let fc_b = vector(&w, &format!("{p}.fc_full.bias"), 2 * a)?;
            let (s1, t1) = batch_norm(&w, &format!("{p}.bn1"), 2 * a)?;
            let w_self = transposed(&fc, 0..a, &s1, device)?;
            let w_nbr = transposed(&fc, a..2 * a, &s1, device)?;
            let edge_w = transposed(&fc, 2 * a..2 * a + NBR_FEA_LEN, &s1, device)?;
            let edge_b: Vec<f32> = (0..2 * a).map(|o| (fc_b[o] as f64 * s1[o] + t1[o]) as f32).collect();
            let edge = EdgeWeights::new(edge_w, Tensor::from_vec(edge_b, 2 * a, device)?)?;
            let (s2, t2) = batch_norm(&w, &format!("{p}.bn2"), a)?;
            convs.push(ConvLayer {
                w_atoms_t: Tensor::cat(&[&w_self, &w_nbr], 1)?,
                edge,
                bn2_scale: Tensor::from_vec(s2.iter().map(|&x| x as f32).collect::<Vec<_>>(), a, device)?,
                bn2_shift: Tensor::from_vec(t2.iter().map(|&x| x as f32).collect::<Vec<_>>(), a, device)?,
            });
        }
        let conv_to_fc = linear(&w, "conv_to_fc", a, h, device)?;
        let fcs = (0..config.n_h.saturating_sub(1))
            .map(|i| linear(&w, &format!("fcs.{i}"), h, h, device))
            .collect::<Result<_>>()?;
        let n_out = if config.classification { 2 } else { 1 };
        let fc_out = linear(&w, "fc_out", h, n_out, device)?;
        Ok(Cgcnn { config, normalizer, embed_table, convs, conv_to_fc, fcs, fc_out })
    }

    pub fn config(&self) -> CgcnnConfig {
        self.config
    }

    pub fn normalizer(&self) -> Normalizer {
        self.normalizer
    }

    /// Raw network output: `(B, 1)` normalised regression values or `(B, 2)` class log-probabilities.
    pub fn forward(&self, batch: &GraphBatch) -> Result<Tensor> {
        let a = self.config.atom_fea_len;
        let mut x = self.embed_table.index_select(&batch.atomic_numbers, 0)?;
        for conv in &self.convs {
            let pq = x.matmul(&conv.w_atoms_t)?;
            let summed = ops::gated_conv(&pq, &batch.edge_fea, &batch.nbr_idx, &conv.edge, MAX_NEIGHBORS)?;
            let summed = summed.broadcast_mul(&conv.bn2_scale)?.broadcast_add(&conv.bn2_shift)?;
            x = ops::softplus(&(x + summed)?)?;
        }
        let pooled = Tensor::zeros((batch.num_crystals, a), x.dtype(), x.device())?
            .index_add(&batch.crystal_idx, &x, 0)?
            .broadcast_mul(&batch.inv_counts)?;
        let mut c = ops::softplus(&self.conv_to_fc.forward(&ops::softplus(&pooled)?)?)?;
        for fc in &self.fcs {
            c = ops::softplus(&fc.forward(&c)?)?;
        }
        let out = self.fc_out.forward(&c)?;
        if self.config.classification {
            Ok(candle_nn::ops::log_softmax(&out, D::Minus1)?)
        } else {
            Ok(out)
        }
    }

    /// One value per crystal: de-normalised regression output, or P(class 1) for classification.
    pub fn predict(&self, batch: &GraphBatch) -> Result<Vec<f64>> {
        let out = self.forward(batch)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        Ok(out
            .iter()
            .map(|row| {
                if self.config.classification {
                    (row[1] as f64).exp()
                } else {
                    row[0] as f64 * self.normalizer.std + self.normalizer.mean
                }
            })
            .collect())
    }
}
