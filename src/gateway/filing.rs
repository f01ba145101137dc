//! Filing a document as it is accepted (submission or receipt from a peer): its label for the
//! later paths' `policy::decide`, its due date, and — when `decide(…, Way::Publication)` allows
//! it (rule 6) — its entry in the public index. All of it is written by
//! [`Store::accept_filed`](crate::store::Store::accept_filed) in the same durable transaction as
//! the message.
//!
//! # Due dates
//!
//! A document filed under a procedure is due at the end of the procedure's `deadline_days`-th
//! working day after the day it was accepted, unless its header sets `DueDate` (then the end of
//! that day). Days are counted in Vietnam time (UTC+7, no daylight saving). Working days skip
//! Saturdays and Sundays only: **public holidays (Tết, 30/4, 1/5, 2/9, …) are not modelled**, so
//! a due date spanning one is a day or more early — conservative for the office.

use time::{Date, Duration, OffsetDateTime, Time, UtcOffset, Weekday};

use crate::doc::envelope::Envelope;
use crate::doc::label::Level;
use crate::policy::{Catalog, Decision, Facts, Way, decide};
use crate::store::{Filed, Filing, MessageId, PublicEntry};

/// Vietnam's offset (Indochina Time), used for calendar days.
const VN_OFFSET_SECONDS: i32 = 7 * 3600;

fn vn() -> UtcOffset {
    UtcOffset::from_whole_seconds(VN_OFFSET_SECONDS).unwrap_or(UtcOffset::UTC)
}

/// The calendar day (Vietnam time) of a millisecond timestamp.
pub fn vn_date(ms: i64) -> Date {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.to_offset(vn()).date())
        .unwrap_or(Date::MIN)
}

/// The first millisecond of a day in Vietnam time.
pub fn vn_day_start_ms(date: Date) -> i64 {
    let t = date.with_time(Time::MIDNIGHT).assume_offset(vn());
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// The last millisecond of a day in Vietnam time (a due date is met up to its end).
pub fn vn_day_end_ms(date: Date) -> i64 {
    date.next_day()
        .map_or(i64::MAX, vn_day_start_ms)
        .saturating_sub(1)
}

/// The `days`-th working day (Monday to Friday) after `from`; `from` itself when `days` is 0.
/// Public holidays are not modelled (see the module docs).
pub fn add_working_days(from: Date, days: u32) -> Date {
    let mut d = from;
    let mut left = days;
    while left > 0 {
        d = d.saturating_add(Duration::days(1));
        if !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            left -= 1;
        }
    }
    d
}

/// The due date of a document accepted at `received_ms`: the header's `DueDate` if set, else
/// `deadline_days` working days on; `(due_ms, from_header)`. `None` without either.
pub fn due_ms(
    received_ms: i64,
    deadline_days: Option<u32>,
    header: Option<Date>,
) -> (Option<i64>, bool) {
    if let Some(d) = header {
        return (Some(vn_day_end_ms(d)), true);
    }
    match deadline_days {
        Some(n) => (
            Some(vn_day_end_ms(add_working_days(vn_date(received_ms), n))),
            false,
        ),
        None => (None, false),
    }
}

/// What filing a document produced: the records to write and the publication decision.
#[derive(Debug)]
pub struct Prepared {
    /// Written with the message.
    pub filed: Filed,
    /// `decide(…, Way::Publication)`, made at publication time (now).
    pub publication: Decision,
}

/// Files a document accepted at `received_ms`. `for_us` is whether this gateway's organ sent it
/// or receives it: a gateway that only carries a document onward does not publish it.
pub fn prepare(
    catalog: &Catalog,
    envelope: &Envelope,
    id: MessageId,
    received_ms: i64,
    for_us: bool,
) -> Prepared {
    let label = envelope.label();
    let procedure = catalog.get(label.procedure.as_str());
    let (due, from_header) = due_ms(
        received_ms,
        procedure.map(|p| p.deadline_days),
        envelope.header.due_date.map(|d| d.date()),
    );
    let h = &envelope.header;
    let filing = Filing {
        level: label.level,
        procedure: label.procedure.as_str().to_owned(),
        public: label.public,
        received_at_ms: received_ms,
        due_ms: due,
        due_from_header: from_header,
        from: h.from.organ_id.clone(),
        to: envelope.recipients().cloned().collect(),
        handled: Default::default(),
    };
    // Rule 6, decided now, at publication time; the portal only ever reads what passed it.
    let publication = decide(&Facts::of(label), catalog, Way::Publication);
    let public = (publication.allowed() && for_us).then(|| PublicEntry {
        message_id: id,
        document_id: envelope.document_id().to_owned(),
        code: format!("{}/{}", h.code.number, h.code.notation),
        subject: h.subject.clone(),
        from: h.from.organ_id.clone(),
        from_name: h.from.organ_name.clone(),
        procedure: label.procedure.as_str().to_owned(),
        promulgated: iso_date(h.promulgation.date.date()),
        published_at_ms: received_ms,
    });
    Prepared {
        filed: Filed {
            filing: Some(filing),
            public,
        },
        publication,
    }
}

/// `YYYY-MM-DD`.
pub fn iso_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The policy facts of a filed message (its signed label as recorded at acceptance; a record
/// with an unknown level never decodes, so it never reaches here as a lower one).
pub fn facts(filing: &Filing) -> Facts<'_> {
    Facts {
        level: Some(filing.level),
        procedure: Some(filing.procedure.as_str()),
        public: filing.public,
        recorded: None,
    }
}

/// Whether a client of `clearance` may read (list, fetch, acknowledge, report on) message `id`:
/// `decide(…, Way::InboxRead)` on its filed label. A message without a filing record (stored
/// by a version before filing) fails closed: no label → refused (rule 1).
pub fn client_may_read(
    store: &dyn crate::store::Store,
    catalog: &Catalog,
    id: &MessageId,
    clearance: Level,
) -> Result<Decision, crate::store::StoreError> {
    Ok(may_read_filed(
        store.filing(id)?.as_ref(),
        catalog,
        clearance,
    ))
}

/// [`client_may_read`] on a filing record already read (an inbox listing reads it with the
/// entry).
pub fn may_read_filed(filing: Option<&Filing>, catalog: &Catalog, clearance: Level) -> Decision {
    let way = Way::InboxRead { client: clearance };
    match filing {
        Some(f) => decide(&facts(f), catalog, way),
        None => decide(
            &Facts {
                level: None,
                procedure: None,
                public: false,
                recorded: None,
            },
            catalog,
            way,
        ),
    }
}

/// What the store records of an accepted message: the envelope's routing facts, the effective
/// level, the digest and size of the bytes stored, where it came from and the hops it took.
pub fn message_meta(
    envelope: &crate::doc::envelope::Envelope,
    id: crate::store::MessageId,
    effective: crate::doc::label::Level,
    digest_hex: String,
    size: usize,
    origin: crate::store::Origin,
    hops: Vec<crate::store::HopRecord>,
) -> crate::store::MessageMeta {
    crate::store::MessageMeta {
        id,
        document_id: envelope.document_id().to_owned(),
        from: envelope.header.from.organ_id.clone(),
        to: envelope.recipients().cloned().collect(),
        priority: envelope.priority(),
        level: effective,
        digest_hex,
        size: u64::try_from(size).unwrap_or(u64::MAX),
        received_at_ms: super::now_ms(),
        origin,
        hops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn working_days_skip_weekends() {
        // 2026-11-20 is a Friday.
        let fri = date!(2026 - 11 - 20);
        assert_eq!(add_working_days(fri, 0), fri);
        assert_eq!(add_working_days(fri, 1), date!(2026 - 11 - 23));
        assert_eq!(add_working_days(fri, 5), date!(2026 - 11 - 27));
        // Received on a Saturday: the first working day is Monday.
        assert_eq!(
            add_working_days(date!(2026 - 11 - 21), 1),
            date!(2026 - 11 - 23)
        );
        assert_eq!(
            add_working_days(date!(2026 - 11 - 23), 10),
            date!(2026 - 12 - 07)
        );
    }

    #[test]
    fn days_are_vietnam_days_and_end_at_midnight_there() {
        // 2026-11-20 18:00 UTC is already Saturday 01:00 in Vietnam.
        let ms = 1_795_197_600_000;
        assert_eq!(vn_date(ms), date!(2026 - 11 - 21));
        let end = vn_day_end_ms(date!(2026 - 11 - 21));
        assert_eq!(end + 1 - vn_day_start_ms(date!(2026 - 11 - 21)), 86_400_000);
        // Ends at 17:00 UTC the same day.
        assert_eq!((end + 1) % 86_400_000, 17 * 3_600_000);
    }

    #[test]
    fn header_due_date_wins() {
        let (due, from_header) = due_ms(0, Some(5), Some(date!(2020 - 01 - 01)));
        assert!(from_header);
        assert_eq!(due, Some(vn_day_end_ms(date!(2020 - 01 - 01))));
        let (due, from_header) = due_ms(0, None, None);
        assert_eq!((due, from_header), (None, false));
    }
}
