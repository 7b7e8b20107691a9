//! `export`: CSV round-trips through Python's csv module; SARIF validates with sarif-kit and
//! has what GitHub code scanning needs; JSON Lines are the stored records.

use crate::hook_common::stderr;
use crate::peers;
use crate::views_common::*;
use serde_json::{Value, json};
use std::process::Command;

#[test]
fn csv_round_trips_through_python_and_defuses_formulas() {
    let d = drive_session("=HYPERLINK(\"http://evil.example/\",\"click\")");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("out.csv");
    d.run(&["export", "--format", "csv", "-o", csv.to_str().unwrap()]);
    let out = Command::new("python3")
        .args([
            "-c",
            "import csv,json,sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline='')))))",
        ])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let table: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(table[0][0], "seq");
    let rows: Vec<Value> = serde_json::from_slice(&d.run(&["log", "--json"]).stdout).unwrap();
    assert_eq!(
        table.len(),
        rows.len() + 1,
        "one line per row plus the header"
    );
    let col = |name: &str| table[0].iter().position(|c| c == name).unwrap();
    for (line, row) in table[1..].iter().zip(&rows) {
        assert_eq!(line[col("seq")], row["seq"].to_string());
        // Every session cell starts with `=`: written with a leading `'`.
        assert_eq!(
            line[col("session")],
            format!("'{}", row["session"].as_str().unwrap())
        );
        let reason = row["reason"].as_str().unwrap_or("");
        let want = if reason.starts_with(['=', '+', '-', '@']) {
            format!("'{reason}")
        } else {
            reason.to_string()
        };
        assert_eq!(
            line[col("reason")],
            want,
            "commas, quotes and newlines survive"
        );
        assert!(line[col("record_hash")].starts_with("sha256:"));
    }
    assert!(!table[1..].iter().flatten().any(|c| c.starts_with('=')));
}

#[test]
fn sarif_validates_and_locates_findings_in_the_repository() {
    let d = drive_session(SESSION);
    let dir = tempfile::tempdir().unwrap();
    let sarif = dir.path().join("out.sarif");
    let out =
        d.s.cmd(&["export", "--format", "sarif", "--repo"])
            .arg(&d.s.project)
            .args(["-o", sarif.to_str().unwrap()])
            .output()
            .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("left out"),
        "unlocated findings are reported: {}",
        stderr(&out)
    );
    let check = Command::new(peers::python_tools().join("sarif-kit"))
        .arg("validate")
        .arg(&sarif)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "sarif-kit: {}{}",
        String::from_utf8_lossy(&check.stdout),
        stderr(&check)
    );
    let log: Value = serde_json::from_slice(&std::fs::read(&sarif).unwrap()).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    assert!(!results.is_empty());
    for r in results {
        let id = r["ruleId"].as_str().unwrap();
        let rule = &rules[r["ruleIndex"].as_u64().unwrap() as usize];
        assert_eq!(rule["id"], id);
        let sev: f64 = rule["properties"]["security-severity"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((0.1..=10.0).contains(&sev));
        for k in ["shortDescription", "fullDescription", "help"] {
            assert!(rule[k]["text"].as_str().unwrap().len() <= 1024);
        }
        let uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(
            !uri.starts_with('/') && !uri.contains(".."),
            "repo-relative: {uri}"
        );
        assert!(r["partialFingerprints"]["primaryLocationLineHash"].is_string());
        assert!(
            r["properties"]["patchwork.record_hash"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
    }
    let env = results
        .iter()
        .find(|r| r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == ".env")
        .expect("the refused read of .env, located at .env");
    assert_eq!(env["level"], "error");
    assert_eq!(env["ruleId"], "secrets.read", "{env}");
    assert!(
        run["automationDetails"]["id"]
            .as_str()
            .unwrap()
            .contains('/')
    );
    // Filters apply to exports too.
    let only_mcp = d
        .run(&["export", "--format", "jsonl", "--door", "mcp"])
        .stdout;
    let lines: Vec<Value> = String::from_utf8(only_mcp)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().any(|l| l == &json!(l) && l["door"] == "mcp"));
}
