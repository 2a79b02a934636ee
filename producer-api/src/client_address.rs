//! Whose request this is: the address of the peer that connected, unless that peer is a proxy
//! the collector was told to trust (`TRUSTED_PROXIES`). Then the client is the last address in
//! the chain of the one header the proxies write (`FORWARDED_HEADER`: `X-Forwarded-For` by
//! default, or `Forwarded`) that is not itself a trusted proxy: what a trusted proxy appended
//! is believed, what the client wrote before it is not. The other header is never read: a
//! proxy appends to its own header only, and passes the other on as the client wrote it.
//!
//! The address is only ever a key of the fair share; it is never stored or produced.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The header the trusted proxies write the client's address in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For`, as nginx, HAProxy and most cloud load balancers write it.
    #[default]
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    #[value(name = "forwarded")]
    Forwarded,
}

/// The proxies whose forwarded header is believed (CIDRs; none by default), and which header
/// that is.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    pub fn new(networks: Vec<IpNet>, header: ForwardedHeader) -> Self {
        TrustedProxies { networks, header }
    }

    /// Whether `address` is a trusted proxy's. An IPv4-mapped IPv6 address counts as the IPv4
    /// address it is, so `10.0.0.0/8` matches `::ffff:10.0.0.1` (a dual-stack listener sees
    /// IPv4 peers that way).
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.networks
            .iter()
            .any(|network| network.contains(&address))
    }

    /// The client of a request that arrived from `peer` with `headers`.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let chain = forwarded_chain(self.header, headers);
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

/// The addresses the proxies recorded in `header`, first (the original client) to last (the
/// proxy nearest the collector). A hop that names no address is `None`.
fn forwarded_chain(header: ForwardedHeader, headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>()
    };
    match header {
        ForwardedHeader::Forwarded => values("forwarded")
            .into_iter()
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value.trim().trim_matches('"')))
            })
            .collect(),
        ForwardedHeader::XForwardedFor => values("x-forwarded-for")
            .into_iter()
            .map(|hop| parse_node(hop.trim()))
            .collect(),
    }
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
        proxies_writing(cidrs, ForwardedHeader::XForwardedFor)
    }

    fn proxies_writing(cidrs: &[&str], header: ForwardedHeader) -> TrustedProxies {
        TrustedProxies::new(cidrs.iter().map(|c| c.parse().unwrap()).collect(), header)
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
        // Nothing forwarded: the proxy itself.
        assert_eq!(trusted.client_of(peer, &HeaderMap::new()), peer);
        // Every hop trusted: the first one.
        let inside = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.5")]);
        assert_eq!(trusted.client_of(peer, &inside), ip("10.1.1.1"));
        // An IPv4 peer seen by a dual-stack listener matches an IPv4 network.
        assert_eq!(
            trusted.client_of(ip("::ffff:10.0.0.2"), &chain),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn only_the_header_the_proxies_write_is_read_and_a_forged_other_one_is_not() {
        let peer = ip("10.0.0.2");
        // Behind nginx (X-Forwarded-For): the client forged a Forwarded header naming someone
        // else, and a first X-Forwarded-For entry; the proxy appended the address it saw.
        let forged = headers(&[
            ("forwarded", "for=203.0.113.66"),
            ("x-forwarded-for", "198.51.100.1, 192.0.2.44"),
        ]);
        let nginx = proxies_writing(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor);
        assert_eq!(nginx.client_of(peer, &forged), ip("192.0.2.44"));
        // Behind a proxy that writes Forwarded: the forged X-Forwarded-For is not read.
        let forged = headers(&[
            ("x-forwarded-for", "203.0.113.66"),
            (
                "forwarded",
                r#"for=192.0.2.60;proto=http, for="[2001:db8:cafe::17]:4711";by=10.0.0.2"#,
            ),
        ]);
        let rfc = proxies_writing(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        assert_eq!(rfc.client_of(peer, &forged), ip("2001:db8:cafe::17"));
        // Only the other header present: nothing forwarded, the proxy itself.
        let only_other = headers(&[("x-forwarded-for", "203.0.113.66")]);
        assert_eq!(rfc.client_of(peer, &only_other), peer);
        // A hop the proxy could not name stops the walk at that proxy.
        let unknown = headers(&[("forwarded", "for=198.51.100.7, for=unknown")]);
        assert_eq!(rfc.client_of(peer, &unknown), peer);
    }
}
