//! Crash safety under load: `kill -9` the sending and the receiving gateway, several times,
//! while an office keeps submitting. Every document that got a 202 is in the recipient's inbox
//! exactly once afterwards; nothing else is.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::gateways::{Demo, eventually};

#[test]
fn kill9_loses_and_duplicates_nothing_acknowledged() {
    let mut demo = Demo::new();
    demo.start("district");
    demo.start("province");
    let xml = Arc::new(demo.envelope(&["TU.BENTRE"], "thuong", "VB-01", 0, "Tải liên tục"));
    // A document refused at the door (tối mật), interleaved: it must never arrive.
    let refused = Arc::new(demo.envelope(&["TU.BENTRE"], "toi-mat", "VB-01", 0, "Bị từ chối"));
    let refused_doc_id = document_id(&refused);
    let office = demo.client("district", "submit");
    let accepted: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    // Requests cut by a kill: their outcome is unknown to the office (durable or not).
    let in_doubt = Arc::new(AtomicUsize::new(0));

    // Two submitters keep the district busy; only 202s count as acknowledged.
    let mut threads = Vec::new();
    for _ in 0..2 {
        let (office, xml, accepted, stop, refused, in_doubt) = (
            office.clone(),
            xml.clone(),
            accepted.clone(),
            stop.clone(),
            refused.clone(),
            in_doubt.clone(),
        );
        threads.push(std::thread::spawn(move || {
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < 150 {
                sent += 1;
                if sent % 5 == 0 {
                    if let Ok(r) = office.post("/api/v1/documents", "application/xml", &refused) {
                        assert_eq!(r.status, 422, "{}", r.text());
                    }
                }
                match office.post("/api/v1/documents", "application/xml", &xml) {
                    Ok(r) if r.status == 202 => {
                        let id = r.json()["message_id"].as_str().unwrap().to_owned();
                        accepted.lock().unwrap().push(id);
                    }
                    Ok(r) => assert!(r.status >= 500, "unexpected {}: {}", r.status, r.text()),
                    Err(_) => {
                        in_doubt.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            }
        }));
    }

    for round in 0..3 {
        std::thread::sleep(Duration::from_millis(1200));
        let victim = if round % 2 == 0 {
            "district"
        } else {
            "province"
        };
        demo.kill9(victim);
        std::thread::sleep(Duration::from_millis(300));
        demo.start(victim);
    }
    std::thread::sleep(Duration::from_millis(800));
    demo.kill9("province");
    demo.start("province");
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    assert!(accepted.len() >= 10, "too few accepted: {}", accepted.len());

    // Everything acknowledged arrives, exactly once.
    let rcv = demo.client("province", "receive");
    let counts = eventually("every accepted document in the inbox", 120, || {
        let r = rcv.get("/api/v1/inbox?limit=500").unwrap();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for d in r.json()["documents"].as_array().unwrap() {
            assert_ne!(
                d["document_id"].as_str().unwrap(),
                refused_doc_id,
                "a refused document arrived"
            );
            *counts
                .entry(d["message_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        accepted
            .iter()
            .all(|id| counts.contains_key(id))
            .then_some(counts)
    });
    eprintln!(
        "accepted {}, in doubt {}, delivered {}",
        accepted.len(),
        in_doubt.load(Ordering::Relaxed),
        counts.len()
    );
    for (id, n) in &counts {
        assert_eq!(*n, 1, "{id} listed {n} times");
    }
    // Anything else delivered can only be a request cut by a kill after its durable write
    // (the office saw a transport error, never a refusal).
    let extra: Vec<_> = counts.keys().filter(|id| !accepted.contains(id)).collect();
    assert!(
        extra.len() <= in_doubt.load(Ordering::Relaxed),
        "documents delivered that were never acknowledged nor in doubt: {extra:?}"
    );
}

fn document_id(xml: &[u8]) -> String {
    let (_, env) = lienthong::doc::envelope::parse_envelope(
        xml,
        &lienthong::doc::envelope::EnvelopeLimits::default(),
    )
    .unwrap();
    env.document_id().to_owned()
}
