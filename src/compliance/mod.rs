//! Compliance evidence: a control catalogue (data), evidence predicates evaluated over a
//! verified range of the ledger, a report model, gap analysis and renderers.
//!
//! Library entry point: [`evaluate`] (the `report` command and the dashboard both call it).
//! A report is evidence, not certification ([`model::DISCLAIMER`]).

pub mod catalogue;
mod engine;
pub mod facts;
pub mod gaps;
pub mod model;
pub mod predicates;
pub mod render;
pub mod trends;

#[cfg(test)]
mod tests;

pub use engine::{Options, Selection, evaluate, rfc3339 as engine_rfc3339};
pub use model::{ControlResult, Report, Status};
