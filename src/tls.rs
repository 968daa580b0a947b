//! TLS (rustls) for both gRPC services and their clients, from PEM files: a server presents `--tls-cert` /
//! `--tls-key` and, with `--tls-client-ca`, requires client certificates signed by that CA (mutual TLS, e.g.
//! between coordinator and workers); a client trusts `--tls-ca` (or the coordinator's `--worker-tls-ca`) and may
//! present its own certificate. Private keys are read from files and never logged.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))?;
    if !String::from_utf8_lossy(&bytes).contains("-----BEGIN") {
        bail!("{what} {} is not PEM (no -----BEGIN line)", path.display());
    }
    Ok(bytes)
}

/// TLS of a gRPC server.
#[derive(Args, Debug, Clone, Default)]
pub struct ServerTlsArgs {
    /// PEM certificate (chain) this server presents; enables TLS (with --tls-key).
    #[arg(long, env = "GENMS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "GENMS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by this PEM CA (mutual TLS).
    #[arg(long, env = "GENMS_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
}

impl ServerTlsArgs {
    /// The server TLS configuration, or `None` for plaintext.
    pub fn config(&self) -> anyhow::Result<Option<ServerTlsConfig>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else { return Ok(None) };
        let identity = Identity::from_pem(read(cert, "TLS certificate")?, read(key, "TLS key")?);
        let mut cfg = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &self.tls_client_ca {
            cfg = cfg.client_ca_root(Certificate::from_pem(read(ca, "client CA")?));
        }
        Ok(Some(cfg))
    }
}

/// A client's TLS settings (built from whichever flags the role exposes).
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub domain: Option<String>,
}

impl ClientTls {
    /// The client TLS configuration, or `None` for plaintext (no CA given).
    pub fn config(&self) -> anyhow::Result<Option<ClientTlsConfig>> {
        let Some(ca) = &self.ca else {
            if self.cert.is_some() {
                bail!("a client certificate was given without the CA to verify the server with");
            }
            return Ok(None);
        };
        let mut cfg = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca, "CA certificate")?));
        match (&self.cert, &self.key) {
            (Some(c), Some(k)) => {
                cfg = cfg.identity(Identity::from_pem(read(c, "client certificate")?, read(k, "client key")?))
            }
            (None, None) => {}
            _ => bail!("a client certificate needs both the certificate and its key"),
        }
        if let Some(d) = &self.domain {
            cfg = cfg.domain_name(d.clone());
        }
        Ok(Some(cfg))
    }
}

/// `http://` or `https://` URL for `address` (kept when it already has a scheme).
pub fn url(address: &str, tls: bool) -> String {
    if address.contains("://") {
        address.to_string()
    } else if tls {
        format!("https://{address}")
    } else {
        format!("http://{address}")
    }
}
