//! A small per-session index of tool calls denied at PreToolUse, so a later PostToolUse for one
//! of them (the block did not hold) is found without scanning the ledger.
//! Files: `$PATCHWORK_HOME/state/denied/<sha256 of the session id>`, lines `tool_use_id seq`.

use crate::home::{Home, create_private_dir};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;

fn index_file(home: &Home, session: Option<&str>) -> PathBuf {
    let key = hex::encode(Sha256::digest(session.unwrap_or("").as_bytes()));
    home.root().join("state").join("denied").join(&key[..32])
}

/// Notes that `tool_use_id` was denied (decision record `seq`).
pub fn remember(
    home: &Home,
    session: Option<&str>,
    tool_use_id: &str,
    seq: Option<u64>,
) -> std::io::Result<()> {
    if tool_use_id.contains(char::is_whitespace) {
        return Ok(());
    }
    let file = index_file(home, session);
    if let Some(dir) = file.parent() {
        create_private_dir(dir).map_err(std::io::Error::other)?;
    }
    let line = match seq {
        Some(s) => format!("{tool_use_id} {s}\n"),
        None => format!("{tool_use_id} -\n"),
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?
        .write_all(line.as_bytes())
}

/// `Some(decision seq)` when `tool_use_id` was denied in this session (`Some(None)` when the
/// denial could not be recorded in the ledger).
pub fn lookup(home: &Home, session: Option<&str>, tool_use_id: &str) -> Option<Option<u64>> {
    let text = std::fs::read_to_string(index_file(home, session)).ok()?;
    text.lines().find_map(|line| {
        let (id, seq) = line.split_once(' ')?;
        (id == tool_use_id).then(|| seq.parse().ok())
    })
}

/// Drops the session's index (at SessionEnd).
pub fn forget(home: &Home, session: Option<&str>) {
    let _ = std::fs::remove_file(index_file(home, session));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_session() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::locate(Some(dir.path())).unwrap();
        remember(&home, Some("s1"), "toolu_1", Some(4)).unwrap();
        remember(&home, Some("s1"), "toolu_2", None).unwrap();
        assert_eq!(lookup(&home, Some("s1"), "toolu_1"), Some(Some(4)));
        assert_eq!(lookup(&home, Some("s1"), "toolu_2"), Some(None));
        assert_eq!(lookup(&home, Some("s2"), "toolu_1"), None);
        assert_eq!(lookup(&home, Some("s1"), "toolu_3"), None);
        forget(&home, Some("s1"));
        assert_eq!(lookup(&home, Some("s1"), "toolu_1"), None);
    }
}
