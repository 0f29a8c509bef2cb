//! A small least-recently-used map for inode and metadata-block caches.
//!
//! Capacities are small (hundreds), so evicting by a linear scan for the
//! oldest stamp is cheaper than maintaining a linked list, and it keeps the
//! code obvious.

use std::hash::Hash;

pub struct Lru<K, V> {
    map: crate::kernel::hash::FastMap<K, (V, u64)>,
    tick: u64,
    cap: usize,
}

impl<K: Hash + Eq + Copy, V: Clone> Lru<K, V> {
    pub fn new(cap: usize) -> Self {
        Lru {
            map: crate::kernel::hash::FastMap::with_capacity_and_hasher(cap, Default::default()),
            tick: 0,
            cap: cap.max(1),
        }
    }

    pub fn get(&mut self, k: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(k).map(|(v, stamp)| {
            *stamp = tick;
            v.clone()
        })
    }

    pub fn insert(&mut self, k: K, v: V) {
        if self.map.len() >= self.cap && !self.map.contains_key(&k) {
            if let Some(oldest) = self.map.iter().min_by_key(|(_, (_, s))| *s).map(|(k, _)| *k) {
                self.map.remove(&oldest);
            }
        }
        self.tick += 1;
        self.map.insert(k, (v, self.tick));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Lru;

    #[test]
    fn evicts_least_recently_used() {
        let mut c = Lru::new(2);
        c.insert(1, "a");
        c.insert(2, "b");
        assert_eq!(c.get(&1), Some("a")); // 2 is now the oldest
        c.insert(3, "c");
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&2), None);
        assert_eq!(c.get(&1), Some("a"));
        assert_eq!(c.get(&3), Some("c"));
    }
}
