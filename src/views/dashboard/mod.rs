//! `dashboard`: a local, live, read-only web window onto the ledger.
//!
//! Bound to 127.0.0.1 only; the printed URL carries a fresh random token that is exchanged for
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
use live::Live;
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
    live: broadcast::Sender<Arc<Live>>,
    ready: watch::Sender<bool>,
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
            compliance: Mutex::new(None),
        }
    }

    fn mark_ready(&self) {
        self.ready.send_if_modified(|r| !std::mem::replace(r, true));
    }

    /// Waits until the ledger has been indexed once.
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
        let report = Arc::new(compliance::evaluate(
            &self.ledger_dir,
            key.as_ref(),
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

/// Runs the dashboard until the process is stopped.
pub fn run(opts: Options) -> Result<i32> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(serve(opts))
}

async fn serve(opts: Options) -> Result<i32> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, opts.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let port = listener.local_addr()?.port();
    let access = Arc::new(guard::Access::new(port)?);
    let d = Arc::new(Dashboard::new(opts.home.clone(), opts.policy.clone()));
    {
        let d = Arc::clone(&d);
        std::thread::Builder::new()
            .name("dashboard-tail".into())
            .spawn(move || live::tail(d))?;
    }
    let app = router(Arc::clone(&d), access.clone());
    let url = access.login_url();
    println!(
        "patchwork-gateway dashboard (read-only) for {}",
        d.ledger_dir.display()
    );
    println!("{url}");
    use std::io::Write;
    std::io::stdout().flush()?;
    if opts.open {
        open_browser(&url);
    }
    axum::serve(listener, app)
        .await
        .context("dashboard server failed")?;
    Ok(0)
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
