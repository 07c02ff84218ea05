//! A framework sorter's DRF order: the sorted keys of its eligible clients, kept in pages
//! of consecutive keys, each page with the bitset of the client slots it holds.
//!
//! The allocation loop wants, for each agent, the first client in DRF order that is
//! eligible and not filtered on that agent. Walking the order past the filtered clients
//! one by one costs as many steps as there are filtered clients ahead of the first
//! unfiltered one, which grows as offer filters pile up on the agents (the DeclineOffers
//! benchmark's late rounds). [`Order::first_allowed`] instead tests whole pages against
//! the agent's bits, a word per 64 slots, and walks only inside the first page that holds
//! an allowed client.

use crate::sorter::Key;
use crate::util::Bits;

/// Pages are split above `2 * PAGE` keys and merged with a neighbour below `PAGE / 4`.
const PAGE: usize = 64;

#[derive(Debug, Default)]
struct Page {
    /// Sorted, non-empty.
    keys: Vec<Key>,
    /// The slots (`Key::id`) of `keys`.
    slots: Bits,
}

impl Page {
    fn from_keys(keys: Vec<Key>) -> Page {
        let mut slots = Bits::default();
        for k in &keys {
            slots.set(k.id);
        }
        Page { keys, slots }
    }

    fn last(&self) -> &Key {
        self.keys.last().expect("pages are non-empty")
    }

    /// Whether some slot of the page is set in `allow` and not in `deny`.
    fn any_allowed(&self, allow: &[u64], deny: &[u64]) -> bool {
        self.slots
            .words()
            .iter()
            .zip(allow)
            .enumerate()
            .any(|(i, (s, a))| s & a & !deny.get(i).copied().unwrap_or(0) != 0)
    }
}

#[inline]
fn bit(words: &[u64], i: u32) -> bool {
    words
        .get((i / 64) as usize)
        .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
}

/// An ordered set of sorter keys (the replacement of a `BTreeSet<Key>`), paged.
#[derive(Debug, Default)]
pub(crate) struct Order {
    pages: Vec<Page>,
    len: usize,
}

impl Order {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn clear(&mut self) {
        self.pages.clear();
        self.len = 0;
    }

    pub fn first(&self) -> Option<&Key> {
        self.pages.first().map(|p| &p.keys[0])
    }

    /// The keys in order.
    pub fn iter(&self) -> impl Iterator<Item = &Key> + '_ {
        self.pages.iter().flat_map(|p| p.keys.iter())
    }

    /// The page that holds `k` or where it belongs: the first page whose last key is not
    /// below `k` (the last page for a key above all).
    fn page_of(&self, k: &Key) -> usize {
        self.pages
            .partition_point(|p| p.last() < k)
            .min(self.pages.len().saturating_sub(1))
    }

    /// Adds `k`; false if it was already there.
    pub fn insert(&mut self, k: Key) -> bool {
        if self.pages.is_empty() {
            self.pages.push(Page::from_keys(vec![k]));
            self.len = 1;
            return true;
        }
        let px = self.page_of(&k);
        let page = &mut self.pages[px];
        let Err(at) = page.keys.binary_search(&k) else {
            return false;
        };
        page.slots.set(k.id);
        page.keys.insert(at, k);
        self.len += 1;
        if page.keys.len() > 2 * PAGE {
            let upper = page.keys.split_off(PAGE);
            for k in &upper {
                page.slots.clear(k.id);
            }
            self.pages.insert(px + 1, Page::from_keys(upper));
        }
        true
    }

    /// Removes `k`; false if it was not there.
    pub fn remove(&mut self, k: &Key) -> bool {
        let px = self.pages.partition_point(|p| p.last() < k);
        let Some(page) = self.pages.get_mut(px) else {
            return false;
        };
        let Ok(at) = page.keys.binary_search(k) else {
            return false;
        };
        page.keys.remove(at);
        page.slots.clear(k.id);
        self.len -= 1;
        if page.keys.is_empty() {
            self.pages.remove(px);
        } else if page.keys.len() < PAGE / 4 {
            self.merge_small(px);
        }
        true
    }

    /// Merges the small page `px` into a neighbour when the two fit in one page.
    fn merge_small(&mut self, px: usize) {
        let fits = |a: &Page, b: &Page| a.keys.len() + b.keys.len() <= 2 * PAGE;
        let (lo, hi) = if px + 1 < self.pages.len() && fits(&self.pages[px], &self.pages[px + 1]) {
            (px, px + 1)
        } else if px > 0 && fits(&self.pages[px - 1], &self.pages[px]) {
            (px - 1, px)
        } else {
            return;
        };
        let upper = self.pages.remove(hi);
        let page = &mut self.pages[lo];
        for k in upper.keys {
            page.slots.set(k.id);
            page.keys.push(k);
        }
    }

    /// The slot of the first key, in order, whose slot is set in `allow` and not in `deny`
    /// (bitsets indexed by slot; missing words are zero).
    pub fn first_allowed(&self, allow: &[u64], deny: &[u64]) -> Option<u32> {
        let page = self.pages.iter().find(|p| p.any_allowed(allow, deny))?;
        page.keys
            .iter()
            .find(|k| bit(allow, k.id) && !bit(deny, k.id))
            .map(|k| k.id)
    }

    /// Checks the paging invariants (tests).
    #[cfg(test)]
    pub fn check(&self) -> Result<(), String> {
        let mut prev: Option<&Key> = None;
        let mut n = 0;
        for p in &self.pages {
            if p.keys.is_empty() || p.keys.len() > 2 * PAGE {
                return Err(format!("page of {} keys", p.keys.len()));
            }
            let mut expect = Bits::default();
            for k in &p.keys {
                if prev.is_some_and(|q| q >= k) {
                    return Err("keys out of order".into());
                }
                prev = Some(k);
                expect.set(k.id);
                n += 1;
            }
            let trim = |w: &[u64]| {
                let mut v = w.to_vec();
                while v.last() == Some(&0) {
                    v.pop();
                }
                v
            };
            if trim(expect.words()) != trim(p.slots.words()) {
                return Err("page slots out of sync".into());
            }
        }
        if n != self.len {
            return Err(format!("len {} but {n} keys", self.len));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sorter::OrdF64;
    use crate::util::Prng;
    use std::collections::BTreeSet;
    use std::sync::Arc;

    fn key(share: f64, count: u64, id: u32) -> Key {
        Key {
            share: OrdF64(share),
            count,
            name: Arc::from(format!("f{id}").as_str()),
            id,
        }
    }

    fn set(rng: &mut Prng, n: u32, percent: usize) -> Bits {
        let mut b = Bits::default();
        for i in 0..n {
            if rng.below(100) < percent {
                b.set(i);
            }
        }
        b
    }

    /// Random inserts and removes (one key per slot, re-keyed as the sorters do) against a
    /// `BTreeSet`; `first_allowed` against a walk of the model.
    #[test]
    fn matches_a_btreeset() {
        let mut rng = Prng::new(11);
        for n in [1u32, 5, 70, 300, 1000] {
            let mut order = Order::default();
            let mut model: BTreeSet<Key> = BTreeSet::new();
            let mut current: Vec<Option<Key>> = vec![None; n as usize];
            for step in 0..6000 {
                let slot = rng.below(n as usize);
                if let Some(old) = current[slot].take() {
                    assert_eq!(order.remove(&old), model.remove(&old));
                }
                if rng.below(4) != 0 {
                    // Few distinct shares and counts, so names and ids break many ties.
                    let k = key(rng.below(8) as f64 / 8.0, rng.below(3) as u64, slot as u32);
                    assert_eq!(order.insert(k.clone()), model.insert(k.clone()));
                    assert!(!order.insert(k.clone()), "a key is added once");
                    current[slot] = Some(k);
                }
                if step % 97 == 0 {
                    order.check().unwrap();
                    assert_eq!(order.len(), model.len());
                    assert!(order.iter().eq(model.iter()));
                    assert_eq!(order.first(), model.first());
                    let missing = key(2.0, 0, n + 1);
                    assert!(!order.remove(&missing));
                }
                if step % 13 == 0 {
                    let allow = set(&mut rng, n + 3, 90);
                    let percent = [0, 50, 95, 100][rng.below(4)];
                    let deny = set(&mut rng, n, percent);
                    let walk = model
                        .iter()
                        .find(|k| bit(allow.words(), k.id) && !bit(deny.words(), k.id))
                        .map(|k| k.id);
                    assert_eq!(order.first_allowed(allow.words(), deny.words()), walk);
                }
            }
            order.check().unwrap();
            assert!(order.iter().eq(model.iter()));
            order.clear();
            assert!(order.is_empty() && order.first().is_none());
        }
    }

    /// Pages split and merge back as a large order grows and shrinks.
    #[test]
    fn pages_split_and_merge() {
        let mut order = Order::default();
        let keys: Vec<Key> = (0..1000).map(|i| key(0.0, 0, i)).collect();
        for k in keys.iter().rev() {
            assert!(order.insert(k.clone()));
        }
        order.check().unwrap();
        let full = order.pages.len();
        assert!(full > 1000 / (2 * PAGE));
        assert_eq!(order.first_allowed(&[u64::MAX; 16], &[]), Some(0));
        let mut deny = Bits::default();
        (0..999).for_each(|i| deny.set(i));
        assert_eq!(
            order.first_allowed(&[u64::MAX; 16], deny.words()),
            Some(999)
        );
        deny.set(999);
        assert_eq!(order.first_allowed(&[u64::MAX; 16], deny.words()), None);
        for k in keys.iter().filter(|k| k.id % 10 != 0) {
            assert!(order.remove(k));
            order.check().unwrap();
        }
        assert_eq!(order.len(), 100);
        assert!(
            order.pages.len() < full,
            "{} pages of {full}",
            order.pages.len()
        );
        for k in keys.iter().filter(|k| k.id % 10 == 0) {
            assert!(order.remove(k));
        }
        assert!(order.is_empty() && order.pages.is_empty());
    }
}
