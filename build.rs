//! Build script: converts the built-in policy profiles (`configs/*.yaml`) to JSON and hashes
//! their YAML, so a hook process loads its profile without running a YAML parser or hashing the
//! text at run time (together about half of a hook process's instructions). The YAML stays the
//! source of truth: it is embedded as well, and a test checks both forms parse to the same policy.

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::path::PathBuf;

/// The built-in profiles, as named on the command line.
const PROFILES: [&str; 3] = ["strict", "standard", "audit"];

fn main() {
    pack_relative_relocations();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut code = String::new();
    for name in PROFILES {
        let path = format!("configs/{name}.yaml");
        println!("cargo::rerun-if-changed={path}");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        let json = serde_json::to_string(&value).unwrap_or_else(|e| panic!("{path}: {e}"));
        let hash: String = Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let upper = name.to_uppercase();
        writeln!(code, "/// `{path}` converted to JSON.").unwrap();
        writeln!(code, "const {upper}_JSON: &str = {json:?};").unwrap();
        writeln!(code, "/// `sha256:` of `{path}`.").unwrap();
        writeln!(code, "const {upper}_HASH: &str = \"sha256:{hash}\";").unwrap();
    }
    std::fs::write(out.join("profiles.rs"), code).expect("write profiles.rs");
}

/// Asks the linker for compact relative relocations (DT_RELR, glibc 2.36+) on Linux with glibc:
/// the binary is position-independent, and its ~16k relocations otherwise take ~400 KB that
/// every hook process reads and applies at start.
fn pack_relative_relocations() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
