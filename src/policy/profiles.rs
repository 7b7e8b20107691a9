//! The policy profiles built into the binary, so `--policy strict` works with no file on disk.
//! Their YAML lives in `configs/` (what `policy init` writes).

/// The profile used when no policy file exists.
pub const DEFAULT: &str = "standard";

/// Names of the built-in profiles.
pub const NAMES: [&str; 3] = ["strict", "standard", "audit"];

const STRICT: &str = include_str!("../../configs/strict.yaml");
const STANDARD: &str = include_str!("../../configs/standard.yaml");
const AUDIT: &str = include_str!("../../configs/audit.yaml");

/// The canonical name and YAML text of a built-in profile.
pub fn builtin(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "strict" => Some(("strict", STRICT)),
        "standard" => Some(("standard", STANDARD)),
        "audit" => Some(("audit", AUDIT)),
        _ => None,
    }
}
