//! The restart policy for supervised children (`picloud node`): exponential backoff, reset
//! after a stable run. Pure: time is a [`Duration`] since an arbitrary start, passed in.

use std::time::Duration;

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay before the first restart after a failure.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
    /// A child that ran at least this long counts as healthy: the next failure starts the
    /// backoff again from `initial`.
    pub stable_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            stable_after: Duration::from_secs(60),
        }
    }
}

impl Backoff {
    /// The delay after `failures` consecutive quick failures (1 → `initial`, doubling, capped).
    pub fn delay(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(30);
        self.initial
            .checked_mul(1u32 << shift)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// How a child ended, as `waitpid` reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by a signal.
    Signaled(i32),
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exited with status {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Where the supervised child is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// Waiting until `at` to start it (at start-up `at` is zero).
    Waiting {
        /// When to start.
        at: Duration,
    },
    /// Running as `pid` since `since`.
    Running {
        /// Its pid.
        pid: i32,
        /// When it started.
        since: Duration,
    },
    /// Stopped on purpose (shutdown): never restarted.
    Stopped,
}

/// One supervised child's lifecycle.
#[derive(Debug, Clone)]
pub struct Supervisor {
    policy: Backoff,
    state: ChildState,
    failures: u32,
    starts: u64,
    last_exit: Option<ExitStatus>,
}

impl Supervisor {
    /// A supervisor that wants the child started right away.
    pub fn new(policy: Backoff) -> Supervisor {
        Supervisor {
            policy,
            state: ChildState::Waiting { at: Duration::ZERO },
            failures: 0,
            starts: 0,
            last_exit: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ChildState {
        self.state
    }

    /// How many times the child was started.
    pub fn starts(&self) -> u64 {
        self.starts
    }

    /// Consecutive quick failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// How the child last ended.
    pub fn last_exit(&self) -> Option<ExitStatus> {
        self.last_exit
    }

    /// Whether the child should be started now.
    pub fn due(&self, now: Duration) -> bool {
        matches!(self.state, ChildState::Waiting { at } if now >= at)
    }

    /// When [`Supervisor::due`] next becomes true, if it will.
    pub fn next_deadline(&self) -> Option<Duration> {
        match self.state {
            ChildState::Waiting { at } => Some(at),
            _ => None,
        }
    }

    /// The child was started as `pid`.
    pub fn started(&mut self, pid: i32, now: Duration) {
        self.starts += 1;
        self.state = ChildState::Running { pid, since: now };
    }

    /// Starting it failed (fork/exec error): counts as a failure.
    pub fn start_failed(&mut self, now: Duration) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = self.policy.delay(self.failures);
        self.state = ChildState::Waiting { at: now + delay };
        delay
    }

    /// A process exited. Returns the restart delay when it was our child, `None` otherwise
    /// (another reaped orphan, or our child after [`Supervisor::stop`]).
    pub fn exited(&mut self, pid: i32, status: ExitStatus, now: Duration) -> Option<Duration> {
        match self.state {
            ChildState::Running { pid: p, since } if p == pid => {
                self.last_exit = Some(status);
                if now.saturating_sub(since) >= self.policy.stable_after {
                    self.failures = 0;
                }
                Some(self.start_failed(now))
            }
            _ => None,
        }
    }

    /// Never restart again (shutdown). Returns the pid still running, to be signalled.
    pub fn stop(&mut self) -> Option<i32> {
        let pid = match self.state {
            ChildState::Running { pid, .. } => Some(pid),
            _ => None,
        };
        self.state = ChildState::Stopped;
        pid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: u64) -> Duration {
        Duration::from_secs(x)
    }

    #[test]
    fn delay_doubles_and_caps() {
        let b = Backoff::default();
        let d: Vec<u64> = (1..=9).map(|f| b.delay(f).as_secs()).collect();
        assert_eq!(d, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(b.delay(u32::MAX), s(60));
    }

    #[test]
    fn quick_failures_back_off_and_a_stable_run_resets() {
        let mut sup = Supervisor::new(Backoff::default());
        assert!(sup.due(Duration::ZERO));
        sup.started(10, s(0));
        assert!(!sup.due(s(1)));
        assert_eq!(sup.exited(10, ExitStatus::Exited(1), s(2)), Some(s(1)));
        assert!(!sup.due(s(2)));
        assert!(sup.due(s(3)));
        sup.started(11, s(3));
        assert_eq!(sup.exited(11, ExitStatus::Signaled(9), s(4)), Some(s(2)));
        sup.started(12, s(6));
        assert_eq!(sup.exited(12, ExitStatus::Exited(1), s(7)), Some(s(4)));
        assert_eq!(sup.failures(), 3);
        // Runs for 100 s: healthy, so the next delay is back to 1 s.
        sup.started(13, s(11));
        assert_eq!(sup.exited(13, ExitStatus::Exited(0), s(111)), Some(s(1)));
        assert_eq!(sup.starts(), 4);
        assert_eq!(sup.last_exit(), Some(ExitStatus::Exited(0)));
    }

    #[test]
    fn other_pids_and_stopped_children_are_not_restarted() {
        let mut sup = Supervisor::new(Backoff::default());
        sup.started(10, s(0));
        assert_eq!(sup.exited(99, ExitStatus::Exited(0), s(1)), None);
        assert_eq!(sup.stop(), Some(10));
        assert_eq!(sup.exited(10, ExitStatus::Exited(0), s(2)), None);
        assert!(!sup.due(s(1000)));
        assert_eq!(sup.next_deadline(), None);
    }

    #[test]
    fn spawn_failure_backs_off() {
        let mut sup = Supervisor::new(Backoff::default());
        assert_eq!(sup.start_failed(s(0)), s(1));
        assert_eq!(sup.start_failed(s(1)), s(2));
        assert_eq!(sup.next_deadline(), Some(s(3)));
    }
}
