//! The timeliness report (`GET /api/v1/reports/timeliness?from=…&to=…`): per procedure and
//! handling organ, documents handled on time (status 06 at or before the due date) and late,
//! still pending (and of those, already overdue), and the on-time percentage — the figure the
//! reporting regime of Resolution 07-NQ/ĐUK asks for (">99% on time").
//!
//! A gateway reports on the organ it serves: documents it received for that organ, and
//! documents that organ sent (their recipients' 06 statuses come back to it). A document in
//! transit through this gateway is not counted. A document counts only if the caller's
//! clearance allows it (`policy::decide` on the client's way), so a client cleared for
//! `thuong` never learns how many `mat` documents a procedure had.

use serde::Serialize;

use super::filing::facts;
use crate::doc::label::Level;
use crate::policy::{Catalog, Way, decide};
use crate::store::{Filing, MessageId};

/// One row: a procedure and the organ handling its documents.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Row {
    /// Procedure code.
    pub procedure: String,
    /// Its Vietnamese name (absent for a code the catalog no longer lists).
    pub procedure_name: Option<String>,
    /// The organ handling the documents (a recipient).
    pub organ: String,
    /// Documents with a due date: handled (06) at or before it.
    pub on_time: u64,
    /// Handled after the due date.
    pub late: u64,
    /// Not handled yet.
    pub pending: u64,
    /// Of the pending ones, those already past their due date.
    pub overdue: u64,
    /// Handled, for a document without any due date (neither procedure deadline nor header).
    pub handled_without_due_date: u64,
    /// `on_time / (on_time + late)`, in percent; `None` when nothing was handled yet.
    pub on_time_percent: Option<f64>,
}

/// The whole report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timeliness {
    /// The organ this gateway serves.
    pub organ: String,
    /// Rows, by procedure then organ.
    pub rows: Vec<Row>,
    /// Totals over every row (procedure and organ are `*`).
    pub total: Row,
}

fn percent(on_time: u64, late: u64) -> Option<f64> {
    let handled = on_time + late;
    // Counts stay far below 2^52: the conversion is exact.
    #[allow(clippy::cast_precision_loss)]
    (handled > 0).then(|| (on_time as f64) * 100.0 / (handled as f64))
}

impl Row {
    fn count(&mut self, due_ms: Option<i64>, handled_at: Option<i64>, now_ms: i64) {
        match (due_ms, handled_at) {
            (Some(due), Some(at)) if at <= due => self.on_time += 1,
            (Some(_), Some(_)) => self.late += 1,
            (None, Some(_)) => self.handled_without_due_date += 1,
            (due, None) => {
                self.pending += 1;
                if due.is_some_and(|d| d < now_ms) {
                    self.overdue += 1;
                }
            }
        }
    }

    fn add(&mut self, other: &Row) {
        self.on_time += other.on_time;
        self.late += other.late;
        self.pending += other.pending;
        self.overdue += other.overdue;
        self.handled_without_due_date += other.handled_without_due_date;
    }
}

/// Builds the report over `filings` for the gateway of `organ`, counting only documents a
/// client of `clearance` may see.
pub fn timeliness(
    filings: &[(MessageId, Filing)],
    catalog: &Catalog,
    organ: &str,
    clearance: Level,
    now_ms: i64,
) -> Timeliness {
    let mut rows: std::collections::BTreeMap<(String, String), Row> = Default::default();
    for (_, f) in filings {
        if !decide(&facts(f), catalog, Way::InboxRead { client: clearance }).allowed() {
            continue;
        }
        let sent_here = f.from == organ;
        for to in &f.to {
            if !(sent_here || to == organ) {
                continue;
            }
            let row = rows
                .entry((f.procedure.clone(), to.to_string()))
                .or_insert_with(|| Row {
                    procedure: f.procedure.clone(),
                    procedure_name: catalog.get(&f.procedure).map(|p| p.name.clone()),
                    organ: to.to_string(),
                    ..Row::default()
                });
            row.count(f.due_ms, f.handled.get(to).copied(), now_ms);
        }
    }
    let mut total = Row {
        procedure: "*".to_owned(),
        organ: "*".to_owned(),
        ..Row::default()
    };
    let mut out: Vec<Row> = rows.into_values().collect();
    for r in &mut out {
        r.on_time_percent = percent(r.on_time, r.late);
        total.add(r);
    }
    total.on_time_percent = percent(total.on_time, total.late);
    Timeliness {
        organ: organ.to_owned(),
        rows: out,
        total,
    }
}

/// Why a timeliness report was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A bound is neither a date (`YYYY-MM-DD`) nor an RFC 3339 instant.
    #[error("from and to are dates (YYYY-MM-DD) or RFC 3339 instants")]
    BadBound,
    /// `from` is not before `to`.
    #[error("from must come before to")]
    Reversed,
    /// The gateway failed.
    #[error(transparent)]
    Internal(#[from] super::error::Internal),
}

/// A bound of the period: a Vietnam calendar day (`end` = the day after, so a day is
/// inclusive) or an RFC 3339 instant.
fn bound(text: &str, end: bool) -> Option<i64> {
    let day = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(text, day) {
        let d = if end { d.next_day()? } else { d };
        return Some(super::filing::vn_day_start_ms(d));
    }
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The period `from` (first day, `YYYY-MM-DD` in Vietnam time, or RFC 3339 instant, inclusive)
/// to `to` (last day, inclusive, or instant, exclusive), in milliseconds.
pub fn period(from: &str, to: &str) -> Result<(i64, i64), ReportError> {
    let (Some(from_ms), Some(to_ms)) = (bound(from, false), bound(to, true)) else {
        return Err(ReportError::BadBound);
    };
    if from_ms >= to_ms {
        return Err(ReportError::Reversed);
    }
    Ok((from_ms, to_ms))
}

/// The timeliness report over the documents this gateway accepted in the period, as the caller
/// may see it (only its clearance counts), with the period and `holidays_modelled` beside it.
pub async fn report(
    shared: &std::sync::Arc<super::Shared>,
    caller: &super::caller::Caller,
    (from_ms, to_ms): (i64, i64),
) -> Result<serde_json::Value, ReportError> {
    let store = shared.store.clone();
    let filings = super::blocking(move || store.filings_between(from_ms, to_ms))
        .await?
        .map_err(|e| super::error::Internal::store("filing records", &e))?;
    let report = timeliness(
        &filings,
        &shared.catalog,
        &shared.config.organ,
        caller.clearance,
        super::now_ms(),
    );
    let mut v = serde_json::to_value(&report).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("from".into(), super::rfc3339_ms(from_ms).into());
        o.insert("to".into(), super::rfc3339_ms(to_ms).into());
        o.insert("holidays_modelled".into(), serde_json::Value::Bool(false));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CATALOG: &str = r#"
[[procedure]]
code = "VB-01"
name = "Tiếp nhận văn bản đến"
field = "VB"
level = "thuong"
public = true
deadline_days = 1
[[procedure]]
code = "TCCB-05"
name = "Quy hoạch cán bộ"
field = "TCCB"
level = "mat"
public = false
deadline_days = 15
"#;

    fn filing(
        procedure: &str,
        from: &str,
        to: &[&str],
        due: i64,
        handled: &[(&str, i64)],
    ) -> Filing {
        Filing {
            level: "thuong".parse().unwrap(),
            procedure: procedure.into(),
            public: false,
            received_at_ms: 0,
            due_ms: Some(due),
            due_from_header: false,
            from: from.parse().unwrap(),
            to: to.iter().map(|s| s.parse().unwrap()).collect(),
            handled: handled
                .iter()
                .map(|(o, t)| (o.parse().unwrap(), *t))
                .collect(),
        }
    }

    #[test]
    fn counts_on_time_late_pending_and_percent() {
        let c = Catalog::parse(CATALOG, "t").unwrap();
        let id = MessageId::from_bytes([0; 16]);
        let fs = vec![
            (id, filing("VB-01", "A", &["B"], 100, &[("B", 100)])),
            (id, filing("VB-01", "A", &["B"], 100, &[("B", 101)])),
            (id, filing("VB-01", "A", &["B", "C"], 100, &[("C", 50)])),
            // Transit here (neither from nor to A): not counted.
            (id, filing("VB-01", "X", &["Y"], 100, &[])),
            // Above the caller's clearance: not counted.
            (id, filing("TCCB-05", "A", &["B"], 100, &[("B", 1)])),
        ];
        let r = timeliness(&fs, &c, "A", Level::Thuong, 200);
        assert_eq!(r.rows.len(), 2);
        let b = r.rows.iter().find(|r| r.organ == "B").unwrap();
        assert_eq!((b.on_time, b.late, b.pending, b.overdue), (1, 1, 1, 1));
        assert_eq!(b.on_time_percent, Some(50.0));
        let c_row = r.rows.iter().find(|r| r.organ == "C").unwrap();
        assert_eq!((c_row.on_time, c_row.late), (1, 0));
        assert_eq!(r.total.on_time + r.total.late + r.total.pending, 4);
        // Cleared for mat: the TCCB-05 document counts.
        let r = timeliness(&fs, &c, "A", Level::Mat, 200);
        assert_eq!(r.rows.len(), 3);
    }
}
