//! File contents for the engine, safe against the file changing under the scan.
//!
//! Large files are memory-mapped (no copy: about a tenth of the CPU on bulk scans). A
//! mapped page whose file offset no longer exists, because another process truncated the
//! file, raises SIGBUS on access, which would kill the whole process. [`GuardedMap`]
//! registers each map in a fixed table that a process-wide SIGBUS handler consults: a
//! fault inside a registered map replaces the map's pages with zero-filled anonymous
//! memory (so the faulting instruction and every later read succeed) and marks the map
//! as changed; any other SIGBUS goes to the handler that was there before (Rust's stack
//! overflow reporter, then the default action). The caller sees [`GuardedMap::changed`]
//! and scans the file again with `pread`, which cannot fault: the verdict is always
//! about bytes that were really in the file.
//!
//! The table has a fixed size and the handler only uses atomics and `mmap`, so it
//! neither allocates nor locks. A scan that finds the table full reads with `pread`.

use std::fs::File;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Maps in use at once; scan threads are far fewer.
const SLOTS: usize = 256;

struct Slot {
    claimed: AtomicBool,
    /// Start address of the map; 0 while the slot is not armed.
    start: AtomicUsize,
    len: AtomicUsize,
    faulted: AtomicBool,
}

#[allow(clippy::declare_interior_mutable_const)] // only used to initialise TABLE
const EMPTY: Slot = Slot {
    claimed: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    faulted: AtomicBool::new(false),
};
static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];

/// The SIGBUS disposition found when the guard was installed, to chain to.
static PREVIOUS: AtomicUsize = AtomicUsize::new(0);
static mut PREVIOUS_ACTION: std::mem::MaybeUninit<libc::sigaction> =
    std::mem::MaybeUninit::uninit();
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A read-only map of a whole file that survives the file shrinking.
pub struct GuardedMap {
    map: memmap2::Mmap,
    slot: &'static Slot,
}

impl GuardedMap {
    /// Maps `len` bytes of `file`; `None` when the guard cannot be used (no free slot,
    /// handler not installed), in which case the caller reads instead.
    pub fn new(file: &File, len: u64) -> Option<std::io::Result<GuardedMap>> {
        install();
        if !INSTALLED.load(Ordering::Acquire) {
            return None;
        }
        let len = usize::try_from(len).ok()?;
        let slot = TABLE.iter().find(|s| {
            s.claimed
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })?;
        // SAFETY: a read-only private map of an open file. Its bytes may change if another
        // process writes the file, which scanning tolerates (it reads bytes, never trusts
        // them); a shrinking file is what the registration below guards against.
        let map = match unsafe { memmap2::MmapOptions::new().len(len).map(file) } {
            Ok(map) => map,
            Err(e) => {
                slot.claimed.store(false, Ordering::Release);
                return Some(Err(e));
            }
        };
        slot.faulted.store(false, Ordering::Relaxed);
        slot.len.store(map.len(), Ordering::Relaxed);
        // Armed last: the handler reads `start` first, then `len`.
        slot.start.store(map.as_ptr() as usize, Ordering::Release);
        Some(Ok(GuardedMap { map, slot }))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Whether part of the file vanished while mapped (the bytes read since are zeros).
    pub fn changed(&self) -> bool {
        self.slot.faulted.load(Ordering::Acquire)
    }
}

impl Drop for GuardedMap {
    fn drop(&mut self) {
        // Disarm before the map goes, so a reused address range is never claimed twice.
        self.slot.start.store(0, Ordering::Release);
        self.slot.claimed.store(false, Ordering::Release);
    }
}

fn install() {
    INSTALL.call_once(|| {
        // SAFETY: plain sigaction calls; the handler below only touches atomics, the
        // saved action and async-signal-safe system calls.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigbus as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let previous = &raw mut PREVIOUS_ACTION;
            if libc::sigaction(libc::SIGBUS, &action, (*previous).as_mut_ptr()) == 0 {
                PREVIOUS.store(1, Ordering::Release);
                INSTALLED.store(true, Ordering::Release);
            } else {
                tracing::warn!("cannot install the SIGBUS guard; large files are read, not mapped");
            }
        }
    });
}

extern "C" fn on_sigbus(
    signal: libc::c_int,
    info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let address = unsafe { (*info).si_addr() } as usize;
    for slot in &TABLE {
        let start = slot.start.load(Ordering::Acquire);
        if start == 0 || address < start {
            continue;
        }
        let len = slot.len.load(Ordering::Relaxed);
        if address - start >= len {
            continue;
        }
        // SAFETY: replaces exactly the pages of a live map this module registered, which
        // only its owner's scan reads; MAP_FIXED over it is atomic in the kernel.
        let replaced = unsafe {
            libc::mmap(
                start as *mut libc::c_void,
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if replaced != libc::MAP_FAILED {
            slot.faulted.store(true, Ordering::Release);
            return;
        }
        break;
    }
    chain(signal, info, context);
}

/// Not one of ours: behave as if this handler had never been installed.
fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: PREVIOUS_ACTION was written by sigaction before PREVIOUS was set, and is
    // never written again.
    unsafe {
        if PREVIOUS.load(Ordering::Acquire) == 1 {
            let saved = &raw const PREVIOUS_ACTION;
            let previous = (*saved).assume_init_ref();
            let handler = previous.sa_sigaction;
            if handler != libc::SIG_DFL && handler != libc::SIG_IGN {
                if previous.sa_flags & libc::SA_SIGINFO != 0 {
                    let f = std::mem::transmute::<
                        usize,
                        extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void),
                    >(handler);
                    f(signal, info, context);
                } else {
                    let f = std::mem::transmute::<usize, extern "C" fn(libc::c_int)>(handler);
                    f(signal);
                }
                return;
            }
        }
        // Default action: returning re-executes the faulting access, which then kills
        // the process as the fault would have without this module.
        libc::signal(signal, libc::SIG_DFL);
    }
}

/// Reads `len` bytes from offset 0 into the front of `buf` and returns how many arrived.
/// `buf` only ever grows: zero-filling it afresh for every file cost as much as the read.
pub fn read_all_at(file: &File, buf: &mut Vec<u8>, len: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let len = usize::try_from(len).map_err(|_| std::io::Error::other("file too large"))?;
    if buf.len() < len {
        buf.resize(len, 0);
    }
    let mut filled = 0usize;
    while filled < len {
        match file.read_at(&mut buf[filled..len], filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    // The file may have shrunk since fstat; scan what is there now.
    Ok(filled)
}
