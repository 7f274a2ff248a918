//! Write backends for the I/O thread: io_uring and a std (pwrite + fdatasync)
//! fallback. Appends and the zero fill ahead go through the backend, always as
//! positioned writes (never `O_APPEND`); rare operations (create, ftruncate,
//! unlink, rename, directory fsync) use std on both.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::LogError;

/// Which write backend the I/O thread uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// io_uring if `io_uring_setup` works on this kernel, else `Std`.
    #[default]
    Auto,
    /// io_uring (`IORING_OP_WRITE` linked to `IORING_OP_FSYNC` with
    /// `IORING_FSYNC_DATASYNC`); opening fails if it is unavailable.
    IoUring,
    /// `pwrite` + `fdatasync`.
    Std,
}

/// fsyncs a directory so that entries created, renamed or removed in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io("fsync directory", dir, e))
}

/// The operations of the append path.
pub(crate) trait WriteBackend: Send {
    /// Writes all of `buf` at `offset` (short writes are continued).
    fn write_all_at(
        &mut self,
        file: &File,
        path: &Path,
        offset: u64,
        buf: &[u8],
    ) -> Result<(), LogError>;
    /// fdatasync.
    fn datasync(&mut self, file: &File, path: &Path) -> Result<(), LogError>;
    /// Writes all of `buf` at `offset`, then fdatasyncs; the data is durable on `Ok`.
    fn write_and_sync(
        &mut self,
        file: &File,
        path: &Path,
        offset: u64,
        buf: &[u8],
    ) -> Result<(), LogError> {
        self.write_all_at(file, path, offset, buf)?;
        self.datasync(file, path)
    }
}

/// `pwrite` + `fdatasync`.
#[derive(Debug)]
pub(crate) struct StdBackend;

impl WriteBackend for StdBackend {
    fn write_all_at(
        &mut self,
        file: &File,
        path: &Path,
        offset: u64,
        buf: &[u8],
    ) -> Result<(), LogError> {
        file.write_all_at(buf, offset)
            .map_err(|e| LogError::io("write", path, e))
    }

    fn datasync(&mut self, file: &File, path: &Path) -> Result<(), LogError> {
        file.sync_data()
            .map_err(|e| LogError::io("fdatasync", path, e))
    }
}

/// Opens the backend asked for; returns it with the resolved kind.
pub(crate) fn open_backend(backend: Backend) -> Result<(Box<dyn WriteBackend>, Backend), LogError> {
    match backend {
        Backend::Std => Ok((Box::new(StdBackend), Backend::Std)),
        Backend::IoUring => match uring::UringBackend::new() {
            Ok(u) => Ok((Box::new(u), Backend::IoUring)),
            Err(e) => Err(LogError::IoUringUnavailable {
                source: std::sync::Arc::new(e),
            }),
        },
        Backend::Auto => match uring::UringBackend::new() {
            Ok(u) => Ok((Box::new(u), Backend::IoUring)),
            Err(_) => Ok((Box::new(StdBackend), Backend::Std)),
        },
    }
}

/// Whether `io_uring_setup` works here.
pub fn io_uring_available() -> bool {
    uring::UringBackend::new().is_ok()
}

// io_uring needs `unsafe` to push submission entries: the kernel reads the
// buffer asynchronously, so the compiler cannot check its lifetime. This is the
// only module of the crate allowed to use `unsafe`; each block says why it is sound.
#[allow(unsafe_code)]
mod uring {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;
    use std::path::Path;

    use io_uring::{opcode, squeue, types, IoUring};

    use super::WriteBackend;
    use crate::error::LogError;

    const WRITE_TAG: u64 = 1;
    const SYNC_TAG: u64 = 2;
    /// Largest single write submitted (the length field of an SQE is u32).
    const MAX_CHUNK: usize = 1 << 30;

    pub(crate) struct UringBackend {
        ring: IoUring,
        /// Set when a submission failed before the kernel took it: the
        /// entries are still queued and point at buffers we no longer own,
        /// so the ring must never be entered again.
        broken: bool,
    }

    impl UringBackend {
        pub(crate) fn new() -> io::Result<Self> {
            Ok(UringBackend {
                ring: IoUring::new(8)?,
                broken: false,
            })
        }

        /// Submits `entries` (all or none), waits for that many completions and
        /// returns their results by tag (`WRITE_TAG`, `SYNC_TAG`).
        ///
        /// Every buffer an entry points to must stay alive until this returns;
        /// it returns only once all the entries have completed, except when the
        /// submission itself failed (then the kernel never saw them).
        fn run(&mut self, entries: &[squeue::Entry]) -> io::Result<[Option<i32>; 2]> {
            if self.broken {
                return Err(io::Error::other(
                    "io_uring ring unusable after a failed submission",
                ));
            }
            // SAFETY: the entries point into buffers borrowed by the caller for
            // the whole call, and we wait below for every one of them to
            // complete before returning, so the kernel never touches a freed
            // buffer. `push_multiple` pushes all or nothing.
            unsafe { self.ring.submission().push_multiple(entries) }
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
            let want = entries.len();
            let mut results = [None, None];
            let mut seen = 0;
            let mut submitted = false;
            while seen < want {
                match self.ring.submit_and_wait(want - seen) {
                    Ok(_) => submitted = true,
                    Err(e)
                        if matches!(
                            e.raw_os_error(),
                            Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY)
                        ) => {}
                    // If nothing was submitted yet the kernel holds no buffer;
                    // after a successful submission we keep waiting.
                    Err(e) if !submitted => {
                        self.broken = true;
                        return Err(e);
                    }
                    Err(_) => {}
                }
                for cqe in self.ring.completion() {
                    seen += 1;
                    match cqe.user_data() {
                        WRITE_TAG => results[0] = Some(cqe.result()),
                        SYNC_TAG => results[1] = Some(cqe.result()),
                        _ => {}
                    }
                }
            }
            Ok(results)
        }

        fn write_entry(file: &File, offset: u64, buf: &[u8], link: bool) -> squeue::Entry {
            let len = u32::try_from(buf.len().min(MAX_CHUNK)).unwrap_or(u32::MAX);
            let e = opcode::Write::new(types::Fd(file.as_raw_fd()), buf.as_ptr(), len)
                .offset(offset)
                .build()
                .user_data(WRITE_TAG);
            if link {
                e.flags(squeue::Flags::IO_LINK)
            } else {
                e
            }
        }

        fn sync_entry(file: &File) -> squeue::Entry {
            opcode::Fsync::new(types::Fd(file.as_raw_fd()))
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(SYNC_TAG)
        }

        fn check(res: Option<i32>, op: &'static str, path: &Path) -> Result<usize, LogError> {
            match res {
                Some(r) if r >= 0 => Ok(usize::try_from(r).unwrap_or(0)),
                Some(r) => Err(LogError::io(op, path, io::Error::from_raw_os_error(-r))),
                None => Err(LogError::io(
                    op,
                    path,
                    io::Error::other("missing completion"),
                )),
            }
        }

        /// Writes the rest of `buf`, optionally linking an fdatasync behind each
        /// write. Returns true if the last linked sync completed successfully.
        fn write_loop(
            &mut self,
            file: &File,
            path: &Path,
            offset: u64,
            buf: &[u8],
            sync: bool,
        ) -> Result<bool, LogError> {
            let mut done = 0usize;
            while let Some(rest) = buf.get(done..).filter(|r| !r.is_empty()) {
                let at = offset + done as u64;
                let w = Self::write_entry(file, at, rest, sync);
                let res = if sync {
                    self.run(&[w, Self::sync_entry(file)])
                } else {
                    self.run(&[w])
                }
                .map_err(|e| LogError::io("io_uring submit", path, e))?;
                let n = match res[0] {
                    Some(r) if r == -libc::EINTR || r == -libc::EAGAIN => continue,
                    other => Self::check(other, "write", path)?,
                };
                if n == 0 {
                    return Err(LogError::io(
                        "write",
                        path,
                        io::Error::new(io::ErrorKind::WriteZero, "io_uring write returned 0"),
                    ));
                }
                done += n;
                if done == buf.len() && sync {
                    // The write was complete, so the linked sync ran (it is
                    // cancelled only when the write fell short).
                    Self::check(res[1], "fdatasync", path)?;
                    return Ok(true);
                }
            }
            Ok(false)
        }
    }

    impl WriteBackend for UringBackend {
        fn write_all_at(
            &mut self,
            file: &File,
            path: &Path,
            offset: u64,
            buf: &[u8],
        ) -> Result<(), LogError> {
            self.write_loop(file, path, offset, buf, false).map(|_| ())
        }

        fn datasync(&mut self, file: &File, path: &Path) -> Result<(), LogError> {
            let res = self
                .run(&[Self::sync_entry(file)])
                .map_err(|e| LogError::io("io_uring submit", path, e))?;
            Self::check(res[1], "fdatasync", path).map(|_| ())
        }

        fn write_and_sync(
            &mut self,
            file: &File,
            path: &Path,
            offset: u64,
            buf: &[u8],
        ) -> Result<(), LogError> {
            if !self.write_loop(file, path, offset, buf, true)? {
                self.datasync(file, path)?;
            }
            Ok(())
        }
    }
}
