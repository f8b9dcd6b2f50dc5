//! The executor: Go's `text/template/exec.go` over [`Value`]s, with Helm's `include` and
//! `tpl`.
//!
//! It follows Go's evaluation order and keeps Go's "current node" (`state.at`) so that an
//! error names the same node, line and column as Helm's. Go distinguishes two kinds of nil,
//! and templates see the difference; [`EVal`] keeps it:
//!
//! - a value read from a map or list (`.Values.a`, a `range` element) has Go's static type
//!   `interface {}`: a missing or null one is a *nil interface*, and a field of it is the error
//!   `nil pointer evaluating interface {}.b`;
//! - once a pipeline has produced it, the value is *unwrapped*: nil becomes *no value* (Go's
//!   invalid `reflect.Value`), printed as `<no value>`, whose fields are silently no value too.
//!
//! Every node evaluated costs a step against [`Exec::max_steps`]; output is counted against
//! [`Exec::max_output`]; `include` and `template` nest at most [`Exec::max_include_depth`]
//! deep, and the native stack a render uses is bounded by [`Exec::max_stack`].

use std::collections::HashMap;
use std::sync::Arc;

use super::ast::{
    Arg, At, Branch, Builtin, Command, FuncRef, Ideal, Node, Number, Pipe, TemplateCall, Tree,
};
use super::builtins;
use super::error::{Error, ErrorKind, SET_NAME};
use super::quote::go_quote;
use super::{Exec, parse};
use crate::value::Value;

/// A value during execution, with Go's static type where it matters (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct EVal {
    pub(crate) v: Value,
    /// Read from a map or list (Go's `interface {}`), not yet unwrapped by a pipeline.
    pub(crate) iface: bool,
}

impl EVal {
    pub(crate) fn direct(v: Value) -> EVal {
        EVal { v, iface: false }
    }

    pub(crate) fn iface(v: Value) -> EVal {
        EVal { v, iface: true }
    }

    /// Go's invalid `reflect.Value`: no value at all.
    pub(crate) fn invalid() -> EVal {
        EVal {
            v: Value::Nil,
            iface: false,
        }
    }

    fn is_invalid(&self) -> bool {
        !self.iface && self.v.is_nil()
    }

    /// A function's result: nil is a nil interface.
    fn result(v: Value) -> EVal {
        let iface = v.is_nil();
        EVal { v, iface }
    }

    /// What a pipeline stage yields: Go "digs down" into an `interface {}`.
    fn unwrapped(self) -> EVal {
        EVal {
            v: self.v,
            iface: false,
        }
    }
}

type R<T> = Result<T, Box<Error>>;

/// How a list of nodes ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Normal,
    Break,
    Continue,
}

/// How a function call failed.
enum CallFail {
    /// The function's own message: `error calling NAME: message`.
    Msg(String),
    /// `fail` or `required`: the chart's message.
    Chart(String),
    /// A limit of the render.
    Limit(String),
    /// `include` or `tpl`: a message and the error of the template run.
    Wrap(String, Box<Error>),
}

/// The type a function's parameter has, which decides how Go converts an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    /// No type (a chain's receiver).
    Untyped,
    /// `interface {}`.
    Any,
    /// `reflect.Value` (Go's builtins).
    RValue,
    /// `string`.
    Str,
}

/// How many arguments a function takes.
enum Arity {
    Exact(usize),
    AtLeast(usize),
    Any,
}

fn arity(f: FuncRef) -> Arity {
    match f {
        FuncRef::Builtin(b) => match b {
            Builtin::Not | Builtin::Len => Arity::Exact(1),
            Builtin::Ne | Builtin::Lt | Builtin::Le | Builtin::Gt | Builtin::Ge => Arity::Exact(2),
            Builtin::And
            | Builtin::Or
            | Builtin::Index
            | Builtin::Slice
            | Builtin::Eq
            | Builtin::Printf
            | Builtin::Call => Arity::AtLeast(1),
            Builtin::Print | Builtin::Println | Builtin::Html | Builtin::Js | Builtin::Urlquery => {
                Arity::Any
            }
        },
        FuncRef::Include | FuncRef::Tpl => Arity::Exact(2),
        FuncRef::Lib(_) => Arity::Any,
    }
}

fn param(f: FuncRef, i: usize) -> Ty {
    match f {
        FuncRef::Builtin(b) => match b {
            Builtin::Print | Builtin::Println | Builtin::Html | Builtin::Js | Builtin::Urlquery => {
                Ty::Any
            }
            Builtin::Printf if i == 0 => Ty::Str,
            Builtin::Printf => Ty::Any,
            _ => Ty::RValue,
        },
        FuncRef::Include | FuncRef::Tpl if i == 0 => Ty::Str,
        _ => Ty::Any,
    }
}

/// The execution of one template (Go's `state` for one tree): its tree, the node it is at,
/// and its variables.
struct Frame<'t> {
    tree: &'t Tree,
    at: At<'t>,
    vars: Vec<(&'t str, EVal)>,
}

impl<'t> Frame<'t> {
    fn new(tree: &'t Tree, dot: &EVal) -> Frame<'t> {
        let mut vars = Vec::with_capacity(8);
        vars.push(("$", dot.clone()));
        Frame {
            tree,
            at: At::None,
            vars,
        }
    }
}

/// The templates `tpl` adds for the text it runs.
type Overlay = Vec<Arc<Tree>>;

/// One top-level execution: the template set, the render's state, and what `tpl` and
/// nesting add on the way.
pub(crate) struct Machine<'x> {
    pub(crate) base: &'x HashMap<Box<str>, Arc<Tree>>,
    pub(crate) exec: &'x mut Exec,
    pub(crate) overlays: Vec<Overlay>,
    pub(crate) includes: usize,
    pub(crate) templates: usize,
    pub(crate) stack_base: usize,
    /// Arguments of library calls in progress.
    vals: Vec<Value>,
}

const STACK_EXHAUSTED: &str = "templates nest too deeply for the render's stack (Exec::max_stack)";

/// The address of a local, to measure how much native stack the render uses.
#[inline(always)]
pub(crate) fn stack_pointer() -> usize {
    let marker = 0u8;
    std::ptr::addr_of!(marker) as usize
}

impl<'x> Machine<'x> {
    pub(crate) fn new(base: &'x HashMap<Box<str>, Arc<Tree>>, exec: &'x mut Exec) -> Machine<'x> {
        Machine {
            base,
            exec,
            overlays: Vec::new(),
            includes: 0,
            templates: 0,
            stack_base: stack_pointer(),
            vals: Vec::with_capacity(32),
        }
    }

    /// Runs `tree` with `dot` as `.` and `$`, appending to `out`.
    pub(crate) fn run(&mut self, tree: &Tree, dot: &EVal, out: &mut String) -> R<()> {
        let mut frame = Frame::new(tree, dot);
        self.walk(&mut frame, dot, &tree.root, out)?;
        Ok(())
    }

    fn lookup(&self, name: &str) -> Option<Arc<Tree>> {
        for overlay in self.overlays.iter().rev() {
            if let Some(t) = overlay.iter().find(|t| &*t.name == name) {
                return Some(t.clone());
            }
        }
        self.base.get(name).cloned()
    }

    // Errors and limits.

    #[inline(never)]
    fn err(&self, f: &Frame<'_>, message: String) -> Box<Error> {
        Error::exec(f.tree, f.at, ErrorKind::Exec, message)
    }

    #[inline(never)]
    fn limit(&self, f: &Frame<'_>, message: String) -> Box<Error> {
        Error::exec(f.tree, f.at, ErrorKind::Limit, message)
    }

    #[inline(never)]
    fn call_error(&self, f: &Frame<'_>, name: &str, fail: CallFail) -> Box<Error> {
        match fail {
            CallFail::Msg(m) => Error::exec(
                f.tree,
                f.at,
                ErrorKind::Exec,
                format!("error calling {name}: {m}"),
            )
            .with_call(name, None),
            CallFail::Chart(m) => {
                Error::exec(f.tree, f.at, ErrorKind::Fail, m).with_call(name, None)
            }
            CallFail::Limit(m) => Error::exec(
                f.tree,
                f.at,
                ErrorKind::Limit,
                format!("error calling {name}: {m}"),
            )
            .with_call(name, None),
            CallFail::Wrap(m, cause) => {
                Error::exec(f.tree, f.at, ErrorKind::Exec, m).with_call(name, Some(cause))
            }
        }
    }

    #[inline]
    fn step(&mut self, f: &Frame<'_>) -> R<()> {
        self.exec.steps += 1;
        if self.exec.steps > self.exec.max_steps {
            return Err(self.limit(
                f,
                format!(
                    "the render exceeded its budget of {} evaluation steps",
                    self.exec.max_steps
                ),
            ));
        }
        Ok(())
    }

    fn check_stack(&self, f: &Frame<'_>) -> R<()> {
        if self.stack_base.abs_diff(stack_pointer()) > self.exec.max_stack {
            return Err(self.limit(f, STACK_EXHAUSTED.to_owned()));
        }
        Ok(())
    }

    /// The stack check for `include` and `tpl`, which fail as functions do.
    fn stack_room(&self) -> Result<(), CallFail> {
        if self.stack_base.abs_diff(stack_pointer()) > self.exec.max_stack {
            return Err(CallFail::Limit(STACK_EXHAUSTED.to_owned()));
        }
        Ok(())
    }

    fn count_output(&mut self, f: &Frame<'_>, n: usize) -> R<()> {
        self.exec.output += n;
        if self.exec.output > self.exec.max_output {
            return Err(self.limit(
                f,
                format!(
                    "the render's output exceeded its limit of {} bytes",
                    self.exec.max_output
                ),
            ));
        }
        Ok(())
    }

    // Walking.

    fn walk<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        list: &'t [Node],
        out: &mut String,
    ) -> R<Flow> {
        for node in list {
            f.at = At::Node(node);
            self.step(f)?;
            match node {
                Node::Text { text, .. } => {
                    self.count_output(f, text.len())?;
                    out.push_str(text);
                }
                Node::Action(pipe) => {
                    let v = self.eval_pipeline(f, dot, pipe)?;
                    if pipe.decl.is_empty() {
                        f.at = At::Node(node);
                        let before = out.len();
                        if v.v.is_nil() {
                            out.push_str("<no value>");
                        } else {
                            v.v.write_go(out);
                        }
                        self.count_output(f, out.len() - before)?;
                    }
                }
                Node::If(b) => {
                    let flow = self.walk_if_with(f, dot, b, false, out)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::With(b) => {
                    let flow = self.walk_if_with(f, dot, b, true, out)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Range(b) => {
                    let flow = self.walk_range(f, dot, b, out)?;
                    if flow != Flow::Normal {
                        return Ok(flow);
                    }
                }
                Node::Template(t) => self.walk_template(f, dot, t, out)?,
                Node::Break(_) => return Ok(Flow::Break),
                Node::Continue(_) => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_if_with<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        b: &'t Branch,
        with: bool,
        out: &mut String,
    ) -> R<Flow> {
        self.check_stack(f)?;
        let mark = f.vars.len();
        let val = self.eval_pipeline(f, dot, &b.pipe)?;
        let flow = if val.v.truthy() {
            if with {
                self.walk(f, &val, &b.list, out)?
            } else {
                self.walk(f, dot, &b.list, out)?
            }
        } else if let Some(e) = &b.else_list {
            self.walk(f, dot, e, out)?
        } else {
            Flow::Normal
        };
        f.vars.truncate(mark);
        Ok(flow)
    }

    #[inline(never)]
    fn walk_range<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        b: &'t Branch,
        out: &mut String,
    ) -> R<Flow> {
        self.check_stack(f)?;
        let mark = f.vars.len();
        let val = self.eval_pipeline(f, dot, &b.pipe)?;
        let inner = f.vars.len();
        let subject = match &val.v {
            Value::Object(o) => o.plain(),
            other => other.clone(),
        };
        let mut ran = false;
        match &subject {
            Value::List(items) => {
                ran = !items.is_empty();
                for (i, e) in items.iter().enumerate() {
                    let index = EVal::direct(Value::Int(i64::try_from(i).unwrap_or(i64::MAX)));
                    if self.one_iteration(f, b, inner, index, EVal::iface(e.clone()), out)?
                        == Flow::Break
                    {
                        break;
                    }
                }
            }
            Value::Map(m) => {
                ran = !m.is_empty();
                let entries: Vec<(Value, Value)> =
                    m.with(|m| m.iter().map(|(k, v)| (Value::str(k), v.clone())).collect());
                for (k, v) in entries {
                    if self.one_iteration(f, b, inner, EVal::direct(k), EVal::iface(v), out)?
                        == Flow::Break
                    {
                        break;
                    }
                }
            }
            Value::Int(n) | Value::Int64(n) => {
                // Go ranges over an integer with elements of its type.
                let elem_of: fn(i64) -> Value = if matches!(subject, Value::Int64(_)) {
                    Value::Int64
                } else {
                    Value::Int
                };
                if b.pipe.decl.len() > 1 {
                    return Err(self.err(
                        f,
                        format!("can't use {n} to iterate over more than one variable"),
                    ));
                }
                ran = *n > 0;
                for i in 0..*n {
                    let elem = EVal::direct(elem_of(i));
                    if self.one_iteration(f, b, inner, EVal::invalid(), elem, out)? == Flow::Break {
                        break;
                    }
                }
            }
            Value::Nil => {}
            _ => {
                return Err(self.err(f, format!("range can't iterate over {}", val.v.go_string())));
            }
        }
        let mut flow = Flow::Normal;
        if !ran && let Some(e) = &b.else_list {
            // Go's walkRange recovers a break from anywhere inside it, its else list
            // included; a continue goes on to the enclosing range.
            flow = self.walk(f, dot, e, out)?;
            if flow == Flow::Break {
                flow = Flow::Normal;
            }
        }
        f.vars.truncate(mark);
        Ok(flow)
    }

    #[inline(never)]
    fn one_iteration<'t>(
        &mut self,
        f: &mut Frame<'t>,
        b: &'t Branch,
        mark: usize,
        index: EVal,
        elem: EVal,
        out: &mut String,
    ) -> R<Flow> {
        let decl = &b.pipe.decl;
        if let Some(first) = decl.first() {
            if b.pipe.is_assign {
                let v = if decl.len() > 1 {
                    index.clone()
                } else {
                    elem.clone()
                };
                self.set_var(f, &first.name, v)?;
            } else {
                set_top_var(f, 1, elem.clone());
            }
        }
        if let Some(second) = decl.get(1) {
            if b.pipe.is_assign {
                self.set_var(f, &second.name, elem.clone())?;
            } else {
                set_top_var(f, 2, index);
            }
        }
        let flow = self.walk(f, &elem, &b.list, out)?;
        f.vars.truncate(mark);
        Ok(flow)
    }

    #[inline(never)]
    fn walk_template<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        t: &'t TemplateCall,
        out: &mut String,
    ) -> R<()> {
        let Some(tree) = self.lookup(&t.name) else {
            return Err(self.err(f, format!("template {} not defined", go_quote(&t.name))));
        };
        if self.templates >= self.exec.max_include_depth {
            return Err(self.limit(
                f,
                format!(
                    "exceeded maximum template depth ({})",
                    self.exec.max_include_depth
                ),
            ));
        }
        self.check_stack(f)?;
        let d = match &t.pipe {
            Some(p) => self.eval_pipeline(f, dot, p)?,
            None => EVal::invalid(),
        };
        self.templates += 1;
        let mut frame = Frame::new(&tree, &d);
        let r = self.walk(&mut frame, &d, &tree.root, out);
        self.templates -= 1;
        r.map(|_| ())
    }

    // Variables.

    fn var_value(&self, f: &Frame<'_>, name: &str) -> R<EVal> {
        match f.vars.iter().rev().find(|(n, _)| *n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.err(f, format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&self, f: &mut Frame<'_>, name: &str, v: EVal) -> R<()> {
        match f.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.err(f, format!("undefined variable: {name}"))),
        }
    }

    // Evaluation.

    fn eval_pipeline<'t>(&mut self, f: &mut Frame<'t>, dot: &EVal, pipe: &'t Pipe) -> R<EVal> {
        f.at = At::Pipe(pipe);
        let mut value: Option<EVal> = None;
        for cmd in &pipe.cmds {
            let v = self.eval_command(f, dot, cmd, value.take())?;
            value = Some(v.unwrapped());
        }
        let value = value.unwrap_or_else(EVal::invalid);
        for d in &pipe.decl {
            if pipe.is_assign {
                self.set_var(f, &d.name, value.clone())?;
            } else {
                f.vars.push((&d.name, value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(
        &self,
        f: &Frame<'_>,
        first: &Arg,
        rest: &[Arg],
        fin: &Option<EVal>,
    ) -> R<()> {
        if !rest.is_empty() || fin.is_some() {
            return Err(self.err(f, format!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    fn eval_command<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        cmd: &'t Command,
        fin: Option<EVal>,
    ) -> R<EVal> {
        self.step(f)?;
        let Some(first) = cmd.args.first() else {
            return Ok(EVal::invalid());
        };
        let rest = cmd.args.get(1..).unwrap_or(&[]);
        match first {
            Arg::Field { idents, .. } => {
                return self.eval_field_node(f, dot, first, idents, rest, fin);
            }
            Arg::Chain { node, fields, .. } => {
                return self.eval_chain_node(f, dot, first, node, fields, rest, fin);
            }
            Arg::Ident { name, func, .. } => {
                f.at = At::Arg(first);
                return self.eval_call(f, dot, *func, At::Cmd(cmd), name, rest, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(f, first, rest, &fin)?;
                return self.eval_pipeline(f, dot, p);
            }
            Arg::Variable { name, fields, .. } => {
                return self.eval_variable_node(f, dot, first, name, fields, rest, fin);
            }
            _ => {}
        }
        f.at = At::Arg(first);
        self.not_a_function(f, first, rest, &fin)?;
        match first {
            Arg::Bool(_, b) => Ok(EVal::direct(Value::Bool(*b))),
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Err(self.err(f, "nil is not a command".to_owned())),
            Arg::Number(n) => self.ideal_constant(f, first, n),
            Arg::Str { text, .. } => Ok(EVal::direct(Value::str(text))),
            other => Err(self.err(
                f,
                format!("can't evaluate command {}", go_quote(&other.string())),
            )),
        }
    }

    fn ideal_constant<'t>(&self, f: &mut Frame<'t>, node: &'t Arg, n: &Number) -> R<EVal> {
        f.at = At::Arg(node);
        match n.ideal {
            Ideal::Int(i) => Ok(EVal::direct(Value::Int(i))),
            Ideal::Float(x) => Ok(EVal::direct(Value::Float(x))),
            Ideal::Overflow => Err(self.err(f, format!("{} overflows int", n.text))),
            Ideal::Complex => {
                Err(self.err(f, format!("complex constant {} is not supported", n.text)))
            }
        }
    }

    fn eval_field_node<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        node: &'t Arg,
        idents: &'t [Box<str>],
        rest: &'t [Arg],
        fin: Option<EVal>,
    ) -> R<EVal> {
        f.at = At::Arg(node);
        self.eval_field_chain(f, dot, dot.clone(), node, idents, rest, fin)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_chain_node<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        node: &'t Arg,
        inner: &'t Arg,
        fields: &'t [Box<str>],
        rest: &'t [Arg],
        fin: Option<EVal>,
    ) -> R<EVal> {
        f.at = At::Arg(node);
        if let Arg::Nil(_) = inner {
            return Err(self.err(f, format!("indirection through explicit nil in {node}")));
        }
        let receiver = self.eval_arg(f, dot, inner, Ty::Untyped)?;
        self.eval_field_chain(f, dot, receiver, node, fields, rest, fin)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_variable_node<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        node: &'t Arg,
        name: &str,
        fields: &'t [Box<str>],
        rest: &'t [Arg],
        fin: Option<EVal>,
    ) -> R<EVal> {
        f.at = At::Arg(node);
        let value = self.var_value(f, name)?;
        if fields.is_empty() {
            self.not_a_function(f, node, rest, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(f, dot, value, node, fields, rest, fin)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        mut receiver: EVal,
        node: &'t Arg,
        idents: &'t [Box<str>],
        rest: &'t [Arg],
        fin: Option<EVal>,
    ) -> R<EVal> {
        let Some((last, path)) = idents.split_last() else {
            return Ok(receiver);
        };
        for ident in path {
            receiver = self.eval_field(f, dot, ident, node, &[], None, receiver)?;
        }
        self.eval_field(f, dot, last, node, rest, fin, receiver)
    }

    /// `.name` of `receiver`, possibly a method call with `args` and the pipeline's `fin`.
    #[allow(clippy::too_many_arguments)]
    fn eval_field<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        name: &str,
        node: &'t Arg,
        args: &'t [Arg],
        fin: Option<EVal>,
        receiver: EVal,
    ) -> R<EVal> {
        if receiver.is_invalid() {
            return Ok(EVal::invalid());
        }
        let type_name = |r: &EVal| -> String {
            if r.iface {
                "interface {}".to_owned()
            } else {
                r.v.type_name().to_owned()
            }
        };
        let has_args = !args.is_empty() || fin.is_some();
        match &receiver.v {
            Value::Nil => Err(self.err(
                f,
                format!("nil pointer evaluating {}.{name}", type_name(&receiver)),
            )),
            Value::Map(m) => {
                if has_args {
                    return Err(self.err(f, format!("{name} is not a method but has arguments")));
                }
                Ok(EVal::iface(m.get(name).unwrap_or(Value::Nil)))
            }
            Value::Object(o) => {
                let o = o.clone();
                if !has_args && let Some(v) = o.field(name) {
                    return Ok(EVal::result(v));
                }
                let mut argv = Vec::with_capacity(args.len() + 1);
                for a in args {
                    argv.push(self.eval_arg(f, dot, a, Ty::Any)?.v);
                }
                if let Some(fv) = fin {
                    argv.push(fv.v);
                }
                match o.call(name, &argv) {
                    Some(Ok(v)) => Ok(EVal::result(v)),
                    Some(Err(e)) => {
                        f.at = At::Arg(node);
                        Err(self.call_error(f, name, CallFail::Msg(e)))
                    }
                    None if has_args && o.field(name).is_some() => {
                        f.at = At::Arg(node);
                        Err(self.err(
                            f,
                            format!("{name} has arguments but cannot be invoked as function"),
                        ))
                    }
                    None => Err(self.err(
                        f,
                        format!(
                            "can't evaluate field {name} in type {}",
                            type_name(&receiver)
                        ),
                    )),
                }
            }
            _ => Err(self.err(
                f,
                format!(
                    "can't evaluate field {name} in type {}",
                    type_name(&receiver)
                ),
            )),
        }
    }

    /// An argument, converted as Go converts it to a parameter of type `ty`.
    fn eval_arg<'t>(&mut self, f: &mut Frame<'t>, dot: &EVal, arg: &'t Arg, ty: Ty) -> R<EVal> {
        f.at = At::Arg(arg);
        let v = match arg {
            Arg::Dot(_) => dot.clone(),
            Arg::Nil(_) => {
                return match ty {
                    Ty::Str => Err(self.err(f, "cannot assign nil to string".to_owned())),
                    Ty::Any => Ok(EVal::iface(Value::Nil)),
                    _ => Ok(EVal::invalid()),
                };
            }
            Arg::Field { idents, .. } => self.eval_field_node(f, dot, arg, idents, &[], None)?,
            Arg::Variable { name, fields, .. } => {
                self.eval_variable_node(f, dot, arg, name, fields, &[], None)?
            }
            Arg::Pipe(p) => self.eval_pipeline(f, dot, p)?,
            Arg::Ident { name, func, .. } => {
                self.eval_call(f, dot, *func, At::Arg(arg), name, &[], None)?
            }
            Arg::Chain { node, fields, .. } => {
                self.eval_chain_node(f, dot, arg, node, fields, &[], None)?
            }
            Arg::Bool(_, b) => {
                if ty == Ty::Str {
                    return Err(self.err(f, format!("expected string; found {arg}")));
                }
                EVal::direct(Value::Bool(*b))
            }
            Arg::Number(n) => {
                if ty == Ty::Str {
                    return Err(self.err(f, format!("expected string; found {arg}")));
                }
                self.ideal_constant(f, arg, n)?
            }
            Arg::Str { text, .. } => EVal::direct(Value::str(text)),
        };
        self.validate(f, v, ty)
    }

    /// Go's `validateType`.
    fn validate(&self, f: &Frame<'_>, v: EVal, ty: Ty) -> R<EVal> {
        match ty {
            Ty::Str => match &v.v {
                Value::Str(_) => Ok(v),
                Value::Nil if !v.iface => {
                    Err(self.err(f, "invalid value; expected string".to_owned()))
                }
                Value::Nil => Err(self.err(
                    f,
                    "wrong type for value; expected string; got interface {}".to_owned(),
                )),
                other => Err(self.err(
                    f,
                    format!(
                        "wrong type for value; expected string; got {}",
                        other.type_name()
                    ),
                )),
            },
            _ => Ok(v),
        }
    }

    /// Calls a function: Go's `evalCall`.
    #[allow(clippy::too_many_arguments)]
    fn eval_call<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        func: FuncRef,
        at_call: At<'t>,
        name: &str,
        args: &'t [Arg],
        fin: Option<EVal>,
    ) -> R<EVal> {
        let num_in = args.len() + usize::from(fin.is_some());
        if let Some(e) = self.check_arity(f, func, name, args.len(), num_in) {
            return Err(e);
        }
        match func {
            FuncRef::Lib(fun) => self.call_lib(f, dot, fun, at_call, name, args, fin),
            FuncRef::Builtin(b @ (Builtin::And | Builtin::Or)) => {
                self.and_or(f, dot, b == Builtin::Or, args, fin)
            }
            FuncRef::Builtin(b) => self.call_builtin(f, dot, b, at_call, name, args, fin),
            FuncRef::Include | FuncRef::Tpl => {
                self.call_engine(f, dot, func, at_call, name, args, fin)
            }
        }
    }

    /// Go's check of the number of arguments, for the functions whose signature is known.
    #[inline(never)]
    fn check_arity(
        &self,
        f: &Frame<'_>,
        func: FuncRef,
        name: &str,
        given: usize,
        num_in: usize,
    ) -> Option<Box<Error>> {
        match arity(func) {
            Arity::Exact(n) if num_in != n => Some(self.err(
                f,
                format!("wrong number of args for {name}: want {n} got {num_in}"),
            )),
            Arity::AtLeast(n) if num_in < n => Some(self.err(
                f,
                format!("wrong number of args for {name}: want at least {n} got {given}"),
            )),
            _ => None,
        }
    }

    /// `and` and `or`, which stop at the first operand that decides and return it.
    #[inline(never)]
    fn and_or<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        is_or: bool,
        args: &'t [Arg],
        fin: Option<EVal>,
    ) -> R<EVal> {
        let mut v = EVal::invalid();
        for a in args {
            v = self.eval_arg(f, dot, a, Ty::RValue)?;
            if v.v.truthy() == is_or {
                return Ok(v);
            }
        }
        if let Some(fv) = fin {
            v = fv;
        }
        Ok(v)
    }

    /// A library function: arguments are evaluated onto a shared stack, to spare a vector per
    /// call.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn call_lib<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        fun: crate::funcs::Func,
        at_call: At<'t>,
        name: &str,
        args: &'t [Arg],
        fin: Option<EVal>,
    ) -> R<EVal> {
        let start = self.vals.len();
        for a in args {
            match self.eval_arg(f, dot, a, Ty::Any) {
                Ok(v) => self.vals.push(v.v),
                Err(e) => {
                    self.vals.truncate(start);
                    return Err(e);
                }
            }
        }
        if let Some(fv) = fin {
            self.vals.push(fv.v);
        }
        let r = fun(&mut self.exec.ctx, self.vals.get(start..).unwrap_or(&[]));
        self.vals.truncate(start);
        match r {
            Ok(v) => Ok(EVal::result(v)),
            Err(m) => {
                f.at = at_call;
                let fail = if name == "fail" || name == "required" {
                    CallFail::Chart(m)
                } else {
                    CallFail::Msg(m)
                };
                Err(self.call_error(f, name, fail))
            }
        }
    }

    /// The arguments of a function whose parameter types are known.
    fn eval_args<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        func: FuncRef,
        args: &'t [Arg],
        fin: Option<EVal>,
    ) -> R<Vec<EVal>> {
        let num_in = args.len() + usize::from(fin.is_some());
        let mut argv: Vec<EVal> = Vec::with_capacity(num_in);
        for (i, a) in args.iter().enumerate() {
            argv.push(self.eval_arg(f, dot, a, param(func, i))?);
        }
        if let Some(fv) = fin {
            argv.push(self.validate(f, fv, param(func, num_in - 1))?);
        }
        Ok(argv)
    }

    /// `include` and `tpl`.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn call_engine<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        func: FuncRef,
        at_call: At<'t>,
        name: &str,
        args: &'t [Arg],
        fin: Option<EVal>,
    ) -> R<EVal> {
        let argv = self.eval_args(f, dot, func, args, fin)?;
        let mut it = argv.into_iter();
        let (first, data) = (it.next(), it.next());
        let first = first.map(|e| e.v).unwrap_or_default();
        let first = first.as_str().unwrap_or("");
        let data = data.unwrap_or_else(EVal::invalid);
        let r = if matches!(func, FuncRef::Include) {
            self.include(first, data)
        } else {
            self.tpl(first, data)
        };
        r.map_err(|fail| {
            f.at = at_call;
            self.call_error(f, name, fail)
        })
    }

    /// Go's builtins.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn call_builtin<'t>(
        &mut self,
        f: &mut Frame<'t>,
        dot: &EVal,
        b: Builtin,
        at_call: At<'t>,
        name: &str,
        args: &'t [Arg],
        fin: Option<EVal>,
    ) -> R<EVal> {
        let argv = self.eval_args(f, dot, FuncRef::Builtin(b), args, fin)?;
        builtin(b, args, &argv).map_err(|fail| {
            f.at = at_call;
            self.call_error(f, name, fail)
        })
    }
}

/// Go's builtin `b` applied to evaluated arguments.
fn builtin(b: Builtin, args: &[Arg], argv: &[EVal]) -> Result<EVal, CallFail> {
    {
        let bool_result = |r: Result<bool, String>| {
            r.map(|x| EVal::direct(Value::Bool(x)))
                .map_err(CallFail::Msg)
        };
        let a0 = || argv.first().cloned().unwrap_or_else(EVal::invalid);
        let a1 = || argv.get(1).cloned().unwrap_or_else(EVal::invalid);
        let rest = argv.get(1..).unwrap_or(&[]);
        match b {
            Builtin::Not => Ok(EVal::direct(Value::Bool(!a0().v.truthy()))),
            Builtin::Len => builtins::len(&a0())
                .map(EVal::direct)
                .map_err(CallFail::Msg),
            Builtin::Index => builtins::index(&a0(), rest).map_err(CallFail::Msg),
            Builtin::Slice => builtins::slice(&a0(), rest).map_err(CallFail::Msg),
            Builtin::Eq => bool_result(builtins::eq(&a0(), rest)),
            Builtin::Ne => bool_result(builtins::ne(&a0(), &a1())),
            Builtin::Lt => bool_result(builtins::lt(&a0(), &a1())),
            Builtin::Le => bool_result(builtins::le(&a0(), &a1())),
            Builtin::Gt => bool_result(builtins::gt(&a0(), &a1())),
            Builtin::Ge => bool_result(builtins::ge(&a0(), &a1())),
            Builtin::Print => Ok(EVal::direct(Value::from(builtins::print(argv)))),
            Builtin::Println => Ok(EVal::direct(Value::from(builtins::println(argv)))),
            Builtin::Printf => {
                let format = a0().v;
                Ok(EVal::direct(Value::from(builtins::printf(
                    format.as_str().unwrap_or(""),
                    rest,
                ))))
            }
            Builtin::Html => Ok(EVal::direct(Value::from(builtins::html(argv)))),
            Builtin::Js => Ok(EVal::direct(Value::from(builtins::js(argv)))),
            Builtin::Urlquery => Ok(EVal::direct(Value::from(builtins::urlquery(argv)))),
            Builtin::Call => {
                let callee = args.first().map(Arg::string).unwrap_or_default();
                let fv = a0().v;
                if fv.is_nil() {
                    return Err(CallFail::Msg("call of nil".to_owned()));
                }
                Err(CallFail::Msg(format!(
                    "non-function {callee} of type {}",
                    fv.type_name()
                )))
            }
            Builtin::And | Builtin::Or => Ok(a0()),
        }
    }
}

impl Machine<'_> {
    /// Helm's `include`: runs the template `name` into a string.
    #[inline(never)]
    fn include(&mut self, name: &str, data: EVal) -> Result<EVal, CallFail> {
        let Some(tree) = self.lookup(name) else {
            return Err(CallFail::Wrap(
                "error calling include".to_owned(),
                Error::no_template(name),
            ));
        };
        if self.includes > self.exec.max_include_depth {
            return Err(CallFail::Limit(format!(
                "rendering template has a nested reference name: {name}: unable to execute template"
            )));
        }
        self.stack_room()?;
        let dot = EVal::direct(data.v);
        let mut out = String::new();
        self.includes += 1;
        let mut frame = Frame::new(&tree, &dot);
        let r = self.walk(&mut frame, &dot, &tree.root, &mut out);
        self.includes -= 1;
        match r {
            Ok(_) => Ok(EVal::direct(Value::from(out))),
            Err(e) => Err(CallFail::Wrap("error calling include".to_owned(), e)),
        }
    }

    /// Helm's `tpl`: parses `text` as a template that sees every template of the set and
    /// may define its own, and runs it with `data`.
    #[inline(never)]
    fn tpl(&mut self, text: &str, data: EVal) -> Result<EVal, CallFail> {
        let trees = match self.exec.tpl_cache.get(text) {
            Some(t) => t.clone(),
            None => {
                let used = self.stack_base.abs_diff(stack_pointer());
                let budget = self
                    .exec
                    .max_stack
                    .saturating_sub(used)
                    .max(parse::STACK_BUDGET / 4);
                let trees = match parse::parse(
                    SET_NAME,
                    text,
                    &super::resolve,
                    budget.min(parse::STACK_BUDGET),
                ) {
                    Ok(t) => Arc::new(t.into_iter().map(Arc::new).collect::<Vec<_>>()),
                    Err(e) => {
                        return Err(CallFail::Wrap(
                            format!(
                                "error calling tpl: cannot parse template {}",
                                go_quote(text)
                            ),
                            e,
                        ));
                    }
                };
                self.exec.cache_tpl(text, trees.clone());
                trees
            }
        };
        let Some(main) = trees.first().cloned() else {
            return Ok(EVal::direct(Value::str("")));
        };
        // Go's rule: an empty definition does not replace a non-empty one.
        let overlay: Overlay = trees
            .iter()
            .filter(|t| !t.is_empty() || self.lookup(&t.name).is_none_or(|old| old.is_empty()))
            .cloned()
            .collect();
        self.stack_room()?;
        self.overlays.push(overlay);
        let dot = EVal::direct(data.v);
        let mut out = String::new();
        let mut frame = Frame::new(&main, &dot);
        let r = self.walk(&mut frame, &dot, &main.root, &mut out);
        self.overlays.pop();
        match r {
            Ok(_) => Ok(EVal::direct(Value::from(out.replace("<no value>", "")))),
            Err(e) => Err(CallFail::Wrap(
                format!(
                    "error calling tpl: error during tpl function execution for {}",
                    go_quote(text)
                ),
                e,
            )),
        }
    }
}

/// Go's `setTopVar`: overwrites the `n`th variable from the top.
fn set_top_var(f: &mut Frame<'_>, n: usize, v: EVal) {
    let len = f.vars.len();
    if let Some(slot) = len.checked_sub(n).and_then(|i| f.vars.get_mut(i)) {
        slot.1 = v;
    }
}
