// Loaded with `node --import` by .ci/after/50-mcp-conformance.sh: the conformance runner has no
// option for request headers, so this adds the gateway's bearer token
// (`Authorization: Bearer $PATCHWORK_HTTP_TOKEN`) to every request this Node process sends to the
// proxy under test (127.0.0.1 or localhost, port $PROXY_PORT), through fetch and through undici.
// Requests to any other address are left alone; without both variables it does nothing.
const token = process.env.PATCHWORK_HTTP_TOKEN;
const port = process.env.PROXY_PORT;

const toProxy = (where) => {
  try {
    const u = new URL(String(where));
    return ["127.0.0.1", "localhost"].includes(u.hostname) && u.port === port;
  } catch {
    return false;
  }
};

/** `headers` (object, flat [k, v, …] array, or array of pairs) with the token added if absent. */
const withToken = (headers) => {
  const value = `Bearer ${token}`;
  if (headers == null) return { authorization: value };
  if (Array.isArray(headers)) {
    const pairs = Array.isArray(headers[0]);
    const names = pairs ? headers.map((p) => p[0]) : headers.filter((_, i) => i % 2 === 0);
    if (names.some((n) => String(n).toLowerCase() === "authorization")) return headers;
    return pairs ? [...headers, ["authorization", value]] : [...headers, "authorization", value];
  }
  if (Object.keys(headers).some((n) => n.toLowerCase() === "authorization")) return headers;
  return { ...headers, authorization: value };
};

if (token && port) {
  const fetch0 = globalThis.fetch;
  globalThis.fetch = (input, init = {}) => {
    const url = input instanceof Request ? input.url : input;
    if (!toProxy(url)) return fetch0(input, init);
    const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
    if (!headers.has("authorization")) headers.set("authorization", `Bearer ${token}`);
    return fetch0(input, { ...init, headers });
  };
  try {
    // The runner's own undici (its `request` does not go through fetch).
    const { createRequire } = await import("node:module");
    const undici = createRequire(process.argv[1])("undici");
    const base = undici.getGlobalDispatcher();
    undici.setGlobalDispatcher(
      base.compose((dispatch) => (opts, handler) =>
        dispatch(toProxy(opts.origin) ? { ...opts, headers: withToken(opts.headers) } : opts, handler),
      ),
    );
  } catch {
    // No undici next to this script (node -e, npm, the reference server): fetch is enough.
  }
}
