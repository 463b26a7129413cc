//! The real clamdscan against Vigil's scanner, in every mode clamdscan has.

mod common;

use common::{Tree, Vigil, clamdscan};

const MODES: &[(&str, &[&str])] = &[
    ("CONTSCAN (default)", &[]),
    ("MULTISCAN", &["--multiscan"]),
    ("FILDES", &["--fdpass"]),
    ("IDSESSION + FILDES", &["--multiscan", "--fdpass"]),
    ("INSTREAM", &["--stream"]),
    ("ALLMATCHSCAN", &["--allmatch"]),
];

#[test]
fn every_mode_finds_exactly_the_planted_files() {
    let vigil = Vigil::start();
    let tree = Tree::generate(300);
    let unix = vigil.clamdscan_config(false);
    for (label, args) in MODES {
        let (code, found, stdout) = clamdscan(&unix, args, tree.root());
        assert_eq!(
            found, tree.planted,
            "{label}: reported set differs\n{stdout}"
        );
        assert_eq!(code, 1, "{label}: infected files must exit 1\n{stdout}");
    }
}

#[test]
fn tcp_modes_find_exactly_the_planted_files() {
    let vigil = Vigil::start();
    let tree = Tree::generate(50);
    let tcp = vigil.clamdscan_config(true);
    for (label, args) in [
        ("CONTSCAN over TCP", &[][..]),
        ("INSTREAM over TCP", &["--stream"][..]),
    ] {
        let (code, found, stdout) = clamdscan(&tcp, args, tree.root());
        assert_eq!(found, tree.planted, "{label}\n{stdout}");
        assert_eq!(code, 1, "{label}\n{stdout}");
    }
}

#[test]
fn clean_tree_exits_0_and_errors_exit_2() {
    let vigil = Vigil::start();
    let clean = tempfile::tempdir().expect("tempdir");
    for i in 0..20 {
        std::fs::write(
            clean.path().join(format!("f{i}.txt")),
            format!("clean file {i}\n"),
        )
        .expect("write");
    }
    let unix = vigil.clamdscan_config(false);
    for (label, args) in MODES {
        let (code, found, stdout) = clamdscan(&unix, args, clean.path());
        assert!(found.is_empty(), "{label}: nothing to find\n{stdout}");
        assert_eq!(code, 0, "{label}: clean tree must exit 0\n{stdout}");
        assert!(
            !stdout.contains("ERROR"),
            "{label}: no errors expected\n{stdout}"
        );
    }
    let missing = clean.path().join("does-not-exist");
    let (code, _, stdout) = clamdscan(&unix, &[], &missing);
    assert_eq!(code, 2, "a missing path must exit 2\n{stdout}");
}

/// The same clamdscan runs against the real clamd (custom EICAR database) must report the
/// same files with the same exit codes: Vigil is a drop-in replacement.
#[test]
fn real_clamd_and_vigil_agree_in_every_mode() {
    let clamd = common::real_clamd();
    let clamd_config = clamd.dir.path().join("clamdscan.conf");
    std::fs::write(
        &clamd_config,
        format!("LocalSocket {}\n", clamd.socket.display()),
    )
    .expect("write");
    let vigil = Vigil::start();
    let vigil_config = vigil.clamdscan_config(false);
    let tree = Tree::generate(60);
    for (label, args) in MODES {
        let (their_code, their_found, their_out) = clamdscan(&clamd_config, args, tree.root());
        let (our_code, our_found, our_out) = clamdscan(&vigil_config, args, tree.root());
        assert_eq!(
            our_found, their_found,
            "{label}\nclamd:\n{their_out}\nvigil:\n{our_out}"
        );
        assert_eq!(
            our_code, their_code,
            "{label}\nclamd:\n{their_out}\nvigil:\n{our_out}"
        );
    }
}
