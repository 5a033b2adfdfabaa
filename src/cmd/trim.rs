//! Gives freed heap back to the operating system. glibc's allocator keeps what a burst
//! freed (a thousand policies deleted, a convergence's temporary reads) in its arenas, so
//! the resident size would stay at its peak for the life of the process; a periodic
//! `malloc_trim` returns the free pages at the top of each arena and the whole free ones.
//! (In the binary, not the library: the library forbids unsafe code.)

use std::time::Duration;

/// How often the heap is trimmed: each trim walks the free lists once (milliseconds).
pub const EVERY: Duration = Duration::from_secs(30);

/// Trims the heap every [`EVERY`] for as long as the runtime lives.
pub fn spawn() {
    tokio::spawn(async {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            trim();
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

/// Other allocators (musl's, for one) return memory themselves.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
