//! The Claude Code door: hook payloads in, decisions out; installer, watchdog and alerts.
//!
//! The door only translates ([`adapter`]): every decision is the Gate's.

pub mod adapter;
pub mod alerts;
pub mod calls;
pub mod events;
pub mod failclosed;
pub mod install;
pub mod payload;
pub mod watchdog;
