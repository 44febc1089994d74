//! The loaded ELF objects of this process (`dl_iterate_phdr`) and, in one of them, the GOT
//! slots its relocations bind to functions of given names: `JUMP_SLOT` entries of `DT_JMPREL`
//! (calls through the PLT) and `GLOB_DAT` entries of `DT_RELA` (the function's address taken,
//! or calls with `-fno-plt`), matched by the symbol's name in `DT_SYMTAB`/`DT_STRTAB`.
//!
//! Layouts are the ELF64 ones of `<elf.h>` (System V gABI); the relocation numbers are the
//! x86-64 and AArch64 psABI ones.

use std::ffi::{CStr, c_int, c_void};
use std::sync::OnceLock;

/// `R_X86_64_GLOB_DAT`, `R_X86_64_JUMP_SLOT` (x86-64 psABI, table 4.9).
#[cfg(target_arch = "x86_64")]
const SLOT_TYPES: [u32; 2] = [6, 7];
/// `R_AARCH64_GLOB_DAT`, `R_AARCH64_JUMP_SLOT` (ELF for the Arm 64-bit architecture, 5.7.11).
#[cfg(target_arch = "aarch64")]
const SLOT_TYPES: [u32; 2] = [1025, 1026];

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_GNU_RELRO: u32 = 0x6474_e552;

const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_STRSZ: i64 = 10;
const DT_PLTREL: i64 = 20;
const DT_JMPREL: i64 = 23;

/// `Elf64_Rela`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Rela {
    offset: u64,
    info: u64,
    _addend: i64,
}

/// `Elf64_Sym`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Sym {
    name: u32,
    _info: u8,
    _other: u8,
    _shndx: u16,
    _value: u64,
    _size: u64,
}

/// `Elf64_Dyn`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Dyn {
    tag: i64,
    val: u64,
}

/// One loaded object, as the dynamic loader lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Object {
    /// Its `l_name`: empty for the main program.
    pub name: String,
    /// The load bias (`dlpi_addr`).
    pub bias: usize,
    /// The address range its `PT_LOAD` segments cover.
    pub range: (usize, usize),
    /// The address of its dynamic section, 0 when it has none.
    pub(crate) dynamic: usize,
    /// The pages `PT_GNU_RELRO` makes read-only after relocation (whole pages only, as the
    /// loader rounds the end down).
    pub(crate) relro: (usize, usize),
    /// Its position in the loader's list (0: the main program).
    pub index: usize,
}

impl Object {
    /// The file name after the last `/`.
    pub fn file_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }

    pub fn contains(&self, addr: usize) -> bool {
        self.range.0 <= addr && addr < self.range.1
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 { n as usize } else { 4096 }
}

/// What `visit` is handed through `dl_iterate_phdr`.
struct Visit<'a> {
    f: &'a mut dyn FnMut(&Object),
    index: usize,
}

unsafe extern "C" fn visit(
    info: *mut libc::dl_phdr_info,
    _size: libc::size_t,
    data: *mut c_void,
) -> c_int {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `data` is the `Visit` passed by `with_each_object`, alive for the call, and
        // `info` the loader's description of one object, valid during this call.
        let (visit, info) = unsafe { (&mut *(data as *mut Visit<'_>), &*info) };
        let index = visit.index;
        visit.index += 1;
        // SAFETY: as above.
        let obj = unsafe { describe(info, index) };
        (visit.f)(&obj);
    }));
    // Keep going whatever happened to this one; nothing unwinds into the loader.
    0
}

/// The object `info` describes.
///
/// # Safety
/// `info` must be the loader's description of a loaded object, as `dl_iterate_phdr` hands it.
unsafe fn describe(info: &libc::dl_phdr_info, index: usize) -> Object {
    let name = if info.dlpi_name.is_null() {
        String::new()
    } else {
        // SAFETY: a NUL-terminated name owned by the loader.
        unsafe { CStr::from_ptr(info.dlpi_name) }
            .to_string_lossy()
            .into_owned()
    };
    let bias = info.dlpi_addr as usize;
    let page = page_size();
    let (mut lo, mut hi, mut dynamic, mut relro) = (usize::MAX, 0, 0, (0, 0));
    for i in 0..info.dlpi_phnum as usize {
        // SAFETY: `dlpi_phdr` points to `dlpi_phnum` program headers.
        let ph = unsafe { &*info.dlpi_phdr.add(i) };
        let start = bias.wrapping_add(ph.p_vaddr as usize);
        match ph.p_type {
            PT_LOAD => {
                lo = lo.min(start);
                hi = hi.max(start + ph.p_memsz as usize);
            }
            PT_DYNAMIC => dynamic = start,
            PT_GNU_RELRO => {
                relro = (
                    start & !(page - 1),
                    (start + ph.p_memsz as usize) & !(page - 1),
                );
            }
            _ => {}
        }
    }
    Object {
        name,
        bias,
        range: (lo.min(hi), hi),
        dynamic,
        relro,
        index,
    }
}

/// Calls `f` on each loaded object, in the loader's order (the main program first), from
/// inside `dl_iterate_phdr`: the loader's lock is held meanwhile, so no object `f` is handed
/// can be unmapped (`dlclose` takes that lock to unmap) until `f` returns, and `f` may read and
/// write the object's memory. `f` must not call anything that takes that lock (`dlopen`,
/// `dlclose`, `dlsym`, `dladdr`, `dlinfo`, …). A panic in `f` ends that object's turn only.
pub fn with_each_object(f: &mut dyn FnMut(&Object)) {
    let mut data = Visit { f, index: 0 };
    // SAFETY: `visit` only reads the loader's descriptions and hands them to `f`, and never
    // unwinds; `data` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut data as *mut Visit<'_> as *mut c_void) };
}

/// The objects loaded now, in the loader's order (the main program first). They may be closed
/// as soon as this returns: to read or write one's memory, use [`with_each_object`].
pub fn loaded_objects() -> Vec<Object> {
    let mut out: Vec<Object> = Vec::new();
    with_each_object(&mut |obj| out.push(obj.clone()));
    out
}

/// `int _dl_find_object(void *address, struct dl_find_object *result)` (glibc 2.35 on).
type FindObject = unsafe extern "C" fn(*mut c_void, *mut u64) -> c_int;

/// `_dl_find_object`, when the C library has it: it knows an object only from the end of the
/// `dlopen` that loaded it (after its relocation, `PT_GNU_RELRO` protection included), and it
/// takes no lock (it is made for unwinders), so it may be called under the loader's lock.
static FIND_OBJECT: OnceLock<Option<FindObject>> = OnceLock::new();

/// Looks up what [`relocated`] needs. Takes the loader's lock: call it outside
/// [`with_each_object`].
pub fn init() {
    FIND_OBJECT.get_or_init(|| {
        // SAFETY: a NUL-terminated name; RTLD_DEFAULT searches the global scope.
        let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"_dl_find_object".as_ptr()) };
        // SAFETY: glibc's `_dl_find_object`, whose signature is `FindObject`.
        (!f.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, FindObject>(f) })
    });
}

/// Whether [`relocated`] can tell (the C library has `_dl_find_object`).
#[cfg(test)]
pub fn can_tell_relocated() -> bool {
    matches!(FIND_OBJECT.get(), Some(Some(_)))
}

/// Whether the loader has finished loading `obj`. An object appears in the loader's list as
/// soon as it is mapped, and another thread's `dlopen` then relocates it and makes its RELRO
/// pages read-only without the lock `with_each_object` holds: its GOT is not to be touched
/// before that is over. True when that cannot be known (no `_dl_find_object`, or [`init`] not
/// called).
pub fn relocated(obj: &Object) -> bool {
    let Some(Some(find)) = FIND_OBJECT.get() else {
        return true;
    };
    // `struct dl_find_object`: flags, map start, map end, link map, EH frame, then reserved
    // words (96 bytes on x86-64 and AArch64); room to spare.
    let mut out = [0u64; 32];
    let addr = obj.range.0;
    // SAFETY: any address may be asked about; `out` is larger than the structure.
    let rc = unsafe { find(addr as *mut c_void, out.as_mut_ptr()) };
    rc == 0 && out[1] as usize <= addr && addr < out[2] as usize
}

/// A GOT slot bound to one of the wanted names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub addr: usize,
    /// The index of the name in the list asked for.
    pub name: usize,
}

/// The GOT slots of `obj` whose relocations name one of `names`.
///
/// # Safety
/// `obj` must stay loaded during the call (handed by [`with_each_object`], whose caller
/// holds the loader's lock).
pub unsafe fn slots(obj: &Object, names: &[&str]) -> Vec<Slot> {
    let mut out = Vec::new();
    if obj.dynamic == 0 {
        return out;
    }
    // glibc relocates the pointers of the dynamic section in place (other loaders, and the
    // vDSO, do not): an address below the bias is still an offset.
    let at = |v: u64| -> usize {
        let v = v as usize;
        if v < obj.bias { obj.bias + v } else { v }
    };
    let (mut strtab, mut strsz, mut symtab) = (0usize, 0usize, 0usize);
    let (mut rela, mut relasz, mut jmprel, mut pltrelsz, mut pltrel) = (0, 0, 0, 0, 0i64);
    let mut d = obj.dynamic as *const Dyn;
    for _ in 0..4096 {
        // SAFETY: the dynamic section of a loaded object, terminated by DT_NULL.
        let e = unsafe { d.read() };
        match e.tag {
            DT_NULL => break,
            DT_STRTAB => strtab = at(e.val),
            DT_STRSZ => strsz = e.val as usize,
            DT_SYMTAB => symtab = at(e.val),
            DT_RELA => rela = at(e.val),
            DT_RELASZ => relasz = e.val as usize,
            DT_JMPREL => jmprel = at(e.val),
            DT_PLTRELSZ => pltrelsz = e.val as usize,
            DT_PLTREL => pltrel = e.val as i64,
            _ => {}
        }
        // SAFETY: still inside the section (DT_NULL not reached).
        d = unsafe { d.add(1) };
    }
    if strtab == 0 || symtab == 0 {
        return out;
    }
    let mut tables = vec![(rela, relasz)];
    if pltrel == DT_RELA {
        tables.push((jmprel, pltrelsz));
    }
    for (table, size) in tables {
        if table == 0 {
            continue;
        }
        let n = size / std::mem::size_of::<Rela>();
        for i in 0..n {
            // SAFETY: `n` relocations at `table`, mapped with the object.
            let r = unsafe { (table as *const Rela).add(i).read() };
            let kind = (r.info & 0xffff_ffff) as u32;
            if !SLOT_TYPES.contains(&kind) {
                continue;
            }
            let sym_index = (r.info >> 32) as usize;
            if sym_index == 0 {
                continue;
            }
            // SAFETY: a symbol index from the object's own relocations.
            let sym = unsafe { (symtab as *const Sym).add(sym_index).read() };
            if sym.name as usize >= strsz {
                continue;
            }
            // SAFETY: an offset inside the string table, whose strings are NUL-terminated.
            let name = unsafe { CStr::from_ptr((strtab + sym.name as usize) as *const _) };
            let Ok(name) = name.to_str() else { continue };
            if let Some(k) = names.iter().position(|n| *n == name) {
                out.push(Slot {
                    addr: obj.bias.wrapping_add(r.offset as usize),
                    name: k,
                });
            }
        }
    }
    out
}

/// Reads a slot.
///
/// # Safety
/// `slot` must be a GOT slot of an object that stays loaded during the call.
pub unsafe fn read(slot: usize) -> usize {
    // SAFETY: an aligned, mapped word (the caller's guarantee); other threads only read it.
    unsafe { std::ptr::read_volatile(slot as *const usize) }
}

/// Points a slot at `value`, making its page writable for the write when RELRO made it
/// read-only. An aligned word store: a thread calling through the slot meanwhile sees the old
/// or the new function. Returns false when the page could not be made writable.
///
/// # Safety
/// `slot` must be a GOT slot of `obj`, which stays loaded during the call and which the
/// loader has finished relocating ([`relocated`]); `value` must be a function of the
/// signature the slot's symbol has. Callers serialise writes (the page protection is shared).
pub unsafe fn write(obj: &Object, slot: usize, value: usize) -> bool {
    let read_only = obj.relro.0 <= slot && slot < obj.relro.1;
    let page = slot & !(page_size() - 1);
    if read_only {
        // SAFETY: a page of the object's own RELRO segment, mapped.
        let rc = unsafe {
            libc::mprotect(
                page as *mut c_void,
                page_size(),
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if rc != 0 {
            return false;
        }
    }
    // SAFETY: the slot is mapped and writable now; aligned (the ABI puts GOT entries on words).
    unsafe { std::ptr::write_volatile(slot as *mut usize, value) };
    if read_only {
        // SAFETY: as above; back to what the loader made it.
        unsafe { libc::mprotect(page as *mut c_void, page_size(), libc::PROT_READ) };
    }
    true
}
