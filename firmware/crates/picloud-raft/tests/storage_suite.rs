//! openraft's own storage test suite against the picloud-log adapter and the
//! event-store state machine, plus state machine tests of our own.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::TempDir;
use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{StoreBuilder, Suite};
use openraft::{CommittedLeaderId, EntryPayload, Membership, RaftSnapshotBuilder};
use picloud_log::{Log, LogConfig};
use picloud_raft::{
    BatchResponse, ClientBatch, ClientRequest, ClientResponse, Entry, LogId, LogStore, Op,
    SmConfig, StateMachine, StorageError, TypeConfig,
};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = TempDir::new("suite");
        let (log, _) = Log::open(dir.path().join("raft"), LogConfig::default()).unwrap();
        let sm = StateMachine::open(dir.path(), SmConfig::default()).unwrap();
        Ok((dir, LogStore::new(Arc::new(log)), sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).unwrap();
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn normal(index: u64, client: u128, seq: u64, op: Op) -> Entry {
    Entry {
        log_id: log_id(1, index),
        payload: EntryPayload::Normal(ClientBatch {
            requests: vec![ClientRequest { client, seq, op }],
        }),
    }
}

/// The per-request responses of applied entries, flattened.
fn flat(r: Vec<BatchResponse>) -> Vec<ClientResponse> {
    r.into_iter().flat_map(|b| b.responses).collect()
}

fn append(p: &[u8]) -> Op {
    Op::Append {
        payload: p.to_vec(),
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn exactly_once_and_offsets() {
    rt().block_on(async {
        let dir = TempDir::new("sm");
        let mut sm = StateMachine::open(dir.path(), SmConfig::default()).unwrap();
        let r = flat(
            sm.apply([
                normal(1, 7, 1, append(b"a")),
                normal(
                    2,
                    7,
                    2,
                    Op::AppendBatch {
                        payloads: vec![b"b".to_vec(), b"c".to_vec()],
                    },
                ),
                normal(3, 7, 2, append(b"dup")),
                normal(4, 7, 1, append(b"old")),
                normal(5, 8, 1, append(b"d")),
            ])
            .await
            .unwrap(),
        );
        assert_eq!(
            r[0],
            ClientResponse {
                first_offset: 0,
                count: 1,
                duplicate: false
            }
        );
        assert_eq!(
            r[1],
            ClientResponse {
                first_offset: 1,
                count: 2,
                duplicate: false
            }
        );
        assert_eq!(
            r[2],
            ClientResponse {
                first_offset: 1,
                count: 2,
                duplicate: true
            }
        );
        assert_eq!(
            r[3],
            ClientResponse {
                first_offset: 1,
                count: 2,
                duplicate: true
            }
        );
        assert_eq!(
            r[4],
            ClientResponse {
                first_offset: 3,
                count: 1,
                duplicate: false
            }
        );
        let ev = sm.event_store().read(0, 100).await.unwrap();
        let payloads: Vec<&[u8]> = ev.iter().map(|(_, p)| p.as_slice()).collect();
        assert_eq!(payloads, vec![&b"a"[..], b"b", b"c", b"d"]);
        assert_eq!(sm.data().event_count, 4);
    });
}

#[test]
fn append_if_appends_only_at_the_expected_offset() {
    rt().block_on(async {
        let dir = TempDir::new("sm-if");
        let mut sm = StateMachine::open(dir.path(), SmConfig::default()).unwrap();
        let cond = |expected_offset: u64, p: &[&[u8]]| Op::AppendIf {
            expected_offset,
            payloads: p.iter().map(|b| b.to_vec()).collect(),
        };
        let r = flat(
            sm.apply([
                // Two writers decided against the same state (0 events): the
                // first wins, the second is refused deterministically.
                normal(1, 7, 1, cond(0, &[b"a", b"b"])),
                normal(2, 8, 1, cond(0, &[b"x"])),
                // A retry of the refused request returns the same refusal.
                normal(3, 8, 1, cond(2, &[b"x"])),
                // Decided again against the new state: appended.
                normal(4, 8, 2, cond(2, &[b"x"])),
                // Unconditional appends are unaffected.
                normal(5, 9, 1, append(b"y")),
                // An offset from the future is refused too.
                normal(6, 7, 2, cond(9, &[b"z"])),
            ])
            .await
            .unwrap(),
        );
        assert_eq!(
            (r[0].first_offset, r[0].count, r[0].duplicate),
            (0, 2, false)
        );
        assert!(!r[0].refused(0, 2));
        assert_eq!(
            (r[1].first_offset, r[1].count, r[1].duplicate),
            (2, 0, false)
        );
        assert!(r[1].refused(0, 1));
        assert_eq!(
            (r[2].first_offset, r[2].count, r[2].duplicate),
            (2, 0, true)
        );
        assert!(r[2].refused(0, 1));
        assert_eq!((r[3].first_offset, r[3].count), (2, 1));
        assert!(!r[3].refused(2, 1));
        assert_eq!((r[4].first_offset, r[4].count), (3, 1));
        assert!(r[5].refused(9, 1));
        let ev = sm.event_store().read(0, 100).await.unwrap();
        let payloads: Vec<&[u8]> = ev.iter().map(|(_, p)| p.as_slice()).collect();
        assert_eq!(payloads, vec![&b"a"[..], b"b", b"x", b"y"]);
        assert_eq!(sm.data().event_count, 4);
    });
}

#[test]
fn sessions_are_evicted_by_log_index() {
    rt().block_on(async {
        let dir = TempDir::new("evict");
        let mut sm = StateMachine::open(
            dir.path(),
            SmConfig {
                session_window: 10,
                ..SmConfig::default()
            },
        )
        .unwrap();
        sm.apply([normal(1, 1, 1, append(b"x"))]).await.unwrap();
        sm.apply([normal(5, 2, 1, append(b"y"))]).await.unwrap();
        assert_eq!(sm.data().sessions.len(), 2);
        sm.apply([normal(12, 3, 1, append(b"z"))]).await.unwrap();
        // Client 1 (last at index 1) is idle for more than 10 indices; client 2 is not.
        let clients: BTreeSet<u128> = sm.data().sessions.keys().copied().collect();
        assert_eq!(clients, [2, 3].into_iter().collect());
    });
}

#[test]
fn restart_truncates_the_event_store_to_the_snapshot() {
    rt().block_on(async {
        let dir = TempDir::new("restart");
        let mut sm = StateMachine::open(dir.path(), SmConfig::default()).unwrap();
        sm.apply([normal(1, 1, 1, append(b"a")), normal(2, 1, 2, append(b"b"))])
            .await
            .unwrap();
        let snap = sm
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        assert_eq!(snap.meta.last_log_id, Some(log_id(1, 2)));
        sm.apply([normal(3, 1, 3, append(b"c"))]).await.unwrap();
        let (count, hash) = sm.event_store().count_and_hash();
        assert_eq!(count, 3);
        drop(sm);
        let mut sm = StateMachine::open(dir.path(), SmConfig::default()).unwrap();
        assert_eq!(sm.data().event_count, 2);
        assert_eq!(sm.applied_state().await.unwrap().0, Some(log_id(1, 2)));
        // openraft re-applies entry 3: the store converges to the same events.
        sm.apply([normal(3, 1, 3, append(b"c"))]).await.unwrap();
        assert_eq!(sm.event_store().count_and_hash(), (count, hash));
        let ev = sm.event_store().read(0, 10).await.unwrap();
        assert_eq!(ev.len(), 3);
    });
}

#[test]
fn snapshot_install_replaces_events_and_survives_restart() {
    rt().block_on(async {
        let a = TempDir::new("leader");
        let b = TempDir::new("follower");
        let mut sm_a = StateMachine::open(a.path(), SmConfig::default()).unwrap();
        let mut sm_b = StateMachine::open(b.path(), SmConfig::default()).unwrap();
        sm_b.apply([normal(1, 9, 1, append(b"stale"))])
            .await
            .unwrap();
        let nodes: std::collections::BTreeMap<u64, picloud_raft::PeerInfo> = [
            (1, picloud_raft::PeerInfo::new("127.0.0.1:1")),
            (2, picloud_raft::PeerInfo::new("127.0.0.1:2")),
        ]
        .into_iter()
        .collect();
        let members = Membership::new(vec![[1u64, 2].into_iter().collect()], nodes);
        sm_a.apply([
            Entry {
                log_id: log_id(1, 1),
                payload: EntryPayload::Membership(members),
            },
            normal(
                2,
                1,
                1,
                Op::AppendBatch {
                    payloads: (0..100u8).map(|i| vec![i; 256]).collect(),
                },
            ),
        ])
        .await
        .unwrap();
        let built = sm_a
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        let snap = sm_a.get_current_snapshot().await.unwrap().unwrap();
        assert_eq!(snap.meta, built.meta);
        sm_b.install_snapshot(&snap.meta, snap.snapshot)
            .await
            .unwrap();
        assert_eq!(
            sm_b.event_store().count_and_hash(),
            sm_a.event_store().count_and_hash()
        );
        assert_eq!(sm_b.data().sessions, sm_a.data().sessions);
        assert_eq!(sm_b.data().joined, sm_a.data().joined);
        // Keeps applying after the install.
        sm_b.apply([normal(3, 1, 2, append(b"next"))])
            .await
            .unwrap();
        assert_eq!(sm_b.data().event_count, 101);
        drop(sm_b);
        let sm_b = StateMachine::open(b.path(), SmConfig::default()).unwrap();
        assert_eq!(sm_b.data().event_count, 100);
        assert_eq!(
            sm_b.event_store().count_and_hash(),
            sm_a.event_store().count_and_hash()
        );
        assert!(!b.path().join("events.new").exists());
        assert!(!b.path().join("events.old").exists());
    });
}

#[test]
fn log_store_round_trip_and_reopen() {
    rt().block_on(async {
        let dir = TempDir::new("log");
        let (log, _) = Log::open(dir.path().join("raft"), LogConfig::default()).unwrap();
        let mut ls = LogStore::new(Arc::new(log));
        let vote = openraft::Vote::new(3, 2);
        ls.save_vote(&vote).await.unwrap();
        ls.save_committed(Some(log_id(3, 7))).await.unwrap();
        ls.flush_committed().await.unwrap();
        drop(ls);
        let (log, _) = Log::open(dir.path().join("raft"), LogConfig::default()).unwrap();
        let mut ls = LogStore::new(Arc::new(log));
        assert_eq!(ls.read_vote().await.unwrap(), Some(vote));
        assert_eq!(ls.read_committed().await.unwrap(), Some(log_id(3, 7)));
    });
}
