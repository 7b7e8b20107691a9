//! Risk rules for shell commands. Every simple command the shell analysis found (wrappers
//! peeled, nested scripts expanded) is judged here by what its canonical argv does: which
//! files it reads, writes or deletes, where it connects, what it runs.

use super::{Classifier, local_host, places};
use crate::call::{Action, Flag, Risk, TargetKind};
use crate::policy::paths;
use crate::policy::shell::{self, Command, RedirectKind, ShellEnv, Stdin, Word};
use std::path::{Path, PathBuf};

/// Scripts read from files (`bash build.sh`) are analysed up to this depth.
const MAX_SCRIPT_DEPTH: usize = 3;
/// Script files larger than this are not read; running them is flagged instead.
const MAX_SCRIPT_BYTES: u64 = 256 * 1024;

const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "yash",
];
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
    "osascript",
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
];

/// Parsed options and operands of one command.
struct Args<'c> {
    opts: Vec<String>,
    operands: Vec<&'c Word>,
}

impl Args<'_> {
    /// Splits `argv[1..]`: words starting with `-` before `--` are options; option names in
    /// `takes_value` consume the next word (kept as `-x=value`).
    fn parse<'c>(argv: &'c [Word], takes_value: &[&str]) -> Args<'c> {
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
            } else {
                opts.push(t.to_string());
            }
        }
        Args { opts, operands }
    }

    /// A short option letter, alone or combined (`-rf` has `r`).
    fn short(&self, c: char) -> bool {
        self.opts
            .iter()
            .any(|o| !o.starts_with("--") && o[1..].split('=').next().unwrap_or("").contains(c))
    }

    /// A long option, with or without `=value`.
    fn long(&self, name: &str) -> bool {
        self.opts.iter().any(|o| {
            o.strip_prefix("--")
                .is_some_and(|r| r == name || r.starts_with(&format!("{name}=")))
        })
    }

    /// The value of an option given as `-x=v`, `--name=v` or `-x v` (when declared).
    fn value(&self, names: &[&str]) -> Option<&str> {
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
        for problem in &analysis.problems {
            self.finding(
                "shell.unresolvable",
                Risk::High,
                &[Flag::Unresolvable],
                format!(
                    "the command cannot be analysed statically ({problem}); write it out plainly"
                ),
                problem,
            );
        }
        for cmd in &analysis.commands {
            self.command(cmd, cwd);
        }
    }

    /// Judges one canonical simple command.
    fn command(&mut self, cmd: &Command, base: &Path) {
        let cwd = match &cmd.cwd {
            Some(dir) => paths::resolve(dir, base, &self.env.home),
            None => base.to_path_buf(),
        };
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
        let Some(first) = cmd.argv.first() else {
            return;
        };
        if first.dynamic {
            self.finding(
                "shell.dynamic_command",
                Risk::High,
                &[Flag::Unresolvable, Flag::Obfuscation],
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

    /// Applies the rules for the command's name.
    fn by_name(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        let argv = &cmd.argv;
        let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        match name {
            "rm" | "unlink" | "rmdir" | "shred" | "srm" => self.rm(cmd, cwd, span),
            "find" => self.find(cmd, cwd, span),
            "mv" => self.mv(cmd, cwd, span),
            "cp" | "install" | "rsync" | "scp" => self.copy(cmd, cwd, span),
            "ln" => {
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
                if let Some(link) = link {
                    self.word_paths(&link, Action::FileWrite, cwd, span);
                }
            }
            "touch" | "mkdir" | "mkfifo" | "mknod" | "tee" | "truncate" => {
                let a = Args::parse(
                    argv,
                    &["-s", "-r", "-m", "-d", "-t", "--size", "--reference"],
                );
                for w in a.operands {
                    self.word_paths(w, Action::FileWrite, cwd, span);
                }
            }
            "chmod" | "chown" | "chgrp" | "chattr" | "setfacl" | "chcon" => {
                self.permissions(cmd, cwd, span)
            }
            "dd" => self.dd(cmd, cwd, span),
            "git" => self.git(cmd, cwd, span),
            "gh" => self.gh(cmd, span),
            "curl" => self.curl(cmd, cwd, span),
            "wget" => self.wget(cmd, cwd, span),
            "env" | "printenv" | "export" | "set" | "declare" | "typeset" | "compgen" => {
                self.env_dump(cmd, span)
            }
            "kill" | "pkill" | "killall" | "killall5" | "skill" | "xkill" => self.kill(cmd, span),
            "crontab" => {
                let a = Args::parse(argv, &["-u"]);
                if a.short('r') {
                    self.finding(
                        "persistence.crontab_remove",
                        Risk::High,
                        &[Flag::Destructive, Flag::Persistence],
                        "crontab -r deletes every scheduled job of the user",
                        span,
                    );
                } else if !a.short('l') {
                    self.finding(
                        "persistence.crontab",
                        Risk::High,
                        &[Flag::Persistence],
                        "changes the user's crontab: code that runs later, outside this session",
                        span,
                    );
                }
            }
            "at" | "batch" | "launchctl" => self.finding(
                "persistence.schedule",
                Risk::Medium,
                &[Flag::Persistence],
                format!("`{name}` schedules code to run outside this session"),
                span,
            ),
            "systemctl" | "service" => self.systemctl(cmd, span),
            "docker" | "podman" => self.docker(cmd, span),
            "kubectl" | "helm" | "terraform" | "tofu" | "terragrunt" | "pulumi" | "aws"
            | "gcloud" | "gsutil" | "az" | "doctl" | "flyctl" | "heroku" => self.cloud(cmd, span),
            "patchwork-gateway" => {
                if argv
                    .iter()
                    .any(|w| matches!(w.text.as_str(), "uninstall" | "--uninstall" | "init"))
                {
                    self.finding(
                        "self.reconfigure",
                        Risk::High,
                        &[Flag::SelfProtection],
                        "the agent may not install, remove or reconfigure the gateway itself",
                        span,
                    );
                }
            }
            "dig" | "nslookup" | "host" | "drill" | "resolvectl" => {
                if argv.iter().skip(1).any(|w| w.dynamic) {
                    self.finding(
                        "net.dns_exfiltration",
                        Risk::High,
                        &[Flag::Exfiltration, Flag::NetworkEgress, Flag::Unresolvable],
                        "a DNS lookup of a computed name can smuggle data out",
                        span,
                    );
                }
            }
            _ if PRIVILEGE.contains(&name) => self.privilege(name, span),
            _ if POWER.contains(&name)
                || (name == "init"
                    && argv.get(1).is_some_and(|w| w.text == "0" || w.text == "6")) =>
            {
                self.finding(
                    "system.power",
                    Risk::Critical,
                    &[Flag::SystemDestruction, Flag::DangerousCommand],
                    format!("`{name}` stops or restarts the machine"),
                    span,
                )
            }
            _ if DISK_TOOLS.contains(&base) || name.starts_with("mkfs.") => self.finding(
                "system.disk",
                Risk::Critical,
                &[Flag::SystemDestruction, Flag::Destructive],
                format!("`{name}` rewrites disks or partitions"),
                span,
            ),
            _ if REMOTE_SHELLS.contains(&name) => self.remote(cmd, cwd, span),
            _ if RAW_SOCKETS.contains(&name) => self.socket(cmd, span),
            _ if DATABASES.contains(&name) => self.database(cmd, span),
            _ if SHELLS.contains(&name) || name == "busybox" => self.nested_shell(cmd, cwd, span),
            _ if INTERPRETERS.contains(&name) || INTERPRETERS.contains(&base) => {
                self.interpreter(cmd, cwd, span)
            }
            _ if READERS.contains(&name) => {
                if matches!(name, "source" | ".") {
                    self.source(cmd, cwd, span);
                }
                let a = Args::parse(argv, &["-n", "-c", "-o", "-in", "-out", "-t", "-k"]);
                for w in &a.operands {
                    self.word_paths(w, Action::FileRead, cwd, span);
                }
                for v in a
                    .opts
                    .iter()
                    .filter_map(|o| o.split_once('=').map(|(_, v)| v))
                {
                    if !v.is_empty() && !v.starts_with('-') {
                        self.raw_path(v, Action::FileRead, cwd, span);
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
            "tar" | "zip" | "7z" | "7za" | "rar" | "cpio" | "pax" => self.archive(cmd, cwd, span),
            _ if METADATA.contains(&name) => {}
            _ => self.other(cmd, cwd, span),
        }
    }

    /// The paths a word stands for, recorded as targets of `action`.
    fn word_paths(&mut self, w: &Word, action: Action, cwd: &Path, span: &str) -> Vec<PathBuf> {
        if w.dynamic {
            if action != Action::FileRead {
                self.finding(
                    "files.dynamic_target",
                    Risk::Medium,
                    &[Flag::Unresolvable],
                    format!("the file `{}` is computed at run time", w.text),
                    span,
                );
            }
            return Vec::new();
        }
        let found = if w.glob {
            paths::expand_glob(&w.text, cwd, &self.env.home)
        } else {
            vec![paths::resolve(&w.text, cwd, &self.env.home)]
        };
        for p in &found {
            self.path(action, p.clone(), span);
        }
        found
    }

    /// A path given inside an option value (`if=.env`, `--post-file=.env`).
    fn raw_path(&mut self, raw: &str, action: Action, cwd: &Path, span: &str) {
        let w = Word {
            text: raw.to_string(),
            glob: false,
            dynamic: false,
        };
        self.word_paths(&w, action, cwd, span);
    }

    fn privilege(&mut self, name: &str, span: &str) {
        self.finding(
            "privilege.escalation",
            Risk::High,
            &[Flag::Privilege],
            format!("`{name}` runs the command with elevated privileges; do it without {name} or ask the user"),
            span,
        );
    }

    fn rm(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let a = Args::parse(&cmd.argv, &[]);
        let recursive = cmd.name() == "rm" && (a.short('r') || a.short('R') || a.long("recursive"));
        if a.operands.is_empty()
            && recursive
            && cmd.wrappers.iter().any(|w| {
                w.starts_with("xargs") || w.starts_with("parallel") || w.starts_with("find")
            })
        {
            self.finding(
                "files.recursive_delete_unknown",
                Risk::High,
                &[Flag::Destructive, Flag::Unresolvable],
                "recursive deletion of paths that are only known at run time",
                span,
            );
        }
        for w in &a.operands {
            if w.dynamic {
                if recursive {
                    self.finding(
                        "files.recursive_delete_unknown",
                        Risk::High,
                        &[Flag::Destructive, Flag::Unresolvable],
                        format!(
                            "recursive deletion of `{}`, which is only known at run time",
                            w.text
                        ),
                        span,
                    );
                }
                continue;
            }
            for p in self.word_paths(w, Action::FileDelete, cwd, span) {
                if recursive {
                    self.recursive_delete(&p, span);
                }
            }
        }
    }

    /// Judges the recursive deletion of `p` (foundations are already critical).
    fn recursive_delete(&mut self, p: &Path, span: &str) {
        let env = self.env;
        if places::disposable(p, env) || places::foundation(p, env) {
            return;
        }
        let shown = p.display();
        if places::in_project(p, env) {
            self.finding(
                "files.recursive_delete",
                Risk::High,
                &[Flag::Destructive],
                format!("deletes {shown} and everything below it; only build outputs, dependency folders and /tmp scratch may be removed recursively"),
                span,
            );
        } else {
            self.finding(
                "files.recursive_delete_outside",
                Risk::High,
                &[Flag::Destructive, Flag::OutsideProject],
                format!("deletes {shown} and everything below it, outside the project"),
                span,
            );
        }
    }

    fn find(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let roots: Vec<&Word> = cmd
            .argv
            .iter()
            .skip(1)
            .take_while(|w| !w.text.starts_with('-') && w.text != "(" && w.text != "!")
            .collect();
        let deletes = cmd.argv.iter().any(|w| w.text == "-delete");
        if !deletes {
            for r in roots {
                self.word_paths(r, Action::FileGlob, cwd, span);
            }
            return;
        }
        let dot = Word {
            text: ".".into(),
            glob: false,
            dynamic: false,
        };
        let roots = if roots.is_empty() { vec![&dot] } else { roots };
        for r in roots {
            for p in self.word_paths(r, Action::FileDelete, cwd, span) {
                self.recursive_delete(&p, span);
            }
        }
    }

    fn mv(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let a = Args::parse(&cmd.argv, &["-t", "-S"]);
        let mut operands = a.operands.clone();
        let dest = match a.value(&["-t", "--target-directory"]) {
            Some(d) => Some(Word {
                text: d.to_string(),
                glob: false,
                dynamic: false,
            }),
            None if operands.len() > 1 => operands.pop().cloned(),
            None => None,
        };
        let into_void = dest.as_ref().is_some_and(|d| d.text == "/dev/null");
        for w in operands {
            for p in self.word_paths(w, Action::FileDelete, cwd, span) {
                if into_void {
                    self.recursive_delete(&p, span);
                }
            }
        }
        if let Some(d) = dest {
            self.word_paths(&d, Action::FileWrite, cwd, span);
        }
    }

    fn copy(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        let a = Args::parse(
            &cmd.argv,
            &["-t", "-S", "-e", "-P", "-i", "-o", "-F", "-m", "-g"],
        );
        let mut operands = a.operands.clone();
        let remote = |w: &Word| is_remote_spec(&w.text);
        if operands.iter().any(|w| remote(w)) || name == "scp" {
            self.finding(
                "net.remote_copy",
                Risk::High,
                &[Flag::RemoteShell, Flag::NetworkEgress],
                format!("`{name}` copies files to or from another machine"),
                span,
            );
        }
        let dest = match a.value(&["-t", "--target-directory"]) {
            Some(d) => Some(Word {
                text: d.to_string(),
                glob: false,
                dynamic: false,
            }),
            None if operands.len() > 1 => operands.pop().cloned(),
            None => None,
        };
        for w in operands.into_iter().filter(|w| !remote(w)) {
            for p in self.word_paths(w, Action::FileRead, cwd, span) {
                if places::holds_secrets(&p, self.env) && p.is_dir() {
                    self.finding(
                        "secrets.read",
                        Risk::High,
                        &[Flag::SecretRead, Flag::SensitivePath],
                        format!("{} holds credentials; copying it exposes them", p.display()),
                        span,
                    );
                }
            }
        }
        if let Some(d) = dest.filter(|d| !remote(d)) {
            for p in self.word_paths(&d, Action::FileWrite, cwd, span) {
                if name == "rsync" && a.opts.iter().any(|o| o.starts_with("--delete")) {
                    if places::foundation(&p, self.env) {
                        self.finding(
                            "files.delete_foundation",
                            Risk::Critical,
                            &[Flag::Destructive, Flag::DangerousCommand],
                            format!("rsync --delete would remove everything in {} that the source lacks", p.display()),
                            span,
                        );
                    }
                    self.recursive_delete(&p, span);
                }
            }
        }
    }

    fn permissions(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        let a = Args::parse(&cmd.argv, &["--reference"]);
        let recursive = a.short('R') || a.long("recursive");
        let mut operands = a.operands.iter();
        let spec = if a.value(&["--reference"]).is_some() || name == "chattr" {
            None
        } else {
            operands.next()
        };
        if let Some(mode) = spec
            && name == "chmod"
            && (mode.text.contains('s')
                || mode.text.len() == 4 && mode.text.starts_with(['4', '2', '6']))
        {
            self.finding(
                "privilege.setuid",
                Risk::High,
                &[Flag::Privilege],
                "sets the setuid/setgid bit",
                span,
            );
        }
        for w in operands {
            for p in self.word_paths(w, Action::FileWrite, cwd, span) {
                if recursive && (places::foundation(&p, self.env) || places::system_path(&p)) {
                    self.finding(
                        "system.permissions",
                        Risk::Critical,
                        &[Flag::SystemDestruction, Flag::Destructive],
                        format!(
                            "recursive {name} on {} changes permissions of the whole tree",
                            p.display()
                        ),
                        span,
                    );
                }
            }
        }
    }

    fn dd(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        for w in cmd.argv.iter().skip(1) {
            if let Some(f) = w.text.strip_prefix("if=") {
                self.raw_path(f, Action::FileRead, cwd, span);
            } else if let Some(f) = w.text.strip_prefix("of=") {
                self.raw_path(f, Action::FileWrite, cwd, span);
            }
        }
    }

    fn env_dump(&mut self, cmd: &Command, span: &str) {
        let name = cmd.name();
        let rest: Vec<&str> = cmd.args().into_iter().skip(1).collect();
        let dump = match name {
            "env" | "printenv" => rest
                .iter()
                .all(|a| a.starts_with('-') || name == "env" && a.contains('=')),
            "export" => rest.is_empty() || rest == ["-p"],
            "set" => rest.is_empty(),
            "declare" | "typeset" => {
                rest.iter().all(|a| a.starts_with('-')) && !rest.is_empty() || rest.is_empty()
            }
            "compgen" => rest.iter().any(|a| *a == "-v" || *a == "-e"),
            _ => false,
        };
        if dump
            && !(name == "printenv" && !rest.is_empty() && rest.iter().any(|a| !a.starts_with('-')))
        {
            self.finding(
                "secrets.env_dump",
                Risk::High,
                &[Flag::EnvDump, Flag::SecretRead],
                "prints the whole environment, which holds API keys and tokens; print the one variable you need",
                span,
            );
        }
    }

    fn kill(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        if args.iter().any(|a| a.contains("patchwork")) {
            self.finding(
                "self.kill",
                Risk::Critical,
                &[Flag::SelfProtection],
                "the agent may not stop the gateway",
                span,
            );
        }
        let everything = match cmd.name() {
            // `kill -9 -1`, `kill -s KILL -1`, `kill -- -1`: pid -1 after a signal or `--`.
            "kill" => args.iter().skip(2).any(|a| *a == "-1"),
            "killall5" => true,
            "pkill" | "killall" | "skill" => {
                args.iter().any(|a| *a == "-u" || a.starts_with("--user"))
            }
            _ => false,
        };
        if everything {
            self.finding(
                "system.kill_all",
                Risk::Critical,
                &[Flag::SystemDestruction, Flag::DangerousCommand],
                "signals every process of the user, the agent and the gateway included",
                span,
            );
        }
    }

    fn systemctl(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        if args.iter().any(|a| {
            matches!(
                *a,
                "poweroff"
                    | "reboot"
                    | "halt"
                    | "kexec"
                    | "rescue"
                    | "emergency"
                    | "suspend"
                    | "hibernate"
            )
        }) {
            self.finding(
                "system.power",
                Risk::Critical,
                &[Flag::SystemDestruction, Flag::DangerousCommand],
                "stops or restarts the machine",
                span,
            );
        } else if args.iter().any(|a| a.contains("patchwork")) {
            self.finding(
                "self.kill",
                Risk::Critical,
                &[Flag::SelfProtection],
                "the agent may not stop or change the gateway's services",
                span,
            );
        } else if args
            .iter()
            .any(|a| matches!(*a, "enable" | "link" | "edit" | "set-property"))
        {
            self.finding(
                "persistence.service",
                Risk::Medium,
                &[Flag::Persistence],
                "installs a service that runs outside this session",
                span,
            );
        }
    }

    fn docker(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        let sub: Vec<&str> = args
            .iter()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .copied()
            .collect();
        let destroys = matches!(
            sub.as_slice(),
            ["system", "prune", ..]
                | ["volume", "prune", ..]
                | ["volume", "rm", ..]
                | ["image", "prune", ..]
                | ["container", "prune", ..]
                | ["builder", "prune", ..]
                | ["network", "prune", ..]
        );
        if destroys {
            self.finding(
                "cloud.docker_prune",
                Risk::High,
                &[Flag::Destructive, Flag::CloudDestruction],
                "deletes containers, images or volumes (data in volumes is lost)",
                span,
            );
        }
        let privileged = args
            .iter()
            .any(|a| *a == "--privileged" || a.starts_with("--pid=host"))
            || args
                .windows(2)
                .any(|w| (w[0] == "-v" || w[0] == "--volume") && w[1].starts_with("/:"));
        if privileged {
            self.finding(
                "privilege.container",
                Risk::High,
                &[Flag::Privilege],
                "a privileged container or one that mounts / has full control of the host",
                span,
            );
        }
    }

    fn cloud(&mut self, cmd: &Command, span: &str) {
        let name = cmd.name();
        let args = cmd.args();
        let words: Vec<&str> = args.iter().skip(1).copied().collect();
        let has = |w: &str| words.contains(&w);
        let destroys = match name {
            "kubectl" => has("delete") || has("drain") || (has("replace") && has("--force")),
            "helm" => has("uninstall") || has("delete"),
            "terraform" | "tofu" | "terragrunt" => {
                has("destroy") || (has("apply") && has("-destroy")) || has("state") && has("rm")
            }
            "pulumi" => has("destroy") || has("down"),
            "gsutil" => has("rm") || has("rb"),
            _ => {
                words.iter().any(|w| {
                    w.starts_with("delete")
                        || w.starts_with("terminate")
                        || *w == "rb"
                        || *w == "destroy"
                        || *w == "remove"
                }) || (has("rm") && (has("--recursive") || has("-r")))
            }
        };
        if destroys {
            self.finding(
                "cloud.destroy",
                Risk::High,
                &[Flag::CloudDestruction, Flag::Destructive],
                format!("`{name}` deletes cloud or cluster resources"),
                span,
            );
        }
    }

    fn database(&mut self, cmd: &Command, span: &str) {
        let mut text: String = cmd.args().join(" ");
        if let Stdin::Text(t) = &cmd.stdin {
            text.push(' ');
            text.push_str(t);
        }
        let upper = text.to_ascii_uppercase();
        let squeezed: String = upper.split_whitespace().collect::<Vec<_>>().join(" ");
        let destroys = [
            "DROP DATABASE",
            "DROP SCHEMA",
            "DROP TABLE",
            "TRUNCATE ",
            "FLUSHALL",
            "FLUSHDB",
            "DROPDATABASE",
            "DROP USER",
        ]
        .iter()
        .any(|k| squeezed.contains(k))
            || (squeezed.contains("DELETE FROM") && !squeezed.contains("WHERE"));
        if destroys {
            self.finding(
                "cloud.database_destroy",
                Risk::High,
                &[Flag::CloudDestruction, Flag::Destructive],
                "destroys database contents (DROP, TRUNCATE, FLUSHALL or an unbounded DELETE)",
                span,
            );
        }
    }

    fn remote(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        if name == "scp" {
            return self.copy(cmd, cwd, span);
        }
        let a = Args::parse(
            &cmd.argv,
            &[
                "-p", "-i", "-l", "-o", "-F", "-P", "-L", "-R", "-D", "-J", "-W",
            ],
        );
        if a.operands.first().is_some_and(|w| local_host(&w.text)) && name != "sshpass" {
            return;
        }
        self.finding(
            "net.remote_shell",
            Risk::High,
            &[Flag::RemoteShell, Flag::NetworkEgress],
            format!("`{name}` opens a session on another machine; ask the user to run it"),
            span,
        );
    }

    fn socket(&mut self, cmd: &Command, span: &str) {
        let a = Args::parse(&cmd.argv, &["-p", "-s", "-w", "-e", "-c", "-q", "-i"]);
        let host = a.operands.first().map(|w| w.text.as_str()).unwrap_or("");
        if a.short('l') && cmd.redirects.is_empty() && matches!(cmd.stdin, Stdin::Inherited) {
            return self.finding(
                "net.listen",
                Risk::Medium,
                &[Flag::NetworkEgress],
                "opens a listening socket",
                span,
            );
        }
        if !host.is_empty() && local_host(host) {
            return;
        }
        self.finding(
            "net.raw_socket",
            Risk::High,
            &[Flag::RemoteShell, Flag::NetworkEgress, Flag::Exfiltration],
            format!("`{}` sends raw data to another machine", cmd.name()),
            span,
        );
    }

    fn curl(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let a = Args::parse(
            &cmd.argv,
            &[
                "-d",
                "-F",
                "-T",
                "-o",
                "-X",
                "-H",
                "-u",
                "-A",
                "-e",
                "-b",
                "-c",
                "-K",
                "-w",
                "-x",
                "-m",
                "-r",
                "-E",
                "-U",
                "-Y",
                "-y",
                "-z",
                "-C",
                "-D",
                "-x",
                "--data",
                "--data-binary",
                "--data-raw",
                "--data-urlencode",
                "--form",
                "--upload-file",
                "--output",
                "--request",
                "--header",
                "--json",
                "--config",
                "--user",
                "--cookie",
                "--cookie-jar",
                "--url",
                "--max-time",
                "--dump-header",
                "--proxy",
            ],
        );
        let mut sends = false;
        for o in &a.opts {
            let Some((opt, v)) = o.split_once('=') else {
                continue;
            };
            match opt {
                "-d" | "--data" | "--data-binary" | "--data-urlencode" | "--json" | "-F"
                | "--form" => {
                    sends = true;
                    let file = v
                        .rsplit_once('@')
                        .map(|(_, f)| f)
                        .filter(|_| v.contains('@'));
                    if let Some(f) = file.map(|f| f.split(';').next().unwrap_or(f))
                        && f != "-"
                        && !f.is_empty()
                    {
                        self.raw_path(f, Action::FileRead, cwd, span);
                    }
                }
                "--data-raw" => sends = true,
                "-T" | "--upload-file" => {
                    sends = true;
                    if v != "-" && v != "." {
                        self.raw_path(v, Action::FileRead, cwd, span);
                    }
                }
                "-o" | "--output" | "-D" | "--dump-header" | "-c" | "--cookie-jar" if v != "-" => {
                    self.raw_path(v, Action::FileWrite, cwd, span);
                }
                "-K" | "--config" => self.raw_path(v, Action::FileRead, cwd, span),
                _ => {}
            }
        }
        let urls: Vec<String> = a
            .operands
            .iter()
            .map(|w| w.text.clone())
            .chain(a.value(&["--url"]).map(str::to_string))
            .collect();
        for u in urls {
            self.url(&u, Action::WebFetch, sends);
        }
    }

    fn wget(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let a = Args::parse(&cmd.argv, &["-O", "-o", "-P", "-i", "--header", "-U", "-e"]);
        let mut sends = false;
        for o in &a.opts {
            if let Some(f) = o
                .strip_prefix("--post-file=")
                .or_else(|| o.strip_prefix("--body-file="))
            {
                sends = true;
                self.raw_path(f, Action::FileRead, cwd, span);
            } else if o.starts_with("--post-data")
                || o.starts_with("--body-data")
                || o.starts_with("--method=P")
            {
                sends = true;
            } else if let Some(f) = o
                .strip_prefix("-O=")
                .or_else(|| o.strip_prefix("--output-document="))
            {
                if f != "-" {
                    self.raw_path(f, Action::FileWrite, cwd, span);
                }
            } else if let Some(f) = o
                .strip_prefix("-i=")
                .or_else(|| o.strip_prefix("--input-file="))
            {
                self.raw_path(f, Action::FileRead, cwd, span);
            }
        }
        for w in &a.operands {
            self.url(&w.text, Action::WebFetch, sends);
        }
    }

    fn gh(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        let words: Vec<&str> = args
            .iter()
            .skip(1)
            .filter(|a| !a.starts_with('-'))
            .copied()
            .collect();
        match words.as_slice() {
            ["repo", "delete", ..] | ["release", "delete", ..] => self.finding(
                "git.remote_delete",
                Risk::Critical,
                &[Flag::Destructive, Flag::GitHistory],
                "deletes a GitHub repository or release",
                span,
            ),
            ["gist", "create", ..] | ["gist", "edit", ..] => self.finding(
                "net.gist_upload",
                Risk::High,
                &[Flag::Exfiltration, Flag::NetworkEgress],
                "uploads files to a gist",
                span,
            ),
            ["api", ..]
                if args
                    .iter()
                    .any(|a| *a == "DELETE" || *a == "-XDELETE" || a.ends_with("=DELETE")) =>
            {
                self.finding(
                    "git.remote_delete",
                    Risk::High,
                    &[Flag::Destructive],
                    "a DELETE request to the GitHub API",
                    span,
                )
            }
            _ => {}
        }
    }

    /// `source FILE` / `. FILE`: runs the file in the current shell.
    fn source(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        match cmd.argv.get(1) {
            Some(w) if w.dynamic => self.finding(
                "shell.dynamic_script",
                Risk::High,
                &[Flag::CodeExecution, Flag::Unresolvable],
                format!(
                    "runs code from `{}`, which is only known at run time",
                    w.text
                ),
                span,
            ),
            Some(w) => {
                let p = paths::resolve(&w.text, cwd, &self.env.home);
                self.script_file(&p, cwd, span);
            }
            None => {}
        }
    }

    /// `sh`, `bash`…: `-c` scripts and heredocs were expanded by the shell analysis; here the
    /// script is a file, a pipe or a computed path.
    fn nested_shell(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let argv = &cmd.argv;
        let skip = usize::from(cmd.name() == "busybox");
        let words: Vec<&Word> = argv.iter().skip(1 + skip).collect();
        if words.iter().any(|w| {
            w.text == "-c"
                || (w.text.starts_with('-') && !w.text.starts_with("--") && w.text.contains('c'))
        }) {
            return;
        }
        let script = words
            .iter()
            .find(|w| !w.text.starts_with('-') && !w.text.starts_with('+'));
        match script {
            Some(w) if w.dynamic => self.finding(
                "shell.dynamic_script",
                Risk::High,
                &[Flag::CodeExecution, Flag::Unresolvable, Flag::PipeToShell],
                format!("runs a script produced at run time (`{}`); download it, read it, then run the file", w.text),
                span,
            ),
            Some(w) => {
                let p = paths::resolve(&w.text, cwd, &self.env.home);
                self.path(Action::FileRead, p.clone(), span);
                self.script_file(&p, cwd, span);
            }
            None => self.code_from_stdin(cmd, span),
        }
    }

    fn interpreter(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let args = cmd.args();
        if let Some(i) = args.iter().position(|a| *a == "-m") {
            let module = args.get(i + 1).copied().unwrap_or("");
            if matches!(
                module,
                "http.server" | "SimpleHTTPServer" | "uploadserver" | "pyftpdlib"
            ) {
                let dir = args
                    .iter()
                    .position(|a| *a == "--directory" || *a == "-d")
                    .and_then(|j| args.get(j + 1).copied())
                    .or_else(|| args.iter().find_map(|a| a.strip_prefix("--directory=")))
                    .unwrap_or(".");
                let dir = paths::resolve(dir, cwd, &self.env.home);
                let exposed =
                    !places::in_project(&dir, self.env) || places::holds_secrets(&dir, self.env);
                self.finding(
                    "net.serve_files",
                    if exposed { Risk::High } else { Risk::Medium },
                    &[Flag::Exfiltration, Flag::NetworkEgress],
                    format!("serves the files of {} over the network", dir.display()),
                    span,
                );
            }
            return;
        }
        let inline = args.iter().skip(1).any(|a| {
            matches!(
                *a,
                "-c" | "-e" | "-E" | "-p" | "-r" | "--eval" | "--print" | "-"
            )
        });
        let script = cmd.argv.iter().skip(1).find(|w| !w.text.starts_with('-'));
        match script {
            _ if inline => {}
            Some(w) if w.dynamic => self.finding(
                "shell.dynamic_script",
                Risk::High,
                &[Flag::CodeExecution, Flag::Unresolvable],
                format!("runs a script produced at run time (`{}`)", w.text),
                span,
            ),
            Some(_) => {}
            None => self.code_from_stdin(cmd, span),
        }
    }

    /// A shell or interpreter that takes its program from standard input.
    fn code_from_stdin(&mut self, cmd: &Command, span: &str) {
        if cmd.stdin == Stdin::Pipe {
            self.finding(
                "shell.pipe_to_shell",
                Risk::High,
                &[Flag::PipeToShell, Flag::CodeExecution, Flag::Unresolvable],
                format!("pipes generated or downloaded code into `{}`; save it to a file and review it first", cmd.name()),
                span,
            );
        }
    }

    /// Reads a script the command runs and judges its contents too.
    fn script_file(&mut self, path: &Path, cwd: &Path, span: &str) {
        let small =
            std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= MAX_SCRIPT_BYTES);
        if !small || self.depth >= MAX_SCRIPT_DEPTH {
            return;
        }
        if places::secret_kind(path, self.env).is_some() {
            self.path(Action::FileRead, path.to_path_buf(), span);
            return;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        self.depth += 1;
        self.shell(&text, cwd);
        self.depth -= 1;
    }

    fn pattern_reader(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        let a = Args::parse(
            &cmd.argv,
            &[
                "-e", "-f", "-m", "-A", "-B", "-C", "-g", "-t", "-T", "--regexp", "--file",
                "--glob", "--type", "-E", "-j", "-M",
            ],
        );
        let sed_like = matches!(name, "sed");
        let explicit_program = a.opts.iter().any(|o| {
            o.starts_with("-e=")
                || o.starts_with("-f=")
                || o.starts_with("--regexp=")
                || o.starts_with("--file=")
                || o.starts_with("--expression")
        });
        let mut operands = a.operands.iter();
        if !explicit_program {
            operands.next();
        }
        for o in &a.opts {
            if let Some(f) = o.strip_prefix("-f=").or_else(|| o.strip_prefix("--file=")) {
                self.raw_path(f, Action::FileRead, cwd, span);
            }
        }
        let in_place = sed_like && (a.short('i') || a.long("in-place"));
        for w in operands {
            self.word_paths(w, Action::FileRead, cwd, span);
            if in_place {
                self.word_paths(w, Action::FileEdit, cwd, span);
            }
        }
    }

    fn archive(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let a = Args::parse(&cmd.argv, &["-f", "-C", "-T", "-X"]);
        let extracting = a.short('x') || a.long("extract") || cmd.name() == "unzip";
        for o in &a.opts {
            if let Some(f) = o.strip_prefix("-f=").or_else(|| o.strip_prefix("--file="))
                && f != "-"
            {
                let action = if extracting {
                    Action::FileRead
                } else {
                    Action::FileWrite
                };
                self.raw_path(f, action, cwd, span);
            }
        }
        let mut operands = a.operands.iter();
        let combined_f = cmd
            .argv
            .get(1)
            .is_some_and(|w| !w.text.starts_with('-') && w.text.contains('f'));
        if cmd.name() == "tar" && combined_f {
            operands.next();
            if let Some(f) = operands.next()
                && f.text != "-"
            {
                self.word_paths(
                    f,
                    if extracting {
                        Action::FileRead
                    } else {
                        Action::FileWrite
                    },
                    cwd,
                    span,
                );
            }
        } else if cmd.name() != "tar"
            && let Some(f) = operands.next()
        {
            self.word_paths(f, Action::FileWrite, cwd, span);
        }
        if extracting {
            return;
        }
        for w in operands {
            for p in self.word_paths(w, Action::FileRead, cwd, span) {
                if places::holds_secrets(&p, self.env) && p.is_dir() {
                    self.finding(
                        "secrets.read",
                        Risk::High,
                        &[Flag::SecretRead, Flag::SensitivePath],
                        format!(
                            "{} holds credentials; archiving it exposes them",
                            p.display()
                        ),
                        span,
                    );
                }
            }
        }
    }

    /// Any other command: a secret passed as an argument is suspicious; a path to a script
    /// as the command word is read and judged.
    fn other(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let first = &cmd.argv[0].text;
        if first.contains('/') {
            let p = paths::resolve(first, cwd, &self.env.home);
            self.script_file(&p, cwd, span);
        }
        for w in cmd
            .argv
            .iter()
            .skip(1)
            .filter(|w| !w.dynamic && !w.text.starts_with('-'))
        {
            if w.text.contains("://") || w.text.len() > 4096 {
                continue;
            }
            let p = paths::resolve(&w.text, cwd, &self.env.home);
            if places::guard_secret(&p, self.env) {
                self.path(Action::FileRead, p, span);
            } else if p.is_file()
                && let Some(kind) = places::secret_kind(&p, self.env)
            {
                self.finding(
                    "secrets.argument",
                    Risk::Medium,
                    &[Flag::SensitivePath],
                    format!("passes {} ({kind}) to `{}`", p.display(), cmd.name()),
                    span,
                );
            }
        }
    }
}

/// `host:path`, `user@host:path`, `host::module` or `rsync://…` (not a local path).
fn is_remote_spec(s: &str) -> bool {
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
