//! Aggregating samples into a stack trie, and turning it into a [`Profile`].
//!
//! The aggregate is our own (not a `ProfileBuilder`) so that a live view can turn it into a
//! `Profile` as often as it likes while sampling goes on; [`Aggregate::to_profile`] replays
//! it through `ProfileBuilder`. A thread whose stack is the same as in its previous sample
//! costs one comparison and one counter increment: nothing is interned again.

use std::sync::Arc;

use pyrometer_profile::{FrameKind, Meta, Metric, Profile, ProfileBuilder};
use rustc_hash::FxHashMap;

use crate::code::CodeInfo;
use crate::cpu::SampleKey;
use crate::process::RawFrame;

const NO_PARENT: u32 = u32::MAX;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct FrameRec {
    name: Arc<str>,
    qualname: Arc<str>,
    file: Arc<str>,
    first_line: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Node {
    parent: u32,
    frame: u32,
    line: u32,
}

/// A sampled process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessRec {
    pub pid: u32,
    /// Index of the parent process in the aggregate.
    pub parent: Option<u32>,
    pub command: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ThreadRec {
    process: u32,
    ident: u64,
    native_id: u64,
    name: String,
    is_main: bool,
}

/// What one thread of one sample counts for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    pub holds_gil: bool,
    /// How many ticks this sample stands for: 1, plus the ticks skipped just before it when
    /// the sampler fell behind (so busy periods, when the sampler competes with the program
    /// for a CPU and falls behind, are not under-counted).
    pub weight: u64,
    /// Of those ticks, how many the thread spent on a CPU (at most `weight`), when that is
    /// known as the sample is taken; CPU time known later is added with [`Aggregate::add_cpu`].
    pub cpu_ticks: u64,
}

/// A code object of the stack could not be described: the sample is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MissingCode;

#[derive(Clone, Debug, Default)]
struct LastStack {
    key: Vec<(u32, u32)>,
    node: u32,
}

/// The stack trie and its counts.
#[derive(Debug, Default)]
pub struct Aggregate {
    frames: Vec<FrameRec>,
    frame_ids: FxHashMap<FrameRec, u32>,
    /// (process index, code serial) → frame index.
    code_frames: FxHashMap<(u32, u32), u32>,
    nodes: Vec<Node>,
    node_ids: FxHashMap<Node, u32>,
    processes: Vec<ProcessRec>,
    threads: Vec<ThreadRec>,
    thread_ids: FxHashMap<(u32, u64, u64), u32>,
    /// (node, thread) → [wall, cpu, gil]
    counts: FxHashMap<(u32, u32), [u64; 3]>,
    /// Per (process, tstate): the previous stack, to skip re-interning it.
    last: FxHashMap<(u32, u64), LastStack>,
}

impl Aggregate {
    pub fn add_process(&mut self, pid: u32, parent: Option<u32>, command: Vec<String>) -> u32 {
        if let Some(i) = self.processes.iter().position(|p| p.pid == pid) {
            return i as u32;
        }
        self.processes.push(ProcessRec {
            pid,
            parent,
            command,
        });
        (self.processes.len() - 1) as u32
    }

    pub fn processes(&self) -> &[ProcessRec] {
        &self.processes
    }

    /// The thread index for a thread of `process`.
    pub fn thread(
        &mut self,
        process: u32,
        ident: u64,
        native_id: u64,
        name: impl FnOnce() -> (String, bool),
    ) -> u32 {
        let threads = &mut self.threads;
        *self
            .thread_ids
            .entry((process, ident, native_id))
            .or_insert_with(|| {
                let (name, is_main) = name();
                threads.push(ThreadRec {
                    process,
                    ident,
                    native_id,
                    name,
                    is_main,
                });
                (threads.len() - 1) as u32
            })
    }

    fn frame_for(
        &mut self,
        process: u32,
        serial: u32,
        code: &dyn Fn() -> Option<FrameRec>,
    ) -> Option<u32> {
        if let Some(&f) = self.code_frames.get(&(process, serial)) {
            return Some(f);
        }
        let rec = code()?;
        let id = match self.frame_ids.get(&rec) {
            Some(&id) => id,
            None => {
                self.frames.push(rec.clone());
                let id = (self.frames.len() - 1) as u32;
                self.frame_ids.insert(rec, id);
                id
            }
        };
        self.code_frames.insert((process, serial), id);
        Some(id)
    }

    /// Records one thread's stack (`frames` leaf first, as the reader returns them).
    /// `code` looks a frame's code object up. Returns the sample's row (`None` for an empty
    /// stack).
    pub fn record<'a>(
        &mut self,
        process: u32,
        tstate: u64,
        thread: u32,
        frames: &[RawFrame],
        flags: Flags,
        code: impl Fn(u64) -> Option<&'a CodeInfo>,
    ) -> Result<Option<SampleKey>, MissingCode> {
        if frames.is_empty() {
            return Ok(None);
        }
        let last = self.last.entry((process, tstate)).or_default();
        let same = last.key.len() == frames.len()
            && last
                .key
                .iter()
                .zip(frames.iter().rev())
                .all(|(k, f)| k.0 == f.serial && k.1 == f.line);
        let node = if same {
            last.node
        } else {
            let mut parent = NO_PARENT;
            let mut key = std::mem::take(&mut last.key);
            key.clear();
            for f in frames.iter().rev() {
                let lookup = || {
                    code(f.code).map(|c| FrameRec {
                        name: c.name.clone(),
                        qualname: c.qualname.clone(),
                        file: c.filename.clone(),
                        first_line: c.first_line,
                    })
                };
                let Some(frame) = self.frame_for(process, f.serial, &lookup) else {
                    // Forget the previous stack (its key was taken above).
                    self.last.remove(&(process, tstate));
                    return Err(MissingCode);
                };
                let n = Node {
                    parent,
                    frame,
                    line: f.line,
                };
                let nodes = &mut self.nodes;
                parent = *self.node_ids.entry(n).or_insert_with(|| {
                    nodes.push(n);
                    (nodes.len() - 1) as u32
                });
                key.push((f.serial, f.line));
            }
            let last = self.last.entry((process, tstate)).or_default();
            last.key = key;
            last.node = parent;
            parent
        };
        if node == NO_PARENT {
            return Ok(None);
        }
        let c = self.counts.entry((node, thread)).or_default();
        let weight = flags.weight.max(1);
        c[0] += weight;
        c[1] += flags.cpu_ticks.min(weight);
        c[2] += flags.holds_gil as u64 * weight;
        Ok(Some((node, thread)))
    }

    /// Adds CPU ticks to a row [`Aggregate::record`] returned.
    pub fn add_cpu(&mut self, row: SampleKey, ticks: u64) {
        if let Some(c) = self.counts.get_mut(&row) {
            c[1] += ticks;
        }
    }

    /// Forgets what is keyed by the code serials of `process` (after re-attaching to it: the
    /// new reader numbers its code objects afresh). The trie and counts stay.
    pub fn forget_codes(&mut self, process: u32) {
        self.code_frames.retain(|(p, _), _| *p != process);
        self.last.retain(|(p, _), _| *p != process);
    }

    /// Updates the command line of a process (it exec'd).
    pub fn set_command(&mut self, process: u32, command: Vec<String>) {
        if let Some(p) = self.processes.get_mut(process as usize) {
            p.command = command;
        }
    }

    /// Forgets the previous stacks of threads that ended (keeps the trie and counts).
    pub fn retain_threads(&mut self, alive: impl Fn(u32, u64) -> bool) {
        self.last.retain(|(p, t), _| alive(*p, *t));
    }

    /// Samples recorded (sum of the wall column).
    pub fn total_samples(&self) -> u64 {
        self.counts.values().map(|c| c[0]).sum()
    }

    /// The aggregate as a [`Profile`] (Mode::Sample) with `meta`.
    pub fn to_profile(&self, meta: Meta) -> Profile {
        let mut b = ProfileBuilder::new(meta);
        b.declare(Metric::WallSamples);
        b.declare(Metric::CpuSamples);
        b.declare(Metric::GilSamples);
        let procs: Vec<u32> = self
            .processes
            .iter()
            .map(|p| b.process(p.pid, p.parent, p.command.clone()))
            .collect();
        let threads: Vec<u32> = self
            .threads
            .iter()
            .map(|t| {
                b.thread(
                    procs[t.process as usize],
                    t.ident,
                    t.native_id,
                    &t.name,
                    t.is_main,
                )
            })
            .collect();
        let frames: Vec<u32> = self
            .frames
            .iter()
            .map(|f| {
                b.frame(
                    &f.name,
                    &f.qualname,
                    &f.file,
                    f.first_line,
                    FrameKind::Python,
                )
            })
            .collect();
        let mut stacks: Vec<u32> = Vec::with_capacity(self.nodes.len());
        for n in &self.nodes {
            let loc = b.location(frames[n.frame as usize], n.line);
            let parent = (n.parent != NO_PARENT).then(|| stacks[n.parent as usize]);
            stacks.push(b.stack(parent, loc));
        }
        // Rows in a stable order (by stack, then thread) so equal aggregates give equal files.
        let mut rows: Vec<(&(u32, u32), &[u64; 3])> = self.counts.iter().collect();
        rows.sort_unstable_by_key(|(k, _)| **k);
        for (&(node, thread), c) in rows {
            let (s, t) = (stacks[node as usize], threads[thread as usize]);
            b.add(s, t, Metric::WallSamples, c[0]);
            if c[1] > 0 {
                b.add(s, t, Metric::CpuSamples, c[1]);
            }
            if c[2] > 0 {
                b.add(s, t, Metric::GilSamples, c[2]);
            }
        }
        b.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::CodeKey;
    use pyrometer_cpython::linetable::LineTable;

    fn code(serial: u32, name: &str) -> CodeInfo {
        CodeInfo {
            serial,
            key: CodeKey {
                ob_type: 1,
                filename: 2,
                name: 3,
                qualname: 4,
                linetable: 5,
                first_line: 1,
                flags: 0,
            },
            name: Arc::from(name),
            qualname: Arc::from(name),
            filename: Arc::from("m.py"),
            first_line: 1,
            lines: LineTable::default(),
        }
    }

    #[test]
    fn repeated_stacks_are_counted_on_one_row_and_replay_into_a_valid_profile() {
        let codes = [code(0, "main"), code(1, "f"), code(2, "g")];
        let lookup = |addr: u64| codes.get(addr as usize);
        let f = |c: u64, line: u32| RawFrame {
            code: c,
            serial: c as u32,
            line,
        };
        let mut agg = Aggregate::default();
        let p = agg.add_process(10, None, vec!["python".into()]);
        let t = agg.thread(p, 1, 10, || ("MainThread".into(), true));
        let cpu = Flags {
            cpu_ticks: 1,
            holds_gil: true,
            weight: 1,
        };
        // Leaf first, as the reader returns them.
        let fg = [f(2, 7), f(1, 3), f(0, 1)];
        let ff = [f(1, 4), f(0, 1)];
        for _ in 0..3 {
            assert!(agg.record(p, 0xa, t, &fg, cpu, lookup).is_ok());
        }
        let row = agg.record(p, 0xa, t, &ff, Flags::default(), lookup);
        // CPU time known only later is added to the row.
        agg.add_cpu(row.unwrap().unwrap(), 1);
        assert!(agg.record(p, 0xa, t, &fg, Flags::default(), lookup).is_ok());
        // A code object the reader cannot describe: the sample is refused.
        assert_eq!(
            agg.record(p, 0xa, t, &[f(9, 1)], cpu, lookup),
            Err(MissingCode)
        );
        assert_eq!(agg.total_samples(), 5);
        let profile = agg.to_profile(Meta::default());
        profile.validate().unwrap();
        assert_eq!(profile.total(Metric::WallSamples), 5);
        assert_eq!(profile.total(Metric::CpuSamples), 4);
        assert_eq!(profile.total(Metric::GilSamples), 3);
        assert_eq!(profile.frames.len(), 3);
        // main -> f:3 -> g:7 and main -> f:4 share the root.
        let rows: Vec<Vec<(String, u32)>> = profile
            .samples
            .stack
            .iter()
            .map(|&s| {
                profile
                    .stack_frames(s)
                    .into_iter()
                    .map(|l| {
                        let loc = profile.locations[l as usize];
                        let name = profile.frames[loc.frame as usize].name;
                        (profile.string(name).to_owned(), loc.line)
                    })
                    .collect()
            })
            .collect();
        assert!(rows.contains(&vec![("main".into(), 1), ("f".into(), 3), ("g".into(), 7)]));
        assert!(rows.contains(&vec![("main".into(), 1), ("f".into(), 4)]));
        assert_eq!(
            profile
                .samples
                .column(Metric::WallSamples)
                .unwrap()
                .iter()
                .max(),
            Some(&4)
        );
    }
}
