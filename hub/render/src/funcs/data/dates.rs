//! Dates and durations as Sprig computes them, with the render's clock (`Ctx.now`) standing in
//! for the wall clock and UTC for the local zone: `now`, `date`, `dateInZone`, `htmlDate`,
//! `htmlDateInZone`, `toDate`, `mustToDate`, `unixEpoch`, `ago`, `duration`, `durationRound`,
//! `dateModify` and `mustDateModify`. Layouts are Go's reference-time layouts
//! (`2006-01-02T15:04:05Z07:00`), formatted and parsed as Go's `time` package does.

use std::rc::Rc;

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike};
use chrono_tz::OffsetName;

use super::super::Ctx;
use crate::value::{Object, Value};

/// A Go `time.Time`: an instant, and the zone it is shown in.
#[derive(Debug, Clone)]
pub(crate) struct GoTime {
    secs: i64,
    nanos: u32,
    offset: i32,
    zone: String,
}

/// The field through which functions read a time value back from its object form.
const INNER: &str = "__time";

impl GoTime {
    fn utc(secs: i64, nanos: u32) -> GoTime {
        GoTime {
            secs,
            nanos,
            offset: 0,
            zone: "UTC".to_owned(),
        }
    }

    /// The instant shown in zone `name` (an IANA name, `UTC` or `Local`); unknown zones are UTC.
    fn in_zone(&self, name: &str) -> GoTime {
        let tz: Option<chrono_tz::Tz> = match name {
            "" | "UTC" | "Local" => None,
            other => other.parse().ok(),
        };
        let Some(tz) = tz else {
            return GoTime::utc(self.secs, self.nanos);
        };
        let Some(utc) = DateTime::from_timestamp(self.secs, self.nanos) else {
            return GoTime::utc(self.secs, self.nanos);
        };
        let offset = tz.offset_from_utc_datetime(&utc.naive_utc());
        GoTime {
            secs: self.secs,
            nanos: self.nanos,
            offset: offset.fix().local_minus_utc(),
            zone: offset.abbreviation().unwrap_or("").to_owned(),
        }
    }

    fn local(&self) -> NaiveDateTime {
        DateTime::from_timestamp(self.secs + i64::from(self.offset), self.nanos)
            .map(|d| d.naive_utc())
            .unwrap_or_default()
    }

    fn add_nanos(&self, d: i128) -> GoTime {
        let total = i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos) + d;
        GoTime {
            secs: i64::try_from(total.div_euclid(1_000_000_000)).unwrap_or(0),
            nanos: u32::try_from(total.rem_euclid(1_000_000_000)).unwrap_or(0),
            offset: self.offset,
            zone: self.zone.clone(),
        }
    }

    /// Go's `Time.String()`.
    fn go_string(&self) -> String {
        format(self, "2006-01-02 15:04:05.999999999 -0700 MST")
    }

    fn value(self) -> Value {
        Value::Object(Rc::new(self))
    }

    fn from_value(v: &Value) -> Option<GoTime> {
        let Value::Object(o) = v else { return None };
        if o.type_name() != "time.Time" {
            return None;
        }
        let parts = o.field(INNER)?;
        let parts = parts.as_list()?;
        let int = |i: usize| match parts.get(i) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        };
        Some(GoTime {
            secs: int(0)?,
            nanos: u32::try_from(int(1)?).ok()?,
            offset: i32::try_from(int(2)?).ok()?,
            zone: parts.get(3)?.as_str()?.to_owned(),
        })
    }
}

/// A `time.Time` value: `secs` and `nanos` since the Unix epoch, shown `offset` seconds east of
/// UTC in the zone named `zone` (an empty name prints as the offset, as Go's fixed zones do).
pub(super) fn time_value(secs: i64, nanos: u32, offset: i32, zone: &str) -> Value {
    GoTime {
        secs,
        nanos,
        offset,
        zone: zone.to_owned(),
    }
    .value()
}

/// If `v` is a `time.Time`: its zone's name and `v` formatted with the Go layout `layout`.
pub(super) fn format_time(v: &Value, layout: &str) -> Option<(String, String)> {
    let t = GoTime::from_value(v)?;
    Some((t.zone.clone(), format(&t, layout)))
}

impl Object for GoTime {
    fn type_name(&self) -> &str {
        "time.Time"
    }

    fn field(&self, name: &str) -> Option<Value> {
        let l = self.local();
        let int = |n: u32| Value::Int(i64::from(n));
        Some(match name {
            INNER => Value::from(vec![
                Value::Int(self.secs),
                Value::Int(i64::from(self.nanos)),
                Value::Int(i64::from(self.offset)),
                Value::str(&self.zone),
            ]),
            "Unix" => Value::Int64(self.secs),
            "UnixNano" => Value::Int64(
                self.secs
                    .saturating_mul(1_000_000_000)
                    .saturating_add(i64::from(self.nanos)),
            ),
            "Year" => Value::Int(i64::from(l.year())),
            "Month" => Value::str(MONTHS.get(l.month0() as usize).copied().unwrap_or("")),
            "Day" => int(l.day()),
            "Hour" => int(l.hour()),
            "Minute" => int(l.minute()),
            "Second" => int(l.second()),
            "Nanosecond" => int(self.nanos),
            "YearDay" => int(l.ordinal()),
            "Weekday" => Value::str(
                DAYS.get(l.weekday().num_days_from_sunday() as usize)
                    .copied()
                    .unwrap_or(""),
            ),
            "UTC" | "Local" => GoTime::utc(self.secs, self.nanos).value(),
            "String" => Value::from(self.go_string()),
            _ => return None,
        })
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        match name {
            "Format" => Some(Ok(Value::from(format(
                self,
                &args.first().map(Value::go_string).unwrap_or_default(),
            )))),
            "In" => Some(Ok(self
                .in_zone(&args.first().map(Value::go_string).unwrap_or_default())
                .value())),
            "Add" => Some(Ok(self
                .add_nanos(i128::from(int_of(args.first()).unwrap_or(0)))
                .value())),
            _ => None,
        }
    }

    fn plain(&self) -> Value {
        Value::from(self.go_string())
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A piece of a Go layout.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Chunk {
    Lit(String),
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    TZ,
    /// Numeric zone: (`Z` for UTC?, with colons?, hours only?, with seconds?).
    Zone(bool, bool, bool, bool),
    /// Fractional seconds: digits, trailing zeros trimmed?
    Frac(usize, bool),
}

fn chunks(layout: &str) -> Vec<Chunk> {
    const TABLE: &[(&str, Chunk)] = &[
        ("January", Chunk::LongMonth),
        ("Jan", Chunk::Month),
        ("Monday", Chunk::LongWeekDay),
        ("Mon", Chunk::WeekDay),
        ("MST", Chunk::TZ),
        ("002", Chunk::ZeroYearDay),
        ("01", Chunk::ZeroMonth),
        ("02", Chunk::ZeroDay),
        ("03", Chunk::ZeroHour12),
        ("04", Chunk::ZeroMinute),
        ("05", Chunk::ZeroSecond),
        ("06", Chunk::Year),
        ("15", Chunk::Hour),
        ("1", Chunk::NumMonth),
        ("2006", Chunk::LongYear),
        ("2", Chunk::Day),
        ("__2", Chunk::UnderYearDay),
        ("_2", Chunk::UnderDay),
        ("3", Chunk::Hour12),
        ("4", Chunk::Minute),
        ("5", Chunk::Second),
        ("PM", Chunk::PM),
        ("pm", Chunk::Pm),
        ("-07:00:00", Chunk::Zone(false, true, false, true)),
        ("-070000", Chunk::Zone(false, false, false, true)),
        ("-07:00", Chunk::Zone(false, true, false, false)),
        ("-0700", Chunk::Zone(false, false, false, false)),
        ("-07", Chunk::Zone(false, false, true, false)),
        ("Z07:00:00", Chunk::Zone(true, true, false, true)),
        ("Z070000", Chunk::Zone(true, false, false, true)),
        ("Z07:00", Chunk::Zone(true, true, false, false)),
        ("Z0700", Chunk::Zone(true, false, false, false)),
        ("Z07", Chunk::Zone(true, false, true, false)),
    ];
    let mut out: Vec<Chunk> = Vec::new();
    let mut lit = String::new();
    let mut rest = layout;
    'outer: while let Some(c) = rest.chars().next() {
        if c == '.' || c == ',' {
            let tail = rest.get(1..).unwrap_or("");
            if let Some(d @ ('0' | '9')) = tail.chars().next() {
                let n = tail.chars().take_while(|&x| x == d).count();
                if !tail
                    .get(n..)
                    .unwrap_or("")
                    .starts_with(|x: char| x.is_ascii_digit())
                {
                    if !lit.is_empty() {
                        out.push(Chunk::Lit(std::mem::take(&mut lit)));
                    }
                    out.push(Chunk::Frac(n, d == '9'));
                    rest = tail.get(n..).unwrap_or("");
                    continue;
                }
            }
        }
        for (pat, chunk) in TABLE {
            if let Some(r) = rest.strip_prefix(pat) {
                if !lit.is_empty() {
                    out.push(Chunk::Lit(std::mem::take(&mut lit)));
                }
                out.push(chunk.clone());
                rest = r;
                continue 'outer;
            }
        }
        lit.push(c);
        rest = rest.get(c.len_utf8()..).unwrap_or("");
    }
    if !lit.is_empty() {
        out.push(Chunk::Lit(lit));
    }
    out
}

/// Go's `Time.Format(layout)`.
pub(crate) fn format(t: &GoTime, layout: &str) -> String {
    let l = t.local();
    let mut out = String::new();
    let hour12 = match l.hour() % 12 {
        0 => 12,
        h => h,
    };
    for chunk in chunks(layout) {
        match chunk {
            Chunk::Lit(s) => out.push_str(&s),
            Chunk::LongMonth => {
                out.push_str(MONTHS.get(l.month0() as usize).copied().unwrap_or(""))
            }
            Chunk::Month => out.push_str(
                MONTHS
                    .get(l.month0() as usize)
                    .and_then(|m| m.get(..3))
                    .unwrap_or(""),
            ),
            Chunk::NumMonth => out.push_str(&l.month().to_string()),
            Chunk::ZeroMonth => out.push_str(&format!("{:02}", l.month())),
            Chunk::LongWeekDay | Chunk::WeekDay => {
                let d = DAYS
                    .get(l.weekday().num_days_from_sunday() as usize)
                    .copied()
                    .unwrap_or("");
                out.push_str(if chunk == Chunk::WeekDay {
                    d.get(..3).unwrap_or(d)
                } else {
                    d
                });
            }
            Chunk::Day => out.push_str(&l.day().to_string()),
            Chunk::UnderDay => out.push_str(&format!("{:>2}", l.day())),
            Chunk::ZeroDay => out.push_str(&format!("{:02}", l.day())),
            Chunk::UnderYearDay => out.push_str(&format!("{:>3}", l.ordinal())),
            Chunk::ZeroYearDay => out.push_str(&format!("{:03}", l.ordinal())),
            Chunk::Hour => out.push_str(&format!("{:02}", l.hour())),
            Chunk::Hour12 => out.push_str(&hour12.to_string()),
            Chunk::ZeroHour12 => out.push_str(&format!("{hour12:02}")),
            Chunk::Minute => out.push_str(&l.minute().to_string()),
            Chunk::ZeroMinute => out.push_str(&format!("{:02}", l.minute())),
            Chunk::Second => out.push_str(&l.second().to_string()),
            Chunk::ZeroSecond => out.push_str(&format!("{:02}", l.second())),
            Chunk::LongYear => out.push_str(&format!("{:04}", l.year())),
            Chunk::Year => out.push_str(&format!("{:02}", l.year().rem_euclid(100))),
            Chunk::PM => out.push_str(if l.hour() >= 12 { "PM" } else { "AM" }),
            Chunk::Pm => out.push_str(if l.hour() >= 12 { "pm" } else { "am" }),
            Chunk::TZ => {
                if t.zone.is_empty() {
                    out.push_str(&zone_text(t.offset, false, false, false));
                } else {
                    out.push_str(&t.zone);
                }
            }
            Chunk::Zone(z, colons, hours_only, seconds) => {
                if z && t.offset == 0 {
                    out.push('Z');
                } else {
                    out.push_str(&zone_text(t.offset, colons, hours_only, seconds));
                }
            }
            Chunk::Frac(n, trim) => {
                let digits = format!("{:09}", t.nanos);
                let mut d = digits.get(..n.min(9)).unwrap_or("").to_owned();
                if trim {
                    d = d.trim_end_matches('0').to_owned();
                    if d.is_empty() {
                        continue;
                    }
                }
                out.push('.');
                out.push_str(&d);
            }
        }
    }
    out
}

fn zone_text(offset: i32, colons: bool, hours_only: bool, seconds: bool) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let abs = offset.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    let sep = if colons { ":" } else { "" };
    let mut out = format!("{sign}{h:02}");
    if !hours_only {
        out.push_str(&format!("{sep}{m:02}"));
    }
    if seconds {
        out.push_str(&format!("{sep}{s:02}"));
    }
    out
}

/// Go's `time.ParseInLocation(layout, value, UTC)`.
pub(crate) fn parse(layout: &str, value: &str) -> Result<GoTime, String> {
    let fail = |rest: &str, what: &str| {
        format!("parsing time {value:?} as {layout:?}: cannot parse {rest:?} as {what:?}")
    };
    let (mut year, mut month, mut day, mut hour, mut min, mut sec, mut nanos) =
        (1i32, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32);
    let mut pm: Option<bool> = None;
    let mut offset: Option<i32> = None;
    let mut yday: Option<u32> = None;
    let mut rest = value;
    let layout_chunks = chunks(layout);
    for (i, chunk) in layout_chunks.iter().enumerate() {
        let before = rest;
        let num = |rest: &mut &str, min_len: usize, max_len: usize| -> Option<u32> {
            let n = rest
                .bytes()
                .take(max_len)
                .take_while(u8::is_ascii_digit)
                .count();
            if n < min_len {
                return None;
            }
            let v = rest.get(..n)?.parse().ok()?;
            *rest = rest.get(n..)?;
            Some(v)
        };
        let name = chunk_name(chunk);
        let ok = match chunk {
            Chunk::Lit(s) => match rest.strip_prefix(s.as_str()) {
                Some(r) => {
                    rest = r;
                    true
                }
                None => return Err(fail(rest, s)),
            },
            Chunk::LongYear => num(&mut rest, 4, 4)
                .map(|v| year = i32::try_from(v).unwrap_or(1))
                .is_some(),
            Chunk::Year => num(&mut rest, 2, 2)
                .map(|v| {
                    year = i32::try_from(if v >= 69 { 1900 + v } else { 2000 + v }).unwrap_or(1)
                })
                .is_some(),
            Chunk::ZeroMonth => num(&mut rest, 2, 2).map(|v| month = v).is_some(),
            Chunk::NumMonth => num(&mut rest, 1, 2).map(|v| month = v).is_some(),
            Chunk::LongMonth | Chunk::Month => {
                let found = MONTHS.iter().enumerate().find_map(|(k, m)| {
                    let m = if *chunk == Chunk::Month {
                        m.get(..3).unwrap_or(m)
                    } else {
                        m
                    };
                    let head = rest.get(..m.len())?;
                    head.eq_ignore_ascii_case(m).then_some((k, m.len()))
                });
                found
                    .map(|(k, len)| {
                        month = u32::try_from(k + 1).unwrap_or(1);
                        rest = rest.get(len..).unwrap_or("");
                    })
                    .is_some()
            }
            Chunk::LongWeekDay | Chunk::WeekDay => {
                let found = DAYS.iter().find_map(|d| {
                    let d = if *chunk == Chunk::WeekDay {
                        d.get(..3).unwrap_or(d)
                    } else {
                        d
                    };
                    let head = rest.get(..d.len())?;
                    head.eq_ignore_ascii_case(d).then_some(d.len())
                });
                found
                    .map(|len| rest = rest.get(len..).unwrap_or(""))
                    .is_some()
            }
            Chunk::ZeroDay => num(&mut rest, 2, 2).map(|v| day = v).is_some(),
            Chunk::Day => num(&mut rest, 1, 2).map(|v| day = v).is_some(),
            Chunk::UnderDay => {
                if rest.starts_with(' ') {
                    rest = rest.get(1..).unwrap_or("");
                }
                num(&mut rest, 1, 2).map(|v| day = v).is_some()
            }
            Chunk::ZeroYearDay | Chunk::UnderYearDay => {
                rest = rest.trim_start_matches(' ');
                num(&mut rest, 1, 3).map(|v| yday = Some(v)).is_some()
            }
            Chunk::Hour => num(&mut rest, 1, 2).map(|v| hour = v).is_some(),
            Chunk::Hour12 => num(&mut rest, 1, 2).map(|v| hour = v).is_some(),
            Chunk::ZeroHour12 => num(&mut rest, 2, 2).map(|v| hour = v).is_some(),
            Chunk::Minute => num(&mut rest, 1, 2).map(|v| min = v).is_some(),
            Chunk::ZeroMinute => num(&mut rest, 2, 2).map(|v| min = v).is_some(),
            Chunk::Second | Chunk::ZeroSecond => {
                let min_len = if *chunk == Chunk::Second { 1 } else { 2 };
                let got = num(&mut rest, min_len, 2).map(|v| sec = v).is_some();
                // A fractional second the layout does not mention is accepted after seconds.
                let next_is_frac = matches!(layout_chunks.get(i + 1), Some(Chunk::Frac(..)));
                if got && !next_is_frac && rest.starts_with('.') {
                    let digits = rest
                        .get(1..)
                        .unwrap_or("")
                        .bytes()
                        .take_while(u8::is_ascii_digit)
                        .count();
                    if digits > 0 {
                        nanos = frac_nanos(rest.get(1..=digits).unwrap_or(""));
                        rest = rest.get(1 + digits..).unwrap_or("");
                    }
                }
                got
            }
            Chunk::Frac(n, trim) => {
                if let Some(r) = rest.strip_prefix(['.', ',']) {
                    let digits = r.bytes().take_while(u8::is_ascii_digit).count();
                    if (!trim && digits != *n) || digits == 0 {
                        false
                    } else {
                        nanos = frac_nanos(r.get(..digits).unwrap_or(""));
                        rest = r.get(digits..).unwrap_or("");
                        true
                    }
                } else {
                    *trim
                }
            }
            Chunk::PM | Chunk::Pm => {
                let head = rest.get(..2).unwrap_or("");
                match head.to_ascii_uppercase().as_str() {
                    "AM" => pm = Some(false),
                    "PM" => pm = Some(true),
                    _ => return Err(fail(rest, &name)),
                }
                rest = rest.get(2..).unwrap_or("");
                true
            }
            Chunk::TZ => {
                let n = rest.bytes().take_while(u8::is_ascii_uppercase).count();
                if n < 3 {
                    false
                } else {
                    if rest.get(..n) == Some("UTC") || rest.get(..n) == Some("GMT") {
                        offset = Some(0);
                    }
                    rest = rest.get(n..).unwrap_or("");
                    true
                }
            }
            Chunk::Zone(z, colons, hours_only, seconds) => {
                if *z && rest.starts_with('Z') {
                    rest = rest.get(1..).unwrap_or("");
                    offset = Some(0);
                    true
                } else {
                    parse_zone(&mut rest, *colons, *hours_only, *seconds)
                        .map(|o| offset = Some(o))
                        .is_some()
                }
            }
        };
        if !ok {
            return Err(fail(before, &name));
        }
    }
    if !rest.is_empty() {
        return Err(format!("parsing time {value:?}: extra text: {rest:?}"));
    }
    match pm {
        Some(true) if hour < 12 => hour += 12,
        Some(false) if hour == 12 => hour = 0,
        _ => {}
    }
    let range = |what: &str| format!("parsing time {value:?}: {what} out of range");
    if !(1..=12).contains(&month) {
        return Err(range("month"));
    }
    let date = match yday {
        Some(d) => NaiveDate::from_yo_opt(year, d),
        None => NaiveDate::from_ymd_opt(year, month, day),
    }
    .ok_or_else(|| range("day"))?;
    if hour > 23 {
        return Err(range("hour"));
    }
    if min > 59 {
        return Err(range("minute"));
    }
    if sec > 59 {
        return Err(range("second"));
    }
    let local = date
        .and_hms_nano_opt(hour, min, sec, nanos)
        .ok_or_else(|| range("time"))?;
    let offset = offset.unwrap_or(0);
    let secs = local.and_utc().timestamp() - i64::from(offset);
    Ok(GoTime {
        secs,
        nanos,
        offset,
        zone: if offset == 0 {
            "UTC".to_owned()
        } else {
            String::new()
        },
    })
}

fn chunk_name(chunk: &Chunk) -> String {
    match chunk {
        Chunk::Lit(s) => s.clone(),
        Chunk::LongYear => "2006".into(),
        Chunk::Year => "06".into(),
        Chunk::ZeroMonth => "01".into(),
        Chunk::NumMonth => "1".into(),
        Chunk::LongMonth => "January".into(),
        Chunk::Month => "Jan".into(),
        Chunk::LongWeekDay => "Monday".into(),
        Chunk::WeekDay => "Mon".into(),
        Chunk::ZeroDay => "02".into(),
        Chunk::Day => "2".into(),
        Chunk::UnderDay => "_2".into(),
        Chunk::ZeroYearDay => "002".into(),
        Chunk::UnderYearDay => "__2".into(),
        Chunk::Hour => "15".into(),
        Chunk::Hour12 => "3".into(),
        Chunk::ZeroHour12 => "03".into(),
        Chunk::Minute => "4".into(),
        Chunk::ZeroMinute => "04".into(),
        Chunk::Second => "5".into(),
        Chunk::ZeroSecond => "05".into(),
        Chunk::PM => "PM".into(),
        Chunk::Pm => "pm".into(),
        Chunk::TZ => "MST".into(),
        Chunk::Zone(z, colons, hours_only, seconds) => {
            let mut s = String::from(if *z { "Z07" } else { "-07" });
            if !hours_only {
                s.push_str(if *colons { ":00" } else { "00" });
            }
            if *seconds {
                s.push_str(if *colons { ":00" } else { "00" });
            }
            s
        }
        Chunk::Frac(n, trim) => format!(".{}", if *trim { "9" } else { "0" }.repeat(*n)),
    }
}

fn frac_nanos(digits: &str) -> u32 {
    let mut d: String = digits.chars().take(9).collect();
    while d.len() < 9 {
        d.push('0');
    }
    d.parse().unwrap_or(0)
}

fn parse_zone(rest: &mut &str, colons: bool, hours_only: bool, seconds: bool) -> Option<i32> {
    let sign = match rest.chars().next()? {
        '+' => 1,
        '-' => -1,
        _ => return None,
    };
    let mut r = rest.get(1..)?;
    let two = |r: &mut &str, sep: bool| -> Option<i32> {
        if sep {
            *r = r.strip_prefix(':')?;
        }
        let v = r.get(..2)?;
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *r = r.get(2..)?;
        v.parse().ok()
    };
    let h = two(&mut r, false)?;
    let m = if hours_only { 0 } else { two(&mut r, colons)? };
    let s = if seconds { two(&mut r, colons)? } else { 0 };
    *rest = r;
    Some(sign * (h * 3600 + m * 60 + s))
}

/// Go's `time.ParseDuration`, in nanoseconds.
pub(crate) fn parse_duration(text: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {text:?}");
    let (neg, mut s) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: f64 = 0.0;
    while !s.is_empty() {
        let n = s
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let number = s.get(..n).unwrap_or("");
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let x: f64 = number.parse().map_err(|_| invalid())?;
        s = s.get(n..).unwrap_or("");
        let u = s
            .chars()
            .take_while(|c| !c.is_ascii_digit() && *c != '.')
            .collect::<String>();
        let unit: f64 = match u.as_str() {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "" => return Err(format!("time: missing unit in duration {text:?}")),
            other => return Err(format!("time: unknown unit {other:?} in duration {text:?}")),
        };
        s = s.get(u.len()..).unwrap_or("");
        total += x * unit;
    }
    #[allow(clippy::cast_possible_truncation)]
    let total = total.round() as i128;
    Ok(if neg { -total } else { total })
}

/// Go's `Duration.String()`.
pub(crate) fn duration_string(d: i128) -> String {
    if d == 0 {
        return "0s".to_owned();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        let (div, unit) = if u < 1_000 {
            (1, "ns")
        } else if u < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        out.push_str(&frac(u, div));
        out.push_str(unit);
    } else {
        let secs = u / 1_000_000_000;
        let (h, m) = (secs / 3600, secs / 60 % 60);
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&frac(u % 60_000_000_000, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

fn frac(v: u128, div: u128) -> String {
    let whole = v / div;
    let rem = v % div;
    if rem == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn int_of(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Int(i) | Value::Int64(i)) => Some(*i),
        _ => None,
    }
}

fn str_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::Str(s)) => s.to_string(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => other.go_string(),
    }
}

/// Sprig's date argument: a time, or Unix seconds as an integer; anything else is now.
fn date_arg(ctx: &Ctx, v: Option<&Value>) -> GoTime {
    if let Some(t) = v.and_then(GoTime::from_value) {
        return t;
    }
    match int_of(v) {
        Some(secs) => GoTime::utc(secs, 0),
        None => GoTime::utc(ctx.now, 0),
    }
}

fn time_arg(v: Option<&Value>) -> Result<GoTime, String> {
    v.and_then(GoTime::from_value).ok_or_else(|| {
        format!(
            "wrong type for value; expected time.Time; got {}",
            v.map_or("<nil>", Value::type_name)
        )
    })
}

pub(super) fn now(ctx: &mut Ctx, _: &[Value]) -> Result<Value, String> {
    Ok(GoTime::utc(ctx.now, 0).value())
}

pub(super) fn date(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let t = date_arg(ctx, args.get(1));
    Ok(Value::from(format(
        &t.in_zone("Local"),
        &str_of(args.first()),
    )))
}

pub(super) fn date_in_zone(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let t = date_arg(ctx, args.get(1));
    Ok(Value::from(format(
        &t.in_zone(&str_of(args.get(2))),
        &str_of(args.first()),
    )))
}

pub(super) fn html_date(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let t = date_arg(ctx, args.first());
    Ok(Value::from(format(&t.in_zone("Local"), "2006-01-02")))
}

pub(super) fn html_date_in_zone(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let t = date_arg(ctx, args.first());
    Ok(Value::from(format(
        &t.in_zone(&str_of(args.get(1))),
        "2006-01-02",
    )))
}

/// The zero time, which `toDate` returns when it cannot parse.
const ZERO_TIME_SECS: i64 = -62_135_596_800;

pub(super) fn to_date(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(parse(&str_of(args.first()), &str_of(args.get(1)))
        .unwrap_or_else(|_| GoTime::utc(ZERO_TIME_SECS, 0))
        .value())
}

pub(super) fn must_to_date(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    parse(&str_of(args.first()), &str_of(args.get(1))).map(GoTime::value)
}

pub(super) fn unix_epoch(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(time_arg(args.first())?.secs.to_string()))
}

pub(super) fn ago(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let t = date_arg(ctx, args.first());
    let since = (i128::from(ctx.now) * 1_000_000_000)
        - (i128::from(t.secs) * 1_000_000_000 + i128::from(t.nanos));
    // Round to the second, halves away from zero.
    let rounded = (since + since.signum() * 500_000_000) / 1_000_000_000 * 1_000_000_000;
    Ok(Value::from(duration_string(rounded)))
}

/// `duration SECONDS`: Sprig reads a string (`strconv.ParseInt`) or an int64 (Sprig's
/// arithmetic, `int64`); anything else, template integer literals included, is 0 seconds.
pub(super) fn duration(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let secs: i64 = match args.first() {
        Some(Value::Str(s)) => s.parse().unwrap_or(0),
        Some(Value::Int64(i)) => *i,
        _ => 0,
    };
    Ok(Value::from(duration_string(
        i128::from(secs) * 1_000_000_000,
    )))
}

pub(super) fn duration_round(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let d: i128 = match args.first() {
        Some(Value::Str(s)) => parse_duration(s).unwrap_or(0),
        // Nanoseconds, from an int64 only (an int is 0, as in Sprig).
        Some(Value::Int64(i)) => i128::from(*i),
        Some(v @ Value::Object(_)) => match GoTime::from_value(v) {
            Some(t) => i128::from(ctx.now - t.secs) * 1_000_000_000 - i128::from(t.nanos),
            None => 0,
        },
        _ => 0,
    };
    let u = d.unsigned_abs();
    const SECOND: u128 = 1_000_000_000;
    for (unit, suffix) in [
        (SECOND * 3600 * 24 * 365, "y"),
        (SECOND * 3600 * 24 * 30, "mo"),
        (SECOND * 3600 * 24, "d"),
        (SECOND * 3600, "h"),
        (SECOND * 60, "m"),
        (SECOND, "s"),
    ] {
        if u > unit {
            return Ok(Value::from(format!("{}{suffix}", u / unit)));
        }
    }
    Ok(Value::str("0s"))
}

pub(super) fn date_modify(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let t = time_arg(args.get(1))?;
    Ok(match parse_duration(&str_of(args.first())) {
        Ok(d) => t.add_nanos(d).value(),
        Err(_) => t.value(),
    })
}

pub(super) fn must_date_modify(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let t = time_arg(args.get(1))?;
    parse_duration(&str_of(args.first())).map(|d| t.add_nanos(d).value())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx::new([0; 32], 1_700_000_000)
    }

    fn call(f: super::super::super::Func, args: &[Value]) -> String {
        f(&mut ctx(), args).unwrap().go_string()
    }

    /// Expected texts are Helm's output with the same inputs.
    #[test]
    fn formats_like_go() {
        assert_eq!(
            call(
                date,
                &[
                    Value::str("2006-01-02T15:04:05Z07:00 Mon Jan _2 3:4:5 PM .000 MST -0700"),
                    Value::Int(0)
                ]
            ),
            "1970-01-01T00:00:00Z Thu Jan  1 12:0:0 AM .000 UTC +0000"
        );
        assert_eq!(
            call(
                date_in_zone,
                &[
                    Value::str("2006-01-02 15:04 MST"),
                    Value::Int(1_700_000_000),
                    Value::str("America/New_York")
                ]
            ),
            "2023-11-14 17:13 EST"
        );
        assert_eq!(
            call(
                date_in_zone,
                &[
                    Value::str("2006-01-02 15:04 MST"),
                    Value::Int(1_700_000_000),
                    Value::str("Nowhere/X")
                ]
            ),
            "2023-11-14 22:13 UTC"
        );
        assert_eq!(call(html_date, &[Value::Int(0)]), "1970-01-01");
        assert_eq!(
            call(
                html_date_in_zone,
                &[Value::Int(0), Value::str("Asia/Tokyo")]
            ),
            "1970-01-01"
        );
        // Floats (numbers from values) are not dates: Sprig uses the clock.
        assert_eq!(call(html_date, &[Value::Float(0.0)]), "2023-11-14");
        assert_eq!(call(now, &[]), "2023-11-14 22:13:20 +0000 UTC");
    }

    #[test]
    fn parses_like_go() {
        let d = to_date(
            &mut ctx(),
            &[Value::str("2006-01-02"), Value::str("2024-03-05")],
        )
        .unwrap();
        assert_eq!(d.go_string(), "2024-03-05 00:00:00 +0000 UTC");
        assert_eq!(call(unix_epoch, std::slice::from_ref(&d)), "1709596800");
        assert_eq!(
            call(to_date, &[Value::str("2006-01-02"), Value::str("junk")]),
            "0001-01-01 00:00:00 +0000 UTC"
        );
        assert_eq!(
            must_to_date(&mut ctx(), &[Value::str("2006-01-02"), Value::str("junk")]).unwrap_err(),
            r#"parsing time "junk" as "2006-01-02": cannot parse "junk" as "2006""#
        );
        let t = call(
            to_date,
            &[
                Value::str("2006-01-02T15:04:05Z07:00"),
                Value::str("2024-03-05T10:20:30.5+02:00"),
            ],
        );
        assert_eq!(t, "2024-03-05 10:20:30.5 +0200 +0200");
        assert_eq!(
            call(date_modify, &[Value::str("-1.5h"), d.clone()]),
            "2024-03-04 22:30:00 +0000 UTC"
        );
        assert_eq!(
            call(date_modify, &[Value::str("bad"), d.clone()]),
            "2024-03-05 00:00:00 +0000 UTC"
        );
        assert!(must_date_modify(&mut ctx(), &[Value::str("bad"), d]).is_err());
    }

    #[test]
    fn durations_like_sprig() {
        for (f, arg, want) in [
            (
                duration as super::super::super::Func,
                Value::str("3700"),
                "1h1m40s",
            ),
            (duration, Value::Int64(95), "1m35s"),
            // A template literal is an int, which Sprig's duration reads as 0 seconds.
            (duration, Value::Int(95), "0s"),
            (duration, Value::Float(95.0), "0s"),
            (duration_round, Value::Int64(95_000_000_000), "1m"),
            (duration_round, Value::Int(95), "0s"),
            (duration_round, Value::str("2h10m"), "2h"),
            (duration_round, Value::str("400h"), "16d"),
            (duration_round, Value::str("0.5s"), "0s"),
            (duration_round, Value::str("9000h"), "1y"),
            (ago, Value::Int(1_700_000_000 - 3600), "1h0m0s"),
        ] {
            assert_eq!(call(f, &[arg]), want);
        }
        assert_eq!(duration_string(1_500_000), "1.5ms");
        assert_eq!(duration_string(-90_000_000_000), "-1m30s");
        assert_eq!(parse_duration("1h15m30.5s").unwrap(), 4_530_500_000_000);
        assert!(parse_duration("bad").is_err());
    }
}
