//! Sprig's dictionary functions. Dicts are Go maps, shared by reference: `set`, `unset`,
//! `merge` and `mergeOverwrite` change the map every holder sees and return it. The merges
//! follow mergo as Sprig calls it: deep into nested maps, filling empty values (`merge`) or
//! replacing them (`mergeOverwrite`), with maps from the source shared, not copied.

use super::args::{self, at_least, exact, strval};
use super::defaults::is_empty;
use crate::value::{Map, Value};

type R = Result<Value, String>;

/// `dict K1 V1 K2 V2 ...`: keys printed as strings; a key without a value maps to "".
pub(super) fn dict(_name: &str, args: &[Value]) -> R {
    let m = Map::new();
    for pair in args.chunks(2) {
        match pair {
            [k, v] => m.insert(strval(k), v.clone()),
            [k] => m.insert(strval(k), Value::str("")),
            _ => {}
        }
    }
    Ok(Value::Map(m))
}

/// `get DICT KEY`: the value, or "" when the key is absent.
pub(super) fn get(name: &str, args: &[Value]) -> R {
    let [d, k] = exact(name, args)?;
    Ok(args::map(d)?
        .get(args::string(k)?)
        .unwrap_or_else(|| Value::str("")))
}

/// `set DICT KEY VALUE`: changes DICT in place and returns it.
pub(super) fn set(name: &str, args: &[Value]) -> R {
    let [d, k, v] = exact(name, args)?;
    let m = args::map(d)?;
    m.insert(args::string(k)?, v.clone());
    Ok(d.clone())
}

/// `unset DICT KEY`: changes DICT in place and returns it.
pub(super) fn unset(name: &str, args: &[Value]) -> R {
    let [d, k] = exact(name, args)?;
    args::map(d)?.remove(args::string(k)?);
    Ok(d.clone())
}

pub(super) fn has_key(name: &str, args: &[Value]) -> R {
    let [d, k] = exact(name, args)?;
    Ok(Value::Bool(args::map(d)?.contains_key(args::string(k)?)))
}

/// `pluck KEY DICT...`: KEY's value from each dict that has it.
pub(super) fn pluck(name: &str, args: &[Value]) -> R {
    at_least(name, args, 1)?;
    let (k, dicts) = args.split_first().unwrap_or((&Value::Nil, &[]));
    let k = args::string(k)?;
    let mut out = Vec::new();
    for d in dicts {
        if let Some(v) = args::map(d)?.get(k) {
            out.push(v);
        }
    }
    Ok(Value::from(out))
}

/// `keys DICT...`: every dict's keys (each dict's in sorted order; Go's order is random).
pub(super) fn keys(_name: &str, args: &[Value]) -> R {
    let mut out = Vec::new();
    for d in args {
        out.extend(args::map(d)?.keys().into_iter().map(Value::from));
    }
    Ok(Value::from(out))
}

fn key_list(keys: &[Value]) -> Result<Vec<&str>, String> {
    keys.iter().map(args::string).collect()
}

/// `pick DICT KEY...`: a new dict with just those keys.
pub(super) fn pick(name: &str, args: &[Value]) -> R {
    at_least(name, args, 1)?;
    let (d, keys) = args.split_first().unwrap_or((&Value::Nil, &[]));
    let m = args::map(d)?;
    let out = Map::new();
    for k in key_list(keys)? {
        if let Some(v) = m.get(k) {
            out.insert(k, v);
        }
    }
    Ok(Value::Map(out))
}

/// `omit DICT KEY...`: a new dict without those keys.
pub(super) fn omit(name: &str, args: &[Value]) -> R {
    at_least(name, args, 1)?;
    let (d, keys) = args.split_first().unwrap_or((&Value::Nil, &[]));
    let m = args::map(d)?;
    let omitted = key_list(keys)?;
    let out = Map::new();
    for (k, v) in m.entries() {
        if !omitted.contains(&k.as_str()) {
            out.insert(k, v);
        }
    }
    Ok(Value::Map(out))
}

/// `values DICT`: the values (in key order; Go's order is random).
pub(super) fn values(name: &str, args: &[Value]) -> R {
    let [d] = exact(name, args)?;
    Ok(Value::from(
        args::map(d)?
            .entries()
            .into_iter()
            .map(|(_, v)| v)
            .collect::<Vec<_>>(),
    ))
}

/// mergo's deep merge of `src` into `dst`, as Sprig's `merge` (`overwrite` false) and
/// `mergeOverwrite` (true) run it.
fn merge_into(dst: &Map, src: &Map, overwrite: bool, depth: usize) -> Result<(), String> {
    if depth > 64 {
        return Err("cannot merge maps nested more than 64 deep".to_owned());
    }
    for (k, s) in src.entries() {
        let d = dst.get(&k);
        match &s {
            Value::Nil => {
                if overwrite {
                    dst.insert(k, Value::Nil);
                }
                continue;
            }
            Value::Map(sm) => {
                if let Some(Value::Map(dm)) = &d {
                    if !dm.ptr_eq(sm) {
                        merge_into(dm, sm, overwrite, depth + 1)?;
                    }
                    if !dm.is_empty() {
                        continue;
                    }
                }
            }
            Value::List(_) => {
                if overwrite {
                    dst.insert(k, s);
                    continue;
                }
                if d.as_ref().is_some_and(|d| !is_empty(d)) {
                    continue;
                }
            }
            _ => {}
        }
        if overwrite || d.as_ref().is_none_or(is_empty) {
            dst.insert(k, s);
        }
    }
    Ok(())
}

fn merge_all(name: &str, args: &[Value], overwrite: bool) -> R {
    at_least(name, args, 1)?;
    let (d, srcs) = args.split_first().unwrap_or((&Value::Nil, &[]));
    let dst = args::map(d)?;
    let srcs = srcs.iter().map(args::map).collect::<Result<Vec<_>, _>>()?;
    for src in srcs {
        if !dst.ptr_eq(src) {
            merge_into(dst, src, overwrite, 0)?;
        }
    }
    Ok(d.clone())
}

/// `merge DST SRC...`: fills DST's missing and empty values from each SRC, deeply.
pub(super) fn merge(name: &str, args: &[Value]) -> R {
    merge_all(name, args, false)
}

/// `mergeOverwrite DST SRC...`: each SRC's values replace DST's, deeply.
pub(super) fn merge_overwrite(name: &str, args: &[Value]) -> R {
    merge_all(name, args, true)
}

/// `deepCopy V`: a copy sharing nothing with V.
pub(super) fn deep_copy(name: &str, args: &[Value]) -> R {
    let [v] = exact(name, args)?;
    if v.is_nil() {
        return Err("reflect: call of reflect.Value.Type on zero Value".to_owned());
    }
    Ok(v.deep_copy())
}

/// `dig KEY... DEFAULT DICT`: the value at a key path, or DEFAULT when a key is missing.
pub(super) fn dig(_name: &str, args: &[Value]) -> R {
    let [keys @ .., default, dict] = args else {
        return Err("dig needs at least three arguments".to_owned());
    };
    if keys.is_empty() {
        return Err("dig needs at least three arguments".to_owned());
    }
    let conversion = |v: &Value, want: &str| {
        let got = if v.is_nil() { "nil" } else { v.type_name() };
        format!("interface conversion: interface {{}} is {got}, not {want}")
    };
    let mut current = dict
        .as_map()
        .ok_or_else(|| conversion(dict, "map[string]interface {}"))?
        .clone();
    let keys = keys
        .iter()
        .map(|k| k.as_str().ok_or_else(|| conversion(k, "string")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut remaining = keys.len();
    for k in keys {
        remaining -= 1;
        let Some(step) = current.get(k) else {
            return Ok(default.clone());
        };
        if remaining == 0 {
            return Ok(step);
        }
        current = step
            .as_map()
            .ok_or_else(|| conversion(&step, "map[string]interface {}"))?
            .clone();
    }
    Ok(default.clone())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{call, check, l, s};
    use crate::value::{Map, Value};

    fn dict(pairs: &[(&str, Value)]) -> Value {
        let m = Map::new();
        for (k, v) in pairs {
            m.insert(*k, v.clone());
        }
        Value::Map(m)
    }

    /// Expectations checked against Helm.
    #[test]
    fn dicts_match_helm() {
        let i = Value::Int;
        let nil = Value::Nil;
        let ab = || dict(&[("a", i(1)), ("b", i(2))]);
        let nested = || dict(&[("a", Value::Float(1.0)), ("b", dict(&[("c", s("x"))]))]);
        check(&[
            ("dict", vec![s("x")], Ok(dict(&[("x", s(""))]))),
            (
                "dict",
                vec![i(1), i(2), nil.clone(), i(3)],
                Ok(dict(&[("1", i(2)), ("<nil>", i(3))])),
            ),
            ("get", vec![ab(), s("a")], Ok(i(1))),
            ("get", vec![ab(), s("z")], Ok(s(""))),
            (
                "get",
                vec![nil.clone(), s("a")],
                Err("wrong type for value; expected map[string]interface {}; got interface {}"),
            ),
            (
                "get",
                vec![l(vec![]), s("a")],
                Err("wrong type for value; expected map[string]interface {}; got []interface {}"),
            ),
            ("hasKey", vec![ab(), s("b")], Ok(Value::Bool(true))),
            (
                "pluck",
                vec![
                    s("a"),
                    dict(&[("a", i(1))]),
                    dict(&[("b", i(2))]),
                    dict(&[("a", i(3))]),
                ],
                Ok(l(vec![i(1), i(3)])),
            ),
            (
                "keys",
                vec![dict(&[("b", i(1)), ("a", i(2))])],
                Ok(l(vec![s("a"), s("b")])),
            ),
            ("keys", vec![], Ok(l(vec![]))),
            ("pick", vec![ab(), s("a"), s("z")], Ok(dict(&[("a", i(1))]))),
            ("omit", vec![ab(), s("a")], Ok(dict(&[("b", i(2))]))),
            ("values", vec![ab()], Ok(l(vec![i(1), i(2)]))),
            ("dig", vec![s("b"), s("c"), s("def"), nested()], Ok(s("x"))),
            (
                "dig",
                vec![s("b"), s("z"), s("def"), nested()],
                Ok(s("def")),
            ),
            (
                "dig",
                vec![s("a"), s("def"), nested()],
                Ok(Value::Float(1.0)),
            ),
            (
                "dig",
                vec![s("a"), s("b"), s("def"), l(vec![])],
                Err(
                    "interface conversion: interface {} is []interface {}, not map[string]interface {}",
                ),
            ),
            (
                "dig",
                vec![s("b"), s("c"), s("d"), s("def"), nested()],
                Err("interface conversion: interface {} is string, not map[string]interface {}"),
            ),
            ("deepCopy", vec![nested()], Ok(nested())),
            (
                "deepCopy",
                vec![nil.clone()],
                Err("reflect: call of reflect.Value.Type on zero Value"),
            ),
        ]);
    }

    #[test]
    fn set_and_unset_change_the_dict_in_place() {
        let d = dict(&[("a", Value::Int(1)), ("b", Value::Int(2))]);
        let out = call("set", &[d.clone(), s("c"), Value::Int(3)]);
        assert_eq!(
            out.map(|v| v.go_string()),
            Ok("map[a:1 b:2 c:3]".to_owned())
        );
        let out = call("unset", &[d.clone(), s("a")]);
        assert_eq!(out.map(|v| v.go_string()), Ok("map[b:2 c:3]".to_owned()));
        assert_eq!(d.go_string(), "map[b:2 c:3]");
    }

    fn run(template: &str) -> (String, Value, Value) {
        // Each case: (function, dst, src) built from Helm's own test inputs.
        let a = dict(&[
            ("a", Value::Int(1)),
            (
                "n",
                dict(&[("x", Value::Int(1)), ("l", l(vec![Value::Int(1)]))]),
            ),
            ("e", s("")),
            ("z", Value::Int(0)),
            ("nil", Value::Nil),
            ("f", Value::Bool(false)),
        ]);
        let b = dict(&[
            ("a", Value::Int(2)),
            (
                "n",
                dict(&[
                    ("y", Value::Int(2)),
                    ("x", Value::Int(9)),
                    ("l", l(vec![Value::Int(2), Value::Int(3)])),
                ]),
            ),
            ("e", s("set")),
            ("z", Value::Int(5)),
            ("nil", s("v")),
            ("new", s("n")),
            ("f", Value::Bool(true)),
        ]);
        let out = call(template, &[a.clone(), b.clone()]).map(|v| v.go_string());
        (out.unwrap_or_else(|e| e), a, b)
    }

    #[test]
    fn merge_fills_only_empty_values_deeply() {
        let (out, a, _) = run("merge");
        assert_eq!(
            out,
            "map[a:1 e:set f:true n:map[l:[1] x:1 y:2] new:n nil:v z:5]"
        );
        assert_eq!(a.go_string(), out, "merge changes its destination");
    }

    #[test]
    fn merge_overwrite_replaces_values_deeply() {
        let (out, a, _) = run("mergeOverwrite");
        assert_eq!(
            out,
            "map[a:2 e:set f:true n:map[l:[2 3] x:9 y:2] new:n nil:v z:5]"
        );
        assert_eq!(a.go_string(), out);
    }

    #[test]
    fn merge_edge_cases_match_helm() {
        let i = Value::Int;
        let cases: Vec<(&str, Value, Value, &str)> = vec![
            (
                "mergeOverwrite",
                dict(&[("a", i(1)), ("n", dict(&[("x", i(1))])), ("e", s("x"))]),
                dict(&[
                    ("a", s("")),
                    ("n", dict(&[("x", i(0))])),
                    ("e", Value::Nil),
                    ("k", Value::Bool(false)),
                ]),
                "map[a: e:<nil> k:false n:map[x:0]]",
            ),
            (
                "merge",
                dict(&[("n", s("str"))]),
                dict(&[("n", dict(&[("x", i(1))]))]),
                "map[n:str]",
            ),
            (
                "merge",
                dict(&[("n", dict(&[("x", i(1))]))]),
                dict(&[("n", s("str"))]),
                "map[n:map[x:1]]",
            ),
            (
                "mergeOverwrite",
                dict(&[("n", dict(&[("x", i(1))]))]),
                dict(&[("n", s("str"))]),
                "map[n:str]",
            ),
            (
                "mergeOverwrite",
                dict(&[("n", s("s"))]),
                dict(&[("n", dict(&[("x", i(1))]))]),
                "map[n:map[x:1]]",
            ),
            (
                "merge",
                dict(&[("l", l(vec![i(1)]))]),
                dict(&[("l", l(vec![]))]),
                "map[l:[1]]",
            ),
            (
                "merge",
                dict(&[("l", l(vec![]))]),
                dict(&[("l", l(vec![i(1)]))]),
                "map[l:[1]]",
            ),
            (
                "mergeOverwrite",
                dict(&[("l", l(vec![i(1)]))]),
                dict(&[("l", l(vec![]))]),
                "map[l:[]]",
            ),
            (
                "mergeOverwrite",
                dict(&[("m", dict(&[]))]),
                dict(&[("m", dict(&[("q", i(1))]))]),
                "map[m:map[q:1]]",
            ),
            (
                "mergeOverwrite",
                dict(&[("m", dict(&[("q", i(1))]))]),
                dict(&[("m", dict(&[]))]),
                "map[m:map[q:1]]",
            ),
            (
                "merge",
                dict(&[]),
                dict(&[("k", Value::Nil), ("e", s(""))]),
                "map[e:]",
            ),
        ];
        for (f, dst, src, want) in cases {
            let out = call(f, &[dst, src]).map(|v| v.go_string());
            assert_eq!(out, Ok(want.to_owned()), "{f}");
        }
    }

    #[test]
    fn merged_maps_are_shared_like_mergo_shares_them() {
        // A map merged into a missing key is the source's own map...
        let src = dict(&[("n", dict(&[("x", Value::Int(1))]))]);
        let dst = dict(&[]);
        let _ = call("merge", &[dst.clone(), src.clone()]);
        let inner = dst.as_map().and_then(|m| m.get("n")).unwrap_or_default();
        let _ = call("set", &[inner, s("y"), Value::Int(2)]);
        assert_eq!(src.go_string(), "map[n:map[x:1 y:2]]");
        // ...while a map merged into an existing one is copied into it.
        let own = dict(&[("n", dict(&[]))]);
        let _ = call("merge", &[own.clone(), src.clone()]);
        let inner = own.as_map().and_then(|m| m.get("n")).unwrap_or_default();
        let _ = call("set", &[inner, s("z"), Value::Int(3)]);
        assert_eq!(src.go_string(), "map[n:map[x:1 y:2]]");
        assert_eq!(own.go_string(), "map[n:map[x:1 y:2 z:3]]");
    }
}
