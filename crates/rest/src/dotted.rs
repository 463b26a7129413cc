//! Dotted keys in request bodies: ONTAP reads `{"scope.max_file_size": 1000}` as
//! `{"scope": {"max_file_size": 1000}}`, and accepts both forms mixed in one body
//! (`{"svm.name": "vs1", "svm": {"uuid": …}}`). Bodies are brought to the nested form
//! here, before validation, so that every resource only ever sees nested objects.
//!
//! Decisions where ONTAP documents nothing (docs/rest.md): the same field given both
//! ways with equal values is accepted; with different values it is 262188 naming the
//! dotted key; a dotted key naming no field is 262179, one that would go through an
//! array (`applications.application`) is 262179 too, since dotted names carry no
//! index; one naming a field this operation cannot set is 262196 naming the dotted
//! path (validation would name the enclosing object).

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, Code};
use crate::schema::{Field, Schema, Ty, WriteOp, join};

impl Schema {
    /// `body` with every dotted key expanded into nested objects and merged with the
    /// members given in nested form. Bodies that are not objects are returned as they
    /// are, for validation to refuse.
    pub fn expand_dotted(&self, body: Value, op: WriteOp) -> ApiResult<Value> {
        match body {
            Value::Object(map) => Ok(Value::Object(expand_object(
                map,
                Some(&self.fields),
                "",
                op,
            )?)),
            other => Ok(other),
        }
    }
}

/// `fields` is `None` below a member the schema does not know (validation reports it).
fn expand_object(
    map: Map<String, Value>,
    fields: Option<&[Field]>,
    prefix: &str,
    op: WriteOp,
) -> ApiResult<Map<String, Value>> {
    let mut out = Map::new();
    // Nested members first, so that a conflict is always reported on the dotted key.
    let (dotted, plain): (Vec<_>, Vec<_>) = map
        .into_iter()
        .partition(|(k, _)| k != "_links" && k.contains('.'));
    for (key, value) in plain {
        let field = fields.and_then(|f| f.iter().find(|f| f.name == key));
        let value = expand_value(value, field, &join(prefix, &key), op)?;
        out.insert(key, value);
    }
    for (key, value) in dotted {
        let full = join(prefix, &key);
        let segments: Vec<&str> = key.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(ApiError::unexpected_argument(&full));
        }
        let leaf = walk_schema(fields, &segments, prefix, &full)?;
        if let Some(field) = leaf {
            let access = field.access();
            let settable = match op {
                WriteOp::Create => access.create,
                WriteOp::Modify => access.modify,
            };
            if !settable {
                return Err(ApiError::read_only(&full));
            }
        }
        let value = expand_value(value, leaf, &full, op)?;
        insert_path(&mut out, &segments, value, &full)?;
    }
    Ok(out)
}

/// The field a dotted key names, checking that every segment but the last is an
/// object of the schema.
fn walk_schema<'a>(
    fields: Option<&'a [Field]>,
    segments: &[&str],
    prefix: &str,
    full: &str,
) -> ApiResult<Option<&'a Field>> {
    let Some(mut fields) = fields else {
        return Ok(None);
    };
    let mut path = prefix.to_string();
    for (i, segment) in segments.iter().enumerate() {
        path = join(&path, segment);
        let Some(field) = fields.iter().find(|f| f.name == *segment) else {
            return Err(ApiError::unexpected_argument(full));
        };
        if i + 1 == segments.len() {
            return Ok(Some(field));
        }
        match &field.ty {
            Ty::Object(children) => fields = children,
            Ty::Array(_) => {
                return Err(ApiError::new(
                    Code::UnexpectedArgument,
                    format!(
                        "Unexpected argument \"{full}\": \"{path}\" is an array, whose members a dotted name cannot address; send \"{path}\" as an array of objects."
                    ),
                )
                .with_target(full));
            }
            _ => return Err(ApiError::unexpected_argument(full)),
        }
    }
    Ok(None)
}

/// Expands dotted keys inside a member's value: an object, or the objects of an array.
fn expand_value(value: Value, field: Option<&Field>, path: &str, op: WriteOp) -> ApiResult<Value> {
    let children = field.and_then(Field::children);
    match value {
        Value::Object(map) => Ok(Value::Object(expand_object(map, children, path, op)?)),
        Value::Array(items) if children.is_some() => items
            .into_iter()
            .map(|item| match item {
                Value::Object(map) => expand_object(map, children, path, op).map(Value::Object),
                other => Ok(other),
            })
            .collect::<ApiResult<Vec<_>>>()
            .map(Value::Array),
        other => Ok(other),
    }
}

fn insert_path(
    out: &mut Map<String, Value>,
    segments: &[&str],
    value: Value,
    full: &str,
) -> ApiResult<()> {
    let Some((last, parents)) = segments.split_last() else {
        return Ok(());
    };
    let mut cur = out;
    for segment in parents {
        let slot = cur
            .entry((*segment).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        match slot {
            Value::Object(map) => cur = map,
            _ => return Err(conflict(full)),
        }
    }
    match cur.get_mut(*last) {
        None => {
            cur.insert((*last).to_string(), value);
            Ok(())
        }
        Some(existing) => merge(existing, value, full),
    }
}

/// Merges a value given in dotted form into one given (or built) in nested form.
fn merge(existing: &mut Value, value: Value, full: &str) -> ApiResult<()> {
    match (existing, value) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    None => {
                        a.insert(k, v);
                    }
                    Some(slot) => merge(slot, v, &join(full, &k))?,
                }
            }
            Ok(())
        }
        (a, b) if *a == b => Ok(()),
        _ => Err(conflict(full)),
    }
}

fn conflict(full: &str) -> ApiError {
    ApiError::new(
        Code::SpecifiedTwice,
        format!(
            "Field \"{full}\" was specified twice, as a dotted name and inside its object, with different values."
        ),
    )
    .with_target(full)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::schema::{array_of, boolean, integer, object, string};

    use super::*;

    fn schema() -> Schema {
        Schema::new(vec![
            string("name").read_write(),
            string("uuid").read_only(),
            object("svm", vec![string("uuid"), string("name")]).create(),
            object(
                "scope",
                vec![
                    integer("max_file_size"),
                    boolean("scan_readonly_volumes"),
                    object("limits", vec![integer("depth")]),
                ],
            )
            .read_write(),
            array_of("servers", vec![string("address"), integer("port")]).read_write(),
        ])
    }

    fn expand(body: Value) -> ApiResult<Value> {
        schema().expand_dotted(body, WriteOp::Create)
    }

    #[test]
    fn dotted_keys_become_nested_objects() {
        assert_eq!(
            expand(json!({"scope.max_file_size": 1000})).unwrap(),
            json!({"scope": {"max_file_size": 1000}})
        );
        assert_eq!(
            expand(json!({"scope.limits.depth": 3, "svm.name": "vs1"})).unwrap(),
            json!({"scope": {"limits": {"depth": 3}}, "svm": {"name": "vs1"}})
        );
        // Dotted keys inside nested objects, and inside the objects of an array.
        assert_eq!(
            expand(json!({"scope": {"limits.depth": 3}})).unwrap(),
            json!({"scope": {"limits": {"depth": 3}}})
        );
        assert_eq!(
            expand(json!({"servers": [{"address": "a", "port": 1}, {"address": "b"}]})).unwrap(),
            json!({"servers": [{"address": "a", "port": 1}, {"address": "b"}]})
        );
        let plain = json!({"name": "x", "_links": {"self": {"href": "/a.b"}}});
        assert_eq!(expand(plain.clone()).unwrap(), plain);
    }

    #[test]
    fn mixed_forms_merge() {
        assert_eq!(
            expand(json!({
                "scope": {"max_file_size": 10},
                "scope.scan_readonly_volumes": true,
                "scope.limits.depth": 2,
                "svm": {"uuid": "u"},
                "svm.name": "vs1",
            }))
            .unwrap(),
            json!({
                "scope": {"max_file_size": 10, "scan_readonly_volumes": true, "limits": {"depth": 2}},
                "svm": {"uuid": "u", "name": "vs1"},
            })
        );
        // The same value both ways is one field given once.
        assert_eq!(
            expand(json!({"svm": {"name": "vs1"}, "svm.name": "vs1"})).unwrap(),
            json!({"svm": {"name": "vs1"}})
        );
        assert_eq!(
            expand(json!({"scope.limits": {"depth": 2}, "scope.limits.depth": 2})).unwrap(),
            json!({"scope": {"limits": {"depth": 2}}})
        );
    }

    #[test]
    fn conflicts_are_refused_naming_the_dotted_key() {
        let e = expand(json!({"svm": {"name": "vs1"}, "svm.name": "vs2"})).unwrap_err();
        assert_eq!(e.code.code(), 262188);
        assert_eq!(e.target.as_deref(), Some("svm.name"));
        let e = expand(json!({"scope": 5, "scope.max_file_size": 1})).unwrap_err();
        assert_eq!(
            (e.code.code(), e.target.as_deref()),
            (262188, Some("scope.max_file_size"))
        );
        let e = expand(json!({"scope": {"limits": {"depth": 1}}, "scope.limits": {"depth": 2}}))
            .unwrap_err();
        assert_eq!(
            (e.code.code(), e.target.as_deref()),
            (262188, Some("scope.limits.depth"))
        );
        let e = expand(json!({"scope": {"limits.depth": 1}, "scope.limits.depth": 2})).unwrap_err();
        assert_eq!(
            (e.code.code(), e.target.as_deref()),
            (262188, Some("scope.limits.depth"))
        );
    }

    #[test]
    fn unknown_and_array_paths_are_unexpected_arguments() {
        for (body, target) in [
            (json!({"scope.bogus": 1}), "scope.bogus"),
            (json!({"bogus.x": 1}), "bogus.x"),
            (json!({"name.first": "a"}), "name.first"),
            (json!({"servers.address": "a"}), "servers.address"),
            (json!({"scope..depth": 1}), "scope..depth"),
            (json!({"scope.": 1}), "scope."),
            (json!({"scope": {"limits.bogus": 1}}), "scope.limits.bogus"),
        ] {
            let e = expand(body.clone()).unwrap_err();
            assert_eq!(e.code.code(), 262179, "{body}");
            assert_eq!(e.target.as_deref(), Some(target), "{body}");
        }
    }

    #[test]
    fn read_only_targets_are_named_by_their_dotted_path() {
        let s = schema();
        let e = s
            .expand_dotted(json!({"svm.name": "vs1"}), WriteOp::Modify)
            .unwrap_err();
        assert_eq!(
            (e.code.code(), e.target.as_deref()),
            (262196, Some("svm.name"))
        );
        // create-only: fine in a POST
        assert_eq!(
            s.expand_dotted(json!({"svm.name": "vs1"}), WriteOp::Create)
                .unwrap(),
            json!({"svm": {"name": "vs1"}})
        );
        // the nested form is validation's: it names the object, as before
        let body = s
            .expand_dotted(json!({"svm": {"name": "vs1"}}), WriteOp::Modify)
            .unwrap();
        let e = s.validate_body(&body, WriteOp::Modify).unwrap_err();
        assert_eq!((e.code.code(), e.target.as_deref()), (262196, Some("svm")));
        let body = s
            .expand_dotted(json!({"scope.max_file_size": "big"}), WriteOp::Modify)
            .unwrap();
        let e = s.validate_body(&body, WriteOp::Modify).unwrap_err();
        assert_eq!(
            (e.code.code(), e.target.as_deref()),
            (262197, Some("scope.max_file_size"))
        );
    }
}
