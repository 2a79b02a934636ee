//! Free loopback ports for servers a test starts.

/// A loopback port nothing listens on right now (the probe socket is closed on return).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
