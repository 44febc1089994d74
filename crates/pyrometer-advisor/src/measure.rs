//! The join of source lines with a profile: what was measured while given lines (or a given
//! function) ran.
//!
//! Every metric of a profile is attributed to the leaf of its stack, and a stack is a path of
//! locations (function, line) from the outermost frame. The time *on lines L of file F* is the
//! sum of the values of every stack that has at least one node in F at a line of L: the time
//! while one of those lines was executing, including what it called. Counting stacks rather
//! than nodes counts a recursive activation once (like cProfile's cumulative time), and the
//! sum is exactly "the inclusive time of the stacks whose location is inside L, without
//! counting a stack twice".
//!
//! For function-level data (tracer profiles: every location has line 0), the same rule over a
//! function's frames gives its inclusive time; lines inside it cannot be told apart.

use std::cell::RefCell;

use pyrometer_profile::{FrameId, Metric, Profile, StackId};
use rustc_hash::FxHashMap;

use crate::sources::Sources;

/// The metrics the advisor reads, in the order of [`Sums`].
const METRICS: [Metric; 7] = [
    Metric::SelfTime,
    Metric::WallSamples,
    Metric::CpuSamples,
    Metric::GilSamples,
    Metric::AllocBytes,
    Metric::AllocCount,
    Metric::RetainedBytes,
];

/// Sums of each metric over some stacks; `None` when the profile has no such column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Sums([Option<u64>; 7]);

impl Sums {
    pub(crate) fn get(&self, metric: Metric) -> Option<u64> {
        METRICS
            .iter()
            .position(|m| *m == metric)
            .and_then(|i| self.0[i])
    }

    fn is_zero(&self) -> bool {
        self.0.iter().all(|v| v.is_none_or(|v| v == 0))
    }
}

/// What a profile measured on some lines or in a function, in readable units.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    /// Time, in nanoseconds: the tracer's time, or wall samples × the sampling interval.
    pub time_ns: Option<f64>,
    /// The wall samples behind `time_ns`, for sampled profiles.
    pub samples: Option<u64>,
    /// Time on a CPU (sampled profiles), nanoseconds.
    pub cpu_ns: Option<f64>,
    /// Bytes allocated (memory profiles).
    pub alloc_bytes: Option<u64>,
    /// Allocations made (memory profiles).
    pub alloc_count: Option<u64>,
    /// Bytes allocated there and still alive at the end (memory profiles).
    pub retained_bytes: Option<u64>,
    /// The share of the run's total of the ranking metric (time, else allocated bytes), in
    /// percent.
    pub percent: f64,
}

/// Which metric ranks findings, and how its values become time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RankMetric {
    pub metric: Metric,
    /// Nanoseconds per unit, when the metric is time (samples need the interval).
    pub ns_per_unit: Option<f64>,
    /// The profile's total of the metric.
    pub total: u64,
}

/// The per-stack values of a profile, and the joins over them.
///
/// A query is the union of the subtrees of some stacks (the stacks whose location is on the
/// lines, or in the function): the stacks are numbered in depth-first order once, so that a
/// subtree is a contiguous run whose sums come from prefix sums, and a query costs a sort of
/// the stacks it names rather than a pass over the whole profile.
pub(crate) struct Join<'p> {
    pub profile: &'p Profile,
    pub sources: &'p Sources,
    /// Per metric of [`METRICS`], the value of each stack (summed over threads).
    columns: [Option<Vec<u64>>; 7],
    /// Per metric, prefix sums of the values in depth-first order.
    prefix: [Option<Vec<u64>>; 7],
    /// Depth-first entry index of each stack, and the index just past its subtree.
    enter: Vec<u32>,
    leave: Vec<u32>,
    /// For each user file, its (line, stack) nodes with a line, sorted.
    nodes_by_file: Vec<Vec<(u32, StackId)>>,
    /// For each user frame, its stacks.
    nodes_by_frame: FxHashMap<FrameId, Vec<StackId>>,
    /// For each user file, whether some node in it carries function-level data (line 0).
    function_level: Vec<bool>,
    pub rank: Option<RankMetric>,
    cache: RefCell<FxHashMap<Vec<LineRange>, Sums>>,
}

/// (user file index, first line, last line), inclusive.
pub(crate) type LineRange = (u32, u32, u32);

impl<'p> Join<'p> {
    pub(crate) fn new(profile: &'p Profile, sources: &'p Sources) -> Join<'p> {
        let stacks = profile.stacks.len();
        let columns = METRICS.map(|metric| {
            let column = profile.samples.column(metric)?;
            let mut values = vec![0u64; stacks];
            for (&stack, &v) in profile.samples.stack.iter().zip(column) {
                if let Some(slot) = values.get_mut(stack as usize) {
                    *slot = slot.saturating_add(v);
                }
            }
            Some(values)
        });
        // Depth-first numbering (iterative: stacks can be deep).
        let mut children: Vec<Vec<StackId>> = vec![Vec::new(); stacks];
        let mut roots = Vec::new();
        for (i, node) in profile.stacks.iter().enumerate() {
            match node.parent {
                Some(p) => children[p as usize].push(i as StackId),
                None => roots.push(i as StackId),
            }
        }
        let mut enter = vec![0u32; stacks];
        let mut leave = vec![0u32; stacks];
        let mut order: Vec<StackId> = Vec::with_capacity(stacks);
        let mut work: Vec<(StackId, bool)> = roots.iter().rev().map(|&r| (r, false)).collect();
        while let Some((s, done)) = work.pop() {
            if done {
                leave[s as usize] = order.len() as u32;
                continue;
            }
            enter[s as usize] = order.len() as u32;
            order.push(s);
            work.push((s, true));
            work.extend(children[s as usize].iter().rev().map(|&c| (c, false)));
        }
        let prefix = columns.clone().map(|column| {
            let values = column?;
            let mut sums = Vec::with_capacity(order.len() + 1);
            let mut acc = 0u64;
            sums.push(0);
            for &s in &order {
                acc = acc.saturating_add(values[s as usize]);
                sums.push(acc);
            }
            Some(sums)
        });
        let mut nodes_by_file = vec![Vec::new(); sources.files.len()];
        let mut nodes_by_frame: FxHashMap<FrameId, Vec<StackId>> = FxHashMap::default();
        let mut function_level = vec![false; sources.files.len()];
        for (i, node) in profile.stacks.iter().enumerate() {
            let location = profile.locations[node.location as usize];
            let Some(Some(file)) = sources.file_of_frame.get(location.frame as usize) else {
                continue;
            };
            nodes_by_frame
                .entry(location.frame)
                .or_default()
                .push(i as StackId);
            if location.line == 0 {
                function_level[*file as usize] = true;
            } else {
                nodes_by_file[*file as usize].push((location.line, i as StackId));
            }
        }
        for nodes in &mut nodes_by_file {
            nodes.sort_unstable();
        }
        let rank = [Metric::SelfTime, Metric::WallSamples, Metric::AllocBytes]
            .into_iter()
            .find(|m| profile.samples.column(*m).is_some())
            .map(|metric| RankMetric {
                metric,
                ns_per_unit: match metric {
                    Metric::SelfTime => Some(1.0),
                    Metric::WallSamples => profile.meta.sample_interval_ns.map(|ns| ns as f64),
                    _ => None,
                },
                total: profile.total(metric),
            });
        Join {
            profile,
            sources,
            columns,
            prefix,
            enter,
            leave,
            nodes_by_file,
            nodes_by_frame,
            function_level,
            rank,
            cache: RefCell::new(FxHashMap::default()),
        }
    }

    /// The value of `metric` for each stack, if the profile has it.
    pub(crate) fn column(&self, metric: Metric) -> Option<&[u64]> {
        let index = METRICS.iter().position(|m| *m == metric)?;
        self.columns[index].as_deref()
    }

    /// Nanoseconds per sample, when the profile is sampled and says its interval.
    pub(crate) fn sample_ns(&self) -> Option<f64> {
        self.profile.meta.sample_interval_ns.map(|ns| ns as f64)
    }

    /// The nodes of the file with a line in `first..=last`.
    fn nodes_in(&self, file: u32, first: u32, last: u32) -> &[(u32, StackId)] {
        let nodes = &self.nodes_by_file[file as usize];
        let start = nodes.partition_point(|&(l, _)| l < first);
        let end = nodes.partition_point(|&(l, _)| l <= last);
        &nodes[start..end.max(start)]
    }

    /// Whether any node of the file has a line in `first..=last`.
    pub(crate) fn has_lines(&self, file: u32, first: u32, last: u32) -> bool {
        !self.nodes_in(file, first, last).is_empty()
    }

    /// Whether the file has function-level nodes (line 0).
    pub(crate) fn has_function_level(&self, file: u32) -> bool {
        self.function_level[file as usize]
    }

    /// Whether the profile has any line-level location in a user file.
    pub(crate) fn is_line_level(&self) -> bool {
        self.nodes_by_file.iter().any(|nodes| !nodes.is_empty())
    }

    /// What was measured while any of `ranges` (file, first line, last line) was executing.
    pub(crate) fn lines(&self, ranges: &[LineRange]) -> Sums {
        let ranges: Vec<LineRange> = ranges
            .iter()
            .copied()
            .filter(|&(file, first, last)| self.has_lines(file, first, last))
            .collect();
        if let Some(sums) = self.cache.borrow().get(&ranges) {
            return *sums;
        }
        let mut nodes: Vec<StackId> = ranges
            .iter()
            .flat_map(|&(file, first, last)| self.nodes_in(file, first, last))
            .map(|&(_, stack)| stack)
            .collect();
        let sums = self.union_of_subtrees(&mut nodes);
        self.cache.borrow_mut().insert(ranges, sums);
        sums
    }

    /// What was measured while any of `frames` was on the stack (inclusive, each stack once),
    /// and in those frames themselves (self).
    pub(crate) fn function(&self, frames: &[FrameId]) -> (Sums, Sums) {
        let mut nodes: Vec<StackId> = frames
            .iter()
            .filter_map(|frame| self.nodes_by_frame.get(frame))
            .flatten()
            .copied()
            .collect();
        let mut own = [None; 7];
        for (slot, column) in own.iter_mut().zip(&self.columns) {
            if let Some(values) = column {
                *slot = Some(
                    nodes
                        .iter()
                        .fold(0u64, |acc, &s| acc.saturating_add(values[s as usize])),
                );
            }
        }
        (self.union_of_subtrees(&mut nodes), Sums(own))
    }

    /// Sums over every stack in the subtree of one of `nodes` (each stack once).
    fn union_of_subtrees(&self, nodes: &mut [StackId]) -> Sums {
        nodes.sort_unstable_by_key(|&s| self.enter[s as usize]);
        let mut spans: Vec<(u32, u32)> = Vec::new();
        for &s in nodes.iter() {
            let (start, end) = (self.enter[s as usize], self.leave[s as usize]);
            match spans.last() {
                // Inside the previous subtree: already counted.
                Some(&(_, last_end)) if start < last_end => {}
                _ => spans.push((start, end)),
            }
        }
        let mut out = [None; 7];
        for (slot, prefix) in out.iter_mut().zip(&self.prefix) {
            if let Some(prefix) = prefix {
                let sum = spans.iter().fold(0u64, |acc, &(start, end)| {
                    acc.saturating_add(prefix[end as usize] - prefix[start as usize])
                });
                *slot = Some(sum);
            }
        }
        Sums(out)
    }

    /// `sums` in readable units, with its share of the ranking metric's total.
    pub(crate) fn measured(&self, sums: Sums) -> Measured {
        let sample_ns = self.sample_ns();
        let time_ns = sums
            .get(Metric::SelfTime)
            .map(|ns| ns as f64)
            .or_else(|| Some(sums.get(Metric::WallSamples)? as f64 * sample_ns?));
        let percent = self.rank.map_or(0.0, |rank| {
            let value = sums.get(rank.metric).unwrap_or(0);
            pyrometer_profile::analysis::percent(value, rank.total)
        });
        Measured {
            time_ns,
            samples: sums.get(Metric::WallSamples),
            cpu_ns: sums
                .get(Metric::CpuSamples)
                .and_then(|s| Some(s as f64 * sample_ns?)),
            alloc_bytes: sums.get(Metric::AllocBytes),
            alloc_count: sums.get(Metric::AllocCount),
            retained_bytes: sums.get(Metric::RetainedBytes),
            percent,
        }
    }

    /// The ranking value of `sums` (0 when nothing ranks).
    pub(crate) fn rank_value(&self, sums: Sums) -> u64 {
        self.rank
            .and_then(|rank| sums.get(rank.metric))
            .unwrap_or(0)
    }
}

impl Sums {
    /// Whether nothing at all was measured.
    pub(crate) fn nothing(&self) -> bool {
        self.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pyrometer_profile::{FrameKind, Meta, ProfileBuilder};

    /// The union-of-subtrees query against the definition, on a random trie with recursion.
    #[test]
    fn subtree_unions_match_a_direct_pass() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.py");
        std::fs::write(&file, "x = 1\n").unwrap();
        let name = file.to_string_lossy().into_owned();
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut b = ProfileBuilder::new(Meta::default());
        let p = b.process(1, None, vec![]);
        let t = b.thread(p, 1, 1, "MainThread", true);
        let frames: Vec<FrameId> = (0..4)
            .map(|i| {
                b.frame(
                    &format!("f{i}"),
                    &format!("f{i}"),
                    &name,
                    1,
                    FrameKind::Python,
                )
            })
            .collect();
        for _ in 0..300 {
            let depth = 1 + next(8) as usize;
            let path: Vec<u32> = (0..depth)
                .map(|_| {
                    let frame = frames[next(4) as usize];
                    b.location(frame, 1 + next(12) as u32)
                })
                .collect();
            let stack = b.stack_from_path(&path).unwrap();
            b.add(stack, t, Metric::SelfTime, 1 + next(100));
        }
        let profile = b.finish();
        let sources = Sources::of_profile(&profile);
        let join = Join::new(&profile, &sources);
        let values = join.column(Metric::SelfTime).unwrap().to_vec();
        for first in 1..=12 {
            for last in first..=12 {
                let mut flag = vec![false; profile.stacks.len()];
                let mut expected = 0;
                for (i, node) in profile.stacks.iter().enumerate() {
                    let line = profile.locations[node.location as usize].line;
                    flag[i] = node.parent.is_some_and(|p| flag[p as usize])
                        || (first..=last).contains(&line);
                    if flag[i] {
                        expected += values[i];
                    }
                }
                let got = join.lines(&[(0, first, last)]).get(Metric::SelfTime);
                assert_eq!(got, Some(expected), "lines {first}-{last}");
            }
        }
        for frame in &frames {
            let mut flag = vec![false; profile.stacks.len()];
            let (mut total, mut own) = (0, 0);
            for (i, node) in profile.stacks.iter().enumerate() {
                let here = profile.locations[node.location as usize].frame == *frame;
                flag[i] = node.parent.is_some_and(|p| flag[p as usize]) || here;
                total += if flag[i] { values[i] } else { 0 };
                own += if here { values[i] } else { 0 };
            }
            let (t, o) = join.function(&[*frame]);
            assert_eq!(t.get(Metric::SelfTime), Some(total));
            assert_eq!(o.get(Metric::SelfTime), Some(own));
        }
    }
}
