//! TLS: the server's certificate (`--tls-cert`, `--tls-key`), mutual TLS
//! (`--client-ca`: a client proves who it is with a certificate, whose
//! Common Name is then its identity), an edge's TLS to its writer
//! (`--writer-ca`, and `--writer-cert`/`--writer-key` when the writer asks
//! for client certificates), and the CA of a `rediss://` Redis
//! (`--redis-ca`). rustls through tonic's TLS features; `certs` makes a
//! private CA for a first set-up and for the tests.

pub mod certs;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// How long a connection may take to finish its TLS handshake before it is
/// closed (tonic waits forever by default: a client that connects and says
/// nothing would hold its task for good).
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The TLS flags of `duckgrid serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct TlsFlags {
    /// The server's certificate chain (PEM): with --tls-key, gRPC is served
    /// over TLS only.
    #[arg(long, env = "DUCKGRID_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, env = "DUCKGRID_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Mutual TLS: clients must present a certificate this CA (PEM) signed;
    /// its Common Name is who they are (see docs/AUTH.md).
    #[arg(long, env = "DUCKGRID_CLIENT_CA", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Edges: the CA (PEM) that signed the writer's certificate; with it the
    /// edge reaches its writer over TLS.
    #[arg(long, env = "DUCKGRID_WRITER_CA")]
    pub writer_ca: Option<PathBuf>,
    /// Edges: the certificate (PEM) the edge presents to a writer that asks
    /// for client certificates (--client-ca there).
    #[arg(
        long,
        env = "DUCKGRID_WRITER_CERT",
        requires = "writer_key",
        requires = "writer_ca"
    )]
    pub writer_cert: Option<PathBuf>,
    /// Edges: the private key of --writer-cert (PEM).
    #[arg(long, env = "DUCKGRID_WRITER_KEY", requires = "writer_cert")]
    pub writer_key: Option<PathBuf>,
    /// The CA (PEM) of a `rediss://` Redis with a private certificate
    /// (default: the system's roots).
    #[arg(long, env = "DUCKGRID_REDIS_CA")]
    pub redis_ca: Option<PathBuf>,
}

impl TlsFlags {
    /// The server's TLS, if it has any.
    pub fn server(&self) -> anyhow::Result<Option<ServerTlsConfig>> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let mut tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(read(cert)?, read(key)?))
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca) = &self.client_ca {
            tls = tls.client_ca_root(Certificate::from_pem(read(ca)?));
        }
        Ok(Some(tls))
    }

    /// An edge's TLS to its writer, if it has any.
    pub fn writer(&self) -> anyhow::Result<Option<ClientTlsConfig>> {
        let Some(ca) = &self.writer_ca else {
            return Ok(None);
        };
        let identity = self.writer_cert.as_deref().zip(self.writer_key.as_deref());
        Ok(Some(client(ca, identity)?))
    }

    /// True when callers must prove who they are with a certificate.
    pub fn mutual(&self) -> bool {
        self.client_ca.is_some()
    }
}

/// An endpoint for `addr` (`host:port`, or a URL): over TLS with `tls`
/// (`https://`), else plaintext (`http://`).
pub fn endpoint(
    addr: &str,
    tls: Option<ClientTlsConfig>,
) -> anyhow::Result<tonic::transport::Endpoint> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = match addr.split_once("://") {
        // Never plaintext where the address asked for TLS.
        Some(("https", _)) if tls.is_none() => anyhow::bail!(
            "{addr} asks for TLS: give the CA that signed its certificate (--writer-ca, or \
             --ca for `duckgrid health`)"
        ),
        Some((_, rest)) => format!("{scheme}://{rest}"),
        None => format!("{scheme}://{addr}"),
    };
    let endpoint = tonic::transport::Endpoint::from_shared(url.clone())
        .with_context(|| format!("the address {url:?}"))?;
    Ok(match tls {
        Some(tls) => endpoint
            .tls_config(tls)
            .with_context(|| format!("TLS for {url}"))?,
        None => endpoint,
    })
}

/// A client's TLS that trusts the CA (PEM) at `ca` and presents the
/// certificate and key (PEM) of `identity`, if given.
pub fn client(ca: &Path, identity: Option<(&Path, &Path)>) -> anyhow::Result<ClientTlsConfig> {
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
    Ok(match identity {
        Some((cert, key)) => tls.identity(Identity::from_pem(read(cert)?, read(key)?)),
        None => tls,
    })
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// The Common Name of the certificate a caller presented (mutual TLS; the
/// handshake has already checked it against `--client-ca`).
pub fn peer_common_name<B>(request: &http::Request<B>) -> Option<String> {
    let certs = request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()?
        .peer_certs()?;
    common_name(certs.first()?.as_ref())
}

/// The first Common Name of a DER certificate's subject.
pub fn common_name(der: &[u8]) -> Option<String> {
    use x509_cert::der::{Decode, Tag, Tagged};
    let cert = x509_cert::Certificate::from_der(der).ok()?;
    let cn = cert
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == x509_cert::der::oid::db::rfc4519::CN)?;
    // The string types a CN comes in; their contents are the characters.
    match cn.value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            String::from_utf8(cn.value.value().to_vec()).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NewCertsArgs;

    #[test]
    fn an_address_that_asks_for_tls_never_goes_plaintext() {
        let tls = || Some(ClientTlsConfig::new());
        assert!(endpoint("https://127.0.0.1:1", None).is_err());
        assert_eq!(
            endpoint("127.0.0.1:1", None).unwrap().uri().scheme_str(),
            Some("http")
        );
        assert_eq!(
            endpoint("http://[::1]:1", tls())
                .unwrap()
                .uri()
                .scheme_str(),
            Some("https")
        );
        assert_eq!(
            endpoint("https://localhost:1", tls())
                .unwrap()
                .uri()
                .scheme_str(),
            Some("https")
        );
    }

    #[test]
    fn a_client_certificate_names_its_common_name() {
        let dir = tempfile::tempdir().unwrap();
        certs::write(&NewCertsArgs {
            out: dir.path().to_owned(),
            host: vec!["localhost".into()],
            client: vec!["carol".into()],
            ca_name: "test CA".into(),
        })
        .unwrap();
        let pem = std::fs::read_to_string(dir.path().join("client-carol.pem")).unwrap();
        let der = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
            .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
            .unwrap();
        assert_eq!(common_name(&der).as_deref(), Some("carol"));
        assert_eq!(common_name(b"not a certificate"), None);
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| {
            std::fs::metadata(dir.path().join(name))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("server.key"), 0o600);
        assert_eq!(mode("client-carol.key"), 0o600);
        // Nothing is overwritten, nor half written: a second run into the
        // same directory stops before it writes anything.
        assert!(
            certs::write(&NewCertsArgs {
                out: dir.path().to_owned(),
                host: vec!["localhost".into()],
                client: vec!["dan".into()],
                ca_name: "test CA".into(),
            })
            .is_err()
        );
        assert!(!dir.path().join("client-dan.pem").exists());
        assert!(
            certs::write(&NewCertsArgs {
                out: dir.path().to_owned(),
                host: vec!["localhost".into()],
                client: vec!["../escape".into()],
                ca_name: "test CA".into(),
            })
            .is_err()
        );
    }
}
