//! A fault-injecting TCP proxy, one in front of each node's listener.
//!
//! Nodes advertise their proxy's address, so every node-to-node connection (Raft traffic,
//! forwarded writes, admin calls) goes through the destination's proxy. picloud-raft does
//! not bind a source address and Linux picks 127.0.0.1 as the source of every loopback
//! connection, so the proxy cannot tell sources apart by IP. Instead it looks the connecting
//! socket up in `/proc/net/tcp` (peer address -> socket inode) and finds which node process
//! holds that inode in `/proc/<pid>/fd`. A connection from an unknown process is let through
//! only while no partition is active.
//!
//! A partition blocks (source, destination) pairs: new connections are closed on accept
//! and live ones are cut (both sockets dropped).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

/// Shared fault state of all proxies.
#[derive(Debug, Default)]
pub struct Net {
    blocked: Mutex<HashSet<(usize, usize)>>,
    conns: Mutex<Vec<(Option<usize>, usize, AbortHandle)>>,
    /// Process id of each node (None while it is down).
    pub pids: Mutex<Vec<Option<u32>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Net {
    /// A network of `n` nodes.
    pub fn new(n: usize) -> Arc<Net> {
        Arc::new(Net {
            pids: Mutex::new(vec![None; n]),
            ..Net::default()
        })
    }

    /// Cuts `node` off from every other node, both directions.
    pub fn isolate(&self, node: usize) {
        let n = lock(&self.pids).len();
        {
            let mut b = lock(&self.blocked);
            for other in (0..n).filter(|o| *o != node) {
                b.insert((node, other));
                b.insert((other, node));
            }
        }
        let mut conns = lock(&self.conns);
        conns.retain(|(src, dst, h)| {
            let cut = *dst == node || *src == Some(node) || src.is_none();
            if cut {
                h.abort();
            }
            !cut && !h.is_finished()
        });
    }

    /// Removes every partition.
    pub fn heal(&self) {
        lock(&self.blocked).clear();
    }

    fn allowed(&self, src: Option<usize>, dst: usize) -> bool {
        let b = lock(&self.blocked);
        match src {
            Some(s) => !b.contains(&(s, dst)),
            None => b.is_empty(),
        }
    }
}

fn hex_addr(a: &SocketAddr) -> Option<String> {
    match a {
        SocketAddr::V4(v4) => Some(format!(
            "{:08X}:{:04X}",
            u32::from_le_bytes(v4.ip().octets()),
            v4.port()
        )),
        SocketAddr::V6(_) => None,
    }
}

/// The node whose process owns the socket connected from `peer` to `local`.
fn source_node(net: &Net, peer: &SocketAddr, local: &SocketAddr) -> Option<usize> {
    let (p, l) = (hex_addr(peer)?, hex_addr(local)?);
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let inode = table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        (f.get(1) == Some(&p.as_str()) && f.get(2) == Some(&l.as_str()))
            .then(|| f.get(9).map(|s| s.to_string()))
            .flatten()
    })?;
    let needle = format!("socket:[{inode}]");
    let pids = lock(&net.pids).clone();
    for (node, pid) in pids.iter().enumerate() {
        let Some(pid) = pid else { continue };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|t| t.to_string_lossy() == needle) {
                return Some(node);
            }
        }
    }
    None
}

/// Starts the proxy for node `dst`: accepts on `listener`, forwards to `target`.
pub fn spawn(net: Arc<Net>, dst: usize, listener: TcpListener, target: SocketAddr) {
    tokio::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let Ok(local) = tcp.local_addr() else {
                continue;
            };
            let net = Arc::clone(&net);
            tokio::spawn(async move {
                let mut src = None;
                for _ in 0..5 {
                    src = source_node(&net, &peer, &local);
                    if src.is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                if !net.allowed(src, dst) {
                    return; // dropping the socket closes it
                }
                let Ok(up) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = up.set_nodelay(true);
                let _ = tcp.set_nodelay(true);
                let task = tokio::spawn(async move {
                    let (mut a, mut b) = (tcp, up);
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                });
                let h = task.abort_handle();
                // A partition may have started while connecting.
                if !net.allowed(src, dst) {
                    h.abort();
                    return;
                }
                let mut conns = lock(&net.conns);
                conns.retain(|c| !c.2.is_finished());
                conns.push((src, dst, h));
            });
        }
    });
}
