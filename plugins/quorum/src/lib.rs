//! The quorum plugin: N approvals from eligible approvers.
//!
//! Its configuration is an approval policy (`name`, `quorum`, `eligible` users/teams/roles,
//! `requester_can_approve`); it reads `facts.approvals` and answers with one requirement,
//! `approval:<name>`, whose progress says how many approvals count (`1 of 2`) and whose
//! message says what is missing and why an approval did not count. Which approvals count is
//! decided by [`gatehouse_approval_rules`].

use gatehouse_approval_rules::{Policy, Review};
use gatehouse_plugin_sdk::{PluginError, Request, Requirement, Response, json};

gatehouse_plugin_sdk::export_plugin!(evaluate);

fn count_phrase(n: u64) -> String {
    if n <= 1 {
        "an approval".into()
    } else {
        format!("{n} more approvals")
    }
}

/// Hints for an unmet requirement: who may approve, and which approvals did not count.
pub fn hints(policy: &Policy, review: &Review, short: bool) -> String {
    let mut out = String::new();
    if short && !policy.anyone() {
        out.push_str(&format!(
            " Eligible approvers: {}.",
            policy.describe_eligible()
        ));
    }
    if review.ignored.iter().any(|(_, r)| r == "requester") {
        out.push_str(" The requester's own approval does not count.");
    }
    let ineligible: Vec<&str> = review
        .ignored
        .iter()
        .filter(|(_, r)| r == "not eligible")
        .map(|(a, _)| a.as_str())
        .collect();
    if !ineligible.is_empty() {
        out.push_str(&format!(
            " Not counted (not eligible): {}.",
            ineligible.join(", ")
        ));
    }
    out
}

/// Decides the quorum of one approval policy.
pub fn evaluate(request: &Request) -> Result<Response, PluginError> {
    let policy = Policy::from_request(request)?;
    let review = Review::new(&request.action, &policy);
    let received = review.counted.len() as u64;
    let required = policy.quorum;
    let satisfied = received >= required;
    let msg = if satisfied {
        format!(
            "Approval policy '{}' is satisfied: {received} of {required} approvals received.",
            policy.name
        )
    } else {
        format!(
            "{received} of {required} approvals received; needs {} (approval policy '{}').{}",
            count_phrase(required - received),
            policy.name,
            hints(&policy, &review, true)
        )
    };
    let mut response = Response::default();
    response.requirements.push(Requirement {
        id: format!("approval:{}", policy.name),
        kind: "approval".into(),
        msg,
        satisfied,
        progress: Some(json!({"received": received, "required": required})),
        details: Some(json!({
            "policy": policy.name,
            "approvers": review.counted.keys().collect::<Vec<_>>(),
            "ignored": review.ignored_json(),
            "requester": review.requester,
            "requester_can_approve": policy.requester_can_approve,
            "eligible": policy.eligible_json(),
        })),
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_plugin_sdk::Json;

    fn decide(config: Json, approvers: Json) -> Requirement {
        let approvals: Vec<Json> = approvers
            .as_array()
            .unwrap()
            .iter()
            .map(|a| json!({"actor": a}))
            .collect();
        let action = json!({"kind": "release.deploy",
            "subject": {"release": {"id": "rel-1", "requester": {"id": "u-alice"}}},
            "facts": {"approvals": approvals}});
        evaluate(&Request { action, config })
            .unwrap()
            .requirements
            .remove(0)
    }

    fn policy() -> Json {
        json!({"name": "prod", "quorum": 2, "eligible": {"teams": ["sre", "backend"]}})
    }

    #[test]
    fn progress_is_reported_one_of_two() {
        let r = decide(policy(), json!([{"id": "u-bob", "teams": ["sre"]}]));
        assert!(!r.satisfied);
        assert_eq!(r.progress, Some(json!({"received": 1, "required": 2})));
        assert_eq!(
            r.msg,
            "1 of 2 approvals received; needs an approval (approval policy 'prod'). Eligible approvers: teams sre, backend."
        );
        let r = decide(
            policy(),
            json!([{"id": "u-bob", "teams": ["sre"]}, {"id": "u-carol", "teams": ["backend"]}]),
        );
        assert!(r.satisfied);
        assert_eq!(
            r.msg,
            "Approval policy 'prod' is satisfied: 2 of 2 approvals received."
        );
    }

    #[test]
    fn requester_ineligible_and_repeated_approvals_do_not_count() {
        let r = decide(
            policy(),
            json!([{"id": "u-alice", "teams": ["sre"]}, {"id": "u-bob", "teams": ["sre"]},
                   {"id": "u-bob", "teams": ["sre"]}, {"id": "u-frank", "teams": ["finance"]}]),
        );
        assert_eq!(r.progress, Some(json!({"received": 1, "required": 2})));
        assert!(
            r.msg.ends_with(
                "The requester's own approval does not count. Not counted (not eligible): u-frank."
            ),
            "{}",
            r.msg
        );
        let mut allowed = policy();
        allowed["requester_can_approve"] = json!(true);
        assert!(
            decide(
                allowed,
                json!([{"id": "u-alice", "teams": ["sre"]}, {"id": "u-bob", "teams": ["sre"]}])
            )
            .satisfied
        );
    }

    #[test]
    fn someone_who_left_the_team_no_longer_counts() {
        let r = decide(
            policy(),
            json!([{"id": "u-bob", "teams": ["finance"]}, {"id": "u-carol", "teams": ["sre"]}]),
        );
        assert!(!r.satisfied);
    }

    #[test]
    fn default_quorum_is_one_and_everyone_is_eligible_without_lists() {
        let r = decide(json!({"name": "any"}), json!([{"id": "u-x"}]));
        assert!(r.satisfied);
        let r = decide(json!({"name": "any"}), json!([]));
        assert_eq!(
            r.msg,
            "0 of 1 approvals received; needs an approval (approval policy 'any')."
        );
    }
}
