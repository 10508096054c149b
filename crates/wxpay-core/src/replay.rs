//! Believing a signed answer once: the replay guard.
//!
//! A WeChat Pay signature covers an answer's body (APIv3: with its timestamp and nonce), not
//! which request it answers. A genuine signed answer can therefore be sent again, by anyone
//! in the path, as the answer to another call: an APIv3 answer within its 5-minute window,
//! an APIv2 answer (which carries no time) at any time. The guard remembers every verified
//! answer a client has believed and refuses the same one a second time.
//!
//! It costs one uncontended lock and a lookup in a table of digests per verified answer:
//! next to nothing beside an APIv3 RSA verification (`replay_guard.v3_share` in `cargo xtask
//! bench`, about 1.003), about 15 ns beside an APIv2 answer's 800 ns of parsing and hashing
//! (`replay_guard.v2_share`, 1.018-1.020). Half of that is the lock's atomic operations
//! (measured with the table removed): what sharing the guard between threads costs in safe
//! Rust, whatever the table. A client that has believed hundreds of thousands of answers
//! pays more, its tables having outgrown the processor's caches (about 50 ns an answer once
//! full, where the `HashSet` and arrival queue this replaced took about 60).
//!
//! Memory is bounded: APIv3 answers are forgotten (a table at a time) once outside the
//! verification window (a replay of them fails that check anyway); each API generation
//! remembers at least its latest [`ReplayGuard::CAPACITY`] answers and at most twice as many,
//! the oldest forgotten first. What is remembered is 64 bits that identify the answer: for
//! APIv3 a keyed digest (SipHash with a random per-process key) of its identity, for APIv2
//! the first 64 bits of its `sign`, a MAC under the merchant's key. No forger can engineer a
//! collision, and one that happened by chance would only make a genuine answer "not
//! believed" (its effect unknown), never believe a false one.

use std::fmt;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::Mutex;

use crate::error::VerifyError;

/// The answers a client has believed, per API generation. Keep one for as long as you run
/// and share it by every call to the same merchant: a [`Session`](crate::Session) keeps one
/// for its clients (`Session::replay_guard`). A guard made for each call has seen nothing and
/// refuses no replay; an answer replayed to another guard (another client or process) is not
/// caught by this one.
///
/// Memory: nothing until the first answer, then tables that grow with the answers, at most
/// 8 MiB per API generation (16 MiB for a guard that reads both).
pub struct ReplayGuard {
    keys: RandomState,
    v2: Mutex<Seen>,
    v3: Mutex<Seen>,
}

impl ReplayGuard {
    /// How many of its latest answers each API generation remembers at least (262,144, what
    /// a table of 2^19 slots holds); at most twice as many, in two such tables of 4 MiB. (Two
    /// tables of 2^20 slots cost 80% more time per answer once full, their lookups missing
    /// the processor's caches more often.)
    pub const CAPACITY: usize = 1 << 18;

    /// A guard that has seen nothing.
    #[must_use]
    pub fn new() -> Self {
        ReplayGuard {
            keys: RandomState::new(),
            v2: Mutex::new(Seen::new(Self::CAPACITY)),
            v3: Mutex::new(Seen::new(Self::CAPACITY)),
        }
    }

    /// Records a verified APIv3 answer, identified by its signature's first 32 bytes (RSA
    /// PKCS#1 v1.5 is deterministic: the same signed bytes always carry the same signature,
    /// whichever serial header names the key), its `Wechatpay-Timestamp` and its
    /// `Wechatpay-Nonce`. Never by its `Wechatpay-Serial`, which is not signed and matches in
    /// any letter case. `now` and `window_secs` are those it was verified with: answers are
    /// forgotten, a table at a time, once all of its answers are past their window (earlier
    /// only beyond [`CAPACITY`](Self::CAPACITY) answers within one window, that is above
    /// about 870 answers a second with the 5-minute window).
    ///
    /// # Errors
    /// [`VerifyError::Replayed`] when the same answer was recorded before.
    pub fn first_v3(
        &self,
        signature: &[u8],
        timestamp: u64,
        nonce: &str,
        now: u64,
        window_secs: u64,
    ) -> Result<(), VerifyError> {
        // A verified RSA signature's bytes are as good as random to anyone without WeChat
        // Pay's key: its first 32 identify it (hashing all 256 would only cost time).
        let signature = &signature[..signature.len().min(32)];
        let digest = self.digest(&[signature, &timestamp.to_be_bytes(), nonce.as_bytes()]);
        let forget_after = timestamp.saturating_add(window_secs);
        lock(&self.v3).first(digest, Some((forget_after, timestamp)), now)
    }

    /// Records a verified APIv2 answer, identified by the first 64 bits of its `sign` (a MAC
    /// over the whole answer, nonce included); a `sign` shorter than 32 characters is
    /// identified with its `nonce_str`. APIv2 answers carry no time: they are forgotten only
    /// beyond the capacity, the oldest first.
    ///
    /// # Errors
    /// [`VerifyError::Replayed`] when the same answer was recorded before.
    pub fn first_v2(&self, nonce_str: &str, sign: &str) -> Result<(), VerifyError> {
        // A verified `sign` is a MAC under the merchant's key over the whole answer, nonce
        // included: its first 64 bits already are a keyed digest of the answer, which no
        // outsider can aim. (A shorter one is digested whole, with the nonce.)
        let digest = match sign.as_bytes().first_chunk::<16>() {
            Some(prefix) if sign.len() >= 32 => spread(hex_key(prefix)),
            _ => self.digest(&[nonce_str.as_bytes(), sign.as_bytes()]),
        };
        lock(&self.v2).first(digest, None, 0)
    }

    /// How many answers each generation remembers now: (APIv2, APIv3).
    #[must_use]
    pub fn len(&self) -> (usize, usize) {
        (lock(&self.v2).len(), lock(&self.v3).len())
    }

    /// Whether it remembers no answer.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    fn digest(&self, parts: &[&[u8]]) -> u64 {
        let mut h = self.keys.build_hasher();
        for part in parts {
            // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
            h.write_usize(part.len());
            h.write(part);
        }
        h.finish()
    }
}

impl Default for ReplayGuard {
    fn default() -> Self {
        ReplayGuard::new()
    }
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (v2, v3) = self.len();
        f.debug_struct("ReplayGuard").field("v2", &v2).field("v3", &v3).finish()
    }
}

/// The values of 16 hexadecimal digits, two to a byte (digit `i` in the low half of byte
/// `i % 8` for `i < 8`, in the high half after): equal digits give equal keys, and different
/// digits (`0`-`9`, `A`-`F`, either case) different keys. It does not check that they are
/// digits (a verified `sign` always is: checking cost a sixth of the guard's time): other
/// bytes may give a key that another text also gives, which can only refuse a genuine answer
/// as a replay, never believe one. Tested against a plain digit-by-digit reading.
fn hex_key(digits: &[u8; 16]) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let (first, second) = digits.split_at(8);
    let eight = |bytes: &[u8]| {
        let mut word = [0; 8];
        word.copy_from_slice(bytes);
        let x = u64::from_le_bytes(word);
        // Each byte's value: its low four bits, plus 9 for a letter (bit 6 set).
        (x & (ONES * 0x0F)) + ((x >> 6) & ONES) * 9
    };
    eight(first) | (eight(second) << 4)
}

/// `key` with every bit reaching the low ones (the table places digests by them), one to
/// one: the high half folded onto the low, times an odd number (2^64 over the golden ratio),
/// the high half folded again. A MAC's bits need none of it; keys that differ only in some
/// bits (signs that are not MACs, given to the public [`ReplayGuard::first_v2`]) would
/// otherwise share a few slots and make every lookup walk them all.
fn spread(key: u64) -> u64 {
    let folded = key ^ (key >> 32);
    let mixed = folded.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed ^ (mixed >> 32)
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A set of digests: open addressing, linear probing, in one array of slots (0: empty),
/// filled to half at most. The digests are random (keyed SipHash, or a MAC's bits spread by
/// [`spread`]), so their low bits place them: no hashing. Half full, a lookup of a digest
/// that is not there (the guard's usual case) reads 2.5 slots on average, most often in one
/// cache line. Measured
/// against `HashSet` and against this table filled to three quarters (both: an APIv2
/// answer's guard 1.028-1.03 in `replay_guard.v2_share`), half full took a third off what the
/// guard costs (1.020-1.022, before [`hex_key`] took another 0.3%). Never shrinks, never
/// removes: a full set is emptied or replaced whole.
#[derive(Default)]
struct DigestSet {
    slots: Vec<u64>,
    len: usize,
}

impl DigestSet {
    /// A set that holds at least `room` digests (its [`capacity`](Self::capacity)).
    fn with_capacity(room: usize) -> Self {
        DigestSet { slots: vec![0; Self::slots_for(room)], len: 0 }
    }

    /// The slots of a set that holds at least `room` digests (twice as many, a power of two).
    fn slots_for(room: usize) -> usize {
        (room.max(1) * 2).next_power_of_two()
    }

    fn capacity(&self) -> usize {
        self.slots.len() / 2
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Where `digest` is, or the empty slot where it would go. The set is never full (half
    /// its slots stay empty), so the probe ends.
    fn find(&self, digest: u64) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(digest);
        loop {
            match self.slots[i] {
                0 => return (i, false),
                held if held == digest => return (i, true),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// The slot a digest is looked for from: its low bits (every digest here is random:
    /// keyed SipHash, or a MAC's bits spread by [`spread`]).
    fn home(&self, digest: u64) -> usize {
        // `digest as usize` keeps its low bits (all of them on 64-bit targets).
        #[allow(clippy::cast_possible_truncation)]
        let low = digest as usize;
        low & (self.slots.len() - 1)
    }

    fn contains(&self, digest: u64) -> bool {
        !self.slots.is_empty() && self.find(Self::stored(digest)).1
    }

    /// Adds `digest`; false if it was there. The caller keeps `len` below `capacity`.
    fn insert(&mut self, digest: u64) -> bool {
        debug_assert!(self.len < self.capacity());
        let digest = Self::stored(digest);
        let (i, held) = self.find(digest);
        if !held {
            self.slots[i] = digest;
            self.len += 1;
        }
        !held
    }

    /// 0 marks an empty slot: a digest of 0 is held as 1 (the two then count as one, which
    /// can only refuse a genuine answer, by a chance of 2^-64).
    fn stored(digest: u64) -> u64 {
        digest.max(1)
    }

    fn clear(&mut self) {
        self.slots.fill(0);
        self.len = 0;
    }

    fn drain_into(&mut self, other: &mut DigestSet) {
        for &digest in self.slots.iter().filter(|&&d| d != 0) {
            other.insert(digest);
        }
        *self = DigestSet::default();
    }
}

/// One API generation's digests, in two sets: `newer` takes answers until it is full, then
/// becomes `older` (the set before it is forgotten whole) and a new `newer` starts. No queue
/// of arrival order is kept (a full set is the order), and nothing moves once the sets are
/// at the capacity: `older` is then exactly the `capacity` answers before `newer`'s. While
/// they grow (each new set four times the last, from [`Seen::INITIAL`] to the capacity),
/// nothing is forgotten: see [`Seen::start_newer`].
struct Seen {
    /// [`ReplayGuard::CAPACITY`] (smaller in tests).
    capacity: usize,
    newer: DigestSet,
    older: DigestSet,
    /// APIv3: the latest time at which an answer in each set could still be verified; once
    /// it has passed, the whole set is forgotten (its answers fail the time check anyway).
    newer_until: u64,
    older_until: u64,
    /// APIv3: the latest answer timestamp of any set forgotten by time (once `forgot`). An
    /// answer stamped no later is refused: it may be one forgotten, verified again by a call
    /// whose clock reads a little earlier (`now` is read before the lock, and clocks are set
    /// back) or whose window is wider (a guard shared by clients with different windows).
    forgotten_until: u64,
    /// APIv3: the latest answer timestamp in each set.
    newer_ts: u64,
    older_ts: u64,
    /// Whether any set was forgotten by time (so a timestamp of 0 is not refused before).
    forgot: bool,
}

impl Seen {
    /// The room made for a generation's first answers.
    const INITIAL: usize = 256;

    /// `capacity` rounded up to what a table holds (a power of two).
    fn new(capacity: usize) -> Self {
        Seen {
            capacity: DigestSet::slots_for(capacity) / 2,
            newer: DigestSet::default(),
            older: DigestSet::default(),
            newer_until: 0,
            older_until: 0,
            forgotten_until: 0,
            newer_ts: 0,
            older_ts: 0,
            forgot: false,
        }
    }

    fn first(
        &mut self,
        digest: u64,
        forget_after: Option<(u64, u64)>,
        now: u64,
    ) -> Result<(), VerifyError> {
        if let Some((_, ts)) = forget_after {
            if self.older_until < now && self.older.len() > 0 {
                self.forgotten_until = self.forgotten_until.max(self.older_ts);
                self.forgot = true;
                self.older_ts = 0;
                self.older = DigestSet::default();
            }
            if self.newer_until < now && self.newer.len() > 0 {
                self.forgotten_until = self.forgotten_until.max(self.newer_ts);
                self.forgot = true;
                self.newer_ts = 0;
                self.newer_until = 0;
                // Emptied, not dropped: it keeps its room (a set at the capacity never grows
                // again).
                self.newer.clear();
            }
            if self.forgot && ts <= self.forgotten_until {
                return Err(VerifyError::Replayed);
            }
        }
        if self.newer.len() == self.newer.capacity() {
            self.start_newer();
        }
        if self.older.contains(digest) || !self.newer.insert(digest) {
            return Err(VerifyError::Replayed);
        }
        if let Some((until, ts)) = forget_after {
            self.newer_until = self.newer_until.max(until);
            self.newer_ts = self.newer_ts.max(ts);
        }
        Ok(())
    }

    fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }

    /// Room for the next answer, `newer` being full. Growing: a set four times as large, into
    /// which `older` (the set before, a quarter of `newer`) moves, and at the last step to the
    /// capacity `newer` too: so `older` is empty when a set at the capacity first fills, and
    /// from then on a full `older` is exactly the answers before `newer`'s. At the capacity:
    /// `newer` becomes `older`, and the set before it (forgotten) is emptied and reused.
    fn start_newer(&mut self) {
        let full = self.newer.len();
        if full >= self.capacity {
            let mut reused = std::mem::take(&mut self.older);
            if reused.capacity() == full {
                reused.clear();
            } else {
                reused = DigestSet::with_capacity(self.capacity);
            }
            self.older = std::mem::replace(&mut self.newer, reused);
            self.older_until = std::mem::replace(&mut self.newer_until, 0);
            self.older_ts = std::mem::replace(&mut self.newer_ts, 0);
            return;
        }
        let room = (full * 4).max(Self::INITIAL).min(self.capacity);
        let last = room == self.capacity;
        // (Room for all that moves, whatever the capacity: a set poured into one it does not
        // fit would fill every slot.)
        let mut fresh = DigestSet::with_capacity(room.max(full + self.older.len()));
        let moved_until = std::mem::take(&mut self.older_until);
        let moved_ts = std::mem::take(&mut self.older_ts);
        self.older.drain_into(&mut fresh);
        if last || full == 0 {
            self.newer.drain_into(&mut fresh);
            self.newer = fresh;
            self.newer_until = self.newer_until.max(moved_until);
            self.newer_ts = self.newer_ts.max(moved_ts);
        } else {
            self.older = std::mem::replace(&mut self.newer, fresh);
            self.older_until = std::mem::replace(&mut self.newer_until, moved_until);
            self.older_ts = std::mem::replace(&mut self.newer_ts, moved_ts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn an_answer_is_believed_once() {
        let g = ReplayGuard::new();
        g.first_v3(b"S", 1000, "N1", 1000, 300).unwrap();
        assert_eq!(g.first_v3(b"S", 1000, "N1", 1001, 300), Err(VerifyError::Replayed));
        // Any part different: another answer.
        g.first_v3(b"S", 1000, "N2", 1001, 300).unwrap();
        g.first_v3(b"S", 1001, "N1", 1001, 300).unwrap();
        g.first_v3(b"T", 1000, "N1", 1001, 300).unwrap();
        g.first_v2("n", "SIGN").unwrap();
        assert_eq!(g.first_v2("n", "SIGN"), Err(VerifyError::Replayed));
        g.first_v2("n", "SIGN2").unwrap();
        // The parts cannot slide into each other.
        g.first_v2("nS", "IGN").unwrap();
        assert_eq!(g.len(), (3, 4));
    }

    #[test]
    fn hex_keys_hold_each_digit_once() {
        // Plainly: digit i's value in bits 4i.. of the key's little-end bytes, as documented.
        let plain = |d: &[u8; 16]| {
            let mut bytes = [0u8; 8];
            for (i, &c) in d.iter().enumerate() {
                let value = char::from(c).to_digit(16).unwrap();
                bytes[i % 8] |= u8::try_from(value).unwrap() << (4 * (i / 8));
            }
            u64::from_le_bytes(bytes)
        };
        for s in ["0123456789ABCDEF", "FEDCBA9876543210", "FFFFFFFFFFFFFFFF", "0000000000000000"] {
            let digits: &[u8; 16] = s.as_bytes().try_into().unwrap();
            assert_eq!(hex_key(digits), plain(digits), "{s}");
        }
        // Every digit of either case at every position: the plain reading, and one to one
        // (a case differs only in case: the same key).
        let base = *b"A1B2C3D4E5F60718";
        let mut keys = HashSet::new();
        for pos in 0..16 {
            for &c in b"0123456789ABCDEFabcdef" {
                let mut digits = base;
                digits[pos] = c;
                assert_eq!(hex_key(&digits), plain(&digits), "{} at {pos}", char::from(c));
                keys.insert(hex_key(&digits));
            }
        }
        assert_eq!(keys.len(), 16 * 15 + 1);
        // A verified sign's key is that of its first 16 digits; anything shorter than 32
        // characters is digested whole, nonce included.
        let g = ReplayGuard::new();
        g.first_v2("n1", "0123456789ABCDEF0000000000000000").unwrap();
        assert_eq!(
            g.first_v2("n2", "0123456789ABCDEF1111111111111111"),
            Err(VerifyError::Replayed),
            "the same first 64 bits of a MAC: the same answer"
        );
        g.first_v2("n1", "0123456789ABCDE").unwrap();
        g.first_v2("n2", "0123456789ABCDE").unwrap();
    }

    #[test]
    fn v3_answers_are_forgotten_after_their_window_and_v2_at_capacity() {
        let g = ReplayGuard::new();
        g.first_v3(b"S", 1000, "N", 1000, 300).unwrap();
        g.first_v3(b"S", 1200, "M", 1200, 300).unwrap();
        assert_eq!(g.first_v3(b"S", 1000, "N", 1300, 300), Err(VerifyError::Replayed));
        // At 1301 the first is outside its window (a replay fails the timestamp check), but
        // it shares a set with one that is not: both are kept until 1500.
        assert_eq!(g.first_v3(b"S", 1200, "M", 1500, 300), Err(VerifyError::Replayed));
        assert_eq!(g.len().1, 2);
        g.first_v3(b"S", 1501, "O", 1501, 300).unwrap();
        assert_eq!(g.len().1, 1, "both outside their window: forgotten");

        // APIv2: nothing is forgotten before the capacity; then at most twice the capacity
        // is held, the oldest forgotten first, and the newest `CAPACITY` are always held.
        // (A capacity of 4,096, what a table of 2^13 slots holds; the guard's own below.)
        let cap = 1 << 12;
        let mut seen = Seen::new(cap as usize);
        for i in 1..=cap {
            seen.first(i, None, 0).unwrap();
        }
        assert_eq!(seen.len() as u64, cap);
        for i in (1..=cap).step_by(997) {
            assert_eq!(seen.first(i, None, 0), Err(VerifyError::Replayed), "{i}");
        }
        for i in cap + 1..3 * cap + 10 {
            seen.first(i, None, 0).unwrap();
            assert!(seen.len() as u64 >= cap && seen.len() as u64 <= 2 * cap, "{i}");
        }
        assert!(seen.newer.capacity() <= seen.capacity, "{}", seen.newer.capacity());
        assert!(seen.older.capacity() <= seen.capacity, "{}", seen.older.capacity());
        // The newest `CAPACITY` are refused; the oldest were forgotten.
        for i in (2 * cap + 10..3 * cap + 10).step_by(997) {
            assert_eq!(seen.first(i, None, 0), Err(VerifyError::Replayed), "{i}");
        }
        seen.first(1, None, 0).unwrap();
    }

    #[test]
    fn the_guard_s_own_capacity_fills_two_tables_of_2_19_slots() {
        // Memory stays within what the documentation says: the last set's size is what its
        // table holds (no room left unused), 2^19 slots of 8 bytes.
        let mut seen = Seen::new(ReplayGuard::CAPACITY);
        let mut sizes = vec![];
        for _ in 0..8 {
            for digest in 1..=seen.newer.capacity() as u64 {
                seen.newer.insert(digest);
            }
            seen.older = DigestSet::default();
            seen.start_newer();
            sizes.push(seen.newer.capacity());
        }
        assert_eq!(sizes, [256, 1024, 4096, 16_384, 65_536, 262_144, 262_144, 262_144]);
        assert_eq!(seen.newer.slots.len(), 1 << 19);
    }

    #[test]
    fn a_newer_set_forgotten_by_time_never_meets_a_full_older_one() {
        // APIv3 answers whose timestamps go back (a server clock set back): the full set
        // (`older`) outlives the later one, which is forgotten first. Growing again must not
        // pour the full set into a small one (nor lose it).
        let cap = 1 << 10;
        let mut seen = Seen::new(cap);
        let digest = |j: u64| j.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Answers valid until 2000 until a set at the capacity is full; the next until 1000.
        let mut j = 0;
        while seen.newer.capacity() < cap || seen.newer.len() < cap {
            seen.first(digest(j), Some((2000, 2000)), 0).unwrap();
            j += 1;
        }
        seen.first(digest(j), Some((1000, 1000)), 0).unwrap();
        assert_eq!((seen.older.len(), seen.newer.len()), (cap, 1));
        // At 1500 the second set is forgotten, the first still refuses its answers while the
        // second fills again (it keeps its room: no growing, nothing poured into it).
        let new = |k: u64| digest(10 * cap as u64 + k);
        for k in 0..cap as u64 - 1 {
            seen.first(new(k), Some((1600, 1600)), 1500).unwrap();
        }
        for old in (j - cap as u64..j).step_by(7) {
            assert_eq!(
                seen.first(digest(old), Some((2000, 2000)), 1500),
                Err(VerifyError::Replayed)
            );
        }
        // And on: the latest `cap` answers are always held, never more than twice as many.
        for k in cap as u64 - 1..5 * cap as u64 {
            seen.first(new(k), Some((1600, 1600)), 1500).unwrap();
            assert!((cap..=2 * cap).contains(&seen.len()), "{k}");
        }
    }

    #[test]
    fn nothing_is_forgotten_while_the_sets_grow() {
        // Every count up to the capacity (the sets move through every size on the way).
        let mut seen = Seen::new(1 << 14);
        let mut i = 0u64;
        while seen.len() < seen.capacity {
            seen.first(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), None, 0).unwrap();
            i += 1;
        }
        for j in 0..i {
            let digest = j.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(seen.first(digest, None, 0), Err(VerifyError::Replayed), "{j}");
        }
    }

    /// A 32-digit upper-case hex `sign` whose first 16 digits look random (as a MAC's do).
    fn v2_sign(i: u64) -> String {
        let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        format!("{:016X}{i:016X}", z ^ (z >> 31))
    }

    #[test]
    fn the_latest_capacity_answers_are_remembered_across_the_first_full_set() {
        // Found by review: the first set at the capacity began with the oldest answers, and
        // when it filled the set before it (newer answers) was forgotten instead.
        let g = ReplayGuard::new();
        let cap = ReplayGuard::CAPACITY as u64;
        let n = cap + cap / 4 + 1; // the answer that starts the second set at the capacity
        for i in 1..=n {
            g.first_v2("nonce", &v2_sign(i)).unwrap();
            g.first_v3(&i.to_be_bytes(), 1000, "N", 1000, 300).unwrap();
        }
        let believed = (n - cap + 1..=n).filter(|&i| g.first_v2("nonce", &v2_sign(i)).is_ok());
        assert_eq!(believed.count(), 0, "of the latest {cap}; remembered {:?}", g.len());
        for i in (n - cap + 1..=n).step_by(101) {
            assert_eq!(
                g.first_v3(&i.to_be_bytes(), 1000, "N", 1000, 300),
                Err(VerifyError::Replayed)
            );
        }
    }

    #[test]
    fn every_answer_is_remembered_while_among_the_latest_capacity() {
        for cap in [1usize << 10, 1 << 12, 6 << 10, 100] {
            let mut seen = Seen::new(cap);
            let d = |j: u64| j.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            for k in 0..6 * cap as u64 {
                seen.first(d(k), None, 0).unwrap();
                let oldest = (k + 1).saturating_sub(cap as u64);
                assert_eq!(
                    seen.first(d(oldest), None, 0),
                    Err(VerifyError::Replayed),
                    "capacity {cap}: answer {oldest} forgotten after answer {k}"
                );
                assert!(seen.len() <= 2 * seen.capacity, "{k}");
            }
        }
    }

    #[test]
    fn an_answer_forgotten_by_time_is_refused_at_an_earlier_time() {
        // Found by review: `now` is read before the lock; a thread whose `now` is a second
        // behind another's (or a clock set back) verifies a replay of a forgotten answer.
        let g = ReplayGuard::new();
        g.first_v3(b"X", 1000, "NX", 1000, 300).unwrap();
        g.first_v3(b"Y", 1301, "NY", 1301, 300).unwrap(); // X's set forgotten
        assert_eq!(g.first_v3(b"X", 1000, "NX", 1300, 300), Err(VerifyError::Replayed));
        // Answers valid after what was forgotten are believed as before.
        g.first_v3(b"Z", 1001, "NZ", 1300, 300).unwrap();
    }

    #[test]
    fn hex_keys_refuse_case_and_suffix_variants_and_take_any_bytes() {
        let g = ReplayGuard::new();
        let s = "0A1B2C3D4E5F6789ABCDEF0123456789";
        g.first_v2("n", s).unwrap();
        assert_eq!(g.first_v2("n", &s.to_lowercase()), Err(VerifyError::Replayed));
        assert_eq!(g.first_v2("n", &format!("{s}00")), Err(VerifyError::Replayed));
        assert_eq!(g.first_v2("other", s), Err(VerifyError::Replayed));
        // Any bytes: no overflow (tests run with overflow checks).
        for byte in 0..=255u8 {
            let _ = hex_key(&[byte; 16]);
        }
    }

    #[test]
    fn structured_keys_spread_over_the_table() {
        // Found by review: keys that differ only in their high digits (signs that are not
        // MACs, given to the public `first_v2`) all had one home slot: every lookup walked
        // all of them. Whatever the keys, no digest lies far from its home.
        let g = ReplayGuard::new();
        for i in 0..4096u64 {
            g.first_v2("n", &format!("{i:016X}{:016X}", 0)).unwrap();
        }
        let seen = lock(&g.v2);
        let table = &seen.newer;
        let mask = table.slots.len() - 1;
        let longest = (0..table.slots.len())
            .filter(|&j| table.slots[j] != 0)
            .map(|j| j.wrapping_sub(table.home(table.slots[j])) & mask)
            .max()
            .unwrap();
        assert!(longest < 64, "a digest {longest} slots from its home");
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;

    #[test]
    fn a_replay_checked_with_a_wider_window_is_refused() {
        // Answer X verified by a client with the default 300 s window; the same guard is
        // shared (Session) with a client whose window is wider. X's set is forgotten at
        // ts+301; the replay at ts+400 passes the wider client's time check (|400| <= 3600).
        let g = ReplayGuard::new();
        g.first_v3(b"X-signature", 1000, "NX", 1000, 300).unwrap();
        g.first_v3(b"Y-signature", 1301, "NY", 1301, 300).unwrap(); // X's set forgotten
        assert_eq!(
            g.first_v3(b"X-signature", 1000, "NX", 1400, 3600),
            Err(VerifyError::Replayed),
            "replay of X believed within the replaying call's window"
        );
    }

    fn inv_fold(y: u64) -> u64 {
        y ^ (y >> 32)
    } // involution
    fn inv_odd(a: u64) -> u64 {
        let mut x = a;
        for _ in 0..6 {
            x = x.wrapping_mul(2u64.wrapping_sub(a.wrapping_mul(x)));
        }
        x
    }

    #[test]
    fn spread_is_one_to_one() {
        let inv = inv_odd(0x9E37_79B9_7F4A_7C15);
        assert_eq!(inv.wrapping_mul(0x9E37_79B9_7F4A_7C15), 1);
        let mut z = 1u64;
        for _ in 0..1_000_000 {
            z = z.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            for k in [z, z >> 32, z << 32, z & 0xF0F0_F0F0_F0F0_F0F0] {
                assert_eq!(inv_fold(inv_fold(spread(k)).wrapping_mul(inv)), k);
            }
        }
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn check_sets(s: &Seen) {
        for set in [&s.newer, &s.older] {
            assert_eq!(set.slots.iter().filter(|&&d| d != 0).count(), set.len, "len wrong");
            assert!(set.slots.is_empty() || set.len < set.slots.len());
            assert!(set.capacity() <= s.capacity);
        }
        assert!(s.len() <= 2 * s.capacity);
    }

    #[test]
    fn random_apiv3_histories_refuse_every_replay_still_verifiable() {
        for seed in 1..=40u64 {
            for cap in [16usize, 100, 1 << 10] {
                let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
                let mut s = Seen::new(cap);
                let c = s.capacity;
                let mut hist: Vec<(u64, u64, u64)> = vec![]; // (digest, until, ts)
                let mut now: u64 = 10_000;
                for step in 0..(12 * c) {
                    match rng.below(10) {
                        0 => now = now.saturating_sub(rng.below(400)),
                        1 => now += rng.below(700),
                        _ => {}
                    }
                    if rng.below(3) == 0 && !hist.is_empty() {
                        // Replay one of the latest c answers that is still verifiable at `now`.
                        let k = hist.len() - 1 - rng.below(hist.len().min(c) as u64) as usize;
                        let (d, until, ts) = hist[k];
                        if until >= now {
                            assert_eq!(
                                s.first(d, Some((until, ts)), now),
                                Err(VerifyError::Replayed),
                                "seed {seed} cap {cap} step {step}: replay of #{k} of {} believed",
                                hist.len()
                            );
                        }
                    } else {
                        let d = rng.next();
                        let w = [0u64, 1, 300, 600][rng.below(4) as usize];
                        // a timestamp within the window of `now`
                        let ts = now + rng.below(2 * w + 1) - w;
                        let until = ts + w;
                        if s.first(d, Some((until, ts)), now).is_ok() {
                            hist.push((d, until, ts));
                        }
                    }
                    check_sets(&s);
                }
            }
        }
    }

    #[test]
    fn random_apiv2_histories_refuse_every_replay_of_the_latest() {
        for cap in [16usize, 100, 1 << 10, 3000] {
            let mut rng = Rng(cap as u64 * 77 + 5);
            let mut s = Seen::new(cap);
            let c = s.capacity;
            let mut hist = vec![];
            for step in 0..(12 * c) {
                let d = rng.next();
                s.first(d, None, 0).unwrap();
                hist.push(d);
                let k = hist.len() - 1 - rng.below(hist.len().min(c) as u64) as usize;
                assert_eq!(s.first(hist[k], None, 0), Err(VerifyError::Replayed), "{cap} {step}");
                check_sets(&s);
            }
        }
    }

    #[test]
    fn extreme_inputs_neither_panic_nor_hang() {
        let g = ReplayGuard::new();
        g.first_v3(b"", u64::MAX, "", u64::MAX, u64::MAX).unwrap();
        g.first_v3(b"a", 0, "", 0, 0).unwrap();
        let _ = g.first_v3(b"b", 0, "", u64::MAX, 0);
        g.first_v3(b"c", u64::MAX, "", 0, 0).unwrap();
        g.first_v2("", "").unwrap();
        g.first_v2("", "ééééééééééééééééééééééééé").unwrap();
        let _ = g.len();
    }
}
