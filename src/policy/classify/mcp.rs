//! Classification of MCP tool calls (`mcp__<server>__<tool>`): path-like arguments become path
//! targets, command-like arguments are analysed as shell, URLs are network targets. The verb in
//! the tool's name says whether paths are read, written or deleted.

use super::{Classifier, places, str_field};
use crate::call::{Action, TargetKind, ToolCall};
use crate::policy::findings::Code;
use crate::policy::paths;
use crate::policy::shell::quote;
use serde_json::Value;
use std::path::Path;

/// Argument names that hold paths.
const PATH_KEYS: &[&str] = &[
    "path",
    "paths",
    "file",
    "files",
    "file_path",
    "filepath",
    "filename",
    "file_name",
    "source",
    "sources",
    "src",
    "destination",
    "dest",
    "dst",
    "target",
    "directory",
    "dir",
    "folder",
    "root",
    "cwd",
    "notebook_path",
    "from",
    "to",
    "old_path",
    "new_path",
    "output",
    "input",
    "location",
];
/// Argument names that hold shell commands.
const COMMAND_KEYS: &[&str] = &[
    "command",
    "cmd",
    "script",
    "shell",
    "shell_command",
    "commandline",
    "command_line",
];
/// Argument names that are free text, never paths.
const TEXT_KEYS: &[&str] = &[
    "content",
    "contents",
    "text",
    "body",
    "data",
    "message",
    "description",
    "title",
    "old_string",
    "new_string",
    "oldtext",
    "newtext",
    "old_text",
    "new_text",
    "edits",
    "pattern",
    "query",
    "prompt",
];
/// Nesting below this is not walked.
const MAX_DEPTH: usize = 6;

/// What a tool does to the paths it is given, from the verbs in its name.
fn verb_action(tool: &str) -> Option<Action> {
    let t = tool.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| t.contains(w));
    if has(&[
        "delete", "remove", "unlink", "trash", "rmdir", "erase", "destroy", "purge",
    ]) {
        Some(Action::FileDelete)
    } else if has(&["edit", "patch", "replace", "insert"]) && !has(&["move", "rename", "copy"]) {
        // Edits match text in the file and answer with the lines around it.
        Some(Action::FileEdit)
    } else if has(&[
        "write", "create", "update", "save", "put", "append", "move", "rename", "upload", "set",
        "mkdir", "chmod", "copy",
    ]) {
        Some(Action::FileWrite)
    } else if has(&[
        "read", "get", "cat", "view", "show", "open", "download", "fetch", "list", "search",
        "find", "grep", "stat", "info", "tree", "head", "tail", "glob", "ls", "load", "query",
    ]) {
        Some(Action::FileRead)
    } else {
        None
    }
}

/// Tools that send a local file somewhere else (`create_gist`, `upload_file`, `send_email`):
/// their path arguments are files read, whatever the verb says about the remote end.
fn sends_out(tool: &str) -> bool {
    [
        "upload",
        "gist",
        "publish",
        "share",
        "send",
        "post",
        "attach",
        "email",
        "mail",
        "submit",
        "paste",
        "put_object",
    ]
    .iter()
    .any(|w| tool.contains(w))
}

impl Classifier<'_> {
    /// Classifies `mcp__<server>__<tool>` with its arguments.
    pub(super) fn mcp_tool(&mut self, call: &ToolCall, cwd: &Path) {
        self.action(Action::McpToolCall);
        let name = call.tool.rsplit("__").next().unwrap_or(&call.tool);
        let cwd = match str_field(&call.input, &["cwd", "repo_path", "working_directory"]) {
            Some(dir) => self.resolve(dir, cwd),
            None => cwd.to_path_buf(),
        };
        let verb = verb_action(name);
        if let Some(line) = command_line(&call.input) {
            self.action(Action::CommandExecute);
            self.shell(&line, &cwd);
        }
        // SQL handed to a database tool is judged as if run with a database client.
        let db_tool = [
            "sql", "query", "postgres", "mysql", "sqlite", "database", "db", "supabase", "neon",
        ]
        .iter()
        .any(|w| call.tool.to_ascii_lowercase().contains(w));
        if db_tool
            && let Some(sql) = str_field(&call.input, &["sql", "query", "statement", "sql_query"])
        {
            self.shell(&format!("psql -c {}", quote(sql)), &cwd);
        }
        if let Some(line) = git_line(name, &call.input) {
            self.action(Action::CommandExecute);
            self.shell(&line, &cwd);
        }
        // A hosted repository deleted through its API (`delete_repository`).
        let lower_name = name.to_ascii_lowercase();
        if lower_name.contains("delete") && lower_name.contains("repo") {
            self.finding(
                Code::GitRepoDelete,
                "deletes a hosted git repository",
                &call.tool,
            );
        }
        if let Some(line) = code_line(name, &call.input) {
            self.action(Action::CommandExecute);
            self.shell(&line, &cwd);
        }
        // Moves and folder deletions judged as `mv` and `rm -r` would be (into /dev/null, the
        // project itself, a folder of secrets).
        let field =
            |c: &Self, keys: &[&str]| str_field(&call.input, keys).map(|p| c.resolve(p, &cwd));
        if verb == Some(Action::FileWrite)
            && ["move", "rename"]
                .iter()
                .any(|v| name.to_ascii_lowercase().contains(v))
            && let (Some(src), Some(dst)) = (
                field(self, &["source", "src", "from", "old_path"]),
                field(
                    self,
                    &["destination", "dest", "dst", "to", "new_path", "target"],
                ),
            )
        {
            let line = format!(
                "mv -- {} {}",
                quote(&src.to_string_lossy()),
                quote(&dst.to_string_lossy())
            );
            self.shell(&line, &cwd);
        }
        // `{"dir": "~/.ssh", "name": "id_ed25519"}`: the file is the folder joined with the name.
        if let (Some(dir), Some(file)) = (
            field(self, &["directory", "dir", "folder", "path", "root", "cwd"])
                .filter(|p| p.is_dir()),
            str_field(&call.input, &["name", "filename", "file_name", "file"])
                .filter(|n| !n.contains('/')),
        ) {
            self.path(verb.unwrap_or(Action::FileRead), dir.join(file), &call.tool);
        }
        // A folder of credentials handed whole to a tool that is not a listing (zip, copy, upload).
        let lower = name.to_ascii_lowercase();
        let lists = [
            "list", "tree", "ls", "stat", "info", "search", "find", "glob", "exists",
        ]
        .iter()
        .any(|v| lower.contains(v));
        if !lists && verb != Some(Action::FileDelete) {
            let dirs: Vec<std::path::PathBuf> = string_values(&call.input)
                .into_iter()
                .filter(|v| looks_like_path(v))
                .map(|v| match paths::file_uri_path(v) {
                    Some(Ok(p)) => self.resolve(&p.to_string_lossy(), &cwd),
                    _ => self.resolve(v, &cwd),
                })
                .filter(|p| p.is_dir() && places::holds_secrets(p, self.env))
                .collect();
            for dir in dirs {
                self.finding(
                    Code::SecretsRead,
                    format!(
                        "{} holds credentials; `{name}` reads the whole folder",
                        dir.display()
                    ),
                    &call.tool,
                );
            }
        }
        if verb == Some(Action::FileDelete)
            && let Some(dir) = field(self, &["path", "directory", "dir", "folder", "target"])
                .filter(|p| p.is_dir())
        {
            self.shell(
                &format!("rm -r -f -- {}", quote(&dir.to_string_lossy())),
                &cwd,
            );
        }
        self.mcp_value(&call.input, None, verb, &cwd, &call.tool, 0);
    }

    /// A `file:` URI that cannot be judged (another host, a bad escape): fail closed.
    fn bad_file_uri(&mut self, uri: &str, why: &str, span: &str) {
        self.finding(Code::UriUnresolvable, format!("{why}: {uri}"), span);
    }

    fn mcp_value(
        &mut self,
        v: &Value,
        key: Option<&str>,
        verb: Option<Action>,
        cwd: &Path,
        span: &str,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let key_l = key.map(str::to_ascii_lowercase);
        let key_s = key_l.as_deref().unwrap_or("");
        match v {
            Value::Object(map) => {
                for (k, val) in map {
                    self.mcp_value(val, Some(k), verb, cwd, span, depth + 1);
                }
            }
            // An argv given as a list (`"command": ["cat", ".env"]`) is read by `command_line`.
            Value::Array(_) if COMMAND_KEYS.contains(&key_s) => {}
            Value::Array(items) => {
                for item in items {
                    self.mcp_value(item, key, verb, cwd, span, depth + 1);
                }
            }
            Value::String(s) if COMMAND_KEYS.contains(&key_s) => {
                self.action(Action::CommandExecute);
                self.shell(s, cwd);
            }
            Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => {
                self.url(s, Action::WebFetch, matches!(verb, Some(Action::FileWrite)));
            }
            Value::String(s) if TEXT_KEYS.contains(&key_s) || s.is_empty() || s.len() > 4096 => {}
            Value::String(s) => {
                let path_key = PATH_KEYS.contains(&key_s)
                    || key_s.ends_with("_path")
                    || key_s.ends_with("path");
                // A file: URI in any spelling names the file a server would open.
                let decoded = match paths::file_uri_path(s) {
                    Some(Ok(p)) => Some(p.to_string_lossy().into_owned()),
                    Some(Err(e)) => return self.bad_file_uri(s, &e, span),
                    None => None,
                };
                let path_key = path_key || decoded.is_some();
                let raw = decoded.as_deref().unwrap_or(s);
                // `HEAD:.env`: a file read out of a git revision.
                if let Some((_, file)) = raw.split_once(':')
                    && !file.is_empty()
                    && !file.starts_with('/')
                    && places::secret_kind(Path::new(file), self.env).is_some()
                {
                    let p = self.resolve(file, cwd);
                    self.path(Action::FileRead, p, span);
                }
                let p = self.resolve(raw, cwd);
                if !(path_key || looks_like_path(raw) && p.exists()) {
                    return;
                }
                let source_like = matches!(
                    key_s,
                    "source" | "sources" | "src" | "from" | "old_path" | "input"
                );
                let tool = span.to_ascii_lowercase();
                if source_like
                    && verb == Some(Action::FileWrite)
                    && (tool.contains("move") || tool.contains("rename"))
                {
                    // The source of a move disappears from where it was.
                    self.path(Action::FileDelete, p.clone(), span);
                }
                if verb == Some(Action::FileWrite)
                    && sends_out(tool.rsplit("__").next().unwrap_or(&tool))
                {
                    self.path(Action::FileRead, p.clone(), span);
                }
                let action = match verb {
                    Some(Action::FileWrite) if source_like => Action::FileRead,
                    Some(a) => a,
                    None => {
                        self.path(Action::FileRead, p.clone(), span);
                        Action::FileWrite
                    }
                };
                self.path(action, p, span);
            }
            _ => {
                if key_s == "url" {
                    self.target(TargetKind::Url, Action::WebFetch, v.to_string());
                }
            }
        }
    }
}

/// The command line of a tool that takes its command as an argv list (`"command": ["rm",
/// "-rf", "/"]`) or as a program plus a list of arguments (`"command": "rm", "args": [..]`),
/// quoted back into one line. None when the command is a plain string with no argument list.
fn command_line(input: &Value) -> Option<String> {
    let map = input.as_object()?;
    let list = |v: &Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let (_, cmd) = map
        .iter()
        .find(|(k, _)| COMMAND_KEYS.contains(&k.to_ascii_lowercase().as_str()))?;
    let mut argv = match cmd {
        Value::String(s) => vec![s.clone()],
        other => list(other)?,
    };
    let args = ["args", "arguments", "argv"]
        .iter()
        .find_map(|k| map.get(*k).and_then(list));
    match (cmd, args) {
        (Value::String(_), Some(a)) => argv.extend(a),
        (Value::String(_), None) => return None,
        _ => {}
    }
    let quoted: Vec<String> = argv
        .iter()
        .map(|a| crate::policy::shell::quote(a))
        .collect();
    Some(quoted.join(" "))
}

/// A git tool (`git_push`, `git_reset`, `git_delete_branch`) as the git command line it runs:
/// true booleans become long options (`"force": true` is `--force`), a `mode` becomes one
/// (`"mode": "hard"` is `--hard`), named refs and remotes become operands.
fn git_line(tool: &str, input: &Value) -> Option<String> {
    let sub = tool.to_ascii_lowercase();
    let sub = sub.strip_prefix("git_")?;
    let map = input.as_object()?;
    let mut argv: Vec<String> = vec!["git".into()];
    match sub.strip_prefix("delete_") {
        Some(what) => argv.extend([what.replace('_', "-"), "--delete".into()]),
        None => argv.push(sub.replace('_', "-")),
    }
    let mut operands = Vec::new();
    for (k, v) in map {
        let k = k.to_ascii_lowercase();
        match v {
            Value::Bool(true) => argv.push(format!("--{}", k.replace('_', "-"))),
            Value::String(m) if k == "mode" && !m.starts_with('-') => argv.push(format!("--{m}")),
            Value::String(o)
                if matches!(
                    k.as_str(),
                    "remote" | "branch" | "branch_name" | "refspec" | "target" | "revision" | "ref"
                ) =>
            {
                operands.push(o.clone())
            }
            _ => {}
        }
    }
    argv.extend(operands);
    Some(argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "))
}

/// Code handed to a code-running tool (`"code": "…"`), as the command line that would run
/// it: `python3 -c CODE`, `node -e CODE`, … by the `language` argument or the tool's name;
/// shell code as it is. In Python (Jupyter) code, `!cmd` lines are shell commands.
fn code_line(tool: &str, input: &Value) -> Option<String> {
    let map = input.as_object()?;
    let code = ["code", "source_code", "python_code", "cell", "snippet"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))?;
    let lang = str_field(input, &["language", "lang", "kernel", "runtime"])
        .map(str::to_ascii_lowercase)
        .unwrap_or_else(|| tool.to_ascii_lowercase());
    // Whole words of the language or tool name (`python3`, `run_bash`), not substrings.
    let tokens: Vec<&str> = lang.split(|c: char| !c.is_ascii_alphanumeric()).collect();
    let has = |ws: &[&str]| {
        tokens.iter().any(|t| {
            ws.iter()
                .any(|w| *t == *w || (w.len() > 3 && t.starts_with(w)))
        })
    };
    let q = quote;
    let line = if has(&["bash", "shell", "zsh", "sh"]) && !has(&["python"]) {
        code.to_string()
    } else if has(&["python", "py", "jupyter", "ipython", "notebook"]) {
        let mut line = format!("python3 -c {}", q(code));
        for l in code
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix('!'))
        {
            line.push('\n');
            line.push_str(l);
        }
        line
    } else if has(&["javascript", "node", "typescript", "js", "ts", "deno"]) {
        format!("node -e {}", q(code))
    } else if has(&["ruby"]) {
        format!("ruby -e {}", q(code))
    } else if has(&["perl"]) {
        format!("perl -e {}", q(code))
    } else if has(&["php"]) {
        format!("php -r {}", q(code))
    } else {
        // Unknown language: read as shell, the most general reading of a command.
        code.to_string()
    };
    Some(line)
}

/// Every string in the arguments, nested ones included (a few levels deep).
fn string_values(v: &Value) -> Vec<&str> {
    fn walk<'v>(v: &'v Value, depth: usize, out: &mut Vec<&'v str>) {
        if depth > MAX_DEPTH {
            return;
        }
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| walk(x, depth + 1, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, depth + 1, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, 0, &mut out);
    out
}

/// A string that plausibly names a file (not a plain word or sentence).
fn looks_like_path(s: &str) -> bool {
    !s.contains('\n') && (s.contains('/') || s.starts_with('.') || s.starts_with('~'))
}
