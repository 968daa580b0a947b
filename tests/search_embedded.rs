//! End-to-end `genms search` (embedded mode: engine, in-process worker and file-backed store in one process) with a
//! tiny **randomly initialised** diffusion model made by the test and the real CGCNN weights: the output files, and
//! resuming a search killed with SIGKILL from its `--state` file to the same candidates as an uninterrupted run.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use genms_shared::io::{read_cif_structure, CifOptions};
use genms_shared::validity::struct_validity;

fn search_cmd(model: &Path, out: &Path, steps: &str) -> Command {
    search_prompt("a novel oxide", model, out, steps)
}

fn search_prompt(prompt: &str, model: &Path, out: &Path, steps: &str) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(["search", prompt, "--formulas", "6", "--keep", "3", "--structures", "3", "--rounds", "2"])
        .args(["--steps", steps, "--seed", "11", "--top", "100", "--model", "tiny-random", "--quiet"])
        .arg("--models-dir")
        .arg(shared().join("models"))
        .arg("--diffusion-models")
        .arg(format!("tiny-random={}", model.display()))
        .arg("--out")
        .arg(out);
    cmd
}

fn read_candidates(out: &Path) -> Vec<csv::StringRecord> {
    let mut r = csv::Reader::from_path(out.join("candidates.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "rank",
            "candidate_id",
            "formula",
            "e_form_per_atom",
            "band_gap",
            "p_metal",
            "spacegroup_number",
            "num_sites",
            "novel",
            "formula_logprob",
            "cif_path"
        ]
    );
    r.records().map(|r| r.unwrap()).collect()
}

#[test]
fn embedded_search_writes_candidates_cifs_and_campaign_json() {
    let tmp = TempDir::new("embedded");
    let model = tiny_random_model(tmp.path());
    let out = tmp.path().join("out");
    let res = search_cmd(&model, &out, "4").output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    let rows = read_candidates(&out);
    assert!(!rows.is_empty());
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0].parse::<usize>().unwrap(), i + 1);
        let cif = std::fs::read_to_string(out.join(&row[10])).unwrap();
        let s = read_cif_structure(&cif, &CifOptions::default()).unwrap();
        assert!(struct_validity(&s).struct_valid);
        assert_eq!(s.composition().reduced_formula(), row[2]);
        assert_eq!(s.num_sites().to_string(), row[7]);
    }
    let e: Vec<f64> = rows.iter().map(|r| r[3].parse().unwrap()).collect();
    assert!(e.windows(2).all(|w| w[0] <= w[1] + 0.5), "ranking is by objective (energy plus penalties)");
    let campaign: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("campaign.json")).unwrap()).unwrap();
    assert_eq!(campaign["state"], "done");
    assert_eq!(campaign["prompt"], "a novel oxide");
    assert_eq!(campaign["params"]["formulas"], 6);
    assert_eq!(campaign["counts"]["formulas"]["proposed"], 12);
    assert_eq!(campaign["counts"]["candidates"].as_u64().unwrap() as usize, rows.len());
    assert!(campaign["rejections"]["structures"].is_object());
    assert!(campaign["timings"]["wall_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn killed_embedded_search_resumes_from_its_state_file() {
    let tmp = TempDir::new("embedded-resume");
    let model = tiny_random_model(tmp.path());
    let reference = tmp.path().join("reference");
    let res = search_cmd(&model, &reference, "150").output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));

    let out = tmp.path().join("resumed");
    let state = tmp.path().join("state.json");
    let mut first =
        Proc::spawn("search", search_cmd(&model, &out, "150").arg("--state").arg(&state), &tmp.path().join("s1.log"));
    // Kill it once some structures are recorded in the state file.
    let end = Instant::now() + Duration::from_secs(240);
    loop {
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        if text.contains("\"structures.generated\"") {
            break;
        }
        assert!(first.is_running(), "search finished before it could be interrupted");
        assert!(Instant::now() < end, "no progress recorded in the state file");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill9();
    let res = search_cmd(&model, &out, "150").arg("--state").arg(&state).output().unwrap();
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    assert!(String::from_utf8_lossy(&res.stderr).contains("resuming"));
    let key = |rows: Vec<csv::StringRecord>| {
        let mut v: Vec<(String, String)> = rows.iter().map(|r| (r[1].to_string(), r[2].to_string())).collect();
        v.sort();
        v
    };
    assert_eq!(key(read_candidates(&out)), key(read_candidates(&reference)));
    // A different prompt with the same state file is refused.
    let res = search_prompt("a novel nitride", &model, &out, "4").arg("--state").arg(&state).output().unwrap();
    assert!(!res.status.success());
    assert!(String::from_utf8_lossy(&res.stderr).contains("different search"));
}
