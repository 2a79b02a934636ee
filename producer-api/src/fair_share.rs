//! A fair share of the collector for every client: each client address has a token bucket of
//! clicks, refilled at a steady rate up to a burst. A request takes one token per click it
//! carries (a batch of 50 takes 50); a client past its share is refused with 429 and told when
//! to come back, and every other client is untouched.
//!
//! IPv6 is shared out by block, not by address: a client is a /64 (the block one subscriber is
//! usually given, any address of which it can pick), and the /64s of one /48 (the block one
//! site is usually given) share [`ALLOCATION_SHARES`] clients' shares between them. So a site
//! holding a /48 gets that many shares, not the 65,536 its /64s would otherwise have.
//!
//! Memory is bounded: at most [`MAX_CLIENTS`] buckets are kept. A full bucket is the same as no
//! bucket, so full ones are dropped first; when a flood from more addresses than that leaves
//! none full, the clients seen longest ago are forgotten (which gives them a fresh burst when
//! they come back).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most client buckets kept, over all shards.
pub const MAX_CLIENTS: usize = 65_536;

/// What the buckets may take at most: [`MAX_CLIENTS`] entries of 48 bytes and their hash
/// tables' slack (a table holds at most 7/8 of its slots, and its slots are a power of two).
pub const MAX_BYTES: usize = 8 << 20;

/// Buckets are split over this many locks, so requests of different clients seldom wait for
/// each other.
const SHARDS: usize = 16;

/// When a shard is full, at least this share of it is freed at once, so the cost of a sweep is
/// spread over the arrivals that fill it again.
const FREE_AT_ONCE: usize = 8;

/// A client's clicks per second and burst; a zero in either turns the limiter off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShareSettings {
    pub clicks_per_second: u32,
    pub burst: u32,
}

/// What a client may do now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admission {
    Admitted,
    /// Past its share: enough clicks for this request are back after `retry_after`.
    Limited {
        retry_after: Duration,
    },
}

/// How many clients' shares the /64s of one IPv6 /48 have between them.
pub const ALLOCATION_SHARES: u32 = 16;

/// Whom a bucket belongs to: a client (an IPv4 address, or an IPv6 /64), or the IPv6 /48 that
/// holds clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    V4(Ipv4Addr),
    /// The first 64 bits of the client's addresses.
    V6Subnet(u64),
    /// The first 48 bits of its clients' addresses.
    V6Allocation(u64),
}

impl ClientKey {
    /// The client an address belongs to.
    pub fn of(address: IpAddr) -> ClientKey {
        match address.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(v4),
            IpAddr::V6(v6) => ClientKey::V6Subnet((u128::from(v6) >> 64) as u64),
        }
    }

    /// The allocation a client's share is also held to: its /48, for an IPv6 client.
    pub fn allocation(self) -> Option<ClientKey> {
        match self {
            ClientKey::V6Subnet(prefix) => Some(ClientKey::V6Allocation(prefix >> 16)),
            ClientKey::V4(_) | ClientKey::V6Allocation(_) => None,
        }
    }

    /// How many clients' shares the bucket holds.
    fn shares(self) -> f64 {
        match self {
            ClientKey::V6Allocation(_) => f64::from(ALLOCATION_SHARES),
            ClientKey::V4(_) | ClientKey::V6Subnet(_) => 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct FairShare {
    rate: f64,
    burst: f64,
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<ClientKey, Bucket>>]>,
}

impl FairShare {
    /// The limiter for `settings`, or `None` when they turn it off.
    pub fn new(settings: ShareSettings) -> Option<FairShare> {
        if settings.clicks_per_second == 0 || settings.burst == 0 {
            return None;
        }
        Some(FairShare {
            rate: f64::from(settings.clicks_per_second),
            burst: f64::from(settings.burst),
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        })
    }

    /// Takes `clicks` tokens from `client`'s bucket at `now`, and from its allocation's if it
    /// has one, or says when they will be there. A request of more clicks than the burst costs
    /// the burst: a full bucket admits any one request.
    pub fn admit(&self, client: ClientKey, clicks: usize, now: Instant) -> Admission {
        let cost = (clicks as f64).min(self.burst);
        let admitted = self.take(client, cost, now);
        match (admitted, client.allocation()) {
            (Admission::Admitted, Some(allocation)) => {
                let shared = self.take(allocation, cost, now);
                if shared != Admission::Admitted {
                    // Not spent: the client's own tokens go back.
                    self.give_back(client, cost);
                }
                shared
            }
            (admitted, _) => admitted,
        }
    }

    /// Takes `cost` tokens from `key`'s bucket at `now`, or says when they will be there.
    fn take(&self, key: ClientKey, cost: f64, now: Instant) -> Admission {
        let mut buckets = self.shard(key).lock().expect("not poisoned");
        if buckets.len() >= MAX_CLIENTS / SHARDS && !buckets.contains_key(&key) {
            self.free_room(&mut buckets, now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst * key.shares(),
            updated: now,
        });
        bucket.tokens = self.refilled(key, bucket, now);
        bucket.updated = now;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            Admission::Admitted
        } else {
            let rate = self.rate * key.shares();
            Admission::Limited {
                retry_after: Duration::from_secs_f64((cost - bucket.tokens) / rate),
            }
        }
    }

    /// Puts back `cost` tokens taken from `key`'s bucket.
    fn give_back(&self, key: ClientKey, cost: f64) {
        let mut buckets = self.shard(key).lock().expect("not poisoned");
        if let Some(bucket) = buckets.get_mut(&key) {
            bucket.tokens = (bucket.tokens + cost).min(self.burst * key.shares());
        }
    }

    fn shard(&self, key: ClientKey) -> &Mutex<HashMap<ClientKey, Bucket>> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// Clients with a bucket now.
    pub fn clients(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.lock().expect("not poisoned").len())
            .sum()
    }

    /// The memory the buckets' tables hold now, allocated slots included.
    pub fn table_bytes(&self) -> usize {
        let slot = std::mem::size_of::<(ClientKey, Bucket)>() + 1;
        self.shards
            .iter()
            .map(|shard| {
                // A table fills at most 7/8 of its slots, a power of two of them.
                let capacity = shard.lock().expect("not poisoned").capacity();
                (capacity * 8).div_ceil(7).next_power_of_two() * slot
            })
            .sum()
    }

    fn refilled(&self, key: ClientKey, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        let shares = key.shares();
        (bucket.tokens + elapsed * self.rate * shares).min(self.burst * shares)
    }

    /// Drops the full buckets of a full shard, then, if that freed less than a
    /// [`FREE_AT_ONCE`]th of it, the buckets updated longest ago.
    fn free_room(&self, buckets: &mut HashMap<ClientKey, Bucket>, now: Instant) {
        buckets.retain(|key, bucket| self.refilled(*key, bucket, now) < self.burst * key.shares());
        let room = MAX_CLIENTS / SHARDS / FREE_AT_ONCE;
        let keep = (MAX_CLIENTS / SHARDS).saturating_sub(room);
        if buckets.len() > keep {
            let mut updated: Vec<Instant> = buckets.values().map(|b| b.updated).collect();
            let oldest_kept = buckets.len() - keep;
            let (_, cut, _) = updated.select_nth_unstable(oldest_kept);
            let cut = *cut;
            buckets.retain(|_, bucket| bucket.updated >= cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    const ONE: ShareSettings = ShareSettings {
        clicks_per_second: 10,
        burst: 20,
    };

    fn key(n: u32) -> ClientKey {
        ClientKey::of(IpAddr::V4(n.into()))
    }

    #[test]
    fn a_burst_then_the_rate_and_retry_after_says_when() {
        let share = FairShare::new(ONE).unwrap();
        let start = Instant::now();
        assert_eq!(share.admit(key(1), 15, start), Admission::Admitted);
        assert_eq!(share.admit(key(1), 5, start), Admission::Admitted);
        let Admission::Limited { retry_after } = share.admit(key(1), 3, start) else {
            panic!("an empty bucket admitted 3 clicks");
        };
        assert_eq!(retry_after, Duration::from_millis(300));
        // 10 a second come back: after 300 ms the same 3 clicks pass.
        assert_eq!(
            share.admit(key(1), 3, start + retry_after),
            Admission::Admitted
        );
        // Another client is untouched.
        assert_eq!(share.admit(key(2), 20, start), Admission::Admitted);
    }

    #[test]
    fn a_request_larger_than_the_burst_costs_the_burst() {
        let share = FairShare::new(ONE).unwrap();
        let start = Instant::now();
        assert_eq!(share.admit(key(1), 100, start), Admission::Admitted);
        assert!(matches!(
            share.admit(key(1), 1, start),
            Admission::Limited { .. }
        ));
    }

    #[test]
    fn zero_turns_it_off() {
        assert!(
            FairShare::new(ShareSettings {
                clicks_per_second: 0,
                burst: 5
            })
            .is_none()
        );
        assert!(
            FairShare::new(ShareSettings {
                clicks_per_second: 5,
                burst: 0
            })
            .is_none()
        );
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_its_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ClientKey::of(a), ClientKey::of(b));
        assert_ne!(ClientKey::of(a), ClientKey::of(other));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(
            ClientKey::of(mapped),
            ClientKey::of("192.0.2.7".parse().unwrap())
        );
    }

    #[test]
    fn the_64s_of_one_48_share_a_bounded_number_of_shares() {
        let share = FairShare::new(ONE).unwrap();
        let start = Instant::now();
        let subnet =
            |n: u16| ClientKey::of(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 7, n, 0, 0, 0, 1)));
        // Each /64 has its own share, until the /48 has spent ALLOCATION_SHARES of them.
        for n in 0..ALLOCATION_SHARES as u16 {
            assert_eq!(
                share.admit(subnet(n), 20, start),
                Admission::Admitted,
                "{n}"
            );
        }
        let Admission::Limited { retry_after } = share.admit(subnet(1000), 20, start) else {
            panic!("a /48 minted one more share");
        };
        // The /48 refills at its clients' rate together.
        assert_eq!(retry_after, Duration::from_millis(125));
        // The refused /64 kept its own tokens: once the /48 has some, it is admitted.
        assert_eq!(
            share.admit(subnet(1000), 20, start + Duration::from_millis(125)),
            Admission::Admitted
        );
        // Another /48 and IPv4 clients are untouched.
        let elsewhere = ClientKey::of("2001:db8:8::1".parse().unwrap());
        assert_eq!(share.admit(elsewhere, 20, start), Admission::Admitted);
        assert_eq!(share.admit(key(1), 20, start), Admission::Admitted);
    }

    #[test]
    fn a_flood_from_many_addresses_stays_within_the_bound_and_the_flooder_stays_limited() {
        let share = FairShare::new(ONE).unwrap();
        let start = Instant::now();
        let flooder = key(u32::MAX);
        assert_eq!(share.admit(flooder, 20, start), Admission::Admitted);
        for n in 0..100_000u32 {
            let now = start + Duration::from_micros(u64::from(n));
            // Each address spends part of its burst, so no bucket is full to drop.
            assert_eq!(share.admit(key(n), 5, now), Admission::Admitted);
            if n % 1000 == 0 {
                assert!(matches!(
                    share.admit(flooder, 20, now),
                    Admission::Limited { .. }
                ));
            }
            assert!(share.clients() <= MAX_CLIENTS);
        }
        assert!(share.clients() > MAX_CLIENTS / 2, "{}", share.clients());
        assert!(
            share.table_bytes() <= MAX_BYTES,
            "{} bytes for {} clients",
            share.table_bytes(),
            share.clients()
        );
        // Idle clients are the same as new ones: once every bucket is full again, a sweep
        // drops them all.
        let later = start + Duration::from_secs(60);
        for n in 200_000..200_000 + MAX_CLIENTS as u32 {
            share.admit(key(n), 1, later);
        }
        assert!(share.clients() <= MAX_CLIENTS);
    }
}
