//! Property test: the cell-list neighbour list equals brute force (all pairs x all images) on random, strongly
//! skewed cells with coordinates outside [0, 1).

use genms_shared::neighbors::NeighborList;
use genms_shared::{Element, Lattice, Structure};
use nalgebra::Vector3;
use proptest::prelude::*;

fn skewed_structure() -> impl Strategy<Value = Structure> {
    (
        (1.5f64..7.0, 1.5f64..7.0, 1.5f64..7.0),
        (-2.5f64..2.5, -2.5f64..2.5, -2.5f64..2.5),
        prop::collection::vec((-1.5f64..2.5, -1.5f64..2.5, -1.5f64..2.5), 1..7),
    )
        .prop_filter_map("degenerate cell", |((la, lb, lc), (s1, s2, s3), coords)| {
            // Lower-triangular rows with large shears: images far beyond +-1 matter here.
            let lattice = Lattice::from_rows([[la, 0.0, 0.0], [s1 * la, lb, 0.0], [s2 * la, s3 * lb, lc]]).ok()?;
            let c = Element::from_symbol("C")?;
            let frac = coords.into_iter().map(|(x, y, z)| Vector3::new(x, y, z)).collect::<Vec<_>>();
            Structure::new(lattice, vec![c; frac.len()], frac).ok()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn cell_lists_equal_brute_force(s in skewed_structure(), radius in 0.5f64..6.0) {
        let fast = NeighborList::build(&s, radius).unwrap();
        let slow = NeighborList::brute_force(&s, radius).unwrap();
        prop_assert!(fast.compare(&slow, 1e-9).is_ok(), "{:?}", fast.compare(&slow, 1e-9));
        // Every neighbour sits where its image says, at the distance it reports.
        for i in 0..s.num_sites() {
            for n in fast.of(i) {
                let img = Vector3::new(n.image[0] as f64, n.image[1] as f64, n.image[2] as f64);
                let d = s.lattice().to_cartesian(&(s.frac_coords()[n.index] + img - s.frac_coords()[i])).norm();
                prop_assert!((d - n.distance).abs() < 1e-9);
            }
        }
    }

    #[test]
    fn parameters_of_any_valid_cell_round_trip(
        a in 1.0f64..20.0, b in 1.0f64..20.0, c in 1.0f64..20.0,
        alpha in 30.0f64..150.0, beta in 30.0f64..150.0, gamma in 30.0f64..150.0,
    ) {
        if let Ok(l) = Lattice::from_parameters(a, b, c, alpha, beta, gamma) {
            prop_assume!(l.volume() > 1e-3 * a * b * c);
            let p = l.parameters();
            for (x, y) in p.iter().zip([a, b, c, alpha, beta, gamma]) {
                prop_assert!((x - y).abs() < 1e-8, "{p:?} vs {:?}", [a, b, c, alpha, beta, gamma]);
            }
        }
    }
}
