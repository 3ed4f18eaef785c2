//! Networks an API key may be used from (`allowed_cidrs`), and the client
//! address a request came from.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::Error;

/// Most networks a key may list.
pub const MAX_NETWORKS: usize = 32;

/// A key's allowed networks; empty means anywhere.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Networks(Box<[IpNet]>);

impl Networks {
    /// Checks a request's list: at most [`MAX_NETWORKS`] CIDRs (a bare
    /// address is its /32 or /128). INVALID_ARGUMENT names the bad entry.
    pub fn parse(field: &str, entries: &[String]) -> Result<Self, Error> {
        if entries.len() > MAX_NETWORKS {
            return Err(Error::invalid(
                field,
                format!("at most {MAX_NETWORKS} networks (got {})", entries.len()),
            ));
        }
        let nets = entries
            .iter()
            .map(|entry| {
                parse_one(entry).ok_or_else(|| {
                    Error::invalid(
                        field,
                        format!(
                            "{:?} is not an IPv4 or IPv6 CIDR (e.g. 10.0.0.0/8)",
                            entry.chars().take(60).collect::<String>()
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(nets.into()))
    }

    /// The stored form (comma-separated) back; entries that do not parse
    /// are dropped, and if all were, nothing is allowed (never "anywhere").
    pub fn from_stored(stored: Option<&str>) -> Self {
        match stored.filter(|s| !s.is_empty()) {
            None => Self::default(),
            Some(s) => {
                let nets: Vec<IpNet> = s.split(',').filter_map(parse_one).collect();
                if nets.is_empty() {
                    // Unreadable: refuse everywhere rather than open up.
                    return Self(vec!["0.0.0.0/32".parse().expect("valid")].into());
                }
                Self(nets.into())
            }
        }
    }

    /// The stored form; `None` when empty.
    pub fn to_stored(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.names().join(","))
    }

    /// The networks in canonical CIDR form.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    /// Whether any network is listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a call from `addr` is allowed (`None`: unknown address,
    /// allowed only when no network is listed).
    pub fn allows(&self, addr: Option<IpAddr>) -> bool {
        if self.0.is_empty() {
            return true;
        }
        let Some(addr) = addr.map(canonical) else {
            return false;
        };
        self.0.iter().any(|net| net.contains(&addr))
    }

    /// Whether `addr` is in one of the networks (empty: in none).
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }
}

/// One network as given on the command line (`--trusted-proxies`): a CIDR
/// or a bare address (its /32 or /128).
pub fn parse_network(entry: &str) -> Result<IpNet, String> {
    parse_one(entry).ok_or_else(|| {
        format!(
            "{:?} is not an IPv4 or IPv6 CIDR (e.g. 10.0.0.0/8)",
            entry.chars().take(60).collect::<String>()
        )
    })
}

impl From<Vec<IpNet>> for Networks {
    /// Networks parsed already (settings); no limit on their number.
    fn from(nets: Vec<IpNet>) -> Self {
        Self(nets.into())
    }
}

fn parse_one(entry: &str) -> Option<IpNet> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .ok()
        .or_else(|| entry.parse::<IpAddr>().ok().map(IpNet::from))
        .map(|net| net.trunc())
}

/// An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`, what a dual-stack
/// listener reports) as the IPv4 address it is.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address of a request: the TCP peer, unless the peer is a
/// trusted proxy, in which case the right-most `x-forwarded-for` entry
/// that is not itself a trusted proxy (the address the nearest untrusted
/// hop connected from). `None` if the header is present from a trusted
/// proxy but unreadable.
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&[u8]>,
    trusted_proxies: &Networks,
) -> Option<IpAddr> {
    let peer = peer?;
    if trusted_proxies.is_empty() || !trusted_proxies.contains(peer) {
        return Some(peer);
    }
    let Some(header) = forwarded_for else {
        return Some(peer);
    };
    let header = std::str::from_utf8(header).ok()?;
    let mut hops = header.rsplit(',').map(str::trim);
    let mut last = None;
    for hop in &mut hops {
        let addr: IpAddr = hop.parse().ok()?;
        last = Some(addr);
        if !trusted_proxies.contains(addr) {
            return Some(addr);
        }
    }
    last.or(Some(peer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Networks {
        let owned: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
        Networks::parse("allowed_cidrs", &owned).unwrap()
    }

    #[test]
    fn membership() {
        let n = nets(&["10.0.0.0/8", "2001:db8::/32", "127.0.0.1"]);
        assert!(n.allows(Some("10.1.2.3".parse().unwrap())));
        assert!(n.allows(Some("::ffff:10.1.2.3".parse().unwrap())));
        assert!(n.allows(Some("127.0.0.1".parse().unwrap())));
        assert!(!n.allows(Some("127.0.0.2".parse().unwrap())));
        assert!(n.allows(Some("2001:db8::1".parse().unwrap())));
        assert!(!n.allows(None));
        assert!(Networks::default().allows(None));
        assert_eq!(Networks::from_stored(n.to_stored().as_deref()), n);
        assert!(!Networks::from_stored(Some("garbage")).allows(Some("1.2.3.4".parse().unwrap())));
    }

    #[test]
    fn bad_lists_are_refused() {
        let too_many: Vec<String> = (0..33).map(|i| format!("10.0.0.{i}")).collect();
        assert!(Networks::parse("c", &too_many).is_err());
        assert!(Networks::parse("c", &["10.0.0.0/33".into()]).is_err());
        assert!(Networks::parse("c", &["nope".into()]).is_err());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let proxies = nets(&["10.0.0.0/8"]);
        let peer = |s: &str| Some(s.parse().unwrap());
        let xff = Some(&b"203.0.113.9, 10.0.0.2"[..]);
        assert_eq!(
            client_address(peer("10.0.0.1"), xff, &proxies),
            peer("203.0.113.9")
        );
        assert_eq!(
            client_address(peer("192.0.2.1"), xff, &proxies),
            peer("192.0.2.1")
        );
        assert_eq!(
            client_address(peer("10.0.0.1"), None, &proxies),
            peer("10.0.0.1")
        );
        assert_eq!(
            client_address(peer("10.0.0.1"), Some(b"junk"), &proxies),
            None
        );
        assert_eq!(
            client_address(peer("10.0.0.1"), xff, &Networks::default()),
            peer("10.0.0.1")
        );
    }
}
