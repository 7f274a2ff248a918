//! A DHCPv4 client (RFC 2131/2132): message encoding and decoding, the IPv4/UDP framing for a
//! packet socket (the interface has no address while it asks), and the client state machine
//! (DISCOVER → OFFER → REQUEST → ACK, renewing at T1, rebinding at T2, expiry). Pure: time
//! and randomness come in as arguments.

use std::net::Ipv4Addr;
use std::time::Duration;

/// UDP port of DHCP servers.
pub const SERVER_PORT: u16 = 67;
/// UDP port of DHCP clients.
pub const CLIENT_PORT: u16 = 68;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
const FIXED_LEN: usize = 236;

/// DHCP message types (option 53).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// 1
    Discover,
    /// 2
    Offer,
    /// 3
    Request,
    /// 4
    Decline,
    /// 5
    Ack,
    /// 6
    Nak,
    /// 7
    Release,
    /// 8
    Inform,
}

impl MessageType {
    fn from_u8(v: u8) -> Option<MessageType> {
        Some(match v {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }

    fn code(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
        }
    }
}

/// A decoded DHCP message (the fields and options this client uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// 1 = BOOTREQUEST, 2 = BOOTREPLY.
    pub op: u8,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the client began.
    pub secs: u16,
    /// Flags (0x8000 = broadcast).
    pub flags: u16,
    /// Client's current address (renewing).
    pub ciaddr: Ipv4Addr,
    /// "Your" address: what the server offers.
    pub yiaddr: Ipv4Addr,
    /// Client hardware address.
    pub chaddr: [u8; 6],
    /// Option 53.
    pub kind: Option<MessageType>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 50.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 51, seconds.
    pub lease_secs: Option<u32>,
    /// Option 58, seconds.
    pub t1_secs: Option<u32>,
    /// Option 59, seconds.
    pub t2_secs: Option<u32>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 3 (first is used).
    pub routers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns: Vec<Ipv4Addr>,
    /// Option 12.
    pub hostname: Option<String>,
}

impl Message {
    /// A BOOTREQUEST from `mac` with no options set.
    pub fn request(kind: MessageType, xid: u32, mac: [u8; 6]) -> Message {
        Message {
            op: 1,
            xid,
            secs: 0,
            flags: 0x8000,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: mac,
            kind: Some(kind),
            server_id: None,
            requested_ip: None,
            lease_secs: None,
            t1_secs: None,
            t2_secs: None,
            subnet_mask: None,
            routers: Vec::new(),
            dns: Vec::new(),
            hostname: None,
        }
    }

    /// Encodes the message (BOOTP fixed part, magic cookie, options, end).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; FIXED_LEN];
        let mut put = |at: usize, data: &[u8]| {
            if let Some(dst) = b.get_mut(at..at + data.len()) {
                dst.copy_from_slice(data);
            }
        };
        put(0, &[self.op, 1, 6]); // BOOTREQUEST/REPLY, Ethernet, 6-byte addresses
        put(4, &self.xid.to_be_bytes());
        put(8, &self.secs.to_be_bytes());
        put(10, &self.flags.to_be_bytes());
        put(12, &self.ciaddr.octets());
        put(16, &self.yiaddr.octets());
        put(28, &self.chaddr);
        b.extend_from_slice(&MAGIC);
        let mut opt = |code: u8, data: &[u8]| {
            b.push(code);
            b.push(data.len() as u8);
            b.extend_from_slice(data);
        };
        if let Some(k) = self.kind {
            opt(53, &[k.code()]);
        }
        // Client identifier: hardware type + MAC.
        let mut cid = vec![1u8];
        cid.extend_from_slice(&self.chaddr);
        opt(61, &cid);
        if let Some(ip) = self.requested_ip {
            opt(50, &ip.octets());
        }
        if let Some(ip) = self.server_id {
            opt(54, &ip.octets());
        }
        if let Some(s) = self.lease_secs {
            opt(51, &s.to_be_bytes());
        }
        if let Some(s) = self.t1_secs {
            opt(58, &s.to_be_bytes());
        }
        if let Some(s) = self.t2_secs {
            opt(59, &s.to_be_bytes());
        }
        if let Some(m) = self.subnet_mask {
            opt(1, &m.octets());
        }
        if !self.routers.is_empty() {
            let v: Vec<u8> = self.routers.iter().flat_map(|r| r.octets()).collect();
            opt(3, &v);
        }
        if !self.dns.is_empty() {
            let v: Vec<u8> = self.dns.iter().flat_map(|r| r.octets()).collect();
            opt(6, &v);
        }
        if let Some(h) = &self.hostname {
            let h = h.as_bytes();
            opt(12, h.get(..h.len().min(255)).unwrap_or(&[]));
        }
        if self.op == 1 {
            // Parameter request list: mask, router, DNS, hostname, lease, T1, T2.
            opt(55, &[1, 3, 6, 12, 51, 58, 59]);
        }
        b.push(255);
        // Some servers ignore messages shorter than a BOOTP packet (300 bytes).
        if b.len() < 300 {
            b.resize(300, 0);
        }
        b
    }

    /// Decodes a message; errors say what is malformed.
    pub fn decode(b: &[u8]) -> Result<Message, String> {
        if b.len() < FIXED_LEN + 4 {
            return Err(format!("DHCP message too short ({} bytes)", b.len()));
        }
        if b.get(FIXED_LEN..FIXED_LEN + 4) != Some(&MAGIC[..]) {
            return Err("no DHCP magic cookie".into());
        }
        let ip = |at: usize| -> Ipv4Addr {
            let o: [u8; 4] = b
                .get(at..at + 4)
                .and_then(|s| s.try_into().ok())
                .unwrap_or([0; 4]);
            Ipv4Addr::from(o)
        };
        let be16 = |at: usize| -> u16 {
            b.get(at..at + 2)
                .and_then(|s| s.try_into().ok())
                .map(u16::from_be_bytes)
                .unwrap_or(0)
        };
        let mut chaddr = [0u8; 6];
        chaddr.copy_from_slice(b.get(28..34).unwrap_or(&[0; 6]));
        let mut m = Message {
            op: b.first().copied().unwrap_or(0),
            xid: b
                .get(4..8)
                .and_then(|s| s.try_into().ok())
                .map(u32::from_be_bytes)
                .unwrap_or(0),
            secs: be16(8),
            flags: be16(10),
            ciaddr: ip(12),
            yiaddr: ip(16),
            chaddr,
            kind: None,
            server_id: None,
            requested_ip: None,
            lease_secs: None,
            t1_secs: None,
            t2_secs: None,
            subnet_mask: None,
            routers: Vec::new(),
            dns: Vec::new(),
            hostname: None,
        };
        let mut i = FIXED_LEN + 4;
        // A message without an end option is accepted as far as it goes.
        while let Some(&code) = b.get(i) {
            if code == 255 {
                break;
            }
            if code == 0 {
                i += 1;
                continue;
            }
            let len = usize::from(*b.get(i + 1).ok_or("truncated option")?);
            let data = b.get(i + 2..i + 2 + len).ok_or_else(|| {
                format!("option {code} claims {len} bytes past the end of the message")
            })?;
            let addr = |d: &[u8]| -> Option<Ipv4Addr> {
                let o: [u8; 4] = d.try_into().ok()?;
                Some(Ipv4Addr::from(o))
            };
            let secs = |d: &[u8]| -> Option<u32> { d.try_into().ok().map(u32::from_be_bytes) };
            let addrs =
                |d: &[u8]| -> Vec<Ipv4Addr> { d.chunks_exact(4).filter_map(addr).collect() };
            match code {
                53 => m.kind = data.first().copied().and_then(MessageType::from_u8),
                54 => m.server_id = addr(data),
                50 => m.requested_ip = addr(data),
                51 => m.lease_secs = secs(data),
                58 => m.t1_secs = secs(data),
                59 => m.t2_secs = secs(data),
                1 => m.subnet_mask = addr(data),
                3 => m.routers = addrs(data),
                6 => m.dns = addrs(data),
                12 => m.hostname = Some(String::from_utf8_lossy(data).into_owned()),
                _ => {}
            }
            i += 2 + len;
        }
        Ok(m)
    }
}

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut carry: Option<u8> = None;
    for c in chunks {
        for &byte in c.iter() {
            match carry.take() {
                None => carry = Some(byte),
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, byte])),
            }
        }
    }
    if let Some(hi) = carry {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 + UDP datagram carrying `payload` (for an `AF_PACKET`/`SOCK_DGRAM` socket, which
/// adds the Ethernet header).
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0x10]); // IPv4, IHL 5; TOS low delay (as other clients do)
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0]); // id, no fragments
    p.extend_from_slice(&[64, 17, 0, 0]); // TTL, UDP, checksum later
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    let hc = checksum(&[p.get(..20).unwrap_or(&[])]);
    if let Some(c) = p.get_mut(10..12) {
        c.copy_from_slice(&hc.to_be_bytes());
    }
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
    let mut uc = checksum(&[&pseudo, &udp]);
    if uc == 0 {
        uc = 0xffff;
    }
    if let Some(c) = udp.get_mut(6..8) {
        c.copy_from_slice(&uc.to_be_bytes());
    }
    p.extend_from_slice(&udp);
    p
}

/// The UDP payload of an IPv4 datagram sent to `dport`, or `None` for anything else.
/// The UDP checksum is not verified: locally generated packets crossing a veth or virtio
/// link may still carry a partial checksum (the NIC "would" finish it).
pub fn udp_payload(packet: &[u8], dport: u16) -> Option<&[u8]> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || *packet.get(9)? != 17 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes(packet.get(2..4)?.try_into().ok()?));
    let frag = u16::from_be_bytes(packet.get(6..8)?.try_into().ok()?);
    if frag & 0x3fff != 0 {
        return None; // fragments are not reassembled
    }
    let packet = packet.get(..total)?;
    let udp = packet.get(ihl..)?;
    if u16::from_be_bytes(udp.get(2..4)?.try_into().ok()?) != dport {
        return None;
    }
    let ulen = usize::from(u16::from_be_bytes(udp.get(4..6)?.try_into().ok()?));
    udp.get(8..ulen)
}

/// What a lease gives the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub address: Ipv4Addr,
    /// Prefix length from the subnet mask (24 if the server sent none).
    pub prefix_len: u8,
    /// Default gateway.
    pub router: Option<Ipv4Addr>,
    /// DNS servers.
    pub dns: Vec<Ipv4Addr>,
    /// The server that granted it.
    pub server: Ipv4Addr,
    /// Lease time.
    pub lease: Duration,
    /// Renewal time (T1).
    pub t1: Duration,
    /// Rebinding time (T2).
    pub t2: Duration,
}

/// Prefix length of a contiguous netmask, `None` if it is not contiguous.
pub fn prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    if m.checked_shl(ones).unwrap_or(0) == 0 {
        Some(ones as u8)
    } else {
        None
    }
}

impl Lease {
    fn from_ack(m: &Message, server: Ipv4Addr) -> Lease {
        let lease = Duration::from_secs(u64::from(m.lease_secs.unwrap_or(3600).max(10)));
        let t1 = m
            .t1_secs
            .map(|s| Duration::from_secs(u64::from(s)))
            .filter(|t| *t < lease)
            .unwrap_or(lease / 2);
        let t2 = m
            .t2_secs
            .map(|s| Duration::from_secs(u64::from(s)))
            .filter(|t| *t < lease && *t > t1)
            .unwrap_or(lease * 7 / 8);
        Lease {
            address: m.yiaddr,
            prefix_len: m.subnet_mask.and_then(prefix_len).unwrap_or(24),
            router: m.routers.first().copied(),
            dns: m.dns.clone(),
            server,
            lease,
            t1,
            t2,
        }
    }
}

/// Timing knobs (defaults for the appliance; tests shrink them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpTiming {
    /// First retransmission interval; doubles up to `retransmit_max`.
    pub retransmit_initial: Duration,
    /// Cap of the retransmission interval.
    pub retransmit_max: Duration,
    /// No usable answer after this long in the first DISCOVER phase: report
    /// [`DhcpAction::NoServer`] (link-local takes over) and keep asking.
    pub fallback_after: Duration,
    /// REQUESTs sent for an offer before going back to DISCOVER.
    pub request_attempts: u32,
}

impl Default for DhcpTiming {
    fn default() -> Self {
        DhcpTiming {
            retransmit_initial: Duration::from_secs(1),
            retransmit_max: Duration::from_secs(32),
            fallback_after: Duration::from_secs(10),
            request_attempts: 4,
        }
    }
}

/// Something the adapter must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpAction {
    /// Send this DHCP message from `src` to `dst` (UDP 68 → 67).
    Send {
        /// Encoded DHCP message.
        payload: Vec<u8>,
        /// IP source (0.0.0.0 until bound).
        src: Ipv4Addr,
        /// IP destination (broadcast, or the server when renewing).
        dst: Ipv4Addr,
    },
    /// Configure (or refresh) this lease on the interface.
    Bind(Lease),
    /// Remove the lease's address: it expired or the server refused it.
    Unbind(Ipv4Addr),
    /// No server answered in time: start link-local addressing (DHCP keeps trying).
    NoServer,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Selecting {
        started: Duration,
        next: Duration,
        interval: Duration,
        reported: bool,
    },
    Requesting {
        started: Duration,
        offer: Message,
        server: Ipv4Addr,
        next: Duration,
        sent: u32,
    },
    Bound {
        lease: Lease,
        at: Duration,
    },
    Renewing {
        lease: Lease,
        at: Duration,
        next: Duration,
    },
    Rebinding {
        lease: Lease,
        at: Duration,
        next: Duration,
    },
}

/// The client state machine for one interface.
#[derive(Debug, Clone)]
pub struct DhcpClient {
    mac: [u8; 6],
    timing: DhcpTiming,
    rng: u64,
    xid: u32,
    state: State,
    had_offer: bool,
}

/// splitmix64: the small PRNG the pure cores use for xids and link-local choices.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl DhcpClient {
    /// A client for `mac`; `seed` is randomness from the adapter (xids).
    pub fn new(mac: [u8; 6], timing: DhcpTiming, seed: u64) -> DhcpClient {
        let mut rng = seed;
        let xid = splitmix64(&mut rng) as u32;
        DhcpClient {
            mac,
            timing,
            rng,
            xid,
            state: State::Selecting {
                started: Duration::ZERO,
                next: Duration::ZERO,
                interval: timing.retransmit_initial,
                reported: false,
            },
            had_offer: false,
        }
    }

    /// The bound lease, if any.
    pub fn lease(&self) -> Option<&Lease> {
        match &self.state {
            State::Bound { lease, .. }
            | State::Renewing { lease, .. }
            | State::Rebinding { lease, .. } => Some(lease),
            _ => None,
        }
    }

    /// A short name of the state, for the status screen and logs.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Selecting { .. } => "selecting",
            State::Requesting { .. } => "requesting",
            State::Bound { .. } => "bound",
            State::Renewing { .. } => "renewing",
            State::Rebinding { .. } => "rebinding",
        }
    }

    /// Starts over (link went down and up, or at start). `now` is the start time.
    pub fn restart(&mut self, now: Duration) -> Vec<DhcpAction> {
        let mut out = Vec::new();
        if let Some(l) = self.lease() {
            out.push(DhcpAction::Unbind(l.address));
        }
        self.enter_selecting(now, false);
        self.had_offer = false;
        out.extend(self.poll(now));
        out
    }

    fn enter_selecting(&mut self, now: Duration, reported: bool) {
        self.xid = splitmix64(&mut self.rng) as u32;
        self.state = State::Selecting {
            started: now,
            next: now,
            interval: self.timing.retransmit_initial,
            reported,
        };
    }

    /// The next time [`DhcpClient::poll`] has something to do.
    pub fn next_deadline(&self) -> Duration {
        match &self.state {
            State::Selecting {
                next,
                started,
                reported,
                ..
            } => {
                if *reported || self.had_offer {
                    *next
                } else {
                    (*next).min(*started + self.timing.fallback_after)
                }
            }
            State::Requesting { next, .. } => *next,
            State::Bound { lease, at } => *at + lease.t1,
            State::Renewing { next, .. } | State::Rebinding { next, .. } => *next,
        }
    }

    fn secs(now: Duration, started: Duration) -> u16 {
        u16::try_from(now.saturating_sub(started).as_secs()).unwrap_or(u16::MAX)
    }

    fn backoff(&self, interval: Duration) -> Duration {
        (interval * 2).min(self.timing.retransmit_max)
    }

    /// Timers: retransmissions, the no-server report, T1, T2, expiry.
    pub fn poll(&mut self, now: Duration) -> Vec<DhcpAction> {
        let mut out = Vec::new();
        let timing = self.timing;
        match self.state.clone() {
            State::Selecting {
                started,
                next,
                interval,
                reported,
            } => {
                let mut reported = reported;
                if !reported && !self.had_offer && now >= started + timing.fallback_after {
                    reported = true;
                    out.push(DhcpAction::NoServer);
                }
                let mut next = next;
                let mut interval = interval;
                if now >= next {
                    let mut m = Message::request(MessageType::Discover, self.xid, self.mac);
                    m.secs = Self::secs(now, started);
                    out.push(DhcpAction::Send {
                        payload: m.encode(),
                        src: Ipv4Addr::UNSPECIFIED,
                        dst: Ipv4Addr::BROADCAST,
                    });
                    next = now + interval;
                    interval = self.backoff(interval);
                }
                self.state = State::Selecting {
                    started,
                    next,
                    interval,
                    reported,
                };
            }
            State::Requesting {
                started,
                offer,
                server,
                next,
                sent,
            } => {
                if now >= next {
                    if sent >= timing.request_attempts {
                        self.enter_selecting(now, true);
                        return self.poll(now);
                    }
                    let mut m = Message::request(MessageType::Request, self.xid, self.mac);
                    m.secs = Self::secs(now, started);
                    m.requested_ip = Some(offer.yiaddr);
                    m.server_id = Some(server);
                    out.push(DhcpAction::Send {
                        payload: m.encode(),
                        src: Ipv4Addr::UNSPECIFIED,
                        dst: Ipv4Addr::BROADCAST,
                    });
                    let wait = timing.retransmit_initial * (1u32 << sent.min(5));
                    self.state = State::Requesting {
                        started,
                        offer,
                        server,
                        next: now + wait.min(timing.retransmit_max),
                        sent: sent + 1,
                    };
                }
            }
            State::Bound { lease, at } => {
                if now >= at + lease.t1 {
                    self.xid = splitmix64(&mut self.rng) as u32;
                    self.state = State::Renewing {
                        lease,
                        at,
                        next: now,
                    };
                    return self.poll(now);
                }
            }
            State::Renewing { lease, at, next } => {
                if now >= at + lease.t2 {
                    self.state = State::Rebinding {
                        lease,
                        at,
                        next: now,
                    };
                    return self.poll(now);
                }
                if now >= next {
                    out.push(self.renew_request(&lease, lease.server));
                    // RFC 2131 4.4.5: wait half the remaining time to T2, at least 60 s.
                    let half = (at + lease.t2).saturating_sub(now) / 2;
                    let wait = half.max(Duration::from_secs(60));
                    let next = (now + wait).min(at + lease.t2);
                    self.state = State::Renewing { lease, at, next };
                }
            }
            State::Rebinding { lease, at, next } => {
                if now >= at + lease.lease {
                    out.push(DhcpAction::Unbind(lease.address));
                    self.enter_selecting(now, false);
                    self.had_offer = false;
                    out.extend(self.poll(now));
                    return out;
                }
                if now >= next {
                    out.push(self.renew_request(&lease, Ipv4Addr::BROADCAST));
                    let half = (at + lease.lease).saturating_sub(now) / 2;
                    let wait = half.max(Duration::from_secs(60));
                    let next = (now + wait).min(at + lease.lease);
                    self.state = State::Rebinding { lease, at, next };
                }
            }
        }
        out
    }

    fn renew_request(&self, lease: &Lease, dst: Ipv4Addr) -> DhcpAction {
        let mut m = Message::request(MessageType::Request, self.xid, self.mac);
        m.flags = 0;
        m.ciaddr = lease.address;
        DhcpAction::Send {
            payload: m.encode(),
            src: lease.address,
            dst,
        }
    }

    /// A DHCP message arrived (already decoded from UDP port 68).
    pub fn on_message(&mut self, now: Duration, m: &Message) -> Vec<DhcpAction> {
        if m.op != 2 || m.xid != self.xid || m.chaddr != self.mac {
            return Vec::new();
        }
        match (self.state.clone(), m.kind) {
            (State::Selecting { started, .. }, Some(MessageType::Offer)) => {
                let Some(server) = m.server_id else {
                    return Vec::new();
                };
                if m.yiaddr.is_unspecified() {
                    return Vec::new();
                }
                self.had_offer = true;
                self.state = State::Requesting {
                    started,
                    offer: m.clone(),
                    server,
                    next: now,
                    sent: 0,
                };
                self.poll(now)
            }
            (State::Requesting { server, .. }, Some(MessageType::Ack)) => {
                let lease = Lease::from_ack(m, m.server_id.unwrap_or(server));
                self.state = State::Bound {
                    lease: lease.clone(),
                    at: now,
                };
                vec![DhcpAction::Bind(lease)]
            }
            (State::Requesting { .. }, Some(MessageType::Nak)) => {
                self.enter_selecting(now, true);
                self.poll(now)
            }
            (
                State::Renewing { lease, .. } | State::Rebinding { lease, .. },
                Some(MessageType::Ack),
            ) => {
                let new = Lease::from_ack(m, m.server_id.unwrap_or(lease.server));
                let mut out = Vec::new();
                if new.address != lease.address {
                    out.push(DhcpAction::Unbind(lease.address));
                }
                self.state = State::Bound {
                    lease: new.clone(),
                    at: now,
                };
                out.push(DhcpAction::Bind(new));
                out
            }
            (
                State::Renewing { lease, .. } | State::Rebinding { lease, .. },
                Some(MessageType::Nak),
            ) => {
                self.enter_selecting(now, false);
                self.had_offer = false;
                let mut out = vec![DhcpAction::Unbind(lease.address)];
                out.extend(self.poll(now));
                out
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }
    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    fn sent(actions: &[DhcpAction]) -> Vec<(Message, Ipv4Addr, Ipv4Addr)> {
        actions
            .iter()
            .filter_map(|a| match a {
                DhcpAction::Send { payload, src, dst } => {
                    Some((Message::decode(payload).unwrap(), *src, *dst))
                }
                _ => None,
            })
            .collect()
    }

    fn reply(kind: MessageType, to: &Message, yiaddr: Ipv4Addr) -> Message {
        let mut m = Message::request(kind, to.xid, to.chaddr);
        m.op = 2;
        m.yiaddr = yiaddr;
        m.server_id = Some(SERVER);
        m.lease_secs = Some(600);
        m.subnet_mask = Some(Ipv4Addr::new(255, 255, 255, 0));
        m.routers = vec![SERVER];
        m.dns = vec![Ipv4Addr::new(10, 0, 2, 3)];
        m
    }

    #[test]
    fn message_round_trip() {
        let mut m = reply(
            MessageType::Ack,
            &Message::request(MessageType::Request, 7, MAC),
            Ipv4Addr::new(10, 0, 2, 15),
        );
        m.t1_secs = Some(100);
        m.t2_secs = Some(200);
        m.hostname = Some("pi".into());
        let d = Message::decode(&m.encode()).unwrap();
        assert_eq!(d, m);
        assert!(Message::decode(&[0; 100])
            .unwrap_err()
            .contains("too short"));
        let mut bad = m.encode();
        bad[236] = 0;
        assert!(Message::decode(&bad).unwrap_err().contains("cookie"));
        let mut trunc = Message::request(MessageType::Discover, 1, MAC).encode();
        trunc.truncate(240);
        trunc.extend_from_slice(&[51, 4, 0]); // option claims 4 bytes, has 1
        assert!(Message::decode(&trunc).unwrap_err().contains("option 51"));
    }

    #[test]
    fn ip_udp_framing_and_checksums() {
        let p = ipv4_udp(Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST, 68, 67, b"hello");
        assert_eq!(p.len(), 20 + 8 + 5);
        // A valid header checksums to zero.
        assert_eq!(checksum(&[&p[..20]]), 0);
        // UDP with pseudo header checksums to zero too.
        let mut pseudo = vec![0, 0, 0, 0, 255, 255, 255, 255, 0, 17];
        pseudo.extend_from_slice(&13u16.to_be_bytes());
        assert_eq!(checksum(&[&pseudo, &p[20..]]), 0);
        assert_eq!(udp_payload(&p, 67), Some(&b"hello"[..]));
        assert_eq!(udp_payload(&p, 68), None);
        assert_eq!(udp_payload(&p[..10], 67), None);
        let mut frag = p.clone();
        frag[6] = 0x20; // more fragments
        assert_eq!(udp_payload(&frag, 67), None);
        // The RFC 1071 example.
        assert_eq!(
            checksum(&[&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]]),
            !0xddf2
        );
    }

    #[test]
    fn prefix_lengths() {
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 0, 0)), Some(16));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 255, 255, 255)), Some(32));
        assert_eq!(prefix_len(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(prefix_len(Ipv4Addr::new(255, 0, 255, 0)), None);
    }

    #[test]
    fn discover_offer_request_ack() {
        let mut c = DhcpClient::new(MAC, DhcpTiming::default(), 42);
        let a = c.poll(Duration::ZERO);
        let d = sent(&a);
        assert_eq!(d.len(), 1);
        let (disc, src, dst) = &d[0];
        assert_eq!(disc.kind, Some(MessageType::Discover));
        assert_eq!((*src, *dst), (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST));
        // Wrong xid or MAC is ignored.
        let mut other = reply(MessageType::Offer, disc, Ipv4Addr::new(10, 0, 2, 15));
        other.xid ^= 1;
        assert!(c.on_message(ms(10), &other).is_empty());
        let offer = reply(MessageType::Offer, disc, Ipv4Addr::new(10, 0, 2, 15));
        let a = c.on_message(ms(20), &offer);
        let r = sent(&a);
        assert_eq!(r[0].0.kind, Some(MessageType::Request));
        assert_eq!(r[0].0.requested_ip, Some(Ipv4Addr::new(10, 0, 2, 15)));
        assert_eq!(r[0].0.server_id, Some(SERVER));
        assert_eq!(c.state_name(), "requesting");
        let ack = reply(MessageType::Ack, &r[0].0, Ipv4Addr::new(10, 0, 2, 15));
        let a = c.on_message(ms(30), &ack);
        let DhcpAction::Bind(lease) = &a[0] else {
            panic!("{a:?}")
        };
        assert_eq!(lease.address, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(lease.prefix_len, 24);
        assert_eq!(lease.router, Some(SERVER));
        assert_eq!(lease.t1, s(300));
        assert_eq!(lease.t2, s(525));
        assert_eq!(c.next_deadline(), ms(30) + s(300));
    }

    #[test]
    fn discover_retransmits_with_backoff_and_reports_no_server_once() {
        let mut c = DhcpClient::new(MAC, DhcpTiming::default(), 1);
        let mut sends = Vec::new();
        let mut no_server = Vec::new();
        for t in 0..=40u64 {
            let now = ms(t * 500);
            for a in c.poll(now) {
                match a {
                    DhcpAction::Send { .. } => sends.push(now.as_millis()),
                    DhcpAction::NoServer => no_server.push(now.as_millis()),
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(sends, vec![0, 1000, 3000, 7000, 15000]);
        assert_eq!(no_server, vec![10000]);
    }

    fn bound(c: &mut DhcpClient) -> Message {
        let d = sent(&c.poll(Duration::ZERO)).remove(0).0;
        let r = sent(&c.on_message(
            ms(1),
            &reply(MessageType::Offer, &d, Ipv4Addr::new(10, 0, 2, 15)),
        ))
        .remove(0)
        .0;
        c.on_message(
            ms(2),
            &reply(MessageType::Ack, &r, Ipv4Addr::new(10, 0, 2, 15)),
        );
        r
    }

    #[test]
    fn renews_at_t1_unicast_then_rebinds_at_t2_then_expires() {
        let mut c = DhcpClient::new(MAC, DhcpTiming::default(), 3);
        bound(&mut c);
        assert!(c.poll(s(299)).is_empty());
        let r = sent(&c.poll(s(300) + ms(2)));
        assert_eq!(r.len(), 1);
        let (m, src, dst) = &r[0];
        assert_eq!(m.ciaddr, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(m.requested_ip, None);
        assert_eq!((*src, *dst), (Ipv4Addr::new(10, 0, 2, 15), SERVER));
        assert_eq!(c.state_name(), "renewing");
        // At T2 the request is broadcast.
        let r = sent(&c.poll(s(525) + ms(2)));
        assert_eq!(r.last().unwrap().2, Ipv4Addr::BROADCAST);
        assert_eq!(c.state_name(), "rebinding");
        // At expiry the address goes and DISCOVER starts again.
        let a = c.poll(s(600) + ms(2));
        assert_eq!(a[0], DhcpAction::Unbind(Ipv4Addr::new(10, 0, 2, 15)));
        assert_eq!(sent(&a)[0].0.kind, Some(MessageType::Discover));
        assert_eq!(c.lease(), None);
    }

    #[test]
    fn renewal_ack_extends_and_nak_unbinds() {
        let mut c = DhcpClient::new(MAC, DhcpTiming::default(), 4);
        bound(&mut c);
        let r = sent(&c.poll(s(301))).remove(0).0;
        let a = c.on_message(
            s(302),
            &reply(MessageType::Ack, &r, Ipv4Addr::new(10, 0, 2, 15)),
        );
        assert!(
            matches!(&a[..], [DhcpAction::Bind(l)] if l.address == Ipv4Addr::new(10, 0, 2, 15))
        );
        assert_eq!(c.next_deadline(), s(602));
        let r = sent(&c.poll(s(602))).remove(0).0;
        let a = c.on_message(s(603), &reply(MessageType::Nak, &r, Ipv4Addr::UNSPECIFIED));
        assert_eq!(a[0], DhcpAction::Unbind(Ipv4Addr::new(10, 0, 2, 15)));
        assert_eq!(c.state_name(), "selecting");
    }

    #[test]
    fn request_gives_up_after_attempts_and_nak_restarts() {
        let t = DhcpTiming::default();
        let mut c = DhcpClient::new(MAC, t, 5);
        let d = sent(&c.poll(Duration::ZERO)).remove(0).0;
        let first = c.on_message(
            ms(1),
            &reply(MessageType::Offer, &d, Ipv4Addr::new(10, 0, 2, 15)),
        );
        let mut kinds: Vec<MessageType> = sent(&first).iter().map(|m| m.0.kind.unwrap()).collect();
        for i in 0..200 {
            for (m, _, _) in sent(&c.poll(ms(1 + i * 100))) {
                kinds.push(m.kind.unwrap());
            }
        }
        assert_eq!(&kinds[..4], &[MessageType::Request; 4], "{kinds:?}");
        assert!(kinds.contains(&MessageType::Discover));
        let mut c = DhcpClient::new(MAC, t, 6);
        let d = sent(&c.poll(Duration::ZERO)).remove(0).0;
        let r = sent(&c.on_message(
            ms(1),
            &reply(MessageType::Offer, &d, Ipv4Addr::new(10, 0, 2, 15)),
        ))
        .remove(0)
        .0;
        let a = c.on_message(ms(2), &reply(MessageType::Nak, &r, Ipv4Addr::UNSPECIFIED));
        assert_eq!(sent(&a)[0].0.kind, Some(MessageType::Discover));
    }
}
