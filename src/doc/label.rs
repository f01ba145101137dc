//! lienthong's classification label, carried in every envelope as `lt:Classification` in the
//! namespace [`LABEL_NS`].
//!
//! edXML (QCVN 102:2016) has no classification element. The label sits inside `edXMLHeader`,
//! which the enveloped signature covers, so it cannot be altered or stripped without breaking
//! the signature (MISSION, rule 4). Its shape:
//!
//! ```xml
//! <lt:Classification xmlns:lt="urn:lienthong:label:1">
//!   <lt:Level>mat</lt:Level>            <!-- thuong | mat | toi-mat | tuyet-mat -->
//!   <lt:Procedure>TCCB-05</lt:Procedure> <!-- the procedure this document belongs to -->
//!   <lt:Public>false</lt:Public>         <!-- true | false: may the public portal show it -->
//! </lt:Classification>
//! ```
//!
//! Child elements rather than attributes: every other field of the envelope is an element, and
//! elements let a later version add children (a compartment, a declassification date) without
//! changing how existing ones are read. All three children are required: a label with a missing
//! part is refused, never completed with a default (MISSION, rule 1: a missing label is never
//! treated as unclassified).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::types::ProcedureCode;

/// The namespace of lienthong's label elements.
pub const LABEL_NS: &str = "urn:lienthong:label:1";

/// The prefix lienthong writes for [`LABEL_NS`].
pub const LABEL_PREFIX: &str = "lt";

/// A classification level (độ mật), State Secrets Law 29/2018: ordered lowest to highest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `thuong` — Thường, unclassified.
    Thuong,
    /// `mat` — Mật, confidential.
    Mat,
    /// `toi-mat` — Tối mật, secret.
    ToiMat,
    /// `tuyet-mat` — Tuyệt mật, top secret.
    TuyetMat,
}

/// A level token that is not one of the four.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("classification level {value:?} is not one of thuong, mat, toi-mat, tuyet-mat")]
pub struct UnknownLevel {
    /// The refused token.
    pub value: String,
}

impl Level {
    /// All levels, lowest first.
    pub const ALL: [Self; 4] = [Self::Thuong, Self::Mat, Self::ToiMat, Self::TuyetMat];

    /// The token written in `lt:Level`.
    pub fn token(self) -> &'static str {
        match self {
            Self::Thuong => "thuong",
            Self::Mat => "mat",
            Self::ToiMat => "toi-mat",
            Self::TuyetMat => "tuyet-mat",
        }
    }

    /// The Vietnamese name.
    pub fn name_vi(self) -> &'static str {
        match self {
            Self::Thuong => "Thường",
            Self::Mat => "Mật",
            Self::ToiMat => "Tối mật",
            Self::TuyetMat => "Tuyệt mật",
        }
    }

    /// The English name.
    pub fn name_en(self) -> &'static str {
        match self {
            Self::Thuong => "unclassified",
            Self::Mat => "confidential",
            Self::ToiMat => "secret",
            Self::TuyetMat => "top secret",
        }
    }
}

impl FromStr for Level {
    type Err = UnknownLevel;

    /// Exactly the four tokens; no case folding, no Vietnamese spelling: a label is machine text.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.token() == s)
            .ok_or_else(|| UnknownLevel {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.token())
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.token())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A document's label: its level, the procedure it belongs to, and whether it may be published.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Label {
    /// The document's own level (the effective level also takes the procedure's; see `policy`).
    pub level: Level,
    /// The procedure the document belongs to.
    pub procedure: ProcedureCode,
    /// Explicitly marked for the public portal. Publication also needs level `thuong` and an
    /// unclassified procedure (MISSION, rule 5); this flag alone publishes nothing.
    pub public: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ordered_lowest_first() {
        assert!(Level::Thuong < Level::Mat);
        assert!(Level::Mat < Level::ToiMat);
        assert!(Level::ToiMat < Level::TuyetMat);
        assert_eq!(Level::ALL.iter().max(), Some(&Level::TuyetMat));
    }

    #[test]
    fn level_tokens_round_trip() {
        for l in Level::ALL {
            assert_eq!(l.token().parse::<Level>().unwrap(), l);
            assert_eq!(l.to_string(), l.token());
        }
        assert_eq!(Level::ToiMat.name_vi(), "Tối mật");
        assert_eq!(Level::TuyetMat.name_vi(), "Tuyệt mật");
        assert_eq!(Level::Thuong.name_vi(), "Thường");
        assert_eq!(Level::Mat.name_en(), "confidential");
    }

    #[test]
    fn level_refuses_other_spellings() {
        for bad in [
            "",
            "Thuong",
            "MAT",
            "toi_mat",
            "tuyệt-mật",
            "Mật",
            "secret",
            " mat",
        ] {
            assert_eq!(
                bad.parse::<Level>(),
                Err(UnknownLevel {
                    value: bad.to_owned()
                })
            );
        }
    }

    #[test]
    fn level_serde_uses_tokens() {
        assert_eq!(
            serde_json::to_string(&Level::ToiMat).unwrap(),
            "\"toi-mat\""
        );
        assert_eq!(
            serde_json::from_str::<Level>("\"mat\"").unwrap(),
            Level::Mat
        );
        assert!(serde_json::from_str::<Level>("\"unknown\"").is_err());
    }
}
