//! Interpreter one-liners (python, node, perl, ruby, php, awk): what the code does, translated
//! into synthetic commands the classifier already understands. Only calls with literal
//! arguments are translated; a known call with a computed argument is a problem.

use super::parse::{Arg, Cmd, MAX_DEPTH, Walker};
use super::wrappers::Step;
use super::{Redirect, RedirectKind, Word};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Python,
    Node,
    Perl,
    Ruby,
    Php,
    Awk,
    Lua,
    R,
    AppleScript,
}

impl Lang {
    fn of(name: &str) -> Option<Lang> {
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit() || c == '.');
        if let Some(rest) = name
            .strip_prefix("python")
            .or_else(|| name.strip_prefix("pypy"))
        {
            return digits(rest).then_some(Lang::Python);
        }
        if let Some(rest) = name.strip_prefix("perl") {
            return digits(rest).then_some(Lang::Perl);
        }
        match name {
            "node" | "nodejs" | "bun" | "deno" => Some(Lang::Node),
            "ruby" | "jruby" => Some(Lang::Ruby),
            "php" => Some(Lang::Php),
            "awk" | "gawk" | "mawk" | "nawk" => Some(Lang::Awk),
            "lua" | "luajit" | "lua5.1" | "lua5.2" | "lua5.3" | "lua5.4" => Some(Lang::Lua),
            "Rscript" | "R" => Some(Lang::R),
            "osascript" => Some(Lang::AppleScript),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Node => "node",
            Lang::Perl => "perl",
            Lang::Ruby => "ruby",
            Lang::Php => "php",
            Lang::Awk => "awk",
            Lang::Lua => "lua",
            Lang::R => "Rscript",
            Lang::AppleScript => "osascript",
        }
    }
}

/// Where the code of an interpreter command comes from.
enum Code {
    /// Inline code (`-c`, `-e`, the awk program), with the flag used.
    Inline(String, String, bool, usize),
    /// A script file or module: nothing to analyse here.
    Elsewhere,
    /// Standard input.
    Stdin,
}

/// What a piece of interpreter code does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Act {
    Shell(String),
    Argv(Vec<String>),
    Rm(bool, String),
    Read(String),
    Write(String, bool),
    Code(String),
    NonLiteral(String),
}

#[derive(Debug, Clone, PartialEq)]
enum T {
    Id(String),
    Str(String, bool),
    Sh(String, bool),
    List(Vec<String>),
    Var,
    P(char),
    Nl,
}

impl Walker<'_> {
    /// Shell commands inside editor commands (`call system("…")`).
    pub(crate) fn vim_code(&mut self, code: &str, text: &str) {
        let acts: Vec<Act> = analyse(Lang::Awk, code)
            .into_iter()
            .filter(|a| matches!(a, Act::Shell(_) | Act::NonLiteral(_)))
            .collect();
        self.acts(Lang::Awk, acts, text);
    }

    /// Handle an interpreter command; None when `name` is not an interpreter.
    pub(crate) fn interpreter(&mut self, c: &mut Cmd, name: &str) -> Option<Step> {
        let lang = Lang::of(name)?;
        let code = extract(lang, &c.args);
        let mut inputs: Vec<(String, bool)> = Vec::new();
        let (label, text) = match code {
            Code::Inline(flag, text, dynamic, rest) => {
                if dynamic {
                    self.problem(format!("{} code not statically analysable", lang.name()));
                    return Some(Step::Keep);
                }
                inputs = line_loop_inputs(lang, &c.args, rest);
                (format!("{} {flag}", lang.name()), text)
            }
            Code::Elsewhere => {
                let written = c
                    .args
                    .iter()
                    .skip(1)
                    .find(|a| !a.w.text.starts_with('-') && !a.w.dynamic)
                    .and_then(|a| {
                        self.files
                            .get(&self.file_key(&a.w.text))
                            .cloned()
                            .flatten()
                            .map(|t| (a.w.text.clone(), t))
                    });
                if let Some(Some(t)) = c.args.iter().skip(1).find_map(|a| a.procsub.clone()) {
                    (format!("{} <(..)", lang.name()), t)
                } else if let Some((file, t)) = written {
                    (format!("{} {file}", lang.name()), t)
                } else {
                    if c.args.iter().skip(1).any(|a| a.procsub == Some(None)) {
                        c.stdin = super::Stdin::Pipe;
                    }
                    if let Some(a) = c.args.iter().skip(1).find(|a| !a.w.text.starts_with('-')) {
                        let t = a.w.text.clone();
                        self.unknown_written(&t);
                    }
                    return Some(Step::Keep);
                }
            }
            Code::Stdin => match c.stdin_text.clone() {
                Some(t) => (format!("{} <stdin", lang.name()), t),
                None => {
                    if matches!(c.stdin, super::Stdin::Text(_)) {
                        self.problem(format!("{} reads code not known statically", lang.name()));
                    }
                    for a in c.args.iter_mut().skip(1) {
                        if matches!(a.w.text.as_str(), "/dev/stdin" | "/dev/fd/0") {
                            a.w.dynamic = true;
                        }
                    }
                    return Some(Step::Keep);
                }
            },
        };
        let wrappers = c.wrappers.clone();
        let mut own = c.clone();
        own.stdin_text = None;
        self.emit(own);
        self.nested.push(label.clone());
        let wl = self.wrap_prefix.len();
        self.wrap_prefix.extend(wrappers);
        let inherited = self.inherited.take();
        self.code(lang, &text, &c.text);
        self.inherited = inherited;
        // An in-place loop (`perl -pi -e 's/a/b/' f`) prints into the file it rewrites, not
        // to the agent, unless its code writes to the terminal itself.
        let to_terminal = [
            "STDOUT", "STDERR", "warn", "die", "$stdout", "$stderr", "/dev/tty",
        ]
        .iter()
        .any(|w| text.contains(w));
        for (file, in_place) in inputs {
            if !in_place || to_terminal {
                self.emit(Cmd {
                    args: vec![Arg::lit("cat"), Arg::lit(&file)],
                    text: c.text.clone(),
                    ..Cmd::default()
                });
            }
            if in_place {
                self.emit(Cmd {
                    redirects: vec![Redirect {
                        kind: RedirectKind::Write,
                        target: Word {
                            text: file,
                            glob: false,
                            dynamic: false,
                        },
                    }],
                    text: c.text.clone(),
                    ..Cmd::default()
                });
            }
        }
        self.wrap_prefix.truncate(wl);
        self.nested.pop();
        Some(Step::Done(None))
    }

    fn code(&mut self, lang: Lang, code: &str, text: &str) {
        if self.depth >= MAX_DEPTH {
            self.problem(format!("nesting deeper than {MAX_DEPTH} levels"));
            return;
        }
        self.depth += 1;
        let mut acts = analyse(lang, code);
        if dumps_environment(lang, code) {
            acts.push(Act::Argv(vec!["printenv".to_string()]));
        }
        for name in printed_variables(lang, code, self.nested.last().map(String::as_str)) {
            acts.push(Act::Argv(vec!["printenv".to_string(), name]));
        }
        self.acts(lang, acts, text);
        self.depth -= 1;
    }

    fn acts(&mut self, lang: Lang, acts: Vec<Act>, text: &str) {
        for act in acts {
            let lit = |v: &[&str]| v.iter().map(|s| Arg::lit(s)).collect::<Vec<_>>();
            match act {
                Act::Shell(s) => self.nested_script(&s, "", &[], None, true),
                Act::Argv(v) => {
                    self.run(Cmd {
                        args: v.iter().map(|s| Arg::lit(s)).collect(),
                        text: text.to_string(),
                        ..Cmd::default()
                    });
                }
                Act::Rm(rec, p) => {
                    let args = if rec {
                        lit(&["rm", "-r", "-f", &p])
                    } else {
                        lit(&["rm", &p])
                    };
                    self.emit(Cmd {
                        args,
                        text: text.to_string(),
                        ..Cmd::default()
                    });
                }
                Act::Read(p) => self.emit(Cmd {
                    args: lit(&["cat", &p]),
                    text: text.to_string(),
                    ..Cmd::default()
                }),
                Act::Write(p, append) => self.emit(Cmd {
                    redirects: vec![Redirect {
                        kind: if append {
                            RedirectKind::Append
                        } else {
                            RedirectKind::Write
                        },
                        target: Word {
                            text: p,
                            glob: false,
                            dynamic: false,
                        },
                    }],
                    text: text.to_string(),
                    ..Cmd::default()
                }),
                Act::Code(s) => self.code(lang, &s, text),
                Act::NonLiteral(call) => self.problem(format!(
                    "{} code not statically analysable: {call}",
                    lang.name()
                )),
            }
        }
    }
}

/// Code that hands over the whole environment (`print(os.environ)`, `console.log(process.env)`,
/// `p ENV.to_h`, `%ENV`, `getenv()`, `for (k in ENVIRON)`), rather than one variable by name.
fn dumps_environment(lang: Lang, code: &str) -> bool {
    let squeezed: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let whole = |name: &str, by_name: &[&str]| {
        code.match_indices(name).any(|(i, _)| {
            let before = code[..i].chars().last();
            let after: String = code[i + name.len()..]
                .chars()
                .filter(|c| !c.is_whitespace())
                .take(16)
                .collect();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                && !after.starts_with(|c: char| c.is_alphanumeric() || c == '_')
                && !by_name.iter().any(|b| after.starts_with(b))
        })
    };
    match lang {
        Lang::Python => whole(
            "os.environ",
            &[
                "[",
                ".get(",
                ".setdefault(",
                ".pop(",
                ".copy(",
                ".update(",
                "=",
                ".__contains__",
            ],
        ),
        Lang::Node => whole("process.env", &[".", "[", "="]),
        Lang::Ruby => whole(
            "ENV",
            &["[", ".fetch(", ".key?", ".include?", ".has_key?", "="],
        ),
        Lang::Perl => squeezed.contains("%ENV"),
        Lang::Php => {
            squeezed.contains("getenv()") || whole("$_ENV", &["["]) || whole("$_SERVER", &["["])
        }
        Lang::Awk => squeezed.contains("inENVIRON"),
        Lang::Lua | Lang::R | Lang::AppleScript => false,
    }
}

/// Variables read by name in code that prints (`print(os.environ["TOKEN"])`,
/// `node -p process.env.TOKEN`): each stands for `printenv NAME`, which the classifier judges
/// by the name.
fn printed_variables(lang: Lang, code: &str, label: Option<&str>) -> Vec<String> {
    use std::sync::LazyLock;
    static REFS: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r#"(?:environ(?:\.get)?\s*[\[(]\s*|getenv\s*\(\s*|process\.env\.|process\.env\[\s*|ENV(?:\.fetch)?\s*[\[(]\s*|\$ENV\{\s*|\$_ENV\[\s*|Sys\.getenv\(\s*|os\.getenv\(\s*)["']?([A-Za-z_][A-Za-z0-9_]*)"#,
        )
        .expect("static regex")
    });
    static PRINTS: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"\bprint(?:ln|f)?\b|console\.(?:log|error|info|warn)|process\.std(?:out|err)|\bputs\b|\bsay\b|\becho\b|\bp\s|\bpp\b|\bcat\(",
        )
        .expect("static regex")
    });
    let flag_prints = label.is_some_and(|l| l.ends_with(" -p") || l.ends_with(" --print"));
    if !matches!(
        lang,
        Lang::Python | Lang::Node | Lang::Ruby | Lang::Perl | Lang::Php | Lang::Lua | Lang::R
    ) || !(flag_prints || PRINTS.is_match(code))
    {
        return Vec::new();
    }
    REFS.captures_iter(code).map(|c| c[1].to_string()).collect()
}

/// The files a `perl -n/-p` or `ruby -n/-p` loop reads (and rewrites with `-i`).
fn line_loop_inputs(lang: Lang, args: &[Arg], rest: usize) -> Vec<(String, bool)> {
    if !matches!(lang, Lang::Perl | Lang::Ruby) {
        return Vec::new();
    }
    let (mut looping, mut in_place) = (false, false);
    for a in &args[1..rest.min(args.len())] {
        let t = &a.w.text;
        if let Some(cluster) = t.strip_prefix('-').filter(|_| !t.starts_with("--")) {
            for ch in cluster.chars() {
                match ch {
                    'n' | 'p' => looping = true,
                    'i' => {
                        in_place = true;
                        break;
                    }
                    'e' | 'E' | 'M' | 'I' | 'r' => break,
                    _ => {}
                }
            }
        }
    }
    if !looping {
        return Vec::new();
    }
    args[rest.min(args.len())..]
        .iter()
        .filter(|a| !a.w.dynamic && a.w.text != "-")
        .map(|a| (a.w.text.clone(), in_place))
        .collect()
}

/// Find the inline code of an interpreter command line.
fn extract(lang: Lang, args: &[Arg]) -> Code {
    // `deno eval CODE`, `bun eval CODE`: a subcommand instead of a flag.
    if lang == Lang::Node
        && matches!(args[0].w.text.rsplit('/').next(), Some("deno" | "bun"))
        && args.get(1).is_some_and(|a| a.w.text == "eval")
    {
        let code = args.iter().skip(2).find(|a| !a.w.text.starts_with('-'));
        return match code {
            Some(a) => Code::Inline("eval".into(), a.w.text.clone(), a.w.dynamic, args.len()),
            None => Code::Stdin,
        };
    }
    let mut i = 1;
    let mut pieces: Vec<String> = Vec::new();
    let mut flag = String::new();
    let mut dynamic = false;
    let val = |i: usize| args.get(i).map(|a| (a.w.text.clone(), a.w.dynamic));
    while i < args.len() {
        let a = args[i].w.text.clone();
        if a == "--" {
            i += 1;
            break;
        }
        if matches!(a.as_str(), "-" | "/dev/stdin" | "/dev/fd/0") {
            return Code::Stdin;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (n, v) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let code_opt = match lang {
                Lang::Node => matches!(n, "eval" | "print"),
                Lang::Awk => n == "source",
                _ => false,
            };
            if code_opt {
                let (t, d, w) = match v {
                    Some(v) => (v, args[i].w.dynamic, 1),
                    None => val(i + 1).map(|(t, d)| (t, d, 2)).unwrap_or_default(),
                };
                pieces.push(t);
                dynamic |= d;
                flag = format!("--{n}");
                i += w;
                continue;
            }
            let takes = match lang {
                Lang::Node => matches!(n, "require" | "import" | "loader" | "input-type"),
                Lang::Awk => matches!(n, "file" | "assign" | "field-separator"),
                _ => false,
            };
            if lang == Lang::Awk && n == "file" {
                return Code::Elsewhere;
            }
            i += if takes && v.is_none() { 2 } else { 1 };
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut width = 1;
            let mut k = 0;
            while k < chars.len() {
                let ch = &chars[k];
                let rest: String = chars[k + 1..].iter().collect();
                let is_code = match lang {
                    Lang::Python => *ch == 'c',
                    Lang::Node => matches!(ch, 'e' | 'p'),
                    Lang::Perl => matches!(ch, 'e' | 'E'),
                    Lang::Ruby => *ch == 'e',
                    Lang::Php => *ch == 'r',
                    Lang::Awk | Lang::Lua | Lang::R | Lang::AppleScript => *ch == 'e',
                };
                if is_code {
                    if rest.is_empty() {
                        let (t, d) = val(i + 1).unwrap_or_default();
                        pieces.push(t);
                        dynamic |= d;
                        width = 2;
                    } else {
                        pieces.push(rest);
                        dynamic |= args[i].w.dynamic;
                    }
                    flag = format!("-{ch}");
                    break;
                }
                if (lang == Lang::Python && *ch == 'm')
                    || (lang == Lang::Php && *ch == 'f')
                    || (lang == Lang::Awk && *ch == 'f')
                {
                    return Code::Elsewhere;
                }
                let takes_value = match lang {
                    Lang::Python => matches!(ch, 'W' | 'X'),
                    Lang::Node => matches!(ch, 'r'),
                    Lang::Perl => matches!(ch, 'I' | 'M' | 'm'),
                    Lang::Ruby => matches!(ch, 'r' | 'I' | 'C' | 'E'),
                    Lang::Php => matches!(ch, 'd' | 'c' | 'z'),
                    Lang::Awk => matches!(ch, 'F' | 'v'),
                    Lang::Lua => matches!(ch, 'l'),
                    Lang::R => false,
                    Lang::AppleScript => matches!(ch, 'l' | 's'),
                };
                if takes_value {
                    if rest.is_empty() {
                        width = 2;
                    }
                    break;
                }
                // Options whose value is the rest of the word.
                let rest_is_value = match lang {
                    Lang::Perl => matches!(ch, 'i' | 'x' | 'F' | 'C' | 'd' | 'D'),
                    Lang::Ruby => matches!(ch, 'i' | 'x' | 'K' | 'T' | 'W'),
                    _ => false,
                };
                if rest_is_value {
                    break;
                }
                // Options with optional attached digits (`-l0`, `-0777`).
                let digits = matches!(lang, Lang::Perl | Lang::Ruby) && matches!(ch, 'l' | '0');
                k += 1;
                if digits {
                    while k < chars.len() && chars[k].is_ascii_digit() {
                        k += 1;
                    }
                }
            }
            i += width;
            continue;
        }
        break;
    }
    if !pieces.is_empty() {
        return Code::Inline(flag, pieces.join("\n"), dynamic, i);
    }
    if lang == Lang::Awk
        && let Some(a) = args.get(i)
    {
        return Code::Inline(String::new(), a.w.text.clone(), a.w.dynamic, i + 1);
    }
    if i < args.len() {
        Code::Elsewhere
    } else {
        Code::Stdin
    }
}

/// Translate code into actions.
fn analyse(lang: Lang, code: &str) -> Vec<Act> {
    let mut toks = lex(lang, code);
    // `import os as o`, `from os import system as run`: use the real names.
    let mut alias: Vec<(String, String)> = Vec::new();
    for w in toks.windows(4) {
        if let [T::Id(i), T::Id(orig), T::Id(a), T::Id(new)] = w
            && i == "import"
            && a == "as"
        {
            alias.push((new.clone(), orig.clone()));
        }
    }
    if !alias.is_empty() {
        for t in toks.iter_mut() {
            if let T::Id(n) = t
                && let Some((_, orig)) = alias.iter().find(|(a, _)| a == n)
            {
                *n = orig.clone();
            }
        }
    }
    let mut acts = Vec::new();
    if let Some(shell) = remote_shell(lang, &toks) {
        acts.push(shell);
    }
    if lang == Lang::Awk {
        awk(&toks, &mut acts);
    }
    if lang == Lang::AppleScript {
        for w in toks.windows(4) {
            if let [T::Id(a), T::Id(b), T::Id(c), arg] = w
                && a == "do"
                && b == "shell"
                && c == "script"
            {
                acts.push(match arg {
                    T::Str(s, true) => Act::Shell(s.clone()),
                    _ => Act::NonLiteral("do shell script".to_string()),
                });
            }
        }
        return acts;
    }
    for (i, t) in toks.iter().enumerate() {
        match t {
            T::Sh(s, true) => acts.push(Act::Shell(s.clone())),
            T::Sh(_, false) => acts.push(Act::NonLiteral("`..`".to_string())),
            // An evaluator handed over as a value (`.then(eval)`, `map(exec, lines)`): it runs
            // whatever text reaches it at run time.
            T::Id(name)
                if matches!(name.as_str(), "eval" | "exec" | "Function")
                    && i > 0
                    && matches!(toks[i - 1], T::P('(' | ','))
                    && matches!(toks.get(i + 1), Some(T::P(')' | ','))) =>
            {
                acts.push(Act::NonLiteral(format!("{name} passed as a value")));
            }
            T::Id(name) => {
                let args = match toks.get(i + 1) {
                    Some(T::P('(')) => call_args(&toks, i + 2, true),
                    Some(T::Str(..) | T::List(_) | T::Var | T::Sh(..))
                        if matches!(lang, Lang::Perl | Lang::Ruby) =>
                    {
                        call_args(&toks, i + 1, false)
                    }
                    // Perl list operators take barewords too: `unlink glob "…"`, `open FH, …`.
                    Some(T::Id(_)) if lang == Lang::Perl => call_args(&toks, i + 1, false),
                    // Ruby commands without parentheses: `eval STDIN.read`, `system cmd`.
                    Some(T::Id(_))
                        if lang == Lang::Ruby
                            && matches!(
                                name.as_str(),
                                "eval" | "instance_eval" | "system" | "exec" | "spawn"
                            ) =>
                    {
                        call_args(&toks, i + 1, false)
                    }
                    // A method call without parentheses (`path("x")->slurp`).
                    _ if matches!(lang, Lang::Perl | Lang::Ruby)
                        && i > 0
                        && toks[i - 1] == T::P('.') =>
                    {
                        Vec::new()
                    }
                    _ => continue,
                };
                let qual = qualifier(&toks, i);
                if let Some(a) = call(lang, name, &qual, &args, &toks, i) {
                    acts.extend(a);
                }
            }
            _ => {}
        }
    }
    acts
}

/// A reverse or bind shell: code that opens a network socket and also starts a process or
/// hands the socket to one (`os.dup2`, `pty.spawn`, `exec "/bin/sh"`, `child_process`). Stands
/// for `nc -e /bin/sh HOST PORT` with the first literal that names a host.
fn remote_shell(lang: Lang, toks: &[T]) -> Option<Act> {
    let (sockets, runners): (&[&str], &[&str]) = match lang {
        Lang::Python => (
            &["socket", "create_connection", "socketpair"],
            &[
                "dup2",
                "spawn",
                "subprocess",
                "system",
                "popen",
                "Popen",
                "execv",
                "execve",
                "execl",
                "execlp",
                "execvp",
                "call",
                "run",
                "pty",
            ],
        ),
        Lang::Perl => (
            &["Socket", "INET", "socket", "PeerAddr"],
            &["exec", "system", "STDIN", "STDOUT", "open"],
        ),
        Lang::Ruby => (
            &["TCPSocket", "UDPSocket", "Socket", "TCPServer", "socket"],
            &["exec", "spawn", "system", "popen", "popen3", "syscall"],
        ),
        Lang::Php => (
            &[
                "fsockopen",
                "stream_socket_client",
                "socket_create",
                "pfsockopen",
            ],
            &[
                "exec",
                "shell_exec",
                "system",
                "passthru",
                "proc_open",
                "popen",
            ],
        ),
        Lang::Node => (
            &[
                "net",
                "Socket",
                "createConnection",
                "connect",
                "dgram",
                "tls",
            ],
            &[
                "child_process",
                "spawn",
                "exec",
                "execSync",
                "execFile",
                "fork",
            ],
        ),
        Lang::Lua => (&["socket", "tcp", "connect"], &["execute", "popen"]),
        _ => return None,
    };
    let words: Vec<&str> = toks
        .iter()
        .filter_map(|t| match t {
            T::Id(s) | T::Str(s, _) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    let has = |set: &[&str]| words.iter().any(|w| set.contains(w));
    if !has(sockets) || !has(runners) {
        return None;
    }
    // A bind shell serves whoever connects: the peer is any remote machine.
    let listens = has(&["bind", "listen", "accept", "TCPServer", "createServer"]);
    let host = toks
        .iter()
        .filter(|_| !listens)
        .find_map(|t| match t {
            T::Str(s, _) if looks_like_host(s) => Some(s.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "remote-host".to_string());
    Some(Act::Argv(
        ["nc", "-e", "/bin/sh", &host, "0"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    ))
}

/// A literal that names a machine: `localhost`, an IPv4 address or a dotted name.
fn looks_like_host(s: &str) -> bool {
    s == "localhost"
        || s.contains('.')
            && !s.starts_with('.')
            && !s.ends_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

/// What qualifies a call: `os` in `os.system(`, `Path` in `Path("x").unlink(`, "" if none.
fn qualifier(toks: &[T], i: usize) -> String {
    if i >= 2 && toks[i - 1] == T::P('.') {
        match &toks[i - 2] {
            T::Id(q) => return q.clone(),
            T::P(')') => {
                // Find the callee of the parenthesised call before the dot.
                let mut depth = 0;
                let mut j = i - 2;
                loop {
                    match toks[j] {
                        T::P(')') => depth += 1,
                        T::P('(') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    if j == 0 {
                        return String::new();
                    }
                    j -= 1;
                }
                if j >= 1
                    && let T::Id(q) = &toks[j - 1]
                {
                    if let Some(T::Str(s, true)) = toks.get(j + 1) {
                        if matches!(q.as_str(), "__import__" | "require" | "import_module") {
                            return s.clone();
                        }
                        return format!("{q}({s})");
                    }
                    return format!("{q}(..)");
                }
            }
            _ => {}
        }
    }
    String::new()
}

/// The arguments of a call: token groups split on top-level commas.
fn call_args(toks: &[T], start: usize, paren: bool) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = vec![Vec::new()];
    let mut depth = 0;
    for t in &toks[start.min(toks.len())..] {
        match t {
            T::P('(' | '[' | '{') => depth += 1,
            T::P(')' | ']' | '}') if depth == 0 => break,
            T::P(')' | ']' | '}') => depth -= 1,
            T::P(',') if depth == 0 => {
                out.push(Vec::new());
                continue;
            }
            T::P(';') if !paren && depth == 0 => break,
            T::Nl if !paren && depth == 0 => break,
            T::Id(k)
                if !paren
                    && depth == 0
                    && matches!(k.as_str(), "or" | "and" | "if" | "unless" | "do") =>
            {
                break;
            }
            T::Nl => continue,
            _ => {}
        }
        if let Some(last) = out.last_mut() {
            last.push(t.clone());
        }
    }
    if out.len() == 1 && out[0].is_empty() {
        out.clear();
    }
    out
}

/// A literal string argument (concatenations of literals allowed).
fn lit(arg: &[T]) -> Option<String> {
    let mut s = String::new();
    let mut any = false;
    for t in arg {
        match t {
            T::Str(v, true) => {
                s.push_str(v);
                any = true;
            }
            T::P('+' | '.') => {}
            _ => return None,
        }
    }
    any.then_some(s)
}

/// A literal list argument (`["rm", "-rf", "/"]`, `qw(rm -rf /)`).
fn list(arg: &[T]) -> Option<Vec<String>> {
    if let [T::List(v)] = arg {
        return Some(v.clone());
    }
    let inner = match (arg.first(), arg.last()) {
        (Some(T::P('[')), Some(T::P(']'))) => &arg[1..arg.len() - 1],
        _ => return None,
    };
    inner
        .split(|t| *t == T::P(','))
        .filter(|g| !g.is_empty())
        .map(lit)
        .collect()
}

fn kw<'a>(args: &'a [Vec<T>], key: &str) -> Option<&'a [T]> {
    args.iter().find_map(|a| match a.as_slice() {
        [T::Id(k), T::P('='), rest @ ..] if k == key => Some(rest),
        _ => None,
    })
}

fn has_word(args: &[Vec<T>], w: &str) -> bool {
    args.iter()
        .flatten()
        .any(|t| matches!(t, T::Id(k) if k == w))
}

fn shell_or_argv(args: &[Vec<T>], name: &str) -> Vec<Act> {
    let Some(first) = args.first() else {
        return vec![];
    };
    if let Some(s) = lit(first) {
        if args.len() > 1 && args[1..].iter().all(|a| lit(a).is_some()) {
            let mut v = vec![s];
            v.extend(args[1..].iter().filter_map(|a| lit(a)));
            return vec![Act::Argv(v)];
        }
        return vec![Act::Shell(s)];
    }
    if let Some(v) = list(first) {
        return vec![Act::Argv(v)];
    }
    vec![Act::NonLiteral(format!("{name}(..)"))]
}

fn path_act(args: &[Vec<T>], name: &str, f: impl Fn(String) -> Act) -> Vec<Act> {
    match args.first().and_then(|a| lit(a)) {
        Some(p) => vec![f(p)],
        None => vec![Act::NonLiteral(format!("{name}(..)"))],
    }
}

fn two_paths(args: &[Vec<T>], name: &str, argv: &[&str]) -> Vec<Act> {
    match (
        args.first().and_then(|a| lit(a)),
        args.get(1).and_then(|a| lit(a)),
    ) {
        (Some(a), Some(b)) => {
            let mut v: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
            v.push(a);
            v.push(b);
            vec![Act::Argv(v)]
        }
        _ => vec![Act::NonLiteral(format!("{name}(..)"))],
    }
}

fn mode_act(path: String, mode: Option<String>) -> Act {
    let m = mode.unwrap_or_default();
    if m.contains('a') {
        Act::Write(path, true)
    } else if m.contains('w') || m.contains('x') || m.contains('+') {
        Act::Write(path, false)
    } else {
        Act::Read(path)
    }
}

/// The path inside a `Path("x")` qualifier.
fn path_qual(q: &str) -> Option<String> {
    let inner = q
        .strip_prefix("Path(")
        .or_else(|| q.strip_prefix("PurePath("))
        .or_else(|| q.strip_prefix("path("))?;
    let p = inner.strip_suffix(')')?;
    (p != "..").then(|| p.to_string())
}

/// Translate one call; None when it is not a call we know.
fn call(
    lang: Lang,
    name: &str,
    qual: &str,
    args: &[Vec<T>],
    toks: &[T],
    i: usize,
) -> Option<Vec<Act>> {
    let _ = (toks, i);
    let q = qual;
    let any_q = |qs: &[&str]| qs.contains(&q);
    Some(match lang {
        Lang::Python => match name {
            "system" if any_q(&["os", ""]) => shell_or_argv(args, name),
            "popen" if any_q(&["os"]) => shell_or_argv(args, name),
            "getoutput" | "getstatusoutput" | "check_output" | "check_call" | "Popen" => {
                shell_or_argv(args, name)
            }
            "run" | "call" if any_q(&["subprocess", "sp"]) => shell_or_argv(args, name),
            "spawn" if q == "pty" => shell_or_argv(args, name),
            // `getattr(os, "sys" + "tem")`: a function of a module that runs programs or
            // deletes files, picked by a computed name.
            "getattr" | "__getattribute__"
                if args.first().is_some_and(|a| {
                    matches!(a.first(), Some(T::Id(m)) if matches!(
                        m.as_str(),
                        "os" | "subprocess" | "shutil" | "pty" | "posix" | "builtins" | "__builtins__"
                    ))
                }) =>
            {
                vec![Act::NonLiteral("getattr(module, ..)".to_string())]
            }
            n if q == "os" && (n.starts_with("exec") || n.starts_with("spawn")) => {
                let skip = usize::from(n.starts_with("spawn"));
                let rest = &args[(skip + 1).min(args.len())..];
                if let Some(v) = rest.first().and_then(|a| list(a)) {
                    vec![Act::Argv(v)]
                } else {
                    let v: Option<Vec<String>> = rest.iter().map(|a| lit(a)).collect();
                    match v {
                        Some(v) if !v.is_empty() => vec![Act::Argv(v)],
                        _ => vec![Act::NonLiteral(format!("os.{n}(..)"))],
                    }
                }
            }
            "rmtree" => path_act(args, name, |p| Act::Rm(true, p)),
            "remove" | "unlink" | "rmdir" | "removedirs" if q == "os" => {
                path_act(args, name, |p| Act::Rm(false, p))
            }
            "unlink" | "rmdir" if path_qual(q).is_some() => vec![Act::Rm(false, path_qual(q)?)],
            // `p.unlink()` on a path computed at run time (`for p in Path("/").rglob("*")`).
            "unlink" | "rmdir" if !q.is_empty() => {
                vec![Act::NonLiteral(format!("{q}.{name}()"))]
            }
            "read_text" | "read_bytes" if path_qual(q).is_some() => vec![Act::Read(path_qual(q)?)],
            "write_text" | "write_bytes" if path_qual(q).is_some() => {
                vec![Act::Write(path_qual(q)?, false)]
            }
            "open" if path_qual(q).is_some() => {
                let mode = args
                    .first()
                    .and_then(|a| lit(a))
                    .or_else(|| kw(args, "mode").and_then(lit));
                vec![mode_act(path_qual(q)?, mode)]
            }
            "open" if any_q(&["", "io", "codecs", "builtins"]) => {
                let Some(p) = args.first().and_then(|a| lit(a)) else {
                    return Some(vec![Act::NonLiteral("open(..)".to_string())]);
                };
                let mode = args
                    .get(1)
                    .filter(|a| !matches!(a.get(1), Some(T::P('='))))
                    .and_then(|a| lit(a))
                    .or_else(|| kw(args, "mode").and_then(lit));
                vec![mode_act(p, mode)]
            }
            "exec" | "eval" if q.is_empty() => match args.first().and_then(|a| lit(a)) {
                Some(s) => vec![Act::Code(s)],
                None => vec![Act::NonLiteral(format!("{name}(..)"))],
            },
            "copy" | "copyfile" | "copy2" if q == "shutil" => two_paths(args, name, &["cp"]),
            "copytree" if q == "shutil" => two_paths(args, name, &["cp", "-r"]),
            "move" if q == "shutil" => two_paths(args, name, &["mv"]),
            "rename" | "replace" if q == "os" => two_paths(args, name, &["mv"]),
            "symlink" if q == "os" => two_paths(args, name, &["ln", "-s"]),
            "link" if q == "os" => two_paths(args, name, &["ln"]),
            _ => return None,
        },
        Lang::Node => match name {
            "exec" | "execSync" => shell_or_argv(args, name),
            "spawn" | "spawnSync" | "execFile" | "execFileSync" => {
                let cmd = args.first().and_then(|a| lit(a));
                let rest = args.get(1).and_then(|a| list(a)).unwrap_or_default();
                match cmd {
                    Some(c) if has_word(args, "shell") => {
                        let mut s = c;
                        for r in rest {
                            s.push(' ');
                            s.push_str(&r);
                        }
                        vec![Act::Shell(s)]
                    }
                    Some(c) => {
                        let mut v = vec![c];
                        v.extend(rest);
                        vec![Act::Argv(v)]
                    }
                    None => vec![Act::NonLiteral(format!("{name}(..)"))],
                }
            }
            "rmSync" | "rmdirSync" | "rm" | "rmdir" if !q.is_empty() || name.ends_with("Sync") => {
                let rec = has_word(args, "recursive");
                if rec {
                    path_act(args, name, |p| Act::Rm(true, p))
                } else {
                    path_act(args, name, |p| Act::Rm(false, p))
                }
            }
            "unlinkSync" | "unlink" if !q.is_empty() || name.ends_with("Sync") => {
                path_act(args, name, |p| Act::Rm(false, p))
            }
            "readFileSync" | "readFile" | "createReadStream" | "openSync" => {
                path_act(args, name, Act::Read)
            }
            "writeFileSync" | "writeFile" | "createWriteStream" => {
                path_act(args, name, |p| Act::Write(p, false))
            }
            "appendFileSync" | "appendFile" => path_act(args, name, |p| Act::Write(p, true)),
            "copyFileSync" | "copyFile" | "cpSync" => two_paths(args, name, &["cp", "-r"]),
            "renameSync" | "rename" if !q.is_empty() => two_paths(args, name, &["mv"]),
            "symlinkSync" | "symlink" if !q.is_empty() => two_paths(args, name, &["ln", "-s"]),
            "linkSync" | "link" if !q.is_empty() => two_paths(args, name, &["ln"]),
            "eval" if q.is_empty() => match args.first().and_then(|a| lit(a)) {
                Some(s) => vec![Act::Code(s)],
                None => vec![Act::NonLiteral("eval(..)".to_string())],
            },
            // Deno's file API.
            "remove" | "removeSync" if q == "Deno" => {
                let rec = has_word(args, "recursive");
                path_act(args, name, |p| Act::Rm(rec, p))
            }
            "readTextFile" | "readTextFileSync" if q == "Deno" => path_act(args, name, Act::Read),
            "writeTextFile" | "writeTextFileSync" if q == "Deno" => {
                path_act(args, name, |p| Act::Write(p, false))
            }
            _ => return None,
        },
        Lang::Perl => match name {
            // Path::Tiny: `path("x")->slurp`, `->spew`, `->remove_tree`.
            "slurp" | "slurp_utf8" | "lines" if path_qual(q).is_some() => {
                vec![Act::Read(path_qual(q)?)]
            }
            "spew" | "spew_utf8" if path_qual(q).is_some() => {
                vec![Act::Write(path_qual(q)?, false)]
            }
            "remove_tree" | "remove" if path_qual(q).is_some() => {
                vec![Act::Rm(true, path_qual(q)?)]
            }
            "system" | "exec" => shell_or_argv(args, name),
            "rmtree" | "remove_tree" => many_paths(args, name, |p| Act::Rm(true, p)),
            "unlink" | "rmdir" => many_paths(args, name, |p| Act::Rm(false, p)),
            "open" | "sysopen" => perl_open(args),
            // `eval { … }` (a block) never gets here; `eval EXPR` runs the string.
            "eval" => match args.first().and_then(|a| lit(a)) {
                Some(s) => vec![Act::Code(s)],
                None => vec![Act::NonLiteral("eval(..)".to_string())],
            },
            "copy" => two_paths(args, name, &["cp"]),
            "move" | "rename" => two_paths(args, name, &["mv"]),
            "symlink" => two_paths(args, name, &["ln", "-s"]),
            "read_file" | "read_text" | "read_binary" | "slurp" if !q.starts_with("path(") => {
                path_act(args, name, Act::Read)
            }
            "write_file" | "write_text" | "spew" if !q.starts_with("path(") => {
                path_act(args, name, |p| Act::Write(p, false))
            }
            _ => return None,
        },
        Lang::Ruby => match name {
            "system" | "exec" | "spawn" if any_q(&["", "Kernel", "Process"]) => {
                shell_or_argv(args, name)
            }
            "popen" if q == "IO" => shell_or_argv(args, name),
            "capture2" | "capture2e" | "capture3" | "popen2" | "popen3" if q == "Open3" => {
                shell_or_argv(args, name)
            }
            "rm_rf" | "rm_r" | "remove_dir" | "remove_entry" | "remove_entry_secure" | "rmtree" => {
                many_paths(args, name, |p| Act::Rm(true, p))
            }
            "rm" | "rm_f" | "remove" | "safe_unlink" | "rmdir" if q == "FileUtils" => {
                many_paths(args, name, |p| Act::Rm(false, p))
            }
            "delete" | "unlink" if q == "File" => many_paths(args, name, |p| Act::Rm(false, p)),
            "read" | "readlines" | "foreach" | "binread" if any_q(&["File", "IO"]) => {
                path_act(args, name, Act::Read)
            }
            "open" if q == "File" => {
                let Some(p) = args.first().and_then(|a| lit(a)) else {
                    return Some(vec![Act::NonLiteral("File.open(..)".to_string())]);
                };
                vec![mode_act(p, args.get(1).and_then(|a| lit(a)))]
            }
            "write" | "binwrite" if any_q(&["File", "IO"]) => {
                path_act(args, name, |p| Act::Write(p, false))
            }
            "cp" | "copy" | "cp_r" if q == "FileUtils" => two_paths(args, name, &["cp", "-r"]),
            "mv" | "move" if q == "FileUtils" => two_paths(args, name, &["mv"]),
            "rename" if q == "File" => two_paths(args, name, &["mv"]),
            "symlink" | "ln_s" if any_q(&["File", "FileUtils"]) => {
                two_paths(args, name, &["ln", "-s"])
            }
            "eval" | "instance_eval" if q.is_empty() => match args.first().and_then(|a| lit(a)) {
                Some(s) => vec![Act::Code(s)],
                None => vec![Act::NonLiteral(format!("{name}(..)"))],
            },
            _ => return None,
        },
        Lang::Php => match name {
            // A dangerous function handed over by name (`array_map("unlink", glob(..))`).
            "array_map" | "array_walk" | "call_user_func" | "call_user_func_array"
                if args.iter().any(|a| {
                    lit(a).is_some_and(|f| {
                        matches!(
                            f.as_str(),
                            "unlink" | "rmdir" | "system" | "exec" | "shell_exec" | "passthru"
                                | "popen" | "proc_open" | "file_get_contents" | "readfile"
                        )
                    })
                }) =>
            {
                vec![Act::NonLiteral(format!("{name}(..)"))]
            }
            "system" | "exec" | "shell_exec" | "passthru" | "popen" | "proc_open"
            | "pcntl_exec" => shell_or_argv(args, name),
            "unlink" | "rmdir" => path_act(args, name, |p| Act::Rm(false, p)),
            "file_get_contents" | "readfile" | "file" | "highlight_file" | "show_source" => {
                path_act(args, name, Act::Read)
            }
            "file_put_contents" => {
                let append = has_word(args, "FILE_APPEND");
                path_act(args, name, |p| Act::Write(p, append))
            }
            "fopen" => match args.first().and_then(|a| lit(a)) {
                Some(p) => vec![mode_act(p, args.get(1).and_then(|a| lit(a)))],
                None => vec![Act::NonLiteral("fopen(..)".to_string())],
            },
            "copy" => two_paths(args, name, &["cp"]),
            "rename" => two_paths(args, name, &["mv"]),
            "symlink" => two_paths(args, name, &["ln", "-s"]),
            "eval" => match args.first().and_then(|a| lit(a)) {
                Some(s) => vec![Act::Code(s)],
                None => vec![Act::NonLiteral("eval(..)".to_string())],
            },
            _ => return None,
        },
        Lang::Lua => match name {
            "execute" if q == "os" => shell_or_argv(args, name),
            "popen" if q == "io" => shell_or_argv(args, name),
            "remove" if q == "os" => path_act(args, name, |p| Act::Rm(false, p)),
            "rename" if q == "os" => two_paths(args, name, &["mv"]),
            "lines" if q == "io" => path_act(args, name, Act::Read),
            "open" if q == "io" => match args.first().and_then(|a| lit(a)) {
                Some(p) => vec![mode_act(p, args.get(1).and_then(|a| lit(a)))],
                None => vec![Act::NonLiteral("io.open(..)".to_string())],
            },
            _ => return None,
        },
        Lang::R => match name {
            "system" | "shell" if q.is_empty() => shell_or_argv(args, name),
            "system2" if q.is_empty() => {
                let cmd = args.first().and_then(|a| lit(a));
                let rest: Vec<String> = args.get(1).and_then(|a| lit(a)).into_iter().collect();
                match cmd {
                    Some(c) => vec![Act::Shell(
                        std::iter::once(c).chain(rest).collect::<Vec<_>>().join(" "),
                    )],
                    None => vec![Act::NonLiteral("system2(..)".to_string())],
                }
            }
            "unlink" if q.is_empty() => {
                let rec = has_word(args, "recursive");
                path_act(args, name, |p| Act::Rm(rec, p))
            }
            "remove" if q == "file" => path_act(args, name, |p| Act::Rm(false, p)),
            "readLines" | "readRDS" | "scan" | "readline" if q.is_empty() => {
                path_act(args, name, Act::Read)
            }
            "csv" | "table" | "delim" if q == "read" => path_act(args, name, Act::Read),
            _ => return None,
        },
        Lang::AppleScript => return None,
        Lang::Awk => match name {
            "system" => shell_or_argv(args, name),
            _ => return None,
        },
    })
}

fn many_paths(args: &[Vec<T>], name: &str, f: impl Fn(String) -> Act) -> Vec<Act> {
    let mut out = Vec::new();
    for a in args {
        if let Some(p) = lit(a) {
            out.push(f(p));
        } else if let Some(v) = list(a) {
            out.extend(v.into_iter().map(&f));
        } else if !matches!(
            a.as_slice(),
            [T::P('{'), ..] | [T::Id(_), T::P('='), ..] | [T::P(':'), ..]
        ) {
            out.push(Act::NonLiteral(format!("{name}(..)")));
        }
    }
    out
}

fn perl_open(args: &[Vec<T>]) -> Vec<Act> {
    match args.len() {
        0 | 1 => vec![],
        2 => match lit(&args[1]) {
            Some(spec) => {
                let s = spec.trim();
                if let Some(p) = s.strip_prefix(">>") {
                    vec![Act::Write(p.trim().to_string(), true)]
                } else if let Some(p) = s
                    .strip_prefix("+<")
                    .or_else(|| s.strip_prefix('>'))
                    .or_else(|| s.strip_prefix("+>"))
                {
                    vec![Act::Write(p.trim().to_string(), false)]
                } else if let Some(p) = s.strip_prefix('<') {
                    vec![Act::Read(p.trim().to_string())]
                } else if let Some(p) = s.strip_suffix('|') {
                    vec![Act::Shell(p.trim().to_string())]
                } else if let Some(p) = s.strip_prefix('|') {
                    vec![Act::Shell(p.trim().to_string())]
                } else {
                    vec![Act::Read(s.to_string())]
                }
            }
            None => vec![Act::NonLiteral("open(..)".to_string())],
        },
        _ => {
            let mode = lit(&args[1]).unwrap_or_default();
            let rest: Option<Vec<String>> = args[2..].iter().map(|a| lit(a)).collect();
            let Some(rest) = rest else {
                return vec![Act::NonLiteral("open(..)".to_string())];
            };
            let path = rest.first().cloned().unwrap_or_default();
            let m = mode.split(':').next().unwrap_or("").trim();
            match m {
                "-|" | "|-" => {
                    if rest.len() > 1 {
                        vec![Act::Argv(rest)]
                    } else {
                        vec![Act::Shell(path)]
                    }
                }
                ">>" => vec![Act::Write(path, true)],
                ">" | "+>" | "+<" => vec![Act::Write(path, false)],
                _ => vec![Act::Read(path)],
            }
        }
    }
}

/// awk output redirections and command pipes.
fn awk(toks: &[T], acts: &mut Vec<Act>) {
    let mut in_print = false;
    let mut print_at = 0;
    for (i, t) in toks.iter().enumerate() {
        match t {
            T::Id(k) if k == "print" || k == "printf" => {
                in_print = true;
                print_at = i;
            }
            T::P(';' | '{' | '}') | T::Nl => in_print = false,
            T::P('>') if in_print => {
                let (append, next) = match toks.get(i + 1) {
                    Some(T::P('>')) => (true, i + 2),
                    _ => (false, i + 1),
                };
                if i > 0 && toks[i - 1] == T::P('>') {
                    continue;
                }
                match toks.get(next) {
                    Some(T::Str(p, true)) => acts.push(Act::Write(p.clone(), append)),
                    _ => acts.push(Act::NonLiteral("print > ..".to_string())),
                }
            }
            T::P('|') => {
                if in_print {
                    match toks.get(i + 1) {
                        Some(T::Str(s, true)) => {
                            let shell = s
                                .split_whitespace()
                                .next()
                                .map(|w| w.rsplit('/').next().unwrap_or(w));
                            if matches!(shell, Some("sh" | "bash" | "dash" | "zsh" | "ksh")) {
                                // What is printed into a shell is code.
                                let printed: Option<String> = toks[print_at + 1..i]
                                    .iter()
                                    .map(|t| match t {
                                        T::Str(s, true) => Some(s.clone()),
                                        _ => None,
                                    })
                                    .collect();
                                match printed {
                                    Some(code) => acts.push(Act::Shell(code)),
                                    None => acts.push(Act::NonLiteral("print | sh".to_string())),
                                }
                            } else {
                                acts.push(Act::Shell(s.clone()));
                            }
                        }
                        _ => acts.push(Act::NonLiteral("print | ..".to_string())),
                    }
                } else if matches!(toks.get(i + 1), Some(T::Id(g)) if g == "getline") {
                    match i.checked_sub(1).and_then(|j| toks.get(j)) {
                        Some(T::Str(s, true)) => acts.push(Act::Shell(s.clone())),
                        _ => acts.push(Act::NonLiteral(".. | getline".to_string())),
                    }
                }
            }
            T::Id(g) if g == "getline" => {
                if let (Some(T::P('<')), Some(T::Str(p, true))) = (toks.get(i + 1), toks.get(i + 2))
                {
                    acts.push(Act::Read(p.clone()));
                }
            }
            _ => {}
        }
    }
}

/// A small lexer: identifiers, string literals (with interpolation marking them non-literal),
/// command literals (backticks, `qx`, `%x`), punctuation. Comments are skipped.
fn lex(lang: Lang, code: &str) -> Vec<T> {
    let cs: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let hash_comment = matches!(
        lang,
        Lang::Python
            | Lang::Perl
            | Lang::Ruby
            | Lang::Php
            | Lang::Awk
            | Lang::R
            | Lang::AppleScript
    );
    let dash_comment = matches!(lang, Lang::Lua | Lang::AppleScript);
    let slash_comment = matches!(lang, Lang::Node | Lang::Php);
    while i < cs.len() {
        let c = cs[i];
        if c == '\n' {
            out.push(T::Nl);
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if (hash_comment && c == '#' && !(lang == Lang::Perl && i > 0 && cs[i - 1] == '$'))
            || (slash_comment && c == '/' && cs.get(i + 1) == Some(&'/'))
        {
            while i < cs.len() && cs[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if dash_comment && c == '-' && cs.get(i + 1) == Some(&'-') {
            while i < cs.len() && cs[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if slash_comment && c == '/' && cs.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < cs.len() && !(cs[i] == '*' && cs[i + 1] == '/') {
                i += 1;
            }
            i += 2;
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let s = i;
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '_') {
                i += 1;
            }
            let id: String = cs[s..i].iter().collect();
            // Python string prefixes.
            if lang == Lang::Python
                && id.len() <= 2
                && id.chars().all(|c| "rbufRBUF".contains(c))
                && matches!(cs.get(i), Some('\'' | '"'))
            {
                let raw = id.contains(['r', 'R']);
                let f = id.contains(['f', 'F']);
                let (v, lit_ok, n) = string(&cs, i, lang, raw);
                out.push(T::Str(v.clone(), lit_ok && !(f && v.contains('{'))));
                i = n;
                continue;
            }
            // Perl quote-like operators and Ruby percent literals.
            if lang == Lang::Perl
                && matches!(id.as_str(), "q" | "qq" | "qw" | "qx")
                && let Some(&d) = cs.get(i)
                && !d.is_alphanumeric()
                && !d.is_whitespace()
                && d != ','
                && d != ';'
                && d != '='
            {
                let (body, n) = delimited(&cs, i);
                i = n;
                let interp = id != "q" && id != "qw" && has_interp(lang, &body);
                out.push(match id.as_str() {
                    "qw" => T::List(body.split_whitespace().map(str::to_string).collect()),
                    "qx" => T::Sh(body, !interp),
                    _ => T::Str(body, !interp),
                });
                continue;
            }
            out.push(T::Id(id));
            continue;
        }
        if lang == Lang::Ruby
            && c == '%'
            && matches!(cs.get(i + 1), Some('x' | 'w' | 'q' | 'Q' | 'W'))
            && let Some(&d) = cs.get(i + 2)
            && !d.is_alphanumeric()
            && !d.is_whitespace()
        {
            let kind = cs[i + 1];
            let (body, n) = delimited(&cs, i + 2);
            i = n;
            let interp = kind != 'q' && kind != 'w' && has_interp(lang, &body);
            out.push(match kind {
                'x' => T::Sh(body, !interp),
                'w' | 'W' => T::List(body.split_whitespace().map(str::to_string).collect()),
                _ => T::Str(body, !interp),
            });
            continue;
        }
        if c == '\'' || c == '"' || c == '`' {
            let (v, lit_ok, n) = string(&cs, i, lang, false);
            i = n;
            if c == '`' && lang != Lang::Node {
                out.push(T::Sh(v, lit_ok));
            } else {
                out.push(T::Str(v, lit_ok));
            }
            continue;
        }
        if matches!(c, '$' | '@') && matches!(lang, Lang::Perl | Lang::Php | Lang::Ruby | Lang::Awk)
        {
            i += 1;
            while i < cs.len()
                && (cs[i].is_alphanumeric() || cs[i] == '_' || cs[i] == '{' || cs[i] == '}')
            {
                i += 1;
            }
            out.push(T::Var);
            continue;
        }
        if c.is_ascii_digit() {
            while i < cs.len() && (cs[i].is_alphanumeric() || cs[i] == '.') {
                i += 1;
            }
            out.push(T::Var);
            continue;
        }
        if (c == ':' && cs.get(i + 1) == Some(&':')) || (c == '-' && cs.get(i + 1) == Some(&'>')) {
            out.push(T::P('.'));
            i += 2;
            continue;
        }
        out.push(T::P(c));
        i += 1;
    }
    out
}

fn has_interp(lang: Lang, s: &str) -> bool {
    let cs: Vec<char> = s.chars().collect();
    cs.windows(2).any(|w| match lang {
        Lang::Perl | Lang::Php => {
            matches!(w[0], '$' | '@') && (w[1].is_alphanumeric() || w[1] == '_' || w[1] == '{')
        }
        Lang::Ruby => w[0] == '#' && w[1] == '{',
        Lang::Node => w[0] == '$' && w[1] == '{',
        _ => false,
    })
}

/// Read a quoted string starting at `i` (the quote); returns (value, literal, next index).
fn string(cs: &[char], i: usize, lang: Lang, raw: bool) -> (String, bool, usize) {
    let q = cs[i];
    let triple = lang == Lang::Python && cs.get(i + 1) == Some(&q) && cs.get(i + 2) == Some(&q);
    let mut j = if triple { i + 3 } else { i + 1 };
    let mut v = String::new();
    while j < cs.len() {
        if triple {
            if cs[j] == q && cs.get(j + 1) == Some(&q) && cs.get(j + 2) == Some(&q) {
                j += 3;
                break;
            }
        } else if cs[j] == q {
            j += 1;
            break;
        }
        if cs[j] == '\\' && j + 1 < cs.len() {
            v.push('\\');
            v.push(cs[j + 1]);
            j += 2;
            continue;
        }
        v.push(cs[j]);
        j += 1;
    }
    let single_plain = q == '\'' && matches!(lang, Lang::Perl | Lang::Ruby | Lang::Php);
    let interp = match (lang, q) {
        (Lang::Perl | Lang::Php | Lang::Ruby, '"' | '`') => has_interp(lang, &v),
        (Lang::Node, '`') => has_interp(lang, &v),
        _ => false,
    };
    let value = if raw {
        v
    } else if single_plain {
        v.replace("\\\\", "\\").replace("\\'", "'")
    } else {
        super::expand::ansi_c(&v)
    };
    (value, !interp, j)
}

/// The body of a delimited quote-like literal starting at the delimiter.
fn delimited(cs: &[char], i: usize) -> (String, usize) {
    let open = cs[i];
    let close = match open {
        '(' => ')',
        '{' => '}',
        '[' => ']',
        '<' => '>',
        c => c,
    };
    let mut depth = 0;
    let mut j = i + 1;
    let mut v = String::new();
    while j < cs.len() {
        let c = cs[j];
        if c == '\\' && j + 1 < cs.len() {
            v.push(cs[j + 1]);
            j += 2;
            continue;
        }
        if c == close && depth == 0 {
            return (v, j + 1);
        }
        if open != close {
            if c == open {
                depth += 1;
            } else if c == close {
                depth -= 1;
            }
        }
        v.push(c);
        j += 1;
    }
    (v, j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_calls() {
        let a = analyse(Lang::Python, "import os; os.system(\"rm -rf ~\")");
        assert_eq!(a, vec![Act::Shell("rm -rf ~".into())]);
        let a = analyse(Lang::Python, "import shutil; shutil.rmtree('/')");
        assert_eq!(a, vec![Act::Rm(true, "/".into())]);
        let a = analyse(Lang::Python, "print(open('.env').read())");
        assert_eq!(a, vec![Act::Read(".env".into())]);
        let a = analyse(Lang::Python, "open('x', 'w').write('y')");
        assert_eq!(a, vec![Act::Write("x".into(), false)]);
        let a = analyse(
            Lang::Python,
            "import subprocess; subprocess.run(['rm', '-rf', '/'])",
        );
        assert_eq!(
            a,
            vec![Act::Argv(vec!["rm".into(), "-rf".into(), "/".into()])]
        );
        let a = analyse(Lang::Python, "import os; os.system(cmd)");
        assert!(matches!(a.as_slice(), [Act::NonLiteral(_)]));
        let a = analyse(Lang::Python, "print('os.system(\"rm -rf /\")')");
        assert!(a.is_empty(), "{a:?}");
        let a = analyse(
            Lang::Python,
            "from pathlib import Path; Path('.env').read_text()",
        );
        assert_eq!(a, vec![Act::Read(".env".into())]);
    }

    #[test]
    fn whole_environment_versus_one_variable() {
        for (lang, code) in [
            (Lang::Python, "import os; print(os.environ)"),
            (
                Lang::Python,
                "import os, json; json.dump(dict(os.environ), f)",
            ),
            (Lang::Node, "console.log(process.env)"),
            (Lang::Node, "console.log(JSON.stringify(process.env))"),
            (Lang::Ruby, "p ENV.to_h"),
            (Lang::Perl, "print \"$_\n\" for keys %ENV"),
            (Lang::Php, "var_dump(getenv());"),
            (Lang::Awk, "BEGIN{for(k in ENVIRON) print k}"),
        ] {
            assert!(dumps_environment(lang, code), "{code}");
        }
        for (lang, code) in [
            (Lang::Python, "import os; print(os.environ.get('HOME'))"),
            (Lang::Python, "import os; print(os.environ['HOME'])"),
            (Lang::Node, "console.log(process.env.NODE_ENV)"),
            (Lang::Ruby, "puts ENV['HOME']"),
            (Lang::Perl, "print $ENV{HOME}"),
            (Lang::Php, "echo getenv('HOME');"),
        ] {
            assert!(!dumps_environment(lang, code), "{code}");
        }
    }

    #[test]
    fn node_perl_ruby_php_awk() {
        let a = analyse(
            Lang::Node,
            "require(\"fs\").rmSync(\"/\",{recursive:true,force:true})",
        );
        assert_eq!(a, vec![Act::Rm(true, "/".into())]);
        let a = analyse(Lang::Node, "require('child_process').execSync('rm -rf ~')");
        assert_eq!(a, vec![Act::Shell("rm -rf ~".into())]);
        assert!(analyse(Lang::Node, "console.log(process.version)").is_empty());
        let a = analyse(Lang::Perl, "use File::Path; rmtree(\"/\")");
        assert_eq!(a, vec![Act::Rm(true, "/".into())]);
        let a = analyse(Lang::Perl, "system \"rm -rf /\"; print `id`");
        assert_eq!(
            a,
            vec![Act::Shell("rm -rf /".into()), Act::Shell("id".into())]
        );
        let a = analyse(Lang::Perl, "open(my $f, '<', '.env'); print <$f>");
        assert_eq!(a, vec![Act::Read(".env".into())]);
        let a = analyse(Lang::Ruby, "require 'fileutils'; FileUtils.rm_rf('/')");
        assert_eq!(a, vec![Act::Rm(true, "/".into())]);
        let a = analyse(Lang::Ruby, "puts File.read('.env')");
        assert_eq!(a, vec![Act::Read(".env".into())]);
        let a = analyse(Lang::Php, "system('rm -rf /');");
        assert_eq!(a, vec![Act::Shell("rm -rf /".into())]);
        let a = analyse(Lang::Awk, "BEGIN { system(\"rm -rf /\") }");
        assert_eq!(a, vec![Act::Shell("rm -rf /".into())]);
        let a = analyse(Lang::Awk, "{ print $0 > \"out.txt\" }");
        assert_eq!(a, vec![Act::Write("out.txt".into(), false)]);
        assert!(analyse(Lang::Awk, "{ if ($1 > 3) print $2 }").is_empty());
    }
}
#[cfg(test)]
mod printed_tests {
    use super::*;

    #[test]
    fn variables_read_by_name_in_printing_code() {
        let v = |lang, code, label| printed_variables(lang, code, label);
        assert_eq!(
            v(
                Lang::Python,
                r#"import os; print(os.getenv("GITHUB_TOKEN"))"#,
                None
            ),
            vec!["GITHUB_TOKEN"]
        );
        assert_eq!(
            v(Lang::Node, "process.env.API_KEY", Some("node -p")),
            vec!["API_KEY"]
        );
        assert_eq!(
            v(Lang::Ruby, r#"puts ENV["X_TOKEN"]"#, None),
            vec!["X_TOKEN"]
        );
        assert_eq!(
            v(Lang::Perl, "print $ENV{GH_TOKEN}", None),
            vec!["GH_TOKEN"]
        );
        // Read but not printed.
        assert!(v(Lang::Node, "start(process.env.API_KEY)", Some("node -e")).is_empty());
    }
}
