//! Pinned upstream MCP tool definitions (trust on first use, like SSH's `known_hosts`).
//!
//! `$PATCHWORK_HOME/pins/<server>.json` holds, per tool, the SHA-256 of its canonical definition
//! (title, description, input and output schema, annotations) as the user trusts it, and the
//! definitions seen since that differ (`pending`) until the user approves or forgets them with
//! `patchwork-gateway pins`. The first listing of a server pins every tool it offers; later
//! tools and changed definitions wait for approval. The agent cannot write here: the folder is
//! under the gateway's home, which every profile protects.

use crate::call::PinState;
use crate::ledger::canonical;
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

/// The fields of a tool definition that are pinned.
const PINNED_FIELDS: [&str; 6] = [
    "title",
    "description",
    "inputSchema",
    "outputSchema",
    "annotations",
    "execution",
];

/// One tool's definition and its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pin {
    /// `sha256:<hex>` of the canonical definition.
    pub sha256: String,
    /// The definition (pinned fields only).
    pub definition: Value,
    /// When it was pinned or seen (RFC 3339).
    pub at: String,
}

/// Everything pinned for one server.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ServerPins {
    /// How the server is started or reached (command line or URL), as first seen.
    pub identity: String,
    /// Trusted definitions by tool name.
    pub tools: BTreeMap<String, Pin>,
    /// Definitions seen that differ from the trusted one (or are new), by tool name.
    #[serde(default)]
    pub pending: BTreeMap<String, Pin>,
}

/// What one listing of a tool showed, compared with its pin.
#[derive(Debug, Clone)]
pub struct Seen {
    pub tool: String,
    pub state: PinState,
    pub sha256: String,
    /// The trusted definition, when the tool is pinned under another digest.
    pub old: Option<Pin>,
    /// True the first time this (tool, digest) is pending: the listing that should be recorded.
    pub newly_pending: bool,
}

/// The definition of a tool as pinned: the pinned fields of its JSON form.
pub fn definition(tool: &Value) -> Value {
    let mut def = Map::new();
    for key in PINNED_FIELDS {
        if let Some(v) = tool.get(key).filter(|v| !v.is_null()) {
            def.insert(key.to_string(), v.clone());
        }
    }
    let mut def = Value::Object(def);
    canonical::normalize(&mut def);
    def
}

/// `sha256:<hex>` of a definition's canonical JSON.
pub fn digest(definition: &Value) -> String {
    let bytes = canonical::to_vec(definition).unwrap_or_else(|_| definition.to_string().into());
    format!("sha256:{}", hex::encode(Sha256::digest(&bytes)))
}

/// The pins folder of one gateway home.
#[derive(Debug)]
pub struct PinStore {
    dir: PathBuf,
    /// Parsed files by server, with the modification time they were read at.
    cache: Mutex<BTreeMap<String, (Option<SystemTime>, ServerPins)>>,
}

impl PinStore {
    /// The store in `dir` (`$PATCHWORK_HOME/pins`); nothing is created until a pin is written.
    pub fn new(dir: PathBuf) -> PinStore {
        PinStore {
            dir,
            cache: Mutex::new(BTreeMap::new()),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, server: &str) -> PathBuf {
        self.dir.join(format!("{server}.json"))
    }

    /// Compares one listing of `server` with its pins: pins every tool on the server's first
    /// listing, and records changed and new definitions as pending. Returns one [`Seen`] per
    /// tool, in the listing's order.
    pub fn observe(
        &self,
        server: &str,
        identity: &str,
        tools: &[(String, Value)],
    ) -> Result<Vec<Seen>> {
        let _lock = self.lock()?;
        let existing = self.read(server)?;
        let first = existing.is_none();
        let mut pins = existing.unwrap_or_else(|| ServerPins {
            identity: identity.to_string(),
            ..Default::default()
        });
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut out = Vec::new();
        let mut dirty = first;
        for (name, def) in tools {
            let sha256 = digest(def);
            let pin = Pin {
                sha256: sha256.clone(),
                definition: def.clone(),
                at: now.clone(),
            };
            let (state, old) = match pins.tools.get(name) {
                Some(p) if p.sha256 == sha256 => (PinState::Pinned, None),
                Some(p) => (PinState::Changed, Some(p.clone())),
                None if first => (PinState::FirstSeen, None),
                None => (PinState::New, None),
            };
            let mut newly_pending = false;
            match state {
                PinState::FirstSeen => {
                    pins.tools.insert(name.clone(), pin);
                }
                PinState::Changed | PinState::New
                    if pins.pending.get(name).map(|p| &p.sha256) != Some(&sha256) =>
                {
                    pins.pending.insert(name.clone(), pin);
                    newly_pending = true;
                    dirty = true;
                }
                _ => {}
            }
            out.push(Seen {
                tool: name.clone(),
                state,
                sha256,
                old,
                newly_pending,
            });
        }
        if dirty {
            self.write(server, &pins)?;
        }
        Ok(out)
    }

    /// The state of one tool with the given digest, from the pins as they are on disk now
    /// (re-read only when the file changed).
    pub fn state(&self, server: &str, tool: &str, sha256: &str) -> PinState {
        let path = self.file(server);
        let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = matches!(cache.get(server), Some((t, _)) if *t == mtime && mtime.is_some());
        if !fresh {
            match self.read(server) {
                Ok(Some(p)) => {
                    cache.insert(server.to_string(), (mtime, p));
                }
                _ => return PinState::New,
            }
        }
        let pins = &cache[server].1;
        match pins.tools.get(tool) {
            Some(p) if p.sha256 == sha256 => PinState::Pinned,
            Some(_) => PinState::Changed,
            None => PinState::New,
        }
    }

    /// Every server with pins, by name.
    pub fn list(&self) -> Result<BTreeMap<String, ServerPins>> {
        let mut out = BTreeMap::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", self.dir.display())),
        };
        for entry in entries {
            let path = entry?.path();
            let Some(server) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if let Some(pins) = self.read(server)? {
                out.insert(server.to_string(), pins);
            }
        }
        Ok(out)
    }

    /// Approves pending definitions of `server` (all of them when `tools` is empty); returns
    /// the tools approved.
    pub fn approve(&self, server: &str, tools: &[String]) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let Some(mut pins) = self.read(server)? else {
            bail!("no pins for server `{server}` (see `patchwork-gateway pins list`)");
        };
        let names: Vec<String> = if tools.is_empty() {
            pins.pending.keys().cloned().collect()
        } else {
            tools.to_vec()
        };
        for name in &names {
            let Some(pin) = pins.pending.remove(name) else {
                bail!("`{server}` has no pending definition of `{name}`");
            };
            pins.tools.insert(name.clone(), pin);
        }
        self.write(server, &pins)?;
        Ok(names)
    }

    /// Forgets the pins of `tools` of `server` (the whole server when `tools` is empty: its
    /// next listing is pinned as a first sight). Returns what was forgotten.
    pub fn forget(&self, server: &str, tools: &[String]) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let Some(mut pins) = self.read(server)? else {
            bail!("no pins for server `{server}`");
        };
        if tools.is_empty() {
            std::fs::remove_file(self.file(server))
                .with_context(|| format!("cannot remove pins of `{server}`"))?;
            return Ok(pins.tools.keys().cloned().collect());
        }
        for name in tools {
            let had = pins.tools.remove(name).is_some() | pins.pending.remove(name).is_some();
            if !had {
                bail!("`{server}` has no pin for `{name}`");
            }
        }
        self.write(server, &pins)?;
        Ok(tools.to_vec())
    }

    fn read(&self, server: &str) -> Result<Option<ServerPins>> {
        let path = self.file(server);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{} is not a pins file", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes a server's pins atomically (temporary file, sync, rename), mode 0600.
    fn write(&self, server: &str, pins: &ServerPins) -> Result<()> {
        crate::home::create_private_dir(&self.dir)?;
        let path = self.file(server);
        let tmp = self.dir.join(format!(".{server}.json.tmp"));
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut text = serde_json::to_vec_pretty(pins)?;
        text.push(b'\n');
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// An exclusive lock on the folder, for read-modify-write across processes.
    fn lock(&self) -> Result<File> {
        crate::home::create_private_dir(&self.dir)?;
        let path = self.dir.join(".lock");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        // SAFETY: flock on a descriptor we own; released when the file is closed.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!(
                "cannot lock {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        Ok(f)
    }
}

/// A readable difference between two definitions: one line per changed, added or removed
/// field, by JSON path (`inputSchema.properties.notes: added "…"`).
pub fn diff(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

fn walk(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => walk(&join(k), va, vb, out),
                    None => out.push(format!("{}: removed (was {})", join(k), short(va))),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(format!("{}: added {}", join(k), short(vb)));
                }
            }
        }
        (a, b) if a == b => {}
        (a, b) => {
            let at = if path.is_empty() { "definition" } else { path };
            out.push(format!("{at}: {} -> {}", short(a), short(b)));
        }
    }
}

/// A value on one line, invisible characters shown as `\u{…}`, at most 400 characters.
fn short(v: &Value) -> String {
    let text = v.to_string();
    let mut s = String::new();
    for c in text.chars() {
        if crate::policy::classify::trust::is_invisible(c) {
            s.push_str(&format!("\\u{{{:X}}}", c as u32));
        } else {
            s.push(c);
        }
    }
    if s.chars().count() > 400 {
        let cut: String = s.chars().take(400).collect();
        format!("{cut}…")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(desc: &str) -> (String, Value) {
        let t = json!({"name": "add", "description": desc,
            "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}}}});
        ("add".to_string(), definition(&t))
    }

    #[test]
    fn first_listing_pins_then_changes_wait_for_approval() {
        let dir = tempfile::tempdir().unwrap();
        let store = PinStore::new(dir.path().join("pins"));
        let seen = store.observe("s", "node s.js", &[tool("Adds")]).unwrap();
        assert_eq!(seen[0].state, PinState::FirstSeen);
        let seen = store.observe("s", "node s.js", &[tool("Adds")]).unwrap();
        assert_eq!(seen[0].state, PinState::Pinned);
        let changed = tool("Adds. <IMPORTANT>x</IMPORTANT>");
        let seen = store
            .observe("s", "node s.js", std::slice::from_ref(&changed))
            .unwrap();
        assert_eq!(seen[0].state, PinState::Changed);
        assert!(seen[0].newly_pending);
        let again = store
            .observe("s", "node s.js", std::slice::from_ref(&changed))
            .unwrap();
        assert!(!again[0].newly_pending, "recorded once per new digest");
        let d = diff(&seen[0].old.as_ref().unwrap().definition, &changed.1);
        assert_eq!(d.len(), 1, "{d:?}");
        assert!(d[0].starts_with("description: \"Adds\" -> "), "{d:?}");
        assert_eq!(store.state("s", "add", &seen[0].sha256), PinState::Changed);
        let extra = (
            "extra".to_string(),
            definition(&json!({"description": "more"})),
        );
        let seen = store
            .observe("s", "node s.js", &[changed.clone(), extra])
            .unwrap();
        assert_eq!(seen[1].state, PinState::New);
        assert_eq!(store.approve("s", &[]).unwrap().len(), 2);
        let seen = store.observe("s", "node s.js", &[changed]).unwrap();
        assert_eq!(seen[0].state, PinState::Pinned);
        assert_eq!(store.state("s", "add", &seen[0].sha256), PinState::Pinned);
        let mode = std::fs::metadata(dir.path().join("pins/s.json"))
            .unwrap()
            .permissions();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode.mode() & 0o777, 0o600);
        store.forget("s", &[]).unwrap();
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn schema_and_annotation_changes_change_the_digest_but_key_order_does_not() {
        let a = definition(&json!({"description": "d", "inputSchema": {"a": 1, "b": 2}}));
        let b = definition(&json!({"inputSchema": {"b": 2, "a": 1}, "description": "d"}));
        assert_eq!(digest(&a), digest(&b));
        let c = definition(&json!({"description": "d", "inputSchema": {"a": 1, "b": 2},
            "annotations": {"destructiveHint": true}}));
        assert_ne!(digest(&a), digest(&c));
        assert_eq!(
            diff(&a, &c),
            vec!["annotations: added {\"destructiveHint\":true}"]
        );
    }
}
