//! `demo` end to end: both doors, every dangerous call refused, the legitimate work allowed,
//! the enforcement gap detected and the ledger verified.

use crate::hook_common::*;

#[test]
fn demo_refuses_every_dangerous_call_and_verifies() {
    let s = Sandbox::new();
    let out = s.cmd(&["demo"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(!text.contains("UNEXPECTED"), "{text}");
    assert!(text.contains("recorded as enforcement.gap"), "{text}");
    assert!(text.contains("chain, links and seals intact"), "{text}");
    let dangerous = text
        .lines()
        .find(|l| l.contains("dangerous calls refused"))
        .unwrap_or_else(|| panic!("{text}"));
    let n: Vec<&str> = dangerous.split_whitespace().collect();
    assert_eq!(n[0], n[2], "{dangerous}");
    assert_eq!(n[6], n[8], "{dangerous}");
    // The demo works in its own temporary home: the sandbox's stays empty.
    assert!(!s.pw.exists());
}
