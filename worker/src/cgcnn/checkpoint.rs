//! Reader for PyTorch checkpoints in the **legacy (non-zip) save format** (`torch.save(..., _use_new_zipfile_serialization
//! =False)` and everything torch < 1.6 wrote), built on candle's public pickle API (`candle_core::pickle::Stack`).
//!
//! Layout of such a file: a pickled magic number, a pickled protocol version, a pickled `sys_info` dict, the pickled
//! object itself (tensors refer to storages through persistent ids `('storage', StorageType, key, location, size,
//! view_metadata)`), a pickled list of storage keys, then for every key in that order an 8-byte little-endian element
//! count followed by the raw little-endian data. Tensors are rebuilt by `torch._utils._rebuild_tensor` (old) or
//! `_rebuild_tensor_v2` (newer), possibly wrapped in `_rebuild_parameter`. The storage location (`cuda:0`, `cuda:7`)
//! is ignored: tensors are placed on the device the caller asks for.
//!
//! The whole object becomes a [`PyValue`] tree; numpy scalars (`numpy.core.multiarray.scalar`) are decoded to numbers
//! and any other unknown Python object becomes [`PyValue::Opaque`], so non-weight fields never make loading fail.

use std::collections::HashMap;
use std::path::Path;

use candle_core::pickle::{Object, Stack};
use candle_core::{DType, Device, Tensor};

/// Errors reading a legacy PyTorch checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("not a legacy PyTorch checkpoint: {0}")]
    Format(String),
    #[error("unpickling: {0}")]
    Pickle(#[from] candle_core::Error),
    #[error("key path '{0}' not found in the checkpoint")]
    MissingKey(String),
    #[error("tensor '{name}': {reason}")]
    Tensor { name: String, reason: String },
}

type Result<T> = std::result::Result<T, CheckpointError>;

/// The pickled magic number of the legacy format (`0x1950a86a20f9469cfc6c` as a protocol-2 LONG1 pickle).
const MAGIC_PICKLE: [u8; 15] =
    [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e];

/// A pickled Python value, with tensors kept as references into the checkpoint's storages.
#[derive(Debug, Clone, PartialEq)]
pub enum PyValue {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<PyValue>),
    Tuple(Vec<PyValue>),
    Dict(Vec<(PyValue, PyValue)>),
    Tensor(TensorRef),
    /// An object this reader does not interpret (described by its constructor).
    Opaque(String),
}

impl PyValue {
    /// The value under a string key of a dict.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            PyValue::Dict(items) => {
                items.iter().find(|(k, _)| matches!(k, PyValue::Str(s) if s == key)).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    /// The value at a dotted key path (`"args.task"`, `"model.state_dict"`); the empty path is the value itself.
    pub fn at(&self, path: &str) -> Option<&PyValue> {
        if path.is_empty() {
            return Some(self);
        }
        path.split('.').try_fold(self, |v, k| v.get(k))
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PyValue::Float(x) => Some(*x),
            PyValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            PyValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            PyValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Where a tensor's data lives: storage key, element type, offset (elements), shape and strides (elements).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: String,
    pub dtype: DType,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// A parsed legacy checkpoint: the object tree and the raw storages.
#[derive(Debug)]
pub struct LegacyCheckpoint {
    root: PyValue,
    storages: HashMap<String, (DType, Vec<u8>)>,
}

impl LegacyCheckpoint {
    /// Reads and parses a checkpoint file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes =
            std::fs::read(path).map_err(|source| CheckpointError::Io { path: path.display().to_string(), source })?;
        Self::from_bytes(&bytes)
    }

    /// Parses a checkpoint held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < MAGIC_PICKLE.len() || bytes[..MAGIC_PICKLE.len()] != MAGIC_PICKLE {
            let hint =
                if bytes.starts_with(b"PK") { " (this is a zip checkpoint: use candle_core::pickle)" } else { "" };
            return Err(CheckpointError::Format(format!("magic number missing{hint}")));
        }
        let mut r: &[u8] = &bytes[MAGIC_PICKLE.len()..];
        let protocol = unpickle(&mut r)?;
        if !matches!(protocol, Object::Int(1001)) {
            return Err(CheckpointError::Format(format!("unsupported protocol version {protocol:?}")));
        }
        let sys_info = convert(unpickle(&mut r)?);
        if sys_info.get("little_endian") == Some(&PyValue::Bool(false)) {
            return Err(CheckpointError::Format("big-endian checkpoints are not supported".into()));
        }
        let root = convert(unpickle(&mut r)?);
        let keys = match unpickle(&mut r)? {
            Object::List(keys) => keys
                .into_iter()
                .map(|k| k.unicode().map_err(|o| CheckpointError::Format(format!("storage key {o:?}"))))
                .collect::<Result<Vec<_>>>()?,
            other => return Err(CheckpointError::Format(format!("expected the storage key list, got {other:?}"))),
        };
        let mut dtypes = HashMap::new();
        collect_storage_dtypes(&root, &mut dtypes);
        let mut storages = HashMap::with_capacity(keys.len());
        for key in keys {
            let dtype = *dtypes
                .get(&key)
                .ok_or_else(|| CheckpointError::Format(format!("storage {key} is not referenced by any tensor")))?;
            if r.len() < 8 {
                return Err(CheckpointError::Format(format!("truncated before storage {key}")));
            }
            let (count, rest) = r.split_at(8);
            let count = u64::from_le_bytes(count.try_into().expect("8 bytes")) as usize;
            let n = count
                .checked_mul(dtype.size_in_bytes())
                .filter(|&n| n <= rest.len())
                .ok_or_else(|| CheckpointError::Format(format!("storage {key}: {count} elements exceed the file")))?;
            storages.insert(key, (dtype, rest[..n].to_vec()));
            r = &rest[n..];
        }
        Ok(LegacyCheckpoint { root, storages })
    }

    /// The whole pickled object.
    pub fn root(&self) -> &PyValue {
        &self.root
    }

    /// The value at a dotted key path (see [`PyValue::at`]).
    pub fn value(&self, path: &str) -> Option<&PyValue> {
        self.root.at(path)
    }

    /// All tensors of the dict at `path` (e.g. `"state_dict"`), by key, materialised on `device`.
    pub fn tensors(&self, path: &str, device: &Device) -> Result<HashMap<String, Tensor>> {
        let dict = match self.value(path) {
            Some(PyValue::Dict(items)) => items,
            _ => return Err(CheckpointError::MissingKey(path.to_string())),
        };
        let mut out = HashMap::with_capacity(dict.len());
        for (k, v) in dict {
            if let (PyValue::Str(name), PyValue::Tensor(t)) = (k, v) {
                out.insert(name.clone(), self.tensor(name, t, device)?);
            }
        }
        Ok(out)
    }

    /// Materialises one tensor (any strides; the result is contiguous).
    pub fn tensor(&self, name: &str, t: &TensorRef, device: &Device) -> Result<Tensor> {
        let err = |reason: String| CheckpointError::Tensor { name: name.to_string(), reason };
        let (dtype, data) =
            self.storages.get(&t.storage).ok_or_else(|| err(format!("storage {} missing", t.storage)))?;
        if *dtype != t.dtype || t.shape.len() != t.stride.len() {
            return Err(err("inconsistent dtype or stride".into()));
        }
        let es = dtype.size_in_bytes();
        let numel: usize = t.shape.iter().product();
        // Largest element index touched, checked against the storage size.
        let last = t.offset + t.shape.iter().zip(&t.stride).map(|(&n, &s)| n.saturating_sub(1) * s).sum::<usize>();
        if numel > 0 && (last + 1) * es > data.len() {
            return Err(err(format!("view exceeds its storage ({} bytes)", data.len())));
        }
        let mut bytes = Vec::with_capacity(numel * es);
        let mut idx = vec![0usize; t.shape.len()];
        for _ in 0..numel {
            let off = t.offset + idx.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
            bytes.extend_from_slice(&data[off * es..(off + 1) * es]);
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < t.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(Tensor::from_raw_buffer(&bytes, *dtype, &t.shape, device)?)
    }
}

fn unpickle(r: &mut &[u8]) -> Result<Object> {
    let mut stack = Stack::empty();
    stack.read_loop(r)?;
    Ok(stack.finalize()?)
}

fn collect_storage_dtypes(v: &PyValue, out: &mut HashMap<String, DType>) {
    match v {
        PyValue::Tensor(t) => {
            out.insert(t.storage.clone(), t.dtype);
        }
        PyValue::List(xs) | PyValue::Tuple(xs) => xs.iter().for_each(|x| collect_storage_dtypes(x, out)),
        PyValue::Dict(items) => items.iter().for_each(|(k, x)| {
            collect_storage_dtypes(k, out);
            collect_storage_dtypes(x, out)
        }),
        _ => {}
    }
}

fn class_name(o: &Object) -> Option<(&str, &str)> {
    match o {
        Object::Class { module_name, class_name } => Some((module_name.as_str(), class_name.as_str())),
        _ => None,
    }
}

/// Converts a pickled object to a [`PyValue`], rebuilding tensors and decoding numpy scalars.
fn convert(o: Object) -> PyValue {
    match o {
        Object::None => PyValue::None,
        Object::Bool(b) => PyValue::Bool(b),
        Object::Int(i) => PyValue::Int(i as i64),
        Object::Long(i) => PyValue::Int(i),
        Object::Float(x) => PyValue::Float(x),
        Object::Unicode(s) => PyValue::Str(s),
        Object::List(xs) => PyValue::List(xs.into_iter().map(convert).collect()),
        Object::Tuple(xs) => PyValue::Tuple(xs.into_iter().map(convert).collect()),
        Object::Dict(items) => PyValue::Dict(items.into_iter().map(|(k, v)| (convert(k), convert(v))).collect()),
        Object::Reduce { callable, args } => convert_reduce(*callable, *args),
        Object::Class { module_name, class_name } => PyValue::Opaque(format!("{module_name}.{class_name}")),
        Object::Build { callable, .. } => PyValue::Opaque(format!("built {}", describe(&callable))),
        Object::PersistentLoad(_) => PyValue::Opaque("persistent id".into()),
        Object::Mark => PyValue::Opaque("mark".into()),
    }
}

fn describe(o: &Object) -> String {
    match o {
        Object::Class { module_name, class_name } => format!("{module_name}.{class_name}"),
        Object::Reduce { callable, .. } => describe(callable),
        _ => "object".into(),
    }
}

fn convert_reduce(callable: Object, args: Object) -> PyValue {
    let opaque = || PyValue::Opaque(describe(&callable));
    match class_name(&callable) {
        Some(("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2")) => {
            rebuild_tensor(args).map(PyValue::Tensor).unwrap_or_else(opaque)
        }
        Some(("torch._utils", "_rebuild_parameter")) => match args {
            Object::Tuple(mut xs) if !xs.is_empty() => convert(xs.swap_remove(0)),
            _ => opaque(),
        },
        Some(("numpy.core.multiarray" | "numpy._core.multiarray", "scalar")) => {
            numpy_scalar(args).unwrap_or_else(|| PyValue::Opaque("numpy scalar".into()))
        }
        Some(("builtins" | "__builtin__", "set" | "frozenset")) => match args {
            Object::Tuple(mut xs) if xs.len() == 1 => convert(xs.swap_remove(0)),
            _ => opaque(),
        },
        _ => opaque(),
    }
}

/// `(storage, storage_offset, size, stride, ...)` with `storage` a persistent id
/// `('storage', StorageType, key, location, size, view_metadata)`.
fn rebuild_tensor(args: Object) -> Option<TensorRef> {
    let args = args.tuple().ok()?;
    if args.len() < 4 {
        return None;
    }
    let mut it = args.into_iter();
    let pid = it.next()?.persistent_load().ok()?.tuple().ok()?;
    let offset = usize::try_from(it.next()?.int_or_long().ok()?).ok()?;
    let dims = |o: Object| -> Option<Vec<usize>> {
        o.tuple().ok()?.into_iter().map(|d| usize::try_from(d.int_or_long().ok()?).ok()).collect()
    };
    let shape = dims(it.next()?)?;
    let stride = dims(it.next()?)?;
    if pid.len() < 5 || pid.get(5).is_some_and(|v| *v != Object::None) {
        // Storage views (view_metadata) are not produced by the checkpoints genms reads.
        return None;
    }
    let mut pid = pid.into_iter();
    if pid.next()?.unicode().ok()? != "storage" {
        return None;
    }
    let (_, storage_class) = class_name(&pid.next()?).map(|(m, c)| (m.to_string(), c.to_string()))?;
    let dtype = match storage_class.as_str() {
        "FloatStorage" => DType::F32,
        "DoubleStorage" => DType::F64,
        "HalfStorage" => DType::F16,
        "BFloat16Storage" => DType::BF16,
        "ByteStorage" | "BoolStorage" => DType::U8,
        "LongStorage" => DType::I64,
        "IntStorage" => DType::U32,
        _ => return None,
    };
    let storage = pid.next()?.unicode().ok()?;
    Some(TensorRef { storage, dtype, offset, shape, stride })
}

/// `numpy.core.multiarray.scalar(dtype, bytes)`; the dtype is `numpy.dtype('f8', ...)` (possibly BUILT with its
/// state) and the bytes come as `_codecs.encode(latin1_text, 'latin1')` in protocol 2.
fn numpy_scalar(args: Object) -> Option<PyValue> {
    let mut args = args.tuple().ok()?.into_iter();
    let dtype = args.next()?;
    let data = args.next()?;
    let dtype = match dtype {
        Object::Build { callable, .. } => *callable,
        d => d,
    };
    let (_, dargs) = dtype.reduce().ok()?;
    let code = dargs.tuple().ok()?.into_iter().next()?.unicode().ok()?;
    let bytes: Vec<u8> = match data {
        Object::Reduce { callable, args } if class_name(&callable) == Some(("_codecs", "encode")) => {
            let text = args.tuple().ok()?.into_iter().next()?.unicode().ok()?;
            text.chars().map(|c| u8::try_from(u32::from(c)).ok()).collect::<Option<Vec<u8>>>()?
        }
        _ => return None,
    };
    let arr = |n: usize| -> Option<&[u8]> { bytes.get(..n) };
    Some(match code.as_str() {
        "f8" => PyValue::Float(f64::from_le_bytes(arr(8)?.try_into().ok()?)),
        "f4" => PyValue::Float(f32::from_le_bytes(arr(4)?.try_into().ok()?) as f64),
        "i8" => PyValue::Int(i64::from_le_bytes(arr(8)?.try_into().ok()?)),
        "i4" => PyValue::Int(i32::from_le_bytes(arr(4)?.try_into().ok()?) as i64),
        "b1" => PyValue::Bool(*bytes.first()? != 0),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_checkpoints() {
        assert!(matches!(LegacyCheckpoint::from_bytes(b"PK\x03\x04 zip"), Err(CheckpointError::Format(_))));
        assert!(matches!(LegacyCheckpoint::from_bytes(b""), Err(CheckpointError::Format(_))));
        // Magic number followed by garbage: an error, not a panic.
        let mut bytes = MAGIC_PICKLE.to_vec();
        bytes.extend_from_slice(&[0x80, 0x02, 0xff, 0x00]);
        assert!(LegacyCheckpoint::from_bytes(&bytes).is_err());
    }

    #[test]
    fn key_paths() {
        let v = PyValue::Dict(vec![(
            PyValue::Str("model".into()),
            PyValue::Dict(vec![(PyValue::Str("x".into()), PyValue::Int(3))]),
        )]);
        assert_eq!(v.at("model.x"), Some(&PyValue::Int(3)));
        assert_eq!(v.at("model.y"), None);
        assert_eq!(v.at(""), Some(&v));
    }
}
