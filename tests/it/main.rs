//! Integration tests: one test binary (a link per binary is the slow part of a build on a
//! small machine), one module per area, with the shared helpers in `hook_common`.

mod claude_code_e2e;
mod dashboard_browser;
mod dashboard_http;
mod decision_cases;
mod hook_alerts;
mod hook_common;
mod hook_demo;
mod hook_events;
mod hook_failclosed;
mod hook_fuzz;
mod install_claude_code;
mod install_health;
mod ledger_concurrency;
mod ledger_recovery;
mod ledger_secrets;
mod ledger_tamper;
mod mcp_cli;
mod mcp_interop;
mod peers;
mod policy_cli;
mod policy_profiles;
mod policy_trust;
mod proxy_ledger_order;
mod views_common;
mod views_export;
mod views_follow;
mod views_html;
mod views_replay;
mod watchdog_repair;
mod watchdog_timer;
