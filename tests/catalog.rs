#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]
//! The shipped procedure catalog, `config/procedures.toml`: Bến Tre's 69 procedures in five
//! fields, secret procedures never public.

use std::collections::BTreeMap;
use std::path::Path;

use lienthong::doc::label::Level;
use lienthong::policy::Catalog;

fn catalog() -> Catalog {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/procedures.toml");
    Catalog::load(&path).unwrap()
}

#[test]
fn has_the_69_procedures_of_the_five_fields() {
    let c = catalog();
    assert_eq!(c.len(), 69);
    let mut per_field: BTreeMap<&str, usize> = BTreeMap::new();
    for p in c.all() {
        *per_field.entry(p.field.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> =
        [("VB", 15), ("TC", 5), ("CY", 8), ("TCCB", 22), ("KT", 19)]
            .into_iter()
            .collect();
    assert_eq!(per_field, expected);
}

#[test]
fn codes_are_numbered_without_gaps() {
    let c = catalog();
    for (field, n) in [("VB", 15), ("TC", 5), ("CY", 8), ("TCCB", 22), ("KT", 19)] {
        for i in 1..=n {
            let code = format!("{field}-{i:02}");
            assert!(c.get(&code).is_some(), "{code} missing");
        }
    }
}

#[test]
fn every_field_is_named() {
    let c = catalog();
    for p in c.all() {
        let name = c.field_name(&p.field);
        assert!(
            name.is_some_and(|n| !n.trim().is_empty()),
            "field {} of {} has no name",
            p.field,
            p.code
        );
    }
    assert_eq!(c.field_name("CY"), Some("Cơ yếu – Công nghệ thông tin"));
}

#[test]
fn secret_procedures_exist_and_are_never_public() {
    let c = catalog();
    let secret: Vec<_> = c.all().filter(|p| p.level != Level::Thuong).collect();
    assert!(secret.len() >= 8, "only {} secret procedures", secret.len());
    for p in &secret {
        assert!(!p.public, "{} is {:?} and public", p.code, p.level);
    }
    // Most unclassified procedures are published (the portal lists all but the secret ones).
    let public = c.all().filter(|p| p.public).count();
    assert!(public > c.len() / 2, "only {public} public procedures");
}

#[test]
fn procedures_used_by_the_examples_have_their_levels() {
    let c = catalog();
    let vb01 = c.get("VB-01").unwrap();
    assert_eq!(vb01.level, Level::Thuong);
    assert!(vb01.public);
    assert_eq!(vb01.name, "Tiếp nhận, xử lý văn bản đến");
    let vb03 = c.get("VB-03").unwrap();
    assert_eq!(vb03.level, Level::Thuong);
    let tccb05 = c.get("TCCB-05").unwrap();
    assert_eq!(tccb05.level, Level::Mat);
    assert!(!tccb05.public);
}

#[test]
fn every_procedure_has_a_deadline_and_well_named_forms() {
    let c = catalog();
    let mut forms = 0;
    for p in c.all() {
        assert!(p.deadline_days >= 1, "{} has no deadline", p.code);
        for f in &p.forms {
            assert!(
                f.starts_with(&format!("Mẫu {}/", p.code)),
                "{}: form {f} is not named after its procedure",
                p.code
            );
            forms += 1;
        }
    }
    // The Bến Tre set ships 73 forms with its 69 procedures.
    assert_eq!(forms, 73);
}
