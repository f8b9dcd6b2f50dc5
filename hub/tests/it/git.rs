//! Hosted Git end to end: a [`HostedRepo`] served over smart HTTP by a real axum server on
//! loopback, cloned and fetched by the real `git` CLI (protocol v0 forced, and the default v2),
//! plus the repository's own guarantees (compare-and-swap, only changed objects, path checks)
//! and hostile request bodies.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse::git::{self, CommitOutcome, Error, HostedRepo, Signature};

/// `gatehouse:s3cret`, as a Basic credential.
const AUTH: &str = "Basic Z2F0ZWhvdXNlOnMzY3JldA==";

fn author(seconds: i64) -> Signature {
    Signature {
        name: "Gatehouse Delivery".into(),
        email: "delivery@gatehouse.invalid".into(),
        seconds,
        offset_seconds: 3600,
    }
}

fn changes(items: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<Vec<u8>>> {
    items
        .iter()
        .map(|(p, c)| ((*p).to_owned(), c.map(|c| c.as_bytes().to_vec())))
        .collect()
}

fn commit(
    repo: &HostedRepo,
    items: &[(&str, Option<&str>)],
    message: &str,
    at: i64,
) -> CommitOutcome {
    let parent = repo.head().unwrap();
    repo.commit(&changes(items), &author(at), message, parent.as_deref())
        .unwrap()
}

/// What one upload-pack POST looked like.
#[derive(Debug, Clone)]
struct Exchange {
    protocol_v2: bool,
    sent_haves: bool,
    /// The object count of the pack in the answer, if one was sent.
    pack_objects: Option<u32>,
}

#[derive(Clone)]
struct AppState {
    repo: Arc<HostedRepo>,
    log: Arc<Mutex<Vec<Exchange>>>,
}

/// A server on 127.0.0.1 serving one repository as `/acme.git`; stops when dropped.
struct Server {
    base: String,
    log: Arc<Mutex<Vec<Exchange>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

fn unauthorised(headers: &HeaderMap) -> Option<Response> {
    let ok = headers
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == AUTH.as_bytes());
    (!ok).then(|| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"gatehouse\"")],
            "authentication required\n",
        )
            .into_response()
    })
}

fn error_response(e: &Error) -> Response {
    let status = if e.is_client_error() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    (status, format!("{e}\n")).into_response()
}

fn git_protocol(headers: &HeaderMap) -> Option<String> {
    headers
        .get("git-protocol")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn info_refs(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = unauthorised(&headers) {
        return r;
    }
    if name != "acme.git" {
        return StatusCode::NOT_FOUND.into_response();
    }
    if let Err(e) = git::check_service(query.get("service").map(String::as_str)) {
        return (StatusCode::FORBIDDEN, format!("{e}\n")).into_response();
    }
    match git::info_refs(&state.repo, git_protocol(&headers).as_deref()) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, git::ADVERTISEMENT_CONTENT_TYPE),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        Err(e) => error_response(&e),
    }
}

async fn upload_pack(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(r) = unauthorised(&headers) {
        return r;
    }
    if name != "acme.git" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let body = if gzip {
        match git::decode_gzip(&body, git::MAX_REQUEST_BYTES) {
            Ok(b) => b,
            Err(e) => return error_response(&e),
        }
    } else {
        body.to_vec()
    };
    let protocol = git_protocol(&headers);
    let repo = state.repo.clone();
    let request = body.clone();
    let answer =
        tokio::task::spawn_blocking(move || git::upload_pack(&repo, protocol.as_deref(), &request))
            .await
            .unwrap();
    match answer {
        Ok(out) => {
            state.log.lock().unwrap().push(Exchange {
                protocol_v2: git_protocol(&headers).is_some_and(|p| p.contains("version=2")),
                sent_haves: contains(&body, b"have "),
                pack_objects: pack_object_count(&out),
            });
            (
                [
                    (header::CONTENT_TYPE, git::RESULT_CONTENT_TYPE),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                out,
            )
                .into_response()
        }
        Err(e) => error_response(&e),
    }
}

async fn receive_pack(headers: HeaderMap) -> Response {
    if let Some(r) = unauthorised(&headers) {
        return r;
    }
    (StatusCode::FORBIDDEN, "pushing is not offered\n").into_response()
}

fn serve(repo: Arc<HostedRepo>) -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let state = AppState {
        repo,
        log: log.clone(),
    };
    let app = axum::Router::new()
        .route("/{name}/info/refs", axum::routing::get(info_refs))
        .route("/{name}/git-upload-pack", axum::routing::post(upload_pack))
        .route(
            "/{name}/git-receive-pack",
            axum::routing::post(receive_pack),
        )
        .layer(axum::extract::DefaultBodyLimit::max(git::MAX_REQUEST_BYTES))
        .with_state(state);
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server {
        base: format!("http://127.0.0.1:{port}"),
        log,
        runtime: Some(runtime),
    }
}

impl Server {
    fn url(&self, with_credentials: bool) -> String {
        let base = if with_credentials {
            self.base.replacen("http://", "http://gatehouse:s3cret@", 1)
        } else {
            self.base.clone()
        };
        format!("{base}/acme.git")
    }

    fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().unwrap().clone()
    }

    fn post(&self, body: Vec<u8>, extra: &[(&str, &str)]) -> (u16, Vec<u8>) {
        let rt = self.runtime.as_ref().unwrap();
        let url = format!("{}/git-upload-pack", self.url(false));
        rt.block_on(async {
            let mut request = crate::http()
                .post(url)
                .header("authorization", AUTH)
                .header("content-type", "application/x-git-upload-pack-request")
                .body(body);
            for (k, v) in extra {
                request = request.header(*k, *v);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.bytes().await.unwrap().to_vec())
        })
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The object count in the header of the first pack found in `bytes`.
fn pack_object_count(bytes: &[u8]) -> Option<u32> {
    let at = bytes.windows(8).position(|w| w == b"PACK\0\0\0\x02")?;
    let count = bytes.get(at + 8..at + 12)?;
    Some(u32::from_be_bytes(count.try_into().ok()?))
}

/// A `git` process isolated from the machine's configuration, killed after 60 s.
struct GitCli {
    home: tempfile::TempDir,
}

impl GitCli {
    fn new() -> GitCli {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join(".gitconfig"),
            "[user]\n\tname = Tester\n\temail = tester@gatehouse.invalid\n[init]\n\tdefaultBranch = trunk\n[pull]\n\tff = only\n",
        )
        .unwrap();
        GitCli { home }
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        let mut child = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("git runs");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if child.try_wait().unwrap().is_some() {
                return child.wait_with_output().unwrap();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "git {args:?} did not finish within 60 s: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn ok(&self, dir: &Path, args: &[&str]) -> String {
        let out = self.run(dir, args);
        assert!(
            out.status.success(),
            "git {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// The files of a checkout, `.git` left out.
fn worktree_files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack: Vec<PathBuf> = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_str().unwrap();
                files.insert(rel.replace('\\', "/"), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

const DEPLOY_V1: &str =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n";
const DEPLOY_V2: &str =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 3\n";

fn first_release(repo: &HostedRepo) {
    let outcome = commit(
        repo,
        &[
            ("README.md", Some("Rendered by Gatehouse.\n")),
            (
                "tenants/acme/production/web/deployment.yaml",
                Some(DEPLOY_V1),
            ),
            ("tenants/acme/staging/web/deployment.yaml", Some(DEPLOY_V1)),
            (
                "tenants/acme/staging/web/service.yaml",
                Some("kind: Service\n"),
            ),
            ("argocd/acme-production.yaml", Some("kind: Application\n")),
        ],
        "release rel_1: web 1.0 to acme\n\nRelease: rel_1\nDecision: dec_1\n",
        1_700_000_000,
    );
    assert!(
        matches!(outcome, CommitOutcome::Committed { .. }),
        "{outcome:?}"
    );
}

/// Clone, then two more releases (a change and a deletion) fetched incrementally, comparing
/// the checkout with what was committed at each step.
fn clone_then_pull(protocol: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap());
    first_release(&repo);
    let server = serve(repo.clone());
    let cli = GitCli::new();
    let mut config: Vec<String> = Vec::new();
    if let Some(v) = protocol {
        config.push("-c".into());
        config.push(format!("protocol.version={v}"));
    }
    let with = |args: &[&str]| -> Vec<String> {
        config
            .iter()
            .cloned()
            .chain(args.iter().map(|s| (*s).to_owned()))
            .collect()
    };
    let run = |cwd: &Path, args: &[&str]| {
        let args = with(args);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cli.ok(cwd, &refs)
    };

    let url = server.url(true);
    run(dir.path(), &["clone", &url, "work"]);
    let work = dir.path().join("work");
    assert_eq!(worktree_files(&work), repo.files(None).unwrap());
    assert_eq!(
        run(&work, &["rev-parse", "HEAD"]),
        repo.head().unwrap().unwrap()
    );
    assert_eq!(
        run(&work, &["symbolic-ref", "HEAD"]),
        "refs/heads/main",
        "the clone follows the advertised HEAD, not the local default branch"
    );
    let clone_pack = server
        .exchanges()
        .iter()
        .rev()
        .find_map(|e| e.pack_objects)
        .expect("the clone received a pack");
    // 1 commit, 4 distinct files (two are identical), and 8 trees: the root, argocd, tenants,
    // tenants/acme, and production, production/web, staging, staging/web below it.
    assert_eq!(clone_pack, 1 + 4 + 8, "{:?}", server.exchanges());

    // Release 2: one file changes, one is added.
    let second = commit(
        &repo,
        &[
            (
                "tenants/acme/production/web/deployment.yaml",
                Some(DEPLOY_V2),
            ),
            (
                "tenants/acme/production/web/configmap.yaml",
                Some("kind: ConfigMap\n"),
            ),
            ("README.md", Some("Rendered by Gatehouse.\n")),
        ],
        "release rel_2\n",
        1_700_000_100,
    );
    let CommitOutcome::Committed { changed, .. } = &second else {
        panic!("{second:?}")
    };
    assert_eq!(
        changed,
        &[
            "tenants/acme/production/web/configmap.yaml",
            "tenants/acme/production/web/deployment.yaml"
        ],
        "the unchanged README is not part of the commit"
    );
    let before = server.exchanges().len();
    run(&work, &["pull"]);
    assert_eq!(worktree_files(&work), repo.files(None).unwrap());
    let fetches = server.exchanges();
    let incremental = fetches[before..]
        .iter()
        .find(|e| e.pack_objects.is_some())
        .expect("the pull received a pack");
    assert!(
        fetches[before..].iter().any(|e| e.sent_haves),
        "the pull negotiated with haves: {fetches:?}"
    );
    // 1 commit, 2 new blobs, and the 5 trees from web/ up to the root.
    assert_eq!(incremental.pack_objects, Some(1 + 2 + 5), "{fetches:?}");

    // Release 3 deletes a whole directory's only files: the empty directories disappear.
    commit(
        &repo,
        &[
            ("tenants/acme/staging/web/deployment.yaml", None),
            ("tenants/acme/staging/web/service.yaml", None),
        ],
        "release rel_3: remove staging\n",
        1_700_000_200,
    );
    run(&work, &["fetch", "origin"]);
    run(&work, &["merge", "--ff-only", "origin/main"]);
    let files = worktree_files(&work);
    assert_eq!(files, repo.files(None).unwrap());
    assert!(!files.keys().any(|k| k.contains("staging")), "{files:?}");
    assert!(!work.join("tenants/acme/staging").exists());

    assert_eq!(run(&work, &["rev-list", "--count", "HEAD"]), "3");
    assert_eq!(
        run(&work, &["log", "-1", "--format=%an <%ae> %at %s"]),
        "Gatehouse Delivery <delivery@gatehouse.invalid> 1700000200 release rel_3: remove staging"
    );
    run(&work, &["fsck", "--full", "--strict", "--no-dangling"]);

    let v2_used = server.exchanges().iter().any(|e| e.protocol_v2);
    assert_eq!(
        v2_used,
        protocol.is_none(),
        "protocol {protocol:?}: {:?}",
        server.exchanges()
    );
}

#[test]
fn git_clone_and_pull_over_protocol_v0() {
    clone_then_pull(Some("0"));
}

#[test]
fn git_clone_and_pull_over_protocol_v1() {
    clone_then_pull(Some("1"));
}

#[test]
fn git_clone_and_pull_over_the_default_protocol_v2() {
    clone_then_pull(None);
}

#[test]
fn an_empty_repository_clones_empty_in_every_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap());
    assert_eq!(repo.head().unwrap(), None);
    assert!(repo.files(None).unwrap().is_empty());
    let server = serve(repo.clone());
    let cli = GitCli::new();
    for (i, v) in ["0", "2"].iter().enumerate() {
        let target = format!("empty{i}");
        let out = cli.run(
            dir.path(),
            &[
                "-c",
                &format!("protocol.version={v}"),
                "clone",
                &server.url(true),
                &target,
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "v{v}: {stderr}");
        assert!(stderr.contains("empty repository"), "v{v}: {stderr}");
        assert!(worktree_files(&dir.path().join(&target)).is_empty());
    }
    // Once the first release lands, the empty clone fetches it.
    first_release(&repo);
    let work = dir.path().join("empty0");
    cli.ok(&work, &["pull", "origin", "main"]);
    assert_eq!(worktree_files(&work), repo.files(None).unwrap());
}

#[test]
fn credentials_are_asked_for_and_pushing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap());
    first_release(&repo);
    let head = repo.head().unwrap();
    let server = serve(repo.clone());
    let cli = GitCli::new();

    let out = cli.run(dir.path(), &["clone", &server.url(false), "anon"]);
    assert!(
        !out.status.success(),
        "a clone without credentials must fail"
    );

    cli.ok(dir.path(), &["clone", &server.url(true), "work"]);
    let work = dir.path().join("work");
    std::fs::write(work.join("README.md"), "changed by hand\n").unwrap();
    cli.ok(&work, &["commit", "-am", "hand edit"]);
    let out = cli.run(&work, &["push", "origin", "main"]);
    assert!(!out.status.success(), "a push must be refused");
    assert_eq!(repo.head().unwrap(), head, "main did not move");
}

#[test]
fn a_conflicting_expected_parent_leaves_main_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let repo = HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap();
    let first = commit(&repo, &[("a.yaml", Some("a: 1\n"))], "one", 10);
    let CommitOutcome::Committed { commit: a, .. } = first else {
        panic!("{first:?}")
    };
    let b = repo
        .commit(
            &changes(&[("a.yaml", Some("a: 2\n"))]),
            &author(20),
            "two",
            Some(&a),
        )
        .unwrap();
    let CommitOutcome::Committed {
        commit: b, parent, ..
    } = b
    else {
        panic!("{b:?}")
    };
    assert_eq!(parent.as_deref(), Some(a.as_str()));
    let files_at_b = repo.files(None).unwrap();

    for expected in [Some(a.as_str()), None] {
        let err = repo
            .commit(
                &changes(&[("a.yaml", Some("a: 3\n")), ("new.yaml", Some("x\n"))]),
                &author(30),
                "three",
                expected,
            )
            .unwrap_err();
        assert!(matches!(err, Error::Conflict { .. }), "{err}");
        assert!(err.to_string().contains(&b), "{err}");
        assert_eq!(repo.head().unwrap().as_deref(), Some(b.as_str()));
        assert_eq!(repo.files(None).unwrap(), files_at_b);
    }
    // An unknown or malformed parent is a conflict too (main is not there), never a panic.
    for bogus in ["0000000000000000000000000000000000000000", "zz", ""] {
        assert!(
            repo.commit(&changes(&[("a", Some("1"))]), &author(1), "m", Some(bogus))
                .is_err()
        );
    }
    assert_eq!(repo.head().unwrap().as_deref(), Some(b.as_str()));
    // The history stays readable at each commit.
    assert_eq!(repo.files(Some(&a)).unwrap()["a.yaml"], b"a: 1\n");
    assert!(matches!(
        repo.files(Some("1234567890123456789012345678901234567890")),
        Err(Error::UnknownCommit(_))
    ));
}

/// Counts the loose objects of a bare repository.
fn loose_objects(git_dir: &Path) -> usize {
    std::fs::read_dir(git_dir.join("objects"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().len() == 2)
        .map(|e| std::fs::read_dir(e.path()).unwrap().count())
        .sum()
}

#[test]
fn only_changed_files_make_new_objects_and_no_change_makes_no_commit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acme.git");
    let repo = HostedRepo::open_or_init(&path).unwrap();
    first_release(&repo);
    let head = repo.head().unwrap();
    let objects = loose_objects(&path);

    let same = commit(
        &repo,
        &[
            ("README.md", Some("Rendered by Gatehouse.\n")),
            ("no/such/file.yaml", None),
        ],
        "nothing",
        5,
    );
    assert_eq!(same, CommitOutcome::Unchanged { head: head.clone() });
    assert_eq!(repo.head().unwrap(), head);
    assert_eq!(loose_objects(&path), objects, "no object was written");

    commit(
        &repo,
        &[(
            "tenants/acme/production/web/deployment.yaml",
            Some(DEPLOY_V2),
        )],
        "one file",
        6,
    );
    // One blob, five trees (web, production, acme, tenants, root), one commit.
    assert_eq!(loose_objects(&path), objects + 7);

    // Reopening sees the same state; the branch and HEAD are what clients expect.
    let reopened = HostedRepo::open_or_init(&path).unwrap();
    assert_eq!(reopened.head().unwrap(), repo.head().unwrap());
    assert_eq!(
        std::fs::read_to_string(path.join("HEAD")).unwrap().trim(),
        "ref: refs/heads/main"
    );
}

#[test]
fn invalid_paths_and_authors_are_refused_and_commit_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let repo = HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap();
    first_release(&repo);
    let head = repo.head().unwrap();
    for bad in [
        "../escape.yaml",
        "/etc/passwd",
        ".git/config",
        "tenants/.git/hooks/post-checkout",
        "a//b.yaml",
        "tenants/acme/",
        "",
        "a/./b",
    ] {
        let err = repo
            .commit(
                &changes(&[(bad, Some("x")), ("ok.yaml", Some("fine"))]),
                &author(1),
                "bad",
                head.as_deref(),
            )
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{bad:?}: {err}");
    }
    let err = repo
        .commit(
            &changes(&[("tenants", None)]),
            &author(1),
            "delete a directory",
            head.as_deref(),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidPath { .. }), "{err}");
    let mut sneaky = author(1);
    sneaky.email = "a@b>\ncommitter evil".into();
    assert!(matches!(
        repo.commit(
            &changes(&[("ok.yaml", Some("x"))]),
            &sneaky,
            "m",
            head.as_deref()
        ),
        Err(Error::InvalidCommit(_))
    ));
    assert_eq!(repo.head().unwrap(), head);
}

#[test]
fn concurrent_writers_and_readers_keep_a_linear_history() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acme.git");
    let repo = Arc::new(HostedRepo::open_or_init(&path).unwrap());
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let repo = repo.clone();
            std::thread::spawn(move || {
                let mut made = 0;
                for attempt in 0..200 {
                    if made == 5 {
                        break;
                    }
                    let parent = repo.head().unwrap();
                    let file = format!("writer{w}/n{made}.yaml");
                    match repo.commit(
                        &changes(&[(&file, Some("x: 1\n"))]),
                        &author(attempt),
                        "concurrent",
                        parent.as_deref(),
                    ) {
                        Ok(CommitOutcome::Committed { .. }) => made += 1,
                        Ok(other) => panic!("{other:?}"),
                        Err(Error::Conflict { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                made
            })
        })
        .collect();
    let reader = {
        let repo = repo.clone();
        std::thread::spawn(move || {
            for _ in 0..50 {
                let files = repo.files(None).unwrap();
                assert!(files.values().all(|v| v == b"x: 1\n"));
            }
        })
    };
    let made: usize = writers.into_iter().map(|t| t.join().unwrap()).sum();
    reader.join().unwrap();
    assert_eq!(made, 20);
    assert_eq!(repo.files(None).unwrap().len(), 20);
    let cli = GitCli::new();
    let git_dir = format!("--git-dir={}", path.display());
    assert_eq!(
        cli.ok(dir.path(), &[&git_dir, "rev-list", "--count", "main"]),
        "20"
    );
    cli.ok(dir.path(), &[&git_dir, "fsck", "--full", "--strict"]);
}

fn pkt(line: &str) -> Vec<u8> {
    let mut v = format!("{:04x}", line.len() + 4).into_bytes();
    v.extend_from_slice(line.as_bytes());
    v
}

fn body(lines: &[&str]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| match *l {
            "0000" | "0001" => l.as_bytes().to_vec(),
            l => pkt(l),
        })
        .collect()
}

#[test]
fn a_go_git_style_request_gets_one_ack_and_a_valid_pack() {
    let dir = tempfile::tempdir().unwrap();
    let repo = HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap();
    first_release(&repo);
    let old = repo.head().unwrap().unwrap();
    commit(
        &repo,
        &[(
            "tenants/acme/production/web/deployment.yaml",
            Some(DEPLOY_V2),
        )],
        "two",
        2,
    );
    let new = repo.head().unwrap().unwrap();
    // go-git: no multi_ack, no side-band requested, all haves then done in one request.
    let request = body(&[
        &format!("want {new} ofs-delta agent=go-git/5.x\n"),
        "0000",
        "have 1111111111111111111111111111111111111111\n",
        &format!("have {old}\n"),
        "done\n",
    ]);
    let answer = git::upload_pack(&repo, None, &request).unwrap();
    let ack = pkt(&format!("ACK {old}\n"));
    assert!(
        answer.starts_with(&ack),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    let pack = &answer[ack.len()..];
    assert!(
        pack.starts_with(b"PACK"),
        "the raw pack follows the single ACK"
    );
    assert_eq!(pack_object_count(pack), Some(1 + 1 + 5));

    let incremental = pack.to_vec();

    // Without any common commit: NAK, then the whole history.
    let request = body(&[&format!("want {new}\n"), "0000", "done\n"]);
    let answer = git::upload_pack(&repo, None, &request).unwrap();
    assert!(answer.starts_with(b"0008NAK\n"));
    assert_eq!(pack_object_count(&answer), Some(13 + 1 + 1 + 5));
    let full = answer[8..].to_vec();

    // git itself accepts both packs, checking every object and link.
    let cli = GitCli::new();
    let scratch = dir.path().join("scratch.git");
    cli.ok(
        dir.path(),
        &["init", "--bare", "-q", scratch.to_str().unwrap()],
    );
    for pack in [full, incremental] {
        let mut child = Command::new("git")
            .args(["index-pack", "--stdin", "--strict"])
            .current_dir(&scratch)
            .env("HOME", cli.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&pack).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn multi_ack_detailed_negotiation_says_common_and_ready() {
    let dir = tempfile::tempdir().unwrap();
    let repo = HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap();
    first_release(&repo);
    let old = repo.head().unwrap().unwrap();
    commit(&repo, &[("b.yaml", Some("b\n"))], "two", 2);
    let new = repo.head().unwrap().unwrap();
    let unknown = "2222222222222222222222222222222222222222";
    let want = format!("want {new} multi_ack_detailed side-band-64k\n");
    let ask = |haves: &[&str], caps: &str| {
        let first = want.replace('\n', caps) + "\n";
        let mut lines = vec![first.as_str(), "0000"];
        let haves: Vec<String> = haves.iter().map(|h| format!("have {h}\n")).collect();
        lines.extend(haves.iter().map(String::as_str));
        lines.push("0000");
        git::upload_pack(&repo, None, &body(&lines)).unwrap()
    };
    let text = |lines: &[String]| {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        body(&refs)
    };
    // A common commit that covers the want: common, then ready at the flush.
    assert_eq!(
        ask(&[old.as_str()], ""),
        text(&[
            format!("ACK {old} common\n"),
            format!("ACK {old} ready\n"),
            "NAK\n".into()
        ])
    );
    // Once ready, an unknown have is answered with ready at once; the flush only says NAK.
    assert_eq!(
        ask(&[old.as_str(), unknown], ""),
        text(&[
            format!("ACK {old} common\n"),
            format!("ACK {unknown} ready\n"),
            "NAK\n".into()
        ])
    );
    // Unknown only: nothing to acknowledge.
    assert_eq!(ask(&[unknown], ""), text(&["NAK\n".into()]));
    // With no-done, the pack follows the ready round without another request.
    let answer = ask(&[old.as_str()], " no-done");
    let expected = text(&[
        format!("ACK {old} common\n"),
        format!("ACK {old} ready\n"),
        "NAK\n".into(),
        format!("ACK {old}\n"),
    ]);
    assert!(
        answer.starts_with(&expected),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(pack_object_count(&answer), Some(3));
    // The stateless follow-up replays the common commit and says done: the pack comes on band 1.
    let request = body(&[
        &format!("want {new} multi_ack_detailed side-band-64k\n"),
        "0000",
        &format!("have {old}\n"),
        "done\n",
    ]);
    let answer = git::upload_pack(&repo, None, &request).unwrap();
    let expected = body(&[&format!("ACK {old} common\n"), &format!("ACK {old}\n")]);
    assert!(answer.starts_with(&expected));
    assert_eq!(answer[expected.len() + 4], 1, "band 1 carries the pack");
    assert!(answer.ends_with(b"0000"));
    assert_eq!(
        pack_object_count(&answer),
        Some(3),
        "commit, blob, root tree"
    );
}

#[test]
fn hostile_request_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let repo = HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap();
    first_release(&repo);
    let head = repo.head().unwrap().unwrap();
    let many_wants: Vec<String> = (0..300).map(|_| format!("want {head}\n")).collect();
    let mut many: Vec<&str> = many_wants.iter().map(String::as_str).collect();
    many.push("0000");
    many.push("done\n");
    let mut oversized = b"ffff".to_vec();
    oversized.extend(std::iter::repeat_n(b'a', 70_000));
    let cases: Vec<(&str, Option<&str>, Vec<u8>)> = vec![
        ("garbage length", None, b"zzzzwant".to_vec()),
        ("oversized pkt-line", None, oversized),
        ("truncated pkt-line", None, b"0032want 12".to_vec()),
        ("length 3", None, b"0003".to_vec()),
        ("too many wants", None, body(&many)),
        (
            "unknown want",
            None,
            body(&[
                "want 3333333333333333333333333333333333333333\n",
                "0000",
                "done\n",
            ]),
        ),
        ("short want", None, body(&["want abc\n", "0000", "done\n"])),
        (
            "shallow",
            None,
            body(&[
                &format!("want {head}\n"),
                "deepen-since 1\n",
                "0000",
                "done\n",
            ]),
        ),
        (
            "zero depth",
            None,
            body(&[&format!("want {head}\n"), "deepen 0\n", "0000", "done\n"]),
        ),
        (
            "bad have",
            None,
            body(&[&format!("want {head}\n"), "0000", "have xyz\n", "done\n"]),
        ),
        (
            "no done",
            None,
            body(&[&format!("want {head}\n"), "0000", &format!("have {head}\n")]),
        ),
        ("not utf-8", None, b"000awant \xff\n".to_vec()),
        (
            "v2 unknown command",
            Some("version=2"),
            body(&["command=push\n", "0001", "0000"]),
        ),
        ("v2 no command", Some("version=2"), body(&["0000"])),
        (
            "v2 sha256",
            Some("version=2"),
            body(&[
                "command=ls-refs\n",
                "object-format=sha256\n",
                "0001",
                "0000",
            ]),
        ),
        (
            "v2 filter",
            Some("version=2"),
            body(&[
                "command=fetch\n",
                "0001",
                &format!("want {head}\n"),
                "filter blob:none\n",
                "done\n",
                "0000",
            ]),
        ),
        (
            "v2 trailing command",
            Some("version=2"),
            body(&[
                "command=ls-refs\n",
                "0001",
                "0000",
                "command=ls-refs\n",
                "0000",
            ]),
        ),
        (
            "v2 no wants",
            Some("version=2"),
            body(&["command=fetch\n", "0001", "done\n", "0000"]),
        ),
    ];
    for (name, protocol, request) in &cases {
        let result = git::upload_pack(&repo, *protocol, request);
        assert!(result.is_err(), "{name}: accepted");
        let err = result.unwrap_err();
        assert!(err.is_client_error(), "{name}: {err}");
    }
    let huge = vec![b'0'; git::MAX_REQUEST_BYTES + 1];
    assert!(matches!(
        git::upload_pack(&repo, None, &huge),
        Err(Error::TooLarge(_))
    ));

    // Over HTTP: a refused body is a 400 with the reason; a gzip bomb is refused before it is
    // parsed; a well-formed gzip body is served.
    let server = serve(Arc::new(repo));
    let (status, text) = server.post(b"0003".to_vec(), &[]);
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&text).contains("length 3"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b'0'; git::MAX_REQUEST_BYTES + 1024])
        .unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 100_000);
    let (status, text) = server.post(bomb, &[("content-encoding", "gzip")]);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&text));
    assert!(String::from_utf8_lossy(&text).contains("decompressed"));

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&body(&["command=ls-refs\n", "0001", "symrefs\n", "0000"]))
        .unwrap();
    let (status, text) = server.post(
        gz.finish().unwrap(),
        &[("content-encoding", "gzip"), ("git-protocol", "version=2")],
    );
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(text).unwrap(),
        String::from_utf8(body(&[
            &format!("{head} HEAD symref-target:refs/heads/main\n"),
            &format!("{head} refs/heads/main\n"),
            "0000"
        ]))
        .unwrap()
    );
}

#[test]
fn the_advertisement_names_head_main_and_the_offered_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let repo = HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap();
    first_release(&repo);
    let head = repo.head().unwrap().unwrap();
    let v0 = String::from_utf8(git::info_refs(&repo, None).unwrap()).unwrap();
    assert!(
        v0.starts_with("001e# service=git-upload-pack\n0000"),
        "{v0}"
    );
    assert!(v0.contains(&format!("{head} HEAD\0")), "{v0}");
    assert!(v0.contains("symref=HEAD:refs/heads/main"), "{v0}");
    assert!(v0.contains("side-band-64k"), "{v0}");
    assert!(v0.contains("agent=gatehouse/"), "{v0}");
    assert!(v0.contains(" shallow "), "{v0}");
    assert!(!v0.contains("ofs-delta"), "deltas are not sent: {v0}");
    assert!(v0.contains(&format!("{head} refs/heads/main\n")), "{v0}");
    assert!(v0.ends_with("0000"), "{v0}");
    let v2 = String::from_utf8(git::info_refs(&repo, Some("version=2")).unwrap()).unwrap();
    assert!(
        v2.contains("version 2\n") && v2.contains("ls-refs") && v2.contains("fetch"),
        "{v2}"
    );
    assert!(!v2.contains(&head), "v2 lists refs only on request: {v2}");
}

/// `git clone --depth 1` (what Flux does), a plain fetch into the shallow clone, a deeper
/// fetch, and finally `--unshallow`, checked with fsck.
fn shallow_clone_then_deepen(protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let repo = Arc::new(HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap());
    first_release(&repo);
    for (i, replicas) in ["3", "4"].iter().enumerate() {
        let spec = DEPLOY_V1.replace("replicas: 2", &format!("replicas: {replicas}"));
        commit(
            &repo,
            &[("tenants/acme/production/web/deployment.yaml", Some(&spec))],
            &format!("scale to {replicas}"),
            100 + i as i64,
        );
    }
    let server = serve(repo.clone());
    let cli = GitCli::new();
    let v = format!("protocol.version={protocol}");
    let run = |cwd: &Path, args: &[&str]| {
        let mut all = vec!["-c", v.as_str()];
        all.extend_from_slice(args);
        cli.ok(cwd, &all)
    };
    run(
        dir.path(),
        &["clone", "--depth", "1", &server.url(true), "work"],
    );
    let work = dir.path().join("work");
    assert_eq!(worktree_files(&work), repo.files(None).unwrap());
    assert_eq!(run(&work, &["rev-list", "--count", "HEAD"]), "1");
    let head = repo.head().unwrap().unwrap();
    assert_eq!(
        std::fs::read_to_string(work.join(".git/shallow"))
            .unwrap()
            .trim(),
        head
    );
    assert_eq!(
        server.exchanges().iter().rev().find_map(|e| e.pack_objects),
        Some(1 + 5 + 8),
        "only the tip commit and its tree (production's deployment now differs from staging's)"
    );

    // A new release, fetched without --depth: the shallow boundary stays where it was.
    commit(
        &repo,
        &[("README.md", Some("Rendered by Gatehouse, again.\n"))],
        "readme",
        200,
    );
    run(&work, &["pull"]);
    assert_eq!(worktree_files(&work), repo.files(None).unwrap());
    assert_eq!(run(&work, &["rev-list", "--count", "HEAD"]), "2");

    run(&work, &["fetch", "--depth", "3"]);
    assert_eq!(run(&work, &["rev-list", "--count", "origin/main"]), "3");

    run(&work, &["fetch", "--unshallow"]);
    assert!(!work.join(".git/shallow").exists());
    assert_eq!(run(&work, &["rev-list", "--count", "origin/main"]), "4");
    run(&work, &["fsck", "--full", "--strict", "--no-dangling"]);
}

#[test]
fn git_shallow_clone_fetch_and_unshallow_over_protocol_v0() {
    shallow_clone_then_deepen("0");
}

#[test]
fn git_shallow_clone_fetch_and_unshallow_over_protocol_v2() {
    shallow_clone_then_deepen("2");
}

#[test]
fn a_go_git_style_shallow_clone_is_cut_at_the_tip() {
    let dir = tempfile::tempdir().unwrap();
    let repo = HostedRepo::open_or_init(&dir.path().join("acme.git")).unwrap();
    first_release(&repo);
    commit(&repo, &[("b.yaml", Some("b\n"))], "two", 2);
    let head = repo.head().unwrap().unwrap();
    let request = body(&[
        &format!("want {head} side-band-64k shallow\n"),
        "deepen 1\n",
        "0000",
        "done\n",
    ]);
    let answer = git::upload_pack(&repo, None, &request).unwrap();
    let expected = body(&[&format!("shallow {head}\n"), "0000", "NAK\n"]);
    assert!(
        answer.starts_with(&expected),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    // The tip commit and its whole tree: b.yaml, the first release's four distinct files and
    // its eight trees (the root among them rewritten). Nothing of the first commit itself.
    assert_eq!(pack_object_count(&answer), Some(1 + 1 + 4 + 8));
}

/// A writer that takes at most a few bytes per call and remembers the largest write.
#[derive(Default)]
struct Trickle {
    bytes: Vec<u8>,
    largest: usize,
    calls: usize,
}

impl Write for Trickle {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.calls += 1;
        self.largest = self.largest.max(data.len());
        let n = data.len().min(4096);
        self.bytes.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn packs_are_written_as_they_are_sent() {
    let dir = tempfile::tempdir().unwrap();
    let repo = HostedRepo::open_or_init(&dir.path().join("big.git")).unwrap();
    // 300 files of 8 KiB of random letters, which compress only so far: a pack of 1.5 MB.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let files: Vec<(String, String)> = (0..300)
        .map(|i| {
            let text: String = (0..8192)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from(b'a' + (seed % 26) as u8)
                })
                .collect();
            (format!("tenants/t{i}/deployment.yaml"), text)
        })
        .collect();
    let items: Vec<(&str, Option<&str>)> = files
        .iter()
        .map(|(p, t)| (p.as_str(), Some(t.as_str())))
        .collect();
    commit(&repo, &items, "big", 1);
    let head = repo.head().unwrap().unwrap();
    for (protocol, request) in [
        (
            None,
            body(&[&format!("want {head} side-band-64k\n"), "0000", "done\n"]),
        ),
        (None, body(&[&format!("want {head}\n"), "0000", "done\n"])),
        (
            Some("version=2"),
            body(&[
                "command=fetch\n",
                "0001",
                &format!("want {head}\n"),
                "done\n",
                "0000",
            ]),
        ),
    ] {
        let answer = git::negotiate(&repo, protocol, &request).unwrap();
        assert!(answer.objects() > 300, "{}", answer.objects());
        let mut out = Trickle::default();
        answer.write_to(&mut out).unwrap();
        assert!(out.bytes.len() > 1_400_000, "{}", out.bytes.len());
        assert!(
            out.largest <= 70_000,
            "no write holds more than one object or packet: {} bytes",
            out.largest
        );
        assert!(out.calls > 300, "{} writes", out.calls);
        assert_eq!(
            out.bytes,
            git::upload_pack(&repo, protocol, &request).unwrap(),
            "streamed and in-memory answers are the same bytes"
        );
    }
}
