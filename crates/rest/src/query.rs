//! ONTAP's query language: field filters (`svm.name=vs*|!null`) and `order_by`.
//!
//! Decisions where ONTAP documents nothing (recorded in docs/rest.md):
//! string matching is case-insensitive; a filter on an array matches when any element
//! matches, and `!` negates that (no element matches); `null` matches a field that is
//! absent, JSON null or an empty array; unset values sort last in both directions.
//!
//! Operands are read once, when the query is parsed (sizes, dates, lowercased text),
//! and sort keys once per record, not once per comparison: a collection GET applies
//! them to every record.

use std::borrow::Cow;
use std::cmp::Ordering;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::error::{ApiError, ApiResult, Code};
use crate::record::Members;
use crate::schema::{Schema, Ty};

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Lit(String),
    Star,
}

/// An operand as written, and as the field's type reads it.
#[derive(Debug, Clone)]
struct Operand {
    text: String,
    value: Typed,
}

#[derive(Debug, Clone)]
enum Typed {
    Integer(Option<i128>),
    Boolean(Option<bool>),
    DateTime(Option<DateTime<FixedOffset>>),
    /// Lowercased: text compares case-insensitively.
    Text(String),
}

impl Operand {
    fn new(text: String, ty: &Ty) -> Operand {
        let value = match ty {
            Ty::Integer => Typed::Integer(parse_size(&text)),
            Ty::Boolean => Typed::Boolean(parse_bool(&text)),
            Ty::DateTime => Typed::DateTime(parse_time(&text)),
            _ => Typed::Text(text.to_lowercase()),
        };
        Operand { text, value }
    }

    /// Whether the operand can ever match a value of its type (`size=>abc` cannot).
    fn is_valid(&self) -> bool {
        match &self.value {
            Typed::Integer(v) => v.is_some(),
            Typed::Boolean(v) => v.is_some(),
            Typed::DateTime(v) => v.is_some(),
            Typed::Text(_) => true,
        }
    }

    /// How `value` compares to this operand; `None` when they cannot be compared.
    fn compare(&self, value: &Value) -> Option<Ordering> {
        match &self.value {
            Typed::Integer(operand) => Some(as_integer(value)?.cmp(&(*operand)?)),
            Typed::Boolean(operand) => Some(value.as_bool()?.cmp(&(*operand)?)),
            Typed::DateTime(operand) => Some(parse_time(value.as_str()?)?.cmp(&(*operand)?)),
            Typed::Text(operand) => Some(fold(&text_of(value)).as_ref().cmp(operand.as_str())),
        }
    }
}

#[derive(Debug, Clone)]
enum Term {
    Not(Box<Term>),
    Null,
    Lt(Operand),
    Le(Operand),
    Gt(Operand),
    Ge(Operand),
    Range(Operand, Operand),
    /// A pattern without `*`: equality.
    Equal(Operand),
    /// A pattern with `*`; its literals are lowercased.
    Glob(Vec<Piece>),
}

/// One `field=expression` filter.
#[derive(Debug, Clone)]
pub struct Filter {
    pub path: String,
    segments: Vec<String>,
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
        let ty = field.scalar_ty();
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
            let term = parse_term(&alt, path, ty)?;
            check_operands(&term, path)?;
            alternatives.push(term);
        }
        Ok(Filter {
            path: path.to_string(),
            segments: segments(path),
            alternatives,
        })
    }

    /// The values this filter accepts, when it is only plain equalities
    /// (`type=a|b`): what a resource can hand to an index.
    pub fn exact_values(&self) -> Option<Vec<String>> {
        self.alternatives
            .iter()
            .map(|t| match t {
                Term::Equal(v) => Some(v.text.clone()),
                _ => None,
            })
            .collect()
    }

    /// The bounds of a single range term (`>x`, `<=y`, `x..y`): (lower, upper), each
    /// with whether it is inclusive.
    #[allow(clippy::type_complexity)]
    pub fn range(&self) -> Option<(Option<(String, bool)>, Option<(String, bool)>)> {
        match self.alternatives.as_slice() {
            [Term::Gt(v)] => Some((Some((v.text.clone(), false)), None)),
            [Term::Ge(v)] => Some((Some((v.text.clone(), true)), None)),
            [Term::Lt(v)] => Some((None, Some((v.text.clone(), false)))),
            [Term::Le(v)] => Some((None, Some((v.text.clone(), true)))),
            [Term::Range(a, b)] => {
                Some((Some((a.text.clone(), true)), Some((b.text.clone(), true))))
            }
            _ => None,
        }
    }

    pub fn matches<M: Members + ?Sized>(&self, record: &M) -> bool {
        let mut values = Vec::new();
        if let Some((head, rest)) = self.segments.split_first()
            && let Some(value) = record.member(head)
        {
            collect(value, rest, &mut values);
        }
        self.alternatives.iter().any(|t| eval(t, &values))
    }
}

fn segments(path: &str) -> Vec<String> {
    path.split('.').map(str::to_string).collect()
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

fn parse_term(text: &str, path: &str, ty: &Ty) -> ApiResult<Term> {
    if text.is_empty() {
        return Err(missing(path));
    }
    // Leading `!`s are counted rather than parsed recursively: a long run of them
    // (a URI holds up to 64 KiB) overflowed the stack and aborted the server.
    let rest = text.trim_start_matches('!');
    if rest.len() != text.len() {
        let inner = parse_term(rest, path, ty)?;
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
        ("<=", Term::Le as fn(Operand) -> Term),
        (">=", Term::Ge),
        ("<", Term::Lt),
        (">", Term::Gt),
    ] {
        if let Some(rest) = text.strip_prefix(op) {
            let operand = literal(rest, path)?;
            return Ok(make(Operand::new(operand, ty)));
        }
    }
    if let Some(at) = find_unquoted(text, "..") {
        let low = literal(&text[..at], path)?;
        let high = literal(&text[at + 2..], path)?;
        return Ok(Term::Range(Operand::new(low, ty), Operand::new(high, ty)));
    }
    let pieces = pieces(text);
    Ok(match pieces.as_slice() {
        [Piece::Lit(s)] => Term::Equal(Operand::new(s.clone(), ty)),
        _ => Term::Glob(
            pieces
                .into_iter()
                .map(|p| match p {
                    Piece::Lit(s) => Piece::Lit(s.to_lowercase()),
                    Piece::Star => Piece::Star,
                })
                .collect(),
        ),
    })
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
fn check_operands(term: &Term, path: &str) -> ApiResult<()> {
    let check = |operand: &Operand| -> ApiResult<()> {
        if operand.is_valid() {
            Ok(())
        } else {
            Err(ApiError::invalid_value(path, &operand.text))
        }
    };
    match term {
        Term::Not(inner) => check_operands(inner, path),
        Term::Null | Term::Glob(_) => Ok(()),
        Term::Lt(v) | Term::Le(v) | Term::Gt(v) | Term::Ge(v) | Term::Equal(v) => check(v),
        Term::Range(a, b) => {
            check(a)?;
            check(b)
        }
    }
}

fn collect<'a>(value: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
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
                if let Some(next) = value.get(head) {
                    collect(next, rest, out);
                }
            }
        },
    }
}

/// The first value [`collect`] would find, without collecting the others.
fn first<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    match value {
        Value::Array(items) => items.iter().find_map(|item| first(item, path)),
        Value::Null => None,
        _ => match path.split_first() {
            None => Some(value),
            Some((head, rest)) => first(value.get(head)?, rest),
        },
    }
}

fn eval(term: &Term, values: &[&Value]) -> bool {
    match term {
        Term::Not(inner) => !eval(inner, values),
        Term::Null => values.is_empty(),
        _ => values.iter().any(|v| eval_one(term, v)),
    }
}

fn eval_one(term: &Term, value: &Value) -> bool {
    match term {
        Term::Lt(v) => v.compare(value) == Some(Ordering::Less),
        Term::Le(v) => matches!(v.compare(value), Some(Ordering::Less | Ordering::Equal)),
        Term::Gt(v) => v.compare(value) == Some(Ordering::Greater),
        Term::Ge(v) => matches!(v.compare(value), Some(Ordering::Greater | Ordering::Equal)),
        Term::Range(a, b) => {
            matches!(a.compare(value), Some(Ordering::Greater | Ordering::Equal))
                && matches!(b.compare(value), Some(Ordering::Less | Ordering::Equal))
        }
        Term::Equal(v) => v.compare(value) == Some(Ordering::Equal),
        Term::Glob(pieces) => wildcard(&fold(&text_of(value)), pieces),
        Term::Not(_) | Term::Null => false,
    }
}

fn text_of(value: &Value) -> Cow<'_, str> {
    match value {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// `text.to_lowercase()`, without a copy when nothing changes (plain lowercase ASCII,
/// the common case for names and uuids).
fn fold(text: &str) -> Cow<'_, str> {
    if text
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.to_lowercase())
    }
}

fn as_integer(value: &Value) -> Option<i128> {
    value
        .as_i64()
        .map(i128::from)
        .or_else(|| value.as_u64().map(i128::from))
}

/// Glob match where `*` is the only special piece and literals are already
/// lowercased. Greedy leftmost matching of the literals between stars is exact for
/// such patterns and runs in linear passes; the former backtracking matcher took
/// exponential time (`*a*a*a…*b` hung the server).
fn wildcard(text: &str, pieces: &[Piece]) -> bool {
    let mut lits = pieces.iter().filter_map(|p| match p {
        Piece::Lit(s) => Some(s.as_str()),
        Piece::Star => None,
    });
    let mut rest = text;
    if !pieces.contains(&Piece::Star) {
        for lit in lits {
            match rest.strip_prefix(lit) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        return rest.is_empty();
    }
    if !matches!(pieces.first(), Some(Piece::Star)) {
        let Some(first) = lits.next() else {
            return true;
        };
        let Some(r) = rest.strip_prefix(first) else {
            return false;
        };
        rest = r;
    }
    let suffix = if matches!(pieces.last(), Some(Piece::Star)) {
        None
    } else {
        lits.next_back()
    };
    for lit in lits {
        match rest.find(lit) {
            Some(i) => rest = &rest[i + lit.len()..],
            None => return false,
        }
    }
    suffix.is_none_or(|s| rest.ends_with(s))
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
    segments: Vec<String>,
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
            segments: segments(path),
            ty,
        });
    }
    Ok(keys)
}

/// A record's value for one order key, read once: what comparisons use, so that a
/// sort neither lowercases text nor parses dates once per comparison.
#[derive(Debug)]
enum SortValue<'a> {
    /// Absent, null or an empty array: sorts last in either direction.
    Unset,
    Integer(Option<i128>),
    Boolean(Option<bool>),
    DateTime(Option<DateTime<FixedOffset>>),
    /// Compared lowercased first, then as written.
    Text {
        folded: Cow<'a, str>,
        raw: Cow<'a, str>,
    },
}

impl<'a> SortValue<'a> {
    fn of(value: &'a Value, ty: &Ty) -> SortValue<'a> {
        match ty {
            Ty::Integer => SortValue::Integer(as_integer(value)),
            Ty::Boolean => SortValue::Boolean(value.as_bool()),
            Ty::DateTime => SortValue::DateTime(value.as_str().and_then(parse_time)),
            _ => {
                let raw = text_of(value);
                let folded = match &raw {
                    Cow::Borrowed(s) => fold(s),
                    Cow::Owned(s) => Cow::Owned(s.to_lowercase()),
                };
                SortValue::Text { folded, raw }
            }
        }
    }

    fn of_record<M: Members + ?Sized>(record: &'a M, key: &OrderKey) -> SortValue<'a> {
        key.segments
            .split_first()
            .and_then(|(head, rest)| first(record.member(head)?, rest))
            .map_or(SortValue::Unset, |v| SortValue::of(v, &key.ty))
    }

    /// Both values are of one key (one type).
    fn cmp_same_key(&self, other: &SortValue, descending: bool) -> Ordering {
        let ord = match (self, other) {
            (SortValue::Unset, SortValue::Unset) => return Ordering::Equal,
            (SortValue::Unset, _) => return Ordering::Greater,
            (_, SortValue::Unset) => return Ordering::Less,
            (SortValue::Integer(a), SortValue::Integer(b)) => a.cmp(b),
            (SortValue::Boolean(a), SortValue::Boolean(b)) => a.cmp(b),
            (SortValue::DateTime(a), SortValue::DateTime(b)) => a.cmp(b),
            (
                SortValue::Text { folded, raw },
                SortValue::Text {
                    folded: f2,
                    raw: r2,
                },
            ) => folded.cmp(f2).then_with(|| raw.cmp(r2)),
            // Not reached: both sides of one key have the key's type.
            _ => Ordering::Equal,
        };
        if descending { ord.reverse() } else { ord }
    }
}

fn compare_sort_values(a: &[SortValue], b: &[SortValue], keys: &[OrderKey]) -> Ordering {
    a.iter()
        .zip(b)
        .zip(keys)
        .map(|((x, y), key)| x.cmp_same_key(y, key.descending))
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// Compares two records by `order_by` keys; unset values sort last in ascending order.
pub fn compare_records<A, B>(a: &A, b: &B, keys: &[OrderKey]) -> Ordering
where
    A: Members + ?Sized,
    B: Members + ?Sized,
{
    for key in keys {
        let ord = SortValue::of_record(a, key)
            .cmp_same_key(&SortValue::of_record(b, key), key.descending);
        if ord != Ordering::Equal {
            return ord;
        }
    }
    Ordering::Equal
}

/// Stable-sorts records by `order_by` keys, as `sort_by(compare_records)` would,
/// reading each record's keys once instead of twice per comparison.
pub fn sort_records<M: Members>(records: &mut Vec<M>, keys: &[OrderKey]) {
    if keys.is_empty() || records.len() < 2 {
        return;
    }
    let width = keys.len();
    let values: Vec<SortValue> = records
        .iter()
        .flat_map(|r| keys.iter().map(move |k| SortValue::of_record(r, k)))
        .collect();
    let mut order: Vec<usize> = (0..records.len()).collect();
    order.sort_by(|&a, &b| {
        compare_sort_values(
            &values[a * width..(a + 1) * width],
            &values[b * width..(b + 1) * width],
            keys,
        )
    });
    drop(values);
    // Stored collections mostly come in key order already.
    if order.iter().enumerate().all(|(at, &i)| at == i) {
        return;
    }
    let mut slots: Vec<Option<M>> = std::mem::take(records).into_iter().map(Some).collect();
    records.extend(order.iter().filter_map(|&i| slots[i].take()));
}

pub fn compare_values(a: &Value, b: &Value, ty: &Ty) -> Ordering {
    SortValue::of(a, ty).cmp_same_key(&SortValue::of(b, ty), false)
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

    /// `sort_records` (keys read once per record) orders exactly as a stable
    /// `sort_by(compare_records)`, ties and unset values included.
    #[test]
    fn sort_records_is_sort_by_compare_records() {
        let s = schema();
        let names = ["b", "B", "a", "A", "é", "É", "10", "9", "", "b"];
        let mut records: Vec<Value> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                json!({"id": i, "name": n, "size": i % 3, "enabled": i % 2 == 0,
                       "time": format!("2024-05-0{}T00:00:00Z", 1 + i % 4),
                       "svm": {"name": names[(i * 7) % names.len()]}})
            })
            .collect();
        records.push(json!({"id": 10, "size": 1}));
        records.push(json!({"id": 11, "name": null, "size": 2}));
        records.push(json!({"id": 12, "name": 7}));
        records.push(json!({"id": 13, "name": "x", "servers": ["b", "a"]}));
        records.push(json!({"id": 14, "name": "x", "servers": []}));
        let ids = |v: &[Value]| v.iter().map(|r| r["id"].clone()).collect::<Vec<_>>();
        for order in [
            "name",
            "name desc",
            "size,name",
            "size desc,name desc",
            "time desc,name",
            "enabled,size desc",
            "servers,name",
            "svm.name desc,size",
        ] {
            let keys = parse_order_by(order, &s).unwrap();
            let mut expected = records.clone();
            expected.sort_by(|a, b| compare_records(a, b, &keys));
            let mut sorted = records.clone();
            sort_records(&mut sorted, &keys);
            assert_eq!(ids(&sorted), ids(&expected), "{order}");
        }
        let mut sorted = records[..4].to_vec();
        sort_records(&mut sorted, &parse_order_by("name", &s).unwrap());
        assert_eq!(
            sorted.iter().map(|r| r["name"].clone()).collect::<Vec<_>>(),
            [json!("A"), json!("a"), json!("B"), json!("b")],
            "case-insensitive first, then as written"
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
