//! The freeze-windows plugin: freeze windows block changes while they are active.
//!
//! It reads the action's `facts.freezes` at the action's `time` and answers with violations:
//! - a **deny** window that is active blocks the scopes it matches, and says until when;
//! - when **allow** windows match a scope, one of them must be active (deny beats allow);
//! - a live **break-glass** session of the actor that covers a scope exempts that scope;
//! - a deny window whose definition is malformed blocks until it is fixed (a malformed allow
//!   window is never open), and an action without a valid time is denied whenever a window
//!   matches its scope: the plugin fails closed.
//!
//! Windows are one-off, weekly (`recurring`) or `schedule`d by a cron expression or an RFC 5545
//! RRULE with a duration, each in a named time zone. See `docs/policies/freeze.md`.

use gatehouse_plugin_sdk::serde_json::Map;
use gatehouse_plugin_sdk::{Finding, Json, PluginError, Request, Response, Severity, json};
use jiff::Timestamp;

mod clock;
mod cron;
mod rrule;
mod scope;
mod window;

use scope::{Breakglass, Selector};
use window::Window;

gatehouse_plugin_sdk::export_plugin!(evaluate);

const BREAKGLASS_HINT: &str = "open a break-glass session for this scope to proceed";

/// A freeze from the facts, read once.
struct Freeze<'a> {
    raw: &'a Map<String, Json>,
    name: String,
    allow: bool,
    selector: Selector,
    window: Window,
}

impl<'a> Freeze<'a> {
    fn new(raw: &'a Map<String, Json>) -> Freeze<'a> {
        let name = raw
            .get("name")
            .and_then(Json::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or("(unnamed)")
            .to_owned();
        let allow = raw
            .get("effect")
            .and_then(Json::as_str)
            .is_some_and(|e| e.eq_ignore_ascii_case("allow"));
        Freeze {
            raw,
            name,
            allow,
            selector: Selector::new(raw.get("scope")),
            window: Window::new(raw),
        }
    }

    fn reason(&self) -> String {
        match self.raw.get("reason").and_then(Json::as_str) {
            Some(r) if !r.is_empty() => {
                format!(" (reason: {})", r.trim_end_matches(['.', ' ']))
            }
            _ => String::new(),
        }
    }
}

fn noun(kind: Option<&str>) -> String {
    match kind {
        Some("release.create") => "creating releases".into(),
        Some("release.deploy") => "deployments".into(),
        Some("promotion") => "promotions".into(),
        Some("rollback") => "rollbacks".into(),
        Some("command") => "cluster commands".into(),
        Some(other) => format!("{other} actions"),
        None => "actions".into(),
    }
}

/// ` in production, staging` for the environments of some scopes (empty when none is named).
fn place(scopes: &[&Map<String, Json>]) -> String {
    let mut envs: Vec<&str> = scopes
        .iter()
        .filter_map(|s| s.get("environment").and_then(Json::as_str))
        .collect();
    envs.sort_unstable();
    envs.dedup();
    if envs.is_empty() {
        String::new()
    } else {
        format!(" in {}", envs.join(", "))
    }
}

/// Decides an action's freeze windows.
pub fn evaluate(request: &Request) -> Result<Response, PluginError> {
    let action = &request.action;
    let mut response = Response::default();
    let freezes: Vec<Freeze<'_>> = action
        .pointer("/facts/freezes")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_object)
        .map(Freeze::new)
        .collect();
    if freezes.is_empty() {
        return Ok(response);
    }
    let noun = noun(action.get("kind").and_then(Json::as_str));
    let scopes = scope::flat_scopes(action);
    let now: Option<Timestamp> = action.get("time").and_then(clock::timestamp);
    let Some(now) = now else {
        if freezes
            .iter()
            .any(|f| scopes.iter().any(|s| f.selector.covers(s)))
        {
            response.violations.push(
                Finding::new(format!(
                    "Freeze windows for {noun} cannot be checked: the action has no valid time (input.time must be an RFC 3339 timestamp). Submit the action again with its time set."
                ))
                .severity(Severity::High)
                .details(json!({"time": action.get("time").cloned().unwrap_or(Json::Null)})),
            );
        }
        return Ok(response);
    };
    let breakglass = Breakglass::new(action, Some(now));
    let blocked = |f: &Freeze<'_>| -> Vec<&Map<String, Json>> {
        scopes
            .iter()
            .filter(|s| f.selector.covers(s) && !breakglass.covers(s))
            .collect()
    };

    for f in freezes.iter().filter(|f| !f.allow) {
        if !f.window.problems.is_empty() {
            let hit = blocked(f);
            if hit.is_empty() {
                continue;
            }
            response.violations.push(
                Finding::new(format!(
                    "Freeze '{}' has an invalid definition ({}), so it blocks {noun}{} until it is fixed. Correct the freeze, or {BREAKGLASS_HINT}.",
                    f.name,
                    f.window.problems.join("; "),
                    place(&hit),
                ))
                .severity(Severity::High)
                .details(json!({"freeze": f.name, "effect": "deny", "problems": f.window.problems})),
            );
            continue;
        }
        let Some(end) = f.window.active(now) else {
            continue;
        };
        let hit = blocked(f);
        if hit.is_empty() {
            continue;
        }
        let mut details = json!({
            "freeze": f.name,
            "effect": "deny",
            "window": f.window.description,
            "ends": end.text,
            "reason": f.raw.get("reason").cloned().unwrap_or(Json::Null),
        });
        if let (Some(at), Some(map)) = (end.at, details.as_object_mut()) {
            map.insert("ends_at".into(), Json::String(at.to_string()));
        }
        response.violations.push(
            Finding::new(format!(
                "Freeze '{}' blocks {noun}{} until {}{}. Wait until it ends, or {BREAKGLASS_HINT}.",
                f.name,
                place(&hit),
                end.text,
                f.reason(),
            ))
            .severity(Severity::High)
            .details(details),
        );
    }

    let allow: Vec<&Freeze<'_>> = freezes.iter().filter(|f| f.allow).collect();
    for s in &scopes {
        let windows: Vec<&&Freeze<'_>> = allow.iter().filter(|f| f.selector.covers(s)).collect();
        if windows.is_empty()
            || windows.iter().any(|f| f.window.active(now).is_some())
            || breakglass.covers(s)
        {
            continue;
        }
        let finding = Finding::new(format!(
            "No change window is open for {noun}{}: they are allowed only during {}. Wait for a window to open, or {BREAKGLASS_HINT}.",
            place(&[s]),
            windows
                .iter()
                .map(|f| format!("'{}' ({})", f.name, f.window.description))
                .collect::<Vec<_>>()
                .join(", "),
        ))
        .severity(Severity::High)
        .details(json!({"effect": "allow", "windows": windows.iter().map(|f| f.name.as_str()).collect::<Vec<_>>()}));
        if !response.violations.contains(&finding) {
            response.violations.push(finding);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(time: &str, freezes: Json, extra: Json) -> Vec<String> {
        let mut action = json!({
            "kind": "release.deploy", "time": time,
            "actor": {"id": "u-alice"},
            "scope": {"org": "acme", "environment": "production", "workload": "checkout"},
            "facts": {"freezes": freezes},
        });
        if let (Some(a), Some(e)) = (action.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                a.insert(k.clone(), v.clone());
            }
        }
        let r = evaluate(&Request {
            action,
            config: json!({}),
        })
        .unwrap();
        r.violations.into_iter().map(|v| v.msg).collect()
    }

    fn maintenance() -> Json {
        json!({"name": "maintenance", "reason": "Database failover test.", "effect": "deny",
               "scope": {"environment": ["production"]},
               "start": "2026-11-24T08:00:00Z", "end": "2026-11-24T12:00:00Z"})
    }

    fn business_hours() -> Json {
        json!({"name": "business-hours", "effect": "allow", "scope": {"environment": ["production"]},
               "recurring": {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "09:00", "end": "17:00", "timezone": "Europe/Berlin"}})
    }

    #[test]
    fn an_active_deny_window_blocks_and_says_when_it_ends() {
        assert_eq!(
            decide("2026-11-24T10:00:00Z", json!([maintenance()]), json!({})),
            [
                "Freeze 'maintenance' blocks deployments in production until 2026-11-24T12:00:00Z (reason: Database failover test). Wait until it ends, or open a break-glass session for this scope to proceed."
            ]
        );
        assert!(decide("2026-11-24T12:00:00Z", json!([maintenance()]), json!({})).is_empty());
    }

    #[test]
    fn no_window_allows_and_out_of_scope_windows_do_not_apply() {
        assert!(decide("2026-11-24T10:00:00Z", json!([]), json!({})).is_empty());
        let mut staging = maintenance();
        staging["scope"] = json!({"environment": ["staging"]});
        assert!(decide("2026-11-24T10:00:00Z", json!([staging]), json!({})).is_empty());
    }

    #[test]
    fn allow_windows_must_be_open_and_deny_beats_allow() {
        assert!(decide("2026-11-24T10:00:00Z", json!([business_hours()]), json!({})).is_empty());
        assert_eq!(
            decide("2026-11-24T17:00:00Z", json!([business_hours()]), json!({})),
            [
                "No change window is open for deployments in production: they are allowed only during 'business-hours' (recurring mon, tue, wed, thu, fri 09:00-17:00 Europe/Berlin). Wait for a window to open, or open a break-glass session for this scope to proceed."
            ]
        );
        let both = decide(
            "2026-11-24T10:00:00Z",
            json!([business_hours(), maintenance()]),
            json!({}),
        );
        assert_eq!(both.len(), 1);
        assert!(both[0].starts_with("Freeze 'maintenance' blocks"));
    }

    #[test]
    fn breakglass_exempts_only_the_scopes_it_covers() {
        let session = |scope: Json| {
            json!({"facts": {"freezes": [maintenance()], "breakglass": [
            {"id": "bg-1", "actor": "u-alice", "scope": scope, "expires_at": "2026-11-24T11:00:00Z"}]}})
        };
        assert!(
            decide(
                "2026-11-24T10:00:00Z",
                json!([]),
                session(json!({"environment": "production"}))
            )
            .is_empty()
        );
        assert_eq!(
            decide(
                "2026-11-24T10:00:00Z",
                json!([]),
                session(json!({"workload": "cart"}))
            )
            .len(),
            1
        );
    }

    #[test]
    fn fails_closed_on_bad_definitions_and_missing_time() {
        let broken = json!({"name": "broken", "recurring": {"days": ["someday"], "start": "09:00", "end": "10:00"}});
        assert_eq!(
            decide("2026-11-24T10:00:00Z", json!([broken]), json!({})),
            [
                "Freeze 'broken' has an invalid definition (recurring.days has 'someday', which is not a day of the week), so it blocks deployments in production until it is fixed. Correct the freeze, or open a break-glass session for this scope to proceed."
            ]
        );
        let odd_allow = json!({"name": "odd", "effect": "allow", "recurring": {"start": "9am"}});
        assert_eq!(
            decide("2026-11-24T10:00:00Z", json!([odd_allow]), json!({})).len(),
            1
        );
        let msgs = decide("yesterday", json!([maintenance()]), json!({}));
        assert!(msgs[0].contains("the action has no valid time"), "{msgs:?}");
    }

    #[test]
    fn cron_windows_say_when_they_end() {
        let weekend = json!({"name": "weekend", "schedule": {"cron": "0 18 * * fri", "duration": "2d 14h", "timezone": "Europe/Berlin"}});
        assert_eq!(
            decide("2026-11-28T10:00:00Z", json!([weekend]), json!({})),
            [
                "Freeze 'weekend' blocks deployments in production until Monday 2026-11-30 08:00 Europe/Berlin. Wait until it ends, or open a break-glass session for this scope to proceed."
            ]
        );
    }
}
