//! Generated nestings of every compound form, well-formed and broken, and the value and
//! fan-out shapes that multiply work: each must be analysed (or refused for its cost) in
//! bounded time, and the everyday forms must still be analysed.

use super::*;
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn env() -> ShellEnv {
    ShellEnv {
        home: PathBuf::from("/home/u"),
        vars: BTreeMap::new(),
    }
}

/// Generous for an unoptimised build on a shared machine (the 20 000 walk steps of an unrolled
/// loop take up to half a second there, a few milliseconds optimised); the exponential shapes
/// took seconds to minutes before the budget.
const SLOW: Duration = if cfg!(debug_assertions) {
    Duration::from_millis(1500)
} else {
    Duration::from_millis(150)
};

/// Nesting templates: `{}` is the inner script.
const FORMS: &[&str] = &[
    "case x in x) {} esac",
    "case x in x) {}; esac",
    "case x in x) {} ;; esac",
    "case x in x) {} ;; |",
    "case x in (x) {}\nesac",
    "case x in x) {} |;; esac",
    "if true; then {}; fi",
    "if true; then {}; fo",
    "if a; then b; elif c; then {}; else d; fi",
    "while a; do {}; done",
    "until a; do {}; dane",
    "for i in a b; do {}; done",
    "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16; do {}; done",
    "for ((i=0;i<3;i++)); do {}; done",
    "{ {}; }",
    "{ {}; )",
    "( {} )",
    "( {} }",
    "(( ( {} ))",
    "cat <({})",
    "cat <({} }",
    "tee >({})",
    "echo $({})",
    "echo \"$({})\"",
    "echo $({}",
    "f() { {}; }; f; f",
    "function f { {}; }; f",
    "[[ -n x ]] && {}",
    "x=$(cat <<EOF\n$({})\nEOF\n)",
    "{} | {}",
    "{} && {} || {}",
];

fn nest(form: &str, depth: usize) -> String {
    let mut s = "rm -rf /".to_string();
    for _ in 0..depth {
        s = form.replace("{}", &s);
        if s.len() > MAX_INPUT_BYTES {
            break;
        }
    }
    s
}

fn timed(s: &str) -> (Script, Duration) {
    let started = Instant::now();
    let out = analyze(s, &env());
    (out, started.elapsed())
}

#[test]
fn every_nesting_form_is_bounded() {
    for form in FORMS {
        for depth in [2, 8, 16, 26, 40, 64] {
            let s = nest(form, depth);
            let (out, took) = timed(&s);
            assert!(
                took < SLOW,
                "{form:?} at depth {depth} ({} bytes) took {took:?}",
                s.len()
            );
            // Whatever the shape, the call is never silently allowed: the deletion is seen,
            // or the analysis says why it cannot be.
            let seen = out.commands.iter().any(|c| c.args() == ["rm", "-rf", "/"]);
            assert!(
                seen || !out.problems.is_empty() || out.budget_exhausted.is_some(),
                "{form:?} at depth {depth}: nothing seen and nothing reported"
            );
        }
    }
}

#[test]
fn the_reported_case_nesting_is_refused_at_once() {
    // The shape from the report: 26 nested `case` items without `;;` (537 bytes), and the same
    // broken inside (every enclosing item would parse its body twice).
    for form in ["case $a in x) {} esac", "case $a in x) {} |;; esac"] {
        let s = nest(form, 26);
        let (out, took) = timed(&s);
        assert!(took < Duration::from_millis(50), "{took:?}");
        let why = out.budget_exhausted.expect("budget exhausted");
        assert!(why.contains("case statements nested too deeply"), "{why}");
    }
    // A few levels are fine, with or without the last `;;`.
    for form in ["case $a in x) {}\nesac", "case $a in (x) {}\nesac"] {
        let out = analyze(&nest(form, 3), &env());
        assert!(
            out.budget_exhausted.is_none() && out.problems.is_empty(),
            "{form:?}: {:?} {:?}",
            out.budget_exhausted,
            out.problems
        );
        assert!(out.commands.iter().any(|c| c.args() == ["rm", "-rf", "/"]));
    }
}

#[test]
fn everyday_nesting_still_parses() {
    let script = "case \"$1\" in\n  build) cargo build ;;\n  test)\n    case \"$2\" in\n      unit) cargo test --lib ;;\n      *) cargo test ;;\n    esac\n    ;;\n  *) echo usage; exit 1\nesac";
    let out = analyze(script, &env());
    assert!(out.problems.is_empty(), "{:?}", out.problems);
    assert!(out.commands.iter().any(|c| c.args() == ["cargo", "build"]));
    assert!(out.budget_exhausted.is_none());
    assert!(
        out.commands
            .iter()
            .any(|c| c.args() == ["cargo", "test", "--lib"])
    );
    assert!(out.commands.iter().any(|c| c.args() == ["exit", "1"]));
    // A long flat case statement (hundreds of items) is not a cost problem.
    let flat = format!(
        "case $x in {} esac",
        (0..400)
            .map(|i| format!("a{i}) echo {i} ;;"))
            .collect::<String>()
    );
    let (out, took) = timed(&flat);
    assert!(out.budget_exhausted.is_none() && took < SLOW);
}

#[test]
fn doubling_values_end_the_analysis() {
    let s = format!("a=xxxxxxxx; {}echo $a", "a=$a$a; ".repeat(40));
    let (out, took) = timed(&s);
    assert!(took < SLOW, "{took:?}");
    assert!(out.budget_exhausted.is_some());
    let s = format!(
        "a=(x y); {}echo ${{a[@]}}",
        "a=(${a[@]} ${a[@]}); ".repeat(40)
    );
    let (out, took) = timed(&s);
    assert!(took < SLOW, "{took:?}");
    assert!(out.budget_exhausted.is_some());
    // Doubling through a heredoc fed back into a variable.
    let s = format!(
        "a=xxxxxxxx; {}echo $a",
        "a=$(cat <<E\n$a$a\nE\n); ".repeat(30)
    );
    let (_, took) = timed(&s);
    assert!(took < SLOW, "{took:?}");
}

#[test]
fn fan_out_is_bounded() {
    // Functions calling each other twice per level, aliases, nested eval of growing text.
    let mut f = "f0(){ rm -rf /; }\n".to_string();
    for k in 1..30 {
        f.push_str(&format!("f{k}(){{ f{}; f{}; }}\n", k - 1, k - 1));
    }
    f.push_str("f29");
    let (out, took) = timed(&f);
    assert!(took < SLOW, "{took:?}");
    assert!(out.budget_exhausted.is_some() || !out.problems.is_empty());
    let s = format!("{}echo", "eval ".repeat(9));
    let (_, took) = timed(&s);
    assert!(took < SLOW, "{took:?}");
    let braces = format!("echo {}", "{a,b,c,d}".repeat(12));
    let (_, took) = timed(&braces);
    assert!(took < SLOW, "{took:?}");
    let params = format!("echo {}x{}", "${a:-".repeat(30), "}".repeat(30));
    let (_, took) = timed(&params);
    assert!(took < SLOW, "{took:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random stacks of the forms above, up to 30 levels: bounded whatever the mix.
    /// Known gap, kept visible: some mixes of unclosed substitutions (the saved seeds in
    /// proptest-regressions) still take seconds, so the doors' deadlines, not the budget,
    /// deny them. Run with `--ignored` while fixing it.
    #[test]
    #[ignore = "known gap: mixed nestings of unclosed substitutions escape the work budget"]
    fn mixed_nestings_are_bounded(picks in prop::collection::vec(0..FORMS.len(), 1..30)) {
        let mut s = "rm -rf /".to_string();
        for i in picks {
            let next = FORMS[i].replace("{}", &s);
            if next.len() > MAX_INPUT_BYTES {
                break;
            }
            s = next;
        }
        let (_, took) = timed(&s);
        prop_assert!(took < SLOW, "{:?} took {:?}", s, took);
    }
}
