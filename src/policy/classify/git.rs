//! Risk rules for git: history and worktree destruction, remote deletion, hook persistence,
//! and reads of secrets out of the object store.

use super::Classifier;
use crate::call::Action;
use crate::policy::findings::Code;
use crate::policy::paths;
use crate::policy::shell::{Command, Word};
use std::path::Path;

impl Classifier<'_> {
    /// `git [global options] <subcommand> …`
    pub(super) fn git(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let argv = &cmd.argv;
        let mut cwd = cwd.to_path_buf();
        let mut i = 1;
        while let Some(w) = argv.get(i) {
            match w.text.as_str() {
                "-C" => {
                    if let Some(dir) = argv.get(i + 1) {
                        cwd = self.resolve(&dir.text, &cwd);
                    }
                    i += 2;
                }
                "-c" => {
                    if let Some(kv) = argv.get(i + 1) {
                        let (k, v) = kv.text.split_once('=').unwrap_or((&kv.text, ""));
                        self.git_config(k, v, true, span);
                    }
                    i += 2;
                }
                "--git-dir" | "--work-tree" | "--namespace" | "--exec-path" | "--config-env" => {
                    if w.text == "--config-env"
                        && let Some(kv) = argv.get(i + 1)
                    {
                        self.git_config_env(cmd, &kv.text, span);
                    }
                    i += 2
                }
                t if t.starts_with("--config-env=") => {
                    self.git_config_env(cmd, &t["--config-env=".len()..], span);
                    i += 1
                }
                t if t.starts_with('-') => i += 1,
                _ => break,
            }
        }
        let Some(sub) = argv.get(i).map(|w| w.text.as_str()) else {
            return;
        };
        let rest = &argv[i + 1..];
        let has = |s: &str| rest.iter().any(|w| w.text == s);
        let short = |c: char| {
            rest.iter()
                .any(|w| w.text.starts_with('-') && !w.text.starts_with("--") && w.text.contains(c))
        };
        let operands: Vec<&Word> = rest.iter().filter(|w| !w.text.starts_with('-')).collect();
        let worktree = |c: &mut Self, what: &str| {
            c.finding(Code::GitDiscardWork, format!("{what} throws away uncommitted work for good; commit or stash first, or ask the user"),
                span,
            )
        };
        // Pathspecs after `--` of commands that print file contents.
        let after_dashes: Vec<&Word> = rest.iter().skip_while(|w| w.text != "--").skip(1).collect();
        let patch = has("-p")
            || has("-u")
            || has("--patch")
            || rest.iter().any(|w| w.text.starts_with("-L"));
        let shows_files = match sub {
            "show" | "diff" | "grep" | "archive" | "difftool" => true,
            "log" | "whatchanged" => patch,
            _ => false,
        };
        if shows_files {
            for w in &after_dashes {
                self.word_paths(w, Action::FileRead, &cwd, span);
            }
            // `git log -p .env`: a pathspec without `--` names an existing file.
            for w in operands
                .iter()
                .filter(|w| !w.dynamic && !w.text.contains(':'))
            {
                if cwd.join(&w.text).is_file() {
                    self.word_paths(w, Action::FileRead, &cwd, span);
                }
            }
        }
        // Staged files go into history and to every remote it is pushed to (`git add -f .env`).
        if matches!(sub, "add" | "stage") {
            for w in operands
                .iter()
                .filter(|w| !w.dynamic && w.text != "--" && !w.text.contains(':'))
            {
                if cwd.join(&w.text).is_file() {
                    self.word_paths(w, Action::FileRead, &cwd, span);
                }
            }
        }
        if (sub == "diff" && has("--no-index")) || matches!(sub, "blame" | "annotate") {
            for w in operands.iter().filter(|w| w.text != "--") {
                self.word_paths(w, Action::FileRead, &cwd, span);
            }
        }
        if sub == "ls-files" && !operands.iter().any(|w| paths::has_glob_chars(&w.text)) {
            // Every tracked file below the pathspecs (or here): judged where it is used.
            let specs = operands.iter().filter(|w| !w.dynamic && w.text != "--");
            let mut roots: Vec<_> = specs.map(|w| self.resolve(&w.text, &cwd)).collect();
            if roots.is_empty() {
                roots.push(cwd.clone());
            }
            self.tracked.extend(roots);
        }
        match sub {
            "push" => self.git_push(rest, &cwd, span),
            "remote"
                if operands
                    .first()
                    .is_some_and(|w| w.text == "add" || w.text == "set-url") =>
            {
                if let (Some(name), Some(url)) = (operands.get(1), operands.get(2))
                    && remote_url(&url.text)
                {
                    self.git_remotes.push(name.text.clone());
                }
                self.finding(
                    Code::NetGitRemote,
                    "adds or changes a git remote (a destination for pushes)",
                    span,
                )
            }
            "prune" if !(short('n') || has("--dry-run")) => {
                self.history(span, "git prune deletes unreachable commits for good")
            }
            "worktree"
                if operands.first().is_some_and(|w| w.text == "remove")
                    && (short('f') || has("--force")) =>
            {
                worktree(self, "git worktree remove --force")
            }
            "submodule"
                if operands.first().is_some_and(|w| w.text == "deinit")
                    && (short('f') || has("--force")) =>
            {
                worktree(self, "git submodule deinit --force")
            }
            "read-tree" if has("--reset") || (short('u') && short('m')) => {
                worktree(self, "git read-tree -u --reset")
            }
            "update-ref" => self.history(span, "git update-ref moves or deletes a ref outright"),
            "reset" if has("--hard") || has("--merge") || has("--keep") => {
                worktree(self, "git reset --hard")
            }
            "clean" if (short('f') || has("--force")) && !(short('n') || has("--dry-run")) => {
                worktree(self, "git clean -f")
            }
            "checkout"
                if !(short('b') || short('B') || has("--orphan"))
                    && (has("--") || has(".") || short('f') || has("--force")) =>
            {
                worktree(self, "git checkout of paths")
            }
            "restore"
                if !((has("--staged") || short('S')) && !(has("--worktree") || short('W'))) =>
            {
                worktree(self, "git restore of the worktree")
            }
            "switch" if has("--discard-changes") || short('f') || has("--force") => {
                worktree(self, "git switch --discard-changes")
            }
            "stash"
                if operands
                    .first()
                    .is_some_and(|w| w.text == "clear" || w.text == "drop") =>
            {
                worktree(self, "git stash clear/drop")
            }
            "branch"
                if short('D')
                    || ((short('d') || has("--delete")) && (short('f') || has("--force"))) =>
            {
                self.finding(
                    Code::GitBranchForceDelete,
                    "git branch -D deletes a branch even if it is not merged; use -d",
                    span,
                )
            }
            // `-f NAME START` moves an existing branch (`-M main` after `git init` is routine).
            "branch" if short('f') || has("--force") => self.history(
                span,
                "git branch --force overwrites an existing branch and drops its commits",
            ),
            "send-pack" => self.git_push(rest, &cwd, span),
            "symbolic-ref" if short('d') || has("--delete") => {
                self.history(span, "git symbolic-ref --delete removes a ref outright")
            }
            // A forced replacement hides an existing commit behind another in every history view.
            "replace" if short('f') || has("--force") => self.history(
                span,
                "git replace --force swaps what an existing commit shows for another object",
            ),
            "checkout-index" if short('f') || has("--force") => {
                worktree(self, "git checkout-index --force")
            }
            "fetch" if forced_local_refspec(rest, short('f') || has("--force")) => self.history(
                span,
                "a forced fetch into a local branch drops that branch's own commits",
            ),
            "reflog"
                if operands
                    .first()
                    .is_some_and(|w| w.text == "expire" || w.text == "delete") =>
            {
                self.history(
                    span,
                    "git reflog expire destroys the record of lost commits",
                )
            }
            "gc" if rest
                .iter()
                .any(|w| w.text.starts_with("--prune=now") || w.text == "--prune=all") =>
            {
                self.history(span, "git gc --prune=now erases unreachable commits")
            }
            "filter-branch" | "filter-repo" => {
                self.history(span, "rewrites the whole history of the repository")
            }
            "config" => {
                // `git config KEY` and `--get`/`--list`/`get` read; `set KEY VALUE` is the new
                // spelling of `KEY VALUE`.
                let reads = [
                    "--get",
                    "--get-all",
                    "--get-regexp",
                    "--get-urlmatch",
                    "--list",
                    "-l",
                    "--unset",
                    "--unset-all",
                ]
                .iter()
                .any(|o| has(o));
                let ops: Vec<&str> = operands.iter().map(|w| w.text.as_str()).collect();
                let (key, value) = match ops.as_slice() {
                    ["set", key, value, ..] => (Some(*key), *value),
                    [
                        "get" | "list" | "unset" | "edit" | "rename-section" | "remove-section",
                        ..,
                    ] => (None, ""),
                    [key, value, ..] => (Some(*key), *value),
                    _ => (None, ""),
                };
                if let Some(key) = key.filter(|_| !reads) {
                    self.git_config(key, value, false, span);
                }
            }
            "archive" => {
                for w in operands.iter().skip(1).filter(|w| w.text != "--") {
                    self.word_paths(w, Action::FileRead, &cwd, span);
                }
            }
            "show" | "cat-file" | "grep" => {
                for w in &operands {
                    if let Some((_, file)) = w.text.split_once(':')
                        && !file.is_empty()
                    {
                        let p = self.resolve(file, &cwd);
                        self.path(Action::FileRead, p, span);
                    }
                }
            }
            "rm" if !has("--cached") => {
                for w in operands.iter().filter(|w| w.text != "--") {
                    self.word_paths(w, Action::FileDelete, &cwd, span);
                }
                if short('r') {
                    self.finding(
                        Code::GitRmRecursive,
                        "git rm -r deletes tracked folders from the worktree",
                        span,
                    )
                }
            }
            _ => {}
        }
    }

    /// `git --config-env=KEY=VAR`: the setting's value is the variable's, set as a prefix of
    /// this command or unknown (then judged as a computed value).
    fn git_config_env(&mut self, cmd: &Command, kv: &str, span: &str) {
        let (key, var) = kv.split_once('=').unwrap_or((kv, ""));
        let value = cmd
            .assignments
            .iter()
            .find(|(n, _)| n == var)
            .map_or_else(|| format!("${{{var}}}"), |(_, v)| v.clone());
        self.git_config(key, &value, true, span);
    }

    fn history(&mut self, span: &str, what: &str) {
        self.finding(
            Code::GitRewriteHistory,
            format!("{what}; ask the user to do it"),
            span,
        );
    }

    /// Settings that make git run code: hooks paths and shell aliases. For one command
    /// (`git -c`), the pager, editor, ssh command and external diff are judged by the program
    /// they name, as the same settings given in the environment are (`GIT_PAGER=…`); saved
    /// with `git config`, they run in later sessions and stay code execution.
    pub(super) fn git_config(&mut self, key: &str, value: &str, once: bool, span: &str) {
        let key = key.to_ascii_lowercase();
        // A plain alias is the git command it stands for (`alias.pf 'push --force'`).
        if key.starts_with("alias.") && !value.is_empty() && !value.starts_with('!') {
            let project = self.env.project.clone();
            self.shell(&format!("git {value}"), &project);
        }
        let include =
            key == "include.path" || (key.starts_with("includeif.") && key.ends_with(".path"));
        let program = matches!(
            key.as_str(),
            "core.pager" | "core.editor" | "sequence.editor" | "core.sshcommand" | "diff.external"
        ) || key.starts_with("pager.");
        if once && program {
            self.runner(&key, value, span);
        } else if include {
            self.finding(Code::PersistenceGitInclude, "includes another file into the git configuration (it can set hooks, aliases and pagers)",
                span,
            );
        } else if !once && redirects_git(&key, value) {
            // Every later fetch and push silently goes to another host.
            self.finding(
                Code::PersistenceGitRedirect,
                format!("`{key}` sends later git traffic through or to another host"),
                span,
            );
        } else if key == "core.hookspath" || key == "init.templatedir" {
            self.finding(
                Code::PersistenceGitHooks,
                "core.hooksPath makes git run scripts from another folder on every commit",
                span,
            );
        } else if (key.starts_with("alias.") && value.starts_with('!'))
            || (key == "credential.helper" && (value.starts_with('!') || value.contains('/')))
            || (key != "credential.helper" && crate::policy::shell::git_runs_key(&key))
        {
            self.finding(
                Code::GitConfigExec,
                format!("git setting `{key}` makes git run a shell command"),
                span,
            );
        }
    }

    fn git_push(&mut self, rest: &[Word], cwd: &Path, span: &str) {
        let mut force = false;
        let mut lease = false;
        let mut protected_dest = false;
        let mut delete = false;
        let mut operands = 0;
        let mut takes_value = false;
        for w in rest {
            let t = w.text.as_str();
            if std::mem::take(&mut takes_value) {
                continue;
            }
            match t {
                "--repo" | "--receive-pack" | "--exec" | "-o" | "--push-option" => {
                    takes_value = true
                }
                "--force" | "--mirror" => force = true,
                // A lease naming the commit it expects (`--force-with-lease=main:abc123`) is
                // checked against that commit; a bare one trusts whatever was fetched last.
                _ if t.starts_with("--force-with-lease") => lease |= !t.contains(':'),
                "--delete" | "--prune" => delete = true,
                _ if t.starts_with("--") => {}
                _ if t.starts_with('-') => {
                    force |= t.contains('f');
                    delete |= t.contains('d');
                }
                _ => {
                    operands += 1;
                    let elsewhere = remote_url(t) && !configured_remote(cwd, t)
                        || self.git_remotes.iter().any(|r| r == t);
                    if operands == 1 && elsewhere {
                        self.finding(Code::NetGitPushElsewhere, format!("pushes the repository to `{t}`, a remote set up just now or given as a URL"),
                            span,
                        );
                    }
                    if operands > 1 {
                        force |= t.starts_with('+');
                        delete |= t.starts_with(':');
                        let dest = t.rsplit(':').next().unwrap_or(t);
                        let dest = dest
                            .trim_start_matches('+')
                            .trim_start_matches("refs/heads/");
                        protected_dest |= matches!(
                            dest,
                            "main"
                                | "master"
                                | "trunk"
                                | "develop"
                                | "production"
                                | "prod"
                                | "stable"
                        ) || dest.starts_with("release");
                    }
                }
            }
        }
        // `git push` alone goes to `origin` (the usual upstream), redirected earlier.
        if operands == 0 && self.git_remotes.iter().any(|r| r == "origin") {
            self.finding(
                Code::NetGitPushElsewhere,
                "pushes the repository to `origin`, which was pointed elsewhere just now",
                span,
            );
        }
        if lease && protected_dest && !force {
            self.finding(Code::GitForcePush, "--force-with-lease still rewrites the shared default or release branch's history; push a new branch instead, or ask the user",
                span,
            );
        }
        if force {
            self.finding(Code::GitForcePush, "a force push rewrites the remote history; use --force-with-lease on your own branch, or ask the user",
                span,
            );
        }
        if delete {
            self.finding(
                Code::GitRemoteDelete,
                "deletes branches on the remote",
                span,
            );
        }
    }
}

/// True when `url` is the URL of a remote already configured in the repository holding `cwd`
/// (`git push https://github.com/acme/app.git main` where origin is that URL): the push goes
/// where the plain `git push origin` would. Reads the repository's `.git/config` only.
fn configured_remote(cwd: &Path, url: &str) -> bool {
    let norm = |u: &str| {
        u.trim()
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .to_ascii_lowercase()
    };
    let Some(top) = cwd.ancestors().find(|d| d.join(".git").is_dir()) else {
        return false;
    };
    let Ok(text) = std::fs::read_to_string(top.join(".git/config")) else {
        return false;
    };
    let mut in_remote = false;
    text.lines().map(str::trim).any(|line| {
        if line.starts_with('[') {
            in_remote = line.starts_with("[remote ");
            return false;
        }
        let value = line
            .split_once('=')
            .filter(|(k, _)| matches!(k.trim(), "url" | "pushurl"))
            .map(|(_, v)| v.trim().trim_matches('"'));
        in_remote && value.is_some_and(|v| !v.is_empty() && norm(v) == norm(url))
    })
}

/// `git fetch REMOTE +SRC:DST` (or `--force` with `SRC:DST`) overwrites the local ref `DST`.
fn forced_local_refspec(rest: &[Word], force: bool) -> bool {
    rest.iter()
        .filter(|w| !w.text.starts_with('-'))
        .skip(1)
        .any(|w| {
            w.text
                .split_once(':')
                .is_some_and(|(_, dst)| !dst.is_empty() && (force || w.text.starts_with('+')))
        })
}

/// A git remote given as a URL or `host:path` that is not this machine.
fn remote_url(t: &str) -> bool {
    let networked = t.contains("://") && !t.starts_with("file://")
        || super::command::is_remote_spec(t) && !t.contains("://");
    networked && !super::local_host(t)
}

/// A saved setting that sends git traffic to another host: a proxy that is not local, or a
/// URL rewrite (`url.<base>.insteadOf <prefix>`) whose base is on another host than the prefix
/// (`git@github.com:` for `https://github.com/` stays on the same host).
fn redirects_git(key: &str, value: &str) -> bool {
    if matches!(key, "http.proxy" | "https.proxy") {
        return !value.is_empty() && !super::local_host(value);
    }
    let base = key.strip_prefix("url.").and_then(|k| {
        k.strip_suffix(".pushinsteadof")
            .or_else(|| k.strip_suffix(".insteadof"))
    });
    base.is_some_and(|b| {
        !super::local_host(b) && !super::host_of(b).eq_ignore_ascii_case(super::host_of(value))
    })
}
