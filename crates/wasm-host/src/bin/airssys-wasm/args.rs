//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::payload::Message;

#[derive(Debug, Parser)]
#[command(
    name = "airssys-wasm",
    version,
    about = "Run WebAssembly components as isolated, supervised actors",
    after_help = "Exit codes: 0 success, 64 usage error, 65 invalid input (manifest, component, \
                  component id, payload file), 70 runtime failure.\n\
                  Logs go to standard error; the level comes from RUST_LOG (default: info)."
)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,

    /// Keep compiled components in this directory, so the next start skips compiling them
    /// (default: `$XDG_CACHE_HOME/airssys-wasm`, else `~/.cache/airssys-wasm`).
    #[arg(long, value_name = "DIR", env = "AIRSSYS_CACHE_DIR", global = true)]
    pub cache_dir: Option<PathBuf>,

    /// Compile every component afresh and keep nothing on disk (over --cache-dir and
    /// AIRSSYS_CACHE_DIR).
    #[arg(long, global = true)]
    pub no_cache: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the system of a manifest and run it until Ctrl-C, SIGTERM or idle.
    Run(RunArgs),
    /// Start the system, make one request, print the reply, stop; or, with --cluster, ask a
    /// component running anywhere in a cluster, starting none.
    Call(CallArgs),
    /// Check a manifest and every component it names, without running anything.
    Validate(ValidateArgs),
    /// Print a component's imports, exports and metadata.
    Inspect(InspectArgs),
    /// Write a new component project (Rust, Python or JavaScript) with a manifest to run it.
    New(NewArgs),
    /// Talk to a running host's admin endpoint (`run --admin`): list, show, call, send,
    /// stop, start and upgrade its components; or, with --cluster, list every component of
    /// a cluster with its host.
    Ctl(CtlArgs),
    /// Join a cluster with no manifest and run whatever the cluster places here.
    Host(HostArgs),
    /// Deploy a manifest's components to a cluster as one application (again: apply what
    /// changed, live-upgrading changed code).
    Deploy(DeployArgs),
    /// Remove an application from a cluster: its components stop wherever they run.
    Undeploy(UndeployArgs),
}

/// Which cluster: its NATS servers and its name.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// The cluster's NATS server(s), `nats://host:port` (comma-separated for several).
    #[arg(long = "cluster", value_name = "URL")]
    pub url: String,
    /// The cluster's name.
    #[arg(long, value_name = "CLUSTER", default_value = DEFAULT_CLUSTER)]
    pub name: String,
    /// Replicas of the cluster's buckets if this command is the first to make them (3 on a
    /// three-server NATS cluster).
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// Authenticate with this NATS `.creds` file (JWT and nkey seed).
    #[arg(long, value_name = "FILE", conflicts_with = "nats_token")]
    pub creds: Option<PathBuf>,
    /// Authenticate with this NATS token.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "AIRSSYS_NATS_TOKEN",
        hide_env_values = true
    )]
    pub nats_token: Option<String>,
}

impl ClusterArgs {
    /// The cluster settings of a process named `host` (checked).
    pub fn config(&self, host: &str) -> anyhow::Result<wasm_host::ClusterConfig> {
        let urls = self.urls();
        let first = urls
            .first()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("--cluster names no NATS server"))?;
        let mut config = wasm_host::ClusterConfig::new(first, host, self.name.as_str());
        config.urls = urls;
        config.replicas = self.replicas;
        if let Some(file) = &self.creds {
            config.auth = wasm_host::ClusterAuth::CredentialsFile(file.clone());
        } else if let Some(token) = &self.nats_token {
            config.auth = wasm_host::ClusterAuth::Token(token.clone());
        }
        Ok(config)
    }

    /// The server URLs.
    pub fn urls(&self) -> Vec<String> {
        self.url
            .split(',')
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty())
            .collect()
    }
}

/// The admin endpoint of a host that runs (`run`, `host`).
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Serve the admin endpoint (metrics, health, inventory, operations) on this address,
    /// e.g. `127.0.0.1:9100` (over a manifest's `[host] admin`).
    #[arg(long = "admin", value_name = "ADDR")]
    pub addr: Option<std::net::SocketAddr>,
    /// The bearer token of the admin endpoint's operations; needed when the address is not
    /// loopback.
    #[arg(
        long = "admin-token",
        value_name = "TOKEN",
        env = "AIRSSYS_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct HostArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// This host's name in the cluster (unique: a second live process of the name is
    /// refused).
    #[arg(long = "host", value_name = "NAME")]
    pub host: String,
    /// A label of this host, `key=value` (repeatable): deployed components that name label
    /// constraints (`hosts = ["zone=a"]`) run only on hosts with them.
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// This host's lease in milliseconds: when it lapses, its components start elsewhere.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub lease_ms: u64,
    /// How long a host whose lease lapsed is waited for before it is given up, in ms.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    pub give_up_ms: u64,
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Meter fuel, so that deployed components may set `max_fuel`.
    #[arg(long)]
    pub fuel: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The application's manifest (TOML, without `[cluster]`).
    pub manifest: PathBuf,
    /// The application's name (default: the manifest's file name without `.toml`).
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Wait this many seconds for every component to run, then print where each runs
    /// (0: do not wait).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub wait: u64,
}

#[derive(Debug, Args)]
pub struct UndeployArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// The application's name.
    pub app: String,
}

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The admin endpoint, e.g. `http://127.0.0.1:9100`.
    #[arg(
        long,
        value_name = "URL",
        env = "AIRSSYS_ADMIN",
        required_unless_present = "cluster"
    )]
    pub admin: Option<String>,
    /// With `ls`: list every component of the cluster on these NATS server(s) instead, with
    /// its host, state and epoch, and why a deployed one waits.
    #[arg(long, value_name = "URL", conflicts_with = "admin")]
    pub cluster: Option<String>,
    /// The cluster's name, with --cluster.
    #[arg(long, value_name = "CLUSTER", requires = "cluster", default_value = DEFAULT_CLUSTER)]
    pub name: String,
    /// With --cluster: authenticate with this NATS `.creds` file.
    #[arg(
        long,
        value_name = "FILE",
        requires = "cluster",
        conflicts_with = "nats_token"
    )]
    pub creds: Option<PathBuf>,
    /// With --cluster: authenticate with this NATS token.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "AIRSSYS_NATS_TOKEN",
        hide_env_values = true
    )]
    pub nats_token: Option<String>,
    /// The bearer token for operations (stop, start, upgrade, call, send).
    #[arg(
        long,
        value_name = "TOKEN",
        env = "AIRSSYS_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Print the endpoint's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub verb: CtlVerb,
}

#[derive(Debug, Subcommand)]
pub enum CtlVerb {
    /// List the host's components.
    Ls,
    /// Show one component: metadata, state, mailbox, counts, grants.
    Show {
        /// The component id.
        id: String,
    },
    /// Make a request and print the reply (`@<file>` sends a file's contents).
    Call {
        /// The component id.
        id: String,
        /// The payload.
        payload: String,
    },
    /// Send a fire-and-forget message.
    Send {
        /// The component id.
        id: String,
        /// The payload.
        payload: String,
    },
    /// Stop a component (it can be started again).
    Stop {
        /// The component id.
        id: String,
    },
    /// Start a component the host stopped.
    Start {
        /// The component id.
        id: String,
    },
    /// Switch a component to new code without losing a message.
    Upgrade {
        /// The component id.
        id: String,
        /// The new `.wasm` file.
        file: PathBuf,
    },
}

/// The language of a new component project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    /// Rust with wit-bindgen, built for wasm32-wasip2.
    Rust,
    /// Python with componentize-py.
    Python,
    /// JavaScript with componentize-js.
    Js,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The project directory to create (new or empty).
    pub dir: PathBuf,
    /// The language.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The component's name (default: the directory's name).
    #[arg(long)]
    pub name: Option<String>,
}

/// Options shared by the commands that start a system.
#[derive(Debug, Args)]
pub struct SystemArgs {
    /// The manifest (TOML).
    pub manifest: PathBuf,
    /// Use this storage database file instead of the manifest's `[host] storage`.
    #[arg(long, value_name = "FILE")]
    pub storage: Option<PathBuf>,
    /// Join the manifest's `[cluster]` on this NATS server instead of its `url`.
    #[arg(long, value_name = "URL")]
    pub cluster_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub system: SystemArgs,
    /// Send a message once started: `<component-id>=<payload>`; `@<file>` as payload sends
    /// the file's contents. Repeatable, sent in order.
    #[arg(long, value_name = "ID=PAYLOAD")]
    pub send: Vec<Message>,
    /// Make a request once started and print its reply: `<component-id>=<payload>`.
    /// Repeatable, made in order after the sends.
    #[arg(long, value_name = "ID=PAYLOAD")]
    pub request: Vec<Message>,
    /// Stop when nothing is left to do (no message queued or in a call, no request pending).
    #[arg(long)]
    pub exit_when_idle: bool,
    /// With --exit-when-idle: once idle, make this request and print its reply in the summary
    /// (for example a component's totals). Repeatable.
    #[arg(long, value_name = "ID=PAYLOAD", requires = "exit_when_idle")]
    pub report: Vec<Message>,
    #[command(flatten)]
    pub admin: AdminArgs,
    /// Serve the manifest's `[[http]]` routes on this address, e.g. `127.0.0.1:8080` (over
    /// the manifest's `[host] http`). HTTP/1.1 and HTTP/2, no TLS: put a proxy in front.
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Upgrade a component when its `.wasm` file changes on disk, and apply the manifest
    /// when it changes (components added, removed or changed are started, stopped or
    /// upgraded).
    #[arg(long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// Ask a component running anywhere in the cluster on this NATS server
    /// (`nats://host:port`): no manifest is read and no component is started.
    #[arg(long, value_name = "URL")]
    pub cluster: Option<String>,
    /// The cluster's name, with --cluster.
    #[arg(long, value_name = "CLUSTER", requires = "cluster", default_value = DEFAULT_CLUSTER)]
    pub name: String,
    /// Use this storage database file instead of the manifest's `[host] storage`.
    #[arg(long, value_name = "FILE", conflicts_with = "cluster")]
    pub storage: Option<PathBuf>,
    /// `<manifest> <component-id> <payload>`, or with --cluster `<component-id> <payload>`.
    /// A payload `@<file>` sends the file's contents.
    #[arg(required = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

/// The cluster name when none is given (as in a manifest's `[cluster]`).
pub const DEFAULT_CLUSTER: &str = "default";

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The manifest (TOML).
    pub manifest: PathBuf,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The component file.
    pub component: PathBuf,
}
