//! Which connection slots of a shard belong to which user. Most users have
//! one connection, so one slot is stored inline.

use std::collections::HashMap;

use tidings_storage::UserId;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Slots {
    One(u32),
    Many(Vec<u32>),
}

/// user → slots.
#[derive(Debug, Default)]
pub struct UserIndex {
    map: HashMap<UserId, Slots>,
}

impl UserIndex {
    pub fn add(&mut self, user: UserId, slot: u32) {
        match self.map.get_mut(&user) {
            None => {
                self.map.insert(user, Slots::One(slot));
            }
            Some(Slots::One(existing)) => {
                let first = *existing;
                self.map.insert(user, Slots::Many(vec![first, slot]));
            }
            Some(Slots::Many(v)) => v.push(slot),
        }
    }

    pub fn remove(&mut self, user: UserId, slot: u32) {
        let empty = match self.map.get_mut(&user) {
            None => return,
            Some(Slots::One(s)) => *s == slot,
            Some(Slots::Many(v)) => {
                v.retain(|s| *s != slot);
                if v.len() == 1 {
                    let only = v[0];
                    self.map.insert(user, Slots::One(only));
                }
                false
            }
        };
        if empty {
            self.map.remove(&user);
        }
    }

    /// The slots of `user` on this shard.
    pub fn slots(&self, user: UserId) -> &[u32] {
        match self.map.get(&user) {
            None => &[],
            Some(Slots::One(s)) => std::slice::from_ref(s),
            Some(Slots::Many(v)) => v,
        }
    }

    /// Users with at least one connection.
    pub fn users(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_several_slots_per_user() {
        let mut ix = UserIndex::default();
        ix.add(UserId(1), 10);
        ix.add(UserId(1), 11);
        ix.add(UserId(2), 12);
        assert_eq!(ix.slots(UserId(1)), &[10, 11]);
        ix.remove(UserId(1), 10);
        assert_eq!(ix.slots(UserId(1)), &[11]);
        ix.remove(UserId(1), 11);
        assert_eq!(ix.slots(UserId(1)), &[] as &[u32]);
        assert_eq!(ix.users(), 1);
        ix.remove(UserId(9), 1);
    }
}
