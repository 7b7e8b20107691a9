//! Ordinary tools that run shell commands given in their options or scripts: `sed` (`e`
//! command, `s///e`, `w`/`r` files), `tar --to-command`, `rsync -e`, `ssh -o ProxyCommand`,
//! `zip -TT`, `man -P`, `gdb -ex`, `mysql -e '\!'`, `npx -c`, `tcpdump -z`, `at`/`batch`.
//! The tool itself is recorded as it is; what it runs is recorded after it.

use super::parse::{Arg, Cmd, Walker};
use super::{Redirect, RedirectKind, Word};

/// Tools that may run commands given in their arguments or input.
pub(crate) fn runs_commands(name: &str) -> bool {
    matches!(
        name,
        "sed"
            | "gsed"
            | "tar"
            | "gtar"
            | "rsync"
            | "ssh"
            | "scp"
            | "sftp"
            | "zip"
            | "man"
            | "gdb"
            | "mysql"
            | "mariadb"
            | "npx"
            | "npm"
            | "pnpm"
            | "yarn"
            | "tcpdump"
            | "at"
            | "batch"
            | "nix-shell"
            | "docker"
            | "podman"
            | "kubectl"
    ) || super::runners::is_runner(name)
}

/// Values of an option, however it is spelled: `--name=V`, `--name V`, `-X V`, `-XV`.
fn values(args: &[Arg], longs: &[&str], shorts: &[&str]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let t = &args[i].w.text;
        let next = args.get(i + 1).map(|a| (a.w.text.clone(), a.w.dynamic));
        let mut hit = None;
        for l in longs {
            if t == l {
                hit = next.clone();
            } else if let Some(v) = t.strip_prefix(l).and_then(|r| r.strip_prefix('=')) {
                hit = Some((v.to_string(), args[i].w.dynamic));
            }
        }
        for s in shorts {
            if t == s {
                hit = next.clone();
            } else if let Some(v) = t.strip_prefix(s)
                && !v.is_empty()
                && !s.starts_with("--")
            {
                hit = Some((v.to_string(), args[i].w.dynamic));
            }
        }
        if let Some(h) = hit {
            out.push(h);
        }
        i += 1;
    }
    out
}

/// The command a container tool runs inside the container: `docker exec C CMD…`,
/// `docker run [opts] IMAGE CMD…`, `kubectl exec POD -- CMD…`.
fn container_command<'a>(name: &str, args: &'a [Arg]) -> Option<&'a [Arg]> {
    if name == "kubectl" {
        let exec = args.iter().position(|a| a.w.text == "exec")?;
        let dashes = args[exec..].iter().position(|a| a.w.text == "--")? + exec;
        return Some(&args[dashes + 1..]).filter(|r| !r.is_empty());
    }
    const VALUED: &[&str] = &[
        "-e",
        "--env",
        "--env-file",
        "-u",
        "--user",
        "-w",
        "--workdir",
        "-v",
        "--volume",
        "-p",
        "--publish",
        "--name",
        "--network",
        "--net",
        "--entrypoint",
        "--mount",
        "-l",
        "--label",
        "--cpus",
        "-m",
        "--memory",
        "--platform",
        "--pull",
        "--restart",
        "-h",
        "--hostname",
        "--add-host",
        "--device",
        "--cap-add",
        "--cap-drop",
        "--security-opt",
        "--tmpfs",
        "--ulimit",
        "--gpus",
        "--ipc",
        "--pid",
        "--log-driver",
        "--shm-size",
        "--detach-keys",
    ];
    let sub = args
        .iter()
        .position(|a| matches!(a.w.text.as_str(), "exec" | "run"))?;
    let mut i = sub + 1;
    while let Some(a) = args.get(i) {
        let t = a.w.text.as_str();
        if t == "--" {
            i += 1;
            break;
        }
        if !t.starts_with('-') {
            break;
        }
        i += if VALUED.contains(&t) { 2 } else { 1 };
    }
    // args[i] is the container or image; what follows is the command.
    Some(&args[(i + 1).min(args.len())..]).filter(|r| !r.is_empty())
}

impl Walker<'_> {
    /// Record what a tool runs (called after the tool itself was recorded).
    pub(crate) fn tool(&mut self, c: &Cmd, name: &str) {
        let mut scripts: Vec<(String, bool)> = Vec::new();
        let label = format!("{name} option");
        match name {
            "sed" | "gsed" => return self.sed(c),
            "tar" | "gtar" => {
                scripts = values(
                    &c.args,
                    &[
                        "--to-command",
                        "--use-compress-program",
                        "--rsh-command",
                        "--info-script",
                        "--new-volume-script",
                    ],
                    &["-I", "-F"],
                );
                for (v, d) in values(&c.args, &["--checkpoint-action"], &[]) {
                    if let Some(cmd) = v.strip_prefix("exec=") {
                        scripts.push((cmd.to_string(), d));
                    }
                }
            }
            "rsync" => scripts = values(&c.args, &["--rsh", "--rsync-path"], &["-e"]),
            "nix-shell" => scripts = values(&c.args, &["--run", "--command"], &[]),
            "docker" | "podman" | "kubectl" => {
                if let Some(argv) = container_command(name, &c.args) {
                    let text: Vec<String> = argv.iter().map(|a| super::quote(&a.w.text)).collect();
                    scripts.push((text.join(" "), argv.iter().any(|a| a.w.dynamic)));
                }
            }
            "ssh" | "scp" | "sftp" => {
                if name == "ssh" {
                    // The remote command runs in a shell too (on this machine for `localhost`).
                    let mut i = 1;
                    while let Some(a) = c.args.get(i).map(|a| a.w.text.as_str()) {
                        if a == "--" {
                            i += 1;
                            break;
                        }
                        if !a.starts_with('-') {
                            break;
                        }
                        let last = a.chars().last().unwrap_or('-');
                        i += if a.len() == 2 && "bcDEeFIiJLlmOopQRSWw".contains(last) {
                            2
                        } else {
                            1
                        };
                    }
                    let remote: Vec<&Arg> = c.args.iter().skip(i + 1).collect();
                    if !remote.is_empty() {
                        let text: Vec<&str> = remote.iter().map(|a| a.w.text.as_str()).collect();
                        scripts.push((text.join(" "), remote.iter().any(|a| a.w.dynamic)));
                    }
                }
                for (v, d) in values(&c.args, &[], &["-o"]) {
                    let (k, val) = v.split_once(['=', ' ']).unwrap_or((&v, ""));
                    if matches!(
                        k.to_ascii_lowercase().as_str(),
                        "proxycommand" | "localcommand" | "knownhostscommand"
                    ) {
                        scripts.push((val.trim().to_string(), d));
                    }
                }
            }
            "zip" => scripts = values(&c.args, &["--unzip-command"], &["-TT"]),
            "man" => scripts = values(&c.args, &["--pager", "--html"], &["-P", "-H"]),
            "gdb" => {
                for (v, d) in values(
                    &c.args,
                    &["--eval-command", "--init-eval-command"],
                    &["-ex", "-iex"],
                ) {
                    let v = v.trim();
                    if let Some(cmd) = v.strip_prefix("shell ").or_else(|| v.strip_prefix('!')) {
                        scripts.push((cmd.to_string(), d));
                    }
                }
            }
            "mysql" | "mariadb" => {
                for (v, d) in values(&c.args, &["--execute"], &["-e"]) {
                    let v = v.trim();
                    if let Some(cmd) = v.strip_prefix("\\!").or_else(|| v.strip_prefix("system ")) {
                        scripts.push((cmd.to_string(), d));
                    }
                }
            }
            "npx" | "npm" | "pnpm" | "yarn" => scripts = values(&c.args, &["--call"], &["-c"]),
            "tcpdump" => scripts = values(&c.args, &[], &["-z"]),
            "at" | "batch"
                if !c
                    .args
                    .iter()
                    .any(|a| a.w.text == "-f" || a.w.text.starts_with("-l")) =>
            {
                match &c.stdin_text {
                    Some(t) => scripts.push((t.clone(), false)),
                    None if !matches!(c.stdin, super::Stdin::Inherited) => {
                        self.problem(format!("{name} runs commands not known statically"));
                    }
                    None => {}
                }
            }
            _ if super::runners::is_runner(name) => return self.runner(c, name),
            _ => {}
        }
        for (text, dynamic) in scripts {
            if dynamic {
                self.problem(format!("{name} runs a command not known statically"));
                continue;
            }
            self.nested_script(&text, &label, &c.wrappers, None, true);
        }
    }

    /// `sed` scripts: `e COMMAND`, `s///e`, `w FILE`, `r FILE`.
    fn sed(&mut self, c: &Cmd) {
        let mut scripts: Vec<(String, bool)> = values(&c.args, &["--expression"], &["-e"]);
        let has_file = !values(&c.args, &["--file"], &["-f"]).is_empty();
        if scripts.is_empty() && !has_file {
            // The first operand is the script.
            let mut i = 1;
            while i < c.args.len() {
                let t = &c.args[i].w.text;
                if t == "--" {
                    i += 1;
                    break;
                }
                if t.starts_with('-') && t.len() > 1 {
                    i += if t == "-l" || t == "--line-length" {
                        2
                    } else {
                        1
                    };
                    continue;
                }
                break;
            }
            if let Some(a) = c.args.get(i) {
                scripts.push((a.w.text.clone(), a.w.dynamic));
            }
        }
        for (script, dynamic) in scripts {
            if dynamic {
                continue;
            }
            for act in sed_script(&script) {
                match act {
                    SedAct::Run(cmd) => self.nested_script(&cmd, "sed e", &c.wrappers, None, true),
                    SedAct::RunsText => self.problem("sed executes text it edits (`e`)"),
                    SedAct::Write(p) => self.emit(Cmd {
                        redirects: vec![Redirect {
                            kind: RedirectKind::Write,
                            target: Word {
                                text: p,
                                glob: false,
                                dynamic: false,
                            },
                        }],
                        wrappers: c.wrappers.clone(),
                        text: c.text.clone(),
                        ..Cmd::default()
                    }),
                    SedAct::Read(p) => self.emit(Cmd {
                        args: vec![Arg::lit("cat"), Arg::lit(&p)],
                        wrappers: c.wrappers.clone(),
                        text: c.text.clone(),
                        ..Cmd::default()
                    }),
                }
            }
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum SedAct {
    Run(String),
    RunsText,
    Write(String),
    Read(String),
}

/// Walk a sed script's commands, skipping addresses, regexes and text arguments.
fn sed_script(s: &str) -> Vec<SedAct> {
    let cs: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let rest_of_line = |i: &mut usize| -> String {
        let start = *i;
        while *i < cs.len() && cs[*i] != '\n' {
            *i += 1;
        }
        cs[start..*i].iter().collect::<String>().trim().to_string()
    };
    // Skip a delimited part (regex or replacement); returns false at end of input.
    let delimited = |i: &mut usize, d: char| {
        while *i < cs.len() && cs[*i] != d {
            if cs[*i] == '\\' {
                *i += 1;
            }
            *i += 1;
        }
        *i += 1;
    };
    while i < cs.len() {
        let c = cs[i];
        // Addresses.
        if c.is_whitespace()
            || c == ';'
            || c.is_ascii_digit()
            || matches!(c, '$' | ',' | '!' | '~' | '{' | '}')
        {
            i += 1;
            continue;
        }
        if c == '/' {
            i += 1;
            delimited(&mut i, '/');
            continue;
        }
        if c == '\\' && i + 1 < cs.len() {
            let d = cs[i + 1];
            i += 2;
            delimited(&mut i, d);
            continue;
        }
        i += 1;
        match c {
            's' | 'y' if i < cs.len() => {
                let d = cs[i];
                i += 1;
                delimited(&mut i, d);
                delimited(&mut i, d);
                if c == 's' {
                    while i < cs.len() && !matches!(cs[i], ';' | '\n' | '}') {
                        match cs[i] {
                            'e' => out.push(SedAct::RunsText),
                            'w' => {
                                i += 1;
                                let f = rest_of_line(&mut i);
                                out.push(SedAct::Write(f));
                                break;
                            }
                            _ => {}
                        }
                        i += 1;
                    }
                }
            }
            'e' => {
                let cmd = rest_of_line(&mut i);
                let cmd = cmd.split(';').next().unwrap_or("").trim().to_string();
                if cmd.is_empty() {
                    out.push(SedAct::RunsText);
                } else {
                    out.push(SedAct::Run(cmd));
                }
            }
            'w' | 'W' => out.push(SedAct::Write(rest_of_line(&mut i))),
            'r' | 'R' => out.push(SedAct::Read(rest_of_line(&mut i))),
            'a' | 'i' | 'c' => {
                // `a\` continues on the next line(s) while lines end in a backslash.
                while rest_of_line(&mut i).ends_with('\\') && i < cs.len() {
                    i += 1;
                }
            }
            ':' | 'b' | 't' | 'T' => {
                let _ = rest_of_line(&mut i);
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
    fn sed_commands() {
        assert_eq!(sed_script("s/foo/bar/g"), vec![]);
        assert_eq!(sed_script("1,40p"), vec![]);
        assert_eq!(sed_script("1e reboot"), vec![SedAct::Run("reboot".into())]);
        assert_eq!(sed_script("s/.*/id/e"), vec![SedAct::RunsText]);
        assert_eq!(
            sed_script("s/a/b/w out.txt"),
            vec![SedAct::Write("out.txt".into())]
        );
        assert_eq!(sed_script("/x/r .env"), vec![SedAct::Read(".env".into())]);
        assert_eq!(sed_script("s/e/w/g;p"), vec![]);
        assert_eq!(sed_script("/re/d; a\\\ntext e x"), vec![]);
    }
}
