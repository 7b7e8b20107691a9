//! Programs that run a command line or script handed to them in another language's clothes:
//! terminal multiplexers (`tmux new -d 'cmd'`, `tmux send-keys 'cmd' Enter`, `screen -dm cmd`),
//! benchmark and watch runners (`hyperfine 'cmd'`, `entr -s 'cmd'`), `capsh -- -c 'cmd'`,
//! makefiles read from standard input or `--eval` (`printf 'all:\n\trm -rf /' | make -f -`),
//! Tcl and expect (`exec`/`spawn`), Emacs `--eval`, Julia backtick commands and PowerShell.
//! What they run is analysed as shell; code that cannot be read is a problem.

use super::parse::{Arg, Cmd, Walker};
use super::render::quote;

/// Names handled here.
pub(crate) fn is_runner(name: &str) -> bool {
    matches!(
        name,
        "tmux"
            | "screen"
            | "hyperfine"
            | "entr"
            | "capsh"
            | "make"
            | "gmake"
            | "tclsh"
            | "wish"
            | "jimsh"
            | "expect"
            | "emacs"
            | "julia"
            | "pwsh"
            | "powershell"
            | "powershell.exe"
            | "pwsh.exe"
            | "jq"
            | "gojq"
            | "jaq"
            | "deno"
            | "bun"
            | "uvx"
            | "pipx"
    ) || name.starts_with("tclsh")
        || OTHER_LANGS.iter().any(|(n, _)| *n == name)
}

/// Interpreters of other languages and their inline-code flags: code that may start programs
/// there (`elixir -e 'System.cmd(…)'`, `bb -e '(shell …)'`) is not analysed.
const OTHER_LANGS: &[(&str, &[&str])] = &[
    ("elixir", &["-e", "--eval"]),
    ("erl", &["-eval"]),
    ("guile", &["-c"]),
    ("racket", &["-e"]),
    ("bb", &["-e"]),
    ("clojure", &["-e"]),
    ("groovy", &["-e"]),
    ("scala", &["-e"]),
    ("swift", &["-e"]),
    ("sbcl", &["--eval"]),
    ("ghc", &["-e"]),
    ("ocaml", &["-e"]),
    ("kotlin", &["-e"]),
    ("jshell", &["-c"]),
];

/// The non-option words after `start`, skipping the values of the options in `valued`
/// (single letters). Stops at `--` (the rest are operands too).
fn operands(args: &[Arg], start: usize, valued: &str) -> Vec<Arg> {
    let mut out = Vec::new();
    let mut i = start;
    while let Some(a) = args.get(i) {
        let t = a.w.text.as_str();
        if t == "--" {
            out.extend(args[i + 1..].iter().cloned());
            break;
        }
        if t.len() > 1 && t.starts_with('-') && out.is_empty() {
            let last = t.chars().last().unwrap_or('-');
            i += if !t.starts_with("--") && valued.contains(last) {
                2
            } else {
                1
            };
            continue;
        }
        out.push(a.clone());
        i += 1;
    }
    out
}

/// A package or script spec that is fetched from the network when run (`https://…`,
/// `git+https://…`, `github:user/repo`).
pub(crate) fn fetched_spec(t: &str) -> bool {
    t.starts_with("http://")
        || t.starts_with("https://")
        || t.starts_with("git+")
        || t.starts_with("github:")
        || t.starts_with("gitlab:")
        || t.starts_with("git@")
}

/// Words quoted back into one command line; the flag says whether any is unknown.
fn joined(words: &[Arg]) -> (String, bool) {
    let text: Vec<String> = words.iter().map(|a| quote(&a.w.text)).collect();
    (text.join(" "), words.iter().any(|a| a.w.dynamic))
}

/// One word that is itself a command line (`tmux new 'rm -rf ~'`), or several words that
/// form one (`tmux new rm -rf ~`).
fn command_line(words: &[Arg]) -> Option<(String, bool)> {
    match words {
        [] => None,
        [one] => Some((one.w.text.clone(), one.w.dynamic)),
        many => Some(joined(many)),
    }
}

/// Emacs Lisp functions other than `shell-command` that start a program or delete files.
const LISP_RUNS_OR_DELETES: &[&str] = &[
    "call-process",
    "start-process",
    "process-file",
    "make-process",
    "delete-directory",
    "delete-file",
];
impl Walker<'_> {
    /// Variables that name a program the command may start (`PAGER='…' man ls`,
    /// `LESSOPEN='|…' less f`, `EDITOR='…' crontab -e`): their values are analysed as shell.
    pub(crate) fn command_variables(&mut self, c: &Cmd) {
        for (n, v) in &c.assignments {
            if matches!(
                n.as_str(),
                "PAGER"
                    | "MANPAGER"
                    | "SYSTEMD_PAGER"
                    | "EDITOR"
                    | "VISUAL"
                    | "LESSOPEN"
                    | "LESSCLOSE"
                    | "BROWSER"
                    | "SUDO_EDITOR"
                    | "SUDO_ASKPASS"
                    | "SSH_ASKPASS"
            ) {
                let v = v.trim_start_matches('|').to_string();
                self.nested_script(&v, &format!("{n} variable"), &c.wrappers, None, true);
            }
        }
    }

    /// Record what a runner runs (called after the runner itself was recorded).
    pub(crate) fn runner(&mut self, c: &Cmd, name: &str) {
        let args = &c.args;
        let mut scripts: Vec<(String, bool)> = Vec::new();
        match name {
            "tmux" => scripts.extend(tmux(args)),
            "screen" => {
                if let Some(i) = args.iter().position(|a| a.w.text == "-X") {
                    // `screen -X stuff 'cmd\n'` types into the session's shell.
                    if args.get(i + 1).is_some_and(|a| a.w.text == "stuff") {
                        scripts.extend(command_line(&args[i + 2..]));
                    }
                } else {
                    scripts.extend(command_line(&operands(args, 1, "SceEhpTts")));
                }
            }
            "hyperfine" => {
                let valued = "wmMrspcPDLSunN";
                let mut i = 1;
                while let Some(a) = args.get(i) {
                    let t = a.w.text.as_str();
                    let long_value = ["--setup", "--prepare", "--cleanup", "--conclude"]
                        .iter()
                        .find_map(|l| t.strip_prefix(l).map(|r| r.strip_prefix('=')));
                    match long_value {
                        Some(Some(v)) => scripts.push((v.to_string(), a.w.dynamic)),
                        Some(None) => {
                            if let Some(v) = args.get(i + 1) {
                                scripts.push((v.w.text.clone(), v.w.dynamic));
                            }
                            i += 1;
                        }
                        None if matches!(t, "-s" | "-p" | "-c") => {
                            if let Some(v) = args.get(i + 1) {
                                scripts.push((v.w.text.clone(), v.w.dynamic));
                            }
                            i += 1;
                        }
                        None if t.len() == 2 && t.starts_with('-') && valued.contains(&t[1..]) => {
                            i += 1
                        }
                        None if t.starts_with("--") && !t.contains('=') => {}
                        None if t.starts_with('-') => {}
                        None => scripts.push((t.to_string(), a.w.dynamic)),
                    }
                    i += 1;
                }
            }
            "entr" => {
                let shell = args.iter().skip(1).any(|a| {
                    a.w.text.starts_with('-')
                        && !a.w.text.starts_with("--")
                        && a.w.text.contains('s')
                });
                let ops = operands(args, 1, "");
                if shell {
                    scripts.extend(ops.first().map(|a| (a.w.text.clone(), a.w.dynamic)));
                } else if !ops.is_empty() {
                    scripts.push(joined(&ops));
                }
            }
            "capsh" => {
                if let Some(i) = args.iter().position(|a| a.w.text == "--") {
                    let (rest, d) = joined(&args[i + 1..]);
                    scripts.push((format!("bash {rest}"), d));
                }
            }
            "make" | "gmake" => return self.make(c, name),
            "jq" | "gojq" | "jaq" => return self.jq(c),
            "deno" | "bun" | "uvx" | "pipx" => {
                return self.remote_code(c, name);
            }
            _ if OTHER_LANGS.iter().any(|(n, _)| *n == name) => return self.other_lang(c, name),
            "emacs" => self.emacs(args),
            "julia" => self.julia(args),
            "pwsh" | "powershell" | "powershell.exe" | "pwsh.exe" => {
                let inline = args.iter().skip(1).any(|a| {
                    let t = a.w.text.to_ascii_lowercase();
                    let Some(opt) = t.strip_prefix('-').or_else(|| t.strip_prefix('/')) else {
                        return false;
                    };
                    !opt.is_empty()
                        && (opt == "ec"
                            || "command".starts_with(opt)
                            || "encodedcommand".starts_with(opt))
                });
                if inline || (c.stdin_text.is_some() && args.len() == 1) {
                    self.problem(format!("{name} code is not analysed"));
                }
            }
            _ => return self.tcl(c, name),
        }
        let label = format!("{name} command");
        for (text, dynamic) in scripts {
            if dynamic {
                self.problem(format!("{name} runs a command not known statically"));
                continue;
            }
            self.nested_script(&text, &label, &c.wrappers, None, true);
        }
    }

    /// `make -f -` (or `/dev/stdin`) reads its makefile from standard input; `--eval` adds
    /// makefile text. Recipe lines and `$(shell …)` run in a shell.
    fn make(&mut self, c: &Cmd, name: &str) {
        let args = &c.args;
        let mut texts: Vec<(String, bool)> = Vec::new();
        let mut i = 1;
        while let Some(a) = args.get(i) {
            let t = a.w.text.as_str();
            let next = args.get(i + 1);
            let file = match t {
                "-f" | "--file" | "--makefile" => {
                    i += 1;
                    next.map(|n| n.w.text.as_str())
                }
                _ => t
                    .strip_prefix("--file=")
                    .or_else(|| t.strip_prefix("--makefile="))
                    .or_else(|| t.strip_prefix("-f").filter(|r| !r.is_empty())),
            };
            if matches!(file, Some("-" | "/dev/stdin" | "/dev/fd/0")) {
                match &c.stdin_text {
                    Some(s) => texts.push((s.clone(), false)),
                    None if !matches!(c.stdin, super::Stdin::Inherited) => {
                        texts.push((String::new(), true))
                    }
                    None => {}
                }
            }
            if t == "-E" || t == "--eval" {
                if let Some(n) = next {
                    texts.push((n.w.text.clone(), n.w.dynamic));
                }
                i += 1;
            } else if let Some(v) = t.strip_prefix("--eval=") {
                texts.push((v.to_string(), a.w.dynamic));
            }
            i += 1;
        }
        for (text, dynamic) in texts {
            if dynamic {
                self.problem(format!("{name} reads a makefile not known statically"));
                continue;
            }
            for line in recipes(&text) {
                self.nested_script(&line, "makefile", &c.wrappers, None, true);
            }
        }
    }

    /// Tcl (`tclsh`, `wish`, `expect`): `exec`, `spawn`, `system` and `open "|…"` run
    /// programs; code comes from `-c` (expect) or standard input.
    fn tcl(&mut self, c: &Cmd, name: &str) {
        let args = &c.args;
        let mut codes: Vec<(String, bool)> = Vec::new();
        for (i, a) in args.iter().enumerate().skip(1) {
            if a.w.text == "-c"
                && let Some(v) = args.get(i + 1)
            {
                codes.push((v.w.text.clone(), v.w.dynamic));
            }
        }
        let script = operands(args, 1, "cfb").into_iter().next();
        if codes.is_empty()
            && (script.is_none() || script.as_ref().is_some_and(|s| s.w.text == "-"))
        {
            match &c.stdin_text {
                Some(t) => codes.push((t.clone(), false)),
                None if matches!(c.stdin, super::Stdin::Text(_)) => {
                    codes.push((String::new(), true))
                }
                None => {}
            }
        }
        for (code, dynamic) in codes {
            if dynamic {
                self.problem(format!("{name} code not statically analysable"));
                continue;
            }
            for line in tcl_commands(&code) {
                self.nested_script(&line, &format!("{name} exec"), &c.wrappers, None, true);
            }
        }
    }

    /// `jq -n env`, `jq -n '$ENV'`, `jq -n 'env.TOKEN'`: jq reads the environment.
    fn jq(&mut self, c: &Cmd) {
        let Some(prog) = c.args.iter().skip(1).find(|a| !a.w.text.starts_with('-')) else {
            return;
        };
        let p = &prog.w.text;
        let mut names: Vec<String> = Vec::new();
        for (i, _) in p.match_indices("env.").chain(p.match_indices("$ENV.")) {
            let start = i + p[i..].find('.').unwrap_or(0) + 1;
            let n: String = p[start..]
                .chars()
                .take_while(|ch| ch.is_ascii_alphanumeric() || *ch == '_')
                .collect();
            if !n.is_empty() {
                names.push(n);
            }
        }
        let whole = p
            .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '$'))
            .any(|w| w == "env" || w == "$ENV")
            && names.is_empty();
        let mut run = |args: Vec<String>| {
            self.emit(Cmd {
                args: args.iter().map(|s| Arg::lit(s)).collect(),
                text: c.text.clone(),
                ..Cmd::default()
            })
        };
        if whole {
            run(vec!["printenv".to_string()]);
        }
        for n in names {
            run(vec!["printenv".to_string(), n]);
        }
    }

    /// Runners that fetch code from a URL or repository and run it (`deno run https://…`,
    /// `npx github:user/repo`, `uvx --from git+https://…`): the code is not known here.
    fn remote_code(&mut self, c: &Cmd, name: &str) {
        let remote = fetched_spec;
        let runs = match name {
            "deno" | "bun" => c.args.iter().skip(1).any(|a| remote(&a.w.text)),
            _ => c.args.iter().skip(1).any(|a| {
                remote(&a.w.text)
                    || a.w.text.starts_with("--from=") && remote(&a.w.text["--from=".len()..])
                    || a.w.text.starts_with("--spec=") && remote(&a.w.text["--spec=".len()..])
            }),
        };
        if runs {
            self.problem(format!("{name} runs code fetched from the network"));
        }
    }

    /// Inline code of a language the analyser does not read: a problem when it may start a
    /// program or delete files.
    fn other_lang(&mut self, c: &Cmd, name: &str) {
        let flags = OTHER_LANGS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .unwrap_or(&[]);
        let runs = [
            "system", "cmd", "exec", "spawn", "shell", "process", "run", "popen", "delete", "rm",
            "remove", "Runtime", "sh", "bash",
        ];
        for (i, a) in c.args.iter().enumerate() {
            if !flags.contains(&a.w.text.as_str()) {
                continue;
            }
            let Some(code) = c.args.get(i + 1) else {
                continue;
            };
            let words: Vec<&str> = code
                .w
                .text
                .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .collect();
            if code.w.dynamic || words.iter().any(|w| runs.contains(w)) {
                self.problem(format!("{name} code not statically analysable"));
            }
        }
    }

    /// `emacs --eval '(shell-command "…")'`: the literal command is analysed; other code that
    /// runs programs or deletes files is a problem.
    fn emacs(&mut self, args: &[Arg]) {
        let mut i = 1;
        while let Some(a) = args.get(i) {
            let t = a.w.text.as_str();
            let code = match t {
                "--eval" | "-eval" | "--execute" | "-execute" => {
                    i += 1;
                    args.get(i).map(|n| (n.w.text.clone(), n.w.dynamic))
                }
                _ => t
                    .strip_prefix("--eval=")
                    .map(|v| (v.to_string(), a.w.dynamic)),
            };
            i += 1;
            let Some((code, dynamic)) = code else {
                continue;
            };
            if !self.lisp_file_reads(&code) {
                self.problem("emacs code reads a file named at run time");
            }
            let runs = code.contains("shell-command")
                || LISP_RUNS_OR_DELETES.iter().any(|f| code.contains(f));
            if dynamic || (runs && !self.lisp_shell_commands(&code)) {
                self.problem("emacs code not statically analysable");
            }
        }
    }

    /// `(insert-file-contents "F")`, `(find-file "F")`, `(copy-file "F" …)`: each literal file
    /// is judged as `cat F` would be; false when such a call names its file at run time.
    fn lisp_file_reads(&mut self, code: &str) -> bool {
        let mut all_literal = true;
        for f in [
            "(insert-file-contents",
            "(find-file",
            "(copy-file",
            "(rename-file",
            "(f-read",
        ] {
            for (i, _) in code.match_indices(f) {
                // The rest of the function's name (`-literally`, `-noselect`), then its argument.
                let rest = code[i + f.len()..]
                    .trim_start_matches(|c: char| c == '-' || c.is_ascii_alphanumeric());
                match rest
                    .trim_start()
                    .strip_prefix('"')
                    .and_then(|r| r.split_once('"'))
                {
                    Some((file, _)) if !file.contains('\\') => {
                        let line = format!("cat -- {}", super::quote(file));
                        self.nested_script(&line, "emacs --eval", &[], None, true)
                    }
                    _ => all_literal = false,
                }
            }
        }
        all_literal
    }

    /// Analyse `(shell-command "LITERAL")` calls; false when the code does something else that
    /// runs a program or deletes a file.
    fn lisp_shell_commands(&mut self, code: &str) -> bool {
        let mut all_literal = true;
        for (i, _) in code.match_indices("(shell-command") {
            let rest = code[i + "(shell-command".len()..].trim_start_matches("-to-string");
            let rest = rest.trim_start();
            match rest.strip_prefix('"').and_then(|r| r.split_once('"')) {
                Some((cmd, _)) if !cmd.contains('\\') => {
                    self.nested_script(cmd, "emacs --eval", &[], None, true)
                }
                _ => all_literal = false,
            }
        }
        all_literal && !LISP_RUNS_OR_DELETES.iter().any(|f| code.contains(f))
    }

    /// `julia -e 'run(`rm -rf /`)'`: backtick commands are shell-like word lists; `rm(` and
    /// commands built at run time are problems.
    fn julia(&mut self, args: &[Arg]) {
        let mut i = 1;
        while let Some(a) = args.get(i) {
            let code = match a.w.text.as_str() {
                "-e" | "--eval" | "-E" | "--print" => {
                    i += 1;
                    args.get(i).map(|n| (n.w.text.clone(), n.w.dynamic))
                }
                _ => None,
            };
            i += 1;
            let Some((code, dynamic)) = code else {
                continue;
            };
            if dynamic || code.contains("rm(") || code.contains("$(") {
                self.problem("julia code not statically analysable");
            }
            for (n, part) in code.split('`').enumerate() {
                if n % 2 == 1 {
                    if part.contains('$') {
                        self.problem("julia command built at run time");
                    } else {
                        self.nested_script(part, "julia -e", &[], None, true);
                    }
                }
            }
        }
    }
}

/// The commands of a tmux invocation that starts a program or types into a pane.
fn tmux(args: &[Arg]) -> Option<(String, bool)> {
    let sub = operands(args, 1, "LSfcT");
    let (first, rest) = sub.split_first()?;
    // `rest` still holds the subcommand's options: parse them with its own value letters.
    let mut all = vec![first.clone()];
    all.extend(rest.iter().cloned());
    let valued = match first.w.text.as_str() {
        "new-session" | "new" => "cefFnstxy",
        "new-window" | "neww" => "ceFnt",
        "split-window" | "splitw" => "celFt",
        "respawn-pane" | "respawnp" | "respawn-window" | "respawnw" => "cet",
        "run-shell" | "run" => "dt",
        "display-popup" | "popup" => "bcdehsStTwxy",
        "send-keys" | "send" => {
            let keys: Vec<Arg> = operands(&all, 1, "Nt")
                .into_iter()
                .filter(|a| !is_key_name(&a.w.text))
                .collect();
            let text: Vec<&str> = keys.iter().map(|a| a.w.text.as_str()).collect();
            return (!keys.is_empty()).then(|| (text.join(" "), keys.iter().any(|a| a.w.dynamic)));
        }
        _ => return None,
    };
    command_line(&operands(&all, 1, valued))
}

/// tmux key names (`Enter`, `C-m`, `M-x`, `Escape`…) rather than text to type.
fn is_key_name(s: &str) -> bool {
    matches!(
        s,
        "Enter" | "KPEnter" | "Escape" | "Tab" | "BTab" | "Space" | "BSpace" | "Up" | "Down"
    ) || (s.len() == 3 && (s.starts_with("C-") || s.starts_with("M-")))
}

/// The shell lines of a makefile: recipe lines (tab-indented, `target: ; cmd`) and
/// `$(shell …)` calls, with `$$` turned back into `$`.
fn recipes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let cmd = if let Some(r) = line.strip_prefix('\t') {
            Some(r)
        } else if let Some((head, tail)) = line.split_once(':')
            && !head.contains('=')
            && let Some((_, cmd)) = tail.split_once(';')
        {
            Some(cmd)
        } else {
            None
        };
        if let Some(cmd) = cmd {
            let cmd = cmd.trim().trim_start_matches(['@', '-', '+']);
            out.push(cmd.replace("$$", "$"));
        }
        let mut rest = line;
        while let Some(i) = rest.find("$(shell ") {
            let body = &rest[i + 8..];
            let end = body.find(')').unwrap_or(body.len());
            out.push(body[..end].replace("$$", "$"));
            rest = &body[end..];
        }
    }
    out
}

/// The command lines of Tcl code that run programs: `exec …`, `spawn …` (expect), `system …`
/// and `open "|…"`. Braces quote like single quotes.
fn tcl_commands(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    // `[exec …]` substitutions are commands of their own.
    for stmt in code.split(['\n', ';', '[', ']']) {
        let stmt = stmt.trim();
        let words: Vec<&str> = stmt.split_whitespace().collect();
        let Some((first, rest)) = words.split_first() else {
            continue;
        };
        let rest = rest.join(" ").replace(['{', '}'], "'");
        match *first {
            "exec" | "spawn" | "system" => {
                let rest = rest
                    .trim_start_matches("-ignorestderr ")
                    .trim_start_matches("-- ");
                out.push(rest.to_string());
            }
            "open" => {
                let r = rest.trim_start_matches(['"', '\'']);
                if let Some(cmd) = r.strip_prefix('|') {
                    out.push(cmd.trim_end_matches(['"', '\'']).to_string());
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makefile_recipes_and_shell_calls() {
        assert_eq!(recipes("all:\n\t@rm -rf /\n"), vec!["rm -rf /"]);
        assert_eq!(recipes("x: ; rm -rf ~"), vec!["rm -rf ~"]);
        assert_eq!(recipes("X := $(shell cat .env)"), vec!["cat .env"]);
        assert!(recipes("CC = gcc\nall: main.o\n").is_empty());
    }

    #[test]
    fn tcl_exec_and_spawn() {
        assert_eq!(tcl_commands("exec rm -rf /"), vec!["rm -rf /"]);
        assert_eq!(tcl_commands("spawn ssh u@h; interact"), vec!["ssh u@h"]);
        assert_eq!(tcl_commands("set x [exec ls -l]"), vec!["ls -l"]);
        assert!(tcl_commands("puts hello").is_empty());
        assert_eq!(tcl_commands("open \"|rm -rf ~\""), vec!["rm -rf ~"]);
    }
}
