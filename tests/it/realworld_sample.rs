//! Precision on real commands: a hand-labelled random sample of the NL2Bash development set
//! (`tests/realworld/nl2bash-sample.jsonl`, see the README there) run through `policy test`
//! under `standard` and `strict` in the corpus runner's plain fixture. Prints, per profile,
//! the share of ordinary commands blocked and of dangerous commands let through, and fails
//! when either grows past the bounds below (a ratchet: lower them as the classifier improves).

use serde_json::{Value, json};
use std::fs;
use std::path::Path;

/// (profile, most ordinary commands blocked in %, most dangerous commands missed in %).
const BOUNDS: &[(&str, f64, f64)] = &[("standard", 2.0, 4.5), ("strict", 2.0, 5.5)];

#[test]
fn labelled_real_commands_stay_within_the_precision_bounds() {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realworld/nl2bash-sample.jsonl");
    let rows: Vec<Value> = fs::read_to_string(&sample)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        rows.len() >= 600,
        "the sample holds {} commands",
        rows.len()
    );
    let dir = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(dir.path()).unwrap();
    let (p, h) = crate::decision_cases::fixture(&root, false);
    let mut report = String::new();
    let mut failures = Vec::new();
    for &(profile, max_blocked, max_missed) in BOUNDS {
        // The sample's expected decision under this profile becomes the case's `expect`.
        let cases = root.join(format!("{profile}.jsonl"));
        let text: String = rows
            .iter()
            .map(|r| {
                let case = json!({"id": r["id"], "expect": r[profile], "tool_name": r["tool_name"],
                    "tool_input": r["tool_input"]});
                format!("{case}\n")
            })
            .collect();
        fs::write(&cases, text).unwrap();
        let out = crate::decision_cases::policy_test(profile, &cases, &p, &h);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(" passed, "), "{profile}: {stdout}");
        let wrong: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("MISS "))
            .filter_map(|l| l.split(':').next())
            .collect();
        // Ordinary: allowed under this profile (not-shell text is refused by both, apart).
        let (mut ordinary, mut blocked, mut dangerous, mut missed) = (0, 0, 0, 0);
        for r in &rows {
            if r["label"] == "not-shell" {
                continue;
            }
            let is_wrong = wrong.contains(&r["id"].as_str().unwrap());
            if r[profile] == "allow" {
                ordinary += 1;
                blocked += usize::from(is_wrong);
            } else {
                dangerous += 1;
                missed += usize::from(is_wrong);
            }
        }
        let (b, m) = (
            100.0 * blocked as f64 / ordinary as f64,
            100.0 * missed as f64 / dangerous as f64,
        );
        report.push_str(&format!(
            "{profile}: ordinary blocked {blocked}/{ordinary} ({b:.1} %), dangerous missed {missed}/{dangerous} ({m:.1} %)\n"
        ));
        if b > max_blocked || m > max_missed {
            failures.push(format!(
                "{profile} over its bounds ({max_blocked} %, {max_missed} %)"
            ));
        }
        if b > max_blocked || m > max_missed {
            report.push_str(&stdout);
        }
    }
    println!("{report}");
    assert!(failures.is_empty(), "{}\n{report}", failures.join("; "));
}
