//! The parser: Go's `text/template/parse/parse.go`, production for production, so that the
//! trees, the variables in scope, and the wording and line of every parse error match Go's.
//!
//! Functions are resolved here (an unknown name is a parse error, as in Go) and stored in the
//! tree. Nesting is bounded: parenthesised pipelines and control structures deeper than
//! [`MAX_DEPTH`] are an error, so hostile input cannot overflow the stack.

use std::sync::Arc;

use super::ast::{
    Arg, Branch, Command, FuncRef, Ideal, Node, Number, Pipe, Source, TemplateCall, Tree, VarDecl,
};
use super::error::Error;
use super::lex::{Lexed, T, Token, lex};
use super::quote::{go_quote, unquote, unquote_rune};

/// How deep parentheses and control structures may nest.
pub(crate) const MAX_DEPTH: usize = 250;

/// How much native stack a parse may use by default (a guard for debug builds and small
/// threads, where [`MAX_DEPTH`] levels may not fit).
pub(crate) const STACK_BUDGET: usize = 512 << 10;

/// Resolves a function name at parse time.
pub(crate) type Resolver = dyn Fn(&str) -> Option<FuncRef>;

type R<T> = Result<T, Box<Error>>;

/// Parses `text` as the template `name`: its top-level tree first, then each `define` and
/// `block` it holds, with Go's rule that a name defined twice in one text is an error unless
/// one of the bodies is empty. Nesting that would use more than `stack_budget` bytes of
/// native stack is an error.
pub(crate) fn parse(
    name: &str,
    text: &str,
    resolve: &Resolver,
    stack_budget: usize,
) -> R<Vec<Tree>> {
    let source = Arc::new(Source {
        parse_name: name.into(),
        text: text.into(),
    });
    let lexed = lex(text);
    let mut p = Parser {
        text,
        lexed,
        cur: 0,
        source,
        resolve,
        st: TreeState::new(),
        depth: 0,
        trees: Vec::new(),
        stack_base: super::exec::stack_pointer(),
        stack_budget,
    };
    let root = p.parse_top()?;
    let seen = p.st.seen;
    p.add(
        Tree {
            name: name.into(),
            source: p.source.clone(),
            root,
        },
        seen,
    )?;
    // Put the top-level tree first.
    if let Some(i) = p.trees.iter().position(|t| &*t.name == name) {
        let top = p.trees.remove(i);
        p.trees.insert(0, top);
    }
    Ok(p.trees)
}

/// The state Go keeps per `Tree` while parsing (a `define` or `block` gets its own).
struct TreeState<'a> {
    /// Variables in scope.
    vars: Vec<&'a str>,
    range_depth: usize,
    action_line: usize,
    /// The index of the last token this tree read (Go's `token[0]`), for error lines.
    seen: usize,
}

impl TreeState<'_> {
    fn new() -> Self {
        TreeState {
            vars: vec!["$"],
            range_depth: 0,
            action_line: 0,
            seen: 0,
        }
    }
}

/// What `textOrAction` found: a node, or the `{{end}}`/`{{else}}` closing a list.
enum Item {
    Node(Node),
    End,
    Else,
}

impl Item {
    fn describe(&self) -> String {
        match self {
            Item::Node(n) => super::ast::node_string(n),
            Item::End => "{{end}}".to_owned(),
            Item::Else => "{{else}}".to_owned(),
        }
    }
}

struct Parser<'a> {
    text: &'a str,
    lexed: Lexed,
    /// The index of the next token.
    cur: usize,
    source: Arc<Source>,
    resolve: &'a Resolver,
    st: TreeState<'a>,
    depth: usize,
    trees: Vec<Tree>,
    stack_base: usize,
    stack_budget: usize,
}

impl<'a> Parser<'a> {
    // Tokens.

    fn token(&self, i: usize) -> Token {
        let last = self.lexed.tokens.len().saturating_sub(1);
        self.lexed
            .tokens
            .get(i.min(last))
            .copied()
            .unwrap_or(Token {
                typ: T::Eof,
                pos: self.text.len(),
                end: self.text.len(),
                line: 1,
            })
    }

    fn next(&mut self) -> Token {
        let i = self.cur;
        self.cur += 1;
        if i > self.st.seen {
            self.st.seen = i;
        }
        self.token(i)
    }

    fn backup(&mut self) {
        self.cur = self.cur.saturating_sub(1);
    }

    fn peek(&mut self) -> Token {
        let t = self.next();
        self.backup();
        t
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.typ != T::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn val(&self, t: &Token) -> &'a str {
        if t.typ == T::Error || t.typ == T::Eof {
            return "";
        }
        self.text.get(t.pos..t.end).unwrap_or("")
    }

    // Errors.

    fn errorf(&self, message: String) -> Box<Error> {
        self.errorf_seen(message, self.st.seen)
    }

    fn errorf_seen(&self, message: String, seen: usize) -> Box<Error> {
        Error::parse(&self.source.parse_name, self.token(seen).line, message)
    }

    fn unexpected(&self, t: Token, context: &str) -> Box<Error> {
        if t.typ == T::Error {
            let val = &self.lexed.error;
            let mut extra = String::new();
            if self.st.action_line != 0 && self.st.action_line != t.line {
                extra = format!(
                    " in action started at {}:{}",
                    self.source.parse_name, self.st.action_line
                );
                if val.ends_with(" action") {
                    extra = extra.split_off(" in action".len());
                }
            }
            return self.errorf(format!("{val}{extra}"));
        }
        let what = self.lexed.describe(self.text, &t);
        self.errorf(format!("unexpected {what} in {context}"))
    }

    fn expect(&mut self, typ: T, context: &str) -> R<Token> {
        let t = self.next_non_space();
        if t.typ != typ {
            return Err(self.unexpected(t, context));
        }
        Ok(t)
    }

    fn enter(&mut self, what: &str) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH
            || self.stack_base.abs_diff(super::exec::stack_pointer()) > self.stack_budget
        {
            return Err(self.errorf(format!("max {what} depth exceeded")));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Go's `Tree.add`: records a finished tree in this parse's set.
    fn add(&mut self, tree: Tree, seen: usize) -> R<()> {
        match self.trees.iter().position(|t| t.name == tree.name) {
            None => self.trees.push(tree),
            Some(i) => {
                if self.trees.get(i).is_some_and(Tree::is_empty) {
                    if let Some(slot) = self.trees.get_mut(i) {
                        *slot = tree;
                    }
                } else if !tree.is_empty() {
                    return Err(self.errorf_seen(
                        format!(
                            "template: multiple definition of template {}",
                            go_quote(&tree.name)
                        ),
                        seen,
                    ));
                }
            }
        }
        Ok(())
    }

    // Productions.

    /// Go's `parse`: the top level, where `define`s may appear.
    fn parse_top(&mut self) -> R<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().typ != T::Eof {
            if self.peek().typ == T::LeftDelim {
                let mark = self.cur;
                self.next();
                if self.next_non_space().typ == T::Define {
                    let outer = std::mem::replace(&mut self.st, TreeState::new());
                    let r = self.parse_definition();
                    let inner_seen = self.st.seen;
                    self.st = outer;
                    self.st.seen = self.st.seen.max(inner_seen);
                    r?;
                    continue;
                }
                self.cur = mark;
            }
            match self.text_or_action()? {
                Item::Node(n) => root.push(n),
                other => return Err(self.errorf(format!("unexpected {}", other.describe()))),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> R<()> {
        const CONTEXT: &str = "define clause";
        let t = self.next_non_space();
        if t.typ != T::String && t.typ != T::RawString {
            return Err(self.unexpected(t, CONTEXT));
        }
        let name = unquote(self.val(&t)).map_err(|e| self.errorf(e.to_owned()))?;
        self.expect(T::RightDelim, CONTEXT)?;
        let (root, end) = self.item_list()?;
        if !matches!(end, Item::End) {
            return Err(self.errorf(format!("unexpected {} in {CONTEXT}", end.describe())));
        }
        let seen = self.st.seen;
        self.add(
            Tree {
                name: name.into(),
                source: self.source.clone(),
                root,
            },
            seen,
        )
    }

    fn item_list(&mut self) -> R<(Vec<Node>, Item)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != T::Eof {
            match self.text_or_action()? {
                Item::Node(n) => list.push(n),
                other => return Ok((list, other)),
            }
        }
        Err(self.errorf("unexpected EOF".to_owned()))
    }

    fn text_or_action(&mut self) -> R<Item> {
        let t = self.next_non_space();
        match t.typ {
            T::Text => Ok(Item::Node(Node::Text {
                pos: t.pos,
                text: self.val(&t).into(),
            })),
            T::LeftDelim => {
                self.st.action_line = t.line;
                let r = self.action();
                self.st.action_line = 0;
                r
            }
            _ => Err(self.unexpected(t, "input")),
        }
    }

    fn action(&mut self) -> R<Item> {
        let t = self.next_non_space();
        match t.typ {
            T::Block => return self.block_control().map(Item::Node),
            T::Break | T::Continue => return self.break_control(t).map(Item::Node),
            T::Else => return self.else_control(),
            T::End => {
                self.expect(T::RightDelim, "end")?;
                return Ok(Item::End);
            }
            T::If => return self.control("if").map(|b| Item::Node(Node::If(b))),
            T::Range => return self.control("range").map(|b| Item::Node(Node::Range(b))),
            T::Template => return self.template_control().map(Item::Node),
            T::With => return self.control("with").map(|b| Item::Node(Node::With(b))),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", T::RightDelim)?;
        Ok(Item::Node(Node::Action(Box::new(pipe))))
    }

    fn break_control(&mut self, t: Token) -> R<Node> {
        let word = if t.typ == T::Break {
            "break"
        } else {
            "continue"
        };
        let next = self.next_non_space();
        if next.typ != T::RightDelim {
            return Err(self.unexpected(next, &format!("{{{{{word}}}}}")));
        }
        if self.st.range_depth == 0 {
            return Err(self.errorf(format!("{{{{{word}}}}} outside {{{{range}}}}")));
        }
        Ok(if t.typ == T::Break {
            Node::Break(t.pos)
        } else {
            Node::Continue(t.pos)
        })
    }

    fn else_control(&mut self) -> R<Item> {
        let peek = self.peek_non_space();
        if peek.typ == T::If || peek.typ == T::With {
            return Ok(Item::Else);
        }
        self.expect(T::RightDelim, "else")?;
        Ok(Item::Else)
    }

    /// Go's `parseControl` for `if`, `range` and `with`.
    fn control(&mut self, context: &str) -> R<Box<Branch>> {
        self.enter("nesting")?;
        let vars = self.st.vars.len();
        let pipe = self.pipeline(context, T::RightDelim)?;
        if context == "range" {
            self.st.range_depth += 1;
        }
        let (list, next) = self.item_list()?;
        if context == "range" {
            self.st.range_depth -= 1;
        }
        let mut else_list = None;
        if let Item::Else = next {
            if context == "if" && self.peek().typ == T::If {
                self.next();
                let b = self.control("if")?;
                else_list = Some(vec![Node::If(b)]);
            } else if context == "with" && self.peek().typ == T::With {
                self.next();
                let b = self.control("with")?;
                else_list = Some(vec![Node::With(b)]);
            } else {
                let (l, n) = self.item_list()?;
                if !matches!(n, Item::End) {
                    return Err(self.errorf(format!("expected end; found {}", n.describe())));
                }
                else_list = Some(l);
            }
        }
        self.st.vars.truncate(vars);
        self.leave();
        Ok(Box::new(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        }))
    }

    fn template_name(&mut self, t: Token, context: &str) -> R<Box<str>> {
        match t.typ {
            T::String | T::RawString => unquote(self.val(&t))
                .map(Into::into)
                .map_err(|e| self.errorf(e.to_owned())),
            _ => Err(self.unexpected(t, context)),
        }
    }

    fn template_control(&mut self) -> R<Node> {
        const CONTEXT: &str = "template clause";
        let t = self.next_non_space();
        let name = self.template_name(t, CONTEXT)?;
        let mut pipe = None;
        if self.next_non_space().typ != T::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(CONTEXT, T::RightDelim)?);
        }
        Ok(Node::Template(Box::new(TemplateCall {
            pos: t.pos,
            name,
            pipe,
        })))
    }

    fn block_control(&mut self) -> R<Node> {
        const CONTEXT: &str = "block clause";
        self.enter("nesting")?;
        let t = self.next_non_space();
        let name = self.template_name(t, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, T::RightDelim)?;
        let outer = std::mem::replace(&mut self.st, TreeState::new());
        let r = self.item_list();
        let inner_seen = self.st.seen;
        self.st = outer;
        let (root, end) = r?;
        if !matches!(end, Item::End) {
            return Err(self.errorf(format!("unexpected {} in {CONTEXT}", end.describe())));
        }
        self.add(
            Tree {
                name: name.clone(),
                source: self.source.clone(),
                root,
            },
            inner_seen,
        )?;
        self.leave();
        Ok(Node::Template(Box::new(TemplateCall {
            pos: t.pos,
            name,
            pipe: Some(pipe),
        })))
    }

    fn pipeline(&mut self, context: &str, end: T) -> R<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // Declarations or assignments.
        loop {
            let v = self.peek_non_space();
            if v.typ != T::Variable {
                break;
            }
            let mark = self.cur;
            self.next();
            let next = self.peek_non_space();
            let name = self.val(&v);
            if next.typ == T::Assign || next.typ == T::Declare {
                pipe.is_assign = next.typ == T::Assign;
                self.next_non_space();
                pipe.decl.push(VarDecl { name: name.into() });
                self.st.vars.push(name);
            } else if next.typ == T::Char && self.val(&next) == "," {
                self.next_non_space();
                pipe.decl.push(VarDecl { name: name.into() });
                self.st.vars.push(name);
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().typ {
                        T::Variable | T::RightDelim | T::RightParen => continue,
                        _ => {
                            return Err(
                                self.errorf("range can only initialize variables".to_owned())
                            );
                        }
                    }
                }
                return Err(self.errorf(format!("too many declarations in {context}")));
            } else {
                // Not a declaration: `$x` is an operand. Push back what was read.
                self.cur = mark;
            }
            break;
        }
        loop {
            let t = self.next_non_space();
            if t.typ == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match t.typ {
                T::Bool
                | T::CharConstant
                | T::Complex
                | T::Dot
                | T::Field
                | T::Identifier
                | T::Number
                | T::Nil
                | T::RawString
                | T::String
                | T::Variable
                | T::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return Err(self.unexpected(t, context)),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> R<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(_) | Arg::Str { .. })
            ) {
                return Err(self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> R<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                args.push(op);
            }
            let t = self.next();
            match t.typ {
                T::Space => continue,
                T::RightDelim | T::RightParen => self.backup(),
                T::Pipe => {}
                _ => return Err(self.unexpected(t, "operand")),
            }
            break;
        }
        if args.is_empty() {
            return Err(self.errorf("empty command".to_owned()));
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> R<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != T::Field {
            return Ok(Some(node));
        }
        let pos = self.peek().pos;
        let mut fields: Vec<Box<str>> = Vec::new();
        while self.peek().typ == T::Field {
            let t = self.next();
            fields.push(self.val(&t).get(1..).unwrap_or("").into());
        }
        Ok(Some(match node {
            Arg::Field { idents, .. } => {
                let mut all = idents.into_vec();
                all.extend(fields);
                Arg::Field {
                    pos,
                    idents: all.into_boxed_slice(),
                }
            }
            Arg::Variable {
                name, fields: f0, ..
            } => {
                let mut all = f0.into_vec();
                all.extend(fields);
                Arg::Variable {
                    pos,
                    name,
                    fields: all.into_boxed_slice(),
                }
            }
            Arg::Bool(..) | Arg::Str { .. } | Arg::Number(_) | Arg::Nil(_) | Arg::Dot(_) => {
                return Err(self.errorf(format!(
                    "unexpected . after term {}",
                    go_quote(&node.string())
                )));
            }
            other => Arg::Chain {
                pos,
                node: Box::new(other),
                fields: fields.into_boxed_slice(),
            },
        }))
    }

    fn term(&mut self) -> R<Option<Arg>> {
        let t = self.next_non_space();
        let val = self.val(&t);
        let pos = t.pos;
        Ok(Some(match t.typ {
            T::Identifier => {
                let Some(func) = (self.resolve)(val) else {
                    return Err(self.errorf(format!("function {} not defined", go_quote(val))));
                };
                Arg::Ident {
                    pos,
                    name: val.into(),
                    func,
                }
            }
            T::Dot => Arg::Dot(pos),
            T::Nil => Arg::Nil(pos),
            T::Variable => {
                if !self.st.vars.contains(&val) {
                    return Err(self.errorf(format!("undefined variable {}", go_quote(val))));
                }
                Arg::Variable {
                    pos,
                    name: val.into(),
                    fields: Box::default(),
                }
            }
            T::Field => Arg::Field {
                pos,
                idents: vec![Box::<str>::from(val.get(1..).unwrap_or(""))].into_boxed_slice(),
            },
            T::Bool => Arg::Bool(pos, val == "true"),
            T::CharConstant | T::Complex | T::Number => {
                let ideal = match t.typ {
                    T::CharConstant => {
                        Ideal::Int(i64::from(unquote_rune(val).map_err(|e| self.errorf(e))?))
                    }
                    T::Complex => Ideal::Complex,
                    _ => number(val).map_err(|e| self.errorf(e))?,
                };
                Arg::Number(Box::new(Number {
                    pos,
                    text: val.into(),
                    ideal,
                }))
            }
            T::LeftParen => {
                self.enter("expression")?;
                let p = self.pipeline("parenthesized pipeline", T::RightParen)?;
                self.leave();
                Arg::Pipe(Box::new(p))
            }
            T::String | T::RawString => {
                let text = unquote(val).map_err(|e| self.errorf(e.to_owned()))?;
                Arg::Str {
                    pos,
                    quoted: val.into(),
                    text: text.into(),
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }
}

/// Go's `newNumber` followed by `idealConstant`'s choice of type.
fn number(text: &str) -> Result<Ideal, String> {
    if let Some(imag) = text.strip_suffix('i')
        && parse_float(imag).is_some()
    {
        return Ok(Ideal::Complex);
    }
    let u = parse_uint(text);
    let i = parse_int(text);
    let mut is_int = i.is_some();
    let mut is_uint = u.is_some() || i == Some(0);
    let mut is_float = is_int || is_uint;
    let mut int = i.unwrap_or(0);
    let mut float = match (i, u) {
        (Some(i), _) => i as f64,
        (None, Some(u)) => u as f64,
        _ => 0.0,
    };
    let looks_float = text.contains(['.', 'e', 'E', 'p', 'P']);
    if !is_int
        && !is_uint
        && let Some(f) = parse_float(text)
    {
        if !looks_float {
            return Err(format!("integer overflow: {}", go_quote(text)));
        }
        is_float = true;
        float = f;
        #[allow(clippy::cast_possible_truncation)]
        let truncated = f as i64;
        if truncated as f64 == f {
            is_int = true;
            int = truncated;
        }
        if (0.0..1.844_674_407_370_955_2e19).contains(&f) && f.fract() == 0.0 {
            is_uint = true;
        }
    }
    if !is_int && !is_uint && !is_float {
        return Err(format!("illegal number syntax: {}", go_quote(text)));
    }
    let hex_int = text.len() > 2
        && text.starts_with('0')
        && matches!(text.as_bytes().get(1), Some(b'x' | b'X'))
        && !text.contains(['p', 'P']);
    Ok(if is_float && !hex_int && looks_float {
        Ideal::Float(float)
    } else if is_int {
        Ideal::Int(int)
    } else if is_uint {
        Ideal::Overflow
    } else {
        Ideal::Float(float)
    })
}

/// Go's `underscoreOK`: underscores only between digits (or after a base prefix).
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let mut saw = b'^';
    let mut hex = false;
    if b.get(i) == Some(&b'0')
        && matches!(
            b.get(i + 1).map(u8::to_ascii_lowercase),
            Some(b'b' | b'o' | b'x')
        )
    {
        hex = b.get(i + 1).map(u8::to_ascii_lowercase) == Some(b'x');
        i += 2;
        saw = b'0';
    }
    for &c in b.iter().skip(i) {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
            continue;
        }
        if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
            continue;
        }
        if saw == b'_' {
            return false;
        }
        saw = b'!';
    }
    saw != b'_'
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
fn parse_uint(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() {
        return None;
    }
    let (base, digits): (u32, &str) = if b.first() == Some(&b'0') {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, s.get(2..)?),
            Some(b'o') if b.len() >= 3 => (8, s.get(2..)?),
            Some(b'x') if b.len() >= 3 => (16, s.get(2..)?),
            _ => (8, s.get(1..)?),
        }
    } else {
        (10, s)
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    for c in digits.chars() {
        if c == '_' {
            underscores = true;
            continue;
        }
        let d = c.to_digit(base)?;
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
    }
    if underscores && !underscore_ok(s) {
        return None;
    }
    Some(n)
}

/// Go's `strconv.ParseInt(s, 0, 64)`.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let u = parse_uint(rest)?;
    if neg {
        if u > 1u64 << 63 {
            return None;
        }
        Some((u as i64).wrapping_neg())
    } else {
        i64::try_from(u).ok()
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the texts the lexer produces (decimal and hexadecimal
/// floats, with underscores between digits). Out of range is an error, as in Go.
fn parse_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, clean.get(1..)?),
        Some(b'+') => (false, clean.get(1..)?),
        _ => (false, clean.as_str()),
    };
    let v = if body.len() > 2
        && body.starts_with('0')
        && matches!(body.as_bytes().get(1), Some(b'x' | b'X'))
    {
        parse_hex_float(body.get(2..)?)?
    } else {
        if !body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    if v.is_infinite() {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// The mantissa and binary exponent of a hexadecimal float after `0x`: `1.8p3`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = s.split_once(['p', 'P'])?;
    let exp: i32 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_go_types() {
        let int = |t: &str| match number(t) {
            Ok(Ideal::Int(i)) => Some(i),
            _ => None,
        };
        let float = |t: &str| match number(t) {
            Ok(Ideal::Float(f)) => Some(f),
            _ => None,
        };
        assert_eq!(int("42"), Some(42));
        assert_eq!(int("0x1F"), Some(31));
        assert_eq!(int("0x1E"), Some(30));
        assert_eq!(int("017"), Some(15));
        assert_eq!(int("0o17"), Some(15));
        assert_eq!(int("0b101"), Some(5));
        assert_eq!(int("1_000"), Some(1000));
        assert_eq!(int("-3"), Some(-3));
        assert_eq!(int("+4"), Some(4));
        assert_eq!(float("1e3"), Some(1000.0));
        assert_eq!(float("1.5"), Some(1.5));
        assert_eq!(float("0x1p4"), Some(16.0));
        assert_eq!(float(".5"), Some(0.5));
        assert!(matches!(
            number("18446744073709551615"),
            Ok(Ideal::Overflow)
        ));
        assert_eq!(
            number("99999999999999999999").err().as_deref(),
            Some("integer overflow: \"99999999999999999999\"")
        );
        assert_eq!(
            number("1_").err().as_deref(),
            Some("illegal number syntax: \"1_\"")
        );
        assert_eq!(
            number("089").err().as_deref(),
            Some("integer overflow: \"089\"")
        );
        assert!(matches!(number("2i"), Ok(Ideal::Complex)));
    }
}
