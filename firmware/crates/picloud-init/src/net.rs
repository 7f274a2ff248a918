//! The network policy of one interface: DHCP first; when no server answers in time, an
//! RFC 3927 link-local address while DHCP keeps asking; a late lease replaces the
//! link-local address. Pure: frames in, actions out; the adapter (`sys::netif`) does I/O.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::dhcp::{self, DhcpAction, DhcpClient, DhcpTiming, Lease, Message};
use crate::linklocal::{Arp, LinkLocal, LinkLocalAction, LinkLocalTiming};

/// How the interface got its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressSource {
    /// A DHCP lease.
    Dhcp,
    /// RFC 3927 link-local.
    LinkLocal,
}

impl AddressSource {
    /// `dhcp` / `link-local`.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressSource::Dhcp => "dhcp",
            AddressSource::LinkLocal => "link-local",
        }
    }
}

/// The interface's current IPv4 configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// The address.
    pub ip: Ipv4Addr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Where it came from.
    pub source: AddressSource,
    /// Default gateway (DHCP only).
    pub router: Option<Ipv4Addr>,
    /// DNS servers (DHCP only).
    pub dns: Vec<Ipv4Addr>,
}

/// What the adapter must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetAction {
    /// Send an IPv4 datagram (already framed) to the Ethernet broadcast address.
    SendIp(Vec<u8>),
    /// Send an ARP packet to the Ethernet broadcast address.
    SendArp(Vec<u8>),
    /// Add the address (and the default route when it has a router).
    Configure(Address),
    /// Remove the address (its routes go with it).
    Deconfigure {
        /// The address.
        ip: Ipv4Addr,
        /// Its prefix length.
        prefix_len: u8,
    },
}

/// DHCP plus link-local for one interface.
#[derive(Debug, Clone)]
pub struct Network {
    dhcp: DhcpClient,
    ll: LinkLocal,
    lease: Option<Lease>,
}

impl Network {
    /// A network for the interface with `mac`; `seed` is randomness for DHCP xids.
    pub fn new(mac: [u8; 6], dhcp: DhcpTiming, ll: LinkLocalTiming, seed: u64) -> Network {
        Network {
            dhcp: DhcpClient::new(mac, dhcp, seed),
            ll: LinkLocal::new(mac, ll),
            lease: None,
        }
    }

    /// The address in use: the lease, else the link-local address.
    pub fn address(&self) -> Option<Address> {
        if let Some(l) = &self.lease {
            return Some(Address {
                ip: l.address,
                prefix_len: l.prefix_len,
                source: AddressSource::Dhcp,
                router: l.router,
                dns: l.dns.clone(),
            });
        }
        self.ll.address().map(|ip| Address {
            ip,
            prefix_len: 16,
            source: AddressSource::LinkLocal,
            router: None,
            dns: Vec::new(),
        })
    }

    /// The DHCP client's state name.
    pub fn dhcp_state(&self) -> &'static str {
        self.dhcp.state_name()
    }

    /// The next time [`Network::poll`] has work.
    pub fn next_deadline(&self) -> Duration {
        let d = self.dhcp.next_deadline();
        match self.ll.next_deadline() {
            Some(l) => d.min(l),
            None => d,
        }
    }

    /// Timers.
    pub fn poll(&mut self, now: Duration) -> Vec<NetAction> {
        let d = self.dhcp.poll(now);
        let mut out = self.dhcp_actions(now, d);
        let l = self.ll.poll(now);
        out.extend(self.ll_actions(l));
        out
    }

    /// The link came back (carrier up after being down: a cable was plugged in, possibly
    /// into another network). Everything is dropped and asked for again: the link-local
    /// address goes, the lease is released locally and DISCOVER starts over.
    pub fn link_restored(&mut self, now: Duration) -> Vec<NetAction> {
        let ll = self.ll.stop();
        let mut out = self.ll_actions(ll);
        let d = self.dhcp.restart(now);
        out.extend(self.dhcp_actions(now, d));
        out
    }

    /// An IPv4 datagram arrived on the interface.
    pub fn on_ip(&mut self, now: Duration, packet: &[u8]) -> Vec<NetAction> {
        let Some(payload) = dhcp::udp_payload(packet, dhcp::CLIENT_PORT) else {
            return Vec::new();
        };
        let Ok(m) = Message::decode(payload) else {
            return Vec::new();
        };
        let d = self.dhcp.on_message(now, &m);
        self.dhcp_actions(now, d)
    }

    /// An ARP packet arrived on the interface.
    pub fn on_arp(&mut self, now: Duration, packet: &[u8]) -> Vec<NetAction> {
        let Some(arp) = Arp::decode(packet) else {
            return Vec::new();
        };
        let l = self.ll.on_arp(now, &arp);
        self.ll_actions(l)
    }

    fn dhcp_actions(&mut self, now: Duration, actions: Vec<DhcpAction>) -> Vec<NetAction> {
        let mut out = Vec::new();
        for a in actions {
            match a {
                DhcpAction::Send { payload, src, dst } => out.push(NetAction::SendIp(
                    dhcp::ipv4_udp(src, dst, dhcp::CLIENT_PORT, dhcp::SERVER_PORT, &payload),
                )),
                DhcpAction::Bind(lease) => {
                    let ll = self.ll.stop();
                    out.extend(self.ll_actions(ll));
                    self.lease = Some(lease);
                    if let Some(addr) = self.address() {
                        out.push(NetAction::Configure(addr));
                    }
                }
                DhcpAction::Unbind(ip) => {
                    let prefix_len = self.lease.as_ref().map_or(24, |l| l.prefix_len);
                    self.lease = None;
                    out.push(NetAction::Deconfigure { ip, prefix_len });
                }
                DhcpAction::NoServer => {
                    if self.lease.is_none() {
                        let l = self.ll.start(now);
                        out.extend(self.ll_actions(l));
                    }
                }
            }
        }
        out
    }

    fn ll_actions(&self, actions: Vec<LinkLocalAction>) -> Vec<NetAction> {
        actions
            .into_iter()
            .map(|a| match a {
                LinkLocalAction::SendArp(p) => NetAction::SendArp(p.encode()),
                LinkLocalAction::Configure(ip) => NetAction::Configure(Address {
                    ip,
                    prefix_len: 16,
                    source: AddressSource::LinkLocal,
                    router: None,
                    dns: Vec::new(),
                }),
                LinkLocalAction::Deconfigure(ip) => NetAction::Deconfigure { ip, prefix_len: 16 },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::MessageType;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 9];

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    fn dhcp_of(a: &NetAction) -> Option<Message> {
        match a {
            NetAction::SendIp(p) => Message::decode(dhcp::udp_payload(p, 67)?).ok(),
            _ => None,
        }
    }

    #[test]
    fn falls_back_to_link_local_then_a_late_lease_replaces_it() {
        let mut n = Network::new(MAC, DhcpTiming::default(), LinkLocalTiming::default(), 9);
        let mut acts = Vec::new();
        let mut t = 0;
        while t <= 30_000 {
            acts.extend(n.poll(ms(t)));
            t += 100;
        }
        let ll = n.address().unwrap();
        assert_eq!(ll.source, AddressSource::LinkLocal);
        assert!(acts.contains(&NetAction::Configure(ll.clone())));
        assert!(acts.iter().any(|a| matches!(a, NetAction::SendArp(_))));
        // DHCP kept asking; a server appears.
        let disc = acts.iter().rev().find_map(dhcp_of).unwrap();
        let mut offer = Message::request(MessageType::Offer, disc.xid, MAC);
        offer.op = 2;
        offer.yiaddr = Ipv4Addr::new(10, 1, 0, 50);
        offer.server_id = Some(Ipv4Addr::new(10, 1, 0, 1));
        let server_frame = |m: &Message| {
            dhcp::ipv4_udp(
                Ipv4Addr::new(10, 1, 0, 1),
                Ipv4Addr::BROADCAST,
                67,
                68,
                &m.encode(),
            )
        };
        let a = n.on_ip(ms(30_100), &server_frame(&offer));
        let req = a.iter().find_map(dhcp_of).unwrap();
        assert_eq!(req.kind, Some(MessageType::Request));
        let mut ack = offer.clone();
        ack.kind = Some(MessageType::Ack);
        ack.subnet_mask = Some(Ipv4Addr::new(255, 255, 0, 0));
        ack.routers = vec![Ipv4Addr::new(10, 1, 0, 1)];
        let a = n.on_ip(ms(30_200), &server_frame(&ack));
        assert_eq!(
            a[0],
            NetAction::Deconfigure {
                ip: ll.ip,
                prefix_len: 16
            }
        );
        let NetAction::Configure(addr) = &a[1] else {
            panic!("{a:?}")
        };
        assert_eq!(addr.ip, Ipv4Addr::new(10, 1, 0, 50));
        assert_eq!(addr.prefix_len, 16);
        assert_eq!(addr.source, AddressSource::Dhcp);
        assert_eq!(addr.router, Some(Ipv4Addr::new(10, 1, 0, 1)));
        assert_eq!(n.address().unwrap().source, AddressSource::Dhcp);
    }

    #[test]
    fn link_restored_drops_the_address_and_asks_again() {
        let mut n = Network::new(MAC, DhcpTiming::default(), LinkLocalTiming::default(), 9);
        let mut t = 0;
        while t <= 30_000 {
            n.poll(ms(t));
            t += 100;
        }
        let ll = n.address().unwrap();
        let a = n.link_restored(ms(30_100));
        assert_eq!(
            a[0],
            NetAction::Deconfigure {
                ip: ll.ip,
                prefix_len: 16
            }
        );
        assert_eq!(
            a.iter().filter_map(dhcp_of).next().unwrap().kind,
            Some(MessageType::Discover)
        );
        assert_eq!(n.address(), None);
        // And the fallback timer starts over: link-local again 10 s later, not at once.
        let mut later = Vec::new();
        for t in (30_200..=39_000).step_by(100) {
            later.extend(n.poll(ms(t)));
        }
        assert!(!later.iter().any(|a| matches!(a, NetAction::SendArp(_))));
    }

    #[test]
    fn garbage_frames_are_ignored() {
        let mut n = Network::new(MAC, DhcpTiming::default(), LinkLocalTiming::default(), 9);
        assert!(n.on_ip(ms(0), &[0x45; 60]).is_empty());
        assert!(n.on_arp(ms(0), &[1, 2, 3]).is_empty());
    }
}
