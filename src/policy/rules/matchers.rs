//! Matchers of policy rules: path globs (with `~`, `${HOME}`, `${PATCHWORK_HOME}`, `${PROJECT}`),
//! argv patterns over canonical command segments, URL and domain globs, and MCP identities.

use super::schema::Scalar;
use crate::call::ToolCall;
use crate::policy::Env;
use globset::{Glob, GlobBuilder, GlobMatcher, GlobSet, GlobSetBuilder};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// Variables a path glob may use, as `${NAME}`.
const VARS: [&str; 3] = ["HOME", "PATCHWORK_HOME", "PROJECT"];

/// A path glob as written, checked for syntax; expanded against an [`Env`] when compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern(pub String);

impl Scalar for PathPattern {
    const WHAT: &'static str = "a path glob";

    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty path glob".into());
        }
        if text.starts_with('~') && text != "~" && !text.starts_with("~/") {
            return Err(format!(
                "`{text}`: only `~` and `~/…` are supported, not `~user`"
            ));
        }
        // Check the variables and the glob syntax with placeholder values (the glob itself is
        // built when a path is matched).
        if !super::schema::is_prechecked() {
            let probe = Env {
                home: "/h".into(),
                patchwork_home: "/w".into(),
                project: "/p".into(),
            };
            let expanded = expand_one(text, &probe, false)?;
            path_glob(&expanded).map_err(|e| format!("`{text}`: {e}"))?;
        }
        Ok(PathPattern(text.to_string()))
    }
}

/// Builds a path glob: `*` stays within one path component, `**` crosses them.
fn path_glob(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| e.kind().to_string())
}

/// Expands `~` and `${VAR}` in `text` with the (glob-escaped) paths of `env`; relative globs
/// are anchored at the project unless they start with `**`.
fn expand_one(text: &str, env: &Env, escape: bool) -> Result<String, String> {
    let value = |p: &Path| {
        let s = p.to_string_lossy().trim_end_matches('/').to_string();
        if escape { globset::escape(&s) } else { s }
    };
    let mut out = String::new();
    let mut rest = text;
    if let Some(after) = rest.strip_prefix('~') {
        out.push_str(&value(&env.home));
        rest = after;
    }
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let name = after
            .strip_prefix('{')
            .and_then(|a| a.find('}').map(|j| &a[..j]))
            .ok_or_else(|| {
                format!("`{text}`: write variables as ${{HOME}}, ${{PATCHWORK_HOME}} or ${{PROJECT}} (a literal `$` is `[$]`)")
            })?;
        let path = match name {
            "HOME" => &env.home,
            "PATCHWORK_HOME" => &env.patchwork_home,
            "PROJECT" => &env.project,
            other => {
                return Err(format!(
                    "`{text}`: unknown variable ${{{other}}}; known: {}",
                    VARS.join(", ")
                ));
            }
        };
        out.push_str(&value(path));
        rest = &after[name.len() + 2..];
    }
    out.push_str(rest);
    if !out.starts_with('/') && !out.starts_with("**") {
        out = format!("{}/{}", value(&env.project), out.trim_start_matches("./"));
    }
    if out.len() > 1 {
        while out.ends_with('/') {
            out.pop();
        }
    }
    Ok(out)
}

/// The env as given and, when it differs, with its folders resolved through symlinks, so a
/// glob written with `~` matches targets the classifier resolved to their real location.
/// Computed once per policy.
#[derive(Debug, Clone)]
pub struct Places(Vec<Env>);

impl Places {
    /// The variants of `env`.
    pub fn of(env: &Env) -> Places {
        let real = |p: &Path| crate::policy::paths::canonical(p).unwrap_or_else(|| p.to_path_buf());
        let resolved = Env {
            home: real(&env.home),
            patchwork_home: real(&env.patchwork_home),
            project: real(&env.project),
        };
        let differs = resolved.home != env.home
            || resolved.patchwork_home != env.patchwork_home
            || resolved.project != env.project;
        let mut out = vec![env.clone()];
        if differs {
            out.push(resolved);
        }
        Places(out)
    }

    /// Expands a pattern for every variant.
    fn expand(&self, pattern: &PathPattern) -> Vec<String> {
        let mut out: Vec<String> = self
            .0
            .iter()
            .filter_map(|e| expand_one(&pattern.0, e, true).ok())
            .collect();
        out.dedup();
        out
    }
}

/// True when an expanded glob has no glob syntax left.
fn is_literal(glob: &str) -> bool {
    !glob.contains(['*', '?', '[', '{', '\\'])
}

/// True when `path` lies strictly below `dir` (component-wise).
fn below(path: &Path, dir: &Path) -> bool {
    path != dir && path.starts_with(dir)
}

/// Real globs (not literal paths), whose syntax is checked when the policy is parsed
/// ([`PathPattern`]) but compiled into one [`GlobSet`] only when a path that could match is
/// first seen: building the set costs a hook process more than its whole decision, and most
/// paths lie outside every glob's literal folder.
#[derive(Debug, Clone)]
struct LazyGlobs {
    /// Expanded globs; the places substituted into them are escaped, so they stay valid.
    globs: Vec<String>,
    /// The literal leading folders of each glob: a path outside all of them cannot match.
    roots: Vec<PathBuf>,
    /// What a set that cannot be built answers: `true` (match) where matching is the safe side.
    on_failure: bool,
    set: OnceLock<Option<GlobSet>>,
}

impl LazyGlobs {
    fn new(on_failure: bool) -> LazyGlobs {
        LazyGlobs {
            globs: Vec::new(),
            roots: Vec::new(),
            on_failure,
            set: OnceLock::new(),
        }
    }

    /// Adds an expanded glob.
    fn push(&mut self, glob: String) {
        self.roots.push(literal_root(&glob));
        self.globs.push(glob);
    }

    fn is_match(&self, path: &str) -> bool {
        if !self.roots.iter().any(|r| Path::new(path).starts_with(r)) {
            return false;
        }
        let set = self.set.get_or_init(|| {
            self.build()
                .inspect_err(|e| tracing::error!("a policy glob set cannot be built: {e}"))
                .ok()
        });
        set.as_ref().map_or(self.on_failure, |s| s.is_match(path))
    }

    fn build(&self) -> Result<GlobSet, String> {
        let mut b = GlobSetBuilder::new();
        for g in &self.globs {
            b.add(path_glob(g).map_err(|e| format!("`{g}`: {e}"))?);
        }
        b.build().map_err(|e| e.to_string())
    }
}

/// A compiled set of path globs. Literal paths and `literal/**` are compared directly; only
/// real globs go through a [`GlobSet`], built on first use.
#[derive(Debug, Clone)]
pub struct PathSet {
    exact: Vec<PathBuf>,
    under: Vec<PathBuf>,
    globs: LazyGlobs,
}

impl PathSet {
    /// Compiles `patterns` expanded against `places`. `on_failure` is what the set answers if
    /// its globs cannot be built into a matcher: the restrictive side for the rule using it.
    pub fn compile(patterns: &[PathPattern], places: &Places, on_failure: bool) -> PathSet {
        let mut set = PathSet {
            exact: Vec::new(),
            under: Vec::new(),
            globs: LazyGlobs::new(on_failure),
        };
        for p in patterns {
            for e in places.expand(p) {
                if is_literal(&e) {
                    set.exact.push(PathBuf::from(e));
                } else if let Some(dir) = e.strip_suffix("/**").filter(|d| is_literal(d)) {
                    set.under.push(PathBuf::from(dir));
                } else {
                    set.globs.push(e);
                }
            }
        }
        set
    }

    /// True when `path` matches any glob.
    pub fn is_match(&self, path: &str) -> bool {
        let p = Path::new(path);
        self.exact.iter().any(|x| x == p)
            || self.under.iter().any(|d| below(p, d))
            || self.globs.is_match(path)
    }
}

/// The `protect:` list: paths the agent may not write, edit, create, delete, move, truncate,
/// chmod or symlink over — nor remove a folder that contains them.
#[derive(Debug, Clone)]
pub struct ProtectSet {
    /// Each literal path, with everything under it.
    literal: Vec<PathBuf>,
    /// Each real glob and everything under it.
    globs: LazyGlobs,
    /// The literal folder part of each glob: deleting one of its ancestors removes it too.
    roots: Vec<PathBuf>,
    /// The project folder (and its resolved form): writing the project root itself is not an
    /// attack on what lies inside it, deleting it is.
    project: Vec<PathBuf>,
}

impl ProtectSet {
    /// Compiles `patterns` expanded against `places`, plus `extra` literal paths.
    pub fn compile(patterns: &[PathPattern], extra: &[PathBuf], places: &Places) -> Self {
        let mut globs = LazyGlobs::new(true);
        let mut literal = Vec::new();
        let mut roots = Vec::new();
        let mut expanded: Vec<String> = patterns.iter().flat_map(|p| places.expand(p)).collect();
        expanded.extend(extra.iter().map(|p| globset::escape(&p.to_string_lossy())));
        for e in expanded {
            roots.push(literal_root(&e));
            let base = e.strip_suffix("/**").unwrap_or(&e);
            if is_literal(base) {
                literal.push(PathBuf::from(base));
                continue;
            }
            if !e.ends_with("/**") {
                globs.push(format!("{e}/**"));
            }
            globs.push(e);
        }
        let project = places.0.iter().map(|e| e.project.clone()).collect();
        ProtectSet {
            literal,
            globs,
            roots,
            project,
        }
    }

    /// True when writing (`delete` = deleting or moving away) `path` touches a protected path:
    /// the path is protected or lies under one, or (unless only the project root itself is
    /// written) it is a folder holding one. The globs are consulted last, being the costliest.
    pub fn hits(&self, path: &str, delete: bool) -> bool {
        let target = Path::new(path);
        if self.literal.iter().any(|l| target.starts_with(l)) {
            return true;
        }
        let writes_project_root = !delete && self.project.iter().any(|p| p.starts_with(target));
        if !writes_project_root
            && target.is_absolute()
            && self.roots.iter().any(|root| root.starts_with(target))
        {
            return true;
        }
        self.globs.is_match(path)
    }
}

/// The leading components of a glob that contain no glob syntax.
fn literal_root(glob: &str) -> PathBuf {
    let mut root = PathBuf::new();
    for c in Path::new(glob).components() {
        let s = c.as_os_str().to_string_lossy();
        if s.contains(['*', '?', '[', '{', '\\']) {
            break;
        }
        match c {
            Component::RootDir => root.push("/"),
            _ => root.push(c.as_os_str()),
        }
    }
    root
}

/// A glob over free text (URLs, MCP names and argument values): `*` matches anything.
#[derive(Debug, Clone)]
pub struct TextGlob {
    /// `None` for a plain word, compared without a regex (compiling one per word costs a hook
    /// process measurable time).
    matcher: Option<GlobMatcher>,
    text: String,
}

impl TextGlob {
    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when `s` matches (case-insensitive).
    pub fn is_match(&self, s: &str) -> bool {
        match &self.matcher {
            Some(m) => m.is_match(s),
            None => s.eq_ignore_ascii_case(&self.text),
        }
    }
}

impl Scalar for TextGlob {
    const WHAT: &'static str = "a glob";

    fn parse(text: &str) -> Result<Self, String> {
        if !text.contains(['*', '?', '[', '{', '\\']) {
            return Ok(TextGlob {
                matcher: None,
                text: text.to_string(),
            });
        }
        let matcher = GlobBuilder::new(text)
            .case_insensitive(true)
            .build()
            .map_err(|e| format!("`{text}`: {}", e.kind()))?
            .compile_matcher();
        Ok(TextGlob {
            matcher: Some(matcher),
            text: text.to_string(),
        })
    }
}

/// A domain: `example.com` matches the host and its subdomains; a glob (`*.example.*`) matches
/// the host name as written.
#[derive(Debug, Clone)]
pub struct DomainPattern {
    pub text: String,
    glob: Option<GlobMatcher>,
}

impl Scalar for DomainPattern {
    const WHAT: &'static str = "a domain";

    fn parse(text: &str) -> Result<Self, String> {
        let lower = text.trim().trim_end_matches('.').to_ascii_lowercase();
        if lower.is_empty() {
            return Err("empty domain".into());
        }
        if lower.contains("://") || lower.contains('/') {
            return Err(format!(
                "`{text}` is a URL, not a domain: write the host name here, or use `url:`"
            ));
        }
        if let Some(bad) = lower
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '*' | '_' | ':')))
        {
            return Err(format!("`{text}`: `{bad}` cannot appear in a domain"));
        }
        let glob = if lower.contains('*') {
            Some(
                Glob::new(&lower)
                    .map_err(|e| format!("`{text}`: {}", e.kind()))?
                    .compile_matcher(),
            )
        } else {
            None
        };
        Ok(DomainPattern { text: lower, glob })
    }
}

impl DomainPattern {
    /// True when `host` (lowercase) is this domain or, for a plain domain, one of its subdomains.
    pub fn is_match(&self, host: &str) -> bool {
        match &self.glob {
            Some(g) => g.is_match(host),
            None => {
                host == self.text
                    || host
                        .strip_suffix(self.text.as_str())
                        .is_some_and(|p| p.ends_with('.'))
            }
        }
    }
}

/// The lowercase host of a URL target (`https://user@Host:443/x` → `host`), or the value itself
/// when it is already a host.
pub fn host_of(value: &str) -> String {
    let rest = value.split_once("://").map_or(value, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = hostport.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        hostport.split(':').next().unwrap_or("")
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// One word of an argv pattern.
#[derive(Debug, Clone)]
enum WordPattern {
    /// `**`: any number of words (including none).
    Rest,
    /// A word without glob syntax.
    Literal(String),
    /// `prefix*`: a literal prefix (compiled without a regex).
    Prefix(String),
    /// A word glob (`--force*`, `+*`).
    Glob(GlobMatcher),
}

/// A pattern over the canonical argv of one command segment, anchored at both ends.
#[derive(Debug, Clone)]
pub struct ArgvPattern {
    compiled: Vec<WordPattern>,
}

impl ArgvPattern {
    /// Checks and compiles a list of word patterns.
    pub fn parse(words: &[String]) -> Result<ArgvPattern, String> {
        if words.is_empty() {
            return Err("an empty argv pattern matches nothing".into());
        }
        let mut compiled = Vec::with_capacity(words.len());
        for w in words {
            if w.is_empty() {
                return Err("an empty word never matches; use `*` for any one word".into());
            }
            if w.chars().any(char::is_whitespace) {
                return Err(format!(
                    "`{w}` contains spaces: write one word per list item (`[\"git\", \"push\"]`), \
                     or several patterns as a list of lists"
                ));
            }
            compiled.push(if w == "**" {
                WordPattern::Rest
            } else if let Some(prefix) = w.strip_suffix('*').filter(|p| is_literal(p)) {
                WordPattern::Prefix(prefix.to_string())
            } else if !is_literal(w) {
                WordPattern::Glob(
                    Glob::new(w)
                        .map_err(|e| format!("`{w}`: {}", e.kind()))?
                        .compile_matcher(),
                )
            } else {
                WordPattern::Literal(w.clone())
            });
        }
        Ok(ArgvPattern { compiled })
    }

    /// True when the whole `argv` matches. The command word also matches by its base name when
    /// the pattern's first word has no `/` (`rm` matches `/bin/rm`).
    pub fn is_match(&self, argv: &[String]) -> bool {
        match_words(&self.compiled, argv, true)
    }
}

fn word_matches(p: &WordPattern, word: &str, first: bool) -> bool {
    let one = |w: &str| match p {
        WordPattern::Rest => true,
        WordPattern::Literal(l) => l == w,
        WordPattern::Prefix(p) => w.starts_with(p.as_str()),
        WordPattern::Glob(g) => g.is_match(w),
    };
    if one(word) {
        return true;
    }
    let slashless = match p {
        WordPattern::Literal(l) | WordPattern::Prefix(l) => !l.contains('/'),
        WordPattern::Glob(g) => !g.glob().glob().contains('/'),
        WordPattern::Rest => false,
    };
    first && slashless && word.contains('/') && one(word.rsplit('/').next().unwrap_or(word))
}

fn match_words(pattern: &[WordPattern], argv: &[String], first: bool) -> bool {
    match pattern.split_first() {
        None => argv.is_empty(),
        Some((WordPattern::Rest, rest)) => {
            (0..=argv.len()).any(|skip| match_words(rest, &argv[skip..], first && skip == 0))
        }
        Some((p, rest)) => match argv.split_first() {
            Some((w, tail)) => word_matches(p, w, first) && match_words(rest, tail, false),
            None => false,
        },
    }
}

/// The MCP server and tool a call addresses: a wrapped upstream's name, or the
/// `mcp__<server>__<tool>` form Claude Code uses; the gateway's own MCP tools are server
/// `patchwork`. `None` for non-MCP calls.
pub fn mcp_identity(call: &ToolCall) -> Option<(String, String)> {
    if let Some(server) = &call.server {
        // The MCP door names upstream tools `mcp__<server>__<tool>`, like Claude Code.
        let tool = call
            .tool
            .strip_prefix("mcp__")
            .and_then(|r| r.strip_prefix(server.as_str()))
            .and_then(|r| r.strip_prefix("__"))
            .unwrap_or(&call.tool);
        return Some((server.clone(), tool.to_string()));
    }
    if let Some(rest) = call.tool.strip_prefix("mcp__") {
        let (server, tool) = rest.split_once("__").unwrap_or((rest, ""));
        return Some((server.to_string(), tool.to_string()));
    }
    (call.door == crate::call::Door::Mcp).then(|| ("patchwork".to_string(), call.tool.clone()))
}

/// Joins an argv for display, quoting words that need it.
pub fn display_argv(argv: &[String]) -> String {
    argv.iter()
        .map(|w| {
            if w.is_empty() || w.contains(|c: char| c.is_whitespace() || "'\"\\$`".contains(c)) {
                format!("'{}'", w.replace('\'', "'\\''"))
            } else {
                w.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places() -> Places {
        Places(vec![Env {
            home: "/h".into(),
            patchwork_home: "/h/.patchwork".into(),
            project: "/p".into(),
        }])
    }

    fn protect(patterns: &[&str]) -> ProtectSet {
        let patterns: Vec<PathPattern> = patterns
            .iter()
            .map(|p| PathPattern::parse(p).unwrap())
            .collect();
        ProtectSet::compile(&patterns, &[], &places())
    }

    #[test]
    fn protect_globs_are_built_only_for_paths_inside_their_folders() {
        let set = protect(&["~/.claude/settings*.json", "${PATCHWORK_HOME}"]);
        assert!(!set.hits("/p/src/main.rs", false));
        assert!(set.globs.set.get().is_none());
        assert!(!set.hits("/h/.claude/notes.md", false));
        assert!(set.globs.set.get().is_some());
        assert!(set.hits("/h/.claude/settings.local.json", false));
        assert!(set.hits("/h/.claude/settings.json/x", false));
    }

    #[test]
    fn a_path_outside_every_glob_root_leaves_the_set_unbuilt() {
        let set = protect(&["~/.claude/settings*.json"]);
        for path in ["/p/src/a.rs", "/tmp/x", "/h/.bashrc"] {
            assert!(!set.hits(path, false), "{path}");
        }
        assert!(set.globs.set.get().is_none());
        // Folders holding a protected path are protected from deletion.
        assert!(set.hits("/h", true));
        assert!(set.hits("/", true));
        assert!(set.globs.set.get().is_none());
    }

    #[test]
    fn writing_the_project_root_is_not_an_attack_but_deleting_it_is() {
        let set = protect(&["${PROJECT}/.patchwork"]);
        assert!(!set.hits("/p", false));
        assert!(set.hits("/p", true));
        assert!(set.hits("/p/.patchwork/policy.yaml", false));
    }

    #[test]
    fn rule_globs_answer_only_after_their_root_matches() {
        let mut globs = LazyGlobs::new(true);
        globs.push("/p/**/*.pem".into());
        globs.push("**/id_rsa".into());
        assert!(globs.is_match("/p/certs/a.pem"));
        assert!(globs.is_match("/anywhere/.ssh/id_rsa"));
        assert!(!globs.is_match("/q/a.pem"));
    }
}
