//! patchwork-gateway: a tool gateway for AI coding agents.
//!
//! Every tool call, whichever door it arrives through (a Claude Code hook or the MCP server),
//! becomes a [`call::ToolCall`], is classified and checked against a policy by the
//! [`gate::Gate`], and is written to the tamper-evident [`ledger`] before it is forwarded or
//! refused.

pub mod call;
pub mod cli;
pub mod compliance;
pub mod gate;
pub mod home;
pub mod hook;
pub mod ledger;
pub mod net;
pub mod pins;
pub mod policy;
pub mod proxy;
pub mod ship;
pub mod unix_socket;
pub mod views;
