//! The history checker: a pure function over what the clients saw and what the nodes hold.
//!
//! Rules (an append is *acknowledged* when the client got its offset back):
//! 1. every node's final log is identical;
//! 2. no value appears twice in the log;
//! 3. every acknowledged value is in the log, at the offset its acknowledgement named;
//! 4. every value in the log was appended by some client (nothing appears from nowhere);
//!    unacknowledged (timed-out) values may be present, at most once (rule 2);
//! 5. real-time order: if A was acknowledged before B was invoked, offset(A) < offset(B)
//!    (for B acknowledged or merely present).

use std::collections::HashMap;

/// One append as a client saw it. Times are nanoseconds since the run started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// The unique value appended.
    pub value: Vec<u8>,
    /// When the client invoked the append.
    pub invoke: u64,
    /// Its acknowledgement, if it got one.
    pub ack: Option<Ack>,
}

/// An acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    /// When it arrived.
    pub at: u64,
    /// The offset the cluster reported.
    pub offset: u64,
}

/// What a valid history contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Appends invoked.
    pub invoked: usize,
    /// Appends acknowledged.
    pub acked: usize,
    /// Appends not acknowledged but present in the log.
    pub unacked_present: usize,
    /// Appends not acknowledged and absent.
    pub unacked_absent: usize,
    /// Length of the final log.
    pub log_len: usize,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Node `node`'s log differs from node 0's (first differing offset, or length).
    LogsDiffer { node: usize, offset: u64 },
    /// A value occurs at several offsets.
    Duplicate { value: String, offsets: Vec<u64> },
    /// An acknowledged value is missing.
    Lost { value: String, acked_offset: u64 },
    /// An acknowledged value sits at another offset than acknowledged.
    WrongOffset {
        value: String,
        acked: u64,
        found: u64,
    },
    /// A value no client appended.
    Phantom { offset: u64 },
    /// `earlier` was acknowledged before `later` was invoked, yet sits at a higher offset.
    RealTime { earlier: String, later: String },
    /// The same value was invoked twice (a broken test, not a broken cluster).
    NotUnique { value: String },
}

fn show(v: &[u8]) -> String {
    String::from_utf8_lossy(v).into_owned()
}

/// Checks a history against the final logs of every node.
pub fn check(ops: &[Op], logs: &[Vec<Vec<u8>>]) -> Result<Summary, Vec<Violation>> {
    let mut bad = Vec::new();
    let empty = Vec::new();
    let log = logs.first().unwrap_or(&empty);
    for (node, other) in logs.iter().enumerate().skip(1) {
        let differs = log
            .iter()
            .zip(other.iter())
            .position(|(a, b)| a != b)
            .or_else(|| (log.len() != other.len()).then(|| log.len().min(other.len())));
        if let Some(at) = differs {
            bad.push(Violation::LogsDiffer {
                node,
                offset: at as u64,
            });
        }
    }
    // Where each value sits.
    let mut found: HashMap<&[u8], Vec<u64>> = HashMap::new();
    for (offset, v) in log.iter().enumerate() {
        found.entry(v.as_slice()).or_default().push(offset as u64);
    }
    for (v, offsets) in &found {
        if offsets.len() > 1 {
            bad.push(Violation::Duplicate {
                value: show(v),
                offsets: offsets.clone(),
            });
        }
    }
    let mut by_value: HashMap<&[u8], &Op> = HashMap::new();
    for op in ops {
        if by_value.insert(op.value.as_slice(), op).is_some() {
            bad.push(Violation::NotUnique {
                value: show(&op.value),
            });
        }
    }
    for (offset, v) in log.iter().enumerate() {
        if !by_value.contains_key(v.as_slice()) {
            bad.push(Violation::Phantom {
                offset: offset as u64,
            });
        }
    }
    let mut summary = Summary {
        invoked: ops.len(),
        log_len: log.len(),
        ..Summary::default()
    };
    // (offset, invoke, ack time or MAX, value) of every op present in the log.
    let mut present: Vec<(u64, u64, u64, &[u8])> = Vec::new();
    for op in ops {
        let at = found
            .get(op.value.as_slice())
            .and_then(|o| o.first())
            .copied();
        match (op.ack, at) {
            (Some(ack), None) => bad.push(Violation::Lost {
                value: show(&op.value),
                acked_offset: ack.offset,
            }),
            (Some(ack), Some(at)) => {
                summary.acked += 1;
                if ack.offset != at {
                    bad.push(Violation::WrongOffset {
                        value: show(&op.value),
                        acked: ack.offset,
                        found: at,
                    });
                }
                present.push((at, op.invoke, ack.at, &op.value));
            }
            (None, Some(at)) => {
                summary.unacked_present += 1;
                present.push((at, op.invoke, u64::MAX, &op.value));
            }
            (None, None) => summary.unacked_absent += 1,
        }
    }
    // Walk from the highest offset down, remembering the earliest acknowledgement seen
    // among higher offsets: it must not precede the invocation of a lower one.
    present.sort_by_key(|p| std::cmp::Reverse(p.0));
    let mut earliest: Option<(u64, &[u8])> = None;
    for (_, invoke, ack, value) in present {
        if let Some((e_ack, e_value)) = earliest {
            if e_ack < invoke {
                bad.push(Violation::RealTime {
                    earlier: show(e_value),
                    later: show(value),
                });
            }
        }
        if earliest.is_none_or(|(e, _)| ack < e) {
            earliest = Some((ack, value));
        }
    }
    if bad.is_empty() {
        Ok(summary)
    } else {
        Err(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(v: &str, invoke: u64, ack: Option<(u64, u64)>) -> Op {
        Op {
            value: v.as_bytes().to_vec(),
            invoke,
            ack: ack.map(|(at, offset)| Ack { at, offset }),
        }
    }

    fn log(vs: &[&str]) -> Vec<Vec<u8>> {
        vs.iter().map(|v| v.as_bytes().to_vec()).collect()
    }

    fn good() -> (Vec<Op>, Vec<Vec<Vec<u8>>>) {
        let ops = vec![
            op("a", 0, Some((10, 0))),
            op("b", 5, Some((20, 2))), // concurrent with c: either order
            op("c", 6, Some((15, 1))),
            op("d", 30, None), // timed out, present
            op("e", 31, None), // timed out, absent
            op("f", 40, Some((50, 4))),
        ];
        let l = log(&["a", "c", "b", "d", "f"]);
        (ops, vec![l.clone(), l.clone(), l])
    }

    #[test]
    fn h01_a_valid_history_passes() {
        let (ops, logs) = good();
        let s = check(&ops, &logs).unwrap();
        assert_eq!(
            s,
            Summary {
                invoked: 6,
                acked: 4,
                unacked_present: 1,
                unacked_absent: 1,
                log_len: 5
            }
        );
    }

    #[test]
    fn h02_lost_acknowledged_append() {
        let (ops, _) = good();
        let l = log(&["a", "c", "d", "f"]);
        let e = check(&ops, &[l]).unwrap_err();
        assert!(
            e.iter()
                .any(|v| matches!(v, Violation::Lost { value, .. } if value == "b")),
            "{e:?}"
        );
    }

    #[test]
    fn h03_duplicate_value() {
        let (ops, _) = good();
        let l = log(&["a", "c", "b", "d", "f", "d"]);
        let e = check(&ops, &[l]).unwrap_err();
        assert!(
            e.iter()
                .any(|v| matches!(v, Violation::Duplicate { value, .. } if value == "d")),
            "{e:?}"
        );
    }

    #[test]
    fn h04_acknowledged_at_another_offset() {
        let (mut ops, logs) = good();
        ops[5].ack = Some(Ack { at: 50, offset: 3 });
        let e = check(&ops, &logs).unwrap_err();
        assert!(e.iter().any(|v| matches!(v, Violation::WrongOffset { value, acked: 3, found: 4 } if value == "f")), "{e:?}");
    }

    #[test]
    fn h05_real_time_order_broken() {
        // a was acknowledged (t=10) before f was invoked (t=40) but sits after it.
        let (ops, _) = good();
        let l = log(&["f", "c", "b", "d", "a"]);
        let e = check(&ops, &[l]).unwrap_err();
        assert!(e.iter().any(|v| matches!(v, Violation::RealTime { earlier, .. } if earlier == "a" || earlier == "c")), "{e:?}");
        // An unacknowledged value placed before something acknowledged before its invocation.
        let ops2 = vec![op("x", 0, Some((10, 1))), op("y", 20, None)];
        let e = check(&ops2, &[log(&["y", "x"])]).unwrap_err();
        assert!(e.iter().any(|v| matches!(v, Violation::RealTime { earlier, later } if earlier == "x" && later == "y")), "{e:?}");
    }

    #[test]
    fn h06_nodes_disagree() {
        let (ops, logs) = good();
        let mut other = logs[0].clone();
        other.swap(1, 2);
        let e = check(&ops, &[logs[0].clone(), logs[1].clone(), other]).unwrap_err();
        assert_eq!(e, vec![Violation::LogsDiffer { node: 2, offset: 1 }]);
        let short = logs[0][..4].to_vec();
        let e = check(&ops, &[logs[0].clone(), short]).unwrap_err();
        assert_eq!(e, vec![Violation::LogsDiffer { node: 1, offset: 4 }]);
    }

    #[test]
    fn h07_phantom_value() {
        let (ops, _) = good();
        let l = log(&["a", "c", "b", "d", "f", "zzz"]);
        let e = check(&ops, &[l]).unwrap_err();
        assert_eq!(e, vec![Violation::Phantom { offset: 5 }]);
    }
}
