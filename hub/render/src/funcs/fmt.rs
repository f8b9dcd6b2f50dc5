//! Go's `fmt` formatting as templates see it: `print` ([`sprint`]), `println` ([`sprintln`]) and
//! `printf` ([`sprintf`]), plus the `strconv` quoting and float formatting they rest on.
//!
//! [`sprintf`] follows Go's `fmt.Sprintf` verb by verb, including its in-band error forms:
//! a verb that does not fit its operand prints `%!d(string=abc)`, a missing operand
//! `%!s(MISSING)`, operands left over `%!(EXTRA int=3)`, a bad index `%!d(BADINDEX)`. Numbers
//! decoded from values files are float64, so `printf "%d" .Values.replicas` prints
//! `%!d(float64=3)` exactly as Helm does. Composite values print element by element with the
//! same verb and flags (`%5v` of `[1 2]` pads each element), maps in sorted key order.

use crate::value::Value;

/// `fmt.Sprint`: operands joined, with a space between two operands when neither is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut previous_is_string = true;
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg, Value::Str(_));
        if i > 0 && !previous_is_string && !is_string {
            out.push(' ');
        }
        arg.write_go(&mut out);
        previous_is_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: operands joined by spaces, then a newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        arg.write_go(&mut out);
    }
    out.push('\n');
    out
}

/// `fmt.Sprintf`: `format` with its verbs replaced by the formatted `args`.
///
/// Supports Go's verbs (`%v %+v %#v %T %% %t %d %b %o %O %x %X %c %q %U %e %E %f %F %g %G
/// %s`), the flags `+ - # 0` and space, widths and precisions (literal or `*`), and argument
/// indexes (`%[2]d`). Mismatches print Go's error forms instead of failing.
///
/// ```
/// use gatehouse_render::funcs::fmt::sprintf;
/// use gatehouse_render::Value;
///
/// assert_eq!(sprintf("%s-%03d", &[Value::str("web"), Value::Int(7)]), "web-007");
/// assert_eq!(sprintf("%d", &[Value::Float(3.0)]), "%!d(float64=3)");
/// ```
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::default();
    p.do_printf(format, args);
    p.buf
}

/// Go's `strconv.Quote`: a double-quoted string literal with Go escapes (`\n`, `\"`, `\u00a0`).
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    append_quoted(&mut out, s, '"', false);
    out
}

/// Go's `strconv.FormatFloat(x, fmt, prec, 64)` for the formats `e E f g G b x X`; a negative
/// `prec` asks for the fewest digits that read back as `x`.
pub fn format_float(x: f64, fmt: char, prec: i32) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "+Inf" } else { "-Inf" }.to_owned();
    }
    let neg = x.is_sign_negative();
    match fmt {
        'b' => return format_float_b(x),
        'x' | 'X' => return format_float_hex(x, fmt, prec),
        _ => {}
    }
    let abs = x.abs();
    let shortest = prec < 0;
    match fmt {
        'e' | 'E' => {
            let digits = if shortest {
                Digits::shortest(abs)
            } else {
                Digits::significant(abs, prec.saturating_add(1))
            };
            let prec = if shortest {
                i32::try_from(digits.d.len()).unwrap_or(1).saturating_sub(1)
            } else {
                prec
            };
            digits.fmt_e(neg, prec, fmt)
        }
        'f' | 'F' => {
            if shortest {
                let digits = Digits::shortest(abs);
                let prec = (i32::try_from(digits.d.len()).unwrap_or(0) - digits.dp).max(0);
                digits.fmt_f(neg, prec)
            } else {
                let prec = usize::try_from(prec).unwrap_or(0);
                format!("{x:.prec$}")
            }
        }
        'g' | 'G' => {
            let (digits, mut prec) = if shortest {
                let d = Digits::shortest(abs);
                let n = i32::try_from(d.d.len()).unwrap_or(0);
                (d, n)
            } else {
                let prec = prec.max(1);
                (Digits::significant(abs, prec), prec)
            };
            let nd = i32::try_from(digits.d.len()).unwrap_or(0);
            let mut eprec = prec;
            if eprec > nd && nd >= digits.dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = digits.dp - 1;
            if exp < -4 || exp >= eprec {
                if prec > nd {
                    prec = nd;
                }
                let e = if fmt == 'g' { 'e' } else { 'E' };
                return digits.fmt_e(neg, prec - 1, e);
            }
            if prec > digits.dp {
                prec = nd;
            }
            digits.fmt_f(neg, (prec - digits.dp).max(0))
        }
        _ => format!("%{fmt}"),
    }
}

/// Decimal digits of a non-negative float: `0.d1d2d3... × 10^dp`, without trailing zeros; zero
/// has no digits.
struct Digits {
    d: Vec<u8>,
    dp: i32,
}

impl Digits {
    /// The shortest digits that read back as `x`.
    fn shortest(x: f64) -> Digits {
        Digits::parse_sci(&format!("{x:e}"))
    }

    /// `n` significant digits, rounded half to even on the exact binary value.
    fn significant(x: f64, n: i32) -> Digits {
        let p = usize::try_from(n.saturating_sub(1)).unwrap_or(0);
        Digits::parse_sci(&format!("{x:.p$e}"))
    }

    fn parse_sci(sci: &str) -> Digits {
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let mut d: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        while d.last() == Some(&b'0') {
            d.pop();
        }
        if d.is_empty() {
            return Digits { d, dp: 0 };
        }
        Digits { d, dp: exp + 1 }
    }

    fn digit(&self, i: i32) -> u8 {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.d.get(i))
            .copied()
            .unwrap_or(b'0')
    }

    /// `d.ddddde±dd` with `prec` digits after the point.
    fn fmt_e(&self, neg: bool, prec: i32, e: char) -> String {
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        out.push(char::from(self.digit(0)));
        if prec > 0 {
            out.push('.');
            for i in 1..=prec {
                out.push(char::from(self.digit(i)));
            }
        }
        out.push(e);
        let exp = if self.d.is_empty() { 0 } else { self.dp - 1 };
        out.push(if exp < 0 { '-' } else { '+' });
        let exp = exp.unsigned_abs();
        if exp < 10 {
            out.push('0');
        }
        out.push_str(&exp.to_string());
        out
    }

    /// `ddd.ddd` with `prec` digits after the point.
    fn fmt_f(&self, neg: bool, prec: i32) -> String {
        let mut out = String::new();
        if neg {
            out.push('-');
        }
        if self.dp > 0 {
            for i in 0..self.dp {
                out.push(char::from(self.digit(i)));
            }
        } else {
            out.push('0');
        }
        if prec > 0 {
            out.push('.');
            for i in 1..=prec {
                out.push(char::from(self.digit(self.dp + i - 1)));
            }
        }
        out
    }
}

/// The float's bits unpacked as Go's `strconv` does: `mant × 2^(exp-52)`.
fn float_parts(x: f64) -> (u64, i32) {
    let bits = x.to_bits();
    let raw_exp = i32::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let mut mant = bits & ((1 << 52) - 1);
    let exp = if raw_exp == 0 {
        1
    } else {
        mant |= 1 << 52;
        raw_exp
    };
    (mant, exp - 1023)
}

/// `%b`: decimal mantissa, `p`, binary exponent (`4503599627370496p-52`).
fn format_float_b(x: f64) -> String {
    let (mant, exp) = float_parts(x);
    let sign = if x.is_sign_negative() { "-" } else { "" };
    let e = exp - 52;
    format!(
        "{sign}{mant}p{}{}",
        if e >= 0 { "+" } else { "-" },
        e.unsigned_abs()
    )
}

/// `%x`: hexadecimal mantissa and binary exponent (`0x1.8p+01`).
fn format_float_hex(x: f64, fmt: char, prec: i32) -> String {
    let (mut mant, mut exp) = float_parts(x);
    if mant == 0 {
        exp = 0;
    }
    mant <<= 60 - 52;
    while mant != 0 && mant & (1 << 60) == 0 {
        mant <<= 1;
        exp -= 1;
    }
    if (0..15).contains(&prec) {
        let shift = u32::try_from(prec * 4).unwrap_or(0);
        let extra = (mant << shift) & ((1 << 60) - 1);
        mant >>= 60 - shift;
        if extra | (mant & 1) > 1 << 59 {
            mant += 1;
        }
        mant <<= 60 - shift;
        if mant & (1 << 61) != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let hex: &[u8; 16] = if fmt == 'X' {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    let nibble = |m: u64| {
        char::from(
            hex.get(usize::try_from((m >> 60) & 15).unwrap_or(0))
                .copied()
                .unwrap_or(b'0'),
        )
    };
    let mut out = String::new();
    if x.is_sign_negative() {
        out.push('-');
    }
    out.push('0');
    out.push(fmt);
    out.push(if (mant >> 60) & 1 == 1 { '1' } else { '0' });
    mant <<= 4;
    if prec < 0 && mant != 0 {
        out.push('.');
        while mant != 0 {
            out.push(nibble(mant));
            mant <<= 4;
        }
    } else if prec > 0 {
        out.push('.');
        for _ in 0..prec {
            out.push(nibble(mant));
            mant <<= 4;
        }
    }
    out.push(if fmt == 'X' { 'P' } else { 'p' });
    out.push(if exp < 0 { '-' } else { '+' });
    let e = exp.unsigned_abs();
    if e < 10 {
        out.push('0');
    }
    out.push_str(&e.to_string());
    out
}

/// Appends `s` quoted with `q` as Go's `strconv` quoting functions do.
fn append_quoted(out: &mut String, s: &str, q: char, ascii_only: bool) {
    out.push(q);
    for c in s.chars() {
        append_escaped_char(out, c, q, ascii_only);
    }
    out.push(q);
}

fn append_escaped_char(out: &mut String, c: char, q: char, ascii_only: bool) {
    if c == q || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) && (!ascii_only || c.is_ascii()) {
        out.push(c);
        return;
    }
    match c {
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\x{:02x}", u32::from(c))),
        c if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
    }
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
/// Without Unicode category tables this treats every assigned-looking code point outside the
/// control, separator, format and private-use ranges as printable.
fn is_print(c: char) -> bool {
    let u = u32::from(c);
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let format_or_private = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x890..=0x891 | 0x8E2 | 0x180E
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xD800..=0xF8FF | 0xFDD0..=0xFDEF | 0xFEFF | 0xFFF0..=0xFFFB | 0x110BD | 0x110CD
        | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF
        | 0xF0000..);
    !format_or_private && (u & 0xFFFE) != 0xFFFE
}

/// Go's `strconv.CanBackquote`.
fn can_backquote(s: &str) -> bool {
    s.chars()
        .all(|c| c != '\u{feff}' && c != '`' && c != '\u{7f}' && (c >= ' ' || c == '\t'))
}

/// The formatting flags of one verb (Go's `fmt.fmtFlags` plus width and precision).
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
    wid: usize,
    wid_present: bool,
    prec: usize,
    prec_present: bool,
}

/// Go's `fmt.pp`: the output buffer and the current verb's flags.
#[derive(Debug, Default)]
struct Printer {
    buf: String,
    f: Flags,
    reordered: bool,
    good_arg_num: bool,
}

/// Go refuses widths, precisions and argument indexes above a million.
const TOO_LARGE: usize = 1_000_000;

/// Go's `parsenum`: a decimal number at `start`, returning (number, found, next index).
fn parse_num(s: &[u8], start: usize) -> (usize, bool, usize) {
    let mut num = 0usize;
    let mut found = false;
    let mut i = start;
    while let Some(c) = s.get(i).filter(|c| c.is_ascii_digit()) {
        if num > TOO_LARGE {
            return (0, false, s.len());
        }
        num = num * 10 + usize::from(c - b'0');
        found = true;
        i += 1;
    }
    (num, found, i)
}

/// Go's `intFromArg`: a `*` width or precision from the operand at `arg_num`.
fn int_from_arg(args: &[Value], arg_num: usize) -> (i64, bool, usize) {
    match args.get(arg_num) {
        Some(Value::Int(n) | Value::Int64(n)) if n.unsigned_abs() <= TOO_LARGE as u64 => {
            (*n, true, arg_num + 1)
        }
        Some(_) => (0, false, arg_num + 1),
        None => (0, false, arg_num),
    }
}

impl Printer {
    /// Go's `argNumber`: an explicit `[n]` index at `i`. Returns (arg number, next index, found).
    fn arg_number(
        &mut self,
        arg_num: usize,
        format: &[u8],
        i: usize,
        num_args: usize,
    ) -> (usize, usize, bool) {
        if format.get(i) != Some(&b'[') {
            return (arg_num, i, false);
        }
        self.reordered = true;
        let rest = format.get(i..).unwrap_or_default();
        // Go's parseArgNumber: at least "[n]", up to the first ']'.
        let (index, wid, ok) = if rest.len() < 3 {
            (0, 1, false)
        } else {
            match rest.iter().position(|&c| c == b']') {
                Some(close) => {
                    let (n, found, end) = parse_num(rest, 1);
                    if !found || end != close {
                        (0, close + 1, false)
                    } else {
                        (n.wrapping_sub(1), close + 1, true)
                    }
                }
                None => (0, 1, false),
            }
        };
        if ok && index < num_args {
            return (index, i + wid, true);
        }
        self.good_arg_num = false;
        (arg_num, i + wid, ok)
    }

    fn do_printf(&mut self, format: &str, args: &[Value]) {
        let fb = format.as_bytes();
        let end = fb.len();
        let mut arg_num = 0usize;
        let mut after_index;
        self.reordered = false;
        let mut i = 0usize;
        'format: while i < end {
            self.good_arg_num = true;
            let last = i;
            while i < end && fb.get(i) != Some(&b'%') {
                i += 1;
            }
            if i > last {
                self.buf.push_str(format.get(last..i).unwrap_or_default());
            }
            if i >= end {
                break;
            }
            i += 1; // the '%'
            self.f = Flags::default();
            while let Some(&c) = fb.get(i) {
                match c {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = !self.f.minus,
                    b'+' => self.f.plus = true,
                    b'-' => {
                        self.f.minus = true;
                        self.f.zero = false;
                    }
                    b' ' => self.f.space = true,
                    _ => {
                        // Fast path: a lower-case verb with no width, precision or index.
                        if c.is_ascii_lowercase()
                            && let Some(arg) = args.get(arg_num)
                        {
                            if c == b'v' {
                                self.set_v_flags();
                            }
                            self.print_arg(arg, char::from(c));
                            arg_num += 1;
                            i += 1;
                            continue 'format;
                        }
                        break;
                    }
                }
                i += 1;
            }

            (arg_num, i, after_index) = self.arg_number(arg_num, fb, i, args.len());

            if fb.get(i) == Some(&b'*') {
                i += 1;
                let (wid, ok, next) = int_from_arg(args, arg_num);
                arg_num = next;
                self.f.wid_present = ok;
                if !ok {
                    self.buf.push_str("%!(BADWIDTH)");
                }
                if wid < 0 {
                    self.f.minus = true;
                    self.f.zero = false;
                }
                self.f.wid = usize::try_from(wid.unsigned_abs()).unwrap_or(0);
                after_index = false;
            } else {
                let (wid, present, next) = parse_num(fb, i);
                (self.f.wid, self.f.wid_present, i) = (wid, present, next);
                if after_index && self.f.wid_present {
                    self.good_arg_num = false;
                }
            }

            if i + 1 < end && fb.get(i) == Some(&b'.') {
                i += 1;
                if after_index {
                    self.good_arg_num = false;
                }
                (arg_num, i, after_index) = self.arg_number(arg_num, fb, i, args.len());
                if fb.get(i) == Some(&b'*') {
                    i += 1;
                    let (prec, ok, next) = int_from_arg(args, arg_num);
                    arg_num = next;
                    self.f.prec_present = ok && prec >= 0;
                    self.f.prec = usize::try_from(prec).unwrap_or(0);
                    if !self.f.prec_present {
                        self.buf.push_str("%!(BADPREC)");
                    }
                    after_index = false;
                } else {
                    let (prec, present, next) = parse_num(fb, i);
                    i = next;
                    self.f.prec = if present { prec } else { 0 };
                    self.f.prec_present = true;
                }
            }

            if !after_index {
                (arg_num, i, _) = self.arg_number(arg_num, fb, i, args.len());
            }

            let Some(verb) = format.get(i..).and_then(|rest| rest.chars().next()) else {
                self.buf.push_str("%!(NOVERB)");
                break;
            };
            i += verb.len_utf8();

            if verb == '%' {
                self.buf.push('%');
            } else if !self.good_arg_num {
                self.buf.push_str("%!");
                self.buf.push(verb);
                self.buf.push_str("(BADINDEX)");
            } else if let Some(arg) = args.get(arg_num) {
                if verb == 'v' {
                    self.set_v_flags();
                }
                self.print_arg(arg, verb);
                arg_num += 1;
            } else {
                self.buf.push_str("%!");
                self.buf.push(verb);
                self.buf.push_str("(MISSING)");
            }
        }

        if !self.reordered && arg_num < args.len() {
            self.f = Flags::default();
            self.buf.push_str("%!(EXTRA ");
            for (n, arg) in args.iter().skip(arg_num).enumerate() {
                if n > 0 {
                    self.buf.push_str(", ");
                }
                if arg.is_nil() {
                    self.buf.push_str("<nil>");
                } else {
                    self.buf.push_str(arg.type_name());
                    self.buf.push('=');
                    self.print_arg(arg, 'v');
                }
            }
            self.buf.push(')');
        }
    }

    /// `%v` turns `#` into Go-syntax mode and `+` into field-name mode.
    fn set_v_flags(&mut self) {
        self.f.sharp_v = self.f.sharp;
        self.f.sharp = false;
        self.f.plus_v = self.f.plus;
        self.f.plus = false;
    }

    fn print_arg(&mut self, arg: &Value, verb: char) {
        match (arg, verb) {
            (Value::Nil, 'T' | 'v') => self.pad("<nil>"),
            (Value::Nil, _) => self.bad_verb(verb, arg),
            (_, 'T') => {
                let name = arg.type_name().to_owned();
                self.fmt_s(&name);
            }
            (_, 'p') => self.bad_verb(verb, arg),
            _ => self.print_value(arg, verb),
        }
    }

    fn print_value(&mut self, value: &Value, verb: char) {
        match value {
            Value::Nil => {
                // A nil element of a list or map.
                if self.f.sharp_v {
                    self.buf.push_str("interface {}(nil)");
                } else {
                    self.buf.push_str("<nil>");
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad(if *b { "true" } else { "false" }),
                _ => self.bad_verb(verb, value),
            },
            Value::Int(n) | Value::Int64(n) => self.fmt_integer(value, *n, verb),
            Value::Float(x) => self.fmt_float_verb(value, *x, verb),
            Value::Str(s) => self.fmt_string(value, s, verb),
            Value::List(items) => {
                if self.f.sharp_v {
                    self.buf.push_str(value.type_name());
                    self.buf.push('{');
                    for (n, item) in items.iter().enumerate() {
                        if n > 0 {
                            self.buf.push_str(", ");
                        }
                        self.print_value(item, verb);
                    }
                    self.buf.push('}');
                } else {
                    self.buf.push('[');
                    for (n, item) in items.iter().enumerate() {
                        if n > 0 {
                            self.buf.push(' ');
                        }
                        self.print_value(item, verb);
                    }
                    self.buf.push(']');
                }
            }
            Value::Map(m) => {
                if self.f.sharp_v {
                    self.buf.push_str(value.type_name());
                    self.buf.push('{');
                } else {
                    self.buf.push_str("map[");
                }
                for (n, (k, v)) in m.entries().iter().enumerate() {
                    if n > 0 {
                        if self.f.sharp_v {
                            self.buf.push_str(", ");
                        } else {
                            self.buf.push(' ');
                        }
                    }
                    self.fmt_string(&Value::str(k), k, verb);
                    self.buf.push(':');
                    self.print_value(v, verb);
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::Object(o) => {
                let plain = o.plain();
                self.print_value(&plain, verb);
            }
        }
    }

    /// Go's `badVerb`: `%!d(string=abc)`.
    fn bad_verb(&mut self, verb: char, arg: &Value) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        if arg.is_nil() {
            self.buf.push_str("<nil>");
        } else {
            self.buf.push_str(arg.type_name());
            self.buf.push('=');
            self.print_arg(arg, 'v');
        }
        self.buf.push(')');
    }

    /// Writes `n` padding characters: zeros under the `0` flag, spaces otherwise.
    fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero && !self.f.minus {
            '0'
        } else {
            ' '
        };
        self.buf.extend(std::iter::repeat_n(c, n));
    }

    /// Go's `fmt.pad`: `s` padded to the width, on the left unless the `-` flag is set.
    fn pad(&mut self, s: &str) {
        if !self.f.wid_present || self.f.wid == 0 {
            self.buf.push_str(s);
            return;
        }
        let width = self.f.wid.saturating_sub(s.chars().count());
        if self.f.minus {
            self.buf.push_str(s);
            self.write_padding(width);
        } else {
            self.write_padding(width);
            self.buf.push_str(s);
        }
    }

    /// `s` cut to the precision (in characters), if one was given.
    fn truncate<'a>(&self, s: &'a str) -> &'a str {
        if self.f.prec_present
            && let Some((at, _)) = s.char_indices().nth(self.f.prec)
        {
            return s.get(..at).unwrap_or(s);
        }
        s
    }

    fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad(s);
    }

    fn fmt_string(&mut self, arg: &Value, s: &str, verb: char) {
        match verb {
            'v' if self.f.sharp_v => self.fmt_q(s),
            'v' | 's' => self.fmt_s(s),
            'x' => self.fmt_sx(s, false),
            'X' => self.fmt_sx(s, true),
            'q' => self.fmt_q(s),
            _ => self.bad_verb(verb, arg),
        }
    }

    /// `%x` of a string: two hex digits per byte.
    fn fmt_sx(&mut self, s: &str, upper: bool) {
        let bytes = s.as_bytes();
        let length = if self.f.prec_present {
            bytes.len().min(self.f.prec)
        } else {
            bytes.len()
        };
        let mut width = 2 * length;
        if width == 0 {
            if self.f.wid_present {
                self.write_padding(self.f.wid);
            }
            return;
        }
        if self.f.space {
            if self.f.sharp {
                width *= 2;
            }
            width += length - 1;
        } else if self.f.sharp {
            width += 2;
        }
        let padding = if self.f.wid_present {
            self.f.wid.saturating_sub(width)
        } else {
            0
        };
        if !self.f.minus {
            self.write_padding(padding);
        }
        let prefix = if upper { "0X" } else { "0x" };
        if self.f.sharp {
            self.buf.push_str(prefix);
        }
        for (n, b) in bytes.iter().take(length).enumerate() {
            if self.f.space && n > 0 {
                self.buf.push(' ');
                if self.f.sharp {
                    self.buf.push_str(prefix);
                }
            }
            if upper {
                self.buf.push_str(&format!("{b:02X}"));
            } else {
                self.buf.push_str(&format!("{b:02x}"));
            }
        }
        if self.f.minus {
            self.write_padding(padding);
        }
    }

    /// `%q` of a string: Go-quoted, backquoted under `#` when possible, ASCII-only under `+`.
    fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        let mut quoted = String::with_capacity(s.len() + 2);
        if self.f.sharp && can_backquote(s) {
            quoted.push('`');
            quoted.push_str(s);
            quoted.push('`');
        } else {
            append_quoted(&mut quoted, s, '"', self.f.plus);
        }
        self.pad(&quoted);
    }

    fn fmt_integer(&mut self, arg: &Value, n: i64, verb: char) {
        match verb {
            'v' | 'd' => self.fmt_int_base(n, 10, false, verb),
            'b' => self.fmt_int_base(n, 2, false, verb),
            'o' | 'O' => self.fmt_int_base(n, 8, false, verb),
            'x' => self.fmt_int_base(n, 16, false, verb),
            'X' => self.fmt_int_base(n, 16, true, verb),
            'c' => {
                let c = rune(n);
                self.pad(c.encode_utf8(&mut [0; 4]));
            }
            'q' => {
                let mut quoted = String::new();
                append_quoted(
                    &mut quoted,
                    rune(n).encode_utf8(&mut [0; 4]),
                    '\'',
                    self.f.plus,
                );
                self.pad(&quoted);
            }
            'U' => self.fmt_unicode(n),
            _ => self.bad_verb(verb, arg),
        }
    }

    /// Go's `fmt.fmtInteger`.
    fn fmt_int_base(&mut self, n: i64, base: u64, upper: bool, verb: char) {
        let negative = n < 0;
        let mut u = n.unsigned_abs();
        let mut prec = 0usize;
        if self.f.prec_present {
            prec = self.f.prec;
            if prec == 0 && u == 0 {
                let zero = self.f.zero;
                self.f.zero = false;
                self.write_padding(self.f.wid);
                self.f.zero = zero;
                return;
            }
        } else if self.f.zero && !self.f.minus && self.f.wid_present {
            prec = self.f.wid;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let digits: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        // Built right to left, then reversed.
        let mut rev: Vec<u8> = Vec::new();
        loop {
            let d = usize::try_from(u % base).unwrap_or(0);
            rev.push(digits.get(d).copied().unwrap_or(b'0'));
            u /= base;
            if u == 0 {
                break;
            }
        }
        while rev.len() < prec {
            rev.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => rev.extend_from_slice(b"b0"),
                8 if rev.last() != Some(&b'0') => rev.push(b'0'),
                16 => rev.extend_from_slice(if upper { b"X0" } else { b"x0" }),
                _ => {}
            }
        }
        if verb == 'O' {
            rev.extend_from_slice(b"o0");
        }
        if negative {
            rev.push(b'-');
        } else if self.f.plus {
            rev.push(b'+');
        } else if self.f.space {
            rev.push(b' ');
        }
        rev.reverse();
        let s = String::from_utf8(rev).unwrap_or_default();
        let zero = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = zero;
    }

    /// `%U`: `U+0041`, with the character itself under `#`.
    fn fmt_unicode(&mut self, n: i64) {
        let u = n as u64;
        let prec = if self.f.prec_present && self.f.prec > 4 {
            self.f.prec
        } else {
            4
        };
        let mut s = format!("U+{u:0prec$X}");
        if self.f.sharp
            && let Some(c) = u32::try_from(u).ok().and_then(char::from_u32)
            && is_print(c)
        {
            s.push_str(" '");
            s.push(c);
            s.push('\'');
        }
        let zero = self.f.zero;
        self.f.zero = false;
        self.pad(&s);
        self.f.zero = zero;
    }

    fn fmt_float_verb(&mut self, arg: &Value, x: f64, verb: char) {
        let prec = |default: i32, f: &Flags| {
            if f.prec_present {
                i32::try_from(f.prec).unwrap_or(i32::MAX)
            } else {
                default
            }
        };
        match verb {
            'v' => self.fmt_float(x, 'g', prec(-1, &self.f)),
            'b' | 'g' | 'G' | 'x' | 'X' => self.fmt_float(x, verb, prec(-1, &self.f)),
            'f' | 'e' | 'E' => self.fmt_float(x, verb, prec(6, &self.f)),
            'F' => self.fmt_float(x, 'f', prec(6, &self.f)),
            _ => self.bad_verb(verb, arg),
        }
    }

    /// Go's `fmt.fmtFloat`: signs, `#` decimal points, and sign-aware zero padding.
    fn fmt_float(&mut self, x: f64, verb: char, prec: i32) {
        let formatted = format_float(x, verb, prec);
        let mut num: Vec<char> = Vec::with_capacity(formatted.len() + 1);
        if !formatted.starts_with(['-', '+']) {
            num.push('+');
        }
        num.extend(formatted.chars());
        if self.f.space
            && !self.f.plus
            && let Some(first) = num.first_mut().filter(|c| **c == '+')
        {
            *first = ' ';
        }
        if matches!(num.get(1), Some('I' | 'N')) {
            let zero = self.f.zero;
            self.f.zero = false;
            if num.get(1) == Some(&'N') && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            let s: String = num.iter().collect();
            self.pad(&s);
            self.f.zero = zero;
            return;
        }
        if self.f.sharp && verb != 'b' {
            let mut digits: i32 = match verb {
                'v' | 'g' | 'G' | 'x' => {
                    if prec == -1 {
                        6
                    } else {
                        prec
                    }
                }
                _ => 0,
            };
            let mut tail: Vec<char> = Vec::new();
            let mut has_point = false;
            let mut saw_nonzero = false;
            let mut i = 1;
            while let Some(&c) = num.get(i) {
                match c {
                    '.' => has_point = true,
                    'p' | 'P' => {
                        tail = num.split_off(i);
                        break;
                    }
                    'e' | 'E' if verb != 'x' && verb != 'X' => {
                        tail = num.split_off(i);
                        break;
                    }
                    _ => {
                        if c != '0' {
                            saw_nonzero = true;
                        }
                        if saw_nonzero {
                            digits -= 1;
                        }
                    }
                }
                i += 1;
            }
            if !has_point {
                if num.len() == 2 && num.get(1) == Some(&'0') {
                    digits -= 1;
                }
                num.push('.');
            }
            while digits > 0 {
                num.push('0');
                digits -= 1;
            }
            num.extend(tail);
        }
        if self.f.plus || num.first() != Some(&'+') {
            if self.f.zero && !self.f.minus && self.f.wid_present && self.f.wid > num.len() {
                if let Some(&sign) = num.first() {
                    self.buf.push(sign);
                }
                self.write_padding(self.f.wid - num.len());
                self.buf.extend(num.iter().skip(1));
                return;
            }
            let s: String = num.iter().collect();
            self.pad(&s);
            return;
        }
        let s: String = num.iter().skip(1).collect();
        self.pad(&s);
    }
}

/// An integer as a character, with U+FFFD for anything that is not a valid code point.
fn rune(n: i64) -> char {
    u32::try_from(n)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{fffd}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Map;

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    fn list() -> Value {
        Value::from(vec![Value::Float(1.0), s("two"), Value::Nil])
    }

    fn map() -> Value {
        let inner = Map::new();
        inner.insert("c", s("x"));
        let m = Map::new();
        m.insert("a", Value::Float(1.0));
        m.insert("b", Value::Map(inner));
        Value::Map(m)
    }

    /// Each case was checked against Helm's `printf`.
    #[test]
    fn sprintf_matches_go() {
        let i = Value::Int;
        let f = Value::Float;
        let cases: Vec<(&str, Vec<Value>, &str)> = vec![
            ("%d", vec![f(3.0)], "%!d(float64=3)"),
            ("%s", vec![i(3)], "%!s(int=3)"),
            ("%d %s", vec![i(1)], "1 %!s(MISSING)"),
            ("%d", vec![i(1), i(2)], "1%!(EXTRA int=2)"),
            (
                "%#v|%#v|%#v|%#v|%#v",
                vec![f(1e6), f(3.0), s("abc"), list(), map()],
                "1e+06|3|\"abc\"|[]interface {}{1, \"two\", interface {}(nil)}|map[string]interface {}{\"a\":1, \"b\":map[string]interface {}{\"c\":\"x\"}}",
            ),
            (
                "%+v|%+d|% d|%+.2f|%x|%X|%o|%#o|%b|%#x|%#08x",
                vec![
                    i(3),
                    i(3),
                    i(3),
                    f(1.5),
                    i(255),
                    i(255),
                    i(8),
                    i(8),
                    i(5),
                    i(255),
                    i(255),
                ],
                "3|+3| 3|+1.50|ff|FF|10|010|101|0xff|0x000000ff",
            ),
            (
                "%05s|%-5s|%5.1s|%.0f %.0f %.1f %.2f %.0f",
                vec![
                    s("ab"),
                    s("ab"),
                    s("xyz"),
                    f(0.5),
                    f(2.5),
                    f(0.25),
                    f(0.125),
                    f(1.5),
                ],
                "000ab|ab   |    x|0 2 0.2 0.12 2",
            ),
            (
                "%e|%E|%g|%G|%.3g|%#g|%#.3g|%.3e|%10.3f|%-10.3f|%010.3f|%+010.3f",
                vec![
                    f(123456.789),
                    f(0.000012),
                    f(1e21),
                    f(1e-7),
                    f(1.0),
                    f(1.0),
                    f(1.0),
                    f(0.0),
                    f(1.23456),
                    f(1.23456),
                    f(-1.23456),
                    f(1.23456),
                ],
                "1.234568e+05|1.200000E-05|1e+21|1E-07|1|1.00000|1.00|0.000e+00|     1.235|1.235     |-00001.235|+00001.235",
            ),
            (
                "%x|%X|%b|%.2x|%#x",
                vec![f(3.0), f(-0.1), f(1.0), f(1.0), f(1.0)],
                "0x1.8p+01|-0X1.999999999999AP-04|4503599627370496p-52|0x1.00p+00|0x1.0000p+00",
            ),
            (
                "%q|%+q|%#q|%q|%x|% x|%#x|% #X|%q|%c|%U|%#U|%q",
                vec![
                    s("a\"b\n\t☺"),
                    s("☺\u{a0}"),
                    s("a`b"),
                    s("back"),
                    s("hi"),
                    s("hi"),
                    s("hi"),
                    s("hi"),
                    i(65),
                    i(9786),
                    i(9786),
                    i(9786),
                    i(0x1F600),
                ],
                "\"a\\\"b\\n\\t☺\"|\"\\u263a\\u00a0\"|\"a`b\"|\"back\"|6869|68 69|0x6869|0X68 0X69|'A'|☺|U+263A|U+263A '☺'|'😀'",
            ),
            (
                "%d|%s|%v|%5d|%t|%T|%T|%T|%T|%T",
                vec![
                    list(),
                    list(),
                    list(),
                    list(),
                    Value::Bool(true),
                    list(),
                    map(),
                    Value::Nil,
                    i(3),
                    s("x"),
                ],
                "[%!d(float64=1) %!d(string=two) <nil>]|[%!s(float64=1) two <nil>]|[1 two <nil>]|[%!d(float64=    1) %!d(string=  two) <nil>]|true|[]interface {}|map[string]interface {}|<nil>|int|string",
            ),
            (
                "%d|%s|%t",
                vec![Value::Nil, map(), s("abc")],
                "%!d(<nil>)|map[a:%!s(float64=1) b:map[c:x]]|%!t(string=abc)",
            ),
            (
                "%[2]d %[1]d|%[3]d|%d %d %[1]d %d",
                vec![i(1), i(2)],
                "2 1|%!d(BADINDEX)|2 %!d(MISSING) 1 2",
            ),
            (
                "%*d|%-*d|%.*f|%*d|%.*d",
                vec![
                    i(5),
                    i(1),
                    i(5),
                    i(1),
                    i(2),
                    f(1.23456),
                    s("x"),
                    i(1),
                    i(-1),
                    i(3),
                ],
                "    1|1    |1.23|%!(BADWIDTH)1|%!(BADPREC)3",
            ),
            (
                "%!|%z|%",
                vec![i(1), i(2)],
                "%!!(int=1)|%!z(int=2)|%!(NOVERB)",
            ),
            (
                "%d %d",
                vec![i(1), i(2), i(3), Value::Nil, s("x")],
                "1 2%!(EXTRA int=3, <nil>, string=x)",
            ),
            ("%s", vec![Value::Nil], "%!s(<nil>)"),
            ("%v", vec![Value::Nil], "<nil>"),
            ("%d", vec![], "%!d(MISSING)"),
            (
                "%5v|%-4v|%05d|%05v",
                vec![list(), map(), i(-42), f(3.0)],
                "[    1   two <nil>]|map[a   :1    b   :map[c   :x   ]]|-0042|00003",
            ),
            (
                "%6.2v|%.3v|%10v|%v|%v",
                vec![f(1.23456), s("abcdef"), Value::Bool(true), f(-2.5), f(1e6)],
                "   1.2|abc|      true|-2.5|1e+06",
            ),
            (
                "%[1]*d|%[2]d|%[5]d",
                vec![i(4), i(7)],
                "   7|7|%!d(BADINDEX)",
            ),
            (
                "%.3d|%.0d|%5.0d|%+.3d|%08.3d|%-08d|%x|%X",
                vec![i(7), i(0), i(0), i(7), i(7), i(7), s("Hello"), i(-255)],
                "007||     |+007|     007|7       |48656c6c6f|-FF",
            ),
            (
                "%c|%c|%q|%U",
                vec![i(-1), i(1114112), i(-1), i(-1)],
                "\u{fffd}|\u{fffd}|'\u{fffd}'|U+FFFFFFFFFFFFFFFF",
            ),
            (
                "%v|%05v|%+v|% v|%v",
                vec![f(1e20), f(-1.5), f(1.5), f(1.5), f(1e-5)],
                "1e+20|-01.5|1.5| 1.5|1e-05",
            ),
            (
                "%08.3e|%#.0f|%#.0e|%#x|%#v",
                vec![
                    f(1234.5),
                    f(3.0),
                    f(3.0),
                    f(255.0),
                    Value::from(vec![i(1), s("a"), Value::Nil]),
                ],
                "1.234e+03|3.|3.e+00|0x1.fe00p+07|[]interface {}{1, \"a\", interface {}(nil)}",
            ),
            ("100%%|%5%|%-3d|", vec![i(1)], "100%|%|1  |"),
            ("héllo %s wörld", vec![s("ü")], "héllo ü wörld"),
            ("%é", vec![i(1)], "%!é(int=1)"),
        ];
        for (format, args, want) in cases {
            assert_eq!(sprintf(format, &args), want, "format {format:?}");
        }
    }

    #[test]
    fn huge_floats_print_every_digit_with_f() {
        let out = sprintf("%f", &[Value::Float(1e300)]);
        assert!(out.starts_with("1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160.000000"));
    }

    #[test]
    fn non_finite_floats() {
        let args = [
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
            Value::Float(f64::NAN),
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
        ];
        assert_eq!(
            sprintf("%v|%f|%v|%+v|%06v", &args),
            "+Inf|-Inf|NaN|NaN|  +Inf"
        );
    }

    #[test]
    fn format_float_matches_strconv() {
        for (x, fmt, prec, want) in [
            (1e6, 'g', -1, "1e+06"),
            (123456.0, 'g', -1, "123456"),
            (0.0001, 'g', -1, "0.0001"),
            (0.00001, 'g', -1, "1e-05"),
            (1.5, 'e', -1, "1.5e+00"),
            (1.5, 'f', -1, "1.5"),
            (1e21, 'f', -1, "1000000000000000000000"),
            (123.456, 'g', 2, "1.2e+02"),
            (123.456, 'g', 4, "123.5"),
            (0.0, 'g', 3, "0"),
            (-0.0, 'g', -1, "-0"),
            (1e100, 'e', 2, "1.00e+100"),
            (100.0, 'G', 2, "1E+02"),
        ] {
            assert_eq!(format_float(x, fmt, prec), want, "{x} {fmt} {prec}");
        }
    }

    #[test]
    fn quote_matches_strconv() {
        for (input, want) in [
            ("plain", "\"plain\""),
            ("tab\there", "\"tab\\there\""),
            ("\u{1}\u{7f}", "\"\\x01\\x7f\""),
            ("nbsp\u{a0}zwsp\u{200b}", "\"nbsp\\u00a0zwsp\\u200b\""),
            ("back\\slash 'single'", "\"back\\\\slash 'single'\""),
            ("日本", "\"日本\""),
        ] {
            assert_eq!(quote(input), want);
        }
    }

    #[test]
    fn sprint_spaces_only_between_non_strings() {
        let args = [
            Value::Int(1),
            Value::Int(2),
            Value::str("a"),
            Value::Int(3),
            Value::str("b"),
        ];
        assert_eq!(sprint(&args), "1 2a3b");
        assert_eq!(sprintln(&args), "1 2 a 3 b\n");
        assert_eq!(sprint(&[Value::Float(1e6), Value::Nil]), "1e+06 <nil>");
    }
}
