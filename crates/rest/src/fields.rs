//! The `fields` parameter: which properties a GET returns.

use serde_json::Value;

use crate::error::{ApiError, ApiResult, Code};
use crate::record::Members;
use crate::schema::{Field, Schema, join};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// `*`: every readable property except the expensive ones.
    Standard,
    /// `**`: every readable property.
    Everything,
}

/// A parsed `fields` value, checked against a schema.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    all: Option<Depth>,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Selection {
    /// What an instance GET returns without `fields`: the same as `fields=*`.
    pub fn standard() -> Selection {
        Selection {
            all: Some(Depth::Standard),
            ..Selection::default()
        }
    }

    /// Only the named paths (collection GET default: identity plus filtered fields).
    pub fn paths(paths: impl IntoIterator<Item = String>) -> Selection {
        Selection {
            include: paths.into_iter().collect(),
            ..Selection::default()
        }
    }

    pub fn add(&mut self, path: &str) {
        if !self.include.iter().any(|p| p == path) {
            self.include.push(path.to_string());
        }
    }

    /// Parses `a,b.c,!b.d,e.{f,g}`, `*` and `**`. Unknown names fail unless
    /// `ignore_unknown` (ONTAP's `ignore_unknown_fields=true`).
    pub fn parse(value: &str, schema: &Schema, ignore_unknown: bool) -> ApiResult<Selection> {
        let mut sel = Selection::default();
        for item in expand(value)? {
            let (negated, path) = match item.strip_prefix('!') {
                Some(rest) => (true, rest.to_string()),
                None => (false, item),
            };
            match path.as_str() {
                "" => continue,
                "*" => sel.all = Some(sel.all.unwrap_or(Depth::Standard)),
                "**" => sel.all = Some(Depth::Everything),
                _ => {
                    match schema.lookup(&path) {
                        Some(f) if f.access().read => {}
                        Some(_) => {
                            return Err(ApiError::new(
                                Code::FieldNotReadable,
                                format!("Field \"{path}\" is not readable and cannot be used in \"fields\"."),
                            )
                            .with_target("fields"));
                        }
                        None if ignore_unknown => continue,
                        None => {
                            return Err(ApiError::new(
                                Code::InvalidFieldValue,
                                format!("The value \"{path}\" is invalid for field \"fields\""),
                            )
                            .with_target("fields"));
                        }
                    }
                    if negated {
                        sel.exclude.push(path);
                    } else {
                        sel.include.push(path);
                    }
                }
            }
        }
        Ok(sel)
    }

    /// Copies the selected properties of `record`; `_links` objects always stay.
    pub fn project(&self, record: &Value, schema: &Schema) -> Value {
        let mut out = Vec::new();
        // Writing to a buffer cannot fail, and what was written is JSON.
        self.compile(schema)
            .write_record(&mut out, record, Links::Own, false)
            .and_then(|()| serde_json::from_slice(&out))
            .unwrap_or_default()
    }

    /// The selection resolved against `schema` once per request, so that projecting
    /// each record neither builds dotted paths nor searches the `fields` lists.
    pub fn compile<'s>(&self, schema: &'s Schema) -> Projection<'s> {
        Projection {
            steps: self.steps(&schema.fields, "", self.all),
        }
    }

    fn steps<'s>(&self, fields: &'s [Field], prefix: &str, all: Option<Depth>) -> Vec<Step<'s>> {
        let mut out = Vec::new();
        for field in fields {
            if !field.access().read {
                continue;
            }
            let path = join(prefix, field.name);
            if self.exclude.contains(&path) {
                continue;
            }
            let explicit = self.include.contains(&path);
            let whole = explicit
                || matches!(all, Some(Depth::Everything))
                || (all == Some(Depth::Standard) && !field.expensive);
            let below = self.include.iter().any(|p| {
                p.len() > path.len() && p.starts_with(&path) && p.as_bytes()[path.len()] == b'.'
            });
            if !whole && !below {
                continue;
            }
            // Inside a named object every member is wanted, expensive ones included;
            // inside a `*` object the standard rule carries on.
            let child_all = if explicit {
                Some(Depth::Everything)
            } else if whole {
                all
            } else {
                None
            };
            let children = field
                .children()
                .map(|children| self.steps(children, &path, child_all));
            out.push(Step::new(field.name, children));
        }
        out
    }
}

/// A [`Selection`] compiled against a schema: which members of a record are
/// returned, in schema order. Records are projected while they are written out, so a
/// response never holds a projected copy of its records.
#[derive(Debug)]
pub struct Projection<'s> {
    steps: Vec<Step<'s>>,
}

/// One returned field. `children` is how the members of an object value (or of the
/// objects in an array value) are projected, for fields whose schema has them.
#[derive(Debug)]
struct Step<'s> {
    name: &'s str,
    /// `"name":`, escaped once rather than for every record.
    key: Vec<u8>,
    children: Option<Vec<Step<'s>>>,
}

impl<'s> Step<'s> {
    fn new(name: &'s str, children: Option<Vec<Step<'s>>>) -> Step<'s> {
        let key = format!("{}:", Value::from(name)).into_bytes();
        Step {
            name,
            key,
            children,
        }
    }
}

/// Where a record's `_links` comes from.
#[derive(Debug, Clone, Copy)]
pub enum Links<'a> {
    /// The record's own `_links` member, if it has one.
    Own,
    /// `{"self": {"href": …}}`.
    SelfHref(&'a str),
}

impl<'s> Projection<'s> {
    /// The top-level members a projected record shows (besides `_links`).
    pub fn members(&self) -> impl Iterator<Item = &'s str> + '_ {
        self.steps.iter().map(|s| s.name)
    }

    /// Appends `record` projected, as compact JSON, with `_links` last. With `strip`,
    /// every `_links` is left out, as [`crate::response::strip_links`] removes them.
    pub fn write_record<M: Members + ?Sized>(
        &self,
        out: &mut Vec<u8>,
        record: &M,
        links: Links,
        strip: bool,
    ) -> serde_json::Result<()> {
        write_object(out, &self.steps, record, links, strip)
    }
}

fn write_object<M: Members + ?Sized>(
    out: &mut Vec<u8>,
    steps: &[Step],
    members: &M,
    links: Links,
    strip: bool,
) -> serde_json::Result<()> {
    if let Some(whole) = members.non_object() {
        return write_whole(out, whole, strip);
    }
    out.push(b'{');
    let mut first = true;
    let mut separate = |out: &mut Vec<u8>| {
        if !std::mem::take(&mut first) {
            out.push(b',');
        }
    };
    for step in steps {
        let Some(value) = members.member(step.name) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        separate(out);
        out.extend_from_slice(&step.key);
        match (value, step.children.as_deref()) {
            (Value::Object(inner), Some(children)) => {
                write_object(out, children, inner, Links::Own, strip)?
            }
            (Value::Array(items), Some(children)) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    match item {
                        Value::Object(inner) => {
                            write_object(out, children, inner, Links::Own, strip)?
                        }
                        other => write_whole(out, other, strip)?,
                    }
                }
                out.push(b']');
            }
            (other, _) => write_whole(out, other, strip)?,
        }
    }
    // `_links` comes last, where the projection has always put it, so `strip_links`
    // removed it from there without moving another member.
    if !strip {
        match links {
            Links::SelfHref(href) => {
                separate(out);
                out.extend_from_slice(br#""_links":{"self":{"href":"#);
                write_json(out, href)?;
                out.extend_from_slice(b"}}");
            }
            Links::Own => {
                if let Some(own) = members.member("_links") {
                    separate(out);
                    out.extend_from_slice(br#""_links":"#);
                    write_json(out, own)?;
                }
            }
        }
    }
    out.push(b'}');
    Ok(())
}

/// Appends a value copied whole; with `strip`, as `strip_links` leaves it.
fn write_whole(out: &mut Vec<u8>, value: &Value, strip: bool) -> serde_json::Result<()> {
    match value {
        Value::Object(map) if strip => {
            out.push(b'{');
            let mut entry = |i: usize, (k, v): (&String, &Value)| {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, k)?;
                out.push(b':');
                write_whole(out, v, true)
            };
            match map.keys().position(|k| k == "_links") {
                // `Map::remove` with `preserve_order` is a swap-remove: the last member
                // moves into the place of `_links`.
                Some(at) if at + 1 < map.len() => {
                    let entries: Vec<(&String, &Value)> = map.iter().collect();
                    let last = entries.len() - 1;
                    let order = (0..at).chain([last]).chain(at + 1..last);
                    for (i, e) in order.enumerate() {
                        entry(i, entries[e])?;
                    }
                }
                _ => {
                    for (i, e) in map.iter().filter(|(k, _)| *k != "_links").enumerate() {
                        entry(i, e)?;
                    }
                }
            }
            out.push(b'}');
            Ok(())
        }
        Value::Array(items) if strip => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_whole(out, item, true)?;
            }
            out.push(b']');
            Ok(())
        }
        _ => write_json(out, value),
    }
}

/// Appends `value` as compact JSON, as `Value`'s `Display` writes it.
pub(crate) fn write_json(
    out: &mut Vec<u8>,
    value: &(impl serde::Serialize + ?Sized),
) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *out, value)
}

/// Splits on top-level commas and expands `a.{b,c}` groups (which may nest).
fn expand(value: &str) -> ApiResult<Vec<String>> {
    let mut out = Vec::new();
    for item in split_top(value)? {
        match item.find('{') {
            None => out.push(item),
            Some(open) => {
                if !item.ends_with('}') {
                    return Err(braces());
                }
                let head = &item[..open];
                let inner = &item[open + 1..item.len() - 1];
                for sub in expand(inner)? {
                    out.push(format!("{head}{sub}"));
                }
            }
        }
    }
    Ok(out)
}

/// No schema nests objects this deeply; deeper braces are refused before any expansion,
/// which copies each level's text and would otherwise cost the square of the depth.
const MAX_BRACE_DEPTH: usize = 32;

fn split_top(value: &str) -> ApiResult<Vec<String>> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for ch in value.chars() {
        match ch {
            '{' => {
                depth += 1;
                if depth > MAX_BRACE_DEPTH {
                    return Err(ApiError::new(
                        Code::InvalidFieldValue,
                        format!(
                            "The value of field \"fields\" nests braces more than {MAX_BRACE_DEPTH} deep."
                        ),
                    )
                    .with_target("fields"));
                }
                current.push(ch);
            }
            '}' => {
                depth = depth.checked_sub(1).ok_or_else(braces)?;
                current.push(ch);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut current)),
            _ => current.push(ch),
        }
    }
    if depth != 0 {
        return Err(braces());
    }
    parts.push(current);
    Ok(parts.into_iter().map(|p| p.trim().to_string()).collect())
}

fn braces() -> ApiError {
    ApiError::new(
        Code::MismatchedBraces,
        "Mismatched braces in the \"fields\" parameter.",
    )
    .with_target("fields")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::*;
    use serde_json::json;

    #[test]
    fn deep_braces_are_refused_at_once() {
        let deep = format!("{}x{}", "a.{".repeat(50_000), "}".repeat(50_000));
        let err = expand(&deep).unwrap_err();
        assert_eq!(err.code, Code::InvalidFieldValue);
        assert!(err.message.contains("32 deep"), "{}", err.message);
        // Within the limit, nesting still expands.
        let ok = format!("{}x{}", "a.{".repeat(32), "}".repeat(32));
        assert_eq!(expand(&ok).unwrap(), vec![format!("{}x", "a.".repeat(32))]);
    }

    fn schema() -> Schema {
        Schema::new(vec![
            string("uuid").identity(),
            string("name").identity(),
            enumeration("state", &["up", "down"]),
            object(
                "b",
                vec![string("c"), string("d"), object("e", vec![integer("f")])],
            ),
            object("stats", vec![integer("iops")]).expensive(),
            string("secret").write_only(),
        ])
    }

    fn record() -> Value {
        json!({"uuid": "u", "name": "n", "state": "up", "b": {"c": "1", "d": "2", "e": {"f": 3}},
               "stats": {"iops": 9}, "secret": "s", "_links": {"self": {"href": "/x"}}})
    }

    fn project(fields: &str) -> Value {
        let s = schema();
        Selection::parse(fields, &s, false)
            .unwrap()
            .project(&record(), &s)
    }

    #[test]
    fn star_and_double_star() {
        let star = project("*");
        assert!(star.get("stats").is_none());
        assert!(star.get("secret").is_none());
        assert_eq!(star["b"]["e"]["f"], 3);
        assert_eq!(project("**")["stats"]["iops"], 9);
    }

    #[test]
    fn dotted_negated_and_braces() {
        assert_eq!(
            project("b.d"),
            json!({"b": {"d": "2"}, "_links": {"self": {"href": "/x"}}})
        );
        assert_eq!(project("b,!b.c")["b"], json!({"d": "2", "e": {"f": 3}}));
        assert_eq!(project("b.{c,e.f}")["b"], json!({"c": "1", "e": {"f": 3}}));
        assert_eq!(project("stats")["stats"], json!({"iops": 9}));
    }

    /// Projection while serializing keeps the schema's member order, puts `_links`
    /// last, and with `strip` leaves what `strip_links` leaves, including its
    /// swap-remove reordering inside values copied whole.
    #[test]
    fn streamed_projection_and_strip() {
        let s = Schema::new(vec![
            string("uuid").identity(),
            string("blob"),
            array_of("items", vec![string("k")]),
            reference("svm"),
        ]);
        let r = json!({"blob": {"a": 1, "_links": {"self": {}}, "b": [{"_links": 1, "c": 2}], "z": 3},
            "uuid": "u", "items": [{"k": "x", "_links": {"self": {"href": "/i"}}, "extra": 1}, 5, null],
            "svm": {"name": "n", "uuid": "s", "_links": {"self": {"href": "/s"}}},
            "_links": {"next": {"href": "/n"}}});
        let stream = |fields: &str, links: Links, strip: bool| {
            let sel = Selection::parse(fields, &s, false).unwrap();
            let mut out = Vec::new();
            sel.compile(&s)
                .write_record(&mut out, &r, links, strip)
                .unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            stream("*", Links::Own, false),
            r#"{"uuid":"u","blob":{"a":1,"_links":{"self":{}},"b":[{"_links":1,"c":2}],"z":3},"items":[{"k":"x","_links":{"self":{"href":"/i"}}},5,null],"svm":{"uuid":"s","name":"n","_links":{"self":{"href":"/s"}}},"_links":{"next":{"href":"/n"}}}"#
        );
        assert_eq!(
            stream("*", Links::Own, true),
            r#"{"uuid":"u","blob":{"a":1,"z":3,"b":[{"c":2}]},"items":[{"k":"x"},5,null],"svm":{"uuid":"s","name":"n"}}"#
        );
        for fields in ["*", "**", "blob,items.k", "svm.name", "!blob", "uuid"] {
            let sel = Selection::parse(fields, &s, false).unwrap();
            let mut stripped = sel.project(&r, &s);
            assert_eq!(stream(fields, Links::Own, false), stripped.to_string());
            crate::response::strip_links(&mut stripped, false);
            assert_eq!(
                stream(fields, Links::Own, true),
                stripped.to_string(),
                "{fields}"
            );
        }
        assert_eq!(
            stream("uuid", Links::SelfHref("/r/u"), false),
            r#"{"uuid":"u","_links":{"self":{"href":"/r/u"}}}"#
        );
        assert_eq!(
            stream("uuid", Links::SelfHref("/r/u"), true),
            r#"{"uuid":"u"}"#
        );
    }

    #[test]
    fn errors() {
        let s = schema();
        assert_eq!(
            Selection::parse("nope", &s, false).unwrap_err().code.code(),
            262197
        );
        assert!(Selection::parse("nope", &s, true).is_ok());
        assert_eq!(
            Selection::parse("b.{c", &s, false).unwrap_err().code.code(),
            262286
        );
        assert_eq!(
            Selection::parse("b}", &s, false).unwrap_err().code.code(),
            262286
        );
        assert_eq!(
            Selection::parse("secret", &s, false)
                .unwrap_err()
                .code
                .code(),
            262249
        );
    }
}
