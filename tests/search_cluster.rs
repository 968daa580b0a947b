//! End-to-end tests of the distributed search: a real `redis-server`, `genms coordinator` and `genms worker`
//! processes on 127.0.0.1, driven with `genms ctl --json`. Fault tolerance is tested by killing real processes.
//! The workers run a tiny **randomly initialised** diffusion model made by the test (never canned outputs) and the
//! real CGCNN weights from the shared models.

mod common;

use std::time::Duration;

use common::*;
use genms_shared::io::{read_cif_structure, CifOptions};
use genms_shared::validity::struct_validity;

const LONG: Duration = Duration::from_secs(240);

fn id_of(v: &serde_json::Value) -> String {
    v["campaign_id"].as_str().unwrap().to_string()
}

#[test]
fn campaign_with_two_workers_completes_with_valid_cifs() {
    let tmp = TempDir::new("two-workers");
    let model = tiny_random_model(tmp.path());
    let redis = Redis::start(tmp.path(), false);
    let (_w1, p1) = start_worker(tmp.path(), &model, "worker1");
    let (_w2, p2) = start_worker(tmp.path(), &model, "worker2");
    let port = free_port();
    let _coord = start_coordinator(tmp.path(), port, &redis.url(), &[p1, p2], &["--batch-items", "4"]);
    let log = tmp.path().join("coordinator.log");

    let args = create_args(
        "a novel oxide",
        &["--formulas", "6", "--keep", "3", "--structures", "3", "--rounds", "2", "--steps", "4"],
    );
    let id = id_of(&ctl(port, Some(TOKEN), &args).unwrap());
    let c = wait_done(port, &id, LONG, &log);
    assert_accounted(&c);
    assert_eq!(count(&c, "rounds.done"), 2, "{c}");
    assert_eq!(c["levels"]["formulas"]["proposed"].as_i64(), Some(count(&c, "formulas.proposed")), "{c}");
    // The event stream of a finished campaign replays its history and ends.
    let watch = std::process::Command::new(bin())
        .args(["ctl", "--coordinator", &format!("127.0.0.1:{port}"), "--json", "watch", &id])
        .output()
        .unwrap();
    assert!(watch.status.success());
    let events: Vec<serde_json::Value> =
        String::from_utf8_lossy(&watch.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.first().unwrap()["kind"], "created");
    assert_eq!(events.last().unwrap()["kind"], "done");
    let cands = ctl(port, None, &["candidates", &id]).unwrap();
    let cands = cands.as_array().unwrap();
    assert!(!cands.is_empty(), "no candidates: {c}");
    for cand in cands {
        let cif = cand["cif"].as_str().unwrap();
        let s = read_cif_structure(cif, &CifOptions::default()).expect("candidate CIF parses");
        assert!(struct_validity(&s).struct_valid, "invalid candidate {}", cand["candidate_id"]);
        assert_eq!(s.composition().reduced_formula(), cand["formula"].as_str().unwrap());
        assert!(cand["e_form_per_atom"].as_f64().unwrap().is_finite());
    }
    // Both workers took part.
    let workers = ctl(port, None, &["workers"]).unwrap();
    let busy = workers.as_array().unwrap().iter().filter(|w| w["completed"].as_u64().unwrap_or(0) > 0).count();
    assert_eq!(busy, 2, "{workers}");
}

#[test]
fn killing_a_worker_mid_campaign_loses_nothing() {
    let tmp = TempDir::new("kill-worker");
    let model = tiny_random_model(tmp.path());
    let redis = Redis::start(tmp.path(), false);
    let (mut w1, p1) = start_worker(tmp.path(), &model, "worker1");
    let (_w2, p2) = start_worker(tmp.path(), &model, "worker2");
    let port = free_port();
    let _coord = start_coordinator(
        tmp.path(),
        port,
        &redis.url(),
        &[p1, p2],
        &["--batch-items", "2", "--tasks-per-worker", "1"],
    );
    let log = tmp.path().join("coordinator.log");
    let args = create_args(
        "a novel oxide",
        &["--formulas", "8", "--keep", "4", "--structures", "4", "--rounds", "2", "--steps", "200"],
    );
    let id = id_of(&ctl(port, Some(TOKEN), &args).unwrap());
    wait_for(port, &id, LONG, &log, |c| count(c, "structures.generated") >= 2);
    w1.kill9();
    let c = wait_done(port, &id, LONG, &log);
    assert_accounted(&c);
    assert_eq!(count(&c, "structures.planned"), 32, "{c}");
    candidate_set(port, &id);
    let workers = ctl(port, None, &["workers"]).unwrap();
    let dead = workers.as_array().unwrap().iter().find(|w| w["address"] == format!("127.0.0.1:{p1}")).unwrap().clone();
    assert_eq!(dead["healthy"], false, "{workers}");
}

#[test]
fn coordinator_killed_mid_campaign_resumes_to_the_same_result() {
    let tmp = TempDir::new("kill-coordinator");
    let model = tiny_random_model(tmp.path());
    let redis = Redis::start(tmp.path(), false);
    let (_w1, p1) = start_worker(tmp.path(), &model, "worker1");
    let port = free_port();
    let extra = ["--batch-items", "3", "--tasks-per-worker", "1"];
    let log = tmp.path().join("coordinator.log");
    let create = create_args(
        "a novel oxide",
        &["--formulas", "6", "--keep", "3", "--structures", "4", "--rounds", "2", "--steps", "150"],
    );

    // Reference run without a kill.
    let mut coord = start_coordinator(tmp.path(), port, &redis.url(), &[p1], &extra);
    let reference = id_of(&ctl(port, Some(TOKEN), &create).unwrap());
    let ref_state = wait_done(port, &reference, LONG, &log);
    assert_accounted(&ref_state);

    // Same campaign, coordinator killed while tasks are in flight, then started again.
    let mut with_id = create.clone();
    with_id.extend(["--id", "resumed"]);
    let id = id_of(&ctl(port, Some(TOKEN), &with_id).unwrap());
    wait_for(port, &id, LONG, &log, |c| count(c, "structures.generated") >= 3);
    coord.kill9();
    coord = start_coordinator(tmp.path(), port, &redis.url(), &[p1], &extra);
    let resumed = wait_done(port, &id, LONG, &log);
    assert_accounted(&resumed);
    let levels = [
        "formulas.proposed",
        "formulas.kept",
        "formulas.pruned",
        "structures.planned",
        "structures.generated",
        "structures.scored",
        "candidates",
    ];
    for key in levels {
        assert_eq!(count(&resumed, key), count(&ref_state, key), "{key}: {resumed} vs {ref_state}");
    }
    let mut a = candidate_set(port, &reference);
    let mut b = candidate_set(port, &id);
    a.sort_by(|x, y| x.0.cmp(&y.0));
    b.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!((&x.0, &x.1), (&y.0, &y.1), "candidate sets differ");
        assert!((x.2 - y.2).abs() < 1e-3, "{} scored {} vs {}", x.0, x.2, y.2);
    }
    assert!(coord.sigterm(Duration::from_secs(30)), "coordinator did not stop cleanly on SIGTERM");
}

#[test]
fn redis_restart_mid_campaign_is_ridden_out() {
    let tmp = TempDir::new("redis-restart");
    let model = tiny_random_model(tmp.path());
    let mut redis = Redis::start(tmp.path(), true);
    let (_w1, p1) = start_worker(tmp.path(), &model, "worker1");
    let port = free_port();
    let _coord =
        start_coordinator(tmp.path(), port, &redis.url(), &[p1], &["--batch-items", "2", "--tasks-per-worker", "1"]);
    let log = tmp.path().join("coordinator.log");
    let args = create_args(
        "a novel oxide",
        &["--formulas", "6", "--keep", "3", "--structures", "4", "--rounds", "2", "--steps", "150"],
    );
    let id = id_of(&ctl(port, Some(TOKEN), &args).unwrap());
    wait_for(port, &id, LONG, &log, |c| count(c, "structures.generated") >= 2);
    redis.restart();
    let c = wait_done(port, &id, LONG, &log);
    assert_accounted(&c);
    assert_eq!(count(&c, "structures.planned"), 24, "{c}");
    candidate_set(port, &id);
}

#[test]
fn live_parameter_updates_are_authenticated_validated_and_applied() {
    let tmp = TempDir::new("update-params");
    let model = tiny_random_model(tmp.path());
    let redis = Redis::start(tmp.path(), false);
    let (_w1, p1) = start_worker(tmp.path(), &model, "worker1");
    let port = free_port();
    let _coord = start_coordinator(tmp.path(), port, &redis.url(), &[p1], &["--batch-items", "4"]);
    let log = tmp.path().join("coordinator.log");

    // Unauthenticated / wrong-token creation is refused.
    let args = create_args(
        "a novel oxide",
        &["--formulas", "4", "--keep", "2", "--structures", "1", "--rounds", "2", "--steps", "100"],
    );
    assert!(ctl(port, None, &args).unwrap_err().contains("unauthenticated"));
    assert!(ctl(port, Some("wrong"), &args).unwrap_err().contains("unauthenticated"));
    let id = id_of(&ctl(port, Some(TOKEN), &args).unwrap());
    let paused = ctl(port, Some(TOKEN), &["pause", &id]).unwrap();
    assert_eq!(paused["state"], "paused");

    let err = ctl(port, None, &["set", &id, "--formulas", "8"]).unwrap_err();
    assert!(err.contains("unauthenticated"), "{err}");
    for (flags, needle) in
        [(vec!["--formulas", "0"], "formulas"), (vec!["--keep", "9"], "keep"), (vec!["--budget", "-5"], "budget")]
    {
        let mut a = vec!["set", id.as_str()];
        a.extend(flags.iter().copied());
        let err = ctl(port, Some(TOKEN), &a).unwrap_err();
        assert!(err.contains("invalid_argument") && err.contains(needle), "{flags:?}: {err}");
    }
    let updated = ctl(port, Some(TOKEN), &["set", &id, "--formulas", "8", "--keep", "4"]).unwrap();
    assert_eq!(updated["params"]["formulas"], 8);
    assert_eq!(updated["params"]["keep"], 4);
    assert_eq!(ctl(port, Some(TOKEN), &["resume", &id]).unwrap()["state"], "running");
    let c = wait_done(port, &id, LONG, &log);
    assert_accounted(&c);
    // Round 0 may have been proposed before the pause (H = 4) or after it (H = 8); round 1 surely used H = 8.
    let proposed = count(&c, "formulas.proposed");
    assert!(proposed == 12 || proposed == 16, "later expansions must use the new H: {c}");
    assert!(count(&c, "formulas.kept") > 2 + 2, "later expansions must use the new W: {c}");
    // Unknown campaigns and finished ones answer with clear codes.
    assert!(ctl(port, None, &["get", "nope"]).unwrap_err().contains("not_found"));
    assert!(ctl(port, Some(TOKEN), &["set", &id, "--formulas", "9"]).unwrap_err().contains("failed_precondition"));
    let bad = ctl(port, Some(TOKEN), &create_args("a metal with a band gap of 3 eV", &[])).unwrap_err();
    assert!(bad.contains("invalid_argument"), "{bad}");
}

#[test]
fn sigterm_drains_worker_and_coordinator_mid_campaign_without_loss() {
    let tmp = TempDir::new("sigterm");
    let model = tiny_random_model(tmp.path());
    let redis = Redis::start(tmp.path(), false);
    let (mut w1, p1) = start_worker(tmp.path(), &model, "worker1");
    let (_w2, p2) = start_worker(tmp.path(), &model, "worker2");
    let port = free_port();
    let extra = ["--batch-items", "2", "--tasks-per-worker", "1", "--drain-timeout-s", "20"];
    let mut coord = start_coordinator(tmp.path(), port, &redis.url(), &[p1, p2], &extra);
    let log = tmp.path().join("coordinator.log");
    let args = create_args(
        "a novel oxide",
        &["--formulas", "8", "--keep", "4", "--structures", "4", "--rounds", "2", "--steps", "200"],
    );
    let id = id_of(&ctl(port, Some(TOKEN), &args).unwrap());
    wait_for(port, &id, LONG, &log, |c| count(c, "structures.generated") >= 2);
    assert!(w1.sigterm(Duration::from_secs(60)), "worker did not drain and exit cleanly on SIGTERM");
    wait_for(port, &id, LONG, &log, |c| count(c, "structures.generated") >= 6);
    assert!(coord.sigterm(Duration::from_secs(60)), "coordinator did not drain and exit cleanly on SIGTERM");
    let _coord = start_coordinator(tmp.path(), port, &redis.url(), &[p1, p2], &extra);
    let c = wait_done(port, &id, LONG, &log);
    assert_accounted(&c);
    assert_eq!(count(&c, "structures.planned"), 32, "{c}");
    assert_eq!(count(&c, "structures.failed.task"), 0, "draining must not fail tasks: {c}");
    candidate_set(port, &id);
}
