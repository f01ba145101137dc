//! Classification policy: the one [`decide`] every way in and out of the gateway calls.
//!
//! Rules (MISSION "Classification"), fail closed:
//! 1. no label, an unknown level or an unknown procedure → refused;
//! 2. effective level = max(document label, its procedure's level);
//! 3. `toi-mat` and `tuyet-mat` never travel over a general network: refused at submission and
//!    on receipt from a peer;
//! 4. nothing goes to a peer or client whose clearance is below the effective level, and `mat`
//!    only over mutually authenticated TLS;
//! 5. no hop may change the label (it is signed): a label that differs from what this gateway
//!    recorded earlier for the same message is refused (and the caller audits it);
//! 6. publication needs level `thuong`, the document's explicit public flag, and a public
//!    procedure; everything else is absent from the portal, not redacted.
//!
//! A [`Decision`] can only be made here; paths that need one take it as an argument.

pub mod catalog;

use crate::doc::label::Level;

pub use catalog::{Catalog, CatalogError, Procedure};

/// Where a document is about to go (or come from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Way<'a> {
    /// An office submits a document to this gateway.
    Submission {
        /// The submitting client's clearance.
        client: Level,
    },
    /// Relay to the next-hop peer.
    RelayTo {
        /// The peer organ.
        peer: &'a str,
        /// The link's clearance.
        clearance: Level,
        /// Whether the link is mutually authenticated TLS (always true for lienthong peers).
        mtls: bool,
    },
    /// Receipt from a peer.
    ReceiveFrom {
        /// The peer organ.
        peer: &'a str,
        /// The link's clearance.
        clearance: Level,
    },
    /// A receiving system lists or fetches from the inbox.
    InboxRead {
        /// The client's clearance.
        client: Level,
    },
    /// A status message travels back to the sender.
    StatusRelay {
        /// The link's clearance.
        clearance: Level,
    },
    /// The public portal and feed.
    Publication,
}

/// The facts about a document the policy needs (all read from the signed envelope).
#[derive(Clone, Debug)]
pub struct Facts<'a> {
    /// The label's level; `None` when the document has no label (never treated as thuong).
    pub level: Option<Level>,
    /// The procedure code of the label.
    pub procedure: Option<&'a str>,
    /// The label's public flag.
    pub public: bool,
    /// The label level this gateway recorded earlier for the same message, if it holds one
    /// (rule 5: a label never changes on the way).
    pub recorded: Option<Level>,
}

impl<'a> Facts<'a> {
    /// The facts of a signed label.
    pub fn of(label: &'a crate::doc::label::Label) -> Self {
        Self {
            level: Some(label.level),
            procedure: Some(label.procedure.as_str()),
            public: label.public,
            recorded: None,
        }
    }

    /// The same facts, with the level a previous record of this message carries (rule 5).
    #[must_use]
    pub fn with_recorded(mut self, recorded: Option<Level>) -> Self {
        self.recorded = recorded;
        self
    }
}

/// The rule that decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// Rule 1: no label, unknown level or procedure.
    Unlabelled,
    /// Rule 1: the procedure is not in the catalog.
    UnknownProcedure,
    /// Rule 3: toi-mat / tuyet-mat never over the network.
    CryptoChannelOnly,
    /// Rule 4: the way's clearance is below the effective level.
    AboveClearance,
    /// Rule 4: mat needs mutual TLS.
    MatNeedsMtls,
    /// Rule 5: the label differs from the one recorded earlier for the same message.
    LabelChanged,
    /// Rule 6: not publishable.
    NotPublic,
    /// Allowed: the level fits the way's clearance.
    WithinClearance,
}

impl Rule {
    /// A stable machine name (used in problem types, audit and metrics).
    pub fn name(self) -> &'static str {
        match self {
            Self::Unlabelled => "unlabelled",
            Self::UnknownProcedure => "unknown-procedure",
            Self::CryptoChannelOnly => "crypto-channel-only",
            Self::AboveClearance => "above-clearance",
            Self::MatNeedsMtls => "mat-needs-mtls",
            Self::LabelChanged => "label-changed",
            Self::NotPublic => "not-public",
            Self::WithinClearance => "within-clearance",
        }
    }
}

/// The outcome of [`decide`]: allowed or refused, with the rule and the effective level.
#[must_use]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    allowed: bool,
    rule: Rule,
    effective: Option<Level>,
    reason: String,
}

impl Decision {
    /// Whether the document may take this way.
    pub fn allowed(&self) -> bool {
        self.allowed
    }
    /// The rule that decided.
    pub fn rule(&self) -> Rule {
        self.rule
    }
    /// The effective level, when known.
    pub fn effective(&self) -> Option<Level> {
        self.effective
    }
    /// A sentence for the refusal (never the document's subject or content).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

fn refuse(rule: Rule, effective: Option<Level>, reason: String) -> Decision {
    Decision {
        allowed: false,
        rule,
        effective,
        reason,
    }
}

/// Decides whether a document with `facts` may take `way`, given the procedure `catalog`.
pub fn decide(facts: &Facts<'_>, catalog: &Catalog, way: Way<'_>) -> Decision {
    match rules(facts, catalog, way) {
        Ok(effective) => Decision {
            allowed: true,
            rule: Rule::WithinClearance,
            effective: Some(effective),
            reason: String::new(),
        },
        Err(refusal) => refusal,
    }
}

/// The rules in the order they are applied (1, 5, 2, 3, the way's own rules 4 and 6, then 4);
/// the first refusal is the decision. `Ok` carries the effective level of an allowed document.
fn rules(facts: &Facts<'_>, catalog: &Catalog, way: Way<'_>) -> Result<Level, Decision> {
    let (level, procedure) = labelled(facts, catalog)?;
    unchanged(facts, level)?;
    // Rule 2.
    let effective = level.max(procedure.level);
    off_the_network(effective)?;
    let clearance = clearance_of(way, effective, facts, procedure)?;
    within_clearance(way, effective, clearance)?;
    Ok(effective)
}

/// Rule 1: a label with a level and a procedure the catalog knows.
fn labelled<'c>(
    facts: &Facts<'_>,
    catalog: &'c Catalog,
) -> Result<(Level, &'c Procedure), Decision> {
    let Some(level) = facts.level else {
        return Err(refuse(
            Rule::Unlabelled,
            None,
            "the document has no classification label".into(),
        ));
    };
    let Some(code) = facts.procedure else {
        return Err(refuse(
            Rule::Unlabelled,
            Some(level),
            "the label names no procedure".into(),
        ));
    };
    let Some(procedure) = catalog.get(code) else {
        return Err(refuse(
            Rule::UnknownProcedure,
            Some(level),
            format!("procedure {code} is not in the catalog"),
        ));
    };
    Ok((level, procedure))
}

/// Rule 5: the label is the one recorded earlier for this message, if any.
fn unchanged(facts: &Facts<'_>, level: Level) -> Result<(), Decision> {
    // Rule 5: the label is signed, so a different one for the same message id means another
    // document under a reused id (or a forged one); the earlier record wins, the newcomer is
    // refused.
    if let Some(recorded) = facts.recorded
        && recorded != level
    {
        return Err(refuse(
            Rule::LabelChanged,
            Some(level.max(recorded)),
            format!(
                "the label ({}) differs from the one recorded for this message ({})",
                level.token(),
                recorded.token()
            ),
        ));
    }
    Ok(())
}

/// Rule 3: nothing above mat on the network.
fn off_the_network(effective: Level) -> Result<(), Decision> {
    // Rule 3: everything above mat stays off the network, whatever the way.
    if effective > Level::Mat {
        return Err(refuse(
            Rule::CryptoChannelOnly,
            Some(effective),
            format!(
                "level {} documents go only through the cryptographic service's own channel",
                effective.token()
            ),
        ));
    }
    Ok(())
}

/// The clearance of `way`, after the way's own rules: mutual TLS for mat on a relay (rule 4),
/// publishability for the portal (rule 6).
fn clearance_of(
    way: Way<'_>,
    effective: Level,
    facts: &Facts<'_>,
    procedure: &Procedure,
) -> Result<Level, Decision> {
    Ok(match way {
        Way::Submission { client } | Way::InboxRead { client } => client,
        Way::RelayTo {
            clearance, mtls, ..
        } => {
            if effective >= Level::Mat && !mtls {
                return Err(refuse(
                    Rule::MatNeedsMtls,
                    Some(effective),
                    "mat documents travel only over mutual TLS".into(),
                ));
            }
            clearance
        }
        Way::ReceiveFrom { clearance, .. } | Way::StatusRelay { clearance } => clearance,
        Way::Publication => {
            // Rule 6.
            if effective != Level::Thuong || !facts.public || !procedure.public {
                return Err(refuse(
                    Rule::NotPublic,
                    Some(effective),
                    "not published: needs level thuong, the public flag and a public procedure"
                        .into(),
                ));
            }
            Level::Thuong
        }
    })
}

/// Rule 4: the effective level is within the way's clearance.
fn within_clearance(way: Way<'_>, effective: Level, clearance: Level) -> Result<(), Decision> {
    // Rule 4.
    if effective > clearance {
        let towards = match way {
            Way::RelayTo { peer, .. } => format!("peer {peer}"),
            Way::ReceiveFrom { peer, .. } => format!("the link from {peer}"),
            Way::Submission { .. } | Way::InboxRead { .. } => "this client".to_owned(),
            Way::StatusRelay { .. } => "this link".to_owned(),
            Way::Publication => "the portal".to_owned(),
        };
        return Err(refuse(
            Rule::AboveClearance,
            Some(effective),
            format!(
                "level {} is above the clearance ({}) of {towards}",
                effective.token(),
                clearance.token()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
