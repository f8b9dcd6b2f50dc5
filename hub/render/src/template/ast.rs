//! The parse tree: Go's `text/template/parse` nodes, reduced to what execution needs.
//!
//! A tree holds no [`Value`](crate::value::Value): literals are kept as text and numbers, and
//! functions are resolved to pointers at parse time, so trees are `Send + Sync` and shared by
//! every render of a chart. Each node keeps its byte offset in the source so that errors can
//! name the line and column as Go does, and each can print itself as Go's `Node.String()` does,
//! which is the `<...>` context of an execution error.

use std::sync::Arc;

use crate::funcs::Func;

/// A byte offset in the template source.
pub(crate) type Pos = usize;

/// The text a tree was parsed from: Go's `Tree.ParseName` and `Tree.text`.
#[derive(Debug)]
pub(crate) struct Source {
    /// The name of the file (or `tpl` text) the tree came from, for locations.
    pub(crate) parse_name: Box<str>,
    /// The whole text, for turning offsets into lines and columns.
    pub(crate) text: Box<str>,
}

impl Source {
    /// Go's `ErrorContext` location: the 1-based line, and the byte offset within the line
    /// (0-based, as Go reports it).
    pub(crate) fn line_col(&self, pos: Pos) -> (usize, usize) {
        let before = self.text.get(..pos).unwrap_or(&self.text);
        let line = 1 + before.bytes().filter(|&b| b == b'\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => pos - (nl + 1),
            None => pos,
        };
        (line, col)
    }
}

/// One named template: a file's top level, or a `define`/`block`.
#[derive(Debug)]
pub(crate) struct Tree {
    /// The template's name.
    pub(crate) name: Box<str>,
    /// Where it was parsed from.
    pub(crate) source: Arc<Source>,
    /// Its body.
    pub(crate) root: Vec<Node>,
}

impl Tree {
    /// Go's `parse.IsEmptyTree`: only blank text (and comments, which are dropped).
    pub(crate) fn is_empty(&self) -> bool {
        self.root
            .iter()
            .all(|n| matches!(n, Node::Text { text, .. } if text.trim_matches(SPACE).is_empty()))
    }
}

/// What Go's `bytes.TrimSpace` trims.
const SPACE: &[char] = &[' ', '\t', '\n', '\r', '\x0b', '\x0c', '\u{85}', '\u{a0}'];

/// A node of a template body.
#[derive(Debug)]
pub(crate) enum Node {
    /// Plain text, written as is.
    Text { pos: Pos, text: Box<str> },
    /// `{{pipeline}}`.
    Action(Box<Pipe>),
    /// `{{if}}`.
    If(Box<Branch>),
    /// `{{range}}`.
    Range(Box<Branch>),
    /// `{{with}}`.
    With(Box<Branch>),
    /// `{{template "name" pipeline}}` (and the call half of `{{block}}`).
    Template(Box<TemplateCall>),
    /// `{{break}}`.
    Break(Pos),
    /// `{{continue}}`.
    Continue(Pos),
}

/// The body of `if`, `range` and `with`.
#[derive(Debug)]
pub(crate) struct Branch {
    pub(crate) pos: Pos,
    pub(crate) pipe: Pipe,
    pub(crate) list: Vec<Node>,
    pub(crate) else_list: Option<Vec<Node>>,
}

/// `{{template "name" pipeline}}`.
#[derive(Debug)]
pub(crate) struct TemplateCall {
    pub(crate) pos: Pos,
    pub(crate) name: Box<str>,
    pub(crate) pipe: Option<Pipe>,
}

/// A pipeline, possibly declaring or assigning variables: `$x := a | b c`.
#[derive(Debug)]
pub(crate) struct Pipe {
    pub(crate) pos: Pos,
    pub(crate) is_assign: bool,
    pub(crate) decl: Vec<VarDecl>,
    pub(crate) cmds: Vec<Command>,
}

/// A variable a pipeline declares or assigns.
#[derive(Debug)]
pub(crate) struct VarDecl {
    pub(crate) name: Box<str>,
}

/// One command of a pipeline: an operand followed by arguments.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) pos: Pos,
    pub(crate) args: Vec<Arg>,
}

/// An operand.
#[derive(Debug)]
pub(crate) enum Arg {
    /// `.A.B`.
    Field { pos: Pos, idents: Box<[Box<str>]> },
    /// `(pipeline).A.B` or `fn.A`.
    Chain {
        pos: Pos,
        node: Box<Arg>,
        fields: Box<[Box<str>]>,
    },
    /// `$x` or `$x.A.B`.
    Variable {
        pos: Pos,
        name: Box<str>,
        fields: Box<[Box<str>]>,
    },
    /// A function name, resolved at parse time.
    Ident {
        pos: Pos,
        name: Box<str>,
        func: FuncRef,
    },
    /// A parenthesized pipeline.
    Pipe(Box<Pipe>),
    /// `.`.
    Dot(Pos),
    /// `nil`.
    Nil(Pos),
    /// `true` / `false`.
    Bool(Pos, bool),
    /// A number or character constant.
    Number(Box<Number>),
    /// A string constant.
    Str {
        pos: Pos,
        quoted: Box<str>,
        text: Box<str>,
    },
}

/// A numeric constant, with the value Go's `idealConstant` gives it where no type is known.
#[derive(Debug)]
pub(crate) struct Number {
    pub(crate) pos: Pos,
    pub(crate) text: Box<str>,
    pub(crate) ideal: Ideal,
}

/// The value of a constant in an untyped context.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ideal {
    Int(i64),
    Float(f64),
    /// An unsigned constant too big for `int`: an error when used.
    Overflow,
    /// A complex constant, which the value model has no room for.
    Complex,
}

/// A function resolved at parse time.
#[derive(Clone, Copy)]
pub(crate) enum FuncRef {
    /// One of Go's builtins.
    Builtin(Builtin),
    /// `include`.
    Include,
    /// `tpl`.
    Tpl,
    /// A function of the library.
    Lib(Func),
}

impl std::fmt::Debug for FuncRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FuncRef::Builtin(b) => write!(f, "Builtin({b:?})"),
            FuncRef::Include => f.write_str("Include"),
            FuncRef::Tpl => f.write_str("Tpl"),
            FuncRef::Lib(_) => f.write_str("Lib"),
        }
    }
}

/// Go's builtin functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
    And,
    Or,
    Not,
    Len,
    Index,
    Slice,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Print,
    Printf,
    Println,
    Html,
    Js,
    Urlquery,
    Call,
}

impl Builtin {
    /// The builtin called `name`.
    pub(crate) fn named(name: &str) -> Option<Builtin> {
        Some(match name {
            "and" => Builtin::And,
            "or" => Builtin::Or,
            "not" => Builtin::Not,
            "len" => Builtin::Len,
            "index" => Builtin::Index,
            "slice" => Builtin::Slice,
            "eq" => Builtin::Eq,
            "ne" => Builtin::Ne,
            "lt" => Builtin::Lt,
            "le" => Builtin::Le,
            "gt" => Builtin::Gt,
            "ge" => Builtin::Ge,
            "print" => Builtin::Print,
            "printf" => Builtin::Printf,
            "println" => Builtin::Println,
            "html" => Builtin::Html,
            "js" => Builtin::Js,
            "urlquery" => Builtin::Urlquery,
            "call" => Builtin::Call,
            _ => return None,
        })
    }
}

/// A node that execution is "at", for the location and `<context>` of an error (Go's
/// `state.at`).
#[derive(Clone, Copy)]
pub(crate) enum At<'t> {
    None,
    Node(&'t Node),
    Pipe(&'t Pipe),
    Cmd(&'t Command),
    Arg(&'t Arg),
}

impl At<'_> {
    /// The node's offset in its source.
    pub(crate) fn pos(&self) -> Option<Pos> {
        match self {
            At::None => None,
            At::Node(n) => Some(n.pos()),
            At::Pipe(p) => Some(p.pos),
            At::Cmd(c) => Some(c.pos),
            At::Arg(a) => Some(a.pos()),
        }
    }

    /// The node as Go's `String()` prints it.
    pub(crate) fn context(&self) -> String {
        let mut s = String::new();
        match self {
            At::None => {}
            At::Node(n) => n.write_to(&mut s),
            At::Pipe(p) => p.write_to(&mut s),
            At::Cmd(c) => c.write_to(&mut s),
            At::Arg(a) => a.write_to(&mut s),
        }
        s
    }
}

impl Node {
    pub(crate) fn pos(&self) -> Pos {
        match self {
            Node::Text { pos, .. } | Node::Break(pos) | Node::Continue(pos) => *pos,
            Node::Action(p) => p.pos,
            Node::If(b) | Node::Range(b) | Node::With(b) => b.pos,
            Node::Template(t) => t.pos,
        }
    }

    /// Go's `Node.String()`.
    pub(crate) fn write_to(&self, s: &mut String) {
        match self {
            Node::Text { text, .. } => s.push_str(text),
            Node::Action(p) => {
                s.push_str("{{");
                p.write_to(s);
                s.push_str("}}");
            }
            Node::If(b) => b.write_to("if", s),
            Node::Range(b) => b.write_to("range", s),
            Node::With(b) => b.write_to("with", s),
            Node::Template(t) => {
                s.push_str("{{template ");
                s.push_str(&super::quote::go_quote(&t.name));
                if let Some(p) = &t.pipe {
                    s.push(' ');
                    p.write_to(s);
                }
                s.push_str("}}");
            }
            Node::Break(_) => s.push_str("{{break}}"),
            Node::Continue(_) => s.push_str("{{continue}}"),
        }
    }
}

fn write_list(list: &[Node], s: &mut String) {
    for n in list {
        n.write_to(s);
    }
}

impl Branch {
    fn write_to(&self, keyword: &str, s: &mut String) {
        s.push_str("{{");
        s.push_str(keyword);
        s.push(' ');
        self.pipe.write_to(s);
        s.push_str("}}");
        write_list(&self.list, s);
        if let Some(e) = &self.else_list {
            s.push_str("{{else}}");
            write_list(e, s);
        }
        s.push_str("{{end}}");
    }
}

impl Pipe {
    pub(crate) fn write_to(&self, s: &mut String) {
        if !self.decl.is_empty() {
            for (i, v) in self.decl.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                s.push_str(&v.name);
            }
            s.push_str(if self.is_assign { " = " } else { " := " });
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                s.push_str(" | ");
            }
            c.write_to(s);
        }
    }
}

impl Command {
    pub(crate) fn write_to(&self, s: &mut String) {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            if let Arg::Pipe(p) = a {
                s.push('(');
                p.write_to(s);
                s.push(')');
            } else {
                a.write_to(s);
            }
        }
    }
}

impl Arg {
    pub(crate) fn pos(&self) -> Pos {
        match self {
            Arg::Field { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Ident { pos, .. }
            | Arg::Dot(pos)
            | Arg::Nil(pos)
            | Arg::Bool(pos, _)
            | Arg::Str { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
            Arg::Number(n) => n.pos,
        }
    }

    /// Go's `Node.String()`.
    pub(crate) fn write_to(&self, s: &mut String) {
        match self {
            Arg::Field { idents, .. } => {
                for i in idents.iter() {
                    s.push('.');
                    s.push_str(i);
                }
            }
            Arg::Chain { node, fields, .. } => {
                if let Arg::Pipe(p) = &**node {
                    s.push('(');
                    p.write_to(s);
                    s.push(')');
                } else {
                    node.write_to(s);
                }
                for f in fields.iter() {
                    s.push('.');
                    s.push_str(f);
                }
            }
            Arg::Variable { name, fields, .. } => {
                s.push_str(name);
                for f in fields.iter() {
                    s.push('.');
                    s.push_str(f);
                }
            }
            Arg::Ident { name, .. } => s.push_str(name),
            Arg::Pipe(p) => p.write_to(s),
            Arg::Dot(_) => s.push('.'),
            Arg::Nil(_) => s.push_str("nil"),
            Arg::Bool(_, b) => s.push_str(if *b { "true" } else { "false" }),
            Arg::Number(n) => s.push_str(&n.text),
            Arg::Str { quoted, .. } => s.push_str(quoted),
        }
    }

    /// Go's `Node.String()`, as a new string.
    pub(crate) fn string(&self) -> String {
        let mut s = String::new();
        self.write_to(&mut s);
        s
    }
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.string())
    }
}

/// Writes `node` the way an error message's `%s` of a node does.
pub(crate) fn node_string(node: &Node) -> String {
    let mut s = String::new();
    node.write_to(&mut s);
    s
}
