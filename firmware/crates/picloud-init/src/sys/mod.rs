//! Linux adapters: thin, `libc`-based wrappers around the system calls PID 1 needs. Every
//! `unsafe` block of the crate lives under this module with a `// SAFETY:` comment. Errors
//! are values ([`SysError`]: what was attempted plus the OS error).

#![allow(unsafe_code)]

pub mod block;
pub mod dm;
pub mod netif;
pub mod watchdog;

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// A failed system call: what was attempted and the OS error.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct SysError {
    /// What was attempted ("mount /dev/vda7 on /data").
    pub what: String,
    /// The OS error.
    #[source]
    pub source: io::Error,
}

/// Result of an adapter call.
pub type SysResult<T> = Result<T, SysError>;

/// Wraps the current `errno` with a description.
pub fn last_error(what: impl Into<String>) -> SysError {
    SysError {
        what: what.into(),
        source: io::Error::last_os_error(),
    }
}

/// Wraps an `io::Error` with a description.
pub fn io_error(what: impl Into<String>, source: io::Error) -> SysError {
    SysError {
        what: what.into(),
        source,
    }
}

fn cstr(what: &str, s: &[u8]) -> SysResult<CString> {
    CString::new(s).map_err(|_| SysError {
        what: what.to_owned(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
    })
}

fn cpath(p: &Path) -> SysResult<CString> {
    cstr(&p.display().to_string(), p.as_os_str().as_bytes())
}

/// `mount(2)`.
pub fn mount(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> SysResult<()> {
    let what = format!("mount {source} ({fstype}) on {}", target.display());
    let src = cstr(&what, source.as_bytes())?;
    let tgt = cpath(target)?;
    let fs = cstr(&what, fstype.as_bytes())?;
    let data_c = match data {
        Some(d) => Some(cstr(&what, d.as_bytes())?),
        None => None,
    };
    let data_ptr = data_c
        .as_ref()
        .map_or(std::ptr::null(), |d| d.as_ptr().cast::<libc::c_void>());
    // SAFETY: every pointer is a valid NUL-terminated string (or null for `data`) that
    // outlives the call; mount does not retain them.
    let r = unsafe { libc::mount(src.as_ptr(), tgt.as_ptr(), fs.as_ptr(), flags, data_ptr) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(what))
    }
}

/// `mount(src, dst, NULL, MS_MOVE, NULL)`.
pub fn move_mount(source: &Path, target: &Path) -> SysResult<()> {
    let what = format!("move mount {} to {}", source.display(), target.display());
    let s = cpath(source)?;
    let t = cpath(target)?;
    // SAFETY: valid NUL-terminated paths; null fstype and data are allowed with MS_MOVE.
    let r = unsafe {
        libc::mount(
            s.as_ptr(),
            t.as_ptr(),
            std::ptr::null(),
            libc::MS_MOVE,
            std::ptr::null(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(what))
    }
}

/// `umount2(2)`.
pub fn umount(target: &Path, flags: libc::c_int) -> SysResult<()> {
    let t = cpath(target)?;
    // SAFETY: valid NUL-terminated path.
    let r = unsafe { libc::umount2(t.as_ptr(), flags) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(format!("unmount {}", target.display())))
    }
}

/// Whether `path` is a mount point (its device differs from its parent's, or it is `/`).
pub fn is_mount_point(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = std::fs::metadata(path) else {
        return false;
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    match std::fs::metadata(parent) {
        Ok(p) => p.dev() != m.dev() || p.ino() == m.ino(),
        Err(_) => false,
    }
}

/// `chroot(2)`.
pub fn chroot(path: &Path) -> SysResult<()> {
    let p = cpath(path)?;
    // SAFETY: valid NUL-terminated path.
    let r = unsafe { libc::chroot(p.as_ptr()) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(format!("chroot {}", path.display())))
    }
}

/// `execv(2)`: only returns on failure.
pub fn execv(path: &str, args: &[&str]) -> SysError {
    let what = format!("exec {path}");
    let Ok(p) = cstr(&what, path.as_bytes()) else {
        return io_error(what, io::Error::from(io::ErrorKind::InvalidInput));
    };
    let mut owned = Vec::new();
    for a in args {
        match cstr(&what, a.as_bytes()) {
            Ok(c) => owned.push(c),
            Err(e) => return e,
        }
    }
    let mut argv: Vec<*const libc::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
    argv.push(std::ptr::null());
    // SAFETY: `p` and every argv entry are valid NUL-terminated strings kept alive by
    // `owned`; argv is null-terminated. execv only returns on error.
    unsafe {
        libc::execv(p.as_ptr(), argv.as_ptr());
    }
    last_error(what)
}

/// `mknod(2)` for a block device.
pub fn mknod_block(path: &Path, major: u32, minor: u32) -> SysResult<()> {
    let p = cpath(path)?;
    // SAFETY: valid NUL-terminated path; makedev is a pure computation.
    let r = unsafe {
        libc::mknod(
            p.as_ptr(),
            libc::S_IFBLK | 0o600,
            libc::makedev(major, minor),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(format!(
            "mknod {} {major}:{minor}",
            path.display()
        )))
    }
}

/// `finit_module(2)`.
pub fn finit_module(file: &std::fs::File, compressed: bool) -> SysResult<()> {
    use std::os::fd::AsRawFd;
    const MODULE_INIT_COMPRESSED_FILE: libc::c_int = 4;
    let flags = if compressed {
        MODULE_INIT_COMPRESSED_FILE
    } else {
        0
    };
    let params = c"";
    // SAFETY: a valid open fd, a valid empty NUL-terminated parameter string, plain flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error("finit_module"))
    }
}

/// What `reboot(2)` should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootKind {
    /// `RESTART2` with `"0"`: a plain reset (the Pi firmware boots the default slot).
    Reset,
    /// `RESTART2` with `"0 tryboot"`: boot the other slot once.
    TryBoot,
    /// `POWER_OFF`.
    PowerOff,
    /// `HALT`.
    Halt,
}

/// `reboot(2)`. Returns only on failure. The caller must have synced.
pub fn reboot(kind: RebootKind) -> SysError {
    let arg: Option<&CStr> = match kind {
        RebootKind::Reset => Some(c"0"),
        RebootKind::TryBoot => Some(c"0 tryboot"),
        RebootKind::PowerOff | RebootKind::Halt => None,
    };
    let cmd = match kind {
        RebootKind::Reset | RebootKind::TryBoot => libc::LINUX_REBOOT_CMD_RESTART2,
        RebootKind::PowerOff => libc::LINUX_REBOOT_CMD_POWER_OFF,
        RebootKind::Halt => libc::LINUX_REBOOT_CMD_HALT,
    };
    let arg_ptr = arg.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: the raw reboot syscall with the documented magic numbers; the argument is a
    // static NUL-terminated string (RESTART2) or null.
    unsafe {
        libc::syscall(
            libc::SYS_reboot,
            libc::LINUX_REBOOT_MAGIC1,
            libc::LINUX_REBOOT_MAGIC2,
            cmd,
            arg_ptr,
        );
    }
    last_error(format!("reboot ({kind:?})"))
}

/// `reboot(LINUX_REBOOT_CMD_CAD_OFF)`: Ctrl-Alt-Del sends SIGINT to PID 1 (an orderly
/// reboot) instead of resetting at once.
pub fn ctrl_alt_del_to_sigint() -> SysResult<()> {
    // SAFETY: the raw reboot syscall with the documented magic numbers and no argument.
    let r = unsafe {
        libc::syscall(
            libc::SYS_reboot,
            libc::LINUX_REBOOT_MAGIC1,
            libc::LINUX_REBOOT_MAGIC2,
            libc::LINUX_REBOOT_CMD_CAD_OFF,
            std::ptr::null::<libc::c_void>(),
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error("reboot(CAD_OFF)"))
    }
}

/// `sync(2)`.
pub fn sync() {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::sync() }
}

/// `getpid(2)`.
pub fn getpid() -> i32 {
    // SAFETY: no arguments, cannot fail.
    unsafe { libc::getpid() }
}

/// `kill(2)`.
pub fn kill(pid: i32, sig: libc::c_int) -> SysResult<()> {
    // SAFETY: plain integers.
    let r = unsafe { libc::kill(pid, sig) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(format!("kill({pid}, {sig})")))
    }
}

/// 8 random bytes from `getrandom(2)` (non-blocking: early in boot the pool may not be
/// initialised; then the boot clock is mixed in — only DHCP xids depend on it).
pub fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: writes at most 8 bytes into the 8-byte buffer.
    let r = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), libc::GRND_NONBLOCK) };
    let v = u64::from_ne_bytes(b);
    if r == 8 {
        v
    } else {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: writes one timespec into `ts`.
        unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
        v ^ (ts.tv_nsec as u64) ^ ((ts.tv_sec as u64) << 32)
    }
}

/// Signals PID 1 acts on; blocked in every thread and read with [`wait_signal`].
pub fn handled_signals() -> Vec<libc::c_int> {
    vec![
        libc::SIGCHLD,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGPWR,
        SIG_TRYBOOT,
    ]
}

/// The real-time signal that asks PID 1 for a one-shot reboot into the other slot.
/// (Signal 40: SIGRTMIN+6 under glibc, SIGRTMIN+5 under musl; a fixed number so either
/// libc can send it.)
pub const SIG_TRYBOOT: libc::c_int = 40;

fn sigset(signals: &[libc::c_int]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &s in signals {
        // SAFETY: `set` is a valid, initialised sigset_t.
        unsafe { libc::sigaddset(&mut set, s) };
    }
    set
}

/// Blocks `signals` in the calling thread (threads spawned later inherit the mask).
pub fn block_signals(signals: &[libc::c_int]) -> SysResult<()> {
    let set = sigset(signals);
    // SAFETY: a valid sigset; the old mask is not requested.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io_error("block signals", io::Error::from_raw_os_error(r)))
    }
}

/// Makes `cmd`'s child start with an empty signal mask. PID 1 blocks the signals it reads
/// with `sigtimedwait`, and `std::process::Command` keeps the parent's mask across exec: a
/// child would otherwise ignore SIGTERM.
pub fn clear_signal_mask_on_exec(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only calls
    // async-signal-safe functions (sigemptyset, pthread_sigmask) on a local sigset.
    unsafe {
        cmd.pre_exec(|| {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// Waits up to `timeout` for one of `signals` (which must be blocked); `None` on timeout.
pub fn wait_signal(signals: &[libc::c_int], timeout: Duration) -> Option<libc::c_int> {
    let set = sigset(signals);
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as _,
        tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
    };
    // SAFETY: valid sigset and timespec; siginfo is not requested.
    let r = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
    if r > 0 {
        Some(r)
    } else {
        None
    }
}

/// How a reaped child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reaped {
    /// Its pid.
    pub pid: i32,
    /// Its status.
    pub status: crate::supervise::ExitStatus,
}

/// Reaps every exited child (`waitpid(-1, WNOHANG)` until none is left).
pub fn reap_all() -> Vec<Reaped> {
    let mut out = Vec::new();
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: writes one int into `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return out;
        }
        let st = if libc::WIFEXITED(status) {
            crate::supervise::ExitStatus::Exited(libc::WEXITSTATUS(status))
        } else {
            crate::supervise::ExitStatus::Signaled(libc::WTERMSIG(status))
        };
        out.push(Reaped { pid, status: st });
    }
}

/// Moves the calling thread into the network namespace `ns` (a `/run/netns/<name>` file):
/// sockets it creates afterwards belong to that namespace. Tests use it to run the network
/// code against a private veth pair.
pub fn enter_netns(ns: &Path) -> SysResult<()> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(ns).map_err(|e| io_error(format!("open {}", ns.display()), e))?;
    // SAFETY: a valid namespace fd; CLONE_NEWNET only switches this thread's namespace.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(format!("setns {}", ns.display())))
    }
}

/// `prctl(PR_SET_CHILD_SUBREAPER)`: orphans of our descendants are reparented to us (what
/// PID 1 gets for free; tests use it to exercise the reaper outside PID 1).
pub fn set_child_subreaper() -> SysResult<()> {
    // SAFETY: plain integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error("prctl(PR_SET_CHILD_SUBREAPER)"))
    }
}

/// Makes sure fds 0, 1 and 2 are open on `/dev/console` (the kernel opens them for init
/// only if the initramfs has a `/dev/console` node). Returns whether it had to.
pub fn ensure_console() -> bool {
    // SAFETY: F_GETFD on an integer fd only queries it.
    let open = unsafe { libc::fcntl(1, libc::F_GETFD) } >= 0;
    if open {
        return false;
    }
    // SAFETY: a static NUL-terminated path.
    let fd = unsafe { libc::open(c"/dev/console".as_ptr(), libc::O_RDWR | libc::O_NOCTTY) };
    if fd < 0 {
        return false;
    }
    for target in 0..3 {
        if fd != target {
            // SAFETY: `fd` is a valid open fd; dup2 onto 0..2 replaces whatever is there.
            unsafe { libc::dup2(fd, target) };
        }
    }
    if fd > 2 {
        // SAFETY: closing our own extra fd.
        unsafe { libc::close(fd) };
    }
    true
}

/// The kernel release (`uname -r`).
pub fn kernel_release() -> SysResult<String> {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a valid utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(last_error("uname"));
    }
    // SAFETY: the kernel NUL-terminates `release` within its array.
    let rel = unsafe { CStr::from_ptr(u.release.as_ptr()) };
    Ok(rel.to_string_lossy().into_owned())
}

/// `sethostname(2)`.
pub fn set_hostname(name: &str) -> SysResult<()> {
    // SAFETY: pointer and length describe `name`'s bytes.
    let r = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    if r == 0 {
        Ok(())
    } else {
        Err(last_error(format!("sethostname {name}")))
    }
}

/// `poll(2)` for readability on `fds`; returns which are readable (empty on timeout).
pub fn poll_readable(fds: &[libc::c_int], timeout: Duration) -> SysResult<Vec<bool>> {
    let mut p: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `p` is a valid array of `p.len()` pollfds.
    let r = unsafe { libc::poll(p.as_mut_ptr(), p.len() as libc::nfds_t, ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(io_error("poll", e));
    }
    Ok(p.iter().map(|x| x.revents & libc::POLLIN != 0).collect())
}

/// A monotonic clock for the adapters: time since it was created.
#[derive(Debug, Clone, Copy)]
pub struct Clock(std::time::Instant);

impl Clock {
    /// Starts the clock.
    #[allow(clippy::disallowed_methods, reason = "the adapters' one clock")]
    pub fn start() -> Clock {
        Clock(std::time::Instant::now())
    }

    /// Time since start.
    pub fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Sleeps (adapters only).
#[allow(clippy::disallowed_methods, reason = "adapters own time")]
pub fn sleep(d: Duration) {
    std::thread::sleep(d);
}

/// Seconds since boot (`CLOCK_BOOTTIME`), for console messages.
pub fn uptime() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}
