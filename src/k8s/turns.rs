//! Fair turns: how many passes of one account and region may run at once. The controller
//! runs a bounded number of passes; without a share per group, one account with 500
//! policies (whose calls wait on that account's pacing) would hold every slot while the
//! other accounts' policies wait. A pass that finds its group's turns taken gives its slot
//! back and is retried shortly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct Turns {
    per_group: usize,
    taken: Arc<Mutex<HashMap<String, usize>>>,
}

/// A turn of one group, given back when dropped.
pub struct Turn {
    group: String,
    taken: Arc<Mutex<HashMap<String, usize>>>,
}

impl Turns {
    /// At most `per_group` passes of a group at once (at least one).
    pub fn new(per_group: usize) -> Self {
        Turns { per_group: per_group.max(1), taken: Arc::default() }
    }

    /// A turn for `group`, or `None` while all of its turns are taken.
    pub fn take(&self, group: &str) -> Option<Turn> {
        let mut taken = self.taken.lock().expect("turns lock");
        let n = taken.entry(group.to_owned()).or_default();
        if *n >= self.per_group {
            return None;
        }
        *n += 1;
        Some(Turn { group: group.to_owned(), taken: self.taken.clone() })
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut taken = self.taken.lock().expect("turns lock");
        if let Some(n) = taken.get_mut(&self.group) {
            *n -= 1;
            if *n == 0 {
                // Nothing is kept for a group with no pass running.
                taken.remove(&self.group);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_gets_its_share_and_no_more_and_others_are_not_held_up() {
        let turns = Turns::new(2);
        let a1 = turns.take("a").unwrap();
        let _a2 = turns.take("a").unwrap();
        assert!(turns.take("a").is_none(), "a third pass of group a waits");
        assert!(turns.take("b").is_some(), "group b is not held up by a");
        drop(a1);
        assert!(turns.take("a").is_some(), "a turn given back is taken again");
    }

    #[test]
    fn nothing_is_kept_for_idle_groups() {
        let turns = Turns::new(1);
        drop(turns.take("a"));
        assert!(turns.taken.lock().unwrap().is_empty());
    }
}
