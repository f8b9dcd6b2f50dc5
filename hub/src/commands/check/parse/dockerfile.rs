//! Dockerfiles, in the shape conftest gives them: one document, an array of instructions.
//!
//! Each instruction is `{"Cmd": "from", "SubCmd": "", "JSON": false, "Flags": [],
//! "Value": ["alpine:3.19"], "Stage": 0}` as BuildKit's parser splits it: `Cmd` lowercased,
//! `Flags` the leading `--flag=value` words, `Value` the arguments (whitespace-split for `FROM`,
//! `COPY`, `ADD`, `VOLUME` and `EXPOSE`; the whole shell form for `RUN`, `CMD` and
//! `ENTRYPOINT`; the array items of the JSON form, with `"JSON": true`; key, value and separator
//! triples for `ENV` and `LABEL`), `Stage` the index of the build stage. `ONBUILD` puts the
//! wrapped instruction's name in `SubCmd`. Comments become `{"Cmd": "comment", "Value": [text]}`
//! entries before the instruction they precede. Heredoc bodies (`RUN <<EOF`) are skipped.

use serde_json::{Value as Json, json};

use super::ParseError;

const INSTRUCTIONS: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// Arguments of one instruction as BuildKit's parser leaves them.
struct Args {
    values: Vec<String>,
    json: bool,
    sub: Option<String>,
}

pub(super) fn parse(text: &str) -> Result<Json, ParseError> {
    let mut escape = '\\';
    let mut lines = text.lines().enumerate();
    // Parser directives (`# escape=`), at the very top only.
    for line in text.lines() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = directive.split_once('=') else {
            break;
        };
        if key.trim().eq_ignore_ascii_case("escape") {
            escape = value.trim().chars().next().unwrap_or('\\');
        }
    }

    let mut commands: Vec<Json> = Vec::new();
    let mut comments: Vec<String> = Vec::new();
    let mut stages: usize = 0;
    while let Some((index, raw)) = lines.next() {
        let start = index + 1;
        let trimmed = raw.trim_start();
        if let Some(comment) = trimmed.strip_prefix('#') {
            let comment = comment.trim();
            if comment.is_empty() {
                comments.clear();
            } else {
                comments.push(comment.to_owned());
            }
            continue;
        }
        let (mut line, mut ended) = continuation(trimmed, escape);
        if ended && line.trim().is_empty() {
            continue;
        }
        while !ended {
            let Some((_, next)) = lines.next() else { break };
            if next.trim_start().starts_with('#') || next.trim().is_empty() {
                continue;
            }
            let (part, end) = continuation(next, escape);
            line.push_str(&part);
            ended = end;
        }
        let line = line.trim();
        let (word, rest) = split_word(line);
        let cmd = word.to_lowercase();
        if !INSTRUCTIONS.contains(&cmd.as_str()) {
            return Err(ParseError::on_line(
                start,
                format!("unknown instruction `{word}`"),
            ));
        }
        let (flags, rest) = builder_flags(rest);
        let args = arguments(&cmd, rest, escape).map_err(|m| ParseError::on_line(start, m))?;
        if cmd == "from" {
            stages += 1;
        }
        if let Some(marker) = heredoc(&cmd, rest, args.json) {
            skip_heredoc(&mut lines, &marker);
        }
        let stage = stages.saturating_sub(1);
        for comment in comments.drain(..) {
            commands.push(json!({"Cmd": "comment", "SubCmd": "", "JSON": false, "Flags": null, "Value": [comment], "Stage": stage}));
        }
        let value = if args.values.is_empty() {
            Json::Null
        } else {
            json!(args.values)
        };
        commands.push(json!({
            "Cmd": cmd,
            "SubCmd": args.sub.unwrap_or_default(),
            "JSON": args.json,
            "Flags": flags,
            "Value": value,
            "Stage": stage,
        }));
    }
    Ok(Json::Array(commands))
}

/// Strips a trailing escape character (and the blanks after it); `false` when the instruction
/// continues on the next line.
fn continuation(line: &str, escape: char) -> (String, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest.to_owned(), false),
        None => (line.to_owned(), true),
    }
}

fn split_word(line: &str) -> (&str, &str) {
    match line.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim_start()),
        None => (line, ""),
    }
}

/// Leading `--name=value` words.
fn builder_flags(mut rest: &str) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    while rest.starts_with("--") {
        let (word, after) = split_word(rest);
        if word == "--" {
            rest = after;
            break;
        }
        flags.push(word.to_owned());
        rest = after;
    }
    (flags, rest)
}

fn arguments(cmd: &str, rest: &str, escape: char) -> Result<Args, String> {
    let plain = |values: Vec<String>| Args {
        values,
        json: false,
        sub: None,
    };
    Ok(match cmd {
        "run" | "cmd" | "entrypoint" | "shell" => maybe_json(rest)?,
        "add" | "copy" | "volume" => match json_array(rest)? {
            Some(values) => Args {
                values,
                json: true,
                sub: None,
            },
            None => plain(whitespace_words(rest)),
        },
        "from" | "expose" => plain(whitespace_words(rest)),
        "maintainer" | "stopsignal" | "user" | "workdir" => plain(if rest.is_empty() {
            Vec::new()
        } else {
            vec![rest.to_owned()]
        }),
        "arg" => plain(words(rest, escape)),
        "env" | "label" => plain(name_values(cmd, rest, escape)?),
        "healthcheck" => {
            let (kind, command) = split_word(rest);
            if kind.is_empty() {
                plain(Vec::new())
            } else {
                let mut args = maybe_json(command)?;
                args.values.insert(0, kind.to_owned());
                args
            }
        }
        "onbuild" => {
            let (word, inner) = split_word(rest);
            let sub = word.to_lowercase();
            if !INSTRUCTIONS.contains(&sub.as_str()) || sub == "onbuild" {
                return Err(format!("ONBUILD cannot wrap `{word}`"));
            }
            let (_, inner) = builder_flags(inner);
            let mut args = arguments(&sub, inner, escape)?;
            args.sub = Some(sub);
            args
        }
        _ => plain(Vec::new()),
    })
}

/// The JSON form (`["a", "b"]`) when the text is one, else the whole text as one value.
fn maybe_json(rest: &str) -> Result<Args, String> {
    Ok(match json_array(rest)? {
        Some(values) => Args {
            values,
            json: true,
            sub: None,
        },
        None => Args {
            values: if rest.is_empty() {
                Vec::new()
            } else {
                vec![rest.to_owned()]
            },
            json: false,
            sub: None,
        },
    })
}

/// `Some` for a JSON array of strings, `None` for text that is not a JSON array; a JSON array
/// holding anything but strings is an error, as in BuildKit.
fn json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(items) = serde_json::from_str::<Vec<Json>>(rest) else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|item| match item {
            Json::String(s) => Ok(s),
            _ => {
                Err("when using JSON array syntax, arrays must be comprised of strings only".into())
            }
        })
        .collect::<Result<Vec<_>, String>>()
        .map(Some)
}

fn whitespace_words(rest: &str) -> Vec<String> {
    rest.split_whitespace().map(str::to_owned).collect()
}

/// Words separated by blanks; quotes and escapes are kept, as BuildKit keeps them.
fn words(rest: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if blank_ok || !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                blank_ok = false;
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                word.push(c);
                if c == escape {
                    if let Some(next) = chars.next() {
                        word.push(next);
                    } else {
                        word.pop();
                    }
                }
            }
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == escape
                    && q != '\''
                    && let Some(next) = chars.next()
                {
                    word.push(next);
                }
            }
        }
    }
    if blank_ok || !word.is_empty() {
        out.push(word);
    }
    out
}

/// `ENV`/`LABEL` arguments as key, value, separator triples (`=` for `K=v`, empty for the legacy
/// `K v` form).
fn name_values(cmd: &str, rest: &str, escape: char) -> Result<Vec<String>, String> {
    let all = words(rest, escape);
    let Some(first) = all.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let (key, value) = split_word(rest);
        if value.is_empty() {
            return Err(format!("{} must have two arguments", cmd.to_uppercase()));
        }
        return Ok(vec![key.to_owned(), value.to_owned(), String::new()]);
    }
    let mut out = Vec::new();
    for word in all {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!("can't find = in `{word}`; write it as name=value"));
        };
        out.extend([key.to_owned(), value.to_owned(), "=".to_owned()]);
    }
    Ok(out)
}

/// The end marker of a heredoc started on a `RUN`, `COPY` or `ADD` line (`<<EOF`, `<<-"EOF"`).
fn heredoc(cmd: &str, rest: &str, json: bool) -> Option<(String, bool)> {
    if json || !matches!(cmd, "run" | "copy" | "add") {
        return None;
    }
    let start = rest.find("<<")?;
    let after = rest.get(start + 2..)?;
    let (dash, after) = match after.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, after),
    };
    let after = after.trim_start_matches(['"', '\'']);
    let end = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    let marker = after.get(..end)?;
    (!marker.is_empty()).then(|| (marker.to_owned(), dash))
}

fn skip_heredoc<'a>(
    lines: &mut impl Iterator<Item = (usize, &'a str)>,
    (marker, dash): &(String, bool),
) {
    for (_, line) in lines.by_ref() {
        let candidate = if *dash {
            line.trim_start_matches('\t')
        } else {
            line
        };
        if candidate.trim_end() == marker {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_have_conftests_shape() {
        let doc = parse(
            "# syntax=docker/dockerfile:1\nFROM golang:1.22 AS build\nCOPY --from=src --chown=1:1 . /src\nRUN go build \\\n    -o /app ./...\n\n# runtime image\nFROM alpine:3.19\nENV A=1 B=\"two words\"\nENV LEGACY some value\nEXPOSE 80 443\nUSER app user\nCMD [\"/app\", \"--serve\"]\nONBUILD RUN echo hi\nHEALTHCHECK --interval=5s CMD curl -f http://localhost/\n",
        )
        .unwrap();
        let cmds = doc.as_array().unwrap();
        assert_eq!(
            cmds[0],
            json!({"Cmd": "comment", "SubCmd": "", "JSON": false, "Flags": null, "Value": ["syntax=docker/dockerfile:1"], "Stage": 0})
        );
        assert_eq!(
            cmds[1],
            json!({"Cmd": "from", "SubCmd": "", "JSON": false, "Flags": [], "Value": ["golang:1.22", "AS", "build"], "Stage": 0})
        );
        assert_eq!(cmds[2]["Flags"], json!(["--from=src", "--chown=1:1"]));
        assert_eq!(cmds[2]["Value"], json!([".", "/src"]));
        assert_eq!(cmds[3]["Value"], json!(["go build     -o /app ./..."]));
        assert_eq!(cmds[4]["Cmd"], "comment");
        assert_eq!(
            cmds[4]["Stage"], 1,
            "a comment before FROM belongs to the new stage"
        );
        assert_eq!(cmds[5]["Stage"], 1);
        assert_eq!(
            cmds[6]["Value"],
            json!(["A", "1", "=", "B", "\"two words\"", "="])
        );
        assert_eq!(cmds[7]["Value"], json!(["LEGACY", "some value", ""]));
        assert_eq!(cmds[8]["Value"], json!(["80", "443"]));
        assert_eq!(cmds[9]["Value"], json!(["app user"]));
        assert_eq!(cmds[10]["Value"], json!(["/app", "--serve"]));
        assert_eq!(cmds[10]["JSON"], true);
        assert_eq!(
            (&cmds[11]["Cmd"], &cmds[11]["SubCmd"], &cmds[11]["Value"]),
            (&json!("onbuild"), &json!("run"), &json!(["echo hi"]))
        );
        assert_eq!(cmds[12]["Flags"], json!(["--interval=5s"]));
        assert_eq!(
            cmds[12]["Value"],
            json!(["CMD", "curl -f http://localhost/"])
        );
    }

    #[test]
    fn heredocs_are_skipped_and_unknown_instructions_are_located() {
        let doc = parse("FROM alpine\nRUN <<EOF\nset -e\napk add curl\nEOF\nUSER app\n").unwrap();
        let cmds: Vec<&str> = doc
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["Cmd"].as_str().unwrap())
            .collect();
        assert_eq!(cmds, ["from", "run", "user"]);
        let err = parse("FROM alpine\n\nFORM x\n").unwrap_err();
        assert_eq!(err.line, Some(3));
        assert!(err.message.contains("FORM"), "{err}");
        let err = parse("FROM alpine\nCMD [\"a\", 1]\n").unwrap_err();
        assert_eq!(err.line, Some(2));
    }
}
