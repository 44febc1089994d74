//! The call tree with inclusive shares.

use std::fmt::Write as _;
use std::io::Write;

use pyrometer_profile::analysis::{
    Granularity, Shape, ThreadFilter, inclusive, percent, stack_values,
};
use pyrometer_profile::{Metric, Profile, StackId};

use super::{Style, footer, header, report_metric};
use crate::format::{self, ValueFormat};
use crate::{RenderError, RenderOptions, Renderer};

/// Every thread's call tree, inclusive values and shares, pruned below `min_share`.
pub struct CallTreeReport;

struct Walk<'a> {
    profile: &'a Profile,
    shape: &'a Shape,
    total: &'a [u64],
    calls: &'a [u64],
    grand_total: u64,
    vf: ValueFormat,
    options: &'a RenderOptions,
    style: Style,
    has_calls: bool,
    hidden: usize,
}

impl Walk<'_> {
    fn visible(&self, s: StackId) -> bool {
        percent(self.total[s as usize], self.grand_total) >= self.options.min_share
            && self.total[s as usize] > 0
    }

    fn node(&mut self, out: &mut String, s: StackId, prefix: &str, last: bool, depth: usize) {
        let i = s as usize;
        let loc = self.profile.locations[self.profile.stacks[i].location as usize];
        let share = percent(self.total[i], self.grand_total);
        let branch = if depth == 0 {
            String::new()
        } else if last {
            format!("{prefix}└─ ")
        } else {
            format!("{prefix}├─ ")
        };
        let calls = if self.has_calls {
            format!("{:>10}  ", format::count(self.calls[i]))
        } else {
            String::new()
        };
        let name = format::frame_name(self.profile, loc.frame);
        let name = if share >= 10.0 {
            self.style.hot(name)
        } else {
            name.to_string()
        };
        let location = format::frame_location(
            self.profile,
            loc.frame,
            loc.line,
            self.options.base_dir.as_deref(),
        );
        let _ = writeln!(
            out,
            "{:>6}  {:>9}  {calls}{branch}{name}  {}",
            format::percent(share),
            self.vf.show(self.total[i]),
            self.style.dim(&location)
        );
        let mut children: Vec<StackId> = self.shape.children[i]
            .iter()
            .copied()
            .filter(|&c| self.total[c as usize] > 0)
            .collect();
        children.sort_by(|a, b| self.total[*b as usize].cmp(&self.total[*a as usize]));
        let (shown, hidden): (Vec<StackId>, Vec<StackId>) =
            children.into_iter().partition(|&c| self.visible(c));
        self.hidden += hidden.len();
        let child_prefix = if depth == 0 {
            String::new()
        } else if last {
            format!("{prefix}   ")
        } else {
            format!("{prefix}│  ")
        };
        if depth + 1 >= self.options.max_depth {
            if !shown.is_empty() {
                let _ = writeln!(
                    out,
                    "{:>6}  {:>9}  {}{child_prefix}└─ … (deeper calls not shown)",
                    "",
                    "",
                    if self.has_calls {
                        " ".repeat(12)
                    } else {
                        String::new()
                    }
                );
            }
            return;
        }
        let n = shown.len();
        for (k, c) in shown.into_iter().enumerate() {
            self.node(out, c, &child_prefix, k + 1 == n, depth + 1);
        }
    }
}

fn tree_for(
    profile: &Profile,
    shape: &Shape,
    metric: Metric,
    filter: &ThreadFilter,
    options: &RenderOptions,
    style: Style,
) -> (String, usize) {
    let self_values = stack_values(profile, metric, filter);
    let total = inclusive(profile, &self_values);
    let calls = stack_values(profile, Metric::Calls, filter);
    let grand_total: u64 = self_values.iter().sum();
    let mut walk = Walk {
        profile,
        shape,
        total: &total,
        calls: &calls,
        grand_total,
        vf: ValueFormat::new(profile, metric),
        options,
        style,
        has_calls: profile.samples.column(Metric::Calls).is_some(),
        hidden: 0,
    };
    let mut out = String::new();
    let mut roots: Vec<StackId> = shape
        .roots
        .iter()
        .copied()
        .filter(|&r| total[r as usize] > 0)
        .collect();
    roots.sort_by(|a, b| total[*b as usize].cmp(&total[*a as usize]));
    for r in roots {
        if walk.visible(r) {
            walk.node(&mut out, r, "", true, 0);
        } else {
            walk.hidden += 1;
        }
    }
    (out, walk.hidden)
}

impl Renderer for CallTreeReport {
    fn render(
        &self,
        profile: &Profile,
        options: &RenderOptions,
        out: &mut dyn Write,
    ) -> Result<(), RenderError> {
        let style = Style::new(options.color);
        let metric = report_metric(profile, options)?;
        let shape = Shape::new(profile, Granularity::Function);
        let mut text = header(profile, metric, style);
        let _ = writeln!(
            text,
            "\n{}",
            style.bold(&format!(
                "Call tree by inclusive {} (calls under {}% of the total hidden)",
                format::metric_title(metric),
                options.min_share
            ))
        );
        let threads: Vec<Option<u32>> = match &options.threads {
            ThreadFilter::All if profile.threads.len() > 1 => {
                (0..profile.threads.len() as u32).map(Some).collect()
            }
            _ => vec![None],
        };
        let mut hidden = 0;
        for t in threads {
            let filter = match t {
                Some(t) => ThreadFilter::Only(vec![t]),
                None => options.threads.clone(),
            };
            let (tree, h) = tree_for(profile, &shape, metric, &filter, options, style);
            hidden += h;
            if tree.is_empty() {
                continue;
            }
            if let Some(t) = t {
                let thread = &profile.threads[t as usize];
                let _ = writeln!(
                    text,
                    "\n{}",
                    style.bold(&format!(
                        "Thread {} (tid {})",
                        profile.string(thread.name),
                        thread.native_id
                    ))
                );
            }
            text.push_str(&tree);
        }
        if hidden > 0 {
            let _ = writeln!(
                text,
                "{}",
                style.dim(&format!(
                    "{hidden} small branches hidden (--min-share to show them)"
                ))
            );
        }
        let footer = footer(profile, metric, style);
        if !footer.is_empty() {
            text.push('\n');
            text.push_str(&footer);
        }
        out.write_all(text.as_bytes())?;
        Ok(())
    }
}
