//! Risk rules for shell commands. Every simple command the shell analysis found (wrappers
//! peeled, nested scripts expanded) is judged here by what its canonical argv does: which
//! files it reads, writes or deletes, where it connects, what it runs.

use super::{Classifier, places};
use crate::call::{Action, TargetKind};
use crate::policy::findings::Code;
use crate::policy::paths;
use crate::policy::shell::{self, Command, RedirectKind, ShellEnv, Stdin, Word};
use std::path::{Path, PathBuf};

const INTERPRETERS: &[&str] = &[
    "python",
    "python2",
    "python3",
    "node",
    "nodejs",
    "deno",
    "bun",
    "perl",
    "ruby",
    "php",
    "lua",
    "Rscript",
    "pwsh",
    "powershell",
    "osascript",
    "tclsh",
    "wish",
    "expect",
    "julia",
];
/// Commands that print or copy the contents of the files they are given.
const READERS: &[&str] = &[
    "cat",
    "tac",
    "nl",
    "head",
    "tail",
    "less",
    "more",
    "most",
    "bat",
    "batcat",
    "view",
    "strings",
    "xxd",
    "od",
    "hexdump",
    "hd",
    "base64",
    "base32",
    "basenc",
    "uuencode",
    "sort",
    "uniq",
    "cut",
    "paste",
    "fold",
    "fmt",
    "pr",
    "column",
    "rev",
    "diff",
    "cmp",
    "comm",
    "sdiff",
    "iconv",
    "zcat",
    "bzcat",
    "xzcat",
    "zstdcat",
    "gzip",
    "bzip2",
    "xz",
    "zstd",
    "jq",
    "yq",
    "look",
    "expand",
    "unexpand",
    "split",
    "csplit",
    "openssl",
    "gpg",
    "ssh-keygen",
    "xclip",
    "xsel",
    "pbcopy",
    "wl-copy",
    "mail",
    "sendmail",
    "lp",
    "enscript",
    "source",
    ".",
];
/// Commands whose first operand is a pattern or program, not a file.
const PATTERN_READERS: &[&str] = &[
    "grep", "egrep", "fgrep", "zgrep", "rg", "ag", "ack", "sed", "awk", "gawk", "mawk", "nawk",
];
/// Commands that only look at names and metadata, never contents.
const METADATA: &[&str] = &[
    "ls",
    "stat",
    "file",
    "test",
    "[",
    "[[",
    "du",
    "realpath",
    "readlink",
    "basename",
    "dirname",
    "echo",
    "printf",
    "which",
    "type",
    "wc",
    "md5sum",
    "sha1sum",
    "sha256sum",
    "sha512sum",
    "b2sum",
    "cksum",
    "true",
    "false",
    "cd",
    "pushd",
    "popd",
    "exa",
    "eza",
    "tree",
    "lsattr",
    "getfacl",
    "namei",
    "df",
    "findmnt",
    "mountpoint",
    // No file operands at all: character sets, numbers, expressions.
    "tr",
    "expr",
    "seq",
    "sleep",
    "yes",
];
const EDITORS: &[&str] = &[
    "vi", "vim", "nvim", "nano", "emacs", "code", "subl", "ed", "ex", "pico", "micro", "helix",
    "hx", "kak",
];
const REMOTE_SHELLS: &[&str] = &[
    "ssh",
    "sftp",
    "scp",
    "mosh",
    "rsh",
    "rlogin",
    "rcp",
    "ssh-copy-id",
    "autossh",
    "sshpass",
    "ftp",
    "lftp",
    "tftp",
    "telnet",
    "smbclient",
];
const RAW_SOCKETS: &[&str] = &["nc", "ncat", "netcat", "socat", "cryptcat", "pwncat"];
const PRIVILEGE: &[&str] = &[
    "sudo", "doas", "su", "pkexec", "runuser", "sudoedit", "run0",
];
const POWER: &[&str] = &["shutdown", "reboot", "halt", "poweroff", "kexec", "telinit"];
const DISK_TOOLS: &[&str] = &[
    "mkfs",
    "mke2fs",
    "mkswap",
    "wipefs",
    "fdisk",
    "sfdisk",
    "cfdisk",
    "parted",
    "gdisk",
    "sgdisk",
    "blkdiscard",
    "cryptsetup",
    "zpool",
    "lvremove",
    "vgremove",
    "pvremove",
];
/// Commands that reconfigure the machine: firewall, network, mounts, users, kernel.
const SYSTEM_ADMIN: &[&str] = &[
    "iptables",
    "ip6tables",
    "nft",
    "ufw",
    "firewall-cmd",
    "swapoff",
    "umount",
    "mount",
    "sysctl",
    "ip",
    "ifconfig",
    "userdel",
    "useradd",
    "usermod",
    "deluser",
    "adduser",
    "groupdel",
    "passwd",
    "chpasswd",
    "modprobe",
    "rmmod",
    "insmod",
    "setenforce",
    "loginctl",
];
const DATABASES: &[&str] = &[
    "psql",
    "mysql",
    "mariadb",
    "sqlite3",
    "mongo",
    "mongosh",
    "redis-cli",
    "cqlsh",
    "clickhouse-client",
    "cockroach",
    "sqlcmd",
    "dropdb",
    "dropuser",
    "mysqladmin",
    "mariadb-admin",
];

/// Parsed options and operands of one command.
pub(super) struct Args<'c> {
    pub(super) opts: Vec<String>,
    pub(super) operands: Vec<&'c Word>,
}

impl Args<'_> {
    /// Splits `argv[1..]`: words starting with `-` before `--` are options; option names in
    /// `takes_value` consume the next word (kept as `-x=value`).
    pub(super) fn parse<'c>(argv: &'c [Word], takes_value: &[&str]) -> Args<'c> {
        let mut opts = Vec::new();
        let mut operands = Vec::new();
        let mut words = argv.iter().skip(1);
        let mut options_done = false;
        while let Some(w) = words.next() {
            let t = w.text.as_str();
            if options_done || t == "-" || !t.starts_with('-') {
                operands.push(w);
            } else if t == "--" {
                options_done = true;
            } else if takes_value.contains(&t) {
                let v = words.next().map(|v| v.text.as_str()).unwrap_or("");
                opts.push(format!("{t}={v}"));
            } else if let Some((flags, opt, v)) = attached_value(t, takes_value) {
                if !flags.is_empty() {
                    opts.push(flags.to_string());
                }
                opts.push(format!("{opt}={v}"));
            } else if let Some(short) = combined_value_option(t, takes_value) {
                // `-sT FILE`: flags, then an option whose value is the next word.
                let v = words.next().map(|v| v.text.as_str()).unwrap_or("");
                opts.push(t[..t.len() - 1].to_string());
                opts.push(format!("{short}={v}"));
            } else {
                opts.push(t.to_string());
            }
        }
        Args { opts, operands }
    }

    /// A short option letter, alone or combined (`-rf` has `r`).
    pub(super) fn short(&self, c: char) -> bool {
        self.opts
            .iter()
            .any(|o| !o.starts_with("--") && o[1..].split('=').next().unwrap_or("").contains(c))
    }

    /// A long option, with or without `=value`.
    pub(super) fn long(&self, name: &str) -> bool {
        self.opts.iter().any(|o| {
            o.strip_prefix("--")
                .is_some_and(|r| r == name || r.starts_with(&format!("{name}=")))
        })
    }

    /// The destination of `cp`/`mv`-style commands: `-t DIR`, else the last of several
    /// operands (removed from `operands`, which are then the sources).
    pub(super) fn destination(&self, operands: &mut Vec<&Word>) -> Option<Word> {
        match self.value(&["-t", "--target-directory"]) {
            Some(d) => Some(Word {
                text: d.to_string(),
                glob: false,
                dynamic: false,
            }),
            None if operands.len() > 1 => operands.pop().cloned(),
            None => None,
        }
    }

    /// The value of an option given as `-x=v`, `--name=v` or `-x v` (when declared).
    pub(super) fn value(&self, names: &[&str]) -> Option<&str> {
        self.opts.iter().find_map(|o| {
            names
                .iter()
                .find_map(|n| o.strip_prefix(n).and_then(|r| r.strip_prefix('=')))
        })
    }
}

impl Classifier<'_> {
    /// Analyses a shell script and judges every command in it.
    pub(super) fn shell(&mut self, script: &str, cwd: &Path) {
        let env = ShellEnv {
            home: self.env.home.clone(),
            vars: [("PWD".to_string(), cwd.display().to_string())]
                .into_iter()
                .collect(),
        };
        let analysis = shell::analyze(script, &env);
        if let Some(why) = &analysis.budget_exhausted {
            self.finding(Code::ShellAnalysisBudget, format!(
                    "the command is too costly to analyse ({why}); split it into smaller, plainer commands"
                ),
                why,
            );
        }
        for problem in &analysis.problems {
            if problem.starts_with("shell parse error") {
                // Key sequences, placeholders (`<command>`) and prose are refused because
                // they cannot run as written, not because they look dangerous.
                self.finding(
                    Code::ShellNotShell,
                    format!(
                        "this is not a shell command ({problem}); send the literal command to run"
                    ),
                    problem,
                );
                continue;
            }
            self.finding(
                Code::ShellUnresolvable,
                format!(
                    "the command cannot be analysed statically ({problem}); write it out plainly"
                ),
                problem,
            );
        }
        for cmd in &analysis.commands {
            self.command(cmd, cwd);
        }
        self.tracked_sweep();
        if self.gateway_lookup
            && let Some(span) = self.dynamic_sink.take()
        {
            self.finding(Code::SelfTamper, "changes, deletes or links a file found by looking up the gateway; the agent may not touch the gateway",
                &span,
            );
        }
        if self.gateway_lookup
            && let Some(span) = self.dynamic_kill.take()
        {
            self.finding(Code::SelfKill, "signals processes found by looking up the gateway; the agent may not stop the gateway",
                &span,
            );
        }
    }

    /// Judges one canonical simple command.
    fn command(&mut self, cmd: &Command, base: &Path) {
        let cwd = match &cmd.cwd {
            Some(dir) => self.resolve(dir, base),
            None => base.to_path_buf(),
        };
        self.unknown_cwd = cmd.cwd_unknown();
        self.quiet_copy = false;
        self.listed_by = cmd
            .wrappers
            .last()
            .filter(|w| w.starts_with("xargs"))
            .and_then(|w| w.split_once(crate::policy::shell::FIND_FILTERED))
            .map(|(_, t)| t.split_whitespace().map(str::to_string).collect());
        let args = cmd.args();
        let span = args.join(" ");
        if !args.is_empty() {
            self.out
                .segments
                .push(args.iter().map(|s| s.to_string()).collect());
            self.target(TargetKind::Command, Action::CommandExecute, span.clone());
        }
        for w in &cmd.wrappers {
            let name = w.split_whitespace().next().unwrap_or("");
            if PRIVILEGE.contains(&name) {
                self.privilege(name, &span);
            }
        }
        for r in &cmd.redirects {
            let action = match r.kind {
                RedirectKind::Read => Action::FileRead,
                RedirectKind::Write | RedirectKind::Append | RedirectKind::ReadWrite => {
                    Action::FileWrite
                }
            };
            self.word_paths(&r.target, action, &cwd, &span);
        }
        if let Stdin::File(w) = &cmd.stdin {
            self.word_paths(w, Action::FileRead, &cwd, &span);
        }
        self.code_variables(cmd, &span);
        self.guard_variables(cmd, &span);
        let Some(first) = cmd.argv.first() else {
            return;
        };
        if !matches!(cmd.name(), "kill" | "pkill" | "killall")
            && (args.iter().skip(1).any(|a| a.contains("patchwork"))
                || super::system::finds_gateway(cmd))
        {
            self.gateway_lookup = true;
        }
        if first.dynamic {
            self.finding(
                Code::ShellDynamicCommand,
                format!(
                    "the command name `{}` is computed at run time and cannot be checked",
                    first.text
                ),
                &span,
            );
            return;
        }
        self.by_name(cmd, &cwd, &span);
    }

    /// Variables that make programs load or run code (`LD_PRELOAD`, `BASH_ENV`,
    /// `PROMPT_COMMAND`…), set as a prefix or exported.
    fn code_variables(&mut self, cmd: &Command, span: &str) {
        const CODE_VARS: &[&str] = &[
            "LD_PRELOAD",
            "LD_AUDIT",
            "DYLD_INSERT_LIBRARIES",
            "BASH_ENV",
            "PROMPT_COMMAND",
        ];
        /// Variables naming a program that other programs start (pagers, editors, ssh).
        const RUNNER_VARS: &[&str] = &[
            "PAGER",
            "GIT_PAGER",
            "MANPAGER",
            "SYSTEMD_PAGER",
            "PSQL_PAGER",
            "EDITOR",
            "VISUAL",
            "GIT_EDITOR",
            "GIT_SEQUENCE_EDITOR",
            "GIT_SSH_COMMAND",
            "GIT_SSH",
            "GIT_EXTERNAL_DIFF",
            "GIT_ASKPASS",
            "SSH_ASKPASS",
            "SUDO_ASKPASS",
            "LESSOPEN",
            "LESSCLOSE",
        ];
        let declares = matches!(
            cmd.name(),
            "export" | "declare" | "typeset" | "readonly" | "local" | "env"
        );
        let assigned = cmd
            .assignments
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .chain(
                cmd.argv
                    .iter()
                    .skip(1)
                    .filter(|_| declares)
                    .filter_map(|w| w.text.split_once('=')),
            )
            .collect::<Vec<_>>();
        self.git_config_variables(&assigned, span);
        for &(name, value) in &assigned {
            let node_require = name == "NODE_OPTIONS"
                && (value.contains("--require")
                    || value.contains("-r ")
                    || value.contains("--import"));
            if RUNNER_VARS.contains(&name) {
                let program = if name.starts_with("LESS") {
                    value.trim_start_matches(['|', '-']).replace("%s", "")
                } else {
                    value.to_string()
                };
                self.runner(name, &program, span);
            }
            if (CODE_VARS.contains(&name) || node_require) && !value.is_empty() {
                self.finding(
                    Code::ShellCodeVariable,
                    format!("`{name}` makes later programs load or run `{value}`"),
                    span,
                );
            }
        }
    }

    /// Git settings given in the environment for one command (`GIT_CONFIG_PARAMETERS`,
    /// `GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n`): judged as the same settings after `git -c`.
    fn git_config_variables(&mut self, assigned: &[(&str, &str)], span: &str) {
        for &(name, value) in assigned {
            if name == "GIT_CONFIG_PARAMETERS" {
                let env = ShellEnv {
                    home: self.env.home.clone(),
                    vars: Default::default(),
                };
                let words = shell::analyze(&format!("true {value}"), &env);
                let pairs: Vec<String> = words
                    .commands
                    .first()
                    .map(|c| c.argv.iter().skip(1).map(|w| w.text.clone()).collect())
                    .unwrap_or_default();
                for pair in pairs {
                    let (k, v) = pair.split_once('=').unwrap_or((&pair, ""));
                    self.git_config(k, v, true, span);
                }
            } else if let Some(n) = name.strip_prefix("GIT_CONFIG_KEY_") {
                let value_name = format!("GIT_CONFIG_VALUE_{n}");
                let v = assigned
                    .iter()
                    .find(|(k, _)| *k == value_name)
                    .map_or("", |(_, v)| *v);
                self.git_config(value, v, true, span);
            }
        }
    }

    /// A program another program runs for us (`GIT_PAGER=sh`, `EDITOR='python3 -c …'`,
    /// `git -c core.sshCommand=…`): a shell or an interpreter there runs whatever it is fed
    /// (the pager's text, the file to edit, the ssh arguments), so it is code execution; a
    /// computed program is unresolvable; an ordinary tool (`less -R`, `vim`, `code --wait`)
    /// passes. What the value itself runs is judged by the shell analysis.
    pub(super) fn runner(&mut self, setting: &str, value: &str, span: &str) {
        if value.trim().is_empty() {
            return;
        }
        let env = ShellEnv {
            home: self.env.home.clone(),
            vars: Default::default(),
        };
        let analysis = shell::analyze(value, &env);
        for c in &analysis.commands {
            let Some(first) = c.argv.first() else {
                continue;
            };
            let program = match c.nested_in.first() {
                Some(route) => route.split_whitespace().next().unwrap_or(""),
                None => c.name(),
            };
            let program = program.rsplit('/').next().unwrap_or(program);
            let base = program.trim_end_matches(|ch: char| ch.is_ascii_digit() || ch == '.');
            if first.dynamic && c.nested_in.is_empty() {
                self.finding(
                    Code::ShellRunnerUnresolvable,
                    format!("`{setting}` names a program computed at run time (`{value}`)"),
                    span,
                );
            } else if shell::is_shell(program)
                || INTERPRETERS.contains(&program)
                || INTERPRETERS.contains(&base)
            {
                self.finding(Code::ShellRunnerCode, format!("`{setting}` makes a program run `{program}`, which executes what it is given"),
                    span,
                );
            }
        }
    }

    /// The gateway's own switches (`PATCHWORK_POLICY`, `PATCHWORK_HOME`, `CLAUDE_CONFIG_DIR`)
    /// set, exported or unset:
    /// a program started with them (another agent, a hook) runs under a weaker policy or
    /// writes to another ledger.
    fn guard_variables(&mut self, cmd: &Command, span: &str) {
        // CLAUDE_CONFIG_DIR points Claude Code at settings without the gateway's hooks.
        const SWITCHES: &[&str] = &["PATCHWORK_POLICY", "PATCHWORK_HOME", "CLAUDE_CONFIG_DIR"];
        let declares = matches!(
            cmd.name(),
            "export" | "declare" | "typeset" | "readonly" | "local" | "env" | "unset" | "setenv"
        );
        let named = cmd.assignments.iter().map(|(n, _)| n.as_str()).chain(
            cmd.argv
                .iter()
                .skip(1)
                .filter(|_| declares)
                .map(|w| w.text.split('=').next().unwrap_or("")),
        );
        for name in named {
            if SWITCHES.contains(&name) {
                self.finding(Code::SelfEnvSwitch, format!("`{name}` chooses the gateway's policy or ledger; the agent may not change it"),
                    span,
                );
            }
        }
    }

    /// Applies the rules for the command's name.
    fn by_name(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        let argv = &cmd.argv;
        let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        self.quiet_copy = quiet_copy(cmd);
        self.families(cmd, span);
        self.request_arguments(cmd, span);
        self.credentials_printed(cmd, span);
        self.secret_variables(cmd, span);
        self.framework_database(cmd, span);
        self.package_published(cmd, span);
        self.package_manager_shell(cmd, span);
        self.package_from_url(cmd, span);
        match name {
            "rm" | "unlink" | "rmdir" | "shred" | "srm" | "rimraf" | "del-cli" | "trash"
            | "trash-put" => self.rm(cmd, cwd, span),
            "find" => self.find(cmd, cwd, span),
            "mv" => self.mv(cmd, cwd, span),
            "cp" | "install" | "rsync" | "scp" => {
                self.copy(cmd, cwd, span);
                self.link_command(cmd, cwd, span);
            }
            "link" => self.link_command(cmd, cwd, span),
            "ln" => {
                self.link_command(cmd, cwd, span);
                let a = Args::parse(argv, &["-t", "-S"]);
                let link = a
                    .value(&["-t", "--target-directory"])
                    .map(|d| Word {
                        text: d.to_string(),
                        glob: false,
                        dynamic: false,
                    })
                    .or_else(|| match a.operands.len() {
                        0 => None,
                        1 => Some(Word {
                            text: a.operands[0]
                                .text
                                .rsplit('/')
                                .next()
                                .unwrap_or_default()
                                .to_string(),
                            glob: false,
                            dynamic: false,
                        }),
                        _ => a.operands.last().map(|w| (*w).clone()),
                    });
                if a.operands.first().is_some_and(|t| t.dynamic) {
                    self.dynamic_sink.get_or_insert_with(|| span.to_string());
                }
                self.gateway_alias(&a.operands, span);
                if let Some(link) = link {
                    let made = self.word_paths(&link, Action::FileWrite, cwd, span);
                    if let (Some(target), [link_path]) = (a.operands.first(), made.as_slice()) {
                        let base = link_path.parent().unwrap_or(cwd);
                        let target = self.resolve(&target.text, base);
                        let link_path = if link_path.is_dir() {
                            link_path.join(target.file_name().unwrap_or_default())
                        } else {
                            link_path.clone()
                        };
                        self.links.push((link_path, target));
                    }
                }
            }
            "touch" | "mkdir" | "mkfifo" | "mknod" | "tee" | "truncate" | "sponge" => {
                let a = Args::parse(
                    argv,
                    &["-s", "-r", "-m", "-d", "-t", "--size", "--reference"],
                );
                for w in a.operands {
                    for p in self.word_paths(w, Action::FileWrite, cwd, span) {
                        if name == "truncate" {
                            self.delete_outside(&p, span);
                        }
                    }
                }
            }
            "chmod" | "chown" | "chgrp" | "chattr" | "setfacl" | "chcon" => {
                self.permissions(cmd, cwd, span)
            }
            "dd" => self.dd(cmd, cwd, span),
            "git" => self.git(cmd, cwd, span),
            "gh" | "glab" => self.gh(cmd, cwd, span),
            "curl" => self.curl(cmd, cwd, span),
            "wget" => self.wget(cmd, cwd, span),
            "env" | "printenv" | "export" | "set" | "declare" | "typeset" | "compgen" | "ps" => {
                self.env_dump(cmd, span)
            }
            "kill" | "pkill" | "killall" | "killall5" | "skill" | "xkill" => self.kill(cmd, span),
            "crontab" => {
                let a = Args::parse(argv, &["-u"]);
                if a.short('r') {
                    self.finding(Code::PersistenceCrontabRemove, "crontab -r deletes every scheduled job of the user",
                        span,
                    );
                } else if !a.short('l') {
                    self.finding(Code::PersistenceCrontab, "changes the user's crontab: code that runs later, outside this session",
                        span,
                    );
                }
            }
            "launchctl"
                if argv.get(1).is_some_and(|w| {
                    matches!(
                        w.text.as_str(),
                        "list" | "print" | "blame" | "help" | "version"
                    )
                }) => {}
            "at" | "batch" | "launchctl" => self.finding(Code::PersistenceSchedule, format!("`{name}` schedules code to run outside this session"),
                span,
            ),
            "systemctl" | "service" => self.systemctl(cmd, span),
            "docker" | "podman" => self.docker(cmd, cwd, span),
            "docker-compose" | "podman-compose" => self.compose(cmd, span),
            // macOS login and logout hooks run a script at every session.
            "defaults"
                if cmd
                    .args()
                    .iter()
                    .any(|a| matches!(*a, "LoginHook" | "LogoutHook"))
                    && cmd.operands().first() == Some(&"write") =>
            {
                self.finding(Code::PersistenceLoginHook, "installs a login or logout hook: a script that runs at every session",
                    span,
                )
            }
            // macOS disk tools: erasing, partitioning, zeroing (listing and info pass).
            "diskutil"
                if cmd.operands().first().is_some_and(|s| {
                    let s = s.to_ascii_lowercase();
                    s.starts_with("erase")
                        || s.starts_with("partition")
                        || matches!(s.as_str(), "zerodisk" | "randomdisk" | "secureerase" | "reformat")
                }) =>
            {
                self.finding(Code::SystemDisk, "`diskutil` erases or repartitions a disk",
                    span,
                )
            }
            "zfs" if matches!(cmd.operands().first(), Some(&("destroy" | "rollback"))) => self
                .finding(Code::SystemDisk, "`zfs destroy` deletes datasets and their snapshots",
                    span,
                ),
            "kubectl" | "helm" | "terraform" | "tofu" | "terragrunt" | "pulumi" | "aws"
            | "gcloud" | "gsutil" | "az" | "doctl" | "flyctl" | "heroku" | "fly" | "cdk"
            | "serverless" | "sls" | "vercel" | "netlify" | "firebase" | "wrangler" | "railway"
            | "amplify" | "sam" | "eksctl" | "copilot" | "rclone" | "s3cmd" | "azcopy" | "mc" => {
                self.cloud(cmd, span);
                self.secret_arguments(cmd, cwd, span);
            }
            // Claude Code's own CLI: settings and MCP registrations hold the gateway's hooks.
            "claude"
                if matches!(
                    cmd.operands().as_slice(),
                    ["config", "set" | "add" | "remove" | "rm", ..]
                        | ["mcp", "remove" | "add" | "add-json" | "reset-project-choices", ..]
                ) || cmd.args().iter().any(|a| {
                    *a == "--dangerously-skip-permissions" || a.contains("bypassPermissions")
                }) =>
            {
                self.finding(Code::SelfReconfigure, "changes Claude Code's settings or MCP servers, or starts it without permission checks",
                    span,
                )
            }
            "patchwork-gateway" => {
                if argv
                    .iter()
                    .any(|w| matches!(w.text.as_str(), "uninstall" | "--uninstall" | "init"))
                    || argv.windows(2).any(|w| {
                        w[0].text == "pins" && matches!(w[1].text.as_str(), "approve" | "forget")
                    })
                {
                    self.finding(Code::SelfReconfigure, "the agent may not install, remove or reconfigure the gateway itself, nor approve its pinned MCP tools",
                        span,
                    );
                }
            }
            "http" | "https" | "xh" | "xhs" => self.httpie(cmd, cwd, span),
            "httpd" | "http-server" | "serve" => {
                let a = Args::parse(argv, &["-h", "-p", "-a", "-l", "--listen"]);
                let dir = a
                    .value(&["-h"])
                    .or_else(|| a.operands.first().map(|w| w.text.as_str()))
                    .unwrap_or(".");
                let bind = a
                    .value(&["-a", "-l", "--listen", "-p"])
                    .filter(|b| b.contains(':') || b.contains('.'));
                self.serve_files(dir, bind, cwd, span);
            }
            "ngrok" | "cloudflared" | "lt" | "localtunnel" | "bore" | "chisel" | "frpc"
            | "tailscale" | "zrok" | "devtunnel" | "loclx" | "localxpose" | "telebit"
            | "pagekite" | "pagekite.py" => {
                self.tunnel(cmd, span)
            }
            "dig" | "nslookup" | "host" | "drill" | "resolvectl" => {
                if argv.iter().skip(1).any(|w| w.dynamic) {
                    self.finding(Code::NetDnsExfiltration, "a DNS lookup of a computed name can smuggle data out",
                        span,
                    );
                }
            }
            _ if PRIVILEGE.contains(&name) => self.privilege(name, span),
            _ if POWER.contains(&name)
                || (name == "init"
                    && argv.get(1).is_some_and(|w| w.text == "0" || w.text == "6")) =>
            {
                self.finding(Code::SystemPower, format!("`{name}` stops or restarts the machine"),
                    span,
                )
            }
            _ if super::system::disk_inspection(cmd) => self.secret_arguments(cmd, cwd, span),
            _ if DISK_TOOLS.contains(&base)
                || name.starts_with("mkfs.")
                || name == "newfs"
                || name.starts_with("newfs_") =>
            {
                self.finding(Code::SystemDisk, format!("`{name}` rewrites disks or partitions"),
                span,
            )
            }
            _ if REMOTE_SHELLS.contains(&name) => self.remote(cmd, cwd, span),
            _ if RAW_SOCKETS.contains(&name) => self.socket(cmd, span),
            _ if DATABASES.contains(&name) => {
                self.database(cmd, span);
                self.secret_arguments(cmd, cwd, span);
                // sqlite3's first operand is the database file it opens and can dump whole.
                if name == "sqlite3"
                    && let Some(db) = cmd.operands().first()
                {
                    self.raw_path(db, Action::FileRead, cwd, span);
                }
            }
            _ if SYSTEM_ADMIN.contains(&name) => self.system_admin(cmd, span),
            _ if crate::policy::shell::is_shell(name) || name == "busybox" => {
                self.nested_shell(cmd, cwd, span)
            }
            _ if INTERPRETERS.contains(&name) || INTERPRETERS.contains(&base) => {
                self.interpreter(cmd, cwd, span)
            }
            _ if READERS.contains(&name) => {
                if matches!(name, "source" | ".") {
                    self.source(cmd, cwd, span);
                }
                let a = Args::parse(
                    argv,
                    &["-n", "-c", "-o", "-in", "-out", "-keyout", "-t", "-k"],
                );
                for w in &a.operands {
                    let found = self.word_paths(w, Action::FileRead, cwd, span);
                    self.secret_folders(&found, span);
                    if under_find_exec(cmd) {
                        self.tree_secrets(&found, span);
                    }
                }
                for (o, v) in a.opts.iter().filter_map(|o| o.split_once('=')) {
                    let action = if matches!(o, "-out" | "-keyout" | "-o") {
                        Action::FileWrite
                    } else {
                        Action::FileRead
                    };
                    if !v.is_empty() && !v.starts_with('-') {
                        self.raw_path(v, action, cwd, span);
                    }
                }
            }
            _ if PATTERN_READERS.contains(&name) => self.pattern_reader(cmd, cwd, span),
            _ if EDITORS.contains(&name) => {
                for w in Args::parse(argv, &[]).operands {
                    self.word_paths(w, Action::FileRead, cwd, span);
                    self.word_paths(w, Action::FileEdit, cwd, span);
                }
            }
            "tar" | "zip" | "unzip" | "7z" | "7za" | "rar" | "cpio" | "pax" => {
                self.archive(cmd, cwd, span)
            }
            _ if METADATA.contains(&name) => {}
            _ => self.other(cmd, cwd, span),
        }
    }

    /// The paths a word stands for, recorded as targets of `action`.
    pub(super) fn word_paths(
        &mut self,
        w: &Word,
        action: Action,
        cwd: &Path,
        span: &str,
    ) -> Vec<PathBuf> {
        // After `cd "$dir"`, a relative name is in a folder known only at run time.
        if !w.dynamic && self.unknown_cwd && !w.text.starts_with(['/', '~']) {
            let w = Word {
                text: format!("$PWD/{}", w.text),
                glob: w.glob,
                dynamic: true,
            };
            return self.word_paths(&w, action, cwd, span);
        }
        if w.dynamic {
            // `"$DIR/.env"`, `/proc/$$/environ`: the folder is computed, the file name is not.
            let name = w.text.rsplit('/').next().unwrap_or("");
            let static_name = !name.is_empty() && !name.contains(['$', '(', '`', '{', '*', '?']);
            if static_name
                && matches!(action, Action::FileRead | Action::FileGrep)
                && let Some(kind) = places::secret_kind(Path::new(&w.text), self.env)
            {
                self.finding(
                    Code::SecretsRead,
                    format!("`{}` is {kind}, whatever folder it is in", w.text),
                    span,
                );
            }
            if matches!(
                action,
                Action::FileWrite | Action::FileCreate | Action::FileEdit | Action::FileDelete
            ) {
                let delete = action == Action::FileDelete;
                self.dynamic_change
                    .get_or_insert_with(|| (span.to_string(), delete));
                self.dynamic_sink.get_or_insert_with(|| span.to_string());
                self.dynamic_target(w, action, static_name.then_some(name), span);
            }
            return Vec::new();
        }
        let found = if w.glob {
            let mut found = paths::expand_glob(&w.text, cwd, &self.env.home);
            // Names from a filtered `find` listing: only the files its tests select now. A
            // listing aimed at a folder of the guard's (`find .claude -mtime +10`) may have
            // its tests tuned to reach the guard's files, so those stay.
            if let Some(tests) = &self.listed_by {
                let (base, _) = super::files::glob_base(&w.text);
                let base = self.resolve(if base.is_empty() { "." } else { &base }, cwd);
                let aimed =
                    !self.env.project.starts_with(&base) && !self.env.home.starts_with(&base);
                found.retain(|p| {
                    paths::has_glob_chars(&p.to_string_lossy())
                        || super::files::find_selects(p, tests)
                        || aimed && places::guard_file(p, self.env).is_some()
                });
            }
            found
        } else {
            vec![self.resolve(&w.text, cwd)]
        };
        // `find / -iname '*.mp3' -exec mv {} …`: a change of whatever matches a pattern
        // rooted in a system folder, wherever it is and whether or not it matches here.
        if w.glob
            && matches!(
                action,
                Action::FileWrite | Action::FileCreate | Action::FileEdit | Action::FileDelete
            )
        {
            let (base, rest) = super::files::glob_base(&w.text);
            let base = self.resolve(if base.is_empty() { "." } else { &base }, cwd);
            if places::system_path(&base) && !base.starts_with(&self.env.home) {
                self.finding(
                    Code::SystemWide,
                    format!(
                        "changes the files matching `{rest}` below {}",
                        base.display()
                    ),
                    span,
                );
            }
        }
        for p in &found {
            // A pattern's matches copied or packed into local files (`cp * dir/`, `tar cf
            // a.tar *`, `gzip *`) print nothing: a secret file among them is not exposed.
            let quiet = w.glob
                && self.quiet_copy
                && action == Action::FileRead
                && places::secret_kind(p, self.env).is_some()
                && !places::guard_secret(p, self.env);
            if quiet {
                self.target(TargetKind::Path, action, p.display().to_string());
                continue;
            }
            if action == Action::FileEdit
                && let Some(m) = &self.edits_matching
                && (places::guard_file(p, self.env).is_some()
                    || places::secret_kind(p, self.env).is_some())
                && !super::files::prints_a_line(m, p)
            {
                self.target(TargetKind::Path, Action::FileGlob, p.display().to_string());
                continue;
            }
            // `rm -f DIR`, `rmdir DIR`: a folder holding anything stays, an empty one holds
            // nothing to lose (system folders apart: an empty one may still be needed).
            if self.keeps_folders
                && action == Action::FileDelete
                && p.symlink_metadata().is_ok_and(|m| m.is_dir())
                && !places::system_path(p)
            {
                continue;
            }
            self.path(action, p.clone(), span);
        }
        // A glob that matches nothing here may match elsewhere (`/home/*/.ssh/id_*`): judged
        // by the names it can stand for.
        if w.glob
            && matches!(action, Action::FileRead | Action::FileGrep)
            && let [p] = found.as_slice()
            && paths::has_glob_chars(&p.to_string_lossy())
            && places::secret_pattern(p)
        {
            self.finding(
                Code::SecretsRead,
                format!("`{}` names secret files wherever it matches", w.text),
                span,
            );
        }
        found
    }

    /// A file known only at run time, judged at its sink by the worst it can stand for: a
    /// deletion of an unknown file cannot be checked; a write or permission change can only
    /// hurt where the name lands on the guard's files or a start-up file, so it is recorded
    /// (low) unless its written-out name is one of those. Listings and searches of an unknown
    /// folder are judged by what they print (secret names), not here.
    fn dynamic_target(&mut self, w: &Word, action: Action, name: Option<&str>, span: &str) {
        let sensitive = name.is_some_and(|n| {
            let probe = [
                self.env.home.join(n),
                self.env.home.join(".ssh").join(n),
                self.env.project.join(".claude").join(n),
            ];
            probe.iter().any(|p| {
                places::guard_file(p, self.env).is_some()
                    || places::persistence_kind(p, self.env).is_some()
            }) || n == ".mcp.json"
                || n == ".claude.json"
                || n.contains("patchwork")
        }) || {
            let text = w.text.to_ascii_lowercase();
            [
                "hooks/",
                ".git/",
                "claude",
                ".ssh/",
                "cron",
                "patchwork",
                ".mcp",
            ]
            .iter()
            .any(|d| text.contains(d))
        };
        if action == Action::FileDelete || sensitive {
            self.finding(
                Code::FilesDynamicTarget,
                format!("the file `{}` is computed at run time", w.text),
                span,
            );
        } else {
            self.finding(
                Code::FilesDynamicWrite,
                format!("writes `{}`, a file computed at run time", w.text),
                span,
            );
        }
    }

    /// The arguments an HTTP client sends besides the URL (headers, bodies, forms): a
    /// credential or a secret's value in them leaves with the request.
    fn request_arguments(&mut self, cmd: &Command, span: &str) {
        if !matches!(
            cmd.name(),
            "curl" | "wget" | "http" | "https" | "xh" | "xhs" | "curlie" | "aria2c"
        ) {
            return;
        }
        let urls: Vec<&str> = cmd
            .argv
            .iter()
            .skip(1)
            .map(|w| w.text.as_str())
            .filter(|t| t.contains("://") || t.starts_with("www."))
            .collect();
        if !urls.is_empty() && urls.iter().all(|u| super::local_host(u)) {
            return;
        }
        let dest = urls
            .first()
            .map_or("another host", |u| super::host_of(u))
            .to_string();
        for w in cmd.argv.iter().skip(1) {
            if !w.text.contains("://") && w.text.len() <= 64 * 1024 {
                self.outbound_text(&w.text, &dest, span);
            }
        }
    }

    /// A path given inside an option value (`if=.env`, `--post-file=.env`).
    pub(super) fn raw_path(&mut self, raw: &str, action: Action, cwd: &Path, span: &str) {
        let w = Word {
            text: raw.to_string(),
            glob: false,
            dynamic: false,
        };
        self.word_paths(&w, action, cwd, span);
    }

    /// Folders holding credentials given to a reader (`grep -r x ~`, `find ~/.ssh -exec cat {} +`).
    pub(super) fn secret_folders(&mut self, found: &[PathBuf], span: &str) {
        for p in found {
            if p.is_dir() && places::holds_secrets(p, self.env) {
                self.finding(
                    Code::SecretsRead,
                    format!(
                        "{} holds credentials; reading through it exposes them",
                        p.display()
                    ),
                    span,
                );
            }
        }
    }

    /// Folders standing for every file below them (`find . -type f -exec cat {} +`: find's
    /// root replaces `{}`): a secret file there, within the listings' look-ahead, is read.
    fn tree_secrets(&mut self, found: &[PathBuf], span: &str) {
        for dir in found.iter().filter(|p| p.is_dir()) {
            if let Some(file) = places::secret_below(dir, self.env, true, &|_| true) {
                self.finding(
                    Code::SecretsRead,
                    format!(
                        "runs on every file below {}, among them {}",
                        dir.display(),
                        file.display()
                    ),
                    span,
                );
            }
        }
    }

    /// Secret-looking variables printed by name (`echo $OPENAI_API_KEY`, `printenv GITHUB_TOKEN`).
    fn secret_variables(&mut self, cmd: &Command, span: &str) {
        let declares = matches!(cmd.name(), "declare" | "typeset")
            && cmd
                .argv
                .iter()
                .any(|w| w.text.starts_with('-') && w.text.contains('p'));
        let printing = matches!(cmd.name(), "echo" | "printf" | "printenv") || declares;
        if !printing {
            return;
        }
        for w in cmd.argv.iter().skip(1) {
            let name = if cmd.name() == "printenv" || declares {
                Some(w.text.as_str())
            } else if w.dynamic {
                w.text
                    .strip_prefix("${")
                    .and_then(|r| r.strip_suffix('}'))
                    .or_else(|| w.text.strip_prefix('$'))
            } else {
                None
            };
            if let Some(n) = name.filter(|n| secret_variable(n)) {
                self.finding(
                    Code::SecretsEnvVar,
                    format!("prints `{n}`, which holds a secret"),
                    span,
                );
            }
        }
    }

    /// A link to or copy of the gateway's program under another name drives it past the
    /// rules that recognise it (`ln -s "$(command -v patchwork-gateway)" g`).
    pub(super) fn gateway_alias(&mut self, sources: &[&Word], span: &str) {
        if sources
            .iter()
            .any(|w| w.text.rsplit('/').next() == Some("patchwork-gateway"))
        {
            self.finding(
                Code::SelfAlias,
                "copies or links the gateway's program under another name",
                span,
            );
        }
    }

    pub(super) fn privilege(&mut self, name: &str, span: &str) {
        self.finding(Code::PrivilegeEscalation, format!("`{name}` runs the command with elevated privileges; do it without {name} or ask the user"),
            span,
        );
    }

    /// Any other command: a secret passed as an argument is suspicious; a path to a script
    /// as the command word is read and judged.
    fn other(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let first = &cmd.argv[0].text;
        if first.contains('/') {
            let p = self.resolve(first, cwd);
            self.script_file(&p, cwd, span);
        }
        self.device_operands(cmd, cwd, span);
        self.secret_arguments(cmd, cwd, span);
    }

    /// Secrets passed to a program by name (`aws s3 cp ~/.aws/credentials s3://b`, `rclone
    /// copy ~/.ssh r:`): the program reads them, whatever it does next.
    pub(super) fn secret_arguments(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        for w in cmd
            .argv
            .iter()
            .skip(1)
            .filter(|w| !w.dynamic && !w.text.starts_with('-'))
        {
            if w.text.contains("://") || w.text.len() > 4096 {
                continue;
            }
            let p = self.resolve(&w.text, cwd);
            if places::guard_secret(&p, self.env) {
                self.path(Action::FileRead, p, span);
                continue;
            }
            let uploads = matches!(
                cmd.name(),
                "aws" | "gsutil" | "gcloud" | "az" | "azcopy" | "rclone" | "s3cmd" | "mc"
            ) && cmd.argv.iter().skip(1).any(|w| {
                matches!(
                    w.text.as_str(),
                    "cp" | "copy" | "copyto" | "sync" | "mv" | "move" | "put" | "upload"
                )
            });
            let kind = if p.is_file() {
                places::secret_kind(&p, self.env)
            } else if p.is_dir() && places::holds_secrets(&p, self.env) {
                Some("a folder holding credentials")
            } else if uploads && p.is_dir() && places::secret_file_in(&p, self.env) {
                // `aws s3 sync . s3://b`: the folder's own .env goes along.
                Some("a folder with a secret file in it")
            } else {
                None
            };
            if let Some(kind) = kind.filter(|_| uploads) {
                self.finding(
                    Code::NetUploadSecret,
                    format!("uploads {} ({kind}) with `{}`", p.display(), cmd.name()),
                    span,
                );
            } else if let Some(kind) = kind {
                self.finding(
                    Code::SecretsArgument,
                    format!("passes {} ({kind}) to `{}`", p.display(), cmd.name()),
                    span,
                );
            }
        }
    }

    /// Raw disks and partitions handed to a program (`nvme format /dev/nvme0n1`, `badblocks
    /// -w /dev/sda`): tools that take a device mostly rewrite it.
    fn device_operands(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        for w in cmd.argv.iter().skip(1).filter(|w| !w.dynamic) {
            let raw = w.text.rsplit('=').next().unwrap_or(&w.text);
            if !raw.starts_with("/dev/") {
                continue;
            }
            let p = self.resolve(raw, cwd);
            let name = p.file_name().map(|n| n.to_string_lossy().to_string());
            let terminal = name
                .as_deref()
                .is_some_and(|n| n.starts_with("tty") || n.starts_with("pts") || n == "ptmx");
            if places::device(&p) && !terminal && !p.starts_with("/dev/pts") {
                self.finding(
                    Code::SystemDevice,
                    format!("`{}` operates on the device {}", cmd.name(), p.display()),
                    span,
                );
            }
        }
    }
}

/// Commands that copy, pack or compress the files they read into other local files and print
/// none of their contents: `cp`, archivers writing an archive file, compressors without
/// `-c`/`--stdout`.
fn quiet_copy(cmd: &Command) -> bool {
    let a = Args::parse(&cmd.argv, &["-f", "-C", "-t", "-S", "-T"]);
    match cmd.name() {
        "cp" | "cpio" => true,
        "zip" | "7z" | "7za" | "rar" => !cmd.args().contains(&"-"),
        "tar" => {
            let file = a.value(&["-f", "--file"]).map(str::to_string).or_else(|| {
                // `tar cvf a.tar …`: the first operand after a bundled `f`.
                let first = cmd.argv.get(1)?;
                (!first.text.starts_with('-') && first.text.contains('f'))
                    .then(|| cmd.argv.get(2).map(|w| w.text.clone()))
                    .flatten()
            });
            file.is_some_and(|f| f != "-")
        }
        "gzip" | "bzip2" | "xz" | "zstd" | "lz4" | "lzma" => {
            !(a.short('c') || a.long("stdout") || a.long("to-stdout"))
        }
        _ => false,
    }
}

/// A command `find -exec`/`-execdir`/`-ok` runs, `{}` standing for what find reaches.
pub(super) fn under_find_exec(cmd: &Command) -> bool {
    cmd.wrappers
        .last()
        .is_some_and(|w| w.starts_with("find -exec") || w.starts_with("find -ok"))
}

/// A short option with its value in the same word (`-d@.env`, `-o/tmp/x`, `-n5`, `-sT.env`):
/// flag letters, then a letter that takes a value, then the value, which is not more letters.
/// Returns the leading flags (`-s`, or "" when none), the option (`-T`) and the value.
fn attached_value<'t>(t: &'t str, takes_value: &[&str]) -> Option<(&'t str, String, &'t str)> {
    if t.starts_with("--") || t.len() < 3 || !t.is_ascii() {
        return None;
    }
    for (k, c) in t.char_indices().skip(1) {
        if !c.is_ascii_alphabetic() {
            return None;
        }
        let opt = format!("-{c}");
        if takes_value.contains(&opt.as_str()) {
            let v = &t[k + 1..];
            if v.is_empty() || v.chars().all(|c| c.is_ascii_alphabetic()) {
                return None;
            }
            return Some((if k > 1 { &t[..k] } else { "" }, opt, v));
        }
    }
    None
}

/// In a cluster of short flags (`-sT`), the last one when it takes a value (`-T`).
fn combined_value_option(t: &str, takes_value: &[&str]) -> Option<String> {
    if t.starts_with("--") || t.len() < 3 || !t.is_char_boundary(t.len() - 1) {
        return None;
    }
    let last = format!("-{}", &t[t.len() - 1..]);
    let flags_only = t[1..t.len() - 1].chars().all(|c| c.is_ascii_alphabetic());
    (flags_only && takes_value.contains(&last.as_str())).then_some(last)
}

/// `host:path`, `user@host:path`, `host::module` or `rsync://…` (not a local path).
pub(super) fn is_remote_spec(s: &str) -> bool {
    if s.starts_with("rsync://") || s.starts_with("ssh://") || s.starts_with("sftp://") {
        return true;
    }
    if s.starts_with('/') || s.starts_with('.') || s.starts_with('~') {
        return false;
    }
    match s.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/'),
        None => false,
    }
}

/// A search pattern that finds credentials: one of its words (split at anything not a letter
/// or digit, as the parts of a variable name are) is or ends in a credential word
/// (`API_KEY`, `apiKey`, `DB_PASSWORD`, `oauth`, `private`) or starts with one
/// (`password_hash`, `secrets`), a word starts like a key of a known shape (`sk-…`, `AKIA…`),
/// or the pattern matches every line (`.`, `''`, `^`, `.*`).
/// `Object.keys`, `keyboard` or `tokenizer` are not credential words.
pub(super) fn credential_pattern(pattern: &str) -> bool {
    const ENDS: [&str; 12] = [
        "key",
        "token",
        "tokens",
        "secret",
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "credential",
        "auth",
        "bearer",
        "private",
    ];
    const STARTS: [&str; 3] = ["passw", "secret", "credential"];
    let p = pattern.trim().to_ascii_lowercase();
    let everything = p != "^$"
        && matches!(
            p.trim_start_matches('^').trim_end_matches('$'),
            "" | "." | ".*" | ".+" | "(.*)" | "\\w" | "[^\\n]*"
        );
    // Key shapes: OpenAI-style `sk-…` and AWS access key ids (`AKIA…`), at the start of a word.
    let key_shape = p
        .match_indices("sk-")
        .chain(p.match_indices("akia"))
        .any(|(i, _)| {
            p[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_ascii_alphanumeric())
        });
    everything
        || key_shape
        || p.split(|c: char| !c.is_ascii_alphanumeric()).any(|word| {
            ENDS.iter().any(|w| word.ends_with(w)) || STARTS.iter().any(|w| word.starts_with(w))
        })
}

/// Environment variable names that hold credentials by convention: one `_`-separated part of
/// the name is, or ends in, a credential word (`OPENAI_API_KEY`, `NPM_AUTHTOKEN`, `DBPASSWORD`),
/// so `KEYBOARD_LAYOUT` or `PRIVATE_REGISTRY_URL` are not taken for secrets.
pub(super) fn secret_variable(name: &str) -> bool {
    const WORDS: [&str; 7] = [
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "CREDENTIALS",
    ];
    let n = name.to_ascii_uppercase();
    let is_name = !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    is_name
        && n.split('_')
            .any(|part| WORDS.iter().any(|w| part.ends_with(w)))
        && !n.ends_with("_PATH")
        && !n.ends_with("_FILE")
}
