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
    for root in roots {
        let root = root.trim_end_matches('/');
        for middle in &middles {
            for n in &names {
                line(format!("{root}/{middle}{n}"));
            }
        }
    }
    Some(out)
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

    #[test]
    fn base64_round() {
        assert_eq!(base64_decode("cm0gLXJmIC8K").as_deref(), Some("rm -rf /\n"));
        assert_eq!(base64_decode("!!"), None);
    }
}
