//! Resource URIs and server-to-client requests against the malicious server: `resources/read`
//! and `resources/subscribe` of a secret file in every URI spelling are refused, ordinary ones
//! pass and are recorded; sampling, elicitation and roots requests are judged by the Gate and
//! recorded by hash (an elicited value never reaches the ledger), and a policy can refuse them
//! per server.

use crate::mcp_trust_common::{ELICITED, Mcp, Place, events, malicious};
use serde_json::{Value, json};

const KEY: &str = "PRIVATE-KEY-9c2e";

fn refused(answer: &Value, what: &str) {
    let err = answer
        .get("error")
        .unwrap_or_else(|| panic!("{what}: expected a refusal, got {answer}"));
    assert_eq!(err["code"], -32010, "{what}: {answer}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("patchwork-gateway policy refused"),
        "{what}: {answer}"
    );
    assert!(!answer.to_string().contains(KEY), "{what}: the key leaked");
}

#[test]
fn resource_uris_are_normalised_before_the_file_check() {
    let place = Place::new();
    std::fs::write(place.dir.path().join("project/notes.txt"), "a note\n").unwrap();
    let mut mcp = place.wrap("strict");
    let home = place.home().to_string_lossy().into_owned();
    let project = place
        .dir
        .path()
        .join("project")
        .to_string_lossy()
        .into_owned();
    for uri in [
        format!("file://{home}/.ssh/id_rsa"),
        format!("FILE://{home}/.ssh/id_rsa"),
        format!("File://localhost{home}/.ssh/id_rsa"),
        format!("file://{project}/%2e%2e/home/.ssh/id_rsa"),
        format!("file://{home}/.ssh/id%5frsa"),
        format!("file:{home}/.ssh/id_rsa"),
    ] {
        let answer = mcp.request("resources/read", json!({"uri": uri}));
        refused(&answer, &uri);
    }
    refused(
        &mcp.request(
            "resources/read",
            json!({"uri": "file://evil.example/etc/passwd"}),
        ),
        "another host",
    );
    let ok = mcp.request(
        "resources/read",
        json!({"uri": format!("file://LOCALHOST{project}/notes.txt")}),
    );
    assert_eq!(ok["result"]["contents"][0]["text"], "a note\n", "{ok}");
    let memo = mcp.request("resources/read", json!({"uri": "memo://notes"}));
    assert_eq!(memo["result"]["contents"][0]["text"], "a memo", "{memo}");
    let sub = mcp.request("resources/subscribe", json!({"uri": "memo://notes"}));
    assert!(sub.get("result").is_some(), "{sub}");
    refused(
        &mcp.request(
            "resources/subscribe",
            json!({"uri": format!("FILE://{home}/.ssh/%69d_rsa")}),
        ),
        "subscribe to the key",
    );
    let unsub = mcp.request("resources/unsubscribe", json!({"uri": "memo://notes"}));
    assert!(unsub.get("result").is_some(), "{unsub}");
    drop(mcp);
    let records = place.records();
    let decided = |tool: &str, verdict: &str| {
        records
            .iter()
            .filter(|r| r["event"] == "decision" && r["tool"] == tool && r["verdict"] == verdict)
            .count()
    };
    assert_eq!(decided("mcp__mal__resources_read", "deny"), 7);
    assert_eq!(decided("mcp__mal__resources_read", "allow"), 1);
    assert_eq!(decided("mcp__mal__resources_subscribe", "allow"), 1);
    assert_eq!(decided("mcp__mal__resources_subscribe", "deny"), 1);
    assert_eq!(decided("mcp__mal__resources_unsubscribe", "allow"), 1);
    assert!(!serde_json::to_string(&records).unwrap().contains(KEY));
}

#[test]
fn server_requests_are_recorded_by_hash() {
    let place = Place::new();
    let mut mcp = place.wrap("strict");
    mcp.tool_names();
    let r = mcp.call("ask", json!({}));
    assert!(r.to_string().contains("sampled"), "{r}");
    let asked: Vec<String> = mcp
        .asked
        .iter()
        .map(|a| a["method"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(asked, ["elicitation/create", "sampling/createMessage"]);
    drop(mcp);
    let records = place.records();
    let seen = events(&records, "mcp.server_request");
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (r, method) in seen
        .iter()
        .zip(["elicitation/create", "sampling/createMessage"])
    {
        assert_eq!(r["method"], method);
        assert_eq!(r["server"], "mal");
        assert_eq!(r["status"], "answered");
        assert!(r["request_bytes"].as_u64().unwrap() > 10);
        assert!(r["request_sha256"].as_str().unwrap().starts_with("sha256:"));
        assert!(r["answer_sha256"].as_str().unwrap().starts_with("sha256:"));
        assert!(r["decision_seq"].is_u64());
    }
    let text = serde_json::to_string(&records).unwrap();
    assert!(
        !text.contains(ELICITED),
        "the elicited value is in the ledger"
    );
}

#[test]
fn a_policy_refuses_elicitation_for_one_server() {
    let place = Place::new();
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "name: no-elicitation\nmode: enforce\ndefault: allow\nrules:\n  - id: mal.no_elicitation\n    effect: deny\n    mcp: {server: mal, tool: \"elicitation_*\"}\n    reason: this server may not ask the user for input\n",
    )
    .unwrap();
    let m = malicious(&place.state());
    let p = policy.to_string_lossy().into_owned();
    let mut args = vec!["--policy", p.as_str(), "wrap", "--name", "mal", "--"];
    args.extend(m.iter().map(String::as_str));
    let mut mcp = Mcp::start(place.cmd(&args));
    mcp.tool_names();
    let answer = mcp.request("tools/call", json!({"name": "ask", "arguments": {}}));
    assert!(
        answer.to_string().contains("mal.no_elicitation"),
        "the upstream's failure names the rule: {answer}"
    );
    assert!(mcp.asked.is_empty(), "the agent was asked: {:?}", mcp.asked);
    drop(mcp);
    let records = place.records();
    let seen = events(&records, "mcp.server_request");
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["status"], "refused");
    assert_eq!(seen[0]["method"], "elicitation/create");
}
