//! Five-field cron expressions (`minute hour day-of-month month day-of-week`) for the start
//! times of recurring windows.
//!
//! Fields take `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n` and `a/n`, and comma lists;
//! months and days may be named (`JAN`, `MON`, any case); day 0 and 7 are Sunday. As in Vixie
//! cron, when both day fields are restricted a day matching either one matches. The macros
//! `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly` are
//! accepted.

use jiff::civil::{Date, Time};

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_any: bool,
    weekdays_any: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    /// Parses an expression; the error says which field is wrong and why.
    pub(crate) fn parse(text: &str) -> Result<Cron, String> {
        let expanded = match text.trim().to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *".to_owned(),
            "@monthly" => "0 0 1 * *".to_owned(),
            "@weekly" => "0 0 * * 0".to_owned(),
            "@daily" | "@midnight" => "0 0 * * *".to_owned(),
            "@hourly" => "0 * * * *".to_owned(),
            other => other.to_owned(),
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields.as_slice() else {
            return Err(format!(
                "has {} fields; a cron expression has five: minute hour day-of-month month day-of-week",
                fields.len()
            ));
        };
        let minutes = field(minute, "minute", 0, 59, &[])?;
        let hours = field(hour, "hour", 0, 23, &[])?;
        let days = field(day, "day-of-month", 1, 31, &[])?;
        let months = field(month, "month", 1, 12, &MONTHS)?;
        let mut weekdays = field(weekday, "day-of-week", 0, 7, &WEEKDAYS)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1;
        }
        Ok(Cron {
            minutes,
            hours: u32::try_from(hours).unwrap_or(0),
            days: u32::try_from(days).unwrap_or(0),
            months: u16::try_from(months).unwrap_or(0),
            weekdays: u8::try_from(weekdays & 0x7f).unwrap_or(0),
            days_any: day.starts_with('*'),
            weekdays_any: weekday.starts_with('*'),
        })
    }

    /// Whether occurrences start on this date.
    fn on(&self, date: Date) -> bool {
        let month_ok = self.months & (1 << date.month()) != 0;
        let day_ok = self.days & (1 << date.day()) != 0;
        let weekday_ok = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        month_ok
            && if self.days_any || self.weekdays_any {
                day_ok && weekday_ok
            } else {
                day_ok || weekday_ok
            }
    }

    /// The start times on `date`, latest first.
    pub(crate) fn starts_on(&self, date: Date) -> Vec<Time> {
        if !self.on(date) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for h in (0..24i8).rev().filter(|h| self.hours & (1 << h) != 0) {
            for m in (0..60i8).rev().filter(|m| self.minutes & (1 << m) != 0) {
                if let Ok(t) = Time::new(h, m, 0, 0) {
                    out.push(t);
                }
            }
        }
        out
    }
}

/// A bit set of the values a field allows.
fn field(text: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| *n == s) {
            return Ok(u32::try_from(i).unwrap_or(0) + if min == 1 { 1 } else { 0 });
        }
        let n: u32 = s
            .parse()
            .map_err(|_| format!("{name} field has '{s}', which is not a number"))?;
        if n < min || n > max {
            return Err(format!("{name} field has {n}, outside {min}-{max}"));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 =
                    s.parse().ok().filter(|s| *s > 0).ok_or_else(|| {
                        format!("{name} field has step '{s}'; use a positive number")
                    })?;
                (r, step)
            }
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a)?, value(b)?);
            if a > b {
                return Err(format!(
                    "{name} field has the range {a}-{b}, which runs backwards"
                ));
            }
            (a, b)
        } else {
            let a = value(range)?;
            (a, if item.contains('/') { max } else { a })
        };
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn times(c: &Cron, d: Date) -> Vec<String> {
        c.starts_on(d)
            .iter()
            .map(|t| t.strftime("%H:%M").to_string())
            .collect()
    }

    #[test]
    fn friday_evening() {
        let c = Cron::parse("30 18 * * FRI").unwrap();
        assert_eq!(times(&c, date(2026, 11, 27)), ["18:30"]);
        assert!(times(&c, date(2026, 11, 26)).is_empty());
    }

    #[test]
    fn lists_ranges_steps_and_names() {
        let c = Cron::parse("0,30 9-17/4 * jan-mar mon-fri").unwrap();
        assert_eq!(
            times(&c, date(2026, 1, 5)),
            ["17:30", "17:00", "13:30", "13:00", "09:30", "09:00"]
        );
        assert!(times(&c, date(2026, 4, 6)).is_empty(), "April");
        assert!(times(&c, date(2026, 1, 4)).is_empty(), "Sunday");
        let every = Cron::parse("*/20 0 * * *").unwrap();
        assert_eq!(times(&every, date(2026, 1, 4)), ["00:40", "00:20", "00:00"]);
        assert_eq!(
            times(&Cron::parse("10/25 0 * * *").unwrap(), date(2026, 1, 4)),
            ["00:35", "00:10"]
        );
    }

    #[test]
    fn sunday_is_zero_or_seven_and_day_fields_are_or_ed() {
        let c = Cron::parse("0 0 * * 7").unwrap();
        assert_eq!(times(&c, date(2026, 11, 29)), ["00:00"]);
        // The 1st of the month or any Monday.
        let c = Cron::parse("0 0 1 * mon").unwrap();
        assert_eq!(times(&c, date(2026, 12, 1)).len(), 1, "Tuesday the 1st");
        assert_eq!(times(&c, date(2026, 12, 7)).len(), 1, "Monday the 7th");
        assert!(times(&c, date(2026, 12, 8)).is_empty());
    }

    #[test]
    fn macros() {
        assert_eq!(
            Cron::parse("@daily").unwrap(),
            Cron::parse("0 0 * * *").unwrap()
        );
        assert_eq!(
            times(&Cron::parse("@yearly").unwrap(), date(2027, 1, 1)),
            ["00:00"]
        );
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            Cron::parse("0 25 * * *").unwrap_err(),
            "hour field has 25, outside 0-23"
        );
        assert!(Cron::parse("0 0 * *").unwrap_err().contains("has 4 fields"));
        assert!(
            Cron::parse("0 0 * * funday")
                .unwrap_err()
                .contains("'funday'")
        );
        assert!(Cron::parse("*/0 0 * * *").unwrap_err().contains("step"));
        assert!(
            Cron::parse("0 5-2 * * *")
                .unwrap_err()
                .contains("backwards")
        );
    }
}
