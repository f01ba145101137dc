//! The field profile's walker: one container's children against the standard's order, with the
//! documented leniencies (order inversions, SDK attributes) and the kept unknown elements
//! recorded as they are met.

use super::{Leniency, Reading};
use crate::doc::envelope::{DSIG_NS, EDXML_NS, EnvelopeError};
use crate::doc::label::LABEL_NS;
use crate::doc::tree::{Element, Node};

type Result<T> = std::result::Result<T, EnvelopeError>;

pub(super) use crate::doc::envelope::read::{Found, Slot, any, one, opt, some};

/// What a container allows beyond its slots in the standard's order.
pub(super) struct Rules {
    /// Known children, in the standard's order.
    pub(super) slots: &'static [Slot],
    /// Documented inversions `(first, then, why)`: `first` may stand before `then` although
    /// the standard puts `then` first.
    pub(super) inversions: &'static [(&'static str, &'static str, Leniency)],
    /// Attributes the SDKs write on this container (namespace, local name, why); any other
    /// attribute is refused by name.
    pub(super) attrs: &'static [(&'static str, &'static str, Leniency)],
    /// Unknown edXML children: kept (recorded in [`Reading::kept`]) or refused.
    pub(super) keep_unknown: bool,
    /// Children in any order (each known one still at most once unless `many`): where the SDKs
    /// disagree among themselves and the order carries no meaning. The leniency is recorded
    /// when the order met differs from the slots'.
    pub(super) free_order: Option<Leniency>,
}

/// Walks the children of `e` (at `path`) against `rules`, recording leniencies and kept
/// elements in `r`.
pub(super) fn walk<'a>(
    e: &'a Element,
    path: &str,
    rules: &Rules,
    r: &mut Reading,
) -> Result<Found<'a>> {
    attributes(e, path, rules.attrs, r)?;
    let slots = rules.slots;
    let mut found: Vec<Vec<&'a Element>> = slots.iter().map(|_| Vec::new()).collect();
    for n in &e.children {
        let c = match n {
            Node::Element(c) => c,
            Node::Text(t) => {
                layout_only(t, path)?;
                continue;
            }
            Node::Comment(_) => continue,
        };
        let cpath = format!("{path}/{}", c.local);
        let ns = c.ns.as_deref().unwrap_or("");
        match slots.iter().position(|s| s.ns == ns && s.local == c.local) {
            Some(j) => {
                in_order(slots, &found, j, &cpath, rules, r)?;
                let many = slots.get(j).is_some_and(|s| s.many);
                if let Some(v) = found.get_mut(j) {
                    if !v.is_empty() && !many {
                        return Err(EnvelopeError::Duplicate { path: cpath });
                    }
                    v.push(c);
                }
            }
            None => unknown(ns, cpath, rules.keep_unknown, r)?,
        }
    }
    for (s, f) in slots.iter().zip(&found) {
        if s.required && f.is_empty() {
            return Err(EnvelopeError::Missing {
                path: format!("{path}/{}", s.local),
            });
        }
    }
    Ok(Found {
        path: path.to_owned(),
        slots,
        found,
    })
}

/// Slot `j` arrives: every slot already seen that the standard puts after it must be a
/// documented inversion.
fn in_order(
    slots: &[Slot],
    found: &[Vec<&Element>],
    j: usize,
    cpath: &str,
    rules: &Rules,
    r: &mut Reading,
) -> Result<()> {
    let here = slots.get(j).map_or("", |s| s.local);
    for (k, seen) in found.iter().enumerate().skip(j + 1) {
        if seen.is_empty() {
            continue;
        }
        let first = slots.get(k).map_or("", |s| s.local);
        let listed = rules
            .inversions
            .iter()
            .find(|(a, b, _)| *a == first && *b == here)
            .map(|(_, _, why)| *why);
        match listed.or(rules.free_order) {
            Some(why) => r.lenient(why, cpath),
            None => {
                return Err(EnvelopeError::OutOfOrder {
                    path: cpath.to_owned(),
                });
            }
        }
    }
    Ok(())
}

/// An element no slot names: kept when the container allows it and it is edXML, refused by
/// name otherwise.
fn unknown(ns: &str, cpath: String, keep: bool, r: &mut Reading) -> Result<()> {
    if ns == EDXML_NS && keep {
        r.kept.push(cpath);
        Ok(())
    } else if ns == EDXML_NS || ns == LABEL_NS || ns == DSIG_NS {
        Err(EnvelopeError::UnexpectedElement { path: cpath })
    } else {
        Err(EnvelopeError::ForeignElement {
            path: cpath,
            ns: ns.to_owned(),
        })
    }
}

fn layout_only(t: &str, path: &str) -> Result<()> {
    if t.chars().all(|ch| matches!(ch, ' ' | '\t' | '\n' | '\r')) {
        Ok(())
    } else {
        Err(EnvelopeError::UnexpectedText {
            path: path.to_owned(),
        })
    }
}

/// Every attribute of `e` must be one the rules list; each met records its leniency.
fn attributes(
    e: &Element,
    path: &str,
    allowed: &[(&'static str, &'static str, Leniency)],
    r: &mut Reading,
) -> Result<()> {
    for a in &e.attrs {
        let ns = a.ns.as_deref().unwrap_or("");
        match allowed.iter().find(|(n, l, _)| *n == ns && *l == a.local) {
            Some((_, _, why)) => r.lenient(*why, path),
            None => {
                return Err(EnvelopeError::UnexpectedAttribute {
                    path: path.to_owned(),
                    name: match &a.prefix {
                        Some(p) => format!("{p}:{}", a.local),
                        None => a.local.clone(),
                    },
                });
            }
        }
    }
    Ok(())
}

/// Text of a leaf element (no attributes, no child elements), at most `max` characters: the
/// strict reader's one rule.
pub(super) use crate::doc::envelope::read::text as leaf;
