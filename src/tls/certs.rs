//! `duckgrid certs new`: a private CA and the certificates a first TLS
//! set-up needs (the server's, and clients' for mutual TLS), so that TLS
//! is one command away rather than an OpenSSL recipe. For production, a
//! CA the organisation runs replaces it; the server takes any PEM files.

use std::path::Path;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use crate::config::NewCertsArgs;

/// Writes `ca.pem`, `server.pem` + `server.key`, and `client-NAME.pem` +
/// `client-NAME.key` for every client into `args.out`; returns what it
/// wrote, for the user.
pub fn write(args: &NewCertsArgs) -> anyhow::Result<String> {
    for name in &args.client {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b))
        {
            anyhow::bail!(
                "--client {name:?}: a name is letters, digits or - _ . @ (it names a file)"
            );
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let ca = ca(&args.ca_name)?;
    let mut written = vec![save(&args.out, "ca.pem", &ca.pem(), false)?];

    let mut server = CertificateParams::new(args.host.clone())?;
    server
        .distinguished_name
        .push(DnType::CommonName, args.host[0].as_str());
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    written.extend(issue(&args.out, "server", server, &ca)?);

    for name in &args.client {
        let mut client = CertificateParams::new(Vec::<String>::new())?;
        client.distinguished_name.push(DnType::CommonName, name);
        client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        written.extend(issue(&args.out, &format!("client-{name}"), client, &ca)?);
    }
    Ok(format!(
        "wrote {}\n# serve:  duckgrid serve --tls-cert {out}/server.pem --tls-key {out}/server.key \
         [--client-ca {out}/ca.pem]\n# trust:  clients verify the server with {out}/ca.pem\n",
        written.join(", "),
        out = args.out.display()
    ))
}

/// A self-signed CA that may sign certificates (and nothing else).
fn ca(name: &str) -> anyhow::Result<CertifiedIssuer<'static, KeyPair>> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    Ok(CertifiedIssuer::self_signed(params, KeyPair::generate()?)?)
}

/// A new key and its certificate signed by `ca`, saved as `NAME.pem` and
/// `NAME.key`.
fn issue(
    out: &Path,
    name: &str,
    mut params: CertificateParams,
    ca: &CertifiedIssuer<'static, KeyPair>,
) -> anyhow::Result<Vec<String>> {
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok(vec![
        save(out, &format!("{name}.pem"), &cert.pem(), false)?,
        save(out, &format!("{name}.key"), &key.serialize_pem(), true)?,
    ])
}

/// Writes one file; a private key is readable by its owner only.
fn save(out: &Path, name: &str, text: &str, private: bool) -> anyhow::Result<String> {
    let path = out.join(name);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(name.to_owned())
}
