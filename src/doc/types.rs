//! Newtypes and enums for the values an edXML envelope carries (QCVN 102:2016): organ ids, dates,
//! priority, business document type, procedure codes and status codes.
//!
//! Each type is parsed once from text (`FromStr`) and can only hold a valid value, so code that
//! receives one needs no further checks (STYLE P5, "parse, don't validate").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::Date;
use time::macros::format_description;

/// Why a value was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ValueError {
    /// An organ id that is not 1 to 35 characters of `[0-9A-Z.]`.
    #[error("organ id {value:?} is not 1 to 35 characters of 0-9, A-Z and '.'")]
    OrganId {
        /// The refused value.
        value: String,
    },
    /// A date in neither `yyyy/MM/dd` nor `dd/MM/yyyy`, or not a calendar date.
    #[error("date {value:?} is not a calendar date written yyyy/MM/dd (or dd/MM/yyyy)")]
    Date {
        /// The refused value.
        value: String,
    },
    /// A timestamp not written `yyyy/MM/dd HH:mm:ss`.
    #[error("timestamp {value:?} is not written yyyy/MM/dd HH:mm:ss")]
    Timestamp {
        /// The refused value.
        value: String,
    },
    /// A priority other than 0 to 4.
    #[error("priority {value:?} is not one of 0, 1, 2, 3, 4")]
    Priority {
        /// The refused value.
        value: String,
    },
    /// A business document type other than 0 to 3.
    #[error("business document type {value:?} is not one of 0, 1, 2, 3")]
    BusinessDocType {
        /// The refused value.
        value: String,
    },
    /// A procedure code not shaped like `VB-01` or `TCCB-22`.
    #[error("procedure code {value:?} is not 1 to 8 capital letters, '-', and 2 digits")]
    ProcedureCode {
        /// The refused value.
        value: String,
    },
    /// A status code not in the edXML list.
    #[error("status code {value:?} is not an edXML status code (01-06, 13, 15, 16)")]
    StatusCode {
        /// The refused value.
        value: String,
    },
}

/// Implements `Serialize`/`Deserialize` as the `Display`/`FromStr` string form.
macro_rules! serde_as_string {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

// === impl OrganId ===

/// An organ (agency) identifier: up to 35 characters of `[0-9A-Z.]`, e.g. `000.00.00.G22` (the
/// older form of QCVN 102:2016's organ code list) or `HU.CHAUTHANH`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrganId(String);

impl OrganId {
    /// The longest organ id the standard allows.
    pub const MAX_LEN: usize = 35;

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for OrganId {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= Self::MAX_LEN
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b'.');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::OrganId {
                value: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for OrganId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// An organ id is text with a checked form: read as `&str` wherever text is wanted (keys, logs,
// audit, comparisons), never built from text without `parse`.
impl std::ops::Deref for OrganId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for OrganId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

// Sound: `OrganId`'s `Eq`, `Ord` and `Hash` are those of its text.
impl std::borrow::Borrow<str> for OrganId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for OrganId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for OrganId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for OrganId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<OrganId> for str {
    fn eq(&self, other: &OrganId) -> bool {
        self == other.0
    }
}

impl PartialEq<OrganId> for &str {
    fn eq(&self, other: &OrganId) -> bool {
        *self == other.0
    }
}

impl PartialEq<OrganId> for String {
    fn eq(&self, other: &OrganId) -> bool {
        *self == other.0
    }
}

serde_as_string!(OrganId);

// === impl EdxmlDate ===

/// A calendar date as edXML writes it: `yyyy/MM/dd`. Input written `dd/MM/yyyy` (common in
/// documents from older systems) is accepted; output is always `yyyy/MM/dd`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdxmlDate(pub Date);

impl EdxmlDate {
    /// The date.
    pub fn date(self) -> Date {
        self.0
    }
}

impl FromStr for EdxmlDate {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ymd = format_description!("[year repr:full padding:zero]/[month]/[day]");
        let dmy = format_description!("[day]/[month]/[year repr:full padding:zero]");
        // Exactly 10 characters: the `time` parser would otherwise accept signed or longer years.
        if s.len() != 10 {
            return Err(ValueError::Date {
                value: s.to_owned(),
            });
        }
        Date::parse(s, ymd)
            .or_else(|_| Date::parse(s, dmy))
            .map(Self)
            .map_err(|_| ValueError::Date {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for EdxmlDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        write!(
            f,
            "{:04}/{:02}/{:02}",
            d.year(),
            u8::from(d.month()),
            d.day()
        )
    }
}

serde_as_string!(EdxmlDate);

// === impl EdxmlTimestamp ===

/// A point in time as edXML trace headers write it: `yyyy/MM/dd HH:mm:ss` (local time of the
/// gateway that wrote it, as QCVN 102:2016 does not carry an offset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EdxmlTimestamp(pub time::PrimitiveDateTime);

impl FromStr for EdxmlTimestamp {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let f = format_description!(
            "[year repr:full padding:zero]/[month]/[day] [hour]:[minute]:[second]"
        );
        if s.len() != 19 {
            return Err(ValueError::Timestamp {
                value: s.to_owned(),
            });
        }
        time::PrimitiveDateTime::parse(s, f)
            .map(Self)
            .map_err(|_| ValueError::Timestamp {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for EdxmlTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(
            f,
            "{} {:02}:{:02}:{:02}",
            EdxmlDate(t.date()),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

serde_as_string!(EdxmlTimestamp);

// === impl Priority ===

/// `OtherInfo/Priority` (độ khẩn), QCVN 102:2016.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// 0 — Thường (normal).
    Normal,
    /// 1 — Khẩn (urgent).
    Urgent,
    /// 2 — Thượng khẩn (very urgent).
    VeryUrgent,
    /// 3 — Hỏa tốc (express).
    Express,
    /// 4 — Hỏa tốc hẹn giờ (express at a set time).
    ExpressTimed,
}

impl Priority {
    /// All values, lowest first.
    pub const ALL: [Self; 5] = [
        Self::Normal,
        Self::Urgent,
        Self::VeryUrgent,
        Self::Express,
        Self::ExpressTimed,
    ];

    /// The code written in `Priority` (0-4).
    pub fn code(self) -> u8 {
        match self {
            Self::Normal => 0,
            Self::Urgent => 1,
            Self::VeryUrgent => 2,
            Self::Express => 3,
            Self::ExpressTimed => 4,
        }
    }

    /// The value for a code 0-4.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }

    /// The Vietnamese name.
    pub fn name_vi(self) -> &'static str {
        match self {
            Self::Normal => "Thường",
            Self::Urgent => "Khẩn",
            Self::VeryUrgent => "Thượng khẩn",
            Self::Express => "Hỏa tốc",
            Self::ExpressTimed => "Hỏa tốc hẹn giờ",
        }
    }

    /// The English name.
    pub fn name_en(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Urgent => "urgent",
            Self::VeryUrgent => "very urgent",
            Self::Express => "express",
            Self::ExpressTimed => "express at a set time",
        }
    }
}

impl FromStr for Priority {
    type Err = ValueError;

    /// Only the single digits 0-4, as written in edXML.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ValueError::Priority {
            value: s.to_owned(),
        };
        match s.as_bytes() {
            [d @ b'0'..=b'9'] => Self::from_code(d - b'0').ok_or_else(err),
            _ => Err(err()),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

serde_as_string!(Priority);

// === impl BusinessDocType ===

/// `BussinessDocType` (spelled so in QCVN 102:2016): what this message does to a document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BusinessDocType {
    /// 0 — a new document.
    New,
    /// 1 — recall of a document sent before.
    Recall,
    /// 2 — update of a document sent before.
    Update,
    /// 3 — replacement of a document sent before.
    Replace,
}

impl BusinessDocType {
    /// The code written in the element (0-3).
    pub fn code(self) -> u8 {
        match self {
            Self::New => 0,
            Self::Recall => 1,
            Self::Update => 2,
            Self::Replace => 3,
        }
    }

    /// The English name.
    pub fn name_en(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Recall => "recall",
            Self::Update => "update",
            Self::Replace => "replace",
        }
    }
}

impl FromStr for BusinessDocType {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "0" => Ok(Self::New),
            "1" => Ok(Self::Recall),
            "2" => Ok(Self::Update),
            "3" => Ok(Self::Replace),
            _ => Err(ValueError::BusinessDocType {
                value: s.to_owned(),
            }),
        }
    }
}

impl fmt::Display for BusinessDocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

serde_as_string!(BusinessDocType);

// === impl ProcedureCode ===

/// The code of an administrative procedure in the catalogue (e.g. `VB-01` for the first
/// procedure of the "documents" field, `TCCB-22` for organisation and personnel): 1 to 8 capital
/// ASCII letters, a hyphen, two digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcedureCode(String);

impl ProcedureCode {
    /// Longest field prefix accepted (`TCCB` is 4; room for longer field names).
    pub const MAX_FIELD_LEN: usize = 8;

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The field part, before the hyphen (`TCCB` in `TCCB-22`).
    pub fn field(&self) -> &str {
        self.0.split('-').next().unwrap_or_default()
    }
}

impl FromStr for ProcedureCode {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = match s.split_once('-') {
            Some((field, num)) => {
                (1..=Self::MAX_FIELD_LEN).contains(&field.len())
                    && field.bytes().all(|b| b.is_ascii_uppercase())
                    && num.len() == 2
                    && num.bytes().all(|b| b.is_ascii_digit())
            }
            None => false,
        };
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::ProcedureCode {
                value: s.to_owned(),
            })
        }
    }
}

impl fmt::Display for ProcedureCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

serde_as_string!(ProcedureCode);

// === impl StatusCode ===

/// Status codes a recipient sends back about a document (edXML status messages).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatusCode {
    /// 01 — arrived (đã đến).
    Arrived,
    /// 02 — refused (từ chối).
    Refused,
    /// 03 — accepted (đã tiếp nhận).
    Accepted,
    /// 04 — assigned (phân công).
    Assigned,
    /// 05 — in progress (đang xử lý).
    InProgress,
    /// 06 — completed (hoàn thành).
    Completed,
    /// 13 — recall requested (yêu cầu lấy lại).
    RecallRequested,
    /// 15 — recall or update agreed (đồng ý lấy lại/cập nhật).
    RecallAgreed,
    /// 16 — recall refused (từ chối lấy lại).
    RecallRefused,
}

impl StatusCode {
    /// All codes in numeric order.
    pub const ALL: [Self; 9] = [
        Self::Arrived,
        Self::Refused,
        Self::Accepted,
        Self::Assigned,
        Self::InProgress,
        Self::Completed,
        Self::RecallRequested,
        Self::RecallAgreed,
        Self::RecallRefused,
    ];

    /// The two-digit code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Arrived => "01",
            Self::Refused => "02",
            Self::Accepted => "03",
            Self::Assigned => "04",
            Self::InProgress => "05",
            Self::Completed => "06",
            Self::RecallRequested => "13",
            Self::RecallAgreed => "15",
            Self::RecallRefused => "16",
        }
    }

    /// The Vietnamese meaning.
    pub fn meaning_vi(self) -> &'static str {
        match self {
            Self::Arrived => "Đã đến",
            Self::Refused => "Từ chối",
            Self::Accepted => "Đã tiếp nhận",
            Self::Assigned => "Phân công",
            Self::InProgress => "Đang xử lý",
            Self::Completed => "Hoàn thành",
            Self::RecallRequested => "Yêu cầu lấy lại",
            Self::RecallAgreed => "Đồng ý lấy lại/cập nhật",
            Self::RecallRefused => "Từ chối lấy lại",
        }
    }

    /// The English meaning.
    pub fn meaning_en(self) -> &'static str {
        match self {
            Self::Arrived => "arrived",
            Self::Refused => "refused",
            Self::Accepted => "accepted",
            Self::Assigned => "assigned",
            Self::InProgress => "in progress",
            Self::Completed => "completed",
            Self::RecallRequested => "recall requested",
            Self::RecallAgreed => "recall or update agreed",
            Self::RecallRefused => "recall refused",
        }
    }
}

impl FromStr for StatusCode {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| ValueError::StatusCode {
                value: s.to_owned(),
            })
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

serde_as_string!(StatusCode);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organ_id_accepts_both_forms_and_35_chars() {
        for ok in ["VPTW", "TU.BENTRE", "HU.CHAUTHANH", "000.00.00.G22", "A"] {
            assert_eq!(ok.parse::<OrganId>().unwrap().as_str(), ok);
        }
        let max = "A".repeat(35);
        assert!(max.parse::<OrganId>().is_ok());
    }

    #[test]
    fn organ_id_refuses_36_chars_lowercase_empty_and_space() {
        for bad in [
            "A".repeat(36),
            "hu.chauthanh".to_owned(),
            String::new(),
            "HU CHAUTHANH".to_owned(),
            "HU-CHAUTHANH".to_owned(),
            "HU.CHÂUTHÀNH".to_owned(),
        ] {
            assert_eq!(
                bad.parse::<OrganId>(),
                Err(ValueError::OrganId { value: bad.clone() })
            );
        }
    }

    #[test]
    fn organ_id_serde_is_a_string() {
        let id: OrganId = "TU.BENTRE".parse().unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"TU.BENTRE\"");
        let back: OrganId = serde_json::from_str("\"TU.BENTRE\"").unwrap();
        assert_eq!(back, id);
        assert!(serde_json::from_str::<OrganId>("\"tu\"").is_err());
    }

    #[test]
    fn date_reads_both_orders_and_writes_ymd() {
        let a: EdxmlDate = "2017/03/21".parse().unwrap();
        let b: EdxmlDate = "21/03/2017".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_string(), "2017/03/21");
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            "\"2017/03/21\"".to_owned()
        );
    }

    #[test]
    fn date_refuses_non_dates_and_other_shapes() {
        for bad in [
            "2017/02/30",
            "2017-03-21",
            "2017/3/21",
            "17/03/21",
            "+2017/03/21",
            "2017/03/21 ",
            "",
            "32/01/2017",
        ] {
            assert_eq!(
                bad.parse::<EdxmlDate>(),
                Err(ValueError::Date {
                    value: bad.to_owned()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn timestamp_round_trips_and_refuses_other_shapes() {
        let t: EdxmlTimestamp = "2024/05/06 07:08:09".parse().unwrap();
        assert_eq!(t.to_string(), "2024/05/06 07:08:09");
        for bad in ["2024/05/06", "2024/05/06T07:08:09", "2024/05/06 24:00:00"] {
            assert!(bad.parse::<EdxmlTimestamp>().is_err(), "{bad}");
        }
    }

    #[test]
    fn priority_codes_and_names() {
        for (i, p) in Priority::ALL.into_iter().enumerate() {
            assert_eq!(p.to_string(), i.to_string());
            assert_eq!(i.to_string().parse::<Priority>().unwrap(), p);
        }
        assert_eq!(Priority::Express.name_vi(), "Hỏa tốc");
        assert_eq!(Priority::ExpressTimed.name_vi(), "Hỏa tốc hẹn giờ");
        assert_eq!(Priority::VeryUrgent.name_en(), "very urgent");
        assert!(Priority::Normal < Priority::Express);
    }

    #[test]
    fn priority_refuses_5_negative_and_padding() {
        for bad in ["5", "-1", "00", " 1", "", "a"] {
            assert_eq!(
                bad.parse::<Priority>(),
                Err(ValueError::Priority {
                    value: bad.to_owned()
                })
            );
        }
    }

    #[test]
    fn business_doc_type_codes() {
        assert_eq!("0".parse::<BusinessDocType>(), Ok(BusinessDocType::New));
        assert_eq!("3".parse::<BusinessDocType>(), Ok(BusinessDocType::Replace));
        assert_eq!(BusinessDocType::Recall.to_string(), "1");
        assert_eq!(BusinessDocType::Update.name_en(), "update");
        assert!(matches!(
            "4".parse::<BusinessDocType>(),
            Err(ValueError::BusinessDocType { .. })
        ));
    }

    #[test]
    fn procedure_code_shapes() {
        for ok in ["VB-01", "TCCB-22", "A-00", "ABCDEFGH-99"] {
            let c: ProcedureCode = ok.parse().unwrap();
            assert_eq!(c.to_string(), ok);
        }
        assert_eq!("TCCB-22".parse::<ProcedureCode>().unwrap().field(), "TCCB");
        for bad in [
            "ABCDEFGHI-01",
            "vb-01",
            "VB-1",
            "VB-001",
            "VB01",
            "-01",
            "VB-0A",
            "",
        ] {
            assert_eq!(
                bad.parse::<ProcedureCode>(),
                Err(ValueError::ProcedureCode {
                    value: bad.to_owned()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn status_codes_and_meanings() {
        for c in StatusCode::ALL {
            assert_eq!(c.code().parse::<StatusCode>().unwrap(), c);
        }
        assert_eq!(StatusCode::Arrived.meaning_vi(), "Đã đến");
        assert_eq!(StatusCode::RecallAgreed.code(), "15");
        assert_eq!(StatusCode::Completed.meaning_en(), "completed");
        for bad in ["1", "07", "14", "17", ""] {
            assert!(matches!(
                bad.parse::<StatusCode>(),
                Err(ValueError::StatusCode { .. })
            ));
        }
    }
}
