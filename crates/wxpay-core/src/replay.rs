//! Believing a signed answer once: the replay guard.
//!
//! A WeChat Pay signature covers an answer's body (APIv3: with its timestamp and nonce), not
//! which request it answers. A genuine signed answer can therefore be sent again, by anyone
//! in the path, as the answer to another call: an APIv3 answer within its 5-minute window,
//! an APIv2 answer (which carries no time) at any time. The guard remembers every verified
//! answer a client has believed and refuses the same one a second time.
//!
//! It costs one uncontended lock and one hash-set insert per verified answer: next to
//! nothing beside an APIv3 RSA verification (`replay_guard.v3_share` in `cargo xtask
//! bench`, about 1.005), 25 to 30 ns beside an APIv2 answer's 900 ns of parsing and hashing
//! (`replay_guard.v2_share`, 1.025 to 1.04). Of that, the lock's two atomic operations are
//! about 2% (a guard whose set is removed measures 1.025 to 1.035; without the lock, 1.01):
//! what sharing the guard between threads costs in safe Rust.
//!
//! Memory is bounded: APIv3 answers are forgotten once their timestamp is outside the
//! verification window (a replay of them fails that check anyway); each generation keeps at
//! most [`ReplayGuard::CAPACITY`] answers, the oldest forgotten first. What is remembered is
//! a 64-bit keyed digest (SipHash with a random per-process key) of the answer's identity,
//! so a forger cannot aim collisions, and one that happened by chance would only make a
//! genuine answer "not believed" (its effect unknown), never believe a false one.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Mutex;

use crate::error::VerifyError;

/// The answers a client has believed, per API generation. Shared by every call of a client
/// (it lives in the [`Context`](crate::Context), whose clones share it).
pub struct ReplayGuard {
    keys: RandomState,
    v2: Mutex<Seen>,
    v3: Mutex<Seen>,
}

impl ReplayGuard {
    /// The most answers each generation remembers (a little over half a million: when full,
    /// about 13 MiB for APIv2 answers and 17 MiB for APIv3 answers; a set that has forgotten
    /// as many again may double its table once, to about 22 and 26 MiB).
    pub const CAPACITY: usize = 1 << 19;

    /// A guard that has seen nothing.
    #[must_use]
    pub fn new() -> Self {
        ReplayGuard {
            keys: RandomState::new(),
            v2: Mutex::new(Seen::default()),
            v3: Mutex::new(Seen::default()),
        }
    }

    /// Records a verified APIv3 answer, identified by what its signature covers: the
    /// signature itself (RSA PKCS#1 v1.5 is deterministic: the same signed bytes always carry
    /// the same signature, whichever serial header names the key), its `Wechatpay-Timestamp`
    /// and `Wechatpay-Nonce`. Never by its `Wechatpay-Serial`, which is not signed and matches
    /// in any letter case. `now` and `window_secs` are those it was verified with (answers
    /// older than the window are forgotten).
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
        lock(&self.v3).first(digest, Some(forget_after), now)
    }

    /// Records a verified APIv2 answer, identified by its `nonce_str` and `sign`.
    ///
    /// # Errors
    /// [`VerifyError::Replayed`] when the same answer was recorded before.
    pub fn first_v2(&self, nonce_str: &str, sign: &str) -> Result<(), VerifyError> {
        // A verified `sign` is a MAC under the merchant's key over the whole answer, nonce
        // included: its first 64 bits already are a keyed digest of the answer, which no
        // outsider can aim. (Any other form is digested in full.)
        let digest = match sign.as_bytes().first_chunk::<16>() {
            Some(prefix) if sign.len() >= 32 => hex_u64(prefix),
            _ => None,
        };
        let digest =
            digest.unwrap_or_else(|| self.digest(&[nonce_str.as_bytes(), sign.as_bytes()]));
        lock(&self.v2).first(digest, None, 0)
    }

    /// How many answers each generation remembers now: (APIv2, APIv3).
    #[must_use]
    pub fn len(&self) -> (usize, usize) {
        (lock(&self.v2).order.len(), lock(&self.v3).order.len())
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

/// The value of 16 hexadecimal digits (either case), eight bytes at a time: what
/// `u64::from_str_radix` gives for them, in a fifth of its instructions (measured with
/// cachegrind: it was half of what the guard cost an APIv2 answer). `None` if any byte is
/// not a hex digit. Tested against the plain parser on every byte at every position.
fn hex_u64(digits: &[u8; 16]) -> Option<u64> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    let eight = |bytes: &[u8]| -> Option<u64> {
        let x = u64::from_be_bytes(bytes.try_into().ok()?);
        // Every byte below 0x80, so that adding to a byte never carries into the next.
        if x & HIGH != 0 {
            return None;
        }
        // A byte's high bit after adding 0x80 - lo is set when it is at least lo.
        let at_least = |v: u64, lo: u64| v + ONES * (0x80 - lo);
        let digit = at_least(x, b'0'.into()) & !at_least(x, u64::from(b'9') + 1);
        let lower = x | (ONES * 0x20); // 'A'..='F' as 'a'..='f'
        let letter = at_least(lower, b'a'.into()) & !at_least(lower, u64::from(b'f') + 1);
        if (digit | letter) & HIGH != HIGH {
            return None;
        }
        // Each byte's value: its low four bits, plus 9 for a letter (bit 6 set).
        let v = (x & (ONES * 0x0F)) + ((x >> 6) & ONES) * 9;
        // The eight nibbles packed, pairs first.
        let v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        let v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        Some((v | (v >> 16)) & 0xFFFF_FFFF)
    };
    let (high, low) = digits.split_at(8);
    Some((eight(high)? << 32) | eight(low)?)
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Digests in the order they were recorded and, for APIv3, when each may be forgotten.
#[derive(Default)]
struct Seen {
    set: HashSet<u64, BuildHasherDefault<DigestHasher>>,
    order: VecDeque<u64>,
    /// Beside `order`, one for one: when each may be forgotten (APIv3 only; APIv2 answers
    /// carry no time and are forgotten only at capacity).
    until: VecDeque<u64>,
}

impl Seen {
    /// The room made at a generation's first answer.
    const INITIAL: usize = 256;

    fn first(
        &mut self,
        digest: u64,
        forget_after: Option<u64>,
        now: u64,
    ) -> Result<(), VerifyError> {
        while let Some(&old) = self.order.front() {
            let expired = self.until.front().is_some_and(|&until| until < now);
            if !expired && self.order.len() < ReplayGuard::CAPACITY {
                break;
            }
            self.set.remove(&old);
            self.order.pop_front();
            self.until.pop_front();
        }
        // Growing rehashes every digest held: fourfold (not the set's own twofold) does it half
        // as often, which took a third off what the guard costs an APIv2 answer. Never past
        // the capacity; the queue exactly (`reserve` would round it up to almost twice that).
        let room =
            |len: usize| (len * 3).max(Self::INITIAL).min(ReplayGuard::CAPACITY - len).max(1);
        if self.set.len() == self.set.capacity() {
            self.set.reserve(room(self.set.len()));
        }
        if self.order.len() == self.order.capacity() {
            self.order.reserve_exact(room(self.order.len()));
        }
        if !self.set.insert(digest) {
            return Err(VerifyError::Replayed);
        }
        self.order.push_back(digest);
        if let Some(until) = forget_after {
            self.until.push_back(until);
        }
        Ok(())
    }
}

/// The digests are keyed SipHash already: hashing them again would only cost time.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn hex_digits_read_as_the_plain_parser_reads_them() {
        let plain = |d: &[u8; 16]| {
            let all = d.iter().all(u8::is_ascii_hexdigit);
            all.then(|| u64::from_str_radix(std::str::from_utf8(d).unwrap(), 16).unwrap())
        };
        for s in ["0123456789ABCDEF", "fedcba9876543210", "FFFFFFFFFFFFFFFF", "0000000000000000"] {
            let digits: &[u8; 16] = s.as_bytes().try_into().unwrap();
            assert_eq!(hex_u64(digits), plain(digits), "{s}");
            assert!(hex_u64(digits).is_some());
        }
        // Every byte value at every position, among digits of both cases.
        let base = *b"a1B2c3D4e5F60718";
        for pos in 0..16 {
            for byte in 0..=255u8 {
                let mut digits = base;
                digits[pos] = byte;
                assert_eq!(hex_u64(&digits), plain(&digits), "{byte:#04x} at {pos}");
            }
        }
    }

    #[test]
    fn v3_answers_are_forgotten_after_their_window_and_v2_at_capacity() {
        let g = ReplayGuard::new();
        g.first_v3(b"S", 1000, "N", 1000, 300).unwrap();
        g.first_v3(b"S", 1200, "M", 1200, 300).unwrap();
        // At 1301 the first is outside its window (a replay fails the timestamp check).
        g.first_v3(b"S", 1301, "O", 1301, 300).unwrap();
        assert_eq!(g.len().1, 2);
        assert_eq!(g.first_v3(b"S", 1200, "M", 1301, 300), Err(VerifyError::Replayed));

        let mut seen = Seen::default();
        for i in 0..(ReplayGuard::CAPACITY as u64 + 10) {
            seen.first(i, None, 0).unwrap();
        }
        assert_eq!(seen.order.len(), ReplayGuard::CAPACITY);
        // Memory stays within what the documentation says: the queue holds no more room
        // than the capacity, the set's table is at most 2^21 buckets.
        assert!(seen.order.capacity() <= ReplayGuard::CAPACITY, "{}", seen.order.capacity());
        assert!(seen.set.capacity() < 1 << 21, "{}", seen.set.capacity());
        assert_eq!(seen.set.len(), ReplayGuard::CAPACITY);
        // The newest are still refused; the oldest were forgotten.
        assert_eq!(
            seen.first(ReplayGuard::CAPACITY as u64 + 9, None, 0),
            Err(VerifyError::Replayed)
        );
        seen.first(0, None, 0).unwrap();
    }
}
