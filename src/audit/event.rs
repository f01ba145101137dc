//! What callers record: the constructors of events, which take identifiers and reasons only
//! (never a document's subject or content).

use super::MAX_DETAIL_CHARS;
use super::entry::Kind;

/// Something to record: made by the constructors below, which take identifiers, rule names and
/// reasons — never a document, its subject or its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub(super) kind: Kind,
    pub(super) organ: String,
    pub(super) message_id: Option<String>,
    pub(super) document_id: Option<String>,
    pub(super) rule: Option<String>,
    pub(super) detail: String,
}

impl Event {
    /// An event of `kind` concerning `organ`, with no ids and an empty detail.
    pub fn new(kind: Kind, organ: &str) -> Self {
        Self {
            kind,
            organ: organ.to_owned(),
            message_id: None,
            document_id: None,
            rule: None,
            detail: String::new(),
        }
    }

    /// Sets the message id.
    pub fn message(mut self, message_id: &str) -> Self {
        self.message_id = Some(message_id.to_owned());
        self
    }

    /// Sets the document id.
    pub fn document(mut self, document_id: &str) -> Self {
        self.document_id = Some(document_id.to_owned());
        self
    }

    /// Sets the rule that decided.
    pub fn rule(mut self, rule: &str) -> Self {
        self.rule = Some(rule.to_owned());
        self
    }

    /// Sets the detail, cut to [`MAX_DETAIL_CHARS`] characters (a reason, not a document).
    pub fn detail(mut self, detail: &str) -> Self {
        self.detail = if detail.chars().count() > MAX_DETAIL_CHARS {
            let mut cut: String = detail.chars().take(MAX_DETAIL_CHARS - 1).collect();
            cut.push('…');
            cut
        } else {
            detail.to_owned()
        };
        self
    }

    /// The kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Message `message_id`'s stored document was found altered (`fault`, by `reader`: the
    /// inbox, the relay, a check): quarantined, never served.
    pub fn store_fault(organ: &str, message_id: &str, fault: &str, reader: &str) -> Self {
        Self::new(Kind::StoreFault, organ)
            .message(message_id)
            .rule(fault)
            .detail(&format!("found by {reader}; quarantined"))
    }

    /// `failures` failed authentication attempts from `source` in the window: from now on its
    /// failures are slowed down. Recorded once per source and window, not once per attempt.
    pub fn auth_throttled(organ: &str, source: &str, failures: u32) -> Self {
        Self::new(Kind::AuthThrottled, organ).detail(&format!(
            "{failures} failed authentication attempts from {source}: further failures delayed"
        ))
    }

    /// An office's submission was accepted: signed and queued as `message_id`.
    pub fn submission_accepted(organ: &str, message_id: &str, document_id: &str) -> Self {
        Self::new(Kind::SubmissionAccepted, organ)
            .message(message_id)
            .document(document_id)
    }

    /// An office's submission was refused for `reason`.
    pub fn submission_refused(organ: &str, document_id: Option<&str>, reason: &str) -> Self {
        let e = Self::new(Kind::SubmissionRefused, organ).detail(reason);
        match document_id {
            Some(d) => e.document(d),
            None => e,
        }
    }

    /// A document from `organ` verified: the detail names the signing certificate.
    pub fn signature_verified(
        organ: &str,
        message_id: &str,
        signer_subject: &str,
        serial: &str,
    ) -> Self {
        Self::new(Kind::SignatureVerified, organ)
            .message(message_id)
            .detail(&format!("signer {signer_subject}, serial {serial}"))
    }

    /// A document claiming to come from `organ` was refused for `reason`.
    pub fn signature_refused(organ: &str, message_id: Option<&str>, reason: &str) -> Self {
        let e = Self::new(Kind::SignatureRefused, organ).detail(reason);
        match message_id {
            Some(m) => e.message(m),
            None => e,
        }
    }

    /// `message_id` was handed to the peer gateway of `peer`.
    pub fn relayed(peer: &str, message_id: &str) -> Self {
        Self::new(Kind::Relayed, peer).message(message_id)
    }

    /// `message_id` was received from the peer gateway of `peer`.
    pub fn received(peer: &str, message_id: &str, document_id: &str) -> Self {
        Self::new(Kind::Received, peer)
            .message(message_id)
            .document(document_id)
    }

    /// `message_id` was placed in the inbox of `organ`.
    pub fn delivered(organ: &str, message_id: &str) -> Self {
        Self::new(Kind::Delivered, organ).message(message_id)
    }

    /// The receiving system of `organ` acknowledged `message_id`.
    pub fn acked(organ: &str, message_id: &str) -> Self {
        Self::new(Kind::Acked, organ).message(message_id)
    }

    /// `organ` reported edXML status `code` for `message_id`.
    pub fn status(organ: &str, message_id: &str, code: &str) -> Self {
        Self::new(Kind::Status, organ)
            .message(message_id)
            .detail(&format!("status {code}"))
    }

    /// The policy refused a way for `message_id` under `rule`, for `reason`.
    pub fn policy_refused(organ: &str, message_id: Option<&str>, rule: &str, reason: &str) -> Self {
        let e = Self::new(Kind::PolicyRefused, organ)
            .rule(rule)
            .detail(reason);
        match message_id {
            Some(m) => e.message(m),
            None => e,
        }
    }

    /// `message_id` (document `document_id` of `organ`) came without a label and was given
    /// `label` by the configuration of `client` (`external_default_level`).
    pub fn label_assigned(
        organ: &str,
        message_id: &str,
        document_id: &str,
        label: &crate::doc::label::Label,
        client: &str,
    ) -> Self {
        Self::new(Kind::LabelAssigned, organ)
            .message(message_id)
            .document(document_id)
            .rule("external_default_level")
            .detail(&format!(
                "level {}, procedure {}, given by client {client}",
                label.level.token(),
                label.procedure
            ))
    }

    /// `message_id` (document `document_id` of `organ`) was published on the portal feed.
    pub fn published(organ: &str, message_id: &str, document_id: &str) -> Self {
        Self::new(Kind::Published, organ)
            .message(message_id)
            .document(document_id)
    }

    /// A key operation (`create`, `sign`, `rotate`, `destroy`, …) on key `key` of `organ`.
    pub fn key_operation(organ: &str, operation: &str, key: &str) -> Self {
        Self::new(Kind::KeyOperation, organ).detail(&format!("{operation} key {key}"))
    }

    /// A certificate operation (`install`, `revoke`, `crl`, …) on certificate `serial`.
    pub fn certificate_operation(
        organ: &str,
        operation: &str,
        subject: &str,
        serial: &str,
    ) -> Self {
        Self::new(Kind::CertificateOperation, organ).detail(&format!(
            "{operation} certificate {subject}, serial {serial}"
        ))
    }
}
