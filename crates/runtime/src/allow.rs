//! Allow-lists of client networks.

use std::net::IpAddr;

use ipnet::IpNet;

/// True when `ip` is in one of `nets`; an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, as a
/// dual-stack socket reports IPv4 peers) counts as the IPv4 address.
pub fn in_networks(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    nets.iter().any(|net| net.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_matches_v4_mapped_addresses() {
        let nets: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()];
        assert!(in_networks(&nets, "127.0.0.1".parse().unwrap()));
        assert!(in_networks(&nets, "::ffff:127.0.0.2".parse().unwrap()));
        assert!(in_networks(&nets, "::1".parse().unwrap()));
        assert!(!in_networks(&nets, "192.0.2.1".parse().unwrap()));
        assert!(!in_networks(&nets, "::ffff:192.0.2.1".parse().unwrap()));
        assert!(!in_networks(&[], "127.0.0.1".parse().unwrap()));
    }
}
