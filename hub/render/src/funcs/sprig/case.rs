//! Letter case as Go's `unicode` package and the libraries behind Sprig see it: single-rune
//! case mappings, Go's character classes, `strings.Title`, goutils' `SwapCase` and
//! `Uncapitalize`, and xstrings' `ToSnakeCase`, `ToKebabCase` and `ToPascalCase`
//! (Sprig's `snakecase`, `kebabcase` and `camelcase`).

/// Go's `unicode.ToUpper`: the simple (one-rune) mapping, so `ß` stays `ß`.
pub(super) fn to_upper(c: char) -> char {
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Go's `unicode.ToLower`.
pub(super) fn to_lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Go's `unicode.ToTitle`: upper case, except the four Latin digraphs with title forms.
pub(super) fn to_title(c: char) -> char {
    match c {
        'Ǆ' | 'ǅ' | 'ǆ' => 'ǅ',
        'Ǉ' | 'ǈ' | 'ǉ' => 'ǈ',
        'Ǌ' | 'ǋ' | 'ǌ' => 'ǋ',
        'Ǳ' | 'ǲ' | 'ǳ' => 'ǲ',
        _ => to_upper(c),
    }
}

/// Go's `unicode.IsUpper` (category Lu).
pub(super) fn is_upper(c: char) -> bool {
    c.is_uppercase()
        && !matches!(u32::from(c), 0x2160..=0x216F | 0x24B6..=0x24CF | 0x1F130..=0x1F189)
}

/// Go's `unicode.IsLower` (category Ll).
pub(super) fn is_lower(c: char) -> bool {
    c.is_lowercase()
        && !matches!(u32::from(c),
            0xAA | 0xBA | 0x2B0..=0x2B8 | 0x2C0..=0x2C1 | 0x2E0..=0x2E4 | 0x345 | 0x37A
            | 0x1D2C..=0x1D6A | 0x1D78 | 0x1D9B..=0x1DBF | 0x2071 | 0x207F | 0x2090..=0x209C
            | 0x2170..=0x217F | 0x24D0..=0x24E9 | 0x2C7C..=0x2C7D | 0xA69C..=0xA69D | 0xA770
            | 0xA7F8..=0xA7F9 | 0xAB5C..=0xAB5F)
}

/// Go's `unicode.IsTitle` (category Lt).
fn is_title(c: char) -> bool {
    matches!(u32::from(c),
        0x1C5 | 0x1C8 | 0x1CB | 0x1F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF
        | 0x1FBC | 0x1FCC | 0x1FFC)
}

/// Go's `unicode.IsLetter`.
pub(super) fn is_letter(c: char) -> bool {
    c.is_alphabetic() && !c.is_numeric()
}

/// Go's `unicode.IsSpace`.
pub(super) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `unicode.IsPunct`: ASCII punctuation (not symbols such as `$+<=>^|~`), Latin-1 and the
/// common Unicode punctuation blocks.
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation()
            && !matches!(c, '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~');
    }
    matches!(u32::from(c),
        0xA1 | 0xA7 | 0xAB | 0xB6 | 0xB7 | 0xBB | 0xBF | 0x37E | 0x387 | 0x55A..=0x55F
        | 0x589..=0x58A | 0x5BE | 0x5C0 | 0x5C3 | 0x5C6 | 0x5F3..=0x5F4 | 0x609..=0x60A
        | 0x60C..=0x60D | 0x61B | 0x61D..=0x61F | 0x66A..=0x66D | 0x6D4 | 0x964..=0x965 | 0x970
        | 0x2010..=0x2027 | 0x2030..=0x2043 | 0x2045..=0x2051 | 0x2053..=0x205E
        | 0x207D..=0x207E | 0x208D..=0x208E | 0x2308..=0x230B | 0x2329..=0x232A
        | 0x2768..=0x2775 | 0x27C5..=0x27C6 | 0x27E6..=0x27EF | 0x2983..=0x2998
        | 0x29D8..=0x29DB | 0x29FC..=0x29FD | 0x2CF9..=0x2CFC | 0x2CFE..=0x2CFF | 0x2E00..=0x2E4F
        | 0x3001..=0x3003 | 0x3008..=0x3011 | 0x3014..=0x301F | 0x3030 | 0x303D | 0x30A0 | 0x30FB
        | 0xFE10..=0xFE19 | 0xFE30..=0xFE52 | 0xFE54..=0xFE61 | 0xFE63 | 0xFE68 | 0xFE6A..=0xFE6B
        | 0xFF01..=0xFF03 | 0xFF05..=0xFF0A | 0xFF0C..=0xFF0F | 0xFF1A..=0xFF1B | 0xFF1F..=0xFF20
        | 0xFF3B..=0xFF3D | 0xFF3F | 0xFF5B | 0xFF5D | 0xFF5F..=0xFF65)
}

/// `strings.Title`: the first letter of every word in title case. Words start after anything
/// that is not an ASCII letter, digit or underscore, a letter, or a digit (spaces, `-`, `'`).
pub(super) fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_title_separator(prev) {
                to_title(c)
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

fn is_title_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if is_letter(c) || c.is_numeric() {
        return false;
    }
    is_space(c)
}

/// goutils' `Uncapitalize`: the first letter of every whitespace-separated word in lower case.
pub(super) fn untitle(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if is_space(c) {
                next = true;
                c
            } else if next {
                next = false;
                to_lower(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils' `SwapCase`: upper to lower, lower to upper, except that a lower-case letter that
/// starts a word becomes title case.
pub(super) fn swapcase(s: &str) -> String {
    let mut whitespace = true;
    s.chars()
        .map(|c| {
            if is_upper(c) || is_title(c) {
                whitespace = false;
                to_lower(c)
            } else if is_lower(c) {
                if whitespace {
                    whitespace = false;
                    to_title(c)
                } else {
                    to_upper(c)
                }
            } else {
                whitespace = is_space(c);
                c
            }
        })
        .collect()
}

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || is_space(c)
}

/// xstrings' `isAlphabet`: a letter, but not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    if !is_letter(c) {
        return false;
    }
    !matches!(u32::from(c), 0x4E00..=0x9FCC | 0x3400..=0x4D85 | 0x20000..=0x2B81D)
}

/// xstrings' `ToPascalCase` (Sprig's `camelcase`): `http_server` becomes `HttpServer`.
pub(super) fn camelcase(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    let mut first_upper = false;
    let mut r0 = None;
    for c in chars.by_ref() {
        if !is_connector(c) {
            first_upper = is_upper(c);
            r0 = Some(to_upper(c));
            break;
        }
        out.push(c);
        r0 = Some(c);
    }
    let Some(mut r0) = r0 else {
        return out;
    };
    let mut rest = chars.peekable();
    if rest.peek().is_none() {
        out.push(r0);
        return out;
    }
    for c in rest {
        let r1 = r0;
        r0 = c;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = is_upper(r0);
            r0 = to_upper(r0);
        } else {
            if first_upper {
                if is_upper(r0) {
                    r0 = to_lower(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Invalid,
    Number,
    Upper,
    Alphabet,
    Connector,
    Punct,
    Other,
}

/// xstrings' `nextWord`: the next run of one kind of character.
fn next_word(s: &str) -> (Word, &str, &str) {
    let mut chars = s.char_indices().peekable();
    let Some((_, first)) = chars.next() else {
        return (Word::Invalid, "", "");
    };
    let mut end = first.len_utf8();
    let extend_while = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
                        end: &mut usize,
                        keep: &dyn Fn(char) -> bool| {
        while let Some(&(i, c)) = chars.peek() {
            if !keep(c) {
                break;
            }
            *end = i + c.len_utf8();
            chars.next();
        }
    };
    let kind = if is_connector(first) {
        extend_while(&mut chars, &mut end, &is_connector);
        Word::Connector
    } else if is_punct(first) {
        extend_while(&mut chars, &mut end, &is_punct);
        Word::Punct
    } else if is_upper(first) {
        match chars.peek().copied() {
            Some((i, c)) if is_upper(c) => {
                end = i + c.len_utf8();
                let mut last_size = c.len_utf8();
                chars.next();
                while let Some(&(i, c)) = chars.peek() {
                    if !is_upper(c) {
                        break;
                    }
                    end = i + c.len_utf8();
                    last_size = c.len_utf8();
                    chars.next();
                }
                // "HTTPServer": the last capital starts the next word.
                if chars.peek().is_some_and(|&(_, c)| is_alphabet(c)) {
                    end -= last_size;
                }
            }
            Some((i, c)) if is_alphabet(c) => {
                end = i + c.len_utf8();
                chars.next();
                extend_while(&mut chars, &mut end, &|c| is_alphabet(c) && !is_upper(c));
            }
            _ => {}
        }
        Word::Upper
    } else if is_alphabet(first) {
        extend_while(&mut chars, &mut end, &|c| is_alphabet(c) && !is_upper(c));
        Word::Alphabet
    } else if first.is_numeric() {
        extend_while(&mut chars, &mut end, &char::is_numeric);
        Word::Number
    } else {
        extend_while(&mut chars, &mut end, &|c| {
            !(is_connector(c) || is_alphabet(c) || c.is_numeric() || is_punct(c))
        });
        Word::Other
    };
    let (word, rest) = s.split_at_checked(end).unwrap_or((s, ""));
    (kind, word, rest)
}

fn push_lower(out: &mut String, kind: Word, word: &str, connector: char) {
    if kind != Word::Upper && kind != Word::Connector {
        out.push_str(word);
        return;
    }
    for c in word.chars() {
        if is_connector(c) {
            out.push(connector);
        } else if is_upper(c) {
            out.push(to_lower(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings' `camelCaseToLowerCase`: Sprig's `snakecase` (`_`) and `kebabcase` (`-`).
pub(super) fn lower_words(s: &str, connector: char) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    if s.is_empty() {
        return out;
    }
    let (mut wt, mut word, mut rest) = next_word(s);
    while !rest.is_empty() {
        if wt != Word::Connector {
            push_lower(&mut out, wt, word, connector);
        }
        let prev = wt;
        let last = word;
        (wt, word, rest) = next_word(rest);
        match prev {
            Word::Number => {
                while wt == Word::Alphabet || wt == Word::Number {
                    push_lower(&mut out, wt, word, connector);
                    (wt, word, rest) = next_word(rest);
                }
                if !matches!(wt, Word::Invalid | Word::Punct | Word::Connector) {
                    out.push(connector);
                }
            }
            Word::Connector => push_lower(&mut out, prev, last, connector),
            Word::Punct => {}
            _ => {
                if wt != Word::Number {
                    if wt != Word::Connector && wt != Word::Punct {
                        out.push(connector);
                    }
                } else if !rest.is_empty() {
                    let number = word;
                    (wt, word, rest) = next_word(rest);
                    if wt != Word::Alphabet {
                        // "Bld4Floor": the number belongs to the word before it.
                        push_lower(&mut out, Word::Number, number, connector);
                        if wt != Word::Connector && wt != Word::Punct {
                            out.push(connector);
                        }
                    } else {
                        // "HTTP2xx": letters after the number start a new word.
                        out.push(connector);
                        push_lower(&mut out, Word::Number, number, connector);
                        while wt == Word::Alphabet || wt == Word::Number {
                            push_lower(&mut out, wt, word, connector);
                            (wt, word, rest) = next_word(rest);
                        }
                        if !matches!(wt, Word::Invalid | Word::Connector | Word::Punct) {
                            out.push(connector);
                        }
                    }
                }
            }
        }
    }
    push_lower(&mut out, wt, word, connector);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expectations from Helm's `camelcase`, `snakecase`, `kebabcase`, `swapcase` and `title`.
    #[test]
    fn case_conversions_match_sprig() {
        for (input, want) in [
            ("http_server", "HttpServer"),
            ("some words", "SomeWords"),
            ("GOLANG_IS_GREAT", "GolangIsGreat"),
            ("_complex__case_", "_Complex_Case_"),
            ("a", "A"),
            ("fooBar", "FooBar"),
            ("Foo-bar baz", "FooBarBaz"),
            ("_", "__"),
            ("__", "___"),
            ("A_", "A_"),
            ("ab", "Ab"),
            ("", ""),
        ] {
            assert_eq!(camelcase(input), want, "camelcase {input:?}");
        }
        for (input, want) in [
            ("FirstName", "first_name"),
            ("HTTPServer", "http_server"),
            ("NoHTTPS", "no_https"),
            ("GO PATH", "go_path"),
            ("http2xx", "http_2xx"),
            ("HTTP20xOK", "http_20x_ok"),
            ("Duration2m3s", "duration_2m3s"),
            ("Bld4Floor3rd", "bld4_floor_3rd"),
            ("a.b-c", "a.b_c"),
            ("ÀbcDéf", "àbc_déf"),
            ("foo  bar", "foo__bar"),
            ("x!!Y", "x!!y"),
            ("", ""),
            ("A", "a"),
            ("a1b", "a_1b"),
            ("A1B", "a1_b"),
            ("a$b", "a_$_b"),
            ("ab.CD", "ab.cd"),
        ] {
            assert_eq!(lower_words(input, '_'), want, "snakecase {input:?}");
        }
        for (input, want) in [
            ("FirstName", "first-name"),
            ("HTTPServer", "http-server"),
            ("my_var Name", "my-var-name"),
            ("__x__", "--x--"),
        ] {
            assert_eq!(lower_words(input, '-'), want, "kebabcase {input:?}");
        }
        assert_eq!(swapcase("Hello World ǅx"), "hELLO wORLD ǆX");
        assert_eq!(
            title("hello wORLD foo-bar o'neil"),
            "Hello WORLD Foo-Bar O'Neil"
        );
        assert_eq!(title("ǆemal"), "ǅemal");
        assert_eq!(untitle("ABC DEF\tGHI"), "aBC dEF\tgHI");
        assert_eq!(to_upper('ß'), 'ß');
    }
}
