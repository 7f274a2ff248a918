//! rtnetlink messages for addresses and the default route, built as bytes (the adapter
//! sends them on a `NETLINK_ROUTE` socket and reads the ack).

use std::net::Ipv4Addr;

/// `RTM_NEWADDR`.
pub const RTM_NEWADDR: u16 = 20;
/// `RTM_DELADDR`.
pub const RTM_DELADDR: u16 = 21;
/// `RTM_NEWROUTE`.
pub const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const AF_INET: u8 = 2;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_DHCP: u8 = 16;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RTN_UNICAST: u8 = 1;

fn attr(b: &mut Vec<u8>, kind: u16, data: &[u8]) {
    let len = 4 + data.len();
    b.extend_from_slice(&(len as u16).to_ne_bytes());
    b.extend_from_slice(&kind.to_ne_bytes());
    b.extend_from_slice(data);
    while !b.len().is_multiple_of(4) {
        b.push(0);
    }
}

fn finish(kind: u16, flags: u16, seq: u32, body: Vec<u8>) -> Vec<u8> {
    let mut m = Vec::with_capacity(16 + body.len());
    m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&body);
    m
}

fn broadcast(ip: Ipv4Addr, prefix_len: u8) -> Ipv4Addr {
    let host_bits = 32u32.saturating_sub(u32::from(prefix_len));
    let mask = if host_bits >= 32 {
        0
    } else {
        u32::MAX << host_bits
    };
    Ipv4Addr::from(u32::from(ip) | !mask)
}

/// Adds (or replaces) `ip/prefix_len` on interface `index`. Link-local addresses
/// (169.254/16) get link scope.
pub fn new_addr(seq: u32, index: u32, ip: Ipv4Addr, prefix_len: u8) -> Vec<u8> {
    addr_msg(
        RTM_NEWADDR,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        seq,
        index,
        ip,
        prefix_len,
    )
}

/// Removes `ip/prefix_len` from interface `index`.
pub fn del_addr(seq: u32, index: u32, ip: Ipv4Addr, prefix_len: u8) -> Vec<u8> {
    addr_msg(
        RTM_DELADDR,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        index,
        ip,
        prefix_len,
    )
}

fn addr_msg(kind: u16, flags: u16, seq: u32, index: u32, ip: Ipv4Addr, prefix_len: u8) -> Vec<u8> {
    let scope = if ip.is_link_local() {
        RT_SCOPE_LINK
    } else {
        RT_SCOPE_UNIVERSE
    };
    let mut b = vec![AF_INET, prefix_len, 0, scope];
    b.extend_from_slice(&index.to_ne_bytes());
    attr(&mut b, IFA_LOCAL, &ip.octets());
    attr(&mut b, IFA_ADDRESS, &ip.octets());
    if prefix_len < 31 {
        attr(&mut b, IFA_BROADCAST, &broadcast(ip, prefix_len).octets());
    }
    finish(kind, flags, seq, b)
}

/// Sets the default route via `gateway` on interface `index` (replacing any).
pub fn default_route(seq: u32, index: u32, gateway: Ipv4Addr) -> Vec<u8> {
    let mut b = vec![
        AF_INET,
        0, // dst_len: default
        0,
        0,
        RT_TABLE_MAIN,
        RTPROT_DHCP,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
    ];
    b.extend_from_slice(&0u32.to_ne_bytes());
    attr(&mut b, RTA_GATEWAY, &gateway.octets());
    attr(&mut b, RTA_OIF, &index.to_ne_bytes());
    finish(
        RTM_NEWROUTE,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        seq,
        b,
    )
}

/// Reads the kernel's answer to request `seq`: `Some(Ok(()))` for an ack, `Some(Err(errno))`
/// for an error, `None` if the buffer holds no answer to `seq`.
pub fn parse_ack(buf: &[u8], seq: u32) -> Option<Result<(), i32>> {
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = u32::from_ne_bytes(buf.get(at..at + 4)?.try_into().ok()?) as usize;
        let kind = u16::from_ne_bytes(buf.get(at + 4..at + 6)?.try_into().ok()?);
        let s = u32::from_ne_bytes(buf.get(at + 8..at + 12)?.try_into().ok()?);
        if len < 16 {
            return None;
        }
        if kind == NLMSG_ERROR && s == seq {
            let err = i32::from_ne_bytes(buf.get(at + 16..at + 20)?.try_into().ok()?);
            return Some(if err == 0 { Ok(()) } else { Err(-err) });
        }
        at += len.div_ceil(4) * 4;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addr_message_layout() {
        let m = new_addr(7, 3, Ipv4Addr::new(10, 0, 2, 15), 24);
        // header 16 + ifaddrmsg 8 + 3 attributes of 8
        assert_eq!(m.len(), 16 + 8 + 24);
        assert_eq!(
            u32::from_ne_bytes(m[0..4].try_into().unwrap()) as usize,
            m.len()
        );
        assert_eq!(u16::from_ne_bytes(m[4..6].try_into().unwrap()), RTM_NEWADDR);
        assert_eq!(u32::from_ne_bytes(m[8..12].try_into().unwrap()), 7);
        assert_eq!(&m[16..20], &[2, 24, 0, 0]);
        assert_eq!(u32::from_ne_bytes(m[20..24].try_into().unwrap()), 3);
        assert_eq!(&m[28..32], &[10, 0, 2, 15]);
        assert_eq!(&m[44..48], &[10, 0, 2, 255], "broadcast");
        let ll = new_addr(1, 3, Ipv4Addr::new(169, 254, 7, 9), 16);
        assert_eq!(ll[19], RT_SCOPE_LINK);
        assert_eq!(&ll[44..48], &[169, 254, 255, 255]);
        assert_eq!(
            del_addr(1, 3, Ipv4Addr::new(10, 0, 0, 1), 32).len(),
            16 + 8 + 16
        );
    }

    #[test]
    fn route_message_layout() {
        let m = default_route(2, 5, Ipv4Addr::new(10, 0, 2, 2));
        assert_eq!(m.len(), 16 + 12 + 8 + 8);
        assert_eq!(m[16 + 4], RT_TABLE_MAIN);
        assert_eq!(&m[32..36], &[10, 0, 2, 2]);
    }

    #[test]
    fn acks_and_errors() {
        let mut ack = finish(NLMSG_ERROR, 0, 9, vec![0; 20]);
        assert_eq!(parse_ack(&ack, 9), Some(Ok(())));
        assert_eq!(parse_ack(&ack, 8), None);
        ack[16..20].copy_from_slice(&(-17i32).to_ne_bytes());
        assert_eq!(parse_ack(&ack, 9), Some(Err(17)));
        assert_eq!(parse_ack(&[0; 8], 9), None);
        assert_eq!(parse_ack(&[0; 20], 9), None, "zero length never loops");
    }
}
