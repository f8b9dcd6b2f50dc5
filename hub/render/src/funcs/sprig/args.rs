//! How template arguments reach Sprig's Go functions: the argument-count and parameter-type
//! checks Go's `text/template` applies before a call, and the conversions Sprig applies inside
//! (`strval`, and `cast.ToInt64` / `cast.ToFloat64` for arithmetic on float64 values from YAML).

use crate::value::{Map, Value};

/// Exactly `N` arguments, or Go's `wrong number of args for NAME: want N got M`.
pub(super) fn exact<'a, const N: usize>(
    name: &str,
    args: &'a [Value],
) -> Result<&'a [Value; N], String> {
    args.try_into().map_err(|_| {
        format!(
            "wrong number of args for {name}: want {N} got {}",
            args.len()
        )
    })
}

/// At least `n` arguments (a variadic Go function).
pub(super) fn at_least(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() < n {
        return Err(format!(
            "wrong number of args for {name}: want at least {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

/// The Go type of a value as a parameter-type error names it: a nil operand is an empty
/// `interface {}`.
pub(super) fn go_type(v: &Value) -> &str {
    match v {
        Value::Nil => "interface {}",
        other => other.type_name(),
    }
}

fn wrong_type(expected: &str, v: &Value) -> String {
    format!(
        "wrong type for value; expected {expected}; got {}",
        go_type(v)
    )
}

/// A `string` parameter.
pub(super) fn string(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| wrong_type("string", v))
}

/// An `int` parameter. Template integer literals are ints; float64 values from YAML are not,
/// and Go refuses them (`indent .Values.n` fails in Helm too).
pub(super) fn int(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(wrong_type("int", v)),
    }
}

/// A `float64` parameter (integer literals convert, as Go converts untyped constants).
pub(super) fn float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(x) => Ok(*x),
        // An integer literal is an untyped constant Go converts; an int64 is not.
        #[allow(clippy::cast_precision_loss)]
        Value::Int(i) => Ok(*i as f64),
        _ => Err(wrong_type("float64", v)),
    }
}

/// A `bool` parameter.
pub(super) fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(wrong_type("bool", v)),
    }
}

/// A `map[string]interface{}` parameter.
pub(super) fn map(v: &Value) -> Result<&Map, String> {
    v.as_map()
        .ok_or_else(|| wrong_type("map[string]interface {}", v))
}

/// Go's reflect kind name of a list-or-not operand, for Sprig's `Cannot X on type KIND`.
pub(super) fn kind(v: &Value) -> &str {
    v.kind_name()
}

/// Sprig's `strval`: strings as they are, everything else as `fmt` prints it with `%v`.
pub(super) fn strval(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        other => other.go_string(),
    }
}

/// `cast.ToInt64` as Sprig calls it: numbers truncate, strings parse as Go integer literals
/// (`"0x1F"`, `"017"`, `"1_000"`, `"3.0"`), booleans are 0 or 1, anything else is 0.
pub(super) fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Float(x) => float_to_int64(*x),
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => parse_go_int(trim_zero_decimal(s), 0).unwrap_or(0),
        _ => 0,
    }
}

/// Go's `int64(x)` conversion on amd64: truncation toward zero, and the "integer indefinite"
/// value for NaN and out-of-range inputs.
pub(super) fn float_to_int64(x: f64) -> i64 {
    #[allow(clippy::cast_precision_loss)]
    let in_range = x > i64::MIN as f64 - 1.0 && x < i64::MAX as f64;
    if in_range {
        #[allow(clippy::cast_possible_truncation)]
        return x.trunc() as i64;
    }
    i64::MIN
}

/// `cast.ToFloat64` as Sprig calls it.
pub(super) fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Float(x) => *x,
        #[allow(clippy::cast_precision_loss)]
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => parse_go_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// cast's `trimZeroDecimal`: `"3.00"` reads as `"3"`, so it can parse as an integer.
fn trim_zero_decimal(s: &str) -> &str {
    let mut found_zero = false;
    for (i, c) in s.char_indices().rev() {
        match c {
            '.' if found_zero => return s.get(..i).unwrap_or(s),
            '0' => found_zero = true,
            _ => return s,
        }
    }
    s
}

/// Go's `strconv.ParseInt(s, base, 64)`; base 0 reads the literal's prefix (`0x`, `0o`, `0b`,
/// a leading `0` for octal) and allows `_` between digits.
pub(super) fn parse_go_int(s: &str, base: u32) -> Option<i64> {
    let (negative, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let (radix, digits) = if base == 0 {
        let prefix = rest.get(..2).map(str::to_ascii_lowercase);
        match prefix.as_deref() {
            Some("0x") => (16, rest.get(2..)?),
            Some("0o") => (8, rest.get(2..)?),
            Some("0b") => (2, rest.get(2..)?),
            _ if rest.len() > 1 && rest.starts_with('0') => (8, rest.get(1..)?),
            _ => (10, rest),
        }
    } else {
        (base, rest)
    };
    let cleaned;
    let digits = if rest.contains('_') {
        if base != 0 || !underscores_ok(rest) {
            return None;
        }
        cleaned = digits.replace('_', "");
        cleaned.as_str()
    } else {
        digits
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        if magnitude <= i64::MIN.unsigned_abs() {
            return Some(0i64.wrapping_sub_unsigned(magnitude));
        }
        return None;
    }
    i64::try_from(magnitude).ok()
}

/// Go's `underscoreOK`: underscores only between digits (or after a base prefix).
fn underscores_ok(s: &str) -> bool {
    let bytes = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if bytes.first() == Some(&b'0')
        && let Some(p) = bytes
            .get(1)
            .map(u8::to_ascii_lowercase)
            .filter(|p| matches!(p, b'x' | b'o' | b'b'))
    {
        hex = p == b'x';
        i = 2;
        saw = b'0';
    }
    while let Some(&c) = bytes.get(i) {
        if c.is_ascii_digit() || hex && c.is_ascii_hexdigit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// Go's `strconv.ParseFloat(s, 64)`: decimal and hexadecimal forms, `inf`/`infinity`/`nan`
/// in any case, underscores between digits.
pub(super) fn parse_go_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if lower.len() - unsigned.len() > 1 {
        return None;
    }
    let negative = lower.starts_with('-');
    let special = match unsigned {
        "inf" | "infinity" => Some(f64::INFINITY),
        "nan" => Some(f64::NAN),
        _ => None,
    };
    if let Some(x) = special {
        return Some(if negative { -x } else { x });
    }
    if unsigned.contains('_') && !underscores_ok(unsigned) {
        return None;
    }
    let cleaned = unsigned.replace('_', "");
    let magnitude = if let Some(hex) = cleaned.strip_prefix("0x") {
        parse_hex_float(hex)?
    } else {
        if cleaned.is_empty()
            || !cleaned
                .bytes()
                .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'))
        {
            return None;
        }
        cleaned.parse::<f64>().ok()?
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// The part of a Go hexadecimal float after `0x`: `1.8p+1`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mantissa, exp) = s.split_once('p')?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value = 0f64;
    for c in int.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(value * 2f64.powi(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_to_int64_reads_strings_as_go_literals() {
        for (s, want) in [
            ("3.0", 3),
            ("017", 15),
            ("0x1F", 31),
            ("1_000", 1000),
            ("3.5", 0),
            (" 3", 0),
            ("+4", 4),
            ("0b11", 3),
            ("0o17", 15),
            ("08", 0),
            ("-12", -12),
            ("9223372036854775807", i64::MAX),
            ("9223372036854775808", 0),
            ("-9223372036854775808", i64::MIN),
            ("", 0),
            ("_1", 0),
        ] {
            assert_eq!(to_int64(&Value::str(s)), want, "{s:?}");
        }
        assert_eq!(to_int64(&Value::Float(-3.9)), -3);
        assert_eq!(to_int64(&Value::Float(1e19)), i64::MIN);
        assert_eq!(to_int64(&Value::Bool(true)), 1);
        assert_eq!(to_int64(&Value::Nil), 0);
    }

    #[test]
    fn cast_to_float64_reads_go_float_syntax() {
        for (s, want) in [
            ("1e3", 1000.0),
            ("abc", 0.0),
            ("0x1p-2", 0.25),
            ("1_0", 10.0),
            (" 1", 0.0),
            ("-2.5", -2.5),
        ] {
            assert_eq!(to_float64(&Value::str(s)), want, "{s:?}");
        }
        assert!(to_float64(&Value::str("inf")).is_infinite());
        assert!(to_float64(&Value::str("NaN")).is_nan());
    }

    #[test]
    fn parameter_checks_name_go_types() {
        assert_eq!(
            string(&Value::Float(3.0)),
            Err("wrong type for value; expected string; got float64".to_owned())
        );
        assert_eq!(
            int(&Value::Float(3.0)),
            Err("wrong type for value; expected int; got float64".to_owned())
        );
        assert_eq!(
            map(&Value::Nil).map(|_| ()),
            Err(
                "wrong type for value; expected map[string]interface {}; got interface {}"
                    .to_owned()
            )
        );
        assert_eq!(
            exact::<1>("upper", &[]).map(|_| ()),
            Err("wrong number of args for upper: want 1 got 0".to_owned())
        );
    }
}
