//! The MCP door: the gateway as an MCP server with builtin tools, wrapping other MCP servers.
