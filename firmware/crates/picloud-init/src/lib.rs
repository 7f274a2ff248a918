//! PiCloud's PID 1: the initramfs stage 1 and the stage-2 supervisor, run by the `picloud`
//! binary as `/init`, `/sbin/init` or `picloud init` (see `docs/firmware.md`, "Boot contract"
//! and "PID 1").
//!
//! The crate is split in two:
//! - **pure decision logic**, unit-tested with driven time: the kernel command line
//!   ([`cmdline`]), the module list ([`modules`]), dm-verity tables, signatures and ioctl
//!   buffers ([`verity`]), the MBR grow arithmetic and ext4 superblock ([`mbr`]), the
//!   restart policy ([`supervise`]), the node's bootstrap-code file ([`bootstrap`]), DHCP
//!   ([`dhcp`]), RFC 3927 link-local ([`linklocal`]), their combination ([`net`]), rtnetlink
//!   messages ([`netlink`]) and the status screen ([`status`]);
//! - **Linux adapters** in [`sys`] (every `unsafe` block is there, each with a `// SAFETY:`
//!   comment), and the two stages that drive them ([`stage1`], [`stage2`]).
//!
//! Invariants: PID 1 never exits and never panics. Every failure is a value; a fatal one is
//! printed on the console and ends in a reset (stage 1, so the Pi firmware can fall back to
//! the other slot) or in a loop that keeps reaping, petting the watchdog and honouring
//! shutdown signals (stage 2).

pub mod bootstrap;
pub mod cmdline;
pub mod dhcp;
pub mod disk;
pub mod encoding;
pub mod linklocal;
pub mod mbr;
pub mod modules;
pub mod net;
pub mod netlink;
pub mod release;
pub mod status;
pub mod supervise;
pub mod verity;

#[cfg(target_os = "linux")]
pub mod stage1;
#[cfg(target_os = "linux")]
pub mod stage2;
#[cfg(target_os = "linux")]
pub mod sys;

/// Console marker: stage 1 switched to the verified root of this slot.
pub const MARKER_STAGE1_OK: &str = "PICLOUD-STAGE1-OK";
/// Console marker: stage 2 mounted everything and starts the node.
pub const MARKER_INIT_READY: &str = "PICLOUD-INIT-READY";
/// Console marker: the node process was (re)started.
pub const MARKER_NODE_STARTED: &str = "PICLOUD-NODE-STARTED";
/// Console marker: the root slot could not be verified (stage 1 resets after it).
pub const MARKER_VERITY_FAILED: &str = "PICLOUD-VERITY-FAILED";

/// The file whose presence tells the binary it runs as stage 1 in the initramfs.
pub const INITRAMFS_MARKER: &str = "/etc/picloud/initramfs";
