//! The command-line surface, declared once.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Gatehouse: a governed GitOps control plane. Every render, release, promotion, rollback,
/// break-glass session and cluster command is decided by one policy engine; this binary runs
/// that engine for policy authors and CI.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log level on stderr: error, warn, info, debug or trace (RUST_LOG overrides).
    #[arg(
        long = "log-level",
        global = true,
        value_name = "LEVEL",
        default_value = "warn",
        env = "GATEHOUSE_LOG"
    )]
    pub log_level: String,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Evaluate a Rego query against policies and data, like `opa eval`.
    Eval(EvalArgs),
    /// Decide an action document the way the hub would: allow, deny or pending.
    Decide(DecideArgs),
    /// Run policy tests (`test_*` rules), like `opa test`.
    Test(TestArgs),
    /// Measure evaluation speed, like `opa bench`: median and spread over many runs.
    Bench(BenchArgs),
    /// Print a JSON Schema of the contract (the action document or the decision).
    Schema(SchemaArgs),
    /// Test configuration files against policies, like `conftest test`.
    Check(CheckArgs),
    /// Render a chart, or a whole project directory, exactly as the hub would, and optionally
    /// put the result through the render gate (`--check`).
    Render(RenderArgs),
    /// Run the hub: the REST API, the store and the decision core.
    Serve(ServeArgs),
    /// Administer a hub's store directly (recovery: organizations, owner tokens).
    Admin(AdminArgs),
    /// Inspect the audit log of a hub's store.
    Audit(AuditArgs),
    /// Serve the playground: a web page to write Rego, edit input and data, and see the
    /// decision the hub would take.
    Playground(PlaygroundArgs),
}

/// Where policies come from.
#[derive(Debug, Clone, Args)]
pub struct PolicySource {
    /// Policy or data path: a directory, a bundle (.tar.gz), a .rego file or a JSON/YAML data
    /// file. Repeatable.
    #[arg(short = 'd', long = "data", value_name = "PATH")]
    pub data: Vec<PathBuf>,
    /// Include the built-in policy library (the default for `decide` when no -d is given).
    #[arg(short = 'b', long = "builtin")]
    pub builtin: bool,
    /// Read modules as Rego v0 unless a bundle manifest says otherwise.
    #[arg(long = "v0")]
    pub v0: bool,
    /// Evaluation time limit, e.g. 500ms or 2s.
    #[arg(long = "timeout", value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

/// `gatehouse eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Policies and data.
    #[command(flatten)]
    pub source: PolicySource,
    /// Input document (JSON or YAML; `-` for stdin).
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Output format.
    #[arg(short = 'f', long = "format", value_enum, default_value_t = EvalFormat::Json)]
    pub format: EvalFormat,
    /// Exit 1 when the query is undefined.
    #[arg(long = "fail")]
    pub fail: bool,
    /// Exit 1 when the query is defined.
    #[arg(long = "fail-defined")]
    pub fail_defined: bool,
    /// The query, e.g. `data.gatehouse.k8s.image_tags.deny`.
    pub query: String,
}

/// `gatehouse eval` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EvalFormat {
    /// `opa eval -f json`: results with expressions, locations and bindings.
    Json,
    /// Indented values and bindings for people.
    Pretty,
    /// Only the expression values, one JSON document per result.
    Values,
}

/// `gatehouse decide`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The action document (JSON or YAML; `-` for stdin).
    #[arg(short = 'a', long = "action", value_name = "FILE")]
    pub action: PathBuf,
    /// Policy bundle: directory, .tar.gz or .rego file (repeatable). Default: the built-in library.
    #[arg(short = 'p', long = "policies", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Also load the built-in library alongside --policies.
    #[arg(short = 'b', long = "builtin")]
    pub builtin: bool,
    /// Bindings file (YAML); overrides the bundle's bindings.yaml.
    #[arg(long = "bindings", value_name = "FILE")]
    pub bindings: Option<PathBuf>,
    /// Read modules as Rego v0 unless a bundle manifest says otherwise.
    #[arg(long = "v0")]
    pub v0: bool,
    /// Evaluation time limit.
    #[arg(long = "timeout", value_name = "DURATION", default_value = "500ms", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Include which policies ran and which rules fired.
    #[arg(long = "explain")]
    pub explain: bool,
    /// Output format.
    #[arg(short = 'f', long = "format", value_enum, default_value_t = DecideFormat::Pretty)]
    pub format: DecideFormat,
}

/// `gatehouse render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A chart directory or `helm package` archive, or with --project a project directory
    /// (holding project.yaml).
    #[arg(value_name = "PATH")]
    pub path: PathBuf,
    /// Render a project directory: every workload for every tenant and environment.
    #[arg(long = "project")]
    pub project: bool,
    /// Values files, merged left to right (chart renders only).
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Release name (chart renders only).
    #[arg(long = "name", default_value = "release-name")]
    pub name: String,
    /// Release namespace (chart renders only).
    #[arg(short = 'n', long = "namespace", default_value = "default")]
    pub namespace: String,
    /// `.Capabilities.KubeVersion`.
    #[arg(long = "kube-version", value_name = "VERSION", default_value = gatehouse_render::chart::objects::DEFAULT_KUBE_VERSION)]
    pub kube_version: String,
    /// Write the repository files here instead of printing the manifests (project renders).
    #[arg(short = 'o', long = "out", value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Put every render through the render gate; exit 2 when a policy blocks one.
    #[arg(long = "check")]
    pub check: bool,
    /// Policy bundle for --check: directory, .tar.gz or .rego file (repeatable). Default: the
    /// built-in library.
    #[arg(short = 'p', long = "policies", value_name = "PATH")]
    pub policies: Vec<PathBuf>,
    /// Also load the built-in library alongside --policies.
    #[arg(short = 'b', long = "builtin")]
    pub builtin: bool,
    /// Bindings file (YAML) for --check; overrides the bundle's bindings.yaml.
    #[arg(long = "bindings", value_name = "FILE")]
    pub bindings: Option<PathBuf>,
    /// Organization the gate's action is scoped to.
    #[arg(long = "org", default_value = "default")]
    pub org: String,
    /// Environment the gate's action is scoped to (chart renders only).
    #[arg(long = "environment", value_name = "NAME")]
    pub environment: Option<String>,
    /// Tenant the gate's action is scoped to (chart renders only).
    #[arg(long = "tenant", value_name = "NAME")]
    pub tenant: Option<String>,
    /// Validate every rendered object against the Kubernetes JSON schemas in this directory
    /// (`tests/k8s-schemas.sh` fetches them); exit 1 when one is invalid.
    #[arg(long = "schemas", value_name = "DIR", env = "GATEHOUSE_K8S_SCHEMAS")]
    pub schemas: Option<PathBuf>,
    /// CustomResourceDefinition files to validate custom resources against (repeatable); CRDs
    /// among the rendered objects are used too.
    #[arg(long = "crd", value_name = "FILE", requires = "schemas")]
    pub crds: Vec<PathBuf>,
    /// With --schemas: objects of kinds no schema describes pass instead of failing.
    #[arg(long = "ignore-missing-schemas", requires = "schemas")]
    pub ignore_missing_schemas: bool,
}

/// `gatehouse decide` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecideFormat {
    /// The decision as JSON.
    Json,
    /// A summary for people.
    Pretty,
}

/// `gatehouse test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// Directories, bundles or files holding policies and their tests.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Test the built-in policy library.
    #[arg(short = 'b', long = "builtin")]
    pub builtin: bool,
    /// Only run tests whose `package.rule` matches this regular expression.
    #[arg(short = 'r', long = "run", value_name = "REGEX")]
    pub run: Option<String>,
    /// Print every test with its time, not just failures.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Output format.
    #[arg(short = 'f', long = "format", value_enum, default_value_t = TestFormat::Pretty)]
    pub format: TestFormat,
    /// Read modules as Rego v0 unless a bundle manifest says otherwise.
    #[arg(long = "v0")]
    pub v0: bool,
    /// Time limit per test.
    #[arg(long = "timeout", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Report which policy lines the tests evaluated (a per-file summary, or the full report
    /// with `-f json`).
    #[arg(short = 'c', long = "coverage")]
    pub coverage: bool,
    /// What to explain: `fails` shows where each failing test stopped and its `print` notes;
    /// `notes` also shows notes of passing tests; `full` lists every test with both.
    #[arg(long = "explain", value_enum, default_value_t = Explain::Fails)]
    pub explain: Explain,
    /// With --coverage: fail (exit 2) when total coverage is below this percentage.
    #[arg(
        long = "threshold",
        value_name = "PERCENT",
        default_value_t = 0.0,
        requires = "coverage"
    )]
    pub threshold: f64,
}

/// `gatehouse test --explain` levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Explain {
    /// Failing tests only.
    Fails,
    /// Failing tests, and notes of every test.
    Notes,
    /// Every test.
    Full,
}

/// `gatehouse test` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TestFormat {
    /// Human-readable.
    Pretty,
    /// One JSON array of results.
    Json,
}

/// `gatehouse bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Policies and data (for a query benchmark).
    #[command(flatten)]
    pub source: PolicySource,
    /// Input document for a query benchmark.
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Benchmark deciding this action document instead of a query (built-in library unless -d).
    #[arg(
        short = 'a',
        long = "action",
        value_name = "FILE",
        conflicts_with = "query"
    )]
    pub action: Option<PathBuf>,
    /// Bindings for --action.
    #[arg(long = "bindings", value_name = "FILE")]
    pub bindings: Option<PathBuf>,
    /// Measured evaluations (after a warm-up of a tenth as many).
    #[arg(short = 'n', long = "count", default_value_t = 5000)]
    pub count: usize,
    /// Also measure throughput with this many threads deciding in parallel.
    #[arg(long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Include parsing the JSON input in every iteration (as a caller sending JSON pays).
    #[arg(long = "parse-input", conflicts_with = "prepared")]
    pub parse_input: bool,
    /// Convert the action to Rego input once, outside the measurement: times evaluation alone
    /// (what OPA's bridge-subtracted figure measures).
    #[arg(long = "prepared")]
    pub prepared: bool,
    /// Output format.
    #[arg(short = 'f', long = "format", value_enum, default_value_t = DecideFormat::Pretty)]
    pub format: DecideFormat,
    /// The query to benchmark.
    pub query: Option<String>,
}

/// `gatehouse serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address the HTTP API listens on.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:8080",
        env = "GATEHOUSE_LISTEN"
    )]
    pub listen: std::net::SocketAddr,
    /// Data directory holding the store (gatehouse.db). Default: the per-user data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// The address agents reach the hub's gRPC endpoint at, written into install commands.
    #[arg(
        long,
        value_name = "HOST:PORT",
        default_value = "127.0.0.1:8443",
        env = "GATEHOUSE_AGENT_ADDRESS"
    )]
    pub agent_address: String,
    /// The agent's Helm chart reference, written into install commands.
    #[arg(
        long,
        value_name = "CHART",
        default_value = "gatehouse/gatehouse-agent",
        env = "GATEHOUSE_AGENT_CHART"
    )]
    pub agent_chart: String,
    /// CA certificates (PEM) trusted for https notification endpoints, besides the system's
    /// (an internal CA).
    #[arg(long, value_name = "FILE", env = "GATEHOUSE_NOTIFY_CA")]
    pub notify_ca: Option<std::path::PathBuf>,
    /// Where the agent service (gRPC, `agent.v1.AgentHub`) listens; `off` serves no agents.
    #[arg(
        long,
        value_name = "ADDR|off",
        default_value = "127.0.0.1:8443",
        env = "GATEHOUSE_AGENT_LISTEN"
    )]
    pub agent_listen: String,
    /// The agent service's TLS certificate chain (PEM). Without it (and without
    /// --agent-plaintext) the hub generates a CA and certificate into <data>/agent-tls/.
    #[arg(
        long,
        value_name = "FILE",
        env = "GATEHOUSE_AGENT_TLS_CERT",
        requires = "agent_tls_key"
    )]
    pub agent_tls_cert: Option<std::path::PathBuf>,
    /// The agent service's TLS private key (PEM).
    #[arg(
        long,
        value_name = "FILE",
        env = "GATEHOUSE_AGENT_TLS_KEY",
        requires = "agent_tls_cert"
    )]
    pub agent_tls_key: Option<std::path::PathBuf>,
    /// Serve agents without TLS: agent tokens then cross the network in the clear. For
    /// development on one machine only.
    #[arg(
        long,
        env = "GATEHOUSE_AGENT_PLAINTEXT",
        conflicts_with = "agent_tls_cert"
    )]
    pub agent_plaintext: bool,
    /// The heartbeat interval agents are asked to keep, in seconds; past twice this a cluster
    /// shows Lagging.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, env = "GATEHOUSE_AGENT_HEARTBEAT_SECONDS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub agent_heartbeat_seconds: u64,
    /// No message from an agent for this long closes its session (Disconnected), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 90, env = "GATEHOUSE_AGENT_TIMEOUT_SECONDS",
          value_parser = clap::value_parser!(u64).range(2..=86400))]
    pub agent_timeout_seconds: u64,
    /// How long a cluster command stays valid after it is issued, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, env = "GATEHOUSE_COMMAND_TTL_SECONDS",
          value_parser = clap::value_parser!(u64).range(5..=86400))]
    pub command_ttl_seconds: u64,
    /// The hub's URL as Argo CD and Flux reach it: repositories are cloned from
    /// `<URL>/git/<project>`. Default: `http://` and the listen address.
    #[arg(long = "public-url", env = "GATEHOUSE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Validate every deploy's rendered objects against the Kubernetes JSON schemas in this
    /// directory (`tests/k8s-schemas.sh` fetches them) and CRDs among them; an invalid object
    /// blocks the deploy.
    #[arg(
        long = "k8s-schemas",
        env = "GATEHOUSE_K8S_SCHEMAS",
        value_name = "DIR"
    )]
    pub k8s_schemas: Option<std::path::PathBuf>,
    /// Largest request body accepted, in bytes (chart uploads allow 8 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = 1024 * 1024, env = "GATEHOUSE_MAX_BODY_BYTES")]
    pub max_body_bytes: usize,
    /// Do not serve the policy playground at /playground.
    #[arg(long, env = "GATEHOUSE_NO_PLAYGROUND")]
    pub no_playground: bool,
    /// On first start, the organization to create.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "default",
        env = "GATEHOUSE_BOOTSTRAP_ORG"
    )]
    pub bootstrap_org: String,
    /// On first start, the owner to create (their token is printed once).
    #[arg(
        long,
        value_name = "USER",
        default_value = "admin",
        env = "GATEHOUSE_BOOTSTRAP_OWNER"
    )]
    pub bootstrap_owner: String,
    /// Policies: the built-in library, plus any -d paths.
    #[command(flatten)]
    pub policy: PolicySource,
    /// Bindings file (YAML) replacing the bundles' bindings.
    #[arg(long, value_name = "FILE")]
    pub bindings: Option<PathBuf>,
}

/// The data directory option shared by the store commands.
#[derive(Debug, Clone, Args)]
pub struct DataDirArg {
    /// Data directory holding the store (gatehouse.db). Default: the per-user data directory.
    #[arg(
        long = "data-dir",
        value_name = "DIR",
        env = "GATEHOUSE_DATA_DIR",
        global = true
    )]
    pub data_dir: Option<PathBuf>,
}

/// `gatehouse admin`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// What to do.
    #[command(subcommand)]
    pub command: AdminCommand,
}

/// `gatehouse admin` subcommands.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an organization with an owner; prints the owner's token once.
    CreateOrg {
        /// Organization name.
        name: String,
        /// Owner's user name.
        #[arg(long, value_name = "USER")]
        owner: String,
    },
    /// Issue a new API token for an existing member; prints it once.
    Token {
        /// Organization name.
        #[arg(long, value_name = "NAME")]
        org: String,
        /// Member's user name.
        #[arg(long, value_name = "USER")]
        user: String,
    },
}

/// `gatehouse audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Data directory.
    #[command(flatten)]
    pub data: DataDirArg,
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// `gatehouse audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every organization's hash chain; exit 2 at the first edited, deleted or
    /// reordered entry.
    Verify,
}

/// `gatehouse schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which document.
    #[arg(value_enum, default_value_t = SchemaKind::Action)]
    pub which: SchemaKind,
}

/// Schemas `gatehouse schema` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchemaKind {
    /// The action document (`input`).
    Action,
    /// The decision.
    Decision,
    /// A bindings file.
    Bindings,
}

/// `gatehouse check`: conftest's `test` (and, with `--verify`, its `verify`) with the same flags,
/// rules, output formats and exit codes.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or directories to check; directories are searched for files a parser recognises.
    /// `-` reads stdin.
    #[arg(value_name = "FILE", required_unless_present = "verify")]
    pub files: Vec<PathBuf>,
    /// Policy path: a directory, a bundle (.tar.gz) or a .rego file. Repeatable.
    #[arg(
        short = 'p',
        long = "policy",
        value_name = "PATH",
        default_value = "policy"
    )]
    pub policy: Vec<PathBuf>,
    /// Data path: a JSON or YAML file, or a directory searched for them (a file is mounted at its
    /// directory relative to the argument). Repeatable.
    #[arg(short = 'd', long = "data", value_name = "PATH")]
    pub data: Vec<PathBuf>,
    /// Namespace (package) whose `deny`, `violation` and `warn` rules run; globs such as
    /// `main.*` are allowed. Repeatable.
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NAMESPACE",
        default_value = "main"
    )]
    pub namespace: Vec<String>,
    /// Run the rules of every namespace in the policies.
    #[arg(long = "all-namespaces")]
    pub all_namespaces: bool,
    /// Evaluate all documents of all files together, as one input: an array of
    /// `{"path": ..., "contents": ...}`.
    #[arg(long = "combine")]
    pub combine: bool,
    /// Exit 1 when there are warnings (and 2 when there are failures).
    #[arg(long = "fail-on-warn")]
    pub fail_on_warn: bool,
    /// Exit 0 even when policies fail.
    #[arg(long = "no-fail")]
    pub no_fail: bool,
    /// Never colour the output (colour is only used on a terminal, and never with NO_COLOR).
    #[arg(long = "no-color")]
    pub no_color: bool,
    /// Leave exceptions out of the output (they are still counted).
    #[arg(long = "suppress-exceptions")]
    pub suppress_exceptions: bool,
    /// Also fail on rule values conftest would skip silently (a `deny` value that is neither a
    /// string nor an object with `msg`).
    #[arg(long = "strict")]
    pub strict: bool,
    /// Parse every file with this parser instead of choosing by file name.
    #[arg(long = "parser", value_enum, value_name = "PARSER")]
    pub parser: Option<CheckParser>,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = CheckOutput::Stdout)]
    pub output: CheckOutput,
    /// With `-o junit`: name test cases by file only, without the message.
    #[arg(long = "junit-hide-message")]
    pub junit_hide_message: bool,
    /// Skip files under a directory argument whose path matches this regular expression.
    #[arg(long = "ignore", value_name = "REGEX")]
    pub ignore: Option<String>,
    /// Rego version of the policies (a bundle manifest can still say otherwise per file).
    #[arg(long = "rego-version", value_enum, default_value_t = RegoVersion::V1)]
    pub rego_version: RegoVersion,
    /// Read the policies as Rego v0: the same as `--rego-version v0`.
    #[arg(long = "v0")]
    pub v0: bool,
    /// Time limit for evaluating one document.
    #[arg(long = "timeout", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Run the policies' own tests (`test_*` rules) instead of checking files, like
    /// `conftest verify`.
    #[arg(long = "verify")]
    pub verify: bool,
}

/// Parsers `gatehouse check` can read files with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum CheckParser {
    /// YAML, every document of a stream (`.yaml`, `.yml`).
    Yaml,
    /// JSON, or a stream of JSON values (`.json`, `.ndjson`).
    Json,
    /// JSON with comments (`.jsonc`).
    Jsonc,
    /// TOML (`.toml`).
    Toml,
    /// INI (`.ini`).
    Ini,
    /// dotenv (`.env`, `.env.*`, `*.env`).
    Dotenv,
    /// HCL 2, as Terraform writes it (`.tf`, `.tfvars`, `.hcl`).
    Hcl2,
    /// Dockerfile (`Dockerfile`, `Dockerfile.*`, `*.dockerfile`).
    Dockerfile,
    /// XML (`.xml`).
    Xml,
    /// Java properties (`.properties`).
    Properties,
}

/// `gatehouse check` output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckOutput {
    /// conftest's default: `FAIL - file - namespace - message` lines and a summary.
    Stdout,
    /// An array of per-file, per-namespace results.
    Json,
    /// Test Anything Protocol.
    Tap,
    /// A table of results.
    Table,
    /// JUnit XML, one test suite per namespace.
    Junit,
    /// GitHub Actions workflow annotations.
    Github,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

/// Rego language versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RegoVersion {
    /// Rego v0 (`deny[msg] { ... }`).
    V0,
    /// Rego v1 (`deny contains msg if { ... }`).
    V1,
}

/// `gatehouse playground`.
#[derive(Debug, Args)]
pub struct PlaygroundArgs {
    /// Address to listen on; port 0 picks a free port (the address is printed on stdout).
    #[arg(
        short = 'l',
        long = "listen",
        value_name = "ADDR",
        default_value = "127.0.0.1:8282"
    )]
    pub listen: std::net::SocketAddr,
    /// Evaluation time limit for each query, decision or test.
    #[arg(long = "timeout", value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Largest request accepted (policies, input and data together), in KiB.
    #[arg(long = "max-request-kib", value_name = "KIB", default_value_t = 2048)]
    pub max_request_kib: usize,
    /// Evaluations running at once (default: the number of CPUs); others wait their turn.
    #[arg(long = "max-concurrent", value_name = "N")]
    pub max_concurrent: Option<usize>,
    /// Memory ceiling of each evaluation's worker process, in MiB.
    #[arg(long = "max-memory-mib", value_name = "MIB", default_value_t = 1024)]
    pub max_memory_mib: u64,
    /// Evaluate inside the server process instead of worker processes (faster; only for
    /// trusted users, as nothing then bounds the memory a policy takes).
    #[arg(long = "in-process")]
    pub in_process: bool,
}

/// Parses `250ms`, `2s`, `1m` or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let t = text.trim();
    let (number, unit) = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((t, "ms"), |i| t.split_at(i));
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 500ms or 2s"))?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        _ => {
            return Err(format!(
                "`{text}` has an unknown unit `{unit}`; use ms, s or m"
            ));
        }
    };
    if !(secs.is_finite() && secs > 0.0) {
        return Err(format!("`{text}` must be a positive duration"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(super::parse_duration("250ms").unwrap().as_millis(), 250);
        assert_eq!(super::parse_duration("2s").unwrap().as_secs(), 2);
        assert_eq!(super::parse_duration("40").unwrap().as_millis(), 40);
        assert!(super::parse_duration("soon").is_err());
        assert!(super::parse_duration("0s").is_err());
    }
}
