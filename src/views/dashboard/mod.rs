//! `dashboard`: a local, live, read-only web window onto the ledger.
//!
//! Bound to 127.0.0.1 only, or to a Unix socket only this user can reach; the printed URL carries a fresh random token that is exchanged for
//! an HttpOnly, SameSite=Strict cookie ([`guard`]); GET only; strict CSP; every asset is
//! compiled into the binary. An incremental [`index`] of the ledger, kept current by a tail
//! thread ([`live`]), serves the pages ([`pages`]) and the Server-Sent Events stream.

mod assets;
pub mod guard;
pub mod index;
mod live;
mod pages;
mod rows;

use crate::compliance::{self, Report};
use crate::home::Home;
use crate::ledger::SealKey;
use crate::policy::{Env, Policy};
use anyhow::{Context, Result};
use axum::Router;
use axum::routing::get;
use index::{Entry, Index};
use live::{Live, Message};
use rows::Row;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::{broadcast, watch};

/// How the dashboard is started.
#[derive(Debug, Clone)]
pub struct Options {
    pub home: Home,
    /// `--policy` of the command line (the policy page shows what it resolves to).
    pub policy: Option<String>,
    /// Port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Serve on this Unix socket instead of a port.
    pub socket: Option<PathBuf>,
    /// Open the URL in the desktop's browser.
    pub open: bool,
}

/// The state every page reads.
pub struct Dashboard {
    pub home: Home,
    pub policy: Option<String>,
    pub ledger_dir: PathBuf,
    /// The ledger and its saved index (`state/views/`, shared with `log` and `replay`).
    source: crate::views::Source,
    pub index: RwLock<Index>,
    live: broadcast::Sender<Message>,
    ready: watch::Sender<bool>,
    /// Why the ledger cannot be read right now (shown on every page until the tail thread,
    /// which keeps trying, reads it again).
    problem: RwLock<Option<String>>,
    /// The last compliance report: log length, framework, report.
    compliance: Mutex<Option<(u64, String, Arc<Report>)>>,
}

impl Dashboard {
    fn new(home: Home, policy: Option<String>) -> Dashboard {
        let ledger_dir = home.ledger_dir();
        Dashboard {
            index: RwLock::new(Index::default()),
            source: crate::views::Source::for_home(&home),
            ledger_dir,
            home,
            policy,
            live: broadcast::channel(live::BACKLOG).0,
            ready: watch::channel(false).0,
            problem: RwLock::new(None),
            compliance: Mutex::new(None),
        }
    }

    fn mark_ready(&self) {
        self.ready.send_if_modified(|r| !std::mem::replace(r, true));
    }

    /// Records why the ledger cannot be read (`None`: it can); returns whether that changed.
    fn set_problem(&self, problem: Option<String>) -> bool {
        match self.problem.write() {
            Ok(mut p) if *p != problem => {
                *p = problem;
                true
            }
            _ => false,
        }
    }

    /// Why the ledger cannot be read right now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        self.problem.read().ok().and_then(|p| p.clone())
    }

    /// Waits until the ledger has been looked at once (indexed, or found unreadable).
    pub async fn indexed(&self) {
        let mut rx = self.ready.subscribe();
        let _ = rx.wait_for(|r| *r).await;
    }

    /// The table row of the record behind `e` (read back from the log).
    pub fn row(&self, e: &Entry) -> Result<Row> {
        index::read_record(&self.ledger_dir, e).map(|r| Row::of(&r))
    }

    /// The seal key, if this home has one.
    pub fn seal_key(&self) -> Result<Option<SealKey>> {
        let path = self.seal_key_path();
        Ok(if path.exists() {
            Some(SealKey::load(&path)?)
        } else {
            None
        })
    }

    fn seal_key_path(&self) -> PathBuf {
        self.home.keys_dir().join("seal.key")
    }

    /// The verifying key of this home's checkpoint key, if it has one.
    pub fn checkpoint_verifier(&self) -> Result<Option<crate::ledger::note::NoteVerifier>> {
        crate::ledger::checkpoint::own_verifier(&self.home.keys_dir())
    }

    /// The policy in force, loaded as the CLI loads it: `--policy`, else the configured one,
    /// with paths relative to the project the dashboard was started in.
    pub fn policy(&self) -> Result<(Policy, Env)> {
        let project = std::env::var_os("CLAUDE_PROJECT_DIR")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .map_or_else(std::env::current_dir, Ok)?;
        let env = Env::new(self.home.root(), &project);
        Ok((Policy::load(self.policy.as_deref(), &env)?, env))
    }

    /// `report --framework F --include-gaps` of the whole ledger (`framework` empty: all), by
    /// the compliance engine itself; reused while the log keeps its length.
    pub fn compliance_report(&self, framework: &str) -> Result<Arc<Report>> {
        let len =
            std::fs::metadata(self.ledger_dir.join(crate::ledger::LOG_FILE)).map_or(0, |m| m.len());
        if let Ok(cached) = self.compliance.lock()
            && let Some((l, f, r)) = &*cached
            && *l == len
            && f == framework
        {
            return Ok(Arc::clone(r));
        }
        let key = self.seal_key()?;
        // Like `report`: without a policy the rule-based predicates do not hold.
        let policy = self.policy().ok().map(|(p, _)| p);
        let opts = compliance::Options {
            frameworks: [framework]
                .into_iter()
                .filter(|f| !f.is_empty())
                .map(str::to_string)
                .collect(),
            include_gaps: true,
            ..compliance::Options::default()
        };
        let verifier = self.checkpoint_verifier()?;
        let report = Arc::new(compliance::evaluate(
            &self.ledger_dir,
            key.as_ref(),
            verifier.as_ref(),
            policy.as_ref(),
            &opts,
        )?);
        if let Ok(mut cached) = self.compliance.lock() {
            *cached = Some((len, framework.to_string(), Arc::clone(&report)));
        }
        Ok(report)
    }

    /// Rows of the (at most `max` newest) records after `seq`.
    fn rows_after(&self, seq: u64, max: usize) -> Vec<Arc<Live>> {
        let (entries, generation) = match self.index.read() {
            Ok(idx) => {
                let entries = idx.entries();
                let from = entries.partition_point(|e| e.seq <= seq);
                let from = from.max(entries.len().saturating_sub(max));
                (entries[from..].to_vec(), idx.generation)
            }
            Err(_) => return Vec::new(),
        };
        entries
            .iter()
            .filter_map(|e| self.row(e).ok())
            .map(|row| Arc::new(Live { generation, row }))
            .collect()
    }
}

/// Runs the dashboard until the process is stopped (SIGINT or SIGTERM: a socket is removed).
pub fn run(opts: Options) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let code = rt.block_on(serve(opts));
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

async fn serve(opts: Options) -> Result<i32> {
    if opts.socket.is_some() && opts.open {
        anyhow::bail!(
            "--open needs a browser that can reach the dashboard: with --socket, start a local \
             proxy to the socket first and open the printed URL through it"
        );
    }
    let d = Arc::new(Dashboard::new(opts.home.clone(), opts.policy.clone()));
    let listener = match &opts.socket {
        None => {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, opts.port));
            let tcp = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr}"))?;
            let access = guard::Access::new(tcp.local_addr()?.port())?;
            Listening::Tcp(tcp, access)
        }
        Some(path) => {
            let sock = crate::unix_socket::bind(path)?;
            let access = guard::Access::for_socket(path)?;
            Listening::Socket(SocketListener(sock), access)
        }
    };
    {
        let d = Arc::clone(&d);
        std::thread::Builder::new()
            .name("dashboard-tail".into())
            .spawn(move || live::tail(d))?;
    }
    println!(
        "patchwork-gateway dashboard (read-only) for {}",
        d.ledger_dir.display()
    );
    let stopped = match listener {
        Listening::Tcp(tcp, access) => {
            let url = access.login_url();
            println!("{url}");
            flush_stdout()?;
            if opts.open {
                open_browser(&url);
            }
            let app = router(d, Arc::new(access));
            until_stopped(axum::serve(tcp, app)).await?
        }
        Listening::Socket(sock, access) => {
            let path = sock.0.path().display().to_string();
            println!(
                "listening on the Unix socket {path} (mode 0600: this user only). Reach it with \
                 `curl --unix-socket {path} URL`, or from a browser through a local proxy (e.g. \
                 `ssh -L 8080:{path} HOST`) and the URL with the proxy's port:"
            );
            println!("{}", access.login_url());
            flush_stdout()?;
            let app = router(d, Arc::new(access));
            // Dropping the listener when stopped removes the socket file.
            until_stopped(axum::serve(sock, app)).await?
        }
    };
    eprintln!("patchwork-gateway dashboard: stopped by {stopped}");
    Ok(0)
}

/// Where the dashboard listens, with the access rules for that place.
enum Listening {
    Tcp(tokio::net::TcpListener, guard::Access),
    Socket(SocketListener, guard::Access),
}

/// The dashboard's Unix socket as axum serves it: peers of other users are closed on accept.
struct SocketListener(crate::unix_socket::OwnSocket);

impl axum::serve::Listener for SocketListener {
    type Io = tokio::net::UnixStream;
    type Addr = PathBuf;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(Some(s)) => return (s, self.0.path().to_path_buf()),
                Ok(None) => {}
                Err(e) => {
                    // Out of descriptors and the like: back off briefly instead of spinning.
                    tracing::error!("dashboard: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<PathBuf> {
        Ok(self.0.path().to_path_buf())
    }
}

/// Runs `server` until it fails or SIGINT/SIGTERM arrives; returns the signal's name. The
/// server (and its listener) is dropped either way.
async fn until_stopped(
    server: impl std::future::IntoFuture<Output = std::io::Result<()>>,
) -> Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        r = server.into_future() => {
            r.context("dashboard server failed")?;
            anyhow::bail!("dashboard server stopped")
        }
        _ = term.recv() => Ok("SIGTERM"),
        _ = int.recv() => Ok("SIGINT"),
    }
}

fn flush_stdout() -> Result<()> {
    use std::io::Write;
    std::io::stdout().flush()?;
    Ok(())
}

fn router(d: Arc<Dashboard>, access: Arc<guard::Access>) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/sessions", get(pages::sessions))
        .route("/sessions/{id}", get(pages::session))
        .route("/events", get(pages::events))
        .route("/events/{seq}", get(pages::record))
        .route("/policy", get(pages::policy))
        .route("/compliance", get(pages::compliance))
        .route("/integrity", get(pages::integrity))
        .route("/live", get(live::stream_records))
        .route("/assets/{name}", get(assets::serve))
        .fallback(pages::not_found)
        .with_state(d)
        .layer(axum::middleware::from_fn_with_state(access, guard::check))
}

/// Hands `url` to the desktop's opener; a failure is reported, not fatal (the URL is printed).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => {}
        Err(e) => eprintln!("cannot start {opener} ({e}); open the URL above yourself"),
    }
}
