//! Building a [`Profile`] with interning: collectors call this, never push to the tables.

use rustc_hash::FxHashMap;

use crate::model::{
    Column, Frame, FrameId, FrameKind, LocId, Location, Meta, Metric, Process, ProcessIdx, Profile,
    Series, Source, Stack, StackId, StrId, Thread, ThreadIdx,
};

/// Interns strings, frames, locations and stacks, and accumulates metric values per
/// (stack, thread) row.
#[derive(Default)]
pub struct ProfileBuilder {
    profile: Profile,
    strings: FxHashMap<String, StrId>,
    frames: FxHashMap<Frame, FrameId>,
    locations: FxHashMap<Location, LocId>,
    stacks: FxHashMap<Stack, StackId>,
    rows: FxHashMap<(StackId, ThreadIdx), usize>,
}

impl ProfileBuilder {
    pub fn new(meta: Meta) -> Self {
        let mut builder = Self::default();
        builder.profile.meta = meta;
        builder
    }

    pub fn meta_mut(&mut self) -> &mut Meta {
        &mut self.profile.meta
    }

    pub fn intern(&mut self, s: &str) -> StrId {
        if let Some(&id) = self.strings.get(s) {
            return id;
        }
        let id = self.profile.strings.len() as StrId;
        self.profile.strings.push(s.to_owned());
        self.strings.insert(s.to_owned(), id);
        id
    }

    /// A frame; `name` is the short (pstats) name, `qualname` the display name.
    pub fn frame(
        &mut self,
        name: &str,
        qualname: &str,
        file: &str,
        line: u32,
        kind: FrameKind,
    ) -> FrameId {
        let frame = Frame {
            name: self.intern(name),
            qualname: self.intern(qualname),
            file: self.intern(file),
            line,
            kind,
        };
        if let Some(&id) = self.frames.get(&frame) {
            return id;
        }
        let id = self.profile.frames.len() as FrameId;
        self.profile.frames.push(frame.clone());
        self.frames.insert(frame, id);
        id
    }

    pub fn location(&mut self, frame: FrameId, line: u32) -> LocId {
        let loc = Location { frame, line };
        *self.locations.entry(loc).or_insert_with(|| {
            self.profile.locations.push(loc);
            (self.profile.locations.len() - 1) as LocId
        })
    }

    /// The stack `parent` + `location`. Parents always get smaller indices than children.
    pub fn stack(&mut self, parent: Option<StackId>, location: LocId) -> StackId {
        let stack = Stack { parent, location };
        *self.stacks.entry(stack).or_insert_with(|| {
            self.profile.stacks.push(stack);
            (self.profile.stacks.len() - 1) as StackId
        })
    }

    /// The stack for a path of locations from the outermost frame to the leaf; `None` for an
    /// empty path.
    pub fn stack_from_path(&mut self, path: &[LocId]) -> Option<StackId> {
        let mut parent = None;
        for &loc in path {
            parent = Some(self.stack(parent, loc));
        }
        parent
    }

    pub fn process(
        &mut self,
        pid: u32,
        parent: Option<ProcessIdx>,
        command: Vec<String>,
    ) -> ProcessIdx {
        if let Some(i) = self.profile.processes.iter().position(|p| p.pid == pid) {
            return i as ProcessIdx;
        }
        self.profile.processes.push(Process {
            pid,
            parent,
            command,
        });
        (self.profile.processes.len() - 1) as ProcessIdx
    }

    /// A thread of `process`; threads are identified by (process, ident, native id).
    pub fn thread(
        &mut self,
        process: ProcessIdx,
        ident: u64,
        native_id: u64,
        name: &str,
        is_main: bool,
    ) -> ThreadIdx {
        let name = self.intern(name);
        if let Some(i) = self
            .profile
            .threads
            .iter()
            .position(|t| t.process == process && t.ident == ident && t.native_id == native_id)
        {
            return i as ThreadIdx;
        }
        self.profile.threads.push(Thread {
            process,
            ident,
            native_id,
            name,
            is_main,
        });
        (self.profile.threads.len() - 1) as ThreadIdx
    }

    fn column_index(&mut self, metric: Metric) -> usize {
        if let Some(i) = self
            .profile
            .samples
            .columns
            .iter()
            .position(|c| c.metric == metric)
        {
            return i;
        }
        let rows = self.profile.samples.stack.len();
        self.profile.samples.columns.push(Column {
            metric,
            values: vec![0; rows],
        });
        self.profile.samples.columns.len() - 1
    }

    /// Makes sure `metric` has a column even if nothing is ever added to it (so a report can
    /// tell "measured, found nothing" from "not measured").
    pub fn declare(&mut self, metric: Metric) {
        self.column_index(metric);
    }

    fn row(&mut self, stack: StackId, thread: ThreadIdx) -> usize {
        let samples = &mut self.profile.samples;
        *self.rows.entry((stack, thread)).or_insert_with(|| {
            samples.stack.push(stack);
            samples.thread.push(thread);
            for c in &mut samples.columns {
                c.values.push(0);
            }
            samples.stack.len() - 1
        })
    }

    /// Adds `value` to `metric` of the row (stack, thread).
    pub fn add(&mut self, stack: StackId, thread: ThreadIdx, metric: Metric, value: u64) {
        let col = self.column_index(metric);
        let row = self.row(stack, thread);
        let cell = &mut self.profile.samples.columns[col].values[row];
        *cell = cell.saturating_add(value);
    }

    /// Keeps the text of lines `first_line…` of `file` (once per file, first line and length:
    /// a function's block, so nested blocks that start on the same line are kept apart).
    pub fn source(&mut self, file: &str, first_line: u32, lines: &[&str]) {
        let file = self.intern(file);
        if self
            .profile
            .sources
            .iter()
            .any(|s| s.file == file && s.first_line == first_line && s.lines.len() == lines.len())
        {
            return;
        }
        let lines = lines.iter().map(|l| self.intern(l)).collect();
        self.profile.sources.push(Source {
            file,
            first_line,
            lines,
        });
    }

    pub fn add_series(&mut self, series: Series) {
        self.profile.timeline.push(series);
    }

    pub fn finish(self) -> Profile {
        self.profile
    }

    /// Adds everything `other` holds: its frames, stacks, threads and values are re-interned
    /// here, values of the same (stack, thread) add up, counters of the same name add up.
    /// The builder's own metadata is kept, except that durations add.
    pub fn absorb(&mut self, other: &Profile) {
        let frames: Vec<FrameId> = other
            .frames
            .iter()
            .map(|f| {
                self.frame(
                    other.string(f.name),
                    other.string(f.qualname),
                    other.string(f.file),
                    f.line,
                    f.kind,
                )
            })
            .collect();
        let locations: Vec<LocId> = other
            .locations
            .iter()
            .map(|l| self.location(frames[l.frame as usize], l.line))
            .collect();
        let mut stacks: Vec<StackId> = Vec::with_capacity(other.stacks.len());
        for s in &other.stacks {
            let parent = s.parent.map(|p| stacks[p as usize]);
            stacks.push(self.stack(parent, locations[s.location as usize]));
        }
        let processes: Vec<ProcessIdx> = other
            .processes
            .iter()
            .map(|p| self.process(p.pid, None, p.command.clone()))
            .collect();
        for (i, p) in other.processes.iter().enumerate() {
            if let Some(parent) = p.parent {
                self.profile.processes[processes[i] as usize].parent =
                    Some(processes[parent as usize]);
            }
        }
        let threads: Vec<ThreadIdx> = other
            .threads
            .iter()
            .map(|t| {
                self.thread(
                    processes[t.process as usize],
                    t.ident,
                    t.native_id,
                    other.string(t.name),
                    t.is_main,
                )
            })
            .collect();
        for column in &other.samples.columns {
            self.declare(column.metric);
        }
        for (row, (&stack, &thread)) in other
            .samples
            .stack
            .iter()
            .zip(&other.samples.thread)
            .enumerate()
        {
            for column in &other.samples.columns {
                let v = column.values[row];
                if v != 0 {
                    self.add(
                        stacks[stack as usize],
                        threads[thread as usize],
                        column.metric,
                        v,
                    );
                }
            }
        }
        self.profile.timeline.extend(other.timeline.iter().cloned());
        for source in &other.sources {
            let lines: Vec<&str> = source.lines.iter().map(|&l| other.string(l)).collect();
            self.source(other.string(source.file), source.first_line, &lines);
        }
        let meta = &mut self.profile.meta;
        meta.duration_ns += other.meta.duration_ns;
        for c in &other.meta.counters {
            match meta.counters.iter_mut().find(|m| m.name == c.name) {
                Some(m) => m.value += c.value,
                None => meta.counters.push(c.clone()),
            }
        }
        for note in &other.meta.notes {
            if !meta.notes.contains(note) {
                meta.notes.push(note.clone());
            }
        }
    }
}

/// A copy of `profile` in which every stack loses a prefix of its path: `keep` is given the
/// path (outermost first) and the process of the row, and returns how many frames to cut from
/// the path's start, or `None` to drop the row (as when the whole path is cut). Used to remove
/// a launcher's frames from sampled stacks.
pub fn cut_stacks(
    profile: &Profile,
    mut keep: impl FnMut(&[LocId], &Process) -> Option<usize>,
) -> Profile {
    let mut builder = ProfileBuilder::new(profile.meta.clone());
    // Everything but the rows and stacks comes across unchanged.
    let mut skeleton = profile.clone();
    skeleton.stacks.clear();
    skeleton.samples = crate::model::Samples {
        columns: profile
            .samples
            .columns
            .iter()
            .map(|c| crate::model::Column {
                metric: c.metric,
                values: Vec::new(),
            })
            .collect(),
        ..Default::default()
    };
    builder.absorb(&skeleton);
    builder.profile.meta = profile.meta.clone();
    let mut cut: FxHashMap<(StackId, ProcessIdx), Option<StackId>> = FxHashMap::default();
    for (row, (&stack, &thread)) in profile
        .samples
        .stack
        .iter()
        .zip(&profile.samples.thread)
        .enumerate()
    {
        let process_idx = profile.threads[thread as usize].process;
        let new_stack = *cut.entry((stack, process_idx)).or_insert_with(|| {
            let path = profile.stack_frames(stack);
            let start = keep(&path, &profile.processes[process_idx as usize])?;
            let path: Vec<LocId> = path
                .get(start..)?
                .iter()
                .map(|&loc| {
                    let l = profile.locations[loc as usize];
                    let f = &profile.frames[l.frame as usize];
                    let frame = builder.frame(
                        profile.string(f.name),
                        profile.string(f.qualname),
                        profile.string(f.file),
                        f.line,
                        f.kind,
                    );
                    builder.location(frame, l.line)
                })
                .collect();
            builder.stack_from_path(&path)
        });
        let Some(new_stack) = new_stack else { continue };
        let t = &profile.threads[thread as usize];
        let process = &profile.processes[t.process as usize];
        let p = builder.process(process.pid, None, process.command.clone());
        let new_thread = builder.thread(p, t.ident, t.native_id, profile.string(t.name), t.is_main);
        for column in &profile.samples.columns {
            let v = column.values[row];
            if v != 0 {
                builder.add(new_stack, new_thread, column.metric, v);
            }
        }
    }
    builder.finish()
}

/// One profile holding everything in `profiles`, with the first one's metadata (see
/// [`ProfileBuilder::absorb`]).
pub fn merge(profiles: &[&Profile]) -> Profile {
    let Some(first) = profiles.first() else {
        return Profile::default();
    };
    let mut meta = first.meta.clone();
    meta.duration_ns = 0;
    meta.counters.clear();
    meta.notes.clear();
    let mut builder = ProfileBuilder::new(meta);
    for p in profiles {
        builder.absorb(p);
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_reuses_entries_and_rows_accumulate() {
        let mut b = ProfileBuilder::new(Meta::default());
        let f = b.frame("f", "f", "a.py", 1, FrameKind::Python);
        assert_eq!(f, b.frame("f", "f", "a.py", 1, FrameKind::Python));
        let g = b.frame("g", "C.g", "a.py", 5, FrameKind::Python);
        let (lf, lg) = (b.location(f, 0), b.location(g, 0));
        let s = b.stack_from_path(&[lf, lg]).unwrap();
        assert_eq!(Some(s), b.stack_from_path(&[lf, lg]));
        let p = b.process(10, None, vec![]);
        let t = b.thread(p, 1, 100, "MainThread", true);
        b.add(s, t, Metric::SelfTime, 5);
        b.add(s, t, Metric::SelfTime, 7);
        b.add(s, t, Metric::Calls, 1);
        let profile = b.finish();
        profile.validate().unwrap();
        assert_eq!(profile.samples.len(), 1);
        assert_eq!(profile.samples.column(Metric::SelfTime), Some(&[12][..]));
        assert_eq!(profile.samples.column(Metric::Calls), Some(&[1][..]));
        assert_eq!(profile.stacks[s as usize].parent, Some(0));
    }

    #[test]
    fn cutting_stacks_removes_prefixes_and_drops_emptied_rows() {
        let mut b = ProfileBuilder::new(Meta::default());
        let p = b.process(7, None, vec![]);
        let t = b.thread(p, 1, 1, "MainThread", true);
        let boot = b.frame("<module>", "<module>", "<string>", 1, FrameKind::Python);
        let main = b.frame("main", "main", "_child.py", 5, FrameKind::Python);
        let user = b.frame("work", "work", "app.py", 3, FrameKind::Python);
        let (lb, lm, lu) = (
            b.location(boot, 1),
            b.location(main, 9),
            b.location(user, 4),
        );
        let full = b.stack_from_path(&[lb, lm, lu]).unwrap();
        let startup = b.stack_from_path(&[lb, lm]).unwrap();
        b.add(full, t, Metric::WallSamples, 5);
        b.add(startup, t, Metric::WallSamples, 2);
        let profile = b.finish();
        let cut = cut_stacks(
            &profile,
            |path, _| if path.len() > 2 { Some(2) } else { None },
        );
        cut.validate().unwrap();
        assert_eq!(cut.samples.len(), 1);
        assert_eq!(cut.stacks.len(), 1);
        assert_eq!(
            cut.string(cut.frames[cut.frame_of_stack(0) as usize].name),
            "work"
        );
        assert_eq!(cut.line_of_stack(0), 4);
        assert_eq!(cut.samples.column(Metric::WallSamples), Some(&[5][..]));
    }

    #[test]
    fn merging_adds_values_of_the_same_paths() {
        let one = |calls: u64, extra: bool| {
            let mut b = ProfileBuilder::new(Meta {
                duration_ns: 10,
                ..Meta::default()
            });
            let p = b.process(7, None, vec![]);
            let t = b.thread(p, 1, 1, "MainThread", true);
            let f = b.frame("f", "f", "a.py", 1, FrameKind::Python);
            let lf = b.location(f, 0);
            let s = b.stack_from_path(&[lf]).unwrap();
            b.add(s, t, Metric::Calls, calls);
            if extra {
                let g = b.frame("g", "g", "a.py", 9, FrameKind::Python);
                let lg = b.location(g, 0);
                let s2 = b.stack_from_path(&[lf, lg]).unwrap();
                b.add(s2, t, Metric::Calls, 1);
            }
            b.finish()
        };
        let merged = merge(&[&one(2, false), &one(3, true)]);
        merged.validate().unwrap();
        assert_eq!(merged.meta.duration_ns, 20);
        assert_eq!(merged.threads.len(), 1);
        assert_eq!(merged.samples.column(Metric::Calls), Some(&[5, 1][..]));
    }
}
