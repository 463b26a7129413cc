//! S3 user keys and how their secrets are kept.
//!
//! SigV4 verification needs the secret key itself (the server recomputes the
//! signature), so a digest cannot stand in for it as it does for passwords. Instead
//! each secret is sealed with ChaCha20-Poly1305 under a 256-bit node key kept in
//! `<data-dir>/s3-secrets.key` (mode 0600, outside the database). A copy of the database
//! alone yields no usable key; the sealed value is bound to its SVM, user and access
//! key, so it cannot be moved to another user's record either.

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

const KEY_FILE: &str = "s3-secrets.key";
const ACCESS_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// The node key of `data_dir`, created on first use.
    pub fn open(data_dir: &Path) -> anyhow::Result<Sealer> {
        let path = data_dir.join(KEY_FILE);
        let mut bytes = [0u8; 32];
        match std::fs::File::open(&path) {
            Ok(mut f) => {
                f.read_exact(&mut bytes)
                    .with_context(|| format!("reading {}", path.display()))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                bytes = rand::random();
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                f.write_all(&bytes)?;
                f.sync_all()?;
            }
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        }
        let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| anyhow::anyhow!("{} is not a usable key", path.display()))?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
        })
    }

    /// `secret` sealed for `(svm, user, access_key)`, as base64 of nonce and ciphertext.
    pub fn seal(&self, binding: &str, secret: &str) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut data = secret.as_bytes().to_vec();
        // Sealing only fails for inputs beyond ChaCha20's 256 GiB limit.
        if self
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::from(binding.as_bytes()),
                &mut data,
            )
            .is_err()
        {
            return String::new();
        }
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&data);
        STANDARD.encode(out)
    }

    /// The secret of a sealed value, or `None` when it was sealed for something else,
    /// under another node key, or altered.
    pub fn unseal(&self, binding: &str, sealed: &str) -> Option<String> {
        let raw = STANDARD.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(binding.as_bytes()), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// What a sealed secret is bound to.
pub fn binding(svm_uuid: &str, user: &str, access_key: &str) -> String {
    format!("{svm_uuid}\n{user}\n{access_key}")
}

fn random_text(alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rand::random_range(0..alphabet.len())] as char)
        .collect()
}

/// A new key pair in AWS's shapes: a 20-character access key, a 40-character secret.
pub fn generate_keys() -> (String, String) {
    (
        random_text(ACCESS_ALPHABET, 20),
        random_text(SECRET_ALPHABET, 40),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trip_and_binding() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sealer::open(dir.path()).unwrap();
        let (ak, sk) = generate_keys();
        assert_eq!((ak.len(), sk.len()), (20, 40));
        let b = binding("svm", "u1", &ak);
        let sealed = s.seal(&b, &sk);
        assert!(!sealed.contains(&sk));
        assert_eq!(s.unseal(&b, &sealed).as_deref(), Some(sk.as_str()));
        assert_eq!(s.unseal(&binding("svm", "u2", &ak), &sealed), None);
        // The same key file opens it again; another node key does not.
        let again = Sealer::open(dir.path()).unwrap();
        assert_eq!(again.unseal(&b, &sealed).as_deref(), Some(sk.as_str()));
        let other = tempfile::tempdir().unwrap();
        assert_eq!(
            Sealer::open(other.path()).unwrap().unseal(&b, &sealed),
            None
        );
    }
}
