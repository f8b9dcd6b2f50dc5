//! What a release would change in the project's repository, before it deploys: every target it
//! touches is rendered, validated and gated exactly as the deploy will do it, and each file that
//! would change is shown as a unified diff against the repository's current commit. Reviewers
//! read it before they approve (the seed's "review the release diff"); nothing is written.
//!
//! The preview is only as current as the moment it is read: the deploy renders again, and
//! refuses a release that another deploy overtook (`release_stale`).

use similar::TextDiff;

use super::*;

/// Most diff text in one answer; files beyond it are listed without their diff.
const MAX_DIFF_BYTES: usize = 1 << 20;

/// Lines of context around each change.
const CONTEXT_LINES: usize = 3;

/// A release's effect on the repository.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Preview {
    /// The commit the diff is against (`null` while the repository has none, and when the deploy
    /// would be refused: there is no diff then).
    pub base: Option<String>,
    /// Whether deploying now would commit: `false` when a render is blocked by the render gate
    /// or invalid (see `blocked`).
    pub deployable: bool,
    /// Why deploying now would not commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Json>,
    /// How many files would be added, modified and deleted.
    pub summary: Summary,
    /// Each file that would change, by path.
    pub files: Vec<FileChange>,
    /// Some diffs were left out to keep the answer under 1 MiB (their files are still listed).
    pub truncated: bool,
}

/// Counts of changed files.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub(crate) struct Summary {
    /// New files.
    pub added: usize,
    /// Changed files.
    pub modified: usize,
    /// Removed files.
    pub deleted: usize,
}

/// One file that would change.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct FileChange {
    /// The path in the repository (`tenants/acme/production/checkout/deployment-checkout.yaml`).
    pub path: String,
    /// `added`, `modified` or `deleted`.
    pub change: &'static str,
    /// The unified diff (`--- a/path`, `+++ b/path`, hunks with three lines of context);
    /// `null` when left out (see `truncated`).
    pub diff: Option<String>,
}

pub(super) async fn preview(
    State(hub): State<Hub>,
    Extension(caller): Extension<Caller>,
    path: Params,
) -> ApiResult<AxumJson<Preview>> {
    let (name, id) = (param(&path, "project"), param(&path, "release"));
    let h = hub.clone();
    blocking(
        &hub,
        move |tx| {
            let (p, rel) = load(tx, &caller, &name, &id)?;
            if matches!(
                rel.state.as_str(),
                state::DEPLOYED | state::REJECTED | state::CANCELLED | state::FAILED
            ) {
                return Err(wrong_state(&rel, "be previewed"));
            }
            if let Some(e) = stale(tx, &rel)? {
                return Err(e);
            }
            let preview = match delivery::plan(&h, tx, &caller.org, &p, &rel)? {
                Ok(plan) => diff_plan(&plan),
                Err(blocked) => Preview {
                    base: None,
                    deployable: false,
                    blocked: Some(describe(blocked)),
                    summary: Summary::default(),
                    files: Vec::new(),
                    truncated: false,
                },
            };
            Ok(AxumJson(preview))
        },
        false,
    )
    .await
}

/// The files of a plan that differ from what `head` holds, each with its diff.
fn diff_plan(plan: &delivery::Plan) -> Preview {
    let mut summary = Summary::default();
    let mut files = Vec::new();
    let mut budget = MAX_DIFF_BYTES;
    let mut truncated = false;
    for (path, new) in &plan.changes {
        let old = plan.previous.get(path);
        let change = match (old, new) {
            (None, None) => continue,
            (Some(old), Some(new)) if old == new => continue,
            (None, Some(_)) => {
                summary.added += 1;
                "added"
            }
            (Some(_), None) => {
                summary.deleted += 1;
                "deleted"
            }
            (Some(_), Some(_)) => {
                summary.modified += 1;
                "modified"
            }
        };
        let diff = if budget == 0 {
            None
        } else {
            let text = unified(path, old.map(Vec::as_slice), new.as_deref());
            if text.len() <= budget {
                budget -= text.len();
                Some(text)
            } else {
                None
            }
        };
        truncated |= diff.is_none();
        files.push(FileChange {
            path: path.clone(),
            change,
            diff,
        });
    }
    Preview {
        base: plan.head.clone(),
        deployable: true,
        blocked: None,
        summary,
        files,
        truncated,
    }
}

/// `git diff`'s form: `a/` and `b/` prefixes, `/dev/null` for a side that does not exist.
fn unified(path: &str, old: Option<&[u8]>, new: Option<&[u8]>) -> String {
    let old_text = String::from_utf8_lossy(old.unwrap_or_default());
    let new_text = String::from_utf8_lossy(new.unwrap_or_default());
    let a = old.map_or_else(|| "/dev/null".to_owned(), |_| format!("a/{path}"));
    let b = new.map_or_else(|| "/dev/null".to_owned(), |_| format!("b/{path}"));
    TextDiff::from_lines(old_text.as_ref(), new_text.as_ref())
        .unified_diff()
        .context_radius(CONTEXT_LINES)
        .header(&a, &b)
        .to_string()
}

/// Why the deploy would not commit, in the shape the deploy's own refusal takes.
fn describe(blocked: delivery::Blocked) -> Json {
    match blocked {
        delivery::Blocked::Denied(target, decision) => {
            let violations: Vec<Json> = decision
                .violations
                .iter()
                .map(|f| json!({"policy": f.policy, "rule": f.rule, "object": f.object, "message": f.message}))
                .collect();
            json!({"code": "render_blocked", "target": target, "decision": decision.decision_id, "violations": violations})
        }
        delivery::Blocked::Invalid(target, problems) => {
            json!({"code": "render_invalid", "target": target, "problems": problems})
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_read_like_git_diff() {
        let d = unified("a.yaml", Some(b"x: 1\ny: 2\n"), Some(b"x: 1\ny: 3\n"));
        assert_eq!(
            d,
            "--- a/a.yaml\n+++ b/a.yaml\n@@ -1,2 +1,2 @@\n x: 1\n-y: 2\n+y: 3\n"
        );
        let added = unified("n.yaml", None, Some(b"k: v\n"));
        assert!(
            added.starts_with("--- /dev/null\n+++ b/n.yaml\n@@ -0,0 +1 @@\n+k: v\n"),
            "{added}"
        );
        let deleted = unified("o.yaml", Some(b"k: v\n"), None);
        assert!(
            deleted.starts_with("--- a/o.yaml\n+++ /dev/null\n"),
            "{deleted}"
        );
    }

    #[test]
    fn unchanged_files_are_left_out_and_large_diffs_truncated() {
        let big = "line\n".repeat(MAX_DIFF_BYTES / 5 + 10);
        let plan = delivery::Plan {
            changes: [
                ("same.yaml".to_owned(), Some(b"a\n".to_vec())),
                ("big.yaml".to_owned(), Some(big.into_bytes())),
                ("gone.yaml".to_owned(), None),
                ("new.yaml".to_owned(), Some(b"n\n".to_vec())),
            ]
            .into_iter()
            .collect(),
            head: Some("abc".to_owned()),
            previous: [
                ("same.yaml".to_owned(), b"a\n".to_vec()),
                ("gone.yaml".to_owned(), b"g\n".to_vec()),
            ]
            .into_iter()
            .collect(),
            decisions: Vec::new(),
        };
        let p = diff_plan(&plan);
        let listed: Vec<(&str, &str, bool)> = p
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.change, f.diff.is_some()))
            .collect();
        assert_eq!(
            listed,
            [
                ("big.yaml", "added", false),
                ("gone.yaml", "deleted", true),
                ("new.yaml", "added", true)
            ]
        );
        assert!(p.truncated);
        assert_eq!(
            (p.summary.added, p.summary.modified, p.summary.deleted),
            (2, 0, 1)
        );
    }
}
