//! End-to-end `genms csp` with the real binary and a tiny **randomly initialised** (untrained) diffusion model made
//! by the test: every output row has exactly the input composition and a CIF that parses. Also `--make-input`.

use std::collections::BTreeMap;
use std::f64::consts::FRAC_PI_2;
use std::path::PathBuf;
use std::process::Command;

use genms_shared::io::{read_cif_structure, CifOptions};
use genms_shared::Composition;
use genms_worker::diffusion::checkpoint::save_random_model;
use genms_worker::diffusion::{DenoiserConfig, LatticeStats};

fn genms() -> Command {
    Command::new(env!("CARGO_BIN_EXE_genms"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("genms-cli-csp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn counts(c: &Composition) -> BTreeMap<String, i64> {
    c.iter().map(|(e, a)| (e.symbol().to_string(), a.round() as i64)).collect()
}

/// `genms csp` with the settings both runs of the determinism check share (seed 7, 2 samples, 4 steps).
fn run_csp(input: &std::path::Path, model: &std::path::Path, out: &std::path::Path) {
    let status = genms()
        .args(["csp", "--input"])
        .arg(input)
        .args(["--samples", "2", "--steps", "4", "--batch", "4", "--seed", "7", "--model"])
        .arg(model)
        .arg("--out")
        .arg(out)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn csp_samples_keep_the_composition_and_write_parsable_cifs() {
    let dir = tmp("sample");
    let model = dir.join("tiny-random-model");
    let cfg = DenoiserConfig { hidden: 16, layers: 1, heads: 2, freqs: 2, edge_hidden: 4, time_dim: 8 };
    let stats = LatticeStats { mean: [0.5, 0.5, 0.5, FRAC_PI_2, FRAC_PI_2, FRAC_PI_2], std: [0.1; 6] };
    save_random_model(&model, &cfg, stats).unwrap();
    // The cif column holds garbage: it must never be read.
    let input = dir.join("in.csv");
    std::fs::write(&input, "material_id,composition,cif\nm1,Sr1Ti1O3,\"not a cif\"\nm2,Ga4Te4,x\nm3,C8,y\n").unwrap();
    let out = dir.join("out.csv");
    run_csp(&input, &model, &out);
    let mut r = csv::Reader::from_path(&out).unwrap();
    assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), ["material_id", "sample", "cif"]);
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    assert_eq!(rows.len(), 6);
    let want = [("m1", "Sr1Ti1O3"), ("m2", "Ga4Te4"), ("m3", "C8")];
    for (i, row) in rows.iter().enumerate() {
        let (id, comp) = want[i / 2];
        assert_eq!(&row[0], id);
        assert_eq!(&row[1], (i % 2).to_string());
        let s = read_cif_structure(&row[2], &CifOptions::default()).unwrap();
        let got: Composition = Composition::from_elements(s.species().iter().map(|&e| (e, 1.0))).unwrap();
        assert_eq!(counts(&got), counts(&Composition::parse(comp).unwrap()), "row {i}");
    }
    // Same seed, same output.
    let out2 = dir.join("out2.csv");
    run_csp(&input, &model, &out2);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), std::fs::read_to_string(&out2).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn make_input_writes_full_cell_compositions() {
    let src = genms_shared::paths::shared_root().join("data/structures/mp_20_subset/val.csv");
    assert!(src.is_file(), "shared data missing: {} (set GENMS_SHARED)", src.display());
    let dir = tmp("make");
    let out = dir.join("in.csv");
    let status = genms().args(["csp", "--make-input"]).arg(&src).arg("--out").arg(&out).status().unwrap();
    assert!(status.success());
    let rows: Vec<csv::StringRecord> = csv::Reader::from_path(&out).unwrap().records().map(|x| x.unwrap()).collect();
    let data: Vec<_> = genms_shared::dataset::CdvaeReader::open(&src).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), data.len());
    for (row, rec) in rows.iter().zip(&data) {
        assert_eq!(&row[0], rec.material_id);
        let s = rec.structure().unwrap();
        let comp = Composition::parse(&row[1]).unwrap();
        assert_eq!(comp.num_atoms().round() as usize, s.num_sites());
        assert_eq!(comp.reduced_formula(), rec.formula, "{}", rec.material_id);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
