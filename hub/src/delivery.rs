//! The render gate: every render's objects go through the engine as a `render` action before
//! anything is committed. The CLI (`gatehouse render --check`) and the hub ask the same way, so
//! CI sees the verdict the hub will reach.

use gatehouse_engine::action::{Actor, ActorKind, Scope, Subject};
use gatehouse_engine::{Action, ActionKind, Decision, Engine};
use serde_json::Value as Json;

/// Where a render applies: what bindings and policies see as `input.scope`.
#[derive(Debug, Clone, Default)]
pub struct GateScope {
    /// Organization.
    pub org: String,
    /// Project.
    pub project: Option<String>,
    /// Environment.
    pub environment: Option<String>,
    /// Tenant.
    pub tenant: Option<String>,
    /// Workload.
    pub workload: Option<String>,
}

/// The `render` action for `objects` in `scope`, on behalf of `actor`.
pub fn render_action(scope: &GateScope, actor: Actor, objects: &[Json]) -> Action {
    Action {
        version: 1,
        kind: ActionKind::Render,
        id: None,
        time: None,
        actor,
        scope: Scope {
            org: scope.org.clone(),
            project: scope.project.clone(),
            environment: scope.environment.clone(),
            tenant: scope.tenant.clone(),
            workload: scope.workload.clone(),
            cluster: None,
        },
        subject: Subject {
            manifests: objects.to_vec(),
            ..Subject::default()
        },
        facts: Default::default(),
        context: Default::default(),
    }
}

/// Decides whether `objects` may be committed. The actor is the delivery generator itself.
pub fn gate(engine: &Engine, scope: &GateScope, objects: &[Json]) -> Decision {
    let actor = Actor {
        id: "gatehouse-render".to_owned(),
        kind: ActorKind::ServiceAccount,
        name: Some("delivery generator".to_owned()),
        role: None,
        teams: Vec::new(),
    };
    engine.decide(&render_action(scope, actor, objects))
}
