//! Which approvals count under an approval policy, and how many distinct teams they cover.
//!
//! Shared by the quorum and distinct-teams plugins so both judge approvals the same way:
//! - an approval counts when its approver is eligible (listed by id, in a listed team or
//!   holding a listed role; everyone when the policy lists nobody), judged on the approver's
//!   teams and role *as recorded with the approval* (the hub records them as they are now, so
//!   someone who left the team no longer counts);
//! - the requester's own approval does not count unless the policy sets
//!   `requester_can_approve`;
//! - one person counts once, whatever the number of their approval records.
//!
//! Team coverage is a maximum matching of approvers to teams: a person in two teams stands for
//! one of them, chosen to cover as many teams as possible.

use std::collections::{BTreeMap, BTreeSet};

use gatehouse_plugin_sdk::{Json, PluginError, Request, json};

/// An approval policy (the plugins' configuration).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// Name shown in requirements.
    pub name: String,
    /// Approvals needed (default 1).
    pub quorum: u64,
    /// Distinct teams needed (default 0).
    pub distinct_teams: u64,
    /// Whether the requester's own approval counts.
    pub requester_can_approve: bool,
    /// Eligible user ids.
    pub users: Vec<String>,
    /// Eligible teams.
    pub teams: Vec<String>,
    /// Eligible roles.
    pub roles: Vec<String>,
}

fn strings(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::Array(a)) => a.iter().map(text).collect(),
        Some(Json::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn count(request: &Request, key: &str, default: u64) -> Result<u64, PluginError> {
    match request.config(key) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            })
            .ok_or_else(|| {
                PluginError::new(format!(
                    "config.{key} must be a non-negative whole number, not {v}"
                ))
            }),
    }
}

impl Policy {
    /// Reads the policy from a request's configuration.
    pub fn from_request(request: &Request) -> Result<Policy, PluginError> {
        let eligible = request.config("eligible");
        Ok(Policy {
            name: request
                .config("name")
                .and_then(Json::as_str)
                .filter(|n| !n.is_empty())
                .unwrap_or("(unnamed)")
                .to_owned(),
            quorum: count(request, "quorum", 1)?,
            distinct_teams: count(request, "distinct_teams", 0)?,
            requester_can_approve: request.config("requester_can_approve")
                == Some(&Json::Bool(true)),
            users: strings(eligible.and_then(|e| e.get("users"))),
            teams: strings(eligible.and_then(|e| e.get("teams"))),
            roles: strings(eligible.and_then(|e| e.get("roles"))),
        })
    }

    /// Whether anyone may approve.
    pub fn anyone(&self) -> bool {
        self.users.is_empty() && self.teams.is_empty() && self.roles.is_empty()
    }

    /// Whether an approver (`{"id", "teams", "role"}`) is eligible.
    pub fn eligible(&self, actor: &Json) -> bool {
        let id = actor.get("id").and_then(Json::as_str);
        self.anyone()
            || id.is_some_and(|id| self.users.iter().any(|u| u == id))
            || teams_of(actor).iter().any(|t| self.teams.contains(t))
            || actor
                .get("role")
                .and_then(Json::as_str)
                .is_some_and(|r| self.roles.iter().any(|x| x == r))
    }

    /// `teams sre, backend; roles admin` or `anyone`.
    pub fn describe_eligible(&self) -> String {
        if self.anyone() {
            return "anyone".into();
        }
        [
            ("users", &self.users),
            ("teams", &self.teams),
            ("roles", &self.roles),
        ]
        .iter()
        .filter(|(_, l)| !l.is_empty())
        .map(|(k, l)| format!("{k} {}", l.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
    }

    /// The eligibility lists as JSON, for details.
    pub fn eligible_json(&self) -> Json {
        json!({"users": self.users, "teams": self.teams, "roles": self.roles})
    }
}

fn teams_of(actor: &Json) -> BTreeSet<String> {
    actor
        .get("teams")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
        .map(str::to_owned)
        .collect()
}

/// The approvals of an action judged under a policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Review {
    /// Counted approvers with the union of their teams.
    pub counted: BTreeMap<String, BTreeSet<String>>,
    /// Approvals that do not count: (approver, `requester` or `not eligible`), sorted.
    pub ignored: BTreeSet<(String, String)>,
    /// The person who asked for the action.
    pub requester: Option<String>,
}

/// Who asked for the action: the release's requester, else the actor of a command or
/// rollback.
pub fn requester(action: &Json) -> Option<String> {
    action
        .pointer("/subject/release/requester/id")
        .and_then(Json::as_str)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            let kind = action.get("kind").and_then(Json::as_str);
            matches!(kind, Some("command" | "rollback"))
                .then(|| {
                    action
                        .pointer("/actor/id")
                        .and_then(Json::as_str)
                        .map(str::to_owned)
                })
                .flatten()
        })
}

impl Review {
    /// Judges `facts.approvals` under `policy`.
    pub fn new(action: &Json, policy: &Policy) -> Review {
        let requester = requester(action);
        let approvals: Vec<&Json> = action
            .pointer("/facts/approvals")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|a| a.get("actor"))
            .filter(|a| a.get("id").is_some_and(Json::is_string))
            .collect();
        let mut review = Review {
            requester: requester.clone(),
            ..Review::default()
        };
        for actor in &approvals {
            let id = actor
                .get("id")
                .and_then(Json::as_str)
                .unwrap_or_default()
                .to_owned();
            if requester.as_deref() == Some(id.as_str()) && !policy.requester_can_approve {
                review.ignored.insert((id, "requester".into()));
            } else if policy.eligible(actor) {
                review.counted.entry(id).or_default();
            } else {
                review.ignored.insert((id, "not eligible".into()));
            }
        }
        // A person's teams: every team of their approval records.
        for actor in &approvals {
            if let Some(teams) = actor
                .get("id")
                .and_then(Json::as_str)
                .and_then(|id| review.counted.get_mut(id))
            {
                teams.extend(teams_of(actor));
            }
        }
        review
    }

    /// The ignored approvals as `[{"actor", "reason"}]`.
    pub fn ignored_json(&self) -> Json {
        Json::Array(
            self.ignored
                .iter()
                .map(|(a, r)| json!({"actor": a, "reason": r}))
                .collect(),
        )
    }

    /// Every team of the counted approvers, sorted.
    pub fn teams(&self) -> BTreeSet<String> {
        self.counted.values().flatten().cloned().collect()
    }
}

/// A maximum matching of people to teams (each person stands for one team): team → person.
pub fn matching(people: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, String> {
    fn augment(
        person: &str,
        people: &BTreeMap<String, BTreeSet<String>>,
        owner: &mut BTreeMap<String, String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        let Some(teams) = people.get(person) else {
            return false;
        };
        for team in teams {
            if !seen.insert(team.clone()) {
                continue;
            }
            let free = match owner.get(team).cloned() {
                None => true,
                Some(other) => augment(&other, people, owner, seen),
            };
            if free {
                owner.insert(team.clone(), person.to_owned());
                return true;
            }
        }
        false
    }
    let mut owner = BTreeMap::new();
    for person in people.keys() {
        augment(person, people, &mut owner, &mut BTreeSet::new());
    }
    owner
}

/// Covered teams for which one more approval would not raise the coverage: the teams a new
/// approval must come from outside of.
pub fn saturated(people: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<String> {
    let covered = matching(people).len();
    let all: BTreeSet<String> = people.values().flatten().cloned().collect();
    all.into_iter()
        .filter(|t| {
            let mut more = people.clone();
            more.insert("\u{0}candidate".into(), BTreeSet::from([t.clone()]));
            matching(&more).len() <= covered
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(v: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        v.iter()
            .map(|(p, ts)| (p.to_string(), ts.iter().map(|t| t.to_string()).collect()))
            .collect()
    }

    fn request(config: Json, approvals: Json) -> (Json, Policy) {
        let action = json!({"kind": "release.deploy",
            "subject": {"release": {"id": "r", "requester": {"id": "u-alice"}}},
            "facts": {"approvals": approvals}});
        let req = Request {
            action: action.clone(),
            config,
        };
        (action, Policy::from_request(&req).unwrap())
    }

    #[test]
    fn one_person_counts_once_with_all_their_teams() {
        let (action, policy) = request(
            json!({"name": "p"}),
            json!([{"actor": {"id": "u-bob", "teams": ["sre"]}}, {"actor": {"id": "u-bob", "teams": ["backend"]}}]),
        );
        let r = Review::new(&action, &policy);
        assert_eq!(r.counted.len(), 1);
        assert_eq!(r.counted["u-bob"].len(), 2);
    }

    #[test]
    fn requester_and_ineligible_approvals_are_ignored() {
        let (action, policy) = request(
            json!({"name": "p", "eligible": {"teams": ["sre"], "roles": ["admin"]}}),
            json!([{"actor": {"id": "u-alice", "teams": ["sre"]}},
                   {"actor": {"id": "u-frank", "teams": ["finance"]}},
                   {"actor": {"id": "u-gina", "teams": ["finance"], "role": "admin"}}]),
        );
        let r = Review::new(&action, &policy);
        assert_eq!(r.counted.keys().collect::<Vec<_>>(), ["u-gina"]);
        assert_eq!(
            r.ignored_json(),
            json!([{"actor": "u-alice", "reason": "requester"}, {"actor": "u-frank", "reason": "not eligible"}])
        );
        let (action, policy) = request(
            json!({"requester_can_approve": true}),
            json!([{"actor": {"id": "u-alice"}}]),
        );
        assert_eq!(Review::new(&action, &policy).counted.len(), 1);
    }

    #[test]
    fn command_requester_is_the_actor() {
        assert_eq!(
            requester(&json!({"kind": "command", "actor": {"id": "u-bob"}})).as_deref(),
            Some("u-bob")
        );
        assert_eq!(
            requester(&json!({"kind": "release.deploy", "actor": {"id": "u-bob"}})),
            None
        );
    }

    #[test]
    fn matching_assigns_multi_team_people_to_maximise_coverage() {
        assert_eq!(
            matching(&people(&[
                ("hank", &["sre", "backend"]),
                ("carol", &["backend"])
            ]))
            .len(),
            2
        );
        assert_eq!(
            matching(&people(&[
                ("x", &["sre", "backend"]),
                ("y", &["sre", "backend"]),
                ("z", &["sre", "backend"])
            ]))
            .len(),
            2
        );
        let seven: Vec<(String, Vec<String>)> = (0..7)
            .map(|i| {
                (
                    format!("p{i}"),
                    vec![format!("t{i}"), format!("t{}", (i + 1) % 7)],
                )
            })
            .collect();
        let seven: BTreeMap<String, BTreeSet<String>> = seven
            .into_iter()
            .map(|(p, t)| (p, t.into_iter().collect()))
            .collect();
        assert_eq!(matching(&seven).len(), 7);
    }

    #[test]
    fn saturated_teams_are_those_another_approval_cannot_add() {
        assert_eq!(
            saturated(&people(&[("carol", &["backend"])])),
            BTreeSet::from(["backend".to_string()])
        );
        // Hank covers sre or backend: another approval from either adds a team.
        assert!(saturated(&people(&[("hank", &["sre", "backend"])])).is_empty());
        assert_eq!(
            saturated(&people(&[
                ("x", &["sre", "backend"]),
                ("y", &["sre", "backend"])
            ]))
            .len(),
            2
        );
    }

    #[test]
    fn bad_numbers_are_named() {
        let req = Request {
            action: json!({}),
            config: json!({"quorum": "two"}),
        };
        assert_eq!(
            Policy::from_request(&req).unwrap_err().0,
            "config.quorum must be a non-negative whole number, not \"two\""
        );
    }
}
