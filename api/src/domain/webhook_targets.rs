//! Where webhooks may be sent. A subscription's URL is checked when it is registered and again
//! at every send, after DNS resolution: an address that is loopback, private, link-local (cloud
//! metadata lives there), unique-local, carrier-grade NAT, multicast, reserved or unspecified is
//! refused, unless the operator allows that host (`--webhook-allow-hosts`: names, addresses or
//! CIDRs). `https://` is required unless the operator allows `http://`. Deliveries follow no
//! redirects and connect only to addresses that passed the check, so a name that changes its
//! answer between the check and the connection (DNS rebinding) gains nothing.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use ipnet::IpNet;
use reqwest::{
    Url,
    dns::{Addrs, Name, Resolve, Resolving},
};

use crate::config::Config;

/// The operator's rules for webhook targets.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    allow_http: bool,
    hosts: Vec<String>,
    nets: Vec<IpNet>,
}

/// Why an address may not be a webhook target, if it may not.
fn internal(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if first & 0xfe00 == 0xfc00 {
                Some("unique-local")
            } else if first & 0xffc0 == 0xfe80 || first & 0xffc0 == 0xfec0 {
                Some("link-local")
            } else if first & 0xff00 == 0xff00 {
                Some("multicast")
            } else if v6.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // NAT64: the IPv4 address it carries decides.
                let [a, b] = v6.segments()[6].to_be_bytes();
                let [c, d] = v6.segments()[7].to_be_bytes();
                internal_v4(Ipv4Addr::new(a, b, c, d))
            } else {
                None
            }
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("carrier-grade NAT")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else if a == 192 && b == 0 && c == 0 {
        Some("reserved")
    } else {
        None
    }
}

impl Targets {
    pub fn from_config(config: &Config) -> Self {
        let mut targets = Self {
            allow_http: config.webhook_allow_http,
            ..Self::default()
        };
        for entry in &config.webhook_allow_hosts {
            let entry = entry.trim().trim_start_matches('[').trim_end_matches(']');
            if let Ok(net) = entry.parse::<IpNet>() {
                targets.nets.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                targets.nets.push(IpNet::from(ip));
            } else {
                targets.hosts.push(entry.to_lowercase());
            }
        }
        targets
    }

    fn host_allowed(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Why `ip` may not be reached, if it may not.
    fn refuse_address(&self, ip: IpAddr) -> Option<&'static str> {
        if self.nets.iter().any(|net| net.contains(&ip)) {
            return None;
        }
        internal(ip)
    }

    /// Checks a URL's form and scheme, and, for a literal address, the address. A name is
    /// checked when it is resolved ([`Self::check`] at registration, the resolver at sending).
    fn check_form(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(
                    "must use https (this service does not send webhooks over http)".into(),
                );
            }
            _ => return Err("must be an absolute https URL".into()),
        }
        match url.host() {
            None => Err("must be an absolute https URL".into()),
            Some(url::Host::Domain(name)) if self.host_allowed(name) => Ok(()),
            Some(url::Host::Domain(_)) => Ok(()),
            Some(url::Host::Ipv4(ip)) => self.address(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.address(IpAddr::V6(ip)),
        }
    }

    fn address(&self, ip: IpAddr) -> Result<(), String> {
        match self.refuse_address(ip) {
            Some(kind) => Err(format!(
                "points at a {kind} address ({ip}); webhooks are sent only to public addresses"
            )),
            None => Ok(()),
        }
    }

    /// Checks a URL being registered: its form, and every address its name resolves to now. A
    /// name that does not resolve yet is accepted (each send checks again).
    pub async fn check(&self, url: &Url) -> Result<(), String> {
        self.check_form(url)?;
        let Some(url::Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        if self.host_allowed(name) {
            return Ok(());
        }
        let lookup = tokio::time::timeout(
            Duration::from_secs(3),
            tokio::net::lookup_host((name, url.port_or_known_default().unwrap_or(443))),
        )
        .await;
        if let Ok(Ok(addrs)) = lookup {
            for addr in addrs {
                self.address(addr.ip())
                    .map_err(|e| format!("{name} resolves to an address that {e}"))?;
            }
        }
        Ok(())
    }

    /// Checks a URL just before a delivery (its form and a literal address; names are checked
    /// by the client's resolver).
    pub fn check_before_sending(&self, url: &str) -> Result<(), String> {
        let url = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        self.check_form(&url)
    }

    /// The HTTP client deliveries use: no redirects, and a resolver that gives only the
    /// addresses [`Self::refuse_address`] lets through.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(Checked(Arc::new(self.clone()))))
            .user_agent(concat!("Cascade-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    }
}

/// Resolves names and keeps only the addresses webhooks may reach.
struct Checked(Arc<Targets>);

impl Resolve for Checked {
    fn resolve(&self, name: Name) -> Resolving {
        let targets = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = if targets.host_allowed(&host) {
                found
            } else {
                found
                    .into_iter()
                    .filter(|a| targets.refuse_address(a.ip()).is_none())
                    .collect()
            };
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves only to internal addresses; webhooks are sent only to \
                     public addresses"
                )
                .into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_named_and_public_ones_pass() {
        for (ip, kind) in [
            ("127.0.0.1", Some("loopback")),
            ("10.1.2.3", Some("private")),
            ("172.16.0.1", Some("private")),
            ("192.168.1.1", Some("private")),
            ("169.254.169.254", Some("link-local")),
            ("100.64.0.1", Some("carrier-grade NAT")),
            ("0.0.0.0", Some("unspecified")),
            ("::1", Some("loopback")),
            ("fd00:ec2::254", Some("unique-local")),
            ("fe80::1", Some("link-local")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("64:ff9b::a00:1", Some("private")),
            ("93.184.216.34", None),
            ("2606:2800:220:1:248:1893:25c8:1946", None),
        ] {
            assert_eq!(internal(ip.parse().expect("ip")), kind, "{ip}");
        }
    }
}
