use proptest::prelude::*;

use super::*;

const CATALOG: &str = r#"
[fields]
VB = "Văn bản"
TCCB = "Tổ chức cán bộ"
[[procedure]]
code = "VB-01"
name = "Tiếp nhận văn bản đến"
field = "VB"
level = "thuong"
public = true
deadline_days = 1
[[procedure]]
code = "VB-02"
name = "Ban hành văn bản nội bộ"
field = "VB"
level = "thuong"
public = false
deadline_days = 3
[[procedure]]
code = "TCCB-05"
name = "Quy hoạch cán bộ"
field = "TCCB"
level = "mat"
public = false
deadline_days = 15
"#;

fn catalog() -> Catalog {
    Catalog::parse(CATALOG, "test").unwrap()
}

fn facts(level: Option<Level>, procedure: Option<&str>, public: bool) -> Facts<'_> {
    Facts {
        level,
        procedure,
        public,
        recorded: None,
    }
}

#[test]
fn rule1_unlabelled_and_unknown_procedure_are_refused() {
    let c = catalog();
    let way = Way::Submission { client: Level::Mat };
    assert_eq!(
        decide(&facts(None, Some("VB-01"), false), &c, way).rule(),
        Rule::Unlabelled
    );
    assert_eq!(
        decide(&facts(Some(Level::Thuong), None, false), &c, way).rule(),
        Rule::Unlabelled
    );
    let d = decide(&facts(Some(Level::Thuong), Some("XX-99"), false), &c, way);
    assert!(!d.allowed());
    assert_eq!(d.rule(), Rule::UnknownProcedure);
}

#[test]
fn rule2_effective_level_takes_the_procedure() {
    let c = catalog();
    let d = decide(
        &facts(Some(Level::Thuong), Some("TCCB-05"), false),
        &c,
        Way::RelayTo {
            peer: "P",
            clearance: Level::Thuong,
            mtls: true,
        },
    );
    assert!(!d.allowed());
    assert_eq!(d.effective(), Some(Level::Mat));
    assert_eq!(d.rule(), Rule::AboveClearance);
}

#[test]
fn rule3_toi_mat_and_tuyet_mat_never_travel() {
    let c = catalog();
    for level in [Level::ToiMat, Level::TuyetMat] {
        for way in [
            Way::Submission {
                client: Level::TuyetMat,
            },
            Way::ReceiveFrom {
                peer: "P",
                clearance: Level::TuyetMat,
            },
        ] {
            let d = decide(&facts(Some(level), Some("VB-01"), false), &c, way);
            assert_eq!(d.rule(), Rule::CryptoChannelOnly);
            assert!(!d.allowed());
        }
    }
}

#[test]
fn rule4_mat_needs_clearance_and_mtls() {
    let c = catalog();
    let f = facts(Some(Level::Mat), Some("VB-01"), false);
    assert!(
        decide(
            &f,
            &c,
            Way::RelayTo {
                peer: "P",
                clearance: Level::Mat,
                mtls: true
            }
        )
        .allowed()
    );
    assert_eq!(
        decide(
            &f,
            &c,
            Way::RelayTo {
                peer: "P",
                clearance: Level::Mat,
                mtls: false
            }
        )
        .rule(),
        Rule::MatNeedsMtls
    );
    assert_eq!(
        decide(
            &f,
            &c,
            Way::InboxRead {
                client: Level::Thuong
            }
        )
        .rule(),
        Rule::AboveClearance
    );
}

#[test]
fn rule5_publication_needs_all_three() {
    let c = catalog();
    assert!(
        decide(
            &facts(Some(Level::Thuong), Some("VB-01"), true),
            &c,
            Way::Publication
        )
        .allowed()
    );
    for f in [
        facts(Some(Level::Thuong), Some("VB-01"), false),
        facts(Some(Level::Thuong), Some("VB-02"), true),
        facts(Some(Level::Mat), Some("VB-01"), true),
        facts(Some(Level::Thuong), Some("TCCB-05"), true),
    ] {
        let d = decide(&f, &c, Way::Publication);
        assert!(!d.allowed(), "{f:?}");
    }
}

#[test]
fn catalog_refuses_public_secret_procedure() {
    let bad = CATALOG.replace(
        "level = \"mat\"\npublic = false",
        "level = \"mat\"\npublic = true",
    );
    assert!(matches!(
        Catalog::parse(&bad, "t").unwrap_err(),
        CatalogError::Invalid { .. }
    ));
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![
        Just(Level::Thuong),
        Just(Level::Mat),
        Just(Level::ToiMat),
        Just(Level::TuyetMat)
    ]
}

proptest! {
    /// Nothing above a way's clearance ever leaves by it, whatever the label, procedure,
    /// public flag or way.
    #[test]
    fn nothing_leaves_above_clearance(
        doc_level in proptest::option::of(level()),
        proc_idx in 0usize..4,
        public in any::<bool>(),
        clearance in level(),
        mtls in any::<bool>(),
        way_idx in 0usize..6,
    ) {
        let c = catalog();
        let procs = [Some("VB-01"), Some("VB-02"), Some("TCCB-05"), Some("NOPE-01")];
        let f = facts(doc_level, procs[proc_idx], public);
        let way = match way_idx {
            0 => Way::Submission { client: clearance },
            1 => Way::RelayTo { peer: "P", clearance, mtls },
            2 => Way::ReceiveFrom { peer: "P", clearance },
            3 => Way::InboxRead { client: clearance },
            4 => Way::StatusRelay { clearance },
            _ => Way::Publication,
        };
        let d = decide(&f, &c, way);
        if d.allowed() {
            let effective = d.effective().unwrap();
            let proc_level = c.get(procs[proc_idx].unwrap()).unwrap().level;
            prop_assert_eq!(effective, doc_level.unwrap().max(proc_level));
            prop_assert!(effective <= Level::Mat);
            match way {
                Way::Publication => {
                    prop_assert_eq!(effective, Level::Thuong);
                    prop_assert!(public);
                    prop_assert!(c.get(procs[proc_idx].unwrap()).unwrap().public);
                }
                Way::RelayTo { .. } => {
                    prop_assert!(effective <= clearance);
                    prop_assert!(mtls || effective == Level::Thuong);
                }
                _ => prop_assert!(effective <= clearance),
            }
        }
    }
}
