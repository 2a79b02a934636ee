//! The C allocator's settings for processes that hold librdkafka's fetch buffers.
//!
//! A consumer receives fetch responses of up to several MiB, keeps each one while any of its
//! records waits in the prefetch queue, then frees it. glibc serves blocks of 128 KiB and more
//! with their own mappings, returned to the system when freed, but raises that threshold to the
//! size of the largest such block freed (up to 32 MiB). From then on the responses are carved
//! out of per-thread arenas, and with a dozen librdkafka and runtime threads the arenas keep
//! what they once held: in the landing benchmark `hdfs-consumer` peaked at about 115 MiB with
//! the threshold moving and about 45 MiB with it fixed, at the same rate.

/// The initial threshold of glibc's allocator, kept for the process's life.
pub const MMAP_THRESHOLD_BYTES: usize = 128 * 1024;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD_BYTES`], which turns its adjustment off,
/// so large buffers go back to the system when freed. Call it in `main` before any work. Does nothing
/// where the C library is not glibc.
pub fn return_large_blocks_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    set_mmap_threshold();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set_mmap_threshold() {
    let threshold = libc::c_int::try_from(MMAP_THRESHOLD_BYTES).expect("fits a C int");
    // SAFETY: mallopt only changes a parameter of glibc's allocator; it is thread-safe and
    // valid at any time. It returns 0 when refused, which leaves the default in place.
    let accepted = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, threshold) };
    if accepted == 0 {
        tracing::warn!(threshold, "the C allocator refused a fixed mmap threshold");
    }
}
