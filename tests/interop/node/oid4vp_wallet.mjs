// A wallet written with @openid4vc/openid4vp (OpenID4VP 1.0), dcql and @sd-jwt/core: it takes
// a counter's openid4vp:// link, lets the library parse it, fetch the request object by its
// request_uri, verify it and validate the request, matches the DCQL query with dcql (the
// library leaves DCQL to it), presents the matching claims with a KB-JWT by the holder key
// (@sd-jwt/core), and lets the library submit the direct_post response.
//
// stdin: {"link": "openid4vp://?client_id=…&request_uri=…",
//         "anchor": {"entity_id": "http://…", "kid": "<RFC 7638 thumbprint>"},
//         "holder_jwk": {private JWK, P-256}, "credential": "<SD-JWT VC issued to it>",
//         "also_disclose": ["claim", …]?   (misbehave: disclose more than asked),
//         "kb_nonce": "…"?                 (misbehave: sign another nonce into the KB-JWT)}
// stdout: {"client": {prefix, identifier, effective}, "version", "chain": [entity ids],
//          "query": {dcql query}, "frame": {…}, "status": 200, "body": {…}}
//       or {"refused": "<the library's error>"} when the wallet refuses the request.
//
// For the openid_federation: client identifier prefix (OpenID4VP 1.0 §5.9.3) the library
// decides nothing about trust: it hands the request object to the verifyJwt callback with the
// signer {method: "federation", kid, trustChain} and expects the wallet to resolve the
// verifier. So does this script, with fetch + jose only (OpenID Federation 1.0 §10): the
// counter's entity configuration, each superior's configuration and subordinate statement up to
// the anchor, every signature checked with the keys its superior vouches for, the anchor's own
// configuration checked with the one key whose thumbprint the caller pinned. The request object
// is then verified with the counter's key as its superior's statement lists it.
//
// The library refuses http:// URLs by default (OpenID4VP wants https); the test serves on
// loopback http, so this script turns on the library's own switch (allowInsecureUrls).
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { setGlobalConfig } from "@openid4vc/oauth2";
import { Openid4vpClient } from "@openid4vc/openid4vp";
import { SDJwtInstance } from "@sd-jwt/core";
import { ES256, digest } from "@sd-jwt/crypto-nodejs";
import { DcqlQuery } from "dcql";
import * as jose from "jose";

const MAX_DEPTH = 5; // entity statements between the counter and the anchor, at most
const MAX_BYTES = 64 * 1024; // of one fetched document
const STATEMENT_TYP = "entity-statement+jwt";

setGlobalConfig({ allowInsecureUrls: true });
const input = JSON.parse(readFileSync(0, "utf8"));
const now = () => Math.floor(Date.now() / 1000);

async function fetchBounded(url, init = {}) {
  return fetch(url, { ...init, signal: AbortSignal.timeout(10000) });
}

async function getStatement(url) {
  const response = await fetchBounded(url, { headers: { Accept: `application/${STATEMENT_TYP}` } });
  const text = await response.text();
  if (response.status !== 200 || text.length > MAX_BYTES) {
    throw new Error(`expected an entity statement at ${url}, found HTTP ${response.status}`);
  }
  return text.trim();
}

// A statement verified with `keys` (a JWK Set), its typ, iss, sub and exp checked.
async function verifyStatement(token, keys, { iss, sub }) {
  const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createLocalJWKSet(keys), {
    typ: STATEMENT_TYP,
    currentDate: new Date(now() * 1000),
  });
  if (payload.iss !== iss || payload.sub !== sub) {
    throw new Error(`expected a statement by ${iss} about ${sub}, found ${payload.iss} about ${payload.sub}`);
  }
  if (typeof payload.exp !== "number") throw new Error(`the statement about ${sub} has no exp`);
  return { payload, kid: protectedHeader.kid };
}

const selfSigned = (token) => jose.decodeJwt(token).jwks;

// The counter's keys as its superior vouches for them, and the chain of entity ids to the anchor.
async function resolveCounter(entityId, anchor) {
  const chain = [entityId];
  const leafToken = await getStatement(`${entityId}/.well-known/openid-federation`);
  let subject = entityId;
  let subjectToken = leafToken;
  let subjectKeys = null; // the subject's keys as its superior lists them
  let leafKeys = null;
  for (let depth = 0; depth < MAX_DEPTH; depth += 1) {
    const claimed = jose.decodeJwt(subjectToken);
    const hints = claimed.authority_hints;
    if (!Array.isArray(hints) || hints.length !== 1) {
      throw new Error(`expected one authority_hint of ${subject}, found ${JSON.stringify(hints)}`);
    }
    const superior = hints[0];
    const superiorToken = await getStatement(`${superior}/.well-known/openid-federation`);
    let superiorKeys = selfSigned(superiorToken);
    if (superior === anchor.entity_id) {
      // The anchor's keys are not taken from its word: only the key the caller pinned.
      const pinned = [];
      for (const jwk of superiorKeys.keys) {
        if ((await jose.calculateJwkThumbprint(jwk, "sha256")) === anchor.kid) pinned.push(jwk);
      }
      if (pinned.length !== 1) throw new Error(`the anchor ${superior} does not hold the pinned key ${anchor.kid}`);
      superiorKeys = { keys: pinned };
    }
    const superiorConf = await verifyStatement(superiorToken, superiorKeys, { iss: superior, sub: superior });
    const fetchEndpoint = superiorConf.payload.metadata?.federation_entity?.federation_fetch_endpoint;
    if (typeof fetchEndpoint !== "string") throw new Error(`${superior} has no federation_fetch_endpoint`);
    const url = new URL(fetchEndpoint);
    url.searchParams.set("sub", subject);
    const about = await verifyStatement(await getStatement(url.href), superiorConf.payload.jwks, {
      iss: superior,
      sub: subject,
    });
    subjectKeys = about.payload.jwks;
    // The subject's own configuration must be signed by a key its superior lists (§10.2).
    await verifyStatement(subjectToken, subjectKeys, { iss: subject, sub: subject });
    if (leafKeys === null) leafKeys = subjectKeys;
    chain.push(superior);
    if (superior === anchor.entity_id) return { keys: leafKeys, chain };
    subject = superior;
    subjectToken = superiorToken;
  }
  throw new Error(`no chain from ${entityId} to ${anchor.entity_id} within ${MAX_DEPTH} statements`);
}

let chain = null;
const callbacks = {
  fetch: fetchBounded,
  hash: (data, alg) => createHash(alg.replace("-", "").toLowerCase()).update(data).digest(),
  generateRandom: (n) => randomBytes(n),
  verifyJwt: async (signer, { compact, payload }) => {
    if (signer.method !== "federation") return { verified: false };
    const entityId = String(payload.client_id).replace(/^openid_federation:/, "");
    const resolved = await resolveCounter(entityId, input.anchor);
    const key = resolved.keys.keys.find((jwk) => jwk.kid === signer.kid);
    if (!key) return { verified: false };
    await jose.compactVerify(compact, await jose.importJWK(key, signer.alg));
    chain = resolved.chain;
    return { verified: true, signerJwk: key };
  },
};

const client = new Openid4vpClient({ callbacks });
let resolved;
try {
  const parsed = client.parseOpenid4vpAuthorizationRequest({ authorizationRequest: input.link });
  resolved = await client.resolveOpenId4vpAuthorizationRequest({
    authorizationRequestPayload: parsed.params,
  });
} catch (err) {
  const cause = err.cause ? ` (${err.cause.message ?? err.cause})` : "";
  process.stdout.write(JSON.stringify({ refused: `${err.name}: ${err.message}${cause}` }));
  process.exit(0);
}
const request = resolved.authorizationRequestPayload;

// DCQL (§6), by the dcql library: the query parsed and validated, matched against the claims
// the wallet holds; the claims of the matching claim set become the disclosure frame.
const sdjwt = new SDJwtInstance({
  hasher: digest,
  kbSigner: await ES256.getSigner(input.holder_jwk),
  kbSignAlg: ES256.alg,
});
const dcqlQuery = DcqlQuery.parse(resolved.dcql.query);
DcqlQuery.validate(dcqlQuery);
const held = await sdjwt.getClaims(input.credential);
const matched = DcqlQuery.query(dcqlQuery, [
  { credential_format: "dc+sd-jwt", vct: held.vct, claims: held, cryptographic_holder_binding: true },
]);
if (!matched.can_be_satisfied) {
  throw new Error(`the wallet's ${held.vct} does not satisfy ${JSON.stringify(dcqlQuery)}`);
}
const [query] = dcqlQuery.credentials;
const [chosen] = matched.credential_matches[query.id].valid_credentials;
const frame = {};
for (const name of Object.keys(chosen.claims.valid_claim_sets[0].output)) frame[name] = true;
for (const name of input.also_disclose ?? []) frame[name] = true;

const presentation = await sdjwt.present(input.credential, frame, {
  // OpenID4VP 1.0, the SD-JWT VC appendix: aud is the client identifier (prefix and all).
  kb: { payload: { iat: now(), aud: request.client_id, nonce: input.kb_nonce ?? request.nonce } },
});

const { authorizationResponsePayload } = await client.createOpenid4vpAuthorizationResponse({
  authorizationRequestPayload: request,
  authorizationResponsePayload: { vp_token: { [query.id]: [presentation] } },
});
const { response } = await client.submitOpenid4vpAuthorizationResponse({
  authorizationRequestPayload: request,
  authorizationResponsePayload,
});
process.stdout.write(
  JSON.stringify({
    client: resolved.client,
    version: resolved.version,
    chain,
    query: dcqlQuery,
    frame,
    status: response.status,
    body: await response.json(),
  }),
);
