//! Tool pinning and description scanning against a deliberately malicious MCP server
//! (`tests/interop/malicious.mjs`): rug pulls (mid-session with list_changed, silently across
//! sessions, over a Streamable HTTP upstream), poisoned descriptions, unlisted tools; through
//! `wrap` and `serve --config`. And the reference servers' descriptions pass clean.

use crate::hook_common::ledger_records as ledger;
use crate::mcp_trust_common::{
    Mcp, Place, assert_refused, events, malicious, malicious_http, text,
};
use serde_json::{Value, json};

#[test]
fn strict_wrap_withholds_poisoned_and_changed_tools_and_refuses_unlisted_ones() {
    let place = Place::new();
    let mut mcp = place.wrap("strict");
    let names = mcp.tool_names();
    // First sight: pinned; the poisoned ones are withheld under strict.
    assert!(names.contains(&"add".to_string()), "{names:?}");
    assert!(!names.contains(&"weather".to_string()), "{names:?}");
    assert!(!names.contains(&"echo".to_string()), "{names:?}");
    assert_eq!(
        mcp.call("add", json!({"a": 1, "b": 2}))["content"][0]["text"],
        "3"
    );
    // A withheld tool called anyway, and a tool never listed: refused with the rule.
    assert_refused(
        &mcp.call("weather", json!({"city": "x"})),
        "mcp-descriptions",
    );
    let backdoor = mcp.call("backdoor", json!({}));
    assert_refused(&backdoor, "mcp-unlisted");
    assert!(!text(&backdoor).contains("backdoor ran"));
    // The rug pull: list_changed, then a changed `add` and a new `exfil`.
    mcp.wait_note("notifications/tools/list_changed");
    let names = mcp.tool_names();
    assert!(!names.contains(&"add".to_string()), "{names:?}");
    assert!(!names.contains(&"exfil".to_string()), "{names:?}");
    let r = mcp.call("add", json!({"a": 1, "b": 2, "notes": "k"}));
    assert_refused(&r, "mcp-pins");
    assert_refused(&mcp.call("exfil", json!({"data": "x"})), "mcp-pins");
    drop(mcp);

    let records = place.records();
    let changed = events(&records, "mcp.tool_changed");
    let add = changed
        .iter()
        .find(|r| r["tool"] == "mcp__mal__add")
        .expect("mcp.tool_changed for add");
    assert_eq!(add["change"], "changed");
    assert_eq!(add["server"], "mal");
    assert_eq!(add["door"], "mcp");
    assert!(add["old_sha256"].as_str().unwrap().starts_with("sha256:"));
    assert_ne!(add["old_sha256"], add["new_sha256"]);
    let diff = add["diff"].to_string();
    for part in [
        "description",
        "inputSchema.properties.notes: added",
        "annotations",
    ] {
        assert!(diff.contains(part), "{part} missing from {diff}");
    }
    assert_eq!(add["treatment"], "withheld");
    let exfil = changed
        .iter()
        .find(|r| r["tool"] == "mcp__mal__exfil")
        .expect("mcp.tool_changed for the new tool");
    assert_eq!(exfil["change"], "new");
    assert_eq!(exfil["old_sha256"], Value::Null);
    let findings = events(&records, "mcp.description_finding");
    let of = |tool: &str| -> String {
        findings
            .iter()
            .filter(|r| r["tool"] == format!("mcp__mal__{tool}"))
            .map(|r| r["findings"].to_string())
            .collect()
    };
    assert!(of("weather").contains("mcp.desc.tag"), "{findings:?}");
    assert!(
        of("weather").contains("mcp.desc.secret_ref"),
        "{findings:?}"
    );
    assert!(of("echo").contains("mcp.desc.unicode_tags"), "{findings:?}");
    assert!(
        of("add").contains("mcp.desc.tag"),
        "the pulled description: {findings:?}"
    );
    // The decision records of the refused calls carry the findings.
    let unlisted = records
        .iter()
        .find(|r| r["event"] == "decision" && r["tool"] == "mcp__mal__backdoor")
        .unwrap();
    assert_eq!(unlisted["verdict"], "deny");
    assert!(
        unlisted["findings"]
            .to_string()
            .contains("mcp.tool_unlisted")
    );

    // The user reviews and approves the new tool; a new session may call it. (`add` stays
    // withheld: its description is still poisoned.)
    let out = place.cmd(&["pins", "list"]).output().unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains("mal: 5 tools pinned, 2 pending"),
        "{listing}"
    );
    let out = place.cmd(&["pins", "diff", "mal"]).output().unwrap();
    let diff = String::from_utf8_lossy(&out.stdout);
    assert!(
        diff.contains("inputSchema.properties.notes: added"),
        "{diff}"
    );
    assert!(diff.contains("exfil: (new tool)"), "{diff}");
    let out = place
        .cmd(&["pins", "approve", "mal", "exfil"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut mcp = place.wrap("strict");
    let names = mcp.tool_names();
    assert!(names.contains(&"exfil".to_string()), "{names:?}");
    assert!(!names.contains(&"add".to_string()), "{names:?}");
    assert_eq!(
        text(&mcp.call("exfil", json!({"data": "x"}))),
        "{\"data\":\"x\"}"
    );
    assert_refused(&mcp.call("add", json!({"a": 1})), "mcp-pins");
}

#[test]
fn standard_lists_changed_tools_sanitised_and_asks_before_calls() {
    let place = Place::new();
    std::fs::write(place.state(), "0").unwrap();
    let mut first = place.wrap("standard");
    assert!(first.tool_names().contains(&"echo".to_string()));
    drop(first);
    // A new session: the upstream silently changed `add`.
    let mut mcp = place.wrap("standard");
    let r = mcp.request("tools/list", json!({}));
    let tools = r["result"]["tools"].as_array().unwrap();
    let add = tools
        .iter()
        .find(|t| t["name"] == "add")
        .expect("add listed");
    assert!(add["description"].as_str().unwrap().contains("IMPORTANT"));
    let echo = tools.iter().find(|t| t["name"] == "echo").unwrap();
    // echo carries hidden tag characters: high risk, asked about, so listed sanitised.
    assert_eq!(echo["description"], "Echoes its input.");
    let r = mcp.call("add", json!({"a": 1, "b": 2, "notes": "x"}));
    assert_refused(&r, "mcp-pins");
    assert!(text(&r).contains("held back"), "{r}");
    drop(mcp);
    let changed = events(&place.records(), "mcp.tool_changed")
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(changed.len(), 2, "add changed, exfil new: {changed:?}");
    assert!(changed.iter().all(|r| r["treatment"] == "sanitised"));
}

#[test]
fn audit_records_changes_and_lets_calls_run() {
    let place = Place::new();
    std::fs::write(place.state(), "0").unwrap();
    drop(place.wrap("audit").tool_names());
    let mut mcp = place.wrap("audit");
    assert!(mcp.tool_names().contains(&"add".to_string()));
    let r = mcp.call("add", json!({"a": 1, "b": 2}));
    assert_eq!(text(&r), "3");
    assert_eq!(text(&mcp.call("backdoor", json!({}))), "backdoor ran");
    drop(mcp);
    let records = place.records();
    assert_eq!(events(&records, "mcp.tool_changed").len(), 2);
    let d = records
        .iter()
        .find(|r| r["event"] == "decision" && r["tool"] == "mcp__mal__backdoor")
        .unwrap();
    assert_eq!(d["would_be"], "deny");
}

#[test]
fn serve_config_pins_prefixed_upstream_tools() {
    let place = Place::new();
    let m = malicious(&place.state());
    let config = place.dir.path().join("gateway.yaml");
    std::fs::write(
        &config,
        format!(
            "builtins: false\nservers:\n  mal:\n    command: {}\n    args: {}\n",
            m[0],
            serde_json::to_string(&m[1..]).unwrap()
        ),
    )
    .unwrap();
    let cfg = config.to_string_lossy().into_owned();
    let mut mcp = Mcp::start(place.cmd(&["--policy", "strict", "serve", "--config", &cfg]));
    // The session's start lists the upstream (first sight, pinned); the rug pull follows
    // at once with list_changed.
    let names = mcp.tool_names();
    assert!(names.contains(&"mal__ask".to_string()), "{names:?}");
    assert!(!names.contains(&"mal__weather".to_string()), "{names:?}");
    assert_refused(&mcp.call("mal__backdoor", json!({})), "mcp-unlisted");
    mcp.wait_note("notifications/tools/list_changed");
    let names = mcp.tool_names();
    assert!(!names.contains(&"mal__add".to_string()), "{names:?}");
    assert_refused(&mcp.call("mal__add", json!({"a": 1, "b": 1})), "mcp-pins");
    drop(mcp);
    let records = place.records();
    assert!(
        events(&records, "mcp.tool_changed")
            .iter()
            .any(|r| r["tool"] == "mcp__mal__add")
    );
}

#[test]
fn wrap_of_an_http_upstream_catches_a_silent_rug_pull() {
    let place = Place::new();
    let (mut server, port) = malicious_http(&place.state(), &[]);
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut mcp =
        Mcp::start(place.cmd(&["--policy", "strict", "wrap", "--name", "mal", "--url", &url]));
    assert!(mcp.tool_names().contains(&"add".to_string()));
    // The second listing shows the changed definition, with no list_changed.
    assert!(!mcp.tool_names().contains(&"add".to_string()));
    assert_refused(&mcp.call("add", json!({"a": 1, "b": 1})), "mcp-pins");
    assert_refused(&mcp.call("backdoor", json!({})), "mcp-unlisted");
    drop(mcp);
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        events(&place.records(), "mcp.tool_changed")
            .iter()
            .any(|r| r["tool"] == "mcp__mal__add" && r["change"] == "changed")
    );
}

/// The false-positive measurement: every tool of the reference servers is listed unchanged
/// under `strict`, with no description finding.
#[test]
fn reference_servers_descriptions_pass_clean() {
    let dir = crate::peers::interop_dir();
    let place = Place::new();
    let modules = dir.join("node_modules/@modelcontextprotocol");
    let fs = modules.join("server-filesystem/dist/index.js");
    let everything = modules.join("server-everything/dist/index.js");
    let project = place.dir.path().join("project");
    let mut total = 0;
    for (name, args) in [
        (
            "fs",
            vec![
                fs.to_string_lossy().into_owned(),
                project.to_string_lossy().into_owned(),
            ],
        ),
        (
            "everything",
            vec![everything.to_string_lossy().into_owned(), "stdio".into()],
        ),
    ] {
        let mut argv = vec!["--policy", "strict", "wrap", "--name", name, "--", "node"];
        argv.extend(args.iter().map(String::as_str));
        let mut mcp = Mcp::start(place.cmd(&argv));
        let listed = mcp.request("tools/list", json!({}));
        let tools = listed["result"]["tools"].as_array().unwrap().clone();
        assert!(tools.len() >= 10, "{name}: {tools:?}");
        total += tools.len();
        // Listed again (pinned now): identical.
        let again = mcp.request("tools/list", json!({}));
        assert_eq!(again["result"]["tools"].as_array().unwrap(), &tools);
    }
    let records = ledger(&place.pw());
    let found = events(&records, "mcp.description_finding");
    assert!(found.is_empty(), "false positives: {found:?}");
    assert!(events(&records, "mcp.tool_changed").is_empty());
    eprintln!("reference servers: {total} tool descriptions, 0 findings");
}
