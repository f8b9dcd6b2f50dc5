//! Go's `strconv` quoting as templates meet it: `Unquote` for string and character constants,
//! `Quote` (`%q`) for names and texts in error messages, and `IsPrint`.

/// Go's `strconv.ErrSyntax`.
pub(crate) const INVALID_SYNTAX: &str = "invalid syntax";

/// Go's `strconv.IsPrint`, without Unicode's tables for unassigned code points: letters, marks,
/// numbers, punctuation, symbols and the ASCII space are printable; controls, other spaces,
/// format characters and private use are not.
pub(crate) fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    !matches!(c,
        '\u{ad}'
        | '\u{600}'..='\u{605}'
        | '\u{61c}'
        | '\u{6dd}'
        | '\u{70f}'
        | '\u{8e2}'
        | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{fffe}'
        | '\u{ffff}'
        | '\u{110bd}'
        | '\u{110cd}'
        | '\u{13430}'..='\u{1343f}'
        | '\u{1bca0}'..='\u{1bca3}'
        | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0001}'
        | '\u{e0020}'..='\u{e007f}'
        | '\u{e000}'..='\u{f8ff}'
        | '\u{f0000}'..='\u{ffffd}'
        | '\u{100000}'..='\u{10fffd}')
}

/// Go's `strconv.Quote` (what `%q` prints for a string).
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, c: char, quote: char) {
    use std::fmt::Write as _;
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if (c as u32) < 0x20 || c == '\x7f' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// Go's `%#U` of a rune: `U+0001`, or `U+00E9 'é'` when printable.
pub(crate) fn go_rune_u(c: char) -> String {
    if is_print(c) {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// Go's `%.10q` of a string: at most ten runes, quoted.
pub(crate) fn go_quote_prefix(s: &str, runes: usize) -> String {
    let end = s.char_indices().nth(runes).map_or(s.len(), |(i, _)| i);
    go_quote(s.get(..end).unwrap_or(s))
}

/// One unit decoded by [`unquote_char`]: a rune, or a raw byte from `\x` or octal escapes.
enum Unit {
    Rune(char),
    Byte(u8),
}

/// Go's `strconv.UnquoteChar`: the first character of `s` (which may be an escape), and the
/// rest.
fn unquote_char(s: &str, quote: u8) -> Result<(Unit, &str), &'static str> {
    let bytes = s.as_bytes();
    let Some(&c) = bytes.first() else {
        return Err(INVALID_SYNTAX);
    };
    if c == quote && (quote == b'\'' || quote == b'"') {
        return Err(INVALID_SYNTAX);
    }
    if c != b'\\' {
        let ch = s.chars().next().ok_or(INVALID_SYNTAX)?;
        return Ok((Unit::Rune(ch), s.get(ch.len_utf8()..).unwrap_or("")));
    }
    let Some(&e) = bytes.get(1) else {
        return Err(INVALID_SYNTAX);
    };
    let rest = s.get(2..).ok_or(INVALID_SYNTAX)?;
    let simple = |c: char| Ok((Unit::Rune(c), rest));
    match e {
        b'a' => simple('\x07'),
        b'b' => simple('\x08'),
        b'f' => simple('\x0c'),
        b'n' => simple('\n'),
        b'r' => simple('\r'),
        b't' => simple('\t'),
        b'v' => simple('\x0b'),
        b'\\' => simple('\\'),
        b'\'' | b'"' => {
            if e != quote {
                return Err(INVALID_SYNTAX);
            }
            simple(e as char)
        }
        b'x' | b'u' | b'U' => {
            let n = match e {
                b'x' => 2,
                b'u' => 4,
                _ => 8,
            };
            let digits = rest.get(..n).ok_or(INVALID_SYNTAX)?;
            if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(INVALID_SYNTAX);
            }
            let v = u32::from_str_radix(digits, 16).map_err(|_| INVALID_SYNTAX)?;
            let rest = rest.get(n..).unwrap_or("");
            if e == b'x' {
                let b = u8::try_from(v).map_err(|_| INVALID_SYNTAX)?;
                return Ok((Unit::Byte(b), rest));
            }
            let ch = char::from_u32(v).ok_or(INVALID_SYNTAX)?;
            Ok((Unit::Rune(ch), rest))
        }
        b'0'..=b'7' => {
            let digits = rest.get(..2).ok_or(INVALID_SYNTAX)?;
            let mut v = u32::from(e - b'0');
            for d in digits.bytes() {
                if !(b'0'..=b'7').contains(&d) {
                    return Err(INVALID_SYNTAX);
                }
                v = (v << 3) | u32::from(d - b'0');
            }
            let b = u8::try_from(v).map_err(|_| INVALID_SYNTAX)?;
            Ok((Unit::Byte(b), rest.get(2..).unwrap_or("")))
        }
        _ => Err(INVALID_SYNTAX),
    }
}

/// Go's `strconv.Unquote` of a string constant (`"..."` or `` `...` ``). Bytes that do not
/// form UTF-8 (from `\x` or octal escapes) become U+FFFD, as a Rust string must be UTF-8.
pub(crate) fn unquote(quoted: &str) -> Result<String, &'static str> {
    let bytes = quoted.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return Err(INVALID_SYNTAX);
    };
    if bytes.len() < 2 {
        return Err(INVALID_SYNTAX);
    }
    let inner = quoted.get(1..quoted.len() - 1).ok_or(INVALID_SYNTAX)?;
    if first != last {
        return Err(INVALID_SYNTAX);
    }
    match first {
        b'`' => {
            if inner.contains('`') {
                return Err(INVALID_SYNTAX);
            }
            Ok(inner.replace('\r', ""))
        }
        b'"' => {
            if inner.contains('\n') {
                return Err(INVALID_SYNTAX);
            }
            if !inner.contains(['\\', '"']) {
                return Ok(inner.to_owned());
            }
            let mut buf: Vec<u8> = Vec::with_capacity(inner.len());
            let mut rest = inner;
            while !rest.is_empty() {
                let (unit, tail) = unquote_char(rest, b'"')?;
                match unit {
                    Unit::Rune(c) => {
                        let mut tmp = [0u8; 4];
                        buf.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                    }
                    Unit::Byte(b) => buf.push(b),
                }
                rest = tail;
            }
            Ok(match String::from_utf8(buf) {
                Ok(s) => s,
                Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
            })
        }
        _ => Err(INVALID_SYNTAX),
    }
}

/// A character constant `'x'`: its rune, or Go's error text.
pub(crate) fn unquote_rune(text: &str) -> Result<u32, String> {
    let inner = text.get(1..).ok_or_else(|| INVALID_SYNTAX.to_owned())?;
    let (unit, tail) = unquote_char(inner, b'\'').map_err(str::to_owned)?;
    if tail != "'" {
        return Err(format!("malformed character constant: {text}"));
    }
    Ok(match unit {
        Unit::Rune(c) => c as u32,
        Unit::Byte(b) => u32::from(b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_as_go_does() {
        assert_eq!(
            go_quote("a\"b\\c\n\t\u{1}é\u{2028}"),
            r#""a\"b\\c\n\t\x01é\u2028""#
        );
        assert_eq!(
            go_quote_prefix("\"abcdefghijklmn\"", 10),
            r#""\"abcdefghi""#
        );
        assert_eq!(go_rune_u('\u{1}'), "U+0001");
        assert_eq!(go_rune_u('→'), "U+2192 '→'");
    }

    #[test]
    fn unquotes_as_go_does() {
        assert_eq!(
            unquote(r#""a\tb\x41\101\u00e9\"""#).as_deref(),
            Ok("a\tbAAé\"")
        );
        assert_eq!(unquote("`a\\n\r`").as_deref(), Ok("a\\n"));
        assert_eq!(unquote(r#""\'""#), Err(INVALID_SYNTAX));
        assert_eq!(unquote(r#""\q""#), Err(INVALID_SYNTAX));
        assert_eq!(unquote_rune("'a'"), Ok(97));
        assert_eq!(unquote_rune(r"'\n'"), Ok(10));
        assert_eq!(unquote_rune(r"'\''"), Ok(39));
        assert_eq!(
            unquote_rune("'ab'").unwrap_err(),
            "malformed character constant: 'ab'"
        );
        assert_eq!(unquote_rune("''").unwrap_err(), INVALID_SYNTAX);
    }
}
