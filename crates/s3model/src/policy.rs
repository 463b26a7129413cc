//! Who may do what: the statements of named policies (attached to groups) and of
//! bucket policies, and the one rule that evaluates them for a request. Explicit deny
//! wins, then an allow, then the implicit grants of [`Request`]; anything else is
//! denied. The rule is written down in docs/s3.md.

use serde::{Deserialize, Serialize};

/// Named policies, id = [`policy_id`].
pub const POLICY_KIND: &str = "s3_policy";
/// Groups, id = [`group_id`].
pub const GROUP_KIND: &str = "s3_group";

/// The service's administrator, as ONTAP names it: every request it signs is allowed
/// unless a statement denies it.
pub const ROOT_USER: &str = "root";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

/// One statement. `principals` is empty in a named policy: whoever is in a group the
/// policy is attached to is its principal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub effect: Effect,
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub principals: Vec<String>,
    pub resources: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub svm_uuid: String,
    pub name: String,
    #[serde(default)]
    pub comment: String,
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub svm_uuid: String,
    pub id: u64,
    pub name: String,
    #[serde(default)]
    pub comment: String,
    pub users: Vec<String>,
    /// Policy names; `*` attaches every policy of the SVM.
    pub policies: Vec<String>,
}

pub fn policy_id(svm_uuid: &str, name: &str) -> String {
    format!("{svm_uuid}/{name}")
}

pub fn group_id(svm_uuid: &str, id: u64) -> String {
    format!("{svm_uuid}/{id}")
}

/// ONTAP's built-in policies: on every server, shown `read-only`, never changed.
pub fn builtin_policies(svm_uuid: &str) -> Vec<Policy> {
    let all = |effect, actions: &[&str]| Statement {
        effect,
        actions: actions.iter().map(|a| a.to_string()).collect(),
        principals: Vec::new(),
        resources: vec!["*".into()],
        sid: Some("1".into()),
    };
    let policy = |name: &str, comment: &str, statement| Policy {
        svm_uuid: svm_uuid.to_string(),
        name: name.to_string(),
        comment: comment.to_string(),
        statements: vec![statement],
    };
    vec![
        policy(
            "FullAccess",
            "Every S3 action on every resource.",
            all(Effect::Allow, &["*"]),
        ),
        policy(
            "NoS3Access",
            "No S3 action on any resource.",
            all(Effect::Deny, &["*"]),
        ),
        policy(
            "ReadOnlyAccess",
            "Read and list objects and buckets.",
            all(
                Effect::Allow,
                &[
                    "GetObject",
                    "ListBucket",
                    "ListAllMyBuckets",
                    "GetObjectTagging",
                    "GetBucketLocation",
                    "GetBucketVersioning",
                ],
            ),
        ),
    ]
}

/// The actions statements may name (ONTAP's list), as S3 spells them.
pub const ACTIONS: &[&str] = &[
    "GetObject",
    "PutObject",
    "DeleteObject",
    "ListBucket",
    "GetBucketAcl",
    "GetObjectAcl",
    "ListAllMyBuckets",
    "ListBucketMultipartUploads",
    "ListMultipartUploadParts",
    "CreateBucket",
    "DeleteBucket",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "GetBucketLocation",
    "GetBucketVersioning",
    "PutBucketVersioning",
    "ListBucketVersions",
    "PutBucketPolicy",
    "GetBucketPolicy",
    "DeleteBucketPolicy",
    "AbortMultipartUpload",
];

/// Gives every statement without a `sid` its position (`"1"`, `"2"`, ...), so that
/// every statement read back has one (Ansible's modules compare them).
pub fn number_sids(statements: &mut [Statement]) {
    for (i, s) in statements.iter_mut().enumerate() {
        if s.sid.is_none() {
            s.sid = Some((i + 1).to_string());
        }
    }
}

/// Why an action, resource or principal is refused.
pub fn check_action(action: &str) -> Result<(), String> {
    let bare = action.strip_prefix("s3:").unwrap_or(action);
    if bare.contains('*') || bare.contains('?') {
        if bare
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '*' || c == '?')
        {
            return Ok(());
        }
    } else if ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(bare)) {
        return Ok(());
    }
    Err(format!(
        "\"{action}\" is not an S3 action: use one of {}, or a pattern with \"*\"",
        ACTIONS.join(", ")
    ))
}

/// A resource is `*`, a bucket name, or `bucket/` followed by a key pattern.
pub fn check_resource(resource: &str) -> Result<(), String> {
    if resource.is_empty() || resource.contains('\0') {
        return Err("a resource must be \"*\", a bucket name or bucket/key-pattern".into());
    }
    Ok(())
}

/// A principal is `*`, a user name or `group/NAME`. `nasgroup/` principals need NAS
/// groups, which Vigil does not resolve: refused rather than never matching silently.
pub fn check_principal(principal: &str) -> Result<(), String> {
    if principal == "*" {
        return Ok(());
    }
    if principal.starts_with("nasgroup/") {
        return Err(format!(
            "\"{principal}\": nasgroup principals are not supported by this Vigil release"
        ));
    }
    let name = principal.strip_prefix("group/").unwrap_or(principal);
    if name.is_empty() || name.len() > 128 {
        return Err(format!("\"{principal}\" is not a user name or group/NAME"));
    }
    Ok(())
}

/// `*` matches any run of characters, `?` any one; the rest compares exactly (or
/// ignoring ASCII case).
pub fn wildcard(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    // Greedy match with backtracking to the last star: linear in practice.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && same(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A request as the rule sees it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The action, as in [`ACTIONS`].
    pub action: &'a str,
    /// `bucket` or `bucket/key`; `*` for requests on no bucket (ListAllMyBuckets).
    pub resource: &'a str,
    /// The signing user; `None`: anonymous.
    pub user: Option<&'a str>,
    /// The names of the user's groups.
    pub groups: &'a [String],
    /// Granted when no statement decides: the service's root user, a bucket's owner,
    /// and actions every signed request may do (docs/s3.md).
    pub implicit_allow: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// A statement denies it.
    Denied,
    /// Nothing allows it.
    NotAllowed,
}

impl Statement {
    fn covers(&self, req: &Request<'_>) -> bool {
        let action = self.actions.iter().any(|a| {
            let a = a.strip_prefix("s3:").unwrap_or(a);
            wildcard(a, req.action, true)
        });
        action
            && self
                .resources
                .iter()
                .any(|r| wildcard(r, req.resource, false))
    }

    fn names(&self, req: &Request<'_>) -> bool {
        self.principals.iter().any(|p| {
            if p == "*" {
                return true;
            }
            let Some(user) = req.user else {
                return false;
            };
            match p.strip_prefix("group/") {
                Some(group) => req.groups.iter().any(|g| g == group),
                None => p == user,
            }
        })
    }
}

/// Decides a request from its user's group policies (which apply only to a signed
/// user) and the bucket's policy (which names its principals).
pub fn decide<'s>(
    req: &Request<'_>,
    group_statements: impl IntoIterator<Item = &'s Statement>,
    bucket_statements: &'s [Statement],
) -> Decision {
    let group: Vec<&Statement> = if req.user.is_some() {
        group_statements.into_iter().collect()
    } else {
        Vec::new()
    };
    let bucket: Vec<&Statement> = bucket_statements.iter().filter(|s| s.names(req)).collect();
    let applying: Vec<&Statement> = group
        .into_iter()
        .chain(bucket)
        .filter(|s| s.covers(req))
        .collect();
    if applying.iter().any(|s| s.effect == Effect::Deny) {
        Decision::Denied
    } else if applying.iter().any(|s| s.effect == Effect::Allow) || req.implicit_allow {
        Decision::Allowed
    } else {
        Decision::NotAllowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(effect: Effect, actions: &[&str], principals: &[&str], resources: &[&str]) -> Statement {
        Statement {
            effect,
            actions: actions.iter().map(|s| s.to_string()).collect(),
            principals: principals.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            sid: None,
        }
    }

    fn req<'a>(
        action: &'a str,
        resource: &'a str,
        user: Option<&'a str>,
        groups: &'a [String],
    ) -> Request<'a> {
        Request {
            action,
            resource,
            user,
            groups,
            implicit_allow: false,
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("*", "", false));
        assert!(wildcard("b/*", "b/x/y", false));
        assert!(!wildcard("b/*", "b", false));
        assert!(wildcard("b/a?c", "b/abc", false));
        assert!(wildcard("b/*/z", "b/x/y/z", false));
        assert!(!wildcard("b/*/z", "b/x/y/q", false));
        assert!(wildcard("get*", "GetObject", true));
        assert!(!wildcard("get*", "GetObject", false));
        assert!(wildcard("*a*b*", "xxaxxbxx", false));
        assert!(!wildcard("*a*b", "xxaxxbxxc", false));
    }

    #[test]
    fn deny_wins_then_allow_then_implicit() {
        let none: [String; 0] = [];
        let groups = vec!["readers".to_string()];
        let allow = st(Effect::Allow, &["s3:Get*"], &[], &["bkt/*"]);
        let deny = st(Effect::Deny, &["GetObject"], &[], &["bkt/secret/*"]);
        let r = req("GetObject", "bkt/a", Some("u"), &groups);
        assert_eq!(decide(&r, [&allow, &deny], &[]), Decision::Allowed);
        let r = req("GetObject", "bkt/secret/a", Some("u"), &groups);
        assert_eq!(decide(&r, [&allow, &deny], &[]), Decision::Denied);
        let r = req("PutObject", "bkt/a", Some("u"), &groups);
        assert_eq!(decide(&r, [&allow, &deny], &[]), Decision::NotAllowed);
        let mut r = req("PutObject", "bkt/a", Some("u"), &none);
        r.implicit_allow = true;
        assert_eq!(decide(&r, [], &[]), Decision::Allowed);
        let bucket_deny = st(Effect::Deny, &["*"], &["u"], &["bkt/*"]);
        assert_eq!(decide(&r, [], &[bucket_deny]), Decision::Denied);
    }

    #[test]
    fn bucket_principals() {
        let groups = vec!["team".to_string()];
        let bucket = [
            st(Effect::Allow, &["GetObject"], &["*"], &["pub/*"]),
            st(Effect::Allow, &["PutObject"], &["group/team"], &["pub/*"]),
            st(Effect::Allow, &["DeleteObject"], &["alice"], &["pub/*"]),
        ];
        let anon = req("GetObject", "pub/k", None, &[]);
        assert_eq!(decide(&anon, [], &bucket), Decision::Allowed);
        let anon_put = req("PutObject", "pub/k", None, &[]);
        assert_eq!(decide(&anon_put, [], &bucket), Decision::NotAllowed);
        let member = req("PutObject", "pub/k", Some("bob"), &groups);
        assert_eq!(decide(&member, [], &bucket), Decision::Allowed);
        let bob_delete = req("DeleteObject", "pub/k", Some("bob"), &groups);
        assert_eq!(decide(&bob_delete, [], &bucket), Decision::NotAllowed);
        let alice_delete = req("DeleteObject", "pub/k", Some("alice"), &[]);
        assert_eq!(decide(&alice_delete, [], &bucket), Decision::Allowed);
        // Group policies never apply to anonymous requests.
        let everything = st(Effect::Allow, &["*"], &[], &["*"]);
        assert_eq!(decide(&anon_put, [&everything], &[]), Decision::NotAllowed);
    }

    #[test]
    fn checks() {
        assert!(check_action("GetObject").is_ok());
        assert!(check_action("s3:getobject").is_ok());
        assert!(check_action("Get*").is_ok());
        assert!(check_action("FlyToTheMoon").is_err());
        assert!(check_principal("group/g").is_ok());
        assert!(check_principal("nasgroup/g").is_err());
        assert!(check_resource("").is_err());
    }
}
