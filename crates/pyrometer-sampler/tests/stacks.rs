//! Reading stacks of real interpreters: every CPython 3.11+ on this machine runs the scripts
//! in `tests/scripts/`, and the sampler must find the functions, lines, threads and GIL
//! holder the scripts put there by construction.

mod common;

use common::{Target, interpreters, roles, tagged_line};
use pyrometer_cpython::layout::debug_offsets::{DebugOffsets, Shape};
use pyrometer_cpython::layout::{v3_11, v3_12, v3_13, v3_14, v3_15};
use pyrometer_cpython::memory::RemoteMemory;
use pyrometer_sampler::{PythonProcess, SamplerError, ThreadDump, ThreadState, dump};

fn leaf_qualnames(t: &ThreadDump) -> Vec<&str> {
    t.frames.iter().rev().map(|f| f.qualname.as_str()).collect()
}

fn frame<'a>(t: &'a ThreadDump, qualname: &str) -> Option<&'a pyrometer_sampler::DumpFrame> {
    t.frames.iter().find(|f| f.qualname == qualname)
}

#[test]
fn dump_finds_threads_functions_lines_and_the_gil_holder() {
    let _serial = common::serial();
    let interps = interpreters();
    let script = "threads.py";
    for py in interps {
        let target = Target::start(&py, script, &[]);
        let roles = roles(&target.ready);
        assert_eq!(roles.len(), 4, "{}: roles {}", py.label, target.ready);
        let ident = |role: &str| roles.iter().find(|r| r.0 == role).unwrap().1;
        let native = |role: &str| roles.iter().find(|r| r.0 == role).unwrap().2;
        assert_eq!(native("main"), target.pid() as u64);

        // READY comes just before the threads block: give them a moment to get there.
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut gil_busy = 0;
        let mut gil_others = 0;
        let mut busy_running = 0;
        let mut main_idle = 0;
        let mut waiter_idle = 0;
        let rounds = 20;
        for round in 0..rounds {
            let threads = dump(target.pid()).unwrap_or_else(|e| panic!("{}: {e}", py.label));
            assert_eq!(threads.len(), 4, "{}: {threads:#?}", py.label);
            for t in &threads {
                assert!(t.ok, "{}: unreadable stack {t:?}", py.label);
            }
            let by = |role: &str| threads.iter().find(|t| t.ident == ident(role)).unwrap();
            let main = by("main");
            assert!(main.is_main);
            assert_eq!(main.name, "MainThread");
            assert_eq!(main.native_id, native("main"));
            let f = frame(main, "idle_main")
                .unwrap_or_else(|| panic!("{}: no idle_main in {main:#?}", py.label));
            assert_eq!(f.line, tagged_line(script, "main"), "{}", py.label);
            assert_eq!(main.frames[0].qualname, "<module>");
            main_idle += (main.state == ThreadState::Idle) as u32;

            let busy = by("busy");
            // threading's own names, read out of process.
            assert_eq!(busy.name, "busy-worker", "{}", py.label);
            assert!(!busy.is_main);
            assert_eq!(leaf_qualnames(busy)[0], "busy", "{}: {busy:?}", py.label);
            // The loop's backward jump belongs to the `while` line.
            let leaf_line = busy.frames.last().unwrap().line;
            assert!(
                [
                    tagged_line(script, "busy"),
                    tagged_line(script, "busy-while")
                ]
                .contains(&leaf_line),
                "{}: busy at line {leaf_line}",
                py.label
            );
            assert!(
                busy.frames.iter().any(|f| f.qualname == "Thread.run"),
                "{}: {busy:?}",
                py.label
            );

            // A generator's frame lives outside the thread's frame chunks.
            let g = by("gen");
            assert_eq!(
                leaf_qualnames(g)[..2],
                ["sleepy_gen", "consume"],
                "{}",
                py.label
            );
            assert_eq!(
                frame(g, "sleepy_gen").unwrap().line,
                tagged_line(script, "gen")
            );
            assert_eq!(
                frame(g, "consume").unwrap().line,
                tagged_line(script, "consume")
            );

            // A call through C (map) puts a shim frame in the middle on 3.12+.
            assert_eq!(g.name, "gen-worker", "{}", py.label);
            let w = by("waiter");
            assert_eq!(w.name, "waiter-worker", "{}", py.label);
            assert_eq!(
                frame(w, "wait_step").unwrap().line,
                tagged_line(script, "wait")
            );
            assert_eq!(frame(w, "waiter").unwrap().line, tagged_line(script, "map"));
            let names = leaf_qualnames(w);
            let step = names.iter().position(|n| *n == "wait_step").unwrap();
            assert_eq!(names[step + 1], "waiter", "{}: {names:?}", py.label);
            waiter_idle += (w.state == ThreadState::Idle) as u32;

            gil_busy += busy.holds_gil as u32;
            gil_others += [main, g, w].iter().filter(|t| t.holds_gil).count() as u32;
            busy_running += (busy.state == ThreadState::Running) as u32;
            if round == 0 {
                eprintln!("{}: 4 threads, stacks and lines as expected", py.label);
            }
        }
        eprintln!(
            "{}: GIL on the busy thread in {gil_busy}/{rounds} dumps, on idle threads {gil_others}; busy running {busy_running}/{rounds}",
            py.label
        );
        assert!(
            gil_busy >= rounds * 3 / 4,
            "{}: busy thread held the GIL only {gil_busy}/{rounds}",
            py.label
        );
        assert!(
            gil_others <= 2,
            "{}: idle threads held the GIL {gil_others} times",
            py.label
        );
        assert!(
            waiter_idle >= rounds * 3 / 4,
            "{}: waiter idle {waiter_idle}/{rounds}",
            py.label
        );
        assert!(
            main_idle >= rounds / 2,
            "{}: main thread idle {main_idle}/{rounds}",
            py.label
        );
        assert!(
            busy_running >= rounds / 2,
            "{}: busy thread running {busy_running}/{rounds}",
            py.label
        );
    }
}

#[test]
fn deep_recursion_is_read_fully() {
    let _serial = common::serial();
    let interps = interpreters();
    for py in interps {
        let target = Target::start(&py, "deep.py", &["500"]);
        // Give main() time to reach the bottom.
        let mut last = None;
        for _ in 0..100 {
            let threads = dump(target.pid()).unwrap_or_else(|e| panic!("{}: {e}", py.label));
            let t = threads
                .into_iter()
                .find(|t| t.is_main)
                .expect("main thread");
            if t.frames.last().is_some_and(|f| f.qualname == "bottom") {
                last = Some(t);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let t = last.unwrap_or_else(|| panic!("{}: never saw bottom()", py.label));
        let recurse: Vec<_> = t
            .frames
            .iter()
            .filter(|f| f.qualname == "recurse")
            .collect();
        assert_eq!(recurse.len(), 500, "{}", py.label);
        let line = tagged_line("deep.py", "recurse");
        // Every activation but the innermost is on the recursive call's line.
        assert!(
            recurse[..499].iter().all(|f| f.line == line),
            "{}",
            py.label
        );
        assert_eq!(
            t.frames.last().unwrap().line,
            tagged_line("deep.py", "bottom")
        );
        assert_eq!(
            t.frames.len(),
            503,
            "{}: <module>, main, 500 × recurse, bottom",
            py.label
        );
        eprintln!("{}: 503 frames read", py.label);
    }
}

#[test]
fn non_python_and_missing_processes_are_typed_errors() {
    let _serial = common::serial();
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    std::thread::sleep(std::time::Duration::from_millis(50));
    match PythonProcess::attach(sleeper.id()) {
        Err(e @ SamplerError::NotPython { .. }) => eprintln!("sleep: {e}"),
        other => panic!("expected NotPython, got {other:?}"),
    }
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    match dump(0x3fff_fff0) {
        Err(SamplerError::NoSuchProcess { .. }) => {}
        other => panic!("expected NoSuchProcess, got {other:?}"),
    }
}

/// The `_Py_DebugOffsets` shapes by minor version.
fn shape(minor: &str) -> Option<&'static Shape> {
    match minor {
        "3.13" => Some(&v3_13::VERSION),
        "3.14" => Some(&v3_14::VERSION),
        "3.15" => Some(&v3_15::VERSION),
        _ => None,
    }
}

#[test]
fn every_interpreters_debug_offsets_match_the_measured_tables() {
    let _serial = common::serial();
    let mut checked = 0;
    for py in interpreters() {
        let Some(shape) = shape(&py.minor) else {
            continue;
        };
        let target = Target::start(&py, "deep.py", &["3"]);
        let loc = pyrometer_sampler::discover::locate_runtime(target.pid()).expect("runtime");
        assert_eq!(loc.method, "section", "{}", py.label);
        assert!(!loc.debug_build, "{}", py.label);
        let mem = RemoteMemory::new(target.pid());
        let bytes = mem.read_vec(loc.runtime_addr, shape.size()).expect("read");
        let offsets = DebugOffsets::parse(shape, &bytes).expect("cookie");
        let version = mem.read_u32(loc.py_version_addr.unwrap()).unwrap();
        assert_eq!(offsets.version(), version as u64, "{}", py.label);
        assert!(!offsets.free_threaded(), "{}", py.label);
        offsets.check().unwrap();
        assert_eq!(
            offsets.to_layout(shape.table()),
            shape.table(),
            "{}",
            py.label
        );
        eprintln!("{}: _Py_DebugOffsets match the table", py.label);
        checked += 1;
    }
    assert!(
        checked > 0 || std::env::var_os("CI").is_none(),
        "no interpreter with _Py_DebugOffsets"
    );
}

/// Runs in a child test process as uid `nobody` (see `permission_errors_carry_a_hint`).
#[test]
fn permission_child() {
    let Ok(pid) = std::env::var("PYROMETER_TEST_PERMISSION_PID") else {
        return;
    };
    let pid: u32 = pid.parse().unwrap();
    match PythonProcess::attach(pid) {
        Err(e @ SamplerError::PermissionDenied { .. }) => {
            println!("ERROR {e}");
            println!("HINT {}", e.hint().unwrap_or_default());
        }
        other => println!("UNEXPECTED {other:?}"),
    }
}

#[test]
fn permission_errors_carry_a_hint() {
    let _serial = common::serial();
    use std::os::unix::process::CommandExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP permission_errors_carry_a_hint: needs root to run a child as nobody");
        return;
    }
    let py = interpreters().remove(0);
    let target = Target::start(&py, "deep.py", &["3"]);
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "permission_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PYROMETER_TEST_PERMISSION_PID", target.pid().to_string())
        .uid(65534)
        .gid(65534)
        .output()
        .expect("child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The test harness prints the test name on the same line as the first output.
    let find = |tag: &str| {
        stdout
            .lines()
            .find_map(|l| l.split_once(tag).map(|(_, rest)| rest.to_owned()))
    };
    let error = find("ERROR ").unwrap_or_else(|| {
        panic!(
            "child said: {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let hint = find("HINT ").unwrap();
    eprintln!("{error}\n{hint}");
    assert!(error.contains("permission denied"), "{error}");
    assert!(
        hint.contains("same user") && hint.contains("SYS_PTRACE"),
        "{hint}"
    );
}

#[test]
fn a_wrong_layout_fails_its_self_check_instead_of_reading_garbage() {
    let _serial = common::serial();
    let interps = interpreters();
    let layouts = [
        ("3.11", v3_11::layout()),
        ("3.12", v3_12::layout()),
        ("3.13", v3_13::VERSION.table()),
        ("3.14", v3_14::VERSION.table()),
        ("3.15", v3_15::VERSION.table()),
    ];
    for py in interps {
        let target = Target::start(&py, "threads.py", &[]);
        for (minor, layout) in &layouts {
            let result = PythonProcess::attach_with_layout(target.pid(), layout.clone());
            if *minor == py.minor {
                assert!(
                    result.is_ok(),
                    "{}: own layout refused: {result:?}",
                    py.label
                );
                continue;
            }
            match result {
                Err(e @ SamplerError::LayoutMismatch { .. })
                | Err(e @ SamplerError::NotReady { .. }) => {
                    eprintln!("{} with the {minor} layout: {e}", py.label)
                }
                other => panic!("{} with the {minor} layout: {other:?}", py.label),
            }
        }
    }
}

#[test]
fn older_pythons_are_refused_with_their_version() {
    let olds = [
        "/root/.pyenv/versions/3.10.13/bin/python3.10",
        "/root/.pyenv/versions/2.7.18/bin/python2.7",
    ];
    let mut ran = 0;
    for path in olds {
        if !std::path::Path::new(path).exists() {
            eprintln!("SKIP older_pythons {path}: not found");
            continue;
        }
        let mut child = std::process::Command::new(path)
            .args(["-c", "import time; time.sleep(30)"])
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let result = PythonProcess::attach(child.id());
        let _ = child.kill();
        let _ = child.wait();
        match result {
            Err(e @ SamplerError::UnsupportedVersion { .. }) => {
                assert!(!e.is_transient());
                eprintln!("{path}: {e}");
            }
            other => panic!("{path}: expected UnsupportedVersion, got {other:?}"),
        }
        ran += 1;
    }
    if ran == 0 {
        eprintln!("SKIP older_pythons: no CPython before 3.11 installed");
    }
}
