//! Sprig's numbers: conversions (`int`, `float64`, `atoi`, `toDecimal`), integer arithmetic
//! on int64 with `cast.ToInt64` operands (float64 values from YAML truncate, strings parse),
//! float arithmetic through exact decimals, and integer sequences.

use super::args::{self, at_least, exact, to_float64, to_int64};
use super::decimal::Decimal;
use crate::value::Value;

type R = Result<Value, String>;

/// More elements than this in one sequence is refused rather than exhausting memory.
const MAX_SEQUENCE: usize = 1 << 24;

/// `atoi S`: Go's `strconv.Atoi`, 0 when S is not a decimal integer.
pub(super) fn atoi(name: &str, args: &[Value]) -> R {
    let [s] = exact(name, args)?;
    Ok(Value::Int(
        args::parse_go_int(args::string(s)?, 10).unwrap_or(0),
    ))
}

/// `int V`: `cast.ToInt`, an `int`.
pub(super) fn int(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::Int(to_int64(v)))
}

/// `int64 V`: `cast.ToInt64`, an `int64`.
pub(super) fn int64(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::Int64(to_int64(v)))
}

/// `float64 V`: `cast.ToFloat64`.
pub(super) fn float64(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::Float(to_float64(v)))
}

/// `toDecimal V`: V printed and read as an octal number (`"0777"` is 511), 0 if it is not one;
/// an `int64`.
pub(super) fn to_decimal(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::Int64(
        args::parse_go_int(&v.go_string(), 8).unwrap_or(0),
    ))
}

/// Sprig's integer arithmetic: `cast.ToInt64` operands, an `int64` result.
pub(super) fn add(_name: &str, args: &[Value]) -> R {
    Ok(Value::Int64(
        args.iter()
            .fold(0i64, |acc, v| acc.wrapping_add(to_int64(v))),
    ))
}

pub(super) fn add1(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::Int64(to_int64(v).wrapping_add(1)))
}

pub(super) fn sub(name: &str, args: &[Value]) -> R {
    let [a, b] = exact(name, args)?;
    Ok(Value::Int64(to_int64(a).wrapping_sub(to_int64(b))))
}

fn divisor(v: &Value) -> Result<i64, String> {
    match to_int64(v) {
        0 => Err("runtime error: integer divide by zero".to_owned()),
        d => Ok(d),
    }
}

pub(super) fn div(name: &str, args: &[Value]) -> R {
    let [a, b] = exact(name, args)?;
    let d = divisor(b)?;
    Ok(Value::Int64(to_int64(a).wrapping_div(d)))
}

pub(super) fn modulo(name: &str, args: &[Value]) -> R {
    let [a, b] = exact(name, args)?;
    let d = divisor(b)?;
    Ok(Value::Int64(to_int64(a).wrapping_rem(d)))
}

pub(super) fn mul(name: &str, args: &[Value]) -> R {
    at_least(name, args, 1)?;
    Ok(Value::Int64(
        args.iter().map(to_int64).fold(1i64, i64::wrapping_mul),
    ))
}

pub(super) fn max(name: &str, args: &[Value]) -> R {
    at_least(name, args, 1)?;
    Ok(Value::Int64(args.iter().map(to_int64).max().unwrap_or(0)))
}

pub(super) fn min(name: &str, args: &[Value]) -> R {
    at_least(name, args, 1)?;
    Ok(Value::Int64(args.iter().map(to_int64).min().unwrap_or(0)))
}

/// Go's `math.Max`: +Inf wins over NaN, NaN over everything else, +0 over -0.
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y { x } else { y }
}

/// Go's `math.Min`.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y { x } else { y }
}

fn fold_floats(name: &str, args: &[Value], f: fn(f64, f64) -> f64) -> R {
    at_least(name, args, 1)?;
    let mut values = args.iter().map(to_float64);
    let first = values.next().unwrap_or(0.0);
    Ok(Value::Float(values.fold(first, f)))
}

pub(super) fn maxf(name: &str, args: &[Value]) -> R {
    fold_floats(name, args, go_max)
}

pub(super) fn minf(name: &str, args: &[Value]) -> R {
    fold_floats(name, args, go_min)
}

pub(super) fn floor(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::Float(to_float64(v).floor()))
}

pub(super) fn ceil(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    Ok(Value::Float(to_float64(v).ceil()))
}

/// `round V PLACES [ROUND_ON]`: up when the dropped fraction is at least ROUND_ON (0.5).
pub(super) fn round(name: &str, args: &[Value]) -> R {
    at_least(name, args, 2)?;
    let (Some(v), Some(places)) = (args.first(), args.get(1)) else {
        return Err(format!(
            "wrong number of args for {name}: want at least 2 got {}",
            args.len()
        ));
    };
    let places = args::int(places)?;
    let round_on = match args.get(2) {
        Some(r) => args::float(r)?,
        None => 0.5,
    };
    let value = to_float64(v);
    #[allow(clippy::cast_precision_loss)]
    let pow = 10f64.powf(places as f64);
    let digit = pow * value;
    let rounded = if digit.fract() >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    Ok(Value::Float(rounded / pow))
}

/// Sprig's `execDecimalOp`: `first` combined with each of `rest` in exact decimals.
fn decimal_op(
    first: &Value,
    rest: &[Value],
    op: fn(&Decimal, &Decimal) -> Result<Decimal, String>,
) -> R {
    let mut acc = Decimal::from_f64(to_float64(first))?;
    for v in rest {
        acc = op(&acc, &Decimal::from_f64(to_float64(v))?)?;
    }
    Ok(Value::Float(acc.to_f64()))
}

fn dec_add(a: &Decimal, b: &Decimal) -> Result<Decimal, String> {
    Ok(a.add(b))
}

fn dec_sub(a: &Decimal, b: &Decimal) -> Result<Decimal, String> {
    Ok(a.sub(b))
}

fn dec_mul(a: &Decimal, b: &Decimal) -> Result<Decimal, String> {
    Ok(a.mul(b))
}

pub(super) fn addf(_name: &str, args: &[Value]) -> R {
    decimal_op(&Value::Float(0.0), args, dec_add)
}

pub(super) fn add1f(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    decimal_op(v, &[Value::Int(1)], dec_add)
}

fn first_and_rest<'a>(name: &str, args: &'a [Value]) -> Result<(&'a Value, &'a [Value]), String> {
    args.split_first()
        .ok_or_else(|| format!("wrong number of args for {name}: want at least 1 got 0"))
}

pub(super) fn subf(name: &str, args: &[Value]) -> R {
    let (first, rest) = first_and_rest(name, args)?;
    decimal_op(first, rest, dec_sub)
}

pub(super) fn mulf(name: &str, args: &[Value]) -> R {
    let (first, rest) = first_and_rest(name, args)?;
    decimal_op(first, rest, dec_mul)
}

pub(super) fn divf(name: &str, args: &[Value]) -> R {
    let (first, rest) = first_and_rest(name, args)?;
    decimal_op(first, rest, Decimal::div)
}

/// Sprig's `untilStep`: start, start+step, ... short of stop.
fn until_step_values(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, String> {
    let mut out = Vec::new();
    let mut i = start;
    let more = |i: i64| if stop < start { i > stop } else { i < stop };
    if (stop < start && step >= 0) || (stop >= start && step <= 0) {
        return Ok(out);
    }
    while more(i) {
        if out.len() >= MAX_SEQUENCE {
            return Err(format!(
                "a sequence of more than {MAX_SEQUENCE} numbers is too long"
            ));
        }
        out.push(i);
        match i.checked_add(step) {
            Some(next) => i = next,
            None => break,
        }
    }
    Ok(out)
}

fn int_list(values: Vec<i64>) -> Value {
    Value::from(values.into_iter().map(Value::Int).collect::<Vec<_>>())
}

/// `until N`: 0 up to (or down to) N, exclusive.
pub(super) fn until(name: &str, args: &[Value]) -> R {
    let [n] = exact(name, args)?;
    let n = args::int(n)?;
    let step = if n < 0 { -1 } else { 1 };
    Ok(int_list(until_step_values(0, n, step)?))
}

/// `untilStep START STOP STEP`.
pub(super) fn until_step(name: &str, args: &[Value]) -> R {
    let [start, stop, step] = exact(name, args)?;
    Ok(int_list(until_step_values(
        args::int(start)?,
        args::int(stop)?,
        args::int(step)?,
    )?))
}

/// `seq [START [STEP]] END`: like the Unix command, numbers joined by spaces.
pub(super) fn seq(_name: &str, args: &[Value]) -> R {
    let params = args.iter().map(args::int).collect::<Result<Vec<_>, _>>()?;
    let values = match params.as_slice() {
        [end] => {
            let inc = if *end < 1 { -1 } else { 1 };
            until_step_values(1, end.wrapping_add(inc), inc)?
        }
        [start, end] => {
            let step = if end < start { -1 } else { 1 };
            until_step_values(*start, end.wrapping_add(step), step)?
        }
        [start, step, end] => {
            let mut inc = 1;
            if end < start {
                inc = -1;
                if *step > 0 {
                    return Ok(Value::str(""));
                }
            }
            until_step_values(*start, end.wrapping_add(inc), *step)?
        }
        _ => Vec::new(),
    };
    let text: Vec<String> = values.iter().map(i64::to_string).collect();
    Ok(Value::str(text.join(" ")))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{check, l, s};
    use crate::value::Value;

    /// Expectations checked against Helm.
    #[test]
    fn numbers_match_helm() {
        let i = Value::Int;
        let i64 = Value::Int64;
        let f = Value::Float;
        check(&[
            ("int", vec![s("3.0")], Ok(i(3))),
            ("int", vec![f(-3.9)], Ok(i(-3))),
            ("int", vec![Value::Bool(true)], Ok(i(1))),
            ("int", vec![Value::Nil], Ok(i(0))),
            ("int", vec![l(vec![i(1)])], Ok(i(0))),
            ("int64", vec![f(1e6)], Ok(i64(1_000_000))),
            ("float64", vec![s("1e3")], Ok(f(1000.0))),
            ("float64", vec![i(3)], Ok(f(3.0))),
            ("atoi", vec![s("42")], Ok(i(42))),
            ("atoi", vec![s("4x")], Ok(i(0))),
            ("atoi", vec![s("+4")], Ok(i(4))),
            ("atoi", vec![s("1_0")], Ok(i(0))),
            (
                "atoi",
                vec![i(3)],
                Err("wrong type for value; expected string; got int"),
            ),
            ("toDecimal", vec![s("0777")], Ok(i64(511))),
            ("toDecimal", vec![i(777)], Ok(i64(511))),
            ("toDecimal", vec![f(3.0)], Ok(i64(3))),
            ("toDecimal", vec![s("8")], Ok(i64(0))),
            ("toDecimal", vec![f(1e6)], Ok(i64(0))),
            ("add", vec![s("3"), i(1)], Ok(i64(4))),
            ("add", vec![f(1.9), f(1.9)], Ok(i64(2))),
            ("add", vec![], Ok(i64(0))),
            ("add1", vec![s("x")], Ok(i64(1))),
            ("sub", vec![i(5), f(1.5)], Ok(i64(4))),
            ("div", vec![i(7), i(2)], Ok(i64(3))),
            ("div", vec![i(-7), i(2)], Ok(i64(-3))),
            (
                "div",
                vec![i(1), i(0)],
                Err("runtime error: integer divide by zero"),
            ),
            ("mod", vec![i(-7), i(2)], Ok(i64(-1))),
            (
                "mod",
                vec![i(1), i(0)],
                Err("runtime error: integer divide by zero"),
            ),
            ("mul", vec![i(2), i(3), i(4)], Ok(i64(24))),
            ("mul", vec![i(2)], Ok(i64(2))),
            ("max", vec![i(1), i(5), i(3)], Ok(i64(5))),
            ("biggest", vec![i(1), i(2)], Ok(i64(2))),
            ("min", vec![i(4), s("2"), i(9)], Ok(i64(2))),
            ("maxf", vec![i(1), f(2.5)], Ok(f(2.5))),
            ("minf", vec![i(1), f(2.5), s("0.5")], Ok(f(0.5))),
            ("floor", vec![f(1.7)], Ok(f(1.0))),
            ("ceil", vec![s("1.2")], Ok(f(2.0))),
            ("round", vec![f(1.2345), i(2)], Ok(f(1.23))),
            ("round", vec![f(1.5), i(0)], Ok(f(2.0))),
            ("round", vec![f(-1.5), i(0)], Ok(f(-2.0))),
            ("round", vec![f(2.675), i(2)], Ok(f(2.68))),
            ("round", vec![f(1.25), i(1), f(0.3)], Ok(f(1.3))),
            (
                "round",
                vec![f(1.2), f(3.0)],
                Err("wrong type for value; expected int; got float64"),
            ),
            ("addf", vec![f(1.1), f(2.2)], Ok(f(3.3))),
            ("addf", vec![], Ok(f(0.0))),
            ("addf", vec![s("1.5"), i(1)], Ok(f(2.5))),
            ("add1f", vec![f(1.1)], Ok(f(2.1))),
            ("subf", vec![f(3.3), f(1.1)], Ok(f(2.2))),
            ("subf", vec![i(1)], Ok(f(1.0))),
            ("divf", vec![i(1), i(3)], Ok(f(0.333_333_333_333_333_3))),
            ("divf", vec![i(10), i(4), i(2)], Ok(f(1.25))),
            ("divf", vec![i(1), i(0)], Err("decimal division by 0")),
            ("mulf", vec![f(1.1), i(3)], Ok(f(3.3))),
            ("mulf", vec![f(0.1), f(0.2)], Ok(f(0.02))),
            ("until", vec![i(3)], Ok(l(vec![i(0), i(1), i(2)]))),
            (
                "until",
                vec![i64(3)],
                Err("wrong type for value; expected int; got int64"),
            ),
            ("until", vec![i(-3)], Ok(l(vec![i(0), i(-1), i(-2)]))),
            (
                "until",
                vec![f(3.0)],
                Err("wrong type for value; expected int; got float64"),
            ),
            (
                "untilStep",
                vec![i(0), i(10), i(3)],
                Ok(l(vec![i(0), i(3), i(6), i(9)])),
            ),
            (
                "untilStep",
                vec![i(10), i(0), i(-3)],
                Ok(l(vec![i(10), i(7), i(4), i(1)])),
            ),
            ("untilStep", vec![i(0), i(10), i(0)], Ok(l(vec![]))),
            ("seq", vec![i(3)], Ok(s("1 2 3"))),
            ("seq", vec![i(-2)], Ok(s("1 0 -1 -2"))),
            ("seq", vec![i(2), i(5)], Ok(s("2 3 4 5"))),
            ("seq", vec![i(5), i(2)], Ok(s("5 4 3 2"))),
            ("seq", vec![i(0), i(2), i(10)], Ok(s("0 2 4 6 8 10"))),
            ("seq", vec![i(10), i(-3), i(0)], Ok(s("10 7 4 1"))),
            ("seq", vec![i(0), i(-1), i(3)], Ok(s(""))),
            ("seq", vec![], Ok(s(""))),
            ("seq", vec![i(1), i(2), i(3), i(4)], Ok(s(""))),
        ]);
    }
}
