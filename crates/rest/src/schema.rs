//! Resource schemas: the one declaration from which `fields`, filters, `order_by`,
//! body validation and the OpenAPI description are all derived.

use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};

#[derive(Debug, Clone)]
pub enum Ty {
    String,
    Integer,
    Boolean,
    /// A string restricted to the listed values (ONTAP compares enums alphabetically).
    Enum(&'static [&'static str]),
    /// RFC 3339 / ISO-8601 date-time with a `T`.
    DateTime,
    Object(Vec<Field>),
    Array(Box<Ty>),
}

/// Which operations may carry a field. Anything not readable is never returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub create: bool,
    pub modify: bool,
}

impl Access {
    pub const READ_ONLY: Access = Access {
        read: true,
        create: false,
        modify: false,
    };
    pub const CREATE: Access = Access {
        read: true,
        create: true,
        modify: false,
    };
    pub const READ_WRITE: Access = Access {
        read: true,
        create: true,
        modify: true,
    };
    /// Shown, and changed by PATCH only (an SVM's `state`).
    pub const READ_MODIFY: Access = Access {
        read: true,
        create: false,
        modify: true,
    };
    pub const MODIFY_ONLY: Access = Access {
        read: false,
        create: false,
        modify: true,
    };
    pub const WRITE_ONLY: Access = Access {
        read: false,
        create: true,
        modify: true,
    };
    pub const CREATE_WRITE_ONLY: Access = Access {
        read: false,
        create: true,
        modify: false,
    };
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: &'static str,
    pub ty: Ty,
    /// `None` until [`Schema::new`] resolves it from the parent (default read-only).
    pub access: Option<Access>,
    /// Returned only with `fields=**` or when named explicitly.
    pub expensive: bool,
    /// Returned by collection GETs without `fields` (ONTAP's "identifying properties").
    pub identity: bool,
    pub description: &'static str,
}

impl Field {
    fn new(name: &'static str, ty: Ty) -> Field {
        Field {
            name,
            ty,
            access: None,
            expensive: false,
            identity: false,
            description: "",
        }
    }
    pub fn read_only(mut self) -> Field {
        self.access = Some(Access::READ_ONLY);
        self
    }
    pub fn create(mut self) -> Field {
        self.access = Some(Access::CREATE);
        self
    }
    pub fn read_write(mut self) -> Field {
        self.access = Some(Access::READ_WRITE);
        self
    }
    pub fn read_modify(mut self) -> Field {
        self.access = Some(Access::READ_MODIFY);
        self
    }
    pub fn modify_only(mut self) -> Field {
        self.access = Some(Access::MODIFY_ONLY);
        self
    }
    pub fn write_only(mut self) -> Field {
        self.access = Some(Access::WRITE_ONLY);
        self
    }
    pub fn create_write_only(mut self) -> Field {
        self.access = Some(Access::CREATE_WRITE_ONLY);
        self
    }
    pub fn expensive(mut self) -> Field {
        self.expensive = true;
        self
    }
    pub fn identity(mut self) -> Field {
        self.identity = true;
        self
    }
    pub fn doc(mut self, description: &'static str) -> Field {
        self.description = description;
        self
    }
    pub fn access(&self) -> Access {
        self.access.unwrap_or(Access::READ_ONLY)
    }
    /// The fields of an object, or of the objects in an array.
    pub fn children(&self) -> Option<&[Field]> {
        match &self.ty {
            Ty::Object(fields) => Some(fields),
            Ty::Array(item) => match item.as_ref() {
                Ty::Object(fields) => Some(fields),
                _ => None,
            },
            _ => None,
        }
    }
    /// The type a filter compares against: the element type for arrays.
    pub fn scalar_ty(&self) -> &Ty {
        match &self.ty {
            Ty::Array(item) => item,
            ty => ty,
        }
    }
}

pub fn string(name: &'static str) -> Field {
    Field::new(name, Ty::String)
}
pub fn integer(name: &'static str) -> Field {
    Field::new(name, Ty::Integer)
}
pub fn boolean(name: &'static str) -> Field {
    Field::new(name, Ty::Boolean)
}
pub fn enumeration(name: &'static str, values: &'static [&'static str]) -> Field {
    Field::new(name, Ty::Enum(values))
}
pub fn datetime(name: &'static str) -> Field {
    Field::new(name, Ty::DateTime)
}
pub fn object(name: &'static str, fields: Vec<Field>) -> Field {
    Field::new(name, Ty::Object(fields))
}
pub fn array(name: &'static str, item: Ty) -> Field {
    Field::new(name, Ty::Array(Box::new(item)))
}
pub fn array_of(name: &'static str, fields: Vec<Field>) -> Field {
    Field::new(name, Ty::Array(Box::new(Ty::Object(fields))))
}
/// An embedded `{uuid, name, _links}` reference to another object.
pub fn reference(name: &'static str) -> Field {
    object(name, vec![string("uuid"), string("name")])
}

/// Which write operation a body is validated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    Create,
    Modify,
}

#[derive(Debug, Clone)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    /// Builds a schema, letting nested fields inherit their parent's access.
    pub fn new(mut fields: Vec<Field>) -> Schema {
        fn resolve(fields: &mut [Field], inherited: Access) {
            for f in fields {
                let access = *f.access.get_or_insert(inherited);
                match &mut f.ty {
                    Ty::Object(children) => resolve(children, access),
                    Ty::Array(item) => {
                        if let Ty::Object(children) = item.as_mut() {
                            resolve(children, access)
                        }
                    }
                    _ => {}
                }
            }
        }
        resolve(&mut fields, Access::READ_ONLY);
        Schema { fields }
    }

    /// The field at a dotted path; arrays of objects are walked through.
    pub fn lookup(&self, path: &str) -> Option<&Field> {
        let mut fields: &[Field] = &self.fields;
        let mut found = None;
        for part in path.split('.') {
            let f = fields.iter().find(|f| f.name == part)?;
            found = Some(f);
            fields = f.children().unwrap_or(&[]);
        }
        found
    }

    /// Dotted paths of the identifying fields.
    pub fn identity_paths(&self) -> Vec<String> {
        fn walk(fields: &[Field], prefix: &str, out: &mut Vec<String>) {
            for f in fields {
                let path = join(prefix, f.name);
                if f.identity {
                    out.push(path);
                } else if let Some(children) = f.children() {
                    walk(children, &path, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.fields, "", &mut out);
        out
    }

    /// Checks a request body: known fields only, settable in this operation, with
    /// values of the declared type. `_links` is ignored so records can be sent back.
    pub fn validate_body(&self, body: &Value, op: WriteOp) -> ApiResult<()> {
        let Value::Object(map) = body else {
            return Err(ApiError::new(
                crate::Code::InvalidJson,
                "The request body must be a JSON object.",
            ));
        };
        validate_object(map, &self.fields, "", op)
    }

    pub fn openapi(&self) -> Value {
        fields_openapi(&self.fields)
    }
}

pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn validate_object(
    map: &Map<String, Value>,
    fields: &[Field],
    prefix: &str,
    op: WriteOp,
) -> ApiResult<()> {
    for (key, value) in map {
        if key == "_links" {
            continue;
        }
        let path = join(prefix, key);
        let Some(field) = fields.iter().find(|f| f.name == key) else {
            return Err(ApiError::unexpected_argument(&path));
        };
        let access = field.access();
        let allowed = match op {
            WriteOp::Create => access.create,
            WriteOp::Modify => access.modify,
        };
        if !allowed {
            // An object whose parent is settable may still hold read-only members (e.g.
            // `svm._links`); report the innermost offending member.
            return Err(ApiError::read_only(&path));
        }
        if value.is_null() {
            continue;
        }
        validate_value(value, &field.ty, &path, op)?;
    }
    Ok(())
}

fn validate_value(value: &Value, ty: &Ty, path: &str, op: WriteOp) -> ApiResult<()> {
    let ok = match ty {
        Ty::String => value.is_string(),
        Ty::Integer => value.is_i64() || value.is_u64(),
        Ty::Boolean => value.is_boolean(),
        Ty::Enum(values) => match value.as_str() {
            Some(s) => {
                if !values.contains(&s) {
                    return Err(ApiError::invalid_value(path, s));
                }
                true
            }
            None => false,
        },
        Ty::DateTime => match value.as_str() {
            Some(s) => {
                if chrono::DateTime::parse_from_rfc3339(s).is_err() {
                    return Err(ApiError::invalid_value(path, s));
                }
                true
            }
            None => false,
        },
        Ty::Object(fields) => match value {
            Value::Object(map) => return validate_object(map, fields, path, op),
            _ => false,
        },
        Ty::Array(item) => match value {
            Value::Array(items) => {
                for v in items {
                    validate_value(v, item, path, op)?;
                }
                true
            }
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        let shown = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Err(ApiError::new(
            crate::Code::InvalidFieldValue,
            format!(
                "\"{shown}\" is an invalid value for field \"{path}\" (expected {}).",
                ty_name(ty)
            ),
        )
        .with_target(path))
    }
}

fn ty_name(ty: &Ty) -> &'static str {
    match ty {
        Ty::String => "a string",
        Ty::Integer => "an integer",
        Ty::Boolean => "a boolean",
        Ty::Enum(_) => "one of the enumerated strings",
        Ty::DateTime => "an ISO-8601 date-time",
        Ty::Object(_) => "an object",
        Ty::Array(_) => "an array",
    }
}

fn ty_openapi(ty: &Ty) -> Value {
    match ty {
        Ty::String => json!({"type": "string"}),
        Ty::Integer => json!({"type": "integer", "format": "int64"}),
        Ty::Boolean => json!({"type": "boolean"}),
        Ty::Enum(values) => json!({"type": "string", "enum": values}),
        Ty::DateTime => json!({"type": "string", "format": "date-time"}),
        Ty::Object(fields) => fields_openapi(fields),
        Ty::Array(item) => json!({"type": "array", "items": ty_openapi(item)}),
    }
}

fn fields_openapi(fields: &[Field]) -> Value {
    let mut properties = Map::new();
    for f in fields {
        let mut schema = ty_openapi(&f.ty);
        let access = f.access();
        if let Value::Object(m) = &mut schema {
            if !f.description.is_empty() {
                m.insert("description".into(), json!(f.description));
            }
            if access.read && !access.create && !access.modify {
                m.insert("readOnly".into(), json!(true));
            }
            if !access.read {
                m.insert("writeOnly".into(), json!(true));
            }
            if f.expensive {
                m.insert("x-ontap-expensive".into(), json!(true));
            }
            if access.create && !access.modify && access.read {
                m.insert("x-ontap-createOnly".into(), json!(true));
            }
        }
        properties.insert(f.name.to_string(), schema);
    }
    properties.insert("_links".into(), json!({"type": "object", "readOnly": true}));
    json!({"type": "object", "properties": properties})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::new(vec![
            string("uuid").read_only().identity(),
            string("name").read_write().identity(),
            object("svm", vec![string("uuid"), string("name")]).create(),
            enumeration("state", &["running", "stopped"]).read_write(),
            array("servers", Ty::String).read_write(),
            boolean("cache_clear").modify_only(),
        ])
    }

    #[test]
    fn nested_fields_inherit_access() {
        let s = schema();
        assert_eq!(s.lookup("svm.name").unwrap().access(), Access::CREATE);
        assert_eq!(s.identity_paths(), vec!["uuid", "name"]);
    }

    #[test]
    fn body_validation_classifies_errors() {
        let s = schema();
        let code = |body: Value, op| s.validate_body(&body, op).unwrap_err().code.code();
        assert_eq!(code(json!({"bogus": 1}), WriteOp::Create), 262179);
        assert_eq!(code(json!({"svm": {"bogus": 1}}), WriteOp::Create), 262179);
        assert_eq!(code(json!({"uuid": "x"}), WriteOp::Create), 262196);
        assert_eq!(code(json!({"svm": {"name": "a"}}), WriteOp::Modify), 262196);
        assert_eq!(code(json!({"cache_clear": true}), WriteOp::Create), 262196);
        assert_eq!(code(json!({"name": 5}), WriteOp::Create), 262197);
        assert_eq!(code(json!({"state": "weird"}), WriteOp::Create), 262197);
        assert_eq!(code(json!({"servers": ["a", 1]}), WriteOp::Create), 262197);
        assert_eq!(code(json!([1]), WriteOp::Create), 262199);
        assert!(
            s.validate_body(
                &json!({"name": "a", "_links": {}, "servers": []}),
                WriteOp::Create
            )
            .is_ok()
        );
        assert!(
            s.validate_body(&json!({"cache_clear": true}), WriteOp::Modify)
                .is_ok()
        );
    }
}
