//! Risk rules for running code: scripts from files, pipes into shells and interpreters,
//! computed script paths, servers that publish files.

use super::{Classifier, places};
use crate::call::Action;
use crate::policy::findings::Code;
use crate::policy::shell::{Command, Stdin, Word};
use std::path::Path;

/// Scripts read from files (`bash build.sh`) are analysed up to this depth.
const MAX_SCRIPT_DEPTH: usize = 3;
/// Script files larger than this are not read; running them is flagged instead.
const MAX_SCRIPT_BYTES: u64 = 256 * 1024;

impl Classifier<'_> {
    /// `source FILE` / `. FILE`: runs the file in the current shell.
    pub(super) fn source(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        match cmd.argv.get(1) {
            Some(w) if w.dynamic => self.finding(
                Code::ShellDynamicScript,
                format!(
                    "runs code from `{}`, which is only known at run time",
                    w.text
                ),
                span,
            ),
            Some(w) => {
                let p = self.resolve(&w.text, cwd);
                self.script_file(&p, cwd, span);
            }
            None => {}
        }
    }

    /// `sh`, `bash`…: `-c` scripts and heredocs were expanded by the shell analysis; here the
    /// script is a file, a pipe or a computed path.
    pub(super) fn nested_shell(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let argv = &cmd.argv;
        let skip = usize::from(cmd.name() == "busybox");
        let words: Vec<&Word> = argv.iter().skip(1 + skip).collect();
        if words.iter().any(|w| {
            w.text == "-c"
                || (w.text.starts_with('-') && !w.text.starts_with("--") && w.text.contains('c'))
        }) {
            return;
        }
        let script = words
            .iter()
            .find(|w| !w.text.starts_with('-') && !w.text.starts_with('+'));
        match script {
            Some(w) if w.dynamic => self.finding(
                Code::ShellGeneratedScript,
                format!("runs a script produced at run time (`{}`); download it, read it, then run the file", w.text),
                span,
            ),
            Some(w) => {
                let p = self.resolve(&w.text, cwd);
                self.path(Action::FileRead, p.clone(), span);
                self.script_file(&p, cwd, span);
            }
            None => self.code_from_stdin(cmd, span),
        }
    }

    pub(super) fn interpreter(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let args = cmd.args();
        let value = |names: &[&str]| {
            args.iter().enumerate().find_map(|(j, a)| {
                names.iter().find_map(|n| {
                    if a == n {
                        args.get(j + 1).copied()
                    } else {
                        a.strip_prefix(n).and_then(|r| r.strip_prefix('='))
                    }
                })
            })
        };
        self.env_loaders(&args, cwd, span);
        if let Some(i) = args.iter().position(|a| *a == "-m") {
            let module = args.get(i + 1).copied().unwrap_or("");
            let help = args[i..].iter().any(|a| matches!(*a, "-h" | "--help"));
            if !help
                && matches!(
                    module,
                    "http.server" | "SimpleHTTPServer" | "uploadserver" | "pyftpdlib"
                )
            {
                let dir = value(&["--directory", "-d"]).unwrap_or(".");
                self.serve_files(dir, value(&["--bind", "-b"]), cwd, span);
            }
            return self.secret_arguments(cmd, cwd, span);
        }
        // `php -S host:port [-t DIR]`, `ruby -run -e httpd DIR`: built-in web servers.
        if cmd.name().starts_with("php")
            && let Some(bind) = value(&["-S"])
        {
            return self.serve_files(value(&["-t"]).unwrap_or("."), Some(bind), cwd, span);
        }
        if cmd.name().starts_with("ruby")
            && args.contains(&"-run")
            && let Some(i) = args.iter().position(|a| *a == "httpd")
        {
            let dir = args[i + 1..]
                .iter()
                .find(|a| !a.starts_with('-'))
                .copied()
                .unwrap_or(".");
            return self.serve_files(dir, value(&["--bind-address", "-b"]), cwd, span);
        }
        let inline = args
            .iter()
            .skip(1)
            .any(|a| matches!(*a, "-c" | "-e" | "-E" | "-p" | "-r" | "--eval" | "--print"));
        let script = cmd.argv.iter().skip(1).find(|w| !w.text.starts_with('-'));
        match script {
            _ if inline => {}
            Some(w) if w.dynamic => self.finding(
                Code::ShellDynamicScript,
                format!("runs a script produced at run time (`{}`)", w.text),
                span,
            ),
            Some(_) => self.secret_arguments(cmd, cwd, span),
            None => self.code_from_stdin(cmd, span),
        }
    }

    /// A web server publishing `dir`; bound to loopback only this machine can reach it.
    pub(super) fn serve_files(&mut self, dir: &str, bind: Option<&str>, cwd: &Path, span: &str) {
        let loopback = |b: &str| {
            let h = super::host_of(b);
            h == "localhost" || h.starts_with("127.") || h == "::1"
        };
        if bind.is_some_and(loopback) {
            return;
        }
        let dir = self.resolve(dir, cwd);
        let exposed = !places::in_project(&dir, self.env) || places::holds_secrets(&dir, self.env);
        // A subfolder such as `dist` with no secret file in it only publishes build output.
        let secret_inside = places::secret_file_in(&dir, self.env);
        if !exposed && dir != self.env.project && !secret_inside {
            return self.finding(
                Code::NetServeBuild,
                format!("serves {} on the network", dir.display()),
                span,
            );
        }
        self.finding(
            if exposed {
                Code::NetServeExposed
            } else {
                Code::NetServeFiles
            },
            format!("serves the files of {} over the network", dir.display()),
            span,
        );
    }

    /// A shell or interpreter that takes its program from standard input.
    pub(super) fn code_from_stdin(&mut self, cmd: &Command, span: &str) {
        if cmd.stdin == Stdin::Pipe {
            self.finding(Code::ShellPipeToShell, format!("pipes generated or downloaded code into `{}`; save it to a file and review it first", cmd.name()),
                span,
            );
        }
    }

    /// Reads a script the command runs and judges its contents too.
    pub(super) fn script_file(&mut self, path: &Path, cwd: &Path, span: &str) {
        let small =
            std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= MAX_SCRIPT_BYTES);
        if !small || self.depth >= MAX_SCRIPT_DEPTH {
            return;
        }
        if places::secret_kind(path, self.env).is_some() {
            self.path(Action::FileRead, path.to_path_buf(), span);
            return;
        }
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        self.depth += 1;
        self.shell(&text, cwd);
        self.depth -= 1;
    }
}

/// Library calls that read `.env` from the working folder without naming it (with a file
/// argument, the file named is judged by the interpreter analysis).
const ENV_LOADERS: &[&str] = &[
    "dotenv_values()",
    "load_dotenv()",
    "find_dotenv()",
    "dotenv.config()",
    "dotenv').config()",
    "dotenv\").config()",
    "dotenv/config",
    "Dotenv.load",
    "Dotenv::load",
    "dotenv::dotenv()",
    "loadEnvFile()",
];

impl Classifier<'_> {
    /// An interpreter one-liner that loads `.env` through a library (`dotenv_values()`,
    /// `require('dotenv').config()`) reads it as `cat .env` would.
    fn env_loaders(&mut self, args: &[&str], cwd: &Path, span: &str) {
        if args
            .iter()
            .skip(1)
            .any(|a| ENV_LOADERS.iter().any(|l| a.contains(l)))
        {
            let env_file = cwd.join(".env");
            if env_file.exists() {
                self.path(crate::call::Action::FileRead, env_file, span);
            }
        }
    }
}
