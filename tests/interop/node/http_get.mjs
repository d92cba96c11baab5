// Fetch URLs with node's own fetch (undici), as a browser-like client would: it asks for
// gzip by itself and decodes it. stdin: {"requests": [{"url", "method"?, "headers"?}]}
// stdout: [{"status", "headers": {name: value}, "body": "<decoded text>"} | {"error"}]
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const out = [];
for (const { url, method, headers } of input.requests) {
  try {
    const response = await fetch(url, {
      method: method ?? "GET",
      headers: headers ?? {},
      signal: AbortSignal.timeout(10000),
    });
    out.push({
      status: response.status,
      headers: Object.fromEntries(response.headers.entries()),
      body: await response.text(),
    });
  } catch (err) {
    out.push({ error: `${err.name}: ${err.message}` });
  }
}
process.stdout.write(JSON.stringify(out));
