//! DiffCSP structural and compositional validity against `fixtures/validity.json` (pymatgen + DiffCSP's eval code).
//! Tolerances: volume 1e-6 relative, min_pairwise_distance 1e-6 A.

use genms_shared::smact::diffcsp_smact_validity;
use genms_shared::validity::{struct_validity, InvalidReason};
use genms_shared::{paths::shared_root, Element, Lattice, OxidationStates, Structure};
use nalgebra::Vector3;
use serde_json::Value;

fn fixture() -> Value {
    let path = shared_root().join("fixtures/validity.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("shared fixture {} is required (set GENMS_SHARED): {e}", path.display()));
    serde_json::from_str(&text).expect("validity.json parses")
}

fn f64s(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[test]
fn struct_validity_matches_diffcsp() {
    let fx = fixture();
    let records = fx["structures"].as_array().unwrap();
    assert_eq!(records.len(), 100);
    for r in records {
        let id = &r["id"];
        let l = f64s(&r["lengths"]);
        let a = f64s(&r["angles"]);
        let lattice = Lattice::from_parameters(l[0], l[1], l[2], a[0], a[1], a[2]).unwrap();
        let species = r["species"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| Element::from_symbol(s.as_str().unwrap()).unwrap())
            .collect();
        let frac = r["frac_coords"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let c = f64s(c);
                Vector3::new(c[0], c[1], c[2])
            })
            .collect();
        let s = Structure::new(lattice, species, frac).unwrap();
        let v = struct_validity(&s);
        let comp_valid = diffcsp_smact_validity(&s.composition(), OxidationStates::Smact14);
        assert_eq!(comp_valid, r["comp_valid"].as_bool().unwrap(), "record {id}: comp_valid");
        assert_eq!(v.struct_valid && comp_valid, r["valid"].as_bool().unwrap(), "record {id}: valid");
        assert_eq!(v.struct_valid, r["struct_valid"].as_bool().unwrap(), "record {id}: {v:?}");
        let vol = r["volume"].as_f64().unwrap();
        assert!((v.volume - vol).abs() <= 1e-6 * vol.max(1.0), "record {id}: volume {} vs {vol}", v.volume);
        if !r["constructed"].as_bool().unwrap() {
            assert_eq!(v.reason, Some(InvalidReason::UnrealisticallySmallLattice), "record {id}");
        }
        match (v.min_pairwise_distance, r["min_pairwise_distance"].as_f64()) {
            (Some(ours), Some(theirs)) => {
                assert!((ours - theirs).abs() < 1e-6, "record {id}: min distance {ours} vs {theirs}")
            }
            (None, None) => {}
            (ours, theirs) => panic!("record {id}: min distance {ours:?} vs {theirs:?}"),
        }
    }
}
