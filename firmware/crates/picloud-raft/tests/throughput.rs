//! A rough in-process load probe (not the benchmark of docs/perf.md): 3 nodes
//! over loopback TCP, one sequential client, then many concurrent clients.
//! Runs only with `PICLOUD_RAFT_PROBE=1` (use `--release`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::TempDir;
use picloud_raft::{ClientRequest, NodeConfig, Op, RaftNode};
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_probe() {
    if std::env::var_os("PICLOUD_RAFT_PROBE").is_none() {
        return;
    }
    let dirs: Vec<TempDir> = (0..3).map(|i| TempDir::new(&format!("probe{i}"))).collect();
    let mut nodes = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        let mut c = NodeConfig::new(i as u64 + 1, d.path(), "127.0.0.1:0");
        c.raft.heartbeat_interval = 50;
        c.raft.election_timeout_min = 300;
        c.raft.election_timeout_max = 600;
        nodes.push(Arc::new(RaftNode::start(c).await.unwrap()));
    }
    nodes[0]
        .initialize(BTreeMap::from([(1, nodes[0].peer_info())]))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    nodes[0].add_learner(2, nodes[1].peer_info()).await.unwrap();
    nodes[0].add_learner(3, nodes[2].peer_info()).await.unwrap();
    nodes[0].rebalance_voters().await.unwrap();

    let mut lat = Vec::new();
    for seq in 1..=500u64 {
        let t = Instant::now();
        nodes[0]
            .append(ClientRequest {
                client: 1,
                seq,
                op: Op::Append {
                    payload: vec![1; 256],
                },
            })
            .await
            .unwrap();
        lat.push(t.elapsed());
    }
    lat.sort();
    println!(
        "1 client on the leader: p50 {:?} p99 {:?}",
        lat[lat.len() / 2],
        lat[lat.len() * 99 / 100]
    );

    for (clients, on) in [(16u128, 0usize), (256, 0), (256, 1)] {
        let per = 4000 / clients as u64;
        let t = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for c in 0..clients {
            let n = Arc::clone(&nodes[on]);
            set.spawn(async move {
                let mut l = Vec::new();
                for seq in 1..=per {
                    let t = Instant::now();
                    n.append(ClientRequest {
                        client: 1000 * clients + 100_000 * on as u128 + c,
                        seq,
                        op: Op::Append {
                            payload: vec![2; 256],
                        },
                    })
                    .await
                    .unwrap();
                    l.push(t.elapsed());
                }
                l
            });
        }
        let mut all = Vec::new();
        while let Some(r) = set.join_next().await {
            all.extend(r.unwrap());
        }
        let secs = t.elapsed().as_secs_f64();
        all.sort();
        println!(
            "{clients} clients on node {}: {:.0} writes/s, p50 {:?} p99 {:?}",
            on + 1,
            all.len() as f64 / secs,
            all[all.len() / 2],
            all[all.len() * 99 / 100]
        );
    }
    for n in nodes {
        Arc::try_unwrap(n).unwrap().shutdown().await.unwrap();
    }
}
