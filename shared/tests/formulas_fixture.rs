//! `fixtures/formulas.json` (pymatgen 2026.10.24 + smact 4.0.2 on 300 formula strings) against our Composition and
//! SMACT validity. The fixture must exist: a missing file is a failure, never a skip.

use genms_shared::composition::Composition;
use genms_shared::known::KnownFormulas;
use genms_shared::smact::{diffcsp_smact_validity, smact_validity};
use genms_shared::OxidationStates;
use serde_json::Value;

fn load_rows() -> Vec<Value> {
    let path = genms_shared::paths::shared_root().join("fixtures").join("formulas.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {} is required but cannot be read: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()));
    let rows = json["formulas"].as_array().unwrap_or_else(|| panic!("{}: no `formulas` array", path.display()));
    assert_eq!(rows.len(), 300, "unexpected fixture size");
    rows.clone()
}

fn str_field<'a>(row: &'a Value, key: &str) -> &'a str {
    row[key].as_str().unwrap_or_else(|| panic!("{key} missing in {row}"))
}

fn f64_field(row: &Value, key: &str) -> f64 {
    row[key].as_f64().unwrap_or_else(|| panic!("{key} missing in {row}"))
}

/// Hydrate separators of our extension: `·`, `•`, `∙`, `⋅`, `*`, or a `.` with whitespace on a side.
fn uses_hydrate_separator(input: &str) -> bool {
    let chars: Vec<char> = input.chars().collect();
    chars.iter().enumerate().any(|(i, &c)| {
        matches!(c, '·' | '•' | '∙' | '⋅' | '*')
            || (c == '.'
                && (i == 0 || chars[i - 1].is_whitespace() || chars.get(i + 1).is_none_or(|n| n.is_whitespace())))
    })
}

/// Compares one accepted row; returns the list of mismatching fields.
fn compare(row: &Value, comp: &Composition) -> Vec<String> {
    let mut bad = Vec::new();
    let mut check = |name: &str, ok: bool, ours: String, theirs: String| {
        if !ok {
            bad.push(format!("{name}: ours {ours} vs pymatgen {theirs}"));
        }
    };
    let rf = comp.reduced_formula();
    check("reduced_formula", rf == str_field(row, "reduced_formula"), rf, str_field(row, "reduced_formula").into());
    let af = comp.anonymized_formula();
    let theirs = str_field(row, "anonymized_formula");
    check("anonymized_formula", af == theirs, af, theirs.into());
    let cs = comp.chemical_system();
    let theirs = str_field(row, "chemical_system");
    check("chemical_system", cs == theirs, cs, theirs.into());

    let n = f64_field(row, "num_atoms");
    check("num_atoms", (comp.num_atoms() - n).abs() < 1e-9, comp.num_atoms().to_string(), n.to_string());
    let (reduced, factor) = comp.reduced_composition_and_factor();
    let f = f64_field(row, "reduction_factor");
    check("reduction_factor", (factor - f).abs() < 1e-12, factor.to_string(), f.to_string());
    let nr = f64_field(row, "num_atoms_reduced");
    check(
        "num_atoms_reduced",
        (reduced.num_atoms() - nr).abs() < 1e-9,
        reduced.num_atoms().to_string(),
        nr.to_string(),
    );
    let ii = row["is_integer"].as_bool().unwrap_or_else(|| panic!("is_integer missing in {row}"));
    check("is_integer", comp.is_integer() == ii, comp.is_integer().to_string(), ii.to_string());

    let ours: Vec<&str> = comp.elements().iter().map(|e| e.symbol()).collect();
    let theirs: Vec<&str> = row["elements"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    check("elements", ours == theirs, format!("{ours:?}"), format!("{theirs:?}"));

    let amounts = row["amounts"].as_object().unwrap_or_else(|| panic!("amounts missing in {row}"));
    let same_keys = amounts.len() == comp.len();
    let mut amounts_ok = same_keys;
    for (sym, v) in amounts {
        let theirs = v.as_f64().unwrap_or(f64::NAN);
        let ours = genms_shared::Element::from_symbol(sym).map(|e| comp.amount(e)).unwrap_or(f64::NAN);
        // NaN (unknown symbol or missing value) must fail too, hence the positive comparison.
        let close = (ours - theirs).abs() <= 1e-9;
        amounts_ok &= close;
    }
    check("amounts", amounts_ok, comp.to_string(), format!("{amounts:?}"));
    bad
}

#[test]
fn formulas_match_pymatgen() {
    let rows = load_rows();
    let (mut compared, mut agreed, mut rejected_ok, mut out_of_scope) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for row in &rows {
        let input = str_field(row, "input");
        let ok = row["ok"].as_bool().unwrap_or_else(|| panic!("ok missing in {row}"));
        let dummy = row["has_dummy_species"].as_bool().unwrap_or(false);
        let parsed = Composition::parse(input);
        if !ok && uses_hydrate_separator(input) {
            // pymatgen rejects hydrate notation; accepting it is our documented extension (see the unit tests).
            out_of_scope += 1;
            continue;
        }
        if !ok || dummy {
            match parsed {
                Err(_) => rejected_ok += 1,
                Ok(c) => failures.push(format!("{input:?}: pymatgen rejects / invents species, we accept {c}")),
            }
            continue;
        }
        compared += 1;
        match parsed {
            Err(e) => failures.push(format!("{input:?}: rejected: {e}")),
            Ok(comp) => {
                let bad = compare(row, &comp);
                if bad.is_empty() {
                    agreed += 1;
                } else {
                    failures.push(format!("{input:?}: {}", bad.join("; ")));
                }
            }
        }
    }
    println!(
        "formulas.json: {agreed}/{compared} accepted rows agree with pymatgen; {rejected_ok} rejected as expected; \
         {out_of_scope} hydrate-dot row(s) out of scope"
    );
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn smact_validity_matches_reference() {
    let rows = load_rows();
    type Validity = fn(&Composition) -> bool;
    let fields: [(&str, Validity); 3] = [
        ("diffcsp_smact_validity", |c| diffcsp_smact_validity(c, OxidationStates::Smact14)),
        ("diffcsp_smact_validity_icsd24", |c| diffcsp_smact_validity(c, OxidationStates::Icsd24)),
        ("smact_validity", smact_validity),
    ];
    let mut failures = Vec::new();
    for (field, f) in fields {
        let (mut total, mut agreed) = (0, 0);
        for row in &rows {
            let Some(expected) = row.get(field).and_then(Value::as_bool) else {
                continue;
            };
            total += 1;
            let input = str_field(row, "input");
            let comp = Composition::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            let ours = f(&comp);
            if ours == expected {
                agreed += 1;
            } else {
                failures.push(format!("{field} {input:?}: ours {ours}, reference {expected}"));
            }
        }
        println!("{field}: {agreed}/{total} agree");
        assert!(total > 250, "{field}: only {total} rows carry the field");
    }
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn known_formulas_real_file() {
    let path = KnownFormulas::default_path();
    let t = std::time::Instant::now();
    let known = KnownFormulas::load(&path)
        .unwrap_or_else(|e| panic!("known formulae file is required: {e} ({})", path.display()));
    println!("loaded {} known formulae in {:?} ({} unparsable)", known.len(), t.elapsed(), known.unparsable());
    assert!(known.len() > 400_000, "{}", known.len());
    assert_eq!(known.unparsable(), 0);
    assert!(known.contains_reduced("LiFePO4"));
    assert!(known.contains(&Composition::parse("Li4Fe4P4O16").unwrap()));
    assert!(!known.contains_reduced("O3Fe2"));
    let fe_o = known.in_chemical_system("Fe-O");
    assert!(fe_o.contains(&"Fe2O3") && fe_o.contains(&"Fe3O4"), "{fe_o:?}");
    assert!(fe_o.iter().all(|f| Composition::parse(f).unwrap().chemical_system() == "Fe-O"));
    // Every element symbol H..Lr is in the file (see data/compositions/README.md).
    for sym in ["H2", "He", "Fe", "O2", "Lr"] {
        assert!(known.contains_reduced(sym), "{sym}");
    }
    // The file was written by pymatgen: re-reducing a formula must give it back.
    // (Bare element symbols were added to the file as such: `O` is there although pymatgen writes `O2`.)
    for f in known.iter().step_by(97).filter(|f| genms_shared::Element::from_symbol(f).is_none()) {
        let comp = Composition::parse(f).unwrap();
        assert_eq!(comp.reduced_formula(), f, "round trip of known formula {f}");
    }
}
