//! The lexer: Go's `text/template/parse/lex.go`, state for state, so that trimming, comments,
//! positions, line numbers and lexical errors come out as Go's do.
//!
//! It runs to completion up front and hands the parser a vector of tokens ending in `Eof` or
//! `Error`; Go's lexer is lazy, but its output does not depend on the parser, so the parser
//! sees the same tokens in the same order.

use super::quote::{go_quote, go_rune_u, is_print};

/// Token types (Go's `itemType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum T {
    Error,
    Bool,
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl T {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            T::Block
                | T::Break
                | T::Continue
                | T::Dot
                | T::Define
                | T::Else
                | T::End
                | T::If
                | T::Nil
                | T::Range
                | T::Template
                | T::With
        )
    }
}

/// A token: its type, where it starts, its line, and its text (`start..end` of the input, or
/// the message of an error).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub(crate) typ: T,
    pub(crate) pos: usize,
    pub(crate) end: usize,
    pub(crate) line: usize,
}

/// The lexed input.
#[derive(Debug)]
pub(crate) struct Lexed {
    pub(crate) tokens: Vec<Token>,
    /// The message of the final `Error` token, if lexing failed.
    pub(crate) error: String,
}

impl Lexed {
    /// The text of a token.
    pub(crate) fn val<'a>(&'a self, input: &'a str, t: &Token) -> &'a str {
        if t.typ == T::Error {
            return &self.error;
        }
        if t.typ == T::Eof {
            return "EOF";
        }
        input.get(t.pos..t.end).unwrap_or("")
    }

    /// Go's `item.String()`, used in "unexpected ..." messages.
    pub(crate) fn describe(&self, input: &str, t: &Token) -> String {
        let val = self.val(input, t);
        match t.typ {
            T::Eof => "EOF".to_owned(),
            T::Error => val.to_owned(),
            typ if typ.is_keyword() => format!("<{val}>"),
            _ if val.len() > 10 => {
                format!("{}...", super::quote::go_quote_prefix(val, 10))
            }
            _ => go_quote(val),
        }
    }
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";
/// A trim marker plus the space before or after it.
const TRIM_LEN: usize = 2;

#[derive(Clone, Copy)]
enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Identifier,
    Field,
    Variable,
    Char,
    Number,
    Quote,
    RawQuote,
}

/// What a state function did: moved to another state, or produced a token.
enum Step {
    Go(State),
    Emitted,
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    at_eof: bool,
    paren_depth: i64,
    line: usize,
    start_line: usize,
    inside_action: bool,
    tokens: Vec<Token>,
    error: String,
}

/// Lexes `input` with `{{ }}` delimiters.
pub(crate) fn lex(input: &str) -> Lexed {
    let mut l = Lexer {
        input,
        pos: 0,
        start: 0,
        at_eof: false,
        paren_depth: 0,
        line: 1,
        start_line: 1,
        inside_action: false,
        tokens: Vec::with_capacity(input.len() / 4 + 4),
        error: String::new(),
    };
    l.run();
    Lexed {
        tokens: l.tokens,
        error: l.error,
    }
}

fn is_space(c: Option<char>) -> bool {
    matches!(c, Some(' ' | '\t' | '\r' | '\n'))
}

fn is_space_byte(b: Option<&u8>) -> bool {
    matches!(b, Some(b' ' | b'\t' | b'\r' | b'\n'))
}

/// Go's `isAlphaNumeric`: `_`, letters and digits.
fn is_alnum(c: Option<char>) -> bool {
    matches!(c, Some(c) if c == '_' || c.is_alphabetic() || c.is_numeric())
}

fn has_left_trim_marker(s: &[u8]) -> bool {
    s.first() == Some(&b'-') && is_space_byte(s.get(1))
}

fn has_right_trim_marker(s: &[u8]) -> bool {
    is_space_byte(s.first()) && s.get(1) == Some(&b'-')
}

fn count_newlines(s: &str) -> usize {
    s.bytes().filter(|&b| b == b'\n').count()
}

const SPACE_CHARS: &[char] = &[' ', '\t', '\r', '\n'];

impl Lexer<'_> {
    fn run(&mut self) {
        let mut state = State::Text;
        loop {
            match self.step(state) {
                Step::Go(next) => state = next,
                Step::Emitted => {
                    match self.tokens.last().map(|t| t.typ) {
                        Some(T::Eof | T::Error) | None => return,
                        Some(_) => {}
                    }
                    state = if self.inside_action {
                        State::InsideAction
                    } else {
                        State::Text
                    };
                }
            }
        }
    }

    fn step(&mut self, state: State) -> Step {
        match state {
            State::Text => self.lex_text(),
            State::LeftDelim => self.lex_left_delim(),
            State::Comment => self.lex_comment(),
            State::RightDelim => self.lex_right_delim(),
            State::InsideAction => self.lex_inside_action(),
            State::Space => self.lex_space(),
            State::Identifier => self.lex_identifier(),
            State::Field => self.lex_field_or_variable(T::Field),
            State::Variable => {
                if self.at_terminator() {
                    self.emit(T::Variable)
                } else {
                    self.lex_field_or_variable(T::Variable)
                }
            }
            State::Char => self.lex_char(),
            State::Number => self.lex_number(),
            State::Quote => self.lex_quote(),
            State::RawQuote => self.lex_raw_quote(),
        }
    }

    fn rest(&self) -> &str {
        self.input.get(self.pos..).unwrap_or("")
    }

    fn rest_at(&self, pos: usize) -> &[u8] {
        self.input.as_bytes().get(pos..).unwrap_or(&[])
    }

    fn next(&mut self) -> Option<char> {
        let Some(c) = self.rest().chars().next() else {
            self.at_eof = true;
            return None;
        };
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn backup(&mut self) {
        if !self.at_eof
            && self.pos > 0
            && let Some(c) = self
                .input
                .get(..self.pos)
                .and_then(|s| s.chars().next_back())
        {
            self.pos -= c.len_utf8();
            if c == '\n' {
                self.line -= 1;
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        let c = self.next();
        self.backup();
        c
    }

    fn this_item(&mut self, typ: T) -> Token {
        let t = Token {
            typ,
            pos: self.start,
            end: self.pos,
            line: self.start_line,
        };
        self.start = self.pos;
        self.start_line = self.line;
        t
    }

    fn emit(&mut self, typ: T) -> Step {
        let t = self.this_item(typ);
        self.tokens.push(t);
        Step::Emitted
    }

    fn ignore(&mut self) {
        self.line += count_newlines(self.input.get(self.start..self.pos).unwrap_or(""));
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn errorf(&mut self, msg: String) -> Step {
        self.tokens.push(Token {
            typ: T::Error,
            pos: self.start,
            end: self.start,
            line: self.start_line,
        });
        self.error = msg;
        Step::Emitted
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(c) if valid.contains(c) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while let Some(c) = self.next() {
            if !valid.contains(c) {
                break;
            }
        }
        self.backup();
    }

    /// Whether a right delimiter (possibly with a trim marker) starts here.
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest_at(self.pos);
        if has_right_trim_marker(rest)
            && rest
                .get(TRIM_LEN..)
                .is_some_and(|r| r.starts_with(RIGHT.as_bytes()))
        {
            return (true, true);
        }
        if rest.starts_with(RIGHT.as_bytes()) {
            return (true, false);
        }
        (false, false)
    }

    fn lex_text(&mut self) -> Step {
        if let Some(x) = self.rest().find(LEFT) {
            if x > 0 {
                self.pos += x;
                let mut trim = 0;
                let delim_end = self.pos + LEFT.len();
                if has_left_trim_marker(self.rest_at(delim_end)) {
                    let text = self.input.get(self.start..self.pos).unwrap_or("");
                    trim = text.len() - text.trim_end_matches(SPACE_CHARS).len();
                }
                self.pos -= trim;
                self.line += count_newlines(self.input.get(self.start..self.pos).unwrap_or(""));
                let t = self.this_item(T::Text);
                self.pos += trim;
                self.ignore();
                if t.end > t.pos {
                    self.tokens.push(t);
                    return Step::Emitted;
                }
            }
            return Step::Go(State::LeftDelim);
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.line += count_newlines(self.input.get(self.start..self.pos).unwrap_or(""));
            return self.emit(T::Text);
        }
        self.emit(T::Eof)
    }

    fn lex_left_delim(&mut self) -> Step {
        self.pos += LEFT.len();
        let trim = has_left_trim_marker(self.rest_at(self.pos));
        let after = if trim { TRIM_LEN } else { 0 };
        if self
            .rest_at(self.pos + after)
            .starts_with(LEFT_COMMENT.as_bytes())
        {
            self.pos += after;
            self.ignore();
            return Step::Go(State::Comment);
        }
        let t = self.this_item(T::LeftDelim);
        self.inside_action = true;
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        self.tokens.push(t);
        Step::Emitted
    }

    fn lex_comment(&mut self) -> Step {
        self.pos += LEFT_COMMENT.len();
        let Some(x) = self.rest().find(RIGHT_COMMENT) else {
            return self.errorf("unclosed comment".to_owned());
        };
        self.pos += x + RIGHT_COMMENT.len();
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.errorf("comment ends before closing delimiter".to_owned());
        }
        // Comments are not emitted (Helm does not parse with ParseComments).
        let _ = self.this_item(T::Text);
        if trim {
            self.pos += TRIM_LEN;
        }
        self.pos += RIGHT.len();
        if trim {
            let rest = self.rest();
            self.pos += rest.len() - rest.trim_start_matches(SPACE_CHARS).len();
        }
        self.ignore();
        Step::Go(State::Text)
    }

    fn lex_right_delim(&mut self) -> Step {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += TRIM_LEN;
            self.ignore();
        }
        self.pos += RIGHT.len();
        let t = self.this_item(T::RightDelim);
        if trim {
            let rest = self.rest();
            self.pos += rest.len() - rest.trim_start_matches(SPACE_CHARS).len();
            self.ignore();
        }
        self.inside_action = false;
        self.tokens.push(t);
        Step::Emitted
    }

    fn lex_inside_action(&mut self) -> Step {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return Step::Go(State::RightDelim);
            }
            return self.errorf("unclosed left paren".to_owned());
        }
        let r = self.next();
        match r {
            None => self.errorf("unclosed action".to_owned()),
            Some(' ' | '\t' | '\r' | '\n') => {
                self.backup();
                Step::Go(State::Space)
            }
            Some('=') => self.emit(T::Assign),
            Some(':') => {
                if self.next() != Some('=') {
                    return self.errorf("expected :=".to_owned());
                }
                self.emit(T::Declare)
            }
            Some('|') => self.emit(T::Pipe),
            Some('"') => Step::Go(State::Quote),
            Some('`') => Step::Go(State::RawQuote),
            Some('$') => Step::Go(State::Variable),
            Some('\'') => Step::Go(State::Char),
            Some('.') => {
                if let Some(&b) = self.rest_at(self.pos).first()
                    && !b.is_ascii_digit()
                {
                    return Step::Go(State::Field);
                }
                self.backup();
                Step::Go(State::Number)
            }
            Some('+' | '-' | '0'..='9') => {
                self.backup();
                Step::Go(State::Number)
            }
            Some(c) if is_alnum(Some(c)) => {
                self.backup();
                Step::Go(State::Identifier)
            }
            Some('(') => {
                self.paren_depth += 1;
                self.emit(T::LeftParen)
            }
            Some(')') => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.errorf("unexpected right paren".to_owned());
                }
                self.emit(T::RightParen)
            }
            Some(c) if c.is_ascii() && is_print(c) => self.emit(T::Char),
            Some(c) => self.errorf(format!(
                "unrecognized character in action: {}",
                go_rune_u(c)
            )),
        }
    }

    fn lex_space(&mut self) -> Step {
        let mut n = 0;
        while is_space(self.peek()) {
            self.next();
            n += 1;
        }
        // A trim-marked right delimiter starts with a space: leave it to lexRightDelim.
        let before = self.pos.saturating_sub(1);
        if has_right_trim_marker(self.rest_at(before))
            && self
                .rest_at(before + TRIM_LEN)
                .starts_with(RIGHT.as_bytes())
        {
            self.backup();
            if n == 1 {
                return Step::Go(State::RightDelim);
            }
        }
        self.emit(T::Space)
    }

    fn at_terminator(&mut self) -> bool {
        let r = self.peek();
        if is_space(r) {
            return true;
        }
        match r {
            None | Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.rest().starts_with(RIGHT),
        }
    }

    fn bad_character(&mut self, r: Option<char>) -> Step {
        let what = r.map_or_else(|| "U+FFFFFFFFFFFFFFFF".to_owned(), go_rune_u);
        self.errorf(format!("bad character {what}"))
    }

    fn lex_identifier(&mut self) -> Step {
        loop {
            let r = self.next();
            if is_alnum(r) {
                continue;
            }
            self.backup();
            if !self.at_terminator() {
                return self.bad_character(r);
            }
            let word = self.input.get(self.start..self.pos).unwrap_or("");
            let typ = match word {
                "block" => T::Block,
                "break" => T::Break,
                "continue" => T::Continue,
                "define" => T::Define,
                "else" => T::Else,
                "end" => T::End,
                "if" => T::If,
                "range" => T::Range,
                "nil" => T::Nil,
                "template" => T::Template,
                "with" => T::With,
                "true" | "false" => T::Bool,
                _ => T::Identifier,
            };
            return self.emit(typ);
        }
    }

    fn lex_field_or_variable(&mut self, typ: T) -> Step {
        if self.at_terminator() {
            return self.emit(if typ == T::Variable {
                T::Variable
            } else {
                T::Dot
            });
        }
        let mut r;
        loop {
            r = self.next();
            if !is_alnum(r) {
                self.backup();
                break;
            }
        }
        if !self.at_terminator() {
            return self.bad_character(r);
        }
        self.emit(typ)
    }

    fn lex_char(&mut self) -> Step {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => return self.errorf("unterminated character constant".to_owned()),
                },
                None | Some('\n') => {
                    return self.errorf("unterminated character constant".to_owned());
                }
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit(T::CharConstant)
    }

    fn bad_number(&mut self) -> Step {
        let text = go_quote(self.input.get(self.start..self.pos).unwrap_or(""));
        self.errorf(format!("bad number syntax: {text}"))
    }

    fn lex_number(&mut self) -> Step {
        if !self.scan_number() {
            return self.bad_number();
        }
        if matches!(self.peek(), Some('+' | '-')) {
            if !self.scan_number()
                || self.rest_at(self.pos.saturating_sub(1)).first() != Some(&b'i')
            {
                return self.bad_number();
            }
            return self.emit(T::Complex);
        }
        self.emit(T::Number)
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 10 + 1 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 16 + 6 + 1 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if is_alnum(self.peek()) {
            self.next();
            return false;
        }
        true
    }

    fn lex_quote(&mut self) -> Step {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => return self.errorf("unterminated quoted string".to_owned()),
                },
                None | Some('\n') => return self.errorf("unterminated quoted string".to_owned()),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit(T::String)
    }

    fn lex_raw_quote(&mut self) -> Step {
        loop {
            match self.next() {
                None => return self.errorf("unterminated raw quoted string".to_owned()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(T::RawString)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<(T, String)> {
        let l = lex(input);
        l.tokens
            .iter()
            .map(|t| (t.typ, l.val(input, t).to_owned()))
            .collect()
    }

    #[test]
    fn trims_and_drops_comments() {
        let toks = kinds("a  \n {{- 1 -}} \n b{{/* c */}}d {{- /* e */ -}} f");
        let texts: Vec<_> = toks
            .iter()
            .filter(|(t, _)| *t == T::Text)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(texts, ["a", "b", "d", "f"]);
    }

    #[test]
    fn lexes_an_action() {
        let toks = kinds("{{$x := .a.b | printf \"%d\" 1.5e3 'c' `r` (nil)}}");
        let got: Vec<T> = toks.iter().map(|(t, _)| *t).collect();
        use T::*;
        assert_eq!(
            got,
            [
                LeftDelim,
                Variable,
                Space,
                Declare,
                Space,
                Field,
                Field,
                Space,
                Pipe,
                Space,
                Identifier,
                Space,
                String,
                Space,
                Number,
                Space,
                CharConstant,
                Space,
                RawString,
                Space,
                LeftParen,
                Nil,
                RightParen,
                RightDelim,
                Eof
            ]
        );
    }

    #[test]
    fn reports_lexical_errors() {
        for (input, want) in [
            ("{{ \"abc }}", "unterminated quoted string"),
            ("{{ .x ", "unclosed action"),
            ("{{/* x ", "unclosed comment"),
            ("{{/* x */ }}", "comment ends before closing delimiter"),
            ("{{ ( }}", "unclosed left paren"),
            ("{{ ) }}", "unexpected right paren"),
            ("{{ 3x }}", "bad number syntax: \"3x\""),
            ("{{ .a# }}", "bad character U+0023 '#'"),
            ("{{ \u{1} }}", "unrecognized character in action: U+0001"),
        ] {
            let l = lex(input);
            assert_eq!(l.tokens.last().map(|t| t.typ), Some(T::Error), "{input}");
            assert_eq!(l.error, want, "{input}");
        }
    }
}
