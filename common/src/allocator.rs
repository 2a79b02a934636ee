//! The C allocator's settings for processes that hold librdkafka's fetch buffers.
//!
//! A consumer receives fetch responses of up to several MiB, keeps each one while any of its
//! records waits in the prefetch queue, then frees it. glibc serves blocks of 128 KiB and more
//! with their own mappings, returned to the system when freed, but raises that threshold to the
//! size of the largest such block freed (up to 32 MiB). From then on the responses are carved
//! out of per-thread arenas, and with a dozen librdkafka and runtime threads the arenas keep
//! what they once held: in the landing benchmark `hdfs-consumer` peaked at about 115 MiB with
//! the threshold moving and about 45 MiB with it fixed, at the same rate.
//!
//! Small blocks fragment the same way. glibc gives threads their own arenas (up to eight per
//! core), and a sink's threads each hold long-lived small blocks (buffered records, queued
//! messages) between short-lived ones (parsing, encoding a file), so every arena keeps its own
//! high-water mark. With one arena the freed space of one thread serves the next: three workers
//! landing Parquet peaked at 54–61 MiB instead of 69–74 MiB, at the same rate (the sinks' threads
//! spend their time in I/O and encoding, not waiting for the allocator's lock).

/// The initial threshold of glibc's allocator, kept for the process's life.
pub const MMAP_THRESHOLD_BYTES: usize = 128 * 1024;

/// How many arenas glibc's allocator may make.
pub const ARENAS: usize = 1;

/// Fixes glibc's mmap threshold at [`MMAP_THRESHOLD_BYTES`], which turns its adjustment off, so
/// large buffers go back to the system when freed, and lets it make only [`ARENAS`] arena.
/// Call it first in `main`, before any thread is started: a thread keeps the arena it was
/// given. Does nothing where the C library is not glibc.
pub fn configure_for_a_sink() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        set(
            libc::M_MMAP_THRESHOLD,
            MMAP_THRESHOLD_BYTES,
            "mmap threshold",
        );
        set(libc::M_ARENA_MAX, ARENAS, "arena count");
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn set(parameter: libc::c_int, value: usize, name: &'static str) {
    let value = libc::c_int::try_from(value).expect("fits a C int");
    // SAFETY: mallopt only changes a parameter of glibc's allocator; it is thread-safe and
    // valid at any time. It returns 0 when refused, which leaves the default in place.
    let accepted = unsafe { libc::mallopt(parameter, value) };
    if accepted == 0 {
        // Logging is not set up yet this early; a refused setting only costs memory.
        eprintln!("warning: the C allocator refused a fixed {name} of {value}");
    }
}
