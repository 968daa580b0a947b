//! The CDVAE CSV reader on the real datasets: every row parses, its CIF gives a structure, and the structure's
//! reduced formula (our pymatgen-compatible one) equals the `formula` column pymatgen wrote.

use genms_shared::dataset::CdvaeReader;
use genms_shared::paths::shared_root;
use genms_shared::validity::struct_validity;

fn check(rel: &str, limit: usize) -> usize {
    let path = shared_root().join(rel);
    assert!(path.exists(), "shared dataset {} is required (set GENMS_SHARED)", path.display());
    let mut n = 0;
    for row in CdvaeReader::open(&path).unwrap().take(limit) {
        let row = row.unwrap_or_else(|e| panic!("{e}"));
        let s = row.structure().unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(s.composition().reduced_formula(), row.formula, "{rel} record {} ({})", row.record, row.material_id);
        assert!(struct_validity(&s).volume > 0.0);
        n += 1;
    }
    n
}

#[test]
fn mp20_subset_rows_parse_and_formulas_agree() {
    assert_eq!(check("data/structures/mp_20_subset/train.csv", usize::MAX), 847);
    assert_eq!(check("data/structures/mp_20_subset/val.csv", usize::MAX), 123);
}

#[test]
fn perov5_and_carbon24_rows_parse() {
    assert_eq!(check("data/structures/perov_5/val.csv", 500), 500);
    assert_eq!(check("data/structures/carbon_24/val.csv", 300), 300);
}

#[test]
fn property_columns_are_exposed() {
    let path = shared_root().join("data/structures/mp_20_subset/val.csv");
    let row = CdvaeReader::open(&path).unwrap().next().unwrap().unwrap();
    let e = row.property_f64("formation_energy_per_atom").unwrap();
    assert!(e.is_some_and(|x| x.is_finite() && x < 5.0), "{e:?}");
}
