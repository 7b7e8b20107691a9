//! `witness serve` (the append-only checkpoint witness, run as another user) and
//! `witness install` (its systemd unit or launchd daemon, written with instructions).

use super::Ctx;
use crate::ship::witness::Server;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `witness` subcommands.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Run the witness on a Unix socket.
    Serve(ServeArgs),
    /// Write a systemd service (Linux) or launchd daemon (macOS) that runs the witness.
    Install(InstallArgs),
}

/// Options of `witness serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The Unix socket to listen on.
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,
    /// Where the witness keeps its key and the checkpoints it cosigned.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// A uid allowed to submit checkpoints (the agent's user); repeatable.
    #[arg(long = "allow-uid", value_name = "UID", required = true)]
    pub allow_uid: Vec<u32>,
    /// A log's public key file (`keys export --public`); repeatable.
    #[arg(long = "log-key", value_name = "FILE", required = true)]
    pub log_key: Vec<PathBuf>,
}

/// Options of `witness install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The agent's uid allowed to submit [default: the current user's].
    #[arg(long = "allow-uid", value_name = "UID")]
    pub allow_uid: Option<u32>,
    /// The log's public key file [default: exported from this home's checkpoint key into the
    /// output folder].
    #[arg(long = "log-key", value_name = "FILE")]
    pub log_key: Option<PathBuf>,
    /// Socket path for the service.
    #[arg(long, default_value = "/run/patchwork-witness/witness.sock")]
    pub socket: PathBuf,
    /// Witness folder for the service.
    #[arg(long, default_value = "/var/lib/patchwork-witness")]
    pub dir: PathBuf,
    /// The user the service runs as (must not be the agent's user).
    #[arg(long, default_value = "patchwork-witness")]
    pub user: String,
    /// Where to write the unit file.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub output: PathBuf,
}

/// Runs a witness command.
pub fn run(ctx: &Ctx, cmd: WitnessCommand) -> Result<i32> {
    match cmd {
        WitnessCommand::Serve(a) => serve(a),
        WitnessCommand::Install(a) => install(ctx, a),
    }
}

fn serve(a: ServeArgs) -> Result<i32> {
    let logs = a
        .log_key
        .iter()
        .map(|p| super::checkpoint::read_verifier(p))
        .collect::<Result<Vec<_>>>()?;
    let server = Server::new(&a.dir, a.allow_uid.clone(), logs)?;
    eprintln!(
        "witness {} on {} for uid(s) {:?}",
        server.verifier().to_vkey(),
        a.socket.display(),
        a.allow_uid
    );
    server.serve(&a.socket)?;
    Ok(0)
}

fn install(ctx: &Ctx, a: InstallArgs) -> Result<i32> {
    // SAFETY: getuid has no preconditions.
    let uid = a.allow_uid.unwrap_or_else(|| unsafe { libc::getuid() });
    std::fs::create_dir_all(&a.output)
        .with_context(|| format!("cannot create {}", a.output.display()))?;
    let log_key = match a.log_key {
        Some(k) => k,
        None => {
            let p = a.output.join("patchwork-log.vkey");
            let vkey = super::checkpoint::key(ctx)?.verifier().to_vkey();
            std::fs::write(&p, format!("{vkey}\n"))?;
            p
        }
    };
    let log_key = std::path::absolute(&log_key)?;
    let exe = std::env::current_exe().context("cannot find the gateway's executable")?;
    let args = [
        "witness".to_string(),
        "serve".into(),
        "--socket".into(),
        a.socket.display().to_string(),
        "--dir".into(),
        a.dir.display().to_string(),
        "--allow-uid".into(),
        uid.to_string(),
        "--log-key".into(),
        log_key.display().to_string(),
    ];
    let (file, text, steps) = if cfg!(target_os = "macos") {
        let items: String = std::iter::once(exe.display().to_string())
            .chain(args.iter().cloned())
            .map(|s| format!("    <string>{}</string>\n", xml_escape(&s)))
            .collect();
        (
            a.output.join("com.patchwork.witness.plist"),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
                 <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
                 <plist version=\"1.0\">\n<dict>\n  <key>Label</key><string>com.patchwork.witness</string>\n  \
                 <key>UserName</key><string>{}</string>\n  <key>ProgramArguments</key>\n  <array>\n{items}  </array>\n  \
                 <key>RunAtLoad</key><true/>\n  <key>KeepAlive</key><true/>\n</dict>\n</plist>\n",
                xml_escape(&a.user)
            ),
            "sudo cp com.patchwork.witness.plist /Library/LaunchDaemons/ && \
             sudo launchctl bootstrap system /Library/LaunchDaemons/com.patchwork.witness.plist",
        )
    } else {
        let cmdline: Vec<String> = std::iter::once(exe.display().to_string())
            .chain(args.iter().cloned())
            .map(|s| shell_quote(&s))
            .collect();
        (
            a.output.join("patchwork-witness.service"),
            format!(
                "[Unit]\nDescription=patchwork-gateway checkpoint witness\nAfter=local-fs.target\n\n\
                 [Service]\nUser={user}\nRuntimeDirectory={rt}\nRuntimeDirectoryMode=0755\n\
                 StateDirectory={state}\nExecStart={cmd}\nRestart=always\nNoNewPrivileges=yes\n\
                 ProtectSystem=strict\nReadWritePaths={dir}\nPrivateTmp=yes\n\n[Install]\nWantedBy=multi-user.target\n",
                user = a.user,
                rt = a
                    .socket
                    .parent()
                    .and_then(|p| p.file_name())
                    .map_or("patchwork-witness".into(), |n| n
                        .to_string_lossy()
                        .to_string()),
                state = a.dir.file_name().map_or("patchwork-witness".into(), |n| n
                    .to_string_lossy()
                    .to_string()),
                cmd = cmdline.join(" "),
                dir = a.dir.display(),
            ),
            "sudo useradd --system --no-create-home patchwork-witness; \
             sudo cp patchwork-witness.service /etc/systemd/system/ && \
             sudo systemctl daemon-reload && sudo systemctl enable --now patchwork-witness",
        )
    };
    std::fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    println!("wrote {}", file.display());
    println!(
        "install it as an administrator (the witness must run as a user other than the agent's):"
    );
    println!("  cd {} && {steps}", a.output.display());
    println!(
        "then point the gateway at it: export PATCHWORK_WITNESS=unix:{}",
        a.socket.display()
    );
    Ok(0)
}

fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-:=+".contains(&b))
    {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
