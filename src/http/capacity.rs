//! Output buffers sized from what the same kind of response needed before.
//! A history page of 50 cards is about 80 KB and a list of 25 sessions about
//! 30 KB; grown from a small start, the buffer was copied at every doubling
//! (9 % of the history page's CPU went to those copies).

use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The largest output seen so far at one place, up to [`Self::MAX`] (a rare
/// huge response should not make every later one reserve as much).
pub struct LearnedCapacity(AtomicUsize);

impl LearnedCapacity {
    const MAX: usize = 256 * 1024;

    pub const fn new() -> Self {
        LearnedCapacity(AtomicUsize::new(0))
    }

    /// What to reserve: the largest output seen, and at least `floor`.
    pub fn get(&self, floor: usize) -> usize {
        self.0.load(Ordering::Relaxed).max(floor)
    }

    pub fn saw(&self, len: usize) {
        self.0.fetch_max(len.min(Self::MAX), Ordering::Relaxed);
    }

    /// The capacity learned for outputs of type `T` (a page's template), so
    /// a small page does not reserve what the largest page needed. Kept in
    /// a fixed table by the type's name: two types sharing a slot reserve
    /// the larger of their sizes, nothing worse.
    pub fn of<T: ?Sized>() -> &'static LearnedCapacity {
        const SLOTS: usize = 64;
        static TABLE: [LearnedCapacity; SLOTS] = [const { LearnedCapacity::new() }; SLOTS];
        // FNV-1a over the name: a few dozen bytes, no allocation.
        let hash = std::any::type_name::<T>()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        &TABLE[(hash % SLOTS as u64) as usize]
    }
}

/// `value` as a JSON response, as axum's `Json` makes it, written into a
/// buffer of the size `capacity` learned.
pub fn json(value: &impl Serialize, capacity: &LearnedCapacity) -> anyhow::Result<Response> {
    let mut body = Vec::with_capacity(capacity.get(1024));
    serde_json::to_writer(&mut body, value)?;
    capacity.saw(body.len());
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_remembers_the_largest_output_up_to_a_cap() {
        let capacity = LearnedCapacity::new();
        assert_eq!(capacity.get(100), 100);
        capacity.saw(5_000);
        capacity.saw(3_000);
        assert_eq!(capacity.get(100), 5_000);
        capacity.saw(10 * 1024 * 1024);
        assert_eq!(capacity.get(100), LearnedCapacity::MAX);
    }

    #[test]
    fn each_type_learns_its_own_size() {
        struct Small;
        struct Large;
        let (small, large) = (
            LearnedCapacity::of::<Small>(),
            LearnedCapacity::of::<Large>(),
        );
        assert!(std::ptr::eq(large, LearnedCapacity::of::<Large>()));
        let small_before = small.get(100);
        large.saw(200_000);
        assert_eq!(large.get(100), 200_000);
        if !std::ptr::eq(small, large) {
            assert_eq!(small.get(100), small_before);
        }
    }
}
