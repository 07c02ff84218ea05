//! Small building blocks: a deterministic hasher, a growable bitset and a seeded PRNG.
//!
//! The standard `RandomState` seeds itself from the OS; the allocator must be a pure
//! function of its inputs, so every hash map in the crate uses [`FxBuild`].

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// The `rustc` "Fx" hash: fast and deterministic (not DoS-resistant, which is fine for
/// identifiers chosen by the master).
#[derive(Default, Clone, Copy)]
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
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(i as u64);
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
        // Spread the low bits into the high bits used by hashbrown's control bytes.
        self.hash ^ (self.hash >> 29)
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;
pub(crate) type FastMap<K, V> = HashMap<K, V, FxBuild>;
pub(crate) type FastSet<K> = HashSet<K, FxBuild>;

/// A growable bitset indexed by `u32`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Bits(Vec<u64>);

impl Bits {
    #[cfg(test)]
    pub fn get(&self, i: u32) -> bool {
        let w = (i / 64) as usize;
        self.0.get(w).is_some_and(|x| x & (1u64 << (i % 64)) != 0)
    }
    #[inline]
    pub fn set(&mut self, i: u32) {
        let w = (i / 64) as usize;
        if self.0.len() <= w {
            self.0.resize(w + 1, 0);
        }
        self.0[w] |= 1u64 << (i % 64);
    }
    #[inline]
    pub fn clear(&mut self, i: u32) {
        let w = (i / 64) as usize;
        if let Some(x) = self.0.get_mut(w) {
            *x &= !(1u64 << (i % 64));
        }
    }
    pub fn put(&mut self, i: u32, on: bool) {
        if on {
            self.set(i)
        } else {
            self.clear(i)
        }
    }
    pub fn clear_all(&mut self) {
        self.0.iter_mut().for_each(|w| *w = 0);
    }
    #[inline]
    pub fn words(&self) -> &[u64] {
        &self.0
    }
    pub fn none(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

/// `splitmix64`: a tiny, well-mixed, seedable generator.
#[derive(Clone, Debug)]
pub(crate) struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Prng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0), by Lemire's multiply-shift (bias < 2^-32 for our sizes).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_work() {
        let mut b = Bits::default();
        assert!(!b.get(130));
        b.set(130);
        b.set(3);
        assert!(b.get(130) && b.get(3) && !b.get(4));
        b.clear(130);
        assert!(!b.get(130));
        b.clear_all();
        assert!(b.none());
    }

    #[test]
    fn prng_is_deterministic_and_shuffles() {
        let mut a = Prng::new(7);
        let mut b = Prng::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut v: Vec<u32> = (0..100).collect();
        a.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(v, sorted);
    }
}
