//! Exclusive c14n over any parsed document, and its idempotence.
//!
//! Properties (doc/c14n.rs, W3C xml-exc-c14n): the canonical form of a parsed document parses,
//! and canonicalising that again gives the same bytes; the writer's output (doc/write.rs) has
//! the same canonical form as the original tree; the same holds for a subtree canonicalised in
//! its context with an InclusiveNamespaces PrefixList, and for the whole document with one
//! element left out (the enveloped-signature transform).
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong::doc::c14n::{Options, canonicalize};
use lienthong::doc::write::write_document;
use lienthong::doc::{Element, Limits, Node, parse};

/// Limits for re-parsing canonical output: c14n can legitimately make an attribute longer
/// (`\t` → `&#x9;`) and add namespace declarations where they are visibly used, so only the
/// structural limits stay as they were.
fn reparse_limits() -> Limits {
    let d = Limits::default();
    Limits {
        max_bytes: d.max_bytes.saturating_mul(8),
        max_attrs: d.max_attrs.saturating_mul(8),
        max_attr_value_len: d.max_attr_value_len.saturating_mul(8),
        ..d
    }
}

/// Parses `canonical` and canonicalises it again with the same PrefixList: the bytes must not
/// change (the declarations the PrefixList rendered are now on the apex itself).
fn canonical_reparses(what: &str, canonical: &[u8], prefixes: &[String], limits: &Limits) {
    let doc = match parse(canonical, limits) {
        Ok(d) => d,
        Err(e) => panic!("{what}: the canonical form does not parse: {e}"),
    };
    let options = Options {
        inclusive_prefixes: prefixes,
        exclude: None,
    };
    let again = canonicalize(&doc.root, &[], &options);
    assert!(
        again == canonical,
        "{what}: c14n is not idempotent\nfirst:  {:?}\nsecond: {:?}",
        String::from_utf8_lossy(canonical),
        String::from_utf8_lossy(&again)
    );
}

fn first_child_element(e: &Element) -> Option<&Element> {
    e.children.iter().find_map(|n| match n {
        Node::Element(c) => Some(c),
        _ => None,
    })
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(doc) = parse(data, &limits) else {
        return;
    };
    let relaxed = reparse_limits();

    // parse → c14n → parse → c14n.
    let canonical = canonicalize(&doc.root, &[], &Options::default());
    canonical_reparses("document", &canonical, &[], &relaxed);

    // The writer loses nothing c14n sees.
    let written = write_document(&doc);
    match parse(&written, &relaxed) {
        Ok(w) => {
            let c = canonicalize(&w.root, &[], &Options::default());
            assert!(c == canonical, "written document canonicalises differently");
        }
        Err(e) => panic!("the writer's output does not parse: {e}"),
    }

    // A subtree in its context, with every prefix the root declares in the PrefixList (as
    // SignedInfo is canonicalised in verify), and the whole document minus that subtree.
    if let Some(child) = first_child_element(&doc.root) {
        let prefixes: Vec<String> = doc
            .root
            .ns_decls
            .iter()
            .map(|d| d.prefix.clone().unwrap_or_else(|| "#default".to_owned()))
            .collect();
        let sub = canonicalize(
            child,
            &doc.root.ns_decls,
            &Options {
                inclusive_prefixes: &prefixes,
                exclude: None,
            },
        );
        canonical_reparses("subtree", &sub, &prefixes, &relaxed);
        let sub_plain = canonicalize(child, &doc.root.ns_decls, &Options::default());
        canonical_reparses("subtree without PrefixList", &sub_plain, &[], &relaxed);

        let without = canonicalize(
            &doc.root,
            &[],
            &Options {
                inclusive_prefixes: &[],
                exclude: Some(child),
            },
        );
        canonical_reparses("document minus its first element", &without, &[], &relaxed);
    }
});
