//! The tamper-evident ledger: hash-chained canonical JSON lines under `$PATCHWORK_HOME/ledger/`.
//! This module is the only code that touches the ledger's files.
//!
//! API used by the rest of the gateway: [`Ledger::open`], [`Ledger::append`] (returns the seq and
//! hash of the new record), [`Ledger::records`] and verification.

use anyhow::Result;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: u64,
    /// `sha256:<hex>` of the record.
    pub hash: String,
}

/// A handle on one ledger folder.
#[derive(Debug, Clone)]
pub struct Ledger {
    dir: PathBuf,
}

impl Ledger {
    /// Opens (creating if needed) the ledger in `dir`.
    pub fn open(dir: &Path) -> Result<Ledger> {
        Ok(Ledger {
            dir: dir.to_path_buf(),
        })
    }

    /// The ledger folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one record. `fields` are the record's own fields (event, session, action, …);
    /// the ledger adds `seq`, `ts`, `prev` and `hash`, redacts secrets, and syncs before returning.
    pub fn append(&self, _fields: Map<String, Value>) -> Result<Appended> {
        anyhow::bail!("the ledger is not built yet")
    }
}
