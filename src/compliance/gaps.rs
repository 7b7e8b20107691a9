//! How to close a gap: per predicate, the exact command or configuration and its effort.

use super::model::{ControlResult, Gap, Level, Status};

/// The fix and effort for a predicate that does not hold.
pub fn remediation(predicate: &str) -> (&'static str, &'static str) {
    let name = predicate.split('(').next().unwrap_or(predicate);
    match name {
        "VERIFIED" => (
            "Run `patchwork-gateway verify` to see the first bad seq; restore the ledger from a shipped copy (`patchwork-gateway ship --file PATH`) and investigate who changed it.",
            "high",
        ),
        "SIGNED" => (
            "Run `patchwork-gateway checkpoint` after each session (cron or the watchdog timer); until checkpoints are available, `patchwork-gateway seal` gives HMAC-only evidence.",
            "low",
        ),
        "ANCHORED" => (
            "Run a witness as another user (`patchwork-gateway witness install`) and `patchwork-gateway checkpoint --witness PATH`, or ship to a collector (`patchwork-gateway ship --otlp URL --follow`).",
            "medium",
        ),
        "POLICY" | "POLICY_EXPORTABLE" | "UNKNOWN_TOOLS_GUARDED" => (
            "Install a policy with rules: `patchwork-gateway policy init --strict`, then re-run the report with `--policy` naming the policy in force.",
            "low",
        ),
        "TESTED" => (
            "Run `patchwork-gateway policy test` against every policy before use and keep its output with the report (the gateway does not record policy tests in the ledger yet).",
            "gateway feature",
        ),
        "ENFORCED" => (
            "Set `mode: enforce` in the policy (not `audit`) and install with `patchwork-gateway init claude-code --policy-mode fail-closed`.",
            "low",
        ),
        "COVERED" => (
            "Reinstall the hooks (`patchwork-gateway init claude-code`) and enable the watchdog (`patchwork-gateway watchdog --install`); investigate every enforcement.gap with `patchwork-gateway replay SESSION`.",
            "medium",
        ),
        "IDENTIFIED" | "FIELDS" => (
            "Bind agent sessions to people by running agents under per-person OS accounts; OS-user and org identity fields are not recorded by the gateway yet.",
            "gateway feature",
        ),
        "CLOCK" => (
            "Keep the host clock synchronised (systemd-timesyncd or chrony); a clock-status field is not recorded by the gateway yet.",
            "gateway feature",
        ),
        "REVIEWED" => (
            "Review `patchwork-gateway report --by week` on a schedule and keep signed review notes beside the report; sign-off events are not recorded by the gateway yet.",
            "gateway feature",
        ),
        "TRIAGED" => (
            "Triage every high-risk denial and enforcement gap (`patchwork-gateway log --verdict deny --risk high`) in the incident tracker; triage events are not recorded by the gateway yet.",
            "gateway feature",
        ),
        "APPROVALS" => (
            "Add ask rules for sensitive actions to the policy (`effect: ask`, e.g. `tools.unknown`, `secrets.path` in the strict profile); approver identity is not recorded by the gateway yet.",
            "low",
        ),
        "HALT" => (
            "A session halt (kill switch) is not a gateway feature yet.",
            "gateway feature",
        ),
        "REDACTED" | "COMMITMENTS" => (
            "Add the leaked secret's pattern to the redactor and rotate the secret; records cannot be edited without breaking the chain.",
            "medium",
        ),
        "RETAINED" => (
            "Keep the ledger (and shipped copies) for the required period; do not delete `ledger.jsonl`. The report passes once the history is long enough.",
            "low",
        ),
        "INVENTORY" => (
            "Review and approve MCP tool definitions with `patchwork-gateway pins list` and `pins approve`.",
            "low",
        ),
        "RULES" => (
            "Use the strict profile (`patchwork-gateway policy init --strict`) or add deny/ask rules for this category (see configs/strict.yaml); tag PHI/CDE paths is not possible yet.",
            "low",
        ),
        "CHANGES" | "CHANGES_APPROVED" => (
            "Change the policy only through a reviewed change (commit the policy file, have another person approve it); policy.change events are not written by the gateway yet.",
            "gateway feature",
        ),
        "DECISIONS" | "OUTCOMES" | "SESSIONS" | "LIFECYCLE" => (
            "Install the hooks for every event (`patchwork-gateway init claude-code`) and route MCP servers through `patchwork-gateway wrap`.",
            "low",
        ),
        "FAILCLOSED" => ("Set `on_error: deny` in the policy.", "low"),
        "ARMED" => (
            "Run `patchwork-gateway doctor` and fix what it reports until every session start says armed.",
            "low",
        ),
        "ALERTS" => (
            "Set the policy's alerts.webhook (or PATCHWORK_WEBHOOK_URL) for alert delivery; delivered alerts are not recorded in the ledger yet.",
            "gateway feature",
        ),
        "EVALUATIONS" | "SETTINGS_WATCH" => (
            "Install the watchdog timer (`patchwork-gateway watchdog --install`) and run `patchwork-gateway verify` on a schedule; their runs are not recorded in the ledger yet.",
            "gateway feature",
        ),
        _ => (
            "Not possible with the gateway today; document the control with other evidence.",
            "gateway feature",
        ),
    }
}

/// The gaps of the not satisfied and partially satisfied controls: one per predicate that
/// does not hold.
pub fn gaps(controls: &[&ControlResult]) -> Vec<Gap> {
    let mut out = Vec::new();
    for c in controls {
        if !matches!(c.status, Status::NotSatisfied | Status::PartiallySatisfied) {
            continue;
        }
        for p in c.predicates.iter().filter(|p| p.level != Level::Holds) {
            let (fix, effort) = remediation(&p.name);
            out.push(Gap {
                framework: c.framework.clone(),
                control: c.id.clone(),
                status: c.status,
                predicate: p.name.clone(),
                problem: p.reason.clone(),
                fix: fix.to_string(),
                effort: effort.to_string(),
            });
        }
    }
    out
}
