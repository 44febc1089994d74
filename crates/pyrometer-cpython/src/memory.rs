//! Reading a CPython process's memory: [`MemoryReader`], with two implementations.
//!
//! - [`RemoteMemory`] reads another process (or our own) with `process_vm_readv`. This is the
//!   only place that calls the raw syscall. Everything above it works on byte slices copied
//!   out of the target, so a torn or freed structure can give wrong bytes but never a crash:
//!   on our own pid, a read of freed memory fails with `EFAULT` instead of faulting.
//! - [`LocalMemory`] reads this process's memory with plain loads, for the in-process
//!   collectors that read only what cannot go away under them (the calling thread's own frame
//!   chain and the objects it keeps alive): a few nanoseconds instead of a syscall.
//!
//! A [`Batch`] gathers many reads and issues them as one multi-iovec syscall (the kernel
//! stops at the first element it cannot read; the rest are retried in a further call), since
//! the syscall count, not the byte count, sets the cost of a sample.

use std::cell::Cell;
use std::io;

/// Why a read failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The address is not mapped (or the structure was freed): normal while racing.
    Fault,
    /// The process is gone.
    Gone,
    /// The kernel refused (EPERM / EACCES).
    Denied,
    /// Any other errno.
    Other(i32),
}

impl ReadError {
    fn from_errno(errno: i32) -> ReadError {
        match errno {
            libc::EFAULT | libc::EIO => ReadError::Fault,
            libc::ESRCH => ReadError::Gone,
            libc::EPERM | libc::EACCES => ReadError::Denied,
            e => ReadError::Other(e),
        }
    }
}

/// The most iovecs one syscall takes (`IOV_MAX` on Linux).
const IOV_MAX: usize = 1024;

/// A handle on a process's address space. Counts its syscalls and failed reads.
#[derive(Debug)]
pub struct RemoteMemory {
    pid: libc::pid_t,
    syscalls: Cell<u64>,
    faults: Cell<u64>,
}

impl RemoteMemory {
    pub fn new(pid: u32) -> RemoteMemory {
        RemoteMemory {
            pid: pid as libc::pid_t,
            syscalls: Cell::new(0),
            faults: Cell::new(0),
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// `process_vm_readv` calls made so far.
    pub fn syscalls(&self) -> u64 {
        self.syscalls.get()
    }

    /// Zeroes the syscall and fault counts.
    pub fn reset_counters(&self) {
        self.syscalls.set(0);
        self.faults.set(0);
    }

    /// Reads (single or batch elements) that failed so far.
    pub fn faults(&self) -> u64 {
        self.faults.get()
    }

    /// Reads exactly `buf.len()` bytes at `addr`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        MemoryReader::read(self, addr, buf)
    }

    /// Reads a little-endian u64 at `addr`.
    pub fn read_u64(&self, addr: u64) -> Result<u64, ReadError> {
        MemoryReader::read_u64(self, addr)
    }

    /// Reads a little-endian u32 at `addr`.
    pub fn read_u32(&self, addr: u64) -> Result<u32, ReadError> {
        MemoryReader::read_u32(self, addr)
    }

    /// Reads `len` bytes at `addr` into a new vector.
    pub fn read_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, ReadError> {
        MemoryReader::read_vec(self, addr, len)
    }

    fn read_one(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        if buf.is_empty() {
            return Ok(());
        }
        if addr == 0 {
            self.faults.set(self.faults.get() + 1);
            return Err(ReadError::Fault);
        }
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let remote = libc::iovec {
            iov_base: addr as usize as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let n = self.readv(&[local], &[remote]);
        match n {
            Ok(n) if n == buf.len() => Ok(()),
            Ok(_) => {
                self.faults.set(self.faults.get() + 1);
                Err(ReadError::Fault)
            }
            Err(e) => {
                self.faults.set(self.faults.get() + 1);
                Err(e)
            }
        }
    }

    /// Performs every read of `batch` in as few syscalls as the kernel allows. Elements that
    /// cannot be read are marked failed; returns `Err` only when the process is gone or the
    /// kernel denies access.
    pub fn read_batch(&self, batch: &mut Batch) -> Result<(), ReadError> {
        let mut start = 0;
        let mut local: Vec<libc::iovec> = Vec::with_capacity(batch.reqs.len().min(IOV_MAX));
        let mut remote: Vec<libc::iovec> = Vec::with_capacity(batch.reqs.len().min(IOV_MAX));
        while start < batch.reqs.len() {
            local.clear();
            remote.clear();
            // Elements start..end go into this call (zero-length and null ones are settled
            // without the kernel).
            let mut end = start;
            let base = batch.buf.as_mut_ptr();
            while end < batch.reqs.len() && local.len() < IOV_MAX {
                let r = &mut batch.reqs[end];
                if r.len == 0 {
                    r.ok = true;
                } else if r.addr == 0 {
                    r.ok = false;
                    self.faults.set(self.faults.get() + 1);
                } else {
                    local.push(libc::iovec {
                        // SAFETY: `r.off + r.len <= batch.buf.len()` (established by `push`),
                        // so the pointer stays inside the buffer's allocation.
                        iov_base: unsafe { base.add(r.off) }.cast(),
                        iov_len: r.len,
                    });
                    remote.push(libc::iovec {
                        iov_base: r.addr as usize as *mut libc::c_void,
                        iov_len: r.len,
                    });
                }
                end += 1;
            }
            if local.is_empty() {
                start = end;
                continue;
            }
            let first = start;
            match self.readv(&local, &remote) {
                Ok(mut n) => {
                    // Mark the elements fully covered by the `n` bytes read; the one the
                    // kernel stopped at failed; go on after it.
                    let mut i = first;
                    let mut next = end;
                    while i < end {
                        let r = &mut batch.reqs[i];
                        if r.len == 0 || r.addr == 0 {
                            i += 1;
                            continue;
                        }
                        if n >= r.len {
                            n -= r.len;
                            r.ok = true;
                        } else {
                            r.ok = false;
                            self.faults.set(self.faults.get() + 1);
                            next = i + 1;
                            break;
                        }
                        i += 1;
                    }
                    start = next;
                }
                Err(ReadError::Fault) => {
                    // Nothing was read: the first element is bad.
                    let mut i = first;
                    while batch.reqs[i].len == 0 || batch.reqs[i].addr == 0 {
                        i += 1;
                    }
                    batch.reqs[i].ok = false;
                    self.faults.set(self.faults.get() + 1);
                    start = i + 1;
                }
                Err(e) => {
                    for r in &mut batch.reqs[first..] {
                        r.ok = false;
                    }
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    fn readv(&self, local: &[libc::iovec], remote: &[libc::iovec]) -> Result<usize, ReadError> {
        self.syscalls.set(self.syscalls.get() + 1);
        // SAFETY: every local iovec points into a live, writable buffer of at least
        // `iov_len` bytes owned by the caller for the duration of the call; the remote iovecs
        // are only interpreted by the kernel in the target's address space, which checks
        // them and reports EFAULT instead of touching invalid memory (also for our own pid).
        let n = unsafe {
            libc::process_vm_readv(
                self.pid,
                local.as_ptr(),
                local.len() as libc::c_ulong,
                remote.as_ptr(),
                remote.len() as libc::c_ulong,
                0,
            )
        };
        if n < 0 {
            let errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
            Err(ReadError::from_errno(errno))
        } else {
            Ok(n as usize)
        }
    }
}

impl MemoryReader for RemoteMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        self.read_one(addr, buf)
    }
}

/// Reads the memory of the process a CPython interpreter runs in.
pub trait MemoryReader {
    /// Reads exactly `buf.len()` bytes at `addr`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError>;

    /// Reads a little-endian u64 at `addr`.
    fn read_u64(&self, addr: u64) -> Result<u64, ReadError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a little-endian u32 at `addr`.
    fn read_u32(&self, addr: u64) -> Result<u32, ReadError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a byte at `addr`.
    fn read_u8(&self, addr: u64) -> Result<u8, ReadError> {
        let mut b = [0u8; 1];
        self.read(addr, &mut b)?;
        Ok(b[0])
    }

    /// Reads `len` bytes at `addr` into a new vector.
    fn read_vec(&self, addr: u64, len: usize) -> Result<Vec<u8>, ReadError> {
        let mut v = vec![0u8; len];
        self.read(addr, &mut v)?;
        Ok(v)
    }
}

/// This process's memory, read with plain loads (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub struct LocalMemory {
    _private: (),
}

impl LocalMemory {
    /// # Safety
    /// Every address read through the value must be readable for the length read for as long
    /// as the read lasts: the in-process collectors read only the calling thread's own frame
    /// chain and the objects it keeps alive. A null address reads as a fault.
    pub const unsafe fn new() -> LocalMemory {
        LocalMemory { _private: () }
    }
}

impl MemoryReader for LocalMemory {
    #[inline]
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        if addr == 0 {
            return Err(ReadError::Fault);
        }
        // SAFETY: the creator of this value guaranteed that what is read through it is
        // readable (`LocalMemory::new`); the buffer is ours and does not overlap it.
        unsafe {
            std::ptr::copy_nonoverlapping(addr as usize as *const u8, buf.as_mut_ptr(), buf.len())
        };
        Ok(())
    }

    #[inline]
    fn read_u64(&self, addr: u64) -> Result<u64, ReadError> {
        if addr == 0 {
            return Err(ReadError::Fault);
        }
        // SAFETY: as in `read`; unaligned loads are allowed.
        Ok(unsafe { (addr as usize as *const u64).read_unaligned() })
    }
}

/// A set of reads issued together. Buffers are reused between samples.
#[derive(Default, Debug)]
pub struct Batch {
    reqs: Vec<Req>,
    buf: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
struct Req {
    addr: u64,
    len: usize,
    off: usize,
    ok: bool,
}

impl Batch {
    pub fn clear(&mut self) {
        self.reqs.clear();
        self.buf.clear();
    }

    /// Queues a read of `len` bytes at `addr`; returns its index.
    pub fn push(&mut self, addr: u64, len: usize) -> usize {
        let off = self.buf.len();
        self.buf.resize(off + len, 0);
        self.reqs.push(Req {
            addr,
            len,
            off,
            ok: false,
        });
        self.reqs.len() - 1
    }

    pub fn len(&self) -> usize {
        self.reqs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// The bytes of element `i`, if it was read.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let r = self.reqs.get(i)?;
        r.ok.then(|| &self.buf[r.off..r.off + r.len])
    }

    /// The remote address of element `i`.
    pub fn addr(&self, i: usize) -> u64 {
        self.reqs[i].addr
    }
}

/// Little-endian field access on copied bytes; out-of-range offsets read as `None`.
pub trait Bytes {
    fn u64_at(&self, off: usize) -> Option<u64>;
    fn u32_at(&self, off: usize) -> Option<u32>;
    fn i32_at(&self, off: usize) -> Option<i32>;
    fn u8_at(&self, off: usize) -> Option<u8>;
}

impl Bytes for [u8] {
    fn u64_at(&self, off: usize) -> Option<u64> {
        let b = self.get(off..off.checked_add(8)?)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    }
    fn u32_at(&self, off: usize) -> Option<u32> {
        let b = self.get(off..off.checked_add(4)?)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }
    fn i32_at(&self, off: usize) -> Option<i32> {
        self.u32_at(off).map(|v| v as i32)
    }
    fn u8_at(&self, off: usize) -> Option<u8> {
        self.get(off).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_memory_and_reports_faults() {
        let data: Vec<u64> = (0..1000).collect();
        let mem = RemoteMemory::new(std::process::id());
        let addr = data.as_ptr() as u64;
        assert_eq!(mem.read_u64(addr + 8 * 7).unwrap(), 7);
        assert_eq!(mem.read_u64(8), Err(ReadError::Fault));
        let mut batch = Batch::default();
        let a = batch.push(addr, 16);
        let bad = batch.push(16, 8);
        let b = batch.push(addr + 8 * 999, 8);
        let z = batch.push(0, 8);
        let c = batch.push(addr + 8 * 500, 8);
        mem.read_batch(&mut batch).unwrap();
        assert_eq!(batch.get(a).unwrap().u64_at(8), Some(1));
        assert!(batch.get(bad).is_none());
        assert!(batch.get(z).is_none());
        assert_eq!(batch.get(b).unwrap().u64_at(0), Some(999));
        assert_eq!(batch.get(c).unwrap().u64_at(0), Some(500));
    }

    #[test]
    fn local_reads_see_the_same_bytes() {
        let data: Vec<u64> = (0..16).collect();
        let addr = data.as_ptr() as u64;
        // SAFETY: `data` is alive and readable for the reads below.
        let local = unsafe { LocalMemory::new() };
        let remote = RemoteMemory::new(std::process::id());
        for reader in [&local as &dyn MemoryReader, &remote] {
            assert_eq!(reader.read_u64(addr + 8 * 5), Ok(5));
            assert_eq!(reader.read_u32(addr + 8 * 3), Ok(3));
            assert_eq!(
                reader.read_vec(addr + 8, 8),
                Ok(1u64.to_le_bytes().to_vec())
            );
            assert_eq!(reader.read_u64(0), Err(ReadError::Fault));
        }
    }

    #[test]
    fn a_missing_process_is_gone() {
        // Pid numbers above pid_max never exist.
        let mem = RemoteMemory::new(0x3fff_fff0);
        let x = 5u64;
        assert_eq!(mem.read_u64(&x as *const u64 as u64), Err(ReadError::Gone));
    }
}
