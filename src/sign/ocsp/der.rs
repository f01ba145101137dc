//! The little DER OCSP needs, read and written here (X.690 §8, §10): definite lengths only,
//! in their shortest form, no trailing bytes. Enough for RFC 6960's request and response, no
//! more; every refusal is `OcspError::Malformed` naming what was expected.

use super::OcspError;

/// SEQUENCE (constructed).
pub(super) const SEQUENCE: u8 = 0x30;
/// OBJECT IDENTIFIER.
pub(super) const OID: u8 = 0x06;
/// OCTET STRING.
pub(super) const OCTET_STRING: u8 = 0x04;
/// INTEGER.
pub(super) const INTEGER: u8 = 0x02;
/// ENUMERATED.
pub(super) const ENUMERATED: u8 = 0x0a;
/// BIT STRING.
pub(super) const BIT_STRING: u8 = 0x03;
/// NULL.
pub(super) const NULL: u8 = 0x05;
/// GeneralizedTime.
pub(super) const GENERALIZED_TIME: u8 = 0x18;
/// BOOLEAN.
pub(super) const BOOLEAN: u8 = 0x01;

/// Context-specific constructed tag `[n]`.
pub(super) const fn ctx(n: u8) -> u8 {
    0xa0 | n
}

/// Context-specific primitive tag `[n]` (IMPLICIT on a primitive type).
pub(super) const fn ctx_prim(n: u8) -> u8 {
    0x80 | n
}

/// The longest contents a reader accepts (1 MiB): an OCSP response is a few kilobytes.
const MAX_LEN: usize = 1 << 20;

fn malformed(what: &str) -> OcspError {
    OcspError::Malformed {
        reason: what.to_owned(),
    }
}

/// A cursor over DER bytes; each read takes one whole TLV.
#[derive(Clone, Copy)]
pub(super) struct Reader<'a> {
    rest: &'a [u8],
}

/// One TLV: its tag, its contents, and the whole encoding (tag and length included).
#[derive(Clone, Copy)]
pub(super) struct Tlv<'a> {
    pub(super) tag: u8,
    pub(super) value: &'a [u8],
    pub(super) raw: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The tag of the next TLV, if any.
    pub(super) fn peek(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads the next TLV, whatever its tag.
    pub(super) fn any(&mut self, what: &str) -> Result<Tlv<'a>, OcspError> {
        let bytes = self.rest;
        let (&tag, after_tag) = bytes.split_first().ok_or_else(|| malformed(what))?;
        // High tag numbers (0x1f) never occur in OCSP.
        if tag & 0x1f == 0x1f {
            return Err(malformed(what));
        }
        let (&first, after_len) = after_tag.split_first().ok_or_else(|| malformed(what))?;
        let (len, body) = match first {
            0x00..=0x7f => (usize::from(first), after_len),
            0x81 => {
                let (&l, b) = after_len.split_first().ok_or_else(|| malformed(what))?;
                if l < 0x80 {
                    return Err(malformed(what)); // not the shortest form
                }
                (usize::from(l), b)
            }
            0x82 => {
                let (hi, b) = after_len.split_first().ok_or_else(|| malformed(what))?;
                let (lo, b) = b.split_first().ok_or_else(|| malformed(what))?;
                let l = usize::from(*hi) << 8 | usize::from(*lo);
                if l < 0x100 {
                    return Err(malformed(what));
                }
                (l, b)
            }
            0x83 => {
                let (a, b) = after_len.split_first().ok_or_else(|| malformed(what))?;
                let (m, b) = b.split_first().ok_or_else(|| malformed(what))?;
                let (c, b) = b.split_first().ok_or_else(|| malformed(what))?;
                let l = usize::from(*a) << 16 | usize::from(*m) << 8 | usize::from(*c);
                if !(0x1_0000..=MAX_LEN).contains(&l) {
                    return Err(malformed(what));
                }
                (l, b)
            }
            // Indefinite (0x80) is BER, not DER; longer lengths exceed any OCSP response.
            _ => return Err(malformed(what)),
        };
        let value = body.get(..len).ok_or_else(|| malformed(what))?;
        let rest = body.get(len..).ok_or_else(|| malformed(what))?;
        let used = bytes.len() - rest.len();
        let raw = bytes.get(..used).ok_or_else(|| malformed(what))?;
        self.rest = rest;
        Ok(Tlv { tag, value, raw })
    }

    /// Reads the next TLV, which must carry `tag`.
    pub(super) fn read(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, OcspError> {
        let tlv = self.any(what)?;
        if tlv.tag == tag {
            Ok(tlv)
        } else {
            Err(malformed(what))
        }
    }

    /// Reads the next TLV if it carries `tag`.
    pub(super) fn optional(&mut self, tag: u8, what: &str) -> Result<Option<Tlv<'a>>, OcspError> {
        if self.peek() == Some(tag) {
            self.read(tag, what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Fails unless every byte was read.
    pub(super) fn finish(&self, what: &str) -> Result<(), OcspError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(malformed(&format!("trailing bytes after {what}")))
        }
    }
}

/// The contents of the single TLV with `tag` that makes up all of `bytes`.
pub(super) fn whole<'a>(bytes: &'a [u8], tag: u8, what: &str) -> Result<Tlv<'a>, OcspError> {
    let mut r = Reader::new(bytes);
    let tlv = r.read(tag, what)?;
    r.finish(what)?;
    Ok(tlv)
}

/// The bits of a BIT STRING with no unused bits (signatures, keys).
pub(super) fn bit_string_bytes<'a>(tlv: &Tlv<'a>, what: &str) -> Result<&'a [u8], OcspError> {
    match tlv.value.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(malformed(what)),
    }
}

/// Seconds since the epoch of a GeneralizedTime `YYYYMMDDHHMMSSZ` (RFC 5280 §4.1.2.5.2: UTC,
/// seconds present, no fraction).
pub(super) fn generalized_time(tlv: &Tlv<'_>, what: &str) -> Result<u64, OcspError> {
    let bad = || malformed(what);
    if tlv.tag != GENERALIZED_TIME || tlv.value.len() != 15 || tlv.value.last() != Some(&b'Z') {
        return Err(bad());
    }
    let digits = tlv.value.get(..14).ok_or_else(bad)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad());
    }
    let n = |from: usize, to: usize| -> u64 {
        digits
            .get(from..to)
            .unwrap_or_default()
            .iter()
            .fold(0, |acc, d| acc * 10 + u64::from(d - b'0'))
    };
    let (year, month, day) = (n(0, 4), n(4, 6), n(6, 8));
    let (hour, minute, second) = (n(8, 10), n(10, 12), n(12, 14));
    if year < 1970 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return Err(bad());
    }
    let month = u8::try_from(month).map_err(|_| bad())?;
    let month = time::Month::try_from(month).map_err(|_| bad())?;
    let year = i32::try_from(year).map_err(|_| bad())?;
    let day = u8::try_from(day).map_err(|_| bad())?;
    let date = time::Date::from_calendar_date(year, month, day).map_err(|_| bad())?;
    let hms = |v: u64| u8::try_from(v).map_err(|_| bad());
    let t = date
        .with_hms(hms(hour)?, hms(minute)?, hms(second)?)
        .map_err(|_| bad())?;
    u64::try_from(t.assume_utc().unix_timestamp()).map_err(|_| bad())
}

// === writing ===

/// `tag`, the DER length of `value` (X.690 §8.1.3: short form below 128), then `value`.
pub(super) fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match u8::try_from(value.len()) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let be = value.len().to_be_bytes();
            let significant: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
            out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0));
            out.extend(significant);
        }
    }
    out.extend_from_slice(value);
    out
}

/// A SEQUENCE of the given encodings.
pub(super) fn sequence(parts: &[&[u8]]) -> Vec<u8> {
    tlv(SEQUENCE, &parts.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_round_trip_in_their_shortest_form() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536] {
            let value = vec![7u8; len];
            let enc = tlv(OCTET_STRING, &value);
            let t = whole(&enc, OCTET_STRING, "x").unwrap();
            assert_eq!(t.value.len(), len);
            assert_eq!(t.raw, enc.as_slice());
        }
    }

    #[test]
    fn non_der_lengths_and_truncation_are_refused() {
        // 0x81 0x05: a long form for a length that fits the short one.
        assert!(whole(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5], OCTET_STRING, "x").is_err());
        // Indefinite length.
        assert!(whole(&[0x30, 0x80, 0, 0], SEQUENCE, "x").is_err());
        // Truncated contents.
        assert!(whole(&[0x04, 0x05, 1, 2], OCTET_STRING, "x").is_err());
        // Trailing byte.
        assert!(whole(&[0x05, 0x00, 0x00], NULL, "x").is_err());
        // Wrong tag.
        assert!(whole(&[0x05, 0x00], SEQUENCE, "x").is_err());
    }

    #[test]
    fn generalized_time_reads_utc_seconds_only() {
        let t = tlv(GENERALIZED_TIME, b"20261208000000Z");
        let r = whole(&t, GENERALIZED_TIME, "t").unwrap();
        assert_eq!(generalized_time(&r, "t").unwrap(), 1_796_688_000);
        for bad in [
            &b"20261208000000"[..],
            b"20261308000000Z",
            b"2026120800000.Z",
        ] {
            let t = tlv(GENERALIZED_TIME, bad);
            let r = whole(&t, GENERALIZED_TIME, "t").unwrap();
            assert!(generalized_time(&r, "t").is_err());
        }
    }
}
