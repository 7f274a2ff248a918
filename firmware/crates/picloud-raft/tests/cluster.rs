//! An in-process cluster over real TCP on 127.0.0.1: membership, forwarding,
//! linearizable reads, exactly-once retries, leader failure and restart,
//! snapshot + purge + a new node catching up by snapshot install.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use common::TempDir;
use openraft::{ServerState, SnapshotPolicy};
use picloud_raft::{ClientRequest, NodeConfig, NodeId, Op, RaftNode};

fn config(id: NodeId, dir: &TempDir, addr: &str) -> NodeConfig {
    let mut c = NodeConfig::new(id, dir.path(), addr);
    c.raft.heartbeat_interval = 50;
    c.raft.election_timeout_min = 300;
    c.raft.election_timeout_max = 600;
    c.raft.snapshot_policy = SnapshotPolicy::Never;
    c.raft.max_in_snapshot_log_to_keep = 0;
    c.raft.purge_batch_size = 1;
    c.forward_timeout = Duration::from_secs(3);
    c
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn req(client: u128, seq: u64, tag: &str) -> ClientRequest {
    let mut payload = tag.as_bytes().to_vec();
    payload.resize(256, b'.');
    ClientRequest {
        client,
        seq,
        op: Op::Append { payload },
    }
}

async fn leader_of(nodes: &[&RaftNode]) -> NodeId {
    let mut leader = None;
    eventually("a leader", || {
        let l = nodes
            .iter()
            .find(|n| n.status().state == ServerState::Leader)
            .map(|n| n.id());
        leader = l;
        async move { l.is_some() }
    })
    .await;
    leader.unwrap()
}

async fn all_events(n: &RaftNode) -> Vec<(u64, Vec<u8>)> {
    n.read_events(0, 1_000_000, true).await.unwrap()
}

async fn caught_up(nodes: &[&RaftNode]) {
    eventually("applied indexes to converge", || {
        let applied: BTreeSet<Option<u64>> =
            nodes.iter().map(|n| n.status().last_applied).collect();
        let counts: BTreeSet<u64> = nodes.iter().map(|n| n.status().event_count).collect();
        async move { applied.len() == 1 && counts.len() == 1 }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_over_tcp() {
    let dirs: Vec<TempDir> = (0..4)
        .map(|i| TempDir::new(&format!("cluster{i}")))
        .collect();
    let n1 = RaftNode::start(config(1, &dirs[0], "127.0.0.1:0"))
        .await
        .unwrap();
    let n2 = RaftNode::start(config(2, &dirs[1], "127.0.0.1:0"))
        .await
        .unwrap();
    let n3 = RaftNode::start(config(3, &dirs[2], "127.0.0.1:0"))
        .await
        .unwrap();

    // Form the cluster: 1 alone, 2 and 3 as learners, the policy promotes them.
    n1.initialize(BTreeMap::from([(1, n1.peer_info())]))
        .await
        .unwrap();
    assert_eq!(leader_of(&[&n1]).await, 1);
    n1.add_learner(2, n2.peer_info()).await.unwrap();
    n1.add_learner(3, n3.peer_info()).await.unwrap();
    assert_eq!(n1.status().learners, vec![2, 3]);
    let voters = n1.rebalance_voters().await.unwrap();
    assert_eq!(voters, Some(BTreeSet::from([1, 2, 3])));
    assert_eq!(n1.rebalance_voters().await.unwrap(), None);

    // Writes from every node (followers forward to the leader).
    let nodes = [&n1, &n2, &n3];
    let mut acked = Vec::new();
    for i in 0..30u64 {
        let n = nodes[(i % 3) as usize];
        let client = u128::from(n.id());
        let r = n
            .append(req(client, i / 3 + 1, &format!("n{}-{i}", n.id())))
            .await
            .unwrap();
        assert!(!r.duplicate);
        assert_eq!(r.count, 1);
        acked.push((client, i / 3 + 1, r));
    }
    let offsets: BTreeSet<u64> = acked.iter().map(|(_, _, r)| r.first_offset).collect();
    assert_eq!(offsets, (0..30).collect());

    // A batch, and linearizable reads on every node see every acknowledged write.
    let batch = ClientRequest {
        client: 99,
        seq: 1,
        op: Op::AppendBatch {
            payloads: vec![vec![7; 256]; 5],
        },
    };
    let r = n3.append(batch.clone()).await.unwrap();
    assert_eq!((r.first_offset, r.count), (30, 5));
    let reference = all_events(&n1).await;
    assert_eq!(reference.len(), 35);
    for n in nodes {
        assert_eq!(all_events(n).await, reference, "node {}", n.id());
    }
    caught_up(&nodes).await;
    let hashes: BTreeSet<u64> = nodes.iter().map(|n| n.status().event_hash).collect();
    assert_eq!(hashes.len(), 1);

    // Exactly once: retrying acknowledged requests (from another node) appends nothing.
    let (client, seq, first) = acked[4];
    let again = n3.append(req(client, seq, "retry")).await.unwrap();
    assert!(again.duplicate);
    let again_batch = n2.append(batch).await.unwrap();
    assert!(again_batch.duplicate);
    assert_eq!((again_batch.first_offset, again_batch.count), (30, 5));
    let _ = first;
    assert_eq!(all_events(&n2).await.len(), 35);

    // Kill the leader; a new one is elected and writes continue.
    let old = leader_of(&nodes).await;
    let mut live: Vec<RaftNode> = Vec::new();
    let mut killed = None;
    for n in [n1, n2, n3] {
        if n.id() == old {
            killed = Some((n.id(), n.local_addr()));
            n.shutdown().await.unwrap();
        } else {
            live.push(n);
        }
    }
    let (old_id, old_addr) = killed.unwrap();
    let new_leader = leader_of(&[&live[0], &live[1]]).await;
    assert_ne!(new_leader, old_id);
    for (k, n) in live.iter().enumerate() {
        for j in 0..5u64 {
            let r = n
                .append(req(1000 + k as u128, j + 1, "after-failover"))
                .await
                .unwrap();
            assert!(!r.duplicate);
        }
    }
    assert_eq!(all_events(&live[0]).await.len(), 45);

    // The old node restarts from its data directory and catches up.
    let old_dir = &dirs[(old_id - 1) as usize];
    let restarted = RaftNode::start(config(old_id, old_dir, &old_addr.to_string()))
        .await
        .unwrap();
    live.push(restarted);
    let refs: Vec<&RaftNode> = live.iter().collect();
    caught_up(&refs).await;
    let reference = all_events(&live[0]).await;
    assert_eq!(reference.len(), 45);
    for n in &live {
        assert_eq!(
            all_events(n).await,
            reference,
            "node {} after restart",
            n.id()
        );
    }

    // Snapshot and purge on the leader, then a new node catches up by snapshot install.
    let lid = leader_of(&refs).await;
    let li = live.iter().position(|n| n.id() == lid).unwrap();
    let leader = &live[li];
    leader.raft().trigger().snapshot().await.unwrap();
    eventually("snapshot and purge on the leader", || {
        let m = leader.metrics();
        let ok = m.snapshot.is_some()
            && m.purged.is_some()
            && m.purged.map(|p| p.index) >= m.snapshot.map(|s| s.index);
        async move { ok }
    })
    .await;
    let purged = leader.metrics().purged.unwrap().index;
    let n4 = RaftNode::start(config(4, &dirs[3], "127.0.0.1:0"))
        .await
        .unwrap();
    leader.add_learner(4, n4.peer_info()).await.unwrap();
    live.push(n4);
    let leader = &live[li];
    let refs: Vec<&RaftNode> = live.iter().collect();
    caught_up(&refs).await;
    let n4 = live.last().unwrap();
    let snap = n4.metrics().snapshot;
    assert!(
        snap.map(|s| s.index) >= Some(purged),
        "node 4 installed a snapshot: {snap:?}"
    );
    assert_eq!(all_events(n4).await, reference);
    assert_eq!(n4.status().event_hash, leader.status().event_hash);
    // And keeps up with new writes after the install.
    let r = n4.append(req(4000, 1, "from-n4")).await.unwrap();
    assert_eq!(r.first_offset, 45);
    caught_up(&refs).await;

    // The policy promotes the new learner (fewer than 5 voters).
    let voters = leader.rebalance_voters().await.unwrap().unwrap();
    assert_eq!(voters.len(), 4);
    assert!(voters.contains(&4));

    // Restart the node that snapshotted and purged its log: it comes back from
    // snapshot + log tail (event store truncated to the snapshot, re-applied).
    let (id, addr) = (lid, live[li].local_addr());
    let node = live.remove(li);
    node.shutdown().await.unwrap();
    let survivors: Vec<&RaftNode> = live.iter().collect();
    let _ = leader_of(&survivors).await;
    let w = live[0]
        .append(req(5000, 1, "while-restarting"))
        .await
        .unwrap();
    assert_eq!(w.first_offset, 46);
    let back = RaftNode::start(config(id, &dirs[(id - 1) as usize], &addr.to_string()))
        .await
        .unwrap();
    live.push(back);
    let refs: Vec<&RaftNode> = live.iter().collect();
    caught_up(&refs).await;
    let reference = all_events(&live[0]).await;
    assert_eq!(reference.len(), 47);
    for n in &live {
        assert_eq!(
            all_events(n).await,
            reference,
            "node {} after snapshot restart",
            n.id()
        );
    }

    for n in live {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voter_cap_and_promotion_on_removal() {
    let dirs: Vec<TempDir> = (0..6).map(|i| TempDir::new(&format!("cap{i}"))).collect();
    let mut nodes = Vec::new();
    for (i, d) in dirs.iter().enumerate() {
        nodes.push(
            RaftNode::start(config(i as u64 + 1, d, "127.0.0.1:0"))
                .await
                .unwrap(),
        );
    }
    let n1 = &nodes[0];
    n1.initialize(BTreeMap::from([(1, n1.peer_info())]))
        .await
        .unwrap();
    assert_eq!(leader_of(&[n1]).await, 1);
    // Join order 6, 2, 3, 4, 5: node 6 serves longest among the learners.
    for id in [6u64, 2, 3, 4, 5] {
        let n = &nodes[(id - 1) as usize];
        n1.add_learner(id, n.peer_info()).await.unwrap();
        n1.rebalance_voters().await.unwrap();
    }
    let st = n1.status();
    assert_eq!(st.voters, BTreeSet::from([1, 6, 2, 3, 4]));
    assert_eq!(st.learners, vec![5]);
    // Oversized requests are rejected before they reach the log.
    let big = ClientRequest {
        client: 1,
        seq: 1,
        op: Op::Append {
            payload: vec![0; picloud_raft::MAX_REQUEST_BYTES + 1],
        },
    };
    assert!(matches!(
        nodes[2].append(big).await,
        Err(picloud_raft::ClientError::Rejected { .. })
    ));
    // More than five voters is refused outright.
    assert!(n1
        .change_membership(BTreeSet::from([1, 2, 3, 4, 5, 6]))
        .await
        .is_err());

    // Writes work with five voters; then voter 3 leaves and learner 5 is promoted.
    let r = nodes[4].append(req(5, 1, "from-learner")).await.unwrap();
    assert_eq!(r.first_offset, 0);
    n1.remove_node(3).await.unwrap();
    let st = n1.status();
    assert_eq!(st.voters, BTreeSet::from([1, 2, 4, 5, 6]));
    assert!(st.learners.is_empty());
    let r = nodes[5].append(req(6, 1, "after-removal")).await.unwrap();
    assert_eq!(r.first_offset, 1);

    for n in nodes {
        n.shutdown().await.unwrap();
    }
}
