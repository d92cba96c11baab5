// The web wallet's SD-JWT work (/wallet), pure but for WebCrypto: base64url and SHA-256, the
// checks a browser makes before keeping an SD-JWT VC (RFC 9901 §7.1; typ dc+sd-jwt, the issuer's
// ES256 signature, every Disclosure referenced, cnf = the holder's key), the claims it reveals,
// and a presentation of the requested top-level claims with its KB-JWT (§7.2, §4.3).
//
// Deliberately not here: fetching the issuer's keys, storing, HTTP (wallet_protocol.js).
import { both } from "./page.js";

// A refusal the holder reads: {zh, en}.
export class Refusal extends Error {
  constructor(texts) {
    super(texts.en);
    this.texts = texts;
  }
}
export const refuse = (key, values) => new Refusal(both(key, values));

// ---- base64url, JSON, hashes -----------------------------------------------------------------

export const encoder = new TextEncoder();

export function b64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// Canonical base64url only (issue 11): no padding, no "+/", and no unused bits set in the last
// character, so that one credential has one spelling; decoding then encoding gives the input.
export function unb64url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) throw refuse("errCheck", { m: "base64url" });
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  if (b64url(bytes) !== text) throw refuse("errCheck", { m: "base64url" });
  return bytes;
}

export const decodeJson = (segment) => JSON.parse(new TextDecoder().decode(unb64url(segment)));
export const decodeDisclosure = (d) => JSON.parse(new TextDecoder().decode(unb64url(d)));
export const jsonSegment = (value) => b64url(encoder.encode(JSON.stringify(value)));
export const sha256 = async (text) => b64url(await crypto.subtle.digest("SHA-256", encoder.encode(text)));


// ---- receiving and presenting ----------------------------------------------------------------

// The checks a browser can make before keeping a credential (SD-JWT VC, RFC 9901 §7.1);
// issuerKey(iss, kid) answers the issuer's published key as a CryptoKey.
export async function checkCredential(serialized, { holderJwk, issuerKey }) {
  if (typeof serialized !== "string" || serialized.length > 64 * 1024 || !serialized.includes("~")) {
    throw refuse("errCheck", { m: "not an SD-JWT" });
  }
  const [jwt, ...rest] = serialized.split("~");
  const disclosures = rest.filter((d) => d);
  const [h64, p64, s64] = jwt.split(".");
  const header = decodeJson(h64);
  const payload = decodeJson(p64);
  if (header.typ !== "dc+sd-jwt" || header.alg !== "ES256") {
    throw refuse("errCheck", { m: `typ ${String(header.typ)}, alg ${String(header.alg)}` });
  }
  const key = await issuerKey(String(payload.iss), header.kid);
  const signed = await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" },
    key,
    unb64url(s64),
    encoder.encode(`${h64}.${p64}`),
  );
  if (!signed) throw refuse("errCheck", { m: "signature" });
  const cnf = payload.cnf && payload.cnf.jwk;
  if (!cnf || cnf.x !== holderJwk.x || cnf.y !== holderJwk.y) {
    throw refuse("errCheck", { m: "cnf is not this wallet's key" });
  }
  const now = Math.floor(Date.now() / 1000);
  if (typeof payload.exp === "number" && payload.exp <= now) throw refuse("errCheck", { m: "exp" });
  const claims = await disclosedClaims(payload, disclosures);
  return { payload, claims };
}

// Every Disclosure must be referenced by a digest (§7.1 step 3); the claims they reveal.
async function disclosedClaims(payload, disclosures) {
  const byDigest = new Map();
  for (const d of disclosures) byDigest.set(await sha256(d), decodeDisclosure(d));
  const used = new Set();
  const open = (node) => {
    if (Array.isArray(node)) {
      return node
        .filter((e) => !(e && typeof e === "object" && "..." in e && !byDigest.has(e["..."])))
        .map((e) => {
          if (e && typeof e === "object" && "..." in e) {
            used.add(e["..."]);
            return open(byDigest.get(e["..."])[1]);
          }
          return open(e);
        });
    }
    if (!node || typeof node !== "object") return node;
    const out = {};
    for (const [k, v] of Object.entries(node)) if (k !== "_sd" && k !== "_sd_alg") out[k] = open(v);
    for (const digest of Array.isArray(node._sd) ? node._sd : []) {
      const found = byDigest.get(digest);
      if (found && found.length === 3) {
        used.add(digest);
        out[found[1]] = open(found[2]);
      }
    }
    return out;
  };
  const claims = open(payload);
  if (used.size !== byDigest.size) throw refuse("errCheck", { m: "a Disclosure is not referenced" });
  for (const k of ["iss", "iat", "exp", "nbf", "cnf", "vct", "status", "sub"]) delete claims[k];
  return claims;
}

// The credential with only the Disclosures that reveal the requested top-level claims (and
// everything under them), and a KB-JWT (typ kb+jwt; aud, nonce, iat, sd_hash over the SD-JWT as
// presented) made by sign(header, payload), the holder's key.
export async function presentation(credential, names, { aud, nonce, sign }) {
  const [jwt, ...rest] = credential.split("~");
  const disclosures = rest.filter((d) => d);
  const wanted = new Set(names);
  const digests = await Promise.all(disclosures.map(sha256));
  const byDigest = new Map(digests.map((digest, i) => [digest, disclosures[i]]));
  const chosen = new Set();
  const take = (node) => {
    // Everything nested inside a chosen claim goes with it.
    if (Array.isArray(node)) {
      for (const e of node) {
        if (e && typeof e === "object" && byDigest.has(e["..."])) {
          chosen.add(e["..."]);
          take(decodeDisclosure(byDigest.get(e["..."]))[1]);
        } else take(e);
      }
    } else if (node && typeof node === "object") {
      for (const digest of Array.isArray(node._sd) ? node._sd : []) {
        if (!byDigest.has(digest)) continue;
        chosen.add(digest);
        take(decodeDisclosure(byDigest.get(digest))[2]);
      }
      for (const [k, v] of Object.entries(node)) if (k !== "_sd") take(v);
    }
  };
  const payload = decodeJson(jwt.split(".")[1]);
  for (const digest of Array.isArray(payload._sd) ? payload._sd : []) {
    const d = byDigest.get(digest);
    if (!d) continue;
    const [, name, value] = decodeDisclosure(d);
    if (wanted.has(name)) {
      chosen.add(digest);
      take(value);
    }
  }
  const kept = disclosures.filter((_, i) => chosen.has(digests[i]));
  const presented = `${jwt}~${kept.map((d) => `${d}~`).join("")}`;
  const kb = await sign(
    { typ: "kb+jwt" },
    { iat: Math.floor(Date.now() / 1000), aud, nonce, sd_hash: await sha256(presented) },
  );
  return presented + kb;
}

