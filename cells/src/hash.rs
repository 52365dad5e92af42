//! A small, fast, non-cryptographic hasher for the engine's own maps. Keys are interned ids,
//! cell ids and subject text that the engine itself hashes; an attacker who controls subject
//! names could only slow lookups of their own cluster down, and every map is bounded.

use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-rotate hashing (the rustc "Fx" scheme) with a final avalanche.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let (tail, len) = words(bytes, |word| self.add(word));
        if len > 0 {
            self.add(tail ^ ((len as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // fmix64 of MurmurHash3, so the low bits the table uses depend on every input bit.
        fmix(self.hash)
    }
}

/// `BuildHasher` for the engine's maps.
pub(crate) type Fx = BuildHasherDefault<FxHasher>;

/// Two independent lanes over the same bytes, for a 128-bit identity of a subject path: the
/// first keys the path index, the second confirms a hit without comparing every segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathHasher {
    a: u64,
    b: u64,
}

const SEED_B: u64 = 0x9e37_79b9_7f4a_7c15;

impl Default for PathHasher {
    fn default() -> Self {
        Self { a: 0, b: SEED_B }
    }
}

impl PathHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.a = (self.a.rotate_left(5) ^ word).wrapping_mul(SEED);
        self.b = (self.b.rotate_left(23) ^ word).wrapping_mul(0xd6e8_feb8_6659_fd93);
    }

    #[inline]
    pub fn write(&mut self, bytes: &[u8]) {
        let (tail, _) = words(bytes, |word| self.add(word));
        // The length closes every string, so `ab|c` and `a|bc` differ.
        self.add(tail ^ ((bytes.len() as u64) << 56) ^ 0xff);
    }

    /// The two lanes, each avalanched.
    #[inline]
    pub fn finish(&self) -> (u64, u64) {
        (fmix(self.a), fmix(self.b ^ 0x2545_f491_4f6c_dd1d))
    }
}

/// Feeds `bytes` to `add` as little-endian 8-byte words and returns what is left (fewer than
/// eight bytes) as one zero-padded word, with its length.
#[inline(always)]
fn words(bytes: &[u8], mut add: impl FnMut(u64)) -> (u64, usize) {
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        add(u64::from_le_bytes(word));
    }
    let rest = chunks.remainder();
    let mut word = [0u8; 8];
    word[..rest.len()].copy_from_slice(rest);
    (u64::from_le_bytes(word), rest.len())
}

#[inline]
fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_boundaries_change_the_hash() {
        let hash = |parts: &[&str]| {
            let mut h = PathHasher::default();
            for p in parts {
                h.write(p.as_bytes());
            }
            h.finish()
        };
        assert_ne!(hash(&["ab", "c"]), hash(&["a", "bc"]));
        assert_ne!(hash(&["", "x"]), hash(&["x", ""]));
        assert_ne!(hash(&["12345678", ""]), hash(&["12345678"]));
        assert_eq!(hash(&["topic", "orders"]), hash(&["topic", "orders"]));
        let (a, b) = hash(&["cluster", "prod"]);
        assert_ne!(a, b);
    }
}
