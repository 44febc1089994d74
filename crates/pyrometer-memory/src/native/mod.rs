//! Native allocations: `malloc` and its relatives called by extension modules and the shared
//! libraries they use (numpy's array data, C and C++ libraries), caught by pointing those
//! objects' GOT slots at wrappers while a session is on (memray's approach; no `LD_PRELOAD`,
//! so it works in an already running interpreter).
//!
//! **Which objects, so that each byte is counted once.** The PyMem hooks already see every
//! allocation of the interpreter itself: `PyMem_RawMalloc`'s default allocator calls `malloc`
//! from the interpreter's own object. So the interpreter's objects (the main program and
//! `libpython`, whichever holds `PyMem_RawMalloc`) keep their allocator slots; every other
//! object gets them patched, except the C library, the dynamic loader and the vDSO (their
//! internal calls are the allocator's own business) and pyrometer's `_native` module (its own
//! bookkeeping must not be recorded). An allocation made inside a MEM or OBJ wrapper is not
//! counted again either (a PyMem allocator that lives in an extension module).
//!
//! **Libraries loaded later** (numpy is usually imported after profiling starts): `dlopen` is
//! patched in every object, the interpreter's included (imports call it from there), and each
//! successful call patches the objects that appeared. **Functions resolved by name:**
//! `dlsym` is patched in the interpreter and in `_ctypes` and `_cffi_backend` (the modules that
//! let Python code call a C function it looked up, as `CDLL(None).malloc`): it hands out a
//! wrapper in place of an allocator function. It is not patched elsewhere: `dlsym(RTLD_NEXT,
//! ...)` answers relative to its caller, which would then be this module.
//!
//! **Safety of the switch.** A slot is patched only when it holds the global definition of its
//! function (`dlsym(RTLD_DEFAULT, ...)`, which the wrappers call) or an unresolved lazy-binding
//! stub of the object itself; a slot bound elsewhere (a library with its own allocator) is left
//! alone. Slot writes are aligned word stores, so a thread calling through a slot sees the old
//! or the new function; the wrappers stay valid for the life of the process (this module is
//! never unloaded) and only forward while no session is on. On stop every slot is restored,
//! if its object is still loaded and the slot still holds our wrapper.

mod elf;

use std::ffi::{CStr, c_char, c_int, c_void};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use rustc_hash::FxHashSet;

use crate::hooks;
use crate::spin::SpinLock;

/// The functions we wrap, by name; the index is the wrapper's in `wrappers()`.
const NAMES: [&str; 12] = [
    "malloc",
    "calloc",
    "realloc",
    "free",
    "posix_memalign",
    "aligned_alloc",
    "memalign",
    "valloc",
    "pvalloc",
    "reallocarray",
    "dlopen",
    "dlsym",
];
const DLOPEN: usize = 10;
const DLSYM: usize = 11;
/// The allocator functions (everything before `dlopen`).
const ALLOCATORS: usize = DLOPEN;

type Malloc = unsafe extern "C" fn(usize) -> *mut c_void;
type Calloc = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type Realloc = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type Free = unsafe extern "C" fn(*mut c_void);
type PosixMemalign = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> c_int;
type Aligned = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type ReallocArray = unsafe extern "C" fn(*mut c_void, usize, usize) -> *mut c_void;
type Dlopen = unsafe extern "C" fn(*const c_char, c_int) -> *mut c_void;
type Dlsym = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;

/// The real functions: the global definitions, as the unpatched objects bind them.
struct Real {
    /// What the objects' slots hold: the definition their calls bind to.
    addr: [usize; NAMES.len()],
    /// The function's address as `dlsym(RTLD_DEFAULT)` gives it: the definition, or, when a
    /// non-PIE main program takes the function's address (Debian's static interpreters do,
    /// for `malloc`), the program's own PLT entry, which stands for the function everywhere
    /// an address is compared but which calls do not bind to.
    canonical: [usize; NAMES.len()],
}

static REAL: OnceLock<Real> = OnceLock::new();

#[inline(always)]
fn real(k: usize) -> usize {
    // Set before any slot is patched, so before any wrapper can run.
    REAL.get().map_or(0, |r| r.addr[k])
}

/// Whether `addr` is function `k` (its definition or its canonical address).
fn is_real(k: usize, addr: usize) -> bool {
    addr != 0
        && REAL
            .get()
            .is_some_and(|r| r.addr[k] == addr || r.canonical[k] == addr)
}

/// The definition of `name` a call from a library binds to: the first object after the main
/// program, in the loader's order, that defines it.
fn definition_after_main(objects: &[elf::Object], name: &std::ffi::CStr) -> usize {
    for obj in objects.iter().filter(|o| o.index > 0 && !o.name.is_empty()) {
        let Ok(path) = std::ffi::CString::new(obj.name.as_str()) else {
            continue;
        };
        // SAFETY: RTLD_NOLOAD only takes a reference on an object already loaded (or fails);
        // it is given back just after.
        let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
        if handle.is_null() {
            continue;
        }
        // SAFETY: a handle just opened and a NUL-terminated name.
        let found = unsafe { libc::dlsym(handle, name.as_ptr()) } as usize;
        // SAFETY: the reference taken above.
        unsafe { libc::dlclose(handle) };
        if found != 0 && obj.contains(found) {
            return found;
        }
    }
    0
}

fn find_real() -> Result<Real, String> {
    let mut addr = [0usize; NAMES.len()];
    let mut canonical = [0usize; NAMES.len()];
    let objects = elf::loaded_objects();
    let main = objects.first();
    for (k, name) in NAMES.iter().enumerate() {
        let c = std::ffi::CString::new(*name).map_err(|e| e.to_string())?;
        // SAFETY: a valid NUL-terminated name; RTLD_DEFAULT searches the global scope, which
        // is where every other object's undefined `malloc` and co. bind.
        canonical[k] = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) } as usize;
        addr[k] = match main {
            Some(main) if main.contains(canonical[k]) => {
                match definition_after_main(&objects, &c) {
                    0 => canonical[k],
                    found => found,
                }
            }
            _ => canonical[k],
        };
    }
    for k in [0, 1, 2, 3, DLOPEN, DLSYM] {
        if addr[k] == 0 {
            return Err(format!("{} was not found", NAMES[k]));
        }
    }
    Ok(Real { addr, canonical })
}

// ---- the wrappers ---------------------------------------------------------------------------
//
// Each calls the real function through `real(k)`, which is never 0 for a slot we patched: a
// name whose real function was not found is never patched.

macro_rules! real_fn {
    ($k:expr, $t:ty) => {{
        // SAFETY: `real(k)` is the address of the global definition of NAMES[k], whose C
        // signature is `$t`.
        unsafe { std::mem::transmute::<usize, $t>(real($k)) }
    }};
}

unsafe extern "C" fn w_malloc(size: usize) -> *mut c_void {
    let f = real_fn!(0, Malloc);
    // SAFETY: forwarding the caller's arguments to the real function.
    hooks::allocate_native(size, || unsafe { f(size) })
}

unsafe extern "C" fn w_calloc(n: usize, size: usize) -> *mut c_void {
    let f = real_fn!(1, Calloc);
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(n.saturating_mul(size), || unsafe { f(n, size) })
}

unsafe extern "C" fn w_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    let f = real_fn!(2, Realloc);
    // The old block ends here (as in the PyMem realloc wrapper).
    hooks::forget(ptr);
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(size, || unsafe { f(ptr, size) })
}

unsafe extern "C" fn w_free(ptr: *mut c_void) {
    let f = real_fn!(3, Free);
    hooks::forget(ptr);
    // SAFETY: as in `w_malloc`.
    unsafe { f(ptr) }
}

unsafe extern "C" fn w_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    let f = real_fn!(4, PosixMemalign);
    let mut rc = 0;
    hooks::allocate_native(size, || {
        // SAFETY: as in `w_malloc`; `out` is the caller's, written by the real function on
        // success only.
        rc = unsafe { f(out, align, size) };
        if rc == 0 {
            // SAFETY: written by the real function just now.
            unsafe { *out }
        } else {
            std::ptr::null_mut()
        }
    });
    rc
}

unsafe extern "C" fn w_aligned_alloc(align: usize, size: usize) -> *mut c_void {
    let f = real_fn!(5, Aligned);
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(size, || unsafe { f(align, size) })
}

unsafe extern "C" fn w_memalign(align: usize, size: usize) -> *mut c_void {
    let f = real_fn!(6, Aligned);
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(size, || unsafe { f(align, size) })
}

unsafe extern "C" fn w_valloc(size: usize) -> *mut c_void {
    let f = real_fn!(7, Malloc);
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(size, || unsafe { f(size) })
}

unsafe extern "C" fn w_pvalloc(size: usize) -> *mut c_void {
    let f = real_fn!(8, Malloc);
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(size, || unsafe { f(size) })
}

unsafe extern "C" fn w_reallocarray(ptr: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let f = real_fn!(9, ReallocArray);
    hooks::forget(ptr);
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(n.saturating_mul(size), || unsafe { f(ptr, n, size) })
}

unsafe extern "C" fn w_dlopen(file: *const c_char, flags: c_int) -> *mut c_void {
    let f = real_fn!(DLOPEN, Dlopen);
    // SAFETY: as in `w_malloc`.
    let handle = unsafe { f(file, flags) };
    if !handle.is_null() {
        // Never unwinds into the caller.
        let _ = std::panic::catch_unwind(patch_new_objects);
    }
    handle
}

unsafe extern "C" fn w_dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void {
    let f = real_fn!(DLSYM, Dlsym);
    // SAFETY: as in `w_malloc`.
    let found = unsafe { f(handle, symbol) } as usize;
    if let Some(k) = (0..ALLOCATORS).find(|&k| is_real(k, found)) {
        return wrappers()[k] as *mut c_void;
    }
    found as *mut c_void
}

fn wrappers() -> [usize; NAMES.len()] {
    [
        w_malloc as *const () as usize,
        w_calloc as *const () as usize,
        w_realloc as *const () as usize,
        w_free as *const () as usize,
        w_posix_memalign as *const () as usize,
        w_aligned_alloc as *const () as usize,
        w_memalign as *const () as usize,
        w_valloc as *const () as usize,
        w_pvalloc as *const () as usize,
        w_reallocarray as *const () as usize,
        w_dlopen as *const () as usize,
        w_dlsym as *const () as usize,
    ]
}

// ---- patching ----------------------------------------------------------------------------

/// What to patch in an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// The C library, the loader, the vDSO, this module.
    Skip,
    /// The main program or libpython: `dlopen` and `dlsym` only.
    Interpreter,
    /// Anything else: the allocators and `dlopen`; `dlsym` too when `by_name`.
    Library { by_name: bool },
}

fn kind(obj: &elf::Object, own: &str, interpreter: &str) -> Kind {
    let file = obj.file_name();
    if obj.index == 0 || (!interpreter.is_empty() && obj.name == interpreter) {
        return Kind::Interpreter;
    }
    if obj.name.is_empty()
        || obj.name == own
        || file.starts_with("linux-vdso")
        || file.starts_with("linux-gate")
        || file.starts_with("ld-linux")
        || file.starts_with("ld64.so")
        || file.starts_with("libc.so")
        || file.starts_with("libc-")
    {
        return Kind::Skip;
    }
    Kind::Library {
        by_name: file.starts_with("_ctypes.") || file.starts_with("_cffi_backend."),
    }
}

fn wanted(kind: Kind, k: usize) -> bool {
    match kind {
        Kind::Skip => false,
        Kind::Interpreter => k == DLOPEN || k == DLSYM,
        Kind::Library { by_name } => k < ALLOCATORS || k == DLOPEN || (by_name && k == DLSYM),
    }
}

/// The file an address belongs to, as the loader names it.
fn object_of(addr: usize) -> String {
    // SAFETY: Dl_info is plain data; dladdr only writes to it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: any address may be asked about.
    if unsafe { libc::dladdr(addr as *const c_void, &mut info) } == 0 || info.dli_fname.is_null() {
        return String::new();
    }
    // SAFETY: a NUL-terminated name owned by the loader.
    unsafe { CStr::from_ptr(info.dli_fname) }
        .to_string_lossy()
        .into_owned()
}

struct Patched {
    obj: elf::Object,
    /// (slot, the value it held, the value we wrote)
    slots: Vec<(usize, usize, usize)>,
}

#[derive(Default)]
struct State {
    active: bool,
    own: String,
    interpreter: String,
    /// Objects looked at in this session, by (bias, name).
    seen: FxHashSet<(usize, String)>,
    patched: Vec<Patched>,
}

static STATE: SpinLock<Option<State>> = SpinLock::new(None);
static ATFORK: AtomicBool = AtomicBool::new(false);

/// Patches the objects not looked at yet. Under the state lock.
fn patch(state: &mut State) {
    let targets = wrappers();
    let objects = elf::loaded_objects();
    // Objects closed since the last look are forgotten: their slots are gone, and a library
    // opened again (perhaps at the same address) is patched afresh.
    let loaded: FxHashSet<(usize, &str)> =
        objects.iter().map(|o| (o.bias, o.name.as_str())).collect();
    state
        .seen
        .retain(|(bias, name)| loaded.contains(&(*bias, name.as_str())));
    state
        .patched
        .retain(|p| loaded.contains(&(p.obj.bias, p.obj.name.as_str())));
    for obj in objects {
        if !state.seen.insert((obj.bias, obj.name.clone())) {
            continue;
        }
        let kind = kind(&obj, &state.own, &state.interpreter);
        if kind == Kind::Skip {
            continue;
        }
        // SAFETY: listed by the loader just now, and the loader lock is not needed to read
        // its relocations (objects are closed only by dlclose, which restores nothing here:
        // a closed object's slots are dropped at the next rescan).
        let slots = unsafe { elf::slots(&obj, &NAMES) };
        let mut done = Vec::new();
        for slot in slots {
            if !wanted(kind, slot.name) || real(slot.name) == 0 {
                continue;
            }
            // SAFETY: a GOT slot of a loaded object.
            let old = unsafe { elf::read(slot.addr) };
            let ours = targets[slot.name];
            // Bound to the global definition, or not bound yet (a lazy stub of the object's
            // own PLT); anything else is the library's own choice, left alone.
            if !is_real(slot.name, old) && !obj.contains(old) {
                continue;
            }
            // SAFETY: the slot's symbol has the signature of our wrapper of that name; writes
            // are serialised by the state lock.
            if unsafe { elf::write(&obj, slot.addr, ours) } {
                done.push((slot.addr, old, ours));
            }
        }
        if !done.is_empty() {
            state.patched.push(Patched { obj, slots: done });
        }
    }
}

fn patch_new_objects() {
    let mut guard = STATE.lock();
    if let Some(state) = guard.as_mut().filter(|s| s.active) {
        patch(state);
    }
}

extern "C" fn before_fork() {
    // Held across fork so the child never inherits it held by a thread that is gone.
    std::mem::forget(STATE.lock());
}

extern "C" fn after_fork() {
    // SAFETY: taken by `before_fork` in this very thread, in the parent and in the child.
    unsafe { STATE.force_unlock() };
}

/// Starts catching native allocations: patches every loaded object. Returns how many slots
/// were patched.
///
/// # Safety
/// The GIL must be held, and the PyMem hooks' session on (the wrappers feed it).
pub(crate) unsafe fn attach() -> Result<usize, String> {
    if cfg!(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))) {
        return Err("native allocations are captured on Linux x86-64 and AArch64 only".into());
    }
    if REAL.get().is_none() {
        let real = find_real()?;
        let _ = REAL.set(real);
    }
    if !ATFORK.swap(true, Ordering::AcqRel) {
        // SAFETY: registering plain functions that only touch the state lock.
        unsafe { libc::pthread_atfork(Some(before_fork), Some(after_fork), Some(after_fork)) };
    }
    let mut guard = STATE.lock();
    if guard.as_ref().is_some_and(|s| s.active) {
        return Err("native capture is already on".into());
    }
    let mut state = State {
        active: true,
        own: object_of(w_malloc as *const () as usize),
        interpreter: object_of(pyo3_ffi::PyMem_RawMalloc as *const () as usize),
        ..State::default()
    };
    patch(&mut state);
    let n = state.patched.iter().map(|p| p.slots.len()).sum();
    *guard = Some(state);
    Ok(n)
}

/// Restores every slot patched in this session (in objects still loaded).
pub(crate) fn detach() {
    let mut guard = STATE.lock();
    let Some(state) = guard.as_mut() else { return };
    state.active = false;
    let loaded: FxHashSet<(usize, String)> = elf::loaded_objects()
        .into_iter()
        .map(|o| (o.bias, o.name))
        .collect();
    for p in state.patched.drain(..) {
        if !loaded.contains(&(p.obj.bias, p.obj.name.clone())) {
            continue;
        }
        for (slot, old, ours) in p.slots {
            // SAFETY: a slot of an object still loaded; restored only if it still holds what
            // we wrote (a later patcher's value is left alone).
            unsafe {
                if elf::read(slot) == ours {
                    elf::write(&p.obj, slot, old);
                }
            }
        }
    }
    *guard = None;
}

/// Whether `name` names one of the functions we wrap (for tests).
#[cfg(test)]
fn wraps(name: &str) -> bool {
    NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loader_lists_this_program_first_and_libc() {
        let objects = elf::loaded_objects();
        assert!(objects[0].name.is_empty() || objects[0].index == 0);
        assert!(objects.iter().any(|o| o.file_name().starts_with("libc.so")));
    }

    #[test]
    fn relocations_name_malloc_in_a_library_that_calls_it() {
        // libstdc++ or libgcc_s may be absent; this test binary itself (index 0) calls
        // malloc through its GOT.
        let objects = elf::loaded_objects();
        // SAFETY: listed just now.
        let slots = unsafe { elf::slots(&objects[0], &NAMES) };
        assert!(
            slots
                .iter()
                .any(|s| NAMES[s.name] == "malloc" || NAMES[s.name] == "free")
        );
        assert!(wraps("malloc") && !wraps("mmap"));
    }

    #[test]
    fn objects_are_classified() {
        let o = |name: &str, index| elf::Object {
            name: name.into(),
            index,
            ..elf::loaded_objects()[1].clone()
        };
        let lib = "/x/libpython3.12.so.1.0";
        assert_eq!(kind(&o("", 0), "/own.so", lib), Kind::Interpreter);
        assert_eq!(kind(&o(lib, 3), "/own.so", lib), Kind::Interpreter);
        assert_eq!(kind(&o("/own.so", 5), "/own.so", lib), Kind::Skip);
        assert_eq!(
            kind(&o("/lib/x86_64-linux-gnu/libc.so.6", 4), "/own.so", lib),
            Kind::Skip
        );
        assert_eq!(kind(&o("linux-vdso.so.1", 1), "/own.so", lib), Kind::Skip);
        assert_eq!(
            kind(&o("/lib64/ld-linux-x86-64.so.2", 6), "/own.so", lib),
            Kind::Skip
        );
        assert_eq!(
            kind(
                &o("/np/_multiarray_umath.cpython-312-x86_64-linux-gnu.so", 7),
                "/own.so",
                lib
            ),
            Kind::Library { by_name: false }
        );
        assert_eq!(
            kind(
                &o("/l/_ctypes.cpython-312-x86_64-linux-gnu.so", 8),
                "/own.so",
                lib
            ),
            Kind::Library { by_name: true }
        );
        assert!(wanted(Kind::Interpreter, DLOPEN) && !wanted(Kind::Interpreter, 0));
        assert!(!wanted(Kind::Library { by_name: false }, DLSYM));
    }
}
