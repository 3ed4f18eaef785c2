//! TLS and mutual TLS on the gRPC port: with a certificate the server
//! speaks only TLS; with a client CA it admits only clients holding a
//! certificate that CA signed — and still requires credentials on top.

use std::path::{Path, PathBuf};

use pulse::config::TlsSettings;
use pulse::pb;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tonic::Code;
use tonic::transport::{Channel, ClientTlsConfig, Identity};

use crate::both_backends;
use crate::helpers::{Backend, Client, TestApp, assert_code, spawn_app_with};

/// A certificate authority that signs server and client certificates.
struct Ca {
    cert: Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    /// A leaf certificate and its key, PEM.
    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

async fn connect(
    app: &TestApp,
    ca: &Ca,
    client: Option<&(String, String)>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(ca.cert.pem()))
        .domain_name("localhost");
    if let Some((cert, key)) = client {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Channel::from_shared(format!("https://{}", app.addr))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

async fn create_env(
    channel: Channel,
    token: &str,
) -> Result<pb::CreateEnvironmentResponse, tonic::Status> {
    Client::bearer(channel, token)
        .create_environment("Production")
        .await
}

/// Plaintext gRPC to a TLS port fails, whichever way it fails.
async fn plaintext_fails(app: &TestApp) {
    let plain = Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        // The TLS handshake fails: a transport error, never an answer from
        // a handler (which would be OK, or a gRPC code of ours).
        let err = create_env(channel, &app.admin_token).await.unwrap_err();
        assert!(
            matches!(
                err.code(),
                Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled
            ),
            "{err:?}"
        );
    }
}

async fn tls_serves_only_tls(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Pulse test CA");
    let (cert, key) = ca.issue(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let tls = TlsSettings {
        tls_cert: Some(write(dir.path(), "server.pem", &cert)),
        tls_key: Some(write(dir.path(), "server.key", &key)),
        tls_client_ca: None,
    };
    let app = spawn_app_with(backend, |s| s.tls = tls).await;
    let channel = connect(&app, &ca, None).await.expect("TLS connect");
    let created = create_env(channel, &app.admin_token).await.unwrap();
    assert!(created.secret_key.starts_with("sk_"));
    plaintext_fails(&app).await;
    // A client that does not trust the server's CA refuses it.
    let stranger = Ca::new("Some other CA");
    match connect(&app, &stranger, None).await {
        Err(_) => {}
        Ok(channel) => assert!(create_env(channel, &app.admin_token).await.is_err()),
    }
}

async fn mutual_tls_admits_only_clients_of_the_ca(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Pulse internal CA");
    let (cert, key) = ca.issue(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let tls = TlsSettings {
        tls_cert: Some(write(dir.path(), "server.pem", &cert)),
        tls_key: Some(write(dir.path(), "server.key", &key)),
        tls_client_ca: Some(write(dir.path(), "clients.pem", &ca.cert.pem())),
    };
    let app = spawn_app_with(backend, |s| s.tls = tls).await;
    let service = ca.issue(&["billing"], ExtendedKeyUsagePurpose::ClientAuth);
    let outsider = Ca::new("Outsider CA").issue(&["billing"], ExtendedKeyUsagePurpose::ClientAuth);

    // The certificate admits the connection; the token still says who calls.
    let channel = connect(&app, &ca, Some(&service))
        .await
        .expect("mTLS connect");
    assert_code(
        create_env(channel.clone(), "ak_not_a_token").await,
        Code::Unauthenticated,
    );
    create_env(channel, &app.admin_token).await.unwrap();

    // No certificate, or one from another CA: refused at the handshake.
    for client in [None, Some(&outsider)] {
        match connect(&app, &ca, client).await {
            Err(_) => {}
            // TLS 1.3 finishes the client's side of the handshake before
            // the server checks the certificate: the first call fails.
            Ok(channel) => assert!(create_env(channel, &app.admin_token).await.is_err()),
        }
    }
    plaintext_fails(&app).await;
    // Only the admitted client's call created anything.
    let channel = connect(&app, &ca, Some(&service)).await.unwrap();
    let listed = Client::bearer(channel, &app.admin_token)
        .list_environments()
        .await
        .unwrap();
    assert_eq!(listed.environments.len(), 1);
}

async fn missing_tls_files_stop_the_start(backend: Backend) {
    let (url, _dir) = crate::helpers::fresh_database(backend).await;
    let mut settings = pulse::config::ServeSettings::for_tests(
        pulse::config::DatabaseSettings::from_url(url),
        Some(crate::helpers::test_master_key().parse().unwrap()),
    );
    settings.tls = TlsSettings {
        tls_cert: Some("/nonexistent/server.pem".into()),
        tls_key: Some("/nonexistent/server.key".into()),
        tls_client_ca: None,
    };
    let err = pulse::server::Application::build(&settings)
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("/nonexistent/server.pem"),
        "{err:#}"
    );
}

both_backends!(
    tls_serves_only_tls,
    mutual_tls_admits_only_clients_of_the_ca,
    missing_tls_files_stop_the_start,
);
