//! A bucket policy as S3's JSON document (Get/PutBucketPolicy) and as the REST
//! bucket's `policy.statements[]`: one stored form ([`Statement`]), two spellings.
//! S3 writes `s3:GetObject`, `arn:aws:s3:::bucket/*` and `{"AWS": [...]}`; ONTAP's
//! REST writes `GetObject`, `bucket/*` and plain names.

use serde_json::{Map, Value, json};

use crate::policy::{Effect, Statement, check_action, check_principal, check_resource, wildcard};

const ARN: &str = "arn:aws:s3:::";
const USER_ARN: &str = ":user/";

/// A statement's resources must lie in its bucket: `bucket`, or `bucket/` and a key
/// pattern (which may itself use `*`).
pub fn check_bucket_resource(bucket: &str, resource: &str) -> Result<(), String> {
    check_resource(resource)?;
    let inside = resource == bucket
        || resource
            .strip_prefix(bucket)
            .is_some_and(|rest| rest.starts_with('/'))
        || wildcard(resource, bucket, false);
    if inside {
        Ok(())
    } else {
        Err(format!(
            "the resource \"{resource}\" is not in the bucket \"{bucket}\": use \"{bucket}\" or \"{bucket}/...\""
        ))
    }
}

/// Checks a bucket statement (either spelling ends here).
pub fn check_bucket_statement(bucket: &str, s: &Statement) -> Result<(), String> {
    if s.actions.is_empty() {
        return Err("a statement needs at least one action".into());
    }
    if s.principals.is_empty() {
        return Err("a bucket policy statement needs at least one principal".into());
    }
    if s.resources.is_empty() {
        return Err("a statement needs at least one resource".into());
    }
    for a in &s.actions {
        check_action(a)?;
    }
    for p in &s.principals {
        check_principal(p)?;
    }
    for r in &s.resources {
        check_bucket_resource(bucket, r)?;
    }
    if let Some(sid) = &s.sid
        && !(1..=256).contains(&sid.chars().count())
    {
        return Err("a statement id (sid) is 1 to 256 characters".into());
    }
    Ok(())
}

/// One string or an array of strings.
fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(String::from)
                    .ok_or_else(|| format!("every {what} must be a string"))
            })
            .collect(),
        _ => Err(format!("{what} must be a string or an array of strings")),
    }
}

fn principal_name(p: &str) -> String {
    // An IAM user ARN names the user after ":user/".
    match p.find(USER_ARN) {
        Some(at) if p.starts_with("arn:") => p[at + USER_ARN.len()..].to_string(),
        _ => p.to_string(),
    }
}

fn principals(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) if s == "*" => Ok(vec!["*".into()]),
        Value::Object(map) => {
            if let Some(other) = map.keys().find(|k| *k != "AWS") {
                return Err(format!(
                    "the principal type \"{other}\" is not supported: use \"AWS\" with user names, \"group/NAME\" or \"*\""
                ));
            }
            let aws = map
                .get("AWS")
                .ok_or("Principal names no \"AWS\" principal")?;
            Ok(strings(aws, "principal")?
                .iter()
                .map(|p| principal_name(p))
                .collect())
        }
        _ => Err("Principal must be \"*\" or {\"AWS\": [...]}".into()),
    }
}

/// Parses a PutBucketPolicy document for `bucket`. The reason names what is wrong.
pub fn parse(bucket: &str, text: &str) -> Result<Vec<Statement>, String> {
    let doc: Value =
        serde_json::from_str(text).map_err(|e| format!("the policy is not valid JSON: {e}"))?;
    let doc = doc.as_object().ok_or("the policy must be a JSON object")?;
    if let Some(other) = doc
        .keys()
        .find(|k| !["Version", "Id", "Statement"].contains(&k.as_str()))
    {
        return Err(format!("unknown policy element \"{other}\""));
    }
    let list = match doc.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => return Err("the policy has no Statement".into()),
    };
    if list.is_empty() {
        return Err("the policy has no Statement".into());
    }
    let mut out = list
        .iter()
        .map(|s| statement(bucket, s))
        .collect::<Result<Vec<_>, _>>()?;
    crate::policy::number_sids(&mut out);
    Ok(out)
}

fn statement(bucket: &str, v: &Value) -> Result<Statement, String> {
    let m = v
        .as_object()
        .ok_or("every Statement must be a JSON object")?;
    for k in m.keys() {
        match k.as_str() {
            "Sid" | "Effect" | "Principal" | "Action" | "Resource" => {}
            "Condition" => {
                return Err("policy conditions are not supported by this Vigil release".into());
            }
            other => {
                return Err(format!(
                    "the statement element \"{other}\" is not supported"
                ));
            }
        }
    }
    let effect = match m.get("Effect").and_then(Value::as_str) {
        Some("Allow") => Effect::Allow,
        Some("Deny") => Effect::Deny,
        _ => return Err("Effect must be \"Allow\" or \"Deny\"".into()),
    };
    let actions = strings(
        m.get("Action").ok_or("a statement needs an Action")?,
        "Action",
    )?;
    let resources = strings(
        m.get("Resource").ok_or("a statement needs a Resource")?,
        "Resource",
    )?
    .into_iter()
    .map(|r| r.strip_prefix(ARN).map(String::from).unwrap_or(r))
    .collect();
    let s = Statement {
        effect,
        actions: actions
            .into_iter()
            .map(|a| a.strip_prefix("s3:").map(String::from).unwrap_or(a))
            .collect(),
        principals: principals(m.get("Principal").ok_or("a statement needs a Principal")?)?,
        resources,
        sid: m.get("Sid").and_then(Value::as_str).map(String::from),
    };
    check_bucket_statement(bucket, &s)?;
    Ok(s)
}

/// The S3 JSON document of stored statements.
pub fn render(statements: &[Statement]) -> String {
    let list: Vec<Value> = statements
        .iter()
        .map(|s| {
            let mut m = Map::new();
            if let Some(sid) = &s.sid {
                m.insert("Sid".into(), json!(sid));
            }
            let effect = match s.effect {
                Effect::Allow => "Allow",
                Effect::Deny => "Deny",
            };
            m.insert("Effect".into(), json!(effect));
            let principal = if s.principals.iter().any(|p| p == "*") {
                json!("*")
            } else {
                json!({"AWS": s.principals})
            };
            m.insert("Principal".into(), principal);
            let actions: Vec<String> = s.actions.iter().map(|a| format!("s3:{a}")).collect();
            m.insert("Action".into(), json!(actions));
            let resources: Vec<String> = s.resources.iter().map(|r| format!("{ARN}{r}")).collect();
            m.insert("Resource".into(), json!(resources));
            Value::Object(m)
        })
        .collect();
    json!({"Version": "2012-10-17", "Statement": list}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let doc = r#"{"Version":"2012-10-17","Statement":[
            {"Sid":"pub","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"},
            {"Effect":"Deny","Principal":{"AWS":["arn:aws:iam::123:user/bob","group/g"]},
             "Action":["s3:PutObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::bkt/secret/*"]}]}"#;
        let st = parse("bkt", doc).unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].principals, ["*"]);
        assert_eq!(st[0].actions, ["GetObject"]);
        assert_eq!(st[0].resources, ["bkt/*"]);
        assert_eq!(st[1].principals, ["bob", "group/g"]);
        assert_eq!(st[1].effect, Effect::Deny);
        assert_eq!(st[1].sid.as_deref(), Some("2"));
        assert_eq!(parse("bkt", &render(&st)).unwrap(), st);
    }

    #[test]
    fn refusals() {
        let bad = [
            "not json",
            "[]",
            r#"{"Statement":[]}"#,
            r#"{"Statement":[{"Effect":"Maybe","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:Fly","Resource":"arn:aws:s3:::bkt"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt","Condition":{}}]}"#,
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt"}]}"#,
            r#"{"Statement":[{"Effect":"Allow","NotPrincipal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt"}]}"#,
        ];
        for doc in bad {
            assert!(parse("bkt", doc).is_err(), "{doc}");
        }
        assert!(check_bucket_resource("bkt", "bkt2").is_err());
        assert!(check_bucket_resource("bkt", "bkt").is_ok());
        assert!(check_bucket_resource("bkt", "*").is_ok());
    }
}
