//! The values templates compute with, modelled on what Helm's Go templates see.
//!
//! Go's `text/template` runs over `interface{}` values: `nil`, `bool`, `int` (literals, `len`),
//! `int64` (Sprig arithmetic), `float64` (every number that came from YAML or JSON: Helm
//! decodes values through JSON, so `replicas: 3` is a float64 and `1000000` prints as `1e+06`),
//! `string`, `[]interface{}` and `map[string]interface{}`, plus a few objects with methods
//! (`.Files`, `.Capabilities.APIVersions`). [`Value`] mirrors that model, including the parts
//! charts depend on without knowing it:
//!
//! - maps are shared and mutable, as Go maps are: `set`, `unset` and `merge` change the map
//!   every holder of it sees, and a template that does `$_ := set .Values "x" 1` changes
//!   `.Values` for the templates rendered after it;
//! - maps iterate in sorted key order (Go's `range` over a map and `encoding/json` both sort);
//! - [`Value::go_string`] prints a value as Go's `fmt` prints it with `%v`.
//!
//! A render is single-threaded, so values use `Rc`; parsed templates and charts hold no
//! `Value` and are shared across threads.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// A template value.
#[derive(Clone, Default)]
pub enum Value {
    /// Go's `nil` (an absent map key, a missing value).
    #[default]
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int`: template literals, `len`, `atoi`, `int`.
    Int(i64),
    /// `int64`: what Sprig's arithmetic returns (`add`, `sub`, `mul`, `max`, `int64`, ...). It
    /// behaves as `int` except where Go tells the two apart: `typeOf`, `kindOf`, `printf "%T"`,
    /// `deepEqual`, parameters declared `int`, and `duration`.
    Int64(i64),
    /// `float64`: every number decoded from YAML or JSON, and float literals.
    Float(f64),
    /// `string`.
    Str(Rc<str>),
    /// `[]interface{}`.
    List(Rc<Vec<Value>>),
    /// `map[string]interface{}`, shared and mutable.
    Map(Map),
    /// An object with fields and methods (`.Files`, `.Capabilities.APIVersions`, ...).
    Object(Rc<dyn Object>),
}

/// An object that exposes fields and methods to templates, the way Go structs do.
pub trait Object: fmt::Debug {
    /// The Go type name, for `typeOf` and error messages (for example `chart.Files`).
    fn type_name(&self) -> &str;
    /// A field or a method taking no arguments (`.Capabilities.KubeVersion`).
    fn field(&self, name: &str) -> Option<Value> {
        let _ = name;
        None
    }
    /// A method call with arguments (`.Files.Get "config.ini"`). `None`: no such method.
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let _ = (name, args);
        None
    }
    /// The plain value used when the object is printed or serialised (`toYaml`, `toJson`).
    fn plain(&self) -> Value {
        Value::Nil
    }
}

/// A Go `map[string]interface{}`: keys sorted, shared by reference, mutable in place.
#[derive(Clone, Default)]
pub struct Map(Rc<RefCell<BTreeMap<String, Value>>>);

impl Map {
    /// An empty map.
    pub fn new() -> Map {
        Map::default()
    }

    /// A map holding `entries`.
    pub fn from_entries(entries: BTreeMap<String, Value>) -> Map {
        Map(Rc::new(RefCell::new(entries)))
    }

    /// The value under `key`, if present.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.0.borrow().get(key).cloned()
    }

    /// Whether `key` is present (even with a nil value).
    pub fn contains_key(&self, key: &str) -> bool {
        self.0.borrow().contains_key(key)
    }

    /// Sets `key` to `value`, visible to every holder of this map.
    pub fn insert(&self, key: impl Into<String>, value: Value) {
        self.0.borrow_mut().insert(key.into(), value);
    }

    /// Removes `key`, returning its value.
    pub fn remove(&self, key: &str) -> Option<Value> {
        self.0.borrow_mut().remove(key)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.borrow().len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.0.borrow().is_empty()
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.0.borrow().keys().cloned().collect()
    }

    /// A snapshot of the entries in key order. Iterating a snapshot lets a template mutate the
    /// map inside `range` without invalidating the iteration, as Go allows.
    pub fn entries(&self) -> Vec<(String, Value)> {
        self.0
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A new map with the same entries (one level deep), no longer shared with this one.
    pub fn shallow_copy(&self) -> Map {
        Map::from_entries(self.0.borrow().clone())
    }

    /// Whether two handles refer to the same map.
    pub fn ptr_eq(&self, other: &Map) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }

    /// Runs `f` with the entries borrowed (no template code may run inside `f`).
    pub fn with<R>(&self, f: impl FnOnce(&BTreeMap<String, Value>) -> R) -> R {
        f(&self.0.borrow())
    }

    /// Runs `f` with the entries borrowed mutably (no template code may run inside `f`).
    pub fn with_mut<R>(&self, f: impl FnOnce(&mut BTreeMap<String, Value>) -> R) -> R {
        f(&mut self.0.borrow_mut())
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.borrow().iter()).finish()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("nil"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) | Value::Int64(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::List(l) => f.debug_list().entries(l.iter()).finish(),
            Value::Map(m) => m.fmt(f),
            Value::Object(o) => o.fmt(f),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(Rc::from(s))
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(Rc::from(s))
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<Vec<Value>> for Value {
    fn from(l: Vec<Value>) -> Value {
        Value::List(Rc::new(l))
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Map(m)
    }
}

impl Value {
    /// A string value.
    pub fn str(s: impl AsRef<str>) -> Value {
        Value::Str(Rc::from(s.as_ref()))
    }

    /// Converts decoded JSON or YAML the way Helm sees it: every number becomes a float64.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(items) => {
                Value::List(Rc::new(items.iter().map(Value::from_json).collect()))
            }
            serde_json::Value::Object(map) => Value::Map(Map::from_entries(
                map.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            )),
        }
    }

    /// Converts to JSON as Go's `encoding/json` would encode the value: integral floats print
    /// without a fraction, objects become their [`Object::plain`] value. NaN and infinities
    /// (which Go refuses to encode) become null.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) | Value::Int64(i) => serde_json::Value::from(*i),
            Value::Float(x) => float_to_json(*x),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => m.with(|entries| {
                serde_json::Value::Object(
                    entries
                        .iter()
                        .map(|(k, v)| (k.clone(), v.to_json()))
                        .collect(),
                )
            }),
            Value::Object(o) => o.plain().to_json(),
        }
    }

    /// Go template truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(x) => *x != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(_) => true,
        }
    }

    /// Whether this is nil.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an `int` or an `int64`.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Int64(i) => Some(*i),
            _ => None,
        }
    }

    /// The map, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Go's type name, as `typeOf` prints it.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go's kind name, as `kindOf` prints it.
    pub fn kind_name(&self) -> &str {
        match self {
            Value::Nil => "invalid",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "slice",
            Value::Map(_) => "map",
            Value::Object(_) => "struct",
        }
    }

    /// A deep copy: maps and lists are copied all the way down, so mutating the copy never
    /// changes the original (Sprig's `deepCopy`, and how a render isolates its values).
    pub fn deep_copy(&self) -> Value {
        match self {
            Value::List(l) => Value::List(Rc::new(l.iter().map(Value::deep_copy).collect())),
            Value::Map(m) => Value::Map(Map::from_entries(m.with(|entries| {
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.deep_copy()))
                    .collect()
            }))),
            other => other.clone(),
        }
    }

    /// Prints the value as Go's `fmt` does with `%v`: `<nil>`, `true`, `3`, `1.5`, `1e+06`,
    /// `[a b]`, `map[a:1 b:2]`.
    pub fn go_string(&self) -> String {
        let mut out = String::new();
        self.write_go(&mut out);
        out
    }

    /// Appends [`Value::go_string`] to `out`.
    pub fn write_go(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
            Value::Float(x) => out.push_str(&format_float_g(*x)),
            Value::Str(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.entries().iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_go(out);
                }
                out.push(']');
            }
            Value::Object(o) => o.plain().write_go(out),
        }
    }
}

/// Go's JSON encoding of a float64: integral values below 1e21 carry no fraction.
fn float_to_json(x: f64) -> serde_json::Value {
    if !x.is_finite() {
        return serde_json::Value::Null;
    }
    if x.fract() == 0.0 && x.abs() < 9.007_199_254_740_992e15 {
        // Exactly representable as an integer.
        #[allow(clippy::cast_possible_truncation)]
        return serde_json::Value::from(x as i64);
    }
    serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// Formats a float as Go's `strconv.FormatFloat(x, 'g', -1, 64)`, which is what `%v` prints:
/// the shortest digits that round-trip, in exponent form when the decimal exponent is below -4
/// or at least 6 (`1e+06`, `1.23456789e+08`, `1e-05`).
pub fn format_float_g(x: f64) -> String {
    if !x.is_finite() || x == 0.0 {
        return special_float(x);
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e6", "-5e-7".
    format_g(&format!("{x:e}"))
}

/// Go's `strconv.FormatFloat(x, 'g', -1, 32)`: `x` rounded to a float32, in its shortest form
/// (`1.1234568`, `1.8446744e+19`). sigs.k8s.io/yaml writes float map keys this way.
pub fn format_float32_g(x: f64) -> String {
    #[allow(clippy::cast_possible_truncation)]
    let x32 = x as f32;
    if !x32.is_finite() || x32 == 0.0 {
        return special_float(f64::from(x32));
    }
    format_g(&format!("{x32:e}"))
}

/// NaN, the infinities and the zeros, as Go prints them.
fn special_float(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    if x.is_sign_negative() { "-0" } else { "0" }.to_owned()
}

/// Go's shortest `%g` layout of Rust's shortest `{:e}` text: exponent form when the decimal
/// exponent is below -4 or at least 6.
fn format_g(sci: &str) -> String {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let point = usize::try_from(exp).unwrap_or(0) + 1;
        if digits.len() <= point {
            out.push_str(&digits);
            for _ in digits.len()..point {
                out.push('0');
            }
        } else {
            let (int, frac) = digits.split_at(point);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_prints_them() {
        for (x, want) in [
            (1.0, "1"),
            (1.5, "1.5"),
            (100000.0, "100000"),
            (1000000.0, "1e+06"),
            (123456789.0, "1.23456789e+08"),
            (1234567.5, "1.2345675e+06"),
            (100000.5, "100000.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.25, "-2.25"),
            (0.0, "0"),
            (1e21, "1e+21"),
        ] {
            assert_eq!(format_float_g(x), want, "{x}");
        }
    }

    #[test]
    fn composite_values_print_as_go_prints_them() {
        let m = Map::new();
        m.insert("b", Value::Float(1.0));
        m.insert("a", Value::from(vec![Value::str("x"), Value::Nil]));
        assert_eq!(Value::Map(m).go_string(), "map[a:[x <nil>] b:1]");
    }

    #[test]
    fn maps_are_shared_like_go_maps() {
        let m = Map::new();
        let held = Value::Map(m.clone());
        m.insert("k", Value::Int(1));
        assert_eq!(
            held.as_map()
                .and_then(|m| m.get("k"))
                .map(|v| v.go_string()),
            Some("1".into())
        );
        let copy = held.deep_copy();
        m.insert("k", Value::Int(2));
        assert_eq!(
            copy.as_map()
                .and_then(|m| m.get("k"))
                .map(|v| v.go_string()),
            Some("1".into())
        );
    }

    #[test]
    fn json_numbers_are_float64_and_encode_back_without_fractions() {
        let v = Value::from_json(&serde_json::json!({"replicas": 3, "ratio": 0.5}));
        assert_eq!(v.go_string(), "map[ratio:0.5 replicas:3]");
        assert_eq!(
            v.to_json(),
            serde_json::json!({"replicas": 3, "ratio": 0.5})
        );
        assert_eq!(
            v.as_map()
                .and_then(|m| m.get("replicas"))
                .map(|r| r.type_name().to_owned()),
            Some("float64".into())
        );
    }
}
