//! Sprig's general-purpose functions, as Helm registers them: strings, regular expressions,
//! lists, dictionaries, arithmetic, defaults, type inspection, paths and URLs.
//!
//! Each function follows Sprig's Go code, including its type conversions: arithmetic reads its
//! operands with `cast.ToInt64` (so float64 values from YAML truncate), `toString` and friends
//! print with Go's `%v`, and parameters Go declares as `string`, `int`, `bool` or
//! `map[string]interface{}` reject other types with Go's own message. Helm drops `env` and
//! `expandenv`, so they are not here.

mod args;
mod case;
mod decimal;
mod defaults;
mod dicts;
mod lists;
mod math;
mod paths;
mod reflect;
mod regex;
mod strings;
mod urls;

use super::{Ctx, Func};
use crate::value::Value;

/// The function named `name`, if this part of the library has it.
pub(super) fn lookup(name: &str) -> Option<Func> {
    macro_rules! table {
        ($($n:literal => $f:path),* $(,)?) => {
            match name {
                $($n => {
                    let f: Func = |_: &mut Ctx, a: &[Value]| $f($n, a);
                    Some(f)
                })*
                _ => None,
            }
        };
    }
    table! {
        // Strings.
        "trim" => strings::trim,
        "trimAll" => strings::trim_all,
        "trimall" => strings::trim_all,
        "trimPrefix" => strings::trim_prefix,
        "trimSuffix" => strings::trim_suffix,
        "upper" => strings::upper,
        "lower" => strings::lower,
        "title" => strings::title,
        "untitle" => strings::untitle,
        "repeat" => strings::repeat,
        "substr" => strings::substr,
        "nospace" => strings::nospace,
        "trunc" => strings::trunc,
        "abbrev" => strings::abbrev,
        "abbrevboth" => strings::abbrevboth,
        "initials" => strings::initials,
        "wrap" => strings::wrap,
        "wrapWith" => strings::wrap_with,
        "contains" => strings::contains,
        "hasPrefix" => strings::has_prefix,
        "hasSuffix" => strings::has_suffix,
        "quote" => strings::quote,
        "squote" => strings::squote,
        "cat" => strings::cat,
        "indent" => strings::indent,
        "nindent" => strings::nindent,
        "replace" => strings::replace,
        "plural" => strings::plural,
        "snakecase" => strings::snakecase,
        "camelcase" => strings::camelcase,
        "kebabcase" => strings::kebabcase,
        "swapcase" => strings::swapcase,
        "toString" => strings::to_string,
        "toStrings" => strings::to_strings,
        "split" => strings::split,
        "splitList" => strings::split_list,
        "splitn" => strings::splitn,
        "join" => strings::join,
        "sortAlpha" => strings::sort_alpha,
        // Regular expressions.
        "regexMatch" => regex::regex_match,
        "mustRegexMatch" => regex::regex_match,
        "regexFindAll" => regex::regex_find_all,
        "mustRegexFindAll" => regex::regex_find_all,
        "regexFind" => regex::regex_find,
        "mustRegexFind" => regex::regex_find,
        "regexReplaceAll" => regex::regex_replace_all,
        "mustRegexReplaceAll" => regex::regex_replace_all,
        "regexReplaceAllLiteral" => regex::regex_replace_all_literal,
        "mustRegexReplaceAllLiteral" => regex::regex_replace_all_literal,
        "regexSplit" => regex::regex_split,
        "mustRegexSplit" => regex::regex_split,
        "regexQuoteMeta" => regex::regex_quote_meta,
        // Conversions.
        "atoi" => math::atoi,
        "int" => math::int,
        "int64" => math::int64,
        "float64" => math::float64,
        "toDecimal" => math::to_decimal,
        // Arithmetic.
        "add" => math::add,
        "add1" => math::add1,
        "sub" => math::sub,
        "div" => math::div,
        "mod" => math::modulo,
        "mul" => math::mul,
        "max" => math::max,
        "biggest" => math::max,
        "min" => math::min,
        "floor" => math::floor,
        "ceil" => math::ceil,
        "round" => math::round,
        "addf" => math::addf,
        "add1f" => math::add1f,
        "subf" => math::subf,
        "divf" => math::divf,
        "mulf" => math::mulf,
        "maxf" => math::maxf,
        "minf" => math::minf,
        "until" => math::until,
        "untilStep" => math::until_step,
        "seq" => math::seq,
        // Lists.
        "list" => lists::list,
        "tuple" => lists::list,
        "first" => lists::first,
        "mustFirst" => lists::first,
        "rest" => lists::rest,
        "mustRest" => lists::rest,
        "last" => lists::last,
        "mustLast" => lists::last,
        "initial" => lists::initial,
        "mustInitial" => lists::initial,
        "append" => lists::push,
        "mustAppend" => lists::push,
        "push" => lists::push,
        "mustPush" => lists::push,
        "prepend" => lists::prepend,
        "mustPrepend" => lists::prepend,
        "concat" => lists::concat,
        "reverse" => lists::reverse,
        "mustReverse" => lists::reverse,
        "uniq" => lists::uniq,
        "mustUniq" => lists::uniq,
        "without" => lists::without,
        "mustWithout" => lists::without,
        "has" => lists::has,
        "mustHas" => lists::has,
        "compact" => lists::compact,
        "mustCompact" => lists::compact,
        "slice" => lists::slice,
        "mustSlice" => lists::slice,
        "chunk" => lists::chunk,
        "mustChunk" => lists::chunk,
        // Dictionaries.
        "dict" => dicts::dict,
        "get" => dicts::get,
        "set" => dicts::set,
        "unset" => dicts::unset,
        "hasKey" => dicts::has_key,
        "pluck" => dicts::pluck,
        "dig" => dicts::dig,
        "merge" => dicts::merge,
        "mustMerge" => dicts::merge,
        "mergeOverwrite" => dicts::merge_overwrite,
        "mustMergeOverwrite" => dicts::merge_overwrite,
        "keys" => dicts::keys,
        "pick" => dicts::pick,
        "omit" => dicts::omit,
        "values" => dicts::values,
        "deepCopy" => dicts::deep_copy,
        "mustDeepCopy" => dicts::deep_copy,
        // Defaults and logic.
        "default" => defaults::default,
        "empty" => defaults::empty,
        "coalesce" => defaults::coalesce,
        "all" => defaults::all,
        "any" => defaults::any,
        "ternary" => defaults::ternary,
        // Reflection.
        "kindOf" => reflect::kind_of,
        "kindIs" => reflect::kind_is,
        "typeOf" => reflect::type_of,
        "typeIs" => reflect::type_is,
        "typeIsLike" => reflect::type_is_like,
        "deepEqual" => reflect::deep_equal_fn,
        // Paths and URLs.
        "base" => paths::base,
        "dir" => paths::dir,
        "clean" => paths::clean,
        "ext" => paths::ext,
        "isAbs" => paths::is_abs,
        "osBase" => paths::base,
        "osDir" => paths::dir,
        "osClean" => paths::clean,
        "osExt" => paths::ext,
        "osIsAbs" => paths::is_abs,
        "urlParse" => urls::url_parse,
        "urlJoin" => urls::url_join,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Calls the function named `name` with a fresh context.
    pub(crate) fn call(name: &str, args: &[Value]) -> Result<Value, String> {
        let f = lookup(name).ok_or_else(|| format!("no function {name}"))?;
        f(&mut Ctx::new([0; 32], 0), args)
    }

    pub(crate) fn s(x: &str) -> Value {
        Value::str(x)
    }

    pub(crate) fn l(items: Vec<Value>) -> Value {
        Value::from(items)
    }

    /// Runs (function, arguments, expected) cases. Values compare by their Go rendering and Go
    /// type, so `1` (int) and `1` (float64) differ.
    pub(crate) fn check(cases: &[(&str, Vec<Value>, Result<Value, &str>)]) {
        for (name, args, want) in cases {
            let got = call(name, args);
            match (&got, want) {
                (Ok(g), Ok(w)) => {
                    assert_eq!(
                        (g.go_string(), shape(g)),
                        (w.go_string(), shape(w)),
                        "{name} {args:?}"
                    );
                }
                (Err(g), Err(w)) => assert_eq!(g, w, "{name} {args:?}"),
                _ => panic!("{name} {args:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    /// The Go types all the way down, so a case also pins int against float64.
    fn shape(v: &Value) -> String {
        match v {
            Value::List(items) => format!(
                "[{}]",
                items.iter().map(shape).collect::<Vec<_>>().join(",")
            ),
            Value::Map(m) => format!(
                "{{{}}}",
                m.entries()
                    .iter()
                    .map(|(k, v)| format!("{k}:{}", shape(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            other => other.type_name().to_owned(),
        }
    }

    #[test]
    fn helm_removes_env_functions() {
        assert!(lookup("env").is_none());
        assert!(lookup("expandenv").is_none());
        assert!(lookup("upper").is_some());
    }
}
