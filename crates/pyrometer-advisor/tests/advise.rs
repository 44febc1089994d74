//! The advisor on synthetic profiles (built with `ProfileBuilder`) over real source files in a
//! temporary directory: the join, the ranking, demotion, savings, each kind of profile-only
//! advice, and the renderers.

use std::path::{Path, PathBuf};

use pyrometer_advisor::{
    Advice, AdviceKind, AdviceOptions, Evidence, FactValue, SectionOptions, advise,
};
use pyrometer_lint::{CheckOptions, Settings};
use pyrometer_profile::{Counter, FrameKind, Meta, Metric, Mode, Profile, ProfileBuilder};

const MS: u64 = 1_000_000;

/// A temporary project directory with the given files.
fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn file(dir: &Path, name: &str) -> String {
    std::fs::canonicalize(dir.join(name))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn meta(dir: &Path, mode: Mode) -> Meta {
    Meta {
        mode,
        cwd: dir.to_string_lossy().into_owned(),
        sample_interval_ns: (mode == Mode::Sample).then_some(MS),
        ..Meta::default()
    }
}

fn options() -> AdviceOptions {
    AdviceOptions::default()
}

const RENDER: &str = "\
def render(rows):
    out = ''
    for row in rows:
        out += str(row)
    return out


def cold(xs):
    total = 0
    for x in xs:
        total += x
    return total


def never(xs):
    total = 0
    for x in xs:
        total += x
    return total


def main(rows):
    render(rows)
    cold(rows)
";

/// A sampled profile of RENDER: the loop's lines (3-4) hot, `cold`'s loop barely sampled,
/// `never` absent; plus a recursive path through line 4 that must count once, and a standard
/// library frame that is not the user's.
fn sampled_render(dir: &Path) -> Profile {
    let app = file(dir, "app.py");
    let mut b = ProfileBuilder::new(meta(dir, Mode::Sample));
    let p = b.process(1, None, vec![]);
    let t = b.thread(p, 1, 1, "MainThread", true);
    let module = b.frame("<module>", "<module>", &app, 1, FrameKind::Python);
    let main = b.frame("main", "main", &app, 22, FrameKind::Python);
    let render = b.frame("render", "render", &app, 1, FrameKind::Python);
    let cold = b.frame("cold", "cold", &app, 8, FrameKind::Python);
    let json = b.frame(
        "decode",
        "JSONDecoder.decode",
        "/usr/lib/python3.11/json/decoder.py",
        332,
        FrameKind::Python,
    );
    let l_module = b.location(module, 26);
    let l_main_render = b.location(main, 23);
    let l_main_cold = b.location(main, 24);
    let path = |b: &mut ProfileBuilder, locs: &[u32]| b.stack_from_path(locs).unwrap();
    let (r3, r4, r5) = (
        b.location(render, 3),
        b.location(render, 4),
        b.location(render, 5),
    );
    let c11 = b.location(cold, 11);
    let j = b.location(json, 340);
    let s_loop_header = path(&mut b, &[l_module, l_main_render, r3]);
    let s_loop_body = path(&mut b, &[l_module, l_main_render, r4]);
    // render line 4 → render line 4 again (recursion): one stack, counted once.
    let s_recursive = path(&mut b, &[l_module, l_main_render, r4, r4]);
    let s_return = path(&mut b, &[l_module, l_main_render, r5]);
    let s_json = path(&mut b, &[l_module, l_main_render, r4, j]);
    let s_cold = path(&mut b, &[l_module, l_main_cold, c11]);
    let s_main = path(&mut b, &[l_module, l_main_cold]);
    for (stack, wall, cpu) in [
        (s_loop_header, 10, 10),
        (s_loop_body, 700, 690),
        (s_recursive, 50, 50),
        (s_json, 40, 40),
        (s_return, 5, 5),
        (s_cold, 3, 3),
        (s_main, 192, 190),
    ] {
        b.add(stack, t, Metric::WallSamples, wall);
        b.add(stack, t, Metric::CpuSamples, cpu);
        b.add(stack, t, Metric::GilSamples, cpu);
    }
    b.finish()
}

#[test]
fn line_level_join_ranks_and_demotes() {
    let dir = project(&[("app.py", RENDER)]);
    let profile = sampled_render(dir.path());
    profile.validate().unwrap();
    let advice = advise(&profile, &options());
    assert_eq!(advice.basis.metric, Some(Metric::WallSamples));
    assert_eq!(advice.basis.total, 1000);
    assert!(advice.basis.line_level);
    assert_eq!(
        advice.sources.files.len(),
        1,
        "the stdlib file is not the user's"
    );
    let codes: Vec<(&str, u32, bool)> = advice
        .findings
        .iter()
        .map(|f| {
            (
                f.diagnostic.rule.code(),
                f.diagnostic.span.start.line,
                f.cold,
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            ("PYR101", 4, false),
            ("PYR205", 10, true),
            ("PYR205", 17, true)
        ]
    );
    let hot = &advice.findings[0];
    assert_eq!(hot.evidence, Evidence::Lines { first: 3, last: 4 });
    // 10 + 700 + 50 (recursion counted once) + 40 (the json call made from line 4).
    assert_eq!(hot.measured.samples, Some(800));
    assert_eq!(hot.measured.time_ns, Some(800.0 * MS as f64));
    assert_eq!(hot.measured.cpu_ns, Some(790.0 * MS as f64));
    assert!((hot.measured.percent - 80.0).abs() < 1e-9);
    let saving = hot.saving.expect("PYR101 has a measured gain");
    assert!((saving.up_to_ns - 800.0 * MS as f64 * (1.0 - 1.0 / 1.4)).abs() < 1.0);
    // `cold`: 3 samples = 0.3% < 1%; `never`: not sampled at all.
    assert_eq!(advice.findings[1].measured.samples, Some(3));
    assert!(matches!(
        advice.findings[1].evidence,
        Evidence::Lines { .. }
    ));
    assert_eq!(advice.findings[2].evidence, Evidence::NotRun);
    assert_eq!(advice.findings[2].measured.samples, Some(0));
    assert_eq!(advice.exit_code(), 1);
}

#[test]
fn cold_threshold_is_an_option() {
    let dir = project(&[("app.py", RENDER)]);
    let profile = sampled_render(dir.path());
    let advice = advise(
        &profile,
        &AdviceOptions {
            cold_percent: 0.1,
            ..options()
        },
    );
    let cold: Vec<bool> = advice.findings.iter().map(|f| f.cold).collect();
    assert_eq!(cold, [false, false, true]);
}

#[test]
fn settings_select_and_exclude_apply() {
    let dir = project(&[("app.py", RENDER)]);
    let profile = sampled_render(dir.path());
    let only_205 = Settings::from_options(&CheckOptions {
        select: Some(vec!["PYR205".into()]),
        ..CheckOptions::default()
    })
    .unwrap();
    let advice = advise(
        &profile,
        &AdviceOptions {
            settings: only_205,
            ..options()
        },
    );
    assert!(
        advice
            .findings
            .iter()
            .all(|f| f.diagnostic.rule.code() == "PYR205")
    );
    let excluded = Settings::from_options(&CheckOptions {
        exclude: Some(vec!["app.py".into()]),
        ..CheckOptions::default()
    })
    .unwrap();
    let advice = advise(
        &profile,
        &AdviceOptions {
            settings: excluded,
            ..options()
        },
    );
    assert!(advice.findings.is_empty());
}

/// A traced (function-level) profile of RENDER: render 600 ns self + 200 in a callee.
fn traced_render(dir: &Path) -> Profile {
    let app = file(dir, "app.py");
    let mut b = ProfileBuilder::new(meta(dir, Mode::Trace));
    let p = b.process(1, None, vec![]);
    let t = b.thread(p, 1, 1, "MainThread", true);
    let module = b.frame("<module>", "<module>", &app, 1, FrameKind::Python);
    let main = b.frame("main", "main", &app, 22, FrameKind::Python);
    let render = b.frame("render", "render", &app, 1, FrameKind::Python);
    let cold = b.frame("cold", "cold", &app, 8, FrameKind::Python);
    let str_ = b.frame("str", "str", "~", 0, FrameKind::Builtin);
    let locs: Vec<u32> = [module, main, render, cold, str_]
        .iter()
        .map(|&f| b.location(f, 0))
        .collect();
    let s_module = b.stack_from_path(&locs[..1]).unwrap();
    let s_main = b.stack_from_path(&locs[..2]).unwrap();
    let s_render = b.stack_from_path(&locs[..3]).unwrap();
    let s_str = b
        .stack_from_path(&[locs[0], locs[1], locs[2], locs[4]])
        .unwrap();
    let s_cold = b.stack_from_path(&[locs[0], locs[1], locs[3]]).unwrap();
    for (stack, ns, calls) in [
        (s_module, 10 * MS, 1),
        (s_main, 90 * MS, 1),
        (s_render, 600 * MS, 1),
        (s_str, 200 * MS, 100_000),
        (s_cold, 2 * MS, 1),
    ] {
        b.add(stack, t, Metric::SelfTime, ns);
        b.add(stack, t, Metric::Calls, calls);
    }
    b.finish()
}

#[test]
fn function_level_join_is_an_upper_bound() {
    let dir = project(&[("app.py", RENDER)]);
    let profile = traced_render(dir.path());
    let advice = advise(&profile, &options());
    assert!(!advice.basis.line_level);
    assert_eq!(advice.basis.total_ns, Some(902.0 * MS as f64));
    let hot = &advice.findings[0];
    assert_eq!(hot.diagnostic.rule.code(), "PYR101");
    match &hot.evidence {
        Evidence::Function {
            qualname,
            line,
            whole,
            own,
        } => {
            assert_eq!((qualname.as_str(), *line, *whole), ("render", 1, false));
            assert_eq!(own.time_ns, Some(600.0 * MS as f64));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(hot.measured.time_ns, Some(800.0 * MS as f64));
    assert!(!hot.cold);
    // `cold` took 2 ms of 902: 0.22% < 1%. `never` did not run.
    assert!(advice.findings[1].cold);
    assert!(matches!(
        advice.findings[1].evidence,
        Evidence::Function { .. }
    ));
    assert_eq!(advice.findings[2].evidence, Evidence::NotRun);
    let section = advice.render_section(&SectionOptions::default());
    assert!(
        section.contains("at most 800 ms (88.7% of the run)"),
        "{section}"
    );
    assert!(section.contains("per-function data"), "{section}");
}

#[test]
fn a_finding_about_a_whole_function_is_exact() {
    let source = "\
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


def main():
    return fib(20)
";
    let dir = project(&[("fib.py", source)]);
    let fib_file = file(dir.path(), "fib.py");
    let mut b = ProfileBuilder::new(meta(dir.path(), Mode::Trace));
    let p = b.process(1, None, vec![]);
    let t = b.thread(p, 1, 1, "MainThread", true);
    let main = b.frame("main", "main", &fib_file, 7, FrameKind::Python);
    let fib = b.frame("fib", "fib", &fib_file, 1, FrameKind::Python);
    let (lm, lf) = (b.location(main, 0), b.location(fib, 0));
    let s1 = b.stack_from_path(&[lm, lf]).unwrap();
    let s2 = b.stack_from_path(&[lm, lf, lf]).unwrap();
    let s0 = b.stack_from_path(&[lm]).unwrap();
    b.add(s0, t, Metric::SelfTime, 10);
    b.add(s1, t, Metric::SelfTime, 30);
    b.add(s2, t, Metric::SelfTime, 60);
    let advice = advise(&b.finish(), &options());
    let finding = &advice.findings[0];
    assert_eq!(finding.diagnostic.rule.code(), "PYR107");
    match &finding.evidence {
        Evidence::Function { whole, .. } => assert!(*whole),
        other => panic!("{other:?}"),
    }
    // Recursive activations count once: 30 + 60.
    assert_eq!(finding.measured.time_ns, Some(90.0));
}

#[test]
fn paths_given_join_by_canonical_path() {
    let dir = project(&[("app.py", RENDER), ("other.py", RENDER)]);
    let profile = sampled_render(dir.path());
    let advice = advise(
        &profile,
        &AdviceOptions {
            paths: Some(vec![dir.path().to_path_buf()]),
            ..options()
        },
    );
    assert_eq!(advice.report.files_checked, 2);
    let other: Vec<&Evidence> = advice
        .findings
        .iter()
        .filter(|f| f.path.ends_with("other.py"))
        .map(|f| &f.evidence)
        .collect();
    assert_eq!(other.len(), 3);
    assert!(other.iter().all(|e| **e == Evidence::NotInProfile));
    assert!(advice.findings.last().unwrap().path.ends_with("other.py"));
    assert!(!advice.findings[0].cold);
}

#[test]
fn missing_and_changed_sources_are_reported() {
    let dir = project(&[("app.py", RENDER)]);
    let mut profile = sampled_render(dir.path());
    // A run that started after the file was written: not changed.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    profile.meta.start_unix_ns = now + 60_000_000_000;
    assert!(!advise(&profile, &options()).sources.files[0].changed);
    profile.meta.start_unix_ns = now - 3_600_000_000_000;
    let advice = advise(&profile, &options());
    assert!(advice.sources.files[0].changed);
    assert!(advice.findings[0].changed);
    assert!(
        advice
            .render_section(&SectionOptions::default())
            .contains("changed since the run")
    );
    // A file of the run that is not here.
    let mut b = ProfileBuilder::new(meta(dir.path(), Mode::Trace));
    let p = b.process(1, None, vec![]);
    let t = b.thread(p, 1, 1, "MainThread", true);
    let gone = b.frame("f", "f", "/nonexistent/gone.py", 1, FrameKind::Python);
    let frozen = b.frame(
        "_find",
        "_find",
        "<frozen importlib._bootstrap>",
        1,
        FrameKind::Python,
    );
    let (lg, lf) = (b.location(gone, 0), b.location(frozen, 0));
    let s = b.stack_from_path(&[lf, lg]).unwrap();
    b.add(s, t, Metric::SelfTime, 5);
    let advice = advise(&b.finish(), &options());
    assert_eq!(advice.sources.missing, ["/nonexistent/gone.py"]);
    assert!(advice.sources.files.is_empty());
    let section = advice.render_section(&SectionOptions::default());
    assert!(
        section.contains("no source files of the program"),
        "{section}"
    );
    assert!(section.contains("not found here"), "{section}");
}

const WORKERS: &str = "\
import time


def fetch(urls):
    for url in urls:
        time.sleep(0.01)


def crunch(n):
    total = 0
    i = 0
    while i < n:
        total += i
        i += 1
    return total


def wait_all(threads):
    for t in threads:
        t.join()
";

/// fetch: 200 wall, 10 on a CPU (sleeping at line 6); crunch: 300 wall, 290 on a CPU holding
/// the GIL; wait_all: 300 wall in `threading.py` (a join): not I/O.
fn sampled_workers(dir: &Path) -> Profile {
    let app = file(dir, "workers.py");
    let mut b = ProfileBuilder::new(meta(dir, Mode::Sample));
    let p = b.process(1, None, vec![]);
    let t = b.thread(p, 1, 1, "MainThread", true);
    let fetch = b.frame("fetch", "fetch", &app, 4, FrameKind::Python);
    let crunch = b.frame("crunch", "crunch", &app, 9, FrameKind::Python);
    let wait_all = b.frame("wait_all", "wait_all", &app, 18, FrameKind::Python);
    let join = b.frame(
        "_wait_for_tstate_lock",
        "Thread._wait_for_tstate_lock",
        "/usr/lib/python3.11/threading.py",
        1100,
        FrameKind::Python,
    );
    let f6 = b.location(fetch, 6);
    let c13 = b.location(crunch, 13);
    let w20 = b.location(wait_all, 20);
    let j = b.location(join, 1116);
    let s_fetch = b.stack_from_path(&[f6]).unwrap();
    let s_crunch = b.stack_from_path(&[c13]).unwrap();
    let s_join = b.stack_from_path(&[w20, j]).unwrap();
    for (stack, wall, cpu, gil) in [
        (s_fetch, 200, 10, 10),
        (s_crunch, 300, 290, 290),
        (s_join, 300, 0, 0),
    ] {
        b.add(stack, t, Metric::WallSamples, wall);
        b.add(stack, t, Metric::CpuSamples, cpu);
        b.add(stack, t, Metric::GilSamples, gil);
    }
    b.finish()
}

#[test]
fn off_cpu_and_on_cpu_advice() {
    let dir = project(&[("workers.py", WORKERS)]);
    let advice = advise(&sampled_workers(dir.path()), &options());
    let kinds: Vec<(AdviceKind, &str)> = advice
        .items
        .iter()
        .map(|i| (i.kind, i.subject.as_ref().unwrap().name.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [(AdviceKind::OnCpu, "crunch"), (AdviceKind::OffCpu, "fetch")],
        "{:#?}",
        advice.items
    );
    let off = &advice.items[1];
    assert!(
        off.evidence.contains("200 ms of wall time"),
        "{}",
        off.evidence
    );
    assert!(
        off.evidence.contains("190 ms off the CPU"),
        "{}",
        off.evidence
    );
    assert!(
        off.evidence.contains("workers.py:6 in `fetch`"),
        "{}",
        off.evidence
    );
    assert!(off.suggestion.contains("asyncio"));
    let on = &advice.items[0];
    assert!(
        on.evidence.contains("290 ms holding the GIL (97%)"),
        "{}",
        on.evidence
    );
    assert!(on.suggestion.contains("Processes"));
    assert!(
        on.facts
            .iter()
            .any(|f| f.name == "cpu_percent" && f.value == FactValue::Percent(290.0 / 3.0))
    );
}

#[test]
fn gil_contention_is_estimated_per_line() {
    let dir = project(&[("workers.py", WORKERS)]);
    let app = file(dir.path(), "workers.py");
    let mut b = ProfileBuilder::new(meta(dir.path(), Mode::Sample));
    b.meta_mut().counters.push(Counter {
        name: "samples".into(),
        value: 300,
    });
    let p = b.process(1, None, vec![]);
    let crunch = b.frame("crunch", "crunch", &app, 9, FrameKind::Python);
    let fetch = b.frame("fetch", "fetch", &app, 4, FrameKind::Python);
    let c13 = b.location(crunch, 13);
    let f6 = b.location(fetch, 6);
    let s_crunch = b.stack_from_path(&[c13]).unwrap();
    let s_fetch = b.stack_from_path(&[f6]).unwrap();
    // Three threads share the GIL on a Python line: each holds it a third of the time.
    for i in 0..3 {
        let t = b.thread(p, 10 + i, 10 + i, &format!("worker-{i}"), i == 0);
        b.add(s_crunch, t, Metric::WallSamples, 300);
        b.add(s_crunch, t, Metric::CpuSamples, 105);
        b.add(s_crunch, t, Metric::GilSamples, 100);
        // A sleep line with a sample or two holding the GIL is not a GIL wait.
        b.add(s_fetch, t, Metric::WallSamples, 100);
        b.add(s_fetch, t, Metric::GilSamples, 1);
    }
    let advice = advise(&b.finish(), &options());
    let gil = advice
        .items
        .iter()
        .find(|i| i.kind == AdviceKind::GilContention)
        .expect("GIL advice");
    let wait = gil
        .facts
        .iter()
        .find(|f| f.name == "gil_wait_ns")
        .map(|f| f.value.clone());
    // 3 × (300 − max(100, 105)) samples of 1 ms.
    assert_eq!(wait, Some(FactValue::Nanoseconds(585.0 * MS as f64)));
    assert!(
        gil.evidence.contains("3 threads ran Python code"),
        "{}",
        gil.evidence
    );
    assert!(gil.evidence.contains("held in 100%"), "{}", gil.evidence);
    assert!(gil.evidence.contains("`crunch`"), "{}", gil.evidence);
    // The waits for the GIL are not advertised as I/O.
    assert!(
        !advice
            .items
            .iter()
            .any(|i| i.kind == AdviceKind::OffCpu && i.subject.as_ref().unwrap().name == "crunch")
    );
    // The sleeping lines are.
    assert!(
        advice
            .items
            .iter()
            .any(|i| i.kind == AdviceKind::OffCpu && i.subject.as_ref().unwrap().name == "fetch")
    );
}

#[test]
fn one_thread_is_no_contention() {
    let dir = project(&[("workers.py", WORKERS)]);
    let advice = advise(&sampled_workers(dir.path()), &options());
    assert!(
        !advice
            .items
            .iter()
            .any(|i| i.kind == AdviceKind::GilContention)
    );
}

const PURE: &str = "\
def score(a, b):
    return (a * 31 + b) % 97


def log(a):
    print(a)
    return a


def main(n):
    total = 0
    for i in range(n):
        total += score(i % 10, 3) + log(i)
    return total
";

#[test]
fn many_calls_to_a_pure_looking_function() {
    let dir = project(&[("pure.py", PURE)]);
    let app = file(dir.path(), "pure.py");
    let mut b = ProfileBuilder::new(meta(dir.path(), Mode::Trace));
    let p = b.process(1, None, vec![]);
    let t = b.thread(p, 1, 1, "MainThread", true);
    let main = b.frame("main", "main", &app, 10, FrameKind::Python);
    let score = b.frame("score", "score", &app, 1, FrameKind::Python);
    let log = b.frame("log", "log", &app, 5, FrameKind::Python);
    let (lm, ls, ll) = (
        b.location(main, 0),
        b.location(score, 0),
        b.location(log, 0),
    );
    let s_main = b.stack_from_path(&[lm]).unwrap();
    let s_score = b.stack_from_path(&[lm, ls]).unwrap();
    let s_log = b.stack_from_path(&[lm, ll]).unwrap();
    b.add(s_main, t, Metric::SelfTime, 100 * MS);
    b.add(s_main, t, Metric::Calls, 1);
    b.add(s_score, t, Metric::SelfTime, 50 * MS);
    b.add(s_score, t, Metric::Calls, 200_000);
    b.add(s_log, t, Metric::SelfTime, 50 * MS);
    b.add(s_log, t, Metric::Calls, 200_000);
    let advice = advise(&b.finish(), &options());
    let items: Vec<(AdviceKind, &str)> = advice
        .items
        .iter()
        .map(|i| (i.kind, i.subject.as_ref().unwrap().name.as_str()))
        .collect();
    assert_eq!(items, [(AdviceKind::ManyCallsPure, "score")]);
    let item = &advice.items[0];
    assert!(item.evidence.contains("200,000 calls"), "{}", item.evidence);
    assert!(item.evidence.contains("250 ns a call"), "{}", item.evidence);
    assert!(item.suggestion.contains("does not record arguments"));
}

const SHAPES: &str = "\
class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


class Slim:
    __slots__ = ('x',)

    def __init__(self, x):
        self.x = x


def build(n):
    points = [Point(i, i) for i in range(n)]
    slims = [Slim(i) for i in range(n)]
    return points, slims


def total(rows):
    n = 0
    for size in [len(r) for r in rows]:
        n += size
    return n
";

fn memory_profile(dir: &Path) -> Profile {
    let app = file(dir, "shapes.py");
    let mut b = ProfileBuilder::new(meta(dir, Mode::Memory));
    b.meta_mut().counters.push(Counter {
        name: "peak_bytes".into(),
        value: 100 << 20,
    });
    let p = b.process(1, None, vec![]);
    let t = b.thread(p, 1, 1, "MainThread", true);
    let build = b.frame("build", "build", &app, 14, FrameKind::Python);
    let init = b.frame("__init__", "Point.__init__", &app, 2, FrameKind::Python);
    let total = b.frame("total", "total", &app, 20, FrameKind::Python);
    let b15 = b.location(build, 15);
    let b16 = b.location(build, 16);
    let i3 = b.location(init, 3);
    let t22 = b.location(total, 22);
    let s_points = b.stack_from_path(&[b15]).unwrap();
    let s_init = b.stack_from_path(&[b15, i3]).unwrap();
    let s_slims = b.stack_from_path(&[b16]).unwrap();
    let s_list = b.stack_from_path(&[t22]).unwrap();
    for (stack, alloc, count, retained) in [
        (s_points, 30u64 << 20, 500_000, 30u64 << 20),
        (s_init, 20 << 20, 500_000, 20 << 20),
        (s_slims, 20 << 20, 500_000, 20 << 20),
        (s_list, 40 << 20, 1_000_000, 0),
    ] {
        b.add(stack, t, Metric::AllocBytes, alloc);
        b.add(stack, t, Metric::AllocCount, count);
        b.add(stack, t, Metric::RetainedBytes, retained);
    }
    b.finish()
}

#[test]
fn memory_advice_classes_and_lists() {
    let dir = project(&[("shapes.py", SHAPES)]);
    let advice = advise(&memory_profile(dir.path()), &options());
    assert_eq!(advice.basis.metric, Some(Metric::AllocBytes));
    let kinds: Vec<AdviceKind> = advice.items.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [AdviceKind::ClassWithoutSlots, AdviceKind::ListIteratedOnce],
        "{:#?}",
        advice.items
    );
    let class = &advice.items[0];
    assert_eq!(class.subject.as_ref().unwrap().name, "Point");
    // 30 MiB at the construction line (its __init__'s 20 MiB is under it) of a 100 MiB peak.
    assert!(class.evidence.contains("50.0 MiB"), "{}", class.evidence);
    assert!(
        class.evidence.contains("50% of the peak"),
        "{}",
        class.evidence
    );
    assert!(class.suggestion.contains("__slots__ = (\"x\", \"y\")"));
    let list = &advice.items[1];
    assert!(list.evidence.contains("40.0 MiB"), "{}", list.evidence);
    assert!(list.suggestion.contains("generator"));
    // PYR210 is off by default: it fed the memory advice but is not a finding.
    assert!(
        advice
            .findings
            .iter()
            .all(|f| f.diagnostic.rule.code() != "PYR210")
    );
}

#[test]
fn memory_findings_carry_bytes() {
    let dir = project(&[("shapes.py", SHAPES)]);
    let all = Settings::from_options(&CheckOptions {
        select: Some(vec!["ALL".into()]),
        ..CheckOptions::default()
    })
    .unwrap();
    let advice = advise(
        &memory_profile(dir.path()),
        &AdviceOptions {
            settings: all,
            ..options()
        },
    );
    let list = advice
        .findings
        .iter()
        .find(|f| f.diagnostic.rule.code() == "PYR210")
        .expect("selected, so it is a finding too");
    assert_eq!(list.measured.alloc_bytes, Some(40 << 20));
    assert_eq!(list.measured.time_ns, None);
    assert!((list.measured.percent - 36.36).abs() < 0.01);
}

fn json_of(advice: &Advice) -> serde_json::Value {
    serde_json::from_str(&advice.render_json()).unwrap()
}

#[test]
fn json_and_sarif_are_in_rank_order() {
    let dir = project(&[("app.py", RENDER)]);
    let advice = advise(&sampled_render(dir.path()), &options());
    let doc = json_of(&advice);
    assert_eq!(doc["version"], 1);
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 3);
    assert_eq!(findings[0]["code"], "PYR101");
    assert_eq!(findings[0]["profile"]["rank"], 1);
    assert_eq!(findings[0]["profile"]["evidence"]["kind"], "lines");
    assert_eq!(findings[0]["profile"]["time_ns"], 800.0 * MS as f64);
    assert_eq!(findings[0]["profile"]["saving"]["speedup"], 1.4);
    assert_eq!(findings[2]["profile"]["evidence"]["kind"], "not_run");
    assert_eq!(findings[2]["profile"]["cold"], true);
    assert_eq!(doc["profile"]["metric"], "wall_samples");
    assert!(doc["advice"].is_array());
    let sarif: serde_json::Value = serde_json::from_str(&advice.render_sarif()).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results[0]["ruleId"], "PYR101");
    assert_eq!(results[0]["rank"], 80.0);
    assert_eq!(results[0]["properties"]["profile"]["rank"], 1);
    assert_eq!(
        results[0]["properties"]["costLines"],
        serde_json::json!([3, 4])
    );
}

#[test]
fn text_outputs() {
    let dir = project(&[("app.py", RENDER)]);
    let advice = advise(&sampled_render(dir.path()), &options());
    let section = advice.render_section(&SectionOptions {
        profile_path: Some("run.pyro".into()),
        ..SectionOptions::default()
    });
    assert!(section.starts_with("Advice"), "{section}");
    assert!(section.contains("800 ms  80.0%"), "{section}");
    assert!(section.contains("PYR101"), "{section}");
    assert!(
        section.contains("while lines 3-4 (the loop) ran"),
        "{section}"
    );
    assert!(section.contains("saving up to 229 ms"), "{section}");
    assert!(
        section.contains("1 finding in code under 1% of the sampled wall time"),
        "{section}"
    );
    assert!(
        section.contains("1 finding where no samples fell"),
        "{section}"
    );
    assert!(
        section.contains("pyrometer check --profile run.pyro"),
        "{section}"
    );
    assert!(!section.contains("\x1b["), "no colour unless asked");
    let text = advice.render_text();
    let hot = text.find("PYR101 String").unwrap();
    let cold = text.find("── cold").unwrap();
    assert!(hot < cold, "{text}");
    assert!(
        text.contains("= measured: 800 ms (80.0% of the sampled wall time)"),
        "{text}"
    );
    assert!(text.contains("Found 3 findings"), "{text}");
}

#[test]
fn nothing_to_rank() {
    let dir = project(&[("app.py", RENDER)]);
    let mut profile = sampled_render(dir.path());
    profile
        .samples
        .columns
        .retain(|c| c.metric == Metric::GilSamples);
    let advice = advise(&profile, &options());
    assert_eq!(advice.basis.metric, None);
    assert!(advice.findings.iter().all(|f| f.cold));
    let _ = advice.render_section(&SectionOptions::default());
    let _: PathBuf = advice.findings[0].path.clone();
}

/// A Python loop that the kernel kept waiting on a busy machine: off the CPU in many samples,
/// but holding the GIL in all of them. It is running Python code, not waiting for I/O.
#[test]
fn holding_the_gil_is_running_not_waiting() {
    let dir = project(&[("workers.py", WORKERS)]);
    let app = file(dir.path(), "workers.py");
    let mut b = ProfileBuilder::new(meta(dir.path(), Mode::Sample));
    let p = b.process(1, None, vec![]);
    let t = b.thread(p, 1, 1, "MainThread", true);
    let crunch = b.frame("crunch", "crunch", &app, 9, FrameKind::Python);
    let c13 = b.location(crunch, 13);
    let s = b.stack_from_path(&[c13]).unwrap();
    b.add(s, t, Metric::WallSamples, 400);
    b.add(s, t, Metric::CpuSamples, 170);
    b.add(s, t, Metric::GilSamples, 400);
    let advice = advise(&b.finish(), &options());
    let kinds: Vec<AdviceKind> = advice.items.iter().map(|i| i.kind).collect();
    assert_eq!(kinds, [AdviceKind::OnCpu], "{:#?}", advice.items);
    assert!(advice.items[0].summary.contains("running 100%"));
}
