//! A counting global allocator: what one closure allocates on this thread.
//!
//! The wire module promises that no decoder allocates more than its input's
//! own length; the targets check that promise with [`measure`]. Counting is
//! per thread (const thread-locals, no destructors, so the allocator may use
//! them at any time), and only while a measurement is active.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The allocator every binary of this crate runs on.
pub struct Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// Bytes allocated minus bytes freed since the measurement started
    /// (negative when memory from before is freed).
    static NET: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

fn allocated(size: usize) {
    let _ = ACTIVE.try_with(|active| {
        if active.get() {
            NET.with(|net| {
                let now = net.get().saturating_add(size as isize);
                net.set(now);
                PEAK.with(|peak| peak.set(peak.get().max(now)));
            });
            LARGEST.with(|largest| largest.set(largest.get().max(size)));
            COUNT.with(|count| count.set(count.get() + 1));
        }
    });
}

fn freed(size: usize) {
    let _ = ACTIVE.try_with(|active| {
        if active.get() {
            NET.with(|net| net.set(net.get().saturating_sub(size as isize)));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the bookkeeping around it touches only const thread-locals,
// which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            allocated(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            allocated(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        freed(layout.size());
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as received.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            freed(layout.size());
            allocated(new_size);
        }
        moved
    }
}

/// What a measured closure allocated on its thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// The most bytes it held at once (what it returned included).
    pub peak: usize,
    /// Its largest single allocation.
    pub largest: usize,
    /// How many allocations it made.
    pub count: usize,
}

/// Runs `f`, counting what it allocates on this thread.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    NET.with(|c| c.set(0));
    PEAK.with(|c| c.set(0));
    LARGEST.with(|c| c.set(0));
    COUNT.with(|c| c.set(0));
    ACTIVE.with(|c| c.set(true));
    let result = f();
    ACTIVE.with(|c| c.set(false));
    let usage = Usage {
        peak: PEAK.with(Cell::get).max(0) as usize,
        largest: LARGEST.with(Cell::get),
        count: COUNT.with(Cell::get),
    };
    (result, usage)
}
