//! `genms inspect <formula | file>`: what genms knows about a formula or a structure. `--json` prints one object
//! with the field names of ARCHITECTURE §7 (other tools parse it).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use genms_shared::composition::Composition;
use genms_shared::io::read_structure_file;
use genms_shared::known::KnownFormulas;
use genms_shared::smact::diffcsp_smact_validity;
use genms_shared::symmetry::{space_group, DEFAULT_SYMPREC};
use genms_shared::validity::struct_validity;
use genms_shared::{paths, OxidationStates, Structure};
use serde_json::{json, Map, Value};

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A chemical formula (e.g. `LiFePO4`, `Fe2(SO4)3`) or a structure file (.cif, POSCAR, .vasp, .xyz).
    pub input: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Known-formula list for the novelty check (one pymatgen reduced formula per line).
    /// Default: $GENMS_SHARED/data/compositions/known_formulas.txt.
    #[arg(long, env = "GENMS_KNOWN_FORMULAS")]
    pub known_formulas: Option<PathBuf>,
    /// Symmetry tolerance (A) for the space-group search.
    #[arg(long, env = "GENMS_SYMPREC", default_value_t = DEFAULT_SYMPREC)]
    pub symprec: f64,
}

pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let (composition, structure) = if looks_like_file(&args.input) {
        let path = Path::new(&args.input);
        let s = read_structure_file(path).with_context(|| format!("cannot read structure file {}", path.display()))?;
        (s.composition(), Some(s))
    } else {
        let c = Composition::parse(&args.input).with_context(|| format!("cannot parse formula {:?}", args.input))?;
        (c, None)
    };
    let known = known_status(&args, &composition);
    let report = report(&composition, structure.as_ref(), known, args.symprec);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(())
}

/// A path that exists, or a name with a structure-file extension (so a missing file is reported as such rather
/// than as a strange formula).
fn looks_like_file(input: &str) -> bool {
    let p = Path::new(input);
    if p.is_file() {
        return true;
    }
    let lower = input.to_ascii_lowercase();
    [".cif", ".vasp", ".poscar", ".xyz", ".extxyz"].iter().any(|e| lower.ends_with(e))
        || input.contains('/')
        || matches!(p.file_name().and_then(|n| n.to_str()), Some("POSCAR" | "CONTCAR"))
}

fn known_status(args: &InspectArgs, composition: &Composition) -> Option<bool> {
    let path = args
        .known_formulas
        .clone()
        .unwrap_or_else(|| paths::shared_root().join("data/compositions/known_formulas.txt"));
    match KnownFormulas::load(&path) {
        Ok(index) => Some(index.contains(composition)),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "known-formula list unavailable; `known` is null");
            None
        }
    }
}

fn report(composition: &Composition, structure: Option<&Structure>, known: Option<bool>, symprec: f64) -> Value {
    let mut m = Map::new();
    m.insert("reduced_formula".into(), json!(composition.reduced_formula()));
    m.insert("anonymized_formula".into(), json!(composition.anonymized_formula()));
    m.insert("chemical_system".into(), json!(composition.chemical_system()));
    m.insert("composition".into(), json!(composition.formula().replace(' ', "")));
    m.insert("comp_valid".into(), json!(diffcsp_smact_validity(composition, OxidationStates::Smact14)));
    m.insert("known".into(), json!(known));
    if let Some(s) = structure {
        let [a, b, c, alpha, beta, gamma] = s.lattice().parameters();
        let v = struct_validity(s);
        m.insert("num_sites".into(), json!(s.num_sites()));
        m.insert("volume".into(), json!(v.volume));
        m.insert("density".into(), json!(s.density()));
        for (k, x) in [("a", a), ("b", b), ("c", c), ("alpha", alpha), ("beta", beta), ("gamma", gamma)] {
            m.insert(k.into(), json!(x));
        }
        m.insert("min_pairwise_distance".into(), json!(v.min_pairwise_distance));
        m.insert("struct_valid".into(), json!(v.struct_valid));
        m.insert("invalid_reason".into(), json!(v.reason.map(|r| r.as_str())));
        match space_group(s, symprec) {
            Ok(sg) => {
                m.insert("spacegroup_number".into(), json!(sg.number));
                m.insert("spacegroup_symbol".into(), json!(sg.symbol));
            }
            Err(e) => {
                tracing::warn!(error = %e, "no space group");
                m.insert("spacegroup_number".into(), Value::Null);
                m.insert("spacegroup_symbol".into(), Value::Null);
            }
        }
    }
    Value::Object(m)
}

fn print_text(report: &Value) {
    let Value::Object(m) = report else { return };
    for (k, v) in m {
        let shown = match v {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            Value::Number(n) => match n.as_f64() {
                Some(x) if !n.is_i64() && !n.is_u64() => format!("{x:.4}"),
                _ => n.to_string(),
            },
            other => other.to_string(),
        };
        println!("{k:>22}  {shown}");
    }
}
