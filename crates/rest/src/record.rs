//! The records a resource lists, and how the core reads their members.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::{Map, Value};

/// One record as a resource lists it: a JSON object, usually shared with the store,
/// plus top-level members the resource computes per request.
///
/// A collection GET filters, sorts and serializes every record of a collection, so
/// records are not deep copies: a store-backed resource hands out the store's own
/// `Arc<Value>` documents and lays computed members over them with [`Record::with`]
/// (copying and freeing 1,000 SVM documents was most of the cost of listing them).
#[derive(Debug, Clone)]
pub struct Record {
    doc: Arc<Value>,
    /// Members that replace or extend those of `doc`, in the order first set; only
    /// meaningful when `doc` is an object.
    overlay: Vec<(&'static str, Member)>,
}

/// A computed member: its own value (a number costs no allocation), or one shared by
/// many records (a constant object is not copied per record).
#[derive(Debug, Clone)]
enum Member {
    Owned(Value),
    Shared(Arc<Value>),
}

impl Member {
    fn value(&self) -> &Value {
        match self {
            Member::Owned(v) => v,
            Member::Shared(v) => v,
        }
    }
}

impl Record {
    pub fn new(doc: Arc<Value>) -> Record {
        Record {
            doc,
            overlay: Vec::new(),
        }
    }

    /// Sets the top-level member `name`, over the document's own if it has one.
    pub fn with(self, name: &'static str, value: Value) -> Record {
        self.set(name, Member::Owned(value))
    }

    /// [`with`](Self::with) for a value many records share, which is then not copied
    /// for each of them.
    pub fn with_shared(self, name: &'static str, value: Arc<Value>) -> Record {
        self.set(name, Member::Shared(value))
    }

    fn set(mut self, name: &'static str, value: Member) -> Record {
        match self.overlay.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => *v = value,
            None => self.overlay.push((name, value)),
        }
        self
    }

    /// The record as one JSON value: the document with the computed members set the
    /// way `value[name] = member` would (in place if present, else appended).
    pub fn to_value(&self) -> Value {
        let mut value = (*self.doc).clone();
        if let Value::Object(map) = &mut value {
            for (name, member) in &self.overlay {
                map.insert((*name).to_string(), member.value().clone());
            }
        }
        value
    }
}

impl From<Value> for Record {
    fn from(value: Value) -> Record {
        Record::new(Arc::new(value))
    }
}

impl From<Arc<Value>> for Record {
    fn from(doc: Arc<Value>) -> Record {
        Record::new(doc)
    }
}

/// Read access to the top-level members of a record, whatever holds them. Filters,
/// `order_by`, path keys and `fields` read records only through this.
pub trait Members {
    fn member(&self, name: &str) -> Option<&Value>;

    /// The record itself when it is not a JSON object; `fields` returns such a
    /// record as it is.
    fn non_object(&self) -> Option<&Value> {
        None
    }
}

impl Members for Value {
    fn member(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(map) => member_of(map, name),
            _ => None,
        }
    }

    fn non_object(&self) -> Option<&Value> {
        (!self.is_object()).then_some(self)
    }
}

impl Members for Map<String, Value> {
    fn member(&self, name: &str) -> Option<&Value> {
        member_of(self, name)
    }
}

impl Members for Record {
    fn member(&self, name: &str) -> Option<&Value> {
        let Value::Object(map) = &*self.doc else {
            return None;
        };
        match self.overlay.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => Some(v.value()),
            None => member_of(map, name),
        }
    }

    fn non_object(&self) -> Option<&Value> {
        (!self.doc.is_object()).then_some(&*self.doc)
    }
}

/// A member of an object. Records are small objects read member by member many
/// times per request; comparing a few short keys in order costs less than hashing
/// the name (SipHash) to use the map's index.
fn member_of<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    const SCAN_UP_TO: usize = 16;
    if map.len() <= SCAN_UP_TO {
        map.iter().find_map(|(k, v)| (k == name).then_some(v))
    } else {
        map.get(name)
    }
}

/// The value at a dotted path (`svm.uuid`), without walking through arrays.
pub fn at<'a, M: Members + ?Sized>(record: &'a M, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut value = record.member(parts.next()?)?;
    for part in parts {
        value = value.get(part)?;
    }
    Some(value)
}

/// A path key's value as text: strings as they are, other values as JSON, null and
/// absent as nothing.
pub fn key_text<'a, M: Members + ?Sized>(record: &'a M, path: &str) -> Option<Cow<'a, str>> {
    match at(record, path)? {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Null => None,
        other => Some(Cow::Owned(other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overlay_reads_and_materializes_like_assignment() {
        let doc = Arc::new(json!({"uuid": "u", "name": "n", "svm": {"uuid": "s"}}));
        let r = Record::new(Arc::clone(&doc))
            .with("name", json!("m"))
            .with_shared("extra", Arc::new(json!({"a": 1})))
            .with("extra", json!(2));
        assert_eq!(r.member("name"), Some(&json!("m")));
        assert_eq!(r.member("extra"), Some(&json!(2)));
        assert_eq!(at(&r, "svm.uuid"), Some(&json!("s")));
        assert_eq!(key_text(&r, "uuid").as_deref(), Some("u"));
        assert_eq!(key_text(&r, "extra").as_deref(), Some("2"));
        assert_eq!(key_text(&r, "nope"), None);
        let mut expected = (*doc).clone();
        expected["name"] = json!("m");
        expected["extra"] = json!(2);
        assert_eq!(
            r.to_value().to_string(),
            expected.to_string(),
            "same members in the same order"
        );
        assert_eq!(doc["name"], "n", "the shared document is untouched");
    }
}
