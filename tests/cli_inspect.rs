//! End-to-end tests of the `genms` binary's crystal commands: `inspect` (text and JSON) and `convert`, run as real
//! processes against files of the shared data tree.

use std::path::PathBuf;
use std::process::Command;

use genms_shared::paths::shared_root;
use serde_json::Value;

fn genms() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_genms"));
    c.env("GENMS_SHARED", shared_root());
    c
}

fn shared(rel: &str) -> PathBuf {
    let p = shared_root().join(rel);
    assert!(p.exists(), "shared data {} is required (set GENMS_SHARED)", p.display());
    p
}

fn inspect_json(arg: &str) -> Value {
    let out = genms().args(["inspect", "--json", arg]).output().unwrap();
    assert!(out.status.success(), "inspect {arg} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn inspect_formula_json() {
    let v = inspect_json("Fe2(SO4)3");
    assert_eq!(v["reduced_formula"], "Fe2(SO4)3");
    assert_eq!(v["anonymized_formula"], "A2B3C12");
    assert_eq!(v["chemical_system"], "Fe-O-S");
    assert_eq!(v["comp_valid"], true);
    assert_eq!(v["known"], true);
    let novel = inspect_json("Li7Fe3Xe2");
    assert_eq!(novel["known"], false);
    assert!(novel.get("num_sites").is_none());
}

#[test]
fn inspect_cif_json() {
    let cif = shared("data/cif/avogadro/titanates/CaTiO3-Perovskite.cif");
    let v = inspect_json(cif.to_str().unwrap());
    assert_eq!(v["reduced_formula"], "CaTiO3");
    assert_eq!(v["comp_valid"], true);
    assert_eq!(v["struct_valid"], true);
    for key in ["num_sites", "volume", "a", "b", "c", "alpha", "beta", "gamma", "min_pairwise_distance"] {
        assert!(v[key].is_number(), "{key} missing: {v}");
    }
    assert!(v["spacegroup_number"].is_u64(), "{v}");
    assert!(v["spacegroup_symbol"].is_string(), "{v}");
}

#[test]
fn bad_input_exits_non_zero_with_one_line() {
    for arg in ["Xx2O", "Fe2(SO4", "", "does/not/exist.cif"] {
        let out = genms().args(["inspect", arg]).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "inspect {arg:?} should fail");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "inspect {arg:?}: expected one line, got {err:?}");
        assert!(lines[0].starts_with("error: "), "{err}");
    }
}

#[test]
fn convert_round_trips_through_every_format() {
    let dir = std::env::temp_dir().join(format!("genms-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = shared("data/cif/avogadro/oxides/Al2O3-Corundum.cif");
    let before = inspect_json(src.to_str().unwrap());
    let mut prev = src;
    for name in ["POSCAR", "a.xyz", "b.cif"] {
        let next = dir.join(name);
        let out = genms().arg("convert").arg(&prev).arg(&next).output().unwrap();
        assert!(out.status.success(), "convert to {name}: {}", String::from_utf8_lossy(&out.stderr));
        prev = next;
    }
    let after = inspect_json(prev.to_str().unwrap());
    for key in ["reduced_formula", "num_sites", "spacegroup_number"] {
        assert_eq!(before[key], after[key], "{key}");
    }
    for key in ["volume", "a", "b", "c", "alpha", "beta", "gamma"] {
        let (x, y) = (before[key].as_f64().unwrap(), after[key].as_f64().unwrap());
        assert!((x - y).abs() < 1e-4, "{key}: {x} vs {y}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
