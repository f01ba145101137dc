//! Who holds a listener's connections: how many each source has open, and which are still
//! *pending* — in their TLS handshake or before their first request head, the state a slowloris
//! lives in. A source (an IPv4 address, or an IPv6 /64, which one host can fill with addresses)
//! may hold `max_connections_per_ip` connections, of which `max_pending_per_ip` pending; beyond
//! either, its new connection is closed at once. When the whole listener is full, the oldest
//! pending connection is evicted to seat a newcomer: an honest client is pending for the few
//! milliseconds of a handshake, so the connections evicted are the ones held open on purpose.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// The unit connection limits count by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Source {
    /// One IPv4 address.
    V4([u8; 4]),
    /// One IPv6 /64 prefix (an IPv4-mapped IPv6 address counts as its IPv4 address).
    V6Prefix([u8; 8]),
}

impl Source {
    pub(super) fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Source::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    let mut p = [0u8; 8];
                    p.copy_from_slice(o.get(..8).unwrap_or(&[0; 8]));
                    Source::V6Prefix(p)
                }
            },
        }
    }
}

/// Why a new connection was closed before any TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum Refused {
    /// The source already holds `max_connections_per_ip` connections.
    #[error("too many connections from this source")]
    TooManyOpen,
    /// The source already holds `max_pending_per_ip` connections in handshake or headers.
    #[error("too many connections from this source still in their handshake or headers")]
    TooManyPending,
}

#[derive(Default)]
struct Counts {
    open: usize,
    pending: usize,
}

#[derive(Default)]
struct Inner {
    sources: HashMap<Source, Counts>,
    /// Pending connections, oldest first (ids grow), with the signal that evicts each.
    pending: BTreeMap<u64, (Source, Arc<Notify>)>,
    next_id: u64,
}

/// The listener's book of connections; cheap to clone, shared by the accept loop and the
/// connection tasks.
#[derive(Clone, Default)]
pub(super) struct Book(Arc<Mutex<Inner>>);

/// One connection's place in the book; gives its counts back on drop.
pub(super) struct Seat {
    book: Book,
    source: Source,
    id: u64,
    /// Set at the first request head (read on every request: an atomic, not the book's lock).
    headed: AtomicBool,
    /// Notified when the connection is evicted while pending.
    pub(super) evicted: Arc<Notify>,
}

impl Book {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Seats a new connection from `ip` as pending, or says why not.
    pub(super) fn admit(
        &self,
        ip: IpAddr,
        max_open: usize,
        max_pending: usize,
    ) -> Result<Seat, Refused> {
        let source = Source::of(ip);
        let mut inner = self.lock();
        let counts = inner.sources.entry(source).or_default();
        if counts.open >= max_open {
            return Err(Refused::TooManyOpen);
        }
        if counts.pending >= max_pending {
            return Err(Refused::TooManyPending);
        }
        counts.open += 1;
        counts.pending += 1;
        let id = inner.next_id;
        inner.next_id += 1;
        let evicted = Arc::new(Notify::new());
        inner.pending.insert(id, (source, evicted.clone()));
        Ok(Seat {
            book: self.clone(),
            source,
            id,
            headed: AtomicBool::new(false),
            evicted,
        })
    }

    /// Evicts the oldest pending connection (its task sees [`Seat::evicted`]); false if none.
    pub(super) fn evict_oldest_pending(&self) -> bool {
        let mut inner = self.lock();
        let Some((_, (source, signal))) = inner.pending.pop_first() else {
            return false;
        };
        if let Some(c) = inner.sources.get_mut(&source) {
            c.pending = c.pending.saturating_sub(1);
        }
        signal.notify_one();
        true
    }

    /// Connections open and pending from the source of `ip` (for tests and logs).
    #[cfg(test)]
    fn counts(&self, ip: IpAddr) -> (usize, usize) {
        self.lock()
            .sources
            .get(&Source::of(ip))
            .map_or((0, 0), |c| (c.open, c.pending))
    }
}

impl Seat {
    /// The connection has sent its first request head: it no longer counts as pending, and
    /// can no longer be evicted.
    pub(super) fn headed(&self) {
        if self.headed.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut inner = self.book.lock();
        if let Some((source, _)) = inner.pending.remove(&self.id) {
            if let Some(c) = inner.sources.get_mut(&source) {
                c.pending = c.pending.saturating_sub(1);
            }
        }
    }
}

impl Seat {
    /// Whether the connection has sent a request head.
    pub(super) fn is_headed(&self) -> bool {
        self.headed.load(Ordering::Acquire)
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.headed();
        let mut inner = self.book.lock();
        if let Some(c) = inner.sources.get_mut(&self.source) {
            c.open = c.open.saturating_sub(1);
            if c.open == 0 {
                inner.sources.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn a_source_is_limited_in_open_and_in_pending_connections() {
        let book = Book::default();
        let a = ip("10.0.0.1");
        let first: Vec<Seat> = (0..3).filter_map(|_| book.admit(a, 5, 3).ok()).collect();
        assert_eq!(first.len(), 3);
        assert_eq!(book.admit(a, 5, 3).err(), Some(Refused::TooManyPending));
        // Another source is not affected.
        assert!(book.admit(ip("10.0.0.2"), 5, 3).is_ok());
        for s in &first {
            s.headed();
        }
        assert_eq!(book.counts(a), (3, 0));
        let more: Vec<Seat> = (0..2).filter_map(|_| book.admit(a, 5, 3).ok()).collect();
        assert_eq!(more.len(), 2);
        assert_eq!(book.admit(a, 5, 3).err(), Some(Refused::TooManyOpen));
        drop(first);
        drop(more);
        assert_eq!(book.counts(a), (0, 0));
    }

    #[test]
    fn one_ipv6_slash_64_is_one_source_and_mapped_ipv4_is_its_address() {
        assert_eq!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:10.0.0.1")),
            Source::of(ip("10.0.0.1"))
        );
    }

    #[test]
    fn eviction_takes_the_oldest_pending_connection_only() {
        let book = Book::default();
        let old = book.admit(ip("10.0.0.1"), 5, 5).ok();
        let headed = book.admit(ip("10.0.0.2"), 5, 5).ok();
        let young = book.admit(ip("10.0.0.3"), 5, 5).ok();
        if let Some(h) = &headed {
            h.headed();
        }
        assert!(book.evict_oldest_pending());
        assert_eq!(book.counts(ip("10.0.0.1")), (1, 0));
        assert_eq!(book.counts(ip("10.0.0.3")), (1, 1));
        assert!(book.evict_oldest_pending());
        assert!(
            !book.evict_oldest_pending(),
            "the headed connection is never evicted"
        );
        drop((old, headed, young));
        assert_eq!(book.counts(ip("10.0.0.1")), (0, 0));
    }
}
