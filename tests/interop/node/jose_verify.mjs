// Verify compact JWS tokens with panva/jose and nothing but a published JWK Set.
// stdin: {"tokens": [...], "jwks": {...}} or {"tokens": [...], "jwks_url": "http://..."}
// stdout: [{"ok": true, "header": {...}, "payload": {...}} | {"ok": false, "code", "message"}]
import { compactVerify, createLocalJWKSet, createRemoteJWKSet } from "jose";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));
const keys = input.jwks_url
  ? createRemoteJWKSet(new URL(input.jwks_url), { timeoutDuration: 10000 })
  : createLocalJWKSet(input.jwks);
const out = [];
for (const token of input.tokens) {
  try {
    const { payload, protectedHeader } = await compactVerify(token, keys);
    out.push({ ok: true, header: protectedHeader, payload: JSON.parse(new TextDecoder().decode(payload)) });
  } catch (err) {
    out.push({ ok: false, code: err.code ?? err.name, message: String(err.message) });
  }
}
process.stdout.write(JSON.stringify(out));
