//! Unit tests of policy loading, validation, matchers and evaluation, with hand-built
//! classifications.

use super::matchers::host_of;
use super::*;
use crate::call::{Door, Finding, Target, TargetKind};
use serde_json::json;

fn env() -> Env {
    Env {
        home: "/home/u".into(),
        patchwork_home: "/home/u/.patchwork".into(),
        project: "/work/app".into(),
    }
}

fn policy(yaml: &str) -> Policy {
    Policy::parse(yaml, Source::File("test.yaml".into()), &env()).unwrap_or_else(|e| panic!("{e}"))
}

fn problems(yaml: &str) -> PolicyError {
    Policy::parse(yaml, Source::File("bad.yaml".into()), &env()).expect_err("should not load")
}

fn bash(cmd: &str) -> ToolCall {
    ToolCall::new(
        Door::Hook,
        "Bash",
        json!({ "command": cmd }),
        "/work/app".into(),
    )
}

fn finding(id: &str, risk: Risk, flags: &[Flag]) -> Finding {
    Finding {
        id: id.into(),
        risk,
        flags: flags.to_vec(),
        detail: format!("detail of {id}"),
        span: String::new(),
    }
}

fn path(action: Action, p: &str) -> Target {
    Target {
        kind: TargetKind::Path,
        action,
        value: p.into(),
    }
}

fn cls(action: Action, targets: Vec<Target>, findings: Vec<Finding>) -> Classification {
    Classification {
        action: Some(action),
        targets,
        segments: Vec::new(),
        findings,
        object: None,
    }
}

fn segments(cmd: &[&[&str]]) -> Classification {
    Classification {
        action: Some(Action::CommandExecute),
        targets: Vec::new(),
        segments: cmd
            .iter()
            .map(|s| s.iter().map(|w| w.to_string()).collect())
            .collect(),
        findings: Vec::new(),
        object: None,
    }
}

const HEAD: &str = "name: t\nmode: enforce\nmax_risk: critical\ndefault: allow\n";

fn with_rules(rules: &str) -> Policy {
    policy(&format!("{HEAD}rules:\n{rules}"))
}

// --- loading ------------------------------------------------------------------------------

#[test]
fn builtin_profiles_load_by_name() {
    for name in profiles::NAMES {
        let p = Policy::load(Some(name), &env()).unwrap();
        assert_eq!(p.name, name);
        assert_eq!(p.source(), &Source::Builtin(name));
        let text = profiles::builtin(name).unwrap().yaml;
        assert_eq!(
            p.hash(),
            format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
        );
    }
    assert_eq!(
        Policy::load(Some("strict"), &env()).unwrap().max_risk(),
        Risk::Medium
    );
    assert_eq!(
        Policy::load(Some("standard"), &env()).unwrap().max_risk(),
        Risk::High
    );
    let audit = Policy::load(Some("audit"), &env()).unwrap();
    assert_eq!(audit.mode, Mode::Audit);
    assert_eq!(audit.on_error(), Effect::Allow);
}

#[test]
fn builtin_rule_ids_cannot_be_mistaken_for_finding_ids() {
    // Finding ids are `family.name`; the profiles' rule ids are kebab-case words, so a rule
    // named in a verdict never reads as a finding (nor a finding as a rule).
    for name in profiles::NAMES {
        for r in Policy::load(Some(name), &env()).unwrap().rules() {
            assert!(
                r.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{name}: rule `{}` is not kebab-case",
                r.id
            );
            assert!(crate::policy::findings::lookup(&r.id).is_none(), "{}", r.id);
        }
    }
}

#[test]
fn builtin_profiles_load_the_same_from_json_as_from_their_yaml() {
    for name in profiles::NAMES {
        let profile = profiles::builtin(name).unwrap();
        let from_json = Policy::builtin_for(name, &env()).unwrap();
        let from_yaml = Policy::parse(profile.yaml, Source::Builtin(profile.name), &env()).unwrap();
        assert_eq!(format!("{from_json:?}"), format!("{from_yaml:?}"), "{name}");
        let raw_json: super::schema::RawPolicy = serde_json::from_str(profile.json).unwrap();
        // Parsed with every check: what lets the JSON form skip the glob syntax checks.
        assert!(!super::schema::is_prechecked());
        let raw_yaml: super::schema::RawPolicy = serde_yaml_ng::from_str(profile.yaml).unwrap();
        assert_eq!(format!("{raw_json:?}"), format!("{raw_yaml:?}"), "{name}");
        assert!(from_json.rules().len() > 2, "{name} has its rules");
    }
}

#[test]
fn a_file_copy_of_a_profile_loads_like_the_profile_and_an_edited_copy_too() {
    let dir = tempfile::tempdir().unwrap();
    let strict = profiles::builtin("strict").unwrap();
    let copy = dir.path().join("copy.yaml");
    std::fs::write(&copy, strict.yaml).unwrap();
    let edited = dir.path().join("edited.yaml");
    std::fs::write(
        &edited,
        format!("{}\n# a comment of the user's\n", strict.yaml),
    )
    .unwrap();
    let from_copy = Policy::from_file(&copy, &env()).unwrap();
    let from_edit = Policy::from_file(&edited, &env()).unwrap();
    let builtin = Policy::builtin_for("strict", &env()).unwrap();
    assert_eq!(from_copy.hash(), strict.hash);
    assert_ne!(from_edit.hash(), strict.hash);
    assert_eq!(from_copy.source(), &Source::File(copy.clone()));
    // Same rules and protection (each file also protects itself).
    let rules = |p: &Policy| format!("{:?}", p.rules());
    assert_eq!(rules(&from_copy), rules(&builtin));
    assert_eq!(rules(&from_edit), rules(&builtin));
    let set = |p: &Policy| format!("{:?}", p.protected_paths());
    assert_eq!(set(&from_copy), set(&from_edit));
}

#[test]
fn load_without_spec_prefers_trusted_project_then_home_then_standard() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        home: dir.path().join("home"),
        patchwork_home: dir.path().join("pw"),
        project: dir.path().join("proj"),
    };
    assert_eq!(Policy::load(None, &env).unwrap().name, "standard");
    std::fs::create_dir_all(&env.patchwork_home).unwrap();
    std::fs::write(env.patchwork_home.join("policy.yaml"), "name: from-home\n").unwrap();
    assert_eq!(Policy::load(None, &env).unwrap().name, "from-home");
    std::fs::create_dir_all(env.project.join(".patchwork")).unwrap();
    std::fs::write(
        env.project.join(".patchwork/policy.yaml"),
        "name: from-project\n",
    )
    .unwrap();
    assert_eq!(
        Policy::load(None, &env).unwrap().name,
        "from-home",
        "an untrusted project policy is ignored"
    );
    super::trust::trust(&env.project.join(".patchwork/policy.yaml"), &env).unwrap();
    let p = Policy::load(None, &env).unwrap();
    assert_eq!(p.name, "from-project");
    assert_eq!(
        p.source(),
        &Source::File(env.project.join(".patchwork/policy.yaml"))
    );
    // A path spec wins over both.
    let other = dir.path().join("other.yaml");
    std::fs::write(&other, "name: other\n").unwrap();
    assert_eq!(
        Policy::load(Some(other.to_str().unwrap()), &env)
            .unwrap()
            .name,
        "other"
    );
    // A missing file is an error, not a fallback.
    let err = Policy::load(Some("/nonexistent/policy.yaml"), &env).unwrap_err();
    assert!(format!("{err:#}").contains("/nonexistent/policy.yaml"));
}

#[test]
fn defaults_when_keys_are_omitted() {
    let p = policy("name: bare\n");
    assert_eq!(p.mode, Mode::Enforce);
    assert_eq!(p.max_risk(), Risk::Critical);
    assert_eq!(p.default_effect(), Effect::Allow);
    assert_eq!(p.on_error(), Effect::Deny);
    assert!(p.rules().is_empty());
}

// --- validation -------------------------------------------------------------------------------

fn one(err: &PolicyError) -> &Problem {
    assert_eq!(err.problems.len(), 1, "{err}");
    &err.problems[0]
}

#[test]
fn unknown_top_level_key_is_named_with_its_line() {
    let err = problems("name: x\nmood: audit\n");
    let p = one(&err);
    assert_eq!((p.line, p.field.as_str()), (Some(2), "mood"));
    assert!(p.message.contains("unknown field"), "{}", p.message);
    assert!(
        err.to_string()
            .starts_with("bad.yaml:2: mood: unknown field")
    );
}

#[test]
fn unknown_rule_key_is_named() {
    let err = problems(&format!(
        "{HEAD}rules:\n  - id: a\n    effect: deny\n    reason: r\n    risk: high\n    pathz: [x]\n"
    ));
    let p = one(&err);
    assert_eq!((p.line, p.field.as_str()), (Some(10), "rules[0].pathz"));
}

#[test]
fn unknown_finding_ids_are_named_with_the_nearest_known_one() {
    let rule = |findings: &str| {
        format!(
            "{HEAD}rules:\n  - id: a\n    effect: deny\n    reason: r\n    findings: {findings}\n"
        )
    };
    let err = problems(&rule("[git.force_push, net.pipe_to_shell]"));
    let p = one(&err);
    assert_eq!((p.line, p.field.as_str()), (Some(9), "rules[0].findings"));
    assert!(p.message.contains("`net.pipe_to_shell`"), "{}", p.message);
    assert!(
        p.message.contains("did you mean `shell.pipe_to_shell`?"),
        "{}",
        p.message
    );
    // A glob must match at least one registered id; nothing close: no guess.
    let err = problems(&rule("['gti.*']"));
    assert!(one(&err).message.contains("not a finding"), "{err}");
    let err = problems(&rule("[quite.unrelated_words_here]"));
    assert!(!one(&err).message.contains("did you mean"), "{err}");
    // Known ids, globs over them and any spelling case load.
    for ok in [
        "[git.force_push]",
        "['mcp.desc.*']",
        "['git.*']",
        "[SECRETS.READ]",
    ] {
        policy(&rule(ok));
    }
}

#[test]
fn an_id_a_finding_was_split_off_still_matches_the_split_off_finding() {
    let p = with_rules(
        "  - id: no-remote-delete\n    effect: deny\n    reason: r\n    findings: [git.remote_delete]\n",
    );
    let gone = cls(
        Action::McpToolCall,
        vec![],
        vec![finding("git.repo_delete", Risk::Critical, &[])],
    );
    assert_eq!(
        p.evaluate(&bash("gh repo delete"), &gone, &env()).rules,
        ["no-remote-delete"]
    );
    let other = cls(
        Action::McpToolCall,
        vec![],
        vec![finding("git.force_push", Risk::High, &[])],
    );
    assert_eq!(
        p.evaluate(&bash("git push -f"), &other, &env()).effect,
        Effect::Allow
    );
}

#[test]
fn invalid_effect_risk_action_flag_mode_are_named() {
    let cases = [
        (
            "    effect: block\n    reason: r\n    risk: high\n",
            7,
            "rules[0].effect",
            "block",
        ),
        (
            "    effect: deny\n    reason: r\n    risk: severe\n",
            9,
            "rules[0].risk",
            "severe",
        ),
        (
            "    effect: deny\n    reason: r\n    action: [file_read, file_nuke]\n",
            9,
            "rules[0].action",
            "file_nuke",
        ),
        (
            "    effect: deny\n    reason: r\n    flags: secret\n",
            9,
            "rules[0].flags",
            "secret",
        ),
    ];
    for (body, line, field, word) in cases {
        let err = problems(&format!("{HEAD}rules:\n  - id: a\n{body}"));
        let p = one(&err);
        assert_eq!(p.line, Some(line), "{err}");
        assert!(p.field.starts_with(field), "{err}");
        assert!(p.message.contains(word), "{err}");
    }
    let err = problems("name: x\nmode: lenient\n");
    assert_eq!(one(&err).field, "mode");
    assert_eq!(one(&err).line, Some(2));
    let err = problems("name: x\non_error: ask\n");
    assert_eq!(one(&err).field, "on_error");
}

#[test]
fn missing_required_fields_are_named() {
    let err = problems("mode: audit\n");
    assert_eq!(one(&err).field, "name");
    let err = problems("# comment\nname: \"\"\n");
    assert_eq!(
        (one(&err).line, one(&err).field.as_str()),
        (Some(2), "name")
    );
    let err = problems(&format!(
        "{HEAD}rules:\n  - id: a\n    effect: deny\n    risk: high\n"
    ));
    assert_eq!(one(&err).field, "rules[0].reason");
}

#[test]
fn invalid_globs_and_variables_are_named_with_their_line() {
    let err = problems(&format!(
        "{HEAD}rules:\n  - id: a\n    effect: deny\n    reason: r\n    paths: [\"src/[a-\"]\n"
    ));
    let p = one(&err);
    assert_eq!(
        (p.line, p.field.as_str()),
        (Some(9), "rules[0].paths[0]"),
        "{err}"
    );
    let err = problems(&format!(
        "{HEAD}rules:\n  - id: a\n    effect: deny\n    reason: r\n    paths: \"${{SECRETS}}/x\"\n"
    ));
    assert!(
        one(&err).message.contains("unknown variable ${SECRETS}"),
        "{err}"
    );
    let err = problems(&format!(
        "{HEAD}rules:\n  - id: a\n    effect: deny\n    reason: r\n    paths: \"$HOME/x\"\n"
    ));
    assert!(one(&err).message.contains("${HOME}"), "{err}");
    let err = problems("name: x\nprotect:\n  - ~bob/x\n");
    assert_eq!(one(&err).field, "protect[0]");
    assert_eq!(one(&err).line, Some(3));
}

#[test]
fn command_patterns_are_checked() {
    let err = problems(&format!(
        "{HEAD}rules:\n  - id: a\n    effect: deny\n    reason: r\n    command: [\"git push\", \"-f\"]\n"
    ));
    assert!(one(&err).message.contains("contains spaces"), "{err}");
    assert_eq!(one(&err).field, "rules[0].command");
    let err = problems(&format!(
        "{HEAD}rules:\n  - id: a\n    effect: deny\n    reason: r\n    command: [git, [push]]\n"
    ));
    assert!(one(&err).message.contains("mixes words and lists"), "{err}");
    let err = problems(&format!(
        "{HEAD}rules:\n  - id: a\n    effect: deny\n    reason: r\n    domain: https://x.com/a\n"
    ));
    assert!(one(&err).message.contains("not a domain"), "{err}");
}

#[test]
fn rule_level_problems_find_the_rule_by_id() {
    let yaml = format!(
        "{HEAD}rules:\n  - id: dup\n    effect: deny\n    reason: r\n    risk: high\n\
         \n  # second\n  - effect: ask\n    reason: r\n    id: dup\n    risk: low\n\
         \n  - id: empty\n    effect: deny\n    reason: r\n\
         \n  - id: max_risk\n    effect: deny\n    reason: \"  \"\n    risk: low\n"
    );
    let err = problems(&yaml);
    let got: Vec<(Option<usize>, &str)> = err
        .problems
        .iter()
        .map(|p| (p.line, p.field.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some(14), "rules[1].id"),
            (Some(17), "rules[2].id"),
            (Some(21), "rules[3].id"),
            (Some(23), "rules[3].reason"),
        ],
        "{err}"
    );
    assert!(err.problems[0].message.contains("duplicate"));
    assert!(err.problems[1].message.contains("no matcher"));
    assert!(err.problems[2].message.contains("reserved"));
}

#[test]
fn yaml_syntax_errors_have_a_line() {
    let err = problems("name: x\nrules:\n  - id: a\n   effect: deny\n");
    assert!(one(&err).line.is_some(), "{err}");
}

// --- matchers ---------------------------------------------------------------------------------

#[test]
fn path_globs_expand_home_variables_and_project() {
    let p = with_rules(
        "  - id: ssh\n    effect: deny\n    reason: r\n    paths: [\"~/.ssh/**\"]\n\
         \n  - id: keys\n    effect: deny\n    reason: r\n    paths: \"${PATCHWORK_HOME}/keys/*\"\n\
         \n  - id: env\n    effect: ask\n    reason: r\n    paths: \"**/.env\"\n\
         \n  - id: rel\n    effect: flag\n    reason: r\n    paths: \"secrets/*.txt\"\n",
    );
    let decide = |p_: &str| {
        let c = cls(Action::FileRead, vec![path(Action::FileRead, p_)], vec![]);
        p.evaluate(&bash("x"), &c, &env()).rules
    };
    assert_eq!(decide("/home/u/.ssh/id_ed25519"), ["ssh"]);
    assert_eq!(decide("/home/u/.patchwork/keys/seal.key"), ["keys"]);
    // `*` stays within one folder.
    assert_eq!(decide("/home/u/.patchwork/keys/a/b"), ["default"]);
    assert_eq!(decide("/work/app/sub/.env"), ["env"]);
    assert_eq!(decide("/work/app/secrets/a.txt"), ["rel"]);
    assert_eq!(decide("/elsewhere/secrets/a.txt"), ["default"]);
    assert_eq!(decide("/home/u/.sshx/id"), ["default"]);
    // `dir/**` is what lies below the folder, not the folder itself.
    assert_eq!(decide("/home/u/.ssh"), ["default"]);
    assert_eq!(decide("/home/u/.ssh/a/b/c"), ["ssh"]);
}

#[test]
fn action_and_paths_must_hold_for_the_same_target() {
    let p = with_rules(
        "  - id: r\n    effect: deny\n    reason: r\n    action: file_read\n    paths: \"**/.env\"\n",
    );
    let c = cls(
        Action::CommandExecute,
        vec![
            path(Action::FileWrite, "/work/app/.env"),
            path(Action::FileRead, "/work/app/a.txt"),
        ],
        vec![],
    );
    assert_eq!(p.evaluate(&bash("x"), &c, &env()).effect, Effect::Allow);
    let c = cls(
        Action::CommandExecute,
        vec![path(Action::FileRead, "/work/app/.env")],
        vec![],
    );
    let v = p.evaluate(&bash("cat .env"), &c, &env());
    assert_eq!(
        (v.effect, v.rules.as_slice()),
        (Effect::Deny, ["r".to_string()].as_slice())
    );
}

#[test]
fn action_matches_primary_action_or_any_target() {
    let p = with_rules("  - id: r\n    effect: ask\n    reason: r\n    action: [file_delete]\n");
    let c = cls(
        Action::CommandExecute,
        vec![path(Action::FileDelete, "/work/app/x")],
        vec![],
    );
    assert_eq!(p.evaluate(&bash("rm x"), &c, &env()).effect, Effect::Ask);
    let c = cls(
        Action::FileRead,
        vec![path(Action::FileRead, "/work/app/x")],
        vec![],
    );
    assert_eq!(p.evaluate(&bash("cat x"), &c, &env()).effect, Effect::Allow);
}

#[test]
fn command_patterns_match_whole_canonical_segments() {
    let p = with_rules(
        "  - id: push\n    effect: deny\n    reason: r\n    command: [git, push, \"**\", \"--force*\", \"**\"]\n\
         \n  - id: exact\n    effect: ask\n    reason: r\n    command: \"git status *\"\n\
         \n  - id: rm\n    effect: flag\n    reason: r\n    command: [[rm, \"-*r*\", \"**\"], [rmdir, \"**\"]]\n",
    );
    let ids = |segs: &[&[&str]]| p.evaluate(&bash("x"), &segments(segs), &env()).rules;
    assert_eq!(ids(&[&["git", "push", "--force", "origin"]]), ["push"]);
    assert_eq!(
        ids(&[&["git", "push", "origin", "main", "--force-with-lease"]]),
        ["push"]
    );
    assert_eq!(ids(&[&["git", "push", "origin", "main"]]), ["default"]);
    // Never a string prefix: `git pushx` and a commit message mentioning push are not pushes.
    assert_eq!(ids(&[&["git", "pushx", "--force"]]), ["default"]);
    assert_eq!(
        ids(&[&["git", "commit", "-m", "git push --force"]]),
        ["default"]
    );
    // `*` is exactly one word.
    assert_eq!(ids(&[&["git", "status", "-s"]]), ["exact"]);
    assert_eq!(ids(&[&["git", "status"]]), ["default"]);
    assert_eq!(ids(&[&["git", "status", "-s", "x"]]), ["default"]);
    // Any segment of a list or pipeline; the command word matches by base name.
    assert_eq!(ids(&[&["ls"], &["/usr/bin/rm", "-rf", "build"]]), ["rm"]);
    assert_eq!(ids(&[&["rmdir"]]), ["rm"]);
    assert_eq!(ids(&[&["rm", "x"]]), ["default"]);
}

#[test]
fn url_and_domain_match_url_targets() {
    let p = with_rules(
        "  - id: gh\n    effect: allow\n    reason: r\n    domain: github.com\n\
         \n  - id: paste\n    effect: deny\n    reason: r\n    url: \"https://paste.*/**\"\n\
         \n  - id: glob\n    effect: ask\n    reason: r\n    domain: \"*.evil.*\"\n",
    );
    let url = |u: &str| {
        let c = cls(
            Action::WebFetch,
            vec![Target {
                kind: TargetKind::Url,
                action: Action::WebFetch,
                value: u.into(),
            }],
            vec![],
        );
        p.evaluate(&bash("x"), &c, &env())
    };
    let v = url("https://api.GitHub.com/repos");
    assert_eq!(v.rules, ["gh"]);
    assert!(v.explicit_allow);
    assert_eq!(url("https://user@github.com:443/x").rules, ["gh"]);
    assert_eq!(url("https://evilgithub.com/").rules, ["default"]);
    assert!(!url("https://evilgithub.com/").explicit_allow);
    assert_eq!(url("https://paste.example/raw/1").rules, ["paste"]);
    assert_eq!(url("http://a.evil.org/x").rules, ["glob"]);
    assert_eq!(host_of("http://[::1]:8080/x"), "::1");
    assert_eq!(host_of("example.com"), "example.com");
}

#[test]
fn mcp_matcher_uses_server_tool_and_arguments() {
    let p = with_rules(
        "  - id: fsw\n    effect: deny\n    reason: r\n    mcp: {server: fs, tool: \"write_*\", argument: {path: \"/etc/**\"}}\n\
         \n  - id: gh\n    effect: flag\n    reason: r\n    mcp: {server: github}\n",
    );
    let call = |tool: &str, input: serde_json::Value| {
        let c = cls(Action::McpToolCall, vec![], vec![]);
        let call = ToolCall::new(Door::Hook, tool, input, "/".into());
        p.evaluate(&call, &c, &env()).rules
    };
    assert_eq!(
        call("mcp__fs__write_file", json!({"path": "/etc/hosts"})),
        ["fsw"]
    );
    assert_eq!(
        call("mcp__fs__write_file", json!({"path": "/tmp/x"})),
        ["default"]
    );
    assert_eq!(
        call("mcp__fs__read_file", json!({"path": "/etc/hosts"})),
        ["default"]
    );
    assert_eq!(call("mcp__github__list_issues", json!({})), ["gh"]);
    assert_eq!(call("Bash", json!({"command": "ls"})), ["default"]);
    // A wrapped upstream names its server on the call.
    let mut wrapped = ToolCall::new(
        Door::Mcp,
        "write_file",
        json!({"path": "/etc/x"}),
        "/".into(),
    );
    wrapped.server = Some("fs".into());
    let c = cls(Action::McpToolCall, vec![], vec![]);
    assert_eq!(p.evaluate(&wrapped, &c, &env()).rules, ["fsw"]);
}

#[test]
fn risk_is_at_least_and_flags_are_any_of() {
    let p = with_rules(
        "  - id: hi\n    effect: ask\n    reason: r\n    risk: high\n\
         \n  - id: net\n    effect: flag\n    reason: r\n    flags: [network_egress, exfiltration]\n\
         \n  - id: del\n    effect: deny\n    reason: r\n    flags: destructive\n    risk: medium\n",
    );
    let ids = |f: Vec<Finding>| {
        p.evaluate(&bash("x"), &cls(Action::CommandExecute, vec![], f), &env())
            .rules
    };
    assert_eq!(ids(vec![finding("a", Risk::Medium, &[])]), ["default"]);
    assert_eq!(ids(vec![finding("a", Risk::High, &[])]), ["hi"]);
    assert_eq!(ids(vec![finding("a", Risk::Critical, &[])]), ["hi"]);
    assert_eq!(
        ids(vec![finding("a", Risk::Low, &[Flag::Exfiltration])]),
        ["net"]
    );
    // risk + flags: the same finding must carry both.
    assert_eq!(
        ids(vec![finding("a", Risk::Low, &[Flag::Destructive])]),
        ["default"]
    );
    assert_eq!(
        ids(vec![
            finding("a", Risk::Low, &[Flag::Destructive]),
            finding("b", Risk::Medium, &[Flag::Privilege])
        ]),
        ["default"]
    );
    assert_eq!(
        ids(vec![finding("a", Risk::Medium, &[Flag::Destructive])]),
        ["del"]
    );
}

// --- evaluation ---------------------------------------------------------------------------------

#[test]
fn most_restrictive_effect_wins_and_explicit_allow_only_when_it_decides() {
    let p = with_rules(
        "  - id: ok\n    effect: allow\n    reason: r\n    action: command_execute\n\
         \n  - id: look\n    effect: flag\n    reason: r\n    risk: low\n\
         \n  - id: hmm\n    effect: ask\n    reason: r\n    risk: medium\n\
         \n  - id: no\n    effect: deny\n    reason: nope\n    risk: high\n",
    );
    let v = |r: Risk| {
        let c = cls(Action::CommandExecute, vec![], vec![finding("f", r, &[])]);
        p.evaluate(&bash("x"), &c, &env())
    };
    let none = v(Risk::None);
    assert_eq!((none.effect, none.explicit_allow), (Effect::Allow, true));
    assert_eq!(none.rules, ["ok"]);
    let low = v(Risk::Low);
    assert_eq!((low.effect, low.explicit_allow), (Effect::Flag, false));
    assert_eq!(low.rules, ["look", "ok"]);
    assert_eq!(v(Risk::Medium).effect, Effect::Ask);
    let high = v(Risk::High);
    assert_eq!(high.effect, Effect::Deny);
    assert_eq!(high.rules, ["no", "hmm", "look", "ok"]);
    assert!(!high.explicit_allow);
    assert_eq!(high.risk, Risk::High);
    assert!(
        high.reason
            .starts_with("patchwork-gateway denied this: no: nope"),
        "{}",
        high.reason
    );
    assert!(high.blocks());
}

#[test]
fn default_applies_when_nothing_matches() {
    let p = policy(
        "name: d\ndefault: ask\nrules:\n  - id: ok\n    effect: allow\n    reason: r\n    action: file_read\n",
    );
    let v = p.evaluate(
        &bash("x"),
        &cls(Action::CommandExecute, vec![], vec![]),
        &env(),
    );
    assert_eq!(
        (v.effect, v.rules.as_slice()),
        (Effect::Ask, ["default".to_string()].as_slice())
    );
    assert!(v.reason.contains("default"), "{}", v.reason);
    let v = p.evaluate(&bash("x"), &cls(Action::FileRead, vec![], vec![]), &env());
    assert_eq!((v.effect, v.explicit_allow), (Effect::Allow, true));
}

#[test]
fn max_risk_denies_and_names_the_findings() {
    let p = policy("name: m\nmax_risk: medium\n");
    let c = cls(
        Action::CommandExecute,
        vec![],
        vec![
            finding("net.curl", Risk::Medium, &[Flag::NetworkEgress]),
            finding("rm.root", Risk::Critical, &[Flag::Destructive]),
        ],
    );
    let v = p.evaluate(&bash("x"), &c, &env());
    assert_eq!(
        (v.effect, v.rules.as_slice()),
        (Effect::Deny, ["max_risk".to_string()].as_slice())
    );
    assert!(
        v.reason
            .starts_with("patchwork-gateway denied this: max_risk:"),
        "{}",
        v.reason
    );
    assert!(
        v.reason.contains("detail of rm.root [rm.root]"),
        "{}",
        v.reason
    );
    assert!(!v.reason.contains("net.curl"), "{}", v.reason);
    assert!(v.reason.contains("Do not retry"), "{}", v.reason);
    assert_eq!(v.flags.len(), 2);
    let ok = cls(
        Action::CommandExecute,
        vec![],
        vec![finding("net.curl", Risk::Medium, &[])],
    );
    assert_eq!(p.evaluate(&bash("x"), &ok, &env()).effect, Effect::Allow);
}

#[test]
fn audit_mode_allows_and_records_what_would_have_happened() {
    let p = policy(
        "name: a\nmode: audit\nrules:\n  - id: no\n    effect: deny\n    reason: r\n    risk: high\n",
    );
    let c = cls(
        Action::CommandExecute,
        vec![],
        vec![finding("f", Risk::High, &[])],
    );
    let v = p.evaluate(&bash("x"), &c, &env());
    assert_eq!(
        (v.effect, v.would_be, v.audited),
        (Effect::Allow, Effect::Deny, true)
    );
    assert!(!v.explicit_allow);
    assert_eq!(v.rules, ["no"]);
    assert!(
        v.reason
            .starts_with("audit mode, not enforced: patchwork-gateway denied this")
    );
    let v = p.evaluate(
        &bash("x"),
        &cls(Action::CommandExecute, vec![], vec![]),
        &env(),
    );
    assert_eq!(
        (v.effect, v.would_be, v.audited),
        (Effect::Allow, Effect::Allow, false)
    );
}

#[test]
fn protect_denies_writes_and_deleting_a_folder_that_holds_protected_paths() {
    let p = policy(
        "name: p\nprotect:\n  - ${PATCHWORK_HOME}\n  - ~/.claude/settings*.json\n  - ${PROJECT}/.mcp.json\n",
    );
    let one = |action: Action, target: &str| {
        let c = cls(action, vec![path(action, target)], vec![]);
        p.evaluate(&bash("x"), &c, &env())
    };
    for (action, target) in [
        (Action::FileWrite, "/home/u/.claude/settings.json"),
        (Action::FileEdit, "/home/u/.claude/settings.local.json"),
        (Action::FileDelete, "/home/u/.patchwork"),
        (Action::FileWrite, "/home/u/.patchwork/ledger/events.jsonl"),
        (Action::FileCreate, "/work/app/.mcp.json"),
        (Action::FileDelete, "/home/u/.claude"),
        (Action::FileDelete, "/work/app"),
        (Action::FileWrite, "/home/u/.claude"),
    ] {
        let v = one(action, target);
        assert_eq!(
            (v.effect, v.rules.as_slice()),
            (Effect::Deny, ["protect".to_string()].as_slice()),
            "{action} {target}"
        );
        assert!(v.reason.contains(target), "{}", v.reason);
    }
    for (action, target) in [
        (Action::FileRead, "/home/u/.claude/settings.json"),
        (Action::FileRead, "/home/u/.patchwork/ledger/events.jsonl"),
        (Action::FileWrite, "/home/u/.claude/notes.md"),
        (Action::FileWrite, "/work/app/src/main.rs"),
        // Writing the project root (a formatter run on `.`) is not writing into .mcp.json.
        (Action::FileWrite, "/work/app"),
        (Action::FileDelete, "/home/u/.patchworkx"),
    ] {
        assert_eq!(
            one(action, target).effect,
            Effect::Allow,
            "{action} {target}"
        );
    }
}

#[test]
fn the_policy_file_itself_is_protected() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mine.yaml");
    std::fs::write(&file, "name: mine\n").unwrap();
    let p = Policy::from_file(&file, &env()).unwrap();
    let real = std::fs::canonicalize(&file).unwrap();
    let c = cls(
        Action::FileWrite,
        vec![path(Action::FileWrite, real.to_str().unwrap())],
        vec![],
    );
    assert_eq!(p.evaluate(&bash("x"), &c, &env()).rules, ["protect"]);
}

#[test]
fn on_error_verdicts_follow_the_policy() {
    let deny = policy("name: x\n").error_verdict("ledger not writable");
    assert_eq!(deny.effect, Effect::Deny);
    assert!(deny.reason.contains("ledger not writable"));
    let allow = policy("name: x\non_error: allow\n").error_verdict("boom");
    assert_eq!(
        (allow.effect, allow.audited, allow.would_be),
        (Effect::Allow, true, Effect::Deny)
    );
}

// --- the profiles ----------------------------------------------------------------------------

fn profile(name: &str) -> Policy {
    Policy::builtin_for(name, &env()).unwrap()
}

fn verdict(p: &Policy, c: &Classification) -> (Effect, String) {
    let v = p.evaluate(&bash("x"), c, &env());
    (v.effect, v.rules.first().cloned().unwrap_or_default())
}

#[test]
fn strict_profile_decisions() {
    let p = profile("strict");
    let f = |id: &str, r: Risk, flags: &[Flag]| {
        cls(Action::CommandExecute, vec![], vec![finding(id, r, flags)])
    };
    assert_eq!(
        verdict(&p, &f("secret", Risk::High, &[Flag::SecretRead])),
        (Effect::Deny, "secret-files".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::High, &[Flag::Unresolvable])),
        (Effect::Deny, "opaque-commands".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::High, &[Flag::PipeToShell])),
        (Effect::Deny, "pipe-to-shell".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::Critical, &[Flag::SelfProtection])),
        (Effect::Deny, "self-protection".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::Critical, &[Flag::Destructive])),
        (Effect::Deny, "destructive".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::Critical, &[Flag::DangerousCommand])),
        (Effect::Deny, "max_risk".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::Medium, &[Flag::UnknownTool])),
        (Effect::Ask, "unknown-tools".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::Medium, &[Flag::NetworkEgress])),
        (Effect::Flag, "network-egress".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::Medium, &[Flag::Destructive])),
        (Effect::Deny, "destructive".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::Low, &[Flag::Destructive])),
        (Effect::Allow, "default".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::High, &[Flag::Privilege])).0,
        Effect::Deny
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::Medium, &[Flag::CodeExecution])),
        (Effect::Deny, "code-execution".into())
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::Low, &[Flag::CodeExecution])).0,
        Effect::Allow
    );
    assert_eq!(
        verdict(&p, &f("x", Risk::Medium, &[Flag::SensitivePath])),
        (Effect::Ask, "secret-paths".into())
    );
    // Force pushes are recognised by the classifier (finding git.force_push); the profile
    // names that finding, so `--force-with-lease` (no finding) stays allowed.
    let mut force = f("x", Risk::High, &[Flag::GitHistory]);
    force.findings[0].id = "git.force_push".into();
    assert_eq!(verdict(&p, &force), (Effect::Deny, "remote-history".into()));
    for ok in [
        &["git", "push", "origin", "main"][..],
        &["git", "push", "--force-with-lease"],
        &["git", "push", "-u", "origin", "x"],
    ] {
        assert_eq!(verdict(&p, &segments(&[ok])).0, Effect::Allow, "{ok:?}");
    }
    let keys = cls(
        Action::FileRead,
        vec![path(Action::FileRead, "/home/u/.patchwork/keys/seal.key")],
        vec![],
    );
    assert_eq!(verdict(&p, &keys), (Effect::Deny, "seal-key".into()));
    let grep_home = cls(
        Action::FileGrep,
        vec![path(Action::FileGrep, "/home/u/.patchwork")],
        vec![],
    );
    assert_eq!(verdict(&p, &grep_home), (Effect::Deny, "seal-key".into()));
    let ledger = cls(
        Action::FileRead,
        vec![path(
            Action::FileRead,
            "/home/u/.patchwork/ledger/events.jsonl",
        )],
        vec![],
    );
    assert_eq!(verdict(&p, &ledger).0, Effect::Allow);
    for target in [
        "/home/u/.claude/settings.json",
        "/work/app/.claude/settings.local.json",
        "/work/app/.mcp.json",
        "/home/u/.claude.json",
        "/home/u/.patchwork/policy.yaml",
        "/work/app/.patchwork/policy.yaml",
    ] {
        let c = cls(
            Action::FileWrite,
            vec![path(Action::FileWrite, target)],
            vec![],
        );
        assert_eq!(
            verdict(&p, &c),
            (Effect::Deny, "protect".into()),
            "{target}"
        );
    }
    let dev = cls(
        Action::FileWrite,
        vec![path(Action::FileWrite, "/work/app/src/a.ts")],
        vec![finding("x", Risk::Low, &[])],
    );
    assert_eq!(verdict(&p, &dev), (Effect::Allow, "default".into()));
}

#[test]
fn standard_profile_asks_for_high_and_denies_critical() {
    let p = profile("standard");
    let f =
        |r: Risk, flags: &[Flag]| cls(Action::CommandExecute, vec![], vec![finding("x", r, flags)]);
    assert_eq!(
        verdict(&p, &f(Risk::High, &[Flag::RemoteShell])),
        (Effect::Ask, "high-risk".into())
    );
    assert_eq!(
        verdict(&p, &f(Risk::High, &[Flag::SecretRead])),
        (Effect::Ask, "secret-files".into())
    );
    assert_eq!(
        verdict(&p, &f(Risk::Critical, &[Flag::Destructive])),
        (Effect::Deny, "max_risk".into())
    );
    assert_eq!(
        verdict(&p, &f(Risk::High, &[Flag::SelfProtection])),
        (Effect::Deny, "self-protection".into())
    );
    assert_eq!(
        verdict(&p, &f(Risk::Medium, &[Flag::NetworkEgress])).0,
        Effect::Allow
    );
    assert_eq!(
        verdict(&p, &f(Risk::Medium, &[Flag::UnknownTool])),
        (Effect::Flag, "unknown-tools".into())
    );
    let keys = cls(
        Action::FileRead,
        vec![path(Action::FileRead, "/home/u/.patchwork/keys/seal.key")],
        vec![],
    );
    assert_eq!(verdict(&p, &keys), (Effect::Deny, "seal-key".into()));
    let settings = cls(
        Action::FileEdit,
        vec![path(Action::FileEdit, "/home/u/.claude/settings.json")],
        vec![],
    );
    assert_eq!(verdict(&p, &settings), (Effect::Deny, "protect".into()));
}

#[test]
fn audit_profile_never_blocks_but_records_would_be() {
    let p = profile("audit");
    let c = cls(
        Action::CommandExecute,
        vec![],
        vec![finding("x", Risk::Critical, &[Flag::Destructive])],
    );
    let v = p.evaluate(&bash("rm -rf /"), &c, &env());
    assert_eq!(
        (v.effect, v.would_be, v.audited),
        (Effect::Allow, Effect::Deny, true)
    );
    assert_eq!(v.rules.first().map(String::as_str), Some("max_risk"));
}

#[test]
fn findings_matcher_names_the_classifier_rule() {
    let dir = tempfile::tempdir().unwrap();
    let env = Env {
        home: dir.path().join("home"),
        patchwork_home: dir.path().join("pw"),
        project: dir.path().join("proj"),
    };
    let text = "name: t\nrules:\n  - id: no-force\n    effect: deny\n    findings: ['git.force*']\n    reason: no\n";
    let p = Policy::parse(text, Source::Builtin("t"), &env).unwrap();
    let call = ToolCall::new(
        crate::call::Door::Hook,
        "Bash",
        serde_json::json!({"command": "git push -f"}),
        env.project.clone(),
    );
    let mut cls = Classification::default();
    assert_eq!(p.evaluate(&call, &cls, &env).effect, Effect::Allow);
    cls.findings.push(crate::call::Finding {
        id: "git.force_push".into(),
        risk: crate::call::Risk::High,
        flags: vec![],
        detail: "force".into(),
        span: "git push -f".into(),
    });
    let v = p.evaluate(&call, &cls, &env);
    assert_eq!(v.effect, Effect::Deny);
    assert_eq!(v.rules[0], "no-force");
}
