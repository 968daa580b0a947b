//! The OpenAI backend against a tiny HTTP server started by the test (one thread, one canned answer per
//! connection), on a small data set written by the test.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::thread::JoinHandle;

use genms_shared::constraints::interpret;

use super::*;

/// Serves `answers` (status, body) to successive connections; returns the base URL and a handle yielding the
/// request bodies (and the Authorization header of the first).
/// Each request's body and Authorization header.
type Seen = Vec<(String, Option<String>)>;

fn serve(answers: Vec<(u16, String)>, delay: Duration) -> (String, JoinHandle<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for (status, body) in answers {
            let Ok((stream, _)) = listener.accept() else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut len, mut auth, mut expect) = (0usize, None, false);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if lower.starts_with("authorization:") {
                    auth = Some(line[14..].trim().to_string());
                }
                expect |= lower.starts_with("expect: 100-continue");
                line.clear();
            }
            let mut stream = stream;
            if expect {
                let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
            let mut buf = vec![0u8; len];
            let _ = reader.read_exact(&mut buf);
            seen.push((String::from_utf8_lossy(&buf).into_owned(), auth));
            std::thread::sleep(delay);
            let reply = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
        seen
    });
    (url, handle)
}

fn reduced(f: &str) -> String {
    genms_shared::Composition::parse(f).unwrap().reduced_formula()
}

fn chat(content: &str) -> String {
    json!({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}).to_string()
}

/// A small data set: a gap table and the novelty list.
fn data_dir() -> (PathBuf, PathBuf) {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let i = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("genms-openai-test-{}-{i}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = "formula,target\nSrTiO3,1.8\nBaTiO3,2.0\nLiFePO4,3.7\nNaCl,5.0\nCaTiO3,2.4\n";
    std::fs::write(dir.join("mp_gap.csv"), csv).unwrap();
    let known = "SrTiO3\nBaTiO3\nLiFePO4\nNaCl\nCaTiO3\nLiCoO2\n";
    std::fs::write(dir.join("known_formulas.txt"), known).unwrap();
    (dir.clone(), dir.join("known_formulas.txt"))
}

fn proposer(url: &str, key: Option<&str>, timeout: Duration) -> OpenAiProposer {
    let (dir, known) = data_dir();
    let mut cfg = OpenAiConfig::new(url, "test-model");
    cfg.api_key = key.map(str::to_string);
    cfg.timeout = timeout;
    OpenAiProposer::load(cfg, &dir, &known).unwrap()
}

fn task(prompt: &str, n: u32) -> ProposeTask {
    ProposeTask {
        task_id: "t".into(),
        prompt: prompt.into(),
        constraints: interpret(prompt).unwrap().constraints,
        n,
        seed: 42,
        exclude: vec!["MgTiO3".into()],
        context: Vec::new(),
    }
}

const ANSWER: &str = "Sure! Here are some candidates:\n\n1. **SrTiO3** (the classic)\n2. CdTiO₃ – a Cd analogue\n\
                      3. Formula: PbTiO3\n4. MgTiO3\n5. LaTiO3\n6. HeTiO3\n7. KTaO3\n8. CdTiO3 (again)\n";

#[test]
fn request_carries_model_examples_and_exclusions_and_answers_are_filtered() {
    let (url, server) = serve(vec![(200, chat(ANSWER))], Duration::ZERO);
    let p = proposer(&url, Some("sk-test-123"), Duration::from_secs(10));
    let t = task("perovskite oxide containing Ti, not CaTiO3", 3);
    let (out, stats) = p.propose_with_stats(&t).unwrap();
    let got: Vec<(&str, f64)> = out.iter().map(|p| (p.formula.as_str(), p.logprob)).collect();
    let want = [("CdTiO3", -(2f64).ln()), ("PbTiO3", -(3f64).ln()), ("LaTiO3", -(5f64).ln())];
    assert_eq!(got.len(), 3, "{got:?}");
    for ((f, lp), (wf, wlp)) in got.iter().zip(want) {
        assert_eq!(*f, reduced(wf));
        assert!((lp - wlp).abs() < 1e-12);
    }
    assert_eq!((stats.drawn, stats.accepted), (7, 3));
    let requests = server.join().unwrap();
    assert_eq!(requests.len(), 1);
    let (body, auth) = &requests[0];
    assert_eq!(auth.as_deref(), Some("Bearer sk-test-123"));
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["seed"], 42);
    assert_eq!(body["messages"][0]["role"], "system");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("Request: perovskite oxide containing Ti, not CaTiO3"), "{user}");
    assert!(user.contains("must contain every one of: Ti"), "{user}");
    // Known examples that fit (labelled perovskite titanates), and the exclusion list: user's, task's, examples.
    assert!(user.contains("SrTiO3\n") && user.contains("BaTiO3\n"), "{user}");
    assert!(!user.contains("LiFePO4"), "an example that does not fit: {user}");
    let excl = user.split("Do not propose any of these formulae:\n").nth(1).unwrap();
    for f in ["CaTiO3", "MgTiO3", "SrTiO3", "BaTiO3"] {
        assert!(excl.contains(f), "{f} not excluded: {excl}");
    }
}

#[test]
fn asks_again_with_earlier_answers_excluded_until_nothing_new() {
    let second = chat("CdTiO3\nZnTiO3\nBaZrO3");
    let (url, server) = serve(vec![(200, chat(ANSWER)), (200, second), (200, chat("CdTiO3"))], Duration::ZERO);
    let p = proposer(&url, None, Duration::from_secs(10));
    let (out, _) = p.propose_with_stats(&task("perovskite oxide containing Ti, not CaTiO3", 10)).unwrap();
    let names: Vec<String> = out.iter().map(|p| p.formula.clone()).collect();
    assert_eq!(names, ["CdTiO3", "PbTiO3", "LaTiO3", "ZnTiO3"].map(reduced));
    let requests = server.join().unwrap();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].1, None, "no key, no Authorization header");
    let body: Value = serde_json::from_str(&requests[1].0).unwrap();
    assert_eq!(body["seed"], 43);
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("KTaO3") && user.contains(&reduced("CdTiO3")), "earlier answers excluded: {user}");
}

#[test]
fn token_logprobs_score_the_formulae() {
    let content = "LiMnPO4\nNaMnPO4";
    let logprobs = json!({"content": [
        {"token": "Li", "logprob": -0.5}, {"token": "MnPO4", "logprob": -0.25}, {"token": "\n", "logprob": -0.01},
        {"token": "Na", "logprob": -3.0}, {"token": "MnPO4", "logprob": -0.5}
    ]});
    let body = json!({"choices": [{"message": {"content": content}, "logprobs": logprobs}]}).to_string();
    let (url, server) = serve(vec![(200, body)], Duration::ZERO);
    let (dir, known) = data_dir();
    let mut cfg = OpenAiConfig::new(&url, "m");
    cfg.request_logprobs = true;
    let p = OpenAiProposer::load(cfg, &dir, &known).unwrap();
    let out = p.propose(&task("phosphate containing Mn", 2)).unwrap();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].formula, "LiMnPO4");
    assert!((out[0].logprob + 0.75).abs() < 1e-9 && (out[1].logprob + 3.5).abs() < 1e-9, "{out:?}");
    let requests = server.join().unwrap();
    let sent: Value = serde_json::from_str(&requests[0].0).unwrap();
    assert_eq!(sent["logprobs"], true);
}

#[test]
fn errors_name_the_url_and_never_the_key() {
    let key = "sk-secret-key-0123456789";
    let msg =
        json!({"error": {"message": format!("Incorrect API key provided: {key}"), "type": "invalid_request_error"}});
    let (url, server) = serve(vec![(401, msg.to_string())], Duration::ZERO);
    let e = proposer(&url, Some(key), Duration::from_secs(10)).propose(&task("oxide", 5)).unwrap_err().to_string();
    server.join().unwrap();
    assert!(e.contains(&format!("{url}/chat/completions")) && e.contains("HTTP 401"), "{e}");
    assert!(e.contains("Incorrect API key") && !e.contains(key), "{e}");

    let (url, server) = serve(vec![(200, "<html>not json</html>".into())], Duration::ZERO);
    let e = proposer(&url, None, Duration::from_secs(10)).propose(&task("oxide", 5)).unwrap_err().to_string();
    server.join().unwrap();
    assert!(e.contains(&url) && e.contains("not JSON"), "{e}");

    let (url, server) = serve(vec![(200, json!({"object": "list"}).to_string())], Duration::ZERO);
    let e = proposer(&url, None, Duration::from_secs(10)).propose(&task("oxide", 5)).unwrap_err().to_string();
    server.join().unwrap();
    assert!(e.contains("no choices[0]"), "{e}");

    let (url, server) = serve(vec![(200, chat("LiF"))], Duration::from_millis(1500));
    let e = proposer(&url, None, Duration::from_millis(300)).propose(&task("oxide", 5)).unwrap_err().to_string();
    assert!(e.contains(&url) && e.contains("timed out"), "{e}");
    server.join().unwrap();

    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let e = proposer(&url, None, Duration::from_secs(5)).propose(&task("oxide", 5)).unwrap_err().to_string();
    assert!(e.contains(&url) && e.contains("connection failed"), "{e}");
}

#[test]
fn endpoint_and_config_checks() {
    assert_eq!(OpenAiConfig::new("http://h:8000/v1/", "m").endpoint(), "http://h:8000/v1/chat/completions");
    assert_eq!(OpenAiConfig::new("http://h/v1/chat/completions", "m").endpoint(), "http://h/v1/chat/completions");
    let (dir, known) = data_dir();
    let e = OpenAiProposer::load(OpenAiConfig::new("h:8000", "m"), &dir, &known).err().unwrap().to_string();
    assert!(e.contains("http://"), "{e}");
    assert!(OpenAiProposer::load(OpenAiConfig::new("http://h", " "), &dir, &known).is_err());
}
