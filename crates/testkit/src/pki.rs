//! The throw-away PKI of the TLS front: a CA and a `localhost` leaf made at
//! test time, and ureq settings that trust only that CA. Re-exported by
//! [`tls`](crate::tls), its only user's module.

use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// A certificate authority made at test time, and a leaf it signed for
/// `localhost` and `127.0.0.1` (ECDSA P-256, valid from 1975 to 4096).
pub struct TestPki {
    ca_der: Vec<u8>,
    ca_pem: String,
    leaf_der: Vec<u8>,
    leaf_key_pkcs8: Vec<u8>,
}

impl TestPki {
    /// A fresh CA and leaf; every call makes new keys, so two fronts never
    /// trust each other's CA.
    pub fn generate() -> TestPki {
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "tinker-auth test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("CA key"))
            .expect("self-signed CA");

        let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("leaf params");
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let leaf_key = KeyPair::generate().expect("leaf key");
        let leaf_cert = leaf
            .signed_by(&leaf_key, &ca)
            .expect("leaf signed by the CA");

        TestPki {
            ca_der: ca.der().to_vec(),
            ca_pem: ca.pem(),
            leaf_der: leaf_cert.der().to_vec(),
            leaf_key_pkcs8: leaf_key.serialize_der(),
        }
    }

    /// The CA certificate, DER.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The CA certificate, PEM (`-----BEGIN CERTIFICATE-----`...).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A rustls server configuration presenting the leaf (and the CA after
    /// it), on the `ring` provider, TLS 1.2 and 1.3.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let chain = vec![
            CertificateDer::from(self.leaf_der.clone()),
            CertificateDer::from(self.ca_der.clone()),
        ];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.leaf_key_pkcs8.clone()));
        let config =
            ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("the leaf and its key match");
        Arc::new(config)
    }
}

/// ureq TLS settings that trust only the CA `ca_der` (rustls, SNI on).
pub fn tls_config_trusting(ca_der: &[u8]) -> TlsConfig {
    let cert = Certificate::from_der(ca_der).to_owned();
    TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&[cert]))
        .build()
}

/// An agent config builder that trusts only the CA `ca_der`, returns HTTP
/// error statuses as responses and gives up after 10 s; add a proxy or other
/// settings before `.build()`.
pub fn agent_config_trusting(
    ca_der: &[u8],
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    ureq::Agent::config_builder()
        .tls_config(tls_config_trusting(ca_der))
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
}

/// An agent that trusts only the CA `ca_der` (see [`agent_config_trusting`]).
pub fn agent_trusting(ca_der: &[u8]) -> ureq::Agent {
    agent_config_trusting(ca_der).build().into()
}
