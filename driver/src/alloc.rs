//! A counting global allocator: the heap every subject keeps, measured the
//! same way for all of them.
//!
//! Each thread counts into its own cache-line-sized shard, so counting adds
//! no shared write to an allocation; [`allocated`] sums the shards.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

/// Shards of the byte count; threads beyond this many share shards.
const SHARDS: usize = 64;

#[repr(align(128))]
struct Shard(AtomicIsize);

static COUNTS: [Shard; SHARDS] = [const { Shard(AtomicIsize::new(0)) }; SHARDS];
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // A const-initialised thread-local without a destructor: safe to touch
    // from inside the allocator, even while the thread is exiting.
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The shard of the calling thread.
#[inline]
fn shard() -> &'static AtomicIsize {
    let i = SHARD
        .try_with(|s| {
            if s.get() == usize::MAX {
                // Relaxed: any distinct-enough index will do; the counter
                // orders nothing.
                s.set(NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS);
            }
            s.get()
        })
        .unwrap_or(0);
    &COUNTS[i].0
}

/// The system allocator, counting the bytes it has out.
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are `Counting`'s; the counting itself
// never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract for `layout`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            // Relaxed: the count is a statistic read after the threads that
            // allocate have been joined, or as an approximate sample.
            shard().fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            // Relaxed: as in `alloc`.
            shard().fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator (that is, from `System`)
        // with `layout`, as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) };
        // Relaxed: as in `alloc`.
        shard().fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `realloc`'s contract for `ptr`, `layout`
        // and `new_size`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // Relaxed: as in `alloc`.
            shard().fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        p
    }
}

/// The bytes currently allocated through [`Counting`], if it is the global
/// allocator (0 otherwise). Exact once the allocating threads are joined.
pub fn allocated() -> usize {
    // Relaxed: see `Counting::alloc`.
    let sum: isize = COUNTS.iter().map(|s| s.0.load(Ordering::Relaxed)).sum();
    sum.max(0) as usize
}
