//! A fixed-window rate limiter per client (an address or a key). It lives in each replica's
//! memory: with N replicas a client may make up to N times the limit.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

pub struct RateLimiter {
    limit: u32,
    window: Duration,
    seen: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// At most `limit` requests a minute per client; 0 means no limit.
    pub fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            window: Duration::from_secs(60),
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request from `client`; `Err(seconds)` says how long until it may try again.
    pub fn check(&self, client: &str) -> Result<(), u64> {
        if self.limit == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() > 100_000 {
            seen.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = seen.entry(client.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let wait = self.window.saturating_sub(now.duration_since(entry.0));
            return Err(wait.as_secs().max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// The address a request came from, without its port: what per-address limits count by. Behind
/// a trusted reverse proxy (`--trusted-proxies`) it is the nearest address in `X-Forwarded-For`
/// that is not itself a trusted proxy; from anyone else the header is ignored.
pub fn client_address(req: &poem::Request, trusted: &[ipnet::IpNet]) -> String {
    let Some(peer) = req.remote_addr().as_socket_addr().map(|a| a.ip()) else {
        return req.remote_addr().to_string();
    };
    forwarded_client(
        peer,
        trusted,
        req.headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
    .to_string()
}

/// Walks `X-Forwarded-For` from the nearest hop back while the hop is a trusted proxy.
fn forwarded_client<'a>(
    peer: std::net::IpAddr,
    trusted: &[ipnet::IpNet],
    headers: impl DoubleEndedIterator<Item = &'a str>,
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = headers.flat_map(|h| h.split(',')).collect();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        let Ok(ip) = hop.trim().parse::<std::net::IpAddr>() else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}
