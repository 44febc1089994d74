//! Memory advice, from a memory run's `alloc_bytes`, `alloc_count` and `retained_bytes` per
//! line, joined with the outline of the source.
//!
//! The peak: the counter `peak_bytes` when the collector records it, else what was still
//! allocated at the end (`retained_bytes` summed), else all bytes allocated; the advice says
//! which.
//!
//! * **A class without `__slots__`**: the bytes still alive at the end that were allocated on
//!   the lines that construct it (`Point(...)`, by name: in its own file, or imported with
//!   `from … import` when the name is unique among the user's classes; what else those lines
//!   build is included) and in its `__init__`. Advice when they are at least 10% of the peak
//!   and 1 MiB. Only for classes whose bases cannot have a `__dict__` of their own (none or
//!   `object`).
//! * **A large list iterated once**: a `PYR209`/`PYR210` finding (a list comprehension passed
//!   to `sum`/`min`/`max`, or only iterated by a `for`) whose lines allocated at least 1 MiB
//!   and 5% of all bytes allocated in the run.

use pyrometer_lint::{Diagnostic, Outline, Slots};
use pyrometer_profile::Metric;
use pyrometer_render::format;

use super::{AdviceItem, AdviceKind, Fact, FactValue, Subject, pct};
use crate::findings::cost_lines;
use crate::measure::Join;

const MIB: u64 = 1 << 20;

struct Basis {
    bytes: u64,
    what: &'static str,
}

fn basis(join: &Join<'_>) -> Option<Basis> {
    let profile = join.profile;
    if let Some(peak) = profile.counter("peak_bytes").filter(|&p| p > 0) {
        return Some(Basis {
            bytes: peak,
            what: "of the peak",
        });
    }
    if profile.samples.column(Metric::RetainedBytes).is_some() {
        return Some(Basis {
            bytes: profile.total(Metric::RetainedBytes),
            what: "of the memory still allocated at the end",
        });
    }
    profile.samples.column(Metric::AllocBytes).map(|_| Basis {
        bytes: profile.total(Metric::AllocBytes),
        what: "of all bytes allocated",
    })
}

pub(crate) fn advice(
    join: &Join<'_>,
    outlines: &[Option<Outline>],
    memory_findings: &[(usize, Diagnostic)],
) -> Vec<AdviceItem> {
    let Some(basis) = basis(join) else {
        return Vec::new();
    };
    let mut items = classes(join, outlines, &basis);
    items.extend(lists(join, memory_findings));
    items
}

fn classes(join: &Join<'_>, outlines: &[Option<Outline>], basis: &Basis) -> Vec<AdviceItem> {
    let retained_column = join.column(Metric::RetainedBytes).is_some();
    let metric = if retained_column {
        Metric::RetainedBytes
    } else {
        Metric::AllocBytes
    };
    let mut items = Vec::new();
    for (file, outline) in outlines.iter().enumerate() {
        let Some(outline) = outline else { continue };
        for class in &outline.classes {
            if class.slots != Slots::Missing || !class.bases.iter().all(|b| b == "object") {
                continue;
            }
            let unique = outlines
                .iter()
                .flatten()
                .flat_map(|o| &o.classes)
                .filter(|c| c.name == class.name)
                .count()
                == 1;
            let mut ranges: Vec<(u32, u32, u32)> = Vec::new();
            for (other, other_outline) in outlines.iter().enumerate() {
                let Some(other_outline) = other_outline else {
                    continue;
                };
                for call in &other_outline.constructor_calls {
                    let resolves = call.name == class.name
                        && if call.local_class {
                            other == file
                        } else {
                            unique
                        };
                    if resolves {
                        ranges.push((other as u32, call.lines.0, call.lines.1));
                    }
                }
            }
            let sites = ranges.len();
            if let Some((first, last)) = class.init_lines {
                ranges.push((file as u32, first, last));
            }
            if ranges.is_empty() {
                continue;
            }
            let sums = join.lines(&ranges);
            let bytes = sums.get(metric).unwrap_or(0);
            let share = pct(bytes, basis.bytes);
            if bytes < MIB || share < 10.0 {
                continue;
            }
            let count = sums.get(Metric::AllocCount);
            let subject = Subject {
                file: join.sources.files[file].name.clone(),
                line: class.first_line,
                name: class.qualname.clone(),
            };
            let held = if retained_column {
                "still allocated at the end"
            } else {
                "allocated"
            };
            let mut evidence = format!(
                "{} {held} ({share:.0}% {}) came from the {sites} line(s) that construct it \
                 (with whatever else those lines build) and its __init__",
                format::bytes(bytes as f64),
                basis.what,
            );
            if let Some(count) = count {
                evidence.push_str(&format!(", in {} allocations", format::count(count)));
            }
            evidence.push_str("; it has no __slots__");
            let slots = if class.attributes.is_empty() {
                "__slots__".to_string()
            } else {
                let names: Vec<String> = class
                    .attributes
                    .iter()
                    .map(|a| format!("\"{a}\""))
                    .collect();
                let tuple = if names.len() == 1 {
                    format!("({},)", names[0])
                } else {
                    format!("({})", names.join(", "))
                };
                format!("__slots__ = {tuple}")
            };
            let mut facts = vec![
                Fact {
                    name: if retained_column {
                        "retained_bytes"
                    } else {
                        "alloc_bytes"
                    },
                    value: FactValue::Bytes(bytes),
                },
                Fact {
                    name: "percent_of_peak",
                    value: FactValue::Percent(share),
                },
                Fact {
                    name: "construction_sites",
                    value: FactValue::Count(sites as u64),
                },
            ];
            if let Some(count) = count {
                facts.push(Fact {
                    name: "alloc_count",
                    value: FactValue::Count(count),
                });
            }
            items.push(AdviceItem {
                kind: AdviceKind::ClassWithoutSlots,
                summary: format!(
                    "{} instances hold {share:.0}% {} and the class has no __slots__",
                    super::label(join, &subject),
                    basis.what
                ),
                subject: Some(subject),
                percent: share,
                evidence,
                facts,
                suggestion: format!(
                    "Give it {slots} (or use @dataclass(slots=True)): its instances then have \
                     no per-instance __dict__, which is most of the size of a small object."
                ),
            });
        }
    }
    items
}

fn lists(join: &Join<'_>, memory_findings: &[(usize, Diagnostic)]) -> Vec<AdviceItem> {
    if join.column(Metric::AllocBytes).is_none() {
        return Vec::new();
    }
    let total = join.profile.total(Metric::AllocBytes);
    let mut items = Vec::new();
    for (file, diagnostic) in memory_findings {
        let (first, last) = cost_lines(diagnostic);
        let sums = join.lines(&[(*file as u32, first, last)]);
        let bytes = sums.get(Metric::AllocBytes).unwrap_or(0);
        let share = pct(bytes, total);
        if bytes < MIB || share < 5.0 {
            continue;
        }
        let subject = Subject {
            file: join.sources.files[*file].name.clone(),
            line: diagnostic.span.start.line,
            name: String::new(),
        };
        let lines = if first == last {
            format!("line {first}")
        } else {
            format!("lines {first}-{last}")
        };
        let mut evidence = format!(
            "{} allocated on {lines} ({share:.0}% of all bytes allocated in the run): the list \
             and the items it holds; {}",
            format::bytes(bytes as f64),
            diagnostic.message
        );
        if let Some(count) = sums.get(Metric::AllocCount) {
            evidence.push_str(&format!(" ({} allocations)", format::count(count)));
        }
        items.push(AdviceItem {
            kind: AdviceKind::ListIteratedOnce,
            summary: format!(
                "A list of {} is built at {} only to be iterated once",
                format::bytes(bytes as f64),
                super::label(join, &subject)
            ),
            subject: Some(subject),
            percent: share,
            evidence,
            facts: vec![
                Fact {
                    name: "alloc_bytes",
                    value: FactValue::Bytes(bytes),
                },
                Fact {
                    name: "rule",
                    value: FactValue::Text(diagnostic.rule.code().to_string()),
                },
            ],
            suggestion: "Use a generator expression (drop the brackets): the items are then \
                         made one at a time and the whole list never exists at once, which \
                         lowers the peak."
                .to_string(),
        });
    }
    items
}
