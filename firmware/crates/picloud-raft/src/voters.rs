//! The voter policy: at most [`MAX_VOTERS`] voters; every other node is a
//! learner; when there are fewer voters than the cap, the longest-serving
//! learners are promoted. "Longest-serving" = smallest log index of the
//! membership entry that first contained the node (tracked by the state
//! machine, identical on every node), ties broken by the smaller node id.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::NodeId;

/// Most voters a cluster has.
pub const MAX_VOTERS: usize = 5;

/// Learners ordered from longest- to shortest-serving. Nodes missing from
/// `joined` (not applied yet) count as the newest.
pub fn learners_by_seniority(
    nodes: &BTreeSet<NodeId>,
    voters: &BTreeSet<NodeId>,
    joined: &BTreeMap<NodeId, u64>,
) -> Vec<NodeId> {
    let mut l: Vec<(u64, NodeId)> = nodes
        .difference(voters)
        .map(|id| (joined.get(id).copied().unwrap_or(u64::MAX), *id))
        .collect();
    l.sort_unstable();
    l.into_iter().map(|(_, id)| id).collect()
}

/// The voter set the policy wants, or `None` if `voters` already complies.
/// Voters above the cap are demoted newest first (by `joined`), which only
/// happens if someone configured too many by hand.
pub fn plan_voters(
    nodes: &BTreeSet<NodeId>,
    voters: &BTreeSet<NodeId>,
    joined: &BTreeMap<NodeId, u64>,
    max: usize,
) -> Option<BTreeSet<NodeId>> {
    let mut want: BTreeSet<NodeId> = voters.intersection(nodes).copied().collect();
    if want.len() > max {
        let mut v: Vec<(u64, NodeId)> = want
            .iter()
            .map(|id| (joined.get(id).copied().unwrap_or(u64::MAX), *id))
            .collect();
        v.sort_unstable();
        want = v.into_iter().take(max).map(|(_, id)| id).collect();
    }
    for l in learners_by_seniority(nodes, &want, joined) {
        if want.len() >= max {
            break;
        }
        want.insert(l);
    }
    if &want == voters || want.is_empty() {
        None
    } else {
        Some(want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    #[test]
    fn six_nodes_give_five_voters_and_one_learner() {
        // Node 1 initialised alone, then 2..=6 joined in order 6, 2, 3, 4, 5.
        let joined: BTreeMap<u64, u64> = [(1, 0), (6, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
            .into_iter()
            .collect();
        let nodes = set(&[1, 2, 3, 4, 5, 6]);
        let want = plan_voters(&nodes, &set(&[1]), &joined, MAX_VOTERS).unwrap();
        assert_eq!(want, set(&[1, 6, 2, 3, 4]));
        assert_eq!(learners_by_seniority(&nodes, &want, &joined), vec![5]);
        // Already compliant: nothing to do.
        assert_eq!(plan_voters(&nodes, &want, &joined, MAX_VOTERS), None);
    }

    #[test]
    fn removing_a_voter_promotes_the_longest_serving_learner() {
        // Learners 7 (joined at 9) and 5 (joined at 6): 5 serves longer despite the id order.
        let joined: BTreeMap<u64, u64> = [(1, 0), (2, 1), (3, 2), (4, 3), (6, 4), (5, 6), (7, 9)]
            .into_iter()
            .collect();
        let voters = set(&[1, 2, 3, 4, 6]);
        // Voter 3 leaves the cluster.
        let nodes = set(&[1, 2, 4, 5, 6, 7]);
        let remaining: BTreeSet<u64> = voters.iter().copied().filter(|v| *v != 3).collect();
        let want = plan_voters(&nodes, &remaining, &joined, MAX_VOTERS).unwrap();
        assert_eq!(want, set(&[1, 2, 4, 5, 6]));
        assert_eq!(learners_by_seniority(&nodes, &want, &joined), vec![7]);
    }

    #[test]
    fn ties_break_by_id_and_unknown_nodes_are_newest() {
        let joined: BTreeMap<u64, u64> = [(1, 0), (3, 5), (2, 5)].into_iter().collect();
        let nodes = set(&[1, 2, 3, 9]);
        assert_eq!(
            learners_by_seniority(&nodes, &set(&[1]), &joined),
            vec![2, 3, 9]
        );
        assert_eq!(
            plan_voters(&nodes, &set(&[1]), &joined, 3),
            Some(set(&[1, 2, 3]))
        );
    }

    #[test]
    fn too_many_voters_are_trimmed_newest_first() {
        let joined: BTreeMap<u64, u64> = (1..=7).map(|i| (i, i)).collect();
        let nodes = set(&[1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(
            plan_voters(&nodes, &nodes, &joined, MAX_VOTERS),
            Some(set(&[1, 2, 3, 4, 5]))
        );
    }
}
