//! Long polls across nodes: a thread per store that `LISTEN`s on the arrivals channel (every
//! accept that fills an inbox notifies it at commit) and tells this process. It reconnects on
//! its own after the database was away, and then tells this process once more (what arrived
//! meanwhile was not notified to it). It ends when the store is dropped.

use std::sync::{Arc, Weak};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use super::{ARRIVALS, Inner};

/// How often the thread looks whether its store is still there.
const TICK: Duration = Duration::from_secs(1);

/// Starts the listening thread (logged, not fatal, if it cannot start).
pub(super) fn watch(store: Weak<Inner>, arrived: Arc<dyn Fn() + Send + Sync>) {
    let spawned = std::thread::Builder::new()
        .name("pg-arrivals".into())
        .spawn(move || listen(&store, arrived.as_ref()));
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the arrivals listener; long polls see other nodes' documents only when they end");
    }
}

fn listen(store: &Weak<Inner>, arrived: &(dyn Fn() + Send + Sync)) {
    let mut first = true;
    while let Some(inner) = store.upgrade() {
        let target = inner.pool.target().clone();
        drop(inner);
        let client = target.connect().and_then(|mut c| {
            c.batch_execute(&format!("LISTEN {ARRIVALS}"))
                .map_err(super::pg("listen for arrivals"))?;
            Ok(c)
        });
        let mut client = match client {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "arrivals listener: database unreachable; retrying");
                std::thread::sleep(TICK);
                continue;
            }
        };
        if !first {
            arrived();
        }
        first = false;
        while store.strong_count() > 0 {
            let next = {
                let mut notes = client.notifications();
                let mut iter = notes.timeout_iter(TICK);
                iter.next().map(|n| n.is_some())
            };
            match next {
                Ok(true) => arrived(),
                Ok(false) if client.is_closed() => break,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "arrivals listener: connection lost; reconnecting");
                    break;
                }
            }
        }
    }
}
