//! IPv4 link-local addressing (RFC 3927): candidate selection, ARP probing, announcing,
//! conflict detection and defence. Pure: time comes in, randomness is a PRNG seeded from the
//! MAC (so a node tends to get the same address on every boot, as the RFC suggests).

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::dhcp::splitmix64;

/// An ARP packet for IPv4 over Ethernet (the payload of an `ETH_P_ARP` frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    /// 1 = request, 2 = reply.
    pub op: u16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Sender protocol address.
    pub spa: Ipv4Addr,
    /// Target hardware address.
    pub tha: [u8; 6],
    /// Target protocol address.
    pub tpa: Ipv4Addr,
}

impl Arp {
    /// An ARP probe for `ip` (sender address 0.0.0.0).
    pub fn probe(mac: [u8; 6], ip: Ipv4Addr) -> Arp {
        Arp {
            op: 1,
            sha: mac,
            spa: Ipv4Addr::UNSPECIFIED,
            tha: [0; 6],
            tpa: ip,
        }
    }

    /// An ARP announcement of `ip` (sender and target both `ip`).
    pub fn announce(mac: [u8; 6], ip: Ipv4Addr) -> Arp {
        Arp {
            op: 1,
            sha: mac,
            spa: ip,
            tha: [0; 6],
            tpa: ip,
        }
    }

    /// 28 bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(28);
        b.extend_from_slice(&[0, 1, 8, 0, 6, 4]);
        b.extend_from_slice(&self.op.to_be_bytes());
        b.extend_from_slice(&self.sha);
        b.extend_from_slice(&self.spa.octets());
        b.extend_from_slice(&self.tha);
        b.extend_from_slice(&self.tpa.octets());
        b
    }

    /// Decodes an Ethernet/IPv4 ARP packet; `None` for anything else.
    pub fn decode(b: &[u8]) -> Option<Arp> {
        if b.get(..6)? != [0, 1, 8, 0, 6, 4] {
            return None;
        }
        let mac = |at: usize| -> Option<[u8; 6]> { b.get(at..at + 6)?.try_into().ok() };
        let ip = |at: usize| -> Option<Ipv4Addr> {
            let o: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
            Some(Ipv4Addr::from(o))
        };
        Some(Arp {
            op: u16::from_be_bytes(b.get(6..8)?.try_into().ok()?),
            sha: mac(8)?,
            spa: ip(14)?,
            tha: mac(18)?,
            tpa: ip(24)?,
        })
    }
}

/// RFC 3927 section 9 constants (tests shrink them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkLocalTiming {
    /// PROBE_WAIT: random delay before the first probe (0..this).
    pub probe_wait: Duration,
    /// PROBE_NUM.
    pub probe_num: u32,
    /// PROBE_MIN.
    pub probe_min: Duration,
    /// PROBE_MAX.
    pub probe_max: Duration,
    /// ANNOUNCE_WAIT: after the last probe.
    pub announce_wait: Duration,
    /// ANNOUNCE_NUM.
    pub announce_num: u32,
    /// ANNOUNCE_INTERVAL.
    pub announce_interval: Duration,
    /// MAX_CONFLICTS before rate limiting.
    pub max_conflicts: u32,
    /// RATE_LIMIT_INTERVAL.
    pub rate_limit_interval: Duration,
    /// DEFEND_INTERVAL.
    pub defend_interval: Duration,
}

impl Default for LinkLocalTiming {
    fn default() -> Self {
        LinkLocalTiming {
            probe_wait: Duration::from_secs(1),
            probe_num: 3,
            probe_min: Duration::from_secs(1),
            probe_max: Duration::from_secs(2),
            announce_wait: Duration::from_secs(2),
            announce_num: 2,
            announce_interval: Duration::from_secs(2),
            max_conflicts: 10,
            rate_limit_interval: Duration::from_secs(60),
            defend_interval: Duration::from_secs(10),
        }
    }
}

/// What the adapter must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkLocalAction {
    /// Broadcast this ARP packet.
    SendArp(Arp),
    /// Add the address (169.254.0.0/16) to the interface.
    Configure(Ipv4Addr),
    /// Remove the address.
    Deconfigure(Ipv4Addr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Waiting { until: Duration },
    Probing { sent: u32, next: Duration },
    Announcing { sent: u32, next: Duration },
    Bound,
}

/// The link-local state machine for one interface.
#[derive(Debug, Clone)]
pub struct LinkLocal {
    mac: [u8; 6],
    timing: LinkLocalTiming,
    /// Candidate sequence (seeded by the MAC alone, so [`LinkLocal::candidates`] matches).
    rng: u64,
    /// Random delays.
    timer_rng: u64,
    candidate: Ipv4Addr,
    state: State,
    conflicts: u32,
    last_defence: Option<Duration>,
}

/// The PRNG seed of a MAC address.
fn seed(mac: [u8; 6]) -> u64 {
    mac.iter().fold(0x0050_4943_4c4f_5544_u64, |acc, &b| {
        acc.rotate_left(8) ^ u64::from(b)
    })
}

fn next_candidate(rng: &mut u64) -> Ipv4Addr {
    // 169.254.1.0 – 169.254.254.255 (the first and last /24 are reserved).
    let n = (splitmix64(rng) % (254 * 256 - 256)) as u32;
    Ipv4Addr::from(u32::from(Ipv4Addr::new(169, 254, 1, 0)) + n)
}

impl LinkLocal {
    /// A machine for `mac`; idle until [`LinkLocal::start`].
    pub fn new(mac: [u8; 6], timing: LinkLocalTiming) -> LinkLocal {
        let mut rng = seed(mac);
        let candidate = next_candidate(&mut rng);
        LinkLocal {
            mac,
            timing,
            rng,
            timer_rng: seed(mac) ^ 0x7469_6d65_7273,
            candidate,
            state: State::Idle,
            conflicts: 0,
            last_defence: None,
        }
    }

    /// The candidates `mac` would try, in order (tests occupy the first to force a conflict).
    pub fn candidates(mac: [u8; 6], n: usize) -> Vec<Ipv4Addr> {
        let mut rng = seed(mac);
        (0..n).map(|_| next_candidate(&mut rng)).collect()
    }

    /// The address in use (configured), if any.
    pub fn address(&self) -> Option<Ipv4Addr> {
        match self.state {
            State::Announcing { .. } | State::Bound => Some(self.candidate),
            _ => None,
        }
    }

    /// Whether it is doing anything.
    pub fn active(&self) -> bool {
        self.state != State::Idle
    }

    /// Conflicts seen so far.
    pub fn conflicts(&self) -> u32 {
        self.conflicts
    }

    fn random_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = hi.saturating_sub(lo).as_millis() as u64;
        let r = if span == 0 {
            0
        } else {
            splitmix64(&mut self.timer_rng) % (span + 1)
        };
        lo + Duration::from_millis(r)
    }

    /// Begins claiming an address.
    pub fn start(&mut self, now: Duration) -> Vec<LinkLocalAction> {
        if self.state != State::Idle {
            return Vec::new();
        }
        let wait = self.random_between(Duration::ZERO, self.timing.probe_wait);
        self.state = State::Waiting { until: now + wait };
        self.poll(now)
    }

    /// Gives the address up (DHCP got a lease) and goes idle.
    pub fn stop(&mut self) -> Vec<LinkLocalAction> {
        let out = match self.address() {
            Some(a) => vec![LinkLocalAction::Deconfigure(a)],
            None => Vec::new(),
        };
        self.state = State::Idle;
        out
    }

    /// When [`LinkLocal::poll`] next has work.
    pub fn next_deadline(&self) -> Option<Duration> {
        match self.state {
            State::Waiting { until } => Some(until),
            State::Probing { next, .. } | State::Announcing { next, .. } => Some(next),
            State::Idle | State::Bound => None,
        }
    }

    /// Timers.
    pub fn poll(&mut self, now: Duration) -> Vec<LinkLocalAction> {
        let mut out = Vec::new();
        loop {
            match self.state {
                State::Waiting { until } if now >= until => {
                    self.state = State::Probing { sent: 0, next: now };
                }
                State::Probing { sent, next } if now >= next => {
                    if sent >= self.timing.probe_num {
                        // Probing is over without conflict: claim it.
                        out.push(LinkLocalAction::Configure(self.candidate));
                        self.state = State::Announcing { sent: 0, next: now };
                        continue;
                    }
                    out.push(LinkLocalAction::SendArp(Arp::probe(
                        self.mac,
                        self.candidate,
                    )));
                    let gap = if sent + 1 == self.timing.probe_num {
                        self.timing.announce_wait
                    } else {
                        self.random_between(self.timing.probe_min, self.timing.probe_max)
                    };
                    self.state = State::Probing {
                        sent: sent + 1,
                        next: now + gap,
                    };
                    return out;
                }
                State::Announcing { sent, next } if now >= next => {
                    out.push(LinkLocalAction::SendArp(Arp::announce(
                        self.mac,
                        self.candidate,
                    )));
                    self.state = if sent + 1 >= self.timing.announce_num {
                        State::Bound
                    } else {
                        State::Announcing {
                            sent: sent + 1,
                            next: now + self.timing.announce_interval,
                        }
                    };
                    return out;
                }
                _ => return out,
            }
        }
    }

    fn conflict_restart(&mut self, now: Duration) {
        self.conflicts = self.conflicts.saturating_add(1);
        self.candidate = next_candidate(&mut self.rng);
        let wait = if self.conflicts >= self.timing.max_conflicts {
            self.timing.rate_limit_interval
        } else {
            self.random_between(Duration::ZERO, self.timing.probe_wait)
        };
        self.state = State::Waiting { until: now + wait };
    }

    /// An ARP packet was received on the interface.
    pub fn on_arp(&mut self, now: Duration, arp: &Arp) -> Vec<LinkLocalAction> {
        if arp.sha == self.mac {
            return Vec::new(); // our own
        }
        match self.state {
            State::Waiting { .. } | State::Probing { .. } => {
                let conflict = arp.spa == self.candidate
                    || (arp.op == 1 && arp.spa.is_unspecified() && arp.tpa == self.candidate);
                if conflict {
                    self.conflict_restart(now);
                    return self.poll(now);
                }
                Vec::new()
            }
            State::Announcing { .. } | State::Bound => {
                if arp.spa != self.candidate {
                    return Vec::new();
                }
                let recent = self
                    .last_defence
                    .is_some_and(|t| now.saturating_sub(t) < self.timing.defend_interval);
                if recent {
                    // Second conflict within DEFEND_INTERVAL: give the address up.
                    let old = self.candidate;
                    self.last_defence = None;
                    self.conflict_restart(now);
                    let mut out = vec![LinkLocalAction::Deconfigure(old)];
                    out.extend(self.poll(now));
                    out
                } else {
                    self.last_defence = Some(now);
                    vec![LinkLocalAction::SendArp(Arp::announce(
                        self.mac,
                        self.candidate,
                    ))]
                }
            }
            State::Idle => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const OTHER: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn ms(x: u64) -> Duration {
        Duration::from_millis(x)
    }

    fn run(ll: &mut LinkLocal, from: u64, to: u64) -> Vec<(u64, LinkLocalAction)> {
        let mut out = Vec::new();
        for t in (from..=to).step_by(50) {
            for a in ll.poll(ms(t)) {
                out.push((t, a));
            }
        }
        out
    }

    #[test]
    fn arp_round_trip() {
        let a = Arp::probe(MAC, Ipv4Addr::new(169, 254, 3, 4));
        assert_eq!(Arp::decode(&a.encode()), Some(a));
        assert_eq!(a.encode().len(), 28);
        assert_eq!(Arp::decode(&[0; 28]), None);
        assert_eq!(Arp::decode(&a.encode()[..20]), None);
    }

    #[test]
    fn candidates_are_link_local_deterministic_and_varied() {
        let c = LinkLocal::candidates(MAC, 200);
        assert_eq!(c, LinkLocal::candidates(MAC, 200));
        for ip in &c {
            let o = ip.octets();
            assert_eq!((o[0], o[1]), (169, 254));
            assert!((1..=254).contains(&o[2]), "{ip}");
        }
        let distinct: std::collections::BTreeSet<_> = c.iter().collect();
        assert!(distinct.len() > 190);
        assert_ne!(c[0], LinkLocal::candidates(OTHER, 1)[0]);
    }

    #[test]
    fn probes_three_times_then_announces_twice() {
        let t = LinkLocalTiming::default();
        let mut ll = LinkLocal::new(MAC, t);
        let first = LinkLocal::candidates(MAC, 1)[0];
        let mut acts: Vec<(u64, LinkLocalAction)> =
            ll.start(ms(0)).into_iter().map(|a| (0, a)).collect();
        acts.extend(run(&mut ll, 0, 20_000));
        let probes: Vec<u64> = acts
            .iter()
            .filter(|(_, a)| matches!(a, LinkLocalAction::SendArp(p) if p.spa.is_unspecified()))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(probes.len(), 3);
        assert!(probes[0] <= 1000);
        assert!((1000..=2050).contains(&(probes[1] - probes[0])));
        assert!((1000..=2050).contains(&(probes[2] - probes[1])));
        let conf = acts
            .iter()
            .position(|(_, a)| *a == LinkLocalAction::Configure(first))
            .unwrap();
        assert!(
            acts[conf].0 >= probes[2] + 2000,
            "ANNOUNCE_WAIT after the last probe"
        );
        let announces: Vec<u64> = acts
            .iter()
            .filter(|(_, a)| matches!(a, LinkLocalAction::SendArp(p) if p.spa == first))
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(announces.len(), 2);
        assert_eq!(announces[1] - announces[0], 2000);
        assert_eq!(ll.address(), Some(first));
        assert_eq!(ll.next_deadline(), None);
        assert_eq!(ll.stop(), vec![LinkLocalAction::Deconfigure(first)]);
        assert!(!ll.active());
    }

    #[test]
    fn conflict_while_probing_picks_the_next_candidate() {
        let mut ll = LinkLocal::new(MAC, LinkLocalTiming::default());
        let c = LinkLocal::candidates(MAC, 3);
        ll.start(ms(0));
        run(&mut ll, 0, 1500);
        // Someone answers for the candidate.
        let reply = Arp {
            op: 2,
            sha: OTHER,
            spa: c[0],
            tha: MAC,
            tpa: c[0],
        };
        ll.on_arp(ms(1600), &reply);
        assert_eq!(ll.conflicts(), 1);
        // Another host probing the same address also counts.
        run(&mut ll, 1600, 3000);
        ll.on_arp(ms(3000), &Arp::probe(OTHER, c[1]));
        assert_eq!(ll.conflicts(), 2);
        let acts = run(&mut ll, 3000, 20_000);
        let configured = acts
            .iter()
            .find(|(_, a)| matches!(a, LinkLocalAction::Configure(_)))
            .map(|(_, a)| a.clone());
        assert_eq!(configured, Some(LinkLocalAction::Configure(c[2])));
        // Our own packets are not conflicts.
        assert!(ll.on_arp(ms(20_001), &Arp::announce(MAC, c[2])).is_empty());
    }

    #[test]
    fn rate_limited_after_max_conflicts() {
        let t = LinkLocalTiming::default();
        let mut ll = LinkLocal::new(MAC, t);
        ll.start(ms(0));
        let mut now = 0;
        for _ in 0..10 {
            let cand = LinkLocal::candidates(MAC, 20)[ll.conflicts() as usize];
            ll.on_arp(ms(now), &Arp::announce(OTHER, cand));
            now += 10;
        }
        assert_eq!(ll.conflicts(), 10);
        let d = ll.next_deadline().unwrap();
        assert!(d >= ms(now - 10) + t.rate_limit_interval, "{d:?}");
    }

    #[test]
    fn defends_once_then_yields_within_defend_interval() {
        let mut ll = LinkLocal::new(MAC, LinkLocalTiming::default());
        ll.start(ms(0));
        run(&mut ll, 0, 20_000);
        let ip = ll.address().unwrap();
        let theirs = Arp::announce(OTHER, ip);
        assert_eq!(
            ll.on_arp(ms(30_000), &theirs),
            vec![LinkLocalAction::SendArp(Arp::announce(MAC, ip))]
        );
        // Past DEFEND_INTERVAL: defend again.
        assert_eq!(ll.on_arp(ms(41_000), &theirs).len(), 1);
        assert_eq!(ll.address(), Some(ip));
        // Within it: give up and start over on a new candidate.
        let a = ll.on_arp(ms(42_000), &theirs);
        assert_eq!(a[0], LinkLocalAction::Deconfigure(ip));
        assert_eq!(ll.address(), None);
        assert!(ll.active());
    }
}
