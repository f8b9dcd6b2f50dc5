//! A YAML emitter that writes what go-yaml writes, byte for byte.
//!
//! Helm's `toYaml` is `sigs.k8s.io/yaml.Marshal`: the value goes through `encoding/json`, is read
//! back by go-yaml v2 and emitted by go-yaml v2's port of libyaml. `toYamlPretty` encodes the
//! value directly with go-yaml v3 and an indent of two. Both emitters decide a scalar's style
//! (plain, single-quoted, double-quoted, literal block) from the same analysis of its characters,
//! fold long plain and quoted lines at 80 columns (v2 only), and track the same column,
//! whitespace and indentation state; this module ports that state machine for the block styles
//! those encoders produce, so quoting, folding and indentation match exactly.

use crate::value::{Value, format_float_g};

/// Which go-yaml encoder to imitate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `sigs.k8s.io/yaml`: JSON round trip, go-yaml v2, sequences not indented under keys,
    /// lines folded at 80 columns.
    HelmV2,
    /// go-yaml v3 with `SetIndent(2)`: sequences indented, no folding.
    PrettyV3,
}

/// A value reduced to what the YAML encoder sees.
#[derive(Debug, Clone)]
enum Node {
    /// A scalar written plain as is: null, booleans, numbers.
    Raw(String),
    /// A string, quoted as the encoder decides.
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

/// Encodes `value` as a YAML document the way the dialect's encoder does, with the final
/// newline. Errors are the encoder's (values JSON cannot carry, characters YAML cannot read).
pub(crate) fn emit(value: &Value, dialect: Dialect) -> Result<String, String> {
    let node = to_node(value, dialect, 0)?;
    let mut e = Emitter::new(dialect);
    e.node(&node, Ctx::Root);
    e.indent = 0;
    e.write_indent();
    Ok(e.out)
}

const MAX_DEPTH: usize = 10_000;

fn to_node(value: &Value, dialect: Dialect, depth: usize) -> Result<Node, String> {
    if depth > MAX_DEPTH {
        return Err("json: unsupported value: encountered a cycle".to_owned());
    }
    Ok(match value {
        Value::Nil => Node::Raw("null".to_owned()),
        Value::Bool(b) => Node::Raw(b.to_string()),
        Value::Int(i) | Value::Int64(i) => Node::Raw(i.to_string()),
        Value::Float(x) => Node::Raw(float_text(*x, dialect)?),
        Value::Str(s) => Node::Str(string_text(s, dialect)?),
        Value::List(items) => Node::Seq(
            items
                .iter()
                .map(|v| to_node(v, dialect, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => {
            let mut entries = Vec::with_capacity(m.len());
            for (k, v) in m.entries() {
                entries.push((string_text(&k, dialect)?, to_node(&v, dialect, depth + 1)?));
            }
            let mut entries = merge_sort(entries, |a, b| key_less(&a.0, &b.0));
            if dialect == Dialect::HelmV2 {
                // Folding a NEL can make two keys equal; the JSON object keeps the last.
                entries.dedup_by(|later, earlier| later.0 == earlier.0);
            }
            Node::Map(entries)
        }
        Value::Object(o) => to_node(&o.plain(), dialect, depth + 1)?,
    })
}

/// A float as the encoder prints it. v2 sees the number `encoding/json` wrote: integral values
/// that fit a 64-bit integer come back as integers (`1e+06` prints `1000000`).
fn float_text(x: f64, dialect: Dialect) -> Result<String, String> {
    match dialect {
        Dialect::HelmV2 => {
            if !x.is_finite() {
                return Err(format!("json: unsupported value: {}", format_float_g(x)));
            }
            if x.fract() == 0.0 && x.abs() < 1e21 {
                #[allow(clippy::cast_possible_truncation)]
                let i = x as i128;
                if (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&i) {
                    return Ok(i.to_string());
                }
            }
            Ok(format_float_g(x))
        }
        Dialect::PrettyV3 => Ok(match format_float_g(x).as_str() {
            "+Inf" => ".inf".to_owned(),
            "-Inf" => "-.inf".to_owned(),
            "NaN" => ".nan".to_owned(),
            s => s.to_owned(),
        }),
    }
}

/// A string as the encoder receives it. v2 reads it back from JSON: go-yaml refuses some
/// characters `encoding/json` leaves raw, and folds a raw NEL as a line break.
fn string_text(s: &str, dialect: Dialect) -> Result<String, String> {
    if dialect == Dialect::PrettyV3 {
        return Ok(s.to_owned());
    }
    if s.chars()
        .any(|c| matches!(c, '\u{7f}'..='\u{84}' | '\u{86}'..='\u{9f}' | '\u{fffe}' | '\u{ffff}'))
    {
        return Err("yaml: control characters are not allowed".to_owned());
    }
    if !s.contains('\u{85}') {
        return Ok(s.to_owned());
    }
    // A double-quoted scalar folds line breaks: blanks around them go, one break becomes a
    // space, n breaks become n-1 newlines.
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        if c == ' ' || c == '\u{85}' {
            let mut j = i;
            let mut breaks = 0usize;
            while let Some(&d) = chars.get(j) {
                match d {
                    ' ' => {}
                    '\u{85}' => breaks += 1,
                    _ => break,
                }
                j += 1;
            }
            if breaks == 0 {
                chars
                    .get(i..j)
                    .into_iter()
                    .flatten()
                    .for_each(|&d| out.push(d));
            } else if breaks == 1 {
                out.push(' ');
            } else {
                (1..breaks).for_each(|_| out.push('\n'));
            }
            i = j;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// A stable merge sort that tolerates comparators that are not total orders (go-yaml's key
/// order is not, for some keys that mix digits and letters), so it never panics.
fn merge_sort<T: Clone>(items: Vec<T>, less: impl Fn(&T, &T) -> bool + Copy) -> Vec<T> {
    if items.len() <= 1 {
        return items;
    }
    let mid = items.len() / 2;
    let mut left = items;
    let right = left.split_off(mid);
    let left = merge_sort(left, less);
    let right = merge_sort(right, less);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut li = left.into_iter().peekable();
    let mut ri = right.into_iter().peekable();
    loop {
        match (li.peek(), ri.peek()) {
            (Some(l), Some(r)) => {
                if less(r, l) {
                    out.extend(ri.next());
                } else {
                    out.extend(li.next());
                }
            }
            (Some(_), None) => out.extend(li.next()),
            (None, Some(_)) => out.extend(ri.next()),
            (None, None) => break,
        }
    }
    out
}

/// go-yaml's key order: letters after other characters, runs of digits compared as numbers.
fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut digits = false;
    for (i, (&ac, &bc)) in ar.iter().zip(br.iter()).enumerate() {
        if ac == bc {
            digits = ac.is_ascii_digit();
            continue;
        }
        let al = ac.is_alphabetic();
        let bl = bc.is_alphabetic();
        if al && bl {
            return ac < bc;
        }
        if al || bl {
            return if digits { al } else { bl };
        }
        let mut an: i64 = 0;
        let mut bn: i64 = 0;
        if ac == '0' || bc == '0' {
            let mut j = i;
            while j > 0 {
                j -= 1;
                match ar.get(j) {
                    Some(&c) if c.is_ascii_digit() => {
                        if c != '0' {
                            an = 1;
                            bn = 1;
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
        let mut ai = i;
        while let Some(&c) = ar.get(ai).filter(|c| c.is_ascii_digit()) {
            an = an.wrapping_mul(10).wrapping_add(i64::from(c as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while let Some(&c) = br.get(bi).filter(|c| c.is_ascii_digit()) {
            bn = bn.wrapping_mul(10).wrapping_add(i64::from(c as u8 - b'0'));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ac < bc;
    }
    ar.len() < br.len()
}

// ---------------------------------------------------------------------------------------------
// Scalar resolution: would a plain scalar read back as something other than a string?

/// Whether go-yaml would read `s`, written plain, as a string.
fn resolves_to_str(s: &str, dialect: Dialect) -> bool {
    const NON_STR: &[&str] = &[
        "true", "True", "TRUE", "false", "False", "FALSE", "", "~", "null", "Null", "NULL", ".nan",
        ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
        "-.INF",
    ];
    const OLD_BOOLS: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off",
        "OFF",
    ];
    if NON_STR.contains(&s) || OLD_BOOLS.contains(&s) {
        // v3 reads the YAML 1.1 booleans as strings but quotes them all the same.
        return false;
    }
    let _ = dialect;
    let Some(first) = s.bytes().next() else {
        return false;
    };
    match first {
        b'.' => go_parse_float(s).is_none(),
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return false;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if crate::goyaml::go_integer(&plain).is_some() {
                return false;
            }
            if crate::goyaml::is_float_syntax(&plain) && go_parse_float(&plain).is_some() {
                return false;
            }
            if let Some(rest) = plain
                .strip_prefix("0b")
                .or_else(|| plain.strip_prefix("-0b"))
                && !rest.is_empty()
                && rest.bytes().all(|b| b == b'0' || b == b'1')
            {
                return false;
            }
            !is_base60_float(s)
        }
        _ => true,
    }
}

/// Go's `strconv.ParseFloat` for decimal spellings, finite results only.
fn go_parse_float(s: &str) -> Option<f64> {
    let body = s.trim_start_matches(['+', '-']);
    if body.len() + 1 < s.len() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return None;
    }
    if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
        return false;
    }
    while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while b.get(i) == Some(&b':') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) && i - start < 2 {
            i += 1;
        }
        match i - start {
            1 => {}
            2 => {
                if !b.get(start).is_some_and(|c| (b'0'..=b'5').contains(c)) {
                    return false;
                }
            }
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// go-yaml's timestamp check: `YYYY-M-D`, optionally with a time, as Go's `time.Parse`
/// accepts it in the layouts go-yaml tries.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b.iter().take(4).all(u8::is_ascii_digit) || b.get(4) != Some(&b'-') {
        return false;
    }
    let mut i = 5;
    let num = |i: &mut usize, max_len: usize| -> Option<u32> {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) && *i - start < max_len {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        s.get(start..*i)?.parse().ok()
    };
    let Some(month) = num(&mut i, 2) else {
        return false;
    };
    if b.get(i) != Some(&b'-') {
        return false;
    }
    i += 1;
    let Some(day) = num(&mut i, 2) else {
        return false;
    };
    let year: i32 = s.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    // A time follows: `T`, `t` or a space, then H:M:S, fraction, zone.
    let sep = b.get(i).copied();
    if !matches!(sep, Some(b'T' | b't' | b' ')) {
        return false;
    }
    i += 1;
    let (Some(h), true, Some(m), true, Some(sec)) = (
        num(&mut i, 2),
        b.get(i) == Some(&b':') && {
            i += 1;
            true
        },
        num(&mut i, 2),
        b.get(i) == Some(&b':') && {
            i += 1;
            true
        },
        num(&mut i, 2),
    ) else {
        return false;
    };
    if h > 23 || m > 59 || sec > 59 {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if i == b.len() {
        return sep == Some(b' ');
    }
    if sep == Some(b' ') {
        return false;
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            let zone = s.get(i + 1..).unwrap_or("");
            let zb = zone.as_bytes();
            zb.len() == 5
                && zb.get(2) == Some(&b':')
                && zb
                    .iter()
                    .enumerate()
                    .all(|(k, c)| k == 2 || c.is_ascii_digit())
        }
        _ => false,
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar analysis and style selection (libyaml's `analyze_scalar` and `select_scalar_style`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

#[derive(Debug, Default)]
struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    let c = u32::from(c);
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_whitespace = next.is_none_or(|d| d == ' ' || d == '\t' || is_break(d));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            leading_space |= i == 0;
            trailing_space |= i + 1 == n;
            break_space |= previous_break;
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            leading_break |= i == 0;
            trailing_break |= i + 1 == n;
            space_break |= previous_space;
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

// ---------------------------------------------------------------------------------------------
// The emitter proper.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Root,
    Sequence,
    /// A mapping value.
    Mapping,
    /// A mapping key short enough to write inline.
    SimpleKey,
}

#[derive(Debug)]
struct Emitter {
    dialect: Dialect,
    out: String,
    column: usize,
    indent: i64,
    whitespace: bool,
    indention: bool,
    best_width: usize,
}

impl Emitter {
    fn new(dialect: Dialect) -> Emitter {
        Emitter {
            dialect,
            out: String::new(),
            column: 0,
            indent: -1,
            whitespace: true,
            indention: true,
            best_width: if dialect == Dialect::HelmV2 {
                80
            } else {
                usize::MAX
            },
        }
    }

    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn write_indent(&mut self) {
        let indent = usize::try_from(self.indent.max(0)).unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in indicator.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) -> i64 {
        let saved = self.indent;
        if self.indent < 0 {
            self.indent = if flow { 2 } else { 0 };
        } else if !indentless {
            self.indent += 2;
        }
        saved
    }

    fn node(&mut self, node: &Node, ctx: Ctx) {
        match node {
            Node::Raw(text) => self.scalar(text, Style::Plain, ctx),
            Node::Str(s) => {
                let requested = if s.contains('\n') {
                    Style::Literal
                } else if resolves_to_str(s, self.dialect) {
                    Style::Plain
                } else {
                    Style::Double
                };
                self.scalar(s, requested, ctx);
            }
            Node::Seq(items) if items.is_empty() => {
                self.write_indicator("[", true, true, false);
                self.write_indicator("]", false, false, false);
            }
            Node::Map(entries) if entries.is_empty() => {
                self.write_indicator("{", true, true, false);
                self.write_indicator("}", false, false, false);
            }
            Node::Seq(items) => {
                let indentless =
                    self.dialect == Dialect::HelmV2 && ctx == Ctx::Mapping && !self.indention;
                let saved = self.increase_indent(false, indentless);
                for item in items {
                    self.write_indent();
                    self.write_indicator("-", true, false, true);
                    self.node(item, Ctx::Sequence);
                }
                self.indent = saved;
            }
            Node::Map(entries) => {
                let saved = self.increase_indent(false, false);
                for (key, value) in entries {
                    self.write_indent();
                    let key_node = Node::Str(key.clone());
                    if self.is_simple_key(key) {
                        self.node(&key_node, Ctx::SimpleKey);
                        self.write_indicator(":", false, false, false);
                    } else {
                        self.write_indicator("?", true, false, true);
                        self.node(&key_node, Ctx::Mapping);
                        self.write_indent();
                        self.write_indicator(":", true, false, true);
                    }
                    self.node(value, Ctx::Mapping);
                }
                self.indent = saved;
            }
        }
    }

    fn is_simple_key(&self, key: &str) -> bool {
        !key.chars().any(is_break) && key.len() <= 128
    }

    fn scalar(&mut self, value: &str, requested: Style, ctx: Ctx) {
        let a = analyze(value);
        let simple_key = ctx == Ctx::SimpleKey;
        let mut style = requested;
        if simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain_allowed || (value.is_empty() && simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted_allowed {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block_allowed || simple_key) {
            style = Style::Double;
        }
        let saved = self.increase_indent(true, false);
        match style {
            Style::Plain => self.write_plain(value, !simple_key),
            Style::Single => self.write_single(value, !simple_key),
            Style::Double => self.write_double(value, !simple_key),
            Style::Literal => self.write_literal(value),
        }
        self.indent = saved;
    }

    fn write_plain(&mut self, value: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.whitespace = false;
        self.indention = false;
    }

    fn write_single(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("'", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let last = chars.len().saturating_sub(1);
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && i != 0
                    && i != last
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
        self.write_indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_double(&mut self, value: &str, allow_breaks: bool) {
        self.write_indicator("\"", true, false, false);
        // go-yaml checks for a byte order mark at the start of the value at every position.
        let starts_with_bom = value.starts_with('\u{feff}');
        let chars: Vec<char> = value.chars().collect();
        let last_byte = value.len().saturating_sub(1);
        let mut byte = 0usize;
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            let at = byte;
            byte += c.len_utf8();
            if !is_printable(c) || starts_with_bom || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                match c {
                    '\0' => self.put('0'),
                    '\u{07}' => self.put('a'),
                    '\u{08}' => self.put('b'),
                    '\t' => self.put('t'),
                    '\n' => self.put('n'),
                    '\u{0b}' => self.put('v'),
                    '\u{0c}' => self.put('f'),
                    '\r' => self.put('r'),
                    '\u{1b}' => self.put('e'),
                    '"' => self.put('"'),
                    '\\' => self.put('\\'),
                    '\u{85}' => self.put('N'),
                    '\u{a0}' => self.put('_'),
                    '\u{2028}' => self.put('L'),
                    '\u{2029}' => self.put('P'),
                    _ => {
                        let v = u32::from(c);
                        let (letter, width) = if v <= 0xFF {
                            ('x', 2)
                        } else if v <= 0xFFFF {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(letter);
                        for k in (0..width).rev() {
                            let digit = (v >> (k * 4)) & 0xF;
                            self.put(
                                char::from_digit(digit, 16).map_or('0', |d| d.to_ascii_uppercase()),
                            );
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > self.best_width
                    && at != 0
                    && at != last_byte
                {
                    self.write_indent();
                    if chars.get(i + 1) == Some(&' ') {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.write_indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_literal(&mut self, value: &str) {
        self.write_indicator("|", true, false, false);
        if value.starts_with(' ') || value.starts_with(is_break) {
            self.write_indicator("2", false, false, false);
        }
        let mut rev = value.chars().rev();
        let chomp = match (rev.next(), rev.next()) {
            (Some(last), _) if !is_break(last) => Some("-"),
            (Some(_), None) => Some("+"),
            (Some(_), Some(prev)) if is_break(prev) => Some("+"),
            (None, _) => Some("-"),
            _ => None,
        };
        if let Some(chomp) = chomp {
            self.write_indicator(chomp, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for c in value.chars() {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_go_yaml() {
        let keys = [
            "a10", "a9", "_a", "B", "a", "1", "10", "2", "ä", "a-b", "ab",
        ];
        let mut v: Vec<String> = keys.iter().map(|s| (*s).to_owned()).collect();
        v.sort();
        let sorted = merge_sort(v, |a, b| key_less(a, b));
        assert_eq!(
            sorted,
            [
                "_a", "1", "2", "10", "B", "a", "a-b", "a9", "a10", "ab", "ä"
            ]
        );
    }

    #[test]
    fn plain_resolution_follows_yaml_1_1() {
        for (s, is_str) in [
            ("1:60", true),
            ("1:59", false),
            ("2024-13-45", true),
            ("2024-1-2", false),
            ("2024-01-02T10:00:00Z", false),
            ("1_000", false),
            ("1__0", false),
            ("_1", true),
            ("0x", true),
            ("08", false),
            ("1e", true),
            (".", true),
            ("+", true),
            ("0b101", false),
            ("Infinity", true),
        ] {
            assert_eq!(resolves_to_str(s, Dialect::HelmV2), is_str, "{s}");
        }
    }
}
