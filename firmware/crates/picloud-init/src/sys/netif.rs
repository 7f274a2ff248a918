//! Network adapters: interface lookup and link up (ioctl), `AF_PACKET` sockets for DHCP and
//! ARP (the interface has no address while DHCP runs), rtnetlink for addresses and routes,
//! and [`run`], the loop that drives [`crate::net::Network`].

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{io_error, last_error, Clock, SysError, SysResult};
use crate::dhcp::DhcpTiming;
use crate::linklocal::LinkLocalTiming;
use crate::net::{Address, NetAction, Network};
use crate::netlink;

const ETH_P_IP: u16 = 0x0800;
const ETH_P_ARP: u16 = 0x0806;

fn ifreq(name: &str) -> SysResult<[u8; 40]> {
    let mut r = [0u8; 40];
    if name.is_empty() || name.len() >= 16 {
        return Err(SysError {
            what: format!("interface name {name:?}"),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    }
    if let Some(dst) = r.get_mut(..name.len()) {
        dst.copy_from_slice(name.as_bytes());
    }
    Ok(r)
}

fn socket(
    domain: libc::c_int,
    kind: libc::c_int,
    proto: libc::c_int,
    what: &str,
) -> SysResult<OwnedFd> {
    // SAFETY: plain integer arguments.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(last_error(what.to_owned()));
    }
    // SAFETY: `fd` is a freshly created descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ioctl_ifreq(fd: &OwnedFd, req: libc::c_ulong, r: &mut [u8; 40], what: &str) -> SysResult<()> {
    // SAFETY: `r` is a 40-byte buffer laid out as `struct ifreq` (name + union).
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), req as _, r.as_mut_ptr()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(last_error(what.to_owned()))
    }
}

/// An interface's index, MAC address, and whether it is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// `ifindex`.
    pub index: u32,
    /// Hardware address.
    pub mac: [u8; 6],
}

/// Looks `name` up and brings it up (in the calling thread's network namespace).
pub fn link_up(name: &str) -> SysResult<Interface> {
    let s = socket(libc::AF_INET, libc::SOCK_DGRAM, 0, "socket(AF_INET)")?;
    let mut r = ifreq(name)?;
    ioctl_ifreq(
        &s,
        libc::SIOCGIFINDEX as _,
        &mut r,
        &format!("find interface {name}"),
    )?;
    let index = u32::from_ne_bytes(
        r.get(16..20)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 4]),
    );
    let mut r = ifreq(name)?;
    ioctl_ifreq(
        &s,
        libc::SIOCGIFHWADDR as _,
        &mut r,
        &format!("MAC address of {name}"),
    )?;
    let mut mac = [0u8; 6];
    // struct sockaddr: family (2 bytes) then sa_data.
    mac.copy_from_slice(r.get(18..24).unwrap_or(&[0; 6]));
    let mut r = ifreq(name)?;
    ioctl_ifreq(
        &s,
        libc::SIOCGIFFLAGS as _,
        &mut r,
        &format!("flags of {name}"),
    )?;
    let flags = i16::from_ne_bytes([r[16], r[17]]);
    let up = flags | libc::IFF_UP as i16;
    if up != flags {
        r[16..18].copy_from_slice(&up.to_ne_bytes());
        ioctl_ifreq(
            &s,
            libc::SIOCSIFFLAGS as _,
            &mut r,
            &format!("bring {name} up"),
        )?;
    }
    Ok(Interface { index, mac })
}

/// Whether the interface reports carrier (`IFF_RUNNING`).
pub fn link_running(name: &str) -> SysResult<bool> {
    let s = socket(libc::AF_INET, libc::SOCK_DGRAM, 0, "socket(AF_INET)")?;
    let mut r = ifreq(name)?;
    ioctl_ifreq(
        &s,
        libc::SIOCGIFFLAGS as _,
        &mut r,
        &format!("flags of {name}"),
    )?;
    let flags = i16::from_ne_bytes([r[16], r[17]]);
    Ok(flags & libc::IFF_RUNNING as i16 != 0)
}

/// Brings the loopback interface up.
pub fn loopback_up() -> SysResult<()> {
    link_up("lo").map(|_| ())
}

/// An `AF_PACKET`/`SOCK_DGRAM` socket for one EtherType on one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    index: u32,
    proto: u16,
}

impl PacketSocket {
    /// Opens and binds it.
    pub fn open(index: u32, proto: u16) -> SysResult<PacketSocket> {
        let fd = socket(
            libc::AF_PACKET,
            libc::SOCK_DGRAM | libc::SOCK_NONBLOCK,
            i32::from(proto.to_be()),
            "socket(AF_PACKET)",
        )?;
        let sll = sockaddr_ll(index, proto, [0; 6]);
        // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(last_error(format!(
                "bind packet socket to interface {index}"
            )));
        }
        Ok(PacketSocket { fd, index, proto })
    }

    /// Sends `payload` to the Ethernet broadcast address.
    pub fn send_broadcast(&self, payload: &[u8]) -> SysResult<()> {
        let sll = sockaddr_ll(self.index, self.proto, [0xff; 6]);
        // SAFETY: the buffer and sockaddr are valid for the given lengths.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if r < 0 {
            Err(last_error("send on packet socket"))
        } else {
            Ok(())
        }
    }

    /// Receives one frame's payload, `None` when nothing is queued. Frames we sent
    /// ourselves (`PACKET_OUTGOING`) are skipped.
    pub fn recv(&self) -> SysResult<Option<Vec<u8>>> {
        let mut buf = vec![0u8; 2048];
        loop {
            // SAFETY: sockaddr_ll is plain data.
            let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: `buf` and `from` are valid writable buffers of the given sizes.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut from as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                return match e.kind() {
                    std::io::ErrorKind::WouldBlock => Ok(None),
                    std::io::ErrorKind::Interrupted => continue,
                    _ => Err(io_error("receive on packet socket", e)),
                };
            }
            if from.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            buf.truncate(n as usize);
            return Ok(Some(buf));
        }
    }

    /// The raw fd, for `poll`.
    pub fn raw_fd(&self) -> libc::c_int {
        self.fd.as_raw_fd()
    }
}

fn sockaddr_ll(index: u32, proto: u16, addr: [u8; 6]) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto.to_be();
    sll.sll_ifindex = index as i32;
    sll.sll_halen = 6;
    for (d, s) in sll.sll_addr.iter_mut().zip(addr) {
        *d = s;
    }
    sll
}

/// A `NETLINK_ROUTE` socket.
#[derive(Debug)]
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

impl Rtnl {
    /// Opens it.
    pub fn open() -> SysResult<Rtnl> {
        let fd = socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW,
            libc::NETLINK_ROUTE,
            "socket(AF_NETLINK)",
        )?;
        Ok(Rtnl { fd, seq: 1 })
    }

    fn request(&mut self, build: impl FnOnce(u32) -> Vec<u8>, what: &str) -> SysResult<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let msg = build(seq);
        // SAFETY: `msg` is a valid buffer; no destination address (the kernel is the peer).
        let r = unsafe { libc::send(self.fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
        if r < 0 {
            return Err(last_error(what.to_owned()));
        }
        let mut buf = vec![0u8; 8192];
        for _ in 0..16 {
            // Bounded wait: the kernel answers synchronously.
            if !super::poll_readable(&[self.fd.as_raw_fd()], Duration::from_secs(2))?
                .first()
                .copied()
                .unwrap_or(false)
            {
                break;
            }
            // SAFETY: `buf` is a writable buffer of its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(last_error(what.to_owned()));
            }
            match netlink::parse_ack(buf.get(..n as usize).unwrap_or(&[]), seq) {
                Some(Ok(())) => return Ok(()),
                Some(Err(errno)) => {
                    return Err(io_error(
                        what.to_owned(),
                        std::io::Error::from_raw_os_error(errno),
                    ))
                }
                None => continue,
            }
        }
        Err(io_error(
            what.to_owned(),
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no netlink answer"),
        ))
    }

    /// Adds `ip/prefix` to interface `index`.
    pub fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> SysResult<()> {
        self.request(
            |s| netlink::new_addr(s, index, ip, prefix),
            &format!("add {ip}/{prefix}"),
        )
    }

    /// Removes `ip/prefix` from interface `index`.
    pub fn del_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> SysResult<()> {
        self.request(
            |s| netlink::del_addr(s, index, ip, prefix),
            &format!("remove {ip}/{prefix}"),
        )
    }

    /// Sets the default route.
    pub fn default_route(&mut self, index: u32, gateway: Ipv4Addr) -> SysResult<()> {
        self.request(
            |s| netlink::default_route(s, index, gateway),
            &format!("default route via {gateway}"),
        )
    }
}

/// What the network thread publishes for the status screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetStatus {
    /// The interface in use.
    pub interface: Option<String>,
    /// Its address.
    pub address: Option<Address>,
    /// The DHCP client's state.
    pub dhcp_state: String,
    /// The last error the loop met (it keeps going).
    pub last_error: Option<String>,
}

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The interface.
    pub interface: String,
    /// DHCP timing.
    pub dhcp: DhcpTiming,
    /// Link-local timing.
    pub link_local: LinkLocalTiming,
    /// Randomness for DHCP xids.
    pub seed: u64,
    /// Where to write the DHCP lease's DNS servers (`/run/resolv.conf` on the appliance,
    /// where the read-only root's `/etc/resolv.conf` points); `None` writes nothing.
    pub resolv_conf: Option<std::path::PathBuf>,
}

/// Runs DHCP / link-local on the interface until `stop` is set. Setup errors (no such
/// interface, no permission) are returned; errors while running are recorded in the status
/// and the loop continues.
pub fn run(cfg: &NetConfig, status: &Arc<Mutex<NetStatus>>, stop: &AtomicBool) -> SysResult<()> {
    let iface = link_up(&cfg.interface)?;
    let ip_sock = PacketSocket::open(iface.index, ETH_P_IP)?;
    let arp_sock = PacketSocket::open(iface.index, ETH_P_ARP)?;
    let mut rtnl = Rtnl::open()?;
    let clock = Clock::start();
    let mut net = Network::new(iface.mac, cfg.dhcp, cfg.link_local, cfg.seed);
    let publish = |net: &Network, err: Option<String>| {
        if let Ok(mut s) = status.lock() {
            s.interface = Some(cfg.interface.clone());
            s.address = net.address();
            s.dhcp_state = net.dhcp_state().to_owned();
            if err.is_some() {
                s.last_error = err;
            }
        }
    };
    publish(&net, None);
    let mut carrier = link_running(&cfg.interface).unwrap_or(true);
    while !stop.load(Ordering::Relaxed) {
        let now = clock.now();
        let mut actions = Vec::new();
        let up = link_running(&cfg.interface).unwrap_or(carrier);
        if up && !carrier {
            actions.extend(net.link_restored(now));
        }
        carrier = up;
        actions.extend(net.poll(now));
        while let Some(frame) = ip_sock.recv()? {
            actions.extend(net.on_ip(clock.now(), &frame));
        }
        while let Some(frame) = arp_sock.recv()? {
            actions.extend(net.on_arp(clock.now(), &frame));
        }
        let mut err = None;
        for a in actions {
            let r = match &a {
                NetAction::SendIp(p) => ip_sock.send_broadcast(p),
                NetAction::SendArp(p) => arp_sock.send_broadcast(p),
                NetAction::Configure(addr) => rtnl
                    .add_address(iface.index, addr.ip, addr.prefix_len)
                    .and_then(|()| match addr.router {
                        Some(gw) => rtnl.default_route(iface.index, gw),
                        None => Ok(()),
                    })
                    .and_then(|()| write_resolv_conf(cfg.resolv_conf.as_deref(), addr)),
                NetAction::Deconfigure { ip, prefix_len } => {
                    rtnl.del_address(iface.index, *ip, *prefix_len)
                }
            };
            if let Err(e) = r {
                err = Some(e.to_string());
            }
        }
        publish(&net, err);
        let wait = net
            .next_deadline()
            .saturating_sub(clock.now())
            .clamp(Duration::from_millis(1), Duration::from_millis(200));
        super::poll_readable(&[ip_sock.raw_fd(), arp_sock.raw_fd()], wait)?;
    }
    Ok(())
}

fn write_resolv_conf(path: Option<&std::path::Path>, addr: &Address) -> SysResult<()> {
    let Some(path) = path else {
        return Ok(());
    };
    if addr.dns.is_empty() {
        return Ok(());
    }
    let text: String = addr
        .dns
        .iter()
        .map(|d| format!("nameserver {d}\n"))
        .collect();
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| io_error(format!("write {}", path.display()), e))
}

/// The first Ethernet interface under `/sys/class/net` (sorted by name), skipping loopback
/// and virtual devices without a `device` link.
pub fn first_ethernet() -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            let base = format!("/sys/class/net/{n}");
            let kind = std::fs::read_to_string(format!("{base}/type")).unwrap_or_default();
            kind.trim() == "1" && std::path::Path::new(&format!("{base}/device")).exists()
        })
        .collect();
    names.sort();
    names.into_iter().next()
}
