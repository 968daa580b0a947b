//! `genms propose` end to end: the real binary on the shared composition data, the embedded backend and the
//! OpenAI backend against a tiny chat-completions server started by the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::thread::JoinHandle;

use genms_shared::paths::shared_root;
use genms_shared::Composition;
use serde_json::Value;

fn genms() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_genms"));
    c.env("GENMS_SHARED", shared_root());
    for var in ["GENMS_LLM_URL", "GENMS_LLM_MODEL", "GENMS_LLM_API_KEY", "OPENAI_API_KEY", "GENMS_PROPOSER"] {
        c.env_remove(var);
    }
    c
}

fn run(args: &[&str]) -> Output {
    genms().arg("propose").args(args).output().expect("runs genms")
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim().lines().count(), 1, "one JSON object on one line: {text}");
    serde_json::from_str(text.trim()).expect("stdout is JSON")
}

fn reduced(f: &str) -> String {
    Composition::parse(f).unwrap().reduced_formula()
}

#[test]
fn embedded_json_holds_only_proposals_that_pass_every_filter() {
    let v = json_of(&run(&["perovskite oxide containing Ti, not BaTiO3", "-n", "12", "--seed", "3", "--json"]));
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["constraints", "drawn", "proposals"]);
    assert_eq!(v["constraints"]["family"], "perovskite");
    assert_eq!(v["constraints"]["excluded_formulas"][0], "BaTiO3");
    let proposals = v["proposals"].as_array().unwrap();
    assert!(!proposals.is_empty() && proposals.len() <= 12, "{}", proposals.len());
    assert!(v["drawn"].as_u64().unwrap() >= proposals.len() as u64);
    let mut last = f64::INFINITY;
    for p in proposals {
        let f = p["formula"].as_str().unwrap();
        let comp = Composition::parse(f).unwrap();
        assert_eq!(comp.anonymized_formula(), "ABC3", "{f}");
        assert!(comp.contains(genms_shared::Element::from_symbol("Ti").unwrap()), "{f}");
        assert_ne!(f, "BaTiO3");
        for flag in ["novel", "charge_neutral", "satisfies_constraints"] {
            assert_eq!(p[flag], true, "{f}: {flag}");
        }
        let lp = p["logprob"].as_f64().unwrap();
        assert!(lp <= last && lp <= 0.0, "sorted log-probabilities");
        last = lp;
    }
    // Same seed, same answer.
    let again = json_of(&run(&["perovskite oxide containing Ti, not BaTiO3", "-n", "12", "--seed", "3", "--json"]));
    assert_eq!(v, again);
}

#[test]
fn text_output_shows_formula_logprob_and_filters() {
    let out = run(&["Li-containing", "spinel", "-n", "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("# embedded") && lines[0].contains("candidates drawn"), "{text}");
    assert!(lines[1].contains("formula") && lines[1].contains("logprob") && lines[1].contains("charge_neutral"));
    assert_eq!(lines.len(), 2 + 5, "{text}");
    for row in &lines[2..] {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.len(), 5, "{row}");
        assert!(
            cols[0].contains("Li") && cols[1].parse::<f64>().is_ok() && cols[2..] == ["yes", "yes", "yes"],
            "{row}"
        );
    }
}

#[test]
fn bad_prompts_and_missing_llm_settings_are_one_line_errors() {
    for (args, needle) in [
        (vec!["a metal with a band gap of 3 eV"], "contradiction"),
        (vec!["lithium-free Li oxides"], "contradiction"),
        (vec!["oxide", "--backend", "openai"], "--llm-url"),
        (vec!["oxide", "--backend", "openai", "--llm-url", "http://127.0.0.1:9/v1"], "--llm-model"),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.starts_with("error: ") && err.contains(needle), "{args:?}: {err}");
    }
}

/// Serves one chat-completions answer; yields the request's body and Authorization header.
fn serve_once(content: &str) -> (String, JoinHandle<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let body = serde_json::json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})
        .to_string();
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let (mut len, mut auth) = (0usize, String::new());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if lower.starts_with("authorization:") {
                auth = line[14..].trim().to_string();
            }
            line.clear();
        }
        let mut buf = vec![0u8; len];
        reader.read_exact(&mut buf).unwrap();
        let mut stream = stream;
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(reply.as_bytes()).unwrap();
        (String::from_utf8(buf).unwrap(), auth)
    });
    (url, handle)
}

#[test]
fn openai_backend_filters_the_llm_answer() {
    let answer = "Here are my suggestions:\n1. **LiMn2O4** (well known)\n2. Li₂CrBr₄\n3. Formula: Li2CrI4\n\
                  4. MgAl2O4\n5. Li2HeO4\n6. Li2CrBr4 (again)";
    let (url, server) = serve_once(answer);
    let out = genms()
        .args(["propose", "Li-containing spinel", "-n", "2", "--json", "--backend", "openai"])
        .args(["--llm-url", &url, "--llm-model", "tiny-test", "--seed", "9", "--llm-requests", "1"])
        .env("GENMS_LLM_API_KEY", "sk-cli-test")
        .output()
        .unwrap();
    let v = json_of(&out);
    let (request, auth) = server.join().unwrap();
    assert_eq!(auth, "Bearer sk-cli-test");
    let req: Value = serde_json::from_str(&request).unwrap();
    assert_eq!((req["model"].as_str(), req["seed"].as_u64()), (Some("tiny-test"), Some(9)));
    let user = req["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("spinel") && user.contains("Do not propose any of these formulae"), "{user}");
    let got: Vec<&str> = v["proposals"].as_array().unwrap().iter().map(|p| p["formula"].as_str().unwrap()).collect();
    assert_eq!(got, [reduced("Li2CrBr4"), reduced("Li2CrI4")]);
    assert_eq!(v["drawn"], 5);
    let lp = v["proposals"][0]["logprob"].as_f64().unwrap();
    assert!((lp + 2f64.ln()).abs() < 1e-9, "rank score of the second formula drawn: {lp}");
}
