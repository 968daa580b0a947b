//! Property tests: structure -> text -> structure round trips for CIF, POSCAR (Direct and Cartesian) and extended
//! XYZ, on random lattices including very skewed ones (angles 30-150 degrees that form a valid cell, arbitrary
//! orientation), random elements and coordinates (also outside [0, 1)).
//!
//! CIF stores cell parameters, so it keeps lattice parameters and fractional coordinates (1e-6) but re-orients the
//! cell as pymatgen does; POSCAR and extended XYZ keep the lattice matrix itself.

use genms_shared::io::{
    read_cif, read_extxyz, read_poscar, write_cif, write_extxyz, write_poscar, write_poscar_cartesian, CifOptions,
    StructureFormat,
};
use genms_shared::{Element, Lattice, Structure};
use nalgebra::{Matrix3, Rotation3, Vector3};
use proptest::prelude::*;

/// Whether six parameters describe a real cell with some margin: the Gram determinant, normalised, is
/// 1 - cos^2 a - cos^2 b - cos^2 g + 2 cos a cos b cos g, the squared volume of the unit-edge cell.
fn valid_angles(al: f64, be: f64, ga: f64) -> bool {
    let (ca, cb, cg) = (al.to_radians().cos(), be.to_radians().cos(), ga.to_radians().cos());
    1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg > 0.01
}

fn lattice_params() -> impl Strategy<Value = [f64; 6]> {
    (2.0f64..25.0, 2.0f64..25.0, 2.0f64..25.0, 30.0f64..150.0, 30.0f64..150.0, 30.0f64..150.0)
        .prop_filter("geometrically valid cell", |p| valid_angles(p.3, p.4, p.5))
        .prop_map(|p| [p.0, p.1, p.2, p.3, p.4, p.5])
}

fn structure() -> impl Strategy<Value = Structure> {
    (
        lattice_params(),
        (-3.2f64..3.2, -1.6f64..1.6, -3.2f64..3.2),
        prop::collection::vec((1u32..=94, -0.5f64..1.5, -0.5f64..1.5, -0.5f64..1.5), 1..10),
    )
        .prop_map(|(p, (r1, r2, r3), sites)| {
            let base = Lattice::from_parameters(p[0], p[1], p[2], p[3], p[4], p[5]).expect("valid parameters");
            let rot = Rotation3::from_euler_angles(r1, r2, r3);
            let lattice = Lattice::from_matrix(base.matrix() * rot.matrix().transpose()).expect("rotated lattice");
            let species = sites.iter().map(|s| Element::from_z(s.0).expect("Z in range")).collect();
            let frac = sites.iter().map(|s| Vector3::new(s.1, s.2, s.3)).collect();
            Structure::new(lattice, species, frac).expect("valid structure")
        })
        // Sites closer than the reader's merge distance would (correctly) be merged.
        .prop_filter("well separated sites", |s| s.min_pairwise_distance().is_none_or(|d| d > 0.05))
}

fn periodic_close(a: &Vector3<f64>, b: &Vector3<f64>, tol: f64) -> bool {
    (a - b).iter().all(|d| (d - d.round()).abs() <= tol)
}

fn assert_same_sites(orig: &Structure, back: &Structure, tol: f64) -> Result<(), TestCaseError> {
    prop_assert_eq!(orig.species(), back.species());
    for (i, (a, b)) in orig.frac_coords().iter().zip(back.frac_coords()).enumerate() {
        prop_assert!(periodic_close(a, b, tol), "site {}: {:?} vs {:?}", i, a, b);
    }
    Ok(())
}

fn max_abs(m: Matrix3<f64>) -> f64 {
    m.iter().fold(0.0f64, |acc, x| acc.max(x.abs()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn cif_round_trip(s in structure()) {
        let text = write_cif(&s);
        let back = read_cif(&text, &CifOptions::default()).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back.len(), 1);
        let back = &back[0].structure;
        let (p, q) = (s.lattice().parameters(), back.lattice().parameters());
        for k in 0..6 {
            prop_assert!((p[k] - q[k]).abs() <= 1e-6, "parameter {}: {} vs {}", k, p[k], q[k]);
        }
        assert_same_sites(&s, back, 1e-6)?;
        prop_assert!((s.volume() - back.volume()).abs() <= 1e-6 * s.volume());
    }

    #[test]
    fn poscar_round_trip(s in structure()) {
        for text in [write_poscar(&s), write_poscar_cartesian(&s)] {
            let back = read_poscar(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            prop_assert!(max_abs(s.lattice().matrix() - back.lattice().matrix()) <= 1e-9);
            assert_same_sites(&s, &back, 1e-6)?;
        }
    }

    #[test]
    fn extxyz_round_trip(s in structure()) {
        let text = write_extxyz(&s);
        let back = read_extxyz(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert!(max_abs(s.lattice().matrix() - back.lattice().matrix()) == 0.0, "lattice is written exactly");
        assert_same_sites(&s, &back, 1e-6)?;
    }
}

#[test]
fn files_round_trip_by_extension() {
    let lattice = Lattice::from_parameters(3.1, 4.2, 5.3, 61.0, 118.0, 97.0).unwrap();
    let el = |s: &str| Element::from_symbol(s).unwrap();
    let s = Structure::new(
        lattice,
        vec![el("Li"), el("Fe"), el("O"), el("O")],
        vec![
            Vector3::new(0.0, 0.0, 0.0),
            Vector3::new(0.5, 0.25, 0.125),
            Vector3::new(0.3, 0.6, 0.9),
            Vector3::new(0.7, 0.1, 0.4),
        ],
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("genms-io-roundtrip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["x.cif", "POSCAR", "CONTCAR", "x.vasp", "x.xyz", "x.extxyz"] {
        let path = dir.join(name);
        genms_shared::io::write_structure_file(&path, &s).unwrap();
        let back = genms_shared::io::read_structure_file(&path).unwrap();
        assert_eq!(back.species(), s.species(), "{name}");
        for (a, b) in s.frac_coords().iter().zip(back.frac_coords()) {
            assert!(periodic_close(a, b, 1e-9), "{name}: {a:?} vs {b:?}");
        }
        assert!(StructureFormat::from_path(&path).is_some());
    }
    std::fs::remove_dir_all(&dir).ok();
}
