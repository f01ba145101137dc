//! The HTTP side of OCSP (RFC 6960 Appendix A.1): one POST of `application/ocsp-request` to a
//! responder over plain HTTP/1.1 — responses are signed, so TLS adds nothing to their
//! integrity, and responders are conventionally `http://` (a TLS responder would need its own
//! revocation check). The domain (`sign::ocsp`) sees only the [`Transport`] trait.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;

use crate::sign::ocsp::Transport;

/// The largest response read: 64 KiB. A response with a delegated responder certificate is
/// 1–3 KB; more is not an OCSP answer.
pub const MAX_OCSP_RESPONSE_BYTES: usize = 64 * 1024;

/// OCSP over HTTP with hyper. Each request runs on a thread of its own with a small runtime,
/// so it may be called from blocking code, from a `spawn_blocking` thread or from the CLI alike
/// (verification is synchronous); the cache (`sign::ocsp::Ocsp`) keeps requests rare.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpTransport;

impl Transport for HttpTransport {
    fn post(&self, url: &str, request: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
        let url = url.to_owned();
        let body = Bytes::copy_from_slice(request);
        std::thread::scope(|s| {
            s.spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("no runtime: {e}"))?;
                rt.block_on(async {
                    tokio::time::timeout(timeout, post(&url, body))
                        .await
                        .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
                })
            })
            .join()
            .unwrap_or_else(|_| Err("the OCSP request thread panicked".to_owned()))
        })
    }
}

async fn post(url: &str, body: Bytes) -> Result<Vec<u8>, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// responders are spoken to (responses are signed)".to_owned());
    }
    let host = uri.host().ok_or("the URL names no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("connect {host}:{port}: {e}"))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_owned())
        .unwrap_or(host);
    let req = hyper::Request::post(path)
        .header("host", authority)
        .header("content-type", "application/ocsp-request")
        .header("accept", "application/ocsp-response")
        .body(Full::new(body))
        .map_err(|e| format!("HTTP: {e}"))?;
    let resp = send
        .send_request(req)
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    if resp.status() != hyper::StatusCode::OK {
        return Err(format!("HTTP status {}", resp.status().as_u16()));
    }
    let bytes = Limited::new(resp.into_body(), MAX_OCSP_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|e| {
            format!("reading the response (at most {MAX_OCSP_RESPONSE_BYTES} bytes): {e}")
        })?
        .to_bytes();
    Ok(bytes.to_vec())
}

/// The relay client's check of a peer's OCSP staple, after every check of the wrapped
/// verifier (chain, CRLs, names, leaf rules). A staple saying "revoked" refuses the handshake;
/// a good one is logged at debug; one that cannot be checked (no issuer sent, stale, badly
/// signed) is logged and ignored — the CRLs still decide, as for a peer that staples nothing.
#[derive(Debug)]
pub struct StapleCheck {
    inner: std::sync::Arc<dyn rustls::client::danger::ServerCertVerifier>,
    settings: crate::sign::ocsp::OcspSettings,
}

impl StapleCheck {
    /// Wraps `inner`; staples are held to `settings` (freshness, skew).
    pub fn new(
        inner: std::sync::Arc<dyn rustls::client::danger::ServerCertVerifier>,
        settings: crate::sign::ocsp::OcspSettings,
    ) -> Self {
        Self { inner, settings }
    }

    fn staple(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        staple: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<(), rustls::Error> {
        use x509_parser::prelude::{FromDer, X509Certificate};
        let issuer_name = X509Certificate::from_der(end_entity.as_ref())
            .map(|(_, c)| c.issuer().as_raw().to_vec())
            .map_err(|_| {
                rustls::Error::InvalidCertificate(rustls::CertificateError::BadEncoding)
            })?;
        let issuer = intermediates.iter().find(|c| {
            X509Certificate::from_der(c.as_ref())
                .is_ok_and(|(_, p)| p.subject().as_raw() == issuer_name.as_slice())
        });
        let Some(issuer) = issuer else {
            tracing::warn!("a peer's OCSP staple is ignored: its issuer was not sent");
            return Ok(());
        };
        let checked = crate::sign::ocsp::check_staple(
            staple,
            end_entity.as_ref(),
            issuer.as_ref(),
            now.as_secs(),
            &self.settings,
        );
        match checked {
            Ok(a) => {
                tracing::debug!(
                    this_update = a.this_update,
                    "a peer's OCSP staple says good"
                );
                Ok(())
            }
            Err(crate::sign::ocsp::OcspError::Revoked { at, .. }) => {
                tracing::warn!(%at, "a peer's OCSP staple says its certificate is revoked");
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::Revoked,
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "a peer's OCSP staple is ignored");
                Ok(())
            }
        }
    }
}

impl rustls::client::danger::ServerCertVerifier for StapleCheck {
    fn verify_server_cert(
        &self,
        end_entity: &rustls_pki_types::CertificateDer<'_>,
        intermediates: &[rustls_pki_types::CertificateDer<'_>],
        server_name: &rustls_pki_types::ServerName<'_>,
        ocsp_response: &[u8],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        let ok = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if !ocsp_response.is_empty() {
            self.staple(end_entity, intermediates, ocsp_response, now)?;
        }
        Ok(ok)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls_pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
