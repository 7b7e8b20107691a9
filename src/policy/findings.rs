//! The finding registry: every finding the classifier can raise, with its fixed risk, flags, a
//! one-line title and a longer explanation. Classifier sites name a [`Code`], never a string,
//! so a finding that is not in this table cannot be raised; policies, `policy validate` and
//! `policy findings` read the same table.

use crate::call::{Flag, Risk};

/// One registered finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The registry's own handle for the finding.
    pub code: Code,
    /// Stable id, as written in policies, case files and the ledger (`family.name`).
    pub id: &'static str,
    /// The risk every instance of the finding carries.
    pub risk: Risk,
    /// The flags policy rules match on.
    pub flags: &'static [Flag],
    /// What it means, in one line.
    pub title: &'static str,
    /// When it fires, why it matters and what to do instead.
    pub explanation: &'static str,
}

/// Declares [`Code`] and [`REGISTRY`] from one list, so every code has exactly one entry and
/// the table is indexed by the code.
macro_rules! registry {
    ($(
        $code:ident = $id:literal, $risk:ident, [$($flag:ident),*],
        $title:literal,
        $explanation:literal;
    )*) => {
        /// Every finding the classifier can raise (see [`REGISTRY`] for what each means).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code { $($code),* }

        /// The catalogue, in the order of [`Code`].
        pub const REGISTRY: &[Entry] = &[$(Entry {
            code: Code::$code,
            id: $id,
            risk: Risk::$risk,
            flags: &[$(Flag::$flag),*],
            title: $title,
            explanation: $explanation,
        }),*];
    };
}

impl Code {
    /// The registry entry of this finding.
    pub fn entry(self) -> &'static Entry {
        &REGISTRY[self as usize]
    }

    /// The finding's stable id.
    pub fn id(self) -> &'static str {
        self.entry().id
    }
}

/// The entry with this id.
pub fn lookup(id: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.id == id)
}

/// Ids that once covered more than they do now, with the findings split off them. A policy
/// that names the old id still matches what it used to (`git.remote_delete` also matches a
/// deleted repository), so splitting a finding never loosens a written policy.
pub const SPLIT_OFF: &[(&str, &[&str])] = &[
    ("git.remote_delete", &["git.repo_delete", "net.api_delete"]),
    ("net.serve_files", &["net.serve_exposed"]),
    ("net.release", &["net.repo_release"]),
    ("system.network", &["system.private_network"]),
    ("system.admin", &["persistence.linger"]),
    ("shell.dynamic_script", &["shell.generated_script"]),
];

/// The findings split off `id` (see [`SPLIT_OFF`]); empty for most ids.
pub fn split_off(id: &str) -> &'static [&'static str] {
    SPLIT_OFF
        .iter()
        .find(|(old, _)| old.eq_ignore_ascii_case(id))
        .map_or(&[], |(_, new)| new)
}

/// The catalogue as Markdown, as `docs/findings.md` holds it.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Findings\n\n\
         Every finding the classifier can raise, with the risk and flags it always carries. \
         Policy rules match them with `findings:` (ids or globs such as `git.*`), `risk:` and \
         `flags:` (see [policy.md](policy.md)). `patchwork-gateway policy findings [ID]` prints \
         the same catalogue.\n\n\
         This file is generated: `patchwork-gateway policy findings --markdown > docs/findings.md`.\n\n\
         | id | risk | flags | what it means |\n|---|---|---|---|\n",
    );
    for e in REGISTRY {
        let flags: Vec<String> = e
            .flags
            .iter()
            .map(|f| format!("`{}`", f.as_str()))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            e.id,
            e.risk.as_str(),
            flags.join(", "),
            e.title
        ));
    }
    out.push_str(
        "\nSome ids were split in two; a policy that names the old id still matches the split-off \
         findings too:\n\n",
    );
    for (old, new) in SPLIT_OFF {
        let new: Vec<String> = new.iter().map(|n| format!("`{n}`")).collect();
        out.push_str(&format!("- `{old}` also matches {}\n", new.join(", ")));
    }
    for e in REGISTRY {
        out.push_str(&format!("\n## `{}`\n\n{}\n", e.id, e.explanation));
    }
    out
}

/// The registered id closest to `id` (by edit distance over the whole id or its name after
/// the family), for "did you mean" messages. `None` when nothing is reasonably close.
pub fn nearest(id: &str) -> Option<&'static str> {
    let id = id.to_ascii_lowercase();
    let name = id.rsplit('.').next().unwrap_or(&id);
    REGISTRY
        .iter()
        .map(|e| {
            let own = e.id.rsplit('.').next().unwrap_or(e.id);
            let d = edit_distance(&id, e.id).min(edit_distance(name, own));
            (d, e.id)
        })
        .filter(|(d, _)| *d <= name.len().max(3) / 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, id)| id)
}

/// Levenshtein distance between two short ASCII-ish strings.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

registry! {
    // --- input the classifier cannot judge ----------------------------------------------------
    InputInvalid = "input.invalid", High, [Unresolvable],
        "a tool was called without a usable required argument",
        "A built-in tool arrived without the argument that says what it touches (a Read without \
         `file_path`, a Bash call without `command`). Nothing can be judged, so the call is \
         treated as unresolvable. Call the tool again with the argument filled in.";
    ToolUnknown = "tool.unknown", Medium, [UnknownTool],
        "a tool the gateway does not know",
        "The tool name is neither a Claude Code tool, a gateway MCP tool nor a wrapped MCP \
         server's tool the gateway has seen, so its effect cannot be judged. Policies decide \
         with the `unknown_tool` flag.";
    UriUnresolvable = "uri.unresolvable", High, [Unresolvable],
        "a URI or URL that cannot be resolved to a place",
        "A resource URI or URL argument could not be parsed or mapped to a file or host (an \
         unknown scheme, a malformed or encoded path). Write the plain path or URL.";

    // --- shell text that cannot be analysed ---------------------------------------------------
    ShellAnalysisBudget = "shell.analysis_budget", Critical, [Unresolvable],
        "the command is too costly to analyse",
        "The command exceeds the analysis budget (size, nesting, expansions or parser work). \
         Huge or endlessly nested input is a known way to slip past a checker, so it is \
         refused. Split it into smaller, plainer commands.";
    ShellNotShell = "shell.not_shell", High, [Unresolvable],
        "the text is not a shell command",
        "The Bash input is not shell syntax (key sequences, placeholders, prose). It is refused \
         because nothing can be judged, not because it looks dangerous. Send the literal \
         command to run.";
    ShellUnresolvable = "shell.unresolvable", High, [Unresolvable],
        "a command that cannot be analysed statically",
        "The command uses shell features whose effect is known only at run time in a way the \
         analysis cannot bound (eval of computed text, unusual expansions). Write it out \
         plainly.";
    ShellDynamicCommand = "shell.dynamic_command", High, [Unresolvable, Obfuscation],
        "the program name is computed at run time",
        "The word that names the program comes from a variable, substitution or decoding, so \
         the program that runs cannot be checked. Name the program literally.";
    ShellDynamicScript = "shell.dynamic_script", High, [CodeExecution, Unresolvable],
        "runs a script whose path is known only at run time",
        "`source \"$f\"` or an interpreter given a computed script path runs code that cannot \
         be read beforehand. Name the script file.";
    ShellGeneratedScript = "shell.generated_script", High, [CodeExecution, Unresolvable, PipeToShell],
        "a shell runs a script produced at run time",
        "`bash <(curl …)` or `sh \"$(…)\"` hands a shell a script that exists only while the \
         command runs, the same risk as piping a download into a shell. Download the script, \
         read it, then run the file.";
    ShellPipeToShell = "shell.pipe_to_shell", High, [PipeToShell, CodeExecution, Unresolvable],
        "pipes generated or downloaded code into a shell or interpreter",
        "`curl … | sh` and its relatives run code nobody has read. Save it to a file, review \
         it, then run it.";
    ShellCodeVariable = "shell.code_variable", High, [CodeExecution, Persistence],
        "an environment variable that makes later programs load or run code",
        "Variables such as `LD_PRELOAD`, `LD_AUDIT`, `DYLD_INSERT_LIBRARIES`, `BASH_ENV` or \
         `PROMPT_COMMAND` inject code into every program started afterwards.";
    ShellRunnerCode = "shell.runner_code", Medium, [CodeExecution],
        "a setting makes a program run an interpreter or shell",
        "A pager, editor or runner setting (`GIT_PAGER`, `EDITOR`, `--rsh`, `-exec`) names a \
         program that executes what it is given, which turns an ordinary command into code \
         execution.";
    ShellRunnerUnresolvable = "shell.runner_unresolvable", High, [Unresolvable],
        "a setting names a program computed at run time",
        "A pager, editor or runner setting takes its program from a variable or substitution, \
         so what runs cannot be checked.";

    // --- files ----------------------------------------------------------------------------------
    FilesOutsideProject = "files.outside_project", Medium, [OutsideProject],
        "writes outside the project",
        "The call changes a file outside the project folder (and outside scratch space). \
         Policies decide with the `outside_project` flag.";
    FilesDynamicTarget = "files.dynamic_target", Medium, [Unresolvable],
        "deletes, moves or links a file computed at run time",
        "The file a delete, move, link or permission change acts on comes from a variable or \
         substitution, so it could be any file, secrets and the guard's own included. Name the \
         file.";
    FilesDynamicWrite = "files.dynamic_write", Low, [],
        "writes a file computed at run time",
        "A redirection or copy writes to a path known only at run time. Recorded at low risk: \
         the write itself is ordinary, but the ledger notes that its target was not known.";
    FilesRewriteTracked = "files.rewrite_tracked", High, [Destructive],
        "rewrites every tracked file of a folder",
        "A bulk in-place edit (`sed -i` over `git ls-files`, `find … -exec sed -i`) rewrites \
         every file git tracks below a folder that holds the project. Change the files you \
         mean, by name or pattern.";
    FilesDeleteFoundation = "files.delete_foundation", Critical, [Destructive, DangerousCommand],
        "deletes or empties the system, the home folder or the project",
        "`rm -rf /`, `rm -rf ~`, emptying the project with `rm -rf *` at its root, moving \
         everything out of it or `rsync --delete` from an empty source all destroy everything \
         below the folder.";
    FilesDeleteOutside = "files.delete_outside", High, [Destructive, OutsideProject],
        "deletes files outside the project",
        "The call deletes files outside the project folder and outside scratch space (`/tmp`), \
         where the agent has no business removing anything.";
    FilesRecursiveDelete = "files.recursive_delete", High, [Destructive],
        "deletes a folder of the project recursively",
        "Recursive deletion inside the project of something other than build outputs, \
         dependency folders and `/tmp` scratch. Delete the files you mean, or ask the user.";
    FilesRecursiveDeleteOutside = "files.recursive_delete_outside", High, [Destructive, OutsideProject],
        "deletes a folder outside the project recursively",
        "Recursive deletion of a folder outside the project and outside scratch space.";
    FilesRecursiveDeleteUnknown = "files.recursive_delete_unknown", High, [Destructive, Unresolvable],
        "deletes recursively a path known only at run time",
        "`rm -rf \"$dir\"` and its relatives: the worst value of the path (empty, `/`, the home \
         folder) destroys everything, and nothing bounds it beforehand. Name the folder.";
    FilesDeleteEveryFile = "files.delete_every_file", Low, [Destructive],
        "deletes every file of a project folder at once",
        "`rm *`, `rm -f src/*` and a shallow `find DIR -maxdepth 1 -delete` without a test that \
         picks files remove every file at that level, whatever they are. Only `strict` refuses \
         it; name the files or use a narrower pattern (`*.log`, `build/*`).";

    // --- secrets --------------------------------------------------------------------------------
    SecretsRead = "secrets.read", High, [SecretRead, SensitivePath],
        "reads a secret file",
        "The call reads, searches, edits in place or hands to a program a file that holds \
         credentials (`.env`, private keys, cloud and registry credentials, the agent's own \
         credential store, cloud metadata services). Use a template such as `.env.example`, \
         or ask the user for the value.";
    SecretsSearch = "secrets.search", High, [SecretRead, SensitivePath],
        "a search whose output includes lines of a secret file",
        "A recursive search (`grep -r`, `rg`, `find … | xargs grep`) over a folder that holds \
         a secret file prints the matching lines of that file. Search the source folders, or \
         leave secret files out (`--include`, `--glob`).";
    SecretsArgument = "secrets.argument", Medium, [SensitivePath],
        "passes a secret file's path to a program",
        "A secret file is named as an argument of a program that may read it without printing \
         it (a checksum, a copy inside the project).";
    SecretsEnvVar = "secrets.env_var", High, [SecretRead, SensitivePath],
        "prints an environment variable that holds a secret",
        "`echo $OPENAI_API_KEY` and its relatives print a credential into the agent's context.";
    SecretsEnvDump = "secrets.env_dump", High, [EnvDump, SecretRead],
        "prints the whole environment",
        "`env`, `printenv`, `set` or `/proc/*/environ` print every variable, API keys and \
         tokens included. Print the one variable you need.";
    SecretsCredentialsPrinted = "secrets.credentials_printed", High, [SecretRead, SensitivePath],
        "a command that prints stored credentials",
        "`gh auth token`, `aws configure export-credentials`, `git credential fill` and their \
         relatives print a stored credential.";
    SecretsOverwrite = "secrets.overwrite", High, [SensitivePath, Destructive],
        "overwrites a secret file",
        "Writing over a credential file destroys the user's credentials (and may plant the \
         agent's own).";
    SecretsDestroy = "secrets.destroy", High, [SensitivePath, Destructive],
        "deletes or moves a secret file",
        "Deleting or moving a credential file loses the credentials or exposes them elsewhere.";

    // --- the gateway protects itself ----------------------------------------------------------
    SelfReadKey = "self.read_key", Critical, [SelfProtection, SecretRead],
        "touches the gateway's seal key",
        "The seal key signs the ledger's checkpoints; an agent that reads it can forge them. \
         Only `patchwork-gateway seal` and `verify` use it.";
    SelfTamper = "self.tamper", Critical, [SelfProtection],
        "changes the gateway's own files",
        "The call writes, deletes or links the gateway's program, hooks, policy, ledger or the \
         agent settings that register it. Leave them alone; tell the user if they are in the \
         way.";
    SelfAlias = "self.alias", Critical, [SelfProtection],
        "copies or links the gateway's program under another name",
        "A copy or link of the guard's program can be changed or run in its place without \
         touching the protected name.";
    SelfKill = "self.kill", Critical, [SelfProtection],
        "stops the gateway",
        "Signals to the gateway's processes, or to processes found by looking it up, would \
         turn the guard off.";
    SelfEnvSwitch = "self.env_switch", High, [SelfProtection],
        "chooses the gateway's policy or ledger",
        "Setting `PATCHWORK_HOME`, `PATCHWORK_POLICY` or `CLAUDE_CONFIG_DIR` for a command \
         points the gateway (or the agent's settings) at a policy, ledger or configuration the \
         agent picked.";
    SelfReconfigure = "self.reconfigure", High, [SelfProtection],
        "reconfigures the agent or the gateway",
        "Changing Claude Code's settings or MCP servers, starting it without permission \
         checks, or installing, removing or re-pinning the gateway through its own commands.";
    SelfUninstall = "self.uninstall", Critical, [SelfProtection],
        "removes the gateway through a package manager",
        "`cargo uninstall patchwork-gateway`, `brew uninstall …` or `npm rm -g …` remove or \
         replace the guard.";

    // --- git ------------------------------------------------------------------------------------
    GitForcePush = "git.force_push", High, [GitHistory, Destructive],
        "a force push",
        "A force push rewrites the remote's history, and `--force-with-lease` still does so on \
         the default or a release branch. Push a new branch, or ask the user.";
    GitRemoteDelete = "git.remote_delete", High, [GitHistory, Destructive],
        "deletes branches on the remote",
        "`git push origin :branch` or `--delete` removes branches others may depend on.";
    GitRepoDelete = "git.repo_delete", Critical, [Destructive, GitHistory],
        "deletes a hosted repository or release",
        "`gh repo delete`, a hosting API's delete or an MCP tool with the same meaning removes \
         a repository with its issues and history.";
    GitDiscardWork = "git.discard_work", High, [GitHistory, Destructive],
        "throws away uncommitted work",
        "`git reset --hard`, `git checkout -- .`, `git restore`, `git clean -f` and `git stash \
         clear` lose changes for good. Commit or stash first, or ask the user.";
    GitRewriteHistory = "git.rewrite_history", High, [GitHistory, Destructive],
        "rewrites the repository's history",
        "`git filter-branch`, `filter-repo`, `reflog expire` with `gc --prune` and their \
         relatives rewrite or drop commits. Ask the user to do it.";
    GitBranchForceDelete = "git.branch_force_delete", High, [GitHistory, Destructive],
        "deletes an unmerged branch",
        "`git branch -D` deletes a branch even if its commits are merged nowhere. Use `-d`.";
    GitRmRecursive = "git.rm_recursive", Medium, [Destructive],
        "removes tracked folders",
        "`git rm -r` deletes tracked folders from the worktree.";
    GitConfigExec = "git.config_exec", Medium, [CodeExecution],
        "a git setting that runs a shell command",
        "Settings such as `core.pager`, `core.sshCommand`, aliases starting with `!` or \
         `diff.external` make git run a command.";

    // --- persistence ----------------------------------------------------------------------------
    PersistenceWrite = "persistence.write", High, [Persistence],
        "writes a file that runs code later",
        "Shell start-up files, autostart folders, git hooks and similar places hold code that \
         runs later, outside this session.";
    PersistenceCrontab = "persistence.crontab", High, [Persistence],
        "changes the user's crontab",
        "A crontab entry runs code later, outside this session.";
    PersistenceCrontabRemove = "persistence.crontab_remove", High, [Destructive, Persistence],
        "deletes every scheduled job of the user",
        "`crontab -r` removes the whole crontab.";
    PersistenceSchedule = "persistence.schedule", Medium, [Persistence],
        "schedules code to run later",
        "`at`, `batch`, `launchctl` and other scheduling tools run work later, without the \
         agent present.";
    PersistenceService = "persistence.service", Medium, [Persistence],
        "installs a service",
        "A user or system service runs outside this session.";
    PersistenceLoginHook = "persistence.login_hook", High, [Persistence],
        "installs a login or logout hook",
        "A login hook runs a script at every session.";
    PersistenceLinger = "persistence.linger", High, [SystemDestruction, Persistence],
        "keeps the user's services running after logout",
        "`loginctl enable-linger` lets the user's services outlive every session.";
    PersistencePackageManager = "persistence.package_manager", High, [Persistence],
        "a package manager setting that runs code on later installs",
        "A lifecycle script or a setting such as `script-shell` makes every later install run \
         another program.";
    PersistenceGitHooks = "persistence.git_hooks", High, [Persistence],
        "points git at another hooks folder",
        "`core.hooksPath` makes git run scripts from another folder on every commit.";
    PersistenceGitInclude = "persistence.git_include", High, [Persistence],
        "includes another file into the git configuration",
        "An included file can set hooks, aliases and pagers that run later.";
    PersistenceGitRedirect = "persistence.git_redirect", High, [Persistence, NetworkEgress],
        "sends later git traffic through or to another host",
        "Settings such as `url.*.insteadOf` or `http.proxy` redirect every later fetch and push.";

    // --- privilege ------------------------------------------------------------------------------
    PrivilegeEscalation = "privilege.escalation", High, [Privilege],
        "runs a command with elevated privileges",
        "`sudo`, `doas`, `su -c`, `pkexec` and their relatives run the command as another \
         user, usually root. Do it without them, or ask the user.";
    PrivilegeSetuid = "privilege.setuid", High, [Privilege],
        "sets the setuid or setgid bit",
        "A setuid program runs with its owner's rights for whoever starts it.";
    PrivilegeContainer = "privilege.container", High, [Privilege],
        "a container with control of the host",
        "`--privileged`, `--pid=host` or a mount of `/` gives the container full control of \
         the machine.";

    // --- the machine ----------------------------------------------------------------------------
    SystemWrite = "system.write", High, [SystemDestruction, OutsideProject],
        "changes a system location",
        "Writes under `/etc`, `/usr`, `/boot` and other system folders can break the machine.";
    SystemWide = "system.wide", Medium, [SystemDestruction, OutsideProject],
        "changes files matching a pattern in system folders",
        "A pattern rooted in a system location (`find / -name '*.mp3' -exec mv {} …`, \
         `chmod 755 /usr/*/*.rpm`) moves or rewrites whatever matches there, the files of other \
         users and of the system included. Only `strict` refuses it; give the folder the files \
         are in.";
    SystemDevice = "system.device", High, [SystemDestruction, Destructive],
        "operates on a device",
        "A command acts on a block device directly.";
    SystemDeviceWrite = "system.device_write", Critical, [SystemDestruction, Destructive],
        "writes to a device",
        "Writing to a block device destroys the data on it.";
    SystemDisk = "system.disk", Critical, [SystemDestruction, Destructive],
        "rewrites disks or partitions",
        "`mkfs`, `fdisk`, `wipefs`, `diskutil erase…`, `zfs destroy` and their relatives \
         destroy file systems.";
    SystemPermissions = "system.permissions", Critical, [SystemDestruction, Destructive],
        "changes permissions of a whole system tree",
        "A recursive `chmod` or `chown` on the system, the home folder or the project locks \
         users and programs out.";
    SystemKillAll = "system.kill_all", Critical, [SystemDestruction, DangerousCommand],
        "signals every process",
        "`kill -9 -1`, `killall5` and their relatives stop every process of the user, the \
         agent and the gateway included.";
    SystemPower = "system.power", Critical, [SystemDestruction, DangerousCommand],
        "stops or restarts the machine",
        "`shutdown`, `reboot`, `halt`, `poweroff` and their relatives.";
    SystemAdmin = "system.admin", High, [SystemDestruction],
        "reconfigures the machine",
        "Firewall, network, mount, user or kernel changes made directly (`iptables`, `ip`, \
         `mount`, `modprobe`, `sysctl -w`, `passwd` …).";
    SystemService = "system.service", High, [SystemDestruction],
        "starts, stops or reconfigures a system service",
        "`systemctl`, `service` and their relatives change what runs on the machine, with or \
         without `sudo`.";
    SystemPackages = "system.packages", High, [SystemDestruction],
        "installs, removes or upgrades system packages",
        "`apt`, `dnf`, `pacman`, `apk`, `zypper` and other system package managers change the \
         machine's software.";
    SystemUsers = "system.users", High, [Privilege, SystemDestruction],
        "changes users, groups or authentication",
        "`useradd`, `passwd`, `gpasswd`, `chpasswd`, `visudo` and their relatives change who \
         may log in and with which rights.";
    SystemNetwork = "system.network", High, [SystemDestruction],
        "reconfigures the machine's network, firewall or display access",
        "`nmcli`, `ufw`, `firewall-cmd`, `xhost +` and their relatives change what reaches \
         the machine.";
    SystemPrivateNetwork = "system.private_network", High, [SystemDestruction, NetworkEgress],
        "joins, leaves or exposes the machine on a private network",
        "`tailscale up`, `zerotier-cli join` and their relatives put the machine on another \
         network.";

    // --- cloud, clusters, containers, databases -------------------------------------------------
    CloudDestroy = "cloud.destroy", High, [CloudDestruction, Destructive],
        "deletes cloud, cluster or VM resources",
        "`terraform destroy`, `kubectl delete namespace`, `aws s3 rm --recursive`, `gcloud … \
         delete`, `virsh undefine`, `helm uninstall` and their relatives.";
    CloudDatabaseDestroy = "cloud.database_destroy", High, [CloudDestruction, Destructive],
        "destroys database contents",
        "`DROP`, `TRUNCATE`, `FLUSHALL`, an unbounded `DELETE` or a framework's reset command \
         wipes data.";
    CloudDockerPrune = "cloud.docker_prune", High, [Destructive, CloudDestruction],
        "deletes containers, images or volumes",
        "`docker system prune`, `docker volume rm` and their relatives; data in volumes is lost.";

    // --- network --------------------------------------------------------------------------------
    NetEgress = "net.egress", Low, [NetworkEgress],
        "contacts another host",
        "A request to a host other than this machine. Recorded at low risk; policies may ask \
         with the `network_egress` flag.";
    NetUpload = "net.upload", Medium, [NetworkEgress, Exfiltration],
        "sends local data to another host",
        "A request that carries local files or data (`curl -d @file`, `-T`, `-F`).";
    NetUploadSecret = "net.upload_secret", High, [Exfiltration, NetworkEgress, SensitivePath],
        "uploads a secret file",
        "A request that carries a file holding credentials.";
    NetExfiltration = "net.exfiltration", High, [NetworkEgress, Exfiltration],
        "a URL that carries a credential",
        "A secret or credential travels in the URL of a request.";
    NetSecretInArguments = "net.secret_in_arguments", High, [Exfiltration, NetworkEgress, SecretRead],
        "a secret's value leaves in a request",
        "The value of one of the project's secrets (plain, base64, URL or hex encoded), or a \
         credential-shaped token, appears in a URL, a request body or header, or an outbound \
         MCP tool's arguments.";
    NetDnsExfiltration = "net.dns_exfiltration", High, [Exfiltration, NetworkEgress, Unresolvable],
        "a DNS lookup of a computed name",
        "A lookup of a name built at run time can smuggle data out in the name itself.";
    NetRemoteShell = "net.remote_shell", High, [RemoteShell, NetworkEgress],
        "opens a session on another machine",
        "`ssh`, `mosh`, `telnet`, remote desktops and their relatives. Ask the user to run it.";
    NetRemoteCopy = "net.remote_copy", High, [RemoteShell, NetworkEgress],
        "copies files to or from another machine",
        "`scp`, `rsync` to a host, `sftp` and their relatives.";
    NetRawSocket = "net.raw_socket", High, [RemoteShell, NetworkEgress, Exfiltration],
        "sends raw data to another machine",
        "`nc`, `socat`, `/dev/tcp` and their relatives carry anything, a shell included.";
    NetListen = "net.listen", Medium, [NetworkEgress],
        "opens a listening socket",
        "A program listens for connections from other machines.";
    NetTunnel = "net.tunnel", High, [Exfiltration, NetworkEgress],
        "publishes a local server on the internet",
        "`ngrok`, `cloudflared tunnel` and their relatives make whatever a local server serves \
         (the project, its `.env`) reachable by anyone.";
    NetServeBuild = "net.serve_build", Low, [NetworkEgress],
        "serves a build folder on the network",
        "A file server over a project subfolder with no secret file in it (`dist`, `public`).";
    NetServeFiles = "net.serve_files", Medium, [Exfiltration, NetworkEgress],
        "serves the project's files on the network",
        "A file server over the project folder makes its files reachable from other machines.";
    NetServeExposed = "net.serve_exposed", High, [Exfiltration, NetworkEgress],
        "serves secrets or files outside the project on the network",
        "A file server over a folder that holds secret files, or lies outside the project \
         (the home folder), publishes them.";
    NetGitRemote = "net.git_remote", Medium, [NetworkEgress],
        "adds or changes a git remote",
        "A new push destination; pushes to it are judged as uploads.";
    NetGitPushElsewhere = "net.git_push_elsewhere", High, [Exfiltration, NetworkEgress],
        "pushes the repository to a new destination",
        "A push to a remote added or re-pointed in the same call, or given as a URL, copies \
         the repository somewhere new.";
    NetGistUpload = "net.gist_upload", High, [Exfiltration, NetworkEgress],
        "uploads files to a gist",
        "A gist publishes files outside the project's repository.";
    NetPublishRepo = "net.publish_repo", High, [Exfiltration, NetworkEgress],
        "makes the repository public",
        "Changing a repository's visibility publishes everything in it.";
    NetPackagePublish = "net.package_publish", High, [Exfiltration, NetworkEgress],
        "publishes the project to a package registry",
        "`npm publish`, `cargo publish` and their relatives cannot be fully undone.";
    NetRelease = "net.release", High, [NetworkEgress, Exfiltration],
        "publishes a release, package or image to a registry",
        "`docker push`, `pkgctl release` and other release and registry tools ship the project \
         to others.";
    NetRepoRelease = "net.repo_release", Medium, [NetworkEgress],
        "publishes or changes a release of this repository",
        "`gh release create|upload|edit|delete` and `glab release …` change the repository's \
         published releases.";
    NetApiDelete = "net.api_delete", High, [Destructive],
        "a DELETE request to a hosting API",
        "A `DELETE` to the GitHub API removes whatever the URL names.";
    NetInstallUrl = "net.install_url", Medium, [CodeExecution, NetworkEgress],
        "installs a package straight from a URL",
        "Its install scripts run unreviewed.";

    // --- tooling --------------------------------------------------------------------------------
    AttackTooling = "attack.tooling", High, [DangerousCommand],
        "credential-cracking, dumping or lateral-movement tooling",
        "`hydra`, `john`, `hashcat`, `impacket-*`, `nxc`, `responder`, `aircrack-ng` and \
         their relatives have no place in an agent's work.";

    // --- MCP tools ------------------------------------------------------------------------------
    McpToolChanged = "mcp.tool_changed", High, [UnknownTool],
        "an upstream MCP tool changed since it was pinned",
        "The wrapped server changed this tool's definition since the user approved it; a \
         changed description is how a tool is turned against the agent. Review and re-pin it.";
    McpToolNew = "mcp.tool_new", High, [UnknownTool],
        "an upstream MCP tool added after the first listing",
        "The user has not approved this tool yet.";
    McpToolUnlisted = "mcp.tool_unlisted", Critical, [UnknownTool],
        "a call to an MCP tool the upstream never listed",
        "The server never advertised a tool of this name.";
    McpDescUnicodeTags = "mcp.desc.unicode_tags", High, [],
        "invisible Unicode tag characters in a tool's texts",
        "Tag characters spell ASCII text the model reads and a human does not see.";
    McpDescBidi = "mcp.desc.bidi", High, [],
        "bidirectional controls in a tool's texts",
        "They reorder what a human sees against what the model reads.";
    McpDescZeroWidth = "mcp.desc.zero_width", Medium, [],
        "zero-width characters in a tool's texts",
        "Runs of invisible characters can hide text or split words a reviewer searches for.";
    McpDescTag = "mcp.desc.tag", High, [],
        "instruction markup in a tool's texts",
        "`<IMPORTANT>`, `<system>`, `[INST]` and chat-template tokens pretend to carry \
         instructions of higher rank.";
    McpDescImperative = "mcp.desc.imperative", Medium, [],
        "an instruction aimed at the model in a tool's texts",
        "\"Ignore previous instructions\", \"do not tell the user\" and their relatives.";
    McpDescSecretRef = "mcp.desc.secret_ref", High, [],
        "a reference to secret files in a tool's texts",
        "A description that mentions `~/.ssh`, `.env` or credential stores invites the model \
         to read them.";
    McpDescOtherTool = "mcp.desc.other_tool", Medium, [],
        "instructions about other tools in a tool's texts",
        "A description that changes how other tools are used shadows them.";
    McpDescHiddenParam = "mcp.desc.hidden_param", High, [],
        "a hidden or side-channel parameter in a tool's texts",
        "A parameter meant to carry data the user is not told about.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_indexes_its_own_entry() {
        for (i, e) in REGISTRY.iter().enumerate() {
            assert_eq!(e.code as usize, i, "{}", e.id);
            assert_eq!(e.code.entry().id, e.id);
        }
    }

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for e in REGISTRY {
            assert!(seen.insert(e.id), "{} twice", e.id);
            let (family, name) = e.id.split_once('.').expect("family.name");
            assert!(!family.is_empty() && !name.is_empty(), "{}", e.id);
            assert!(
                e.id.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.'),
                "{}",
                e.id
            );
            assert!(e.risk > Risk::None, "{}", e.id);
            assert!(!e.title.is_empty() && !e.explanation.is_empty(), "{}", e.id);
            assert_eq!(lookup(e.id), Some(e));
        }
    }

    #[test]
    fn docs_list_every_finding_as_the_registry_says() {
        let docs = include_str!("../../docs/findings.md");
        assert!(
            docs == markdown(),
            "docs/findings.md is out of date: run `patchwork-gateway policy findings --markdown > docs/findings.md`"
        );
    }

    #[test]
    fn split_ids_and_their_successors_are_registered() {
        for (old, new) in SPLIT_OFF {
            assert!(lookup(old).is_some(), "{old}");
            for n in *new {
                assert!(lookup(n).is_some(), "{n}");
            }
        }
        assert_eq!(
            split_off("GIT.remote_delete"),
            ["git.repo_delete", "net.api_delete"]
        );
        assert!(split_off("secrets.read").is_empty());
    }

    #[test]
    fn nearest_names_the_id_a_typo_meant() {
        assert_eq!(nearest("net.pipe_to_shell"), Some("shell.pipe_to_shell"));
        assert_eq!(nearest("secret.read"), Some("secrets.read"));
        assert_eq!(nearest("git.force-push"), Some("git.force_push"));
        assert_eq!(nearest("GIT.FORCE_PUSH"), Some("git.force_push"));
        assert_eq!(nearest("completely.unrelated_words_here"), None);
    }
}
