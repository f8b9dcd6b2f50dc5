//! RFC 5545 recurrence rules (`RRULE`) for the start times of recurring windows.
//!
//! Supported: `FREQ` (`DAILY`, `WEEKLY`, `MONTHLY`, `YEARLY`), `INTERVAL`, `COUNT`, `UNTIL`,
//! `BYMONTH`, `BYMONTHDAY` (negative counts from the month's end), `BYDAY` (with ordinals such
//! as `1MO` or `-1FR` for monthly and yearly rules), `BYHOUR`, `BYMINUTE` and `WKST`. The rule
//! starts at `dtstart`, a local date-time in the window's time zone, which also supplies the
//! defaults RFC 5545 takes from `DTSTART` (the weekday of a weekly rule, the day of a monthly
//! one, the time of day). Anything else (`BYSETPOS`, `HOURLY`, ...) is refused by name rather
//! than ignored.

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Until {
    Utc(Timestamp),
    Local(DateTime),
}

/// A parsed rule with its start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RRule {
    freq: Freq,
    interval: i64,
    count: Option<u32>,
    until: Option<Until>,
    months: Vec<i8>,
    month_days: Vec<i8>,
    days: Vec<(Option<i8>, Weekday)>,
    hours: Vec<i8>,
    minutes: Vec<i8>,
    week_start: Weekday,
    start: DateTime,
}

fn weekday(s: &str) -> Option<Weekday> {
    Some(match s {
        "MO" => Weekday::Monday,
        "TU" => Weekday::Tuesday,
        "WE" => Weekday::Wednesday,
        "TH" => Weekday::Thursday,
        "FR" => Weekday::Friday,
        "SA" => Weekday::Saturday,
        "SU" => Weekday::Sunday,
        _ => return None,
    })
}

fn numbers(key: &str, value: &str, lo: i8, hi: i8, signed: bool) -> Result<Vec<i8>, String> {
    value
        .split(',')
        .map(|n| {
            let v: i8 = n
                .parse()
                .map_err(|_| format!("{key} has '{n}', which is not a number"))?;
            let ok = (lo..=hi).contains(&v) || (signed && (-hi..=-lo).contains(&v));
            if ok {
                Ok(v)
            } else {
                Err(format!("{key} has {v}, outside {lo}-{hi}"))
            }
        })
        .collect()
}

/// Parses a local date-time (`2026-01-02T18:00`, `2026-01-02T18:00:00`, `20260102T180000`)
/// or a date (`2026-01-02`, midnight).
pub(crate) fn local_datetime(s: &str) -> Option<DateTime> {
    if s.ends_with(['Z', 'z']) || s.get(10..).is_some_and(|t| t.contains(['+', '-'])) {
        return None;
    }
    s.parse::<DateTime>().ok().or_else(|| {
        s.parse::<Date>()
            .ok()
            .map(|d| d.to_datetime(Time::midnight()))
    })
}

impl RRule {
    /// Parses `FREQ=...;...` (an `RRULE:` prefix is accepted) starting at `start`.
    pub(crate) fn parse(text: &str, start: DateTime) -> Result<RRule, String> {
        let body = text.trim();
        let body = body.strip_prefix("RRULE:").unwrap_or(body);
        let mut rule = RRule {
            freq: Freq::Daily,
            interval: 1,
            count: None,
            until: None,
            months: Vec::new(),
            month_days: Vec::new(),
            days: Vec::new(),
            hours: vec![start.hour()],
            minutes: vec![start.minute()],
            week_start: Weekday::Monday,
            start,
        };
        let mut freq = None;
        for part in body.split(';').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not KEY=VALUE"))?;
            let key = key.to_ascii_uppercase();
            let value = value.to_ascii_uppercase();
            match key.as_str() {
                "FREQ" => {
                    freq = Some(match value.as_str() {
                        "DAILY" => Freq::Daily,
                        "WEEKLY" => Freq::Weekly,
                        "MONTHLY" => Freq::Monthly,
                        "YEARLY" => Freq::Yearly,
                        other => {
                            return Err(format!(
                                "FREQ={other} is not supported; use DAILY, WEEKLY, MONTHLY or YEARLY"
                            ));
                        }
                    })
                }
                "INTERVAL" => {
                    rule.interval = value
                        .parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| format!("INTERVAL={value} is not a positive number"))?
                }
                "COUNT" => {
                    rule.count = Some(
                        value
                            .parse()
                            .ok()
                            .filter(|n| *n > 0)
                            .ok_or_else(|| format!("COUNT={value} is not a positive number"))?,
                    )
                }
                "UNTIL" => {
                    rule.until = Some(if let Some(local) = value.strip_suffix('Z') {
                        let dt = local_datetime(local)
                            .ok_or_else(|| format!("UNTIL={value} is not a date-time"))?;
                        Until::Utc(
                            dt.to_zoned(TimeZone::UTC)
                                .map_err(|e| e.to_string())?
                                .timestamp(),
                        )
                    } else {
                        let dt = local_datetime(&value)
                            .ok_or_else(|| format!("UNTIL={value} is not a date-time"))?;
                        // A date alone includes the whole day.
                        if value.len() == 8 || value.len() == 10 {
                            Until::Local(dt.date().to_datetime(Time::MAX))
                        } else {
                            Until::Local(dt)
                        }
                    })
                }
                "BYMONTH" => rule.months = numbers("BYMONTH", &value, 1, 12, false)?,
                "BYMONTHDAY" => rule.month_days = numbers("BYMONTHDAY", &value, 1, 31, true)?,
                "BYHOUR" => rule.hours = numbers("BYHOUR", &value, 0, 23, false)?,
                "BYMINUTE" => rule.minutes = numbers("BYMINUTE", &value, 0, 59, false)?,
                "BYDAY" => {
                    rule.days = value
                        .split(',')
                        .map(|d| {
                            let split = d.len().saturating_sub(2);
                            let (ord, day) = (d.get(..split).unwrap_or(""), d.get(split..).unwrap_or(""));
                            let wd = weekday(day).ok_or_else(|| {
                                format!("BYDAY has '{d}'; days are MO, TU, WE, TH, FR, SA, SU")
                            })?;
                            let ord = if ord.is_empty() {
                                None
                            } else {
                                Some(
                                    ord.trim_start_matches('+')
                                        .parse::<i8>()
                                        .ok()
                                        .filter(|n| *n != 0 && (-53..=53).contains(n))
                                        .ok_or_else(|| format!("BYDAY has '{d}', whose ordinal is not a number between -53 and 53"))?,
                                )
                            };
                            Ok((ord, wd))
                        })
                        .collect::<Result<_, String>>()?
                }
                "WKST" => {
                    rule.week_start = weekday(&value)
                        .ok_or_else(|| format!("WKST={value} is not a day (MO ... SU)"))?
                }
                other => {
                    return Err(format!(
                        "{other} is not supported; use FREQ, INTERVAL, COUNT, UNTIL, BYMONTH, BYMONTHDAY, BYDAY, BYHOUR, BYMINUTE or WKST"
                    ));
                }
            }
        }
        rule.freq = freq.ok_or("FREQ is missing")?;
        if rule.count.is_some() && rule.until.is_some() {
            return Err("COUNT and UNTIL cannot both be set".into());
        }
        let ordinals = rule.days.iter().any(|(o, _)| o.is_some());
        if ordinals && matches!(rule.freq, Freq::Daily | Freq::Weekly) {
            return Err("BYDAY ordinals such as 1MO only work with FREQ=MONTHLY or YEARLY".into());
        }
        if !rule.month_days.is_empty() && rule.freq == Freq::Weekly {
            return Err("BYMONTHDAY does not work with FREQ=WEEKLY".into());
        }
        Ok(rule)
    }

    fn interval_ok(&self, d: Date) -> bool {
        let s = self.start.date();
        let periods = match self.freq {
            Freq::Daily => days_between(s, d),
            Freq::Weekly => days_between(self.week_of(s), self.week_of(d)) / 7,
            Freq::Monthly => i64::from(d.year() - s.year()) * 12 + i64::from(d.month() - s.month()),
            Freq::Yearly => i64::from(d.year() - s.year()),
        };
        periods % self.interval == 0
    }

    fn week_of(&self, d: Date) -> Date {
        let back = (d.weekday().to_monday_zero_offset() - self.week_start.to_monday_zero_offset())
            .rem_euclid(7);
        d.checked_sub(i64::from(back).days()).unwrap_or(d)
    }

    fn month_day_ok(&self, d: Date) -> bool {
        let len = d.days_in_month();
        self.month_days
            .iter()
            .any(|n| *n == d.day() || (*n < 0 && len + 1 + *n == d.day()))
    }

    fn weekday_ok(&self, d: Date, in_month: bool) -> bool {
        let (pos, len) = if in_month {
            (i16::from(d.day()), i16::from(d.days_in_month()))
        } else {
            (d.day_of_year(), d.days_in_year())
        };
        let nth = (pos - 1) / 7 + 1;
        let nth_last = -((len - pos) / 7 + 1);
        self.days.iter().any(|(ord, wd)| {
            *wd == d.weekday()
                && ord.is_none_or(|o| i16::from(o) == nth || i16::from(o) == nth_last)
        })
    }

    /// Whether occurrences start on this date.
    fn on(&self, d: Date) -> bool {
        let s = self.start.date();
        if d < s || !self.interval_ok(d) {
            return false;
        }
        if !self.months.is_empty() && !self.months.contains(&d.month()) {
            return false;
        }
        let has_md = !self.month_days.is_empty();
        let has_wd = !self.days.is_empty();
        match self.freq {
            Freq::Daily => {
                (!has_md || self.month_day_ok(d)) && (!has_wd || self.weekday_ok(d, true))
            }
            Freq::Weekly => {
                if has_wd {
                    self.weekday_ok(d, true)
                } else {
                    d.weekday() == s.weekday()
                }
            }
            Freq::Monthly => {
                if !has_md && !has_wd {
                    d.day() == s.day()
                } else {
                    (!has_md || self.month_day_ok(d)) && (!has_wd || self.weekday_ok(d, true))
                }
            }
            Freq::Yearly => {
                if !has_md && !has_wd {
                    (!self.months.is_empty() || d.month() == s.month()) && d.day() == s.day()
                } else {
                    (!has_md || self.month_day_ok(d))
                        && (!has_wd || self.weekday_ok(d, !self.months.is_empty()))
                }
            }
        }
    }

    /// The start times on `date`, latest first, without COUNT/UNTIL bounds.
    fn times_on(&self, d: Date) -> Vec<DateTime> {
        if !self.on(d) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for h in &self.hours {
            for m in &self.minutes {
                if let Ok(t) = Time::new(*h, *m, self.start.second(), 0) {
                    let dt = d.to_datetime(t);
                    if dt >= self.start {
                        out.push(dt);
                    }
                }
            }
        }
        out.sort_unstable_by(|a, b| b.cmp(a));
        out
    }

    /// The last start COUNT allows, counting from the first occurrence up to `horizon` (None
    /// when the COUNT-th occurrence is after the horizon or there is no COUNT).
    pub(crate) fn count_limit(&self, horizon: Date) -> Option<DateTime> {
        let count = usize::try_from(self.count?).unwrap_or(usize::MAX);
        let mut seen = 0usize;
        let mut d = self.start.date();
        while d <= horizon {
            let mut times = self.times_on(d);
            times.reverse();
            for t in times {
                seen += 1;
                if seen == count {
                    return Some(t);
                }
            }
            d = d.tomorrow().ok()?;
        }
        None
    }

    /// The start times on `date`, latest first, within UNTIL and `limit` (see
    /// [`RRule::count_limit`]).
    pub(crate) fn starts_on(
        &self,
        d: Date,
        tz: &TimeZone,
        limit: Option<DateTime>,
    ) -> Vec<DateTime> {
        self.times_on(d)
            .into_iter()
            .filter(|t| limit.is_none_or(|l| *t <= l))
            .filter(|t| match &self.until {
                None => true,
                Some(Until::Local(u)) => t <= u,
                Some(Until::Utc(u)) => t.to_zoned(tz.clone()).is_ok_and(|z| z.timestamp() <= *u),
            })
            .collect()
    }
}

fn days_between(a: Date, b: Date) -> i64 {
    a.until(b).map(|s| i64::from(s.get_days())).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn rule(text: &str, start: &str) -> RRule {
        RRule::parse(text, local_datetime(start).unwrap()).unwrap()
    }

    fn on(r: &RRule, d: Date) -> Vec<String> {
        r.starts_on(d, &TimeZone::UTC, r.count_limit(d))
            .iter()
            .map(|t| t.strftime("%H:%M").to_string())
            .collect()
    }

    #[test]
    fn weekly_defaults_come_from_dtstart() {
        let r = rule("FREQ=WEEKLY", "2026-01-02T18:00");
        assert_eq!(on(&r, date(2026, 11, 27)), ["18:00"], "a Friday");
        assert!(on(&r, date(2026, 11, 26)).is_empty());
        assert!(on(&r, date(2025, 12, 26)).is_empty(), "before dtstart");
    }

    #[test]
    fn weekly_interval_and_days() {
        let r = rule(
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,TH;BYHOUR=9,21;BYMINUTE=30",
            "2026-01-05T00:00",
        );
        assert_eq!(on(&r, date(2026, 1, 5)), ["21:30", "09:30"]);
        assert_eq!(on(&r, date(2026, 1, 8)).len(), 2);
        assert!(on(&r, date(2026, 1, 12)).is_empty(), "odd week");
        assert_eq!(on(&r, date(2026, 1, 19)).len(), 2);
    }

    #[test]
    fn monthly_ordinals_and_negative_month_days() {
        let last_friday = rule("FREQ=MONTHLY;BYDAY=-1FR", "2026-01-01T17:00");
        assert_eq!(on(&last_friday, date(2026, 11, 27)), ["17:00"]);
        assert!(on(&last_friday, date(2026, 11, 20)).is_empty());
        let first_monday = rule("RRULE:FREQ=MONTHLY;BYDAY=1MO", "2026-01-01T08:00");
        assert_eq!(on(&first_monday, date(2026, 12, 7)), ["08:00"]);
        let last_day = rule("FREQ=MONTHLY;BYMONTHDAY=-1", "2026-01-01T20:00");
        assert_eq!(on(&last_day, date(2026, 2, 28)), ["20:00"]);
        assert!(on(&last_day, date(2026, 3, 30)).is_empty());
        let by_default = rule("FREQ=MONTHLY", "2026-01-15T20:00");
        assert_eq!(on(&by_default, date(2026, 6, 15)), ["20:00"]);
    }

    #[test]
    fn yearly_rules() {
        let christmas = rule(
            "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24,25,26",
            "2020-01-01T00:00",
        );
        assert_eq!(on(&christmas, date(2026, 12, 25)), ["00:00"]);
        let anniversary = rule("FREQ=YEARLY", "2020-03-10T12:00");
        assert_eq!(on(&anniversary, date(2031, 3, 10)), ["12:00"]);
        assert!(on(&anniversary, date(2031, 3, 11)).is_empty());
        let thanksgiving = rule("FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", "2020-01-01T00:00");
        assert_eq!(on(&thanksgiving, date(2026, 11, 26)), ["00:00"]);
        assert!(on(&thanksgiving, date(2026, 11, 19)).is_empty());
    }

    #[test]
    fn count_and_until_end_the_rule() {
        let r = rule("FREQ=DAILY;COUNT=3", "2026-01-01T10:00");
        assert_eq!(on(&r, date(2026, 1, 3)), ["10:00"]);
        assert!(on(&r, date(2026, 1, 4)).is_empty());
        let u = rule("FREQ=DAILY;UNTIL=20260103T095959Z", "2026-01-01T10:00");
        assert_eq!(on(&u, date(2026, 1, 2)), ["10:00"]);
        assert!(on(&u, date(2026, 1, 3)).is_empty());
        let d = rule("FREQ=DAILY;UNTIL=20260103", "2026-01-01T10:00");
        assert_eq!(on(&d, date(2026, 1, 3)), ["10:00"]);
    }

    #[test]
    fn unsupported_parts_are_refused_by_name() {
        let start = local_datetime("2026-01-01T00:00").unwrap();
        assert!(
            RRule::parse("FREQ=HOURLY", start)
                .unwrap_err()
                .contains("FREQ=HOURLY")
        );
        assert!(
            RRule::parse("FREQ=MONTHLY;BYSETPOS=1", start)
                .unwrap_err()
                .contains("BYSETPOS")
        );
        assert_eq!(
            RRule::parse("BYDAY=MO", start).unwrap_err(),
            "FREQ is missing"
        );
        assert!(
            RRule::parse("FREQ=WEEKLY;BYDAY=1MO", start)
                .unwrap_err()
                .contains("ordinals")
        );
        assert!(
            RRule::parse("FREQ=DAILY;BYHOUR=24", start)
                .unwrap_err()
                .contains("outside")
        );
        assert!(local_datetime("2026-01-01T00:00Z").is_none());
        assert!(local_datetime("2026-01-01T00:00+01:00").is_none());
        assert!(local_datetime("20260101T000000").is_some());
    }
}
