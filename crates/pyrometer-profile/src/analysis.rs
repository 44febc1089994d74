//! Figures derived from the stack trie: per-stack inclusive values, per-function and per-line
//! tables, and caller → callee edges with cProfile's recursion rules.
//!
//! cProfile counts a call as *primitive* when no other activation of the same function is open
//! on the stack, and adds a function's elapsed time to its cumulative time only for such
//! calls; an edge caller → callee is recursive when the same edge is already open further out.
//! In a stack trie both facts are properties of the path, so they are computed once per stack
//! here, for any metric.

use rustc_hash::FxHashMap;

use crate::model::{FrameId, Metric, Profile, StackId, ThreadIdx};

/// Which rows of a profile to count.
#[derive(Clone, Debug, Default)]
pub enum ThreadFilter {
    #[default]
    All,
    Only(Vec<ThreadIdx>),
}

impl ThreadFilter {
    fn accepts(&self, thread: ThreadIdx) -> bool {
        match self {
            ThreadFilter::All => true,
            ThreadFilter::Only(threads) => threads.contains(&thread),
        }
    }
}

/// The unit a table is keyed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    /// One row per frame (function).
    Function,
    /// One row per location (function + line).
    Line,
}

/// The shape of the stack trie, computed once per profile.
pub struct Shape {
    pub children: Vec<Vec<StackId>>,
    pub roots: Vec<StackId>,
    /// `key_recursive[s]`: the key (frame or location) of stack `s` also labels an ancestor.
    pub key_recursive: Vec<bool>,
    /// `edge_recursive[s]`: the edge (key of parent → key of `s`) also appears further out.
    pub edge_recursive: Vec<bool>,
    /// The key of each stack: a frame id or a location id, per the granularity.
    pub key: Vec<u32>,
    pub granularity: Granularity,
}

impl Shape {
    pub fn new(profile: &Profile, granularity: Granularity) -> Shape {
        let n = profile.stacks.len();
        let key: Vec<u32> = profile
            .stacks
            .iter()
            .map(|s| match granularity {
                Granularity::Function => profile.locations[s.location as usize].frame,
                Granularity::Line => s.location,
            })
            .collect();
        let mut children = vec![Vec::new(); n];
        let mut roots = Vec::new();
        for (i, s) in profile.stacks.iter().enumerate() {
            match s.parent {
                Some(p) => children[p as usize].push(i as StackId),
                None => roots.push(i as StackId),
            }
        }
        let mut key_recursive = vec![false; n];
        let mut edge_recursive = vec![false; n];
        // Depth-first walk keeping how often each key and each edge is open on the path.
        let mut open_keys: FxHashMap<u32, u32> = FxHashMap::default();
        let mut open_edges: FxHashMap<(u32, u32), u32> = FxHashMap::default();
        enum Step {
            Enter(StackId),
            Leave(StackId),
        }
        let mut work: Vec<Step> = roots.iter().rev().map(|&r| Step::Enter(r)).collect();
        while let Some(step) = work.pop() {
            match step {
                Step::Enter(s) => {
                    let k = key[s as usize];
                    let open = open_keys.entry(k).or_insert(0);
                    key_recursive[s as usize] = *open > 0;
                    *open += 1;
                    if let Some(p) = profile.stacks[s as usize].parent {
                        let open = open_edges.entry((key[p as usize], k)).or_insert(0);
                        edge_recursive[s as usize] = *open > 0;
                        *open += 1;
                    }
                    work.push(Step::Leave(s));
                    work.extend(children[s as usize].iter().rev().map(|&c| Step::Enter(c)));
                }
                Step::Leave(s) => {
                    let k = key[s as usize];
                    *open_keys.get_mut(&k).expect("entered") -= 1;
                    if let Some(p) = profile.stacks[s as usize].parent {
                        *open_edges.get_mut(&(key[p as usize], k)).expect("entered") -= 1;
                    }
                }
            }
        }
        Shape {
            children,
            roots,
            key_recursive,
            edge_recursive,
            key,
            granularity,
        }
    }
}

/// Per-stack values of one metric over the selected threads.
pub fn stack_values(profile: &Profile, metric: Metric, filter: &ThreadFilter) -> Vec<u64> {
    let mut values = vec![0u64; profile.stacks.len()];
    if let Some(column) = profile.samples.column(metric) {
        for ((&stack, &thread), &v) in profile
            .samples
            .stack
            .iter()
            .zip(&profile.samples.thread)
            .zip(column)
        {
            if filter.accepts(thread) {
                values[stack as usize] += v;
            }
        }
    }
    values
}

/// Inclusive values: each stack's own value plus everything below it.
pub fn inclusive(profile: &Profile, self_values: &[u64]) -> Vec<u64> {
    let mut total = self_values.to_vec();
    for i in (0..profile.stacks.len()).rev() {
        if let Some(p) = profile.stacks[i].parent {
            total[p as usize] += total[i];
        }
    }
    total
}

/// One function (or line) of a [`Table`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// A frame id or a location id, per the table's granularity.
    pub key: u32,
    /// Completed calls (0 when the profile has no call counts).
    pub calls: u64,
    /// Calls that were not recursive.
    pub primitive_calls: u64,
    /// The metric spent in the function itself.
    pub self_value: u64,
    /// The metric spent in the function and everything it called, counting each recursive
    /// activation once.
    pub total_value: u64,
}

/// One caller → callee edge of a [`Table`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Edge {
    pub caller: u32,
    pub callee: u32,
    pub calls: u64,
    pub primitive_calls: u64,
    pub self_value: u64,
    pub total_value: u64,
}

/// Per-function (or per-line) figures for one metric.
pub struct Table {
    pub granularity: Granularity,
    pub metric: Metric,
    pub rows: Vec<Row>,
    pub edges: Vec<Edge>,
    /// The metric summed over every selected row of the profile.
    pub grand_total: u64,
    /// Whether the profile counts calls.
    pub has_calls: bool,
}

impl Table {
    pub fn new(profile: &Profile, shape: &Shape, metric: Metric, filter: &ThreadFilter) -> Table {
        let self_values = stack_values(profile, metric, filter);
        let total_values = inclusive(profile, &self_values);
        let has_calls = profile.samples.column(Metric::Calls).is_some();
        let calls = stack_values(profile, Metric::Calls, filter);
        let mut rows: FxHashMap<u32, Row> = FxHashMap::default();
        let mut edges: FxHashMap<(u32, u32), Edge> = FxHashMap::default();
        for s in 0..profile.stacks.len() {
            if self_values[s] == 0 && total_values[s] == 0 && calls[s] == 0 {
                continue;
            }
            let key = shape.key[s];
            let row = rows.entry(key).or_insert_with(|| Row {
                key,
                ..Row::default()
            });
            row.calls += calls[s];
            row.self_value += self_values[s];
            if !shape.key_recursive[s] {
                row.primitive_calls += calls[s];
                row.total_value += total_values[s];
            }
            if let Some(p) = profile.stacks[s].parent {
                let caller = shape.key[p as usize];
                let edge = edges.entry((caller, key)).or_insert_with(|| Edge {
                    caller,
                    callee: key,
                    ..Edge::default()
                });
                edge.calls += calls[s];
                edge.self_value += self_values[s];
                if !shape.edge_recursive[s] {
                    edge.primitive_calls += calls[s];
                    edge.total_value += total_values[s];
                }
            }
        }
        let mut rows: Vec<Row> = rows.into_values().collect();
        rows.sort_by_key(|r| r.key);
        let mut edges: Vec<Edge> = edges.into_values().collect();
        edges.sort_by_key(|e| (e.caller, e.callee));
        let grand_total = self_values.iter().sum();
        Table {
            granularity: shape.granularity,
            metric,
            rows,
            edges,
            grand_total,
            has_calls,
        }
    }

    /// The frame a row's key stands for.
    pub fn frame_of(&self, profile: &Profile, key: u32) -> FrameId {
        match self.granularity {
            Granularity::Function => key,
            Granularity::Line => profile.locations[key as usize].frame,
        }
    }
}

/// Fraction of `part` in `whole` as a percentage (0 when `whole` is 0).
pub fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::ProfileBuilder;
    use crate::model::{FrameKind, Meta};

    /// main → fib → fib → fib (recursion), main → g; times in the leaf rows.
    fn recursive_profile() -> Profile {
        let mut b = ProfileBuilder::new(Meta::default());
        let p = b.process(1, None, vec![]);
        let t = b.thread(p, 1, 1, "MainThread", true);
        let main = b.frame("main", "main", "m.py", 1, FrameKind::Python);
        let fib = b.frame("fib", "fib", "m.py", 10, FrameKind::Python);
        let g = b.frame("g", "g", "m.py", 20, FrameKind::Python);
        let (lm, lf, lg) = (b.location(main, 0), b.location(fib, 0), b.location(g, 0));
        let s_main = b.stack_from_path(&[lm]).unwrap();
        let s_f1 = b.stack_from_path(&[lm, lf]).unwrap();
        let s_f2 = b.stack_from_path(&[lm, lf, lf]).unwrap();
        let s_f3 = b.stack_from_path(&[lm, lf, lf, lf]).unwrap();
        let s_g = b.stack_from_path(&[lm, lg]).unwrap();
        for (s, self_ns, calls) in [
            (s_main, 10, 1),
            (s_f1, 3, 1),
            (s_f2, 2, 2),
            (s_f3, 1, 4),
            (s_g, 5, 3),
        ] {
            b.add(s, t, Metric::SelfTime, self_ns);
            b.add(s, t, Metric::Calls, calls);
        }
        b.finish()
    }

    #[test]
    fn function_table_follows_cprofile_recursion_rules() {
        let profile = recursive_profile();
        let shape = Shape::new(&profile, Granularity::Function);
        let table = Table::new(&profile, &shape, Metric::SelfTime, &ThreadFilter::All);
        assert_eq!(table.grand_total, 21);
        let fib = table.rows.iter().find(|r| r.key == 1).unwrap();
        assert_eq!(fib.calls, 7);
        assert_eq!(fib.primitive_calls, 1);
        assert_eq!(fib.self_value, 6);
        assert_eq!(fib.total_value, 6, "only the outermost activation counts");
        let main = table.rows.iter().find(|r| r.key == 0).unwrap();
        assert_eq!((main.total_value, main.self_value), (21, 10));
        // fib → fib: 6 calls, recursive once the edge is already open (the third level).
        let rec = table
            .edges
            .iter()
            .find(|e| e.caller == 1 && e.callee == 1)
            .unwrap();
        assert_eq!(rec.calls, 6);
        assert_eq!(rec.primitive_calls, 2);
        assert_eq!(rec.total_value, 3);
        let main_fib = table
            .edges
            .iter()
            .find(|e| e.caller == 0 && e.callee == 1)
            .unwrap();
        assert_eq!(
            (
                main_fib.calls,
                main_fib.primitive_calls,
                main_fib.total_value
            ),
            (1, 1, 6)
        );
    }

    #[test]
    fn inclusive_sums_subtrees() {
        let profile = recursive_profile();
        let self_values = stack_values(&profile, Metric::SelfTime, &ThreadFilter::All);
        let total = inclusive(&profile, &self_values);
        assert_eq!(total, vec![21, 6, 3, 1, 5]);
    }
}
