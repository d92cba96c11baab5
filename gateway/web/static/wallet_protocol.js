// The web wallet's protocols (/wallet): OpenID4VCI 1.0 receiving (pre-authorised code + PIN)
// and OpenID4VP 1.0 presenting (direct_post), talking to issuers and counters of any origin
// (their endpoints answer with CORS), every call bounded in time and size, every refusal a
// Refusal in zh and en naming the step.
//
// Deliberately not here: who a counter is (the gateway resolves it: wallet.js asks
// /wallet/api/requests/resolve), the SD-JWT work itself (wallet_sdjwt.js), the page.
import { both, errorFrom } from "./page.js";
import {
  checkCredential,
  presentation,
  refuse,
  Refusal,
  sha256,
} from "./wallet_sdjwt.js";
import { allOf, signJws, store } from "./wallet_store.js";

const PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
export const OFFER_SCHEME = "openid-credential-offer://";
export const MAX_LINK = 4096;
const MAX_ANSWER_BYTES = 256 * 1024;
const MAX_CREDENTIALS = 100;
const MAX_HISTORY = 500;
const TIMEOUT_MS = 20000; // one call to an issuer or a counter, body included
const MAX_FIELD_ERRORS = 20;

// One call to an absolute URL: its JSON {…} once it answered 2xx; a Refusal naming the step
// otherwise. The body is read no further than MAX_ANSWER_BYTES.
export async function remote(step, url, init) {
  const { response, text } = await fetched(step, url, init, MAX_ANSWER_BYTES);
  let data = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch (_) {
    data = null;
  }
  if (!response.ok) throw refusedBy(step, response.status, data);
  if (!data || typeof data !== "object") throw named(step, "errAnswer", { c: response.status });
  return data;
}

// The same for an answer that is text (a JWS), read no further than ``limit`` bytes.
export async function remoteText(step, url, init, limit) {
  const { response, text } = await fetched(step, url, init, limit);
  if (!response.ok) {
    let data = null;
    try {
      data = JSON.parse(text);
    } catch (_) {
      data = null;
    }
    throw refusedBy(step, response.status, data);
  }
  return text;
}

function named(step, key, values) {
  const stepName = both(step);
  return new Refusal({
    zh: fill2("zh", key, { s: stepName.zh, ...values }),
    en: fill2("en", key, { s: stepName.en, ...values }),
  });
}

function refusedBy(step, status, data) {
  const stepName = both(step);
  const said = messageOf(status, data);
  const refusal = new Refusal({
    zh: fill2("zh", "errStep", { s: stepName.zh, m: said.zh }),
    en: fill2("en", "errStep", { s: stepName.en, m: said.en }),
  });
  refusal.status = status;
  refusal.fields = fieldErrors(data);
  return refusal;
}

// The house shape's per-field messages ({detail: {errors: [{field, message, message_en}]}}),
// at most MAX_FIELD_ERRORS of them: [{field, zh, en}].
function fieldErrors(data) {
  const detail = data && typeof data === "object" ? data.detail : null;
  const errors = detail && typeof detail === "object" && Array.isArray(detail.errors) ? detail.errors : [];
  return errors
    .slice(0, MAX_FIELD_ERRORS)
    .filter((e) => e && typeof e === "object" && typeof e.field === "string")
    .map((e) => ({
      field: e.field.slice(0, 64),
      zh: String(e.message || e.message_en || "").slice(0, 400),
      en: String(e.message_en || e.message || "").slice(0, 400),
    }));
}

// The bytes of an answer (an image, say) as a data: URL of ``mediaType``, read no further than
// ``limit`` bytes; a Refusal naming the step when it failed or is of another media type.
export async function remoteDataUrl(step, url, mediaType, limit) {
  const { response, bytes } = await fetched(step, url, { headers: { Accept: mediaType } }, limit, true);
  if (!response.ok) throw refusedBy(step, response.status, null);
  const got = String(response.headers.get("Content-Type") || "").split(";")[0].trim();
  if (got !== mediaType) throw named(step, "errAnswer", { c: response.status });
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return `data:${mediaType};base64,${btoa(binary)}`;
}

// {response, text} (or {response, bytes} when ``raw``) of one bounded call (TIMEOUT_MS, body and
// all), or a Refusal naming the step.
async function fetched(step, url, init, limit, raw) {
  const controller = new AbortController();
  const timer = window.setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  let bytes;
  try {
    response = await fetch(url, {
      ...init,
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
      signal: controller.signal,
    });
    bytes = await boundedBytes(response, limit);
  } catch (err) {
    throw named(step, err && err.name === "AbortError" ? "errTimeout" : "errReach");
  } finally {
    window.clearTimeout(timer);
  }
  if (bytes === null) throw named(step, "errTooBig");
  return raw ? { response, bytes } : { response, text: new TextDecoder().decode(bytes) };
}

const fill2 = (which, key, values) => both(key, values)[which];

// The body's bytes, read no further than ``limit`` bytes (null past it: the rest is dropped).
async function boundedBytes(response, limit) {
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks = [];
  let size = 0;
  for (let part = await reader.read(); !part.done; part = await reader.read()) {
    size += part.value.byteLength;
    if (size > limit) {
      reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(part.value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    all.set(chunk, at);
    at += chunk.byteLength;
  }
  return all;
}

// What an error answer says: the OAuth shape with our message/message_en, or the house shape.
function messageOf(status, data) {
  if (data && typeof data === "object" && (data.message || data.message_en)) {
    const zh = String(data.message || data.message_en);
    const en = String(data.message_en || data.error_description || data.message);
    const code = data.error ? ` (${data.error})` : "";
    return { zh: zh + code, en: en + code };
  }
  return errorFrom(status, data);
}

// ---- receiving (OpenID4VCI 1.0) ----------------------------------------------------------------

export function offerQuery(link) {
  let text = link.trim();
  if (text.length > MAX_LINK) throw refuse("errTooLong", { n: MAX_LINK });
  if (!text.startsWith(OFFER_SCHEME)) throw refuse("errOffer");
  const query = new URLSearchParams(text.slice(text.indexOf("?") + 1));
  return query;
}

async function offerDocument(link) {
  const query = offerQuery(link);
  if (query.has("credential_offer")) {
    try {
      return JSON.parse(query.get("credential_offer"));
    } catch (_) {
      throw refuse("errOffer");
    }
  }
  const uri = query.get("credential_offer_uri");
  if (!uri || !/^https?:\/\//.test(uri)) throw refuse("errOffer");
  return remote("stepOffer", uri, { headers: { Accept: "application/json" } });
}

async function issuerKey(iss, kid) {
  const url = new URL(iss);
  const meta = await remote(
    "stepKeys",
    `${url.origin}/.well-known/jwt-vc-issuer${url.pathname.replace(/\/$/, "")}`,
    { headers: { Accept: "application/json" } },
  );
  if (meta.issuer !== iss) throw refuse("errCheck", { m: `issuer ${String(meta.issuer)}` });
  const keys = (meta.jwks && Array.isArray(meta.jwks.keys) ? meta.jwks.keys : []).slice(0, 64);
  const jwk = keys.find((k) => k && k.kid === kid && k.kty === "EC" && k.crv === "P-256");
  if (!jwk) throw refuse("errCheck", { m: `no ES256 key ${String(kid).slice(0, 60)}` });
  return crypto.subtle.importKey(
    "jwk",
    { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y },
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
}

export async function receive(link, pin, holder) {
  const offer = await offerDocument(link);
  const issuer = String(offer.credential_issuer || "").replace(/\/+$/, "");
  const ids = offer.credential_configuration_ids;
  const grant = offer.grants && offer.grants[PRE_AUTHORIZED];
  if (!/^https?:\/\//.test(issuer) || !Array.isArray(ids) || ids.length !== 1 || !grant) {
    throw refuse("errOffer");
  }
  const json = { headers: { Accept: "application/json" } };
  const meta = await remote("stepMeta", `${issuer}/.well-known/openid-credential-issuer`, json);
  if (String(meta.credential_issuer || "").replace(/\/+$/, "") !== issuer) {
    throw refuse("errCheck", { m: `credential_issuer ${String(meta.credential_issuer)}` });
  }
  const server = (meta.authorization_servers && meta.authorization_servers[0]) || issuer;
  const as = await remote(
    "stepMeta",
    `${String(server).replace(/\/+$/, "")}/.well-known/oauth-authorization-server`,
    json,
  );
  const token = await remote("stepToken", String(as.token_endpoint), {
    method: "POST",
    headers: { Accept: "application/json" },
    body: new URLSearchParams({
      grant_type: PRE_AUTHORIZED,
      "pre-authorized_code": String(grant["pre-authorized_code"]),
      tx_code: pin,
    }),
  });
  const nonce = await remote("stepNonce", String(meta.nonce_endpoint), { method: "POST", ...json });
  const proof = await signJws(
    holder,
    { typ: "openid4vci-proof+jwt", jwk: holder.jwk },
    { aud: issuer, iat: Math.floor(Date.now() / 1000), nonce: String(nonce.c_nonce) },
  );
  const answer = await remote("stepCredential", String(meta.credential_endpoint), {
    method: "POST",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      Authorization: `Bearer ${token.access_token}`,
    },
    body: JSON.stringify({ credential_configuration_id: ids[0], proofs: { jwt: [proof] } }),
  });
  const serialized = answer.credentials && answer.credentials[0] && answer.credentials[0].credential;
  const checked = await checkCredential(serialized, { holderJwk: holder.jwk, issuerKey });
  const config = (meta.credential_configurations_supported || {})[ids[0]] || {};
  const display = (config.credential_metadata && config.credential_metadata.display) || [];
  const named = (prefix) => (display.find((d) => String(d.locale || "").startsWith(prefix)) || {}).name;
  const labels = {};
  for (const c of (config.credential_metadata && config.credential_metadata.claims) || []) {
    const path = Array.isArray(c.path) ? c.path[0] : null;
    const shown = Array.isArray(c.display) ? c.display : [];
    // SD-JWT VC Type Metadata names a claim's display text "label" ("name" in older drafts).
    const pick = (p) => {
      const d = shown.find((x) => String(x.locale || "").startsWith(p)) || {};
      return d.label || d.name;
    };
    if (path) labels[path] = { zh: pick("zh") || path, en: pick("en") || path };
  }
  const record = {
    id: (await sha256(serialized)).slice(0, 16),
    type: ids[0],
    typeName: { zh: named("zh") || ids[0], en: named("en") || ids[0] },
    issuer: checked.payload.iss,
    vct: checked.payload.vct,
    issuedAt: checked.payload.iat,
    expires: checked.payload.exp || null,
    claims: checked.claims,
    labels,
    credential: serialized,
    receivedAt: Date.now(),
  };
  if ((await allOf("credentials")).length >= MAX_CREDENTIALS) {
    throw refuse("errFull", { n: MAX_CREDENTIALS });
  }
  await store("credentials", "readwrite", (s) => s.put(record));
  return record;
}

// ---- presenting (OpenID4VP 1.0) ----------------------------------------------------------------

export async function present(asked, record, holder) {
  const vp = await presentation(record.credential, asked.fields.map((f) => f.name), {
    aud: asked.client_id,
    nonce: asked.nonce,
    sign: (header, payload) => signJws(holder, header, payload),
  });
  const entry = {
    at: Date.now(),
    counter: asked.verifier.name,
    city: asked.verifier.city,
    clientId: asked.client_id,
    credential: record.id,
    type: asked.credential_type,
    fields: asked.fields,
    purpose: asked.purpose,
    accepted: false,
    answer: null,
  };
  try {
    await remote("stepResponse", asked.response_uri, {
      method: "POST",
      headers: { Accept: "application/json" },
      body: new URLSearchParams({ vp_token: JSON.stringify({ [asked.query_id]: [vp] }), state: asked.state }),
    });
    entry.accepted = true;
  } catch (err) {
    entry.answer = err instanceof Refusal ? err.texts : { zh: String(err), en: String(err) };
  }
  const all = await allOf("history");
  await store("history", "readwrite", (s) => {
    for (const old of all.slice(0, Math.max(0, all.length - MAX_HISTORY + 1))) s.delete(old.seq);
    return s.add(entry);
  });
  return entry;
}
