//! `pins list|diff|approve|forget`: the user reviews pinned upstream MCP tool definitions and
//! accepts changes. (The agent cannot: the pins live under the gateway's home, which every
//! profile protects, and running `pins approve|forget` is a self-protection finding.)

use super::Ctx;
use crate::pins::{self, PinStore};
use clap::Subcommand;

/// The `pins` subcommands.
#[derive(Debug, Subcommand)]
pub enum PinsCommand {
    /// Servers with pinned tools, and how many changes wait for approval.
    List,
    /// What changed: each pending definition against the pinned one.
    Diff {
        /// Only this server.
        server: Option<String>,
    },
    /// Trust the pending definitions of SERVER (all of them, or the TOOLs named).
    Approve { server: String, tools: Vec<String> },
    /// Forget the pins of SERVER (all, or the TOOLs named); its next listing is pinned anew.
    Forget { server: String, tools: Vec<String> },
}

/// Runs a `pins` subcommand.
pub fn run(ctx: &Ctx, cmd: PinsCommand) -> anyhow::Result<i32> {
    let store = PinStore::new(ctx.home.pins_dir());
    match cmd {
        PinsCommand::List => {
            let all = store.list()?;
            if all.is_empty() {
                println!("no pinned MCP servers in {}", store.dir().display());
            }
            for (server, p) in &all {
                println!(
                    "{server}: {} tools pinned, {} pending approval  ({})",
                    p.tools.len(),
                    p.pending.len(),
                    p.identity
                );
                for tool in p.pending.keys() {
                    let what = if p.tools.contains_key(tool) {
                        "changed"
                    } else {
                        "new"
                    };
                    println!("  {what}: {tool}");
                }
            }
            Ok(0)
        }
        PinsCommand::Diff { server } => {
            let all = store.list()?;
            let mut any = false;
            for (name, p) in all
                .iter()
                .filter(|(n, _)| server.as_ref().is_none_or(|s| s == *n))
            {
                for (tool, pending) in &p.pending {
                    any = true;
                    let empty = serde_json::Value::Object(Default::default());
                    let old = p.tools.get(tool);
                    println!(
                        "{name} {tool}: {} -> {}",
                        old.map(|o| o.sha256.as_str()).unwrap_or("(new tool)"),
                        pending.sha256
                    );
                    let from = old.map(|o| &o.definition).unwrap_or(&empty);
                    for line in pins::diff(from, &pending.definition) {
                        println!("  {line}");
                    }
                }
            }
            if !any {
                println!("no pending changes");
            }
            Ok(0)
        }
        PinsCommand::Approve { server, tools } => {
            let done = store.approve(&server, &tools)?;
            if done.is_empty() {
                println!("{server}: nothing pending");
            } else {
                println!("{server}: approved {}", done.join(", "));
            }
            Ok(0)
        }
        PinsCommand::Forget { server, tools } => {
            let done = store.forget(&server, &tools)?;
            println!("{server}: forgot {}", done.join(", "));
            Ok(0)
        }
    }
}
