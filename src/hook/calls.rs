//! A small per-session index of the calls PreToolUse answered, so PostToolUse can tell, without
//! scanning the ledger, when a block did not hold: an outcome for a call that was denied, or
//! for a call PreToolUse never saw (the hook did not fire, was killed or timed out).
//! PermissionRequest, which carries no `tool_use_id`, finds the decision of its call by the
//! digest of the call's input.
//! Files: `$PATCHWORK_HOME/state/calls/<sha256 of the session id>`, lines
//! `tool_use_id d|a seq input-digest`.

use crate::home::{Home, create_private_dir};
use crate::ledger::Digest;
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::PathBuf;

/// What PreToolUse answered for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// True when the call was denied.
    pub denied: bool,
    /// Ledger seq of the decision record, when it was written.
    pub seq: Option<u64>,
}

fn index_file(home: &Home, session: Option<&str>) -> PathBuf {
    let key = hex::encode(Sha256::digest(session.unwrap_or("").as_bytes()));
    home.root().join("state").join("calls").join(&key[..32])
}

/// Notes PreToolUse's answer for `tool_use_id`.
pub fn remember(
    home: &Home,
    session: Option<&str>,
    tool_use_id: &str,
    seen: Seen,
    input: &Digest,
) -> std::io::Result<()> {
    if tool_use_id.is_empty() || tool_use_id.contains(char::is_whitespace) {
        return Ok(());
    }
    let file = index_file(home, session);
    if let Some(dir) = file.parent() {
        create_private_dir(dir).map_err(std::io::Error::other)?;
    }
    let mark = if seen.denied { 'd' } else { 'a' };
    let seq = seen.seq.map_or_else(|| "-".to_string(), |s| s.to_string());
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)?
        .write_all(format!("{tool_use_id} {mark} {seq} {}\n", input.hex()).as_bytes())
}

/// The newest decision PreToolUse recorded in this session for a call with this input digest.
pub fn lookup_input(home: &Home, session: Option<&str>, input: &Digest) -> Option<Seen> {
    let text = std::fs::read_to_string(index_file(home, session)).ok()?;
    text.lines().rev().find_map(|line| {
        let mut parts = line.split(' ').skip(1);
        let mark = parts.next()?;
        let seq = parts.next()?;
        (parts.next()? == input.hex()).then(|| Seen {
            denied: mark == "d",
            seq: seq.parse().ok(),
        })
    })
}

/// PreToolUse's answer for `tool_use_id` in this session, if PreToolUse saw the call.
pub fn lookup(home: &Home, session: Option<&str>, tool_use_id: &str) -> Option<Seen> {
    let text = std::fs::read_to_string(index_file(home, session)).ok()?;
    text.lines().rev().find_map(|line| {
        let mut parts = line.split(' ');
        (parts.next()? == tool_use_id).then(|| Seen {
            denied: parts.next() == Some("d"),
            seq: parts.next().and_then(|s| s.parse().ok()),
        })
    })
}

/// True when the session has an index, i.e. PreToolUse ran in it at least once.
pub fn session_known(home: &Home, session: Option<&str>) -> bool {
    index_file(home, session).exists()
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
        let deny = Seen {
            denied: true,
            seq: Some(4),
        };
        let allow = Seen {
            denied: false,
            seq: None,
        };
        let (i1, i2) = (Digest::of(b"1"), Digest::of(b"2"));
        remember(&home, Some("s1"), "toolu_1", deny, &i1).unwrap();
        remember(&home, Some("s1"), "toolu_2", allow, &i2).unwrap();
        assert_eq!(lookup_input(&home, Some("s1"), &i1), Some(deny));
        assert_eq!(lookup_input(&home, Some("s2"), &i1), None);
        assert_eq!(lookup_input(&home, Some("s1"), &Digest::of(b"3")), None);
        assert_eq!(lookup(&home, Some("s1"), "toolu_1"), Some(deny));
        assert_eq!(lookup(&home, Some("s1"), "toolu_2"), Some(allow));
        assert_eq!(lookup(&home, Some("s2"), "toolu_1"), None);
        assert_eq!(lookup(&home, Some("s1"), "toolu_3"), None);
        assert!(session_known(&home, Some("s1")));
        forget(&home, Some("s1"));
        assert_eq!(lookup(&home, Some("s1"), "toolu_1"), None);
        assert!(!session_known(&home, Some("s1")));
    }
}
