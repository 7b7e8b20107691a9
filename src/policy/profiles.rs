//! The policy profiles built into the binary, so `--policy strict` works with no file on disk.
//! Their YAML lives in `configs/` (what `policy init` writes); the build script adds each one's
//! JSON form and hash, which is what a hook process loads.

/// The profile used when no policy file exists.
pub const DEFAULT: &str = "standard";

/// Names of the built-in profiles.
pub const NAMES: [&str; 3] = ["strict", "standard", "audit"];

include!(concat!(env!("OUT_DIR"), "/profiles.rs"));

/// A built-in profile.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    /// The canonical name (`strict`, `standard`, `audit`).
    pub name: &'static str,
    /// The YAML, comments included, as `policy init` writes it.
    pub yaml: &'static str,
    /// The same document as JSON, converted when the binary was built.
    pub json: &'static str,
    /// `sha256:<hex>` of `yaml`: the policy hash recorded in the ledger.
    pub hash: &'static str,
}

const PROFILES: [Profile; 3] = [
    Profile {
        name: "strict",
        yaml: include_str!("../../configs/strict.yaml"),
        json: STRICT_JSON,
        hash: STRICT_HASH,
    },
    Profile {
        name: "standard",
        yaml: include_str!("../../configs/standard.yaml"),
        json: STANDARD_JSON,
        hash: STANDARD_HASH,
    },
    Profile {
        name: "audit",
        yaml: include_str!("../../configs/audit.yaml"),
        json: AUDIT_JSON,
        hash: AUDIT_HASH,
    },
];

/// The built-in profile called `name`.
pub fn builtin(name: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name)
}

/// The built-in profile whose YAML has this `sha256:` hash (a file that is an unedited copy).
pub fn with_hash(hash: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.hash == hash)
}
