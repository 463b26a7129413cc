//! ONTAP's query language: field filters (`svm.name=vs*|!null`) and `order_by`.
//!
//! Decisions where ONTAP documents nothing (recorded in docs/rest.md):
//! string matching is case-insensitive; a filter on an array matches when any element
//! matches, and `!` negates that (no element matches); `null` matches a field that is
//! absent, JSON null or an empty array; unset values sort last in both directions.

use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, Code};
use crate::schema::{Schema, Ty};

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Star,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Not(Box<Term>),
    Null,
    Lt(String),
    Le(String),
    Gt(String),
    Ge(String),
    Range(String, String),
    Pattern(Vec<Piece>),
}

/// One `field=expression` filter.
#[derive(Debug, Clone)]
pub struct Filter {
    pub path: String,
    ty: Ty,
    alternatives: Vec<Term>,
}

impl Filter {
    /// Parses a (percent-decoded) filter value for the field at `path`.
    pub fn parse(path: &str, value: &str, schema: &Schema) -> ApiResult<Filter> {
        let field = schema
            .lookup(path)
            .ok_or_else(|| ApiError::unexpected_argument(path))?;
        let access = field.access();
        if !access.read && (access.create || access.modify) {
            // A write-only field is a secret (a password, a key): refused as ONTAP does,
            // since the URL ends up in logs and histories.
            return Err(ApiError::new(
                Code::SecretInUrl,
                format!("Field \"{path}\" is a secret and must not be passed in the URL."),
            )
            .with_target(path));
        }
        if !access.read {
            return Err(ApiError::new(
                Code::FieldNotQueryable,
                format!("Field \"{path}\" is not readable and cannot be used in a query."),
            )
            .with_target(path));
        }
        let ty = field.scalar_ty().clone();
        if matches!(ty, Ty::Object(_)) {
            return Err(ApiError::new(
                Code::FieldNotQueryable,
                format!("Field \"{path}\" is an object; query one of its members instead."),
            )
            .with_target(path));
        }
        if value.is_empty() {
            return Err(missing(path));
        }
        let mut alternatives = Vec::new();
        for alt in split_unquoted(value, '|') {
            let term = parse_term(&alt, path)?;
            check_operands(&term, &ty, path)?;
            alternatives.push(term);
        }
        Ok(Filter {
            path: path.to_string(),
            ty,
            alternatives,
        })
    }

    /// The values this filter accepts, when it is only plain equalities
    /// (`type=a|b`): what a resource can hand to an index.
    pub fn exact_values(&self) -> Option<Vec<String>> {
        self.alternatives
            .iter()
            .map(|t| match t {
                Term::Pattern(pieces) => match pieces.as_slice() {
                    [Piece::Lit(v)] => Some(v.clone()),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// The bounds of a single range term (`>x`, `<=y`, `x..y`): (lower, upper), each
    /// with whether it is inclusive.
    #[allow(clippy::type_complexity)]
    pub fn range(&self) -> Option<(Option<(String, bool)>, Option<(String, bool)>)> {
        match self.alternatives.as_slice() {
            [Term::Gt(v)] => Some((Some((v.clone(), false)), None)),
            [Term::Ge(v)] => Some((Some((v.clone(), true)), None)),
            [Term::Lt(v)] => Some((None, Some((v.clone(), false)))),
            [Term::Le(v)] => Some((None, Some((v.clone(), true)))),
            [Term::Range(a, b)] => Some((Some((a.clone(), true)), Some((b.clone(), true)))),
            _ => None,
        }
    }

    pub fn matches(&self, record: &Value) -> bool {
        let mut values = Vec::new();
        collect(
            record,
            &self.path.split('.').collect::<Vec<_>>(),
            &mut values,
        );
        self.alternatives.iter().any(|t| eval(t, &values, &self.ty))
    }
}

fn missing(path: &str) -> ApiError {
    ApiError::new(
        Code::ExpressionMissingValue,
        "The expression is missing a value",
    )
    .with_target(path)
}

/// Splits on `sep` outside `"…"` and `{…}`.
fn split_unquoted(value: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut depth = 0usize;
    for ch in value.chars() {
        match ch {
            '"' if depth == 0 => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted && depth > 0 => depth -= 1,
            c if c == sep && !quoted && depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    parts.push(current);
    parts
}

/// Finds `needle` outside quotes and braces.
fn find_unquoted(value: &str, needle: &str) -> Option<usize> {
    let mut quoted = false;
    let mut depth = 0usize;
    for (i, ch) in value.char_indices() {
        match ch {
            '"' if depth == 0 => quoted = !quoted,
            '{' if !quoted => depth += 1,
            '}' if !quoted && depth > 0 => depth -= 1,
            _ if !quoted && depth == 0 && value[i..].starts_with(needle) => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_term(text: &str, path: &str) -> ApiResult<Term> {
    if text.is_empty() {
        return Err(missing(path));
    }
    // Leading `!`s are counted rather than parsed recursively: a long run of them
    // (a URI holds up to 64 KiB) overflowed the stack and aborted the server.
    let rest = text.trim_start_matches('!');
    if rest.len() != text.len() {
        let inner = parse_term(rest, path)?;
        return Ok(if (text.len() - rest.len()) % 2 == 1 {
            Term::Not(Box::new(inner))
        } else {
            inner
        });
    }
    if text.eq_ignore_ascii_case("null") {
        return Ok(Term::Null);
    }
    for (op, make) in [
        ("<=", Term::Le as fn(String) -> Term),
        (">=", Term::Ge),
        ("<", Term::Lt),
        (">", Term::Gt),
    ] {
        if let Some(rest) = text.strip_prefix(op) {
            let operand = literal(rest, path)?;
            return Ok(make(operand));
        }
    }
    if let Some(at) = find_unquoted(text, "..") {
        let low = literal(&text[..at], path)?;
        let high = literal(&text[at + 2..], path)?;
        return Ok(Term::Range(low, high));
    }
    Ok(Term::Pattern(pieces(text)))
}

/// The literal text of an operand, with quotes and braces removed.
fn literal(text: &str, path: &str) -> ApiResult<String> {
    if text.is_empty() {
        return Err(missing(path));
    }
    Ok(pieces(text)
        .into_iter()
        .map(|p| match p {
            Piece::Lit(s) => s,
            Piece::Star => "*".to_string(),
        })
        .collect())
}

fn pieces(text: &str) -> Vec<Piece> {
    let mut out: Vec<Piece> = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' => {
                for c in chars.by_ref() {
                    if c == '"' {
                        break;
                    }
                    lit.push(c);
                }
            }
            '{' => {
                let mut depth = 1;
                for c in chars.by_ref() {
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    lit.push(c);
                }
            }
            '*' => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                if out.last() != Some(&Piece::Star) {
                    out.push(Piece::Star);
                }
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() || out.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

/// Rejects operands that can never match the field's type (e.g. `size=>abc`).
fn check_operands(term: &Term, ty: &Ty, path: &str) -> ApiResult<()> {
    let check = |s: &str| -> ApiResult<()> {
        let ok = match ty {
            Ty::Integer => parse_size(s).is_some(),
            Ty::Boolean => parse_bool(s).is_some(),
            Ty::DateTime => parse_time(s).is_some(),
            _ => true,
        };
        if ok {
            Ok(())
        } else {
            Err(ApiError::invalid_value(path, s))
        }
    };
    match term {
        Term::Not(inner) => check_operands(inner, ty, path),
        Term::Null => Ok(()),
        Term::Lt(s) | Term::Le(s) | Term::Gt(s) | Term::Ge(s) => check(s),
        Term::Range(a, b) => {
            check(a)?;
            check(b)
        }
        Term::Pattern(pieces) => match pieces.as_slice() {
            [Piece::Lit(s)] => check(s),
            _ => Ok(()),
        },
    }
}

fn collect<'a>(value: &'a Value, path: &[&str], out: &mut Vec<&'a Value>) {
    match value {
        Value::Array(items) => {
            for item in items {
                collect(item, path, out);
            }
        }
        Value::Null => {}
        _ => match path.split_first() {
            None => out.push(value),
            Some((head, rest)) => {
                if let Some(next) = value.get(*head) {
                    collect(next, rest, out);
                }
            }
        },
    }
}

fn eval(term: &Term, values: &[&Value], ty: &Ty) -> bool {
    match term {
        Term::Not(inner) => !eval(inner, values, ty),
        Term::Null => values.is_empty(),
        _ => values.iter().any(|v| eval_one(term, v, ty)),
    }
}

fn eval_one(term: &Term, value: &Value, ty: &Ty) -> bool {
    let cmp = |operand: &str| compare_to_operand(value, operand, ty);
    match term {
        Term::Lt(s) => cmp(s) == Some(Ordering::Less),
        Term::Le(s) => matches!(cmp(s), Some(Ordering::Less | Ordering::Equal)),
        Term::Gt(s) => cmp(s) == Some(Ordering::Greater),
        Term::Ge(s) => matches!(cmp(s), Some(Ordering::Greater | Ordering::Equal)),
        Term::Range(a, b) => {
            matches!(cmp(a), Some(Ordering::Greater | Ordering::Equal))
                && matches!(cmp(b), Some(Ordering::Less | Ordering::Equal))
        }
        Term::Pattern(pieces) => match pieces.as_slice() {
            [Piece::Lit(s)] => cmp(s) == Some(Ordering::Equal),
            _ => wildcard(&text_of(value).to_lowercase(), pieces),
        },
        Term::Not(_) | Term::Null => false,
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn compare_to_operand(value: &Value, operand: &str, ty: &Ty) -> Option<Ordering> {
    match ty {
        Ty::Integer => {
            let v = value
                .as_i64()
                .map(i128::from)
                .or_else(|| value.as_u64().map(i128::from))?;
            Some(v.cmp(&parse_size(operand)?))
        }
        Ty::Boolean => Some(value.as_bool()?.cmp(&parse_bool(operand)?)),
        Ty::DateTime => Some(parse_time(value.as_str()?)?.cmp(&parse_time(operand)?)),
        _ => Some(text_of(value).to_lowercase().cmp(&operand.to_lowercase())),
    }
}

/// Glob match where `*` is the only special piece. Greedy leftmost matching of the
/// literals between stars is exact for such patterns and runs in linear passes; the
/// former backtracking matcher took exponential time (`*a*a*a…*b` hung the server).
fn wildcard(text: &str, pieces: &[Piece]) -> bool {
    let lits: Vec<String> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Lit(s) => Some(s.to_lowercase()),
            Piece::Star => None,
        })
        .collect();
    if !pieces.contains(&Piece::Star) {
        return text == lits.concat();
    }
    let mut rest = text;
    let mut middle = &lits[..];
    if !matches!(pieces.first(), Some(Piece::Star)) {
        let Some((first, tail)) = middle.split_first() else {
            return true;
        };
        let Some(r) = rest.strip_prefix(first.as_str()) else {
            return false;
        };
        rest = r;
        middle = tail;
    }
    let mut suffix = None;
    if !matches!(pieces.last(), Some(Piece::Star))
        && let Some((last, init)) = middle.split_last()
    {
        suffix = Some(last);
        middle = init;
    }
    for lit in middle {
        match rest.find(lit.as_str()) {
            Some(i) => rest = &rest[i + lit.len()..],
            None => return false,
        }
    }
    suffix.is_none_or(|s| rest.ends_with(s.as_str()))
}

/// An integer, optionally with ONTAP's 1024-based size suffixes (`10GB`).
pub fn parse_size(s: &str) -> Option<i128> {
    let s = s.trim();
    let upper = s.to_ascii_uppercase();
    let (digits, factor) = [
        ("PB", 1i128 << 50),
        ("TB", 1 << 40),
        ("GB", 1 << 30),
        ("MB", 1 << 20),
        ("KB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, f)| {
        upper
            .strip_suffix(suffix)
            .map(|d| (d.trim().to_string(), *f))
    })
    .unwrap_or((upper.clone(), 1));
    let n: i128 = digits.parse().ok()?;
    n.checked_mul(factor)
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A date-time operand as filters read it (RFC 3339, or `YYYY-MM-DD` at midnight UTC).
pub fn parse_time(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| dt.and_utc().fixed_offset())
}

/// One `order_by` term.
#[derive(Debug, Clone)]
pub struct OrderKey {
    pub path: String,
    pub descending: bool,
    ty: Ty,
}

pub fn parse_order_by(value: &str, schema: &Schema) -> ApiResult<Vec<OrderKey>> {
    let mut keys = Vec::new();
    for item in value.split(',') {
        let mut words = item.split_whitespace();
        let Some(path) = words.next() else { continue };
        let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(ApiError::invalid_value("order_by", other)),
        };
        if words.next().is_some() {
            return Err(ApiError::invalid_value("order_by", item));
        }
        let field = schema
            .lookup(path)
            .filter(|f| f.access().read)
            .ok_or_else(|| {
                ApiError::new(
                    Code::OrderByField,
                    format!("Field \"{path}\" is not supported in \"order_by\"."),
                )
                .with_target("order_by")
            })?;
        let ty = field.scalar_ty().clone();
        if matches!(ty, Ty::Object(_)) {
            return Err(ApiError::new(
                Code::OrderByField,
                format!("Field \"{path}\" is an object and cannot be sorted on."),
            )
            .with_target("order_by"));
        }
        keys.push(OrderKey {
            path: path.to_string(),
            descending,
            ty,
        });
    }
    Ok(keys)
}

/// Compares two records by `order_by` keys; unset values sort last in ascending order.
pub fn compare_records(a: &Value, b: &Value, keys: &[OrderKey]) -> Ordering {
    for key in keys {
        let parts: Vec<&str> = key.path.split('.').collect();
        let (mut va, mut vb) = (Vec::new(), Vec::new());
        collect(a, &parts, &mut va);
        collect(b, &parts, &mut vb);
        // Unset values sort last in either direction.
        let ord = match (va.first(), vb.first()) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) if key.descending => compare_values(x, y, &key.ty).reverse(),
            (Some(x), Some(y)) => compare_values(x, y, &key.ty),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

pub fn compare_values(a: &Value, b: &Value, ty: &Ty) -> Ordering {
    match ty {
        Ty::Integer => {
            let n = |v: &Value| {
                v.as_i64()
                    .map(i128::from)
                    .or_else(|| v.as_u64().map(i128::from))
            };
            n(a).cmp(&n(b))
        }
        Ty::Boolean => a.as_bool().cmp(&b.as_bool()),
        Ty::DateTime => a
            .as_str()
            .and_then(parse_time)
            .cmp(&b.as_str().and_then(parse_time)),
        _ => {
            let (x, y) = (text_of(a), text_of(b));
            x.to_lowercase()
                .cmp(&y.to_lowercase())
                .then_with(|| x.cmp(&y))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcard_is_not_exponential() {
        let text = "a".repeat(40);
        let mut pattern: Vec<Piece> = Vec::new();
        for _ in 0..30 {
            pattern.push(Piece::Star);
            pattern.push(Piece::Lit("a".into()));
        }
        pattern.push(Piece::Star);
        pattern.push(Piece::Lit("b".into()));
        assert!(!wildcard(&text, &pattern));
        pattern.pop();
        assert!(wildcard(&text, &pattern));
        let deep: Vec<Piece> = (0..40_000)
            .map(|i| {
                if i % 2 == 0 {
                    Piece::Star
                } else {
                    Piece::Lit("a".into())
                }
            })
            .collect();
        assert!(!wildcard(&text, &deep));
    }

    #[test]
    fn wildcard_anchors() {
        let p = |s: &str| pieces(s);
        assert!(wildcard("abc", &p("a*")));
        assert!(wildcard("abc", &p("*c")));
        assert!(wildcard("abc", &p("a*c")));
        assert!(wildcard("ac", &p("a*c")));
        assert!(!wildcard("a", &p("a*a")));
        assert!(wildcard("aa", &p("a*a")));
        assert!(wildcard("abcabc", &p("*b*c")));
        assert!(!wildcard("abcab", &p("*b*c")));
        assert!(wildcard("xabcx", &p("*abc*")));
        assert!(!wildcard("xabx", &p("*abc*")));
        assert!(wildcard("", &p("*")));
        assert!(wildcard("vs1_x", &p("vs1_*")));
        assert!(!wildcard("vs2_x", &p("vs1_*")));
    }

    use super::*;
    use crate::schema::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::new(vec![
            string("name"),
            integer("size"),
            boolean("enabled"),
            datetime("time"),
            array("servers", Ty::String),
            reference("svm"),
            array_of("pools", vec![string("name")]),
            string("comment"),
        ])
    }

    fn rec() -> Value {
        json!({"name": "Vs1", "size": 2048, "enabled": true, "time": "2024-05-01T10:00:00Z",
               "servers": ["1.1.1.1", "2.2.2.2"], "svm": {"name": "alpha", "uuid": "u1"},
               "pools": [{"name": "p1"}, {"name": "p2"}]})
    }

    fn m(field: &str, expr: &str) -> bool {
        Filter::parse(field, expr, &schema())
            .unwrap()
            .matches(&rec())
    }

    #[test]
    fn operators() {
        assert!(m("name", "vs1"));
        assert!(m("name", "v*"));
        assert!(m("name", "*1"));
        assert!(m("name", "V*s*1"));
        assert!(!m("name", "x*"));
        assert!(m("name", "!x*"));
        assert!(!m("name", "!vs1"));
        assert!(m("name", "a|vs1"));
        assert!(m("name", "va..vz"));
        assert!(!m("name", "w..z"));
        assert!(m("size", "2KB"));
        assert!(m("size", ">=2KB"));
        assert!(!m("size", ">2048"));
        assert!(m("size", "<3000"));
        assert!(m("size", "<=2048"));
        assert!(m("size", "1000..3000"));
        assert!(m("size", "1|2|>2000"));
        assert!(m("enabled", "true"));
        assert!(!m("enabled", "false"));
        assert!(m("time", ">2024-01-01T00:00:00Z"));
        assert!(m("time", "<2024-05-02"));
        assert!(m("comment", "null"));
        assert!(!m("comment", "!null"));
        assert!(m("name", "!null"));
        assert!(m("servers", "2.2.2.2"));
        assert!(m("servers", "1.*"));
        assert!(!m("servers", "!1.1.1.1"));
        assert!(m("svm.name", "al*"));
        assert!(m("pools.name", "p2"));
        assert!(m("name", "\"vs1\""));
        assert!(!m("name", "\"v*\""));
        assert!(m("name", "{vs1}"));
    }

    #[test]
    fn many_negations_do_not_overflow_the_stack() {
        // Found by fuzz/query_parser: 100,000 `!`s overflowed the stack in parse_term.
        let s = schema();
        let odd = format!("{}vs1", "!".repeat(100_001));
        let even = format!("{}vs1", "!".repeat(100_000));
        assert!(!Filter::parse("name", &odd, &s).unwrap().matches(&rec()));
        assert!(Filter::parse("name", &even, &s).unwrap().matches(&rec()));
        assert!(m("name", "!!vs1"));
        assert!(!m("name", "!!!vs1"));
        assert_eq!(
            Filter::parse("name", &"!".repeat(100_000), &s)
                .unwrap_err()
                .code
                .code(),
            Filter::parse("name", "!", &s).unwrap_err().code.code()
        );
    }

    #[test]
    fn quoted_operators_are_literal() {
        let s = Schema::new(vec![string("name")]);
        let r = json!({"name": "a|b*"});
        assert!(Filter::parse("name", "\"a|b*\"", &s).unwrap().matches(&r));
        assert!(Filter::parse("name", "{a|b*}", &s).unwrap().matches(&r));
        assert!(!Filter::parse("name", "{a|b}", &s).unwrap().matches(&r));
    }

    #[test]
    fn parse_errors() {
        let s = schema();
        assert_eq!(
            Filter::parse("bogus", "1", &s).unwrap_err().code.code(),
            262179
        );
        assert_eq!(
            Filter::parse("size", "abc", &s).unwrap_err().code.code(),
            262197
        );
        assert_eq!(
            Filter::parse("enabled", "maybe", &s)
                .unwrap_err()
                .code
                .code(),
            262197
        );
        assert_eq!(
            Filter::parse("name", "", &s).unwrap_err().code.code(),
            262194
        );
        assert_eq!(
            Filter::parse("name", "a|", &s).unwrap_err().code.code(),
            262194
        );
        assert_eq!(
            Filter::parse("svm", "x", &s).unwrap_err().code.code(),
            262250
        );
    }

    #[test]
    fn ordering() {
        let s = schema();
        let keys = parse_order_by("size desc,name", &s).unwrap();
        let a = json!({"name": "b", "size": 1});
        let b = json!({"name": "a", "size": 1});
        let c = json!({"name": "c", "size": 5});
        let mut v = [a.clone(), b.clone(), c.clone(), json!({"name": "z"})];
        v.sort_by(|x, y| compare_records(x, y, &keys));
        assert_eq!(v[0], c);
        assert_eq!(v[1], b);
        assert_eq!(v[2], a);
        assert_eq!(parse_order_by("bogus", &s).unwrap_err().code.code(), 262268);
        assert_eq!(
            parse_order_by("name sideways", &s).unwrap_err().code.code(),
            262197
        );
    }
}
