// Interop driver for patchwork-gateway's MCP door, using the official TypeScript SDK client.
// Usage: node client.mjs SCENARIO. Configuration comes from the environment:
//   GATEWAY   path of the patchwork-gateway binary
//   PROJECT   a project folder holding notes.txt and a .env with SECRET
//   SECRET    the secret value that must never appear in any answer
//   POLICY    the --policy to run the gateway with
// Exits 0 when every check of the scenario held; otherwise prints what failed and exits 1.
// Run by tests/mcp_interop.rs; packages come from .ci/steps/40-mcp-interop.sh.

import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { request } from "node:http";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const here = dirname(fileURLToPath(import.meta.url));
const { GATEWAY, PROJECT, SECRET, POLICY = "strict" } = process.env;
const FS_SERVER = join(here, "node_modules/@modelcontextprotocol/server-filesystem/dist/index.js");
const EVERYTHING = join(here, "node_modules/@modelcontextprotocol/server-everything/dist/index.js");
// The HTTP door's bearer token (every TCP request needs it, loopback included).
const HTTP_TOKEN = "interop-bearer-token-31c9d2";
const gatewayEnv = { ...process.env, SECRET_TOKEN: SECRET, PATCHWORK_HTTP_TOKEN: HTTP_TOKEN };
const bearer = { authorization: `Bearer ${HTTP_TOKEN}` };

const text = (result) => JSON.stringify(result);
function assertNoSecret(what, result) {
  assert.ok(!text(result).includes(SECRET), `${what}: the secret leaked: ${text(result)}`);
}
function assertRefused(what, result) {
  assert.equal(result.isError, true, `${what}: expected a refusal, got ${text(result)}`);
  assert.match(result.content[0].text, /patchwork-gateway policy/, `${what}: ${text(result)}`);
  assert.match(result.content[0].text, /\(rule: [^)]+\)/, `${what}: ${text(result)}`);
  assertNoSecret(what, result);
}

/** A client declaring sampling, elicitation and roots, with handlers that answer them. */
function richClient(seen) {
  const client = new Client(
    { name: "interop-test", version: "1.0.0" },
    { capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } },
  );
  client.setRequestHandler(CreateMessageRequestSchema, async () => {
    seen.sampling = (seen.sampling ?? 0) + 1;
    return { role: "assistant", model: "test-model", content: { type: "text", text: "sampled-by-test" } };
  });
  client.setRequestHandler(ElicitRequestSchema, async () => {
    seen.elicitation = (seen.elicitation ?? 0) + 1;
    return { action: "accept", content: { name: "Ada", email: "ada@example.com", age: 36, subscribe: true } };
  });
  client.setRequestHandler(ListRootsRequestSchema, async () => ({
    roots: [{ uri: `file://${PROJECT}`, name: "interop-project" }],
  }));
  client.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => {
    (seen.logs ??= []).push(n.params);
  });
  return client;
}

async function stdioClient(args, client = new Client({ name: "interop-test", version: "1.0.0" })) {
  const transport = new StdioClientTransport({
    command: GATEWAY,
    args: ["--policy", POLICY, ...args],
    cwd: PROJECT,
    env: gatewayEnv,
    stderr: "inherit",
  });
  await client.connect(transport);
  return client;
}

async function directClient(command, args, client = new Client({ name: "interop-test", version: "1.0.0" })) {
  const transport = new StdioClientTransport({ command, args, cwd: PROJECT, stderr: "inherit" });
  await client.connect(transport);
  return client;
}

/** Starts the gateway on a free loopback port and returns [url, child]. */
async function httpGateway(args) {
  const child = spawn(GATEWAY, ["--policy", POLICY, ...args, "--http", "127.0.0.1:0"], {
    cwd: PROJECT,
    env: gatewayEnv,
    stdio: ["ignore", "inherit", "pipe"],
  });
  const url = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${buf}`)), 20000);
    child.stderr.on("data", (d) => {
      process.stderr.write(d);
      buf += d;
      const m = buf.match(/MCP at (http:\/\/\S+\/mcp)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.on("exit", (code) => reject(new Error(`gateway exited with ${code}: ${buf}`)));
  });
  return [url, child];
}

async function builtins(client) {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  assert.deepEqual(names, ["edit_file", "list_directory", "read_file", "run_command", "search_files", "write_file"]);
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
  assert.equal(byName.read_file.annotations.readOnlyHint, true);
  assert.equal(byName.run_command.annotations.destructiveHint, true);
  assert.deepEqual(byName.run_command.inputSchema.required, ["command"]);

  const echo = await client.callTool({ name: "run_command", arguments: { command: "echo hello-from-gateway" } });
  assert.equal(echo.isError, false, text(echo));
  assert.match(echo.content[0].text, /exit code: 0/);
  assert.match(echo.content[0].text, /hello-from-gateway/);

  const wrote = await client.callTool({ name: "write_file", arguments: { path: "out/new.txt", content: "fresh\n" } });
  assert.equal(wrote.isError, false, text(wrote));
  assert.equal(readFileSync(join(PROJECT, "out/new.txt"), "utf8"), "fresh\n");
  const read = await client.callTool({ name: "read_file", arguments: { path: "notes.txt" } });
  assert.equal(read.content[0].text, readFileSync(join(PROJECT, "notes.txt"), "utf8"));

  assertRefused("read .env", await client.callTool({ name: "read_file", arguments: { path: ".env" } }));
  assertRefused("cat .env", await client.callTool({ name: "run_command", arguments: { command: "cat .env" } }));
  assertRefused(
    "read .env via ..",
    await client.callTool({ name: "read_file", arguments: { path: "out/../.env" } }),
  );

  const slow = await client.callTool({ name: "run_command", arguments: { command: "sleep 5", timeout_ms: 300 } });
  assert.equal(slow.isError, true, text(slow));
  assert.match(slow.content[0].text, /timed out/);

  const abort = new AbortController();
  setTimeout(() => abort.abort(), 300);
  await assert.rejects(
    client.callTool({ name: "run_command", arguments: { command: "sleep 20" } }, undefined, { signal: abort.signal }),
  );
  await client.ping();
  await assert.rejects(client.callTool({ name: "no_such_tool", arguments: {} }), /unknown tool/);
}

const CRASHY = join(here, "crashy.mjs");

const scenarios = {
  async aggregate() {
    const config = join(PROJECT, "gateway.yaml");
    writeFileSync(
      config,
      [
        "request_timeout_secs: 30",
        "servers:",
        "  crashy:",
        `    command: ${JSON.stringify(process.execPath)}`,
        `    args: [${JSON.stringify(CRASHY)}]`,
        "    timeout_secs: 1",
        "  everything:",
        `    command: ${JSON.stringify(process.execPath)}`,
        `    args: [${JSON.stringify(EVERYTHING)}, stdio]`,
        "",
      ].join("\n"),
    );
    const client = await stdioClient(["serve", "--config", config]);
    const names = (await client.listTools()).tools.map((t) => t.name);
    for (const n of ["read_file", "run_command", "crashy__echo", "crashy__crash", "everything__echo", "everything__get-sum"]) {
      assert.ok(names.includes(n), `${n} missing from ${names}`);
    }
    const echo = (text) => client.callTool({ name: "crashy__echo", arguments: { text } });
    const first = await echo("one");
    assert.match(first.content[0].text, /^one from \d+$/);
    const sum = await client.callTool({ name: "everything__get-sum", arguments: { a: 1, b: 2 } });
    assert.match(text(sum), /3/);

    // Per-request timeout: the slow call ends as an isError result; the upstream stays usable.
    const slow = await client.callTool({ name: "crashy__sleep", arguments: { ms: 5000 } });
    assert.equal(slow.isError, true, text(slow));
    assert.match(slow.content[0].text, /did not answer within 1 s/);

    // A crashed upstream is restarted with backoff; the other upstream is not disturbed.
    await assert.rejects(client.callTool({ name: "crashy__crash", arguments: {} }));
    assert.match(text(await client.callTool({ name: "everything__get-sum", arguments: { a: 2, b: 2 } })), /4/);
    let again;
    for (let i = 0; i < 50 && !again; i++) {
      try {
        const r = await echo("two");
        if (!r.isError) again = r;
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.ok(again, "the crashed upstream was not restarted");
    assert.match(again.content[0].text, /^two from \d+$/);
    assert.notEqual(again.content[0].text.split(" ").pop(), first.content[0].text.split(" ").pop());

    // list_changed from an upstream reaches the agent, and the new tool is offered and callable.
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      changed++;
    });
    await client.callTool({ name: "crashy__grow", arguments: {} });
    for (let i = 0; i < 100 && changed === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(changed > 0, "no tools/list_changed reached the agent");
    // A tool added after the first listing waits for the user's approval (strict: withheld from
    // the list and refused); once approved with `pins approve`, it runs.
    assert.ok(!(await client.listTools()).tools.some((t) => t.name === "crashy__extra"));
    assertRefused("unapproved new tool", await client.callTool({ name: "crashy__extra", arguments: {} }));
    const approved = spawnSync(GATEWAY, ["pins", "approve", "crashy", "extra"], { env: process.env });
    assert.equal(approved.status, 0, String(approved.stderr));
    assert.match(text(await client.callTool({ name: "crashy__extra", arguments: {} })), /extra here/);

    // resources/read of a file: URI is checked like a file read; a refusal is a JSON-RPC error
    // (resources have no isError result) that names the rule and never carries the content.
    const notes = await client.readResource({ uri: `file://${PROJECT}/notes.txt` });
    assert.equal(notes.contents[0].text, readFileSync(join(PROJECT, "notes.txt"), "utf8"));
    const err = await client.readResource({ uri: `file://${PROJECT}/.env` }).then(
      (r) => assert.fail(`read of .env answered: ${text(r)}`),
      (e) => e,
    );
    assert.equal(err.code, -32010, String(err));
    assert.match(err.message, /patchwork-gateway policy refused/);
    assert.ok(!String(err.message).includes(SECRET) && !text(err.data).includes(SECRET));

    // Refusals apply in aggregation too, and the ledger names the upstream.
    assertRefused("read .env", await client.callTool({ name: "read_file", arguments: { path: ".env" } }));
    await client.close();
  },

  async "builtins-stdio"() {
    const client = await stdioClient(["serve"]);
    await builtins(client);
    await client.close();
  },

  async "builtins-http"() {
    const [url, child] = await httpGateway(["serve"]);
    try {
      const client = new Client({ name: "interop-test", version: "1.0.0" });
      await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: bearer } }));
      await builtins(client);
      await client.close();
      // DNS rebinding: a foreign Host or Origin is refused before any MCP handling.
      const init = {
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } },
      };
      // node:http, not fetch: fetch does not let a caller set Host.
      const post = (headers) =>
        new Promise((resolve, reject) => {
          const req = request(
            url,
            {
              method: "POST",
              headers: {
                "content-type": "application/json",
                accept: "application/json, text/event-stream",
                ...bearer,
                ...headers,
              },
            },
            (res) => {
              res.resume();
              resolve({ status: res.statusCode });
            },
          );
          req.on("error", reject);
          req.end(JSON.stringify(init));
        });
      assert.equal((await post({ origin: "http://evil.example" })).status, 403);
      assert.equal((await post({ host: "evil.example" })).status, 403);
      assert.equal((await post({})).status, 200);
      // Without the token (or with another one) nothing is served, loopback or not.
      assert.equal((await post({ authorization: "" })).status, 401);
      assert.equal((await post({ authorization: "Bearer not-the-token" })).status, 401);
    } finally {
      child.kill("SIGTERM");
    }
  },

  async "wrap-filesystem"() {
    const direct = await directClient(process.execPath, [FS_SERVER, PROJECT]);
    const guarded = await stdioClient(["wrap", "--name", "fs", "--", process.execPath, FS_SERVER, PROJECT]);
    const names = (r) => r.tools.map((t) => t.name);
    assert.deepEqual(names(await guarded.listTools()), names(await direct.listTools()));

    const args = { name: "read_text_file", arguments: { path: join(PROJECT, "notes.txt") } };
    const viaGateway = await guarded.callTool(args);
    assert.equal(viaGateway.isError ?? false, false, text(viaGateway));
    assert.deepEqual(viaGateway, await direct.callTool(args));

    assertRefused(
      "read .env",
      await guarded.callTool({ name: "read_text_file", arguments: { path: join(PROJECT, ".env") } }),
    );
    // A refused write never reaches the upstream: the file stays untouched.
    const settings = join(PROJECT, ".claude", "settings.json");
    const before = readFileSync(settings, "utf8");
    assertRefused(
      "overwrite the agent's settings",
      await guarded.callTool({ name: "write_file", arguments: { path: settings, content: "{}" } }),
    );
    assert.equal(readFileSync(settings, "utf8"), before, "the upstream saw the refused write");
    await guarded.close();
    await direct.close();
  },

  async "wrap-everything"() {
    const seenDirect = {};
    const seen = {};
    const direct = await directClient(process.execPath, [EVERYTHING, "stdio"], richClient(seenDirect));
    const guarded = await stdioClient(
      ["wrap", "--name", "everything", "--", process.execPath, EVERYTHING, "stdio"],
      richClient(seen),
    );
    const toolNames = (r) => r.tools.map((t) => t.name).sort();
    assert.deepEqual(toolNames(await guarded.listTools()), toolNames(await direct.listTools()));

    // An allowed call returns the upstream's result unchanged.
    const echo = { name: "echo", arguments: { message: "through the gate" } };
    assert.deepEqual(await guarded.callTool(echo), await direct.callTool(echo));
    const sum = { name: "get-sum", arguments: { a: 2, b: 40 } };
    assert.deepEqual(await guarded.callTool(sum), await direct.callTool(sum));

    // The upstream runs with a minimal environment: the gateway's secrets never reach it.
    assertNoSecret("get-env", await guarded.callTool({ name: "get-env", arguments: {} }));

    // Resources (all pages), templates, reads, prompts, completion pass through.
    const allResources = async (c) => {
      const out = [];
      let cursor;
      do {
        const page = await c.listResources(cursor ? { cursor } : undefined);
        out.push(...page.resources);
        cursor = page.nextCursor;
      } while (cursor);
      return out;
    };
    const resources = await allResources(guarded);
    assert.deepEqual(resources, await allResources(direct));
    assert.ok(resources.length > 0);
    assert.deepEqual(await guarded.readResource({ uri: resources[0].uri }), await direct.readResource({ uri: resources[0].uri }));
    assert.deepEqual(await guarded.listResourceTemplates(), await direct.listResourceTemplates());
    assert.deepEqual(await guarded.listPrompts(), await direct.listPrompts());
    const prompt = { name: "args-prompt", arguments: { city: "Lyon", state: "Rhône" } };
    assert.deepEqual(await guarded.getPrompt(prompt), await direct.getPrompt(prompt));
    const completion = {
      ref: { type: "ref/prompt", name: "completable-prompt" },
      argument: { name: "department", value: "E" },
    };
    assert.deepEqual(await guarded.complete(completion), await direct.complete(completion));
    await guarded.ping();

    // Progress: tokens are remapped both ways.
    const progress = [];
    const long = await guarded.callTool(
      { name: "trigger-long-running-operation", arguments: { duration: 1, steps: 3 } },
      undefined,
      { onprogress: (p) => progress.push(p) },
    );
    assert.equal(long.isError ?? false, false, text(long));
    assert.ok(progress.length >= 2, `progress notifications: ${text(progress)}`);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i].progress > progress[i - 1].progress);

    // Cancellation: the agent gives up, the gateway stays usable.
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 300);
    await assert.rejects(
      guarded.callTool({ name: "trigger-long-running-operation", arguments: { duration: 20, steps: 20 } }, undefined, {
        signal: abort.signal,
      }),
    );
    assert.deepEqual(await guarded.callTool(echo), await direct.callTool(echo));

    // Server→client requests reach the agent because it declared the capabilities.
    const sampled = await guarded.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 5 } });
    assert.match(text(sampled), /sampled-by-test/);
    assert.equal(seen.sampling, 1);
    const elicited = await guarded.callTool({ name: "trigger-elicitation-request", arguments: {} });
    assert.match(text(elicited), /Ada/);
    assert.equal(seen.elicitation, 1);
    const roots = await guarded.callTool({ name: "get-roots-list", arguments: {} });
    assert.match(text(roots), /interop-project/);

    // Logging: level setting and log notifications pass through.
    await guarded.setLoggingLevel("debug");
    await guarded.callTool({ name: "toggle-simulated-logging", arguments: {} });
    const deadline = Date.now() + 8000;
    while (!(seen.logs?.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(seen.logs?.length > 0, "no log notification arrived");

    await guarded.close();
    await direct.close();
  },
};

const name = process.argv[2];
if (!scenarios[name]) {
  console.error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(", ")}`);
  process.exit(2);
}
try {
  await scenarios[name]();
  console.log(`${name}: ok`);
  process.exit(0);
} catch (e) {
  console.error(`${name}: FAILED\n${e.stack ?? e}`);
  process.exit(1);
}
