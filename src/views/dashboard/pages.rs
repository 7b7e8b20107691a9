//! The pages: overview, sessions, events (with the `log` filters), one record, policy (with
//! explain), integrity. Each handler reads the index under a short read lock, reads the few full
//! records it shows back from the log, and renders an askama template (escaped by default).

use super::Dashboard;
use super::index::{BUCKET_MICROS, Entry, Index, RISKS, VERDICTS};
use super::rows::{Row, time_text};
use crate::call::{Door, ToolCall};
use crate::ledger::{SealKey, VerifyReport};
use crate::policy::rules::{Decision, display_argv};
use crate::policy::{Env, Policy, classify};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
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
        title: "Error".into(),
        message: msg,
    };
    let html = page.render().unwrap_or_else(|e| format!("error: {e}"));
    (StatusCode::INTERNAL_SERVER_ERROR, Html(html)).into_response()
}

fn missing(what: String) -> Response {
    let page = ErrorPage {
        nav: "",
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
            .map(|&p| idx.entries[p as usize])
            .collect();
        let latest: Vec<Entry> = idx.entries.iter().rev().take(10).copied().collect();
        let page = Overview {
            nav: "overview",
            records: idx.entries.len() as u64,
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
            newest_seq: idx.entries.last().map(|e| e.seq),
            integrity: Tip {
                tip: String::new(),
                last_seal: None,
                sealed: 0,
                unsealed: 0,
                checkpoint: None,
                unreadable: idx.unreadable,
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
    pub risk: Option<String>,
    pub verdict: Option<String>,
    pub action: Option<String>,
    pub since: Option<String>,
    /// Show records older than this seq (the "older" link).
    pub before: Option<String>,
}

fn given(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The filters resolved against the index; `None` when a filter names something the ledger
/// has never seen (so nothing can match).
struct Filter {
    session: Option<u32>,
    min_risk: Option<u8>,
    verdict: Option<u8>,
    action: Option<u16>,
    since: Option<i64>,
    before: Option<u64>,
}

impl Filter {
    fn keeps(&self, e: &Entry) -> bool {
        self.session.is_none_or(|s| e.session == s)
            && self.min_risk.is_none_or(|r| e.risk < 5 && e.risk >= r)
            && self.verdict.is_none_or(|v| e.verdict == v)
            && self.action.is_none_or(|a| e.action == a)
            && self.since.is_none_or(|t| e.ts >= t)
            && self.before.is_none_or(|b| e.seq < b)
    }
}

/// Resolves the query; `Err` is a message for the form.
fn resolve(q: &EventQuery, idx: &Index) -> Result<Option<Filter>, String> {
    let min_risk = match given(&q.risk) {
        Some(r) => Some(
            RISKS[..5]
                .iter()
                .position(|x| x.eq_ignore_ascii_case(r))
                .ok_or(format!(
                    "unknown risk `{r}` (none, low, medium, high, critical)"
                ))? as u8,
        ),
        None => None,
    };
    let verdict = match given(&q.verdict) {
        Some(v) => Some(
            VERDICTS[..4]
                .iter()
                .position(|x| x.eq_ignore_ascii_case(v))
                .ok_or(format!("unknown verdict `{v}` (allow, flag, ask, deny)"))?
                as u8,
        ),
        None => None,
    };
    let since = match given(&q.since) {
        Some(s) => Some(parse_time(s)?),
        None => None,
    };
    let before = match given(&q.before) {
        Some(b) => Some(
            b.parse::<u64>()
                .map_err(|_| format!("`before` must be a record number, not `{b}`"))?,
        ),
        None => None,
    };
    let session = match given(&q.session) {
        Some(s) => match idx.session(s) {
            Some(i) => Some(i),
            None => return Ok(None),
        },
        None => None,
    };
    let action = match given(&q.action) {
        Some(a) => match idx.action(a) {
            Some(i) => Some(i),
            None => return Ok(None),
        },
        None => None,
    };
    Ok(Some(Filter {
        session,
        min_risk,
        verdict,
        action,
        since,
        before,
    }))
}

/// RFC 3339, or a plain date (midnight UTC), as microseconds.
fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
        .ok_or(format!(
            "`{s}` is not a time: use 2026-01-31 or 2026-01-31T09:00:00Z"
        ))
}

#[derive(Template)]
#[template(path = "dashboard/events.html")]
struct Events {
    nav: &'static str,
    q: EventQuery,
    problem: Option<String>,
    actions: Vec<String>,
    risks: &'static [&'static str],
    verdicts: &'static [&'static str],
    rows: Vec<Row>,
    matched: u64,
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
        ("risk", &q.risk),
        ("verdict", &q.verdict),
        ("action", &q.action),
        ("since", &q.since),
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

/// `GET /events`.
pub async fn events(State(d): Shared, Query(q): Query<EventQuery>) -> Response {
    d.indexed().await;
    let (picked, matched, older, actions, problem, newest_seq) = {
        let Ok(idx) = d.index.read() else {
            return error("index unavailable".into());
        };
        let mut actions = idx.actions.clone();
        actions.sort();
        let newest_seq = idx.entries.last().map_or(0, |e| e.seq);
        match resolve(&q, &idx) {
            Err(p) => (Vec::new(), 0, None, actions, Some(p), newest_seq),
            Ok(None) => (Vec::new(), 0, None, actions, None, newest_seq),
            Ok(Some(f)) => {
                let mut picked = Vec::with_capacity(PAGE);
                let mut matched = 0u64;
                for e in idx.entries.iter().rev().filter(|e| f.keeps(e)) {
                    matched += 1;
                    if picked.len() < PAGE {
                        picked.push(*e);
                    }
                }
                let older = (matched as usize > PAGE).then(|| picked[PAGE - 1].seq);
                (picked, matched, older, actions, None, newest_seq)
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
        older: older.map(|b| events_link(&q, Some(b))),
        newest_link: paged.then(|| events_link(&q, None)),
        live: !paged && problem.is_none(),
        q,
        problem,
        actions,
        risks: &RISKS[..5],
        verdicts: &VERDICTS[..4],
        rows,
        matched,
        newest_seq,
    };
    render(&page)
}

#[derive(Template)]
#[template(path = "dashboard/record.html")]
struct RecordPage {
    nav: &'static str,
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
        let i = idx.entries.partition_point(|x| x.seq < seq);
        let prev = i.checked_sub(1).map(|p| idx.entries[p].seq);
        let next = idx.entries.get(i + 1).map(|x| x.seq);
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
            SessionRow {
                id: s.id.clone(),
                short: s.id.chars().take(12).collect(),
                agent: s.agent.clone().unwrap_or_default(),
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
        sessions,
        total,
        page,
        pages,
    })
}

#[derive(Template)]
#[template(path = "dashboard/session.html")]
struct SessionPage {
    nav: &'static str,
    id: String,
    rows: Vec<Row>,
    total: usize,
}

/// Most steps shown on one session page.
const SESSION_STEPS: usize = 1000;

/// `GET /sessions/{id}`: the session's timeline.
pub async fn session(State(d): Shared, Path(id): Path<String>) -> Response {
    d.indexed().await;
    let (picked, total) = {
        let Ok(idx) = d.index.read() else {
            return error("index unavailable".into());
        };
        let Some(slot) = idx.session(&id) else {
            return missing(format!("The ledger has no session `{id}`."));
        };
        let all: Vec<Entry> = idx
            .entries
            .iter()
            .filter(|e| e.session == slot)
            .copied()
            .collect();
        let total = all.len();
        (
            all.into_iter().take(SESSION_STEPS).collect::<Vec<_>>(),
            total,
        )
    };
    match rows(&d, &picked) {
        Ok(rows) => render(&SessionPage {
            nav: "sessions",
            id,
            rows,
            total,
        }),
        Err(e) => error(format!("{e:#}")),
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

/// The folder policies and paths resolve against: the project the dashboard was started in.
fn policy_env(d: &Dashboard) -> anyhow::Result<Env> {
    let project = std::env::var_os("CLAUDE_PROJECT_DIR")
        .filter(|p| !p.is_empty())
        .map(std::path::PathBuf::from)
        .map_or_else(std::env::current_dir, Ok)?;
    Ok(Env::new(d.home.root(), &project))
}

/// `GET /policy`: the policy in force and `explain` for a typed call (changes nothing).
pub async fn policy(State(d): Shared, Query(q): Query<ExplainQuery>) -> Response {
    let loaded = policy_env(&d).and_then(|env| Ok((Policy::load(d.policy.as_deref(), &env)?, env)));
    let (p, env) = match loaded {
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

/// Classifies and decides one typed call with the policy in force, as `policy explain` does.
fn explain(p: &Policy, env: &Env, tool: &str, text: &str) -> Result<Explained, String> {
    let input = match serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
    {
        Some(v) => v,
        None if tool == "Bash" => json!({ "command": text }),
        None => {
            return Err(format!(
                "for {tool}, give the tool input as a JSON object, e.g. {{\"file_path\": \"src/main.rs\"}}"
            ));
        }
    };
    let call = ToolCall::new(Door::Hook, tool, input, env.project.clone());
    let cls = classify(&call, env);
    let Decision { verdict, hits } = p.decide(&call, &cls, env);
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
            .map(|f| {
                let flags: Vec<&str> = f.flags.iter().map(|x| x.as_str()).collect();
                format!(
                    "{} {} [{}]: {} (on: {})",
                    f.risk.as_str(),
                    f.id,
                    flags.join(", "),
                    f.detail,
                    f.span
                )
            })
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

#[derive(Template)]
#[template(path = "dashboard/integrity.html")]
struct IntegrityPage {
    nav: &'static str,
    report: Option<VerifyReport>,
    problem: Option<String>,
    key: String,
    seals: Vec<(u64, String, String)>,
    unreadable: u64,
}

/// `GET /integrity`: a full `verify` of the ledger now, and its seals.
pub async fn integrity(State(d): Shared) -> Response {
    d.indexed().await;
    let unreadable = d.index.read().map(|i| i.unreadable).unwrap_or(0);
    let dir = d.ledger_dir.clone();
    let key_path = d.home.keys_dir().join("seal.key");
    let work = tokio::task::spawn_blocking(move || {
        let key = if key_path.exists() {
            Some(SealKey::load(&key_path)?)
        } else {
            None
        };
        let key_text = match &key {
            Some(k) => format!("seal key {} ({})", k.id(), key_path.display()),
            None => format!(
                "no seal key at {} (seals cannot be checked)",
                key_path.display()
            ),
        };
        let report = crate::ledger::verify_dir(&dir, key.as_ref())?;
        let seals = crate::ledger::seal::read_seals(&dir.join(crate::ledger::SEALS_FILE))?
            .into_iter()
            .rev()
            .take(20)
            .filter_map(Result::ok)
            .map(|s| (s.count, time_text(s.sealed_at), s.tip))
            .collect::<Vec<_>>();
        anyhow::Ok((report, key_text, seals))
    })
    .await;
    let page = match work {
        Ok(Ok((report, key, seals))) => IntegrityPage {
            nav: "integrity",
            report: Some(report),
            problem: None,
            key,
            seals,
            unreadable,
        },
        Ok(Err(e)) => IntegrityPage {
            nav: "integrity",
            report: None,
            problem: Some(format!("{e:#}")),
            key: String::new(),
            seals: Vec::new(),
            unreadable,
        },
        Err(e) => return error(format!("verification stopped: {e}")),
    };
    render(&page)
}
