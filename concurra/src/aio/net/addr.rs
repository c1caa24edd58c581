//! Socket addresses, and host names resolved without blocking the loop.
//!
//! A numeric address (`"127.0.0.1"`, `"::1"`, a [`SocketAddr`]) is used as is. A host name
//! (`"localhost"`, `"example.org"`) is resolved by `getaddrinfo` on the loop's default thread
//! pool ([`to_thread`](crate::aio::to_thread)), as asyncio's `loop.getaddrinfo` runs it in the
//! default executor: the loop goes on meanwhile, and IPv4 and IPv6 answers are tried in the
//! order the resolver gives them.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs};

use crate::aio::to_thread;
use crate::error::{Error, Result};

/// Where to connect or bind: a socket address, or a host and a port.
///
/// Made from a [`SocketAddr`] (or its V4/V6 forms), `(IpAddr, u16)`, `(&str, u16)`,
/// `(String, u16)`, or `"host:port"` (`&str` or `String`; IPv6 as `"[::1]:8080"`), or several
/// socket addresses (a `Vec` or slice: asyncio's `create_server` host sequence; a server
/// listens on each, a connection tries them in turn).
#[derive(Clone, PartialEq, Eq)]
pub struct Target(Inner);

#[derive(Clone, PartialEq, Eq)]
enum Inner {
    Addr(SocketAddr),
    Addrs(Vec<SocketAddr>),
    Host(String, u16),
    /// A `"host:port"` string that did not parse; its error is reported when resolved.
    Bad(String),
}

impl Target {
    fn host(host: &str, port: u16) -> Target {
        match host.parse::<IpAddr>() {
            Ok(ip) => Target(Inner::Addr(SocketAddr::new(ip, port))),
            Err(_) => {
                // "[::1]" as a host is also accepted.
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                match bare.parse::<Ipv6Addr>() {
                    Ok(ip) => Target(Inner::Addr(SocketAddr::new(ip.into(), port))),
                    Err(_) => Target(Inner::Host(host.to_owned(), port)),
                }
            }
        }
    }

    fn parse(s: &str) -> Target {
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Target(Inner::Addr(addr));
        }
        match s.rsplit_once(':') {
            Some((host, port)) => match port.parse::<u16>() {
                Ok(port) => Target::host(host, port),
                Err(_) => Target(Inner::Bad(s.to_owned())),
            },
            None => Target(Inner::Bad(s.to_owned())),
        }
    }

    /// The addresses to try, in order; a host name is resolved on the default thread pool.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a string that is not `host:port`; [`Error::Io`] if the
    /// name does not resolve (or resolves to nothing).
    pub(crate) async fn resolve(self) -> Result<Vec<SocketAddr>> {
        match self.0 {
            Inner::Addr(addr) => Ok(vec![addr]),
            Inner::Addrs(addrs) if addrs.is_empty() => {
                Err(Error::InvalidArgument("no address given".into()))
            }
            Inner::Addrs(addrs) => Ok(addrs),
            Inner::Bad(s) => Err(Error::InvalidArgument(format!(
                "{s:?} is not an address of the form host:port"
            ))),
            Inner::Host(host, port) => {
                let what = format!("resolving {host}:{port}");
                let found = to_thread(move || (host.as_str(), port).to_socket_addrs()).await?;
                let addrs: Vec<SocketAddr> =
                    found.map_err(|e| Error::io(what.clone(), e))?.collect();
                if addrs.is_empty() {
                    return Err(Error::io(
                        what,
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no address found"),
                    ));
                }
                Ok(addrs)
            }
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Inner::Addr(a) => write!(f, "{a}"),
            Inner::Addrs(a) => write!(f, "{a:?}"),
            Inner::Host(h, p) => write!(f, "{h}:{p}"),
            Inner::Bad(s) => write!(f, "{s:?}"),
        }
    }
}

impl From<SocketAddr> for Target {
    fn from(a: SocketAddr) -> Target {
        Target(Inner::Addr(a))
    }
}

impl From<Vec<SocketAddr>> for Target {
    fn from(a: Vec<SocketAddr>) -> Target {
        Target(Inner::Addrs(a))
    }
}

impl From<&[SocketAddr]> for Target {
    fn from(a: &[SocketAddr]) -> Target {
        Target(Inner::Addrs(a.to_vec()))
    }
}

impl From<SocketAddrV4> for Target {
    fn from(a: SocketAddrV4) -> Target {
        Target(Inner::Addr(a.into()))
    }
}

impl From<SocketAddrV6> for Target {
    fn from(a: SocketAddrV6) -> Target {
        Target(Inner::Addr(a.into()))
    }
}

impl From<(IpAddr, u16)> for Target {
    fn from((ip, port): (IpAddr, u16)) -> Target {
        Target(Inner::Addr(SocketAddr::new(ip, port)))
    }
}

impl From<(Ipv4Addr, u16)> for Target {
    fn from((ip, port): (Ipv4Addr, u16)) -> Target {
        Target(Inner::Addr(SocketAddr::new(ip.into(), port)))
    }
}

impl From<(Ipv6Addr, u16)> for Target {
    fn from((ip, port): (Ipv6Addr, u16)) -> Target {
        Target(Inner::Addr(SocketAddr::new(ip.into(), port)))
    }
}

impl From<(&str, u16)> for Target {
    fn from((host, port): (&str, u16)) -> Target {
        Target::host(host, port)
    }
}

impl From<(String, u16)> for Target {
    fn from((host, port): (String, u16)) -> Target {
        Target::host(&host, port)
    }
}

impl From<&str> for Target {
    fn from(s: &str) -> Target {
        Target::parse(s)
    }
}

impl From<String> for Target {
    fn from(s: String) -> Target {
        Target::parse(&s)
    }
}

impl From<&String> for Target {
    fn from(s: &String) -> Target {
        Target::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_addresses_need_no_resolver() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(Target::from("127.0.0.1:80"), Target::from(v4));
        assert_eq!(Target::from(("127.0.0.1", 80)), Target::from(v4));
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(Target::from("[::1]:80"), Target::from(v6));
        assert_eq!(Target::from(("::1", 80)), Target::from(v6));
        assert_eq!(Target::from(("[::1]", 80)), Target::from(v6));
        assert!(matches!(Target::from("localhost:80").0, Inner::Host(..)));
        assert!(matches!(Target::from("nonsense").0, Inner::Bad(..)));
        let both = Target::from(vec![v4, v6]);
        assert_eq!(both, Target::from(&[v4, v6][..]));
        assert!(matches!(both.0, Inner::Addrs(ref a) if a == &[v4, v6]));
    }
}
