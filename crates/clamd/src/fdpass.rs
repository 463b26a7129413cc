//! File-descriptor passing over unix sockets (SCM_RIGHTS), as FILDES uses it.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// At most this many descriptors are accepted in one message; a client sending more is
/// misbehaving, and the kernel drops (never installs) the ones that do not fit.
const MAX_FDS_PER_MESSAGE: usize = 4;

/// Sends `data` with `fd` attached. `data` must be non-empty: Linux drops ancillary data
/// sent with an empty payload on stream sockets.
pub fn send_with_fd(sock: RawFd, data: &[u8], fd: BorrowedFd<'_>) -> io::Result<usize> {
    send_with_fds(sock, data, &[fd])
}

/// Sends `data` with every one of `fds` attached, in order, in one message.
pub fn send_with_fds(sock: RawFd, data: &[u8], fds: &[BorrowedFd<'_>]) -> io::Result<usize> {
    let fd_len = std::mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(fd_len) } as usize;
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain data; every pointer set below outlives the sendmsg call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer is CMSG_SPACE(all descriptors) bytes, so the first header
    // and its data fit; CMSG_FIRSTHDR cannot return null for a buffer that large.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(fd_len) as _;
        let data = libc::CMSG_DATA(cmsg) as *mut RawFd;
        for (i, fd) in fds.iter().enumerate() {
            std::ptr::write_unaligned(data.add(i), fd.as_raw_fd());
        }
    }
    // SAFETY: msg is fully initialised above.
    let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Receives into `buf`, appending any passed descriptors to `fds` (close-on-exec set).
/// Returns the number of payload bytes; 0 means the peer closed.
pub fn recv_with_fds(sock: RawFd, buf: &mut [u8], fds: &mut Vec<OwnedFd>) -> io::Result<usize> {
    recv_with_fds_up_to(sock, buf, fds, MAX_FDS_PER_MESSAGE).map(|(n, _)| n)
}

/// As [`recv_with_fds`], with room for `max_fds` descriptors; also says whether the
/// kernel dropped descriptors or payload that did not fit (`MSG_CTRUNC`, `MSG_TRUNC`).
pub fn recv_with_fds_up_to(
    sock: RawFd,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
    max_fds: usize,
) -> io::Result<(usize, bool)> {
    let fd_len = (std::mem::size_of::<RawFd>() * max_fds.max(1)) as u32;
    // SAFETY: pure size computation.
    let space = unsafe { libc::CMSG_SPACE(fd_len) } as usize;
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: plain data, pointers valid for the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr() as *mut libc::c_void;
    msg.msg_controllen = space as _;
    // SAFETY: msg describes live buffers.
    let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: walking the control buffer the kernel just filled, with the CMSG macros
    // bounding every step by msg_controllen.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let payload = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                let count = payload / std::mem::size_of::<RawFd>();
                for i in 0..count {
                    let fd = std::ptr::read_unaligned((data as *const RawFd).add(i));
                    if fd >= 0 {
                        fds.push(OwnedFd::from_raw_fd(fd));
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let truncated = msg.msg_flags & (libc::MSG_CTRUNC | libc::MSG_TRUNC) != 0;
    Ok((n as usize, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn descriptor_survives_the_trip() {
        let (a, b) = UnixStream::pair().expect("socketpair");
        let mut file = tempfile::tempfile().expect("tempfile");
        file.write_all(b"passed").expect("write");
        let sent =
            send_with_fd(a.as_raw_fd(), b"\0", std::os::fd::AsFd::as_fd(&file)).expect("send");
        assert_eq!(sent, 1);
        let mut buf = [0u8; 8];
        let mut fds = Vec::new();
        assert_eq!(
            recv_with_fds(b.as_raw_fd(), &mut buf, &mut fds).expect("recv"),
            1
        );
        assert_eq!(fds.len(), 1);
        let mut received = std::fs::File::from(fds.remove(0));
        received.rewind().expect("rewind");
        let mut text = String::new();
        received.read_to_string(&mut text).expect("read");
        assert_eq!(text, "passed");
    }

    #[test]
    fn several_descriptors_keep_their_order() {
        let (a, b) = UnixStream::pair().expect("socketpair");
        let files: Vec<std::fs::File> = (0..5)
            .map(|i| {
                let mut f = tempfile::tempfile().expect("tempfile");
                write!(f, "file {i}").expect("write");
                f
            })
            .collect();
        let borrowed: Vec<_> = files.iter().map(std::os::fd::AsFd::as_fd).collect();
        send_with_fds(a.as_raw_fd(), b"x", &borrowed).expect("send");
        let (mut buf, mut fds) = ([0u8; 8], Vec::new());
        let (n, truncated) =
            recv_with_fds_up_to(b.as_raw_fd(), &mut buf, &mut fds, 8).expect("recv");
        assert_eq!((n, truncated, fds.len()), (1, false, 5));
        for (i, fd) in fds.into_iter().enumerate() {
            let mut text = String::new();
            let mut f = std::fs::File::from(fd);
            f.rewind().expect("rewind");
            f.read_to_string(&mut text).expect("read");
            assert_eq!(text, format!("file {i}"));
        }
        // Room for fewer than were sent: the kernel drops the rest and says so.
        send_with_fds(a.as_raw_fd(), b"x", &borrowed).expect("send");
        let mut fds = Vec::new();
        let (_, truncated) =
            recv_with_fds_up_to(b.as_raw_fd(), &mut buf, &mut fds, 2).expect("recv");
        assert!(truncated);
        assert!(fds.len() <= 2);
    }
}
