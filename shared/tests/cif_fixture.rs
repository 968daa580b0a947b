//! `read_cif` against pymatgen's reference parse of the 510 Avogadro CIFs (`fixtures/cif_parse.json`, see its
//! `description`). Panics when the fixture or the CIF directory is missing: this test never skips.
//!
//! * 454 files pymatgen read as ordered with no two sites closer than 0.01 A: element counts, number of sites, cell
//!   parameters (1e-4 A / 1e-4 degrees) and volume (1e-6 relative) must agree for at least 97 % of them;
//! * 19 files (IZA zeolites) where pymatgen kept symmetry images 0.001-0.005 A apart: we must have merged them
//!   (no two sites closer than the merge distance); the site-count differences are printed;
//! * 22 files pymatgen read as disordered: the default policy must give the disordered-site error, and the
//!   `MajorityOccupant` policy must read them;
//! * 15 files pymatgen failed on: any error or success, never a panic (all 15 give a clean error today);
//! * the 100 pymatgen `CifWriter` outputs in `fixtures/validity.json` read back to their species and coordinates.
//!
//! No file may make the reader panic.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::Instant;

use genms_shared::io::{read_cif, CifOptions, CifStructure, DisorderPolicy, IoError};
use genms_shared::paths::shared_root;
use genms_shared::Structure;
use serde_json::Value;

fn fixture() -> Value {
    let path = shared_root().join("fixtures/cif_parse.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("shared fixture {} is required (set GENMS_SHARED): {e}", path.display()));
    serde_json::from_str(&text).expect("cif_parse.json parses")
}

fn cif_dir() -> PathBuf {
    let dir = shared_root().join("data/cif/avogadro");
    assert!(dir.is_dir(), "CIF directory {} is required (set GENMS_SHARED)", dir.display());
    dir
}

fn read_text(path: &PathBuf) -> String {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

/// "Al4 Sb4" -> {Al: 4, Sb: 4}; amounts may be fractional ("Fe0.5").
fn parse_formula(formula: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for tok in formula.split_whitespace() {
        let split = tok.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(tok.len());
        let (sym, amount) = tok.split_at(split);
        let amount: f64 = if amount.is_empty() { 1.0 } else { amount.parse().expect("formula amount") };
        *out.entry(sym.to_string()).or_insert(0.0) += amount;
    }
    out
}

fn counts(s: &Structure) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for e in s.species() {
        *out.entry(e.symbol().to_string()).or_insert(0.0) += 1.0;
    }
    out
}

type Outcome = Result<Result<Vec<CifStructure>, IoError>, String>;

fn parse_guarded(text: &str, opts: &CifOptions) -> Outcome {
    catch_unwind(AssertUnwindSafe(|| read_cif(text, opts))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

/// Smallest distance between two sites over nearest (rounded) periodic images. It can overestimate distances of
/// several A in skewed cells, but is exact below half the cell width, which is all the merge check needs; O(n^2)
/// without `Structure::min_pairwise_distance`'s image search keeps the 2304-site LTN cheap in debug builds.
fn nearest_image_min_distance(s: &Structure) -> f64 {
    let f = s.frac_coords();
    let mut best = f64::INFINITY;
    for i in 0..f.len() {
        for j in (i + 1)..f.len() {
            let d = (f[j] - f[i]).map(|x| x - x.round());
            best = best.min(s.lattice().to_cartesian(&d).norm());
        }
    }
    best
}

/// Why our structure disagrees with the pymatgen record, or `None` when it agrees.
fn compare(rec: &Value, s: &Structure) -> Option<String> {
    let mut why = Vec::new();
    let want = parse_formula(rec["formula"].as_str().expect("formula"));
    let got = counts(s);
    let same_counts =
        want.len() == got.len() && want.iter().all(|(k, v)| got.get(k).is_some_and(|g| (g - v).abs() < 1e-6));
    if !same_counts {
        why.push(format!("composition {got:?} vs pymatgen {want:?}"));
    }
    let n = rec["num_sites"].as_u64().expect("num_sites") as usize;
    if s.num_sites() != n {
        why.push(format!("{} sites vs pymatgen {n}", s.num_sites()));
    }
    let p = s.lattice().parameters();
    for (k, name) in ["a", "b", "c", "alpha", "beta", "gamma"].iter().enumerate() {
        let r = rec[*name].as_f64().expect("cell parameter");
        if (p[k] - r).abs() > 1e-4 {
            why.push(format!("{name} {} vs pymatgen {r}", p[k]));
        }
    }
    let v = rec["volume"].as_f64().expect("volume");
    if ((s.volume() - v) / v).abs() > 1e-6 {
        why.push(format!("volume {} vs pymatgen {v}", s.volume()));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

#[test]
fn avogadro_cifs_match_pymatgen() {
    let fx = fixture();
    let dir = cif_dir();
    let records = fx["records"].as_array().expect("records");
    assert_eq!(records.len(), 510, "fixture should describe 510 files");
    let opts = CifOptions::default();
    let merge = opts.merge_distance;
    let start = Instant::now();

    let mut panics = Vec::new();
    let (mut compared, mut agreed) = (0usize, 0usize);
    let mut disagreements = Vec::new();
    let mut zeolites = Vec::new();
    let mut zeolite_failures = Vec::new();
    let mut disordered_bad = Vec::new();
    let mut n_disordered = 0;
    let mut failed_files = Vec::new();

    for rec in records {
        let rel = rec["path"].as_str().expect("path");
        let path = dir.join(rel);
        assert!(path.is_file(), "CIF {} listed in the fixture is missing", path.display());
        let text = read_text(&path);
        let t0 = Instant::now();
        let outcome = parse_guarded(&text, &opts);
        let dt = t0.elapsed().as_secs_f64();
        if dt > 2.0 {
            println!("   slow: {rel} took {dt:.2} s");
        }
        let result = match outcome {
            Err(msg) => {
                panics.push(format!("{rel}: {msg}"));
                continue;
            }
            Ok(r) => r,
        };
        let ok = rec["ok"].as_bool().expect("ok");
        let ordered = rec["is_ordered"].as_bool().unwrap_or(false);
        let mpd = rec["min_pairwise_distance"].as_f64();
        if !ok {
            let what = match &result {
                Ok(v) => format!("read ({} sites); pymatgen: {}", v[0].structure.num_sites(), rec["error"]),
                Err(e) => format!("error: {e}"),
            };
            failed_files.push(format!("{rel}: {what}"));
        } else if !ordered {
            n_disordered += 1;
            match &result {
                Err(IoError::Disordered { .. }) => {}
                other => disordered_bad.push(format!("{rel}: expected a disordered-site error, got {other:?}")),
            }
            match parse_guarded(&text, &CifOptions::with_disorder(DisorderPolicy::MajorityOccupant)) {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => disordered_bad.push(format!("{rel}: MajorityOccupant fails: {e}")),
                Err(p) => panics.push(format!("{rel} (MajorityOccupant): {p}")),
            }
        } else if mpd.is_some_and(|d| d < 0.01) {
            match &result {
                Ok(v) => {
                    let s = &v[0].structure;
                    let ours = nearest_image_min_distance(s);
                    if ours < merge {
                        zeolite_failures.push(format!("{rel}: min distance {ours:.5} A < {merge} A"));
                    }
                    let why = compare(rec, s).unwrap_or_else(|| "agrees".into());
                    zeolites.push(format!(
                        "{rel}: {} sites (pymatgen {}), min distance {ours:.3} A (pymatgen {:.4} A); {why}",
                        s.num_sites(),
                        rec["num_sites"],
                        mpd.unwrap_or(f64::NAN)
                    ));
                }
                Err(e) => zeolite_failures.push(format!("{rel}: {e}")),
            }
        } else {
            compared += 1;
            match &result {
                Ok(v) => match compare(rec, &v[0].structure) {
                    None => agreed += 1,
                    Some(why) => disagreements.push(format!("{rel}: {why}")),
                },
                Err(e) => disagreements.push(format!("{rel}: error: {e}")),
            }
        }
    }

    let pct = 100.0 * agreed as f64 / compared.max(1) as f64;
    println!("== ordered files (min distance >= 0.01 A): {agreed}/{compared} agree with pymatgen ({pct:.2} %)");
    for d in &disagreements {
        println!("   DISAGREE {d}");
    }
    println!("== near-duplicate zeolites: {} (merged at {merge} A)", zeolites.len());
    for z in &zeolites {
        println!("   {z}");
    }
    println!("== disordered files: {n_disordered}, wrong outcome: {}", disordered_bad.len());
    for d in &disordered_bad {
        println!("   {d}");
    }
    println!("== files pymatgen failed on: {}", failed_files.len());
    for f in &failed_files {
        println!("   {f}");
    }
    println!("== total time {:.2} s", start.elapsed().as_secs_f64());

    assert!(panics.is_empty(), "read_cif panicked on: {panics:#?}");
    assert_eq!(compared, 454, "the fixture should have 454 ordered, well-separated records");
    assert!(pct >= 97.0, "only {pct:.2} % of ordered files agree with pymatgen");
    assert_eq!(zeolites.len() + zeolite_failures.len(), 19);
    assert!(zeolite_failures.is_empty(), "near-duplicate files not merged: {zeolite_failures:#?}");
    assert_eq!(n_disordered, 22);
    assert!(disordered_bad.is_empty(), "disordered files: {disordered_bad:#?}");
}

#[test]
fn formula_parser_reads_fixture_formulae() {
    let f = parse_formula("Al4 Sb4");
    assert_eq!(f.get("Al"), Some(&4.0));
    let f = parse_formula("Fe0.5 Ni0.5 Pt1");
    assert_eq!(f.get("Fe"), Some(&0.5));
    assert_eq!(f.len(), 3);
}

/// pymatgen `CifWriter` output (the `cif` field of `fixtures/validity.json`) reads back to the structure it was
/// written from: same species in the same order, coordinates within 1e-6 (CifWriter writes 8 decimals), cell
/// parameters within 1e-6. Cells thinner than the reader's minimum width must give a clean error.
#[test]
fn reads_pymatgen_cifwriter_output() {
    let path = shared_root().join("fixtures/validity.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("shared fixture {} is required (set GENMS_SHARED): {e}", path.display()));
    let fx: Value = serde_json::from_str(&text).expect("validity.json parses");
    let records = fx["structures"].as_array().expect("structures");
    assert_eq!(records.len(), 100);
    let nums =
        |v: &Value| -> Vec<f64> { v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect() };
    let (mut read, mut refused) = (0, 0);
    for r in records {
        let id = &r["id"];
        let (l, a) = (nums(&r["lengths"]), nums(&r["angles"]));
        let thin = genms_shared::Lattice::from_parameters(l[0], l[1], l[2], a[0], a[1], a[2])
            .map(|lat| lat.perpendicular_widths().iter().any(|w| *w < genms_shared::io::cif::MIN_CELL_WIDTH))
            .unwrap_or(true);
        let cif = r["cif"].as_str().expect("cif");
        let result = parse_guarded(cif, &CifOptions::default()).unwrap_or_else(|p| panic!("{id}: panic {p}"));
        if thin {
            assert!(result.is_err(), "{id}: a cell thinner than the minimum width should be refused");
            refused += 1;
            continue;
        }
        let s = &result.unwrap_or_else(|e| panic!("{id}: {e}"))[0].structure;
        let species: Vec<&str> =
            r["species"].as_array().expect("species").iter().map(|x| x.as_str().expect("symbol")).collect();
        let ours: Vec<&str> = s.species().iter().map(|e| e.symbol()).collect();
        assert_eq!(ours, species, "{id}");
        for (k, (want, got)) in r["frac_coords"].as_array().expect("coords").iter().zip(s.frac_coords()).enumerate() {
            let want = nums(want);
            for c in 0..3 {
                let d = got[c] - want[c];
                assert!((d - d.round()).abs() < 1e-6, "{id} site {k}: {got:?} vs {want:?}");
            }
        }
        let p = s.lattice().parameters();
        for k in 0..3 {
            assert!((p[k] - l[k]).abs() < 1e-6 && (p[3 + k] - a[k]).abs() < 1e-6, "{id}: {p:?} vs {l:?} {a:?}");
        }
        read += 1;
    }
    println!("validity.json CIFs: {read} read back exactly, {refused} thin cells refused");
    assert!(read >= 90, "only {read} of 100 pymatgen CIFs were read");
}
