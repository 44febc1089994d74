//! `pyrometer dump --pid PID`: every thread's Python stack now, with lines, GIL and idle state.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::Result;
use clap::Args;
use pyrometer_sampler::{ThreadDump, ThreadState};

use crate::sampling;

#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The process to read (a running CPython 3.11–3.15)
    #[arg(long, value_name = "PID")]
    pub pid: u32,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

fn state_words(t: &ThreadDump) -> String {
    let mut words = vec![match t.state {
        ThreadState::Running => "running",
        ThreadState::Idle => "idle",
        ThreadState::Unknown => "state unknown",
    }];
    if t.holds_gil {
        words.push("holds the GIL");
    }
    words.join(", ")
}

fn text(pid: u32, threads: &[ThreadDump]) -> String {
    let mut out = format!(
        "Process {pid}: {} Python thread(s), most recent call first\n",
        threads.len()
    );
    for t in threads {
        let _ = writeln!(
            out,
            "\nThread {} \"{}\" ({})",
            t.native_id,
            t.name,
            state_words(t)
        );
        if !t.ok {
            let _ = writeln!(out, "    (its stack changed while being read; try again)");
            continue;
        }
        if t.frames.is_empty() {
            let _ = writeln!(out, "    (no Python frame)");
        }
        for f in t.frames.iter().rev() {
            let _ = writeln!(out, "    {} ({}:{})", f.qualname, f.file, f.line);
        }
    }
    out
}

fn json(pid: u32, threads: &[ThreadDump]) -> String {
    let threads: Vec<serde_json::Value> = threads
        .iter()
        .map(|t| {
            serde_json::json!({
                "name": t.name,
                "ident": t.ident,
                "native_id": t.native_id,
                "is_main": t.is_main,
                "holds_gil": t.holds_gil,
                "state": match t.state { ThreadState::Running => "running", ThreadState::Idle => "idle", ThreadState::Unknown => "unknown" },
                "complete": t.ok,
                "frames": t.frames.iter().map(|f| serde_json::json!({
                    "name": f.name, "qualname": f.qualname, "file": f.file,
                    "first_line": f.first_line, "line": f.line,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = serde_json::json!({ "pid": pid, "threads": threads });
    serde_json::to_string_pretty(&doc).expect("JSON values serialize") + "\n"
}

pub fn dump(args: DumpArgs) -> Result<i32> {
    let threads = pyrometer_sampler::dump(args.pid).map_err(|e| sampling::sampler_error(&e))?;
    let out = if args.json {
        json(args.pid, &threads)
    } else {
        text(args.pid, &threads)
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(out.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        other => other?,
    }
    Ok(0)
}
