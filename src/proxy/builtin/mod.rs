//! The gateway's own MCP tools: file tools ([`fs`]) and `run_command` ([`shell`]). Their input
//! schemas come from schemars; they run only after the Gate allowed the call.

pub mod cgroup;
pub mod contain;
pub mod fs;
pub mod object;
pub mod shell;

use crate::policy::paths::{self, Object};
use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{CallToolResult, ContentBlock, Tool, ToolAnnotations};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Names of the builtin tools.
pub const NAMES: [&str; 6] = [
    "read_file",
    "write_file",
    "edit_file",
    "list_directory",
    "search_files",
    "run_command",
];

/// The builtin tools with their schemas and annotations.
pub fn tools() -> Vec<Tool> {
    let read_only = |title: &str| {
        ToolAnnotations::with_title(title)
            .read_only(true)
            .destructive(false)
            .idempotent(true)
            .open_world(false)
    };
    vec![
        Tool::new(
            "read_file",
            "Read a regular text file (optionally a window of lines: offset, limit), streamed; the \
             answer is capped (10 MiB by default) with a note.",
            schema_for_type::<fs::ReadFile>(),
        )
        .with_annotations(read_only("Read file")),
        Tool::new(
            "write_file",
            "Create or overwrite a file with the given content.",
            schema_for_type::<fs::WriteFile>(),
        )
        .with_annotations(
            ToolAnnotations::with_title("Write file")
                .read_only(false)
                .destructive(true)
                .idempotent(true)
                .open_world(false),
        ),
        Tool::new(
            "edit_file",
            "Replace an exact string in a file (once, or everywhere with replace_all).",
            schema_for_type::<fs::EditFile>(),
        )
        .with_annotations(
            ToolAnnotations::with_title("Edit file")
                .read_only(false)
                .destructive(true)
                .idempotent(false)
                .open_world(false),
        ),
        Tool::new(
            "list_directory",
            "List a folder's entries; folders end with '/'.",
            schema_for_type::<fs::ListDirectory>(),
        )
        .with_annotations(read_only("List directory")),
        Tool::new(
            "search_files",
            "Search file contents with a regular expression, honouring .gitignore.",
            schema_for_type::<fs::SearchFiles>(),
        )
        .with_annotations(read_only("Search files")),
        Tool::new(
            "run_command",
            "Run a shell command with `sh -c`; returns exit code, stdout and stderr. Default \
             timeout 120 s; output capped; the command's process group is killed on timeout \
             or cancellation.",
            schema_for_type::<shell::RunCommand>(),
        )
        .with_annotations(
            ToolAnnotations::with_title("Run command")
                .read_only(false)
                .destructive(true)
                .idempotent(false)
                .open_world(true),
        ),
    ]
}

/// True for a builtin tool name.
pub fn is_builtin(name: &str) -> bool {
    NAMES.contains(&name)
}

/// The directory a builtin call works in, for the Gate: `run_command`'s `cwd` argument
/// resolved against the gateway's cwd by the one path resolver (`~` and `$HOME` included).
pub fn call_cwd(name: &str, args: &Value, cwd: &Path) -> Option<PathBuf> {
    let dir = args.get("cwd").and_then(Value::as_str)?;
    (name == "run_command").then(|| paths::resolve(dir, cwd, &home()))
}

/// The user's home folder, as the Gate expands `~` and `$HOME`.
fn home() -> PathBuf {
    crate::home::home_dir().unwrap_or_else(|| PathBuf::from("/"))
}

/// The policy's answer to "may `read_file` return this path?": the object it would read, or
/// the reason it may not.
pub type ReadCheck = dyn Fn(&Path) -> Result<Object, String> + Send + Sync;

/// What an allowed builtin call runs with: the object the Gate judged and how to ask the
/// policy about files the call reaches on its own (`search_files`).
#[derive(Clone)]
pub struct Ctx {
    /// The gateway's working directory.
    pub cwd: PathBuf,
    /// The file or folder the Gate judged; the tool acts on exactly this object.
    pub object: Option<Object>,
    /// Whether `read_file` of a path would be allowed, and the object it would read.
    pub may_read: Arc<ReadCheck>,
    /// Answer size cap of the file tools.
    pub limits: fs::Limits,
    /// Environment variables `run_command` passes on besides the documented minimal set.
    pub env_allow: Vec<String>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("cwd", &self.cwd)
            .field("object", &self.object)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

fn parse<T: DeserializeOwned>(name: &str, args: Value) -> Result<T, String> {
    serde_json::from_value(args).map_err(|e| format!("invalid arguments for {name}: {e}"))
}

fn answer(r: Result<String, String>) -> CallToolResult {
    match r {
        Ok(text) => CallToolResult::success(vec![ContentBlock::text(text)]),
        Err(text) => CallToolResult::error(vec![ContentBlock::text(text)]),
    }
}

/// Runs an allowed builtin call. Bad arguments and failures are `isError` results.
pub async fn run(name: &str, args: Value, ctx: Ctx, ct: &CancellationToken) -> CallToolResult {
    if name == "run_command" {
        let a: shell::RunCommand = match parse(name, args) {
            Ok(a) => a,
            Err(e) => return answer(Err(e)),
        };
        let dir = match &a.cwd {
            Some(d) => paths::resolve(d, &ctx.cwd, &home()),
            None => ctx.cwd.clone(),
        };
        return match shell::run(&dir, &a, &ctx.env_allow, ct).await {
            Ok(ran) => {
                let mut result = if ran.is_error() {
                    CallToolResult::error(vec![ContentBlock::text(
                        ran.render(shell::timeout_ms(&a)),
                    )])
                } else {
                    CallToolResult::success(vec![ContentBlock::text(
                        ran.render(shell::timeout_ms(&a)),
                    )])
                };
                result.structured_content = Some(json!({
                    "exit_code": ran.exit_code,
                    "timed_out": ran.timed_out,
                    "cancelled": ran.cancelled,
                    "stdout_bytes": ran.stdout.total,
                    "stderr_bytes": ran.stderr.total,
                }));
                result
            }
            Err(e) => answer(Err(e)),
        };
    }
    let name = name.to_string();
    let job = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let obj = ctx.object.as_ref();
        let limits = ctx.limits;
        match name.as_str() {
            "read_file" => fs::read_file(obj, parse(&name, args)?, limits),
            "write_file" => fs::write_file(obj, parse(&name, args)?),
            "edit_file" => fs::edit_file(obj, parse(&name, args)?, limits),
            "list_directory" => {
                parse::<fs::ListDirectory>(&name, args)?;
                fs::list_directory(obj, limits)
            }
            "search_files" => fs::search_files(obj, parse(&name, args)?, &*ctx.may_read, limits),
            other => Err(format!("unknown builtin tool {other}")),
        }
    });
    answer(
        job.await
            .unwrap_or_else(|e| Err(format!("the tool failed: {e}"))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_objects_and_annotations_match_effects() {
        let tools = tools();
        assert_eq!(tools.len(), NAMES.len());
        for t in &tools {
            assert_eq!(
                t.input_schema.get("type"),
                Some(&json!("object")),
                "{}",
                t.name
            );
            let a = t.annotations.as_ref().unwrap();
            let ro = a.read_only_hint.unwrap();
            assert_eq!(
                ro,
                matches!(&*t.name, "read_file" | "list_directory" | "search_files")
            );
            assert_eq!(a.destructive_hint.unwrap(), !ro, "{}", t.name);
        }
        let run = tools.iter().find(|t| t.name == "run_command").unwrap();
        let props = run.input_schema["properties"].as_object().unwrap();
        assert!(props.contains_key("command") && props.contains_key("timeout_ms"));
        assert_eq!(run.input_schema["required"], json!(["command"]));
    }

    #[tokio::test]
    async fn bad_arguments_are_tool_errors() {
        let ctx = Ctx {
            cwd: "/".into(),
            object: None,
            may_read: Arc::new(|_| Err("no".into())),
            limits: fs::Limits::default(),
            env_allow: Vec::new(),
        };
        let r = run(
            "read_file",
            json!({"nope": 1}),
            ctx,
            &CancellationToken::new(),
        )
        .await;
        assert_eq!(r.is_error, Some(true));
    }
}
