//! Line filters between a listing and its consumer (`ls -a | grep env | xargs cat`,
//! `cat $(git ls-files | grep env)`), and the commands that print the names of the files they
//! are given (`realpath f`, `readlink -f f`).
//!
//! A listing's output is a set of glob patterns standing for the files it may name (see
//! `statics::listing`). A filter can only drop lines, so its output is a subset: literal lines are
//! tested against the filter, glob lines are narrowed when the filter is a plain literal
//! (`*` through `grep env` becomes `*env*`) and otherwise kept whole, an over-approximation.

/// The output of a filter or name printer, when it can be known from its arguments and stdin.
pub(crate) fn output(name: &str, args: &[&str], stdin: Option<&str>) -> Option<String> {
    match name {
        "grep" | "egrep" | "fgrep" => grep(name, args, stdin?),
        "sed" => sed(args, stdin?),
        // Reorder or cut the list: every line out was a line in.
        "head" | "tail" | "sort" | "uniq" | "tac" | "shuf" => stdin.map(str::to_string),
        // The path printed names the same file as the operand (the resolver follows links).
        "realpath" | "readlink" if stdin.is_none() => {
            let ops: Vec<&&str> = args.iter().filter(|a| !a.starts_with('-')).collect();
            (!ops.is_empty()).then(|| ops.iter().map(|o| format!("{o}\n")).collect())
        }
        _ => None,
    }
}

/// Filters whose output is lines of their input: fed file names, they print file names.
pub(crate) fn passes_names(name: &str) -> bool {
    matches!(
        name,
        "grep"
            | "egrep"
            | "fgrep"
            | "sed"
            | "head"
            | "tail"
            | "sort"
            | "uniq"
            | "tac"
            | "shuf"
            | "cat"
            | "tee"
    )
}

/// What a `grep` invocation selects.
struct Grep<'a> {
    pattern: &'a str,
    invert: bool,
    fixed: bool,
    icase: bool,
    /// An option that may change which lines pass or what is printed of them (`-o`, `-w`…).
    other: bool,
}

/// Parse grep's options; None when it reads files of its own or prints no lines.
fn grep_opts<'a>(name: &str, args: &[&'a str]) -> Option<Grep<'a>> {
    let mut g = Grep {
        pattern: "",
        invert: false,
        fixed: name == "fgrep",
        icase: false,
        other: false,
    };
    let mut pattern: Option<&str> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "-e" | "--regexp" => pattern = pattern.or(it.next().copied()),
            "-f" | "--file" => return None,
            "-v" | "--invert-match" => g.invert = true,
            "-F" | "--fixed-strings" => g.fixed = true,
            "-i" | "--ignore-case" => g.icase = true,
            // Counts, names of matching inputs, or nothing: not a list of files.
            "-c" | "--count" | "-l" | "-L" | "-q" | "--quiet" | "--silent" => return None,
            a if a.starts_with("--") => g.other |= a != "--extended-regexp",
            a if a.starts_with('-') && a.len() > 1 => {
                for ch in a[1..].chars() {
                    match ch {
                        'v' => g.invert = true,
                        'F' => g.fixed = true,
                        'i' => g.icase = true,
                        'c' | 'l' | 'L' | 'q' | 'f' | 'r' | 'R' => return None,
                        'E' | 'G' | 'P' | 'n' | 's' | 'h' | 'H' | 'a' => {}
                        _ => g.other = true,
                    }
                }
            }
            a if pattern.is_none() => pattern = Some(a),
            // A file operand: grep reads the file, not its input.
            _ => return None,
        }
    }
    g.pattern = pattern?;
    Some(g)
}

fn grep(name: &str, args: &[&str], stdin: &str) -> Option<String> {
    let g = grep_opts(name, args)?;
    if g.invert || g.other || g.icase {
        return Some(stdin.to_string());
    }
    Some(select(stdin, g.pattern, g.fixed))
}

/// A `grep` for a plain string reading an unknown list (`git ls-files | grep env`): whatever
/// it prints contains the string, so as file names its output stands for the paths that do,
/// a few levels down. None when the pattern is not a plain string or lines may pass without it.
pub(crate) fn grep_unknown_input(argv: &[&str]) -> Option<String> {
    let (name, args) = argv.split_first()?;
    let name = name.rsplit('/').next()?;
    if !matches!(name, "grep" | "egrep" | "fgrep") {
        return None;
    }
    let g = grep_opts(name, args)?;
    if g.invert || g.other {
        return None;
    }
    let l = if g.fixed {
        Literal {
            text: g.pattern.to_string(),
            start: false,
            end: false,
        }
    } else {
        literal(g.pattern)?
    };
    let mut spellings = vec![l.text.clone()];
    if g.icase {
        spellings.push(l.text.to_lowercase());
        spellings.push(l.text.to_uppercase());
        spellings.dedup();
    }
    let dirs = ["", "*/", "*/*/", ".*/", "*/.*/"];
    let mut out = String::new();
    for t in &spellings {
        let tail = if l.end { "" } else { "*" };
        let comps: Vec<String> = if l.start {
            vec![format!("{t}{tail}")]
        } else {
            vec![format!("*{t}{tail}"), format!(".*{t}{tail}")]
        };
        for c in &comps {
            let roots: &[&str] = if l.start { &[""] } else { &dirs };
            for d in roots {
                out.push_str(&format!("{d}{c}\n"));
                // The string in a folder's name (`grep certs` reaches `certs/server.key`).
                if !l.end {
                    out.push_str(&format!("{d}{c}/*\n{d}{c}/.*\n"));
                }
            }
        }
    }
    Some(out)
}

/// `sed -n '/RE/p'` selects like grep; `sed '/RE/d'` drops lines; other scripts rewrite the
/// names, so their output is not known.
fn sed(args: &[&str], stdin: &str) -> Option<String> {
    let quiet = args
        .iter()
        .any(|a| matches!(*a, "-n" | "--quiet" | "--silent"));
    let scripts: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .copied()
        .collect();
    let [script] = scripts[..] else { return None };
    let body = script.strip_prefix('/')?;
    let (re, cmd) = body.rsplit_once('/')?;
    match (quiet, cmd.trim()) {
        (true, "p") => Some(select(stdin, re, false)),
        (false, "d") | (true, "!d") | (false, "!d") => Some(stdin.to_string()),
        _ => None,
    }
}

/// The lines of a listing that a grep for `pattern` may let through.
fn select(stdin: &str, pattern: &str, fixed: bool) -> String {
    let lit = if fixed {
        Some(Literal {
            text: pattern.to_string(),
            start: false,
            end: false,
        })
    } else {
        literal(pattern)
    };
    let re = if fixed {
        regex::Regex::new(&regex::escape(pattern)).ok()
    } else {
        regex::Regex::new(pattern).ok()
    };
    let sep = if stdin.contains('\0') { '\0' } else { '\n' };
    let mut out = String::new();
    let mut seen = std::collections::BTreeSet::new();
    for line in stdin.split(sep).filter(|l| !l.is_empty()) {
        let kept: Vec<String> = if !crate::policy::paths::has_glob_chars(line) {
            match &re {
                Some(re) if !re.is_match(line) => vec![],
                _ => vec![line.to_string()],
            }
        } else {
            match &lit {
                Some(l) => narrow(line, l),
                None => vec![line.to_string()],
            }
        };
        for k in kept.into_iter().filter(|k| seen.insert(k.clone())) {
            out.push_str(&k);
            out.push(sep);
        }
    }
    out
}

/// A regex that is a plain string, possibly anchored (`env`, `^\.env`, `\.ts$`).
struct Literal {
    text: String,
    start: bool,
    end: bool,
}

fn literal(pattern: &str) -> Option<Literal> {
    let (start, rest) = match pattern.strip_prefix('^') {
        Some(r) => (true, r),
        None => (false, pattern),
    };
    let (end, rest) = match rest.strip_suffix('$') {
        Some(r) if !r.ends_with('\\') => (true, r),
        _ => (false, rest),
    };
    let mut text = String::new();
    let mut cs = rest.chars();
    while let Some(c) = cs.next() {
        match c {
            '\\' => match cs.next() {
                Some(e) if !e.is_ascii_alphanumeric() => text.push(e),
                _ => return None,
            },
            '.' | '*' | '[' | ']' | '(' | ')' | '+' | '?' | '{' | '}' | '|' | '^' | '$' => {
                return None;
            }
            c => text.push(c),
        }
    }
    (!text.is_empty() && !text.contains('/')).then_some(Literal { text, start, end })
}

/// Narrow a glob line to the names that contain the literal. Only a last component made of a
/// literal prefix and one trailing `*` (`*`, `.*`, `dir/*`) is narrowed; other lines are kept.
fn narrow(line: &str, l: &Literal) -> Vec<String> {
    let (dir, comp) = match line.rsplit_once('/') {
        Some((d, c)) => (format!("{d}/"), c),
        None => (String::new(), line),
    };
    let Some(prefix) = comp.strip_suffix('*') else {
        return vec![line.to_string()];
    };
    if crate::policy::paths::has_glob_chars(prefix)
        || (crate::policy::paths::has_glob_chars(&dir) && !l.end)
        || (l.start && !dir.is_empty())
        || (!l.start && !l.end && dir.contains(&l.text))
    {
        return vec![line.to_string()];
    }
    let t = &l.text;
    let tail = if l.end { "" } else { "*" };
    if prefix.contains(t.as_str()) && !l.end {
        return if l.start && !prefix.starts_with(t.as_str()) {
            vec![]
        } else {
            vec![line.to_string()]
        };
    }
    let mut out = Vec::new();
    // A match starting inside the fixed prefix (`.*` through `grep '\.env'` gives `.env*`).
    for (i, _) in prefix.char_indices() {
        if t.starts_with(&prefix[i..]) && (i == 0 || !l.start) {
            out.push(format!("{dir}{}{t}{tail}", &prefix[..i]));
        }
    }
    if !l.start {
        out.push(format!("{dir}{prefix}*{t}{tail}"));
    } else if prefix.is_empty() {
        out.push(format!("{dir}{t}{tail}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grep_narrows_listing_globs_to_the_literal() {
        let ls = "*\n.*\n";
        assert_eq!(grep("grep", &["env"], ls).unwrap(), "*env*\n.*env*\n");
        assert_eq!(
            grep("grep", &["\\.env"], ls).unwrap(),
            "*.env*\n.env*\n.*.env*\n"
        );
        assert_eq!(grep("grep", &["^\\.env"], ls).unwrap(), ".env*\n");
        assert_eq!(grep("grep", &["\\.ts$"], ls).unwrap(), "*.ts\n.ts\n.*.ts\n");
        assert_eq!(grep("grep", &["-v", "example"], ls).unwrap(), ls);
        assert_eq!(grep("grep", &["-i", "env"], ls).unwrap(), ls);
        assert_eq!(grep("grep", &["-c", "env"], ls), None);
        assert_eq!(grep("grep", &["env", "file.txt"], ls), None);
    }

    #[test]
    fn grep_tests_literal_lines() {
        assert_eq!(
            grep("grep", &["env"], "src/a.ts\n.env\n").unwrap(),
            ".env\n"
        );
    }

    #[test]
    fn sed_selects_like_grep_and_rewrites_are_unknown() {
        assert_eq!(sed(&["-n", "/env/p"], "*\n").unwrap(), "*env*\n");
        assert_eq!(sed(&["s/a/b/"], "*\n"), None);
    }

    #[test]
    fn literal_grep_of_unknown_input_stands_for_matching_names() {
        let out = grep_unknown_input(&["grep", "env"]).unwrap();
        assert!(out.lines().any(|l| l == ".*env*"));
        assert!(out.lines().any(|l| l == "*/*env*"));
        let out = grep_unknown_input(&["grep", "^\\.env"]).unwrap();
        assert_eq!(out, ".env*\n.env*/*\n.env*/.*\n");
        assert_eq!(grep_unknown_input(&["grep", "-v", "env"]), None);
        assert_eq!(grep_unknown_input(&["grep", "e.v"]), None);
        assert_eq!(grep_unknown_input(&["sort"]), None);
    }
}
