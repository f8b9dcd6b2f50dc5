//! `.helmignore`: gitignore-style patterns that keep files out of a chart.
//!
//! Helm's rules: blank lines and `#` comments are skipped; `!` negates; a trailing `/` matches
//! directories only; a pattern without `/` matches a path's base name or any of its directory
//! names; a pattern with `/` matches the whole relative path. Patterns are shell globs.

use globset::{GlobBuilder, GlobMatcher};

#[derive(Debug)]
struct Rule {
    glob: GlobMatcher,
    negate: bool,
    dir_only: bool,
    anchored: bool,
}

/// Parsed `.helmignore` rules.
#[derive(Debug, Default)]
pub(crate) struct Rules(Vec<Rule>);

impl Rules {
    /// Parses a `.helmignore` file. Patterns that are not valid globs are skipped.
    pub(crate) fn parse(text: &str) -> Rules {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negate, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let dir_only = pattern.ends_with('/');
            let pattern = pattern.trim_end_matches('/').trim_start_matches("./");
            let pattern = pattern.trim_start_matches('/');
            if pattern.is_empty() {
                continue;
            }
            let anchored = pattern.contains('/');
            if let Ok(glob) = GlobBuilder::new(pattern).literal_separator(true).build() {
                rules.push(Rule {
                    glob: glob.compile_matcher(),
                    negate,
                    dir_only,
                    anchored,
                });
            }
        }
        // Helm's default: hidden files in templates/ are never templates.
        if let Ok(glob) = GlobBuilder::new("templates/.?*")
            .literal_separator(true)
            .build()
        {
            rules.push(Rule {
                glob: glob.compile_matcher(),
                negate: false,
                dir_only: false,
                anchored: true,
            });
        }
        Rules(rules)
    }

    /// Whether `path` (a file, relative, `/`-separated) is ignored.
    pub(crate) fn ignored(&self, path: &str) -> bool {
        let components: Vec<&str> = path.split('/').collect();
        let mut ignored = false;
        for rule in &self.0 {
            let hit = (0..components.len()).any(|end| {
                // `end` picks a prefix: a directory (end < last) or the file itself.
                let is_dir = end + 1 < components.len();
                if rule.dir_only && !is_dir {
                    return false;
                }
                let prefix = components
                    .get(..=end)
                    .map(|c| c.join("/"))
                    .unwrap_or_default();
                if rule.anchored {
                    rule.glob.is_match(&prefix)
                } else {
                    components
                        .get(end)
                        .is_some_and(|name| rule.glob.is_match(name))
                }
            });
            if hit {
                ignored = !rule.negate;
            }
        }
        ignored
    }
}

#[cfg(test)]
mod tests {
    use super::Rules;

    #[test]
    fn patterns_match_as_helm_documents() {
        let rules = Rules::parse("# comment\n*.bak\nfiles/b.txt\n.git/\nsecret*\n!secret.keep\n");
        assert!(rules.ignored("x.bak"));
        assert!(rules.ignored("deep/down/x.bak"));
        assert!(rules.ignored("files/b.txt"));
        assert!(!rules.ignored("other/files/b.txt"));
        assert!(rules.ignored(".git/config"));
        assert!(rules.ignored("secret.txt"));
        assert!(!rules.ignored("secret.keep"));
        assert!(!rules.ignored("templates/deployment.yaml"));
        assert!(!rules.ignored(".helmignore"));
        assert!(rules.ignored("templates/.hidden.yaml"));
    }
}
