//! Many calls to a function that looks pure: the weak form of "called many times with the same
//! arguments".
//!
//! The tracer counts calls and times them but does not record arguments, so whether the
//! arguments repeat — what decides whether a cache helps — is not measured. What is measured:
//! a user function called at least 10,000 times, at most 100 µs a call, with at least 2% of the
//! run's time (inclusive, cProfile's rule for recursion), whose body looks pure to the
//! outline's syntactic check (no writes outside its locals, no I/O, clocks or randomness; not a
//! method, generator or coroutine; takes arguments; not already cached). The advice names the
//! signal for what it is.

use pyrometer_lint::{Outline, Purity};
use pyrometer_profile::Metric;
use pyrometer_profile::analysis::{Granularity, Shape, Table, ThreadFilter};
use pyrometer_render::format;

use super::{AdviceItem, AdviceKind, Fact, FactValue, label, pct, subject_of};
use crate::measure::Join;

const MIN_CALLS: u64 = 10_000;
const MAX_NS_PER_CALL: f64 = 100_000.0;
const MIN_PERCENT: f64 = 2.0;

pub(crate) fn advice(join: &Join<'_>, outlines: &[Option<Outline>]) -> Vec<AdviceItem> {
    let profile = join.profile;
    if profile.samples.column(Metric::Calls).is_none()
        || profile.samples.column(Metric::SelfTime).is_none()
    {
        return Vec::new();
    }
    let shape = Shape::new(profile, Granularity::Function);
    let table = Table::new(profile, &shape, Metric::SelfTime, &ThreadFilter::All);
    let mut items = Vec::new();
    for row in &table.rows {
        let frame_id = row.key;
        let Some(Some(file)) = join.sources.file_of_frame.get(frame_id as usize) else {
            continue;
        };
        let share = pct(row.total_value, table.grand_total);
        if row.calls < MIN_CALLS || share < MIN_PERCENT {
            continue;
        }
        let per_call = row.total_value as f64 / row.calls as f64;
        if per_call > MAX_NS_PER_CALL {
            continue;
        }
        let frame = &profile.frames[frame_id as usize];
        let name = profile.string(frame.name);
        let Some(function) = outlines
            .get(*file as usize)
            .and_then(Option::as_ref)
            .and_then(|outline| {
                outline
                    .functions
                    .iter()
                    .find(|f| f.first_line == frame.line && f.name == name)
            })
        else {
            continue;
        };
        if function.purity != Purity::PureLooking {
            continue;
        }
        let subject = subject_of(profile, frame_id);
        let evidence = format!(
            "{} calls, {} a call, {} in all ({share:.1}% of the run, with what it calls); its \
             body looks pure (no writes outside its locals, no I/O, clock or random numbers \
             seen; the functions it calls are not checked)",
            format::count(row.calls),
            format::duration(per_call),
            format::duration(row.total_value as f64),
        );
        items.push(AdviceItem {
            kind: AdviceKind::ManyCallsPure,
            summary: format!(
                "{} is called {} times and looks pure: a cache may help if its arguments repeat",
                label(join, &subject),
                format::count(row.calls)
            ),
            subject: Some(subject),
            percent: share,
            evidence,
            facts: vec![
                Fact {
                    name: "calls",
                    value: FactValue::Count(row.calls),
                },
                Fact {
                    name: "time_ns",
                    value: FactValue::Nanoseconds(row.total_value as f64),
                },
                Fact {
                    name: "ns_per_call",
                    value: FactValue::Nanoseconds(per_call),
                },
            ],
            suggestion: "If it is often called with the same arguments, functools.cache (or \
                         lru_cache(maxsize=N) for unbounded inputs) answers the repeats from a \
                         dictionary. pyrometer does not record arguments, so whether they repeat \
                         is not measured: a weak signal."
                .to_string(),
        });
    }
    items
}
