//! The Gate: the one place that decides. classify → evaluate the policy → append the decision
//! record → return the verdict. Both doors call it.

use crate::call::{Classification, Door, ToolCall, Verdict};
use crate::home::Home;
use crate::ledger::event::{Decision, DoorName, Origin};
use crate::ledger::{Appended, Digest, Ledger, LedgerEvent, Written};
use crate::policy::{Env, Mode, Policy, classify};
use anyhow::Result;
use serde_json::{Map, Value};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

/// A verdict whose decision record is written but maybe not yet durable: pass it to
/// [`Gate::settle`] before answering.
#[derive(Debug)]
#[must_use = "settle the decision before answering"]
pub struct Unsettled {
    /// The verdict as decided (it may still change to an error verdict if the sync fails).
    pub verdict: Verdict,
    written: Option<Written>,
}

/// A ready Gate: a loaded policy and an open ledger.
#[derive(Debug)]
pub struct Gate {
    policy: Policy,
    ledger: Ledger,
    env: Env,
}

impl Gate {
    /// Loads the policy (`spec` as for `--policy`) and opens the ledger under `home`.
    /// `project` is the project root (Claude Code's `CLAUDE_PROJECT_DIR`, or the cwd).
    pub fn open(home: &Home, spec: Option<&str>, project: &Path) -> Result<Gate> {
        let env = Env::new(home.root(), project);
        home.ensure()?;
        let policy = Policy::load(spec, &env)?;
        let ledger = Ledger::open(&home.ledger_dir())?;
        Ok(Gate {
            policy,
            ledger,
            env,
        })
    }

    /// Decides one call and records the decision before returning. Never fails: an internal
    /// error or a ledger that cannot be written is a deny verdict saying so (in audit mode the
    /// call is allowed and the failure is still reported).
    pub fn decide(&self, call: &ToolCall) -> Verdict {
        self.settle(self.decide_unsynced(call))
    }

    /// Decides like [`Gate::decide`] and writes the decision record (chained, visible in the
    /// log) without waiting for it to be durable: [`Gate::settle`] waits for that, so a caller
    /// can overlap the sync with other work and must settle before it answers.
    pub fn decide_unsynced(&self, call: &ToolCall) -> Unsettled {
        let judged = catch_unwind(AssertUnwindSafe(|| {
            let cls = classify(call, &self.env);
            let verdict = self.policy.evaluate(call, &cls, &self.env);
            (cls, verdict)
        }));
        let (cls, mut verdict) = match judged {
            Ok(pair) => pair,
            Err(_) => (
                Classification::default(),
                self.policy
                    .error_verdict("internal error while judging the call"),
            ),
        };
        let mut written = None;
        match self
            .ledger
            .append_unsynced(decision_record(call, &cls, &verdict, &self.policy))
        {
            Ok(w) => {
                verdict.seq = Some(w.appended.seq);
                written = Some(w);
            }
            Err(e) => verdict = self.ledger_failed(verdict, &e),
        }
        Unsettled { verdict, written }
    }

    /// Waits until the decision record of `d` is durable and returns its verdict; a failed
    /// sync turns it into the policy's error verdict (fail closed), like a failed append.
    pub fn settle(&self, d: Unsettled) -> Verdict {
        match d.written.map(|w| self.ledger.sync(&w)) {
            Some(Err(e)) => self.ledger_failed(d.verdict, &e),
            _ => d.verdict,
        }
    }

    /// The verdict when the decision record cannot be written or synced: unchanged (and
    /// reported) in audit mode, else the policy's error verdict.
    fn ledger_failed(&self, mut verdict: Verdict, e: &anyhow::Error) -> Verdict {
        verdict.seq = None;
        if self.policy.mode == Mode::Audit {
            tracing::error!("ledger append failed in audit mode: {e:#}");
            return verdict;
        }
        tracing::error!("ledger append failed: {e:#}");
        self.policy.error_verdict(&format!(
            "the ledger cannot be written: {e:#}; run `patchwork-gateway doctor`"
        ))
    }

    /// Classifies and evaluates without writing anything: for `policy explain` and tests.
    pub fn judge(&self, call: &ToolCall) -> (Classification, Verdict) {
        let cls = classify(call, &self.env);
        let verdict = self.policy.evaluate(call, &cls, &self.env);
        (cls, verdict)
    }

    /// Appends a non-decision record (outcome, session event, repair…) to the ledger.
    pub fn record(&self, fields: Map<String, Value>) -> Result<Appended> {
        self.ledger.append(fields)
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The ledger decisions go to.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The paths the Gate judges against.
    pub fn env(&self) -> &Env {
        &self.env
    }
}

/// The ledger record of one decision (the schema's [`Decision`]). The raw input is kept only as
/// a SHA-256 commitment of its canonical JSON; targets say what the call touches (the ledger
/// redacts secrets).
fn decision_record(
    call: &ToolCall,
    cls: &Classification,
    v: &Verdict,
    policy: &Policy,
) -> Map<String, Value> {
    LedgerEvent::Decision(Decision {
        origin: Origin {
            door: Some(match call.door {
                Door::Hook => DoorName::Hook,
                Door::Mcp => DoorName::Mcp,
            }),
            session: call.session.clone(),
            agent: call.agent.clone(),
            cwd: Some(call.cwd.display().to_string()),
            ..Origin::default()
        },
        tool: call.tool.clone(),
        tool_use_id: call.tool_use_id.clone(),
        server: call.server.clone(),
        action: cls
            .action
            .map(|a| a.as_str())
            .unwrap_or("tool_call")
            .to_string(),
        target: cls
            .targets
            .iter()
            .map(|t| format!("{}:{}", t.action.as_str(), t.value))
            .collect(),
        risk: v.risk.as_str().to_string(),
        flags: v.flags.iter().map(|f| f.as_str().to_string()).collect(),
        findings: cls.findings.iter().map(|f| f.id.clone()).collect(),
        verdict: v.effect.as_str().to_string(),
        would_be: v.audited.then(|| v.would_be.as_str().to_string()),
        rules: v.rules.clone(),
        reason: v.reason.clone(),
        policy: policy.hash().to_string(),
        policy_name: Some(policy.name.to_string()),
        input_sha256: Digest::of_json(&call.input),
    })
    .into_fields()
}
