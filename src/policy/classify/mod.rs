//! Classification: what a tool call does (action and targets) and how risky it is (findings
//! with risk levels and flags). One classifier for every door: Claude Code's built-in tools,
//! the gateway's builtin MCP tools and the arguments of wrapped MCP servers all end up as the
//! same path targets and shell commands, judged by the same rules.

mod command;
mod exec;
mod families;
mod files;
mod git;
mod leaks;
mod links;
mod mcp;
mod net;
pub mod places;
mod system;
pub mod trust;

use crate::call::{Action, Classification, Finding, Target, TargetKind, ToolCall};
use crate::policy::Env;
use crate::policy::findings::Code;
use crate::policy::paths;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Classifies one tool call. Never fails: input it cannot understand becomes a finding.
pub fn classify(call: &ToolCall, env: &Env) -> Classification {
    let mut c = Classifier::new(env);
    if let Some(seen) = &call.upstream_tool {
        c.upstream_tool(&call.tool, seen);
    }
    c.tool(call);
    c.out
}

/// Classifies only what an upstream MCP tool's definition says about trust (pin state,
/// injection markers), not its arguments: for judging a tool when it is listed.
pub fn classify_definition(call: &ToolCall, env: &Env) -> Classification {
    let mut c = Classifier::new(env);
    c.action(Action::McpToolCall);
    if let Some(seen) = &call.upstream_tool {
        c.upstream_tool(&call.tool, seen);
    }
    c.out
}

/// Claude Code tools that only manage the agent's own state.
const BOOKKEEPING_TOOLS: &[&str] = &[
    "TodoWrite",
    "AskUserQuestion",
    "ExitPlanMode",
    "EnterPlanMode",
    "TaskCreate",
    "TaskGet",
    "TaskList",
    "TaskUpdate",
    "TaskStop",
    "TaskOutput",
    "Skill",
    "ToolSearch",
    "LSP",
    "Monitor",
    "ListMcpResourcesTool",
    "ReadMcpResourceTool",
    "WaitForMcpServers",
    "SendMessage",
    "ScheduleWakeup",
    "CronList",
    "CronDelete",
    "EnterWorktree",
    "ExitWorktree",
    "BashOutput",
    "KillShell",
    "KillBash",
];

/// Builds a [`Classification`] step by step.
pub(crate) struct Classifier<'a> {
    env: &'a Env,
    out: Classification,
    /// Nesting depth of scripts analysed from files (`bash script.sh`).
    depth: usize,
    /// Symlinks created earlier in the same call: (link, target), both resolved.
    links: Vec<(PathBuf, PathBuf)>,
    /// A command looked up the gateway's process id (`pgrep patchwork`).
    gateway_lookup: bool,
    /// A `kill` whose process ids are computed at run time, by span.
    dynamic_kill: Option<String>,
    /// A write, delete or link whose file is computed at run time, by span.
    dynamic_sink: Option<String>,
    /// Git remotes pointing at other hosts, added or re-pointed earlier in the same call.
    git_remotes: Vec<String>,
    /// Folders whose every tracked file `git ls-files` (without a name pattern) lists.
    tracked: Vec<PathBuf>,
    /// A write or delete (true) of files known only at run time, by span.
    dynamic_change: Option<(String, bool)>,
    /// The command being judged runs in a folder computed at run time (after `cd "$d"`).
    unknown_cwd: bool,
    /// The command being judged copies or packs what it reads into local files without
    /// printing it (see `command::quiet_copy`).
    quiet_copy: bool,
    /// A permission change being judged keeps the owner's read and write access: to files
    /// only, or to folders as well (first), and whether it may make files executable (second).
    keeps_access: Option<(bool, bool)>,
    /// Hashes of the values in the project's secret files, looked up on the first outbound
    /// text of the call (see `leaks`: kept between calls while those files are unchanged).
    secret_values: Option<std::sync::Arc<std::collections::HashSet<[u8; 32]>>>,
    /// Paths already resolved in this call, by (argument, working directory): several rules
    /// look at the same argument, and each resolution costs system calls. Kept for one call
    /// only, so a file that changes between calls is seen as it is.
    resolved: std::cell::RefCell<std::collections::HashMap<(String, PathBuf), PathBuf>>,
    /// The tests of the `find` whose listing feeds the command being judged through `xargs`
    /// (`find . -mtime +30 | xargs rm`): only the files they select are judged.
    listed_by: Option<Vec<String>>,
    /// The deletion being judged is not recursive (`rm -f`, `rmdir`, `unlink`): folders among
    /// its operands are not removed (at most an empty one), so they are only looked at.
    keeps_folders: bool,
    /// The patterns of the in-place substitutions being judged (`sed -i 's/a/b/'`): a file of
    /// the guard's or a secret one none of whose lines they match is left as it was.
    edits_matching: Option<Vec<Option<regex::Regex>>>,
    /// Hard-linked files (device, inode) whose other names were already judged.
    aliased: std::collections::HashSet<(u64, u64)>,
    /// The names of every multiply-linked file in the places an alias matters, by (dev, ino):
    /// built by one bounded walk the first time this decision meets a linked file.
    alias_index: Option<links::AliasIndex>,
}

impl<'a> Classifier<'a> {
    fn new(env: &'a Env) -> Classifier<'a> {
        Classifier {
            env,
            out: Classification::default(),
            depth: 0,
            links: Vec::new(),
            gateway_lookup: false,
            dynamic_kill: None,
            dynamic_sink: None,
            git_remotes: Vec::new(),
            tracked: Vec::new(),
            dynamic_change: None,
            unknown_cwd: false,
            quiet_copy: false,
            keeps_access: None,
            secret_values: None,
            resolved: Default::default(),
            aliased: Default::default(),
            alias_index: None,
            listed_by: None,
            keeps_folders: false,
            edits_matching: None,
        }
    }
}

impl Classifier<'_> {
    /// [`paths::resolve`] against this call's home, remembered for the rest of the call.
    fn resolve(&self, raw: &str, cwd: &Path) -> PathBuf {
        let key = (raw.to_string(), cwd.to_path_buf());
        if let Some(p) = self.resolved.borrow().get(&key) {
            return p.clone();
        }
        let p = paths::resolve(raw, cwd, &self.env.home);
        self.resolved.borrow_mut().insert(key, p.clone());
        p
    }

    fn tool(&mut self, call: &ToolCall) {
        let input = &call.input;
        let cwd = if call.cwd.is_absolute() {
            paths::physical(&call.cwd)
        } else {
            self.resolve(&call.cwd.to_string_lossy(), &self.env.project)
        };
        let tool = call.tool.as_str();
        match tool {
            "Bash" | "PowerShell" | "run_command" => {
                self.action(Action::CommandExecute);
                let cwd = match str_field(input, &["cwd"]) {
                    Some(dir) => self.resolve(dir, &cwd),
                    None => cwd,
                };
                match str_field(input, &["command"]) {
                    Some(cmd) => self.shell(cmd, &cwd),
                    None => self.bad_input(tool, "command"),
                }
            }
            "Read" | "read_file" => self.path_tool(tool, input, &cwd, Action::FileRead),
            "Write" | "write_file" => self.path_tool(tool, input, &cwd, Action::FileWrite),
            "Edit" | "MultiEdit" | "NotebookEdit" | "edit_file" => {
                self.path_tool(tool, input, &cwd, Action::FileEdit)
            }
            "Glob" | "LS" | "list_directory" => {
                self.action(Action::FileGlob);
                let dir = str_field(input, &["path"]).unwrap_or(".");
                let dir = self.resolve(dir, &cwd);
                self.out.object = Some(paths::Object::at(dir.clone()));
                self.path(Action::FileGlob, dir, tool);
            }
            "Grep" | "search_files" => self.grep_tool(tool, input, &cwd),
            "WebFetch" => {
                self.action(Action::WebFetch);
                match str_field(input, &["url"]) {
                    Some(url) => self.url(url, Action::WebFetch, false),
                    None => self.bad_input(tool, "url"),
                }
            }
            "WebSearch" => {
                self.action(Action::WebSearch);
                if let Some(q) = str_field(input, &["query"]) {
                    self.target(TargetKind::Text, Action::WebSearch, q.to_string());
                }
            }
            "Agent" | "Task" => self.action(Action::TaskDelegate),
            "CronCreate" => {
                self.action(Action::CommandExecute);
                self.finding(
                    Code::PersistenceSchedule,
                    "schedules work to run later without the agent present",
                    tool,
                );
            }
            t if t.starts_with("mcp__") => self.mcp_tool(call, &cwd),
            t if BOOKKEEPING_TOOLS.contains(&t) => {}
            _ => {
                self.finding(Code::ToolUnknown, format!("the tool `{tool}` is not known to the gateway, so its effect cannot be judged"),
                    tool,
                );
            }
        }
    }

    /// Read/Write/Edit-style tools: one file path argument.
    fn path_tool(&mut self, tool: &str, input: &Value, cwd: &Path, action: Action) {
        let Some(raw) = str_field(input, &["file_path", "notebook_path", "path"]) else {
            self.action(action);
            return self.bad_input(tool, "file_path");
        };
        let path = self.resolve(raw, cwd);
        self.out.object = Some(paths::Object::at(path.clone()));
        let action = if action == Action::FileWrite && !path.exists() {
            Action::FileCreate
        } else {
            action
        };
        self.action(action);
        if action != Action::FileRead {
            self.lifecycle_scripts(&path, input);
        }
        self.path(action, path, tool);
    }

    /// Install-time scripts written into `package.json` (`preinstall`, `postinstall`,
    /// `prepare`…) run on the next `npm install` without anyone running them by hand: their
    /// commands are judged now, as if run.
    fn lifecycle_scripts(&mut self, path: &Path, input: &Value) {
        use std::sync::LazyLock;
        static SCRIPT: LazyLock<regex::Regex> = LazyLock::new(|| {
            regex::Regex::new(
                r#""(preinstall|install|postinstall|prepare|preprepare|postprepare|prepublish|preuninstall|postuninstall)"\s*:\s*"((?:[^"\\]|\\.)*)""#,
            )
            .expect("static regex")
        });
        if path.file_name().is_none_or(|n| n != "package.json") {
            return;
        }
        let dir = path.parent().unwrap_or(path).to_path_buf();
        let texts: Vec<&str> = ["content", "new_string", "new_source"]
            .iter()
            .filter_map(|k| str_field(input, &[k]))
            .chain(
                input
                    .get("edits")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| str_field(e, &["new_string", "newText"])),
            )
            .collect();
        for text in texts {
            for c in SCRIPT.captures_iter(text) {
                // JSON string escapes (`\"`) back to the command text.
                let cmd = serde_json::from_str::<String>(&format!("\"{}\"", &c[2]))
                    .unwrap_or_else(|_| c[2].to_string());
                self.shell(&cmd, &dir);
            }
        }
    }

    /// Grep-style tools: a pattern (data, not a path) and an optional path or file glob.
    fn grep_tool(&mut self, tool: &str, input: &Value, cwd: &Path) {
        self.action(Action::FileGrep);
        let dir = str_field(input, &["path"]).unwrap_or(".");
        let path = self.resolve(dir, cwd);
        self.out.object = Some(paths::Object::at(path.clone()));
        if let Some(glob) = str_field(input, &["glob"])
            && path.is_dir()
        {
            // A glob without `/` matches names at any depth (`*.key` reaches certs/server.key).
            if places::secret_pattern(Path::new(glob.trim_start_matches("**/"))) {
                self.finding(
                    Code::SecretsRead,
                    format!("searches the files matching `{glob}`, which hold secrets"),
                    tool,
                );
            }
            // `**/` also matches at the top: `**/.env*` reaches `./.env`.
            let top = glob.strip_prefix("**/");
            for g in std::iter::once(glob).chain(top) {
                for hit in paths::expand_glob(g, &path, &self.env.home) {
                    if hit.exists() {
                        self.path(Action::FileGrep, hit, tool);
                    }
                }
            }
        }
        // Matching lines are printed only in content mode (the default lists file names),
        // as with `grep -r` versus `grep -rl`. The builtin `search_files` always prints
        // lines, and skips hidden files as `rg` does.
        let builtin = tool == "search_files";
        let content = builtin || str_field(input, &["output_mode"]) == Some("content");
        let pattern = str_field(input, &["pattern"]).unwrap_or("");
        if content && path.is_dir() && input.get("type").is_none() {
            let glob = str_field(input, &["glob"])
                .and_then(|g| globset::Glob::new(g.trim_start_matches("**/")).ok())
                .map(|g| g.compile_matcher());
            // A credential pattern reads every secret file; another, those with a line it
            // matches (ripgrep syntax, `-i` as the tool's flag).
            let credential = command::credential_pattern(pattern);
            let icase = input.get("-i").and_then(Value::as_bool) == Some(true);
            let matchers = [files::line_matcher(pattern, false, true, icase)];
            let accept = |p: &Path| {
                glob.as_ref()
                    .is_none_or(|g| p.file_name().is_some_and(|n| g.is_match(n)))
                    && (credential || files::prints_a_line(&matchers, p))
            };
            self.search_secrets(&path, !builtin, &accept, tool);
        }
        if path.is_dir() && places::holds_secrets(&path, self.env) {
            self.finding(
                Code::SecretsRead,
                format!(
                    "{} holds credentials; searching it reads them",
                    path.display()
                ),
                tool,
            );
        }
        self.path(Action::FileGrep, path, tool);
    }

    /// A required argument is missing or has the wrong type.
    fn bad_input(&mut self, tool: &str, field: &str) {
        self.finding(
            Code::InputInvalid,
            format!("`{tool}` was called without a usable `{field}` argument"),
            tool,
        );
    }

    /// Records the primary action (the first one set wins).
    fn action(&mut self, action: Action) {
        self.out.action.get_or_insert(action);
    }

    /// Adds a target unless it is already there.
    fn target(&mut self, kind: TargetKind, action: Action, value: String) {
        let t = Target {
            kind,
            action,
            value,
        };
        if !self.out.targets.contains(&t) {
            self.out.targets.push(t);
        }
    }

    /// Adds a finding, with the risk and flags its registry entry fixes, unless the same
    /// finding already fired on the same span.
    fn finding(&mut self, code: Code, detail: impl Into<String>, span: &str) {
        let entry = code.entry();
        if self
            .out
            .findings
            .iter()
            .any(|f| f.id == entry.id && f.span == span)
        {
            return;
        }
        self.out.findings.push(Finding {
            id: entry.id.to_string(),
            risk: entry.risk,
            flags: entry.flags.to_vec(),
            detail: detail.into(),
            span: span.to_string(),
        });
    }

    /// A resolved path touched by `action`: records the target and applies every path rule.
    fn path(&mut self, action: Action, path: PathBuf, span: &str) {
        self.hard_link_aliases(action, &path, span);
        let shown = path.display().to_string();
        self.target(TargetKind::Path, action, shown.clone());
        let env = self.env;
        let reads = matches!(action, Action::FileRead | Action::FileGrep);
        // An edit matches text in the file and answers with the lines around it: a read.
        if action == Action::FileEdit
            && let Some(kind) = places::secret_kind(&path, env)
        {
            self.finding(Code::SecretsRead, format!("{shown} is {kind}; editing it in place reads it. Ask the user to change the value"),
                span,
            );
        }
        if places::guard_secret(&path, env) {
            self.finding(
                Code::SelfReadKey,
                format!("{shown} is the gateway's seal key; agents may not touch it"),
                span,
            );
        }
        if reads {
            if let Some(target) = self
                .links
                .iter()
                .find(|(link, _)| *link == path)
                .map(|(_, t)| t.clone())
                && target != path
            {
                self.path(action, target, span);
            }
            if let Some(kind) = places::secret_kind(&path, env) {
                self.finding(Code::SecretsRead, format!("{shown} is {kind}; reading it exposes credentials. Use a template such as .env.example or ask the user for the value"),
                    span,
                );
            }
            return;
        }
        if action == Action::FileGlob {
            return;
        }
        // A mode that keeps the owner's access cannot lock the user or the gateway out: the
        // guard's files (or folders holding them) reached by a bulk `chmod 644`/`g+w` are
        // recorded as looked at, so the `protect` rule does not read them as changed. The
        // gateway's program needs its `x` bit, so it is not among them.
        let harmless = match self.keeps_access {
            Some((dirs_too, _)) => {
                (path.is_file() || (dirs_too && path.is_dir()))
                    && path.file_name().is_some_and(|n| n != "patchwork-gateway")
            }
            None => false,
        };
        if harmless {
            self.out
                .targets
                .retain(|t| !(t.kind == TargetKind::Path && t.value == shown));
            self.target(TargetKind::Path, Action::FileGlob, shown.clone());
        }
        if let Some(what) = places::guard_file(&path, env).filter(|_| !harmless) {
            self.finding(
                Code::SelfTamper,
                format!("{shown} is {what}; the agent may not change the guard's own files"),
                span,
            );
        }
        // The user's own credentials (outside the project) overwritten or emptied are lost.
        if matches!(action, Action::FileWrite | Action::FileEdit)
            && !places::in_project(&path, env)
            && path.is_file()
            && let Some(kind) = places::secret_kind(&path, env)
        {
            self.finding(
                Code::SecretsOverwrite,
                format!("{shown} is {kind}; overwriting it destroys the user's credentials"),
                span,
            );
        }
        // A mode change that cannot make a file executable does not install code (a folder's
        // `x` only lets it be entered).
        let inert_mode = self
            .keeps_access
            .is_some_and(|(_, exec)| !exec || path.is_dir());
        if let Some(what) = places::persistence_kind(&path, env).filter(|_| !inert_mode) {
            self.finding(
                Code::PersistenceWrite,
                format!("{shown} is {what}: code written there runs later, outside this session"),
                span,
            );
        }
        if places::device(&path) {
            self.finding(
                Code::SystemDeviceWrite,
                format!("writing to the device {shown} destroys the data on it"),
                span,
            );
        } else if places::system_path(&path) && !path.starts_with(&env.home) {
            self.finding(
                Code::SystemWrite,
                format!("{shown} is a system location; changing it can break the machine"),
                span,
            );
        } else if !places::in_project(&path, env)
            && !places::scratch(&path, env)
            && !path.starts_with(&env.home)
        {
            self.finding(
                Code::FilesOutsideProject,
                format!("{shown} is outside the project"),
                span,
            );
        }
        if action == Action::FileDelete && places::holds_secrets(&path, env) {
            self.finding(
                Code::SecretsDestroy,
                format!("{shown} holds credentials; deleting or moving it loses or exposes them"),
                span,
            );
        }
        if action == Action::FileDelete && places::foundation(&path, env) {
            self.finding(Code::FilesDeleteFoundation, format!("{shown} holds the system, the home folder or the project; removing it destroys everything below"),
                span,
            );
        }
    }

    /// A URL the call fetches or sends to.
    fn url(&mut self, url: &str, action: Action, sends_data: bool) {
        match paths::file_uri_path(url) {
            // `curl file:///…/.env` reads a local file.
            Some(Ok(file)) => {
                let p = self.resolve(&file.to_string_lossy(), &self.env.project);
                return self.path(Action::FileRead, p, url);
            }
            Some(Err(why)) => {
                return self.finding(Code::UriUnresolvable, format!("{why}: {url}"), url);
            }
            None => {}
        }
        self.target(TargetKind::Url, action, url.to_string());
        // Cloud instance metadata services hand out the machine's credentials.
        let host = host_of(url).to_ascii_lowercase();
        if matches!(
            host.as_str(),
            "169.254.169.254"
                | "metadata.google.internal"
                | "100.100.100.200"
                | "fd00:ec2::254"
                | "169.254.170.2"
        ) {
            self.finding(
                Code::SecretsRead,
                format!(
                    "{host} is a cloud metadata service; it hands out the machine's credentials"
                ),
                url,
            );
        }
        if local_host(url) {
            return;
        }
        self.outbound_text(url, host_of(url), url);
        // A key or token spelled into the URL (`?k=sk-…`) is sent by merely fetching it.
        if crate::ledger::redact::redact_str(url) != url {
            self.finding(
                Code::NetExfiltration,
                format!("the URL carries a credential to {}", host_of(url)),
                url,
            );
        }
        if sends_data {
            self.finding(
                Code::NetUpload,
                format!("sends local data to {}", host_of(url)),
                url,
            );
        } else {
            self.finding(Code::NetEgress, format!("contacts {}", host_of(url)), url);
        }
    }
}

/// The first string among `keys` in a JSON object.
fn str_field<'v>(input: &'v Value, keys: &[&str]) -> Option<&'v str> {
    keys.iter()
        .find_map(|k| input.get(*k).and_then(Value::as_str))
}

/// The host part of a URL (or the text itself).
pub(crate) fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = host_port.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    host_port.split(':').next().unwrap_or(host_port)
}

/// True for loopback hosts.
pub(crate) fn local_host(url: &str) -> bool {
    let host = host_of(url).to_ascii_lowercase();
    host == "localhost"
        || host.ends_with(".localhost")
        || host.starts_with("127.")
        || host == "::1"
        || host == "0.0.0.0"
}

#[cfg(test)]
mod tests;
