//! Due dates and the timeliness report (`GET /api/v1/reports/timeliness`) through real
//! gateways: documents filed under a procedure get its deadline in working days unless the
//! header sets `DueDate`; status 06 before or after the due date counts on time or late, at
//! the recipient's gateway and (once the status came back) at the sender's.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use common::gateways::{Demo, eventually, submit};

fn day(offset_days: i64) -> String {
    let d = (time::OffsetDateTime::now_utc() + time::Duration::days(offset_days)).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The envelope with a `DueDate` in its header.
fn with_due_date(xml: Vec<u8>, due: &str) -> Vec<u8> {
    let text = String::from_utf8(xml).unwrap();
    assert!(text.contains("</SignerInfo>"));
    text.replacen(
        "</SignerInfo>",
        &format!("</SignerInfo><DueDate>{due}</DueDate>"),
        1,
    )
    .into_bytes()
}

fn row<'a>(report: &'a serde_json::Value, procedure: &str, organ: &str) -> &'a serde_json::Value {
    report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["procedure"] == procedure && r["organ"] == organ)
        .unwrap_or_else(|| panic!("no row {procedure}/{organ} in {report}"))
}

#[test]
fn timeliness_counts_on_time_late_and_pending_per_procedure_and_organ() {
    let mut demo = Demo::new();
    demo.start("district");
    demo.start("province");
    let office = demo.client("district", "submit");
    let dms = demo.client("province", "receive");
    let id_of = |r: lienthong::client::Response| -> String {
        assert_eq!(r.status, 202, "{}", r.text());
        r.json()["message_id"].as_str().unwrap().to_owned()
    };
    // VB-01 has a deadline of 1 working day: handled now → on time.
    let on_time = id_of(submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Đúng hạn"),
    ));
    // The header's DueDate (long past) overrides the procedure: handled now → late.
    let late = id_of(submit(
        &office,
        &with_due_date(
            demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Trễ hạn"),
            "2020/01/01",
        ),
    ));
    // Not handled: pending; one of them already overdue by its header.
    let _pending = id_of(submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Đang xử lý"),
    ));
    let _overdue = id_of(submit(
        &office,
        &with_due_date(
            demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Quá hạn"),
            "2020/01/01",
        ),
    ));
    // A mat procedure: counted only for a client cleared for mat.
    let mat = id_of(submit(
        &office,
        &demo.envelope(&["TU.BENTRE"], "thuong", "TCCB-05", 0, "Quy hoạch"),
    ));
    eventually("five documents at the province", 30, || {
        let r = dms.get("/api/v1/inbox?limit=100").unwrap().json();
        (r["documents"].as_array().unwrap().len() == 5).then_some(())
    });
    for id in [&on_time, &late, &mat] {
        let r = dms
            .post(
                &format!("/api/v1/inbox/{id}/status"),
                "application/json",
                r#"{"code":"06","note":"Đã xử lý xong"}"#.as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
    }

    let query = format!("/api/v1/reports/timeliness?from={}&to={}", day(-1), day(1));
    let check = |report: &serde_json::Value| {
        let vb = row(report, "VB-01", "TU.BENTRE");
        assert_eq!(vb["on_time"], 1, "{report}");
        assert_eq!(vb["late"], 1);
        assert_eq!(vb["pending"], 2);
        assert_eq!(vb["overdue"], 1);
        assert_eq!(vb["on_time_percent"], 50.0);
        assert_eq!(vb["procedure_name"], "Tiếp nhận, xử lý văn bản đến");
        let tccb = row(report, "TCCB-05", "TU.BENTRE");
        assert_eq!(tccb["on_time"], 1);
        assert_eq!(report["total"]["on_time"], 2);
        assert_eq!(report["total"]["late"], 1);
        assert!((report["total"]["on_time_percent"].as_f64().unwrap() - 66.666).abs() < 0.01);
        assert_eq!(report["holidays_modelled"], false);
    };
    // At the recipient's gateway.
    let admin = demo.client("province", "admin");
    let r = admin.get(&query).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    check(&r.json());
    // At the sender's, once the 06 statuses came back.
    let district_admin = demo.client("district", "admin");
    let report = eventually("statuses back at the district", 30, || {
        let r = district_admin.get(&query).unwrap().json();
        (r["total"]["on_time"] == 2 && r["total"]["late"] == 1).then_some(r)
    });
    check(&report);

    // A period without those documents: no rows.
    let r = admin
        .get("/api/v1/reports/timeliness?from=2020-01-01&to=2020-01-31")
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.json()["rows"].as_array().unwrap().is_empty());
    // Admin role only; from and to required and in order.
    assert_eq!(dms.get(&query).unwrap().status, 403);
    assert_eq!(
        demo.client("province", "none").get(&query).unwrap().status,
        401
    );
    for bad in [
        "/api/v1/reports/timeliness",
        "/api/v1/reports/timeliness?from=2026-01-01",
        "/api/v1/reports/timeliness?from=hier&to=demain",
        "/api/v1/reports/timeliness?from=2026-02-01&to=2026-01-01",
    ] {
        let r = admin.get(bad).unwrap();
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert_eq!(r.json()["type"], "urn:lienthong:problem:request/bad-period");
    }
}
