//! A value replaced whole while readers keep the one they took: the trust store and the TLS
//! server configurations, swapped on a CRL reload (SIGHUP). A panic in another thread never
//! makes it unreadable (the lock's poison is ignored: the value is always a whole one, since it
//! is only ever replaced, never edited in place).

use std::sync::{Arc, RwLock};

/// The current `Arc<T>`; [`Swap::get`] clones it, [`Swap::set`] replaces it.
#[derive(Debug)]
pub struct Swap<T>(RwLock<Arc<T>>);

impl<T> Swap<T> {
    /// Holds `value` first.
    pub fn new(value: Arc<T>) -> Self {
        Self(RwLock::new(value))
    }

    /// The value now (later swaps do not change the one returned).
    pub fn get(&self) -> Arc<T> {
        match self.0.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Replaces the value: the next [`Swap::get`] returns `value`.
    pub fn set(&self, value: Arc<T>) {
        match self.0.write() {
            Ok(mut g) => *g = value,
            Err(p) => *p.into_inner() = value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_what_they_took_and_a_poisoned_lock_still_works() {
        let s = Arc::new(Swap::new(Arc::new(1)));
        let old = s.get();
        s.set(Arc::new(2));
        assert_eq!((*old, *s.get()), (1, 2));
        let t = Arc::clone(&s);
        let _ = std::thread::spawn(move || {
            let _g = t.0.write();
            panic!("poison the lock");
        })
        .join();
        assert!(s.0.is_poisoned());
        s.set(Arc::new(3));
        assert_eq!(*s.get(), 3);
    }
}
