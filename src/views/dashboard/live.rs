//! Keeping the index current and telling browsers: a thread tails the ledger (every
//! [`POLL`]), adds new lines to the index and broadcasts their rows; `/live` streams them to the
//! browser as Server-Sent Events.

use super::Dashboard;
use super::index::Index;
use super::rows::Row;
use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// How often the ledger is looked at for new records.
pub const POLL: Duration = Duration::from_millis(200);

/// Rows kept for slow browsers before they are told to reload.
pub const BACKLOG: usize = 1024;

/// How often new entries are saved to the index folder at most.
const SAVE_EVERY: Duration = Duration::from_secs(2);

/// Loads the saved index (or builds it), then tails the ledger for as long as the process runs.
/// While the ledger cannot be read (at start, or later) every page says why, and each tick
/// tries again; once it can, open pages are told to reload.
pub fn tail(d: Arc<Dashboard>) {
    let mut loaded = false;
    let mut saved = Instant::now();
    loop {
        if !loaded {
            loaded = load(&d);
        } else {
            let result = step(&d);
            report(&d, result.err());
            if saved.elapsed() >= SAVE_EVERY {
                saved = Instant::now();
                if let Ok(mut idx) = d.index.write()
                    && let Err(e) = idx.save()
                {
                    tracing::debug!("dashboard: cannot save the index: {e:#}");
                }
            }
        }
        d.mark_ready();
        std::thread::sleep(POLL);
    }
}

/// One attempt at the first index; true when it succeeded.
fn load(d: &Dashboard) -> bool {
    match Index::load(&d.source) {
        Ok(idx) => {
            if let Ok(mut slot) = d.index.write() {
                *slot = idx;
            }
            // Pages rendered while the ledger was unreadable are empty: have them reload.
            if d.problem().is_some() {
                let _ = d.live.send(Message::Reload);
            }
            report(d, None);
            true
        }
        Err(e) => {
            report(d, Some(e));
            false
        }
    }
}

/// Shows (and logs, once) why the ledger cannot be read, or clears it.
fn report(d: &Dashboard, err: Option<anyhow::Error>) {
    let text = err.map(|e| format!("cannot read the ledger: {e:#}"));
    if d.set_problem(text.clone()) {
        match text {
            Some(t) => tracing::warn!("dashboard: {t} (trying again every {POLL:?})"),
            None => tracing::info!("dashboard: the ledger is readable"),
        }
    }
}

/// One look at the ledger: index what was appended and broadcast it (a log that was repaired
/// or replaced tells pages to reload instead).
pub fn step(d: &Dashboard) -> anyhow::Result<()> {
    let (fresh, generation) = {
        let mut idx = d
            .index
            .write()
            .map_err(|_| anyhow::anyhow!("index poisoned"))?;
        let before_gen = idx.generation;
        let before = idx.entries().len();
        idx.catch_up()?;
        if idx.generation != before_gen {
            drop(idx);
            let _ = d.live.send(Message::Reload);
            return Ok(());
        }
        // Only the newest rows are sent: a browser that falls behind by more reloads anyway.
        let entries = idx.entries();
        let from = before.max(entries.len().saturating_sub(BACKLOG));
        (entries[from..].to_vec(), idx.generation)
    };
    if d.live.receiver_count() == 0 {
        return Ok(());
    }
    for e in fresh {
        match d.row(&e) {
            Ok(row) => {
                let _ = d
                    .live
                    .send(Message::Record(Arc::new(Live { generation, row })));
            }
            Err(err) => tracing::warn!("dashboard: record {}: {err:#}", e.seq),
        }
    }
    Ok(())
}

/// What the tail thread tells the open pages.
#[derive(Debug, Clone)]
pub enum Message {
    /// A new record.
    Record(Arc<Live>),
    /// What the pages show no longer holds (the ledger became readable, or was repaired):
    /// reload.
    Reload,
}

/// One record as sent to browsers.
#[derive(Debug, serde::Serialize)]
pub struct Live {
    /// Index generation: a change means the log was repaired and pages should reload.
    pub generation: u64,
    #[serde(flatten)]
    pub row: Row,
}

/// `/live?after=SEQ`.
#[derive(Debug, Deserialize)]
pub struct LiveQuery {
    /// Only records after this seq (the newest one the page already shows).
    pub after: Option<u64>,
}

/// `GET /live`: the event stream of new records. Records the page missed between its render and
/// this request (newer than `after`) are sent first, then each new one once.
pub async fn stream_records(
    State(d): State<Arc<Dashboard>>,
    Query(q): Query<LiveQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = d.live.subscribe();
    let missed: VecDeque<Arc<Live>> = match q.after {
        Some(after) => d.rows_after(after, BACKLOG).into_iter().collect(),
        None => VecDeque::new(),
    };
    let last = missed.back().map(|l| l.row.seq).or(q.after);
    let s = stream::unfold(
        (rx, last, missed),
        |(mut rx, mut last, mut missed)| async move {
            loop {
                let live = match missed.pop_front() {
                    Some(l) => l,
                    None => match rx.recv().await {
                        Ok(Message::Record(l)) => l,
                        Ok(Message::Reload) => {
                            let ev = Event::default().event("reload").data("reload");
                            return Some((Ok(ev), (rx, last, missed)));
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            let ev = Event::default().event("lagged").data("reload");
                            return Some((Ok(ev), (rx, last, missed)));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                };
                if last.is_some_and(|a| live.row.seq <= a) {
                    continue;
                }
                last = Some(live.row.seq);
                let ev = Event::default()
                    .event("record")
                    .id(live.row.seq.to_string())
                    .json_data(&*live)
                    .unwrap_or_else(|_| Event::default().event("error"));
                return Some((Ok(ev), (rx, last, missed)));
            }
        },
    );
    Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
