//! HTTP Basic authentication against the accounts of `/api/security/accounts`.
//!
//! Passwords are stored as argon2id hashes. Verifying one costs tens of milliseconds
//! of CPU by design, so a successful verification is remembered (as a SHA-256 of the
//! password, keyed by the stored hash) until the account's hash changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use async_trait::async_trait;
use axum::http::{HeaderMap, header};
use base64::Engine;
use rest::{Authenticator, Principal, Role};
use serde_json::Value;
use sha2::{Digest, Sha256};
use store::Store;

pub const ACCOUNT_KIND: &str = "account";

pub struct Accounts {
    store: Arc<Store>,
    verified: Mutex<HashMap<String, (String, [u8; 32])>>,
}

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// Whether `password` is the one `hash` was made from. Argon2 costs tens of
/// milliseconds of CPU by design, so it runs off the async workers.
pub async fn verify_password(hash: &str, password: &str) -> bool {
    let hash = hash.to_string();
    let password = password.to_string();
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&hash).is_ok_and(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

pub fn find_account(store: &Store, name: &str) -> Option<Arc<Value>> {
    store
        .list(ACCOUNT_KIND)
        .into_iter()
        .find(|a| a["name"] == name)
}

impl Accounts {
    pub fn new(store: Arc<Store>) -> Accounts {
        Accounts {
            store,
            verified: Mutex::new(HashMap::new()),
        }
    }

    fn principal(&self, account: &Value) -> Option<Principal> {
        let role = match account["role"]["name"].as_str()? {
            "admin" => Role::Admin,
            "readonly" => Role::Readonly,
            "vsadmin" => Role::Vsadmin,
            _ => return None,
        };
        let svm = (account["scope"] == "svm").then(|| {
            let uuid = account["owner"]["uuid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            // The SVM may have been renamed since the account was created.
            let name = self
                .store
                .get(crate::state::SVM_KIND, &uuid)
                .and_then(|svm| svm["name"].as_str().map(str::to_string))
                .or_else(|| account["owner"]["name"].as_str().map(str::to_string))
                .unwrap_or_default();
            (uuid, name)
        });
        Some(Principal {
            name: account["name"].as_str()?.to_string(),
            role,
            svm,
        })
    }
}

#[async_trait]
impl Authenticator for Accounts {
    async fn authenticate(&self, headers: &HeaderMap) -> Option<Principal> {
        let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
        let encoded = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (name, password) = text.split_once(':')?;
        self.login(name, password).await
    }
}

impl Accounts {
    /// The principal of `name` when `password` is its password and the account may use
    /// this API (HTTP Basic and the console's login form both come here).
    pub async fn login(&self, name: &str, password: &str) -> Option<Principal> {
        let account = self.usable(name)?;
        let stored = account["password_hash"].as_str()?.to_string();
        let digest: [u8; 32] = Sha256::digest(password.as_bytes()).into();
        let cached = {
            let v = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            v.get(name)
                .is_some_and(|(hash, d)| *hash == stored && *d == digest)
        };
        if !cached {
            if !verify_password(&stored, password).await {
                return None;
            }
            self.verified
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.to_string(), (stored, digest));
        }
        self.principal(&account)
    }

    /// The principal of an account that logged in earlier, as the account is now: a
    /// session ends when its account is deleted, locked or loses `http`, and follows
    /// role changes.
    pub fn current(&self, name: &str) -> Option<Principal> {
        self.principal(&*self.usable(name)?)
    }

    fn usable(&self, name: &str) -> Option<Arc<Value>> {
        let account = find_account(&self.store, name)?;
        // An account without the `http` application (only `ontapi` or `ssh`) has no
        // access to this API, as on ONTAP.
        let http = account["applications"]
            .as_array()
            .is_none_or(|apps| apps.iter().any(|a| a["application"] == "http"));
        (account["locked"] != true && http).then_some(account)
    }
}
