//! The groups and named policies of an SVM's S3 server as stored, read by the REST
//! resources and by request authorization alike, and what a user's groups grant.

use s3model::policy::{GROUP_KIND, Group, POLICY_KIND, Policy, Statement, builtin_policies};
use store::Store;

/// The SVM's groups, by id.
pub fn groups_of(store: &Store, svm_uuid: &str) -> Vec<Group> {
    let mut out: Vec<Group> = store
        .list(GROUP_KIND)
        .iter()
        .filter(|d| d["svm_uuid"] == svm_uuid)
        .filter_map(|d| serde_json::from_value(d.as_ref().clone()).ok())
        .collect();
    out.sort_by_key(|g| g.id);
    out
}

/// The SVM's stored policies, by name (without the built-in ones).
pub fn stored_policies_of(store: &Store, svm_uuid: &str) -> Vec<Policy> {
    let mut out: Vec<Policy> = store
        .list(POLICY_KIND)
        .iter()
        .filter(|d| d["svm_uuid"] == svm_uuid)
        .filter_map(|d| serde_json::from_value(d.as_ref().clone()).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Every policy of the SVM: the built-in ones, then the stored ones.
pub fn policies_of(store: &Store, svm_uuid: &str) -> Vec<Policy> {
    let mut out = builtin_policies(svm_uuid);
    out.extend(stored_policies_of(store, svm_uuid));
    out
}

pub fn is_builtin(name: &str) -> bool {
    builtin_policies("").iter().any(|p| p.name == name)
}

/// What a user's groups say: the names of its groups and every statement of the
/// policies attached to them (`*` attaches all of the SVM's policies).
pub fn grants_of(store: &Store, svm_uuid: &str, user: &str) -> (Vec<String>, Vec<Statement>) {
    let groups: Vec<Group> = groups_of(store, svm_uuid)
        .into_iter()
        .filter(|g| g.users.iter().any(|u| u == user))
        .collect();
    if groups.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let policies = policies_of(store, svm_uuid);
    let mut statements = Vec::new();
    for policy in &policies {
        let attached = groups
            .iter()
            .any(|g| g.policies.iter().any(|p| p == "*" || *p == policy.name));
        if attached {
            statements.extend(policy.statements.iter().cloned());
        }
    }
    (groups.into_iter().map(|g| g.name).collect(), statements)
}
