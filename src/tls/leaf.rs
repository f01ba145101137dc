//! The leaf rules webpki leaves to us on the TLS paths: an end-entity certificate asserting
//! keyCertSign is a CA key used as a leaf (RFC 5280 §4.2.1.3, x509-limbo
//! `rfc5280::leaf-ku-keycertsign`) and is refused, as document signing refuses it. Each rustls
//! verifier is wrapped; the chain, names, revocation and handshake signatures stay webpki's.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, OtherError};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The refusal a wrapped verifier gives a leaf asserting keyCertSign (carried to rustls as
/// `CertificateError::Other`, named by `pki check-chain` as `ChainFailure::CaUsedAsEndEntity`).
#[derive(Debug, thiserror::Error)]
#[error("an end-entity certificate with keyCertSign is refused (RFC 5280 §4.2.1.3)")]
pub struct KeyCertSignOnLeaf;

/// The leaf rule itself; called only after webpki accepted the chain.
fn check_leaf(end_entity: &CertificateDer<'_>) -> Result<(), rustls::Error> {
    let (_, cert) = X509Certificate::from_der(end_entity.as_ref())
        .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
    match cert.key_usage() {
        Ok(Some(ku)) if ku.value.key_cert_sign() => Err(rustls::Error::InvalidCertificate(
            CertificateError::Other(OtherError(Arc::new(KeyCertSignOnLeaf))),
        )),
        Ok(_) => Ok(()),
        Err(_) => Err(rustls::Error::InvalidCertificate(
            CertificateError::BadEncoding,
        )),
    }
}

/// A rustls verifier (server or client side) with [`check_leaf`] after its own checks.
#[derive(Debug)]
pub(super) struct LeafRules<V: ?Sized>(pub(super) Arc<V>);

impl<V: ServerCertVerifier + ?Sized> ServerCertVerifier for LeafRules<V> {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let ok = self.0.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        check_leaf(end_entity)?;
        Ok(ok)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

impl<V: ClientCertVerifier + ?Sized> ClientCertVerifier for LeafRules<V> {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self.0.verify_client_cert(end_entity, intermediates, now)?;
        check_leaf(end_entity)?;
        Ok(ok)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
