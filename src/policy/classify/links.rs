//! Links: one file can have several names. A regular file with more than one hard link is
//! judged under each of its protected names too (a hard link to the SSH key is the SSH key),
//! and a link being made (`ln`, `link`, `cp -l`/`-s`, `os.link`, `fs.linkSync`, `ln -s`) is
//! judged by its source: linking a secret or a guard file is reading or tampering with it.

use super::command::Args;
use super::{Classifier, places};
use crate::call::Action;
use crate::policy::Env;
use crate::policy::findings::Code;
use crate::policy::paths::FileId;
use crate::policy::shell::Command;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The names of multiply-linked regular files, by (device, inode).
pub(super) type AliasIndex = HashMap<(u64, u64), Vec<PathBuf>>;

/// Folder entries looked at when searching the other names of a linked file.
const ALIAS_SEARCH_ENTRIES: usize = 50_000;
/// Folder depth of that search below each root.
const ALIAS_SEARCH_DEPTH: usize = 8;

impl Classifier<'_> {
    /// When `path` is a regular file with several hard links, judges the call again under
    /// each other name it has in the places that hold secrets or the guard's files.
    pub(super) fn hard_link_aliases(&mut self, action: Action, path: &Path, span: &str) {
        // The decision's own object was identified a moment ago: the same look, not a second.
        let judged = self.out.object.as_ref().filter(|o| o.path == path);
        let Some(id) = judged.map_or_else(|| FileId::of(path), |o| o.id) else {
            return;
        };
        if !id.is_file() || id.nlink < 2 || !self.aliased.insert((id.dev, id.ino)) {
            return;
        }
        let index = self
            .alias_index
            .get_or_insert_with(|| alias_index(self.env));
        let others: Vec<PathBuf> = index
            .get(&(id.dev, id.ino))
            .into_iter()
            .flatten()
            .filter(|p| p.as_path() != path)
            .cloned()
            .collect();
        for other in others {
            self.path(action, other, span);
        }
    }

    /// The source of a link being made: reading it (secrets, the seal key) and, for the
    /// guard's own files, tampering with them (the link can be written through later).
    pub(super) fn link_source(&mut self, source: PathBuf, span: &str) {
        if let Some(what) = places::guard_file(&source, self.env) {
            self.finding(Code::SelfTamper, format!(
                    "links {}, which is {what}; a link to the guard's files lets them be changed under another name",
                    source.display()
                ),
                span,
            );
        }
        self.path(Action::FileRead, source, span);
    }

    /// `ln`/`link` and `cp -l`/`cp -s`: every source is judged as a link source. A symbolic
    /// link's relative source is read from the link's folder, a hard link's from `cwd`.
    pub(super) fn link_command(&mut self, cmd: &Command, cwd: &Path, span: &str) {
        let name = cmd.name();
        let a = Args::parse(&cmd.argv, &["-t", "-S", "--target-directory", "--suffix"]);
        let linking = match name {
            "ln" | "link" => true,
            "cp" => a.short('l') || a.short('s') || a.long("link") || a.long("symbolic-link"),
            _ => false,
        };
        if !linking || a.operands.is_empty() {
            return;
        }
        let symbolic = name != "link" && (a.short('s') || a.long("symbolic"));
        let mut sources = a.operands.clone();
        let dest = match a.value(&["-t", "--target-directory"]) {
            Some(d) => Some(self.resolve(d, cwd)),
            None if sources.len() > 1 => sources.pop().map(|w| self.resolve(&w.text, cwd)),
            None => None,
        };
        for w in sources.into_iter().filter(|w| !w.dynamic) {
            let base = match (&dest, symbolic) {
                (Some(d), true) if d.is_dir() => d.clone(),
                (Some(d), true) => d.parent().unwrap_or(cwd).to_path_buf(),
                _ => cwd.to_path_buf(),
            };
            let source = self.resolve(&w.text, &base);
            self.link_source(source, span);
        }
    }
}

/// Every multiply-linked regular file in the places an alias matters: the guard's home, the
/// credential and settings folders of the user's home, its dotfiles, and the project (build
/// output folders skipped). One bounded walk per decision, however many linked files the call
/// names (a pnpm `node_modules` is all hard links); folders on another device than their root
/// are not entered.
fn alias_index(env: &Env) -> AliasIndex {
    let mut index = AliasIndex::new();
    let mut budget = ALIAS_SEARCH_ENTRIES;
    let home_dirs = [
        ".ssh",
        ".claude",
        ".aws",
        ".gnupg",
        ".config",
        ".docker",
        ".kube",
        ".azure",
        ".gcloud",
        ".local/share/keyrings",
    ];
    let mut roots: Vec<PathBuf> = vec![env.patchwork_home.clone()];
    roots.extend(home_dirs.iter().map(|d| env.home.join(d)));
    roots.push(env.project.clone());
    // The home folder's own files (dotfiles, `.netrc`, `.claude.json`), not its subfolders.
    walk(&env.home, None, env, 0, &mut budget, &mut index);
    for root in roots {
        walk(
            &root,
            None,
            env,
            ALIAS_SEARCH_DEPTH,
            &mut budget,
            &mut index,
        );
    }
    for names in index.values_mut() {
        names.sort();
        names.dedup();
    }
    index
}

/// Adds the multiply-linked files below `dir` to `index`, staying on `dev` (the root's device
/// when None).
fn walk(
    dir: &Path,
    dev: Option<u64>,
    env: &Env,
    depth: usize,
    budget: &mut usize,
    index: &mut AliasIndex,
) {
    let Some(here) = FileId::of(dir) else {
        return;
    };
    if !here.is_dir() || dev.is_some_and(|d| d != here.dev) {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        let p = entry.path();
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        let other = FileId::from_meta(&meta);
        if other.is_file() && other.nlink > 1 {
            index.entry((other.dev, other.ino)).or_default().push(p);
        } else if other.is_dir() && depth > 0 && !places::disposable(&p, env) {
            walk(&p, Some(here.dev), env, depth - 1, budget, index);
        }
    }
}
