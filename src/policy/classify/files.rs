//! Risk rules for commands that read, copy, move, delete or re-permission files.

use super::command::{Args, is_remote_spec};
use super::{Classifier, places};
use crate::call::{Action, TargetKind};
use crate::policy::findings::Code;
use crate::policy::paths;
use crate::policy::shell::{self, Command, Word};
use std::path::Path;

impl Classifier<'_> {
    pub(super) fn rm(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let a = Args::parse(&cmd.argv, &[]);
        // rimraf, del-cli and trash remove whole trees without being asked to.
        let recursive = match cmd.name() {
            "rm" | "srm" => a.short('r') || a.short('R') || a.long("recursive"),
            n => matches!(n, "rimraf" | "del-cli" | "trash" | "trash-put"),
        };
        if a.operands.is_empty()
            && recursive
            && cmd.wrappers.iter().any(|w| {
                w.starts_with("xargs") || w.starts_with("parallel") || w.starts_with("find")
            })
        {
            self.finding(
                Code::FilesRecursiveDeleteUnknown,
                "recursive deletion of paths that are only known at run time",
                span,
            );
        }
        // `find ROOT -mtime +30 -delete`: ROOT stands for the entries find selects below it.
        let tests = cmd
            .wrappers
            .last()
            .filter(|w| w.starts_with("find"))
            .and_then(|w| w.split_once(shell::FIND_FILTERED))
            .map(|(_, t)| t.split_whitespace().map(str::to_string).collect::<Vec<_>>());
        let selected = tests.is_some();
        let tests = tests.unwrap_or_default();
        // Under `find -exec rm {}` or `fd -x rm`, the root stands for every entry below it.
        let per_entry = super::command::under_find_exec(cmd)
            || cmd.wrappers.last().is_some_and(|w| w.starts_with("fd -"));
        self.keeps_folders =
            !recursive && !per_entry && matches!(cmd.name(), "rm" | "rmdir" | "unlink" | "shred");
        // `find DIR -empty -delete` (as rmdir) aimed at the guard's folders stays judged by
        // what lies below DIR, whatever its tests.
        let selected_below = cmd.name() == "rmdir";
        self.rm_operands(
            &a.operands,
            recursive,
            (selected, selected_below),
            &tests,
            cwd,
            span,
        );
        self.keeps_folders = false;
    }

    /// The operands of a deletion (see [`Classifier::rm`]).
    fn rm_operands(
        &mut self,
        operands: &[&Word],
        recursive: bool,
        (selected, selected_below): (bool, bool),
        tests: &[String],
        cwd: &Path,
        span: &str,
    ) {
        for w in operands {
            let unknown_place = self.unknown_cwd && !w.text.starts_with(['/', '~']);
            if selected && !w.dynamic && !unknown_place && (!w.glob || selected_below) {
                self.selected_delete(w, tests, cwd, span);
                continue;
            }
            // The levels a shallow `find -maxdepth N … -delete` visits: only the entries its
            // tests select there.
            if selected && w.glob && !w.dynamic && !unknown_place {
                let listed = self.listed_by.replace(tests.to_vec());
                self.rm_glob(w, recursive, cwd, span);
                self.listed_by = listed;
                continue;
            }
            if w.dynamic || unknown_place {
                self.dynamic_sink.get_or_insert_with(|| span.to_string());
                self.dynamic_change = Some((span.to_string(), true));
                if recursive {
                    self.finding(
                        Code::FilesRecursiveDeleteUnknown,
                        format!(
                            "recursive deletion of `{}`, which is only known at run time",
                            w.text
                        ),
                        span,
                    );
                }
                continue;
            }
            if w.glob {
                self.rm_glob(w, recursive, cwd, span);
                continue;
            }
            for p in self.word_paths(w, Action::FileDelete, cwd, span) {
                if recursive {
                    self.recursive_delete(&p, span);
                } else {
                    self.delete_outside(&p, span);
                }
            }
        }
    }

    /// Files fed to a deleting or writing command from `git ls-files` without a name pattern
    /// (`git ls-files | xargs rm -f`, `rm $(git ls-files)`): every tracked file below the
    /// listed folders. Deleting them is judged as deleting those folders recursively (the
    /// project itself: as `rm -rf *`); rewriting them all is destructive too.
    pub(super) fn tracked_sweep(&mut self) {
        if self.tracked.is_empty() {
            return;
        }
        let Some((span, delete)) = self.dynamic_change.take() else {
            return;
        };
        for root in std::mem::take(&mut self.tracked) {
            let shown = root.display();
            if !delete {
                self.finding(Code::FilesRewriteTracked, format!("rewrites every file git tracks in {shown}; change the files you mean, by name or pattern"),
                    &span,
                );
            } else if places::foundation(&root, self.env) {
                self.finding(Code::FilesDeleteFoundation, format!("deletes every file git tracks in {shown}, which holds the project (as rm -rf * would)"),
                    &span,
                );
            } else {
                self.recursive_delete(&root, &span);
            }
        }
    }

    /// Entries a filtered `find` selects below `root` and deletes: inside the project, its
    /// build folders or scratch that is ordinary clean-up; elsewhere it deletes other
    /// people's files.
    fn selected_delete(&mut self, root: &Word, tests: &[String], cwd: &Path, span: &str) {
        for p in self.word_paths(root, Action::FileGlob, cwd, span) {
            let env = self.env;
            // The guard's own files that exist below the root and that find's tests select (as
            // far as they can be checked now) are deleted too.
            let guard = [
                env.project.join(".claude/settings.json"),
                env.project.join(".claude/settings.local.json"),
                env.project.join(".mcp.json"),
                env.project.join(".patchwork"),
                env.home.join(".claude/settings.json"),
                env.home.join(".claude/settings.local.json"),
                env.home.join(".claude.json"),
                env.patchwork_home.clone(),
            ];
            for g in guard
                .into_iter()
                .filter(|g| g.starts_with(&p) && g.exists())
                // Aimed at the guard's own folders (`find .claude -empty -delete`), any test
                // may be tuned to hit it; from a wider root, the tests are tried on it.
                .filter(|g| (p != env.project && p != env.home) || find_selects(g, tests))
            {
                self.path(Action::FileDelete, g, span);
            }
            if places::in_project(&p, env)
                || places::disposable(&p, env)
                || places::scratch(&p, env)
                || places::scratch_root(&p)
            {
                continue;
            }
            self.finding(
                Code::FilesDeleteOutside,
                format!(
                    "deletes the entries find selects below {}, outside the project",
                    p.display()
                ),
                span,
            );
        }
    }

    /// Deleting (or shredding) a file outside the project, its build folders and scratch.
    pub(super) fn delete_outside(&mut self, p: &Path, span: &str) {
        let env = self.env;
        let kept_folder = self.keeps_folders
            && p.symlink_metadata().is_ok_and(|m| m.is_dir())
            && !places::system_path(p);
        if kept_folder
            || places::in_project(p, env)
            || places::disposable(p, env)
            || places::scratch(p, env)
            || p.starts_with(&env.patchwork_home)
        {
            return;
        }
        self.finding(
            Code::FilesDeleteOutside,
            format!("deletes {}, outside the project", p.display()),
            span,
        );
    }

    /// Judges the recursive deletion of `p` (foundations are already critical).
    pub(super) fn recursive_delete(&mut self, p: &Path, span: &str) {
        let env = self.env;
        let plain_file = match p.symlink_metadata() {
            Ok(m) => !m.is_dir(),
            Err(_) => file_like_name(p),
        };
        if plain_file || places::disposable(p, env) || places::foundation(p, env) {
            return;
        }
        let shown = p.display();
        if places::in_project(p, env) {
            self.finding(Code::FilesRecursiveDelete, format!("deletes {shown} and everything below it; only build outputs, dependency folders and /tmp scratch may be removed recursively"),
                span,
            );
        } else {
            self.finding(
                Code::FilesRecursiveDeleteOutside,
                format!("deletes {shown} and everything below it, outside the project"),
                span,
            );
        }
    }

    /// Reads `w` as a whole tree (`cp -r`, `rsync`, `tar`, `zip`): a folder that holds
    /// credentials is a secret read.
    fn read_tree(&mut self, w: &Word, verb: &str, cwd: &Path, span: &str) {
        for p in self.word_paths(w, Action::FileRead, cwd, span) {
            if places::holds_secrets(&p, self.env) && p.is_dir() {
                self.finding(
                    Code::SecretsRead,
                    format!("{} holds credentials; {verb} it exposes them", p.display()),
                    span,
                );
            }
        }
    }

    /// `find` itself only lists; `-delete` and `-exec` arrive from the shell analysis as
    /// separate (synthetic) commands.
    pub(super) fn find(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let roots = cmd
            .argv
            .iter()
            .skip(1)
            .take_while(|w| !w.text.starts_with('-') && w.text != "(" && w.text != "!");
        for r in roots {
            self.word_paths(r, Action::FileGlob, cwd, span);
        }
    }

    /// A glob word given to `rm`: `DIR/*` empties DIR (judged like deleting DIR, whether or not
    /// anything matches now); `DIR/**/PATTERN` (from `find -name … -delete`) removes matching
    /// files anywhere below DIR.
    fn rm_glob(&mut self, w: &Word, recursive: bool, cwd: &Path, span: &str) {
        let (base, rest) = glob_base(&w.text);
        let base = self.resolve(if base.is_empty() { "." } else { &base }, cwd);
        let everything = rest
            .split('/')
            .all(|c| c.is_empty() || c == "*" || c == "**");
        if rest.contains("**") && !everything {
            self.target(TargetKind::Path, Action::FileDelete, w.text.clone());
            self.guard_files_matching(&base, &rest, span);
            if !places::in_project(&base, self.env)
                && !places::scratch(&base, self.env)
                && !places::scratch_root(&base)
            {
                self.finding(
                    Code::FilesDeleteOutside,
                    format!(
                        "deletes every file matching `{rest}` below {}",
                        base.display()
                    ),
                    span,
                );
            }
            return;
        }
        // `rm *`, `ls | xargs rm`: every file of a project folder, not picked by any test.
        if everything
            && !recursive
            && rest == "*"
            && self.listed_by.is_none()
            && places::in_project(&base, self.env)
            && !places::disposable(&base, self.env)
        {
            self.finding(
                Code::FilesDeleteEveryFile,
                format!(
                    "deletes every file in {}; name the files or use a narrower pattern",
                    base.display()
                ),
                span,
            );
        }
        if everything && recursive {
            if places::foundation(&base, self.env) {
                self.finding(
                    Code::FilesDeleteFoundation,
                    format!(
                        "empties {}, which holds the system, the home folder or the project",
                        base.display()
                    ),
                    span,
                );
            } else {
                self.recursive_delete(&base, span);
            }
        }
        for p in self.word_paths(w, Action::FileDelete, cwd, span) {
            // A pattern's spelled-out form that names nothing in the project deletes nothing
            // there.
            let absent = p.symlink_metadata().is_err() && places::in_project(&p, self.env);
            if recursive && !absent {
                self.recursive_delete(&p, span);
            } else if !recursive {
                self.delete_outside(&p, span);
            }
        }
    }

    pub(super) fn mv(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let a = Args::parse(&cmd.argv, &["-t", "-S"]);
        let mut operands = a.operands.clone();
        let dest = a.destination(&mut operands);
        let into_void = dest.as_ref().is_some_and(|d| d.text == "/dev/null");
        // Where the files go, when it is known (a pattern such as `PRE_*` names the folder it is
        // written in).
        let dest_path = dest
            .as_ref()
            .filter(|d| !d.dynamic && !into_void)
            .map(|d| self.resolve(&d.text, cwd));
        for w in operands {
            if w.glob {
                // `mv ~/* elsewhere` empties the folder, whether or not anything matches now;
                // renaming them inside it (`mv * sub/`, `-exec mv {} PRE_{}`) keeps them there.
                let (base, rest) = glob_base(&w.text);
                let base = self.resolve(if base.is_empty() { "." } else { &base }, cwd);
                let stays = dest_path
                    .as_ref()
                    .is_some_and(|d| d.starts_with(&base) && *d != base);
                if rest
                    .split('/')
                    .all(|c| c.is_empty() || c == "*" || c == "**")
                    && places::foundation(&base, self.env)
                    && !stays
                {
                    self.finding(
                        Code::FilesDeleteFoundation,
                        format!("moves everything out of {}", base.display()),
                        span,
                    );
                }
            }
            for p in self.word_paths(w, Action::FileDelete, cwd, span) {
                if into_void {
                    self.recursive_delete(&p, span);
                }
            }
        }
        if let Some(d) = dest {
            self.word_paths(&d, Action::FileWrite, cwd, span);
        }
    }

    pub(super) fn copy(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        let a = Args::parse(
            &cmd.argv,
            &["-t", "-S", "-e", "-P", "-i", "-o", "-F", "-m", "-g"],
        );
        let mut operands = a.operands.clone();
        let remote = |w: &Word| is_remote_spec(&w.text);
        if operands.iter().any(|w| remote(w)) || name == "scp" {
            self.finding(
                Code::NetRemoteCopy,
                format!("`{name}` copies files to or from another machine"),
                span,
            );
        }
        let dest = a.destination(&mut operands);
        self.gateway_alias(&operands, span);
        for w in operands.into_iter().filter(|w| !remote(w)) {
            self.read_tree(w, "copying", cwd, span);
        }
        let tree = a.short('r')
            || a.short('R')
            || a.short('a')
            || a.long("recursive")
            || a.long("archive");
        let sources: Vec<String> = a
            .operands
            .iter()
            .filter(|w| !w.dynamic && !remote(w) && dest.as_ref().is_none_or(|d| d.text != w.text))
            .map(|w| w.text.clone())
            .collect();
        if let Some(d) = dest.filter(|d| !remote(d)) {
            // A folder copied in: the files it holds land in DEST/NAME (or DEST for `SRC/`,
            // `SRC/.` and rsync's `SRC/`), whatever they are (`cp -r /tmp/x/.claude .`).
            if tree && !d.dynamic {
                let dp = self.resolve(&d.text, cwd);
                for src in &sources {
                    let into = src.ends_with("/.") || (name == "rsync" && src.ends_with('/'));
                    let base = Path::new(src.trim_end_matches('/')).file_name();
                    let target = match base {
                        Some(b) if dp.is_dir() && !into && b != "." => dp.join(b),
                        _ => dp.clone(),
                    };
                    self.extract_into(&target, span);
                }
            }
            for p in self.word_paths(&d, Action::FileWrite, cwd, span) {
                if name == "rsync" && a.opts.iter().any(|o| o.starts_with("--delete")) {
                    if places::foundation(&p, self.env) {
                        self.finding(Code::FilesDeleteFoundation, format!("rsync --delete would remove everything in {} that the source lacks", p.display()),
                            span,
                        );
                    }
                    self.recursive_delete(&p, span);
                }
            }
        }
    }

    pub(super) fn permissions(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        let a = Args::parse(&cmd.argv, &["--reference"]);
        let recursive = a.short('R') || a.long("recursive");
        let mut operands = a.operands.iter();
        // `chmod -x FILE`: a mode that looks like an option.
        let dash_mode = name == "chmod"
            && a.opts
                .iter()
                .any(|o| o.len() > 1 && o[1..].chars().all(|c| "rwxXst".contains(c)));
        let spec = if a.value(&["--reference"]).is_some() || name == "chattr" || dash_mode {
            None
        } else {
            operands.next()
        };
        if let Some(mode) = spec
            && name == "chmod"
            && (mode.text.contains('s')
                || mode.text.len() == 4 && mode.text.starts_with(['4', '2', '6']))
        {
            self.finding(Code::PrivilegeSetuid, "sets the setuid/setgid bit", span);
        }
        // A mode that keeps the owner's read and write (`chmod 644`, `chmod g+w`, `chgrp`)
        // cannot lock the user or the gateway out of a file: a bulk change reaching the
        // gateway's settings on the way is not tampering.
        self.keeps_access = match name {
            // An owner or group change leaves the mode bits, so the user's (or root's) access
            // stays; giving files away needs root, which reads them anyway.
            "chgrp" => Some((true, false)),
            "chown" if !recursive => Some((true, false)),
            "chmod" => spec.and_then(|m| {
                keeps_owner_access(&m.text).map(|dirs| (dirs, m.text.contains(['x', 'X', '7'])))
            }),
            _ => None,
        };
        for w in operands {
            // `find / -name '*.rpm' -exec chmod 755 {} \;`: whatever matches in system folders.
            if w.glob && !w.dynamic {
                let (base, _) = glob_base(&w.text);
                let base = self.resolve(if base.is_empty() { "." } else { &base }, cwd);
                if places::system_path(&base) && !base.starts_with(&self.env.home) {
                    self.finding(
                        Code::SystemWrite,
                        format!(
                            "{name} of every file matching `{}` changes system files",
                            w.text
                        ),
                        span,
                    );
                }
            }
            for p in self.word_paths(w, Action::FileWrite, cwd, span) {
                if recursive && (places::foundation(&p, self.env) || places::system_path(&p)) {
                    self.finding(
                        Code::SystemPermissions,
                        format!(
                            "recursive {name} on {} changes permissions of the whole tree",
                            p.display()
                        ),
                        span,
                    );
                }
            }
        }
        self.keeps_access = None;
    }

    pub(super) fn dd(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        for w in cmd.argv.iter().skip(1) {
            if let Some(f) = w.text.strip_prefix("if=") {
                self.raw_path(f, Action::FileRead, cwd, span);
            } else if let Some(f) = w.text.strip_prefix("of=") {
                self.raw_path(f, Action::FileWrite, cwd, span);
            }
        }
    }

    pub(super) fn pattern_reader(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        let a = Args::parse(
            &cmd.argv,
            &[
                "-e", "-f", "-m", "-A", "-B", "-C", "-g", "-t", "-T", "--regexp", "--file",
                "--glob", "--type", "-E", "-j", "-M",
            ],
        );
        let sed_like = matches!(name, "sed");
        let explicit_program = a.opts.iter().any(|o| {
            o.starts_with("-e=")
                || o.starts_with("-f=")
                || o.starts_with("--regexp=")
                || o.starts_with("--file=")
                || o.starts_with("--expression")
        });
        let mut operands = a.operands.iter();
        if !explicit_program {
            operands.next();
        }
        for o in &a.opts {
            if let Some(f) = o.strip_prefix("-f=").or_else(|| o.strip_prefix("--file=")) {
                self.raw_path(f, Action::FileRead, cwd, span);
            }
        }
        // `grep -r --include='.env*'`, `rg -g '.env*'`: a search aimed at secret files.
        for o in &a.opts {
            let glob = ["--include=", "-g=", "--glob=", "--iglob="]
                .iter()
                .find_map(|p| o.strip_prefix(p));
            if let Some(g) = glob.filter(|g| !g.starts_with('!'))
                && places::secret_pattern(Path::new(g.trim_matches(['\'', '"'])))
            {
                self.finding(
                    Code::SecretsRead,
                    format!("searches the files matching `{g}`, which hold secrets"),
                    span,
                );
            }
        }
        let in_place = sed_like && (a.short('i') || a.long("in-place"));
        // A search over files given by pattern (`grep -n TODO *.c`, `find . | xargs grep x`)
        // prints from a secret file among them only lines its pattern matches: a pattern
        // that names no credential and is not inverted leaves the secrets out, and so does
        // output of names or counts only. A secret file named as such is still a read.
        let grep_like = matches!(name, "grep" | "egrep" | "fgrep" | "zgrep");
        let names_only = ['l', 'L', 'c', 'q'].into_iter().any(|c| a.short(c))
            || [
                "files-with-matches",
                "files-without-match",
                "count",
                "quiet",
                "silent",
            ]
            .into_iter()
            .any(|l| a.long(l));
        let inverted = a.short('v') || a.long("invert-match");
        let pattern: Option<&str> = if explicit_program {
            a.opts.iter().find_map(|o| {
                o.strip_prefix("-e=")
                    .or_else(|| o.strip_prefix("--regexp="))
            })
        } else {
            a.operands.first().map(|w| w.text.as_str())
        };
        // A listing or pattern aimed at secret names (`grep = .env*`) is a read of them.
        let aimed = |w: &Word| places::secret_pattern(Path::new(&w.text));
        let narrow = grep_like
            && (names_only
                || !inverted
                    && pattern.is_some_and(|p| !super::command::credential_pattern(p))
                    && !a
                        .opts
                        .iter()
                        .any(|o| o.starts_with("-f=") || o.starts_with("--file=")));
        // `sed -i 's/a/b/g' FILES`: substitutions print into the files they rewrite, not to the
        // agent, and leave a file none of whose lines they match as it was.
        let substitutions = in_place
            .then(|| {
                let scripts: Vec<&str> = if explicit_program {
                    a.opts
                        .iter()
                        .filter_map(|o| {
                            o.strip_prefix("-e=")
                                .or_else(|| o.strip_prefix("--expression="))
                        })
                        .collect()
                } else {
                    a.operands
                        .first()
                        .map(|w| w.text.as_str())
                        .into_iter()
                        .collect()
                };
                let extended = a.short('E') || a.short('r') || a.long("regexp-extended");
                sed_substitutions(&scripts, extended)
            })
            .flatten();
        for w in operands {
            let many = (w.glob && !aimed(w)) || super::command::under_find_exec(cmd);
            let quiet = self.quiet_copy;
            self.quiet_copy = quiet || (narrow || substitutions.is_some()) && many;
            let found = self.word_paths(w, Action::FileRead, cwd, span);
            self.quiet_copy = quiet;
            if !(narrow && many) && substitutions.is_none() {
                self.secret_folders(&found, span);
            } else if !names_only
                && substitutions.is_none()
                && let Some(p) = pattern
            {
                let fixed = name == "fgrep" || a.short('F') || a.long("fixed-strings");
                let extended = name == "egrep" || a.short('E') || a.long("extended-regexp");
                let re = [line_matcher(
                    p,
                    fixed,
                    extended,
                    a.short('i') || a.long("ignore-case"),
                )];
                let hit = |f: &Path| prints_a_line(&re, f);
                // Files named by the pattern, and (for `find ROOT -exec grep … {}`) the secret
                // files below a root, as far as the listings look.
                let mut leaks: Vec<std::path::PathBuf> = found
                    .iter()
                    .filter(|f| places::secret_kind(f, self.env).is_some() && hit(f))
                    .cloned()
                    .collect();
                for dir in found.iter().filter(|d| d.is_dir()) {
                    leaks.extend(places::secret_below(dir, self.env, true, &hit));
                }
                for f in leaks {
                    {
                        self.finding(
                            Code::SecretsRead,
                            format!(
                                "prints the lines of {} that match `{p}`; leave secret files out of the search",
                                f.display()
                            ),
                            span,
                        );
                    }
                }
            }
            if in_place {
                // Only for files a pattern reaches: a file named as such is aimed at.
                self.edits_matching = substitutions.clone().filter(|_| many);
                self.word_paths(w, Action::FileEdit, cwd, span);
                self.edits_matching = None;
            }
        }
        if matches!(
            name,
            "grep" | "egrep" | "fgrep" | "zgrep" | "rg" | "ag" | "ack"
        ) {
            self.recursive_search(cmd, cwd, span);
        }
    }

    /// `grep -r KEY .`, `rg --hidden -i token`: a recursive search that prints matching lines
    /// of a folder holding secret files (within the listings' look-ahead) reads those secrets
    /// when its pattern names a credential or matches every line. Name-only output (`-l`,
    /// `-c`, `-q`) and include filters that leave the secrets out are not reads.
    fn recursive_search(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let grep = cmd.name() != "rg" && cmd.name() != "ag";
        let valued = if grep {
            shell::GREP_VALUED
        } else {
            shell::RG_VALUED
        };
        let (mut flags, mut values, mut operands) = (String::new(), Vec::new(), Vec::new());
        let mut words = cmd.argv.iter().skip(1);
        let mut done = false;
        while let Some(w) = words.next() {
            let t = w.text.as_str();
            if done || t == "-" || !t.starts_with('-') {
                operands.push(w);
            } else if t == "--" {
                done = true;
            } else if valued.contains(&t) {
                let v = words.next().map(|v| v.text.clone()).unwrap_or_default();
                values.push((t.to_string(), v));
            } else if let Some((o, v)) = t.split_once('=').filter(|_| t.starts_with("--")) {
                values.push((o.to_string(), v.to_string()));
            } else if t.starts_with("--") {
                values.push((t.to_string(), String::new()));
            } else {
                flags.push_str(&t[1..]);
            }
        }
        let opt = |names: &[&str]| values.iter().any(|(o, _)| names.contains(&o.as_str()));
        let vals = |names: &[&str]| -> Vec<&str> {
            values
                .iter()
                .filter(|(o, _)| names.contains(&o.as_str()))
                .map(|(_, v)| v.as_str())
                .collect()
        };
        let recursive = !grep
            || super::command::under_find_exec(cmd)
            || flags.contains(['r', 'R'])
            || opt(&["--recursive", "--dereference-recursive"])
            || vals(&["-d", "--directories"]).contains(&"recurse");
        let hidden = grep
            || opt(&["--hidden", "--unrestricted"])
            || flags.contains('.')
            || flags.matches('u').count() >= if cmd.name() == "ag" { 1 } else { 2 };
        let names_only = flags.contains(['l', 'L', 'c', 'q'])
            || opt(&[
                "--files-with-matches",
                "--files-without-match",
                "--count",
                "--count-matches",
                "--quiet",
                "--silent",
                "--files",
            ]);
        // rg and ag leave out hidden and git-ignored files; with `-u`/`--no-ignore` they
        // search the files that are not hidden (`certs/server.key`), with `-uu`/`--hidden`
        // the dot files too. Ignored files are not modelled, so plain rg is not judged.
        let unignored = grep
            || hidden
            || flags.contains('u')
            || opt(&["--no-ignore", "--no-ignore-vcs", "--no-ignore-dot"]);
        if !recursive || !unignored || names_only || opt(&["-t", "--type"]) {
            return;
        }
        let mut patterns: Vec<String> = vals(&["-e", "--regexp"])
            .into_iter()
            .map(str::to_string)
            .collect();
        let from_file = opt(&["-f", "--file"]);
        if patterns.is_empty() && !from_file {
            if operands.is_empty() {
                return;
            }
            patterns.push(operands.remove(0).text.clone());
        }
        let includes: Vec<globset::GlobMatcher> = vals(&["--include", "-g", "--glob", "--iglob"])
            .into_iter()
            .filter(|g| !g.starts_with('!'))
            .filter_map(|g| globset::Glob::new(g).ok().map(|g| g.compile_matcher()))
            .collect();
        // An include filter that lets a secret file through (`--include='.env*'`) aims at it,
        // whatever the pattern.
        let inverted = flags.contains('v') || opt(&["--invert-match"]);
        let credential = patterns
            .iter()
            .any(|p| super::command::credential_pattern(p));
        // Any other pattern reads a secret file only where it matches one of its lines.
        let always = inverted || from_file || credential || !includes.is_empty();
        let fixed = cmd.name() == "fgrep" || flags.contains('F') || opt(&["--fixed-strings"]);
        let extended = !grep
            || cmd.name() == "egrep"
            || flags.contains(['E', 'P'])
            || opt(&["--extended-regexp", "--perl-regexp"]);
        let icase = flags.contains('i') || opt(&["--ignore-case"]);
        let matchers: Vec<Option<regex::Regex>> = patterns
            .iter()
            .map(|p| line_matcher(p, fixed, extended, icase))
            .collect();
        let prints = |p: &Path| always || prints_a_line(&matchers, p);
        let accept = |p: &Path| {
            (includes.is_empty()
                || p.file_name()
                    .is_some_and(|n| includes.iter().any(|g| g.is_match(n))))
                && prints(p)
        };
        let dot = Word {
            text: ".".to_string(),
            glob: false,
            dynamic: false,
        };
        let roots: Vec<&Word> = if operands.is_empty() {
            vec![&dot]
        } else {
            operands
        };
        for w in roots.into_iter().filter(|w| !w.dynamic) {
            let dirs = if w.glob {
                paths::expand_glob(&w.text, cwd, &self.env.home)
            } else {
                vec![self.resolve(&w.text, cwd)]
            };
            for dir in dirs.into_iter().filter(|d| d.is_dir()) {
                self.search_secrets(&dir, hidden, &accept, span);
            }
        }
    }

    /// A content search of `dir` (grep -r, the Grep tool) that reaches a secret file.
    pub(super) fn search_secrets(
        &mut self,
        dir: &Path,
        hidden: bool,
        accept: &dyn Fn(&Path) -> bool,
        span: &str,
    ) {
        if let Some(file) = places::secret_below(dir, self.env, hidden, accept) {
            self.finding(Code::SecretsSearch, format!(
                    "searches {} with a pattern that matches lines of {}, which prints them; search the source folders, or leave secret files out (--include, --glob)",
                    dir.display(),
                    file.display()
                ),
                span,
            );
        }
    }

    pub(super) fn archive(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let a = Args::parse(&cmd.argv, &["-f", "-C", "-T", "-X", "-d", "--directory"]);
        let extracting = a.short('x') || a.long("extract") || cmd.name() == "unzip";
        for o in &a.opts {
            if let Some(f) = o.strip_prefix("-f=").or_else(|| o.strip_prefix("--file="))
                && f != "-"
            {
                let action = if extracting {
                    Action::FileRead
                } else {
                    Action::FileWrite
                };
                self.raw_path(f, action, cwd, span);
            }
        }
        let mut operands = a.operands.iter();
        let combined_f = cmd
            .argv
            .get(1)
            .is_some_and(|w| !w.text.starts_with('-') && w.text.contains('f'));
        if cmd.name() == "tar" && combined_f {
            operands.next();
            if let Some(f) = operands.next()
                && f.text != "-"
            {
                self.word_paths(
                    f,
                    if extracting {
                        Action::FileRead
                    } else {
                        Action::FileWrite
                    },
                    cwd,
                    span,
                );
            }
        } else if cmd.name() != "tar"
            && let Some(f) = operands.next()
        {
            self.word_paths(f, Action::FileWrite, cwd, span);
        }
        // `tar -C DIR`, `unzip -d DIR`: where files are read from or extracted to.
        let dir = a
            .value(&["-C", "--directory"])
            .or_else(|| (cmd.name() == "unzip").then(|| a.value(&["-d"])).flatten())
            .map(|d| self.resolve(d, cwd));
        if extracting {
            if let Some(dir) = dir {
                self.extract_into(&dir, span);
            }
            return;
        }
        let base = dir.unwrap_or_else(|| cwd.to_path_buf());
        for w in operands {
            self.read_tree(w, "archiving", &base, span);
        }
    }

    /// The guard's own files below `base` that a `**/NAME` deletion pattern (from `find -name
    /// … -delete`) reaches: judged as deleted.
    fn guard_files_matching(&mut self, base: &Path, rest: &str, span: &str) {
        let name = rest.rsplit('/').next().unwrap_or(rest);
        let Ok(m) = globset::Glob::new(name).map(|g| g.compile_matcher()) else {
            return;
        };
        for rel in [
            "settings.json",
            "settings.local.json",
            ".claude/settings.json",
            ".claude/settings.local.json",
            ".mcp.json",
            ".patchwork/policy.yaml",
        ] {
            let p = base.join(rel);
            if p.file_name().is_some_and(|n| m.is_match(n)) && p.exists() {
                self.path(Action::FileDelete, p, span);
            }
        }
    }

    /// An archive unpacked into `dir` may hold any file: judged as writes of the guard's and
    /// start-up files that would land directly in it (`tar -xf x -C ~/.claude`, `-C .git/hooks`).
    fn extract_into(&mut self, dir: &Path, span: &str) {
        let ssh = dir.file_name().is_some_and(|n| n == ".ssh");
        for name in [
            "settings.json",
            "settings.local.json",
            ".bashrc",
            ".profile",
            "pre-commit",
            "policy.yaml",
        ]
        .into_iter()
        .chain(ssh.then_some("authorized_keys"))
        {
            self.path(Action::FileWrite, dir.join(name), span);
        }
    }
}

/// Splits a glob word at its first component holding a glob character:
/// `src/*/x.ts` → (`src`, `*/x.ts`); `*.ts` → (``, `*.ts`).
pub(super) fn glob_base(word: &str) -> (String, String) {
    let parts: Vec<&str> = word.split('/').collect();
    let first = parts
        .iter()
        .position(|c| paths::has_glob_chars(c))
        .unwrap_or(parts.len());
    let base = parts[..first].join("/");
    let base = if base.is_empty() && word.starts_with('/') {
        "/".to_string()
    } else {
        base
    };
    (base, parts[first..].join("/"))
}

/// A name that is a file, not a folder, even when it does not exist (yet): `package-lock.json`.
fn file_like_name(p: &Path) -> bool {
    const FILE_EXTENSIONS: &[&str] = &[
        "json",
        "lock",
        "log",
        "txt",
        "md",
        "js",
        "mjs",
        "cjs",
        "ts",
        "py",
        "pyc",
        "tgz",
        "zip",
        "gz",
        "tar",
        "o",
        "so",
        "a",
        "yaml",
        "yml",
        "toml",
        "db",
        "sqlite",
        "csv",
        "out",
        "tmp",
        "bak",
        "map",
        "tsbuildinfo",
    ];
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| FILE_EXTENSIONS.contains(&e))
        && p.file_stem().is_some_and(|s| !s.is_empty())
}

/// Whether a `chmod` mode leaves the owner able to read and write files (`Some(false)`) or
/// also to enter folders (`Some(true)`): octal with `6`/`7` for the owner, or a symbolic
/// mode that only adds permissions (`Some(true)`). `None`: it can take access away.
fn keeps_owner_access(mode: &str) -> Option<bool> {
    if mode.chars().all(|c| c.is_ascii_digit()) && (3..=4).contains(&mode.len()) {
        let owner = mode.as_bytes()[mode.len() - 3] - b'0';
        return (owner & 6 == 6).then_some(owner == 7);
    }
    (!mode.is_empty()
        && !mode.contains(['-', '='])
        && mode.chars().all(|c| "ugoa+,rwxXst".contains(c)))
    .then_some(true)
}

/// A matcher for the lines `grep` prints with this pattern (basic, extended or fixed
/// syntax). None when the pattern cannot be translated: then any line may match.
pub(super) fn line_matcher(
    pattern: &str,
    fixed: bool,
    extended: bool,
    icase: bool,
) -> Option<regex::Regex> {
    let re = if fixed {
        pattern
            .split('\n')
            .map(regex::escape)
            .collect::<Vec<_>>()
            .join("|")
    } else if extended {
        pattern.to_string()
    } else {
        // Basic syntax: `\(`, `\|`, `\{`, `\+`, `\?` are operators; bare ones are literal.
        let mut out = String::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(o @ ('(' | ')' | '|' | '{' | '}' | '+' | '?')) => out.push(o),
                    Some(o) => {
                        out.push('\\');
                        out.push(o);
                    }
                    None => out.push_str("\\\\"),
                },
                '(' | ')' | '|' | '{' | '}' | '+' | '?' => {
                    out.push('\\');
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        out
    };
    regex::RegexBuilder::new(&re)
        .case_insensitive(icase)
        .size_limit(1 << 20)
        .build()
        .ok()
}

/// The patterns of a sed script made only of substitutions (`s/a/b/g; s|c|d|`), one per
/// substitution; None when it does anything else (addresses, `p`, `w`, `e` and other flags
/// or commands).
fn sed_substitutions(scripts: &[&str], extended: bool) -> Option<Vec<Option<regex::Regex>>> {
    let mut out = Vec::new();
    for part in scripts.iter().flat_map(|s| s.split([';', '\n'])) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let mut chars = part.strip_prefix('s')?.chars();
        let delim = chars
            .next()
            .filter(|c| !c.is_alphanumeric() && *c != '\\')?;
        let (mut fields, mut field, mut escaped) = (Vec::new(), String::new(), false);
        for c in chars {
            if escaped {
                if c != delim {
                    field.push('\\');
                }
                field.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == delim {
                fields.push(std::mem::take(&mut field));
            } else {
                field.push(c);
            }
        }
        let [re, _] = fields.as_slice() else {
            return None;
        };
        if escaped || !field.chars().all(|c| "gIi0123456789".contains(c)) {
            return None;
        }
        out.push(line_matcher(
            re,
            false,
            extended,
            field.contains(['I', 'i']),
        ));
    }
    (!out.is_empty()).then_some(out)
}

/// The largest secret file whose lines a search is checked against.
const LOOKED_INTO: u64 = 1 << 20;

/// Whether a search with `matchers` (one per pattern; `None` for a pattern this cannot
/// compile) would print a line of the file `f`. A file that cannot be looked into, or a pattern
/// that cannot be read, counts as printing.
pub(super) fn prints_a_line(matchers: &[Option<regex::Regex>], f: &Path) -> bool {
    let Some(text) = places::small_text(f, LOOKED_INTO) else {
        return true;
    };
    text.lines().any(|l| {
        matchers
            .iter()
            .any(|m| m.as_ref().is_none_or(|m| m.is_match(l)))
    })
}

/// Whether `find`'s tests (as written: `-inum 42 -type f -mtime +30`) can select `path`:
/// tests this can check on the file as it is now decide; the others (`-user`, `-regex`,
/// computed values) are taken to match.
pub(super) fn find_selects(path: &Path, tests: &[String]) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(m) = path.symlink_metadata() else {
        return false;
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // `+n` more than n, `-n` less than n, `n` exactly n (in the test's unit).
    let compare = |spec: &str, actual: i64| -> bool {
        let (op, n) = match spec.as_bytes().first() {
            Some(b'+') => ('>', &spec[1..]),
            Some(b'-') => ('<', &spec[1..]),
            _ => ('=', spec),
        };
        match n.parse::<i64>() {
            Ok(n) => match op {
                '>' => actual > n,
                '<' => actual < n,
                _ => actual == n,
            },
            Err(_) => true,
        }
    };
    let mut i = 0;
    while i < tests.len() {
        let t = tests[i].as_str();
        let v = tests.get(i + 1).map(String::as_str).unwrap_or("");
        let (ok, used) = match t {
            "-empty" => (m.len() == 0, 1),
            "-nouser" | "-nogroup" => (true, 1),
            "-inum" => (v.parse::<u64>().map_or(true, |n| n == m.ino()), 2),
            "-type" => (
                match v {
                    "f" => m.is_file(),
                    "d" => m.is_dir(),
                    "l" => m.file_type().is_symlink(),
                    _ => true,
                },
                2,
            ),
            "-name" | "-iname" => {
                let g = globset::GlobBuilder::new(v)
                    .case_insensitive(t == "-iname")
                    .build()
                    .map(|g| g.compile_matcher());
                (g.map_or(true, |g| g.is_match(name.as_ref())), 2)
            }
            "-mtime" | "-atime" | "-ctime" | "-mmin" | "-amin" | "-cmin" => {
                let when = match t.as_bytes()[1] {
                    b'm' => m.mtime(),
                    b'a' => m.atime(),
                    _ => m.ctime(),
                };
                let unit = if t.ends_with("min") { 60 } else { 86_400 };
                (compare(v, (now - when) / unit), 2)
            }
            "-size" => {
                let (num, unit) = match v.char_indices().last() {
                    Some((k, 'c')) => (&v[..k], 1),
                    Some((k, 'k')) => (&v[..k], 1024),
                    Some((k, 'M')) => (&v[..k], 1024 * 1024),
                    Some((k, 'G')) => (&v[..k], 1024 * 1024 * 1024),
                    _ => (v, 512),
                };
                let size = (m.len() as i64 + unit - 1) / unit;
                (compare(num, size), 2)
            }
            _ => (true, 2),
        };
        if !ok {
            return false;
        }
        i += used;
    }
    true
}
