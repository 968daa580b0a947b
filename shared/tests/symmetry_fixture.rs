//! Space groups from moyo (symprec 0.1) against pymatgen/spglib's `SpacegroupAnalyzer(symprec=0.1)` on the
//! Avogadro CIFs of `fixtures/cif_parse.json`: at least 95 % of the records that have a space group must agree.

use genms_shared::io::{read_cif_structure, CifOptions, DisorderPolicy};
use genms_shared::paths::shared_root;
use genms_shared::symmetry::{space_group, DEFAULT_SYMPREC};
use serde_json::Value;

#[test]
fn space_groups_match_spglib() {
    let root = shared_root();
    let path = root.join("fixtures/cif_parse.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("shared fixture {} is required (set GENMS_SHARED): {e}", path.display()));
    let fx: Value = serde_json::from_str(&text).unwrap();
    let (mut total, mut number_ok, mut symbol_ok) = (0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    for r in fx["records"].as_array().unwrap() {
        let Some(expected) = r["spacegroup_number"].as_u64() else { continue };
        total += 1;
        let file = root.join("data/cif/avogadro").join(r["path"].as_str().unwrap());
        let cif = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        // pymatgen found the symmetry of disordered files with each (species, occupancy) mix as its own label; an
        // ordered approximation (majority occupant per position) keeps that symmetry in most cases.
        let opts = if r["is_ordered"].as_bool() == Some(false) {
            CifOptions { disorder: DisorderPolicy::MajorityOccupant, ..CifOptions::default() }
        } else {
            CifOptions::default()
        };
        let got = read_cif_structure(&cif, &opts)
            .map_err(|e| e.to_string())
            .and_then(|s| space_group(&s, DEFAULT_SYMPREC).map_err(|e| e.to_string()));
        match got {
            Ok(sg) if sg.number as u64 == expected => {
                number_ok += 1;
                if r["spacegroup_symbol"].as_str() == Some(sg.symbol.as_str()) {
                    symbol_ok += 1;
                } else {
                    misses.push(format!("{}: symbol {} vs {}", r["path"], sg.symbol, r["spacegroup_symbol"]));
                }
            }
            Ok(sg) => misses.push(format!("{}: {} vs {expected}", r["path"], sg.number)),
            Err(e) => misses.push(format!("{}: {e}", r["path"])),
        }
    }
    let rate = number_ok as f64 / total as f64;
    println!("space-group agreement: {number_ok}/{total} = {:.1} % (symbols {symbol_ok})", 100.0 * rate);
    for m in &misses {
        println!("  {m}");
    }
    assert_eq!(total, 476);
    assert!(rate >= 0.95, "space-group agreement {:.1} % < 95 %", 100.0 * rate);
    // Where the number agrees, the symbol must be spelled as spglib spells it.
    assert_eq!(symbol_ok, number_ok, "symbols differ: {misses:?}");
}
