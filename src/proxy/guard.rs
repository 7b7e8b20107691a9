//! The MCP door's link to the Gate: builds [`ToolCall`]s, asks the Gate, renders refusals as
//! `isError` tool results and writes outcome records. It decides nothing itself.

use crate::call::{Door, ToolCall, Verdict};
use crate::gate::{Gate, Unsettled};
use crate::home::Home;
use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A Gate (or the reason it could not be opened) plus the door's context.
#[derive(Debug)]
pub struct Guard {
    gate: Result<Gate, String>,
    cwd: PathBuf,
    session: Option<String>,
    /// Sync each decision record before forwarding (instead of before answering).
    sync_before_forward: bool,
    /// Outcome records being written (they are written after the agent has its answer).
    writing: (AtomicUsize, Notify),
    /// How long the last decision sync took, in µs (`u64::MAX` before the first).
    last_sync_us: AtomicU64,
}

/// How a forwarded or builtin call ended, for the outcome record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The tool answered (its result may still carry `isError`).
    Completed,
    /// The tool did not answer in time.
    Timeout,
    /// The agent cancelled the call.
    Cancelled,
    /// The tool or its transport failed with a protocol error.
    Failed,
    /// The tool ran but its answer was replaced by a refusal: the decision record could not be
    /// made durable.
    Withheld,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::Timeout => "timeout",
            Status::Cancelled => "cancelled",
            Status::Failed => "failed",
            Status::Withheld => "withheld",
        }
    }
}

/// One call between its decision and its outcome.
#[derive(Debug)]
pub struct Pending {
    call: ToolCall,
    decision_seq: Option<u64>,
    started: Instant,
}

/// A decision whose record is written but maybe not yet durable: [`Guard::settle`] it before
/// answering.
#[derive(Debug)]
#[must_use = "settle the decision before answering"]
pub struct Decision(Result<Unsettled, Verdict>);

impl Decision {
    /// The verdict as decided (settling can still turn it into a refusal).
    pub fn verdict(&self) -> &Verdict {
        match &self.0 {
            Ok(u) => &u.verdict,
            Err(v) => v,
        }
    }
}

/// A decision sync at most this slow runs on the gateway's own thread (see [`Guard::settle`]).
const INLINE_SYNC: Duration = Duration::from_micros(50);

/// How long an outcome record may wait for a sync that some later decision would have done.
const OUTCOME_SYNC_DELAY: Duration = Duration::from_millis(100);

impl Guard {
    /// Opens the Gate. A Gate that cannot be opened (bad policy, unwritable ledger) does not
    /// stop the server: every call is then refused with the reason (fail closed).
    /// `sync_before_forward`: see [`Guard::sync_before_forward`].
    pub fn open(home: &Home, policy: Option<&str>, sync_before_forward: bool) -> Guard {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let project = std::env::var_os("CLAUDE_PROJECT_DIR")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| cwd.clone());
        let gate = Gate::open(home, policy, &project).map_err(|e| format!("{e:#}"));
        if let Err(e) = &gate {
            tracing::error!("the gate cannot open, every tool call will be refused: {e}");
        }
        let session = std::env::var("CLAUDE_CODE_SESSION_ID")
            .ok()
            .filter(|s| !s.is_empty());
        Guard {
            gate,
            cwd,
            session,
            sync_before_forward,
            writing: (AtomicUsize::new(0), Notify::new()),
            last_sync_us: AtomicU64::new(u64::MAX),
        }
    }

    /// The gateway's working directory (relative paths resolve against it).
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// Whether a decision record must be durable before the call is forwarded or run. When
    /// false (the default) its sync runs while the call runs, and the answer waits for it.
    pub fn sync_before_forward(&self) -> bool {
        self.sync_before_forward
    }

    /// Builds the Gate's view of one `tools/call`.
    pub fn call(
        &self,
        tool: &str,
        input: Value,
        server: Option<&str>,
        agent: Option<&str>,
        cwd: Option<PathBuf>,
    ) -> ToolCall {
        let mut call = ToolCall::new(
            Door::Mcp,
            tool,
            input,
            cwd.unwrap_or_else(|| self.cwd.clone()),
        );
        call.session = self.session.clone();
        call.agent = agent.map(str::to_string);
        call.server = server.map(str::to_string);
        call
    }

    /// Asks the Gate, which writes the decision record before returning, but does not wait for
    /// the record to be durable: that is [`Guard::settle`]. Runs on the caller's thread:
    /// deciding and writing one line take microseconds; only the sync takes disk time. (A ledger
    /// lock held by another process makes this wait, at most the ledger's lock timeout.)
    pub fn decide(&self, call: ToolCall) -> (Decision, Pending) {
        let decided = catch_unwind(AssertUnwindSafe(|| match &self.gate {
            Ok(gate) => Ok(gate.decide_unsynced(&call)),
            Err(e) => Err(Verdict::internal_deny(
                "gate.unavailable",
                format!("the gateway cannot decide because its gate did not open: {e}"),
            )),
        }))
        .unwrap_or_else(|_| {
            Err(Verdict::internal_deny(
                "gate.panic",
                "the gate failed while deciding",
            ))
        });
        let decision = Decision(decided);
        let pending = Pending {
            call,
            decision_seq: decision.verdict().seq,
            started: Instant::now(),
        };
        (decision, pending)
    }

    /// Waits until the decision record is durable and returns the verdict to act on: a failed
    /// sync turns it into the policy's error verdict.
    ///
    /// The sync runs on the blocking pool, unless the last one took at most [`INLINE_SYNC`]
    /// (a tmpfs, a fast SSD): then handing it to another thread and back costs more than the
    /// sync itself, so it runs here, after one yield that lets a forward started alongside
    /// go out first.
    pub async fn settle(self: &Arc<Self>, decision: Decision) -> Verdict {
        let unsettled = match decision.0 {
            Ok(u) => u,
            Err(verdict) => return verdict,
        };
        let Ok(gate) = &self.gate else {
            return unsettled.verdict;
        };
        if self.last_sync_us.load(Ordering::Relaxed) <= INLINE_SYNC.as_micros() as u64 {
            tokio::task::yield_now().await;
            let started = Instant::now();
            let verdict = gate.settle(unsettled);
            self.note_sync(started.elapsed());
            return verdict;
        }
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            let verdict = match &me.gate {
                Ok(gate) => gate.settle(unsettled),
                Err(_) => unsettled.verdict,
            };
            me.note_sync(started.elapsed());
            verdict
        })
        .await
        .unwrap_or_else(|e| Verdict::internal_deny("gate.panic", format!("the gate failed: {e}")))
    }

    fn note_sync(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.last_sync_us.store(us, Ordering::Relaxed);
    }

    /// Writes the outcome record of a call that ran, after the answer has gone out: the task
    /// first yields, so it runs when the runtime has nothing more urgent. The record is synced
    /// by the next decision's sync (one `fdatasync` covers every earlier line), or at the latest
    /// [`OUTCOME_SYNC_DELAY`] later, or by [`Guard::drain`] at shutdown. Failures are logged on
    /// stderr.
    pub fn outcome(
        self: &Arc<Self>,
        pending: Pending,
        status: Status,
        result: Option<&CallToolResult>,
        error: Option<String>,
    ) {
        let result = result.cloned();
        let me = Arc::clone(self);
        me.writing.0.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            tokio::task::yield_now().await;
            let fields = outcome_fields(&pending, status, result.as_ref(), error);
            let written = match &me.gate {
                Ok(gate) => gate
                    .ledger()
                    .append_unsynced(fields)
                    .map(|w| (gate.ledger().clone(), w))
                    .map_err(|e| format!("{e:#}")),
                Err(e) => Err(e.clone()),
            };
            match written {
                Ok((ledger, w)) => {
                    tokio::spawn(async move {
                        tokio::time::sleep(OUTCOME_SYNC_DELAY).await;
                        if !ledger.is_synced(&w) {
                            let _ = tokio::task::spawn_blocking(move || {
                                if let Err(e) = ledger.sync(&w) {
                                    tracing::error!("cannot sync the outcome record: {e:#}");
                                }
                            })
                            .await;
                        }
                    });
                }
                Err(e) => tracing::error!("cannot write the outcome record: {e}"),
            }
            if me.writing.0.fetch_sub(1, Ordering::SeqCst) == 1 {
                me.writing.1.notify_waiters();
            }
        });
    }

    /// Waits (at most `limit`) until every outcome record has been written, then syncs the
    /// ledger, so a clean shutdown (end of input, SIGTERM) loses none.
    pub async fn drain(&self, limit: Duration) {
        let _ = tokio::time::timeout(limit, async {
            loop {
                let notified = self.writing.1.notified();
                if self.writing.0.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        })
        .await;
        if let Ok(gate) = &self.gate {
            let ledger = gate.ledger().clone();
            let synced = tokio::task::spawn_blocking(move || ledger.sync_all()).await;
            if let Ok(Err(e)) = synced {
                tracing::error!("cannot sync the ledger at shutdown: {e:#}");
            }
        }
    }
}

fn outcome_fields(
    pending: &Pending,
    status: Status,
    result: Option<&CallToolResult>,
    error: Option<String>,
) -> Map<String, Value> {
    let call = &pending.call;
    let mut outcome = Map::new();
    outcome.insert("status".into(), json!(status.as_str()));
    outcome.insert(
        "duration_ms".into(),
        json!(pending.started.elapsed().as_millis() as u64),
    );
    if let Some(result) = result {
        let bytes = serde_json::to_vec(result).unwrap_or_default();
        outcome.insert("is_error".into(), json!(result.is_error.unwrap_or(false)));
        outcome.insert("output_bytes".into(), json!(bytes.len()));
        outcome.insert(
            "output_sha256".into(),
            json!(format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))),
        );
    }
    if let Some(error) = error {
        outcome.insert("error".into(), json!(error));
    }
    let mut fields = Map::new();
    fields.insert("event".into(), json!("outcome"));
    fields.insert("door".into(), json!(Door::Mcp.as_str()));
    fields.insert("tool".into(), json!(call.tool));
    if let Some(server) = &call.server {
        fields.insert("server".into(), json!(server));
    }
    if let Some(session) = &call.session {
        fields.insert("session".into(), json!(session));
    }
    if let Some(agent) = &call.agent {
        fields.insert("agent".into(), json!(agent));
    }
    if let Some(seq) = pending.decision_seq {
        fields.insert("decision_seq".into(), json!(seq));
    }
    // The same digest as the decision's, so views can link the two without a seq.
    fields.insert(
        "input_sha256".into(),
        json!(crate::ledger::Digest::of_json(&call.input)),
    );
    fields.insert("outcome".into(), Value::Object(outcome));
    fields
}

/// The answer to a refused call: a normal tool result with `isError: true` that names the
/// reason and the rules. Never a protocol error, never "tool not found".
pub fn refusal(tool: &str, verdict: &Verdict) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(refusal_text(tool, verdict))])
}

/// JSON-RPC error code of a refused non-tool request (`resources/read` of a `file:` URI),
/// which has no `isError` result to carry a refusal.
pub const REFUSED: i32 = -32010;

/// The refusal of a non-tool request, as a JSON-RPC error with the rules in `data`.
pub fn refusal_error(what: &str, verdict: &Verdict) -> rmcp::ErrorData {
    rmcp::ErrorData::new(
        rmcp::model::ErrorCode(REFUSED),
        refusal_text(what, verdict),
        Some(json!({"rules": verdict.rules, "risk": verdict.risk, "seq": verdict.seq})),
    )
}

/// "patchwork-gateway policy refused `tool` (rule: …; risk: …; ledger seq N). reason"
pub fn refusal_text(tool: &str, verdict: &Verdict) -> String {
    let rules = if verdict.rules.is_empty() {
        String::from("none")
    } else {
        verdict.rules.join(", ")
    };
    let seq = verdict
        .seq
        .map(|s| format!("; ledger seq {s}"))
        .unwrap_or_default();
    let what = if verdict.effect == crate::call::Effect::Ask {
        "held back (it needs a human's approval, which this MCP connection cannot ask for)"
    } else {
        "refused"
    };
    format!(
        "patchwork-gateway policy {what} `{tool}` (rule: {rules}; risk: {}{seq}). {}",
        verdict.risk, verdict.reason,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_is_an_error_result_naming_reason_and_rule() {
        let mut v = Verdict::internal_deny("fs.secrets", "matched /p/.env");
        v.seq = Some(7);
        let r = refusal("read_file", &v);
        assert_eq!(r.is_error, Some(true));
        let text = serde_json::to_string(&r.content).unwrap();
        assert!(text.contains("fs.secrets"), "{text}");
        assert!(text.contains("matched /p/.env"), "{text}");
        assert!(text.contains("ledger seq 7"), "{text}");
    }

    #[test]
    fn outcome_record_carries_size_and_digest() {
        let pending = Pending {
            call: ToolCall::new(Door::Mcp, "run_command", json!({}), "/".into()),
            decision_seq: Some(3),
            started: Instant::now(),
        };
        let result = CallToolResult::success(vec![ContentBlock::text("hi")]);
        let f = outcome_fields(&pending, Status::Completed, Some(&result), None);
        let o = f["outcome"].as_object().unwrap();
        assert_eq!(o["status"], "completed");
        assert_eq!(o["is_error"], false);
        let bytes = serde_json::to_vec(&result).unwrap();
        assert_eq!(o["output_bytes"], bytes.len());
        assert_eq!(
            o["output_sha256"],
            format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
        );
        assert_eq!(f["decision_seq"], 3);
        assert_eq!(f["event"], "outcome");
    }
}
