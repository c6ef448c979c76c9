//! A counting global allocator, so that a target can assert that decoding
//! `n` bytes never has more than `bound(n)` bytes live at once. libFuzzer's
//! `-malloc_limit_mb` catches single huge allocations; this catches many
//! moderate ones adding up.
//!
//! A target opts in with `ledger_fuzz::counting_allocator!();`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

pub struct Counting;

/// No single allocation may be larger than this: the allocator refuses it
/// and Rust aborts with "memory allocation of N bytes failed", which
/// libFuzzer reports as a crash. (libFuzzer's own `-malloc_limit_mb` only
/// works with a sanitizer; the script runs without one by default.)
pub const MAX_SINGLE_ALLOCATION: usize = 64 << 20;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn track(delta: isize) {
    let now = LIVE.fetch_add(delta, Relaxed) + delta;
    PEAK.fetch_max(now, Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_SINGLE_ALLOCATION {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_SINGLE_ALLOCATION {
            return std::ptr::null_mut();
        }
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            track(layout.size() as isize);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        track(-(layout.size() as isize));
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if new > MAX_SINGLE_ALLOCATION {
            return std::ptr::null_mut();
        }
        let q = unsafe { System.realloc(p, layout, new) };
        if !q.is_null() {
            track(new as isize - layout.size() as isize);
        }
        q
    }
}

#[macro_export]
macro_rules! counting_allocator {
    () => {
        #[global_allocator]
        static COUNTING_ALLOCATOR: $crate::alloc::Counting = $crate::alloc::Counting;
    };
}

/// Runs `f` and returns its result with the most bytes that were live at
/// once during it, beyond those live before it (single-threaded use).
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let r = f();
    let peak = PEAK.load(Relaxed) - base;
    (r, peak.max(0) as usize)
}

/// The allocation budget for decoding `n` bytes. Decoding builds a tree of
/// 32-byte `ciborium::Value`s (one per item, so up to 32 per input byte),
/// clones it once for the determinism check and grows vectors by doubling;
/// the worst case measured is about 65 bytes per input byte (a 1 MiB array
/// of one-byte items). Anything beyond 96 n + 256 KiB is a finding.
pub fn budget(n: usize) -> usize {
    96 * n + (256 << 10)
}
