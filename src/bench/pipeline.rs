//! The document pipeline, one thread: parse, exclusive c14n, sign (+ write), verify — on the
//! same envelopes, keys, chain and CRL the gateways use.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use serde::Serialize;

use super::ceiling::Ceiling;
use super::{BenchError, rate};
use crate::config::Config;
use crate::demo::DemoSetup;
use crate::doc::c14n::{Options, canonicalize};
use crate::doc::envelope::{
    Attachment, Body, Code, DocumentType, Envelope, MessageHeader, Organization, OtherInfo,
    PromulgationInfo, SignerInfo, compute_document_id,
};
use crate::doc::label::{Label, Level};
use crate::doc::types::{BusinessDocType, EdxmlDate, OrganId, Priority, ProcedureCode};
use crate::doc::write::write_document;
use crate::doc::{Limits, parse};
use crate::sign::{Signer, TrustStore, VerifyOptions, sign_document, verify};

/// Size of the small envelope: a typical letter (công văn) with its header.
pub const SMALL: usize = 8 * 1024;
/// Size of the large envelope: a scanned page or two as a base64 attachment.
pub const LARGE: usize = 1024 * 1024;

/// One envelope size.
#[derive(Clone, Debug, Serialize)]
pub struct PipelineRow {
    /// `8 KB` or `1 MB`.
    pub label: String,
    /// Unsigned envelope bytes.
    pub unsigned_bytes: usize,
    /// Signed envelope bytes.
    pub signed_bytes: usize,
    /// `doc::parse`, MB/s of input.
    pub parse_mb_per_s: f64,
    /// Exclusive c14n of the parsed tree, MB/s of input.
    pub c14n_mb_per_s: f64,
    /// `sign_document` + `write_document` (from a parsed tree), documents/s.
    pub sign_docs_per_s: f64,
    /// `sign::verify` (parse, digest, signature, chain, CRL, organ, envelope), documents/s.
    pub verify_docs_per_s: f64,
    /// `sign_docs_per_s` ÷ RSA-2048 sign/s: the share of the ceiling the pipeline reaches.
    pub sign_vs_rsa_sign: f64,
    /// `verify_docs_per_s` ÷ RSA-2048 verify/s.
    pub verify_vs_rsa_verify: f64,
}

/// Keys, chain and trust of the district gateway, and the two envelopes.
pub struct Material {
    /// The district's document signer (RSA-2048, from its keystore).
    pub signer: Arc<dyn Signer>,
    /// Its chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// Root and CRL, as the province trusts them.
    pub trust: TrustStore,
    /// The district config (keystore location for `peers`).
    pub config: Config,
    /// ~8 KB unsigned envelope.
    pub small: Vec<u8>,
    /// ~1 MB unsigned envelope.
    pub large: Vec<u8>,
    /// The district's encryption key (`keys.encryption`), to open what is sealed for it.
    pub decryption: Vec<crate::seal::SharedKey>,
    /// Its certificate chains, leaf first.
    pub encryption_chains: Vec<Vec<CertificateDer<'static>>>,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material")
            .field("small", &self.small.len())
            .field("large", &self.large.len())
            .finish_non_exhaustive()
    }
}

impl Material {
    /// Loads the district's keys from the demo and builds the envelopes.
    pub fn load(setup: &DemoSetup) -> Result<Self, BenchError> {
        let district = setup
            .gateway("district")
            .ok_or_else(|| BenchError::Setup("the demo has no district gateway".into()))?;
        let config =
            Config::load(&district.config).map_err(|e| BenchError::Setup(e.to_string()))?;
        let keys = crate::gateway::keys::load(&config).map_err(|e| BenchError::Key {
            what: "district signing key",
            reason: e.to_string(),
        })?;
        let trust =
            crate::gateway::trust_store(&config).map_err(|e| BenchError::Setup(e.to_string()))?;
        Ok(Self {
            signer: keys.signer,
            chain: keys.signing_chain,
            decryption: keys.decryption,
            encryption_chains: keys.encryption_chains,
            trust,
            config,
            small: envelope(1, SMALL)?,
            large: envelope(2, LARGE)?,
        })
    }

    /// Signs `unsigned` as the gateway does.
    pub fn sign(&self, unsigned: &[u8]) -> Result<Vec<u8>, BenchError> {
        let mut doc = parse(unsigned, &Limits::default()).map_err(|e| op("parse", e))?;
        sign_document(&mut doc, self.signer.as_ref(), &self.chain).map_err(|e| op("sign", e))?;
        Ok(write_document(&doc))
    }
}

fn op(what: &'static str, e: impl std::fmt::Display) -> BenchError {
    BenchError::Operation {
        what,
        reason: e.to_string(),
    }
}

/// An unsigned district → province envelope of about `target` bytes (`thuong`, VB-01, public):
/// body text up to 16 KB, beyond that a base64 attachment. `seq` makes its code and id unique.
pub fn envelope(seq: u64, target: usize) -> Result<Vec<u8>, BenchError> {
    envelope_to(seq, target, PROVINCE)
}

/// The provincial office: one hop from the district.
pub const PROVINCE: (&str, &str) = ("TU.BENTRE", "Văn phòng Tỉnh ủy Bến Tre");
/// The central office: two hops from the district, through the province.
pub const CENTRAL: (&str, &str) = ("VPTW", "Văn phòng Trung ương Đảng");

/// [`envelope`] addressed to `to` (organ id, name).
pub fn envelope_to(seq: u64, target: usize, to: (&str, &str)) -> Result<Vec<u8>, BenchError> {
    envelope_at(seq, target, to, Level::Thuong)
}

/// [`envelope_to`] at `level` (public only when `thuong`).
pub fn envelope_at(
    seq: u64,
    target: usize,
    to: (&str, &str),
    level: Level,
) -> Result<Vec<u8>, BenchError> {
    let bad = |e: crate::doc::types::ValueError| BenchError::Setup(e.to_string());
    let from_id: OrganId = "HU.CHAUTHANH".parse().map_err(bad)?;
    let to_id: OrganId = to.0.parse().map_err(bad)?;
    let date = EdxmlDate(
        time::OffsetDateTime::now_utc()
            .to_offset(time::macros::offset!(+7))
            .date(),
    );
    let code = Code {
        number: seq.to_string(),
        notation: "TB/HU".to_owned(),
    };
    let mut from = Organization::new(from_id.clone(), "Văn phòng Huyện ủy Châu Thành");
    from.organ_add = Some("Châu Thành".to_owned());
    let mut env = Envelope {
        header: MessageHeader {
            document_id: compute_document_id(&from_id, date, &code),
            from,
            to: vec![Organization::new(to_id, to.1)],
            code,
            promulgation: PromulgationInfo {
                place: "Châu Thành".to_owned(),
                date,
            },
            document_type: DocumentType {
                kind: "TB".to_owned(),
                name: "Thông báo".to_owned(),
            },
            subject: format!("Thông báo kết quả hội nghị số {seq}"),
            content: String::new(),
            signer: SignerInfo {
                competence: "TL. BAN THƯỜNG VỤ".to_owned(),
                position: "Chánh Văn phòng".to_owned(),
                full_name: "Nguyễn Văn A".to_owned(),
            },
            due_date: None,
            to_places: vec![to.1.to_owned(), "Lưu Văn phòng".to_owned()],
            other: OtherInfo::new(Priority::Normal),
            response_for: Vec::new(),
            steering_type: None,
            business_doc_type: BusinessDocType::New,
            ext: Default::default(),
        },
        trace: Vec::new(),
        label: Label {
            level,
            procedure: "VB-01".parse::<ProcedureCode>().map_err(bad)?,
            public: level == Level::Thuong,
        },
        signature: None,
        header_ext: Default::default(),
        body: Body::default(),
    };
    let base = env.to_bytes().len();
    let room = target.saturating_sub(base);
    if room <= 16 * 1024 {
        // Vietnamese prose: multi-byte UTF-8 like a real document's text.
        const PROSE: &str = "Ban Thường vụ Huyện ủy thông báo kết quả hội nghị và đề nghị các cơ quan triển khai thực hiện. ";
        let mut content = String::with_capacity(room);
        for c in PROSE.chars().cycle() {
            if content.len() + c.len_utf8() > room {
                break;
            }
            content.push(c);
        }
        env.header.content = content;
    } else {
        // Base64 grows 3 → 4; the manifest entry adds a few hundred bytes.
        let data_len = room.saturating_sub(600) / 4 * 3;
        let mut data = vec![0u8; data_len];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut data)
            .map_err(|_| BenchError::Setup("the system random source failed".into()))?;
        env.body.attachments.push(Attachment {
            content_id: "att-1".to_owned(),
            file_name: "ban-scan.pdf".to_owned(),
            content_type: "application/pdf".to_owned(),
            data,
        });
    }
    Ok(env.to_bytes())
}

/// Measures both sizes.
pub fn measure(
    m: &Material,
    ceiling: &Ceiling,
    budget: Duration,
) -> Result<Vec<PipelineRow>, BenchError> {
    let mut rows = Vec::new();
    for (label, unsigned) in [("8 KB", &m.small), ("1 MB", &m.large)] {
        let limits = Limits::default();
        let mb = unsigned.len() as f64 / 1e6;
        let parse_rate = rate(budget, || {
            parse(unsigned, &limits)
                .map(|d| drop(std::hint::black_box(d)))
                .map_err(|e| op("parse", e))
        })?;
        let tree = parse(unsigned, &limits).map_err(|e| op("parse", e))?;
        let c14n_rate = rate(budget, || {
            std::hint::black_box(canonicalize(&tree.root, &[], &Options::default()));
            Ok(())
        })?;
        // From a parsed tree: parsing is measured above; the clone is a memcpy of the tree.
        let sign_rate = rate(budget, || {
            let mut d = tree.clone();
            sign_document(&mut d, m.signer.as_ref(), &m.chain).map_err(|e| op("sign", e))?;
            std::hint::black_box(write_document(&d));
            Ok(())
        })?;
        let signed = m.sign(unsigned)?;
        let verify_rate = rate(budget, || {
            verify(&signed, &m.trust, &VerifyOptions::now())
                .map(|v| drop(std::hint::black_box(v)))
                .map_err(|e| op("verify", e))
        })?;
        rows.push(PipelineRow {
            label: label.to_owned(),
            unsigned_bytes: unsigned.len(),
            signed_bytes: signed.len(),
            parse_mb_per_s: parse_rate * mb,
            c14n_mb_per_s: c14n_rate * mb,
            sign_docs_per_s: sign_rate,
            verify_docs_per_s: verify_rate,
            sign_vs_rsa_sign: sign_rate / ceiling.rsa2048_sign_per_s,
            verify_vs_rsa_verify: verify_rate / ceiling.rsa2048_verify_per_s,
        });
    }
    Ok(rows)
}
