// Verify SD-JWT VCs and presentations with @sd-jwt/sd-jwt-vc, given nothing but the issuer's
// public JWKs, the status list token to answer the status lookup with, and the time.
// stdin: {"issuer_jwks": [...], "status_list_token": "...", "status_jwks": [...], "now": 123,
//         "items": [{"token": "...", "nonce": "..." | null}]}
// stdout: [{"ok": true, "payload": {...}, "kb": {...} | null} | {"ok": false, "message": "..."}]
// The KB-JWT is checked with the cnf.jwk of the credential; aud is returned for the caller.
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { digest } from "@sd-jwt/crypto-nodejs";
import { createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";

const input = JSON.parse(readFileSync(0, "utf8"));

function verifyWith(jwk, data, sig) {
  const header = JSON.parse(Buffer.from(data.split(".")[0], "base64url").toString("utf8"));
  const key = createPublicKey({ key: jwk, format: "jwk" });
  const signature = Buffer.from(sig, "base64url");
  if (header.alg === "ES256" && jwk.kty === "EC") {
    return verify("sha256", Buffer.from(data), { key, dsaEncoding: "ieee-p1363" }, signature);
  }
  if ((header.alg === "EdDSA" || header.alg === "Ed25519") && jwk.kty === "OKP") {
    return verify(null, Buffer.from(data), key, signature);
  }
  return false;
}

const anyOf = (jwks) => async (data, sig) => jwks.some((jwk) => verifyWith(jwk, data, sig));

const vc = new SDJwtVcInstance({
  hasher: digest,
  verifier: anyOf(input.issuer_jwks),
  kbVerifier: async (data, sig, payload) => verifyWith(payload.cnf.jwk, data, sig),
  statusListFetcher: async () => input.status_list_token,
  statusVerifier: anyOf(input.status_jwks),
});

const out = [];
for (const item of input.items) {
  try {
    const options = { currentDate: input.now };
    if (item.nonce) options.keyBindingNonce = item.nonce;
    const result = await vc.verify(item.token, options);
    out.push({ ok: true, header: result.header, payload: result.payload, kb: result.kb ? result.kb.payload : null });
  } catch (err) {
    out.push({ ok: false, message: String(err.message) });
  }
}
process.stdout.write(JSON.stringify(out));
