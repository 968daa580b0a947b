use std::collections::BTreeMap;

use genms_shared::constraints::{Constraints, Family};
use genms_shared::search::{Generated, GeneratedStructure, Properties, Scored, ScoredStructure};

use super::*;
use crate::model::CampaignMeta;

fn snapshot(params: SearchParams, constraints: Constraints) -> CampaignSnapshot {
    CampaignSnapshot {
        meta: CampaignMeta { id: "c".into(), prompt: "p".into(), constraints, created_ms: 0 },
        params,
        state: CampaignState::Running,
        round: 0,
        error: None,
        counts: BTreeMap::new(),
    }
}

fn proposal(f: &str, lp: f64) -> ProposedFormula {
    ProposedFormula { formula: f.into(), logprob: lp }
}

fn count(tx: &Transition, key: &str) -> i64 {
    tx.counts.iter().filter(|(k, _)| k == key).map(|(_, v)| v).sum()
}

#[test]
fn cell_size_rule() {
    assert_eq!(formula_units(5, Some(Family::Perovskite)), Some(1));
    assert_eq!(formula_units(7, Some(Family::Spinel)), Some(2));
    assert_eq!(formula_units(11, Some(Family::Pyrochlore)), Some(1), "22 atoms exceed the model's 20");
    assert_eq!(formula_units(2, None), Some(2));
    assert_eq!(formula_units(3, None), Some(2));
    assert_eq!(formula_units(5, None), Some(1));
    assert_eq!(formula_units(21, None), None);
}

#[test]
fn proposals_are_filtered_kept_and_expanded_within_budget() {
    let params = SearchParams { formulas: 6, keep: 2, structures: 3, budget: 5, ..SearchParams::default() };
    let constraints = Constraints { family: Some(Family::Perovskite), novel: true, ..Constraints::default() };
    let snap = snapshot(params, constraints);
    let known = KnownFormulas::from_formulas(["SrTiO3"]);
    let round = Node::new("r0".into(), NodeKind::Round, 0, Stage::Propose, 0.0, 1);
    let proposals = [
        proposal("SrTiO3", -0.5), // known
        proposal("BaZrO3", -1.0), // kept (2nd best)
        proposal("Xx2O3", -0.1),  // unparsable
        proposal("CaSnO3", -0.7), // kept (best valid)
        proposal("NaCl", -0.2),   // wrong family
        proposal("BaZrO3", -0.3), // duplicate in the same answer: first occurrence... see below
        proposal("KNbO3", -2.0),  // valid, beyond W
        proposal("BaTiO2", -0.2), // wrong family (ABC2)
    ];
    let tx = on_proposed(&snap, &round, &[], &proposals, Some(&known));
    assert_eq!(count(&tx, "formulas.proposed"), 8);
    assert_eq!(count(&tx, "formulas.rejected.known"), 1);
    assert_eq!(count(&tx, "formulas.rejected.unparsable"), 1);
    assert_eq!(count(&tx, "formulas.rejected.wrong_family"), 2);
    assert_eq!(count(&tx, "formulas.rejected.duplicate"), 1);
    assert_eq!(count(&tx, "formulas.kept"), 2);
    assert_eq!(count(&tx, "formulas.pruned"), 1);
    // Budget 5 with L = 3: the best formula gets 3 structures, the second 2.
    assert_eq!(count(&tx, "structures.planned"), 5);
    assert_eq!(count(&tx, "open"), 5 - 1);
    let planned: Vec<&Node> = tx.nodes.iter().filter(|n| n.kind == NodeKind::Structure).collect();
    assert_eq!(planned[0].formula.as_deref(), Some("CaSnO3"));
    assert_eq!(planned[0].composition.as_deref(), Some("Ca1Sn1O3"));
    assert_eq!(planned.iter().filter(|n| n.formula.as_deref() == Some("BaZrO3")).count(), 2);
    assert_eq!(tx.enqueue.len(), 5);
    let seeds: BTreeSet<u64> = planned.iter().map(|n| n.seed).collect();
    assert_eq!(seeds.len(), 5, "every structure has its own RNG stream");
}

#[test]
fn generated_and_scored_structures_flow_to_candidates() {
    let snap = snapshot(SearchParams::default(), Constraints::default());
    let mut node = Node::new("r0/f000/s00".into(), NodeKind::Structure, 0, Stage::Generate, -1.0, 9);
    node.formula = Some("NaCl".into());
    node.composition = Some("Na4Cl4".into());
    let cubic = "data_x\n_cell_length_a 5.64\n_cell_length_b 5.64\n_cell_length_c 5.64\n_cell_angle_alpha 90\n\
_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n\
_atom_site_fract_z\nNa 0 0 0\nCl 0.5 0.5 0.5\n";
    let squashed = cubic.replace("Cl 0.5 0.5 0.5", "Cl 0.01 0 0");
    let sliver = cubic.replace("_cell_length_c 5.64", "_cell_length_c 0.6");
    let mut other = node.clone();
    other.id = "r0/f000/s01".into();
    let mut third = node.clone();
    third.id = "r0/f000/s02".into();
    // What a worker sends: the CIF with its own generation-check verdict.
    let generated = |cif: &str| {
        let s = genms_shared::io::read_cif_structure(cif, &genms_shared::io::CifOptions::default()).unwrap();
        let rejection = genms_shared::validity::generation_check(&s).err().map(str::to_string);
        Ok(Generated { cif: cif.to_string(), num_sites: s.num_sites() as u32, rejection })
    };
    let results = vec![
        GeneratedStructure { item_id: node.id.clone(), result: generated(cubic) },
        GeneratedStructure { item_id: other.id.clone(), result: generated(&squashed) },
        GeneratedStructure { item_id: third.id.clone(), result: generated(&sliver) },
    ];
    let tx = on_generated(&[node.clone(), other, third], &results);
    assert_eq!(count(&tx, "structures.generated"), 3);
    assert_eq!(count(&tx, "structures.rejected.self_image_too_close"), 1);
    assert_eq!(count(&tx, "structures.rejected.atoms_too_close"), 1);
    assert_eq!(tx.enqueue, vec![(Stage::Score, node.id.clone(), -1.0)]);
    let to_score = tx.nodes.iter().find(|n| n.stage == Stage::Score).unwrap().clone();

    let props = Properties { e_form_per_atom: Some(-2.0), band_gap: Some(4.0), p_metal: Some(0.1) };
    let scored = Scored { properties: props, spacegroup_number: Some(221), num_sites: 2 };
    let tx = on_scored(&snap, &[to_score], &[ScoredStructure { item_id: node.id.clone(), result: Ok(scored) }], None);
    assert_eq!(tx.candidates.len(), 1);
    let c = &tx.candidates[0];
    assert_eq!(c.candidate_id, "r0-f000-s00");
    assert_eq!(c.num_sites, 2);
    assert_eq!(c.spacegroup_number, Some(221));
    assert_eq!(c.objective, -2.0);
    assert_eq!(count(&tx, "open"), -1);
}

#[test]
fn requeue_counts_attempts_and_fails_at_the_cap() {
    let node = Node::new("r0/f000/s00".into(), NodeKind::Structure, 0, Stage::Generate, 0.0, 1);
    let tx = requeue(std::slice::from_ref(&node), Stage::Generate, 3, "worker died");
    assert_eq!(tx.enqueue.len(), 1);
    assert_eq!(tx.nodes[0].attempts, 1);
    let mut tired = node.clone();
    tired.attempts = 2;
    let tx = requeue(&[tired], Stage::Generate, 3, "worker died");
    assert!(tx.enqueue.is_empty());
    assert_eq!(tx.nodes[0].stage, Stage::Failed);
    assert_eq!(count(&tx, "structures.failed.task"), 1);
    assert_eq!(count(&tx, "open"), -1);
}

#[test]
fn rounds_continue_until_rounds_or_budget_run_out() {
    let params = SearchParams { rounds: 2, budget: 10, ..SearchParams::default() };
    let mut snap = snapshot(params, Constraints::default());
    snap.counts.insert("structures.planned".into(), 4);
    let tx = on_round_complete(&snap);
    assert_eq!(tx.round, Some(1));
    assert!(tx.state.is_none());
    snap.round = 1;
    assert_eq!(on_round_complete(&snap).state, Some(CampaignState::Done));
    snap.round = 0;
    snap.counts.insert("structures.planned".into(), 10);
    assert_eq!(on_round_complete(&snap).state, Some(CampaignState::Done));
}
