//! One behavioural test suite run against every `FrontierStore` implementation, so the embedded and the Redis store
//! cannot drift apart: lease order, lease-guarded commits (a duplicate result is ignored), idempotent candidates,
//! counters, events and state rules.

use genms_shared::constraints::Constraints;
use genms_shared::search::{Candidate, Properties, SearchParams};

use super::{FrontierStore, Transition};
use crate::model::{CampaignMeta, CampaignState, Event, Node, NodeKind, Stage};

pub const CAMPAIGN: &str = "conformance-c1";

fn node(id: &str, stage: Stage, priority: f64) -> Node {
    Node::new(id.into(), NodeKind::Structure, 0, stage, priority, 1)
}

fn candidate(id: &str) -> Candidate {
    Candidate {
        candidate_id: id.into(),
        round: 0,
        formula: "SrTiO3".into(),
        composition: "Sr1Ti1O3".into(),
        formula_logprob: -1.0,
        properties: Properties { e_form_per_atom: Some(-3.0), band_gap: None, p_metal: None },
        objective: -3.0,
        spacegroup_number: Some(221),
        num_sites: 5,
        novel: false,
        cif: "data_x\n".into(),
    }
}

/// Runs the suite on an empty store.
pub async fn run(store: &dyn FrontierStore) {
    store.ping().await.unwrap();
    let meta =
        CampaignMeta { id: CAMPAIGN.into(), prompt: "p".into(), constraints: Constraints::default(), created_ms: 1 };
    let params = SearchParams::default();
    let mut init = Transition::default();
    for (id, p) in [("a", 1.0), ("b", 3.0), ("c", 2.0), ("d", 2.0)] {
        init.nodes.push(node(id, Stage::Generate, p));
        init.enqueue.push((Stage::Generate, id.into(), p));
    }
    init.count("open", 4);
    init.events.push(Event::new("created", "hello"));
    store.create_campaign(&meta, &params, &init).await.unwrap();
    assert!(store.create_campaign(&meta, &params, &init).await.is_err(), "duplicate campaign id accepted");
    assert_eq!(store.campaign_ids().await.unwrap(), vec![CAMPAIGN.to_string()]);
    assert_eq!(store.frontier_len(CAMPAIGN, Stage::Generate).await.unwrap(), 4);

    // Highest priority first; ties by id descending.
    let leased = store.lease(CAMPAIGN, Stage::Generate, 3, "t1", 1000).await.unwrap();
    let ids: Vec<&str> = leased.iter().map(|n| n.id.as_str()).collect();
    assert_eq!(ids, vec!["b", "d", "c"]);
    assert_eq!(store.frontier_len(CAMPAIGN, Stage::Generate).await.unwrap(), 1);
    assert!(store.lease(CAMPAIGN, Stage::Score, 3, "t-empty", 1000).await.unwrap().is_empty());
    let leases = store.leases().await.unwrap();
    assert_eq!(leases.len(), 1, "an empty lease must not be recorded");
    assert_eq!(leases[0].node_ids, vec!["b", "d", "c"]);
    assert!(store.extend_lease("t1", 5000).await.unwrap());
    assert!(!store.extend_lease("nope", 5000).await.unwrap());
    assert_eq!(store.leases().await.unwrap()[0].deadline_ms, 5000);

    let mut done = Transition::default();
    let mut b = node("b", Stage::Done, 3.0);
    b.cif = Some("cif".into());
    done.nodes.push(b);
    done.candidates.push(candidate("cand-b"));
    done.count("open", -1);
    done.count("structures.scored", 1);
    done.events.push(Event::new("scored", "b"));
    assert!(store.commit(CAMPAIGN, Some("t1"), &done).await.unwrap());
    // The same result again (a retried task answering late): ignored.
    assert!(!store.commit(CAMPAIGN, Some("t1"), &done).await.unwrap());
    let snap = store.campaign(CAMPAIGN).await.unwrap().unwrap();
    assert_eq!(snap.count("open"), 3);
    assert_eq!(snap.count("structures.scored"), 1);
    assert!(store.leases().await.unwrap().is_empty());

    // Candidates are keyed by id.
    let mut again = Transition::default();
    again.candidates.push(candidate("cand-b"));
    assert!(store.commit(CAMPAIGN, None, &again).await.unwrap());
    assert_eq!(store.candidates(CAMPAIGN).await.unwrap().len(), 1);

    let nodes = store.nodes(CAMPAIGN).await.unwrap();
    assert_eq!(nodes.len(), 4);
    assert_eq!(nodes.iter().find(|n| n.id == "b").unwrap().stage, Stage::Done);

    let events = store.events_after(CAMPAIGN, 0, 10).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!((events[0].seq, events[1].seq), (1, 2));
    assert_eq!(store.events_after(CAMPAIGN, 1, 10).await.unwrap().len(), 1);

    let mut p2 = params.clone();
    p2.formulas = 99;
    store.set_params(CAMPAIGN, &p2).await.unwrap();
    assert_eq!(store.set_state(CAMPAIGN, CampaignState::Paused).await.unwrap(), CampaignState::Paused);
    let finish = Transition { state: Some(CampaignState::Done), round: Some(2), ..Transition::default() };
    store.commit(CAMPAIGN, None, &finish).await.unwrap();
    // A finished campaign stays finished.
    assert_eq!(store.set_state(CAMPAIGN, CampaignState::Running).await.unwrap(), CampaignState::Done);
    assert!(store.campaign("missing").await.unwrap().is_none());
    assert!(store.lease("missing", Stage::Generate, 1, "t9", 1).await.is_err());
    check_after_run(store).await;
}

/// What `run` leaves behind (also checked after reopening a persisted store).
pub async fn check_after_run(store: &dyn FrontierStore) {
    let snap = store.campaign(CAMPAIGN).await.unwrap().expect("campaign kept");
    assert_eq!(snap.state, CampaignState::Done);
    assert_eq!(snap.round, 2);
    assert_eq!(snap.params.formulas, 99);
    assert_eq!(snap.count("open"), 3);
    assert_eq!(store.candidates(CAMPAIGN).await.unwrap()[0].candidate_id, "cand-b");
    assert_eq!(store.frontier_len(CAMPAIGN, Stage::Generate).await.unwrap(), 1);
    assert_eq!(store.events_after(CAMPAIGN, 0, 10).await.unwrap().len(), 2);
}
