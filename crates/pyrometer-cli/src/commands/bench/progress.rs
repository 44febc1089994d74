//! The progress bar of `bench`, on stderr when it is a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use pyrometer_bench::run::Observer;

pub struct Progress {
    enabled: bool,
    last: Option<Instant>,
    drawn: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress {
            enabled: !quiet && std::io::stderr().is_terminal(),
            last: None,
            drawn: false,
        }
    }

    /// Erases the bar.
    pub fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

impl Observer for Progress {
    fn step(&mut self, done: u64, total: u64, label: &str) {
        if !self.enabled {
            return;
        }
        if done >= total && total > 0 {
            self.clear();
            return;
        }
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(80))
        {
            return;
        }
        self.last = Some(now);
        const WIDTH: u64 = 24;
        let filled = (done * WIDTH).checked_div(total).unwrap_or(0);
        let label: String = label.chars().take(40).collect();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K[{}{}] {done}/{total} {label}",
            "#".repeat(filled as usize),
            ".".repeat((WIDTH - filled) as usize)
        );
        let _ = err.flush();
        self.drawn = true;
    }
}
