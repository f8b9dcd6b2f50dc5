//! Scope matching and break-glass sessions, as `policies/lib/scope.rego` defines them.
//!
//! A definition scope (of a freeze or a break-glass session) lists allowed values per field;
//! an absent or empty field, or one containing `*`, allows anything. `cluster_labels` must all
//! be present on the action's cluster with equal values (`*` asks only for presence). An
//! action touches one scope per release change (the action's scope with the change's
//! environment, tenant and workload laid over it), or its own scope when it lists none.

use gatehouse_plugin_sdk::Json;
use gatehouse_plugin_sdk::serde_json::Map;
use jiff::Timestamp;

use crate::clock;

const FIELDS: [&str; 6] = [
    "org",
    "project",
    "environment",
    "tenant",
    "workload",
    "cluster",
];

/// A definition value as a list: arrays as they are, a non-empty string as one element,
/// anything else as empty (any value).
pub(crate) fn as_list(v: Option<&Json>) -> Vec<Json> {
    match v {
        Some(Json::Array(a)) => a.clone(),
        Some(Json::String(s)) if !s.is_empty() => vec![Json::String(s.clone())],
        _ => Vec::new(),
    }
}

/// A definition scope ready for matching.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selector {
    fields: Vec<(&'static str, Vec<Json>)>,
    labels: Map<String, Json>,
}

impl Selector {
    pub(crate) fn new(def: Option<&Json>) -> Selector {
        let empty = Map::new();
        let d = def.and_then(Json::as_object).unwrap_or(&empty);
        let fields = FIELDS
            .iter()
            .filter_map(|f| {
                let allowed = as_list(d.get(*f));
                let any = allowed.is_empty() || allowed.iter().any(|v| v == "*");
                (!any).then_some((*f, allowed))
            })
            .collect();
        let labels = d
            .get("cluster_labels")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        Selector { fields, labels }
    }

    /// Whether this selector covers a flattened action scope.
    pub(crate) fn covers(&self, flat: &Map<String, Json>) -> bool {
        let fields_ok = self
            .fields
            .iter()
            .all(|(f, allowed)| flat.get(*f).is_some_and(|v| allowed.contains(v)));
        let labels_ok = self.labels.iter().all(|(k, want)| {
            let got = flat
                .get("cluster_labels")
                .and_then(|l| l.get(k))
                .filter(|v| !v.is_null());
            match (want.as_str(), got) {
                (Some("*"), got) => got.is_some(),
                (_, got) => got == Some(want),
            }
        });
        fields_ok && labels_ok
    }
}

/// The action scope with `cluster` as the cluster's name and `cluster_labels` its labels.
fn flatten(scope: &Map<String, Json>) -> Map<String, Json> {
    let mut flat = scope.clone();
    if let Some(Json::Object(cluster)) = scope.get("cluster") {
        flat.insert(
            "cluster".into(),
            cluster.get("name").cloned().unwrap_or(Json::Null),
        );
        flat.insert(
            "cluster_labels".into(),
            Json::Object(
                cluster
                    .get("labels")
                    .and_then(Json::as_object)
                    .cloned()
                    .unwrap_or_default(),
            ),
        );
    }
    flat
}

/// The flattened scopes an action touches (distinct, in a stable order).
pub(crate) fn flat_scopes(action: &Json) -> Vec<Map<String, Json>> {
    let base = flatten(
        action
            .get("scope")
            .and_then(Json::as_object)
            .unwrap_or(&Map::new()),
    );
    let mut out: Vec<Map<String, Json>> = Vec::new();
    let changes = action
        .pointer("/subject/release/changes")
        .and_then(Json::as_array);
    for change in changes.into_iter().flatten() {
        let Some(change) = change.as_object() else {
            continue;
        };
        let mut s = base.clone();
        for key in ["environment", "tenant", "workload"] {
            if let Some(v) = change.get(key) {
                s.insert(key.into(), v.clone());
            }
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    if out.is_empty() {
        out.push(base);
    }
    out
}

/// The break-glass sessions of the acting user that are live at `now`.
#[derive(Debug, Default)]
pub(crate) struct Breakglass {
    live: Vec<Selector>,
}

impl Breakglass {
    pub(crate) fn new(action: &Json, now: Option<Timestamp>) -> Breakglass {
        let Some(now) = now else {
            return Breakglass::default();
        };
        let actor = action.pointer("/actor/id");
        let sessions = action.pointer("/facts/breakglass").and_then(Json::as_array);
        let live = sessions
            .into_iter()
            .flatten()
            .filter(|s| s.is_object() && actor.is_some() && s.get("actor") == actor)
            .filter(|s| {
                let expires = s.get("expires_at").and_then(clock::timestamp);
                let opened = s.get("opened_at").and_then(clock::timestamp);
                expires.is_some_and(|e| now < e) && opened.is_none_or(|o| now >= o)
            })
            .map(|s| Selector::new(s.get("scope")))
            .collect();
        Breakglass { live }
    }

    /// Whether a live session covers the flattened scope.
    pub(crate) fn covers(&self, flat: &Map<String, Json>) -> bool {
        self.live.iter().any(|s| s.covers(flat))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_plugin_sdk::json;

    fn flat(v: Json) -> Map<String, Json> {
        flatten(v.as_object().unwrap())
    }

    #[test]
    fn empty_and_star_fields_match_anything() {
        let s = Selector::new(Some(
            &json!({"environment": [], "project": "*", "org": ["*"]}),
        ));
        assert!(s.covers(&flat(json!({"environment": "prod"}))));
        assert!(Selector::new(None).covers(&flat(json!({}))));
    }

    #[test]
    fn fields_need_the_action_to_have_an_allowed_value() {
        let s = Selector::new(Some(&json!({"environment": ["production"]})));
        assert!(s.covers(&flat(json!({"environment": "production"}))));
        assert!(!s.covers(&flat(json!({"environment": "staging"}))));
        assert!(!s.covers(&flat(json!({}))));
        let one = Selector::new(Some(&json!({"workload": "checkout"})));
        assert!(one.covers(&flat(json!({"workload": "checkout"}))));
    }

    #[test]
    fn cluster_labels_and_names() {
        let s = Selector::new(Some(
            &json!({"cluster": ["prod-eu-1"], "cluster_labels": {"tier": "production", "zone": "*"}}),
        ));
        let a = flat(
            json!({"cluster": {"name": "prod-eu-1", "labels": {"tier": "production", "zone": "b"}}}),
        );
        assert!(s.covers(&a));
        let b = flat(json!({"cluster": {"name": "prod-eu-1", "labels": {"tier": "production"}}}));
        assert!(!s.covers(&b), "zone must be present");
        assert!(!s.covers(&flat(json!({"cluster": "prod-eu-1"}))));
    }

    #[test]
    fn release_changes_make_one_scope_each() {
        let action = json!({"scope": {"environment": "production", "org": "acme"},
            "subject": {"release": {"changes": [
                {"workload": "cart", "path": "a"}, {"workload": "checkout", "environment": "staging", "path": "b"},
                {"workload": "cart", "path": "c"}]}}});
        let scopes = flat_scopes(&action);
        assert_eq!(scopes.len(), 2);
        assert_eq!(scopes[1]["environment"], "staging");
        assert_eq!(scopes[0]["org"], "acme");
        assert_eq!(
            flat_scopes(&json!({"scope": {"environment": "dev"}})).len(),
            1
        );
    }

    #[test]
    fn breakglass_sessions_must_be_the_actors_and_live() {
        let now: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let action = json!({"actor": {"id": "u-alice"}, "facts": {"breakglass": [
            {"actor": "u-alice", "scope": {"workload": "checkout"}, "opened_at": "2026-11-24T09:00:00Z", "expires_at": "2026-11-24T11:00:00Z"},
            {"actor": "u-bob", "scope": {}, "expires_at": "2026-11-24T11:00:00Z"},
            {"actor": "u-alice", "scope": {}, "expires_at": "2026-11-24T10:00:00Z"},
            {"actor": "u-alice", "scope": {}, "opened_at": "2026-11-24T10:30:00Z", "expires_at": "2026-11-24T11:00:00Z"}]}});
        let bg = Breakglass::new(&action, Some(now));
        assert!(bg.covers(&flat(json!({"workload": "checkout"}))));
        assert!(!bg.covers(&flat(json!({"workload": "cart"}))));
        assert!(!Breakglass::new(&action, None).covers(&flat(json!({"workload": "checkout"}))));
    }
}
