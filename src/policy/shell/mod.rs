//! Shell analysis: parse a command string with a real shell grammar and canonicalise every
//! simple command the way bash would see it (quote removal, escapes, `$'..'`, brace expansion,
//! `$IFS`, variables assigned earlier, env prefixes), peel wrappers, and recurse into nested
//! scripts (`sh -c`, `eval`, heredocs, process substitution, interpreter one-liners).
//!
//! The result is a flat list of [`Command`]s: facts only. Deciding what is risky is the job of
//! `policy::classify`.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// What the analyser knows about the environment the script will run in.
#[derive(Debug, Clone, Default)]
pub struct ShellEnv {
    /// Value of `$HOME` and `~`.
    pub home: PathBuf,
    /// Other variables known to hold a value (e.g. `PWD`).
    pub vars: BTreeMap<String, String>,
}

/// One word of a canonical argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word after expansion and quote removal.
    pub text: String,
    /// Contains unquoted glob characters (`*`, `?`, `[`) that bash would expand.
    pub glob: bool,
    /// Built from something that cannot be known statically (unknown variable, command
    /// substitution that is not a literal echo/printf, process substitution…).
    pub dynamic: bool,
}

/// How a redirection uses its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `<`
    Read,
    /// `>`, `>|`, `&>`
    Write,
    /// `>>`, `&>>`
    Append,
    /// `<>`
    ReadWrite,
}

/// A redirection of a simple command to or from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub target: Word,
}

/// Where a command's standard input comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Stdin {
    /// Inherited (the terminal, or nothing special).
    #[default]
    Inherited,
    /// The output of the previous command of a pipeline.
    Pipe,
    /// A heredoc or here-string with this (expanded) text.
    Text(String),
    /// A file (`< file`).
    File(Word),
}

/// One simple command, canonical.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    /// argv after expansion and wrapper peeling; `argv[0]` is the command word as bash
    /// would resolve it (a path such as `/bin/rm` is kept as written).
    pub argv: Vec<Word>,
    /// Wrappers peeled off, outermost first (`sudo`, `env`, `xargs`, `find -exec`…).
    pub wrappers: Vec<String>,
    /// Environment assignments that prefix the command (`FOO=1 cmd`, `env A=b cmd`).
    pub assignments: Vec<(String, String)>,
    /// File redirections.
    pub redirects: Vec<Redirect>,
    /// Standard input.
    pub stdin: Stdin,
    /// The directory set by an earlier `cd`/`pushd` in the same script, as written
    /// (None: the call's cwd). Relative to the previous one; the path resolver joins them.
    pub cwd: Option<String>,
    /// How this command was reached through nesting, outermost first
    /// (`bash -c`, `eval`, `heredoc`, `$(..)`, `python -c`, `function f`…). Empty at top level.
    pub nested_in: Vec<String>,
    /// The source text this command came from (for explanations).
    pub text: String,
}

impl Command {
    /// The argv as plain strings.
    pub fn args(&self) -> Vec<&str> {
        self.argv.iter().map(|w| w.text.as_str()).collect()
    }

    /// The command name without its directory (`/bin/rm` → `rm`), or "" when empty.
    pub fn name(&self) -> &str {
        self.argv
            .first()
            .map(|w| w.text.rsplit('/').next().unwrap_or(&w.text))
            .unwrap_or("")
    }
}

/// The analysis of a whole script.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Every simple command, in source order, nested ones included.
    pub commands: Vec<Command>,
    /// Things that could not be analysed (parse errors, too-deep nesting, code that cannot be
    /// resolved statically). Non-empty ⇒ the classifier flags the call `unresolvable`.
    pub problems: Vec<String>,
}

/// Placeholder until the real analyser lands: reports every script as unanalysable, so the
/// classifier fails closed.
pub fn analyze(script: &str, _env: &ShellEnv) -> Script {
    Script {
        commands: Vec::new(),
        problems: vec![format!("shell analysis is not built yet: {script}")],
    }
}
