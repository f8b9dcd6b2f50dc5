//! Sprig's `urlParse` and `urlJoin`, over the parts of Go's `net/url` they use: parsing into
//! scheme, userinfo, host, path, query and fragment (percent-decoding path and fragment), and
//! putting a URL back together with Go's escaping rules.

use super::args::{self, exact};
use crate::funcs::fmt::quote;
use crate::value::{Map, Value};

type R = Result<Value, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Path,
    Host,
    UserPassword,
    Fragment,
}

/// Go's `shouldEscape`.
fn should_escape(c: u8, mode: Encoding) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if mode == Encoding::Host
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => {
            return match mode {
                Encoding::Path => c == b'?',
                Encoding::UserPassword => matches!(c, b'@' | b'/' | b'?' | b':'),
                Encoding::Fragment => false,
                Encoding::Host => true,
            };
        }
        _ => {}
    }
    if mode == Encoding::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

/// Go's `url.escape`.
fn escape(s: &str, mode: Encoding) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if should_escape(b, mode) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

/// Go's `url.unescape`.
fn unescape(s: &str, mode: Encoding) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let hex = b.get(i + 1..i + 3).and_then(|h| {
                let h = std::str::from_utf8(h).ok()?;
                u8::from_str_radix(h, 16).ok()
            });
            let Some(v) = hex else {
                let bad =
                    String::from_utf8_lossy(b.get(i..(i + 3).min(b.len())).unwrap_or_default())
                        .into_owned();
                return Err(format!("invalid URL escape {}", quote(&bad)));
            };
            if mode == Encoding::Host && v < 0x80 && s.get(i..i + 3) != Some("%25") {
                let bad = s.get(i..i + 3).unwrap_or_default();
                return Err(format!("invalid URL escape {}", quote(bad)));
            }
            out.push(v);
            i += 3;
        } else {
            if mode == Encoding::Host && c < 0x80 && should_escape(c, mode) {
                let bad = char::from(c).to_string();
                return Err(format!("invalid character {} in host name", quote(&bad)));
            }
            out.push(c);
            i += 1;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[derive(Debug, Default)]
struct Url {
    scheme: String,
    opaque: String,
    user: Option<(String, Option<String>)>,
    host: String,
    path: String,
    raw_query: String,
    fragment: String,
    force_query: bool,
}

fn valid_optional_port(port: &str) -> bool {
    port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|c| c.is_ascii_digit()))
}

/// Go's `getScheme`.
fn split_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".to_owned()),
            b':' => return Ok((raw.get(..i).unwrap_or(""), raw.get(i + 1..).unwrap_or(""))),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let Some(close) = host.rfind(']') else {
            return Err("missing ']' in host".to_owned());
        };
        let port = host.get(close + 1..).unwrap_or("");
        if !valid_optional_port(port) {
            return Err(format!("invalid port {} after host", quote(port)));
        }
    } else if let Some(colon) = host.rfind(':') {
        let port = host.get(colon..).unwrap_or("");
        if !valid_optional_port(port) {
            return Err(format!("invalid port {} after host", quote(port)));
        }
    }
    unescape(host, Encoding::Host)
}

fn valid_userinfo(s: &str) -> bool {
    s.bytes().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.'
                    | b'_'
                    | b':'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b'%'
                    | b'@'
            )
    })
}

type UserInfo = Option<(String, Option<String>)>;

fn parse_authority(authority: &str) -> Result<(UserInfo, String), String> {
    let Some(at) = authority.rfind('@') else {
        return Ok((None, parse_host(authority)?));
    };
    let host = parse_host(authority.get(at + 1..).unwrap_or(""))?;
    let userinfo = authority.get(..at).unwrap_or("");
    if !valid_userinfo(userinfo) {
        return Err("net/url: invalid userinfo".to_owned());
    }
    let user = match userinfo.split_once(':') {
        None => (unescape(userinfo, Encoding::UserPassword)?, None),
        Some((u, p)) => (
            unescape(u, Encoding::UserPassword)?,
            Some(unescape(p, Encoding::UserPassword)?),
        ),
    };
    Ok((Some(user), host))
}

/// Go's `url.Parse`.
fn parse(raw: &str) -> Result<Url, String> {
    let (without_fragment, fragment) = raw.split_once('#').unwrap_or((raw, ""));
    let fail = |url: &str, err: String| format!("parse {}: {err}", quote(url));
    let mut url = parse_no_fragment(without_fragment).map_err(|e| fail(without_fragment, e))?;
    url.fragment = unescape(fragment, Encoding::Fragment).map_err(|e| fail(raw, e))?;
    Ok(url)
}

fn parse_no_fragment(raw: &str) -> Result<Url, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".to_owned());
    }
    let mut url = Url::default();
    if raw == "*" {
        url.path = "*".to_owned();
        return Ok(url);
    }
    let (scheme, rest) = split_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let mut rest = rest.to_owned();
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        url.force_query = true;
        rest.pop();
    } else if let Some((before, query)) = rest.clone().split_once('?') {
        url.raw_query = query.to_owned();
        rest = before.to_owned();
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest;
            return Ok(url);
        }
        let segment = rest.split('/').next().unwrap_or("");
        if segment.contains(':') {
            return Err("first path segment in URL cannot contain colon".to_owned());
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = rest.get(2..).unwrap_or("");
        let (authority, path) = match after.find('/') {
            Some(i) => (after.get(..i).unwrap_or(""), after.get(i..).unwrap_or("")),
            None => (after, ""),
        };
        let (user, host) = parse_authority(authority)?;
        url.user = user;
        url.host = host;
        rest = path.to_owned();
    }
    url.path = unescape(&rest, Encoding::Path)?;
    Ok(url)
}

fn userinfo_string(user: &(String, Option<String>)) -> String {
    let mut s = escape(&user.0, Encoding::UserPassword);
    if let Some(p) = &user.1 {
        s.push(':');
        s.push_str(&escape(p, Encoding::UserPassword));
    }
    s
}

/// Go's `URL.Hostname`: the host without its port or IPv6 brackets.
fn hostname(host: &str) -> &str {
    let mut h = host;
    if let Some(colon) = h.rfind(':')
        && valid_optional_port(h.get(colon..).unwrap_or(""))
    {
        h = h.get(..colon).unwrap_or(h);
    }
    h.strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(h)
}

/// Go's `URL.String`.
fn to_string(u: &Url) -> String {
    let mut out = String::new();
    if !u.scheme.is_empty() {
        out.push_str(&u.scheme);
        out.push(':');
    }
    if u.opaque.is_empty() {
        if !u.scheme.is_empty() || !u.host.is_empty() || u.user.is_some() {
            if !u.host.is_empty() || !u.path.is_empty() || u.user.is_some() {
                out.push_str("//");
            }
            if let Some(user) = &u.user {
                out.push_str(&userinfo_string(user));
                out.push('@');
            }
            out.push_str(&escape(&u.host, Encoding::Host));
        }
        let path = if u.path == "*" {
            "*".to_owned()
        } else {
            escape(&u.path, Encoding::Path)
        };
        if !path.is_empty() && !path.starts_with('/') && !u.host.is_empty() {
            out.push('/');
        }
        if out.is_empty() && path.split('/').next().unwrap_or("").contains(':') {
            out.push_str("./");
        }
        out.push_str(&path);
    } else {
        out.push_str(&u.opaque);
    }
    if u.force_query || !u.raw_query.is_empty() {
        out.push('?');
        out.push_str(&u.raw_query);
    }
    if !u.fragment.is_empty() {
        out.push('#');
        out.push_str(&escape(&u.fragment, Encoding::Fragment));
    }
    out
}

/// `urlParse URL`: a dict of scheme, host, hostname, path, query, opaque, fragment, userinfo.
pub(super) fn url_parse(name: &str, args: &[Value]) -> R {
    let [raw] = exact(name, args)?;
    let u = parse(args::string(raw)?).map_err(|e| format!("unable to parse url: {e}"))?;
    let m = Map::new();
    m.insert("scheme", Value::str(&u.scheme));
    m.insert("host", Value::str(&u.host));
    m.insert("hostname", Value::str(hostname(&u.host)));
    m.insert("path", Value::str(&u.path));
    m.insert("query", Value::str(&u.raw_query));
    m.insert("opaque", Value::str(&u.opaque));
    m.insert("fragment", Value::str(&u.fragment));
    m.insert(
        "userinfo",
        Value::str(u.user.as_ref().map(userinfo_string).unwrap_or_default()),
    );
    Ok(Value::Map(m))
}

/// `urlJoin DICT`: the URL a `urlParse` dict describes.
pub(super) fn url_join(name: &str, args: &[Value]) -> R {
    let [d] = exact(name, args)?;
    let d = args::map(d)?;
    let get = |key: &str| -> Result<String, String> {
        match d.get(key) {
            None => Ok(String::new()),
            Some(Value::Str(s)) => Ok(s.to_string()),
            Some(Value::Nil) => {
                Err("runtime error: invalid memory address or nil pointer dereference".to_owned())
            }
            Some(other) => Err(format!(
                "unable to parse {key} key, must be of type string, but {} found",
                other.kind_name()
            )),
        }
    };
    let mut u = Url {
        scheme: get("scheme")?,
        host: get("host")?,
        path: get("path")?,
        raw_query: get("query")?,
        opaque: get("opaque")?,
        fragment: get("fragment")?,
        ..Url::default()
    };
    let userinfo = get("userinfo")?;
    if !userinfo.is_empty() {
        let probe = format!("proto://{userinfo}@host");
        let parsed = parse(&probe).map_err(|e| format!("unable to parse userinfo in dict: {e}"))?;
        u.user = parsed.user;
    }
    Ok(Value::str(to_string(&u)))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{call, check, s};
    use crate::value::{Map, Value};

    fn dict(pairs: &[(&str, &str)]) -> Value {
        let m = Map::new();
        for (k, v) in pairs {
            m.insert(*k, Value::str(v));
        }
        Value::Map(m)
    }

    /// Expectations checked against Helm.
    #[test]
    fn url_parse_matches_helm() {
        for (input, want) in [
            (
                "https://user:pa%20ss@web.local:8080/p/a%20th?q=1&r=x#frag",
                "map[fragment:frag host:web.local:8080 hostname:web.local opaque: path:/p/a th query:q=1&r=x scheme:https userinfo:user:pa%20ss]",
            ),
            (
                "mailto:joe@x.org",
                "map[fragment: host: hostname: opaque:joe@x.org path: query: scheme:mailto userinfo:]",
            ),
            (
                "/rel/path?x",
                "map[fragment: host: hostname: opaque: path:/rel/path query:x scheme: userinfo:]",
            ),
            (
                "",
                "map[fragment: host: hostname: opaque: path: query: scheme: userinfo:]",
            ),
            (
                "HTTP://Host/%7Euser",
                "map[fragment: host:Host hostname:Host opaque: path:/~user query: scheme:http userinfo:]",
            ),
            (
                "//h/p",
                "map[fragment: host:h hostname:h opaque: path:/p query: scheme: userinfo:]",
            ),
            (
                "http://h/a%2Fb?x=%20",
                "map[fragment: host:h hostname:h opaque: path:/a/b query:x=%20 scheme:http userinfo:]",
            ),
            (
                "http://u@h",
                "map[fragment: host:h hostname:h opaque: path: query: scheme:http userinfo:u]",
            ),
            (
                "http://[::1]:80/",
                "map[fragment: host:[::1]:80 hostname:::1 opaque: path:/ query: scheme:http userinfo:]",
            ),
            (
                "a b",
                "map[fragment: host: hostname: opaque: path:a b query: scheme: userinfo:]",
            ),
            (
                "http://h/#f%20g",
                "map[fragment:f g host:h hostname:h opaque: path:/ query: scheme:http userinfo:]",
            ),
            (
                "http://h?q#",
                "map[fragment: host:h hostname:h opaque: path: query:q scheme:http userinfo:]",
            ),
        ] {
            let out = call("urlParse", &[s(input)]).map(|v| v.go_string());
            assert_eq!(out, Ok(want.to_owned()), "{input}");
        }
        check(&[(
            "urlParse",
            vec![s("http://[::1")],
            Err("unable to parse url: parse \"http://[::1\": missing ']' in host"),
        )]);
    }

    /// Expectations checked against Helm.
    #[test]
    fn url_join_matches_helm() {
        let full = dict(&[
            ("scheme", "https"),
            ("host", "h:1"),
            ("path", "/a b"),
            ("query", "x=1"),
            ("fragment", "f g"),
            ("userinfo", "u:p"),
        ]);
        check(&[
            (
                "urlJoin",
                vec![full],
                Ok(s("https://u:p@h:1/a%20b?x=1#f%20g")),
            ),
            (
                "urlJoin",
                vec![dict(&[("scheme", "mailto"), ("opaque", "joe@x")])],
                Ok(s("mailto:joe@x")),
            ),
            ("urlJoin", vec![dict(&[("path", "a:b")])], Ok(s("./a:b"))),
            (
                "urlJoin",
                vec![dict(&[("host", "h"), ("path", "rel")])],
                Ok(s("//h/rel")),
            ),
            ("urlJoin", vec![dict(&[])], Ok(s(""))),
            (
                "urlJoin",
                vec![dict(&[("scheme", "http"), ("path", "/p"), ("host", "")])],
                Ok(s("http:///p")),
            ),
            ("urlJoin", vec![dict(&[("path", "//x")])], Ok(s("//x"))),
            (
                "urlJoin",
                vec![dict(&[("host", "h"), ("path", "/ä?#%")])],
                Ok(s("//h/%C3%A4%3F%23%25")),
            ),
            (
                "urlJoin",
                vec![dict(&[("scheme", "file"), ("path", "/x")])],
                Ok(s("file:///x")),
            ),
            (
                "urlJoin",
                vec![dict(&[("userinfo", "u%20s:p"), ("host", "h")])],
                Ok(s("//u%20s:p@h")),
            ),
            (
                "urlJoin",
                vec![dict(&[("userinfo", "us"), ("host", "h")])],
                Ok(s("//us@h")),
            ),
            (
                "urlJoin",
                vec![dict(&[("fragment", "a#b/?c d!")])],
                Ok(s("#a%23b/?c%20d!")),
            ),
            (
                "urlJoin",
                vec![dict(&[("host", "h"), ("query", "a b")])],
                Ok(s("//h?a b")),
            ),
            (
                "urlJoin",
                vec![dict(&[("path", "a b/c+d;e,f=g&h$i@j:k!l'm(n)*~")])],
                Ok(s("a%20b/c+d;e,f=g&h$i@j:k%21l%27m%28n%29%2A~")),
            ),
            (
                "urlJoin",
                vec![dict(&[("host", "h:80"), ("path", "p")])],
                Ok(s("//h:80/p")),
            ),
            (
                "urlJoin",
                vec![dict(&[("host", "ä b")])],
                Ok(s("//%C3%A4%20b")),
            ),
            (
                "urlJoin",
                vec![dict(&[("scheme", "http"), ("path", "")])],
                Ok(s("http:")),
            ),
            (
                "urlJoin",
                vec![dict(&[("userinfo", "u:p:q"), ("host", "h")])],
                Ok(s("//u:p%3Aq@h")),
            ),
            (
                "urlJoin",
                vec![dict(&[("userinfo", "u s:p@w"), ("host", "h")])],
                Err(
                    "unable to parse userinfo in dict: parse \"proto://u s:p@w@host\": net/url: invalid userinfo",
                ),
            ),
        ]);
        let m = Map::new();
        m.insert("host", Value::Int(3));
        check(&[(
            "urlJoin",
            vec![Value::Map(m)],
            Err("unable to parse host key, must be of type string, but int found"),
        )]);
    }
}
