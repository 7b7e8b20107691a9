//! Static evaluation of the few commands whose output is fully determined by their arguments
//! and input: `echo`, `printf`, `cat` (of its stdin) and `base64 -d`. Used for command
//! substitutions, `xargs` input and text piped into a shell.

use super::Word;
use super::expand::ansi_c;
use super::render::quote;

/// The standard output of a command, when it can be known without running it.
pub(crate) fn output(argv: &[Word], stdin: Option<&str>) -> Option<String> {
    let name = argv.first()?.text.rsplit('/').next()?;
    if argv.iter().any(|w| w.dynamic) {
        return None;
    }
    if matches!(name, "ls" | "find") {
        return listing(name, argv);
    }
    if let Some(find) = listing_as_find(name, argv) {
        // A file named as a root (`grep -l x ~/.bashrc`) is listed as itself, as find does.
        let out = listing("find", &find)?;
        return Some(if skips_hidden(name, argv) {
            visible_only(&out, &find)
        } else {
            out
        });
    }
    if argv.iter().any(|w| w.glob) {
        return None;
    }
    let args: Vec<&str> = argv[1..].iter().map(|w| w.text.as_str()).collect();
    if let Some(out) = super::filters::output(name, &args, stdin) {
        return Some(out);
    }
    match name {
        "echo" => Some(echo(&args)),
        "printf" => {
            let args = match args.first() {
                Some(&"--") => &args[1..],
                _ => &args[..],
            };
            let (fmt, rest) = args.split_first()?;
            if fmt.starts_with("-v") {
                return None;
            }
            Some(printf(fmt, rest))
        }
        "cat" if args.iter().all(|a| *a == "-") => stdin.map(str::to_string),
        "mktemp" => mktemp(&args),
        "seq" => seq(&args),
        // Lookups print the command's name (its directory is not known here).
        "which" | "command" | "type" => {
            let lookup = name == "which"
                || args
                    .iter()
                    .any(|a| a.starts_with('-') && a.contains(['v', 'p', 'P']));
            let found: Vec<&str> = args
                .iter()
                .filter(|a| !a.starts_with('-'))
                .copied()
                .collect();
            (lookup && !found.is_empty()).then(|| found.iter().map(|f| format!("{f}\n")).collect())
        }
        "base64"
            if args
                .iter()
                .any(|a| matches!(*a, "-d" | "--decode" | "-D" | "-di" | "-id")) =>
        {
            if args.iter().any(|a| !a.starts_with('-')) {
                return None;
            }
            base64_decode(stdin?)
        }
        _ => None,
    }
}

/// How deep below a `find` root the patterns standing for its output reach.
const FIND_DEPTH: usize = 3;

/// What a listing (`ls`, `find` without actions) prints, as glob patterns standing for the files
/// it may name, one per line (NUL-separated after `-print0`): the files themselves are not known without running it, but a
/// command fed its output (`find . -name '.env*' | xargs cat`) can be judged on the files the
/// patterns reach. `ls DIR` stands for `DIR` and `DIR/*`; `find ROOT -name P` for `ROOT/P`,
/// `ROOT/*/P`, … a few levels down and in hidden folders one level down; without a name test,
/// for every file there.
fn listing(name: &str, argv: &[Word]) -> Option<String> {
    let args: Vec<&str> = argv[1..].iter().map(|w| w.text.as_str()).collect();
    let end = if args.contains(&"-print0") {
        '\0'
    } else {
        '\n'
    };
    let mut out = String::new();
    let mut line = |p: String| {
        out.push_str(&p);
        out.push(end);
    };
    if name == "ls" {
        let all = args
            .iter()
            .any(|a| a.starts_with('-') && !a.starts_with("--") && a.contains(['a', 'A']))
            || args.contains(&"--all");
        let operands: Vec<&str> = args
            .iter()
            .filter(|a| !a.starts_with('-'))
            .copied()
            .collect();
        if operands.is_empty() {
            line("*".into());
            if all {
                line(".*".into());
            }
        }
        for op in operands {
            let dir = op.trim_end_matches('/');
            line(op.to_string());
            line(format!("{dir}/*"));
            if all {
                line(format!("{dir}/.*"));
            }
        }
        return Some(out);
    }
    // find: roots come before the first test; a test that runs something means its output is
    // that command's, not a listing.
    if args.iter().any(|a| {
        matches!(
            *a,
            "-exec" | "-execdir" | "-ok" | "-okdir" | "-delete" | "-fprint" | "-fprint0" | "-fls"
        )
    }) {
        return None;
    }
    let first_test = args
        .iter()
        .position(|a| a.starts_with('-') || matches!(*a, "(" | "!" | ")"))
        .unwrap_or(args.len());
    let mut roots: Vec<&str> = args[..first_test].to_vec();
    if roots.is_empty() {
        roots.push(".");
    }
    let names: Vec<&str> = args
        .windows(2)
        .filter(|w| matches!(w[0], "-name" | "-iname"))
        .map(|w| w[1])
        .collect();
    let names = if names.is_empty() {
        vec!["*", ".*"]
    } else {
        names
    };
    // Hidden folders one level down too (`find ~ -name 'id_*'` reaches `~/.ssh/id_rsa`).
    let middles: Vec<String> = (0..FIND_DEPTH)
        .map(|depth| "*/".repeat(depth))
        .chain(std::iter::once(".*/".to_string()))
        .collect();
    let below_only = args.windows(2).any(|w| w[0] == "-mindepth" && w[1] != "0");
    for root in roots {
        // find prints its root too when the name tests let it through (`find ~/.bashrc`);
        // `.` and `..` are never handed on (rm, sed and friends refuse them).
        if !below_only && !matches!(root, "." | ".." | "./" | "../") && named(root, &names) {
            line(root.to_string());
        }
        let root = root.trim_end_matches('/');
        for middle in &middles {
            for n in &names {
                line(format!("{root}/{middle}{n}"));
            }
        }
    }
    Some(out)
}

/// Commands that print names of files below some folders (`grep -rl`, `rg -l`, `rg --files`,
/// `fd`, `git ls-files`, `git diff --name-only`), restated as the `find` that reaches the same
/// files, so a command fed their output (`rg -l old src | xargs sed -i …`) is judged on the
/// files they may name. None when the command prints something else or runs commands.
fn listing_as_find(name: &str, argv: &[Word]) -> Option<Vec<Word>> {
    let args: Vec<&str> = argv[1..].iter().map(|w| w.text.as_str()).collect();
    let (roots, names, nul): (Vec<&str>, Vec<String>, bool) = match name {
        "grep" | "egrep" | "fgrep" | "rg" => {
            let short = |c: char| {
                args.iter()
                    .any(|a| a.starts_with('-') && !a.starts_with("--") && a[1..].contains(c))
            };
            let long = |l: &str| args.contains(&l);
            let lists = if name == "rg" {
                short('l') || long("--files") || long("--files-with-matches")
            } else {
                short('l') || short('L') || long("--files-with-matches")
            };
            let lists = lists || long("--files-without-match");
            if !lists {
                return None;
            }
            // Options that take the next word as their value.
            let valued = if name == "rg" {
                super::RG_VALUED
            } else {
                super::GREP_VALUED
            };
            let mut operands = Vec::new();
            let mut names = Vec::new();
            let mut i = 0;
            while i < args.len() {
                let a = args[i];
                if valued.contains(&a) {
                    if matches!(a, "-g" | "--glob" | "--iglob" | "--include") {
                        names.extend(args.get(i + 1).map(|g| g.to_string()));
                    }
                    i += 2;
                    continue;
                }
                if let Some(g) = a
                    .strip_prefix("--include=")
                    .or_else(|| a.strip_prefix("--glob="))
                {
                    names.push(g.to_string());
                } else if !a.starts_with('-') || a == "-" {
                    operands.push(a);
                }
                i += 1;
            }
            let pattern_given = args.iter().any(|a| matches!(*a, "-e" | "-f"))
                || args
                    .iter()
                    .any(|a| a.starts_with("--regexp=") || a.starts_with("--file="));
            let pattern_first = !(pattern_given || name == "rg" && long("--files"));
            if pattern_first && !operands.is_empty() {
                operands.remove(0);
            }
            if operands.contains(&"-") {
                return None;
            }
            // Negated globs (`-g '!*.lock'`) only narrow the listing.
            names.retain(|n| !n.starts_with('!'));
            (operands, names, short('Z') || long("--null") || short('0'))
        }
        "fd" | "fdfind" => {
            if args.iter().any(|a| {
                matches!(*a, "-x" | "-X" | "--exec" | "--exec-batch") || a.starts_with("--exec")
            }) {
                return None;
            }
            let valued = [
                "-e",
                "--extension",
                "-t",
                "--type",
                "-E",
                "--exclude",
                "-d",
                "--max-depth",
                "-S",
                "--size",
                "-j",
                "-c",
                "--color",
            ];
            let mut positional = Vec::new();
            let mut names = Vec::new();
            let mut i = 0;
            while i < args.len() {
                if valued.contains(&args[i]) {
                    if matches!(args[i], "-e" | "--extension") {
                        names.extend(args.get(i + 1).map(|e| format!("*.{e}")));
                    }
                    i += 2;
                    continue;
                }
                if !args[i].starts_with('-') {
                    positional.push(args[i]);
                }
                i += 1;
            }
            let glob = args.iter().any(|a| matches!(*a, "-g" | "--glob"));
            if glob && let Some(p) = positional.first() {
                names.push(p.to_string());
            } else if let Some(p) = positional.first().filter(|p| {
                !p.is_empty()
                    && !p.contains([
                        '.', '^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\', '/',
                    ])
            }) {
                // A pattern without regex syntax matches names that contain it.
                names.push(format!("*{p}*"));
            }
            let roots = positional
                .get(1..)
                .map(<[&str]>::to_vec)
                .unwrap_or_default();
            (
                roots,
                names,
                args.iter().any(|a| matches!(*a, "-0" | "--print0")),
            )
        }
        "git" => {
            let sub = args.iter().position(|a| !a.starts_with('-'))?;
            let rest = &args[sub + 1..];
            let lists = match args[sub] {
                "ls-files" => true,
                "diff" | "show" | "log" => rest
                    .iter()
                    .any(|a| matches!(*a, "--name-only" | "--name-status")),
                _ => false,
            };
            // Options before the subcommand (`git -C dir`) move the listing elsewhere.
            if !lists || sub > 0 {
                return None;
            }
            let specs: Vec<&str> = match rest.iter().position(|a| *a == "--") {
                Some(i) => rest[i + 1..].to_vec(),
                None if args[sub] == "ls-files" => rest
                    .iter()
                    .filter(|a| !a.starts_with('-'))
                    .copied()
                    .collect(),
                None => Vec::new(),
            };
            // A pathspec with glob characters matches names at any depth; others are folders.
            let (names, roots): (Vec<&str>, Vec<&str>) = specs
                .into_iter()
                .partition(|s| crate::policy::paths::has_glob_chars(s));
            // Without a name pattern the listing is every tracked file, dotfiles included; it
            // stays unknown, as any command output does.
            if names.is_empty() {
                return None;
            }
            let names = names
                .iter()
                .map(|n| n.rsplit('/').next().unwrap_or(n).to_string())
                .collect();
            (roots, names, rest.contains(&"-z"))
        }
        _ => return None,
    };
    let mut find = vec!["find".to_string()];
    find.extend(roots.iter().map(|r| r.to_string()));
    if find.len() == 1 {
        find.push(".".to_string());
    }
    for n in names {
        find.extend(["-name".to_string(), n]);
    }
    if nul {
        find.push("-print0".to_string());
    }
    Some(
        find.into_iter()
            .map(|text| Word {
                text,
                glob: false,
                dynamic: false,
            })
            .collect(),
    )
}

/// Most numbers a `seq` is evaluated for; longer sequences stay unknown.
const MAX_SEQ: i64 = 64;

/// `seq [FIRST [STEP]] LAST` with integers: one number per line.
fn seq(args: &[&str]) -> Option<String> {
    let n: Vec<i64> = args
        .iter()
        .map(|a| a.parse::<i64>().ok())
        .collect::<Option<_>>()?;
    let (first, step, last) = match n[..] {
        [last] => (1, 1, last),
        [first, last] => (first, 1, last),
        [first, step, last] if step != 0 => (first, step, last),
        _ => return None,
    };
    let count = ((last - first) / step + 1).max(0);
    if count > MAX_SEQ {
        return None;
    }
    Some(
        (0..count)
            .map(|i| format!("{}\n", first + i * step))
            .collect(),
    )
}

/// True when the last component of `path` matches one of find's `-name` patterns.
fn named(path: &str, names: &[&str]) -> bool {
    let base = path
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(path);
    names.iter().any(|n| {
        globset::GlobBuilder::new(n)
            .case_insensitive(true)
            .build()
            .is_ok_and(|g| g.compile_matcher().is_match(base))
    })
}

/// The roots of a restated `find` (they come before its first option).
fn find_roots(find: &[Word]) -> Vec<&str> {
    find[1..]
        .iter()
        .map(|w| w.text.as_str())
        .take_while(|t| !t.starts_with('-'))
        .map(|r| r.trim_end_matches('/'))
        .collect()
}

/// `rg` and `fd` leave hidden files and folders out unless told otherwise (`--hidden`, `-uu`,
/// `-H`, `-u`); `grep -r` and git list them.
fn skips_hidden(name: &str, argv: &[Word]) -> bool {
    let has = |f: &[&str]| argv.iter().any(|w| f.contains(&w.text.as_str()));
    match name {
        "rg" => !has(&["--hidden", "-.", "-uu", "-uuu", "--unrestricted"]),
        "fd" | "fdfind" => !has(&["-H", "--hidden", "-u", "--unrestricted"]),
        _ => false,
    }
}

/// The lines of a listing whose part below its root names no hidden file or folder (the
/// root itself was named on purpose). `find` is the restated command: roots come first.
fn visible_only(out: &str, find: &[Word]) -> String {
    let roots = find_roots(find);
    let end = if out.contains('\0') { '\0' } else { '\n' };
    out.split_terminator(end)
        .filter(|line| {
            roots.iter().any(|r| {
                line.trim_end_matches('/') == *r
                    || line
                        .strip_prefix(r)
                        .and_then(|rest| rest.strip_prefix('/'))
                        .is_some_and(|rest| rest.split('/').all(|c| !c.starts_with('.')))
            })
        })
        .map(|line| format!("{line}{end}"))
        .collect()
}

/// The name `mktemp` prints: a new file in `$TMPDIR` (or /tmp), in the folder given with
/// `-p`/`--tmpdir`, or the template as written (its X's standing for the random part).
fn mktemp(args: &[&str]) -> Option<String> {
    let tmp = std::env::var("TMPDIR")
        .ok()
        .filter(|t| t.starts_with('/') && t != "/")
        .unwrap_or_else(|| "/tmp".to_string());
    let (mut dir, mut in_tmp, mut suffix, mut template) = (None, false, "", None);
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        match a {
            "-p" | "--tmpdir" if i + 1 < args.len() => {
                dir = Some(args[i + 1]);
                i += 1;
            }
            "-t" => in_tmp = true,
            "--suffix" if i + 1 < args.len() => {
                suffix = args[i + 1];
                i += 1;
            }
            "--" => {}
            _ if a.starts_with("--tmpdir=") => dir = Some(&a["--tmpdir=".len()..]),
            _ if a.starts_with("--suffix=") => suffix = &a["--suffix=".len()..],
            _ if a.starts_with('-') => {
                if !a[1..].chars().all(|c| matches!(c, 'd' | 'u' | 'q' | 't')) {
                    return None;
                }
                in_tmp |= a.contains('t');
            }
            _ if template.is_none() => template = Some(a),
            _ => return None,
        }
        i += 1;
    }
    let name = format!("{}{suffix}", template.unwrap_or("tmp.XXXXXXXXXX"));
    let path = match (dir, template) {
        (Some(d), _) => format!("{}/{name}", d.trim_end_matches('/')),
        (None, None) => format!("{tmp}/{name}"),
        (None, Some(_)) if in_tmp => format!("{tmp}/{name}"),
        (None, Some(_)) => name,
    };
    Some(format!("{path}\n"))
}

fn echo(args: &[&str]) -> String {
    let mut newline = true;
    let mut escapes = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i];
        if a.len() > 1 && a.starts_with('-') && a[1..].chars().all(|c| matches!(c, 'n' | 'e' | 'E'))
        {
            for c in a[1..].chars() {
                match c {
                    'n' => newline = false,
                    'e' => escapes = true,
                    _ => escapes = false,
                }
            }
            i += 1;
        } else {
            break;
        }
    }
    let mut out = args[i..].join(" ");
    if escapes {
        let (t, stop) = escapes_b(&out);
        out = t;
        if stop {
            return out;
        }
    }
    if newline {
        out.push('\n');
    }
    out
}

/// Interpret `echo -e`/`%b` escapes; true when `\c` ended the output.
fn escapes_b(s: &str) -> (String, bool) {
    match s.find("\\c") {
        Some(i) => (ansi_c(&s[..i].replace("\\0", "\\")), true),
        None => (ansi_c(&s.replace("\\0", "\\")), false),
    }
}

/// A `printf` format applied to its arguments (the format is reused while arguments remain).
pub(crate) fn printf(fmt: &str, args: &[&str]) -> String {
    let mut out = String::new();
    let mut ai = 0;
    loop {
        let consumed_before = ai;
        let cs: Vec<char> = fmt.chars().collect();
        let mut i = 0;
        let mut lit = String::new();
        while i < cs.len() {
            let c = cs[i];
            if c != '%' {
                lit.push(c);
                i += 1;
                continue;
            }
            out.push_str(&ansi_c(&lit));
            lit.clear();
            i += 1;
            let mut spec = String::new();
            while i < cs.len() && "-+ #0123456789.*".contains(cs[i]) {
                spec.push(cs[i]);
                i += 1;
            }
            let Some(&conv) = cs.get(i) else { break };
            i += 1;
            if conv == '%' {
                out.push('%');
                continue;
            }
            let arg = args.get(ai).copied().unwrap_or("");
            if ai < args.len() {
                ai += 1;
            }
            let body = match conv {
                's' => arg.to_string(),
                'b' => escapes_b(arg).0,
                'q' => quote(arg),
                'c' => arg.chars().next().map(String::from).unwrap_or_default(),
                'd' | 'i' | 'u' => arg.trim().parse::<i64>().unwrap_or(0).to_string(),
                'x' => format!("{:x}", arg.trim().parse::<i64>().unwrap_or(0)),
                'X' => format!("{:X}", arg.trim().parse::<i64>().unwrap_or(0)),
                'o' => format!("{:o}", arg.trim().parse::<i64>().unwrap_or(0)),
                _ => arg.to_string(),
            };
            out.push_str(&pad(&spec, body));
        }
        out.push_str(&ansi_c(&lit));
        if ai >= args.len() || ai == consumed_before {
            break;
        }
    }
    out
}

fn pad(spec: &str, mut body: String) -> String {
    let (w, p) = match spec.split_once('.') {
        Some((w, p)) => (w, Some(p)),
        None => (spec, None),
    };
    if let Some(p) = p.and_then(|p| p.parse::<usize>().ok()) {
        body = body.chars().take(p).collect();
    }
    let left = w.contains('-');
    let width: usize = w
        .trim_start_matches(['-', '+', ' ', '#', '0'])
        .parse()
        .unwrap_or(0);
    let n = body.chars().count();
    if n >= width {
        return body;
    }
    let fill = " ".repeat(width - n);
    if left { body + &fill } else { fill + &body }
}

fn base64_decode(s: &str) -> Option<String> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            c if c.is_ascii_whitespace() => continue,
            _ => return None,
        };
        bits = (bits << 6) | v as u32;
        nbits += 6;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_reuses_format_and_decodes_escapes() {
        assert_eq!(printf(".%s", &["env"]), ".env");
        assert_eq!(printf("%s ", &["a", "b"]), "a b ");
        assert_eq!(printf("\\x72\\x6d", &[]), "rm");
        assert_eq!(printf("%5s|%-3s|", &["a", "b"]), "    a|b  |");
    }

    #[test]
    fn echo_flags() {
        assert_eq!(echo(&["-n", "a", "b"]), "a b");
        assert_eq!(echo(&["-e", "a\\tb"]), "a\tb\n");
        assert_eq!(echo(&["-x"]), "-x\n");
    }

    fn words(line: &str) -> Vec<Word> {
        line.split(' ')
            .map(|t| Word {
                text: t.to_string(),
                glob: false,
                dynamic: false,
            })
            .collect()
    }

    #[test]
    fn mktemp_names_a_file_in_scratch_or_where_it_is_told() {
        let tmp = std::env::var("TMPDIR")
            .ok()
            .filter(|t| t.starts_with('/') && t != "/")
            .unwrap_or_else(|| "/tmp".to_string());
        let out = |l: &str| output(&words(l), None);
        assert_eq!(out("mktemp"), Some(format!("{tmp}/tmp.XXXXXXXXXX\n")));
        assert_eq!(out("mktemp -d"), Some(format!("{tmp}/tmp.XXXXXXXXXX\n")));
        assert_eq!(
            out("mktemp -d -p /home/u"),
            Some("/home/u/tmp.XXXXXXXXXX\n".into())
        );
        assert_eq!(out("mktemp build/x.XXXX"), Some("build/x.XXXX\n".into()));
        assert_eq!(out("mktemp -t x.XXXX"), Some(format!("{tmp}/x.XXXX\n")));
        assert_eq!(out("mktemp --bogus"), None);
    }

    #[test]
    fn file_listings_stand_for_the_files_below_their_folders() {
        let out = |l: &str| output(&words(l), None).unwrap_or_default();
        assert!(out("grep -rl old src").lines().any(|p| p == "src/*/*"));
        assert!(!out("grep -rl old src").contains("old/"));
        assert!(out("rg -l --hidden old").lines().any(|p| p == "./.*"));
        assert!(out("grep -rl old .").lines().any(|p| p == "./.*"));
        assert!(!out("rg -l old").contains("/."));
        assert!(out("rg -l old").lines().any(|p| p == "./*/*"));
        assert!(out("rg -l old .github").lines().any(|p| p == ".github/*"));
        // Files named as operands are printed as themselves.
        assert!(out("grep -l x ~/.bashrc").lines().any(|p| p == "~/.bashrc"));
        assert!(out("rg -l x .env").lines().any(|p| p == ".env"));
        assert!(out("find ~/.bashrc").starts_with("~/.bashrc\n"));
        assert!(!out("grep -rl x .").lines().any(|p| p == "."));
        assert!(!out("rg -l x src --glob *.ts").lines().any(|p| p == "src"));
        assert!(out("rg --files src").lines().any(|p| p == "src/*"));
        assert!(
            out("grep -rl x . --include=*.ts")
                .lines()
                .all(|p| p.ends_with("*.ts"))
        );
        assert!(out("fd -e ts . src").lines().any(|p| p == "src/*/*.ts"));
        assert!(out("git ls-files *.ts").lines().any(|p| p == "./*/*.ts"));
        // Not listings: matching lines, commands run per file, every tracked file.
        assert_eq!(output(&words("grep -rn old src"), None), None);
        assert_eq!(output(&words("fd -e ts -x rm"), None), None);
        assert_eq!(output(&words("git ls-files"), None), None);
    }

    #[test]
    fn seq_prints_short_integer_ranges_only() {
        let out = |l: &str| output(&words(l), None);
        assert_eq!(out("seq 3"), Some("1\n2\n3\n".into()));
        assert_eq!(out("seq 2 2 6"), Some("2\n4\n6\n".into()));
        assert_eq!(out("seq 3 1"), Some(String::new()));
        assert_eq!(out("seq 1 100000"), None);
        assert_eq!(out("seq -w 1 3"), None);
    }

    #[test]
    fn base64_round() {
        assert_eq!(base64_decode("cm0gLXJmIC8K").as_deref(), Some("rm -rf /\n"));
        assert_eq!(base64_decode("!!"), None);
    }
}
