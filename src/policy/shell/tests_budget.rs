//! Generated nestings of every compound form, well-formed and broken, and the value and
//! fan-out shapes that multiply work: each must be analysed (or refused for its cost) within a
//! bounded amount of work, and the everyday forms must still be analysed. Work is counted, not
//! timed: the allocations an analysis makes (every parser attempt, word, value and command
//! allocates) are the same on a loaded machine and a quiet one.

use super::*;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the allocations of the current thread: a deterministic measure of the work an
/// analysis does (every parser attempt, word, value and command allocates), unlike its time.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the count is a thread-local
// cell with a const initialiser, which never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: CountingAlloc = CountingAlloc;

/// The analysis of `s` and the allocations it made.
fn counted(s: &str) -> (Script, u64) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = analyze(s, &env());
    (out, ALLOCATIONS.with(Cell::get) - before)
}

fn env() -> ShellEnv {
    ShellEnv {
        home: PathBuf::from("/home/u"),
        vars: BTreeMap::new(),
    }
}

/// Most allocations one analysis may make. The budgets stop every shape below within about
/// 120 000 (scripts that reach the command limit); the exponential shapes made millions
/// before the budgets (a 665-byte mix of unclosed substitutions: close to a million, in 18 s).
const WORK: u64 = 250_000;

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

#[test]
fn every_nesting_form_is_bounded() {
    for form in FORMS {
        for depth in [2, 8, 16, 26, 40, 64] {
            let s = nest(form, depth);
            let (out, work) = counted(&s);
            assert!(
                work < WORK,
                "{form:?} at depth {depth} ({} bytes) made {work} allocations",
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
        // Refused before parsing: the work is that of reading the tokens once.
        let (out, work) = counted(&s);
        assert!(work < 2_000, "{work}");
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
fn unclosed_substitutions_are_refused_for_their_cost() {
    // Substitutions and quotes that never close, each inside the last, in a heredoc inside a
    // substitution (the tokenizer accepts it, the word grammar tried each level twice: as a
    // substitution, then as text, doubling per level).
    let mut s = "rm -rf / }".to_string();
    for _ in 0..14 {
        s = format!("echo \"$(cat <({s}");
    }
    let s = format!("x=$(cat <<EOF\n{s}\nEOF\n)");
    let (out, work) = counted(&s);
    assert!(work < 5_000, "{work}");
    let why = out.budget_exhausted.expect("budget exhausted");
    assert!(why.contains("nested too deeply"), "{why}");
    // The same substitutions closed, a few levels deep, are read normally.
    let mut s = "rm -rf /".to_string();
    for _ in 0..4 {
        s = format!("echo \"$(cat <({s}))\"");
    }
    let out = analyze(&s, &env());
    assert!(out.budget_exhausted.is_none(), "{:?}", out.budget_exhausted);
    assert!(out.commands.iter().any(|c| c.args() == ["rm", "-rf", "/"]));
}

#[test]
fn an_arithmetic_expansion_closed_early_is_not_taken_for_a_number() {
    // bash reads `$(( cmd) ))` as a subshell in a substitution: the commands run. (At top
    // level the grammar refuses it; in a heredoc it reaches the word grammar.)
    let s = "x=$(cat <<EOF\n$(( case x in x) rm -rf / esac ))\nEOF\n)";
    let out = analyze(s, &env());
    assert!(
        out.problems
            .iter()
            .any(|p| p.contains("may run as commands")),
        "{:?}",
        out.problems
    );
    let out = analyze("echo $(( (1 + 2) * 3 ))", &env());
    assert!(out.problems.is_empty(), "{:?}", out.problems);
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
    let (out, work) = counted(&flat);
    assert!(out.budget_exhausted.is_none() && work < WORK, "{work}");
}

#[test]
fn doubling_values_end_the_analysis() {
    let s = format!("a=xxxxxxxx; {}echo $a", "a=$a$a; ".repeat(40));
    let (out, work) = counted(&s);
    assert!(work < WORK, "{work}");
    assert!(out.budget_exhausted.is_some());
    let s = format!(
        "a=(x y); {}echo ${{a[@]}}",
        "a=(${a[@]} ${a[@]}); ".repeat(40)
    );
    let (out, work) = counted(&s);
    assert!(work < WORK, "{work}");
    assert!(out.budget_exhausted.is_some());
    // Doubling through a heredoc fed back into a variable.
    let s = format!(
        "a=xxxxxxxx; {}echo $a",
        "a=$(cat <<E\n$a$a\nE\n); ".repeat(30)
    );
    let (_, work) = counted(&s);
    assert!(work < WORK, "{work}");
}

#[test]
fn fan_out_is_bounded() {
    // Functions calling each other twice per level, aliases, nested eval of growing text.
    let mut f = "f0(){ rm -rf /; }\n".to_string();
    for k in 1..30 {
        f.push_str(&format!("f{k}(){{ f{}; f{}; }}\n", k - 1, k - 1));
    }
    f.push_str("f29");
    let (out, work) = counted(&f);
    assert!(work < WORK, "{work}");
    assert!(out.budget_exhausted.is_some() || !out.problems.is_empty());
    let s = format!("{}echo", "eval ".repeat(9));
    let (_, work) = counted(&s);
    assert!(work < WORK, "{work}");
    let braces = format!("echo {}", "{a,b,c,d}".repeat(12));
    let (_, work) = counted(&braces);
    assert!(work < WORK, "{work}");
    let params = format!("echo {}x{}", "${a:-".repeat(30), "}".repeat(30));
    let (_, work) = counted(&params);
    assert!(work < WORK, "{work}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random stacks of the forms above, up to 30 levels: bounded whatever the mix. (Whether
    /// the deletion is seen depends on the mix: `$(` around `( rm -rf / )` is arithmetic that
    /// bash refuses, and runs nothing.) The saved seeds in
    /// proptest-regressions are mixes of unclosed substitutions that the word grammar read
    /// again at every level (seconds to minutes) before its work was charged to the budget.
    #[test]
    fn mixed_nestings_are_bounded(picks in prop::collection::vec(0..FORMS.len(), 1..30)) {
        let mut s = "rm -rf /".to_string();
        for i in picks {
            let next = FORMS[i].replace("{}", &s);
            if next.len() > MAX_INPUT_BYTES {
                break;
            }
            s = next;
        }
        let (_, work) = counted(&s);
        prop_assert!(work < WORK, "{:?} made {} allocations", s, work);
    }
}

#[test]
fn split_strings_are_charged_like_scripts() {
    // `env -S` and git aliases split a string into words with the same parser: the shapes
    // that cost the main parser time doubling per level cost them nothing more.
    let cases = nest("case x in x) {} esac", 26);
    let mut unclosed = "rm -rf / }".to_string();
    for _ in 0..14 {
        unclosed = format!("echo \"$(cat <({unclosed}");
    }
    for inner in [cases, unclosed] {
        for s in [
            format!("env -S '{inner}' x"),
            format!("git -c alias.x='{inner}' x"),
        ] {
            let (out, work) = counted(&s);
            assert!(work < 5_000, "{s:?} made {work} allocations");
            assert!(
                out.budget_exhausted.is_some() || !out.problems.is_empty(),
                "{s:?}: nothing reported"
            );
        }
    }
    // The everyday forms are still split and judged.
    let out = analyze("env -S 'rm -rf /' x", &env());
    assert!(
        out.commands
            .iter()
            .any(|c| c.args()[..3] == ["rm", "-rf", "/"])
    );
    let out = analyze("git -c alias.co='checkout -f' co main", &env());
    assert!(
        out.budget_exhausted.is_none() && out.problems.is_empty(),
        "{:?}",
        out.problems
    );
}
