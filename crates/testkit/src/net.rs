//! Loopback addresses for servers a test starts itself.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

/// A loopback address whose port was free a moment ago: bound to port 0 and released at
/// once, for a server started after (the daemon, clamd, `smtp-sink`) or for an address where
/// nothing listens. Another process may take the port in between; tests accept that race.
/// A server the test runs in its own process binds port 0 itself and keeps the listener
/// (as [`Sink`](crate::Sink) does).
pub fn free_addr() -> SocketAddr {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .expect("bind a free loopback port")
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_free_address_is_on_loopback_and_can_be_bound() {
        let addr = super::free_addr();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        std::net::TcpListener::bind(addr).expect("still free");
    }
}
