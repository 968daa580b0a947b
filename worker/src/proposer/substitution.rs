//! The data-driven baseline proposer: retrieve known formulae that fit the constraints, then substitute one or two of
//! their elements by chemically similar ones (Hautier-style ion substitution) to make new formulae.
//!
//! Score. `logprob` is the log of the probability that this generative process emits the formula, summed over the
//! routes (parent, substituted sites, substituents) that were explored:
//! `P(f) = sum over routes of P(parent) * P(k) / C(n, k) * prod_i p(b_i | a_i)`, where
//! - `P(parent)`: parents are drawn among the retrieved formulae in proportion to how well their labels fit the
//!   electronic constraints (1 = label fits, [`UNLABELLED_WEIGHT`] = no label); with `task.context` (best formulae
//!   so far) or `constraints.examples`, half of the mass goes to those, so later rounds explore around the best;
//! - `P(k)`: one substitution with probability 0.6, two with 0.4, over one of the `C(n, k)` site choices;
//! - `p(b | a)`: the substitution table ([`super::similarity`]).
//!
//! Retrieval follows the parent's anonymised pattern when a family is asked for, so frequent prototypes contribute
//! more parents. Routes through parents that were not sampled are missing, so the value is a lower bound.
//!
//! Determinism: parents are drawn with weighted sampling without replacement (Efraimidis-Spirakis keys) from a
//! SplitMix64 stream seeded by `task.seed`; everything else is enumeration in a fixed order.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use genms_shared::constraints::{Constraints, ElectronicClass, Family};
use genms_shared::paths::shared_root;
use genms_shared::search::{ProposeTask, ProposedFormula};
use genms_shared::smact::diffcsp_smact_validity;
use genms_shared::{Composition, Element, OxidationStates};

use super::data::{key_of, Key, KnownData, Parent};
use super::similarity::{substitutable, SubstitutionTable};
use super::{FormulaProposer, ProposeStats, ProposerError};
use crate::diffusion::rng::Rng;

/// Sampling weight of a parent without a band-gap / metal label when the prompt constrains them.
pub const UNLABELLED_WEIGHT: f64 = 0.05;
/// Band-gap tolerance when matching parent labels (eV; PBE gaps are approximate).
const GAP_TOLERANCE: f64 = 0.3;
/// Substituents tried per site (most probable first), besides the elements a constraint needs.
const TOP_SUBSTITUENTS: usize = 12;
/// Substituents per site for two-site substitutions.
const TOP_PAIR_SUBSTITUENTS: usize = 6;
/// Most parents expanded per task (bounds the work of a task whatever its constraints).
const MAX_PARENTS: usize = 4096;
const P_ONE: f64 = 0.6;
const P_TWO: f64 = 0.4;
/// Largest `n` a task may ask for.
pub const MAX_PROPOSALS: u32 = 100_000;

/// Retrieval plus ion substitution over the known-formula data (see the module notes).
pub struct SubstitutionProposer {
    data: KnownData,
    table: SubstitutionTable,
}

/// Label weight of a parent under the electronic constraints (0 = label contradicts them).
pub(super) fn label_weight(c: &Constraints, p: &Parent) -> f64 {
    if c.electronic.is_none() && c.band_gap_min.is_none() && c.band_gap_max.is_none() {
        return 1.0;
    }
    let gap = p.gap.map(f64::from).or(match p.metal {
        Some(true) => Some(0.0),
        _ => None,
    });
    let Some(gap) = gap else {
        return if p.metal == Some(false) && c.electronic == Some(ElectronicClass::Metal) {
            0.0
        } else {
            UNLABELLED_WEIGHT
        };
    };
    let metal = p.metal.unwrap_or(gap <= 0.0);
    let class_ok = match c.electronic {
        Some(ElectronicClass::Metal) => metal,
        Some(ElectronicClass::Semiconductor) => !metal && gap <= 3.5,
        Some(ElectronicClass::Insulator) => !metal && gap >= 2.0,
        None => true,
    };
    let lo_ok = c.band_gap_min.is_none_or(|lo| gap >= lo - GAP_TOLERANCE);
    let hi_ok = c.band_gap_max.is_none_or(|hi| gap <= hi + GAP_TOLERANCE);
    if class_ok && lo_ok && hi_ok {
        1.0
    } else {
        0.0
    }
}

/// What a task allows, precomputed once per task.
struct Rules<'a> {
    c: &'a Constraints,
    family: Option<Vec<u32>>,
}

impl Rules<'_> {
    fn allowed(&self, el: Element) -> bool {
        !self.c.excluded_elements.contains(&el) && self.c.element_pool.as_ref().is_none_or(|p| p.contains(&el))
    }

    /// Elements a constraint asks for that `sites` lack (candidates to substitute in whatever their similarity rank).
    fn needed(&self, sites: &[(Element, u32)]) -> Vec<Element> {
        let has = |e: &Element| sites.iter().any(|(s, _)| s == e);
        let mut out: Vec<Element> = self.c.required_elements.iter().filter(|e| !has(e)).copied().collect();
        if !self.c.anions.is_empty() && !self.c.anions.iter().any(has) {
            out.extend(self.c.anions.iter().copied());
        }
        for g in &self.c.required_any {
            if !g.iter().any(has) {
                out.extend(g.iter().copied());
            }
        }
        out.retain(|e| self.allowed(*e));
        out
    }

    /// Whether at most two substitutions could make `sites` acceptable (shape checks are exact: substitution keeps
    /// the number of elements and the stoichiometry pattern).
    fn fixable(&self, sites: &[(Element, u32)]) -> bool {
        let n = sites.len() as u32;
        if n < self.c.min_elements.unwrap_or(1) || n > self.c.max_elements.unwrap_or(u32::MAX) || n < 2 {
            return false;
        }
        if let Some(fc) = &self.family {
            let mut counts: Vec<u32> = sites.iter().map(|(_, k)| *k).collect();
            counts.sort_unstable();
            if &counts != fc {
                return false;
            }
        }
        let bad = sites.iter().filter(|(e, _)| !self.allowed(*e)).count();
        let has = |e: &Element| sites.iter().any(|(s, _)| s == e);
        let missing = self.c.required_elements.iter().filter(|e| !has(e)).count()
            + usize::from(!self.c.anions.is_empty() && !self.c.anions.iter().any(has))
            + self.c.required_any.iter().filter(|g| !g.iter().any(has)).count();
        bad <= 2 && missing <= 2
    }

    /// The cheap element-level checks (before building a composition).
    fn elements_ok(&self, sites: &[(Element, u32)]) -> bool {
        let has = |e: &Element| sites.iter().any(|(s, _)| s == e);
        sites.iter().all(|(e, _)| self.allowed(*e))
            && self.c.required_elements.iter().all(has)
            && (self.c.anions.is_empty() || self.c.anions.iter().any(has))
            && self.c.required_any.iter().all(|g| g.iter().any(has))
    }
}

fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// Reduced formula of a user-given string, or the string itself when it does not parse.
fn normalise(f: &str) -> String {
    Composition::parse(f.trim()).map(|c| c.reduced_formula()).unwrap_or_else(|_| f.trim().to_string())
}

impl SubstitutionProposer {
    /// Loads every `*.csv` of `compositions_dir` and the novelty list `known_formulas`.
    pub fn load(compositions_dir: &Path, known_formulas: &Path) -> Result<Self, ProposerError> {
        Ok(SubstitutionProposer {
            data: KnownData::load(compositions_dir, known_formulas)?,
            table: SubstitutionTable::build(),
        })
    }

    /// Loads `<shared root>/data/compositions/` (CSVs and `known_formulas.txt`).
    pub fn default_paths() -> Result<Self, ProposerError> {
        let dir = shared_root().join("data").join("compositions");
        let known = dir.join("known_formulas.txt");
        SubstitutionProposer::load(&dir, &known)
    }

    /// Number of distinct known formulae available as parents.
    pub fn num_parents(&self) -> usize {
        self.data.parents.len()
    }

    /// Parents for this task with their probabilities (log), best-keyed first.
    fn parents(&self, task: &ProposeTask, rules: &Rules) -> Vec<(Key, f64)> {
        let mut extra: Vec<Key> = Vec::new();
        for f in task.context.iter().chain(&task.constraints.examples) {
            if let Some(k) = Composition::parse(f).ok().and_then(|c| key_of(&c)) {
                if rules.fixable(&k) && !extra.contains(&k) {
                    extra.push(k);
                }
            }
        }
        let mut pool: Vec<(usize, f64)> = Vec::new();
        for (i, p) in self.data.parents.iter().enumerate() {
            if !rules.fixable(&p.sites) {
                continue;
            }
            let w = label_weight(rules.c, p);
            if w > 0.0 {
                pool.push((i, w));
            }
        }
        let total: f64 = pool.iter().map(|(_, w)| w).sum();
        let extra_mass = if extra.is_empty() {
            0.0
        } else if pool.is_empty() {
            1.0
        } else {
            0.5
        };
        let mut out: Vec<(Key, f64)> =
            extra.iter().map(|k| (k.clone(), (extra_mass / extra.len() as f64).ln())).collect();
        // Efraimidis-Spirakis: key = ln(u) / w, the largest keys are a weighted sample without replacement.
        let mut rng = Rng::from_keys(&[task.seed, 0x5b57_1d7e]);
        let mut keyed: Vec<(f64, usize, f64)> =
            pool.iter().map(|&(i, w)| ((1.0 - rng.uniform()).max(1e-300).ln() / w, i, w)).collect();
        let take = keyed.len().min(MAX_PARENTS);
        if take < keyed.len() {
            keyed.select_nth_unstable_by(take, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            keyed.truncate(take);
        }
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i, w) in keyed {
            let p = (1.0 - extra_mass) * w / total;
            out.push((self.data.parents[i].sites.clone(), p.ln()));
        }
        out
    }

    /// Substituents for site element `a` (most probable first), restricted to what the task allows.
    fn substituents(
        &self,
        a: Element,
        sites: &[(Element, u32)],
        needed: &[Element],
        rules: &Rules,
        top: usize,
    ) -> Vec<(Element, f64)> {
        let fresh = |b: &Element| rules.allowed(*b) && !sites.iter().any(|(s, _)| s == b);
        let row = self.table.row(a);
        let mut out: Vec<(Element, f64)> =
            row.iter().filter(|(b, _)| fresh(b) && substitutable(*b)).take(top).copied().collect();
        for (b, p) in row {
            if needed.contains(b) && fresh(b) && !out.iter().any(|(e, _)| e == b) {
                out.push((*b, *p));
            }
        }
        out
    }
}

/// Outcome of checking one candidate.
enum Verdict {
    Accepted(String),
    Rejected,
}

impl FormulaProposer for SubstitutionProposer {
    fn name(&self) -> &str {
        "substitution"
    }

    fn propose(&self, task: &ProposeTask) -> Result<Vec<ProposedFormula>, ProposerError> {
        self.run(task, false).map(|(out, _)| out)
    }
}

impl SubstitutionProposer {
    /// Whether a reduced formula is on the novelty list.
    pub fn is_known(&self, reduced_formula: &str) -> bool {
        self.data.known.contains(reduced_formula)
    }

    /// [`FormulaProposer::propose`] plus what was drawn before filtering: every distinct substituted composition
    /// counts once, and each is checked for charge neutrality, the constraints and novelty whatever the outcome (so
    /// the counts describe the generator, not just the survivors).
    /// Same proposals as `propose` (a little slower: the charge-neutrality test also runs on rejected candidates).
    pub fn propose_with_stats(
        &self,
        task: &ProposeTask,
    ) -> Result<(Vec<ProposedFormula>, ProposeStats), ProposerError> {
        self.run(task, true)
    }

    /// The proposal; `full_stats` runs every check on every candidate (otherwise the checks stop at the first
    /// failure and only `drawn` / `accepted` are complete).
    fn run(&self, task: &ProposeTask, full_stats: bool) -> Result<(Vec<ProposedFormula>, ProposeStats), ProposerError> {
        if task.n > MAX_PROPOSALS {
            return Err(ProposerError::InvalidTask(format!("n = {} exceeds {MAX_PROPOSALS}", task.n)));
        }
        let n = task.n as usize;
        if n == 0 {
            return Ok((Vec::new(), ProposeStats::default()));
        }
        let c = &task.constraints;
        let rules = Rules { c, family: c.family.map(Family::site_counts) };
        let excluded: HashSet<String> = task.exclude.iter().chain(&c.excluded_formulas).map(|f| normalise(f)).collect();
        let mut verdicts: HashMap<Key, Verdict> = HashMap::new();
        let mut stats = ProposeStats::default();
        let mut scores: HashMap<String, f64> = HashMap::new();
        let target = (3 * n).max(n + 20);
        let mut check = |sites: Vec<(Element, u32)>| -> Option<String> {
            let mut sorted = sites;
            sorted.sort_by_key(|(e, _)| e.z());
            let key: Key = sorted.into_boxed_slice();
            if let Some(v) = verdicts.get(&key) {
                return match v {
                    Verdict::Accepted(f) => Some(f.clone()),
                    Verdict::Rejected => None,
                };
            }
            let verdict = (|| {
                stats.drawn += 1;
                let Ok(comp) = Composition::from_elements(key.iter().map(|(e, k)| (*e, f64::from(*k)))) else {
                    return Verdict::Rejected;
                };
                let satisfies = rules.elements_ok(&key) && c.check_composition(&comp).is_ok();
                if !satisfies && !full_stats {
                    return Verdict::Rejected;
                }
                let neutral = diffcsp_smact_validity(&comp, OxidationStates::Smact14);
                let reduced = comp.reduced_formula();
                let novel = !self.data.known.contains(reduced.as_str());
                stats.satisfies_constraints += u64::from(satisfies);
                stats.charge_neutral += u64::from(neutral);
                stats.novel += u64::from(novel);
                if !satisfies || !neutral || (c.novel && !novel) || excluded.contains(&reduced) {
                    return Verdict::Rejected;
                }
                stats.accepted += 1;
                Verdict::Accepted(reduced)
            })();
            let out = match &verdict {
                Verdict::Accepted(f) => Some(f.clone()),
                Verdict::Rejected => None,
            };
            verdicts.insert(key, verdict);
            out
        };
        for (parent, lp_parent) in self.parents(task, &rules) {
            let needed = rules.needed(&parent);
            let ns = parent.len();
            let mut emit = |sites: Vec<(Element, u32)>, lp: f64| {
                if let Some(f) = check(sites) {
                    let e = scores.entry(f).or_insert(f64::NEG_INFINITY);
                    *e = log_add(*e, lp);
                }
            };
            let lp1 = lp_parent + P_ONE.ln() - (ns as f64).ln();
            for i in 0..ns {
                let (a, k) = parent[i];
                for (b, p) in self.substituents(a, &parent, &needed, &rules, TOP_SUBSTITUENTS) {
                    let mut sites = parent.to_vec();
                    sites[i] = (b, k);
                    emit(sites, lp1 + p.ln());
                }
            }
            let pairs = (ns * (ns - 1) / 2).max(1) as f64;
            let lp2 = lp_parent + P_TWO.ln() - pairs.ln();
            for i in 0..ns {
                let subs_i = self.substituents(parent[i].0, &parent, &needed, &rules, TOP_PAIR_SUBSTITUENTS);
                for j in (i + 1)..ns {
                    let subs_j = self.substituents(parent[j].0, &parent, &needed, &rules, TOP_PAIR_SUBSTITUENTS);
                    for &(bi, pi) in &subs_i {
                        for &(bj, pj) in subs_j.iter().filter(|(b, _)| *b != bi) {
                            let mut sites = parent.to_vec();
                            sites[i] = (bi, parent[i].1);
                            sites[j] = (bj, parent[j].1);
                            emit(sites, lp2 + pi.ln() + pj.ln());
                        }
                    }
                }
            }
            if scores.len() >= target {
                break;
            }
        }
        let mut out: Vec<ProposedFormula> =
            scores.into_iter().map(|(formula, logprob)| ProposedFormula { formula, logprob }).collect();
        out.sort_by(|a, b| b.logprob.total_cmp(&a.logprob).then_with(|| a.formula.cmp(&b.formula)));
        out.truncate(n);
        Ok((out, stats))
    }
}

#[cfg(test)]
mod tests;
