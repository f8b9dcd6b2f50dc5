//! One freeze window: its definition checked, whether it is active at a time, and when the
//! active occurrence ends.
//!
//! Three forms: one-off (`start`/`end`, RFC 3339, either may be absent), weekly `recurring`
//! (days, `HH:MM` start and end, a start after the end runs overnight) and `schedule` (a cron
//! expression or an RRULE for the start of each occurrence, and a duration). Recurring forms
//! are evaluated in their named time zone, so daylight saving time is followed.

use gatehouse_plugin_sdk::Json;
use gatehouse_plugin_sdk::serde_json::Map;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp, Zoned};

use crate::clock::{self, day_name, text};
use crate::cron::Cron;
use crate::rrule::{self, RRule};

/// The longest occurrence a schedule may have.
const MAX_DURATION_DAYS: i64 = 366;

#[derive(Debug)]
enum Form {
    OneOff {
        start: Option<Timestamp>,
        end: Option<(Timestamp, String)>,
    },
    Weekly {
        days: Option<Vec<u8>>,
        start: u32,
        end: u32,
        end_text: String,
        tz: TimeZone,
        tz_name: String,
    },
    Schedule {
        expr: Expr,
        duration: Span,
        tz: TimeZone,
        tz_name: String,
    },
}

#[derive(Debug)]
enum Expr {
    Cron(Cron),
    RRule(RRule),
}

/// A window's definition, checked.
#[derive(Debug)]
pub(crate) struct Window {
    form: Option<Form>,
    /// What is wrong with the definition (empty when it is well-formed), sorted.
    pub(crate) problems: Vec<String>,
    /// The definition in words, e.g. `recurring sat, sun 00:00-24:00 Europe/Berlin`.
    pub(crate) description: String,
}

/// When an active occurrence ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct End {
    /// In words, for the message: `2026-11-24T12:00:00Z`, `Monday 00:00 Europe/Berlin`.
    pub(crate) text: String,
    /// The instant, when there is one.
    pub(crate) at: Option<Timestamp>,
}

fn present(obj: &Map<String, Json>, key: &str) -> Option<Json> {
    obj.get(key)
        .filter(|v| !v.is_null() && v.as_str() != Some(""))
        .cloned()
}

fn zone(tz: &Json) -> (String, Option<TimeZone>) {
    let name = tz
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("UTC")
        .to_owned();
    let zone = TimeZone::get(&name).ok();
    (name, zone)
}

impl Window {
    /// Reads a freeze's window.
    pub(crate) fn new(f: &Map<String, Json>) -> Window {
        let mut problems = Vec::new();
        let form;
        let description;
        if let Some(schedule) = f.get("schedule").filter(|s| !s.is_null()) {
            (form, description) = schedule_form(f, schedule, &mut problems);
        } else if let Some(Json::Object(r)) = f.get("recurring") {
            (form, description) = weekly_form(r, &mut problems);
        } else {
            let mut get = |key: &str| -> Option<Option<Timestamp>> {
                let v = present(f, key)?;
                let ts = clock::timestamp(&v);
                if ts.is_none() {
                    problems.push(format!("{key} '{}' is not an RFC 3339 time", text(&v)));
                }
                Some(ts)
            };
            let start = get("start");
            let end = get("end");
            let show = |k: &str| present(f, k).map(|v| text(&v));
            description = match (show("start"), show("end")) {
                (Some(s), Some(e)) => format!("from {s} to {e}"),
                (Some(s), None) => format!("from {s} until lifted"),
                (None, Some(e)) => format!("until {e}"),
                (None, None) => "until lifted".into(),
            };
            form = match (start, end) {
                (Some(None), _) | (_, Some(None)) => None,
                (start, end) => Some(Form::OneOff {
                    start: start.flatten(),
                    end: end.flatten().zip(present(f, "end").map(|v| text(&v))),
                }),
            };
        }
        problems.sort();
        problems.dedup();
        Window {
            form: if problems.is_empty() { form } else { None },
            problems,
            description,
        }
    }

    /// When the window is active at `now`, when the active occurrence ends.
    pub(crate) fn active(&self, now: Timestamp) -> Option<End> {
        match self.form.as_ref()? {
            Form::OneOff { start, end } => {
                let started = start.is_none_or(|s| s <= now);
                let running = end.as_ref().is_none_or(|(e, _)| now < *e);
                (started && running).then(|| match end {
                    Some((at, text)) => End {
                        text: text.clone(),
                        at: Some(*at),
                    },
                    None => End {
                        text: "it is lifted".into(),
                        at: None,
                    },
                })
            }
            Form::Weekly {
                days,
                start,
                end,
                end_text,
                tz,
                tz_name,
            } => {
                let local = now.to_zoned(tz.clone());
                let day = u8::try_from(local.weekday().to_monday_zero_offset()).unwrap_or(0);
                let minute = u32::try_from(local.hour()).unwrap_or(0) * 60
                    + u32::try_from(local.minute()).unwrap_or(0);
                let on = |d: u8| days.as_ref().is_none_or(|ds| ds.contains(&(d % 7)));
                let (s, e) = (*start, *end);
                let active = if s < e {
                    on(day) && s <= minute && minute < e
                } else {
                    (on(day) && minute >= s) || (on(day + 6) && minute < e)
                };
                if !active {
                    return None;
                }
                let end_time = if e == 1440 {
                    "00:00"
                } else {
                    end_text.as_str()
                };
                let at = |d: u8, t: &str| End {
                    text: format!("{} {t} {tz_name}", day_name(d)),
                    at: None,
                };
                Some(if s > e {
                    if minute >= s {
                        at(day + 1, end_time)
                    } else {
                        at(day, end_time)
                    }
                } else if e < 1440 {
                    at(day, end_time)
                } else if s > 0 {
                    at(day + 1, "00:00")
                } else {
                    // All day: runs on through the following listed days.
                    match (1..=7u8).find(|i| !on(day + i)) {
                        Some(gap) => at(day + gap, "00:00"),
                        None => End {
                            text: "it is lifted (it recurs every day around the clock)".into(),
                            at: None,
                        },
                    }
                })
            }
            Form::Schedule {
                expr,
                duration,
                tz,
                tz_name,
            } => {
                let start = latest_start(expr, duration, tz, now)?;
                let end = start.checked_add(*duration).ok()?;
                (now < end.timestamp()).then(|| End {
                    text: format!("{} {tz_name}", end.strftime("%A %Y-%m-%d %H:%M")),
                    at: Some(end.timestamp()),
                })
            }
        }
    }
}

fn weekly_form(r: &Map<String, Json>, problems: &mut Vec<String>) -> (Option<Form>, String) {
    let mut clock_time = |key: &str, default: u32| -> Option<u32> {
        match present(r, key) {
            None => Some(default),
            Some(v) => {
                let m = clock::minutes(&v);
                if m.is_none() {
                    problems.push(format!(
                        "recurring.{key} '{}' is not a clock time HH:MM",
                        text(&v)
                    ));
                }
                m
            }
        }
    };
    let start = clock_time("start", 0);
    let end = clock_time("end", 1440);
    let listed = crate::scope::as_list(r.get("days"));
    let mut days = Vec::new();
    for d in &listed {
        match clock::day_index(d) {
            Some(i) => days.push(i),
            None => problems.push(format!(
                "recurring.days has '{}', which is not a day of the week",
                text(d)
            )),
        }
    }
    let (tz_name, tz) = zone(r.get("timezone").unwrap_or(&Json::Null));
    if tz.is_none() {
        problems.push(format!(
            "recurring.timezone '{tz_name}' is not a timezone name"
        ));
    }
    if start.is_some() && start == end {
        problems.push("recurring.start and recurring.end are equal".into());
    }
    let days_text = if listed.is_empty() {
        "every day".to_owned()
    } else {
        listed.iter().map(text).collect::<Vec<_>>().join(", ")
    };
    let show = |k: &str, d: &str| r.get(k).map(text).unwrap_or_else(|| d.to_owned());
    let description = format!(
        "recurring {days_text} {}-{} {tz_name}",
        show("start", "00:00"),
        show("end", "24:00")
    );
    let form = match (start, end, tz) {
        (Some(start), Some(end), Some(tz)) => Some(Form::Weekly {
            days: (!listed.is_empty()).then_some(days),
            start,
            end,
            end_text: present(r, "end").map(|v| text(&v)).unwrap_or_default(),
            tz,
            tz_name,
        }),
        _ => None,
    };
    (form, description)
}

fn schedule_form(
    f: &Map<String, Json>,
    schedule: &Json,
    problems: &mut Vec<String>,
) -> (Option<Form>, String) {
    let Some(s) = schedule.as_object() else {
        problems.push("schedule is not an object with cron or rrule, duration and timezone".into());
        return (None, "schedule".into());
    };
    for other in ["recurring", "start", "end"] {
        if present(f, other).is_some() {
            problems.push(format!(
                "schedule cannot be combined with {other}; use one form per freeze"
            ));
        }
    }
    let (tz_name, tz) = zone(s.get("timezone").unwrap_or(&Json::Null));
    if tz.is_none() {
        problems.push(format!(
            "schedule.timezone '{tz_name}' is not a timezone name"
        ));
    }
    let duration_text = present(s, "duration").map(|v| text(&v));
    let duration = match &duration_text {
        None => {
            problems.push("schedule.duration is missing (e.g. PT2H, 90m, 2d 12h)".into());
            None
        }
        Some(d) => match d.parse::<Span>() {
            Ok(span) if span.is_positive() => {
                match span.total((jiff::Unit::Day, jiff::civil::date(2000, 1, 1))) {
                    Ok(days) if days <= MAX_DURATION_DAYS as f64 => Some(span),
                    _ => {
                        problems.push(format!(
                            "schedule.duration '{d}' is longer than {MAX_DURATION_DAYS} days"
                        ));
                        None
                    }
                }
            }
            _ => {
                problems.push(format!(
                    "schedule.duration '{d}' is not a positive duration (e.g. PT2H, 90m, 2d 12h)"
                ));
                None
            }
        },
    };
    let cron = present(s, "cron").map(|v| text(&v));
    let rule = present(s, "rrule").map(|v| text(&v));
    let (expr, what) = match (&cron, &rule) {
        (Some(c), None) => (
            Cron::parse(c)
                .map(Expr::Cron)
                .map_err(|e| format!("schedule.cron '{c}' {e}")),
            format!("cron '{c}'"),
        ),
        (None, Some(r)) => {
            let start = present(s, "dtstart").map(|v| text(&v));
            let parsed = match start.as_deref().map(|d| (d, rrule::local_datetime(d))) {
                None => Err("schedule.dtstart is missing: an rrule starts at a local date-time such as 2026-01-02T18:00".to_owned()),
                Some((d, None)) => Err(format!("schedule.dtstart '{d}' is not a local date-time such as 2026-01-02T18:00 (no offset: the time zone applies)")),
                Some((_, Some(dt))) => RRule::parse(r, dt).map(Expr::RRule).map_err(|e| format!("schedule.rrule '{r}': {e}")),
            };
            (
                parsed,
                format!("rrule '{r}' from {}", start.unwrap_or_default()),
            )
        }
        _ => (
            Err("schedule needs exactly one of cron and rrule".to_owned()),
            "schedule".to_owned(),
        ),
    };
    let expr = expr.map_err(|e| problems.push(e)).ok();
    let description = format!(
        "{what} for {} {tz_name}",
        duration_text.as_deref().unwrap_or("?")
    );
    let form = match (expr, duration, tz) {
        (Some(expr), Some(duration), Some(tz)) => Some(Form::Schedule {
            expr,
            duration,
            tz,
            tz_name,
        }),
        _ => None,
    };
    (form, description)
}

/// The latest occurrence start at or before `now` that could still be running.
fn latest_start(expr: &Expr, duration: &Span, tz: &TimeZone, now: Timestamp) -> Option<Zoned> {
    let local = now.to_zoned(tz.clone());
    let earliest = local.checked_sub(*duration).ok()?.date();
    let limit = match expr {
        Expr::RRule(r) => r.count_limit(local.date()),
        Expr::Cron(_) => None,
    };
    let mut date = local.date();
    while date >= earliest.yesterday().ok()? {
        let starts: Vec<DateTime> = match expr {
            Expr::Cron(c) => c
                .starts_on(date)
                .into_iter()
                .map(|t| date.to_datetime(t))
                .collect(),
            Expr::RRule(r) => r.starts_on(date, tz, limit),
        };
        for dt in starts {
            if let Ok(z) = dt.to_zoned(tz.clone())
                && z.timestamp() <= now
            {
                return Some(z);
            }
        }
        date = date.yesterday().ok()?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_plugin_sdk::json;

    fn window(v: Json) -> Window {
        Window::new(v.as_object().unwrap())
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn one_off_bounds_are_half_open() {
        let w = window(json!({"start": "2026-11-24T08:00:00Z", "end": "2026-11-24T12:00:00Z"}));
        assert!(w.problems.is_empty());
        assert!(w.active(at("2026-11-24T07:59:59Z")).is_none());
        assert_eq!(
            w.active(at("2026-11-24T08:00:00Z")).unwrap().text,
            "2026-11-24T12:00:00Z"
        );
        assert!(w.active(at("2026-11-24T12:00:00Z")).is_none());
        assert_eq!(
            window(json!({"start": "2026-11-24T08:00:00Z"}))
                .active(at("2030-01-01T00:00:00Z"))
                .unwrap()
                .text,
            "it is lifted"
        );
    }

    #[test]
    fn weekly_windows_follow_the_time_zone() {
        let w = window(
            json!({"recurring": {"days": ["sat", "sun"], "start": "00:00", "end": "24:00", "timezone": "Europe/Berlin"}}),
        );
        // Friday 23:30 UTC is Saturday 00:30 in Berlin.
        assert_eq!(
            w.active(at("2026-11-27T23:30:00Z")).unwrap().text,
            "Monday 00:00 Europe/Berlin"
        );
        assert!(w.active(at("2026-11-27T22:30:00Z")).is_none());
        assert!(w.active(at("2026-11-29T23:30:00Z")).is_none());
    }

    #[test]
    fn overnight_windows_belong_to_their_start_day() {
        let w = window(json!({"recurring": {"days": ["fri"], "start": "22:00", "end": "06:00"}}));
        assert_eq!(
            w.active(at("2026-11-28T05:00:00Z")).unwrap().text,
            "Saturday 06:00 UTC"
        );
        assert_eq!(
            w.active(at("2026-11-27T23:00:00Z")).unwrap().text,
            "Saturday 06:00 UTC"
        );
        assert!(w.active(at("2026-11-29T05:00:00Z")).is_none());
    }

    #[test]
    fn cron_schedule_in_a_time_zone_across_dst() {
        // Fridays 18:00 Berlin for 62 hours: until Monday 08:00.
        let w = window(
            json!({"schedule": {"cron": "0 18 * * FRI", "duration": "62h", "timezone": "Europe/Berlin"}}),
        );
        assert!(w.problems.is_empty(), "{:?}", w.problems);
        let end = w.active(at("2026-11-28T12:00:00Z")).unwrap();
        assert_eq!(end.text, "Monday 2026-11-30 08:00 Europe/Berlin");
        assert_eq!(end.at, Some(at("2026-11-30T07:00:00Z")));
        assert!(w.active(at("2026-11-27T16:59:00Z")).is_none());
        assert!(w.active(at("2026-11-27T17:00:00Z")).is_some());
        assert!(w.active(at("2026-11-30T07:00:00Z")).is_none());
        // Over the switch to summer time (2026-03-29), 62 hours of elapsed time end at 09:00.
        let end = w.active(at("2026-03-29T12:00:00Z")).unwrap();
        assert_eq!(end.text, "Monday 2026-03-30 09:00 Europe/Berlin");
    }

    #[test]
    fn rrule_schedule() {
        let w = window(
            json!({"schedule": {"rrule": "FREQ=MONTHLY;BYDAY=-1FR", "dtstart": "2026-01-01T17:00",
                                           "duration": "P2DT15H", "timezone": "America/New_York"}}),
        );
        assert!(w.problems.is_empty(), "{:?}", w.problems);
        // Last Friday of November 2026 is the 27th; 17:00 New York is 22:00 UTC.
        assert!(w.active(at("2026-11-27T21:59:00Z")).is_none());
        let end = w.active(at("2026-11-29T12:00:00Z")).unwrap();
        assert_eq!(end.text, "Monday 2026-11-30 08:00 America/New_York");
        assert!(w.active(at("2026-11-20T23:00:00Z")).is_none());
    }

    #[test]
    fn problems_are_reported_not_guessed() {
        let w = window(
            json!({"recurring": {"days": ["sat", "someday"], "start": "25:00", "timezone": "Mars/Olympus"}}),
        );
        assert_eq!(
            w.problems,
            [
                "recurring.days has 'someday', which is not a day of the week",
                "recurring.start '25:00' is not a clock time HH:MM",
                "recurring.timezone 'Mars/Olympus' is not a timezone name"
            ]
        );
        assert!(w.active(at("2026-11-28T05:00:00Z")).is_none());
        let s =
            window(json!({"schedule": {"cron": "0 18 * * FRI"}, "start": "2026-01-01T00:00:00Z"}));
        assert_eq!(
            s.problems,
            [
                "schedule cannot be combined with start; use one form per freeze",
                "schedule.duration is missing (e.g. PT2H, 90m, 2d 12h)"
            ]
        );
        let r = window(json!({"schedule": {"rrule": "FREQ=WEEKLY", "duration": "1h"}}));
        assert!(r.problems[0].starts_with("schedule.dtstart is missing"));
        let long = window(json!({"schedule": {"cron": "@daily", "duration": "400d"}}));
        assert!(long.problems[0].contains("longer than 366 days"));
        let both = window(
            json!({"schedule": {"cron": "@daily", "rrule": "FREQ=DAILY", "duration": "1h"}}),
        );
        assert_eq!(
            both.problems,
            ["schedule needs exactly one of cron and rrule"]
        );
    }
}
