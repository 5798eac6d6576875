//! Which address a request is about when it names none: the peer, or, only when the peer is a
//! trusted proxy, the right-most untrusted hop of `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderValue;
use ipnet::IpNet;

use crate::http::error::ApiError;

/// The header proxies name the client in.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client's address: `X-Forwarded-For` (the values of every such header, in order, as one
/// list) is read right to left through trusted proxies, and the first untrusted address is the
/// client (the left-most when all are trusted). `None` when there is no peer (an in-process
/// call).
pub fn client_ip(
    peer: Option<SocketAddr>,
    forwarded: &[HeaderValue],
    trusted: &[IpNet],
) -> Result<Option<IpAddr>, ApiError> {
    let Some(peer) = peer.map(|peer| peer.ip().to_canonical()) else {
        return Ok(None);
    };
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Ok(Some(peer));
    }
    let hops: Vec<&str> = forwarded
        .iter()
        .map(|value| {
            value
                .to_str()
                .map_err(|_| ApiError::InvalidIp("X-Forwarded-For".into()))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut chosen = peer;
    for hop in hops.iter().rev() {
        let ip = parse_hop(hop).ok_or_else(|| ApiError::InvalidIp((*hop).to_owned()))?;
        chosen = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    Ok(Some(chosen))
}

/// An address as proxies write it: bare, with a port, or bracketed IPv6 with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    hop.parse::<SocketAddr>()
        .ok()
        .map(|addr| addr.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        peer: &str,
        forwarded: &[&str],
        trusted: &[&str],
    ) -> Result<Option<IpAddr>, ApiError> {
        let forwarded: Vec<HeaderValue> = forwarded
            .iter()
            .map(|value| HeaderValue::from_str(value).unwrap())
            .collect();
        let trusted: Vec<IpNet> = trusted.iter().map(|net| net.parse().unwrap()).collect();
        client_ip(Some(peer.parse().unwrap()), &forwarded, &trusted)
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            resolve("203.0.113.9:4000", &["198.51.100.1"], &[]),
            Ok(ip("203.0.113.9"))
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let got = resolve(
            "10.0.0.1:1",
            &["198.51.100.7, 203.0.113.5", "10.0.0.2"],
            &["10.0.0.0/8"],
        );
        assert_eq!(got, Ok(ip("203.0.113.5")));
    }

    #[test]
    fn all_trusted_hops_give_the_left_most() {
        let got = resolve("10.0.0.1:1", &["10.0.0.3, 10.0.0.2"], &["10.0.0.0/8"]);
        assert_eq!(got, Ok(ip("10.0.0.3")));
    }

    #[test]
    fn no_header_from_a_trusted_proxy_is_the_proxy() {
        assert_eq!(
            resolve("10.0.0.1:1", &[], &["10.0.0.0/8"]),
            Ok(ip("10.0.0.1"))
        );
    }

    #[test]
    fn an_unparsable_hop_is_invalid_ip() {
        let got = resolve("10.0.0.1:1", &["unknown"], &["10.0.0.0/8"]);
        assert_eq!(got, Err(ApiError::InvalidIp("unknown".into())));
    }

    #[test]
    fn hops_with_ports_and_brackets_are_read() {
        let got = resolve("10.0.0.1:1", &["[2001:db8::7]:443"], &["10.0.0.0/8"]);
        assert_eq!(got, Ok(ip("2001:db8::7")));
    }
}
