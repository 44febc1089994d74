//! Thread names from `threading`, read out of process.
//!
//! A thread started by `threading` has `Thread._bootstrap(self)` as its outermost frame, so
//! `self` is that frame's `localsplus[0]`, and the name is the instance attribute `_name`
//! (`pyrometer_cpython::attrs`).
//!
//! This runs once per new thread (a few dozen small reads), not per sample.

use pyrometer_cpython::attrs::str_attr;
use pyrometer_cpython::layout::Frame;

use crate::process::{MAX_FRAMES, PythonProcess};

impl PythonProcess {
    /// The `threading` name of the thread whose state is at `tstate`: `self._name` of the
    /// `Thread` in its outermost `Thread._bootstrap` frame. `None` for threads not started by
    /// `threading` (or when anything along the way cannot be read). The code objects on the
    /// stack must have been seen by a sample before.
    pub fn thread_name(&self, tstate: u64) -> Option<String> {
        let l = self.layout();
        let mem = self.memory();
        let mut f = l.current_frame(mem, tstate)?;
        let mut bootstrap_self = None;
        for _ in 0..MAX_FRAMES {
            if f == 0 {
                break;
            }
            f = match l.read_frame(mem, f) {
                Frame::Python { code, previous, .. } => {
                    if let Some(info) = self.code(code)
                        && matches!(
                            &*info.qualname,
                            "Thread._bootstrap" | "Thread._bootstrap_inner"
                        )
                    {
                        bootstrap_self = mem
                            .read_u64(f.wrapping_add(l.attrs.frame_localsplus))
                            .ok()
                            .map(|s| l.stackref(s));
                    }
                    previous
                }
                Frame::Shim { previous } => previous,
                Frame::Invalid => return None,
            };
        }
        str_attr(mem, l, bootstrap_self?, "_name")
    }
}
