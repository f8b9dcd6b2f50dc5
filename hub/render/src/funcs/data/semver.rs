//! Semantic versions as Masterminds/semver v3 reads them: `semver` (a version object with
//! `Major`, `Minor`, `Patch`, `Prerelease`, `Metadata` and `Original`) and `semverCompare`
//! with its constraint language (`>=1.21-0`, `>= 1.19.0 < 1.25.0`, `^1.2`, `~1.2.3`, `1.2.x`,
//! `*`, `||`, `,`, `!=`, hyphen ranges), including its prerelease rules: a version with a
//! prerelease only satisfies an AND group in which some constraint names a prerelease.

use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::OnceLock;

use regex::Regex;

use super::super::Ctx;
use crate::value::{Object, Value};

/// A parsed version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: String,
    metadata: String,
    original: String,
}

const CV: &str = r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?";
const OPS: &str = r"!=|>=|=>|<=|=<|~>|~|\^|>|<|=|";

fn regex(
    cell: &'static OnceLock<Option<Regex>>,
    pattern: impl FnOnce() -> String,
) -> Option<&'static Regex> {
    cell.get_or_init(|| Regex::new(&pattern()).ok()).as_ref()
}

fn version_re() -> Option<&'static Regex> {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    regex(&R, || {
        r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$".to_owned()
    })
}

impl Version {
    /// Parses a version the lenient way (`v` prefix, missing minor or patch).
    pub(crate) fn parse(text: &str) -> Result<Version, String> {
        let invalid = || "invalid semantic version".to_owned();
        let caps = version_re()
            .and_then(|r| r.captures(text))
            .ok_or_else(invalid)?;
        let num = |i: usize| -> Result<u64, String> {
            match caps.get(i) {
                None => Ok(0),
                Some(m) => m
                    .as_str()
                    .trim_start_matches('.')
                    .parse()
                    .map_err(|_| invalid()),
            }
        };
        let pre = caps.get(5).map_or("", |m| m.as_str()).to_owned();
        for part in pre.split('.').filter(|_| !pre.is_empty()) {
            if part.len() > 1 && part.starts_with('0') && part.bytes().all(|b| b.is_ascii_digit()) {
                return Err("version segment starts with 0".to_owned());
            }
        }
        Ok(Version {
            major: num(1)?,
            minor: num(2)?,
            patch: num(3)?,
            pre,
            metadata: caps.get(8).map_or("", |m| m.as_str()).to_owned(),
            original: text.to_owned(),
        })
    }

    fn compare(&self, other: &Version) -> Ordering {
        self.major
            .cmp(&other.major)
            .then(self.minor.cmp(&other.minor))
            .then(self.patch.cmp(&other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &other.pre),
            })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let ap: Vec<&str> = a.split('.').collect();
    let bp: Vec<&str> = b.split('.').collect();
    for i in 0..ap.len().max(bp.len()) {
        let s = ap.get(i).copied().unwrap_or("");
        let o = bp.get(i).copied().unwrap_or("");
        let d = compare_pre_part(s, o);
        if d != Ordering::Equal {
            return d;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => {
            if s > o {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(a), Ok(b)) => {
            if a > b {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
    }
}

#[derive(Debug)]
struct Constraint {
    op: String,
    con: Version,
    dirty: bool,
    minor_dirty: bool,
    patch_dirty: bool,
}

fn is_x(s: &str) -> bool {
    matches!(s, "x" | "X" | "*")
}

fn parse_constraint(text: &str) -> Result<Constraint, String> {
    static R: OnceLock<Option<Regex>> = OnceLock::new();
    let re = regex(&R, || format!(r"^\s*({OPS})\s*({CV})\s*$"));
    let improper = || format!("improper constraint: {text:?}");
    let caps = re.and_then(|r| r.captures(text)).ok_or_else(improper)?;
    let g = |i: usize| caps.get(i).map_or("", |m| m.as_str());
    let (major, minor, patch, pre) = (g(3), g(4), g(5), g(6));
    let (mut dirty, mut minor_dirty, mut patch_dirty) = (false, false, false);
    let ver = if is_x(major) {
        dirty = true;
        format!("0.0.0{pre}")
    } else if minor.is_empty() || is_x(minor.trim_start_matches('.')) {
        dirty = true;
        minor_dirty = true;
        format!("{major}.0.0{pre}")
    } else if patch.is_empty() || is_x(patch.trim_start_matches('.')) {
        dirty = true;
        patch_dirty = true;
        format!("{major}{minor}.0{pre}")
    } else {
        g(2).to_owned()
    };
    let con = Version::parse(&ver).map_err(|_| "constraint Parser Error".to_owned())?;
    Ok(Constraint {
        op: g(1).to_owned(),
        con,
        dirty,
        minor_dirty,
        patch_dirty,
    })
}

/// A parsed constraint: OR groups of AND-ed comparisons.
#[derive(Debug)]
pub(crate) struct Constraints {
    groups: Vec<(Vec<Constraint>, bool)>,
}

impl Constraints {
    /// Parses Masterminds' constraint syntax.
    pub(crate) fn parse(text: &str) -> Result<Constraints, String> {
        static RANGE: OnceLock<Option<Regex>> = OnceLock::new();
        static VALID: OnceLock<Option<Regex>> = OnceLock::new();
        static FIND: OnceLock<Option<Regex>> = OnceLock::new();
        let range = regex(&RANGE, || format!(r"\s*({CV})\s+-\s+({CV})\s*"));
        let valid = regex(&VALID, || {
            format!(r"^(\s*({OPS})\s*({CV})\s*)((?:\s+|,\s*)({OPS})\s*({CV})\s*)*$")
        });
        let find = regex(&FIND, || format!(r"({OPS})\s*({CV})"));
        let (Some(range), Some(valid), Some(find)) = (range, valid, find) else {
            return Err("constraint Parser Error".to_owned());
        };
        let text = range.replace_all(text, ">= ${1}, <= ${11}");
        let mut groups = Vec::new();
        for part in text.split("||") {
            if !valid.is_match(part) {
                return Err(format!("improper constraint: {part:?}"));
            }
            let mut found: Vec<&str> = find.find_iter(part).map(|m| m.as_str()).collect();
            if found.is_empty() {
                found.push(part);
            }
            let mut group = Vec::new();
            let mut has_pre = false;
            for c in found {
                let c = parse_constraint(c)?;
                has_pre |= !c.con.pre.is_empty();
                group.push(c);
            }
            groups.push((group, has_pre));
        }
        Ok(Constraints { groups })
    }

    /// Whether `v` satisfies the constraints.
    pub(crate) fn check(&self, v: &Version) -> bool {
        self.groups
            .iter()
            .any(|(group, pre)| group.iter().all(|c| c.check(v, *pre)))
    }
}

impl Constraint {
    fn check(&self, v: &Version, include_pre: bool) -> bool {
        let c = &self.con;
        let pre_ok = v.pre.is_empty() || include_pre;
        match self.op.as_str() {
            "" | "=" => {
                if !pre_ok {
                    return false;
                }
                if self.dirty {
                    return self.tilde(v);
                }
                v.compare(c) == Ordering::Equal
            }
            "!=" => {
                if self.dirty {
                    if !pre_ok {
                        return false;
                    }
                    if c.major != v.major {
                        return true;
                    }
                    if c.minor != v.minor && !self.minor_dirty {
                        return true;
                    } else if self.minor_dirty {
                        return false;
                    } else if c.patch != v.patch && !self.patch_dirty {
                        return true;
                    } else if self.patch_dirty {
                        if !v.pre.is_empty() || !c.pre.is_empty() {
                            return compare_prerelease(&v.pre, &c.pre) != Ordering::Equal;
                        }
                        return false;
                    }
                }
                v.compare(c) != Ordering::Equal
            }
            ">" => {
                if !pre_ok {
                    return false;
                }
                if !self.dirty {
                    return v.compare(c) == Ordering::Greater;
                }
                if v.major != c.major {
                    return v.major > c.major;
                }
                if self.minor_dirty {
                    return false;
                }
                if self.patch_dirty {
                    return v.minor > c.minor;
                }
                v.compare(c) == Ordering::Greater
            }
            "<" => pre_ok && v.compare(c) == Ordering::Less,
            ">=" | "=>" => pre_ok && v.compare(c) != Ordering::Less,
            "<=" | "=<" => {
                if !pre_ok {
                    return false;
                }
                if !self.dirty {
                    return v.compare(c) != Ordering::Greater;
                }
                if v.major > c.major {
                    return false;
                }
                !(v.major == c.major && v.minor > c.minor && !self.minor_dirty)
            }
            "~" | "~>" => pre_ok && self.tilde(v),
            "^" => {
                if !pre_ok || v.compare(c) == Ordering::Less {
                    return false;
                }
                if c.major > 0 || self.minor_dirty {
                    return v.major == c.major;
                }
                if v.major > 0 {
                    return false;
                }
                if c.minor > 0 || self.patch_dirty {
                    return v.minor == c.minor;
                }
                if v.minor > 0 {
                    return false;
                }
                c.patch == v.patch
            }
            _ => false,
        }
    }

    fn tilde(&self, v: &Version) -> bool {
        let c = &self.con;
        if v.compare(c) == Ordering::Less {
            return false;
        }
        if c.major == 0 && c.minor == 0 && c.patch == 0 && !self.minor_dirty && !self.patch_dirty {
            return true;
        }
        if v.major != c.major {
            return false;
        }
        v.minor == c.minor || self.minor_dirty
    }
}

/// The object `semver` returns: fields as Masterminds' methods name them.
#[derive(Debug)]
struct VersionObject(Version);

impl Object for VersionObject {
    fn type_name(&self) -> &str {
        "*semver.Version"
    }

    fn field(&self, name: &str) -> Option<Value> {
        let v = &self.0;
        let int = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
        Some(match name {
            "Major" => int(v.major),
            "Minor" => int(v.minor),
            "Patch" => int(v.patch),
            "Prerelease" => Value::str(&v.pre),
            "Metadata" => Value::str(&v.metadata),
            "Original" => Value::str(&v.original),
            "String" => Value::from(v.to_string()),
            _ => return None,
        })
    }

    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let other = || -> Result<Version, String> {
            match args.first() {
                Some(Value::Object(o)) => Version::parse(&o.plain().go_string()),
                Some(v) => Version::parse(&v.go_string()),
                None => Err("wrong number of args: got 0 want 1".to_owned()),
            }
        };
        let cmp = |f: fn(Ordering) -> Value| Some(other().map(|o| f(self.0.compare(&o))));
        match name {
            "Compare" => cmp(|o| Value::Int(o as i64)),
            "LessThan" => cmp(|o| Value::Bool(o == Ordering::Less)),
            "GreaterThan" => cmp(|o| Value::Bool(o == Ordering::Greater)),
            "Equal" => cmp(|o| Value::Bool(o == Ordering::Equal)),
            _ => None,
        }
    }

    fn plain(&self) -> Value {
        Value::from(self.0.to_string())
    }
}

fn str_arg(v: Option<&Value>) -> String {
    match v {
        Some(Value::Str(s)) => s.to_string(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => other.go_string(),
    }
}

pub(super) fn semver(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let v = Version::parse(&str_arg(args.first()))?;
    Ok(Value::Object(Rc::new(VersionObject(v))))
}

pub(super) fn semver_compare(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let c = Constraints::parse(&str_arg(args.first()))?;
    let v = Version::parse(&str_arg(args.get(1)))?;
    Ok(Value::Bool(c.check(&v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_expose_their_parts() {
        let v = semver(&mut Ctx::new([0; 32], 0), &[Value::str("v1.2.3-beta.1+b5")]).unwrap();
        assert_eq!(v.go_string(), "1.2.3-beta.1+b5");
        let Value::Object(o) = &v else { panic!() };
        for (f, want) in [
            ("Major", "1"),
            ("Minor", "2"),
            ("Patch", "3"),
            ("Prerelease", "beta.1"),
            ("Metadata", "b5"),
            ("Original", "v1.2.3-beta.1+b5"),
        ] {
            assert_eq!(o.field(f).unwrap().go_string(), want, "{f}");
        }
        assert_eq!(Version::parse("1.2").unwrap().to_string(), "1.2.0");
        assert!(Version::parse("1.2.3.4").is_err());
        assert!(Version::parse("x").is_err());
    }

    #[test]
    fn constraints_behave_like_masterminds() {
        for (c, v, want) in [
            (">=1.21-0", "v1.36.0", true),
            (">=1.21-0", "v1.21.0-gke.1", true),
            (">=1.21", "v1.21.0-gke.1", false),
            (">= 1.19.0 < 1.25.0", "1.24.9", true),
            (">= 1.19.0, < 1.25.0", "1.25.0", false),
            ("^1.2", "1.9.0", true),
            ("^1.2", "2.0.0", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("~1.2.3", "1.3.0", false),
            ("~1.2.3", "1.2.9", true),
            ("~1", "1.9.0", true),
            ("1.2.x", "1.2.9", true),
            ("1.2.x", "1.3.0", false),
            ("*", "3.0.0", true),
            ("*", "3.0.0-rc.1", false),
            ("<1 || >=2", "1.5.0", false),
            ("<1 || >=2", "2.5.0", true),
            ("!=1.2.3", "1.2.3", false),
            ("!=1.2.3", "1.2.4", true),
            ("1.0 - 2.0", "1.5.0", true),
            ("1.0 - 2.0", "2.0.1", true),
            ("1.0 - 2.0.0", "2.0.1", false),
            (">1.2", "1.2.5", false),
            (">1.2", "1.3.0", true),
            ("<=1.2", "1.2.9", true),
            ("=1.2.3", "v1.2.3", true),
            (">=v1.20.0", "1.20.0", true),
            (">= 1.2.0-alpha", "1.2.0-beta", true),
            ("< 1.2.0-alpha", "1.1.0-beta", true),
            ("!=1.2.x", "1.2.5", false),
            (">=1.0,<2.0", "1.5.0", true),
            ("1.2", "1.2.9", true),
            ("=1.2", "1.3.0", false),
            ("~1.2.x", "1.2.1", true),
        ] {
            let got = Constraints::parse(c)
                .unwrap()
                .check(&Version::parse(v).unwrap());
            assert_eq!(got, want, "{c} {v}");
        }
    }

    #[test]
    fn errors_read_like_masterminds() {
        let mut ctx = Ctx::new([0; 32], 0);
        let err = semver_compare(&mut ctx, &[Value::str(">= foo"), Value::str("1.0.0")]);
        assert_eq!(err.unwrap_err(), r#"improper constraint: ">= foo""#);
        let err = semver_compare(&mut ctx, &[Value::str(""), Value::str("1.0.0")]);
        assert_eq!(err.unwrap_err(), r#"improper constraint: """#);
        let err = semver(&mut ctx, &[Value::str("1.2.3-01")]);
        assert_eq!(err.unwrap_err(), "version segment starts with 0");
        let err = semver(&mut ctx, &[Value::str("1.2.3.4")]);
        assert_eq!(err.unwrap_err(), "invalid semantic version");
        let err = semver_compare(&mut ctx, &[Value::str(">=1"), Value::str("one")]);
        assert_eq!(err.unwrap_err(), "invalid semantic version");
    }
}
