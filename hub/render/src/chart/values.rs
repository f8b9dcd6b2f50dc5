//! Helm's values semantics: layering values files, coalescing them with a chart's defaults and
//! its subcharts' (globals included), and enabling subcharts by condition and tag.
//!
//! These follow Helm's `chartutil` closely because charts depend on the details: a `null` in
//! supplied values deletes a default, a subchart sees its parent's `<name>:` table merged over
//! its own defaults, `global:` flows from parent to child with the parent winning.

use serde_json::{Map, Value as Json};

use super::Chart;

/// The key whose table every chart and subchart shares.
pub const GLOBAL: &str = "global";

/// Reads a values file as `helm -f` does, with sigs.k8s.io/yaml: YAML 1.1 plain scalars
/// (`enabled: yes` is true, `on:` as a key is `"true"`, `mode: 0755` is 493), only the first
/// document, keys as strings. A file that holds nothing is an empty table; one that holds
/// something other than a table is refused with Helm's message.
pub fn parse(text: &str) -> Result<Json, String> {
    match crate::goyaml::to_json(text)? {
        Json::Null => Ok(Json::Object(Map::new())),
        v @ Json::Object(_) => Ok(v),
        other => Err(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            match other {
                Json::Array(_) => "array",
                Json::String(_) => "string",
                Json::Number(_) => "number",
                _ => "bool",
            }
        )),
    }
}

/// Layers values files the way `helm template -f a.yaml -f b.yaml` does: later files win,
/// tables merge key by key, and a `null` survives so that it can delete a chart default.
pub fn layer(layers: &[Json]) -> Json {
    let mut out = Map::new();
    for layer in layers {
        if let Json::Object(src) = layer {
            merge_maps(&mut out, src);
        }
    }
    Json::Object(out)
}

fn merge_maps(dst: &mut Map<String, Json>, src: &Map<String, Json>) {
    for (k, v) in src {
        match (dst.get_mut(k), v) {
            (Some(Json::Object(d)), Json::Object(s)) => merge_maps(d, s),
            _ => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Coalesces supplied values with the chart's defaults and, recursively, its subcharts'.
pub fn coalesce(chart: &Chart, supplied: &Json) -> Json {
    let mut dest = match supplied {
        Json::Object(m) => m.clone(),
        _ => Map::new(),
    };
    coalesce_chart(chart, &mut dest);
    Json::Object(dest)
}

fn coalesce_chart(chart: &Chart, dest: &mut Map<String, Json>) {
    coalesce_values(chart, dest);
    coalesce_deps(chart, dest);
}

fn coalesce_deps(chart: &Chart, dest: &mut Map<String, Json>) {
    for sub in &chart.dependencies {
        let name = sub.name().to_owned();
        let mut sub_values = match dest.remove(&name) {
            Some(Json::Object(m)) => m,
            // Helm refuses a non-table here; keeping the subchart's defaults is the safe reading.
            _ => Map::new(),
        };
        coalesce_globals(&mut sub_values, dest);
        coalesce_chart(sub, &mut sub_values);
        dest.insert(name, Json::Object(sub_values));
    }
}

fn coalesce_globals(dest: &mut Map<String, Json>, src: &Map<String, Json>) {
    let mut dg = match dest.get(GLOBAL) {
        Some(Json::Object(m)) => m.clone(),
        Some(_) => return,
        None => Map::new(),
    };
    let sg = match src.get(GLOBAL) {
        Some(Json::Object(m)) => m,
        Some(_) => return,
        None => &Map::new(),
    };
    for (key, val) in sg {
        match val {
            Json::Object(table) => {
                let mut vv = table.clone();
                match dg.get(key) {
                    None => {
                        dg.insert(key.clone(), Json::Object(vv));
                    }
                    Some(Json::Object(existing)) => {
                        coalesce_tables(&mut vv, existing, true);
                        dg.insert(key.clone(), Json::Object(vv));
                    }
                    Some(_) => {}
                }
            }
            _ => {
                if !matches!(dg.get(key), Some(Json::Object(_))) {
                    dg.insert(key.clone(), val.clone());
                }
            }
        }
    }
    dest.insert(GLOBAL.to_owned(), Json::Object(dg));
}

fn coalesce_values(chart: &Chart, v: &mut Map<String, Json>) {
    let Json::Object(defaults) = &chart.values else {
        return;
    };
    for (key, val) in defaults {
        match v.get_mut(key) {
            Some(Json::Null) => {
                v.remove(key);
            }
            Some(Json::Object(dest)) => {
                if let Json::Object(src) = val {
                    let merge = chart.dependencies.iter().any(|d| d.name() == key);
                    coalesce_tables(dest, src, merge);
                }
            }
            Some(_) => {}
            None => {
                v.insert(key.clone(), val.clone());
            }
        }
    }
}

/// Merges `src` under `dst` (`dst` wins); a `null` in `dst` deletes the key unless merging.
fn coalesce_tables(dst: &mut Map<String, Json>, src: &Map<String, Json>, merge: bool) {
    for (key, val) in src {
        match dst.get_mut(key) {
            Some(Json::Null) if !merge => {
                dst.remove(key);
            }
            None => {
                dst.insert(key.clone(), val.clone());
            }
            Some(Json::Object(dv)) => {
                if let Json::Object(sv) = val {
                    coalesce_tables(dv, sv, merge);
                }
            }
            Some(_) => {}
        }
    }
}

/// Renames aliased subcharts (a dependency declared with `alias:` renders and reads its values
/// under the alias; one subchart declared under two aliases renders twice), recursively.
pub fn with_aliases(chart: &Chart) -> Chart {
    let mut chart = chart.clone();
    let mut deps: Vec<Chart> = Vec::new();
    for existing in &chart.dependencies {
        let declared: Vec<_> = chart
            .metadata
            .dependencies
            .iter()
            .filter(|d| d.name == existing.name())
            .collect();
        if declared.is_empty() {
            deps.push(with_aliases(existing));
        }
        for d in declared {
            let mut sub = with_aliases(existing);
            if !d.alias.is_empty() {
                sub.metadata.name = d.alias.clone();
            }
            deps.push(sub);
        }
    }
    chart.dependencies = deps;
    chart
}

/// Drops subcharts disabled by their `condition` or `tags`, recursively (Helm's
/// `ProcessDependencies`; apply [`with_aliases`] first). `supplied` are the supplied values.
pub fn enabled_dependencies(chart: &Chart, supplied: &Json) -> Chart {
    process(chart, supplied, "")
}

fn process(chart: &Chart, supplied: &Json, path: &str) -> Chart {
    let mut chart = chart.clone();
    let values = coalesce(&chart, supplied);
    let tags = values.get("tags");
    let mut disabled = Vec::new();
    for d in &chart.metadata.dependencies {
        let name = if d.alias.is_empty() {
            &d.name
        } else {
            &d.alias
        };
        let mut enabled = true;
        if !d.tags.is_empty() {
            let states: Vec<bool> = d
                .tags
                .iter()
                .filter_map(|t| tags.and_then(|tags| tags.get(t)).and_then(Json::as_bool))
                .collect();
            if states.iter().any(|b| *b) {
                enabled = true;
            } else if !states.is_empty() {
                enabled = false;
            }
        }
        for condition in d
            .condition
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            let full = format!("{path}{condition}");
            if let Some(b) = path_value(&values, &full).and_then(Json::as_bool) {
                enabled = b;
                break;
            }
        }
        if !enabled {
            disabled.push(name.clone());
        }
    }
    chart
        .dependencies
        .retain(|d| !disabled.iter().any(|n| n == d.name()));
    chart.dependencies = chart
        .dependencies
        .iter()
        .map(|d| process(d, &values, &format!("{path}{}.", d.name())))
        .collect();
    chart
}

/// The value at a dotted path (`db.enabled`).
fn path_value<'a>(values: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(values, |v, key| v.get(key))
}

#[cfg(test)]
mod tests {

    #[test]
    fn values_files_are_read_as_helm_reads_them() {
        assert_eq!(
            parse("enabled: yes\non: x\nmode: 0755\nn: 1\n").unwrap(),
            serde_json::json!({"enabled": true, "true": "x", "mode": 493, "false": 1})
        );
        assert_eq!(parse("").unwrap(), serde_json::json!({}));
        assert_eq!(parse("# nothing\n").unwrap(), serde_json::json!({}));
        assert_eq!(
            parse("- 1\n").unwrap_err(),
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}"
        );
        assert!(
            parse("a: [1\n")
                .unwrap_err()
                .starts_with("error converting YAML to JSON: yaml: line ")
        );
    }

    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn chart(files: &[(&str, &str)]) -> Chart {
        let files: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(p, t)| ((*p).to_owned(), t.as_bytes().to_vec()))
            .collect();
        Chart::from_files("t", files).unwrap()
    }

    fn parent() -> Chart {
        chart(&[
            (
                "Chart.yaml",
                "name: app\nversion: 1.0.0\ndependencies:\n- name: db\n  version: 0.1.0\n  condition: db.enabled\n- name: cache\n  version: 0.1.0\n  alias: redis\n",
            ),
            (
                "values.yaml",
                "global: {region: eu, team: {name: a}}\nreplicas: 2\nimage: {repository: app, tag: v1}\ndb: {enabled: true, size: 10}\n",
            ),
            ("charts/db/Chart.yaml", "name: db\nversion: 0.1.0\n"),
            (
                "charts/db/values.yaml",
                "size: 1\nuser: admin\nglobal: {region: us, tier: x}\n",
            ),
            ("charts/cache/Chart.yaml", "name: cache\nversion: 0.1.0\n"),
            ("charts/cache/values.yaml", "port: 6379\n"),
        ])
    }

    #[test]
    fn supplied_values_win_and_nulls_delete_defaults() {
        let c = parent();
        let v = coalesce(&c, &json!({"replicas": 3, "image": {"tag": null}}));
        assert_eq!(v["replicas"], 3);
        assert_eq!(v["image"], json!({"repository": "app"}));
    }

    #[test]
    fn subcharts_see_their_table_over_their_defaults_with_parent_globals() {
        let c = enabled_dependencies(&with_aliases(&parent()), &json!({}));
        let v = coalesce(&c, &json!({}));
        assert_eq!(v["db"]["size"], 10);
        assert_eq!(v["db"]["user"], "admin");
        assert_eq!(v["db"]["global"]["region"], "eu");
        assert_eq!(v["db"]["global"]["tier"], "x");
        assert_eq!(v["db"]["global"]["team"]["name"], "a");
        assert_eq!(v["redis"]["port"], 6379);
    }

    #[test]
    fn conditions_disable_subcharts_and_aliases_rename_them() {
        let c = enabled_dependencies(&with_aliases(&parent()), &json!({"db": {"enabled": false}}));
        let names: Vec<_> = c.dependencies.iter().map(|d| d.name().to_owned()).collect();
        assert_eq!(names, ["redis"]);
    }

    #[test]
    fn layers_merge_tables_and_keep_nulls() {
        let v = layer(&[
            json!({"a": {"x": 1, "y": 2}, "b": 1}),
            json!({"a": {"y": 3}, "b": null}),
        ]);
        assert_eq!(v, json!({"a": {"x": 1, "y": 3}, "b": null}));
    }
}
