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
        recorded in proptest::option::of(level()),
    ) {
        let c = catalog();
        let procs = [Some("VB-01"), Some("VB-02"), Some("TCCB-05"), Some("NOPE-01")];
        let f = facts(doc_level, procs[proc_idx], public).with_recorded(recorded);
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
            // Rule 5: never allowed with a label other than the recorded one.
            prop_assert!(recorded.is_none() || recorded == doc_level);
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
        } else if proc_idx < 3 && recorded.is_some() && doc_level.is_some() && recorded != doc_level {
            // Rule 1 (an unknown procedure) decides first; then rule 5.
            prop_assert_eq!(d.rule(), Rule::LabelChanged);
        }
    }
}

#[test]
fn rule5_a_label_other_than_the_recorded_one_is_refused() {
    let c = catalog();
    let way = Way::ReceiveFrom {
        peer: "P",
        clearance: Level::Mat,
    };
    let f = facts(Some(Level::Thuong), Some("VB-01"), false);
    assert!(decide(&f.clone().with_recorded(Some(Level::Thuong)), &c, way).allowed());
    let d = decide(&f.with_recorded(Some(Level::Mat)), &c, way);
    assert!(!d.allowed());
    assert_eq!(d.rule(), Rule::LabelChanged);
    // The refusal names the levels, never more.
    assert!(d.reason().contains("thuong") && d.reason().contains("mat"));
}

proptest! {
    /// Filing: a public index entry exists exactly when publication (rule 6) allows it and the
    /// document is for this gateway's organ; and the label filed at acceptance gives every later
    /// path the decision the signed label gives.
    #[test]
    fn published_only_what_rule_6_allows(
        doc_level in level(),
        proc_idx in 0usize..3,
        public in any::<bool>(),
        for_us in any::<bool>(),
    ) {
        let c = catalog();
        let procs = ["VB-01", "VB-02", "TCCB-05"];
        let xml = sample(doc_level, procs[proc_idx], public);
        let (_, env) = crate::doc::envelope::parse_envelope(
            xml.as_bytes(),
            &crate::doc::envelope::EnvelopeLimits::default(),
        ).unwrap();
        let id = crate::store::MessageId::from_bytes([7; 16]);
        let p = crate::gateway::filing::prepare(&c, &env, id, 0, for_us);
        let allowed = decide(&facts(Some(doc_level), Some(procs[proc_idx]), public), &c, Way::Publication).allowed();
        prop_assert_eq!(p.publication.allowed(), allowed);
        prop_assert_eq!(p.filed.public.is_some(), allowed && for_us);
        if allowed {
            prop_assert_eq!(doc_level, Level::Thuong);
            prop_assert!(public && procs[proc_idx] == "VB-01");
        }
        // Every later path (relay worker, inbox, status relay, report) decides on the filed
        // label: the same decision, on every way and clearance, as on the signed label.
        let filing = p.filed.filing.as_ref().unwrap();
        for clearance in Level::ALL {
            for mtls in [true, false] {
                for way in [
                    Way::Submission { client: clearance },
                    Way::RelayTo { peer: "P", clearance, mtls },
                    Way::ReceiveFrom { peer: "P", clearance },
                    Way::InboxRead { client: clearance },
                    Way::StatusRelay { clearance },
                    Way::Publication,
                ] {
                    prop_assert_eq!(
                        decide(&crate::gateway::filing::facts(filing), &c, way),
                        decide(&Facts::of(env.label()), &c, way)
                    );
                }
            }
        }
    }
}

/// An envelope from the district to the province with the given label.
fn sample(level: Level, procedure: &str, public: bool) -> String {
    let (from, level) = ("HU.CHAUTHANH", level.token());
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<edXMLEnvelope xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016" xmlns:lt="urn:lienthong:label:1">
  <edXMLHeader>
    <MessageHeader>
      <From><OrganId>{from}</OrganId><OrganName>Văn phòng Huyện ủy Châu Thành</OrganName></From>
      <To><OrganId>TU.BENTRE</OrganId><OrganName>Văn phòng Tỉnh ủy Bến Tre</OrganName></To>
      <Code><CodeNumber>07</CodeNumber><CodeNotation>NQ/ĐUK</CodeNotation></Code>
      <PromulgationInfo><Place>Châu Thành</Place><PromulgationDate>2026/11/20</PromulgationDate></PromulgationInfo>
      <DocumentType><Type>1</Type><TypeName>Nghị quyết</TypeName></DocumentType>
      <Subject>Nghị quyết về công tác chuyển đổi số năm 2027 &amp; các nhiệm vụ &lt;trọng tâm&gt;</Subject>
      <Content>Toàn văn nghị quyết…</Content>
      <SignerInfo><Competence>TM. BAN THƯỜNG VỤ</Competence><Position>Bí thư</Position><FullName>Nguyễn Văn An</FullName></SignerInfo>
      <ToPlaces><Place>Văn phòng Tỉnh ủy Bến Tre</Place></ToPlaces>
      <OtherInfo><Priority>0</Priority></OtherInfo>
      <DocumentId>{from},2026/11/20,07/NQ/ĐUK</DocumentId>
      <BussinessDocType>0</BussinessDocType>
    </MessageHeader>
    <TraceHeaderList/>
    <lt:Classification><lt:Level>{level}</lt:Level><lt:Procedure>{procedure}</lt:Procedure><lt:Public>{public}</lt:Public></lt:Classification>
  </edXMLHeader>
  <edXMLBody>
    <edXMLManifest><Reference><ContentId>a1</ContentId><FileName>to-trinh.txt</FileName><ContentType>text/plain</ContentType><Digest>6EtZuGOpjkPr2J+1npsn/mS9iaCW9O7Q/NE+ZQAEvGE=</Digest><Size>35</Size></Reference></edXMLManifest>
    <Attachment ContentId="a1">VOG7nSB0csOsbmggduG7gSB2aeG7h2MgcXV5IGhv4bqhY2g=</Attachment>
  </edXMLBody>
</edXMLEnvelope>
"#
    )
}
