//! The `fields` parameter: which properties a GET returns.

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, Code};
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
        match record {
            Value::Object(map) => {
                Value::Object(self.project_object(map, &schema.fields, "", self.all))
            }
            other => other.clone(),
        }
    }

    fn project_object(
        &self,
        map: &Map<String, Value>,
        fields: &[Field],
        prefix: &str,
        all: Option<Depth>,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        for field in fields {
            let Some(value) = map.get(field.name) else {
                continue;
            };
            if value.is_null() || !field.access().read {
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
            let projected = match (value, field.children()) {
                (Value::Object(inner), Some(children)) => {
                    Value::Object(self.project_object(inner, children, &path, child_all))
                }
                (Value::Array(items), Some(children)) => Value::Array(
                    items
                        .iter()
                        .map(|item| match item {
                            Value::Object(inner) => Value::Object(
                                self.project_object(inner, children, &path, child_all),
                            ),
                            other => other.clone(),
                        })
                        .collect(),
                ),
                (v, _) => v.clone(),
            };
            out.insert(field.name.to_string(), projected);
        }
        if let Some(links) = map.get("_links") {
            out.insert("_links".to_string(), links.clone());
        }
        out
    }
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
