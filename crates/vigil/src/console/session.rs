//! Console sessions: an unguessable token in an HttpOnly, SameSite=Strict cookie
//! (Secure when the listener is HTTPS), and a CSRF token per session that every form
//! posts back. Sessions live in memory: a restart logs everyone out, which is what an
//! administrator expects of a restarted security service.
//!
//! The session holds the account's name only; its role and SVM are looked up again on
//! every request ([`crate::auth::Accounts::current`]), so locking or deleting the
//! account ends its sessions at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine;

pub const COOKIE: &str = "vigil_session";
/// The login form's own CSRF token (double-submit: cookie and hidden field).
pub const LOGIN_COOKIE: &str = "vigil_login";
/// A session unused this long ends.
const IDLE: Duration = Duration::from_secs(30 * 60);
/// A session ends this long after login, used or not.
const LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// Sessions kept at most; past it the oldest go (bounds memory against login floods).
const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    created: Instant,
    seen: Instant,
}

pub struct Sessions {
    by_token: Mutex<HashMap<String, Session>>,
    secure: bool,
}

/// 32 random bytes, URL-safe base64.
pub fn random_token() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// Compares in time independent of where the first difference is.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie of the request by name.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl Sessions {
    pub fn new(secure: bool) -> Sessions {
        Sessions {
            by_token: Mutex::new(HashMap::new()),
            secure,
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.by_token.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for `user`; returns its token.
    pub fn open(&self, user: &str) -> String {
        let now = Instant::now();
        let token = random_token();
        let mut map = self.map();
        map.retain(|_, s| live(s, now));
        if map.len() >= MAX_SESSIONS
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
        map.insert(
            token.clone(),
            Session {
                user: user.to_string(),
                csrf: random_token(),
                created: now,
                seen: now,
            },
        );
        token
    }

    /// The request's session, if its cookie names a live one; marks it used.
    pub fn find(&self, headers: &HeaderMap) -> Option<(String, Session)> {
        let token = cookie(headers, COOKIE)?;
        let now = Instant::now();
        let mut map = self.map();
        let session = map.get_mut(token)?;
        if !live(session, now) {
            map.remove(token);
            return None;
        }
        session.seen = now;
        Some((token.to_string(), session.clone()))
    }

    pub fn close(&self, token: &str) {
        self.map().remove(token);
    }

    /// `Set-Cookie` for a session token (empty and expired to clear it).
    pub fn set_cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            c.push_str("; Secure");
        }
        c
    }
}

fn live(s: &Session, now: Instant) -> bool {
    now.duration_since(s.seen) < IDLE && now.duration_since(s.created) < LIFETIME
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn a_session_is_found_by_its_cookie_and_ends_on_close() {
        let sessions = Sessions::new(true);
        let token = sessions.open("admin");
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={token}")).unwrap(),
        );
        let (found, s) = sessions.find(&headers).expect("live session");
        assert_eq!((found.as_str(), s.user.as_str()), (token.as_str(), "admin"));
        assert_ne!(s.csrf, token);
        sessions.close(&token);
        assert!(sessions.find(&headers).is_none());
        let c = sessions.set_cookie(COOKIE, "x", None);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.ends_with("Secure"));
        assert!(
            !Sessions::new(false)
                .set_cookie(COOKIE, "x", None)
                .contains("Secure")
        );
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }
}
