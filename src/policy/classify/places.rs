//! What a resolved path *is*: a secret, the guard's own files, a persistence hook, a system
//! location, a disposable build folder. Pure predicates on absolute paths, shared by every
//! tool's classification.

use crate::policy::Env;
use std::path::{Path, PathBuf};

/// Top-level folders of the operating system; deleting or rewriting under them is system damage.
const SYSTEM_ROOTS: &[&str] = &[
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/opt",
    "/proc",
    "/root",
    "/sbin",
    "/srv",
    "/sys",
    "/usr",
    "/var",
    "/home",
    "/mnt",
    "/media",
    "/snap",
    "/System",
    "/Library",
    "/Applications",
    "/Users",
    "/private",
];

/// Folder names inside a project that hold only regenerable output.
const DISPOSABLE_DIRS: &[&str] = &[
    "target",
    "node_modules",
    "dist",
    "build",
    "out",
    ".next",
    ".nuxt",
    ".svelte-kit",
    ".turbo",
    ".parcel-cache",
    ".cache",
    "coverage",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".tox",
    "tmp",
    ".tmp",
    ".venv",
    "venv",
    ".nyc_output",
    ".gradle",
    ".dart_tool",
    ".angular",
    ".vite",
    ".eggs",
    "htmlcov",
    ".hypothesis",
    ".expo",
    ".docusaurus",
    ".output",
    ".sass-cache",
    "bower_components",
    "storybook-static",
    ".terraform",
    ".stack-work",
    "_build",
    "test-results",
    "playwright-report",
    "blob-report",
    ".serverless",
    ".aws-sam",
    "cdk.out",
    "zig-cache",
    ".zig-cache",
    "zig-out",
    "elm-stuff",
    "_site",
    ".jekyll-cache",
    ".build",
    "dist-newstyle",
    ".pnpm-store",
    ".ipynb_checkpoints",
    "Pods",
    "DerivedData",
    "obj",
    ".astro",
    ".webpack",
];

/// Folder names in a project that only hold build output when their name starts so
/// (`cmake-build-debug`, `cmake-build-release`).
const DISPOSABLE_PREFIXES: &[&str] = &["cmake-build-"];

/// Package managers' and IDEs' download and build caches under the home folder; everything in
/// them is fetched or built again on demand (`~/.cache` as a whole is one of them).
const HOME_CACHES: &[&str] = &[
    ".cache",
    ".npm/_cacache",
    ".npm/_npx",
    ".npm/_logs",
    ".gradle/caches",
    ".gradle/daemon",
    ".cargo/registry/cache",
    ".cargo/registry/src",
    ".cargo/git/checkouts",
    ".pnpm-store",
    ".local/share/pnpm/store",
    ".yarn/berry/cache",
    ".bun/install/cache",
    "go/pkg/mod/cache",
    ".nuget/packages",
    "Library/Caches",
    "Library/Developer/Xcode/DerivedData",
];

/// Scratch roots whose children are disposable.
const SCRATCH_ROOTS: &[&str] = &["/tmp", "/var/tmp", "/dev/shm"];

/// Device files that are safe to write to.
const HARMLESS_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/stdout",
    "/dev/stderr",
    "/dev/stdin",
    "/dev/tty",
    "/dev/random",
    "/dev/urandom",
];

/// The text of the secret file `f` when it is a regular file of at most `cap` bytes; `None` for
/// anything else. The open never blocks (a FIFO swapped in cannot stall a decision) and the kind
/// and size are taken from the open file itself, so a device or a huge file is never read.
pub fn small_text(f: &Path, cap: u64) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(f)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > cap {
        return None;
    }
    let mut text = String::new();
    file.take(cap).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Why a path is a secret, when it is one.
pub fn secret_kind(path: &Path, env: &Env) -> Option<&'static str> {
    let name = path.file_name()?.to_string_lossy();
    let name = name.as_ref();
    let lower = name.to_ascii_lowercase();
    let example = example_env_file(&lower);
    if lower == ".env"
        || lower == ".envrc"
        || (lower.starts_with(".env.") && !example)
        || lower.ends_with(".env")
    {
        return Some("an environment file with secrets");
    }
    if (lower.starts_with("id_rsa")
        || lower.starts_with("id_dsa")
        || lower.starts_with("id_ecdsa")
        || lower.starts_with("id_ed25519"))
        && !lower.ends_with(".pub")
    {
        return Some("an SSH private key");
    }
    if lower.starts_with("ssh_host_") && lower.ends_with("_key") {
        return Some("an SSH host private key");
    }
    for ext in [
        ".pem",
        ".key",
        ".p12",
        ".pfx",
        ".jks",
        ".keystore",
        ".ppk",
        ".gpg",
        ".p8",
        ".pkcs12",
        ".kdbx",
        ".kdb",
        ".keychain",
        ".keychain-db",
        ".tfvars",
        ".tfvars.json",
        ".ovpn",
    ] {
        if lower.ends_with(ext) && !public_certificate(&lower) {
            return Some("a private key or certificate store");
        }
    }
    // Armoured exports: signatures and public keys are not secret, private ones are.
    if lower.ends_with(".asc") && (lower.contains("private") || lower.contains("secret")) {
        return Some("a private key or certificate store");
    }
    if matches!(
        lower.as_str(),
        ".netrc"
            | "_netrc"
            | ".npmrc"
            | ".pypirc"
            | ".git-credentials"
            | ".htpasswd"
            | ".pgpass"
            | ".my.cnf"
            | "credentials"
            | "credentials.json"
            | "secrets.json"
            | "secrets.yaml"
            | "secrets.yml"
            | "secrets.toml"
            | ".vault-token"
            | "terraform.tfstate"
            | "terraform.tfstate.backup"
            | "credentials.toml"
            | "credentials.tfrc.json"
            | "rclone.conf"
            | ".s3cfg"
            | ".boto"
            | ".dockercfg"
            | ".mylogin.cnf"
            | ".gitcookies"
            | ".terraformrc"
            | "terraform.rc"
            | "logins.json"
            | "key4.db"
            | "login data"
            | "cookies"
            | "cookies.sqlite"
            | ".dev.vars"
            | ".secrets"
            | ".secret"
            | "local.settings.json"
            | "shadow"
            | "gshadow"
    ) || (lower.starts_with("service-account")
        || lower.starts_with("serviceaccount")
        || lower.starts_with("client_secret")
        || lower.contains("firebase-adminsdk"))
        && lower.ends_with(".json")
    {
        return Some("a credentials file");
    }
    // Coding agents' and CLIs' own login stores (OAuth and API tokens).
    const AGENT_STORES: &[&str] = &[
        ".claude/.credentials.json",
        ".codex/auth.json",
        ".gemini/oauth_creds.json",
        ".config/gh/hosts.yml",
        ".config/github-copilot/hosts.json",
        ".config/github-copilot/apps.json",
        ".config/gcloud/credentials.db",
        ".config/gcloud/access_tokens.db",
        ".azure/msal_token_cache.json",
        ".config/hub",
        ".cursor/mcp.json",
    ];
    if lower == ".credentials.json" || AGENT_STORES.iter().any(|s| path.ends_with(s)) {
        return Some("an agent's or CLI's login token store");
    }
    // Histories keep what was typed: passwords on command lines, `export TOKEN=…`, SQL logins.
    if matches!(
        lower.as_str(),
        ".bash_history"
            | ".zsh_history"
            | ".sh_history"
            | ".psql_history"
            | ".mysql_history"
            | ".sqlite_history"
            | ".rediscli_history"
            | ".python_history"
            | ".node_repl_history"
            | "fish_history"
    ) {
        return Some("a shell or client history (typed passwords and tokens)");
    }
    let home = &env.home;
    for dir in [
        ".ssh",
        ".aws",
        ".gnupg",
        ".kube",
        ".docker",
        ".azure",
        ".config/gcloud",
        ".config/gh",
        ".config/hub",
        ".config/rclone",
        ".config/op",
        ".composer/auth.json",
        ".config/composer/auth.json",
        ".local/share/keyrings",
        "Library/Keychains",
        ".password-store",
        // Build and deploy tools that keep tokens in their own files.
        ".m2/settings.xml",
        ".m2/settings-security.xml",
        ".gradle/gradle.properties",
        ".terraformrc",
        ".databrickscfg",
        ".config/doctl",
        ".config/netlify",
        ".fly",
        ".oci",
        // Tokens and private keys of dev tools (sops' age keys, tunnels, CLIs' token stores).
        ".config/sops",
        ".config/ngrok",
        ".ngrok2",
        ".config/configstore",
        ".config/stripe",
        ".wrangler",
    ] {
        let base = home.join(dir);
        if path.starts_with(&base) && !is_public_ssh_file(path, &base) {
            return Some("a credentials folder");
        }
    }
    if path.starts_with("/etc/ssl/private") || path.starts_with("/etc/wireguard") {
        return Some("a system key folder");
    }
    if path.starts_with("/proc") && name == "environ" {
        return Some("a process environment");
    }
    None
}

/// A PEM file whose name says it holds only certificates (`ca.pem`, `fullchain.pem`,
/// `client-cert.pem`) and nothing that names a key (`privkey.pem`, `cert-key.pem`, `server.pem`
/// stay secret: a bare name may bundle the key).
fn public_certificate(lower: &str) -> bool {
    const PUBLIC: &[&str] = &[
        "ca",
        "cacert",
        "rootca",
        "cert",
        "certs",
        "certificate",
        "crt",
        "chain",
        "fullchain",
        "bundle",
        "pub",
        "public",
        "intermediate",
    ];
    let Some(stem) = lower.strip_suffix(".pem") else {
        return false;
    };
    let words: Vec<&str> = stem.split(['-', '_', '.']).collect();
    words.iter().any(|w| PUBLIC.contains(w))
        && !words
            .iter()
            .any(|w| w.contains("key") || w.contains("priv") || w.contains("secret"))
}

/// Templates of environment files, committed without values: `.env.example`,
/// `.env.production.example`, `.env.local.sample`, `.env.template` …
fn example_env_file(lower: &str) -> bool {
    let Some(rest) = lower.strip_prefix(".env.") else {
        return false;
    };
    rest.rsplit('.').next().is_some_and(|last| {
        matches!(
            last,
            "example" | "sample" | "template" | "dist" | "defaults" | "tmpl" | "tpl"
        )
    })
}

/// `~/.ssh/known_hosts`, `config` and `*.pub` are not secrets.
fn is_public_ssh_file(path: &Path, base: &Path) -> bool {
    if !base.ends_with(".ssh") {
        return false;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().to_string());
    path == base
        || matches!(
            name.as_deref(),
            Some("known_hosts" | "known_hosts.old" | "config" | "authorized_keys")
        )
        || name.is_some_and(|n| n.ends_with(".pub"))
}

/// True when a recursive read of `dir` (tar, rsync, cp -r, zip -r) would sweep up secrets.
pub fn holds_secrets(dir: &Path, env: &Env) -> bool {
    if secret_kind(dir, env).is_some() {
        return true;
    }
    [
        ".ssh",
        ".aws",
        ".gnupg",
        ".kube",
        ".docker",
        ".password-store",
    ]
    .iter()
    .any(|d| env.home.join(d).starts_with(dir))
}

/// Typical secret file names, to test a glob against (`*.pem`, `.env*`): each is a secret by
/// [`secret_kind`] (a test holds them to that).
const SECRET_NAME_SAMPLES: &[&str] = &[
    ".env",
    ".env.local",
    ".env.production",
    "id_rsa",
    "id_ed25519",
    "id_ecdsa",
    "credentials",
    "credentials.json",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".git-credentials",
    "server.key",
    "private.pem",
    "secrets.yaml",
    "terraform.tfstate",
];

/// A glob path that can name a secret: a credentials folder among its literal components
/// (`/home/*/.ssh/*`), or a last component (not a bare `*`) matching a typical secret file name
/// (`id_*`, `.env*`, `*.pem`).
pub fn secret_pattern(p: &Path) -> bool {
    const DIRS: &[&str] = &[".ssh", ".aws", ".gnupg", ".kube", ".docker", ".azure"];
    let comps: Vec<String> = p
        .components()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .collect();
    if comps.iter().any(|c| DIRS.contains(&c.as_str())) {
        return true;
    }
    // A bare wildcard (`*`, `.*`, `*.*`) says nothing about the names it matches.
    let Some(last) = comps
        .last()
        .filter(|l| !l.chars().all(|c| matches!(c, '*' | '.' | '?')))
    else {
        return false;
    };
    globset::GlobBuilder::new(last)
        .literal_separator(true)
        .build()
        .map(|g| g.compile_matcher())
        .is_ok_and(|m| SECRET_NAME_SAMPLES.iter().any(|n| m.is_match(n)))
}

/// Folder levels below a searched folder that [`secret_below`] looks at (the listings'
/// look-ahead: `DIR/*`, `DIR/*/*`, `DIR/*/*/*`, hidden folders one level down).
const SEARCH_DEPTH: usize = 3;
/// Most folder entries [`secret_below`] reads before giving up.
const SEARCH_ENTRIES: usize = 4096;

/// A secret file a recursive search of `dir` reaches (`grep -r`, `rg --hidden`), looking as far
/// as the listings do: files up to three levels down, in hidden folders one level down (only
/// when `hidden`, as `rg` and `fd` skip dot files without `--hidden`). Bounded; None when
/// nothing is found within the bounds. Only files `accept` lets through count.
pub fn secret_below(
    dir: &Path,
    env: &Env,
    hidden: bool,
    accept: &dyn Fn(&Path) -> bool,
) -> Option<PathBuf> {
    let mut queue = std::collections::VecDeque::from([(dir.to_path_buf(), 1usize)]);
    let mut seen = 0;
    while let Some((folder, level)) = queue.pop_front() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            seen += 1;
            if seen > SEARCH_ENTRIES {
                return None;
            }
            let name = entry.file_name();
            let dot = name.to_string_lossy().starts_with('.');
            if dot && !hidden {
                continue;
            }
            let path = entry.path();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir && secret_kind(&path, env).is_some() && accept(&path) {
                return Some(path);
            }
            let deeper = if dot {
                level == 1
            } else {
                level < SEARCH_DEPTH
            };
            if is_dir && deeper && name != ".git" {
                queue.push_back((path, if dot { SEARCH_DEPTH } else { level + 1 }));
            }
        }
    }
    None
}

/// True when one of the files directly in `dir` is a secret (`.env` in the project root).
pub fn secret_file_in(dir: &Path, env: &Env) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .flatten()
            .take(1000)
            .any(|e| secret_kind(&e.path(), env).is_some())
    })
}

/// The guard's own files: the gateway's home, Claude Code settings, MCP registrations and
/// policy files. The agent may not change them.
pub fn guard_file(path: &Path, env: &Env) -> Option<&'static str> {
    if path.starts_with(&env.patchwork_home) {
        return Some("the gateway's home (ledger, keys, policy)");
    }
    let claude_dirs = [env.home.join(".claude"), env.project.join(".claude")];
    for dir in &claude_dirs {
        if path.parent() == Some(dir.as_path()) {
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            if name.starts_with("settings") && name.ends_with(".json") {
                return Some("Claude Code settings (hooks)");
            }
        }
    }
    if *path == env.home.join(".claude.json") || *path == env.project.join(".mcp.json") {
        return Some("the MCP server registration");
    }
    if path.starts_with(env.project.join(".patchwork")) {
        return Some("the project's gateway policy");
    }
    if path.file_name().is_some_and(|n| n == "patchwork-gateway") {
        return Some("the gateway's program");
    }
    if path.ends_with("managed-settings.json") || path.starts_with("/etc/claude-code") {
        return Some("Claude Code managed settings");
    }
    None
}

/// True for the seal key folder, which the agent may not even read.
pub fn guard_secret(path: &Path, env: &Env) -> bool {
    path.starts_with(env.patchwork_home.join("keys"))
}

/// Files that run code later: shell startup files, git hooks, cron, autostart, SSH keys.
pub fn persistence_kind(path: &Path, env: &Env) -> Option<&'static str> {
    let name = path.file_name()?.to_string_lossy();
    if path.parent() == Some(env.home.as_path())
        && matches!(
            name.as_ref(),
            ".bashrc"
                | ".bash_profile"
                | ".bash_login"
                | ".bash_logout"
                | ".profile"
                | ".zshrc"
                | ".zprofile"
                | ".zshenv"
                | ".zlogin"
                | ".kshrc"
                | ".inputrc"
                | ".xprofile"
                | ".xinitrc"
                | ".bash_aliases"
                | ".zlogout"
                | ".cshrc"
                | ".tcshrc"
                | ".mkshrc"
        )
    {
        return Some("a shell startup file");
    }
    if path.parent() == Some(env.home.as_path())
        && matches!(
            name.as_ref(),
            ".vimrc"
                | ".gvimrc"
                | ".exrc"
                | ".emacs"
                | ".tmux.conf"
                | ".screenrc"
                | ".pam_environment"
                | ".Rprofile"
        )
    {
        return Some("an editor or terminal start-up file (it can run commands)");
    }
    if [
        ".vim/plugin",
        ".vim/autoload",
        ".vim/ftplugin",
        ".config/nvim",
        ".emacs.d",
        ".config/tmux",
        ".config/environment.d",
    ]
    .iter()
    .any(|d| path.starts_with(env.home.join(d)))
    {
        return Some("an editor or session start-up file (it can run commands)");
    }
    // Folders on the user's PATH: a program put there adds or shadows a command (`git`, `ls`).
    if [".local/bin", "bin"]
        .iter()
        .any(|d| path.parent() == Some(env.home.join(d).as_path()))
    {
        return Some("a folder on the PATH (a program there shadows or adds a command)");
    }
    // Python runs these at every start: `*.pth` lines starting with `import`, *customize.py.
    let in_site_packages = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|d| d == "site-packages" || d == "dist-packages");
    if in_site_packages
        && (name.ends_with(".pth") || name == "sitecustomize.py" || name == "usercustomize.py")
    {
        return Some("a Python start-up hook");
    }
    if *path == env.home.join(".ssh/config") {
        return Some("the SSH client configuration (ProxyCommand and LocalCommand run code)");
    }
    if *path == env.home.join(".gitconfig") || *path == env.home.join(".config/git/config") {
        return Some("the user's git configuration (hooks paths, aliases and pagers run code)");
    }
    let under_home = |d: &str| path.starts_with(env.home.join(d));
    if under_home(".config/fish") || under_home(".config/autostart") || under_home(".config/direnv")
    {
        return Some("a startup file");
    }
    if under_home(".config/systemd") || under_home("Library/LaunchAgents") {
        return Some("a user service definition");
    }
    if name == "authorized_keys" || name == "authorized_keys2" || name == "rc" && under_home(".ssh")
    {
        return Some("SSH login configuration");
    }
    let text = path.to_string_lossy();
    if text.contains("/.git/hooks/") || text.ends_with("/.git/hooks") || text.contains("/.husky/") {
        return Some("a git hook");
    }
    if path.ends_with(".git/config") {
        return Some("the repository's git configuration");
    }
    if path.starts_with("/etc/cron")
        || path.starts_with("/var/spool/cron")
        || path.starts_with("/etc/profile")
        || path.starts_with("/etc/systemd")
        || path.starts_with("/etc/init.d")
        || path.starts_with("/etc/rc.local")
    {
        return Some("a system startup file");
    }
    None
}

/// Top-level folders that hold people's files and mounted disks rather than the system:
/// a write below them is outside the project, not a change to the machine (deleting them
/// whole is still judged as a foundation).
const USER_ROOTS: &[&str] = &["/home", "/Users", "/mnt", "/media"];

/// True for `/`, the system's top-level folders and anything under them (scratch and the
/// folders of [`USER_ROOTS`] below their root excepted).
pub fn system_path(path: &Path) -> bool {
    if scratch_root_child(path) || HARMLESS_DEVICES.iter().any(|d| path == Path::new(d)) {
        return false;
    }
    if USER_ROOTS
        .iter()
        .any(|r| path.starts_with(r) && path != Path::new(r))
    {
        return false;
    }
    path == Path::new("/") || SYSTEM_ROOTS.iter().any(|r| path.starts_with(r))
}

/// A block device or raw disk.
pub fn device(path: &Path) -> bool {
    path.starts_with("/dev")
        && !HARMLESS_DEVICES.iter().any(|d| path == Path::new(d))
        && !path.starts_with("/dev/fd")
        && !path.starts_with("/dev/shm")
}

/// True for a path whose loss takes everything with it: `/`, the home folder, the project
/// root, or any folder that holds one of them.
pub fn foundation(path: &Path, env: &Env) -> bool {
    path == Path::new("/")
        || env.home.starts_with(path)
        || env.project.starts_with(path)
        || env.patchwork_home.starts_with(path)
        || SYSTEM_ROOTS.iter().any(|r| Path::new(r) == path)
        || SYSTEM_ROOTS
            .iter()
            .any(|r| path.parent() == Some(Path::new(r)) && !scratch(path, env))
}

/// Children of /tmp, /var/tmp, /dev/shm (not the roots themselves), except the home folder,
/// the project and the gateway's home when they live there.
pub fn scratch(path: &Path, env: &Env) -> bool {
    // The folder holding the project (or home) is a workspace: its other folders are other
    // projects, not scratch, unless it is a scratch root itself.
    let workspace = |d: &Path| {
        d.parent()
            .filter(|p| !SCRATCH_ROOTS.iter().any(|r| Path::new(r) == *p))
            .map(Path::to_path_buf)
    };
    let mine = [
        Some(env.home.clone()),
        Some(env.project.clone()),
        Some(env.patchwork_home.clone()),
        workspace(&env.project),
        workspace(&env.home),
    ]
    .into_iter()
    .flatten()
    .any(|d| !d.as_os_str().is_empty() && path.starts_with(&d));
    !mine && scratch_root_child(path)
}

/// Children of the scratch roots, whoever owns them.
/// A scratch root itself (`/tmp`, `/var/tmp`, `/dev/shm`): entries selected below it by name
/// or metadata (`find /tmp -name 'sess*' -delete`) are other scratch files.
pub fn scratch_root(path: &Path) -> bool {
    SCRATCH_ROOTS.iter().any(|r| path == Path::new(r))
}

fn scratch_root_child(path: &Path) -> bool {
    SCRATCH_ROOTS
        .iter()
        .any(|r| path.starts_with(r) && path != Path::new(r))
        || std::env::var_os("TMPDIR").is_some_and(|t| {
            let t = Path::new(&t);
            t != Path::new("/") && path.starts_with(t) && path != t
        })
}

/// A regenerable folder (build output, dependencies, caches) inside the project, the user's
/// cache folder (`~/.cache`), or scratch.
pub fn disposable(path: &Path, env: &Env) -> bool {
    let Ok(rel) = path.strip_prefix(&env.project) else {
        return (scratch(path, env) || home_cache(path, env)) && !foundation(path, env);
    };
    rel.components().any(|c| {
        let c = c.as_os_str().to_string_lossy();
        DISPOSABLE_DIRS.contains(&c.as_ref())
            || c.ends_with(".egg-info")
            || DISPOSABLE_PREFIXES
                .iter()
                .any(|p| c.len() > p.len() && c.starts_with(p))
    })
}

/// A package manager's or IDE's cache under the home folder, or something inside one.
fn home_cache(path: &Path, env: &Env) -> bool {
    HOME_CACHES
        .iter()
        .any(|c| path.starts_with(env.home.join(c)))
}

/// Inside the project folder.
pub fn in_project(path: &Path, env: &Env) -> bool {
    path.starts_with(&env.project)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn env() -> Env {
        Env {
            home: PathBuf::from("/home/dev"),
            patchwork_home: PathBuf::from("/home/dev/.patchwork"),
            project: PathBuf::from("/home/dev/app"),
        }
    }

    #[test]
    fn secret_name_samples_are_secrets_and_globs_are_judged_by_them() {
        let e = env();
        for n in SECRET_NAME_SAMPLES {
            let p = e.project.join(n);
            assert!(secret_kind(&p, &e).is_some(), "{n} is not a secret");
        }
        assert!(secret_pattern(Path::new("/home/*/.ssh/id_*")));
        assert!(secret_pattern(Path::new("certs/*.pem")));
        assert!(!secret_pattern(Path::new("src/*")));
        assert!(!secret_pattern(Path::new("src/*.ts")));
    }

    #[test]
    fn secrets_are_recognised_and_examples_are_not() {
        let e = env();
        for p in [
            "/home/dev/app/.env",
            "/home/dev/app/.env.production",
            "/home/dev/app/.env.local",
            "/home/dev/.ssh/id_ed25519",
            "/home/dev/.aws/credentials",
            "/home/dev/.netrc",
            "/home/dev/.docker/config.json",
            "/home/dev/.kube/config",
            "/home/dev/app/certs/server.key",
            "/proc/self/environ",
        ] {
            assert!(secret_kind(Path::new(p), &e).is_some(), "{p}");
        }
        for p in [
            "/home/dev/app/.env.example",
            "/home/dev/app/src/env.ts",
            "/home/dev/.ssh/id_ed25519.pub",
            "/home/dev/.ssh/known_hosts",
            "/home/dev/.ssh",
            "/home/dev/app/.gitignore",
        ] {
            assert!(secret_kind(Path::new(p), &e).is_none(), "{p}");
        }
    }

    #[test]
    fn guard_files() {
        let e = env();
        for p in [
            "/home/dev/.claude/settings.json",
            "/home/dev/app/.claude/settings.local.json",
            "/home/dev/.patchwork",
            "/home/dev/.patchwork/ledger/events.jsonl",
            "/home/dev/app/.mcp.json",
        ] {
            assert!(guard_file(Path::new(p), &e).is_some(), "{p}");
        }
        assert!(guard_file(Path::new("/home/dev/app/src/a.ts"), &e).is_none());
    }

    #[test]
    fn home_and_project_in_tmp_are_not_scratch() {
        let e = Env {
            home: PathBuf::from("/tmp/run-1/home"),
            patchwork_home: PathBuf::from("/tmp/run-1/home/.patchwork"),
            project: PathBuf::from("/tmp/run-1/project"),
        };
        assert!(!scratch(Path::new("/tmp/run-1/home/.config"), &e));
        assert!(!disposable(Path::new("/tmp/run-1/home/Documents"), &e));
        assert!(!scratch(Path::new("/tmp/run-1/other-project"), &e));
        assert!(disposable(Path::new("/tmp/run-1/home/.cache/pip"), &e));
        assert!(scratch(Path::new("/tmp/build-cache-1"), &e));
        assert!(disposable(Path::new("/tmp/run-1/project/.venv"), &e));
    }

    #[test]
    fn more_secret_names_and_public_signatures() {
        let e = env();
        for p in [
            "/home/dev/app/.envrc",
            "/home/dev/.config/rclone/rclone.conf",
            "/home/dev/.cargo/credentials.toml",
            "/home/dev/.s3cfg",
            "/home/dev/app/private-key.asc",
        ] {
            assert!(secret_kind(Path::new(p), &e).is_some(), "{p}");
        }
        assert!(secret_kind(Path::new("/home/dev/app/release.tar.gz.asc"), &e).is_none());
        assert!(persistence_kind(Path::new("/home/dev/.bash_aliases"), &e).is_some());
        assert!(persistence_kind(Path::new("/home/dev/.ssh/config"), &e).is_some());
        assert!(guard_file(Path::new("/usr/local/bin/patchwork-gateway"), &e).is_some());
    }

    #[test]
    fn terraform_variables_keystores_and_password_databases_are_secrets() {
        let e = env();
        for p in [
            "/home/dev/app/terraform.tfvars",
            "/home/dev/app/prod.auto.tfvars",
            "/home/dev/app/terraform.tfvars.json",
            "/home/dev/app/AuthKey_AB12.p8",
            "/home/dev/vault.kdbx",
            "/home/dev/login.keychain-db",
            "/home/dev/.gitcookies",
            "/home/dev/.terraformrc",
            "/home/dev/app/client_secret_123.apps.googleusercontent.com.json",
            "/home/dev/app/acme-firebase-adminsdk-x1y2z-0123456789.json",
            "/home/dev/office.ovpn",
            "/etc/wireguard/wg0.conf",
            "/etc/ssl/private/server.key",
        ] {
            assert!(secret_kind(Path::new(p), &e).is_some(), "{p}");
        }
        for p in [
            "/home/dev/app/variables.tf",
            "/home/dev/app/terraform.tfvars.example",
            "/home/dev/app/prod.tfvars.sample",
            "/home/dev/app/main.tf",
        ] {
            assert!(secret_kind(Path::new(p), &e).is_none(), "{p}");
        }
    }

    #[test]
    fn secret_files_are_found_below_a_folder_within_the_listing_depth() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/a")).unwrap();
        std::fs::write(root.join("src/a/main.rs"), "").unwrap();
        let e = env();
        assert!(secret_below(root, &e, true, &|_| true).is_none());
        std::fs::write(root.join("src/a/.env"), "K=v").unwrap();
        assert!(secret_below(root, &e, true, &|_| true).is_some());
        // Hidden files are skipped when the searcher skips them.
        assert!(secret_below(root, &e, false, &|_| true).is_none());
        std::fs::create_dir_all(root.join("a/b/c/d")).unwrap();
        std::fs::write(root.join("a/b/c/d/id_rsa"), "").unwrap();
        assert_eq!(
            secret_below(&root.join("a"), &e, false, &|_| true),
            None,
            "deeper than the listings look"
        );
        assert!(secret_below(&root.join("a/b"), &e, false, &|_| true).is_some());
    }

    #[test]
    fn example_env_files_and_public_certificates_are_not_secrets() {
        let e = env();
        for p in [
            "/home/dev/app/.env.production.example",
            "/home/dev/app/.env.local.sample",
            "/home/dev/app/.env.test.template",
            "/home/dev/app/certs/ca.pem",
            "/home/dev/app/certs/fullchain.pem",
            "/home/dev/app/certs/client-cert.pem",
        ] {
            assert!(secret_kind(Path::new(p), &e).is_none(), "{p}");
        }
        for p in [
            "/home/dev/app/.env.production",
            "/home/dev/app/.env.example.local",
            "/home/dev/app/certs/privkey.pem",
            "/home/dev/app/certs/cert-key.pem",
            "/home/dev/app/certs/server.pem",
            "/home/dev/app/certs/ca.key",
        ] {
            assert!(secret_kind(Path::new(p), &e).is_some(), "{p}");
        }
    }

    #[test]
    fn build_folders_of_more_ecosystems_and_home_caches_are_disposable() {
        let e = env();
        for p in [
            "/home/dev/app/playwright-report",
            "/home/dev/app/cmake-build-debug",
            "/home/dev/app/ios/Pods",
            "/home/dev/app/src/App/obj",
            "/home/dev/.npm/_cacache",
            "/home/dev/.gradle/caches/8.5",
            "/home/dev/Library/Developer/Xcode/DerivedData",
        ] {
            assert!(disposable(Path::new(p), &e), "{p}");
        }
        for p in [
            "/home/dev/app/cmake-build-",
            "/home/dev/app/vendor",
            "/home/dev/.gradle",
            "/home/dev/.npm",
            "/home/dev/Library",
            "/home/dev/.cargo",
        ] {
            assert!(!disposable(Path::new(p), &e), "{p}");
        }
    }

    #[test]
    fn disposable_and_foundations() {
        let e = env();
        assert!(disposable(Path::new("/home/dev/app/target"), &e));
        assert!(disposable(Path::new("/home/dev/app/web/node_modules"), &e));
        assert!(disposable(Path::new("/tmp/build-cache-1"), &e));
        assert!(!disposable(Path::new("/tmp"), &e));
        assert!(!disposable(Path::new("/home/dev/app/src"), &e));
        for p in [
            "/",
            "/home",
            "/home/dev",
            "/home/dev/app",
            "/usr",
            "/usr/local",
            "/var/lib",
        ] {
            assert!(foundation(Path::new(p), &e), "{p}");
        }
        assert!(!foundation(Path::new("/home/dev/app/src"), &e));
    }
}
