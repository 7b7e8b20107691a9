//! The pages: overview, sessions, events (with the `log` filters), one record, policy (with
//! explain), integrity. Each handler reads the index under a short read lock, reads the few full
//! records it shows back from the log, and renders an askama template (escaped by default).

use super::Dashboard;
use super::index::{BUCKET_MICROS, Entry, Index, NO_RISK, RISKS, VERDICTS, read_line};
use super::rows::{Row, time_text};
use crate::ledger::VerifyReport;
use crate::ledger::checkpoint::{self, Anchoring, CheckpointReport};
use crate::policy::rules::{Decision, display_argv};
use crate::policy::{Env, Policy};
use crate::ship::WitnessCheck;
use crate::views::filter::{now_us, parse_risk, parse_time as parse_log_time, parse_verdict};
use crate::views::session::{ReplayFilter, SessionView};
use crate::views::source::parse_line;
use crate::views::{Filter as LogFilter, Item, replay};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// Rows per page of the events and sessions tables.
const PAGE: usize = 50;
/// Hours shown by the activity chart.
const HOURS: i64 = 48;

type Shared = State<Arc<Dashboard>>;

fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => error(format!("cannot render the page: {e}")),
    }
}

fn error(msg: String) -> Response {
    let page = ErrorPage {
        nav: "",
        ledger_problem: None,
        title: "Error".into(),
        message: msg,
    };
    let html = page.render().unwrap_or_else(|e| format!("error: {e}"));
    (StatusCode::INTERNAL_SERVER_ERROR, Html(html)).into_response()
}

fn missing(what: String) -> Response {
    let page = ErrorPage {
        nav: "",
        ledger_problem: None,
        title: "Not found".into(),
        message: what,
    };
    let html = page.render().unwrap_or_else(|e| format!("not found: {e}"));
    (StatusCode::NOT_FOUND, Html(html)).into_response()
}

#[derive(Template)]
#[template(path = "dashboard/error.html")]
struct ErrorPage {
    nav: &'static str,
    /// Why the ledger cannot be read right now (said above the page's content).
    ledger_problem: Option<String>,
    title: String,
    message: String,
}

/// Any other path.
pub async fn not_found() -> Response {
    missing("There is no such page.".into())
}

/// Reads full rows for `entries` (newest first as given).
fn rows(d: &Dashboard, entries: &[Entry]) -> anyhow::Result<Vec<Row>> {
    entries.iter().map(|e| d.row(e)).collect()
}

// ---------------------------------------------------------------- overview

/// One bar of a breakdown.
struct Bar {
    label: &'static str,
    count: u64,
    /// Bar length in SVG units (0..=200).
    width: u64,
}

/// One column of the activity chart.
struct Column {
    x: i64,
    calls_h: u64,
    refusals_h: u64,
    label: String,
    calls: u64,
    refusals: u64,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct Overview {
    nav: &'static str,
    /// Why the ledger cannot be read right now (said above the page's content).
    ledger_problem: Option<String>,
    records: u64,
    calls: u64,
    refusals: u64,
    denied: u64,
    asked: u64,
    flagged: u64,
    sessions: usize,
    risks: Vec<Bar>,
    columns: Vec<Column>,
    chart_from: String,
    chart_to: String,
    chart_max: u64,
    recent_refusals: Vec<Row>,
    latest: Vec<Row>,
    newest_seq: Option<u64>,
    integrity: Tip,
}

/// The cheap integrity summary (no full verification).
struct Tip {
    tip: String,
    last_seal: Option<String>,
    sealed: u64,
    unsealed: u64,
    checkpoint: Option<String>,
    /// Records not covered by a (witnessed, else any) checkpoint.
    unanchored: Option<u64>,
    unreadable: u64,
    error: Option<String>,
}

/// `GET /`.
pub async fn overview(State(d): Shared) -> Response {
    d.indexed().await;
    let (page, refused, latest) = {
        let Ok(idx) = d.index.read() else {
            return error("index unavailable".into());
        };
        let max_risk = idx.by_risk[..5].iter().copied().max().unwrap_or(0).max(1);
        let risks = (0..5)
            .rev()
            .map(|i| Bar {
                label: RISKS[i],
                count: idx.by_risk[i],
                width: idx.by_risk[i] * 200 / max_risk,
            })
            .collect();
        let (columns, from, to, max) = activity(&idx);
        let refused: Vec<Entry> = idx
            .refusals
            .iter()
            .rev()
            .take(10)
            .map(|&p| idx.entries()[p as usize])
            .collect();
        let latest: Vec<Entry> = idx.entries().iter().rev().take(10).copied().collect();
        let page = Overview {
            nav: "overview",
            ledger_problem: d.problem(),
            records: idx.entries().len() as u64,
            calls: idx.calls,
            refusals: idx.by_verdict[2] + idx.by_verdict[3],
            denied: idx.by_verdict[3],
            asked: idx.by_verdict[2],
            flagged: idx.by_verdict[1],
            sessions: idx.sessions.len(),
            risks,
            columns,
            chart_from: from,
            chart_to: to,
            chart_max: max,
            recent_refusals: Vec::new(),
            latest: Vec::new(),
            newest_seq: idx.entries().last().map(|e| e.seq),
            integrity: Tip {
                tip: String::new(),
                last_seal: None,
                sealed: 0,
                unsealed: 0,
                checkpoint: None,
                unanchored: None,
                unreadable: idx.unreadable(),
                error: None,
            },
        };
        (page, refused, latest)
    };
    let mut page = page;
    match (rows(&d, &refused), rows(&d, &latest)) {
        (Ok(r), Ok(l)) => {
            page.recent_refusals = r;
            page.latest = l;
        }
        (Err(e), _) | (_, Err(e)) => return error(format!("{e:#}")),
    }
    match crate::ledger::Ledger::open(&d.ledger_dir).and_then(|l| l.status()) {
        Ok(st) => {
            page.integrity.tip = st.tip;
            page.integrity.sealed = st.last_seal.as_ref().map_or(0, |s| s.count);
            page.integrity.last_seal = st.last_seal.map(|s| time_text(s.sealed_at));
            page.integrity.unsealed = st.unsealed;
        }
        Err(e) => page.integrity.error = Some(format!("{e:#}")),
    }
    match checkpoint::anchoring(&d.ledger_dir) {
        Ok(a) => {
            page.integrity.checkpoint = a.checkpoint.map(|(size, time)| {
                format!(
                    "{size} records, signed {}{}",
                    time_text(time as i64 * 1_000_000),
                    if a.witnessed.is_some_and(|w| w.0 == size) {
                        ", witnessed"
                    } else {
                        ""
                    }
                )
            });
            page.integrity.unanchored = Some(a.unanchored_records);
        }
        Err(e) => page.integrity.error = Some(format!("{e:#}")),
    }
    render(&page)
}

/// The last [`HOURS`] hourly buckets up to the newest activity, as chart columns.
fn activity(idx: &Index) -> (Vec<Column>, String, String, u64) {
    let Some((&last, _)) = idx.activity.iter().next_back() else {
        return (Vec::new(), String::new(), String::new(), 0);
    };
    let first = last - HOURS + 1;
    let max = idx
        .activity
        .range(first..=last)
        .map(|(_, b)| b.calls)
        .max()
        .unwrap_or(1)
        .max(1);
    let columns = (first..=last)
        .map(|h| {
            let b = idx.activity.get(&h).copied().unwrap_or_default();
            Column {
                x: (h - first) * 10,
                calls_h: b.calls * 100 / max,
                refusals_h: b.refusals * 100 / max,
                label: time_text(h * BUCKET_MICROS),
                calls: b.calls,
                refusals: b.refusals,
            }
        })
        .collect();
    (
        columns,
        time_text(first * BUCKET_MICROS),
        time_text((last + 1) * BUCKET_MICROS),
        max,
    )
}

// ---------------------------------------------------------------- events

/// The `log` filters, as the events form sends them (empty fields mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct EventQuery {
    pub session: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub risk: Option<String>,
    pub verdict: Option<String>,
    pub action: Option<String>,
    pub door: Option<String>,
    pub tool: Option<String>,
    pub rule: Option<String>,
    pub grep: Option<String>,
    /// Show records older than this seq (the "older" link).
    pub before: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Records parsed per page at most when looking for matches; past it the page offers to go on.
const SCAN_LIMIT: usize = 200_000;

/// What the index can rule out cheaply before the `log` filter looks at a record: a superset
/// of what that filter keeps (it has the last word).
struct Prefilter {
    session: Option<u32>,
    min_risk: Option<u8>,
    verdict: Option<u8>,
    action: Option<u16>,
    since: Option<i64>,
    until: Option<i64>,
    before: Option<u64>,
}

impl Prefilter {
    fn keeps(&self, e: &Entry) -> bool {
        self.session.is_none_or(|s| e.session == s)
            && self
                .min_risk
                .is_none_or(|r| e.risk < NO_RISK && e.risk >= r)
            && self.verdict.is_none_or(|v| e.verdict == v)
            && self.action.is_none_or(|a| e.action == a)
            && self.since.is_none_or(|t| e.ts >= t)
            && self.until.is_none_or(|t| e.ts < t)
            && self.before.is_none_or(|b| e.seq < b)
    }
}

/// Builds the `log` filter from the form and the prefilter from the index; `Ok(None)` when a
/// value names something the ledger has never seen (nothing can match); `Err` is for the form.
fn resolve(q: &EventQuery, idx: &Index) -> Result<Option<(Prefilter, LogFilter)>, String> {
    let err = |e: anyhow::Error| format!("{e:#}");
    let now = now_us();
    let mut f = LogFilter {
        since: given(&q.since)
            .map(|s| parse_log_time(s, now))
            .transpose()
            .map_err(err)?,
        until: given(&q.until)
            .map(|s| parse_log_time(s, now))
            .transpose()
            .map_err(err)?,
        min_risk: given(&q.risk).map(parse_risk).transpose().map_err(err)?,
        verdicts: given(&q.verdict)
            .map(parse_verdict)
            .transpose()
            .map_err(err)?
            .into_iter()
            .collect(),
        actions: given(&q.action).map(str::to_string).into_iter().collect(),
        door: given(&q.door).map(str::to_string),
        tool: given(&q.tool).map(str::to_string),
        rule: given(&q.rule).map(str::to_string),
        grep: given(&q.grep).map(str::to_string),
        ..LogFilter::default()
    };
    let before = given(&q.before)
        .map(|b| {
            b.parse::<u64>()
                .map_err(|_| format!("`before` must be a record number, not `{b}`"))
        })
        .transpose()?;
    // A session by its full id or a unique prefix, as `log --session` takes it.
    let session = match given(&q.session) {
        None => None,
        Some(s) => {
            let slot = idx.session(s).or_else(|| {
                let mut hits = idx
                    .session_ids()
                    .iter()
                    .enumerate()
                    .filter(|(_, x)| x.starts_with(s));
                match (hits.next(), hits.next()) {
                    (Some((i, _)), None) => Some(i as u32),
                    _ => None,
                }
            });
            match slot {
                Some(i) => {
                    f.session = Some(idx.session_id(i as usize).to_string());
                    Some(i)
                }
                None => return Ok(None),
            }
        }
    };
    let action = match f.actions.first() {
        Some(a) => match idx.action(a) {
            Some(i) => Some(i),
            None => return Ok(None),
        },
        None => None,
    };
    let verdict = f
        .verdicts
        .first()
        .and_then(|v| VERDICTS[..4].iter().position(|x| x == v))
        .map(|p| p as u8);
    let pre = Prefilter {
        session,
        min_risk: f.min_risk,
        verdict,
        action,
        since: f.since,
        until: f.until,
        before,
    };
    Ok(Some((pre, f)))
}

#[derive(Template)]
#[template(path = "dashboard/events.html")]
struct Events {
    nav: &'static str,
    /// Why the ledger cannot be read right now (said above the page's content).
    ledger_problem: Option<String>,
    q: EventQuery,
    problem: Option<String>,
    actions: Vec<String>,
    risks: &'static [&'static str],
    verdicts: &'static [&'static str],
    rows: Vec<Row>,
    more: bool,
    older: Option<String>,
    newest_link: Option<String>,
    live: bool,
    newest_seq: u64,
}

impl Events {
    fn val<'a>(&self, v: &'a Option<String>) -> &'a str {
        v.as_deref().unwrap_or("")
    }
}

/// The query string of `q` with `before` replaced.
fn events_link(q: &EventQuery, before: Option<u64>) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("session", &q.session),
        ("since", &q.since),
        ("until", &q.until),
        ("risk", &q.risk),
        ("verdict", &q.verdict),
        ("action", &q.action),
        ("door", &q.door),
        ("tool", &q.tool),
        ("rule", &q.rule),
        ("grep", &q.grep),
    ] {
        if let Some(v) = given(v) {
            s.append_pair(k, v);
        }
    }
    if let Some(b) = before {
        s.append_pair("before", &b.to_string());
    }
    format!("/events?{}", s.finish())
}

/// Newest first: the index rules out what it can, the `log` filter decides on each record.
/// Returns the page's entries and, when there may be more, the seq to continue before.
fn select(
    d: &Dashboard,
    pre: &Prefilter,
    f: &LogFilter,
) -> anyhow::Result<(Vec<Entry>, Option<u64>)> {
    let candidates: Vec<Entry> = {
        let idx = d
            .index
            .read()
            .map_err(|_| anyhow::anyhow!("index unavailable"))?;
        let mut out = Vec::new();
        for e in idx.entries().iter().rev().filter(|e| pre.keeps(e)) {
            out.push(*e);
            if out.len() > SCAN_LIMIT {
                break;
            }
        }
        out
    };
    let mut picked = Vec::with_capacity(PAGE);
    for (i, e) in candidates.iter().enumerate() {
        if i == SCAN_LIMIT {
            return Ok((picked, Some(e.seq + 1)));
        }
        let line = read_line(&d.ledger_dir, e)?;
        let Ok(entry) = parse_line(e.offset, &line) else {
            continue;
        };
        if f.keeps(&Item::single(entry)) {
            if picked.len() == PAGE {
                let last = picked[PAGE - 1].seq;
                return Ok((picked, Some(last)));
            }
            picked.push(*e);
        }
    }
    Ok((picked, None))
}

/// `GET /events`.
pub async fn events(State(d): Shared, Query(q): Query<EventQuery>) -> Response {
    d.indexed().await;
    let (resolved, actions, newest_seq) = {
        let Ok(idx) = d.index.read() else {
            return error("index unavailable".into());
        };
        let mut actions = idx.actions().to_vec();
        actions.sort();
        (
            resolve(&q, &idx),
            actions,
            idx.entries().last().map_or(0, |e| e.seq),
        )
    };
    let (picked, older, problem) = match resolved {
        Err(p) => (Vec::new(), None, Some(p)),
        Ok(None) => (Vec::new(), None, None),
        Ok(Some((pre, f))) => {
            let d2 = Arc::clone(&d);
            match tokio::task::spawn_blocking(move || select(&d2, &pre, &f)).await {
                Ok(Ok((p, o))) => (p, o, None),
                Ok(Err(e)) => return error(format!("{e:#}")),
                Err(e) => return error(format!("{e}")),
            }
        }
    };
    let rows = match rows(&d, &picked) {
        Ok(r) => r,
        Err(e) => return error(format!("{e:#}")),
    };
    let paged = given(&q.before).is_some();
    let page = Events {
        nav: "events",
        ledger_problem: d.problem(),
        older: older.map(|b| events_link(&q, Some(b))),
        more: older.is_some(),
        newest_link: paged.then(|| events_link(&q, None)),
        // The browser re-checks live rows against session, risk, verdict and action only.
        live: !paged
            && problem.is_none()
            && [&q.since, &q.until, &q.door, &q.tool, &q.rule, &q.grep]
                .iter()
                .all(|v| given(v).is_none()),
        q,
        problem,
        actions,
        risks: &RISKS[..5],
        verdicts: &VERDICTS[..4],
        rows,
        newest_seq,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "dashboard/record.html")]
struct RecordPage {
    nav: &'static str,
    /// Why the ledger cannot be read right now (said above the page's content).
    ledger_problem: Option<String>,
    row: Row,
    fields: Vec<(String, String)>,
    prev: Option<u64>,
    next: Option<u64>,
}

/// `GET /events/{seq}`: every member of one record.
pub async fn record(State(d): Shared, Path(seq): Path<String>) -> Response {
    d.indexed().await;
    let Ok(seq) = seq.parse::<u64>() else {
        return missing(format!("`{seq}` is not a record number."));
    };
    let (entry, prev, next) = {
        let Ok(idx) = d.index.read() else {
            return error("index unavailable".into());
        };
        let Some(e) = idx.by_seq(seq).copied() else {
            return missing(format!("The ledger has no record {seq}."));
        };
        let entries = idx.entries();
        let i = entries.partition_point(|x| x.seq < seq);
        let prev = i.checked_sub(1).map(|p| entries[p].seq);
        let next = entries.get(i + 1).map(|x| x.seq);
        (e, prev, next)
    };
    let rec = match super::index::read_record(&d.ledger_dir, &entry) {
        Ok(r) => r,
        Err(e) => return error(format!("{e:#}")),
    };
    let fields = rec
        .fields
        .iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => serde_json::to_string_pretty(other).unwrap_or_default(),
            };
            (k.clone(), text)
        })
        .collect();
    render(&RecordPage {
        nav: "events",
        ledger_problem: d.problem(),
        row: Row::of(&rec),
        fields,
        prev,
        next,
    })
}

// ---------------------------------------------------------------- sessions

struct SessionRow {
    id: String,
    short: String,
    agent: String,
    first: String,
    last: String,
    records: u64,
    refusals: u64,
    worst: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard/sessions.html")]
struct Sessions {
    nav: &'static str,
    /// Why the ledger cannot be read right now (said above the page's content).
    ledger_problem: Option<String>,
    sessions: Vec<SessionRow>,
    total: usize,
    page: usize,
    pages: usize,
}

/// `?page=N`.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    pub page: Option<usize>,
}

/// `GET /sessions`: sessions, most recently active first.
pub async fn sessions(State(d): Shared, Query(q): Query<PageQuery>) -> Response {
    d.indexed().await;
    let Ok(idx) = d.index.read() else {
        return error("index unavailable".into());
    };
    let mut order: Vec<usize> = (0..idx.sessions.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(idx.sessions[i].last_ts));
    let pages = order.len().div_ceil(PAGE).max(1);
    let page = q.page.unwrap_or(1).clamp(1, pages);
    let sessions = order
        .iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .map(|&i| {
            let s = &idx.sessions[i];
            let id = idx.session_id(i);
            // The agent is read from the session's first record.
            let agent = idx
                .entries()
                .get(s.first as usize)
                .and_then(|e| super::index::read_record(&d.ledger_dir, e).ok())
                .and_then(|r| r.str("agent").map(str::to_string))
                .unwrap_or_default();
            SessionRow {
                id: id.to_string(),
                short: id.chars().take(12).collect(),
                agent,
                first: time_text(s.first_ts),
                last: time_text(s.last_ts),
                records: s.records,
                refusals: s.refusals,
                worst: RISKS.get(s.worst as usize).copied().unwrap_or("unknown"),
            }
        })
        .collect();
    let total = idx.sessions.len();
    drop(idx);
    render(&Sessions {
        nav: "sessions",
        ledger_problem: d.problem(),
        sessions,
        total,
        page,
        pages,
    })
}

/// `GET /sessions/{id}`: the session's timeline, the very page `replay --html` writes (the
/// views' session model and template), served with that page's own hash-based CSP.
pub async fn session(State(d): Shared, Path(id): Path<String>) -> Response {
    d.indexed().await;
    let picked: Vec<Entry> = {
        let Ok(idx) = d.index.read() else {
            return error("index unavailable".into());
        };
        let Some(slot) = idx.session(&id) else {
            return missing(format!("The ledger has no session `{id}`."));
        };
        idx.entries()
            .iter()
            .filter(|e| e.session == slot)
            .copied()
            .collect()
    };
    let dir = d.ledger_dir.clone();
    let work = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
        let records = picked
            .iter()
            .map(|e| parse_line(e.offset, &read_line(&dir, e)?))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let sealed = crate::ledger::status_dir(&dir)
            .ok()
            .and_then(|s| s.last_seal)
            .map_or(0, |s| s.count);
        let view = SessionView::build(&id, records, sealed, None);
        replay::html(&view, &ReplayFilter::default())
    })
    .await;
    match work {
        Ok(Ok(html)) => {
            let csp = crate::views::html::csp(crate::views::html::BASE_CSS, replay::REPLAY_JS);
            let mut r = Html(html).into_response();
            if let Ok(v) = HeaderValue::from_str(&csp) {
                r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
            }
            r
        }
        Ok(Err(e)) => error(format!("{e:#}")),
        Err(e) => error(format!("cannot build the timeline: {e}")),
    }
}

// ---------------------------------------------------------------- policy

/// `?tool=…&input=…` of the explain form.
#[derive(Debug, Default, Deserialize)]
pub struct ExplainQuery {
    pub tool: Option<String>,
    pub input: Option<String>,
}

struct RuleRow {
    id: String,
    effect: &'static str,
    reason: String,
}

struct Explained {
    action: String,
    segments: Vec<String>,
    targets: Vec<String>,
    findings: Vec<String>,
    hits: Vec<String>,
    verdict: String,
    risk: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "dashboard/policy.html")]
struct PolicyPage {
    nav: &'static str,
    /// Why the ledger cannot be read right now (said above the page's content).
    ledger_problem: Option<String>,
    name: String,
    source: String,
    hash: String,
    mode: &'static str,
    max_risk: &'static str,
    default_effect: &'static str,
    rules: Vec<RuleRow>,
    text: String,
    tool: String,
    input: String,
    explained: Option<Explained>,
    problem: Option<String>,
}

/// `GET /policy`: the policy in force and `explain` for a typed call (changes nothing).
pub async fn policy(State(d): Shared, Query(q): Query<ExplainQuery>) -> Response {
    let (p, env) = match d.policy() {
        Ok(x) => x,
        Err(e) => return error(format!("cannot load the policy in force: {e:#}")),
    };
    let tool = given(&q.tool).unwrap_or("Bash").to_string();
    let input = q.input.clone().unwrap_or_default();
    let (explained, problem) = match given(&q.input) {
        None => (None, None),
        Some(text) => match explain(&p, &env, &tool, text) {
            Ok(x) => (Some(x), None),
            Err(e) => (None, Some(e)),
        },
    };
    render(&PolicyPage {
        nav: "policy",
        ledger_problem: d.problem(),
        name: p.name.clone(),
        source: p.source().to_string(),
        hash: p.hash().to_string(),
        mode: p.mode.as_str(),
        max_risk: p.max_risk().as_str(),
        default_effect: p.default_effect().as_str(),
        rules: p
            .rules()
            .iter()
            .map(|r| RuleRow {
                id: r.id.clone(),
                effect: r.effect.as_str(),
                reason: r.reason.clone(),
            })
            .collect(),
        text: p.text().to_string(),
        tool,
        input,
        explained,
        problem,
    })
}

/// Classifies and decides one typed call with the policy in force: `policy explain`'s function.
fn explain(p: &Policy, env: &Env, tool: &str, text: &str) -> Result<Explained, String> {
    let x = crate::policy::explain(p, env, tool, text, env.project.clone())
        .map_err(|e| format!("{e:#}"))?;
    let (cls, Decision { verdict, hits }) = (x.classification, x.decision);
    Ok(Explained {
        action: cls.action.map_or("-".into(), |a| a.as_str().to_string()),
        segments: cls.segments.iter().map(|s| display_argv(s)).collect(),
        targets: cls
            .targets
            .iter()
            .map(|t| format!("{} {}", t.action.as_str(), t.value))
            .collect(),
        findings: cls
            .findings
            .iter()
            .map(|f| format!("{} {}", f.risk.as_str(), f.explained()))
            .collect(),
        hits: hits
            .iter()
            .map(|h| format!("{} {}: {}", h.effect.as_str(), h.id, h.evidence.join("; ")))
            .collect(),
        verdict: verdict.effect.as_str().to_string(),
        risk: verdict.risk.as_str().to_string(),
        reason: verdict.reason,
    })
}

// ---------------------------------------------------------------- integrity

/// One stored checkpoint, as the integrity page lists it.
struct CheckpointRow {
    size: u64,
    signed: String,
    root: String,
    witnessed: bool,
}

/// What the integrity page found about the witness.
enum Witness {
    /// `PATCHWORK_WITNESS` is not set.
    NotConfigured,
    Checked(WitnessCheck),
    Failed(String),
}

#[derive(Template)]
#[template(path = "dashboard/integrity.html")]
struct IntegrityPage {
    nav: &'static str,
    /// Why the ledger cannot be read right now (said above the page's content).
    ledger_problem: Option<String>,
    report: Option<VerifyReport>,
    problem: Option<String>,
    key: String,
    seals: Vec<(u64, String, String)>,
    checks: Option<CheckpointReport>,
    checkpoints: Vec<CheckpointRow>,
    /// Anchoring facts, label and text.
    anchoring: Vec<(&'static str, String)>,
    /// What was found about the witness, and whether it is a problem.
    witness: String,
    witness_bad: bool,
    /// Chain, seals, checkpoints and (when configured) the witness all hold.
    intact: bool,
    verdict: &'static str,
    unreadable: u64,
}

impl Witness {
    /// The witness line and whether it is a problem (as `verify --witness` judges: a witness
    /// that diverged, holds nothing of ours or cannot be asked is not evidence).
    fn text(&self) -> (String, bool) {
        match self {
            Witness::NotConfigured => (
                "No witness configured (set PATCHWORK_WITNESS=unix:PATH before starting the dashboard to compare the ledger with a witness's copy).".into(),
                false,
            ),
            Witness::Checked(w) => match w.diverged_at {
                Some(n) => (format!("DIVERGED at size {n}: {}", w.detail), true),
                None if w.checkpoints == 0 => (format!("NO PROOF: {}", w.detail), true),
                None => (w.detail.clone(), false),
            },
            Witness::Failed(e) => (format!("Cannot check the witness: {e}"), true),
        }
    }
}

/// The anchoring facts of the integrity page.
fn anchoring_facts(a: &Anchoring) -> Vec<(&'static str, String)> {
    vec![
        (
            "Newest witnessed checkpoint",
            a.witnessed
                .map_or("none".into(), |(size, _)| format!("{size} records")),
        ),
        (
            "Unanchored tail",
            format!(
                "{} records{}",
                a.unanchored_records,
                a.unanchored_age_secs
                    .map_or(String::new(), |s| format!(", the oldest {s} s old"))
            ),
        ),
        (
            "Witness backlog",
            format!("{} checkpoints", a.witness_backlog),
        ),
    ]
}

/// `GET /integrity`: what `verify` checks, now — every hash, link and seal, every checkpoint
/// (signature, size, root), the witness named by `PATCHWORK_WITNESS` — and the anchoring.
pub async fn integrity(State(d): Shared) -> Response {
    d.indexed().await;
    let unreadable = d.index.read().map(|i| i.unreadable()).unwrap_or(0);
    let d2 = Arc::clone(&d);
    let work = tokio::task::spawn_blocking(move || -> anyhow::Result<IntegrityPage> {
        let dir = &d2.ledger_dir;
        let key = d2.seal_key()?;
        let key_text = match &key {
            Some(k) => format!("seal key {} ({})", k.id(), d2.seal_key_path().display()),
            None => format!(
                "no seal key at {} (seals cannot be checked)",
                d2.seal_key_path().display()
            ),
        };
        let report = crate::ledger::verify_dir(dir, key.as_ref())?;
        let seals = crate::ledger::seal::read_seals(&dir.join(crate::ledger::SEALS_FILE))?
            .into_iter()
            .rev()
            .take(20)
            .filter_map(Result::ok)
            .map(|s| (s.count, time_text(s.sealed_at), s.tip))
            .collect::<Vec<_>>();
        let verifier = d2.checkpoint_verifier()?;
        let checks = checkpoint::check_all(dir, verifier.as_ref())?;
        let checkpoints = checkpoint::list(dir)?
            .into_iter()
            .rev()
            .take(20)
            .filter_map(Result::ok)
            .map(|c| CheckpointRow {
                size: c.size,
                signed: time_text(c.time as i64 * 1_000_000),
                root: c.root,
                witnessed: c.witnessed,
            })
            .collect();
        let witness = match crate::ship::witness_from_env() {
            Ok(None) => Witness::NotConfigured,
            Ok(Some(socket)) => match &verifier {
                Some(v) => match crate::ship::check_against(dir, &socket, v) {
                    Ok(c) => Witness::Checked(c),
                    Err(e) => Witness::Failed(format!("{e:#}")),
                },
                None => Witness::Failed(
                    "no checkpoint key to recognise this ledger's checkpoints".into(),
                ),
            },
            Err(e) => Witness::Failed(format!("{e:#}")),
        };
        let (witness_text, witness_bad) = witness.text();
        let intact = report.intact && checks.problems.is_empty() && !witness_bad;
        let verdict = if intact {
            "✓ Intact: every hash, link, seal and checkpoint checked."
        } else if report.intact {
            "✗ NOT PROVEN: the chain and seals hold, but the checkpoints or the witness do not (see below)."
        } else {
            "✗ DAMAGED: the ledger does not verify."
        };
        Ok(IntegrityPage {
            nav: "integrity",
            ledger_problem: d2.problem(),
            intact,
            verdict,
            report: Some(report),
            problem: None,
            key: key_text,
            seals,
            checks: Some(checks),
            checkpoints,
            anchoring: checkpoint::anchoring(dir)
                .map(|a| anchoring_facts(&a))
                .unwrap_or_default(),
            witness: witness_text,
            witness_bad,
            unreadable,
        })
    })
    .await;
    let page = match work {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => IntegrityPage {
            nav: "integrity",
            ledger_problem: d.problem(),
            report: None,
            problem: Some(format!("{e:#}")),
            key: String::new(),
            seals: Vec::new(),
            checks: None,
            checkpoints: Vec::new(),
            anchoring: Vec::new(),
            witness: String::new(),
            witness_bad: false,
            intact: false,
            verdict: "",
            unreadable,
        },
        Err(e) => return error(format!("verification stopped: {e}")),
    };
    render(&page)
}

// ---------------------------------------------------------------- compliance

/// `?framework=ID` (empty: all).
#[derive(Debug, Default, Deserialize)]
pub struct ComplianceQuery {
    pub framework: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard/compliance.html")]
struct CompliancePage {
    nav: &'static str,
    /// Why the ledger cannot be read right now (said above the page's content).
    ledger_problem: Option<String>,
    framework: String,
    /// Id, name, selected.
    frameworks: Vec<(&'static str, &'static str, bool)>,
    report: Option<Arc<crate::compliance::Report>>,
    /// The policy whose rules were inspected.
    policy: String,
    problem: Option<String>,
}

/// `GET /compliance`: `report --include-gaps` through the compliance engine itself
/// ([`crate::compliance::evaluate`]), kept until the ledger grows.
pub async fn compliance(State(d): Shared, Query(q): Query<ComplianceQuery>) -> Response {
    use crate::compliance::catalogue::{FRAMEWORKS, framework};
    let chosen = given(&q.framework).unwrap_or("").to_ascii_lowercase();
    let frameworks = FRAMEWORKS
        .iter()
        .map(|f| (f.id, f.name, f.id == chosen))
        .collect::<Vec<_>>();
    let page = |report: Option<Arc<crate::compliance::Report>>, problem| CompliancePage {
        nav: "compliance",
        ledger_problem: d.problem(),
        framework: chosen.clone(),
        frameworks: frameworks.clone(),
        policy: report
            .as_ref()
            .and_then(|r| r.loaded_policy.as_ref())
            .map_or("none loaded".into(), |(name, hash)| {
                format!("{name} ({hash})")
            }),
        report,
        problem,
    };
    if !chosen.is_empty() && framework(&chosen).is_none() {
        return render(&page(
            None,
            Some(format!("There is no framework `{chosen}`.")),
        ));
    }
    let d2 = Arc::clone(&d);
    let fw = chosen.clone();
    let work = tokio::task::spawn_blocking(move || d2.compliance_report(&fw)).await;
    match work {
        Ok(Ok(r)) => render(&page(Some(r), None)),
        Ok(Err(e)) => render(&page(None, Some(format!("cannot evaluate: {e:#}")))),
        Err(e) => error(format!("evaluation stopped: {e}")),
    }
}
