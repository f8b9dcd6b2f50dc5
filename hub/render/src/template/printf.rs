//! A stand-in for `crate::funcs::fmt::sprintf` (Go's `fmt.Sprintf`), used by `printf` and by
//! error messages until the library's lands: the common verbs (`%v %s %d %q %f %e %g %x %X
//! %o %b %t %c %T %%`) with flags, width and precision, and Go's `%!verb(type=value)` for
//! mismatched operands.

use std::fmt::Write as _;

use super::quote::go_quote;
use crate::value::{Value, format_float_g};

/// Go's `%s` of a value: strings as they are, other values as `%!s(type=value)`, and
/// containers element by element.
pub(crate) fn fmt_s(v: &Value) -> String {
    let mut out = String::new();
    write_s(v, &mut out);
    out
}

fn write_s(v: &Value, out: &mut String) {
    match v {
        Value::Str(s) => out.push_str(s),
        Value::Nil => out.push_str("%!s(<nil>)"),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_s(e, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, e)) in m.entries().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_s(e, out);
            }
            out.push(']');
        }
        Value::Object(o) => write_s(&o.plain(), out),
        other => bad_verb('s', other, out),
    }
}

fn bad_verb(verb: char, v: &Value, out: &mut String) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if v.is_nil() {
        out.push_str("<nil>");
    } else {
        out.push_str(v.type_name());
        out.push('=');
        v.write_go(out);
    }
    out.push(')');
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: &str, spec: Spec, out: &mut String, numeric: bool) {
    let n = s.chars().count();
    let w = spec.width.unwrap_or(0);
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = w - n;
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', fill));
    } else if spec.zero && numeric {
        let (sign, digits) = match s.strip_prefix(['-', '+']) {
            Some(rest) => (s.get(..1).unwrap_or(""), rest),
            None => ("", s),
        };
        out.push_str(sign);
        out.extend(std::iter::repeat_n('0', fill));
        out.push_str(digits);
    } else {
        out.extend(std::iter::repeat_n(' ', fill));
        out.push_str(s);
    }
}

fn signed(s: String, negative: bool, spec: Spec) -> String {
    if negative {
        s
    } else if spec.plus {
        format!("+{s}")
    } else if spec.space {
        format!(" {s}")
    } else {
        s
    }
}

fn float_f(x: f64, prec: usize) -> String {
    format!("{x:.prec$}")
}

fn float_e(x: f64, prec: usize, upper: bool) -> String {
    let s = format!("{x:.prec$e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if exp < 0 { '-' } else { '+' };
    let e = if upper { 'E' } else { 'e' };
    format!("{mant}{e}{sign}{:02}", exp.unsigned_abs())
}

fn write_verb(verb: char, spec: Spec, v: &Value, out: &mut String) {
    match verb {
        'v' => {
            let s = match v {
                Value::Str(s) if spec.sharp => go_quote(s),
                Value::Float(x) if spec.plus && *x >= 0.0 => format!("+{}", format_float_g(*x)),
                Value::Int(i) if spec.plus && *i >= 0 => format!("+{i}"),
                _ => v.go_string(),
            };
            pad(&s, spec, out, matches!(v, Value::Int(_) | Value::Float(_)));
        }
        's' => {
            let mut s = fmt_s(v);
            if let (Some(p), Value::Str(_)) = (spec.prec, v) {
                s = s.chars().take(p).collect();
            }
            pad(&s, spec, out, false);
        }
        'q' => match v {
            Value::Str(s) => pad(&go_quote(s), spec, out, false),
            Value::Int(i) => {
                let c = u32::try_from(*i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                let q = go_quote(&c.to_string());
                let inner = q.get(1..q.len() - 1).unwrap_or("").replace("\\\"", "\"");
                let inner = if c == '\'' { "\\'".to_owned() } else { inner };
                pad(&format!("'{inner}'"), spec, out, false);
            }
            other => bad_verb('q', other, out),
        },
        'd' => match v {
            Value::Int(i) => pad(&signed(i.to_string(), *i < 0, spec), spec, out, true),
            Value::List(l) => {
                out.push('[');
                for (i, e) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    write_verb('d', spec, e, out);
                }
                out.push(']');
            }
            other => bad_verb('d', other, out),
        },
        'b' | 'o' | 'x' | 'X' => match v {
            Value::Int(i) => {
                let mag = i.unsigned_abs();
                let body = match verb {
                    'b' => format!("{mag:b}"),
                    'o' => format!("{mag:o}"),
                    'x' => format!("{mag:x}"),
                    _ => format!("{mag:X}"),
                };
                let prefix = match (spec.sharp, verb) {
                    (true, 'x') => "0x",
                    (true, 'X') => "0X",
                    (true, 'o') => "0",
                    _ => "",
                };
                let s = format!("{}{prefix}{body}", if *i < 0 { "-" } else { "" });
                pad(&signed(s, *i < 0, spec), spec, out, true);
            }
            Value::Str(s) if verb == 'x' || verb == 'X' => {
                let mut h = String::new();
                for b in s.bytes() {
                    let _ = if verb == 'x' {
                        write!(h, "{b:02x}")
                    } else {
                        write!(h, "{b:02X}")
                    };
                }
                pad(&h, spec, out, false);
            }
            other => bad_verb(verb, other, out),
        },
        'f' | 'F' | 'e' | 'E' | 'g' | 'G' => match v {
            Value::Float(x) => {
                let s = match verb {
                    'f' | 'F' => float_f(*x, spec.prec.unwrap_or(6)),
                    'e' | 'E' => float_e(*x, spec.prec.unwrap_or(6), verb == 'E'),
                    _ => match spec.prec {
                        None => format_float_g(*x),
                        Some(p) => {
                            let p = p.max(1);
                            let exp = if *x == 0.0 {
                                0
                            } else {
                                x.abs().log10().floor() as i64
                            };
                            if exp < -4 || exp >= p as i64 {
                                float_e(*x, p - 1, verb == 'G')
                            } else {
                                let decimals = usize::try_from(p as i64 - 1 - exp).unwrap_or(0);
                                let s = float_f(*x, decimals);
                                if s.contains('.') {
                                    s.trim_end_matches('0').trim_end_matches('.').to_owned()
                                } else {
                                    s
                                }
                            }
                        }
                    },
                };
                pad(&signed(s, x.is_sign_negative(), spec), spec, out, true);
            }
            other => bad_verb(verb, other, out),
        },
        't' => match v {
            Value::Bool(b) => pad(if *b { "true" } else { "false" }, spec, out, false),
            other => bad_verb('t', other, out),
        },
        'c' => match v {
            Value::Int(i) => {
                let c = u32::try_from(*i)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('\u{fffd}');
                pad(&c.to_string(), spec, out, false);
            }
            other => bad_verb('c', other, out),
        },
        'T' => pad(
            if v.is_nil() { "<nil>" } else { v.type_name() },
            spec,
            out,
            false,
        ),
        other => bad_verb(other, v, out),
    }
}

/// Go's `fmt.Sprintf` for the common verbs.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 8 * args.len());
    let mut chars = format.chars().peekable();
    let mut argi = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, argi: &mut usize| {
            if chars.peek() == Some(&'*') {
                chars.next();
                let n = match args.get(*argi) {
                    Some(Value::Int(i)) => usize::try_from(*i).ok(),
                    _ => None,
                };
                *argi += 1;
                return n;
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        spec.width = number(&mut chars, &mut argi);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(number(&mut chars, &mut argi).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argi) {
            Some(v) => write_verb(verb, spec, v, &mut out),
            None => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
        }
        argi += 1;
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, v) in args.iter().enumerate().skip(argi) {
            if i > argi {
                out.push_str(", ");
            }
            if v.is_nil() {
                out.push_str("<nil>");
            } else {
                out.push_str(v.type_name());
                out.push('=');
                v.write_go(&mut out);
            }
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_the_common_verbs() {
        let l = Value::from(vec![Value::Float(1.0), Value::Float(2.5)]);
        assert_eq!(
            sprintf(
                "%5.2f|%-4d|%x|%q|%v|%T|%s|%d|%05d",
                &[
                    Value::Float(3.14159),
                    Value::Int(7),
                    Value::Int(255),
                    Value::str("hi"),
                    l.clone(),
                    l.clone(),
                    Value::Nil,
                    Value::str("x"),
                    Value::Int(-42)
                ]
            ),
            " 3.14|7   |ff|\"hi\"|[1 2.5]|[]interface {}|%!s(<nil>)|%!d(string=x)|-0042"
        );
        assert_eq!(fmt_s(&l), "[%!s(float64=1) %!s(float64=2.5)]");
        assert_eq!(sprintf("%d %d", &[Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(
            sprintf("%d", &[Value::Int(1), Value::str("a")]),
            "1%!(EXTRA string=a)"
        );
    }
}
