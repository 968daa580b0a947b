//! TLS end to end with a test CA generated here (rcgen): a coordinator serving TLS, mutual TLS between coordinator
//! and worker, a campaign completing over it; a plaintext client refused by the TLS server; a coordinator without a
//! client certificate unable to use the mTLS worker.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair};

struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

fn make_pki(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server = server.signed_by(&server_key, &*ca).unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(vec!["genms-coordinator".to_string()]).unwrap();
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client = client.signed_by(&client_key, &*ca).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        server_cert: write("server.pem", server.pem()),
        server_key: write("server.key", server_key.serialize_pem()),
        client_cert: write("client.pem", client.pem()),
        client_key: write("client.key", client_key.serialize_pem()),
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn campaign_over_mutual_tls_and_plaintext_refused() {
    let tmp = TempDir::new("tls");
    let pki = make_pki(tmp.path());
    let model = tiny_random_model(tmp.path());
    let redis = Redis::start(tmp.path(), false);

    // Worker requiring client certificates signed by the test CA.
    let wport = free_port();
    let mut cmd = worker_cmd(wport, &model);
    cmd.args(["--tls-cert", &s(&pki.server_cert), "--tls-key", &s(&pki.server_key), "--tls-client-ca", &s(&pki.ca)]);
    let _worker = Proc::spawn("worker", &mut cmd, &tmp.path().join("worker.log"));

    let tls_server = [
        "--tls-cert".to_string(),
        s(&pki.server_cert),
        "--tls-key".to_string(),
        s(&pki.server_key),
        "--worker-tls-ca".to_string(),
        s(&pki.ca),
    ];
    let mut with_client_cert: Vec<String> = tls_server.to_vec();
    with_client_cert.extend([
        "--worker-tls-cert".into(),
        s(&pki.client_cert),
        "--worker-tls-key".into(),
        s(&pki.client_key),
    ]);
    let port = free_port();
    let extra: Vec<&str> = with_client_cert.iter().map(String::as_str).collect();
    let _coord = start_coordinator(tmp.path(), port, &redis.url(), &[wport], &extra);
    let log = tmp.path().join("coordinator.log");
    let tls = ["--tls-ca", &s(&pki.ca)];
    let tls: Vec<&str> = tls.iter().map(|x| x.as_ref()).collect();

    let args = create_args(
        "a novel oxide",
        &["--formulas", "4", "--keep", "2", "--structures", "2", "--rounds", "1", "--steps", "4"],
    );
    let created = ctl_with(port, Some(TOKEN), &tls, &args).unwrap();
    let id = created["campaign_id"].as_str().unwrap().to_string();
    let end = Instant::now() + Duration::from_secs(240);
    let c = loop {
        let c = ctl_with(port, None, &tls, &["get", &id]).unwrap();
        if c["state"] != "running" {
            break c;
        }
        assert!(
            Instant::now() < end,
            "campaign over TLS did not finish: {c}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_accounted(&c);

    // A plaintext client gets no answer from the TLS server.
    let err = ctl(port, None, &["get", &id]).unwrap_err();
    assert!(!err.is_empty());
    // A client that does not trust the server's CA is refused too.
    let other = TempDir::new("tls-other");
    let other_pki = make_pki(other.path());
    assert!(ctl_with(port, None, &["--tls-ca", &s(&other_pki.ca)], &["get", &id]).is_err());

    // A second coordinator without a client certificate cannot use the mutual-TLS worker.
    let port2 = free_port();
    let redis2 = Redis::start(other.path(), false);
    let extra2: Vec<&str> = tls_server.iter().map(String::as_str).collect();
    let _coord2 = start_coordinator(other.path(), port2, &redis2.url(), &[wport], &extra2);
    std::thread::sleep(Duration::from_millis(1500));
    let workers = ctl_with(port2, None, &tls, &["workers"]).unwrap();
    assert_eq!(workers[0]["healthy"], false, "{workers}");
    let ok = ctl_with(port, None, &tls, &["workers"]).unwrap();
    assert_eq!(ok[0]["healthy"], true, "{ok}");
}
