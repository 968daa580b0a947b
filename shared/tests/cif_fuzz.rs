//! Mutation fuzzing of `read_cif` on stable Rust (no cargo-fuzz): proptest picks one of the 510 Avogadro CIFs and
//! applies 1-4 random mutations (bit flips, truncation, duplicated / deleted / swapped / massively repeated lines,
//! inserted tokens such as quotes, semicolons, `loop_`, and replaced numbers such as 1e308, 99999999999, NaN, -0).
//! Every case must return (Ok or a clean error) without panicking, within `MAX_CASE_SECONDS`.
//!
//! Cases: `GENMS_FUZZ_CASES` (default 20000: about 60 s in a debug build on 2 shared cores, ~3 ms per case). The corpus directory is required: the
//! test panics when it is missing rather than skipping.

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use genms_shared::io::{read_cif, CifOptions, DisorderPolicy};
use genms_shared::paths::shared_root;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const DEFAULT_CASES: u32 = 20_000;
/// A debug build reads the largest real file (2304 sites after expansion) in ~0.1 s; anything near this bound would
/// mean an unbounded expansion slipped through.
const MAX_CASE_SECONDS: f64 = 10.0;

fn corpus() -> &'static Vec<(String, Vec<u8>)> {
    static CORPUS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let dir = shared_root().join("data/cif/avogadro");
        assert!(dir.is_dir(), "CIF corpus {} is required (set GENMS_SHARED)", dir.display());
        let mut files = Vec::new();
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display())) {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "cif") {
                    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
                    let rel = path.strip_prefix(&dir).unwrap_or(&path).display().to_string();
                    files.push((rel, bytes));
                }
            }
        }
        files.sort();
        assert_eq!(files.len(), 510, "expected the 510 Avogadro CIFs in {}", dir.display());
        files
    })
}

const TOKENS: &[&str] = &[
    "'",
    "\"",
    ";",
    "\n;",
    ";\n",
    "\n;\n",
    "loop_",
    "loop_\n",
    "data_",
    "data_x\n",
    "save_s",
    "save_",
    "global_",
    "stop_",
    "_atom_site_fract_x",
    "_symmetry_equiv_pos_as_xyz",
    "_cell_length_a",
    "_atom_site_occupancy",
    "?",
    ".",
    "(",
    ")",
    "1(2",
    "x,y,z",
    "'-x+1/2,y,z'",
    "'x,x,z'",
    "1/0",
    "#",
    "\u{0}",
    "\u{e9}",
    "\r",
    "\t",
    " ",
    "\n",
];

const NUMBERS: &[&str] = &[
    "1e308",
    "-1e308",
    "1e400",
    "99999999999",
    "1e-300",
    "NaN",
    "nan",
    "inf",
    "-0",
    "0",
    "1e5",
    "-5",
    "0.0001",
    "180",
    "179.9999",
    "0.5",
    "2",
    "1.0(3)",
    "-.2194(",
];

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    Truncate(Index),
    DuplicateLine(Index),
    DeleteLine(Index),
    SwapLines(Index, Index),
    RepeatLine(Index, usize),
    InsertToken(Index, usize),
    ReplaceNumber(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        any::<Index>().prop_map(Mutation::Truncate),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        any::<Index>().prop_map(Mutation::DeleteLine),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<Index>(), prop_oneof![2usize..20, 500usize..3000]).prop_map(|(i, n)| Mutation::RepeatLine(i, n)),
        (any::<Index>(), 0..TOKENS.len()).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        (any::<Index>(), 0..NUMBERS.len()).prop_map(|(i, t)| Mutation::ReplaceNumber(i, t)),
    ]
}

fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes.split(|b| *b == b'\n').map(|l| l.to_vec()).collect()
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    match m {
        Mutation::FlipBit(i, bit) => {
            if !bytes.is_empty() {
                let k = i.index(bytes.len());
                bytes[k] ^= 1 << bit;
            }
        }
        Mutation::Truncate(i) => {
            let k = i.index(bytes.len() + 1);
            bytes.truncate(k);
        }
        Mutation::DuplicateLine(i) | Mutation::DeleteLine(i) | Mutation::RepeatLine(i, _) => {
            let mut lines = split_lines(bytes);
            let k = i.index(lines.len());
            match m {
                Mutation::DuplicateLine(_) => lines.insert(k, lines[k].clone()),
                Mutation::DeleteLine(_) => {
                    lines.remove(k);
                }
                Mutation::RepeatLine(_, n) => {
                    let line = lines[k].clone();
                    for _ in 0..*n {
                        lines.insert(k, line.clone());
                    }
                }
                _ => unreachable!("outer match restricts the variants"),
            }
            *bytes = lines.join(&b'\n');
        }
        Mutation::SwapLines(a, b) => {
            let mut lines = split_lines(bytes);
            let (x, y) = (a.index(lines.len()), b.index(lines.len()));
            lines.swap(x, y);
            *bytes = lines.join(&b'\n');
        }
        Mutation::InsertToken(i, t) => {
            let k = i.index(bytes.len() + 1);
            bytes.splice(k..k, TOKENS[*t].bytes());
        }
        Mutation::ReplaceNumber(i, t) => {
            // Numbers: maximal runs of digits, '.', '-', '(' and ')' that contain a digit.
            let mut spans = Vec::new();
            let mut start = None;
            for (k, b) in bytes.iter().enumerate() {
                let numeric = b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'(' | b')');
                match (numeric, start) {
                    (true, None) => start = Some(k),
                    (false, Some(s)) => {
                        if bytes[s..k].iter().any(|c| c.is_ascii_digit()) {
                            spans.push((s, k));
                        }
                        start = None;
                    }
                    _ => {}
                }
            }
            if !spans.is_empty() {
                let (s, e) = spans[i.index(spans.len())];
                bytes.splice(s..e, NUMBERS[*t].bytes());
            }
        }
    }
}

fn cases() -> u32 {
    std::env::var("GENMS_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES)
}

#[test]
fn read_cif_never_panics_on_mutated_files() {
    let files = corpus();
    let n_cases = cases();
    let mut runner = TestRunner::new(Config { cases: n_cases, failure_persistence: None, ..Config::default() });
    let strategy = (0..files.len(), prop::collection::vec(mutation(), 1..=4), any::<bool>());
    let start = Instant::now();
    // TestRunner::run takes an Fn closure: statistics go through RefCells.
    let slowest = RefCell::new((Duration::ZERO, String::new()));
    let outcomes = RefCell::new([0usize; 2]);
    let result = runner.run(&strategy, |(file, mutations, majority)| {
        let (name, original) = &files[file];
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let text = String::from_utf8_lossy(&bytes);
        let opts =
            if majority { CifOptions::with_disorder(DisorderPolicy::MajorityOccupant) } else { CifOptions::default() };
        let t0 = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| read_cif(&text, &opts).map(|v| v.len())));
        let dt = t0.elapsed();
        if dt > slowest.borrow().0 {
            *slowest.borrow_mut() = (dt, format!("{name} {mutations:?}"));
        }
        match outcome {
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                return Err(TestCaseError::fail(format!("read_cif panicked on {name} after {mutations:?}: {msg}")));
            }
            Ok(r) => outcomes.borrow_mut()[usize::from(r.is_ok())] += 1,
        }
        if dt.as_secs_f64() > MAX_CASE_SECONDS {
            return Err(TestCaseError::fail(format!(
                "read_cif took {:.1} s on {name} after {mutations:?}",
                dt.as_secs_f64()
            )));
        }
        Ok(())
    });
    let (slowest, outcomes) = (slowest.into_inner(), outcomes.into_inner());
    println!(
        "fuzz: {n_cases} cases in {:.1} s ({} parsed, {} clean errors); slowest {:.3} s: {}",
        start.elapsed().as_secs_f64(),
        outcomes[1],
        outcomes[0],
        slowest.0.as_secs_f64(),
        slowest.1.chars().take(300).collect::<String>()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn absurd_inputs_are_refused_cleanly() {
    let head = "data_x\n_cell_length_a 10\n_cell_length_b 10\n_cell_length_c 10\n_cell_angle_alpha 90\n\
                _cell_angle_beta 90\n_cell_angle_gamma 90\n";
    let atoms =
        "loop_\n_atom_site_label\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\nSi1 0.1 0.2 0.3\n";
    // Thousands of listed operations.
    let mut ops = String::from("loop_\n_symmetry_equiv_pos_as_xyz\n");
    for _ in 0..5000 {
        ops.push_str("x,y,z\n");
    }
    let err = read_cif(&format!("{head}{ops}{atoms}"), &CifOptions::default()).unwrap_err().to_string();
    assert!(err.contains("5000 symmetry operations") && err.contains("limit"), "{err}");
    // An absurd cell.
    let huge = head.replace("_cell_length_a 10", "_cell_length_a 1e300");
    let err = read_cif(&format!("{huge}{atoms}"), &CifOptions::default()).unwrap_err().to_string();
    assert!(err.contains("cell length") && err.contains("limit"), "{err}");
    let big = head.replace("10\n", "5000\n");
    let err = read_cif(&format!("{big}{atoms}"), &CifOptions::default()).unwrap_err().to_string();
    assert!(err.contains("cell volume") && err.contains("limit"), "{err}");
    let flat = head.replace("_cell_length_c 10", "_cell_length_c 1e-5");
    let err = read_cif(&format!("{flat}{atoms}"), &CifOptions::default()).unwrap_err().to_string();
    assert!(err.contains("between opposite cell faces"), "{err}");
    // More sites after expansion than allowed.
    let opts = CifOptions { max_sites: 100, ..CifOptions::default() };
    let mut rows = String::from(atoms);
    for i in 0..60 {
        rows.push_str(&format!("Si{} 0.{i:02}1 0.5 0.5\n", i + 2));
    }
    let ops = "loop_\n_symmetry_equiv_pos_as_xyz\nx,y,z\n-x,-y,-z\n";
    let err = read_cif(&format!("{head}{ops}{rows}"), &opts).unwrap_err().to_string();
    assert!(err.contains("after symmetry expansion") && err.contains("100"), "{err}");
    // NaN and overflowing numbers are values that are not numbers, with their line.
    let nan = head.replace("_cell_length_b 10", "_cell_length_b NaN");
    let err = read_cif(&format!("{nan}{atoms}"), &CifOptions::default()).unwrap_err().to_string();
    assert!(err.contains("line 3") && err.contains("not a number"), "{err}");
}
