//! One thread's call tree: the data every hook event updates.
//!
//! Each node is one call path (root → … → function). Entering a function moves to the child of
//! the current node for that function, creating it on first sight; leaving charges the elapsed
//! ticks to the node. cProfile's per-function and per-edge figures, recursion included, follow
//! from the tree afterwards (see `pyrometer_profile::analysis`), so the hot path does no
//! recursion bookkeeping at all.
//!
//! Pure Rust: the hooks pass a `key` (a code object or `PyMethodDef` address) and ticks.

use rustc_hash::FxHashMap;

/// Node 0 is the thread's root; it stands for "not inside any profiled call".
pub const ROOT: u32 = 0;

/// Children remembered in each node, most recent first: loops call the same few functions
/// again and again, and a hit here saves the hash lookup.
const CACHED_CHILDREN: usize = 4;

#[derive(Clone, Debug)]
pub struct Node {
    /// The function: the address of its code object, or of its `PyMethodDef` with bit 0 set.
    pub key: usize,
    pub parent: u32,
    /// Completed activations.
    pub calls: u64,
    /// Ticks spent in this node itself, not in its children.
    pub self_ticks: u64,
    /// (key, child) of recently entered children; key 0 marks an empty slot.
    cache: [(usize, u32); CACHED_CHILDREN],
}

impl Node {
    fn new(key: usize, parent: u32) -> Node {
        Node {
            key,
            parent,
            calls: 0,
            self_ticks: 0,
            cache: [(0, ROOT); CACHED_CHILDREN],
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Activation {
    node: u32,
    start: u64,
    /// Ticks spent in completed children of this activation.
    children: u64,
}

/// The call tree and the open activations of one thread.
///
/// Invariants the hot path relies on (so it needs no bounds checks and cannot panic): the
/// activation stack is never empty (its bottom is the root), and every node index stored in a
/// node, a cache slot or an activation is inside `nodes`.
#[derive(Clone, Debug)]
pub struct CallTree {
    pub nodes: Vec<Node>,
    children: FxHashMap<(u32, usize), u32>,
    stack: Vec<Activation>,
    /// Returns seen with no open activation (frames entered before tracing began).
    pub unmatched_returns: u64,
}

impl Default for CallTree {
    fn default() -> Self {
        Self::new()
    }
}

impl CallTree {
    pub fn new() -> CallTree {
        let mut stack = Vec::with_capacity(256);
        stack.push(Activation {
            node: ROOT,
            start: 0,
            children: 0,
        });
        CallTree {
            nodes: vec![Node::new(0, ROOT)],
            children: FxHashMap::default(),
            stack,
            unmatched_returns: 0,
        }
    }

    /// The child of `parent` for `key`, and whether it was just created.
    #[inline(always)]
    fn child(&mut self, parent: u32, key: usize) -> (u32, bool) {
        debug_assert!((parent as usize) < self.nodes.len());
        // SAFETY: `parent` comes from the activation stack, whose entries are valid node indices.
        let node = unsafe { self.nodes.get_unchecked(parent as usize) };
        for &(k, child) in &node.cache {
            if k == key {
                return (child, false);
            }
        }
        self.child_slow(parent, key)
    }

    #[cold]
    #[inline(never)]
    fn child_slow(&mut self, parent: u32, key: usize) -> (u32, bool) {
        let next = self.nodes.len() as u32;
        let mut created = false;
        let child = *self.children.entry((parent, key)).or_insert_with(|| {
            created = true;
            next
        });
        if created {
            self.nodes.push(Node::new(key, parent));
        }
        let cache = &mut self.nodes[parent as usize].cache;
        cache.rotate_right(1);
        cache[0] = (key, child);
        (child, created)
    }

    /// A call of `key` begins; `now` is read after the lookup so that the lookup is not
    /// charged to the callee. Returns true when this call path is new, so the caller can
    /// register the function (take a reference, record its names) off the fast path.
    #[inline(always)]
    pub fn enter_with(&mut self, key: usize, now: impl FnOnce() -> u64) -> bool {
        debug_assert!(!self.stack.is_empty());
        // SAFETY: the stack always holds the root activation.
        let top = unsafe { self.stack.last().unwrap_unchecked() }.node;
        let (node, created) = self.child(top, key);
        self.stack.push(Activation {
            node,
            start: now(),
            children: 0,
        });
        created
    }

    /// A call of `key` begins at `now` (see [`CallTree::enter_with`]).
    #[inline]
    pub fn enter(&mut self, key: usize, now: u64) -> bool {
        self.enter_with(key, || now)
    }

    /// The innermost call returns at `now`. Returns true when the thread is back outside any
    /// profiled call.
    #[inline(always)]
    pub fn leave(&mut self, now: u64) -> bool {
        if self.stack.len() <= 1 {
            self.unmatched_returns += 1;
            return true;
        }
        // SAFETY: the stack holds at least two activations (checked above).
        let act = unsafe { self.stack.pop().unwrap_unchecked() };
        let elapsed = now.saturating_sub(act.start);
        debug_assert!((act.node as usize) < self.nodes.len());
        // SAFETY: activation nodes are valid node indices.
        let node = unsafe { self.nodes.get_unchecked_mut(act.node as usize) };
        node.calls += 1;
        node.self_ticks += elapsed.saturating_sub(act.children);
        // SAFETY: the root activation is still there.
        let parent = unsafe { self.stack.last_mut().unwrap_unchecked() };
        parent.children += elapsed;
        self.stack.len() == 1
    }

    /// Closes every open activation at `now`, as cProfile does when it is disabled.
    pub fn close_all(&mut self, now: u64) {
        while self.stack.len() > 1 {
            self.leave(now);
        }
    }

    /// How many calls are open.
    pub fn depth(&self) -> usize {
        self.stack.len() - 1
    }

    /// The tree as it would be if every open call returned at `now`, without changing it.
    pub fn closed_copy(&self, now: u64) -> CallTree {
        let mut copy = CallTree {
            nodes: self.nodes.clone(),
            children: FxHashMap::default(),
            stack: self.stack.clone(),
            unmatched_returns: self.unmatched_returns,
        };
        copy.close_all(now);
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_time_excludes_children_and_paths_are_distinct() {
        let mut t = CallTree::new();
        // main [0..100] calls f [10..40] (which calls g [20..30]) and g [50..60].
        assert!(t.enter(1, 0));
        assert!(t.enter(2, 10));
        assert!(t.enter(3, 20));
        t.leave(30);
        t.leave(40);
        assert!(t.enter(3, 50));
        t.leave(60);
        t.leave(100);
        let find = |path: &[usize]| {
            // (test helper: walk the hash map, which holds every child)
            let mut node = ROOT;
            for &k in path {
                node = *t.children.get(&(node, k)).unwrap();
            }
            &t.nodes[node as usize]
        };
        assert_eq!((find(&[1]).calls, find(&[1]).self_ticks), (1, 60));
        assert_eq!((find(&[1, 2]).calls, find(&[1, 2]).self_ticks), (1, 20));
        assert_eq!(find(&[1, 2, 3]).self_ticks, 10);
        assert_eq!(find(&[1, 3]).self_ticks, 10);
        assert_eq!(t.nodes.len(), 5);
    }

    #[test]
    fn repeated_calls_reuse_nodes_and_open_calls_close() {
        let mut t = CallTree::new();
        t.enter(1, 0);
        for i in 0..1000 {
            let created = t.enter(2, 10 + i * 2);
            assert_eq!(created, i == 0);
            t.leave(11 + i * 2);
        }
        t.enter(3, 5000);
        let snapshot = t.closed_copy(6000);
        assert_eq!(t.depth(), 2, "the copy leaves the live tree open");
        assert_eq!(snapshot.depth(), 0);
        let f2 = snapshot.nodes.iter().find(|n| n.key == 2).unwrap();
        assert_eq!((f2.calls, f2.self_ticks), (1000, 1000));
        let f3 = snapshot.nodes.iter().find(|n| n.key == 3).unwrap();
        assert_eq!((f3.calls, f3.self_ticks), (1, 1000));
        let root_child = snapshot.nodes.iter().find(|n| n.key == 1).unwrap();
        assert_eq!(root_child.self_ticks, 6000 - 1000 - 1000);
    }

    #[test]
    fn alternating_children_all_stay_cached() {
        let mut t = CallTree::new();
        t.enter(1, 0);
        for i in 0..100u64 {
            for key in [2, 3, 4, 5, 2, 6] {
                t.enter(key, i);
                t.leave(i + 1);
            }
        }
        t.leave(1000);
        let calls: Vec<(usize, u64)> = t.nodes.iter().skip(2).map(|n| (n.key, n.calls)).collect();
        assert_eq!(
            calls,
            vec![(2, 200), (3, 100), (4, 100), (5, 100), (6, 100)]
        );
    }

    #[test]
    fn returns_without_calls_are_counted_not_applied() {
        let mut t = CallTree::new();
        t.leave(5);
        t.enter(1, 10);
        t.leave(20);
        t.leave(30);
        assert_eq!(t.unmatched_returns, 2);
        assert_eq!(t.nodes[1].calls, 1);
    }
}
