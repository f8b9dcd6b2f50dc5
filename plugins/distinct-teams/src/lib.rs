//! The distinct-teams plugin: approvals must come from at least K different teams.
//!
//! Its configuration is an approval policy (`name`, `distinct_teams` = K, `eligible`,
//! `requester_can_approve`); only approvals that count under it (see
//! [`gatehouse_approval_rules`]) are considered. A person in two teams stands for one of them:
//! coverage is a maximum matching of approvers to teams, exact for any K. The requirement,
//! `teams:<name>`, reports the coverage and says which teams a further approval must come
//! from outside of.

use gatehouse_approval_rules::{Policy, Review, matching, saturated};
use gatehouse_plugin_sdk::{PluginError, Request, Requirement, Response, json};

gatehouse_plugin_sdk::export_plugin!(evaluate);

/// Decides the team coverage of one approval policy.
pub fn evaluate(request: &Request) -> Result<Response, PluginError> {
    let policy = Policy::from_request(request)?;
    let review = Review::new(&request.action, &policy);
    let k = policy.distinct_teams;
    let assignment = matching(&review.counted);
    let coverage = (assignment.len() as u64).min(k);
    let others: Vec<String> = saturated(&review.counted).into_iter().collect();
    let teams: Vec<String> = review.teams().into_iter().collect();
    let missing = k.saturating_sub(coverage);
    let satisfied = missing == 0;
    let from = match (missing, others.is_empty(), coverage) {
        (1, false, _) => format!("an approval from a team other than {}", others.join(", ")),
        (1, true, 0) => "an approval from a member of a team".to_owned(),
        (1, true, _) => "an approval from another team".to_owned(),
        (n, false, _) => format!(
            "approvals from {n} different teams other than {}",
            others.join(", ")
        ),
        (n, true, _) => format!("approvals from {n} different teams"),
    };
    let msg = if satisfied {
        format!(
            "Approval policy '{}' is satisfied: approvals cover {coverage} of {k} required teams{}.",
            policy.name,
            if teams.is_empty() {
                String::new()
            } else {
                format!(" ({})", teams.join(", "))
            }
        )
    } else {
        format!(
            "Approvals cover {coverage} of {k} required teams; needs {from} (approval policy '{}').",
            policy.name
        )
    };
    let mut response = Response::default();
    response.requirements.push(Requirement {
        id: format!("teams:{}", policy.name),
        kind: "approval".into(),
        msg,
        satisfied,
        progress: Some(json!({"teams": coverage, "teams_required": k})),
        details: Some(json!({
            "policy": policy.name,
            "teams": teams,
            "assignment": assignment,
            "needs_team_other_than": others,
            "approvers": review.counted.keys().collect::<Vec<_>>(),
        })),
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_plugin_sdk::Json;

    fn decide(k: u64, approvers: Json) -> Requirement {
        let approvals: Vec<Json> = approvers
            .as_array()
            .unwrap()
            .iter()
            .map(|a| json!({"actor": a}))
            .collect();
        let action = json!({"kind": "release.deploy", "facts": {"approvals": approvals}});
        let config = json!({"name": "prod", "distinct_teams": k});
        evaluate(&Request { action, config })
            .unwrap()
            .requirements
            .remove(0)
    }

    #[test]
    fn says_which_teams_are_still_needed() {
        let r = decide(
            2,
            json!([{"id": "u-carol", "teams": ["backend"]}, {"id": "u-erin", "teams": ["backend"]}]),
        );
        assert!(!r.satisfied);
        assert_eq!(
            r.msg,
            "Approvals cover 1 of 2 required teams; needs an approval from a team other than backend (approval policy 'prod')."
        );
        assert_eq!(r.progress, Some(json!({"teams": 1, "teams_required": 2})));
    }

    #[test]
    fn a_person_in_two_teams_counts_for_one() {
        let r = decide(2, json!([{"id": "u-hank", "teams": ["sre", "backend"]}]));
        assert!(!r.satisfied);
        assert_eq!(
            r.msg,
            "Approvals cover 1 of 2 required teams; needs an approval from another team (approval policy 'prod')."
        );
        let r = decide(
            2,
            json!([{"id": "u-hank", "teams": ["sre", "backend"]}, {"id": "u-carol", "teams": ["backend"]}]),
        );
        assert!(r.satisfied, "{}", r.msg);
        assert_eq!(
            r.details.unwrap()["assignment"],
            json!({"backend": "u-carol", "sre": "u-hank"})
        );
    }

    #[test]
    fn any_number_of_teams_is_exact() {
        let people: Vec<Json> = (0..8)
            .map(|i| json!({"id": format!("p{i}"), "teams": [format!("t{i}")]}))
            .collect();
        assert!(decide(8, Json::Array(people.clone())).satisfied);
        let r = decide(9, Json::Array(people));
        assert!(r.msg.starts_with("Approvals cover 8 of 9 required teams; needs an approval from a team other than t0, t1"), "{}", r.msg);
    }

    #[test]
    fn no_constraint_is_satisfied_and_nobody_means_any_team() {
        assert!(decide(0, json!([])).satisfied);
        assert_eq!(
            decide(3, json!([])).msg,
            "Approvals cover 0 of 3 required teams; needs approvals from 3 different teams (approval policy 'prod')."
        );
        assert_eq!(
            decide(1, json!([])).msg,
            "Approvals cover 0 of 1 required teams; needs an approval from a member of a team (approval policy 'prod')."
        );
    }
}
