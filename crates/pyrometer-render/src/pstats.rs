//! cProfile's stats file: `marshal.dump` of
//! `{(file, line, name): (primitive calls, calls, self s, cumulative s, {caller: (calls, primitive calls, self s, cumulative s)})}`.
//!
//! Keys follow cProfile: `(co_filename, co_firstlineno, co_name)` for Python functions and
//! `("~", 0, "<built-in method builtins.len>")` for built-ins. Functions whose keys collide are
//! summed. Sampled profiles have no call counts; their counts are the number of samples in
//! which the function was on the stack.

use std::io::Write;

use pyrometer_profile::analysis::{Granularity, Shape, Table};
use pyrometer_profile::{FrameKind, Metric, Profile};
use rustc_hash::FxHashMap;

use crate::marshal::{self, Value};
use crate::text::report_metric;
use crate::{RenderError, RenderOptions, Renderer};

pub struct Pstats;

/// `(file, line, name)`.
pub type Key = (String, i64, String);

/// One function's figures and its callers' figures.
pub type Entry = (Key, Figures, Vec<(Key, Figures)>);

/// One pstats entry or caller entry.
#[derive(Default, Clone, Copy, Debug)]
pub struct Figures {
    pub calls: u64,
    pub primitive: u64,
    pub self_s: f64,
    pub total_s: f64,
}

impl Figures {
    fn add(&mut self, other: Figures) {
        self.calls += other.calls;
        self.primitive += other.primitive;
        self.self_s += other.self_s;
        self.total_s += other.total_s;
    }
}

fn key(profile: &Profile, frame: u32) -> Key {
    let f = &profile.frames[frame as usize];
    match f.kind {
        FrameKind::Builtin | FrameKind::Synthetic => ("~".into(), 0, profile.string(f.name).into()),
        FrameKind::Python | FrameKind::Native => (
            profile.string(f.file).into(),
            f.line as i64,
            profile.string(f.name).into(),
        ),
    }
}

/// The stats dictionary, in a stable order (by key).
pub fn stats(profile: &Profile, options: &RenderOptions) -> Result<Vec<Entry>, RenderError> {
    let metric = match report_metric(profile, options) {
        Ok(m) => m,
        Err(RenderError::Empty(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if !matches!(
        metric,
        Metric::SelfTime | Metric::WallSamples | Metric::CpuSamples | Metric::GilSamples
    ) {
        return Err(RenderError::Other(format!(
            "pstats files hold times, not {}: export them as .svg, .collapsed or .speedscope.json",
            crate::format::metric_title(metric)
        )));
    }
    let shape = Shape::new(profile, Granularity::Function);
    let table = Table::new(profile, &shape, metric, &options.threads);
    let seconds = |v: u64| -> f64 {
        match metric {
            Metric::SelfTime => v as f64 / 1e9,
            _ => v as f64 * profile.meta.sample_interval_ns.unwrap_or(0) as f64 / 1e9,
        }
    };
    // Without call counts, count samples on the stack (the inclusive value in samples).
    let counted = |calls: u64, primitive: u64, total: u64| -> (u64, u64) {
        if table.has_calls {
            (calls, primitive)
        } else {
            (total, total)
        }
    };
    let mut entries: FxHashMap<Key, (Figures, FxHashMap<Key, Figures>)> = FxHashMap::default();
    for row in &table.rows {
        let (calls, primitive) = counted(row.calls, row.primitive_calls, row.total_value);
        let figures = Figures {
            calls,
            primitive,
            self_s: seconds(row.self_value),
            total_s: seconds(row.total_value),
        };
        entries
            .entry(key(profile, row.key))
            .or_default()
            .0
            .add(figures);
    }
    for edge in &table.edges {
        let (calls, primitive) = counted(edge.calls, edge.primitive_calls, edge.total_value);
        let figures = Figures {
            calls,
            primitive,
            self_s: seconds(edge.self_value),
            total_s: seconds(edge.total_value),
        };
        let callee = entries.entry(key(profile, edge.callee)).or_default();
        callee
            .1
            .entry(key(profile, edge.caller))
            .or_default()
            .add(figures);
    }
    let mut out: Vec<Entry> = entries
        .into_iter()
        .filter(|(_, (f, _))| f.calls > 0 || f.total_s > 0.0)
        .map(|(k, (f, callers))| {
            let mut callers: Vec<(Key, Figures)> = callers.into_iter().collect();
            callers.sort_by(|a, b| a.0.cmp(&b.0));
            (k, f, callers)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn key_value(k: &Key) -> Value {
    Value::Tuple(vec![
        Value::Str(k.0.clone()),
        Value::Int(k.1),
        Value::Str(k.2.clone()),
    ])
}

impl Renderer for Pstats {
    fn render(
        &self,
        profile: &Profile,
        options: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError> {
        let entries = stats(profile, options)?;
        let dict = Value::Dict(
            entries
                .iter()
                .map(|(k, f, callers)| {
                    let callers = Value::Dict(
                        callers
                            .iter()
                            .map(|(ck, cf)| {
                                (
                                    key_value(ck),
                                    Value::Tuple(vec![
                                        Value::Int(cf.calls as i64),
                                        Value::Int(cf.primitive as i64),
                                        Value::Float(cf.self_s),
                                        Value::Float(cf.total_s),
                                    ]),
                                )
                            })
                            .collect(),
                    );
                    (
                        key_value(k),
                        Value::Tuple(vec![
                            Value::Int(f.primitive as i64),
                            Value::Int(f.calls as i64),
                            Value::Float(f.self_s),
                            Value::Float(f.total_s),
                            callers,
                        ]),
                    )
                })
                .collect(),
        );
        out.write_all(&marshal::dumps(&dict))?;
        Ok(())
    }
}
