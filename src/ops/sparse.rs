//! Maps that follow the policies give their memory back when the policies go. A
//! `HashMap` keeps its table at the largest size it reached: a thousand policies deleted
//! would leave every per-policy map holding room for a thousand.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Tables smaller than this are left alone: shrinking them saves less than it costs.
const SMALL: usize = 64;

/// Shrinks `map` to twice its length once a quarter or less of its room is used. Growth
/// doubles and shrinking halves at least twice, so a map that goes up and down around one
/// size is not reallocated on every change.
pub fn shrink_if_sparse<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > SMALL && map.len() * 4 <= map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_emptied_by_deletes_gives_its_room_back() {
        let mut map: HashMap<u32, [u8; 256]> = (0..1000).map(|i| (i, [0; 256])).collect();
        let full = map.capacity();
        for i in 0..990 {
            map.remove(&i);
            shrink_if_sparse(&mut map);
        }
        assert_eq!(map.len(), 10);
        assert!(map.capacity() <= SMALL.max(40), "room for {} kept of {full}", map.capacity());
    }

    #[test]
    fn a_map_in_use_keeps_its_room() {
        let mut map: HashMap<u32, u32> = (0..1000).map(|i| (i, i)).collect();
        for i in 0..400 {
            map.remove(&i);
            shrink_if_sparse(&mut map);
        }
        assert!(map.capacity() >= 1000, "600 of 1,000 still there: the room is kept ({})", map.capacity());
    }
}
