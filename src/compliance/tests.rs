//! Predicate and status tests, each over a ledger built for the case (real chained records
//! written with the ledger's own record builder, verified by the real verifier).

use super::engine::{RangeReader, Read};
use super::facts::Rec;
use super::model::{Level, Report, Status};
use super::render::{Format, render};
use super::trends::Period;
use super::{Options, Selection, evaluate};
use crate::ledger::checkpoint::{self, Checkpoint};
use crate::ledger::note::{NoteKey, NoteVerifier, SignedNote, TYPE_COSIGNATURE};
use crate::ledger::pass::Checked;
use crate::ledger::record::{GENESIS, build};
use crate::ledger::{Ledger, SealKey};
use crate::policy::{Env, Policy};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

const DAY: i64 = 86_400_000_000;
/// 2026-12-01T00:00:00Z in microseconds.
const T0: i64 = 1_796_083_200_000_000;

struct Case {
    _dir: tempfile::TempDir,
    home: PathBuf,
    policy: Policy,
}

impl Case {
    fn new(profile: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("pw");
        std::fs::create_dir_all(home.join("ledger")).unwrap();
        let env = Env::new(&home, dir.path());
        let policy = Policy::load(Some(profile), &env).unwrap();
        Case {
            _dir: dir,
            home,
            policy,
        }
    }

    fn ledger(&self) -> PathBuf {
        self.home.join("ledger")
    }

    /// Writes `records` (time, fields) as a chained ledger.
    fn write(&self, records: &[(i64, Value)]) {
        let mut prev = GENESIS.to_string();
        let mut out = Vec::new();
        for (seq, (ts, v)) in records.iter().enumerate() {
            let fields: Map<String, Value> = v.as_object().unwrap().clone();
            let (line, hash) = build(fields, seq as u64, *ts, &prev).unwrap();
            out.extend(line);
            out.push(b'\n');
            prev = hash;
        }
        std::fs::write(self.ledger().join(crate::ledger::LOG_FILE), out).unwrap();
    }

    fn key(&self) -> SealKey {
        SealKey::load_or_create(&self.home.join("keys/seal.key")).unwrap()
    }

    fn seal(&self) {
        Ledger::open(&self.ledger())
            .unwrap()
            .seal(&self.key())
            .unwrap();
    }

    /// The report over the ledger as it is; also checks that the one read of the log finds
    /// exactly what three separate reads find (see [`three_reads`]).
    fn report(&self, opts: &Options) -> Report {
        let key = self.home.join("keys/seal.key");
        let key = key.exists().then(|| SealKey::load(&key).unwrap());
        let cp = self.home.join("keys").join(checkpoint::KEY_FILE);
        let verifier = cp.exists().then(|| NoteKey::load(&cp).unwrap().verifier());
        let one = super::engine::read(
            &self.ledger(),
            key.as_ref(),
            verifier.as_ref(),
            &opts.selection,
            opts.trends,
        )
        .unwrap();
        let three = three_reads(&self.ledger(), key.as_ref(), verifier.as_ref(), opts);
        assert_eq!(
            format!("{one:#?}"),
            format!("{three:#?}"),
            "the one-pass read differs from three separate reads"
        );
        evaluate(
            &self.ledger(),
            key.as_ref(),
            verifier.as_ref(),
            Some(&self.policy),
            opts,
        )
        .unwrap()
    }

    /// A signed checkpoint made by the real ledger with the home's checkpoint key (it also
    /// appends its `ledger.checkpoint` record).
    fn checkpoint(&self) -> Checkpoint {
        let key = checkpoint::load_or_create_key(&self.home.join("keys")).unwrap();
        Ledger::open(&self.ledger())
            .unwrap()
            .checkpoint(&key)
            .unwrap()
    }

    /// Stores a witness's real cosignature of `c` beside it, as the witness client does.
    fn witness(&self, c: &Checkpoint) {
        let w = NoteKey::generate("witness.example/w1", TYPE_COSIGNATURE).unwrap();
        let body = SignedNote::parse(&c.note).unwrap().body;
        let line = w.cosign(&body, c.time).unwrap();
        checkpoint::store_witnessed(&self.ledger(), c.size, &format!("{}{line}", c.note)).unwrap();
    }

    /// The attacker's rewrite: the log's records after `edit`, re-chained from genesis (every
    /// hash and link valid again), the tip cache removed.
    fn rechain(&self, keep: usize, edit: impl Fn(u64, &mut Map<String, Value>)) {
        let log = self.ledger().join(crate::ledger::LOG_FILE);
        let text = std::fs::read_to_string(&log).unwrap();
        let mut prev = GENESIS.to_string();
        let mut out = Vec::new();
        for (seq, line) in text.lines().take(keep).enumerate() {
            let mut fields: Map<String, Value> = serde_json::from_str(line).unwrap();
            let ts = fields["ts"].as_i64().unwrap();
            for k in ["v", "seq", "ts", "prev", "hash"] {
                fields.remove(k);
            }
            edit(seq as u64, &mut fields);
            let (line, hash) = build(fields, seq as u64, ts, &prev).unwrap();
            out.extend(line);
            out.push(b'\n');
            prev = hash;
        }
        std::fs::write(&log, out).unwrap();
        let _ = std::fs::remove_file(self.ledger().join(crate::ledger::STATE_FILE));
    }

    fn all(&self) -> Report {
        self.report(&Options::default())
    }

    fn decision(&self, verdict: &str, tool_use: &str) -> Value {
        decision_with(verdict, tool_use, self.policy.hash())
    }
}

/// The read as three separate passes over the log make it: `verify`, the checkpoint check, and
/// a full serde parse of every complete line (how the report read the ledger before it did all
/// three in one pass).
fn three_reads(
    dir: &Path,
    key: Option<&SealKey>,
    verifier: Option<&NoteVerifier>,
    opts: &Options,
) -> Read {
    let verify = crate::ledger::verify_dir(dir, key).unwrap();
    let checkpoints = checkpoint::check_all(dir, verifier).unwrap();
    let mut range = RangeReader::new(opts.selection.clone(), opts.trends);
    let bytes = std::fs::read(dir.join(crate::ledger::LOG_FILE)).unwrap_or_default();
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    // The piece after the last newline: empty, or an incomplete line.
    lines.pop();
    for line in lines {
        range.add(serde_json::from_slice::<Rec>(line).ok());
    }
    Read {
        checked: Checked {
            verify,
            checkpoints,
        },
        range,
    }
}

fn decision_with(verdict: &str, tool_use: &str, policy: &str) -> Value {
    json!({"event": "decision", "door": "hook", "tool": "Bash", "session": "s1",
           "agent": "claude-code", "cwd": "/p", "tool_use_id": tool_use, "action": "command_execute",
           "target": ["command_execute:ls"], "risk": if verdict == "deny" { "high" } else { "low" },
           "flags": [], "findings": [], "verdict": verdict,
           "rules": if verdict == "allow" { json!([]) } else { json!(["sys.privilege"]) },
           "reason": if verdict == "allow" { "" } else { "privilege escalation is not allowed" },
           "policy": policy, "policy_name": "strict", "input_sha256": format!("sha256:{}", "0".repeat(64))})
}

fn post(tool_use: &str) -> Value {
    json!({"event": "tool.post", "door": "hook", "agent": "claude-code", "session": "s1",
           "tool_name": "Bash", "tool_use_id": tool_use, "outcome": {"status": "ok"}})
}

fn start() -> Value {
    json!({"event": "session.start", "door": "hook", "agent": "claude-code", "session": "s1",
           "action": "session_start", "armed": true})
}

/// A normal session: start, an allowed call that ran, a denied call, end.
fn session(c: &Case, t: i64) -> Vec<(i64, Value)> {
    vec![
        (t, start()),
        (t + 1, c.decision("allow", "u1")),
        (t + 2, post("u1")),
        (t + 3, c.decision("deny", "u2")),
        (
            t + 4,
            json!({"event": "session.end", "door": "hook", "agent": "claude-code", "session": "s1", "action": "session_end"}),
        ),
    ]
}

fn control<'a>(r: &'a Report, fw: &str, id: &str) -> &'a super::ControlResult {
    r.controls()
        .find(|c| c.framework == fw && c.id == id)
        .unwrap_or_else(|| panic!("no control {fw} {id}"))
}

fn level(r: &Report, fw: &str, id: &str, predicate: &str) -> Level {
    control(r, fw, id)
        .predicates
        .iter()
        .find(|p| p.name == predicate)
        .unwrap_or_else(|| panic!("{id} has no {predicate}"))
        .level
}

#[test]
fn intact_ledger_satisfies_access_control_with_pointers() {
    let c = Case::new("strict");
    c.write(&session(&c, T0));
    let r = c.all();
    assert!(r.integrity.verified);
    let cc61 = control(&r, "soc2", "CC6.1");
    assert_eq!(cc61.status, Status::Satisfied, "{}", cc61.reason);
    assert_eq!(level(&r, "soc2", "CC6.1", "VERIFIED"), Level::Holds);
    assert_eq!(level(&r, "soc2", "CC6.1", "COVERED"), Level::Holds);
    // The pointers name the range, its tip and the policy hash stamped on the decisions.
    let tip = r.range.tip.clone().unwrap();
    assert!(
        cc61.evidence
            .iter()
            .any(|e| e.seqs == Some((0, 4)) && e.hash.as_deref() == Some(tip.as_str()))
    );
    assert!(
        cc61.evidence
            .iter()
            .any(|e| e.hash.as_deref() == Some(c.policy.hash()))
    );
    // Integrity without a seal or checkpoint: not signed, not anchored.
    assert_eq!(level(&r, "soc2", "CC2.1", "SIGNED"), Level::Fails);
    assert_eq!(level(&r, "soc2", "CC2.1", "ANCHORED"), Level::Fails);
    assert_eq!(
        control(&r, "soc2", "CC2.1").status,
        Status::PartiallySatisfied
    );
    assert!(r.controls().count() >= 45);
}

#[test]
fn seals_give_hmac_only_signing_and_never_anchoring() {
    let c = Case::new("strict");
    c.write(&session(&c, T0));
    c.seal();
    let r = c.all();
    assert!(r.integrity.verified, "{:?}", r.integrity);
    let p = control(&r, "iso27001", "A.5.28");
    assert_eq!(level(&r, "iso27001", "A.5.28", "SIGNED"), Level::Partial);
    assert!(
        p.predicates[1].reason.contains("HMAC_ONLY"),
        "{}",
        p.predicates[1].reason
    );
    assert!(p.evidence.iter().any(|e| e.kind == "seal"));
    assert_eq!(level(&r, "iso27001", "A.5.28", "ANCHORED"), Level::Fails);
    assert_eq!(p.status, Status::PartiallySatisfied);
    // A seal made before the range end does not cover it.
    let c = Case::new("strict");
    let mut recs = session(&c, T0);
    c.write(&recs);
    c.seal();
    recs.push((T0 + 9, c.decision("allow", "u3")));
    c.write(&recs);
    let r = c.all();
    assert_eq!(level(&r, "iso27001", "A.5.28", "SIGNED"), Level::Fails);
}

#[test]
fn an_edited_record_fails_every_record_dependent_control_naming_the_seq() {
    let c = Case::new("strict");
    c.write(&session(&c, T0));
    let log = c.ledger().join(crate::ledger::LOG_FILE);
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(
        &log,
        text.replacen("\"verdict\":\"deny\"", "\"verdict\":\"allow\"", 1),
    )
    .unwrap();
    let r = c.all();
    assert!(!r.integrity.verified);
    assert_eq!(r.integrity.first_bad_seq, Some(3));
    for id in ["CC6.1", "CC2.1", "CC7.2", "CC8.1"] {
        let ctl = control(&r, "soc2", id);
        assert_eq!(ctl.status, Status::NotSatisfied, "{id}: {}", ctl.reason);
        assert!(ctl.reason.contains("seq 3"), "{id}: {}", ctl.reason);
    }
    // A control that only reads the policy is capped, not failed.
    let a13 = control(&r, "eu-ai-act", "Art. 13");
    assert_ne!(a13.status, Status::Satisfied);
    // A range that ends before the damage still verifies.
    let early = c.report(&Options {
        selection: Selection::Seqs(0, 2),
        ..Options::default()
    });
    assert!(early.integrity.verified);
    assert_eq!(level(&early, "soc2", "CC6.1", "VERIFIED"), Level::Holds);
}

#[test]
fn truncation_behind_a_seal_fails_verification() {
    let c = Case::new("strict");
    let recs = session(&c, T0);
    c.write(&recs);
    c.seal();
    c.write(&recs[..3]);
    let r = c.all();
    assert!(!r.integrity.verified);
    let a815 = control(&r, "iso27001", "A.8.15");
    assert_eq!(a815.status, Status::NotSatisfied);
    assert!(a815.reason.contains("truncated"), "{}", a815.reason);
}

#[test]
fn real_checkpoints_sign_and_a_witness_anchors_with_pointers() {
    let c = Case::new("strict");
    c.write(&session(&c, T0));
    let cp = c.checkpoint();
    // The session's 5 records and the ledger's own `state_rebuilt` record (no tip cache yet).
    assert_eq!(cp.size, 6);
    let r = c.all();
    assert!(r.integrity.verified, "{:?}", r.integrity);
    assert_eq!(r.integrity.checkpoints, 1);
    // The range ends on the checkpoint's own record: signed, not yet anchored.
    assert_eq!(level(&r, "soc2", "CC2.1", "SIGNED"), Level::Holds);
    assert_eq!(level(&r, "soc2", "CC2.1", "ANCHORED"), Level::Fails);
    assert_eq!(
        control(&r, "soc2", "CC2.1").status,
        Status::PartiallySatisfied
    );
    let ev = &control(&r, "soc2", "CC2.1").evidence;
    let pointer = ev.iter().find(|e| e.kind == "checkpoint").expect("pointer");
    assert_eq!(pointer.hash.as_deref(), Some(cp.root.as_str()));
    assert_eq!(pointer.seqs, Some((0, 5)));
    assert!(
        pointer
            .description
            .contains("ledger/checkpoints/00000000000000000006.note")
            && pointer.description.contains(&cp.note_sha256),
        "{}",
        pointer.description
    );
    c.witness(&cp);
    let r = c.all();
    let cc21 = control(&r, "soc2", "CC2.1");
    assert_eq!(cc21.status, Status::Satisfied, "{}", cc21.reason);
    assert!(
        cc21.evidence
            .iter()
            .any(|e| e.description.contains("cosigned by witness.example/w1")),
        "{:?}",
        cc21.evidence
    );
    assert_eq!(control(&r, "pci-dss", "10.3.3").status, Status::Satisfied);
    // Records after the witnessed checkpoint: still anchored within the lag, but the unsigned
    // tail makes SIGNED partial until the next checkpoint.
    let ledger = Ledger::open(&c.ledger()).unwrap();
    ledger
        .append(c.decision("allow", "u9").as_object().unwrap().clone())
        .unwrap();
    let r = c.all();
    assert_eq!(level(&r, "soc2", "CC2.1", "SIGNED"), Level::Partial);
    assert_eq!(level(&r, "soc2", "CC2.1", "ANCHORED"), Level::Holds);
    // Without the checkpoint key (an auditor without --pubkey) nothing counts as signed.
    std::fs::rename(
        c.home.join("keys").join(checkpoint::KEY_FILE),
        c.home.join("moved.key"),
    )
    .unwrap();
    let r = c.all();
    assert_eq!(r.integrity.checkpoints, 0);
    assert_ne!(level(&r, "soc2", "CC2.1", "SIGNED"), Level::Holds);
    assert_eq!(level(&r, "soc2", "CC2.1", "ANCHORED"), Level::Fails);
}

#[test]
fn truncation_behind_a_checkpoint_fails_every_predicate_that_needs_the_records() {
    let c = Case::new("strict");
    c.write(&session(&c, T0));
    let cp = c.checkpoint();
    c.witness(&cp);
    let intact = c.all();
    assert_eq!(control(&intact, "soc2", "CC2.1").status, Status::Satisfied);
    // The agent cuts its last records (the denial among them) and the tip cache: the chain
    // that is left verifies on its own, only the checkpoint knows there were 5 records.
    c.rechain(3, |_, _| {});
    assert!(crate::ledger::verify_dir(&c.ledger(), None).unwrap().intact);
    let r = c.all();
    assert!(!r.integrity.verified);
    assert_eq!(r.integrity.first_bad_seq, Some(3));
    assert!(
        r.integrity
            .damage
            .as_deref()
            .unwrap_or("")
            .contains("truncated"),
        "{:?}",
        r.integrity.damage
    );
    let mut seen = std::collections::BTreeSet::new();
    for ctl in r.controls() {
        for p in &ctl.predicates {
            seen.insert(p.name.clone());
            let pred = super::predicates::Predicate::parse(&p.name).unwrap();
            match p.name.as_str() {
                "VERIFIED" => {
                    assert_eq!(p.level, Level::Fails, "{}", p.reason);
                    assert!(p.reason.contains("seq 3"), "{}", p.reason);
                }
                // The checkpoint that covered the cut records no longer counts.
                "SIGNED" | "ANCHORED" => assert_eq!(p.level, Level::Fails, "{}", p.reason),
                _ => {}
            }
            if pred.reads_records() || p.name == "VERIFIED" {
                assert_eq!(
                    ctl.status,
                    Status::NotSatisfied,
                    "{} {} ({}): {}",
                    ctl.framework,
                    ctl.id,
                    p.name,
                    ctl.reason
                );
                assert!(ctl.reason.contains("seq 3"), "{}: {}", ctl.id, ctl.reason);
            }
        }
    }
    assert!(seen.contains("SIGNED") && seen.contains("ANCHORED") && seen.len() > 30);
    assert_eq!(
        control(&r, "pci-dss", "10.3.3").status,
        Status::NotSatisfied
    );
}

#[test]
fn a_rewrite_behind_a_checkpoint_names_the_first_unvouched_seq() {
    let c = Case::new("strict");
    let recs = session(&c, T0);
    c.write(&recs[..3]);
    let first = c.checkpoint();
    let ledger = Ledger::open(&c.ledger()).unwrap();
    for (_, v) in &recs[3..] {
        ledger.append(v.as_object().unwrap().clone()).unwrap();
    }
    let second = c.checkpoint();
    assert!(second.size > first.size + 1);
    assert!(c.all().integrity.verified);
    // The denial after the first checkpoint becomes an allow, everything re-chained: plain
    // verify passes.
    c.rechain(usize::MAX, |_, f| {
        if f.get("verdict") == Some(&json!("deny")) {
            f.insert("verdict".into(), json!("allow"));
        }
    });
    assert!(crate::ledger::verify_dir(&c.ledger(), None).unwrap().intact);
    let r = c.all();
    assert!(!r.integrity.verified);
    // The first checkpoint still matches: the damage starts after it.
    assert_eq!(r.integrity.first_bad_seq, Some(first.size));
    assert_eq!(r.integrity.checkpoints, 1);
    let cc21 = control(&r, "soc2", "CC2.1");
    assert_eq!(cc21.status, Status::NotSatisfied);
    assert!(cc21.reason.contains("rewritten"), "{}", cc21.reason);
    // A range inside the still-vouched records verifies and is signed.
    let early = c.report(&Options {
        selection: Selection::Seqs(0, first.size - 1),
        ..Options::default()
    });
    assert!(early.integrity.verified);
    assert_eq!(level(&early, "soc2", "CC2.1", "SIGNED"), Level::Holds);
}

#[test]
fn a_policy_change_mid_range_needs_a_recorded_approved_change() {
    let c = Case::new("strict");
    let other = format!("sha256:{}", "a".repeat(64));
    let mut recs = session(&c, T0);
    recs.push((T0 + 10, decision_with("allow", "u5", &other)));
    c.write(&recs);
    let r = c.all();
    let cc71 = control(&r, "soc2", "CC7.1");
    assert_eq!(cc71.status, Status::NotSatisfied);
    assert!(cc71.reason.contains("seq 5"), "{}", cc71.reason);
    // Two policies in force: the loaded one's rules are no longer taken as the range's.
    assert_eq!(level(&r, "soc2", "CC6.7", "RULES(exfil)"), Level::Partial);
    // Recorded, but by the agent itself: the change is explained, not approved.
    recs.insert(
        5,
        (
            T0 + 9,
            json!({"event": "policy.change", "session": "s1", "approver": "s1"}),
        ),
    );
    c.write(&recs);
    let r = c.all();
    assert_eq!(level(&r, "soc2", "CC7.1", "CHANGES"), Level::Holds);
    assert_eq!(level(&r, "soc2", "CC6.3", "CHANGES_APPROVED"), Level::Fails);
    recs[5].1["approver"] = json!("alice@example.com");
    c.write(&recs);
    let r = c.all();
    assert_eq!(level(&r, "soc2", "CC6.3", "CHANGES_APPROVED"), Level::Holds);
}

#[test]
fn an_audit_mode_window_is_only_partial_enforcement() {
    let c = Case::new("strict");
    let mut recs = session(&c, T0);
    let mut audited = c.decision("allow", "u7");
    audited["would_be"] = json!("deny");
    recs.push((T0 + 10, audited.clone()));
    recs.push((T0 + 11, audited));
    c.write(&recs);
    let r = c.all();
    let cc61 = control(&r, "soc2", "CC6.1");
    assert_eq!(cc61.status, Status::PartiallySatisfied);
    assert!(
        cc61.reason.contains("audit mode") && cc61.reason.contains("5..6"),
        "{}",
        cc61.reason
    );
    assert_eq!(
        level(&r, "pci-dss", "10.2.1.6", "LIFECYCLE"),
        Level::Partial
    );
    // An audit-mode policy's rules are shadow rules.
    let a = Case::new("audit");
    a.write(&session(&a, T0));
    let r = a.all();
    assert_eq!(
        level(&r, "iso27001", "A.8.3", "RULES(secrets)"),
        Level::Partial
    );
}

#[test]
fn an_enforcement_gap_fails_coverage() {
    let c = Case::new("strict");
    let mut recs = session(&c, T0);
    recs.push((
        T0 + 10,
        json!({"event": "enforcement.gap", "door": "hook", "agent": "claude-code", "session": "s1", "gap": "no_decision"}),
    ));
    c.write(&recs);
    let r = c.all();
    for (fw, id) in [
        ("soc2", "CC6.1"),
        ("iso27001", "A.8.15"),
        ("eu-ai-act", "Art. 12(1)"),
        ("pci-dss", "10.2.1"),
    ] {
        let ctl = control(&r, fw, id);
        assert_eq!(ctl.status, Status::NotSatisfied, "{id}: {}", ctl.reason);
        assert!(ctl.reason.contains("seq 5"), "{id}: {}", ctl.reason);
    }
    // A denied call that ran anyway (an MCP outcome pointing at a denied decision).
    let mut recs = session(&c, T0);
    recs.push((
        T0 + 10,
        json!({"event": "outcome", "door": "mcp", "agent": "a", "session": "s1", "decision_seq": 3}),
    ));
    c.write(&recs);
    assert_eq!(level(&c.all(), "soc2", "CC6.1", "COVERED"), Level::Fails);
}

#[test]
fn denials_alone_pass_nothing() {
    // Only denials, by a policy without rules: the denials are recorded but prove no control.
    let c = Case::new("strict");
    c.write(&[
        (T0, c.decision("deny", "u1")),
        (T0 + 1, c.decision("deny", "u2")),
    ]);
    let r = c.all();
    assert_eq!(level(&r, "soc2", "CC6.1", "COVERED"), Level::Holds);
    // No session start, no outcome: those predicates do not hold.
    assert_ne!(
        level(&r, "eu-ai-act", "Art. 12(2)", "SESSIONS"),
        Level::Holds
    );
    assert_ne!(
        control(&r, "eu-ai-act", "Art. 12(2)").status,
        Status::Satisfied
    );
    // An empty ledger satisfies nothing.
    let e = Case::new("strict");
    e.write(&[]);
    let r = e.all();
    assert!(r.controls().all(|c| c.status != Status::Satisfied));
}

#[test]
fn not_applicable_needs_absent_activity_and_full_coverage() {
    let c = Case::new("strict");
    c.write(&session(&c, T0));
    let r = c.all();
    assert_eq!(control(&r, "soc2", "CC6.6").status, Status::NotApplicable);
    let mut recs = session(&c, T0);
    let mut net = c.decision("allow", "u9");
    net["flags"] = json!(["network_egress"]);
    recs.push((T0 + 10, net));
    c.write(&recs);
    let r = c.all();
    assert_ne!(control(&r, "soc2", "CC6.6").status, Status::NotApplicable);
    // No CDE tagging is never not applicable: it is partial.
    assert_eq!(
        level(&r, "pci-dss", "10.2.1.1", "RULES(cde)"),
        Level::Partial
    );
    // Declared out of scope.
    let r = c.report(&Options {
        out_of_scope: vec!["hipaa".into()],
        ..Options::default()
    });
    assert!(
        r.frameworks
            .iter()
            .find(|f| f.id == "hipaa")
            .unwrap()
            .controls
            .iter()
            .all(|c| c.status == Status::NotApplicable)
    );
}

#[test]
fn identity_and_commitments_are_checked_per_record() {
    let c = Case::new("strict");
    let mut recs = session(&c, T0);
    let mut anon = c.decision("allow", "u4");
    anon.as_object_mut().unwrap().remove("session");
    anon["input"] = json!({"command": "ls"});
    recs.push((T0 + 10, anon));
    c.write(&recs);
    let r = c.all();
    let a516 = control(&r, "iso27001", "A.5.16");
    assert_eq!(
        level(&r, "iso27001", "A.5.16", "IDENTIFIED"),
        Level::Partial
    );
    assert!(a516.reason.contains("seq 5"), "{}", a516.reason);
    assert_eq!(
        control(&r, "gdpr", "Art. 5(1)(c)").status,
        Status::NotSatisfied
    );
}

#[test]
fn rules_come_from_the_policy_in_force() {
    let c = Case::new("standard");
    c.write(&session(&c, T0));
    let r = c.all();
    // The standard profile has no exfiltration rule; strict has.
    assert_eq!(control(&r, "soc2", "CC6.7").status, Status::NotSatisfied);
    let s = Case::new("strict");
    s.write(&session(&s, T0));
    assert_eq!(
        level(&s.all(), "soc2", "CC6.7", "RULES(exfil)"),
        Level::Holds
    );
}

#[test]
fn gaps_name_a_fix_and_an_effort() {
    let c = Case::new("strict");
    c.write(&session(&c, T0));
    let r = c.report(&Options {
        include_gaps: true,
        ..Options::default()
    });
    let gaps = r.gaps.as_ref().unwrap();
    let signed = gaps
        .iter()
        .find(|g| g.control == "CC2.1" && g.predicate == "SIGNED")
        .unwrap();
    assert!(
        signed.fix.contains("patchwork-gateway checkpoint"),
        "{}",
        signed.fix
    );
    assert!(
        gaps.iter()
            .all(|g| !g.fix.is_empty() && !g.effort.is_empty())
    );
    assert!(
        gaps.iter()
            .all(|g| matches!(g.status, Status::NotSatisfied | Status::PartiallySatisfied))
    );
}

#[test]
fn trends_split_by_day_and_time_selection_picks_records() {
    let c = Case::new("strict");
    let mut recs = session(&c, T0);
    recs.extend(session(&c, T0 + DAY));
    c.write(&recs);
    let r = c.report(&Options {
        trends: Some(Period::Day),
        ..Options::default()
    });
    let t = r.trends.unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(
        (t[0].window.as_str(), t[0].first_seq, t[0].last_seq),
        ("2026-12-01", 0, 4)
    );
    assert_eq!((t[1].window.as_str(), t[1].denied), ("2026-12-02", 1));
    assert!(t[0].satisfied > 0 && t[0].satisfied <= t[0].evaluated);
    let second = c.report(&Options {
        selection: Selection::Time {
            since: Some(T0 + DAY),
            until: None,
        },
        ..Options::default()
    });
    assert_eq!(
        (second.range.first_seq, second.range.last_seq),
        (Some(5), Some(9))
    );
    assert_eq!(Period::Week.key(T0), "2026-W49");
    assert_eq!(Period::Month.key(T0), "2026-12");
}

#[test]
fn every_format_opens_with_the_disclaimer_and_scopes() {
    let c = Case::new("strict");
    c.write(&session(&c, T0));
    let r = c.report(&Options {
        include_gaps: true,
        ..Options::default()
    });
    for f in [Format::Json, Format::Markdown, Format::Html, Format::Oscal] {
        let text = render(&r, f).unwrap();
        let head = &text[..text.len().min(6000)];
        assert!(
            head.contains("evidence, not certification")
                || head.contains("Evidence, not certification"),
            "{f:?}"
        );
        assert!(
            head.contains("eu-ai-act: benchmark") || head.contains("benchmark"),
            "{f:?}"
        );
    }
    let in_scope = c.report(&Options {
        ai_act_in_scope: true,
        ..Options::default()
    });
    let ai = in_scope
        .frameworks
        .iter()
        .find(|f| f.id == "eu-ai-act")
        .unwrap();
    assert_eq!(ai.scope, "in scope");
}

#[test]
fn html_is_escaped_and_self_contained() {
    let c = Case::new("strict");
    let mut d = c.decision("deny", "u1");
    d["session"] = json!("<script>alert(1)</script>");
    c.write(&[(T0, d)]);
    let html = render(&c.all(), Format::Html).unwrap();
    assert!(!html.contains("<script>"), "unescaped markup");
    assert!(html.contains("Content-Security-Policy") && html.contains("default-src 'none'"));
    for external in ["http://", "https://", "src=", "<link"] {
        assert!(!html.contains(external), "{external}");
    }
}

#[test]
fn oscal_is_deterministic_and_uses_valid_tokens() {
    let c = Case::new("strict");
    c.write(&session(&c, T0));
    c.seal();
    let a = render(&c.all(), Format::Oscal).unwrap();
    let b = render(&c.all(), Format::Oscal).unwrap();
    assert_eq!(a, b);
    let v: Value = serde_json::from_str(&a).unwrap();
    let tok = regex::Regex::new(r"^(\p{L}|_)(\p{L}|\p{N}|[.\-_])*$").unwrap();
    let ids: Vec<&str> = v["assessment-results"]["results"][0]["reviewed-controls"]["control-selections"][0]
        ["include-controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["control-id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 75);
    let unique: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), 75);
    assert!(ids.iter().all(|i| tok.is_match(i)), "{ids:?}");
    // Every "#uuid" reference resolves to a back-matter resource.
    let resources: Vec<String> = v["assessment-results"]["back-matter"]["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("#{}", r["uuid"].as_str().unwrap()))
        .collect();
    for href in a
        .lines()
        .filter_map(|l| l.trim().strip_prefix("\"href\": \"#"))
    {
        let href = format!("#{}", href.trim_end_matches(['"', ',']));
        assert!(resources.contains(&href), "{href}");
    }
}

#[test]
fn unknown_frameworks_are_refused() {
    let c = Case::new("strict");
    c.write(&[]);
    let e = evaluate(
        &c.ledger(),
        None,
        None,
        None,
        &Options {
            frameworks: vec!["sox".into()],
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown framework `sox`"));
}

#[test]
fn odd_and_damaged_lines_read_the_same_in_one_pass_as_in_a_full_parse() {
    let c = Case::new("strict");
    let mut recs = session(&c, T0);
    let odd = [
        // Escapes in strings and lists, a secret in a target, text beyond ASCII.
        json!({"event": "decision", "session": "s\"1\n", "agent": "claude-code", "verdict": "deny",
               "rules": ["a\"b", "c"], "reason": "r\\s", "tool": "Bash", "policy": c.policy.hash(),
               "target": ["command_execute:aws s3 ls --secret AKIAIOSFODNN7EXAMPLE", "é"]}),
        // A member of another type than the report reads: the whole record is skipped.
        json!({"event": "decision", "rules": "sys.privilege", "verdict": "deny"}),
        json!({"event": 5, "session": "s1"}),
        json!({"event": "decision", "target": ["a", 1], "verdict": "allow"}),
        json!({"event": "decision", "flags": ["a", null, "b"], "verdict": "allow"}),
        json!({"event": "session.start", "armed": "yes", "session": "s2"}),
        json!({"event": "outcome", "decision_seq": -1}),
        json!({"event": "outcome", "decision_seq": 3, "tool_use_id": "u2"}),
        // Null members are absent ones; raw payloads of any kind are present.
        json!({"event": "decision", "session": null, "target": null, "input": null,
               "output": {"x": [1, 2]}, "verdict": "ask", "tool_use_id": "u8"}),
        json!({"event": "tool.post", "input": "raw", "clock": {"skew_ms": 1}, "tool_use_id": "u8",
               "agent": "a", "session": "s3"}),
        json!({"event": "decision", "target": [], "flags": ["network_egress", "privilege"],
               "action": "web_fetch", "verdict": "flag", "rules": [""], "reason": "x"}),
        json!({"event": "decision", "target": ["x\",\"y", "z"], "verdict": "allow"}),
        json!({"event": "policy.change", "approver": "alice", "session": "s1"}),
        json!({"event": "policy.test", "passed": true, "policy": "sha256:abc"}),
        json!({"event": "review.signoff", "\u{1}odd key": 1}),
    ];
    for (i, v) in odd.into_iter().enumerate() {
        recs.push((T0 + 10 + i as i64, v));
    }
    c.write(&recs);
    let r = c.all();
    assert!(r.integrity.verified, "{:?}", r.integrity);
    // Damaged lines: valid JSON but not canonical (parsed in full, as before), not JSON, a
    // ledger member of the wrong type, and an incomplete last line.
    let log = c.ledger().join(crate::ledger::LOG_FILE);
    let mut text = std::fs::read_to_string(&log).unwrap();
    let spaced = text.lines().nth(3).unwrap().replacen(':', ": ", 1);
    text.push_str(&format!(
        "{spaced}\nnot json\n{{\"event\":\"decision\",\"seq\":\"7\",\"ts\":1}}\n{{\"event\":\"x\""
    ));
    std::fs::write(&log, text).unwrap();
    let r = c.all();
    assert!(!r.integrity.verified);
    for selection in [
        Selection::Seqs(2, 9),
        Selection::Time {
            since: Some(T0 + 3),
            until: Some(T0 + 15),
        },
    ] {
        c.report(&Options {
            selection,
            trends: Some(Period::Day),
            ..Options::default()
        });
    }
}
