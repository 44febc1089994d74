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

use rustc_hash::{FxHashMap, FxHashSet};

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

/// The real functions, as the wrappers call them. Those every C library has are plain function
/// pointers (a table exists only once all of them were found); the optional ones are `Option`s,
/// so no wrapper can call through a null pointer, and one whose function is missing fails as
/// that function fails when memory runs out.
#[derive(Clone, Copy)]
struct Calls {
    malloc: Malloc,
    calloc: Calloc,
    realloc: Realloc,
    free: Free,
    posix_memalign: Option<PosixMemalign>,
    aligned_alloc: Option<Aligned>,
    memalign: Option<Aligned>,
    valloc: Option<Malloc>,
    pvalloc: Option<Malloc>,
    reallocarray: Option<ReallocArray>,
    dlopen: Dlopen,
    dlsym: Dlsym,
}

/// What the wrappers call before the table is known (never, since nothing is patched before;
/// but a wrapper then still reaches an allocator): this module's own bindings of the functions,
/// the global definitions, as this module is never patched.
static OWN: Calls = Calls {
    malloc: libc::malloc,
    calloc: libc::calloc,
    realloc: libc::realloc,
    free: libc::free,
    posix_memalign: None,
    aligned_alloc: None,
    memalign: None,
    valloc: None,
    pvalloc: None,
    reallocarray: None,
    dlopen: libc::dlopen,
    dlsym: libc::dlsym,
};

/// The real functions: the global definitions, as the unpatched objects bind them.
struct Real {
    /// What the objects' slots hold: the definition their calls bind to; 0 when not found.
    addr: [usize; NAMES.len()],
    /// The function's address as `dlsym(RTLD_DEFAULT)` gives it: the definition, or, when a
    /// non-PIE main program takes the function's address (Debian's static interpreters do,
    /// for `malloc`), the program's own PLT entry, which stands for the function everywhere
    /// an address is compared but which calls do not bind to.
    canonical: [usize; NAMES.len()],
    calls: Calls,
}

/// The names every C library defines; the others are optional.
const REQUIRED: [usize; 6] = [0, 1, 2, 3, DLOPEN, DLSYM];

impl Real {
    /// The table of the definitions found (`addr`, `canonical`: 0 where not found), or why
    /// there is none (a required function is missing).
    fn new(addr: [usize; NAMES.len()], canonical: [usize; NAMES.len()]) -> Result<Real, String> {
        if let Some(&k) = REQUIRED.iter().find(|&&k| addr[k] == 0) {
            return Err(format!("{} was not found", NAMES[k]));
        }
        /// # Safety
        /// `a` is 0 or the address of a function of C signature `F`.
        unsafe fn typed<F: Copy>(a: usize) -> Option<F> {
            debug_assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<usize>());
            // SAFETY: a non-zero address of a function whose signature is `F` (the caller's
            // guarantee); `F` is a function pointer type, the size of a word.
            (a != 0).then(|| unsafe { std::mem::transmute_copy::<usize, F>(&a) })
        }
        // SAFETY: each address is 0 or the global definition of NAMES[k], whose C signature is
        // the type it is read as; the required ones are non-zero (checked above).
        let calls = unsafe {
            Calls {
                malloc: typed(addr[0]).unwrap_or(OWN.malloc),
                calloc: typed(addr[1]).unwrap_or(OWN.calloc),
                realloc: typed(addr[2]).unwrap_or(OWN.realloc),
                free: typed(addr[3]).unwrap_or(OWN.free),
                posix_memalign: typed(addr[4]),
                aligned_alloc: typed(addr[5]),
                memalign: typed(addr[6]),
                valloc: typed(addr[7]),
                pvalloc: typed(addr[8]),
                reallocarray: typed(addr[9]),
                dlopen: typed(addr[DLOPEN]).unwrap_or(OWN.dlopen),
                dlsym: typed(addr[DLSYM]).unwrap_or(OWN.dlsym),
            }
        };
        Ok(Real {
            addr,
            canonical,
            calls,
        })
    }

    /// The wrapper that stands for function `k`: only for a function that was found.
    fn wrapper(&self, k: usize) -> Option<usize> {
        (self.addr[k] != 0).then(|| wrappers()[k])
    }
}

static REAL: OnceLock<Real> = OnceLock::new();

/// The functions the wrappers call.
#[inline(always)]
fn calls() -> &'static Calls {
    REAL.get().map_or(&OWN, |r| &r.calls)
}

/// How an allocating function whose definition is missing fails: as on exhausted memory.
fn no_memory() -> *mut c_void {
    // SAFETY: errno is the calling thread's.
    unsafe { *libc::__errno_location() = libc::ENOMEM };
    std::ptr::null_mut()
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
    Real::new(addr, canonical)
}

// ---- the wrappers ---------------------------------------------------------------------------
//
// Each calls the real function from `calls()`: a function pointer that cannot be null. An
// optional function that was not found has no wrapper handed out (`Real::wrapper`), and its
// wrapper, if reached all the same, fails as the function does when memory runs out.

unsafe extern "C" fn w_malloc(size: usize) -> *mut c_void {
    let f = calls().malloc;
    // SAFETY: forwarding the caller's arguments to the real function.
    hooks::allocate_native(size, || unsafe { f(size) })
}

unsafe extern "C" fn w_calloc(n: usize, size: usize) -> *mut c_void {
    let f = calls().calloc;
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(n.saturating_mul(size), || unsafe { f(n, size) })
}

unsafe extern "C" fn w_realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
    let f = calls().realloc;
    // The old block ends here (as in the PyMem realloc wrapper).
    hooks::forget(ptr);
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(size, || unsafe { f(ptr, size) })
}

unsafe extern "C" fn w_free(ptr: *mut c_void) {
    let f = calls().free;
    hooks::forget(ptr);
    // SAFETY: as in `w_malloc`.
    unsafe { f(ptr) }
}

unsafe extern "C" fn w_posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    let Some(f) = calls().posix_memalign else {
        return libc::ENOMEM;
    };
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
    let Some(f) = calls().aligned_alloc else {
        return no_memory();
    };
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(size, || unsafe { f(align, size) })
}

unsafe extern "C" fn w_memalign(align: usize, size: usize) -> *mut c_void {
    let Some(f) = calls().memalign else {
        return no_memory();
    };
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(size, || unsafe { f(align, size) })
}

unsafe extern "C" fn w_valloc(size: usize) -> *mut c_void {
    let Some(f) = calls().valloc else {
        return no_memory();
    };
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(size, || unsafe { f(size) })
}

unsafe extern "C" fn w_pvalloc(size: usize) -> *mut c_void {
    let Some(f) = calls().pvalloc else {
        return no_memory();
    };
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(size, || unsafe { f(size) })
}

unsafe extern "C" fn w_reallocarray(ptr: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let Some(f) = calls().reallocarray else {
        // The old block stays the caller's, as when the real function fails.
        return no_memory();
    };
    hooks::forget(ptr);
    // SAFETY: as in `w_malloc`.
    hooks::allocate_native(n.saturating_mul(size), || unsafe { f(ptr, n, size) })
}

unsafe extern "C" fn w_dlopen(file: *const c_char, flags: c_int) -> *mut c_void {
    let f = calls().dlopen;
    // SAFETY: as in `w_malloc`.
    let handle = unsafe { f(file, flags) };
    if !handle.is_null() {
        // Never unwinds into the caller.
        let _ = std::panic::catch_unwind(patch_new_objects);
    }
    handle
}

unsafe extern "C" fn w_dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void {
    let f = calls().dlsym;
    // SAFETY: as in `w_malloc`.
    let found = unsafe { f(handle, symbol) } as usize;
    if let Some(k) = (0..ALLOCATORS).find(|&k| is_real(k, found))
        && let Some(wrapper) = REAL.get().and_then(|r| r.wrapper(k))
    {
        return wrapper as *mut c_void;
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
///
/// The work is done inside `dl_iterate_phdr`'s callback, under the loader's lock, so that a
/// `dlclose` on another thread cannot unmap an object while its relocations are read and its
/// GOT written; nothing in there calls into the loader (the names and addresses it compares
/// with were looked up before). An object still being loaded by another thread's `dlopen` is
/// left for a later pass.
fn patch(state: &mut State) {
    let Some(real) = REAL.get() else { return };
    let mut listed: FxHashSet<(usize, String)> = FxHashSet::default();
    elf::with_each_object(&mut |obj| {
        let key = (obj.bias, obj.name.clone());
        listed.insert(key.clone());
        if state.seen.contains(&key) {
            return;
        }
        let kind = kind(obj, &state.own, &state.interpreter);
        if kind != Kind::Skip && !elf::relocated(obj) {
            return;
        }
        state.seen.insert(key);
        if kind == Kind::Skip {
            return;
        }
        // SAFETY: handed by `with_each_object`: loaded until this returns.
        let slots = unsafe { elf::slots(obj, &NAMES) };
        let mut done = Vec::new();
        for slot in slots {
            if !wanted(kind, slot.name) {
                continue;
            }
            let Some(ours) = real.wrapper(slot.name) else {
                continue;
            };
            // SAFETY: a GOT slot of an object loaded until this returns.
            let old = unsafe { elf::read(slot.addr) };
            // Bound to the global definition, or not bound yet (a lazy stub of the object's
            // own PLT); anything else is the library's own choice, left alone.
            if !is_real(slot.name, old) && !obj.contains(old) {
                continue;
            }
            // SAFETY: a GOT slot of an object loaded until this returns and relocated; the
            // slot's symbol has the signature of our wrapper of that name; writes are
            // serialised by the state lock.
            if unsafe { elf::write(obj, slot.addr, ours) } {
                done.push((slot.addr, old, ours));
            }
        }
        if !done.is_empty() {
            state.patched.push(Patched {
                obj: obj.clone(),
                slots: done,
            });
        }
    });
    // Objects closed since the last look are forgotten: their slots are gone, and a library
    // opened again (perhaps at the same address) is patched afresh.
    state.seen.retain(|key| listed.contains(key));
    state
        .patched
        .retain(|p| listed.contains(&(p.obj.bias, p.obj.name.clone())));
}

fn patch_new_objects() {
    let mut guard = STATE.lock();
    if let Some(state) = guard.as_mut().filter(|s| s.active) {
        patch(state);
    }
}

extern "C" fn after_fork_in_child() {
    // No lock is held across fork (a fork would wait for a patch to finish, and a lock held by
    // the forking thread is a hazard of its own). The child starts from no state and a free
    // lock, whoever held it: the session is the parent's, its slots stay pointed at wrappers
    // that only forward, and `dlopen` patches nothing until the child starts a session.
    // SAFETY: in the child, right after fork: its one thread holds no guard.
    unsafe { STATE.reset_after_fork(None) };
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
    elf::init();
    if !ATFORK.swap(true, Ordering::AcqRel) {
        // SAFETY: registering a plain function that only resets the state lock.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
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

/// Restores every slot patched in this session (in objects still loaded), under the loader's
/// lock as in `patch`.
pub(crate) fn detach() {
    let mut guard = STATE.lock();
    let Some(state) = guard.as_mut() else { return };
    state.active = false;
    let mut patched: FxHashMap<(usize, String), Patched> = state
        .patched
        .drain(..)
        .map(|p| ((p.obj.bias, p.obj.name.clone()), p))
        .collect();
    elf::with_each_object(&mut |obj| {
        let Some(p) = patched.remove(&(obj.bias, obj.name.clone())) else {
            return;
        };
        for (slot, old, ours) in p.slots {
            // SAFETY: a slot of an object loaded until this returns (the one it was patched
            // in: same bias and name); restored only if it still holds what we wrote (a later
            // patcher's value is left alone).
            unsafe {
                if elf::read(slot) == ours {
                    elf::write(obj, slot, old);
                }
            }
        }
    });
    // What is left belonged to objects closed meanwhile.
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
    fn objects_loaded_at_start_up_count_as_relocated() {
        elf::init();
        let mut seen = 0;
        elf::with_each_object(&mut |obj| {
            if kind(obj, "", "") != Kind::Skip {
                assert!(elf::relocated(obj), "{}", obj.name);
                seen += 1;
            }
        });
        assert!(seen > 0);
        let nowhere = elf::Object {
            range: (8, 16),
            ..elf::loaded_objects()[0].clone()
        };
        assert!(!elf::relocated(&nowhere) || !elf::can_tell_relocated());
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
    fn a_function_not_found_is_never_called_through_null() {
        let mut addr = [0usize; NAMES.len()];
        addr[0] = libc::malloc as *const () as usize;
        addr[1] = libc::calloc as *const () as usize;
        addr[2] = libc::realloc as *const () as usize;
        addr[3] = libc::free as *const () as usize;
        addr[4] = libc::posix_memalign as *const () as usize;
        addr[DLOPEN] = libc::dlopen as *const () as usize;
        addr[DLSYM] = libc::dlsym as *const () as usize;
        let Ok(real) = Real::new(addr, addr) else {
            panic!("every required function is there");
        };
        // Found: a wrapper is handed out. Not found: none, for a slot or for dlsym.
        assert_eq!(real.wrapper(4), Some(wrappers()[4]));
        for (k, name) in NAMES.iter().enumerate().take(ALLOCATORS).skip(5) {
            assert!(real.wrapper(k).is_none(), "{name}");
        }
        assert!(real.calls.pvalloc.is_none() && real.calls.posix_memalign.is_some());
        let mut out = std::ptr::null_mut();
        let posix_memalign = real.calls.posix_memalign.unwrap();
        // SAFETY: the real posix_memalign, with a valid out pointer; freed just after.
        assert_eq!(unsafe { posix_memalign(&mut out, 64, 100) }, 0);
        // SAFETY: allocated just now.
        unsafe { libc::free(out) };
        // A required function missing: no table at all, so no wrapper.
        let mut missing = addr;
        missing[DLSYM] = 0;
        assert!(Real::new(missing, missing).is_err_and(|e| e.contains("dlsym")));
        // Reached with no table (nothing patched in this test binary), the wrappers of the
        // optional functions fail as on exhausted memory, and the others still allocate.
        assert!(REAL.get().is_none());
        // SAFETY: the wrappers' C contracts; every block allocated is freed.
        unsafe {
            assert!(w_pvalloc(64).is_null());
            assert!(w_valloc(64).is_null());
            assert!(w_memalign(64, 64).is_null());
            assert!(w_aligned_alloc(64, 64).is_null());
            assert!(w_reallocarray(std::ptr::null_mut(), 2, 8).is_null());
            assert_eq!(w_posix_memalign(&mut out, 64, 64), libc::ENOMEM);
            let p = w_malloc(64);
            assert!(!p.is_null());
            w_free(w_realloc(p, 128));
        }
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
