//! Loopback ports for servers a test starts that must be told their port before they bind it
//! (a child process, a daemon, a script's services).
//!
//! Probing for a free port (bind port 0, read it, close) and letting go lets the kernel hand
//! the same port out again, to this process or any other: two servers then fight over one
//! port. So ports come from one allocator shared by every test process and script on the
//! machine:
//! - they are taken from a range the kernel never hands out by itself (below the ephemeral
//!   range of `/proc/sys/net/ipv4/ip_local_port_range`), so no `bind(…:0)` and no outgoing
//!   connection can take one meanwhile;
//! - the last port handed out is kept in one file ([`COUNTER_FILE`] in the temporary folder),
//!   read and advanced under an exclusive lock, so no two callers, in this process or
//!   another, get the same port until the whole range has gone round;
//! - a port something else already listens on is skipped.
//!
//! `scripts/lib.sh`'s `free_port` follows the same protocol on the same file.

use std::io::{Read, Seek, Write};
use std::net::TcpListener;
use std::ops::RangeInclusive;

/// The counter's file name, in the temporary folder.
pub const COUNTER_FILE: &str = "web-events-test-ports";

/// The lowest port handed out: above every port the demo and the services use by default.
const LOWEST: u16 = 20_000;

/// The ports handed out: from [`LOWEST`] up to just below the kernel's ephemeral range, or,
/// where that range starts too low, above it.
fn range() -> RangeInclusive<u16> {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| {
            let mut bounds = text.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((bounds.next()??, bounds.next()??))
        })
        .unwrap_or((32_768, 60_999));
    pick_range(ephemeral)
}

/// The allocator's range, given the kernel's ephemeral range.
fn pick_range((low, high): (u16, u16)) -> RangeInclusive<u16> {
    if low > LOWEST + 1_000 {
        LOWEST..=low - 1
    } else if high < u16::MAX - 1_000 {
        high + 1..=u16::MAX
    } else {
        // No room outside the ephemeral range: the lock still keeps callers apart.
        LOWEST..=u16::MAX
    }
}

/// The port after `last` in `range`, going round.
fn next_after(last: Option<u16>, range: &RangeInclusive<u16>) -> u16 {
    match last {
        Some(last) if range.contains(&last) && last < *range.end() => last + 1,
        _ => *range.start(),
    }
}

/// A loopback port that no caller of this allocator has been given lately and nothing listens
/// on now.
pub fn free_port() -> u16 {
    let path = std::env::temp_dir().join(COUNTER_FILE);
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .unwrap_or_else(|err| panic!("cannot open {}: {err}", path.display()));
    file.lock()
        .unwrap_or_else(|err| panic!("cannot lock {}: {err}", path.display()));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let range = range();
    let mut port = next_after(text.trim().parse().ok(), &range);
    let tries = usize::from(*range.end() - *range.start()) + 1;
    for _ in 0..tries {
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            break;
        }
        port = next_after(Some(port), &range);
    }
    file.set_len(0).unwrap();
    file.rewind().unwrap();
    write!(file, "{port}").unwrap();
    // The lock goes with the file.
    port
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_range_is_outside_what_the_kernel_hands_out() {
        assert_eq!(pick_range((32_768, 60_999)), 20_000..=32_767);
        assert_eq!(pick_range((1_024, 40_000)), 40_001..=u16::MAX);
        assert_eq!(pick_range((1_024, 65_535)), 20_000..=u16::MAX);
    }

    #[test]
    fn the_counter_goes_round_its_range() {
        let range = 20_000..=20_002;
        assert_eq!(next_after(None, &range), 20_000);
        assert_eq!(next_after(Some(20_000), &range), 20_001);
        assert_eq!(next_after(Some(20_002), &range), 20_000);
        assert_eq!(
            next_after(Some(9_000), &range),
            20_000,
            "from another range"
        );
    }

    #[test]
    fn ports_handed_out_one_after_another_are_all_different_even_across_threads() {
        let handed: Vec<u16> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| (0..50).map(|_| free_port()).collect::<Vec<_>>()))
                .collect();
            threads
                .into_iter()
                .flat_map(|t| t.join().unwrap())
                .collect()
        });
        let distinct: std::collections::HashSet<u16> = handed.iter().copied().collect();
        assert_eq!(distinct.len(), handed.len(), "a port was handed out twice");
        assert!(handed.iter().all(|p| range().contains(p)));
    }
}
