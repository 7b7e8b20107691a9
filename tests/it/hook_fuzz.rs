//! Property tests of the hook's input handling: whatever arrives on stdin, parsing and
//! translation never panic, and the real hook process answers exit 0 or 2 with one JSON object.
//! Longer runs: `HOOK_FUZZ_CASES=200000 HOOK_FUZZ_PROCESS_CASES=5000 cargo test --test hook_fuzz`.

use crate::hook_common::*;
use patchwork_gateway::hook::adapter;
use patchwork_gateway::hook::events::Event;
use patchwork_gateway::hook::payload::{Payload, read_bounded};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: [&str; 16] = [
    "hook_event_name",
    "tool_name",
    "tool_input",
    "tool_use_id",
    "session_id",
    "cwd",
    "tool_response",
    "prompt",
    "duration_ms",
    "error",
    "is_interrupt",
    "agent_id",
    "source",
    "command",
    "file_path",
    "x",
];
const EVENTS: [&str; 12] = [
    "PreToolUse",
    "pre-tool-use",
    "PostToolUse",
    "PostToolUseFailure",
    "PermissionRequest",
    "UserPromptSubmit",
    "SessionStart",
    "SessionEnd",
    "SubagentStart",
    "SubagentStop",
    "Notification",
    "",
];
const TOOLS: [&str; 10] = [
    "Bash",
    "Read",
    "Write",
    "Edit",
    "MultiEdit",
    "Glob",
    "Grep",
    "WebFetch",
    "Agent",
    "mcp__fs__read_file",
];

/// Case count from `var`, else `default`.
fn cases(var: &str, default: u32) -> u32 {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,24}".prop_map(Value::String),
        prop::sample::select(&TOOLS[..]).prop_map(|t| Value::String(t.into())),
        prop::sample::select(&EVENTS[..]).prop_map(|e| Value::String(e.into())),
        "(rm|cat|git|sudo|ssh|echo) [-a-z/~.$'\"{}*]{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(&KEYS[..]), inner), 0..6).prop_map(|kv| {
                Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
            }),
        ]
    })
}

/// A payload-shaped object: known keys with arbitrary values.
fn payload_value() -> impl Strategy<Value = Value> {
    prop::collection::vec((prop::sample::select(&KEYS[..]), json_value()), 0..10).prop_map(|kv| {
        let mut m = Map::new();
        for (k, v) in kv {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

/// Raw stdin: valid payloads, arbitrary bytes, or truncated payloads.
fn stdin_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        payload_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..256),
        (payload_value(), any::<prop::sample::Index>()).prop_map(|(v, i)| {
            let b = serde_json::to_vec(&v).unwrap();
            let cut = i.index(b.len() + 1);
            b[..cut].to_vec()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases("HOOK_FUZZ_CASES", 2000)))]

    #[test]
    fn parsing_and_translation_never_panic(bytes in stdin_bytes(), event in prop::sample::select(&EVENTS[..])) {
        let read = read_bounded(&bytes[..], 128);
        prop_assert!(read.is_ok() || bytes.len() > 128);
        let ev = Event::parse(event);
        prop_assert_eq!(Event::parse(ev.name()), ev.clone());
        match Payload::parse(&bytes) {
            Ok(p) => {
                let _ = p.event_name().map(Event::parse);
                if let Some(call) = adapter::tool_call(&p) {
                    prop_assert!(!call.tool.is_empty());
                    prop_assert_eq!(call.agent.as_deref(), Some("claude-code"));
                }
                let _ = adapter::project_dir(&p);
                let _ = (p.u64("duration_ms"), p.bool("is_interrupt"), p.tool_use_id());
            }
            Err(e) => {
                let a = adapter::failure(Some(ev.name()), true, &e.to_string());
                prop_assert!(a.code == 0 || a.code == 2);
                let v: Value = serde_json::from_str(&a.stdout).unwrap();
                prop_assert!(v.is_object());
                prop_assert!(!a.stdout.contains('\n'));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases("HOOK_FUZZ_PROCESS_CASES", 48)))]

    #[test]
    fn hook_process_exits_0_or_2_with_one_json_object(
        bytes in stdin_bytes(),
        event in prop::option::of(prop::sample::select(&EVENTS[..11])),
        audit in any::<bool>(),
    ) {
        let s = Sandbox::new();
        let mut args = vec!["--policy", "strict", "hook"];
        if let Some(e) = event {
            args.push(e);
        }
        if audit {
            args.extend(["--policy-mode", "audit"]);
        }
        let out = s.hook(&args, &bytes);
        let code = out.status.code();
        prop_assert!(code == Some(0) || code == Some(2), "exit {:?}: {}", code, stderr(&out));
        let text = String::from_utf8(out.stdout.clone()).unwrap();
        prop_assert_eq!(text.matches('\n').count(), 1, "{}", text);
        let v: Value = serde_json::from_str(text.trim_end()).unwrap();
        prop_assert!(v.is_object());
        prop_assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        if audit {
            prop_assert_eq!(code, Some(0));
        }
    }
}
