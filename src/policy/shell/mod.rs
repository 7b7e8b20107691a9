//! Shell analysis: parse a command string with a real shell grammar (brush-parser) and
//! canonicalise every simple command the way bash would see it (quote removal, escapes, `$'..'`,
//! brace expansion, `$IFS`, variables assigned earlier, env prefixes), peel wrappers, and recurse
//! into nested scripts (`sh -c`, `eval`, heredocs, process substitution, interpreter one-liners).
//!
//! The result is a flat list of [`Command`]s: facts only. Deciding what is risky is the job of
//! `policy::classify`.
//!
//! Conventions the classifier can rely on:
//!
//! - **Nested scripts.** A shell that runs a script the analyser could read (`bash -c '…'`,
//!   `eval …`, `bash <<EOF`, `printf … | sh`, `source <(echo …)`, `su -c`, `git` `!` aliases)
//!   is *not* recorded itself: its commands are, with `nested_in` naming the route. A shell
//!   whose script is not known (`curl … | sh`, `bash "$X"`, `bash script.sh`) is recorded as
//!   it is, with its `stdin`; a `-c` script or heredoc that is not static adds a problem.
//! - **Wrappers** are peeled with their own option grammars and listed in `wrappers`,
//!   outermost first (`sudo`, `env`, `nice`, `timeout`, `xargs`, `find -exec`…). A wrapper
//!   left with no command stays the command (`env` alone is an environment dump, `sudo -v`),
//!   except those that start a shell (`sudo -s`/`-i`, `su`, `doas -s`): they become `sh`
//!   reading standard input, wrapped. `command -v`/`-V` is a lookup and stays as it is.
//! - **Files written then run.** Content written earlier in the same script with a static
//!   `echo`/`printf`/heredoc (`>`, `>>`, `tee`, `cp`) is remembered; `bash f`, `source f`,
//!   `python3 f`, `./f` (by its `#!`) are analysed from it. Running a file written with
//!   unknown content (`curl -o f`, `cmd > f`) adds a problem.
//! - **Code from a pipe.** `stdin` is [`Stdin::Pipe`] for every pipeline segment after the
//!   first, and also for a shell, `source`/`.` or interpreter whose script operand (or `<`
//!   redirection) is a process substitution with unknown output (`bash <(curl …)`): the code
//!   arrives through a pipe either way.
//! - **Interpreters** (`python -c`, `node -e`, `perl -e`, `ruby -e`, `php -r`, awk programs,
//!   `lua -e`, `Rscript -e`, `osascript -e`, code on stdin or in a file written earlier) are
//!   recorded themselves, followed by synthetic commands for what the code does with literal
//!   arguments (`nested_in: ["python -c"]`): shell calls are analysed as shell, deletions
//!   become `rm [-r -f] PATH`, reads become `cat PATH`, writes become a command with an empty
//!   argv and a Write/Append redirect, `perl -n/-p` loops read (and with `-i` write) their
//!   files. A known call with a computed argument adds a problem ("python code not statically
//!   analysable: …"). Code that opens a socket and starts a process is a reverse or bind shell
//!   (`nc -e /bin/sh HOST`); a variable read by name in printing code is `printenv NAME`.
//! - **`find`** is recorded as it is, then each `-exec`/`-execdir`/`-ok`/`-okdir` command with
//!   `{}` replaced by what find reaches (wrapper `find -exec` …), and for `-delete` a synthetic
//!   `rm -r -f TARGET` per target (wrapper `find -delete`). A target is a starting point, or,
//!   when the expression has exactly one `-name`/`-iname` filter and no `-o`/`!`/`-not`,
//!   the glob word `ROOT/**/PATTERN` (`**`: any depth; `-path PATTERN` gives `PATTERN`).
//!   Other filters (`-type`, `-mtime`…) are not taken into account: the targets
//!   over-approximate what is touched.
//! - **`xargs`/`parallel`** run their command with the static input appended when the input
//!   is known (a literal `echo`/`printf`, heredoc or here-string); otherwise one dynamic
//!   placeholder word (`<xargs input>`, `<parallel input>`) stands for the unknown arguments.
//!   `parallel` runs its command line through a shell, so it is analysed as a script.
//! - **Other runners**: `trap CMD`, `watch`, `script -c`, `flock -c`, `sg`, `vim -c '!…'`,
//!   `sed` (`e`, `s///e` is a problem, `w`/`r` files), `tar --to-command`/`-I`/
//!   `--checkpoint-action=exec=`, `rsync -e`, `ssh -o ProxyCommand=`, `zip -TT`, `man -P`,
//!   `gdb -ex '!…'`, `mysql -e '\!…'`, `npx -c`, `at`/`batch` stdin, git `-c` keys that name
//!   commands (`core.pager`, `core.sshCommand`, …) and `GIT_PAGER`-style variables. The tool
//!   itself is recorded too.
//! - **Listings through filters.** `grep`/`sed -n /re/p`/`head`/`sort`/`uniq` between a
//!   listing and its consumer narrow the listing's patterns (`ls -a | grep env | xargs cat`
//!   reads `.*env*`); a literal `grep` of an unknown list (`git ls-files | grep env`) stands
//!   for the names containing the string; `realpath`/`readlink` print their operands. Such
//!   name lists reach only filters and `xargs`/`parallel`: piped into anything else (`find … |
//!   python3`) they are unknown input. A `for` variable bound from a glob stays a glob.
//! - **Runners** (`runners.rs`): `tmux`/`screen` commands and keystrokes, `hyperfine`, `entr`,
//!   `capsh`, makefiles from stdin or `--eval`, Tcl/expect `exec`/`spawn`, `emacs --eval`,
//!   julia backticks, `jq` reading the environment; PowerShell inline code, code fetched from a
//!   URL (`deno run https://…`, `npx github:…`) and program-starting inline code of other
//!   languages are problems. `PAGER`/`EDITOR`/`LESSOPEN`-style variables run their value.
//! - **Unknown archives.** Scripts run from where a pipe, a download or a `git clone` was just
//!   unpacked are files written with unknown content.
//! - **Unknown values** (unset variables, `$1` at top level, non-literal `$(..)`, `~user`,
//!   arithmetic) make the word `dynamic: true` with a readable text (`${FOO}`, `$(..)`,
//!   `$((..))`). `${X:-default}` with an unknown `X` has the default as text and is dynamic.
//! - **Redirections**: file targets of `<`, `>`, `>|`, `>>`, `&>`, `&>>`, `<>` and `>&file` are
//!   kept; descriptor duplications (`2>&1`, `>&-`) and the pseudo-devices `/dev/null`,
//!   `/dev/stdout`, `/dev/stderr`, `/dev/stdin`, `/dev/tty`, `/dev/fd/*` are left out. A
//!   redirection with no command (`> f`) or on a compound command (`{ …; } > f`) is a command
//!   with an empty argv.
//! - **`cwd`** accumulates `cd`/`pushd`/`popd` lexically (`cd a && cd b` → `a/b`; an absolute
//!   target replaces it; `cd` alone → home). A subshell's `cd` does not leak out. A `cd` whose
//!   target is not static adds a problem.
//! - **Functions** run at their call site with `$1…` bound (`nested_in: ["function f"]`);
//!   a definition alone runs nothing. A function never hides a real command behind a wrapper
//!   (`sudo rm`, `command rm`), and a definition that may not have run (in a branch, in a
//!   subshell, `unset -f`) also keeps the real command. Aliases are analysed both expanded
//!   and not (shells differ on whether they expand them).
//! - **Limits.** Input over [`MAX_INPUT_BYTES`], scripts nested deeper than [`MAX_NESTING`]
//!   levels (`bash -c`, `eval`, `$(..)`, function calls), syntax nested more than 40 levels,
//!   more than 4096 commands, 20 000 walk steps or 20 000 expanded words, brace expansions over
//!   1024 words, parse errors: each is a problem, never a panic. A glob in the command word
//!   (`/???/r?`) is a problem too.
//! - **Variables** assigned in a branch that may not run (`if`, `case`, loops, after `&&`/`||`)
//!   become unknown when they conflict with an earlier value; loops over up to 16 static
//!   values are unrolled.

use std::collections::BTreeMap;
use std::path::PathBuf;

mod budget;
mod expand;
mod filters;
mod interpreters;
mod parse;
mod render;
mod runners;
mod statics;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_budget;
mod tools;
mod wrappers;

pub use render::quote;
pub(crate) use wrappers::{git_runs_key, is_shell};

/// grep's options that take the next word as their value (`-e PATTERN`, `--include GLOB`).
pub(crate) const GREP_VALUED: &[&str] = &[
    "-e",
    "-f",
    "-m",
    "-A",
    "-B",
    "-C",
    "-d",
    "-D",
    "--include",
    "--exclude",
    "--exclude-dir",
    "--regexp",
    "--file",
    "--directories",
    "--max-count",
];

/// ripgrep's and ag's options that take the next word as their value (`-g GLOB`, `-t TYPE`).
pub(crate) const RG_VALUED: &[&str] = &[
    "-e",
    "-f",
    "-g",
    "--glob",
    "--iglob",
    "-t",
    "--type",
    "-T",
    "--type-not",
    "-m",
    "-A",
    "-B",
    "-C",
    "-j",
    "-E",
    "-M",
    "-d",
    "--max-depth",
    "--regexp",
    "--file",
    "-G",
    "--file-search-regex",
    "--ignore-dir",
];

/// Scripts longer than this are not analysed (a problem is reported instead).
pub const MAX_INPUT_BYTES: usize = parse::MAX_INPUT;
/// Deepest nesting of scripts in scripts that is analysed.
pub const MAX_NESTING: usize = parse::MAX_DEPTH;

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

/// Marks the wrapper label of a `find -exec`/`-delete` whose tests select some entries below
/// its roots (`-mtime +30`, `-inum N`): the roots in the command stand for those entries.
/// The tests follow it, as written (`find -delete (filtered) -inum 42 -type f`).
pub const FIND_FILTERED: &str = "(filtered)";

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
    /// The text arriving on standard input when it is known statically: a heredoc or
    /// here-string, or the output of a literal `echo`/`printf` piped in or given as `< <(..)`.
    pub input_text: Option<String>,
    /// The directory set by an earlier `cd`/`pushd` in the same script, as written
    /// (None: the call's cwd). Relative to the previous one; the path resolver joins them.
    pub cwd: Option<String>,
    /// How this command was reached through nesting, outermost first
    /// (`bash -c`, `eval`, `heredoc`, `$(..)`, `python -c`, `function f`…). Empty at top level.
    pub nested_in: Vec<String>,
    /// The source text this command came from (for explanations).
    pub text: String,
    /// The argv of the command its standard output is piped into (`env | grep PATH`), when
    /// that is the next segment of the same pipeline.
    pub piped_to: Option<Vec<String>>,
}

impl Command {
    /// True when an earlier `cd` went to a folder computed at run time: relative paths of
    /// this command name files in an unknown place.
    pub fn cwd_unknown(&self) -> bool {
        self.cwd
            .as_deref()
            .is_some_and(|d| d.contains('$') || d.contains('`'))
    }

    /// The argv as plain strings.
    pub fn args(&self) -> Vec<&str> {
        self.argv.iter().map(|w| w.text.as_str()).collect()
    }

    /// The arguments after the command name that are not options (`-x`, `--long`): the words
    /// that name a subcommand or an operand.
    pub fn operands(&self) -> Vec<&str> {
        self.argv
            .iter()
            .skip(1)
            .map(|w| w.text.as_str())
            .filter(|a| !a.starts_with('-'))
            .collect()
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
    /// The analysis stopped because its work budget was spent (parser work, steps, words,
    /// bytes, input size): why. The call must be refused: what was not analysed may be
    /// anything.
    pub budget_exhausted: Option<String>,
}

/// Analyse a shell script: every simple command it would run, canonical, with wrappers peeled
/// and nested scripts expanded. Never panics; what cannot be analysed goes to
/// [`Script::problems`].
pub fn analyze(script: &str, env: &ShellEnv) -> Script {
    let mut w = parse::Walker::new(env);
    w.script(script);
    w.out
}

/// The argv of a command quoted back into a shell string (`analyze(render(c))` yields the same
/// argv).
pub fn render(cmd: &Command) -> String {
    render::render(cmd)
}
