//! The kernel interfaces the fanotify door needs, as small safe wrappers over `libc`:
//! the fanotify group itself, inotify (new directories under a per-directory root),
//! and what `/proc` says about a process and an open descriptor.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Events that must be answered before the opener continues.
pub const PERM_EVENTS: u64 = libc::FAN_OPEN_PERM | libc::FAN_OPEN_EXEC_PERM;

/// Why the kernel refused the group, in words an administrator can act on.
pub fn init_error(e: &io::Error) -> String {
    let what = match e.raw_os_error() {
        Some(libc::EPERM) => "the process lacks CAP_SYS_ADMIN (run vigil as root or grant it)",
        Some(libc::ENOSYS) => "the kernel has no fanotify (CONFIG_FANOTIFY)",
        Some(libc::EINVAL) => {
            "the kernel has no fanotify permission events (CONFIG_FANOTIFY_ACCESS_PERMISSIONS)"
        }
        _ => "the kernel refused it",
    };
    format!("fanotify_init(FAN_CLASS_CONTENT) failed: {e}: {what}")
}

/// A fanotify group of class `FAN_CLASS_CONTENT` (scanners' class).
pub struct Group {
    fd: OwnedFd,
}

/// One event as read from the group. `file` is the descriptor the kernel opened for
/// us (`None` for an overflow notice).
pub struct RawEvent {
    pub mask: u64,
    pub pid: i32,
    pub file: Option<OwnedFd>,
}

/// What a mark covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// A whole mount (`FAN_MARK_MOUNT`).
    Mount,
    /// One directory's direct children (an inode mark with `FAN_EVENT_ON_CHILD`).
    Directory,
}

impl Group {
    pub fn new() -> io::Result<Group> {
        let flags = libc::FAN_CLASS_CONTENT | libc::FAN_CLOEXEC | libc::FAN_UNLIMITED_MARKS;
        let event_flags = (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as libc::c_uint;
        // SAFETY: plain syscall; a non-negative result is a new descriptor we own.
        let fd = unsafe { libc::fanotify_init(flags, event_flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
        Ok(Group {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Adds (`add`) or removes the mark of `kind` on `path` for `mask`.
    pub fn mark(&self, add: bool, kind: MarkKind, mask: u64, path: &Path) -> io::Result<()> {
        let mut flags = if add {
            libc::FAN_MARK_ADD
        } else {
            libc::FAN_MARK_REMOVE
        };
        let mut mask = mask;
        match kind {
            MarkKind::Mount => flags |= libc::FAN_MARK_MOUNT,
            MarkKind::Directory => {
                flags |= libc::FAN_MARK_ONLYDIR | libc::FAN_MARK_DONT_FOLLOW;
                mask |= libc::FAN_EVENT_ON_CHILD;
            }
        }
        let c = cstring(path.as_os_str())?;
        // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
        let rc =
            unsafe { libc::fanotify_mark(self.raw(), flags, mask, libc::AT_FDCWD, c.as_ptr()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Sets (`add`) or clears the ignore mask of the open file's inode for the
    /// permission events: the kernel then stops asking about it until the file is
    /// modified (the mask is cleared on the first modification).
    pub fn ignore(&self, add: bool, file: BorrowedFd<'_>) -> io::Result<()> {
        let flags = libc::FAN_MARK_IGNORED_MASK
            | if add {
                libc::FAN_MARK_ADD
            } else {
                libc::FAN_MARK_REMOVE
            };
        // SAFETY: a NULL path makes the kernel mark the inode of the valid `file`.
        let rc = unsafe {
            libc::fanotify_mark(
                self.raw(),
                flags,
                PERM_EVENTS,
                file.as_raw_fd(),
                std::ptr::null(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Removes every inode mark of the group (ignore masks and directory marks; mount
    /// marks stay).
    pub fn flush_inode_marks(&self) -> io::Result<()> {
        let root = c"/";
        // SAFETY: valid descriptor and NUL-terminated path (ignored by FAN_MARK_FLUSH).
        let rc = unsafe {
            libc::fanotify_mark(
                self.raw(),
                libc::FAN_MARK_FLUSH,
                0,
                libc::AT_FDCWD,
                root.as_ptr(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Blocks until events arrive, then returns them all.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<Vec<RawEvent>> {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(self.raw(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        let mut out = Vec::new();
        let size = std::mem::size_of::<libc::fanotify_event_metadata>();
        let mut at = 0;
        while at + size <= n {
            // SAFETY: the kernel wrote a whole metadata record at `at` (checked above);
            // read_unaligned copes with the byte buffer's alignment.
            let meta: libc::fanotify_event_metadata =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let len = meta.event_len as usize;
            if meta.vers != libc::FANOTIFY_METADATA_VERSION || len < size || at + len > n {
                // Never happens with a kernel of our ABI; stop rather than misread.
                break;
            }
            let file = (meta.fd >= 0).then(|| {
                // SAFETY: the kernel installed this descriptor for us; we own it now.
                unsafe { OwnedFd::from_raw_fd(meta.fd) }
            });
            out.push(RawEvent {
                mask: meta.mask,
                pid: meta.pid,
                file,
            });
            at += len;
        }
        Ok(out)
    }

    /// Answers a permission event. Must come before the event's descriptor is closed:
    /// the kernel matches the answer by descriptor number.
    pub fn respond(&self, file: BorrowedFd<'_>, allow: bool) -> io::Result<()> {
        let response = libc::fanotify_response {
            fd: file.as_raw_fd(),
            response: if allow {
                libc::FAN_ALLOW
            } else {
                libc::FAN_DENY
            },
        };
        let size = std::mem::size_of::<libc::fanotify_response>();
        // SAFETY: `response` is a valid, initialised struct of `size` bytes.
        let n = unsafe {
            libc::write(
                self.raw(),
                (&response as *const libc::fanotify_response).cast(),
                size,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// inotify, for the directories created under a root covered by directory marks.
pub struct Inotify {
    fd: OwnedFd,
}

pub struct DirCreated {
    pub watch: i32,
    pub name: OsString,
}

impl Inotify {
    pub fn new() -> io::Result<Inotify> {
        // SAFETY: plain syscall returning a new descriptor.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the descriptor is new and ours.
        Ok(Inotify {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Watches `dir` for subdirectories created or moved in; returns the watch number.
    pub fn watch(&self, dir: &Path) -> io::Result<i32> {
        let c = cstring(dir.as_os_str())?;
        let mask = libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_ONLYDIR | libc::IN_DONT_FOLLOW;
        // SAFETY: valid descriptor and NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(self.raw(), c.as_ptr(), mask) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(wd)
    }

    pub fn unwatch(&self, watch: i32) {
        // SAFETY: an unknown watch number only makes the call fail.
        unsafe { libc::inotify_rm_watch(self.raw(), watch) };
    }

    /// The directories created since the last read (waits when there are none).
    pub fn read(&self) -> io::Result<Vec<DirCreated>> {
        let mut buf = vec![0u8; 64 * 1024];
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(self.raw(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        let head = std::mem::size_of::<libc::inotify_event>();
        let mut out = Vec::new();
        let mut at = 0;
        while at + head <= n {
            // SAFETY: a whole header lies at `at` (checked above).
            let ev: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            let name_end = (at + head + ev.len as usize).min(n);
            let name = &buf[at + head..name_end];
            let name = name.split(|b| *b == 0).next().unwrap_or_default();
            if ev.mask & libc::IN_ISDIR != 0 && !name.is_empty() {
                out.push(DirCreated {
                    watch: ev.wd,
                    name: OsStr::from_bytes(name).to_os_string(),
                });
            }
            at = name_end;
        }
        Ok(out)
    }
}

/// Waits until one of `fds` is readable (or, for `/proc/self/mountinfo`, changed:
/// `POLLPRI`); returns which, by index.
pub fn wait_any(fds: &[BorrowedFd<'_>], timeout_ms: i32) -> io::Result<Vec<usize>> {
    let mut polls: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN | libc::POLLPRI,
            revents: 0,
        })
        .collect();
    // SAFETY: `polls` is a valid array of its length.
    let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(polls
        .iter()
        .enumerate()
        .filter(|(_, p)| p.revents != 0)
        .map(|(i, _)| i)
        .collect())
}

/// What `/proc/<pid>/status` says about the opener.
#[derive(Debug, Clone, Copy)]
pub struct Opener {
    pub ppid: i32,
    /// Effective uid: the identity the open is checked against.
    pub uid: u32,
}

/// `None` when the process is already gone.
pub fn opener(pid: i32) -> Option<Opener> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut ppid = None;
    let mut uid = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("PPid:") {
            ppid = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("Uid:") {
            uid = v.split_whitespace().nth(1).and_then(|u| u.parse().ok());
        }
        if ppid.is_some() && uid.is_some() {
            break;
        }
    }
    Some(Opener {
        ppid: ppid?,
        uid: uid?,
    })
}

/// The host path of an open descriptor, and whether the file has been deleted since
/// (the kernel then appends ` (deleted)` to the name, which is removed here).
pub fn fd_path(file: BorrowedFd<'_>, deleted: bool) -> io::Result<PathBuf> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
    let mut bytes = link.into_os_string().into_vec();
    if deleted && let Some(stripped) = bytes.strip_suffix(b" (deleted)") {
        bytes.truncate(stripped.len());
    }
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

/// Whether the descriptor's file system is mounted read-only.
pub fn read_only_fs(file: BorrowedFd<'_>) -> bool {
    // SAFETY: zeroed statvfs is a valid out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid descriptor and out-pointer.
    let rc = unsafe { libc::fstatvfs(file.as_raw_fd(), &mut st) };
    rc == 0 && st.f_flag & libc::ST_RDONLY != 0
}

/// The uid of a local user name, `None` when there is no such user.
pub fn user_uid(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the call; `buf` outlives it.
    let rc = unsafe {
        libc::getpwnam_r(
            c.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    (rc == 0 && !result.is_null()).then_some(pwd.pw_uid)
}

/// `/proc/self/mountinfo`, opened to be polled: it reports `POLLPRI` when the mount
/// table changes.
pub fn mountinfo() -> io::Result<std::fs::File> {
    std::fs::File::open("/proc/self/mountinfo")
}

/// Every mount point, from `/proc/self/mountinfo` (octal escapes decoded).
pub fn mount_points() -> io::Result<Vec<PathBuf>> {
    let text = std::fs::read("/proc/self/mountinfo")?;
    Ok(text
        .split(|b| *b == b'\n')
        .filter_map(|line| line.split(|b| *b == b' ').nth(4))
        .map(|field| PathBuf::from(OsString::from_vec(unescape(field))))
        .collect())
}

fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        if field[i] == b'\\' && i + 3 < field.len() {
            let digits = &field[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let v = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(v as u8);
                i += 4;
                continue;
            }
        }
        out.push(field[i]);
        i += 1;
    }
    out
}

fn cstring(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Borrow helper for the poll list.
pub fn borrow<T: AsFd>(t: &T) -> BorrowedFd<'_> {
    t.as_fd()
}

impl AsFd for Group {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsFd for Inotify {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape(br"/mnt/a\040b"), b"/mnt/a b");
        assert_eq!(unescape(br"/mnt/new\012line"), b"/mnt/new\nline");
        assert_eq!(unescape(br"/plain"), b"/plain");
        assert_eq!(unescape(br"/trail\04"), br"/trail\04");
    }
}
