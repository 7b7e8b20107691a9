//! Installing into Claude Code: our hook handlers merged into a `settings.json`, our MCP server
//! into `~/.claude.json` or `DIR/.mcp.json` — every other key and hook left as it was. Files are
//! written atomically, never through a symlink, with a backup of what was there; a second run
//! changes nothing; uninstall removes exactly our entries.

use crate::home::{Home, create_private_dir};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The events we register for, in order. Tool events get matcher `*`.
pub const EVENTS: [&str; 10] = [
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionDenied",
    "UserPromptSubmit",
    "SessionStart",
    "SessionEnd",
    "SubagentStart",
    "SubagentStop",
];
const TOOL_EVENTS: [&str; 5] = [
    "PreToolUse",
    "PermissionRequest",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionDenied",
];
/// Hook timeout written to settings, in **seconds** (the hook answers within its own 5 s deadline).
pub const TIMEOUT_SECS: u64 = 10;
/// Our key under `mcpServers` (short: tool names become `mcp__patchwork__<tool>`).
pub const MCP_NAME: &str = "patchwork";
const BINARY_NAME: &str = "patchwork-gateway";
const BACKUP_SUFFIX: &str = ".patchwork-backup";

/// One installation: what to run and where it is registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Install {
    /// Absolute path of the gateway binary.
    pub exe: PathBuf,
    /// The gateway home, passed as `--home`.
    pub home: PathBuf,
    /// `--policy` pinned in the hook and server arguments, if any.
    pub policy: Option<String>,
    /// `--policy-mode` of the hook: `fail-closed` or `audit`.
    pub mode: String,
    /// The Claude Code settings file holding our hooks.
    pub settings: PathBuf,
    /// The file holding our MCP registration (`~/.claude.json` or `DIR/.mcp.json`).
    pub mcp: PathBuf,
    /// The project folder for `--project` installs; `None` for the user scope.
    #[serde(default)]
    pub project: Option<PathBuf>,
}

/// What a change did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub file: PathBuf,
    /// Human-readable items added, replaced or removed (empty: nothing changed).
    pub items: Vec<String>,
}

impl Install {
    fn global_args(&self) -> Vec<String> {
        let mut a = vec!["--home".to_string(), self.home.display().to_string()];
        if let Some(p) = &self.policy {
            a.push("--policy".into());
            a.push(p.clone());
        }
        a
    }

    /// The handler we register for `event` (exec form, absolute path, timeout in seconds).
    pub fn handler(&self, event: &str) -> Value {
        let mut args = self.global_args();
        args.extend([
            "hook".into(),
            event.into(),
            "--policy-mode".into(),
            self.mode.clone(),
        ]);
        json!({"type": "command", "command": self.exe, "args": args, "timeout": TIMEOUT_SECS})
    }

    /// Our `mcpServers` entry.
    pub fn mcp_entry(&self) -> Value {
        let mut args = self.global_args();
        args.push("serve".into());
        json!({"type": "stdio", "command": self.exe, "args": args})
    }

    /// Merges our handlers into a settings object; returns the events added or repaired.
    pub fn merge_hooks(&self, settings: &mut Value) -> Result<Vec<String>> {
        let hooks = object_at(settings, "hooks")?;
        let mut changed = Vec::new();
        for event in EVENTS {
            let want = self.handler(event);
            let groups = hooks.entry(event).or_insert_with(|| json!([]));
            let Some(groups) = groups.as_array_mut() else {
                bail!("`hooks.{event}` in the settings is not a list");
            };
            let mut found = false;
            for group in groups.iter_mut() {
                let Some(handlers) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
                    continue;
                };
                for h in handlers.iter_mut().filter(|h| is_ours(h)) {
                    if found {
                        continue;
                    }
                    found = true;
                    if *h != want {
                        *h = want.clone();
                        changed.push(format!("{event} (repaired)"));
                    }
                }
            }
            if !found {
                let mut group = Map::new();
                if TOOL_EVENTS.contains(&event) {
                    group.insert("matcher".into(), json!("*"));
                }
                group.insert("hooks".into(), json!([want]));
                groups.push(Value::Object(group));
                changed.push(event.to_string());
            }
        }
        Ok(changed)
    }

    /// Merges our MCP server entry; true when it was added or repaired.
    pub fn merge_mcp(&self, config: &mut Value) -> Result<bool> {
        let servers = object_at(config, "mcpServers")?;
        let want = self.mcp_entry();
        if servers.get(MCP_NAME) == Some(&want) {
            return Ok(false);
        }
        if let Some(other) = servers.get(MCP_NAME)
            && !is_our_command(other)
        {
            bail!("an MCP server named `{MCP_NAME}` that is not the gateway is already registered");
        }
        servers.insert(MCP_NAME.into(), want);
        Ok(true)
    }

    /// Writes hooks and MCP registration; returns what changed per file.
    pub fn apply(&self) -> Result<Vec<Change>> {
        let hooks = update_file(&self.settings, |v| self.merge_hooks(v))?;
        let mcp = update_file(&self.mcp, |v| {
            Ok(if self.merge_mcp(v)? {
                vec![format!("mcpServers.{MCP_NAME}")]
            } else {
                Vec::new()
            })
        })?;
        Ok(vec![hooks, mcp])
    }

    /// Removes our hooks and MCP entry. Where nothing else changed since init, the backup is
    /// restored byte for byte; otherwise only our entries are taken out.
    pub fn remove(&self) -> Result<Vec<Change>> {
        let hooks = remove_from_file(&self.settings, remove_hooks, |v| {
            self.merge_hooks(v).map(|_| ())
        })?;
        let mcp = remove_from_file(&self.mcp, remove_mcp, |v| self.merge_mcp(v).map(|_| ()))?;
        Ok(vec![hooks, mcp])
    }
}

/// True for a handler that runs the gateway's hook.
pub fn is_ours(handler: &Value) -> bool {
    handler.get("type").and_then(Value::as_str) == Some("command")
        && is_our_command(handler)
        && handler
            .get("args")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|x| x == "hook"))
}

/// Our handlers in a settings object, by event.
pub fn installed_handlers(settings: &Value) -> Vec<(String, Value)> {
    let Some(hooks) = settings.get("hooks").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (event, groups) in hooks {
        for group in groups.as_array().into_iter().flatten() {
            for h in group
                .get("hooks")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if is_ours(h) {
                    found.push((event.clone(), h.clone()));
                }
            }
        }
    }
    found
}

/// True when `mcpServers` holds our entry.
pub fn mcp_registered(config: &Value) -> bool {
    config
        .get("mcpServers")
        .and_then(|s| s.get(MCP_NAME))
        .is_some_and(is_our_command)
}

fn is_our_command(entry: &Value) -> bool {
    entry
        .get("command")
        .and_then(Value::as_str)
        .and_then(|c| Path::new(c).file_name())
        .is_some_and(|n| n == BINARY_NAME)
}

/// Takes our handlers out of a settings object; drops groups and event lists left empty by it.
/// Returns the events touched.
pub fn remove_hooks(settings: &mut Value) -> Vec<String> {
    let mut touched = Vec::new();
    let Some(hooks) = settings.get_mut("hooks").and_then(Value::as_object_mut) else {
        return touched;
    };
    for (event, groups) in hooks.iter_mut() {
        let Some(groups) = groups.as_array_mut() else {
            continue;
        };
        let before = groups.len();
        let mut removed = false;
        groups.retain_mut(|g| {
            let Some(handlers) = g.get_mut("hooks").and_then(Value::as_array_mut) else {
                return true;
            };
            let n = handlers.len();
            handlers.retain(|h| !is_ours(h));
            removed |= handlers.len() != n;
            !(handlers.is_empty() && n > 0)
        });
        if removed || groups.len() != before {
            touched.push(event.clone());
        }
    }
    hooks.retain(|event, groups| {
        !(touched.contains(event) && groups.as_array().is_some_and(Vec::is_empty))
    });
    if !touched.is_empty() && hooks.is_empty() {
        settings.as_object_mut().map(|s| s.remove("hooks"));
    }
    touched
}

/// Takes our entry out of `mcpServers`; true when it was there.
pub fn remove_mcp(config: &mut Value) -> bool {
    let Some(servers) = config.get_mut("mcpServers").and_then(Value::as_object_mut) else {
        return false;
    };
    if !servers.get(MCP_NAME).is_some_and(is_our_command) {
        return false;
    }
    servers.remove(MCP_NAME);
    if servers.is_empty() {
        config.as_object_mut().map(|c| c.remove("mcpServers"));
    }
    true
}

fn object_at<'a>(v: &'a mut Value, key: &str) -> Result<&'a mut Map<String, Value>> {
    let obj = v.as_object_mut().context("the file is not a JSON object")?;
    obj.entry(key)
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .with_context(|| format!("`{key}` is not a JSON object"))
}

/// Reads a JSON object file: `None` bytes when it does not exist. Refuses symlinks.
pub fn read_json(path: &Path) -> Result<(Option<Vec<u8>>, Value)> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            bail!("refusing to touch {}: it is a symlink", path.display())
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((None, json!({}))),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok((Some(bytes), json!({})));
    }
    let v: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not valid JSON; fix it first", path.display()))?;
    if !v.is_object() {
        bail!("{} is not a JSON object", path.display());
    }
    Ok((Some(bytes), v))
}

/// The bytes we write for a JSON file: two-space pretty JSON and a final newline.
pub fn render(v: &Value) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s.into_bytes()
}

fn update_file(
    path: &Path,
    change: impl FnOnce(&mut Value) -> Result<Vec<String>>,
) -> Result<Change> {
    let (old, mut v) = read_json(path)?;
    let items = change(&mut v).with_context(|| format!("in {}", path.display()))?;
    if !items.is_empty() {
        if let Some(old) = &old {
            write_atomic(&backup_path(path), old)?;
        }
        write_atomic(path, &render(&v))?;
    }
    Ok(Change {
        file: path.to_path_buf(),
        items,
    })
}

fn remove_from_file<R: Removed>(
    path: &Path,
    strip: impl Fn(&mut Value) -> R,
    merge: impl Fn(&mut Value) -> Result<()>,
) -> Result<Change> {
    let (old, mut v) = read_json(path)?;
    let Some(old) = old else {
        return Ok(Change {
            file: path.to_path_buf(),
            items: Vec::new(),
        });
    };
    let items = strip(&mut v).items();
    if items.is_empty() {
        return Ok(Change {
            file: path.to_path_buf(),
            items,
        });
    }
    let backup = backup_path(path);
    let restored = match read_json(&backup) {
        Ok((Some(bytes), mut b)) => {
            let pristine = strip(&mut b.clone()).items().is_empty();
            let matches = merge(&mut b).is_ok() && render(&b) == old;
            (pristine && matches).then_some(bytes)
        }
        _ => None,
    };
    write_atomic(path, &restored.unwrap_or_else(|| render(&v)))?;
    Ok(Change {
        file: path.to_path_buf(),
        items,
    })
}

/// Results of the strip functions, as a list of removed items.
trait Removed {
    fn items(self) -> Vec<String>;
}

impl Removed for Vec<String> {
    fn items(self) -> Vec<String> {
        self
    }
}

impl Removed for bool {
    fn items(self) -> Vec<String> {
        if self {
            vec![format!("mcpServers.{MCP_NAME}")]
        } else {
            Vec::new()
        }
    }
}

/// Where the backup of `path` is kept.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(BACKUP_SUFFIX);
    path.with_file_name(name)
}

/// Writes `bytes` to `path` via a temp file in the same folder, fsync and rename; keeps the old
/// file's permissions. Refuses to replace a symlink.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let old = std::fs::symlink_metadata(path).ok();
    if old.as_ref().is_some_and(|m| m.file_type().is_symlink()) {
        bail!("refusing to write {}: it is a symlink", path.display());
    }
    let name = path.file_name().context("no file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.patchwork-tmp-{}", std::process::id()));
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        if let Some(m) = &old {
            f.set_permissions(std::fs::Permissions::from_mode(m.permissions().mode()))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// The installations recorded by `init`, for the watchdog, `status` and `uninstall`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    pub installs: Vec<Install>,
}

impl State {
    fn path(home: &Home) -> PathBuf {
        home.root().join("state").join("install.json")
    }

    /// Loads the recorded installations (none when the file is missing).
    pub fn load(home: &Home) -> Result<State> {
        match std::fs::read(Self::path(home)) {
            Ok(b) => serde_json::from_slice(&b).context("the install state file is corrupt"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(e.into()),
        }
    }

    /// Saves the recorded installations.
    pub fn save(&self, home: &Home) -> Result<()> {
        let path = Self::path(home);
        create_private_dir(path.parent().context("state folder")?)?;
        write_atomic(&path, &render(&serde_json::to_value(self)?))
    }

    /// Adds or replaces the installation for its settings file.
    pub fn upsert(&mut self, install: Install) {
        self.installs.retain(|i| i.settings != install.settings);
        self.installs.push(install);
    }
}
