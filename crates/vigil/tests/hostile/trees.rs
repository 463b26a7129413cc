//! Hostile trees and archives: bombs, 10,000-level directories, symlink loops, a
//! directory of 200,000 entries, names no protocol line was made for, unreadable files,
//! FIFOs and devices, scanned over clamd and on demand.

use std::ffi::{CString, OsStr};
use std::io::{Cursor, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::harness::{EICAR, Node, OnDemand, fildes, request, scan};

fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in members {
        out.start_file(*name, options).expect("member");
        out.write_all(data).expect("write member");
    }
    out.finish().expect("zip").into_inner()
}

fn command(word: &str, path: &Path) -> Vec<u8> {
    let mut c = format!("z{word} ").into_bytes();
    c.extend_from_slice(path.as_os_str().as_bytes());
    c.push(0);
    c
}

/// Every reply line of a directory command, which must end with its terminator.
fn dir_scan(node: &Node, word: &str, path: &Path) -> Vec<String> {
    let reply = request(&node.socket, &command(word, path));
    assert!(reply.ends_with(b"\0"), "{word}: {reply:?}");
    reply
        .split(|b| *b == 0)
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

#[test]
fn nested_archive_bombs() {
    let node = Node::start(&[]);
    // A member inflating far past the compression-ratio limit: a bomb, always reported.
    let zeros = vec![0u8; 64 << 20];
    let ratio = node.path("ratio.zip");
    std::fs::write(&ratio, zip_of(&[("zeros.bin", &zeros)])).expect("write");
    assert_eq!(
        scan(&node.socket, &ratio),
        "Heuristics.Limits.Exceeded.MaxCompressionRatio FOUND"
    );
    // 42.zip's shape: 16 x 16 x 16 members of 1 MiB of zeros.
    let leaf = vec![0u8; 1 << 20];
    let mut level = zip_of(&[("leaf.bin", &leaf)]);
    for depth in 0..3 {
        let names: Vec<String> = (0..16).map(|i| format!("l{depth}-{i}.zip")).collect();
        let members: Vec<(&str, &[u8])> = names
            .iter()
            .map(|n| (n.as_str(), level.as_slice()))
            .collect();
        level = zip_of(&members);
    }
    let wide = node.path("42.zip");
    std::fs::write(&wide, &level).expect("write");
    let reply = scan(&node.socket, &wide);
    assert!(reply == "OK" || reply.ends_with(" FOUND"), "{reply}");
    // EICAR under 20 levels of zips: below MaxRecursion, skipped as clamd does (OK).
    let mut nested = EICAR.to_vec();
    for depth in 0..20 {
        nested = zip_of(&[(&format!("n{depth}"), &nested)]);
    }
    let deep = node.path("deep.zip");
    std::fs::write(&deep, &nested).expect("write");
    assert_eq!(scan(&node.socket, &deep), "OK");
    // 20,000 members, past MaxFiles.
    let many_names: Vec<String> = (0..20_000).map(|i| format!("m{i}")).collect();
    let many: Vec<(&str, &[u8])> = many_names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let wide_flat = node.path("many.zip");
    std::fs::write(&wide_flat, zip_of(&many)).expect("write");
    assert_eq!(scan(&node.socket, &wide_flat), "OK");
    // All of them at once, over MULTISCAN.
    let lines = dir_scan(&node, "MULTISCAN", node.dir.path());
    assert!(
        lines
            .iter()
            .any(|l| l.contains("MaxCompressionRatio FOUND")),
        "{lines:?}"
    );
    node.finish("nested archive bombs");
}

/// `depth` nested directories `d` under `root`, made relative to each parent's descriptor
/// (the full path is far beyond PATH_MAX), with `eicar.com` at level 50.
fn deep_tree(root: &Path, depth: usize) {
    let mut fd = open_dir(libc::AT_FDCWD, root.as_os_str());
    let d = CString::new("d").expect("name");
    for level in 0..depth {
        if level == 50 {
            let name = CString::new("eicar.com").expect("name");
            // SAFETY: fd is an open directory, name NUL-terminated.
            let f = unsafe {
                libc::openat(
                    fd,
                    name.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                )
            };
            assert!(f >= 0, "create eicar");
            // SAFETY: f is the file just created.
            unsafe {
                libc::write(f, EICAR.as_ptr().cast(), EICAR.len());
                libc::close(f);
            }
        }
        // SAFETY: as above.
        assert_eq!(
            unsafe { libc::mkdirat(fd, d.as_ptr(), 0o755) },
            0,
            "mkdirat {level}"
        );
        let next = open_dir(fd, OsStr::new("d"));
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        fd = next;
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
}

fn open_dir(at: libc::c_int, name: &OsStr) -> libc::c_int {
    let name = CString::new(name.as_bytes()).expect("name");
    // SAFETY: name is NUL-terminated.
    let fd = unsafe {
        libc::openat(
            at,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    assert!(fd >= 0, "open dir: {}", std::io::Error::last_os_error());
    fd
}

/// Removes what `deep_tree` made, bottom up, two descriptors at a time (the standard
/// library's recursive removal would need one per level).
fn remove_deep_tree(root: &Path) {
    let mut fd = open_dir(libc::AT_FDCWD, root.as_os_str());
    let mut depth = 0;
    loop {
        let name = CString::new("d").expect("name");
        // SAFETY: fd is an open directory.
        let next = unsafe {
            libc::openat(
                fd,
                name.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if next < 0 {
            break;
        }
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
        fd = next;
        depth += 1;
    }
    for _ in 0..depth {
        let up = open_dir(fd, OsStr::new(".."));
        let eicar = CString::new("eicar.com").expect("name");
        let d = CString::new("d").expect("name");
        // SAFETY: descriptors are ours, names NUL-terminated.
        unsafe {
            libc::close(fd);
            libc::unlinkat(up, eicar.as_ptr(), 0);
            libc::unlinkat(up, d.as_ptr(), libc::AT_REMOVEDIR);
        }
        fd = up;
    }
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
}

#[test]
fn deep_looping_and_huge_trees_over_clamd_and_on_demand() {
    let node = Node::start(&["--vscan-check-interval-ms", "200"]);
    let root = node.path("ns");
    let data = root.join("data");
    let deep = data.join("deep");
    std::fs::create_dir_all(&deep).expect("mkdir");
    deep_tree(&deep, 10_000);
    // Symbolic link loops.
    let loops = data.join("loops");
    std::fs::create_dir_all(loops.join("a")).expect("mkdir");
    std::os::unix::fs::symlink(".", loops.join("self")).expect("symlink");
    std::os::unix::fs::symlink("../a", loops.join("a/back")).expect("symlink");
    std::os::unix::fs::symlink("x", loops.join("x")).expect("symlink");
    // 200,000 entries in one directory, one of them infected.
    let wide = data.join("wide");
    std::fs::create_dir_all(&wide).expect("mkdir");
    for i in 0..200_000 {
        std::fs::File::create(wide.join(format!("f{i:06}"))).expect("create");
    }
    std::fs::write(wide.join("f100000"), EICAR).expect("write");
    // Special files and strange names.
    let odd = data.join("odd");
    std::fs::create_dir_all(&odd).expect("mkdir");
    let fifo = CString::new(odd.join("fifo").as_os_str().as_bytes()).expect("path");
    // SAFETY: path NUL-terminated.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let newline = odd.join("new\nline.com");
    std::fs::write(&newline, EICAR).expect("write");
    let invalid = odd.join(OsStr::from_bytes(b"bad-\xff\xfe-utf8.com"));
    std::fs::write(&invalid, EICAR).expect("write");

    // Over clamd, every directory command answers.
    for word in ["SCAN", "CONTSCAN", "MULTISCAN"] {
        let lines = dir_scan(&node, word, &data);
        assert!(!lines.is_empty(), "{word}");
        eprintln!("{word} of the tree: {} lines", lines.len());
    }
    let wide_lines = dir_scan(&node, "CONTSCAN", &wide);
    assert_eq!(wide_lines.len(), 1, "{wide_lines:?}");
    assert!(
        wide_lines[0].ends_with("f100000: Vigil.Test.EICAR FOUND"),
        "{wide_lines:?}"
    );
    // Names are echoed byte for byte.
    for path in [&newline, &invalid] {
        let reply = request(&node.socket, &command("SCAN", path));
        let mut expected = path.as_os_str().as_bytes().to_vec();
        expected.extend_from_slice(b": Vigil.Test.EICAR FOUND\0");
        assert_eq!(reply, expected);
    }
    // FIFOs and devices are refused, never opened for a blocking read.
    assert_eq!(
        scan(&node.socket, &odd.join("fifo")),
        "Not supported file type ERROR"
    );
    assert_eq!(
        scan(&node.socket, Path::new("/dev/zero")),
        "Not supported file type ERROR"
    );
    let zero = std::fs::File::open("/dev/zero").expect("open");
    assert!(fildes(&node.socket, &zero).ends_with(b": Not a regular file ERROR\0"));

    // On demand, the run over the same tree finishes and reports.
    let od = OnDemand::new(&node, &root);
    let job = od.run(&node);
    eprintln!("on-demand run over the hostile tree: {}", job["message"]);
    assert!(
        job["state"] == "success" || job["state"] == "failure",
        "{job}"
    );
    remove_deep_tree(&deep);
    node.finish("deep, looping and huge trees");
}

/// Files the scanner may not read. Run as root, the scanner is started as `nobody`
/// (root reads everything), as `vigil scanner`.
#[test]
fn permission_denied() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let secret = dir.path().join("secret.com");
    std::fs::write(&secret, EICAR).expect("write");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let closed = dir.path().join("closed");
    std::fs::create_dir(&closed).expect("mkdir");
    std::fs::write(closed.join("inside.com"), EICAR).expect("write");
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let socket = dir.path().join("scanner.sock");
    // `nobody` may not be able to reach the build's target directory (CI keeps it under
    // /root, which is 0700), so the scanner runs from a copy in the world-readable tempdir.
    let binary = dir.path().join("vigil");
    std::fs::copy(env!("CARGO_BIN_EXE_vigil"), &binary).expect("copy the binary");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut command = std::process::Command::new(&binary);
    command
        .args(["scanner", "--listen", "off", "--socket"])
        .arg(&socket)
        .args(["--socket-mode", "666"])
        .env("VIGIL_LOG", "warn")
        .stdout(std::process::Stdio::null());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        use std::os::unix::process::CommandExt;
        command.uid(65534).gid(65534);
    }
    let mut child = command.spawn().expect("start scanner");
    for _ in 0..600 {
        if socket.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let reply = request(&socket, &command_bytes("SCAN", &secret));
    assert_eq!(
        reply,
        [secret.as_os_str().as_bytes(), b": Access denied. ERROR\0"].concat()
    );
    let reply = request(&socket, &command_bytes("CONTSCAN", dir.path()));
    assert!(reply.ends_with(b"\0"), "{reply:?}");
    let reply = request(&socket, &command_bytes("MULTISCAN", &closed));
    assert!(reply.ends_with(b"\0"), "{reply:?}");
    assert!(matches!(child.try_wait(), Ok(None)), "scanner died");
    let _ = child.kill();
    let _ = child.wait();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o755)).ok();
}

fn command_bytes(word: &str, path: &Path) -> Vec<u8> {
    command(word, path)
}
