//! Risk rules for the machine and its services: environment dumps, signals, services,
//! containers, cloud resources and databases.

use super::Classifier;
use crate::call::Action;
use crate::policy::findings::Code;
use crate::policy::shell::{Command, Stdin};
use std::path::Path;

impl Classifier<'_> {
    pub(super) fn env_dump(&mut self, cmd: &Command, span: &str) {
        let name = cmd.name();
        let rest: Vec<&str> = cmd.args().into_iter().skip(1).collect();
        let dump = match name {
            "env" | "printenv" => rest
                .iter()
                .all(|a| a.starts_with('-') || name == "env" && a.contains('=')),
            "export" => rest.is_empty() || rest == ["-p"],
            // BSD-style `ps e`/`ps auxe`/`ps eww` and `ps -E`… print each process's environment.
            "ps" => {
                rest.first().is_some_and(|a| {
                    !a.starts_with('-')
                        && a.chars().all(|c| c.is_ascii_alphabetic())
                        && a.contains('e')
                }) || rest.contains(&"-E")
            }
            "set" => rest.is_empty(),
            "declare" | "typeset" => {
                rest.iter().all(|a| a.starts_with('-')) && !rest.is_empty() || rest.is_empty()
            }
            "compgen" => rest.iter().any(|a| *a == "-v" || *a == "-e"),
            _ => false,
        };
        if dump
            && !(name == "printenv" && !rest.is_empty() && rest.iter().any(|a| !a.starts_with('-')))
            && !cmd.piped_to.as_deref().is_some_and(keeps_secrets_out)
        {
            self.finding(Code::SecretsEnvDump, "prints the whole environment, which holds API keys and tokens; print the one variable you need",
                span,
            );
        }
    }

    pub(super) fn kill(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        if cmd.argv.iter().skip(1).any(|w| w.dynamic) {
            self.dynamic_kill = Some(span.to_string());
        }
        if args.iter().any(|a| a.contains("patchwork")) || selects_gateway(cmd) {
            self.finding(Code::SelfKill, "the agent may not stop the gateway", span);
        }
        let everything = match cmd.name() {
            // `kill -9 -1`, `kill -s KILL -1`, `kill -- -1`: pid -1 after a signal or `--`.
            "kill" => {
                args.iter().skip(2).any(|a| *a == "-1")
                    || args
                        .iter()
                        .enumerate()
                        .skip(1)
                        .any(|(i, a)| *a == "1" && !matches!(args[i - 1], "-s" | "-n"))
            }
            "killall5" => true,
            // By user: every process of the user, unless a name or pattern picks some of them
            // (`killall -u "$(whoami)" dropbox`); a pattern matching any name picks them all.
            "pkill" | "killall" | "skill" => {
                let a = super::command::Args::parse(
                    &cmd.argv,
                    &[
                        "-u", "-U", "-g", "-G", "-s", "-t", "-P", "-o", "-y", "-F", "--signal",
                    ],
                );
                let by_user = args.iter().any(|a| *a == "-u" || a.starts_with("--user"));
                let named = a.operands.iter().any(|w| {
                    !matches!(
                        w.text.trim_start_matches('^').trim_end_matches('$'),
                        "" | "." | ".*" | ".+"
                    )
                });
                by_user && !named
            }
            _ => false,
        };
        if everything {
            self.finding(
                Code::SystemKillAll,
                "signals every process of the user, the agent and the gateway included",
                span,
            );
        }
    }

    pub(super) fn systemctl(&mut self, cmd: &Command, span: &str) {
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
            self.finding(Code::SystemPower, "stops or restarts the machine", span);
        } else if args.iter().any(|a| a.contains("patchwork")) {
            self.finding(
                Code::SelfKill,
                "the agent may not stop or change the gateway's services",
                span,
            );
        } else if args
            .iter()
            .any(|a| matches!(*a, "enable" | "link" | "edit" | "set-property"))
        {
            self.finding(
                Code::PersistenceService,
                "installs a service that runs outside this session",
                span,
            );
        }
    }

    pub(super) fn docker(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let args = cmd.args();
        let sub = cmd.operands();
        // `docker rm -f $(docker ps -aq)`: every container, image or volume there is.
        let computed = cmd.argv.iter().skip(2).any(|w| w.dynamic);
        let has = |o: &str| args.contains(&o);
        let destroys = matches!(
            sub.as_slice(),
            ["system", "prune" | "reset", ..]
                | ["volume", "prune", ..]
                | ["volume", "rm", ..]
                | ["image", "prune", ..]
                | ["container", "prune", ..]
                | ["builder", "prune", ..]
                | ["network", "prune", ..]
        ) || (matches!(sub.first(), Some(&("rm" | "rmi" | "kill")))
            || matches!(sub.as_slice(), ["container" | "image", "rm", ..]))
            && computed
            || matches!(sub.as_slice(), ["compose" | "stack", "down", ..])
                && (has("-v") || has("--volumes"));
        if destroys {
            self.finding(
                Code::CloudDockerPrune,
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
                Code::PrivilegeContainer,
                "a privileged container or one that mounts / has full control of the host",
                span,
            );
        }
        // Host folders mounted or copied into a container: the container reads them.
        let mut sources: Vec<&str> = Vec::new();
        for (i, a) in args.iter().enumerate() {
            let value = match *a {
                "-v" | "--volume" | "--mount" => args.get(i + 1).copied(),
                _ => a
                    .strip_prefix("--volume=")
                    .or_else(|| a.strip_prefix("--mount=")),
            };
            if let Some(v) = value {
                let src = v
                    .split(',')
                    .find_map(|kv| {
                        kv.strip_prefix("source=")
                            .or_else(|| kv.strip_prefix("src="))
                    })
                    .unwrap_or_else(|| v.split(':').next().unwrap_or(v));
                sources.push(src);
            }
        }
        if sub.first() == Some(&"cp")
            && let Some(src) = sub.get(1).filter(|s| !s.contains(':'))
        {
            sources.push(src);
        }
        for src in sources {
            if !(src.starts_with('/') || src.starts_with('.') || src.starts_with('~')) {
                continue; // a named volume
            }
            let p = self.resolve(src, cwd);
            if p.is_dir() && super::places::holds_secrets(&p, self.env) {
                self.finding(
                    Code::SecretsRead,
                    format!(
                        "{} holds credentials; handing it to a container exposes them",
                        p.display()
                    ),
                    span,
                );
            }
            self.path(Action::FileRead, p, span);
        }
        self.secret_arguments(cmd, cwd, span);
    }

    /// Package managers told to run their scripts through another program (`npm config set
    /// script-shell /tmp/x`): every later `npm run` runs it.
    pub(super) fn package_manager_shell(&mut self, cmd: &Command, span: &str) {
        if !matches!(cmd.name(), "npm" | "pnpm" | "yarn" | "bun") {
            return;
        }
        let words = cmd.operands();
        // `npm pkg set scripts.postinstall=…`: a lifecycle script runs on every later install.
        if let ["pkg", "set", kvs @ ..] = words.as_slice()
            && kvs.iter().any(|kv| {
                kv.strip_prefix("scripts.").is_some_and(|k| {
                    let k = k.split('=').next().unwrap_or(k);
                    matches!(
                        k,
                        "preinstall"
                            | "install"
                            | "postinstall"
                            | "prepare"
                            | "prepublish"
                            | "preuninstall"
                            | "postuninstall"
                            | "prepack"
                            | "postpack"
                    )
                })
            })
        {
            self.finding(
                Code::PersistencePackageManager,
                "sets a lifecycle script that runs on every later install",
                span,
            );
        }
        if let ["config", "set", key, ..] = words.as_slice() {
            let key = key.split('=').next().unwrap_or(key).to_ascii_lowercase();
            if matches!(
                key.as_str(),
                "script-shell" | "shell" | "node-options" | "git"
            ) {
                self.finding(
                    Code::PersistencePackageManager,
                    format!("`{key}` makes every later package script run another program"),
                    span,
                );
            }
        }
    }

    /// Commands that print stored credentials (`gh auth token`, `gcloud auth
    /// print-access-token`, `security find-generic-password -w`, `gpg --export-secret-keys`).
    pub(super) fn credentials_printed(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        let words = cmd.operands();
        let has = |o: &str| {
            args.iter()
                .any(|a| *a == o || a.starts_with(&format!("{o}=")))
        };
        let prints = match cmd.name() {
            "gh" | "glab" => {
                matches!(
                    words.as_slice(),
                    ["auth", "token", ..] | ["config", "get", "token", ..]
                ) || matches!(words.as_slice(), ["auth", "status", ..])
                    && (has("--show-token") || has("-t"))
            }
            "gcloud" => {
                words.len() >= 2 && words[..2] == ["auth", "print-access-token"]
                    || words.starts_with(&["auth", "print-identity-token"])
                    || words.starts_with(&["auth", "application-default", "print-access-token"])
                    || words.starts_with(&["secrets", "versions", "access"])
            }
            "az" => {
                words.starts_with(&["account", "get-access-token"])
                    || words.starts_with(&["keyvault", "secret", "show"])
                    || words.starts_with(&["keyvault", "secret", "download"])
            }
            "aws" => {
                words.starts_with(&["configure", "get"])
                    && words.get(2).is_some_and(|k| {
                        let k = k.to_ascii_lowercase();
                        k.contains("secret") || k.contains("token") || k.contains("key")
                    })
                    || words.starts_with(&["configure", "export-credentials"])
                    || words.starts_with(&["ecr", "get-login-password"])
                    || words.starts_with(&["sts", "get-session-token"])
                    || words.starts_with(&["secretsmanager", "get-secret-value"])
                    || words.first() == Some(&"ssm")
                        && words.get(1).is_some_and(|w| w.starts_with("get-parameter"))
                        && has("--with-decryption")
            }
            "kubectl" => {
                words.starts_with(&["config", "view"]) && (has("--raw") || has("--flatten"))
                    || matches!(words.as_slice(), ["get", "secret" | "secrets", ..])
                        && (has("-o")
                            || has("--output")
                            || args.iter().any(|a| a.starts_with("-o")))
            }
            "security" => {
                words.first().is_some_and(|s| {
                    matches!(*s, "find-generic-password" | "find-internet-password")
                }) && args.iter().any(|a| {
                    // `-w`, `-g` alone or inside a cluster of short options (`-wa`, `-gs`).
                    a.strip_prefix('-')
                        .is_some_and(|o| !o.starts_with('-') && o.contains(['w', 'g']))
                }) || words.first() == Some(&"dump-keychain")
            }
            "gpg" | "gpg2" => has("--export-secret-keys") || has("--export-secret-subkeys"),
            "op" => matches!(words.as_slice(), ["read", ..] | ["item", "get", ..]),
            "pass" => matches!(words.as_slice(), ["show", ..] | [_]),
            "vault" => matches!(
                words.as_slice(),
                ["read", ..] | ["kv", "get", ..] | ["print", "token", ..]
            ),
            "git" => matches!(words.as_slice(), ["credential", "fill", ..]),
            "secret-tool" => words.first() == Some(&"lookup"),
            "heroku" => matches!(
                words.as_slice(),
                ["auth:token", ..] | ["config", ..] | ["config:get", ..]
            ),
            // Hosting platforms' environment variables (their secrets) printed or pulled.
            "vercel" => words.starts_with(&["env", "pull"]),
            "netlify" => matches!(words.first(), Some(&("env:list" | "env:get"))),
            "railway" => matches!(words.first(), Some(&"variables")),
            "systemctl" => words.first() == Some(&"show-environment"),
            "tmux" => matches!(words.first(), Some(&("show-environment" | "showenv"))),
            // Decrypt encrypted secrets to the terminal.
            "sops" => has("-d") || has("--decrypt") || words.first() == Some(&"decrypt"),
            "ansible-vault" => matches!(words.first(), Some(&("view" | "decrypt"))),
            "rails" | "rake" => words
                .iter()
                .any(|w| matches!(*w, "credentials:show" | "credentials:edit")),
            "php" => words.contains(&"env:decrypt"),
            "dotenvx" | "dotenv-vault" => {
                matches!(words.first(), Some(&("get" | "decrypt" | "pull")))
            }
            "git-crypt" => words.first() == Some(&"unlock"),
            // Package managers' stored registry tokens, printed by key.
            "npm" | "pnpm" | "yarn" => {
                matches!(words.as_slice(), ["config", "get", key, ..] if {
                    let k = key.to_ascii_lowercase();
                    k.contains("auth") || k.contains("token") || k.contains("password")
                })
            }
            // Password managers and secret stores.
            "bw" => matches!(words.as_slice(), ["get", ..] | ["export", ..]),
            "lpass" => matches!(words.as_slice(), ["show", ..] | ["export", ..]),
            "gopass" => matches!(words.as_slice(), ["show", ..] | ["cat", ..] | [_]),
            "keepassxc-cli" => matches!(words.as_slice(), ["show", ..] | ["export", ..]),
            "doppler" => words.starts_with(&["secrets"]) && !words.starts_with(&["secrets", "set"]),
            "infisical" => matches!(words.as_slice(), ["secrets", ..] | ["export", ..]),
            "chamber" => matches!(
                words.as_slice(),
                ["read", ..] | ["export", ..] | ["env", ..]
            ),
            n => n.starts_with("docker-credential-") && words.first() == Some(&"get"),
        };
        if prints {
            self.finding(
                Code::SecretsCredentialsPrinted,
                format!("`{}` prints stored credentials", cmd.name()),
                span,
            );
        }
    }

    /// Firewall, network, mounts, users and kernel settings: changing them can cut the
    /// machine off or lock people out. Read-only forms (`iptables -L`, `ip addr`) pass.
    pub(super) fn system_admin(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        let rest: Vec<&str> = args.iter().skip(1).copied().collect();
        let has = |o: &str| rest.contains(&o);
        let changes = match cmd.name() {
            "iptables" | "ip6tables" => {
                !rest.iter().all(|a| {
                    matches!(
                        *a,
                        "-L" | "-S"
                            | "--list"
                            | "--list-rules"
                            | "-n"
                            | "-v"
                            | "-t"
                            | "--line-numbers"
                    ) || !a.starts_with('-')
                }) || rest.is_empty()
            }
            "nft" => !matches!(rest.first(), Some(&"list")),
            "ufw" => !matches!(rest.first(), Some(&("status" | "version" | "help" | "app"))),
            "firewall-cmd" => !rest
                .iter()
                .all(|a| a.starts_with("--list") || *a == "--state" || a.starts_with("--get")),
            "mount" => {
                !(rest.is_empty() || rest == ["-l"] || rest.starts_with(&["-t"]) && rest.len() == 2)
            }
            "sysctl" => {
                has("-w")
                    || has("--write")
                    || has("-p")
                    || has("--load")
                    || rest.iter().any(|a| a.contains('='))
            }
            "ip" => rest.iter().any(|a| {
                matches!(
                    *a,
                    "set" | "del" | "delete" | "add" | "flush" | "change" | "replace"
                )
            }),
            "ifconfig" => rest
                .iter()
                .any(|a| matches!(*a, "down" | "up" | "del" | "add" | "netmask" | "mtu")),
            "loginctl" => matches!(
                rest.first(),
                Some(
                    &("enable-linger"
                        | "terminate-user"
                        | "kill-user"
                        | "terminate-session"
                        | "kill-session")
                )
            ),
            "passwd" => !rest.is_empty() && !has("-S") && !has("--status"),
            _ => true,
        };
        if changes {
            let linger = cmd.name() == "loginctl" && has("enable-linger");
            self.finding(
                if linger {
                    Code::PersistenceLinger
                } else {
                    Code::SystemAdmin
                },
                format!(
                    "`{}` reconfigures the machine (firewall, network, mounts, users or kernel)",
                    cmd.name()
                ),
                span,
            );
        }
    }

    pub(super) fn cloud(&mut self, cmd: &Command, span: &str) {
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
                words.iter().flat_map(|w| w.split(':')).any(|w| {
                    w.starts_with("delete")
                        || w.starts_with("terminate")
                        || w == "rb"
                        || w == "destroy"
                        || w == "remove"
                        || w == "purge"
                        || w == "rmdirs"
                }) || ((has("rm") || has("del")) && (has("--recursive") || has("-r")))
            }
        };
        if destroys {
            self.finding(
                Code::CloudDestroy,
                format!("`{name}` deletes cloud or cluster resources"),
                span,
            );
        }
    }

    pub(super) fn database(&mut self, cmd: &Command, span: &str) {
        // Admin clients whose subcommand drops a database or user (`dropdb prod`,
        // `mysqladmin drop prod`).
        let admin_drop = match cmd.name() {
            "dropdb" | "dropuser" => true,
            "mysqladmin" | "mariadb-admin" => cmd.operands().contains(&"drop"),
            _ => false,
        };
        let mut text: String = cmd.args().join(" ");
        if let Stdin::Text(t) = &cmd.stdin {
            text.push(' ');
            text.push_str(t);
        }
        if let Some(t) = &cmd.input_text {
            text.push(' ');
            text.push_str(t);
        }
        let upper = text.to_ascii_uppercase();
        let squeezed: String = upper.split_whitespace().collect::<Vec<_>>().join(" ");
        self.sql_side_effects(&text, span);
        let destroys = [
            "DROP DATABASE",
            "DROP SCHEMA",
            "DROP TABLE",
            "TRUNCATE ",
            "FLUSHALL",
            "FLUSHDB",
            "DROPDATABASE",
            "DROP USER",
            "DROP KEYSPACE",
            ".DROP()",
            ".DROPDATABASE(",
            ".DELETEMANY({})",
            ".REMOVE({})",
        ]
        .iter()
        .any(|k| squeezed.contains(k))
            || (squeezed.contains("DELETE FROM") && !squeezed.contains("WHERE"))
            || admin_drop;
        if destroys {
            self.finding(
                Code::CloudDatabaseDestroy,
                "destroys database contents (DROP, TRUNCATE, FLUSHALL or an unbounded DELETE)",
                span,
            );
        }
    }

    /// SQL that reaches outside the database: `COPY … FROM/TO PROGRAM 'cmd'` runs a shell
    /// command; `pg_read_file('f')`, `LOAD_FILE('f')`, `readfile('f')`, `lo_import('f')` read
    /// files (judged as reads of them).
    fn sql_side_effects(&mut self, sql: &str, span: &str) {
        use std::sync::LazyLock;
        static PROGRAM: LazyLock<regex::Regex> = LazyLock::new(|| {
            regex::Regex::new(r"(?i)\b(?:FROM|TO)\s+PROGRAM\s+'((?:[^']|'')*)'")
                .expect("static regex")
        });
        static READS: LazyLock<regex::Regex> = LazyLock::new(|| {
            regex::Regex::new(
                r"(?i)\b(?:pg_read_file|pg_read_binary_file|load_file|readfile|lo_import)\s*\(\s*'([^']*)'",
            )
            .expect("static regex")
        });
        let project = self.env.project.clone();
        for c in PROGRAM.captures_iter(sql) {
            let cmd = c[1].replace("''", "'");
            self.shell(&cmd, &project);
        }
        for c in READS.captures_iter(sql) {
            let p = self.resolve(&c[1], &project);
            self.path(Action::FileRead, p, span);
        }
    }

    /// Framework tasks that drop or wipe the application's database (`rails db:drop`,
    /// `prisma migrate reset`, `php artisan migrate:fresh`, `python manage.py flush`,
    /// `mix ecto.reset`, `dotnet ef database drop`).
    pub(super) fn framework_database(&mut self, cmd: &Command, span: &str) {
        const TASKS: &[&str] = &[
            "db:drop",
            "db:drop:all",
            "db:reset",
            "db:purge",
            "db:wipe",
            "migrate:fresh",
            "migrate:reset",
            "migrate:refresh",
            "schema:drop",
            "doctrine:database:drop",
            "doctrine:schema:drop",
            "ecto.drop",
            "ecto.reset",
        ];
        let runner = matches!(
            cmd.name(),
            "rails"
                | "rake"
                | "bundle"
                | "prisma"
                | "php"
                | "artisan"
                | "sequelize"
                | "sequelize-cli"
                | "typeorm"
                | "knex"
                | "console"
                | "symfony"
                | "mix"
                | "dotnet"
        ) || cmd.name().starts_with("python");
        if !runner {
            return;
        }
        let args = cmd.args();
        let has = |w: &str| args.contains(&w);
        let django = args
            .iter()
            .any(|a| a.ends_with("manage.py") || *a == "django-admin");
        let wipes = args.iter().any(|a| TASKS.contains(a))
            || (cmd.name() == "prisma"
                && ((has("migrate") && has("reset")) || has("--force-reset")))
            || (django && (has("flush") || has("reset_db")))
            || (cmd.name() == "dotnet" && has("ef") && has("database") && has("drop"));
        if wipes {
            self.finding(
                Code::CloudDatabaseDestroy,
                "drops or wipes the application's database",
                span,
            );
        }
    }

    /// `docker-compose down -v`: the project's volumes, and the data in them, are deleted.
    pub(super) fn compose(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        if cmd.operands().first() == Some(&"down")
            && args.iter().any(|a| matches!(*a, "-v" | "--volumes"))
        {
            self.finding(
                Code::CloudDockerPrune,
                "deletes containers, images or volumes (data in volumes is lost)",
                span,
            );
        }
    }
}

/// `pgrep` looking up the gateway's process (`kill $(pgrep -f gateway)`).
pub(super) fn finds_gateway(cmd: &Command) -> bool {
    cmd.name() == "pgrep" && selects_gateway(cmd)
}

/// `pkill`/`pgrep`/`killall` whose pattern selects the gateway's process (`pkill -f gateway`,
/// `pkill -f .`, `killall -r 'patch.*'`).
fn selects_gateway(cmd: &Command) -> bool {
    let regex_names = match cmd.name() {
        "pkill" | "pgrep" => true,
        "killall" => cmd.args().iter().any(|a| *a == "-r" || *a == "--regexp"),
        _ => return false,
    };
    let a = super::command::Args::parse(
        &cmd.argv,
        &[
            "-u", "-U", "-g", "-G", "-P", "-s", "-t", "-F", "-n", "--signal", "-o", "-y",
        ],
    );
    a.operands.iter().any(|w| {
        let p = w.text.as_str();
        if w.dynamic || p.is_empty() {
            return false;
        }
        if !regex_names {
            return p == "patchwork-gateway" || p == "patchwork-gatew";
        }
        regex::RegexBuilder::new(p)
            .case_insensitive(cmd.args().contains(&"-i"))
            .build()
            .is_ok_and(|re| re.is_match("patchwork-gateway"))
    })
}

/// Read-only disk inspection (`lsblk /dev/sda`, `blkid`, `smartctl -a /dev/sda`, `fdisk -l`,
/// `sfdisk -d`, `parted /dev/sda print`, `blockdev --getsize64`): every option is one that
/// only prints, so the device named is read, not rewritten. Any other option (`smartctl -s
/// off`, `sfdisk /dev/sda < table`, `parted /dev/sda rm 1`) leaves the command to the
/// device and disk rules.
pub(super) fn disk_inspection(cmd: &Command) -> bool {
    // The system's own tool, not a script of that name somewhere else (`./lsblk`).
    let first = cmd.argv.first().map_or("", |w| w.text.as_str());
    let system_tool = !first.contains('/')
        || ["/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/"]
            .iter()
            .any(|d| first.starts_with(d));
    if !system_tool || cmd.argv.iter().any(|w| w.dynamic) {
        return false;
    }
    let args: Vec<&str> = cmd.argv[1..].iter().map(|w| w.text.as_str()).collect();
    let options = || args.iter().filter(|a| a.starts_with('-'));
    let only = |allowed: &[&str]| options().all(|o| allowed.contains(o));
    let listing = |list: &[&str]| options().any(|o| list.contains(o));
    match cmd.name() {
        "lsblk" | "blkid" | "lsscsi" => true,
        "smartctl" => only(&[
            "-a",
            "-x",
            "-i",
            "-H",
            "-A",
            "-c",
            "-l",
            "-d",
            "-j",
            "--all",
            "--xall",
            "--info",
            "--health",
            "--attributes",
            "--capabilities",
            "--scan",
            "--scan-open",
            "--json",
        ]),
        "fdisk" | "gdisk" => {
            let list = ["-l", "--list", "-x", "--list-details"];
            listing(&list) && only(&[&list[..], &["-u", "-o", "--output"]].concat())
        }
        "sfdisk" => {
            let list = [
                "-l",
                "--list",
                "-d",
                "--dump",
                "-J",
                "--json",
                "-s",
                "--show-size",
            ];
            listing(&list) && only(&list)
        }
        "parted" => {
            const WORDS: &[&str] = &[
                "print", "unit", "s", "b", "kb", "mb", "gb", "tb", "kib", "mib", "gib", "tib", "%",
                "cyl", "chs", "compact",
            ];
            only(&[
                "-l",
                "--list",
                "-s",
                "--script",
                "-m",
                "--machine",
                "-j",
                "--json",
            ]) && (listing(&["-l", "--list"])
                || args
                    .iter()
                    .filter(|a| !a.starts_with('-') && !a.starts_with("/dev/"))
                    .all(|a| WORDS.contains(&a.to_ascii_lowercase().as_str()))
                    && args.contains(&"print"))
        }
        "blockdev" => options().all(|o| o.starts_with("--get") || *o == "--report"),
        _ => false,
    }
}

/// Whether the command reading an environment dump (`env | grep PATH`, `set | cut -d= -f1`)
/// prints no secret of it: names only, counts, or the lines a search selects when its pattern
/// names no credential and matches no line of a secret variable in the environment the gateway
/// sees (the agent's). Anything else (`less`, `grep -v`, `head`) passes the secrets on.
fn keeps_secrets_out(reader: &[String]) -> bool {
    let Some((name, args)) = reader.split_first() else {
        return false;
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match name.rsplit('/').next().unwrap_or(name) {
        "wc" => true,
        // `cut -d= -f1`: the names, never the values.
        "cut" => {
            let value = |short: &str, long: &str| {
                args.iter().enumerate().find_map(|(i, a)| {
                    a.strip_prefix(long)
                        .or_else(|| a.strip_prefix(short))
                        .filter(|v| !v.is_empty())
                        .or_else(|| (*a == short).then(|| args.get(i + 1).copied()).flatten())
                })
            };
            value("-d", "--delimiter=") == Some("=") && value("-f", "--fields=") == Some("1")
        }
        n @ ("grep" | "egrep" | "fgrep") => grep_keeps_secrets_out(n, &args),
        "sed" => match args.as_slice() {
            ["-n", script] | [script, "-n"] => script
                .strip_prefix('/')
                .and_then(|s| s.strip_suffix("/p"))
                .filter(|re| !re.contains('/'))
                .is_some_and(|re| {
                    matches_no_secret(&[super::files::line_matcher(re, false, false, false)], re)
                }),
            _ => false,
        },
        _ => false,
    }
}

/// A grep over an environment dump that prints no secret (see [`keeps_secrets_out`]).
fn grep_keeps_secrets_out(name: &str, args: &[&str]) -> bool {
    let (mut fixed, mut extended, mut icase) = (name == "fgrep", name == "egrep", false);
    let mut patterns: Vec<&str> = Vec::new();
    let mut words = args.iter();
    while let Some(&a) = words.next() {
        match a {
            "-e" | "--regexp" => patterns.extend(words.next().copied()),
            "-c" | "--count" | "-q" | "--quiet" | "--silent" => return true,
            _ if a.starts_with("--") => return false,
            _ if a.starts_with('-') && a.len() > 1 => {
                for c in a[1..].chars() {
                    match c {
                        'F' => fixed = true,
                        'E' | 'P' => extended = true,
                        'i' => icase = true,
                        'c' | 'q' => return true,
                        'w' | 'x' | 'o' | 'n' | 'h' | 's' | 'a' | 'G' => {}
                        // -v, -f, -A/-B/-C context and the rest may print other lines.
                        _ => return false,
                    }
                }
            }
            _ if patterns.is_empty() => patterns.push(a),
            // A file operand: grep reads it, not the dump.
            _ => return false,
        }
    }
    !patterns.is_empty()
        && patterns
            .iter()
            .all(|p| matches_no_secret(&[super::files::line_matcher(p, fixed, extended, icase)], p))
}

/// Whether a pattern names no credential and no `NAME=value` line of a secret variable in
/// this process's environment matches it.
fn matches_no_secret(matchers: &[Option<regex::Regex>], pattern: &str) -> bool {
    if super::command::credential_pattern(pattern) {
        return false;
    }
    let Some(Some(re)) = matchers.first() else {
        return false;
    };
    std::env::vars_os().all(|(k, v)| {
        let (k, v) = (k.to_string_lossy(), v.to_string_lossy());
        !super::command::secret_variable(&k) || !re.is_match(&format!("{k}={v}"))
    })
}
