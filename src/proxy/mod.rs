//! The MCP door: the gateway as an MCP server with builtin tools, wrapping and aggregating
//! other MCP servers. Every `tools/call` goes through the Gate ([`guard`]); nothing here
//! decides anything.

pub mod aggregate;
pub mod builtin;
pub mod guard;
pub mod http;
pub mod http_token;
pub mod passthrough;
pub mod server;
pub mod trust;
pub mod upstream;

use anyhow::{Context, Result};
use rmcp::ServiceExt;
use server::{Config, Gateway};
use std::sync::Arc;

/// Serves MCP on stdin/stdout until the client closes stdin.
pub async fn serve_stdio(guard: Arc<guard::Guard>, config: Config) -> Result<()> {
    let gateway = Gateway::new(guard, Arc::new(config));
    let running = gateway
        .serve(rmcp::transport::stdio_pipes())
        .await
        .context("MCP initialization on stdio failed")?;
    let reason = running.waiting().await?;
    tracing::info!("stdio session ended: {reason:?}");
    Ok(())
}
