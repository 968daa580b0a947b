//! The known-formula data a data-driven proposer retrieves from: every integer composition of the
//! `compositions/*.csv` files (deduplicated by reduced composition) with band-gap and metal labels from `mp_gap.csv` /
//! `mp_is_metal.csv` (median where a formula has several rows), plus the novelty list `known_formulas.txt` as an
//! exact reduced-formula set. Formula strings are parsed on all cores; loading everything takes about a second in
//! release builds.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use genms_shared::{Composition, Element};

use super::ProposerError;

/// Reduced integer composition, sorted by Z: the identity of a formula independent of how it was written.
pub(crate) type Key = Box<[(Element, u32)]>;

/// One known formula usable as a substitution parent.
#[derive(Debug, Clone)]
pub(crate) struct Parent {
    pub sites: Key,
    /// Median PBE band gap (eV) from `mp_gap.csv`.
    pub gap: Option<f32>,
    /// Median metal flag from `mp_is_metal.csv`.
    pub metal: Option<bool>,
}

pub(crate) struct KnownData {
    pub parents: Vec<Parent>,
    pub known: HashSet<Box<str>>,
}

/// The reduced key of a composition; `None` for fractional or empty ones.
pub(crate) fn key_of(comp: &Composition) -> Option<Key> {
    let counts = comp.reduced_integer_counts()?;
    let mut sites: Vec<(Element, u32)> =
        comp.iter().zip(counts).map(|((el, _), n)| (el, u32::try_from(n).unwrap_or(u32::MAX))).collect();
    sites.sort_by_key(|(el, _)| el.z());
    Some(sites.into_boxed_slice())
}

fn read(path: &Path) -> Result<String, ProposerError> {
    fs::read_to_string(path).map_err(|source| ProposerError::Io { path: path.to_path_buf(), source })
}

/// `formula,target` rows of one CSV (the formula is everything before the last comma).
fn rows(path: &Path, text: &str) -> Result<Vec<(String, String)>, ProposerError> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or("").trim();
    if header != "formula,target" {
        let why = format!("expected the header 'formula,target', found '{header}'");
        return Err(ProposerError::BadFile { path: path.to_path_buf(), why });
    }
    Ok(lines
        .filter_map(|l| l.rsplit_once(','))
        .map(|(f, t)| (f.trim().trim_matches('"').to_string(), t.trim().to_string()))
        .filter(|(f, _)| !f.is_empty())
        .collect())
}

/// Parses distinct formula strings on all cores.
fn parse_all(formulas: &[&str]) -> Vec<Option<Key>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 16);
    let chunk = formulas.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = formulas
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || part.iter().map(|f| Composition::parse(f).ok().and_then(|c| key_of(&c))).collect())
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|_| Vec::new())).collect::<Vec<Option<Key>>>()
    })
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { 0.5 * (v[m - 1] + v[m]) })
}

impl KnownData {
    pub fn load(compositions_dir: &Path, known_formulas: &Path) -> Result<KnownData, ProposerError> {
        let entries = fs::read_dir(compositions_dir)
            .map_err(|source| ProposerError::Io { path: compositions_dir.to_path_buf(), source })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "csv"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(ProposerError::NoData(compositions_dir.to_path_buf()));
        }
        let mut tables: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for path in &files {
            let text = read(path)?;
            let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            tables.push((name, rows(path, &text)?));
        }
        let mut distinct: Vec<&str> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for (_, rows) in &tables {
            for (f, _) in rows {
                if seen.insert(f.as_str()) {
                    distinct.push(f.as_str());
                }
            }
        }
        let keys = parse_all(&distinct);
        let key_of_str: HashMap<&str, &Key> =
            distinct.iter().zip(&keys).filter_map(|(f, k)| k.as_ref().map(|k| (*f, k))).collect();
        let mut index: HashMap<&Key, usize> = HashMap::new();
        let mut parents: Vec<Parent> = Vec::new();
        for k in keys.iter().flatten() {
            index.entry(k).or_insert_with(|| {
                parents.push(Parent { sites: k.clone(), gap: None, metal: None });
                parents.len() - 1
            });
        }
        let mut gaps: HashMap<usize, Vec<f64>> = HashMap::new();
        let mut metals: HashMap<usize, Vec<f64>> = HashMap::new();
        for (name, rows) in &tables {
            let target = match name.as_str() {
                "mp_gap" => &mut gaps,
                "mp_is_metal" => &mut metals,
                _ => continue,
            };
            for (f, t) in rows {
                let (Some(k), Ok(v)) = (key_of_str.get(f.as_str()), t.parse::<f64>()) else {
                    continue;
                };
                if let (Some(&i), true) = (index.get(*k), v.is_finite()) {
                    target.entry(i).or_default().push(v);
                }
            }
        }
        for (i, mut v) in gaps {
            parents[i].gap = median(&mut v).map(|g| g as f32);
        }
        for (i, mut v) in metals {
            parents[i].metal = median(&mut v).map(|m| m >= 0.5);
        }
        let known_text = read(known_formulas)?;
        let known: HashSet<Box<str>> =
            known_text.lines().map(str::trim).filter(|l| !l.is_empty()).map(Box::from).collect();
        if known.is_empty() {
            let why = "no formulae (expected one reduced formula per line)".to_string();
            return Err(ProposerError::BadFile { path: known_formulas.to_path_buf(), why });
        }
        Ok(KnownData { parents, known })
    }
}
