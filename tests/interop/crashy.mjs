// A small stdio MCP server for the aggregation tests: `echo` answers with its text and the
// server's pid (a new pid shows a restart), `crash` ends the process, `sleep` answers after `ms`.
// `grow` adds a tool `extra` and announces it with notifications/tools/list_changed.
// Resources: any `file://` URI is read from disk (to show the gateway checks such reads).
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  ReadResourceRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";

const tool = (name, properties = {}) => ({
  name,
  description: `crashy ${name}`,
  inputSchema: { type: "object", properties },
});
const server = new Server({ name: "crashy", version: "1.0.0" }, { capabilities: { tools: { listChanged: true }, resources: {} } });
let grown = false;
server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [
    tool("echo", { text: { type: "string" } }),
    tool("crash"),
    tool("sleep", { ms: { type: "number" } }),
    tool("grow"),
    ...(grown ? [tool("extra")] : []),
  ],
}));
server.setRequestHandler(CallToolRequestSchema, async (req) => {
  const args = req.params.arguments ?? {};
  switch (req.params.name) {
    case "echo":
      return { content: [{ type: "text", text: `${args.text} from ${process.pid}` }] };
    case "crash":
      process.exit(3);
    case "grow":
      grown = true;
      await server.sendToolListChanged();
      return { content: [{ type: "text", text: "grown" }] };
    case "extra":
      return { content: [{ type: "text", text: "extra here" }] };
    case "sleep":
      await new Promise((r) => setTimeout(r, args.ms ?? 1000));
      return { content: [{ type: "text", text: "slept" }] };
    default:
      throw new Error(`no tool ${req.params.name}`);
  }
});
server.setRequestHandler(ReadResourceRequestSchema, async (req) => ({
  contents: [{ uri: req.params.uri, mimeType: "text/plain", text: readFileSync(fileURLToPath(req.params.uri), "utf8") }],
}));
await server.connect(new StdioServerTransport());
