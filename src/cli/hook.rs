//! `hook <event>`: the Claude Code hook entry point. Reads one payload on stdin, answers with
//! exactly one JSON object on stdout and exit 0, or exit 2 with a reason on stderr.

use super::Ctx;
use crate::hook::events::{self, Event, HookCtx};
use crate::hook::failclosed::{self, PolicyMode};
use crate::hook::{alerts, payload};
use clap::Args;
use std::time::Duration;

/// Options of `hook`.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// Claude Code's event name (`PreToolUse`) or kebab-case (`pre-tool-use`); without it, the
    /// payload's `hook_event_name`.
    pub event: Option<String>,
    /// On internal errors (bad payload, policy, ledger, panic, deadline): deny (fail-closed) or
    /// record and allow (audit).
    #[arg(long, value_enum, default_value = "fail-closed")]
    pub policy_mode: PolicyMode,
    /// Internal deadline in milliseconds (answers deny when it passes in fail-closed mode).
    #[arg(long, default_value_t = failclosed::DEADLINE.as_millis() as u64, hide = true)]
    pub deadline_ms: u64,
}

/// Runs one hook invocation; returns the exit code Claude Code reads.
pub fn run(ctx: &Ctx, args: HookArgs) -> i32 {
    let mode = args.policy_mode;
    let arg_event = args.event.as_deref().map(Event::parse);
    if let Some(e) = &arg_event {
        failclosed::set_event(e.name());
    }
    failclosed::arm(mode, Duration::from_millis(args.deadline_ms));
    let hctx = HookCtx {
        home: &ctx.home,
        policy: ctx.policy.as_deref(),
        mode,
    };
    let unknown = Event::Other("unknown".into());
    let parsed = payload::read_bounded(std::io::stdin().lock(), payload::MAX_PAYLOAD)
        .and_then(|bytes| payload::Payload::parse(&bytes));
    let handled = match parsed {
        Err(e) => {
            let event = arg_event.as_ref().unwrap_or(&unknown);
            events::failure(hctx, event, None, &e.to_string())
        }
        Ok(p) => {
            let event = arg_event
                .clone()
                .or_else(|| p.event_name().map(Event::parse));
            match event {
                Some(event) => {
                    failclosed::set_event(event.name());
                    test_panic();
                    events::handle(hctx, &event, &p)
                }
                None => events::failure(
                    hctx,
                    &unknown,
                    Some(&p),
                    "no event: pass it as an argument or in hook_event_name",
                ),
            }
        }
    };
    let code = failclosed::emit(&handled.answer);
    alerts::raise(&ctx.home, handled.webhook.as_deref(), handled.alerts);
    if let Some(seq) = handled.last_seq {
        auto_checkpoint(ctx, seq + 1);
    }
    code
}

/// After the answer went out: a signed checkpoint when one is due for a ledger of at least
/// `records` records (known from this process's own append, so one small read when none is
/// due, one signature when one is). A hook process does not contact the witness: the MCP door,
/// `ship --follow` or `checkpoint` send the backlog.
fn auto_checkpoint(ctx: &Ctx, records: u64) {
    use crate::ledger::checkpoint::{self, AutoPolicy};
    let dir = ctx.home.ledger_dir();
    let policy = AutoPolicy::from_env();
    if !checkpoint::is_due(&dir, records, policy) {
        return;
    }
    match crate::ledger::Ledger::open(&dir) {
        Ok(ledger) => {
            let anchor =
                crate::ship::anchor::Anchor::new(ledger, &ctx.home.keys_dir(), policy, None);
            anchor.check(false);
        }
        Err(e) => tracing::warn!("automatic checkpoint failed: {e:#}"),
    }
}

/// Debug builds only: `PATCHWORK_HOOK_TEST_PANIC` makes the hook panic, so tests can prove the
/// panic path answers deny.
fn test_panic() {
    if cfg!(debug_assertions) && std::env::var_os("PATCHWORK_HOOK_TEST_PANIC").is_some() {
        panic!("test panic requested by PATCHWORK_HOOK_TEST_PANIC");
    }
}
