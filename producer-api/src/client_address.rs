//! Whose request this is: the address of the peer that connected, unless that peer is a proxy
//! the collector was told to trust (`TRUSTED_PROXIES`). Then the client is the last address in
//! the proxies' `Forwarded` (or, without it, `X-Forwarded-For`) chain that is not itself a
//! trusted proxy: what a trusted proxy appended is believed, what the client wrote before it is
//! not, so a client cannot pick its own address by sending the header.
//!
//! The address is only ever a key of the fair share; it is never stored or produced.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose forwarded headers are believed (CIDRs); none by default.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>) -> Self {
        TrustedProxies(networks)
    }

    /// Whether `address` is a trusted proxy's. An IPv4-mapped IPv6 address counts as the IPv4
    /// address it is, so `10.0.0.0/8` matches `::ffff:10.0.0.1` (a dual-stack listener sees
    /// IPv4 peers that way).
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let chain = forwarded_chain(headers);
        let mut client = peer;
        for hop in chain.iter().rev() {
            match hop {
                // A trusted proxy says it does not know (`unknown`, an obfuscated name): the
                // client stays the proxy that said so.
                None => return client,
                Some(address) => {
                    client = *address;
                    if !self.contains(client) {
                        return client;
                    }
                }
            }
        }
        client
    }
}

/// The addresses the proxies recorded, first (the original client) to last (the proxy
/// nearest the collector): from `Forwarded` (RFC 7239) when a request has one, else from
/// `X-Forwarded-For`. A hop that names no address is `None`.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value.trim().trim_matches('"')))
            })
            .collect();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|hop| parse_node(hop.trim()))
        .collect()
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, or
/// `[2001:db8::1]:4711`.
fn parse_node(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            text.strip_prefix('[')
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|inner| inner.parse().ok())
        })
        .map(|address| address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn proxies(cidrs: &[&str]) -> TrustedProxies {
        TrustedProxies::new(cidrs.iter().map(|c| c.parse().unwrap()).collect())
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards() {
        let forged = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(
            TrustedProxies::default().client_of(ip("198.51.100.4"), &forged),
            ip("198.51.100.4")
        );
        // A peer outside the trusted networks is not believed either.
        assert_eq!(
            proxies(&["10.0.0.0/8"]).client_of(ip("198.51.100.4"), &forged),
            ip("198.51.100.4")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_last_untrusted_hop_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8", "fd00::/8"]);
        let peer = ip("10.0.0.2");
        // The client forged the first entry; the proxy appended what it saw.
        let chain = headers(&[("x-forwarded-for", "1.1.1.1, 198.51.100.7, 10.0.0.5")]);
        assert_eq!(trusted.client_of(peer, &chain), ip("198.51.100.7"));
        // Several header lines are one list.
        let split = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "198.51.100.7:51234"),
        ]);
        assert_eq!(trusted.client_of(peer, &split), ip("198.51.100.7"));
        // Forwarded wins over X-Forwarded-For, with quoted IPv6 and ports.
        let both = headers(&[
            ("x-forwarded-for", "198.51.100.7"),
            (
                "forwarded",
                r#"for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711";by=10.0.0.2"#,
            ),
        ]);
        assert_eq!(trusted.client_of(peer, &both), ip("2001:db8:cafe::17"));
        // Nothing forwarded: the proxy itself.
        assert_eq!(trusted.client_of(peer, &HeaderMap::new()), peer);
        // Every hop trusted: the first one.
        let inside = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.5")]);
        assert_eq!(trusted.client_of(peer, &inside), ip("10.1.1.1"));
        // A hop the proxy could not name stops the walk at that proxy.
        let unknown = headers(&[("forwarded", "for=198.51.100.7, for=unknown")]);
        assert_eq!(trusted.client_of(peer, &unknown), peer);
        // An IPv4 peer seen by a dual-stack listener matches an IPv4 network.
        assert_eq!(
            trusted.client_of(ip("::ffff:10.0.0.2"), &chain),
            ip("198.51.100.7")
        );
    }
}
