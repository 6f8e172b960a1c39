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
        if !crate::auth::keys::plain_name(name) {
            anyhow::bail!(
                "--client {name:?}: a name is 1-64 letters, digits or - _ . @ (it names a file)"
            );
        }
    }
    let Some(first_host) = args.host.first() else {
        anyhow::bail!("--host: the server certificate needs at least one name or address");
    };
    // All or nothing: no file is written if any of them is already there.
    let names = ["ca.pem", "server.pem", "server.key"]
        .map(String::from)
        .into_iter()
        .chain(
            args.client
                .iter()
                .flat_map(|n| [format!("client-{n}.pem"), format!("client-{n}.key")]),
        );
    for name in names {
        let path = args.out.join(name);
        if path.symlink_metadata().is_ok() {
            anyhow::bail!("{} exists: certs new never overwrites", path.display());
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let ca = ca(&args.ca_name)?;
    let mut written = vec![save(&args.out, "ca.pem", &ca.pem(), false)?];

    let mut server = CertificateParams::new(args.host.clone())?;
    server
        .distinguished_name
        .push(DnType::CommonName, first_host.as_str());
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
    valid_for(&mut params, 10);
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
    valid_for(&mut params, 1);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok(vec![
        save(out, &format!("{name}.pem"), &cert.pem(), false)?,
        save(out, &format!("{name}.key"), &key.serialize_pem(), true)?,
    ])
}

/// Writes one new file (never over an existing one, nor through a
/// symlink); a private key is created readable by its owner only.
fn save(out: &Path, name: &str, text: &str, private: bool) -> anyhow::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = out.join(name);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&path)
        .with_context(|| format!("creating {} (certs new never overwrites)", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(name.to_owned())
}

/// Valid from today for `years` years (rcgen's default is until 4096:
/// a lost key would be good for ever, and this CA cannot revoke).
fn valid_for(params: &mut CertificateParams, years: i32) {
    use chrono::Datelike;
    let today = chrono::Utc::now().date_naive();
    let (y, m, d) = (today.year(), today.month() as u8, today.day().min(28) as u8);
    params.not_before = rcgen::date_time_ymd(y, m, d);
    params.not_after = rcgen::date_time_ymd(y + years, m, d);
}
