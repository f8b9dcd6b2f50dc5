//! HQ variables: `{{hq.var.NAME}}` references in values, resolved by scope.
//!
//! A variable is scoped to the organization, or narrowed to a project, an environment, a tenant
//! and a service (workload). For a render target, a variable applies when every field of its
//! scope matches the target; among the variables of one name that apply, the most specific
//! wins: service, then tenant, then environment, then project. Every unresolved reference is
//! reported with the key path of the value that holds it.

use serde_json::Value as Json;

/// A variable as the delivery generator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// The name referenced as `{{hq.var.NAME}}`.
    pub key: String,
    /// The value substituted.
    pub value: String,
    /// Where it applies.
    pub scope: Scope,
}

/// A variable's scope, or a render target's coordinates. `None`: any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// Project name.
    pub project: Option<String>,
    /// Environment name.
    pub environment: Option<String>,
    /// Tenant name.
    pub tenant: Option<String>,
    /// Workload (service) name.
    pub service: Option<String>,
}

impl Scope {
    fn applies_to(&self, target: &Scope) -> bool {
        fn ok(mine: &Option<String>, theirs: &Option<String>) -> bool {
            mine.is_none() || mine == theirs
        }
        ok(&self.project, &target.project)
            && ok(&self.environment, &target.environment)
            && ok(&self.tenant, &target.tenant)
            && ok(&self.service, &target.service)
    }

    fn specificity(&self) -> u8 {
        u8::from(self.service.is_some()) * 8
            + u8::from(self.tenant.is_some()) * 4
            + u8::from(self.environment.is_some()) * 2
            + u8::from(self.project.is_some())
    }
}

/// A reference no variable resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unresolved {
    /// The variable's name.
    pub name: String,
    /// The key path of the value that references it (`env.DATABASE_HOST`).
    pub path: String,
}

/// The value of variable `name` for `target`, if one applies.
pub fn lookup<'a>(variables: &'a [Variable], name: &str, target: &Scope) -> Option<&'a str> {
    variables
        .iter()
        .filter(|v| v.key == name && v.scope.applies_to(target))
        .max_by_key(|v| v.scope.specificity())
        .map(|v| v.value.as_str())
}

/// Replaces every `{{hq.var.NAME}}` (spaces inside the braces allowed) in the string leaves of
/// `values`. Returns the references no variable resolves; `values` is only changed when there
/// are none.
pub fn substitute(
    values: &mut Json,
    variables: &[Variable],
    target: &Scope,
) -> Result<(), Vec<Unresolved>> {
    let mut unresolved = Vec::new();
    let mut resolved = values.clone();
    walk(&mut resolved, &mut String::new(), &mut |path, text| {
        replace(text, |name| match lookup(variables, name, target) {
            Some(v) => Some(v.to_owned()),
            None => {
                unresolved.push(Unresolved {
                    name: name.to_owned(),
                    path: path.to_owned(),
                });
                None
            }
        })
    });
    if unresolved.is_empty() {
        *values = resolved;
        Ok(())
    } else {
        Err(unresolved)
    }
}

fn walk(value: &mut Json, path: &mut String, f: &mut dyn FnMut(&str, &str) -> Option<String>) {
    match value {
        Json::String(s) => {
            if let Some(new) = f(path, s) {
                *s = new;
            }
        }
        Json::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(item, path, f);
                path.truncate(len);
            }
        }
        Json::Object(map) => {
            for (k, v) in map.iter_mut() {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk(v, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Rewrites the references in `text`; `None` when it holds none. `resolve` answers a name or
/// records it as unresolved (the reference is then left as written).
fn replace(text: &str, mut resolve: impl FnMut(&str) -> Option<String>) -> Option<String> {
    if !text.contains("hq.var.") {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(open) = rest.find("{{") {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        let Some(close) = after.find("}}") else {
            out.push_str(after);
            rest = "";
            break;
        };
        let inner = after.get(2..close).unwrap_or_default().trim();
        let whole = after.get(..close + 2).unwrap_or_default();
        match inner.strip_prefix("hq.var.") {
            Some(name) if is_name(name) => match resolve(name) {
                Some(v) => {
                    out.push_str(&v);
                    changed = true;
                }
                None => out.push_str(whole),
            },
            _ => out.push_str(whole),
        }
        rest = after.get(close + 2..).unwrap_or_default();
    }
    out.push_str(rest);
    changed.then_some(out)
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn var(key: &str, value: &str, env: Option<&str>, tenant: Option<&str>) -> Variable {
        Variable {
            key: key.into(),
            value: value.into(),
            scope: Scope {
                environment: env.map(Into::into),
                tenant: tenant.map(Into::into),
                ..Scope::default()
            },
        }
    }

    fn target(env: &str, tenant: &str) -> Scope {
        Scope {
            project: Some("shop".into()),
            environment: Some(env.into()),
            tenant: Some(tenant.into()),
            service: Some("api".into()),
        }
    }

    #[test]
    fn the_most_specific_variable_wins() {
        let vars = [
            var("DB", "db.org", None, None),
            var("DB", "db.prod", Some("production"), None),
            var("DB", "db.acme-prod", Some("production"), Some("acme")),
        ];
        assert_eq!(
            lookup(&vars, "DB", &target("staging", "acme")),
            Some("db.org")
        );
        assert_eq!(
            lookup(&vars, "DB", &target("production", "globex")),
            Some("db.prod")
        );
        assert_eq!(
            lookup(&vars, "DB", &target("production", "acme")),
            Some("db.acme-prod")
        );
    }

    #[test]
    fn references_are_replaced_anywhere_in_strings() {
        let vars = [
            var("HOST", "db.internal", None, None),
            var("PORT", "5432", None, None),
        ];
        let mut v = json!({"env": {"URL": "postgres://{{hq.var.HOST}}:{{ hq.var.PORT }}/app"}, "list": ["{{hq.var.HOST}}"], "n": 1, "other": "{{ .Values.x }}"});
        substitute(&mut v, &vars, &target("dev", "acme")).unwrap();
        assert_eq!(v["env"]["URL"], "postgres://db.internal:5432/app");
        assert_eq!(v["list"][0], "db.internal");
        assert_eq!(v["other"], "{{ .Values.x }}");
    }

    #[test]
    fn every_unknown_name_is_reported_with_its_key_and_nothing_changes() {
        let vars = [var("HOST", "db", None, None)];
        let mut v = json!({"a": "{{hq.var.HOST}}", "b": {"c": ["x", "{{hq.var.MISSING}}"]}, "d": "{{hq.var.OTHER}}"});
        let before = v.clone();
        let err = substitute(&mut v, &vars, &target("dev", "acme")).unwrap_err();
        assert_eq!(
            err,
            [
                Unresolved {
                    name: "MISSING".into(),
                    path: "b.c[1]".into()
                },
                Unresolved {
                    name: "OTHER".into(),
                    path: "d".into()
                },
            ]
        );
        assert_eq!(v, before);
    }
}
