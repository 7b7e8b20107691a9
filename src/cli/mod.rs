//! Command-line interface: clap definitions and dispatch. One file per command (group).

mod checkpoint;
mod dashboard;
mod deferred;
mod demo;
mod evidence;
mod health;
mod hook;
mod install;
mod ledger;
mod log;
mod pins;
mod policy;
mod report;
mod schema;
mod serve;
mod ship;
mod views;
mod watchdog;
mod witness;
mod wrap;

use crate::home::Home;
use clap::{Parser, Subcommand};
use deferred::Deferred;
use std::path::PathBuf;

/// Everything a command needs from the global options.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The gateway's home folder.
    pub home: Home,
    /// `--policy`: a profile name (`strict`, `standard`, `audit`) or a file path.
    pub policy: Option<String>,
}

/// patchwork-gateway: classify, decide and record every tool call of an AI coding agent.
#[derive(Debug, Parser)]
#[command(name = "patchwork-gateway", version, about, long_about = None)]
pub struct Cli {
    /// Policy in force: a profile (strict, standard, audit) or a YAML file.
    #[arg(
        long,
        global = true,
        env = "PATCHWORK_POLICY",
        value_name = "strict|standard|audit|PATH"
    )]
    pub policy: Option<String>,
    /// Home folder for the ledger, keys and state [default: ~/.patchwork].
    #[arg(long, global = true, env = "PATCHWORK_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands; with none, the gateway serves MCP on stdio.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// MCP server (stdio or Streamable HTTP): builtin file and shell tools plus configured upstreams.
    Serve(Deferred<serve::ServeArgs>),
    /// Guard one upstream MCP server transparently.
    Wrap(Deferred<wrap::WrapArgs>),
    /// Claude Code hook entry point: reads the event payload on stdin.
    Hook(Deferred<hook::HookArgs>),
    /// Install hooks and MCP registration for an agent.
    Init(Deferred<install::InitArgs>),
    /// Remove exactly what `init` added.
    Uninstall(Deferred<install::UninstallArgs>),
    /// Manage and debug policies.
    #[command(subcommand)]
    Policy(Deferred<policy::PolicyCommand>),
    /// Review and approve pinned upstream MCP tool definitions.
    #[command(subcommand)]
    Pins(Deferred<pins::PinsCommand>),
    /// Query the ledger.
    Log(Deferred<log::LogArgs>),
    /// Step-by-step timeline of a session.
    Replay(Deferred<views::ReplayArgs>),
    /// Compliance report with gap analysis.
    Report(Deferred<report::ReportArgs>),
    /// HMAC-seal the ledger tip.
    Seal(Deferred<ledger::SealArgs>),
    /// Verify the ledger's hash chain, seals, checkpoints, a witness's copy, or a proof.
    Verify(Deferred<ledger::VerifyArgs>),
    /// Sign an Ed25519 checkpoint of the ledger's Merkle tree (and send it to the witness).
    Checkpoint(Deferred<checkpoint::CheckpointArgs>),
    /// Print the inclusion proof of one record in the newest checkpoint.
    Prove(Deferred<checkpoint::ProveArgs>),
    /// Export the checkpoint verifier key.
    #[command(subcommand)]
    Keys(Deferred<checkpoint::KeysCommand>),
    /// Send records and checkpoints to an OpenTelemetry collector or an append-only file.
    Ship(Deferred<ship::ShipArgs>),
    /// The append-only checkpoint witness (run as another user).
    #[command(subcommand)]
    Witness(Deferred<witness::WitnessCommand>),
    /// Export ledger events for other tools.
    Export(Deferred<views::ExportArgs>),
    /// JSON Schema of the ledger records.
    Schema(Deferred<schema::SchemaArgs>),
    /// Local web dashboard on 127.0.0.1.
    Dashboard(Deferred<dashboard::DashboardArgs>),
    /// Check and repair the hook installation.
    Watchdog(Deferred<watchdog::WatchdogArgs>),
    /// Health checks, each with its fix.
    Doctor(Deferred<health::DoctorArgs>),
    /// What is enforced right now.
    Status(Deferred<health::StatusArgs>),
    /// Drive a scripted agent session through the real doors and show the results.
    Demo(Deferred<demo::DemoArgs>),
}

/// Parses the command line, runs the command and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_logging();
    if cli
        .command
        .as_ref()
        .is_some_and(Command::prints_for_a_reader)
    {
        stop_quietly_on_closed_pipe();
    }
    let home = match Home::locate(cli.home.as_deref()) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("patchwork-gateway: {e:#}");
            return 2;
        }
    };
    let ctx = Ctx {
        home,
        policy: cli.policy.clone(),
    };
    let result = match cli.command {
        None => serve::run(&ctx, serve::ServeArgs::default()),
        Some(Command::Serve(Deferred(a))) => serve::run(&ctx, a),
        Some(Command::Wrap(Deferred(a))) => wrap::run(&ctx, a),
        Some(Command::Hook(Deferred(a))) => return hook::run(&ctx, a),
        Some(Command::Init(Deferred(a))) => install::init(&ctx, a),
        Some(Command::Uninstall(Deferred(a))) => install::uninstall(&ctx, a),
        Some(Command::Policy(Deferred(c))) => policy::run(&ctx, c),
        Some(Command::Pins(Deferred(c))) => pins::run(&ctx, c),
        Some(Command::Log(Deferred(a))) => log::log(&ctx, a),
        Some(Command::Replay(Deferred(a))) => views::replay(&ctx, a),
        Some(Command::Report(Deferred(a))) => report::report(&ctx, a),
        Some(Command::Seal(Deferred(a))) => ledger::seal(&ctx, a),
        Some(Command::Verify(Deferred(a))) => ledger::verify(&ctx, a),
        Some(Command::Checkpoint(Deferred(a))) => checkpoint::run_checkpoint(&ctx, a),
        Some(Command::Prove(Deferred(a))) => checkpoint::prove(&ctx, a),
        Some(Command::Keys(Deferred(c))) => checkpoint::keys(&ctx, c),
        Some(Command::Witness(Deferred(c))) => witness::run(&ctx, c),
        Some(Command::Ship(Deferred(a))) => ship::run(&ctx, a),
        Some(Command::Export(Deferred(a))) => views::export(&ctx, a),
        Some(Command::Schema(Deferred(a))) => schema::run(&ctx, a),
        Some(Command::Dashboard(Deferred(a))) => dashboard::run(&ctx, a),
        Some(Command::Watchdog(Deferred(a))) => watchdog::run(&ctx, a),
        Some(Command::Doctor(Deferred(a))) => health::doctor(&ctx, a),
        Some(Command::Status(Deferred(a))) => health::status(&ctx, a),
        Some(Command::Demo(Deferred(a))) => demo::run(&ctx, a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("patchwork-gateway: {e:#}");
            1
        }
    }
}

impl Command {
    /// Commands whose output is for a person or a pipe (`log | head`), not a protocol peer.
    fn prints_for_a_reader(&self) -> bool {
        !matches!(
            self,
            Command::Serve(_)
                | Command::Wrap(_)
                | Command::Hook(_)
                | Command::Dashboard(_)
                | Command::Demo(_)
                | Command::Witness(_)
        )
    }
}

/// What the process needs before any command runs (the binary skips Rust's own start-up, see
/// `src/main.rs`): standard descriptors that were closed at start are reopened on `/dev/null`,
/// so that no file the gateway opens (the ledger) can become its stdout; and SIGPIPE is
/// ignored, so a closed pipe is an error the doors handle instead of a silent death.
pub fn prepare_process() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: `fds` is a valid array of three pollfd for the duration of the call; `open` gets
    // a NUL-terminated path; `signal` touches no Rust state and no other thread exists yet.
    unsafe {
        let closed = |p: &libc::pollfd| p.revents & libc::POLLNVAL != 0;
        if libc::poll(fds.as_mut_ptr(), 3, 0) >= 0 {
            for p in fds.iter().filter(|p| closed(p)) {
                // open() returns the lowest free descriptor, which is the closed one.
                if libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) != p.fd {
                    libc::abort();
                }
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Lets a closed stdout end the process as it does for other Unix tools (`log | head`) instead of
/// failing on the write. Only for commands that print for a reader: the hook and MCP doors handle
/// a closed pipe themselves, so that nothing they still have to record is lost.
fn stop_quietly_on_closed_pipe() {
    // SAFETY: restoring the default disposition of SIGPIPE touches no Rust state; it runs before
    // any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Logs go to stderr only: stdout is the hook and MCP channel.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PATCHWORK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_and_its_deferred_options_are_consistent() {
        // Builds every subcommand, deferred ones included, and checks clap's invariants.
        Cli::command().debug_assert();
    }

    #[test]
    fn deferred_options_parse_as_before() {
        let cli = Cli::try_parse_from([
            "patchwork-gateway",
            "--policy",
            "strict",
            "hook",
            "--policy-mode",
            "audit",
            "PreToolUse",
        ])
        .unwrap();
        assert_eq!(cli.policy.as_deref(), Some("strict"));
        let Some(Command::Hook(Deferred(args))) = cli.command else {
            panic!("not the hook command");
        };
        assert_eq!(args.event.as_deref(), Some("PreToolUse"));
        assert_eq!(args.policy_mode, crate::hook::failclosed::PolicyMode::Audit);
        // A global option after the subcommand still reaches the global field.
        let cli = Cli::try_parse_from(["patchwork-gateway", "policy", "show", "--policy", "audit"])
            .unwrap();
        assert_eq!(cli.policy.as_deref(), Some("audit"));
        assert!(Cli::try_parse_from(["patchwork-gateway", "hook", "--no-such-flag"]).is_err());
    }
}
