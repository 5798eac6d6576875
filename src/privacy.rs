//! `TruncatedIp`: the only form in which a client address may reach a log line (SPEC §7).
//!
//! IPv4 keeps its /24 and IPv6 its /48; the rest is zeroed before the value exists, so no
//! formatting path can leak the full address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An address cut to its /24 (IPv4) or /48 (IPv6) network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TruncatedIp(IpAddr);

impl TruncatedIp {
    /// Truncates `ip`; an IPv4-mapped IPv6 address is truncated as the IPv4 address it carries.
    pub fn new(ip: IpAddr) -> TruncatedIp {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                TruncatedIp(IpAddr::V4(Ipv4Addr::new(a, b, c, 0)))
            }
            IpAddr::V6(v6) => {
                // A 6to4 address (2002::/16) carries a whole IPv4 address in bits 16..48:
                // keep only its /24, as for IPv4 itself.
                let keep = if v6.segments()[0] == 0x2002 { 40 } else { 48 };
                let bits = u128::from(v6) & !((1u128 << (128 - keep)) - 1);
                TruncatedIp(IpAddr::V6(Ipv6Addr::from(bits)))
            }
        }
    }
}

impl fmt::Display for TruncatedIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}/24"),
            IpAddr::V6(v6) if v6.segments()[0] == 0x2002 => write!(f, "{v6}/40"),
            IpAddr::V6(v6) => write!(f, "{v6}/48"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truncated(ip: &str) -> String {
        TruncatedIp::new(ip.parse().unwrap()).to_string()
    }

    #[test]
    fn ipv4_keeps_its_slash_24() {
        assert_eq!(truncated("203.0.113.77"), "203.0.113.0/24");
    }

    #[test]
    fn ipv6_keeps_its_slash_48() {
        assert_eq!(
            truncated("2001:db8:abcd:1234:5678::9"),
            "2001:db8:abcd::/48"
        );
    }

    #[test]
    fn six_to_four_addresses_keep_only_the_slash_24_they_carry() {
        // 2002:cb00:714d:: carries 203.0.113.77.
        assert_eq!(truncated("2002:cb00:714d:1::1"), "2002:cb00:7100::/40");
    }

    #[test]
    fn mapped_addresses_truncate_as_ipv4() {
        assert_eq!(truncated("::ffff:198.51.100.99"), "198.51.100.0/24");
    }
}
