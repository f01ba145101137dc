//! What the domain answers when something failed that is nobody's fault but the gateway's: a
//! store that would not write, a task that panicked. The HTTP surface answers these 500 and
//! logs the detail; the caller learns only that nothing was stored.
//!
//! Every operation's own refusals are named in its own enum (`SubmitError`, `ReceiveError`,
//! `StatusError`, `RecallError`, `InboxError`), each with an [`Internal`] variant for this.

/// A failure inside the gateway, with where it happened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{context}: {reason}")]
pub struct Internal {
    /// The step that failed (`accept`, `signing`, `blocking task`…).
    pub context: &'static str,
    /// What the lower layer said (logged, never sent to a client).
    pub reason: String,
    /// When the store failed in a way the caller is told by name.
    pub fault: Option<StoreFault>,
}

/// A store failure that is answered by name rather than as a plain internal error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreFault {
    /// A stored document was found altered on disk (quarantined, never served).
    Altered,
    /// The file system under the data directory is full, or below its free-space reserve.
    Full,
    /// The store's database cannot be reached now (PostgreSQL down or restarting).
    Unavailable,
}

impl Internal {
    /// An internal failure of `context`.
    pub fn new(context: &'static str, error: impl std::fmt::Display) -> Self {
        Self {
            context,
            reason: error.to_string(),
            fault: None,
        }
    }

    /// A store failure of `context`: an altered document and a full disk keep their names.
    pub fn store(context: &'static str, error: &crate::store::StoreError) -> Self {
        let fault = match error {
            crate::store::StoreError::Altered { .. } => Some(StoreFault::Altered),
            e if e.is_out_of_space() => Some(StoreFault::Full),
            e if e.is_unavailable() => Some(StoreFault::Unavailable),
            _ => None,
        };
        Self {
            context,
            reason: error.to_string(),
            fault,
        }
    }

    /// The stable name of the failure (metrics label, problem type).
    pub fn name(&self) -> &'static str {
        match self.fault {
            Some(StoreFault::Altered) => "store/corrupt",
            Some(StoreFault::Full) => "store/full",
            Some(StoreFault::Unavailable) => "store/unavailable",
            None => "internal",
        }
    }

    /// The gateway refuses new documents: its disk is below the free-space reserve.
    pub fn full(context: &'static str, reason: String) -> Self {
        Self {
            context,
            reason,
            fault: Some(StoreFault::Full),
        }
    }
}

/// A note travelling with a status event is over [`MAX_NOTE_CHARS`](super::status::MAX_NOTE_CHARS).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the note is over {max} characters")]
pub struct NoteTooLong {
    /// The limit, in characters.
    pub max: usize,
}

/// A refusal by `policy::decide`, with where on the document's way it happened.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", self.detail())]
pub struct PolicyRefusal {
    /// The decision, which names the rule and the reason.
    pub decision: crate::policy::Decision,
    /// Where (`recipient X`, `onward to X`, `status relay`), when not the whole request.
    pub context: Option<String>,
}

impl PolicyRefusal {
    /// A refusal of the request as a whole.
    pub fn of(decision: crate::policy::Decision) -> Self {
        Self {
            decision,
            context: None,
        }
    }

    /// A refusal of one part of it.
    pub fn at(decision: crate::policy::Decision, context: impl Into<String>) -> Self {
        Self {
            decision,
            context: Some(context.into()),
        }
    }

    /// The rule's name (`crypto-channel-only`…).
    pub fn rule(&self) -> &'static str {
        self.decision.rule().name()
    }

    /// One sentence for people, never a subject.
    pub fn detail(&self) -> String {
        match &self.context {
            Some(c) => format!("{c}: {}", self.decision.reason()),
            None => self.decision.reason().to_owned(),
        }
    }
}
