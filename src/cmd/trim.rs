//! Gives freed heap back to the operating system. glibc's allocator keeps what a burst
//! freed (a thousand policies deleted, a convergence's temporary reads) in its arenas, so
//! the resident size would stay at its peak for the life of the process; a periodic
//! `malloc_trim` returns the free pages at the top of each arena and the whole free ones.
//! After each trim the heap still in use is published (`trailwarden_heap_allocated_bytes`),
//! so the resident size can be told apart into what the controller holds and what the
//! allocator keeps on partly used pages.
//! (In the binary, not the library: the library forbids unsafe code.)

use std::time::Duration;

use prometheus::IntGauge;

/// How often the heap is trimmed: each trim walks the free lists once (milliseconds).
pub const EVERY: Duration = Duration::from_secs(30);

/// Trims the heap every [`EVERY`] for as long as the runtime lives, and sets `allocated`
/// to the bytes still in use after each trim.
pub fn spawn(allocated: IntGauge) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            trim();
            allocated.set(i64::try_from(in_use()).unwrap_or(i64::MAX));
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes no pointer and only releases pages the allocator holds
    // free; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes in use: the small allocations in the arenas plus the large ones glibc maps on
/// their own (glibc 2.33 and later).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn in_use() -> usize {
    // SAFETY: mallinfo2 takes no argument and returns a plain struct by value; it locks
    // each arena in turn while it sums it.
    let info = unsafe { libc::mallinfo2() };
    info.uordblks.saturating_add(info.hblkhd)
}

/// Other allocators (musl's, for one) return memory themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn in_use() -> usize {
    0
}

#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::*;

    #[test]
    fn an_allocation_is_counted_while_held_and_not_once_freed() {
        // 64 MiB, far above what other tests running alongside allocate or free.
        const SIZE: usize = 64 << 20;
        const SLACK: usize = 16 << 20;
        let before = in_use();
        let held = std::hint::black_box(vec![1u8; SIZE]);
        let during = in_use();
        drop(held);
        let after = in_use();
        assert!(during + SLACK >= before + SIZE, "held: {before} → {during}");
        assert!(after + SIZE <= during + SLACK, "freed: {during} → {after}");
    }
}
