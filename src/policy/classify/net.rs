//! Risk rules for the network: remote shells and copies, raw sockets, uploads and downloads.

use super::command::Args;
use super::{Classifier, local_host};
use crate::call::Action;
use crate::policy::findings::Code;
use crate::policy::shell::{Command, Stdin};
use std::path::Path;

impl Classifier<'_> {
    /// Tunnels that publish a local server on the internet (`ngrok http 3000`, `cloudflared
    /// tunnel --url …`, `lt --port`, `bore local`, `tailscale funnel`): judged like a server
    /// bound to every interface, since whatever the local port serves leaves the machine.
    /// Their management subcommands (config, login, list, version, turning a share off) pass.
    pub(super) fn tunnel(&mut self, cmd: &Command, span: &str) {
        let ops = cmd.operands();
        let first = ops.first().copied().unwrap_or("");
        let second = ops.get(1).copied().unwrap_or("");
        let help = cmd
            .args()
            .iter()
            .any(|a| matches!(*a, "-h" | "--help" | "-v" | "-V" | "--version"));
        let exposes = !help
            && match cmd.name() {
                "ngrok" => matches!(first, "http" | "tcp" | "tls" | "start" | "tunnel"),
                "cloudflared" => {
                    (first == "tunnel"
                        && !matches!(
                            second,
                            "list"
                                | "create"
                                | "delete"
                                | "info"
                                | "login"
                                | "route"
                                | "cleanup"
                                | "token"
                                | "help"
                        ))
                        || (first.is_empty() && cmd.args().iter().any(|a| a.starts_with("--url")))
                }
                "bore" => first == "local",
                "tailscale" => {
                    matches!(first, "funnel" | "serve")
                        && !matches!(second, "status" | "reset" | "off")
                        && !cmd.args().contains(&"off")
                }
                "zrok" => first == "share",
                "devtunnel" => first == "host",
                "loclx" | "localxpose" => first == "tunnel",
                "telebit" => matches!(first, "http" | "tcp" | "ssh"),
                _ => true,
            };
        if exposes {
            self.finding(Code::NetTunnel, format!(
                    "`{}` publishes a local server on the internet; whatever it serves (the project, its .env) can be fetched by anyone",
                    cmd.name()
                ),
                span,
            );
        }
    }

    pub(super) fn remote(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        if name == "scp" {
            return self.copy(cmd, cwd, span);
        }
        let a = Args::parse(
            &cmd.argv,
            &[
                "-p", "-i", "-l", "-o", "-F", "-P", "-L", "-R", "-D", "-J", "-W",
            ],
        );
        if a.operands.is_empty() && a.opts.iter().all(|o| o == "-V" || o == "-G") {
            return; // `ssh -V`: the version, no connection
        }
        // Programs ssh starts (`-o ProxyCommand=…`) are judged as other runners are.
        for o in a.opts.iter().filter_map(|o| o.strip_prefix("-o=")) {
            let (key, value) = o.split_once(['=', ' ']).unwrap_or((o, ""));
            let key = key.to_ascii_lowercase();
            if matches!(
                key.as_str(),
                "proxycommand" | "localcommand" | "knownhostscommand"
            ) {
                self.runner(&key, value.trim_start_matches('='), span);
            }
        }
        if a.operands.first().is_some_and(|w| local_host(&w.text)) && name != "sshpass" {
            return;
        }
        // `GIT_SSH_COMMAND='ssh -o …' git fetch`: the transport git drives, with git's host and
        // git's own command; forwarding ports through it is still a tunnel.
        let git_transport = cmd
            .nested_in
            .last()
            .is_some_and(|l| l == "git GIT_SSH_COMMAND" || l == "git -c core.sshcommand");
        let forwards = ["-R", "-L", "-D", "-W"]
            .iter()
            .any(|f| a.opts.iter().any(|o| o.starts_with(f)));
        if name == "ssh" && git_transport && a.operands.is_empty() && !forwards {
            return;
        }
        self.finding(
            Code::NetRemoteShell,
            format!("`{name}` opens a session on another machine; ask the user to run it"),
            span,
        );
    }

    pub(super) fn socket(&mut self, cmd: &Command, span: &str) {
        let a = Args::parse(&cmd.argv, &["-p", "-s", "-w", "-e", "-c", "-q", "-i"]);
        let host = a.operands.first().map(|w| w.text.as_str()).unwrap_or("");
        if a.short('l') && cmd.redirects.is_empty() && matches!(cmd.stdin, Stdin::Inherited) {
            return self.finding(Code::NetListen, "opens a listening socket", span);
        }
        if !host.is_empty() && local_host(host) {
            return;
        }
        self.finding(
            Code::NetRawSocket,
            format!("`{}` sends raw data to another machine", cmd.name()),
            span,
        );
    }

    pub(super) fn curl(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let a = Args::parse(
            &cmd.argv,
            &[
                "-d",
                "-F",
                "-T",
                "-o",
                "-X",
                "-H",
                "-u",
                "-A",
                "-e",
                "-b",
                "-c",
                "-K",
                "-w",
                "-x",
                "-m",
                "-r",
                "-E",
                "-U",
                "-Y",
                "-y",
                "-z",
                "-C",
                "-D",
                "-x",
                "--data",
                "--data-binary",
                "--data-raw",
                "--data-urlencode",
                "--form",
                "--upload-file",
                "--output",
                "--request",
                "--header",
                "--json",
                "--config",
                "--user",
                "--cookie",
                "--cookie-jar",
                "--url",
                "--max-time",
                "--dump-header",
                "--proxy",
                "--proxy-user",
                "--oauth2-bearer",
                "--pass",
                "--user-agent",
                "--referer",
                "--cert",
                "--key",
                "--cacert",
                "--connect-timeout",
                "--retry",
                "--resolve",
                "--connect-to",
                "--proxy-header",
                "--aws-sigv4",
                "--netrc-file",
                "--write-out",
                "--output-dir",
                "--unix-socket",
                "--data-ascii",
                "--form-string",
            ],
        );
        let mut sends = false;
        // Data written out in the command (`-d 'q=1'`) is text the agent chose, judged by the
        // secret checks on outbound text; data from files, standard input or values computed
        // at run time is local data leaving.
        let computed = cmd.argv.iter().any(|w| w.dynamic);
        for o in &a.opts {
            let Some((opt, v)) = o.split_once('=') else {
                continue;
            };
            match opt {
                "-d" | "--data" | "--data-binary" | "--data-urlencode" | "--json" | "-F"
                | "--form" => {
                    // `@file`, and for forms `<file` too, read a file.
                    let from_file =
                        v.contains('@') || (matches!(opt, "-F" | "--form") && v.contains('<'));
                    sends |= computed || from_file;
                    let file = v
                        .rsplit_once('@')
                        .map(|(_, f)| f)
                        .filter(|_| v.contains('@'));
                    if let Some(f) = file.map(|f| f.split(';').next().unwrap_or(f))
                        && f != "-"
                        && !f.is_empty()
                    {
                        self.raw_path(f, Action::FileRead, cwd, span);
                    }
                }
                "--data-raw" => sends |= computed,
                "-T" | "--upload-file" => {
                    sends = true;
                    if v != "-" && v != "." {
                        self.raw_path(v, Action::FileRead, cwd, span);
                    }
                }
                "-o" | "--output" | "-D" | "--dump-header" | "-c" | "--cookie-jar" if v != "-" => {
                    self.raw_path(v, Action::FileWrite, cwd, span);
                }
                "-K" | "--config" => self.raw_path(v, Action::FileRead, cwd, span),
                _ => {}
            }
        }
        let urls: Vec<String> = a
            .operands
            .iter()
            .map(|w| w.text.clone())
            .chain(a.value(&["--url"]).map(str::to_string))
            .collect();
        for u in urls {
            self.url(&u, Action::WebFetch, sends);
        }
    }

    pub(super) fn wget(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let a = Args::parse(
            &cmd.argv,
            &[
                "-O",
                "-o",
                "-P",
                "-i",
                "--header",
                "-U",
                "-e",
                "--post-file",
                "--body-file",
                "--post-data",
                "--body-data",
                "--method",
                "--output-document",
                "--input-file",
            ],
        );
        let mut sends = false;
        for o in &a.opts {
            if let Some(f) = o
                .strip_prefix("--post-file=")
                .or_else(|| o.strip_prefix("--body-file="))
            {
                sends = true;
                self.raw_path(f, Action::FileRead, cwd, span);
            } else if o.starts_with("--post-data")
                || o.starts_with("--body-data")
                || o.starts_with("--method=P")
            {
                sends = true;
            } else if let Some(f) = o
                .strip_prefix("-O=")
                .or_else(|| o.strip_prefix("--output-document="))
            {
                if f != "-" {
                    self.raw_path(f, Action::FileWrite, cwd, span);
                }
            } else if let Some(f) = o
                .strip_prefix("-i=")
                .or_else(|| o.strip_prefix("--input-file="))
            {
                self.raw_path(f, Action::FileRead, cwd, span);
            }
        }
        for w in &a.operands {
            self.url(&w.text, Action::WebFetch, sends);
        }
    }

    /// HTTPie (`http`, `xh`): `@file` sends a file as the body, `field@file` and `field=@file`
    /// send file contents as fields.
    pub(super) fn httpie(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let mut sends = false;
        let mut urls = Vec::new();
        for w in cmd.argv.iter().skip(1).filter(|w| !w.text.starts_with('-')) {
            let t = w.text.as_str();
            let file = t
                .strip_prefix('@')
                .or_else(|| t.split_once("=@").map(|(_, f)| f))
                .or_else(|| {
                    t.split_once('@')
                        .filter(|(k, _)| !k.is_empty() && !k.contains([':', '/', '.']))
                        .map(|(_, f)| f)
                });
            if t.contains("://") || urls.is_empty() && t.contains('.') && file.is_none() {
                urls.push(t.to_string());
            } else if let Some(f) = file {
                sends = true;
                self.raw_path(f, Action::FileRead, cwd, span);
            } else if t.contains('=') || t.contains(":=") {
                sends = true;
            }
        }
        for u in urls {
            self.url(&u, Action::WebFetch, sends);
        }
    }

    /// Releases to a public package registry (`npm publish`, `cargo publish`, `twine upload`):
    /// the project leaves the machine for good. Dry runs only pack it locally.
    pub(super) fn package_published(&mut self, cmd: &Command, span: &str) {
        let args = cmd.args();
        let words = cmd.operands();
        let publishes = match cmd.name() {
            "npm" | "pnpm" | "bun" | "cargo" | "poetry" | "uv" | "flit" | "hatch" | "pdm" => {
                words.first() == Some(&"publish")
            }
            "yarn" => matches!(words.as_slice(), ["publish", ..] | ["npm", "publish", ..]),
            "twine" => words.first() == Some(&"upload"),
            "gem" => words.first() == Some(&"push"),
            _ => false,
        };
        if publishes && !args.iter().any(|a| matches!(*a, "--dry-run" | "-n")) {
            self.finding(
                Code::NetPackagePublish,
                "publishes the project to a package registry",
                span,
            );
        }
    }

    /// Installs straight from a URL (`pip install https://x/p.tar.gz`, `npm i https://x/p.tgz`):
    /// code from an arbitrary host whose build and install scripts run here, unreviewed.
    pub(super) fn package_from_url(&mut self, cmd: &Command, span: &str) {
        let words = cmd.operands();
        let installs = match cmd.name() {
            "pip" | "pip3" | "npm" | "pnpm" | "bun" | "yarn" => {
                matches!(words.first(), Some(&("install" | "i" | "add")))
            }
            "uv" => words.starts_with(&["pip", "install"]) || words.first() == Some(&"add"),
            _ => false,
        };
        if let Some(url) = words
            .iter()
            .skip(1)
            .find(|w| w.contains("://") && !w.starts_with("file://"))
            .filter(|_| installs)
        {
            self.finding(
                Code::NetInstallUrl,
                format!(
                    "installs a package straight from {url}; its install scripts run unreviewed"
                ),
                span,
            );
        }
    }

    pub(super) fn gh(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let args = cmd.args();
        let words = cmd.operands();
        let sends_files = words.first() == Some(&"api") && self.gh_api_files(&args, cwd, span);
        match words.as_slice() {
            ["repo", "delete", ..] | ["release", "delete", ..] => self.finding(
                Code::GitRepoDelete,
                "deletes a GitHub repository or release",
                span,
            ),
            // A private repository made public: everything in it is published.
            ["repo", "edit", ..]
                if args.contains(&"--visibility=public")
                    || args
                        .windows(2)
                        .any(|w| w[0] == "--visibility" && w[1] == "public") =>
            {
                self.finding(Code::NetPublishRepo, "makes the repository public", span)
            }
            // Release assets are uploaded files (`gh release upload v1 dist/app.tgz`).
            ["release", "upload", _, files @ ..] | ["release", "create", _, files @ ..] => {
                for f in files {
                    let f = f.split('#').next().unwrap_or(f);
                    self.raw_path(f, Action::FileRead, cwd, span);
                }
            }
            ["gist", "create", ..] | ["gist", "edit", ..] | ["snippet", "create", ..] => {
                self.finding(Code::NetGistUpload, "uploads files to a gist", span)
            }
            ["api", target, ..] if sends_files && target.starts_with("gists") => {
                self.finding(Code::NetGistUpload, "uploads files to a gist", span)
            }
            ["api", ..]
                if args
                    .iter()
                    .any(|a| *a == "DELETE" || *a == "-XDELETE" || a.ends_with("=DELETE")) =>
            {
                self.finding(
                    Code::NetApiDelete,
                    "a DELETE request to the GitHub API",
                    span,
                )
            }
            _ => {}
        }
    }

    /// Files `gh api` reads and sends (`-f key=@file`, `-F key=@file`, `--input file`), each
    /// judged as a read; true when there is one.
    fn gh_api_files(&mut self, args: &[&str], cwd: &Path, span: &str) -> bool {
        let mut sends = false;
        for (i, a) in args.iter().enumerate() {
            let file = match *a {
                "--input" => args.get(i + 1).copied(),
                "-f" | "-F" | "--field" | "--raw-field" => args
                    .get(i + 1)
                    .and_then(|v| v.split_once("=@"))
                    .map(|(_, f)| f),
                _ => None,
            };
            if let Some(f) = file.filter(|f| *f != "-") {
                sends = true;
                self.raw_path(f, Action::FileRead, cwd, span);
            }
        }
        sends
    }
}
