//! The field form (edXML as the platform's SDKs write it): bytes → `doc::parse` →
//! `doc::envelope::field::parse_any` (the profile the document is written in).
//!
//! Properties (doc/envelope/field/, docs/EDXML.md):
//! - a field-form document that reads is carried in lienthong's profile (`to_envelope`) either
//!   with a named refusal or as an envelope the strict reader accepts, and that envelope's field
//!   form is the original bytes, exactly;
//! - a document in lienthong's profile (without extensions) has a field form
//!   (`to_field_bytes`) that the field reader accepts, with the same sender, recipients, code,
//!   subject and label.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienthong::doc::envelope::field::{
    FieldMessage, Written, parse_any, to_envelope, to_field_bytes,
};
use lienthong::doc::envelope::{EnvelopeLimits, parse_envelope};
use lienthong::doc::label::{Label, Level};

fuzz_target!(|data: &[u8]| {
    let limits = EnvelopeLimits::default();
    let Ok((_doc, written)) = parse_any(data, &limits) else {
        return;
    };
    match written {
        Written::Field(d) => {
            let label = Label {
                level: Level::Thuong,
                procedure: "VB-01".parse().unwrap(),
                public: false,
            };
            let Ok(env) = to_envelope(&d, data, label) else {
                return;
            };
            let bytes = env.to_bytes();
            let (_, again) = match parse_envelope(&bytes, &limits) {
                Ok(x) => x,
                Err(e) => panic!("a carried field document is refused by the strict reader: {e}"),
            };
            let back = to_field_bytes(&again).expect("a carried document has a field form");
            assert!(back == data, "the original bytes did not come back");
        }
        Written::Lienthong(env) => {
            let Ok(field) = to_field_bytes(&env) else {
                assert!(env.body.sealed.is_some(), "only a sealed envelope has no field form");
                return;
            };
            // A carried SDK document comes back as its original; an envelope with extensions
            // keeps them where they stood, which the field form does not promise to read
            // (schemas/edxml-field.xsd).
            let h = &env.header;
            let extended = !env.header_ext.is_empty()
                || !h.ext.is_empty()
                || !h.from.ext.is_empty()
                || h.to.iter().any(|t| !t.ext.is_empty())
                || !h.other.ext.is_empty()
                || !env.body.ext.is_empty();
            let carried = env
                .body
                .attachments
                .iter()
                .any(|a| a.content_id == lienthong::doc::envelope::field::ORIGINAL_CONTENT_ID);
            if extended || carried {
                return;
            }
            let (_, read) = match parse_any(&field, &limits) {
                Ok(x) => x,
                Err(e) => panic!("lienthong's field form is refused by its field reader: {e}"),
            };
            let Written::Field(d) = read else {
                panic!("the field form was read as lienthong's profile");
            };
            let FieldMessage::Document(h) = &d.message else {
                panic!("the field form of a document reads as a status");
            };
            assert!(h.from.id == env.header.from.organ_id);
            assert!(h.to.iter().map(|t| &t.id).eq(env.recipients()));
            assert!(h.code_number == env.header.code.number);
            assert!(h.code_notation == env.header.code.notation);
            assert!(h.subject == env.header.subject);
            assert!(d.label.as_ref() == Some(env.label()));
        }
    }
});
