//! How far the feed has read the timeline, and the places it found empty.
//!
//! A change takes its place (`seq`) when it is written and becomes visible
//! when it commits; on PostgreSQL two writers commit in either order, so a
//! reader may see place 8 while 7 is still empty. The cursor keeps such a
//! place and asks for it again until it is filled or could no longer be.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::store::{ChangeRef, RECENT_OVERLAP, RECENT_OVERLAP_PLACES};

/// Empty places kept at most, as far back as any reader looks: a jump past
/// more (a bulk import that rolled back) keeps the newest.
const MAX_PENDING: usize = RECENT_OVERLAP_PLACES as usize;

#[derive(Debug)]
pub(super) struct Cursor {
    last: i64,
    /// Empty places before `last`, with when each was first seen empty.
    pending: BTreeMap<i64, Instant>,
}

impl Cursor {
    /// At the newest change now: what came before is not news.
    pub(super) fn at(last: i64) -> Self {
        Self {
            last,
            pending: BTreeMap::new(),
        }
    }

    pub(super) fn last(&self) -> i64 {
        self.last
    }

    pub(super) fn pending(&self) -> Vec<i64> {
        self.pending.keys().copied().collect()
    }

    /// Takes in what the timeline held after this cursor (oldest first, as
    /// `ChangeLog::changes_since` returns it) and returns what is new.
    pub(super) fn advance(&mut self, read: &[ChangeRef], now: Instant) -> Vec<ChangeRef> {
        let mut new = Vec::with_capacity(read.len());
        for change in read {
            if change.seq > self.last {
                let skipped_from = (self.last + 1).max(change.seq - MAX_PENDING as i64);
                for place in skipped_from..change.seq {
                    self.pending.insert(place, now);
                }
                self.last = change.seq;
                new.push(*change);
            } else if self.pending.remove(&change.seq).is_some() {
                new.push(*change);
            }
        }
        // Older than any transaction may stay open: rolled back.
        self.pending
            .retain(|_, since| now.duration_since(*since) < RECENT_OVERLAP);
        while self.pending.len() > MAX_PENDING {
            self.pending.pop_first();
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use uuid::Uuid;

    use super::*;

    fn change(seq: i64) -> ChangeRef {
        ChangeRef {
            seq,
            session_id: Uuid::from_u128(seq as u128),
        }
    }

    fn seqs(changes: &[ChangeRef]) -> Vec<i64> {
        changes.iter().map(|c| c.seq).collect()
    }

    #[test]
    fn a_change_that_commits_after_a_later_one_is_new_once() {
        let now = Instant::now();
        let mut cursor = Cursor::at(5);
        assert_eq!(seqs(&cursor.advance(&[change(6), change(8)], now)), [6, 8]);
        assert_eq!(cursor.last(), 8);
        assert_eq!(cursor.pending(), [7], "place 7 is asked for again");

        let later = now + Duration::from_millis(5);
        assert_eq!(
            seqs(&cursor.advance(&[change(7), change(9)], later)),
            [7, 9]
        );
        assert!(cursor.pending().is_empty());
        assert!(
            cursor.advance(&[change(7)], later).is_empty(),
            "a change already published is not published again"
        );
    }

    #[test]
    fn an_empty_place_is_forgotten_once_no_transaction_could_fill_it() {
        let now = Instant::now();
        let mut cursor = Cursor::at(0);
        cursor.advance(&[change(3)], now);
        assert_eq!(cursor.pending(), [1, 2]);
        cursor.advance(&[], now + RECENT_OVERLAP - Duration::from_millis(1));
        assert_eq!(cursor.pending(), [1, 2]);
        cursor.advance(&[], now + RECENT_OVERLAP);
        assert!(cursor.pending().is_empty());
    }

    #[test]
    fn a_long_jump_keeps_only_the_newest_empty_places() {
        let mut cursor = Cursor::at(0);
        cursor.advance(&[change(5_000)], Instant::now());
        let pending = cursor.pending();
        assert_eq!(pending.len(), MAX_PENDING);
        assert_eq!(pending.first(), Some(&(5_000 - MAX_PENDING as i64)));
        assert_eq!(pending.last(), Some(&4_999));
    }
}
