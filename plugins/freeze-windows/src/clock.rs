//! Timestamps, clock times and day names, read as `policies/lib/clock.rego` reads them.

use gatehouse_plugin_sdk::Json;
use jiff::Timestamp;

/// Day names, Monday first.
pub(crate) const DAY_NAMES: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// An RFC 3339 timestamp with a date, a `T`, a time and an offset (`Z` or `+01:00`).
pub(crate) fn timestamp(v: &Json) -> Option<Timestamp> {
    let s = v.as_str()?;
    let b = s.as_bytes();
    let shape = b.len() >= 20
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && b.get(10) == Some(&b'T')
        && b.get(13) == Some(&b':')
        && b.get(16) == Some(&b':');
    if !shape {
        return None;
    }
    s.parse().ok()
}

/// Minutes since midnight of `HH:MM` (`24:00` is 1440).
pub(crate) fn minutes(v: &Json) -> Option<u32> {
    let s = v.as_str()?;
    if s == "24:00" {
        return Some(1440);
    }
    let b = s.as_bytes();
    if b.len() != 5 || b.get(2) != Some(&b':') {
        return None;
    }
    let digit = |i: usize| {
        b.get(i)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u32::from(c - b'0'))
    };
    let (h1, h2, m1, m2) = (digit(0)?, digit(1)?, digit(3)?, digit(4)?);
    let hours = h1 * 10 + h2;
    (hours < 24 && m1 < 6).then_some(hours * 60 + m1 * 10 + m2)
}

/// Day index (Monday = 0) of `mon`, `Mon`, `monday`, `Monday`, ...
pub(crate) fn day_index(v: &Json) -> Option<u8> {
    let d = v.as_str()?.to_ascii_lowercase();
    DAY_NAMES.iter().zip(0u8..).find_map(|(name, i)| {
        let name = name.to_ascii_lowercase();
        (d == name || name.get(..3) == Some(d.as_str())).then_some(i)
    })
}

/// The name of day index `i` (taken modulo 7).
pub(crate) fn day_name(i: u8) -> &'static str {
    DAY_NAMES
        .get(usize::from(i % 7))
        .copied()
        .unwrap_or("Monday")
}

/// `%v` of Rego's `sprintf`: strings as they are, anything else as JSON.
pub(crate) fn text(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_plugin_sdk::json;

    #[test]
    fn timestamps_need_the_rfc3339_shape() {
        assert!(timestamp(&json!("2026-11-24T10:00:00Z")).is_some());
        assert!(timestamp(&json!("2026-11-24T11:59:59.999+01:00")).is_some());
        assert!(timestamp(&json!("2026-11-24 10:00:00Z")).is_none());
        assert!(timestamp(&json!("2026-13-24T10:00:00Z")).is_none());
        assert!(timestamp(&json!("yesterday")).is_none());
        assert!(timestamp(&json!(5)).is_none());
    }

    #[test]
    fn clock_times() {
        assert_eq!(minutes(&json!("00:00")), Some(0));
        assert_eq!(minutes(&json!("17:30")), Some(1050));
        assert_eq!(minutes(&json!("24:00")), Some(1440));
        for bad in ["25:00", "9am", "12:60", "1:30", "24:01"] {
            assert_eq!(minutes(&json!(bad)), None, "{bad}");
        }
    }

    #[test]
    fn day_names_any_case_short_or_long() {
        assert_eq!(day_index(&json!("mon")), Some(0));
        assert_eq!(day_index(&json!("SUNDAY")), Some(6));
        assert_eq!(day_index(&json!("Fri")), Some(4));
        assert_eq!(day_index(&json!("someday")), None);
        assert_eq!(day_index(&json!("mo")), None);
    }
}
