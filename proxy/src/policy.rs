//! Who the caller is and whether an API lets them in: the client address (the peer, or the
//! `X-Forwarded-For` entry a trusted proxy vouches for) and per-API resource policies of allowed
//! and denied addresses and CIDR blocks, deny winning, as AWS's `aws:SourceIp` conditions.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;

/// A policy entry that is neither an address nor a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or CIDR block")]
pub struct NotANet(String);

/// Parse an address or CIDR block (`10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`).
pub fn parse_net(text: &str) -> Result<IpNet, NotANet> {
    let text = text.trim();
    IpNet::from_str(text)
        .or_else(|_| IpAddr::from_str(text).map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| NotANet(text.to_string()))
}

fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    nets.iter().any(|net| net.contains(&ip))
}

/// An API's resource policy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourcePolicy {
    /// When not empty, only these may call.
    pub allow: Vec<IpNet>,
    /// These may never call.
    pub deny: Vec<IpNet>,
}

impl ResourcePolicy {
    /// Whether `ip` may call the API (an unknown address may only where nothing is allowed
    /// explicitly).
    pub fn permits(&self, ip: Option<IpAddr>) -> bool {
        match ip {
            Some(ip) => {
                !contains(&self.deny, ip) && (self.allow.is_empty() || contains(&self.allow, ip))
            }
            None => self.allow.is_empty() && self.deny.is_empty(),
        }
    }
}

/// Proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    /// The client's address: the peer, unless the peer is a trusted proxy, in which case the
    /// right-most `X-Forwarded-For` entry that is not itself a trusted proxy (a client can put
    /// anything at the left of that header, so entries are read from the right). The header
    /// is looked up only for a trusted peer.
    pub fn client_ip<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl FnOnce() -> Option<&'a str>,
    ) -> IpAddr {
        let peer = peer.to_canonical();
        if !contains(&self.0, peer) {
            return peer;
        }
        let Some(header) = forwarded_for() else {
            return peer;
        };
        let mut client = peer;
        for entry in header.rsplit(',') {
            let Ok(ip) = IpAddr::from_str(entry.trim()) else {
                break;
            };
            client = ip.to_canonical();
            if !contains(&self.0, client) {
                break;
            }
        }
        client
    }
}

/// AWS's message for a caller the resource policy refuses.
pub fn denied_message(api: &str, stage: &str, method: &str, path: &str) -> String {
    format!(
        "User: anonymous is not authorized to perform: execute-api:Invoke on resource: \
         arn:wasmgate:execute-api:local:{api}/{stage}/{method}{path}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| parse_net(n).unwrap()).collect()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn deny_wins_and_allow_lists_restrict() {
        let policy = ResourcePolicy {
            allow: nets(&["10.0.0.0/8", "2001:db8::/32"]),
            deny: nets(&["10.0.0.7", "2001:db8:bad::/48"]),
        };
        assert!(policy.permits(ip("10.1.2.3")));
        assert!(!policy.permits(ip("10.0.0.7")));
        assert!(!policy.permits(ip("192.0.2.1")));
        assert!(policy.permits(ip("2001:db8:1::1")));
        assert!(!policy.permits(ip("2001:db8:bad::1")));
        assert!(policy.permits(ip("::ffff:10.9.9.9")), "v4-mapped v6 is v4");
        assert!(!policy.permits(None));
        assert!(ResourcePolicy::default().permits(None));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies(nets(&["127.0.0.1", "10.0.0.0/8"]));
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let spoofed = "6.6.6.6, 203.0.113.9, 10.0.0.2";
        assert_eq!(
            trusted.client_ip(peer, || Some(spoofed)),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let outsider: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(trusted.client_ip(outsider, || Some(spoofed)), outsider);
        assert_eq!(trusted.client_ip(peer, || Some("garbage")), peer);
        assert!(parse_net("300.1.1.1").is_err());
        assert_eq!(parse_net("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
    }
}
