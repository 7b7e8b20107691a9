//! What people look at, all from the ledger.

pub mod dashboard;
