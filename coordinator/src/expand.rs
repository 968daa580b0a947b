//! The GenMS tree expansion as pure functions: given a campaign snapshot and a task's results, compute the
//! [`Transition`] that records them and grows the tree (ARCHITECTURE §1). No I/O here: the dispatcher leases, calls
//! workers and commits; this module decides. Every decision depends only on the results and the live parameters,
//! never on timing or batching, so a resumed campaign grows the same tree as an uninterrupted one.

use std::collections::BTreeSet;

use genms_shared::constraints::Family;
use genms_shared::known::KnownFormulas;
use genms_shared::search::{
    Candidate, GeneratedStructure, ProposeTask, ProposedFormula, ScoredStructure, SearchParams,
};
use genms_shared::smact::diffcsp_smact_validity;
use genms_shared::{Composition, OxidationStates};

use crate::model::{node_seed, CampaignSnapshot, CampaignState, Event, Node, NodeKind, Stage};
use crate::store::Transition;

/// Most atoms in a generated cell (the diffusion models' trained range).
pub const MAX_CELL_ATOMS: u32 = 20;
/// Fewest atoms the cell-size rule aims for (very small cells leave the model little to arrange).
pub const MIN_CELL_ATOMS: u32 = 4;
/// Formulae of the best candidates handed to the proposer as context for the next round.
pub const CONTEXT_FORMULAS: usize = 8;

/// Id of round `r`'s node.
pub fn round_id(round: u32) -> String {
    format!("r{round}")
}

/// The first transition of a new campaign: round 0 waiting for its proposal.
pub fn initial(params: &SearchParams) -> Transition {
    let mut tx = Transition::default();
    tx.events.push(Event::new("created", format!("campaign created (seed {})", params.seed)));
    start_round(&mut tx, params, 0);
    tx
}

fn start_round(tx: &mut Transition, params: &SearchParams, round: u32) {
    let id = round_id(round);
    let node =
        Node::new(id.clone(), NodeKind::Round, round, Stage::Propose, -(round as f64), node_seed(params.seed, &id));
    tx.enqueue.push((Stage::Propose, id, node.priority));
    tx.nodes.push(node);
    tx.round = Some(round);
    tx.count("open", 1);
    tx.count("rounds.started", 1);
    tx.events.push(Event::new("round_started", format!("round {round} started")));
}

/// The proposal task of a round node. `nodes` and `candidates` are the campaign's so far.
pub fn propose_task(
    snap: &CampaignSnapshot,
    round_node: &Node,
    nodes: &[Node],
    candidates: &[Candidate],
    task_id: &str,
) -> ProposeTask {
    let exclude: BTreeSet<String> =
        nodes.iter().filter(|n| n.kind == NodeKind::Formula).filter_map(|n| n.formula.clone()).collect();
    let mut context = Vec::new();
    for c in ranked(candidates.to_vec()) {
        if !context.contains(&c.formula) {
            context.push(c.formula.clone());
        }
        if context.len() >= CONTEXT_FORMULAS {
            break;
        }
    }
    ProposeTask {
        task_id: task_id.to_string(),
        prompt: snap.meta.prompt.clone(),
        constraints: snap.meta.constraints.clone(),
        n: snap.params.formulas,
        seed: round_node.seed,
        exclude: exclude.into_iter().collect(),
        context,
    }
}

/// Formula units per generated cell: the family's template cell when a family is asked for, otherwise the smallest
/// Z giving at least [`MIN_CELL_ATOMS`] atoms; `None` when one formula unit exceeds [`MAX_CELL_ATOMS`].
pub fn formula_units(atoms_per_unit: u32, family: Option<Family>) -> Option<u32> {
    if atoms_per_unit == 0 || atoms_per_unit > MAX_CELL_ATOMS {
        return None;
    }
    let z = match family {
        Some(Family::Spinel | Family::Pyrochlore) => 2,
        Some(_) => 1,
        None => MIN_CELL_ATOMS.div_ceil(atoms_per_unit).max(1),
    };
    // Fall back to fewer units when the template cell is larger than the model's range.
    Some((1..=z).rev().find(|z| z * atoms_per_unit <= MAX_CELL_ATOMS).unwrap_or(1))
}

/// Checks one proposed formula: returns its composition and reduced formula, or the rejection reason code.
fn check_formula(
    snap: &CampaignSnapshot,
    p: &ProposedFormula,
    known: Option<&KnownFormulas>,
    seen: &BTreeSet<String>,
) -> Result<(Composition, String, u32), String> {
    let comp = Composition::parse(&p.formula).map_err(|_| "unparsable".to_string())?;
    let reduced = comp.reduced_formula();
    if seen.contains(&reduced) {
        return Err("duplicate".into());
    }
    snap.meta.constraints.check_composition(&comp).map_err(|v| v.code().to_string())?;
    if !diffcsp_smact_validity(&comp, OxidationStates::Smact14) {
        return Err("not_charge_neutral".into());
    }
    if snap.meta.constraints.novel && known.is_some_and(|k| k.contains(&comp)) {
        return Err("known".into());
    }
    let counts = comp.reduced_composition_and_factor().0;
    if !counts.is_integer() {
        return Err("fractional_occupancy".into());
    }
    let atoms = counts.num_atoms().round() as u32;
    let z = formula_units(atoms, snap.meta.constraints.family).ok_or_else(|| "too_many_atoms".to_string())?;
    Ok((counts, reduced, z))
}

fn cell_composition(unit: &Composition, z: u32) -> String {
    unit.iter().map(|(el, n)| format!("{}{}", el.symbol(), (n * z as f64).round() as u64)).collect()
}

/// Records a round's proposals: filters them, keeps the best W, and plans L structures for each kept formula
/// within the remaining budget.
pub fn on_proposed(
    snap: &CampaignSnapshot,
    round_node: &Node,
    previous: &[Node],
    proposals: &[ProposedFormula],
    known: Option<&KnownFormulas>,
) -> Transition {
    let params = &snap.params;
    let round = round_node.round;
    let mut tx = Transition::default();
    let mut seen: BTreeSet<String> =
        previous.iter().filter(|n| n.kind == NodeKind::Formula).filter_map(|n| n.formula.clone()).collect();
    let mut valid = Vec::new();
    for (i, p) in proposals.iter().enumerate() {
        let id = format!("{}/f{i:03}", round_node.id);
        let mut node = Node::new(id, NodeKind::Formula, round, Stage::Rejected, p.logprob, 0);
        node.formula = Some(p.formula.clone());
        node.logprob = Some(p.logprob);
        tx.count("formulas.proposed", 1);
        match check_formula(snap, p, known, &seen) {
            Ok((unit, reduced, z)) => {
                seen.insert(reduced.clone());
                node.formula = Some(reduced);
                valid.push((node, unit, z));
            }
            Err(reason) => {
                tx.count(format!("formulas.rejected.{reason}"), 1);
                node.reason = Some(reason);
                tx.nodes.push(node);
            }
        }
    }
    // Best W by proposer log-probability; ties by proposal order.
    valid.sort_by(|a, b| b.0.priority.total_cmp(&a.0.priority).then_with(|| a.0.id.cmp(&b.0.id)));
    let mut budget_left = params.budget.saturating_sub(snap.count("structures.planned").max(0) as u64);
    let mut kept = 0u32;
    for (mut node, unit, z) in valid {
        if kept >= params.keep {
            node.stage = Stage::Pruned;
            node.reason = Some("beyond_keep".into());
            tx.count("formulas.pruned", 1);
        } else if budget_left == 0 {
            node.stage = Stage::Pruned;
            node.reason = Some("budget_exhausted".into());
            tx.count("formulas.pruned", 1);
        } else {
            kept += 1;
            node.stage = Stage::Done;
            tx.count("formulas.kept", 1);
            let n = u64::from(params.structures).min(budget_left);
            budget_left -= n;
            let composition = cell_composition(&unit, z);
            for j in 0..n {
                let id = format!("{}/s{j:02}", node.id);
                let mut s = Node::new(
                    id.clone(),
                    NodeKind::Structure,
                    round,
                    Stage::Generate,
                    node.priority,
                    node_seed(params.seed, &id),
                );
                s.formula = node.formula.clone();
                s.composition = Some(composition.clone());
                s.logprob = node.logprob;
                tx.enqueue.push((Stage::Generate, id, s.priority));
                tx.nodes.push(s);
                tx.count("structures.planned", 1);
                tx.count("open", 1);
            }
        }
        tx.nodes.push(node);
    }
    let mut done = round_node.clone();
    done.stage = Stage::Done;
    tx.nodes.push(done);
    tx.count("open", -1);
    tx.events
        .push(Event::new("proposed", format!("round {round}: {} formulae proposed, {kept} kept", proposals.len())));
    tx
}

fn close(tx: &mut Transition, node: &Node, stage: Stage, reason: Option<String>, counter: String) {
    let mut n = node.clone();
    n.stage = stage;
    n.reason = reason;
    tx.nodes.push(n);
    tx.count(counter, 1);
    tx.count("open", -1);
}

/// Records generated structures: those that passed the worker's generation checks move on to scoring, the others
/// are rejected with the worker's reason.
pub fn on_generated(nodes: &[Node], results: &[GeneratedStructure]) -> Transition {
    let mut tx = Transition::default();
    for node in nodes {
        let answer = results.iter().find(|r| r.item_id == node.id).map(|r| &r.result);
        let Some(generated) = answer_for(&mut tx, node, answer, "generation") else { continue };
        tx.count("structures.generated", 1);
        let mut n = node.clone();
        n.cif = Some(generated.cif.clone());
        match &generated.rejection {
            None => {
                n.stage = Stage::Score;
                tx.enqueue.push((Stage::Score, n.id.clone(), n.priority));
                tx.nodes.push(n);
            }
            Some(reason) => {
                let reason = sanitize_reason(reason);
                close(&mut tx, &n, Stage::Rejected, Some(reason.clone()), format!("structures.rejected.{reason}"));
            }
        }
    }
    tx
}

/// A worker's answer for `node`; when there is none, or it is an item error, records the node as failed
/// (`structures.failed.missing_result` / `structures.failed.<what>`) and returns `None`.
fn answer_for<'a, T>(
    tx: &mut Transition,
    node: &Node,
    answer: Option<&'a Result<T, String>>,
    what: &str,
) -> Option<&'a T> {
    match answer {
        Some(Ok(value)) => Some(value),
        Some(Err(e)) => {
            close(tx, node, Stage::Failed, Some(format!("{what}: {e}")), format!("structures.failed.{what}"));
            None
        }
        None => {
            close(tx, node, Stage::Failed, Some("missing_result".into()), "structures.failed.missing_result".into());
            None
        }
    }
}

/// Reason codes become counter names: keep them to a safe alphabet whatever a worker sends.
fn sanitize_reason(reason: &str) -> String {
    let s: String = reason
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    if s.is_empty() {
        "unspecified".into()
    } else {
        s
    }
}

/// Records scores: each scored structure becomes a candidate ranked by its objective.
pub fn on_scored(
    snap: &CampaignSnapshot,
    nodes: &[Node],
    results: &[ScoredStructure],
    known: Option<&KnownFormulas>,
) -> Transition {
    let mut tx = Transition::default();
    for node in nodes {
        let answer = results.iter().find(|r| r.item_id == node.id).map(|r| &r.result);
        let Some(scored) = answer_for(&mut tx, node, answer, "scoring").cloned() else { continue };
        let props = scored.properties;
        let Some(e_form) = props.e_form_per_atom.filter(|e| e.is_finite()) else {
            close(&mut tx, node, Stage::Failed, Some("no formation energy".into()), "structures.failed.scoring".into());
            continue;
        };
        let cif = node.cif.clone().unwrap_or_default();
        let formula = node.formula.clone().unwrap_or_default();
        let novel = match (known, Composition::parse(&formula)) {
            (Some(k), Ok(c)) => !k.contains(&c),
            _ => snap.meta.constraints.novel,
        };
        let objective = e_form + snap.meta.constraints.property_penalty(props.band_gap, props.p_metal);
        tx.candidates.push(Candidate {
            candidate_id: node.id.replace('/', "-"),
            round: node.round,
            formula,
            composition: node.composition.clone().unwrap_or_default(),
            formula_logprob: node.logprob.unwrap_or(0.0),
            properties: props,
            objective,
            spacegroup_number: scored.spacegroup_number,
            num_sites: scored.num_sites,
            novel,
            cif,
        });
        // The candidate record holds the structure from here on: do not store the CIF twice.
        let mut done = node.clone();
        done.cif = None;
        close(&mut tx, &done, Stage::Done, None, "structures.scored".into());
        tx.count("candidates", 1);
    }
    tx
}

/// Records a task that failed for good (attempts exhausted or invalid): its nodes fail with the reason.
pub fn on_failed(nodes: &[Node], reason: &str) -> Transition {
    let mut tx = Transition::default();
    for node in nodes {
        let level = if node.kind == NodeKind::Round { "formulas" } else { "structures" };
        close(&mut tx, node, Stage::Failed, Some(reason.to_string()), format!("{level}.failed.task"));
    }
    tx.events.push(Event::new("task_failed", format!("{} node(s) failed: {reason}", nodes.len())));
    tx
}

/// Puts the nodes of a lost task (expired lease, coordinator restart, retryable failure) back on the frontier, or
/// fails those that used up their attempts.
pub fn requeue(nodes: &[Node], stage: Stage, max_attempts: u32, reason: &str) -> Transition {
    let mut tx = Transition::default();
    for node in nodes {
        let mut n = node.clone();
        n.attempts += 1;
        if n.attempts >= max_attempts {
            let level = if node.kind == NodeKind::Round { "formulas" } else { "structures" };
            close(
                &mut tx,
                &n,
                Stage::Failed,
                Some(format!("{} attempts: {reason}", n.attempts)),
                format!("{level}.failed.task"),
            );
        } else {
            tx.enqueue.push((stage, n.id.clone(), n.priority));
            tx.nodes.push(n);
            tx.count("tasks.requeued", 1);
        }
    }
    tx
}

/// Cancels waiting nodes of a cancelled campaign.
pub fn on_cancelled(nodes: &[Node]) -> Transition {
    let mut tx = Transition::default();
    for node in nodes {
        close(&mut tx, node, Stage::Cancelled, Some("campaign cancelled".into()), "nodes.cancelled".into());
    }
    tx
}

/// What to do when a running campaign has no open node: start the next round, or finish.
pub fn on_round_complete(snap: &CampaignSnapshot) -> Transition {
    let mut tx = Transition::default();
    let params = &snap.params;
    let planned = snap.count("structures.planned").max(0) as u64;
    tx.count("rounds.done", 1);
    let next = snap.round + 1;
    if next < params.rounds && planned < params.budget {
        start_round(&mut tx, params, next);
    } else {
        let why = if planned >= params.budget { "budget reached" } else { "all rounds done" };
        tx.state = Some(CampaignState::Done);
        tx.events.push(Event::new("done", format!("campaign done: {why}")));
    }
    tx
}

/// Candidates best first: objective ascending, then proposer log-probability descending, then id.
pub fn ranked(mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.sort_by(|a, b| {
        a.objective
            .total_cmp(&b.objective)
            .then_with(|| b.formula_logprob.total_cmp(&a.formula_logprob))
            .then_with(|| a.candidate_id.cmp(&b.candidate_id))
    });
    candidates
}

#[cfg(test)]
#[path = "expand_tests.rs"]
mod tests;
