//! In-process sampling: the reader pointed at its own pid, from a Rust thread that Python does
//! not know about, while an embedded interpreter runs Python code in another thread.
//!
//! Each interpreter needs a fresh process (one libpython per process), so the test re-runs
//! this test binary once per `libpython3.X.so` found, as `in_process_child`.

use std::ffi::{CString, c_char, c_int, c_void};
use std::path::Path;
use std::time::Duration;

use pyrometer_profile::Metric;
use pyrometer_sampler::{RunEnd, Sampler, SamplerConfig};

const LIBS: &[(&str, &str)] = &[
    ("/root/.pyenv/versions/3.11.7", "lib/libpython3.11.so.1.0"),
    ("/root/.pyenv/versions/3.12.1", "lib/libpython3.12.so.1.0"),
    ("/root/.pyenv/versions/3.13.0", "lib/libpython3.13.so.1.0"),
];

const CODE: &str = "import time\n\
def inproc_busy():\n\
\x20   end = time.monotonic() + 2.0\n\
\x20   while time.monotonic() < end:\n\
\x20       pass\n\
inproc_busy()\n";

fn sym<T>(lib: *mut c_void, name: &str) -> T {
    let cname = CString::new(name).unwrap();
    // SAFETY: `lib` is a handle from dlopen and `cname` a NUL-terminated string.
    let p = unsafe { libc::dlsym(lib, cname.as_ptr()) };
    assert!(!p.is_null(), "{name} not found");
    assert_eq!(std::mem::size_of::<T>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: T is the function-pointer type of the symbol named (checked by the caller's
    // annotation), and has the size of a pointer (asserted above).
    unsafe { std::mem::transmute_copy(&p) }
}

#[test]
fn in_process_child() {
    let (Ok(prefix), Ok(lib)) = (
        std::env::var("PYROMETER_INPROC_PREFIX"),
        std::env::var("PYROMETER_INPROC_LIB"),
    ) else {
        return;
    };
    let path = CString::new(Path::new(&prefix).join(&lib).to_str().unwrap()).unwrap();
    // SAFETY: dlopen with a valid path; the library stays loaded for the process lifetime.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    assert!(!handle.is_null(), "dlopen {lib}");
    let initialize: extern "C" fn() = sym(handle, "Py_Initialize");
    let save_thread: extern "C" fn() -> *mut c_void = sym(handle, "PyEval_SaveThread");
    let gil_ensure: extern "C" fn() -> c_int = sym(handle, "PyGILState_Ensure");
    let gil_release: extern "C" fn(c_int) = sym(handle, "PyGILState_Release");
    let run: extern "C" fn(*const c_char) -> c_int = sym(handle, "PyRun_SimpleString");
    // SAFETY: single-threaded here; PYTHONHOME tells the embedded interpreter where its
    // standard library is.
    unsafe { std::env::set_var("PYTHONHOME", &prefix) };
    initialize();
    // Release the GIL so that the runner thread can take it.
    let _main_tstate = save_thread();
    let runner = std::thread::spawn(move || {
        let code = CString::new(CODE).unwrap();
        let state = gil_ensure();
        let r = run(code.as_ptr());
        gil_release(state);
        r
    });
    // This thread never registers with Python and never takes the GIL.
    let pid = std::process::id();
    let cfg = SamplerConfig {
        rate_hz: 1000.0,
        duration: Some(Duration::from_millis(700)),
        ..SamplerConfig::default()
    };
    let mut sampler = Sampler::attach_wait(pid, cfg, Duration::from_secs(5)).expect("attach self");
    let end = sampler.run().expect("run");
    assert_eq!(end, RunEnd::Duration);
    let profile = sampler.finish();
    profile.validate().unwrap();
    let busy = profile
        .frames
        .iter()
        .position(|f| profile.string(f.qualname) == "inproc_busy")
        .expect("inproc_busy sampled") as u32;
    let busy_samples: u64 = profile
        .samples
        .stack
        .iter()
        .zip(profile.samples.column(Metric::WallSamples).unwrap())
        .filter(|(s, _)| profile.frame_of_stack(**s) == busy)
        .map(|(_, v)| *v)
        .sum();
    let python = profile.meta.python.clone().unwrap().version;
    println!(
        "OK {python}: {busy_samples} samples in inproc_busy of {} thread samples, {} dropped",
        profile.counter("thread_samples").unwrap(),
        profile.counter("dropped").unwrap()
    );
    assert!(busy_samples > 300);
    assert_eq!(runner.join().unwrap(), 0);
}

#[test]
fn in_process_sampling_of_an_embedded_interpreter() {
    let mut ran = 0;
    for (prefix, lib) in LIBS {
        if !Path::new(prefix).join(lib).exists() {
            eprintln!("SKIP in-process {lib}: not found under {prefix}");
            continue;
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "in_process_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PYROMETER_INPROC_PREFIX", prefix)
            .env("PYROMETER_INPROC_LIB", lib)
            .output()
            .expect("child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let ok = stdout
            .lines()
            .find_map(|l| l.split_once("OK ").map(|(_, r)| r.to_owned()));
        match ok {
            Some(line) if out.status.success() => eprintln!("in-process {line}"),
            _ => panic!(
                "in-process child for {lib} failed: {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
        ran += 1;
    }
    if ran == 0 {
        eprintln!("SKIP in_process_sampling: no shared libpython 3.11+ found");
    }
}
