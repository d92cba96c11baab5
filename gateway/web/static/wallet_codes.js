// The web wallet's reference codes (亮证码) and use records (用证记录) (/wallet), as the CLI
// wallet does them (`ecert wallet code`, `ecert wallet uses`):
//
// - A holder proof signed with the wallet key (trust/holder_proof.py make_holder_proof): a
//   compact JWS, typ ecert-holder+jwt, ES256, the public key as the header's jwk; payload aud
//   (the issuing gateway's URL), iat, a fresh random jti and the credential's own status
//   reference (status.status_list {idx, uri}, read from the kept SD-JWT VC).
// - A code: POST {gateway}/api/v1/references {"proof"} → code, display, expires_in, qr_png.
//   The page shows display and qr_png as given (never builds a QR of its own).
// - The records: POST {gateway}/api/v1/references/uses {"proof"} → {"records": JWS}. They are
//   shown only once that JWS (typ ecert-use-records+jwt, iss the gateway, sub this wallet's key)
//   verifies with a key of the gateway's entity configuration ({gateway}/.well-known/
//   openid-federation), itself checked against its own jwks (iss = sub = the gateway, iat not in
//   the future, exp not passed).
// The issuing gateway is the one named by the kept credential's issuer ({gateway}/agencies/{id}).
//
// Deliberately not here: the timers of the refreshing code and showing anything (wallet.js);
// trusting the gateway beyond its self-signed configuration (as `ecert wallet uses`).
import { remote, remoteText } from "./wallet_protocol.js";
import { b64url, decodeJson, encoder, refuse, unb64url } from "./wallet_sdjwt.js";
import { signJws } from "./wallet_store.js";

const AGENCIES = "/agencies/";
const HOLDER_PROOF_TYP = "ecert-holder+jwt";
const USES_TYP = "ecert-use-records+jwt";
const STATEMENT_TYP = "entity-statement+jwt";
const STATEMENT_MEDIA_TYPE = "application/entity-statement+jwt";
const MAX_STATEMENT_BYTES = 64 * 1024; // trust/federation MAX_STATEMENT_LENGTH
const MAX_RECORDS_BYTES = 256 * 1024;
const MAX_KEYS = 16;
const MAX_USES = 100; // what the gateway answers at most
const MAX_DISPLAY = 64;
const MAX_TTL = 3600; // seconds: a code lives 300 s; anything over an hour is not one of ours
const CLOCK_SKEW = 60; // seconds an iat may lie ahead (OpenID Federation §3.5 step 7)
const JTI_BYTES = 18;

const nowSeconds = () => Math.floor(Date.now() / 1000);
const json = { Accept: "application/json", "Content-Type": "application/json" };

// The gateway that issued a kept credential: its issuer is {gateway}/agencies/{id}.
export function gatewayOf(record) {
  const issuer = String((record && record.issuer) || "");
  const at = issuer.lastIndexOf(AGENCIES);
  if (at <= 0 || !/^https?:\/\//.test(issuer)) throw refuse("errGateway", { i: issuer.slice(0, 120) });
  return issuer.slice(0, at);
}

// The credential's status reference, from the kept SD-JWT VC's signed payload.
function statusOf(record) {
  let payload = null;
  try {
    payload = decodeJson(String(record.credential).split("~")[0].split(".")[1]);
  } catch (_) {
    payload = null;
  }
  const ref = payload && payload.status && payload.status.status_list;
  if (!ref || !Number.isInteger(ref.idx) || typeof ref.uri !== "string") throw refuse("errNoStatus");
  return { status_list: { idx: ref.idx, uri: ref.uri } };
}

// A holder proof for ``gateway`` about ``record``, signed with the wallet key.
export function holderProof(record, holder, gateway) {
  const jti = b64url(crypto.getRandomValues(new Uint8Array(JTI_BYTES)));
  return signJws(
    holder,
    { typ: HOLDER_PROOF_TYP, jwk: holder.jwk },
    { aud: gateway, iat: nowSeconds(), jti, status: statusOf(record) },
  );
}

async function asked(record, holder, path, step) {
  const gateway = gatewayOf(record);
  const proof = await holderProof(record, holder, gateway);
  const answer = await remote(step, `${gateway}/api/v1/references${path}`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ proof }),
  });
  return { gateway, answer };
}

// A fresh code for ``record``: {display, qrPng, expiresIn} (display and the QR as the gateway
// made them).
export async function askCode(record, holder) {
  const { answer } = await asked(record, holder, "", "stepCode");
  const display = answer.display;
  const qrPng = answer.qr_png;
  const expiresIn = answer.expires_in;
  const ok =
    typeof display === "string" && display.length > 0 && display.length <= MAX_DISPLAY &&
    typeof qrPng === "string" && qrPng.startsWith("data:image/png;base64,") &&
    Number.isInteger(expiresIn) && expiresIn > 0 && expiresIn <= MAX_TTL;
  if (!ok) throw refuse("errCodeAnswer");
  return { display, qrPng, expiresIn };
}

// ---- signatures ----------------------------------------------------------------------------------

// The parts of a compact JWS, its header and payload decoded; a Refusal ``errKey`` otherwise.
function parts(token, limit, errKey) {
  const split = typeof token === "string" && token.length <= limit ? token.split(".") : [];
  if (split.length !== 3) throw refuse(errKey, { m: "not a compact JWS" });
  try {
    return { split, header: decodeJson(split[0]), payload: decodeJson(split[1]) };
  } catch (_) {
    throw refuse(errKey, { m: "unreadable JWS" });
  }
}

async function importKey(jwk) {
  if (jwk.kty === "EC" && jwk.crv === "P-256") {
    const key = { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y };
    return { alg: "ES256", key: await crypto.subtle.importKey("jwk", key, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]) };
  }
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") {
    const key = { kty: "OKP", crv: "Ed25519", x: jwk.x };
    return { alg: "EdDSA", key: await crypto.subtle.importKey("jwk", key, { name: "Ed25519" }, false, ["verify"]) };
  }
  return null;
}

// Whether the JWS ``split`` with ``header`` is signed by the key of ``keys`` its kid names.
async function signedBy(split, header, keys) {
  const jwk = keys.find((k) => k && typeof k.kid === "string" && k.kid === header.kid);
  if (!jwk) return false;
  let imported = null;
  try {
    imported = await importKey(jwk);
  } catch (_) {
    imported = null;
  }
  if (!imported || imported.alg !== header.alg) return false;
  const algorithm = imported.alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
  let signature;
  try {
    signature = unb64url(split[2]);
  } catch (_) {
    return false;
  }
  return crypto.subtle.verify(algorithm, imported.key, signature, encoder.encode(`${split[0]}.${split[1]}`));
}

// The federation keys of ``gateway``'s own entity configuration, checked against its own jwks.
export async function gatewayKeys(gateway) {
  const url = `${gateway}/.well-known/openid-federation`;
  const token = (await remoteText("stepConfig", url, { headers: { Accept: STATEMENT_MEDIA_TYPE } }, MAX_STATEMENT_BYTES)).trim();
  const { split, header, payload } = parts(token, MAX_STATEMENT_BYTES, "errConfig");
  const keys = payload.jwks && Array.isArray(payload.jwks.keys) ? payload.jwks.keys.slice(0, MAX_KEYS) : [];
  if (header.typ !== STATEMENT_TYP) throw refuse("errConfig", { m: `typ ${String(header.typ).slice(0, 40)}` });
  if (payload.iss !== gateway || payload.sub !== gateway) {
    throw refuse("errConfig", { m: `iss ${String(payload.iss).slice(0, 120)}, expected ${gateway}` });
  }
  if (!keys.length || !(await signedBy(split, header, keys))) throw refuse("errConfig", { m: "signature" });
  const now = nowSeconds();
  if (!Number.isInteger(payload.iat) || payload.iat > now + CLOCK_SKEW) throw refuse("errConfig", { m: "iat" });
  if (!Number.isInteger(payload.exp) || now >= payload.exp) throw refuse("errConfig", { m: "exp" });
  return keys;
}

// The use records of ``record``, newest first as the gateway signed them: {gateway, kid, uses}.
export async function readUses(record, holder) {
  const { gateway, answer } = await asked(record, holder, "/uses", "stepUses");
  const keys = await gatewayKeys(gateway);
  const { split, header, payload } = parts(answer.records, MAX_RECORDS_BYTES, "errSignature");
  if (header.typ !== USES_TYP) throw refuse("errSignature", { m: `typ ${String(header.typ).slice(0, 40)}` });
  if (!(await signedBy(split, header, keys))) {
    throw refuse("errSignature", { m: `not signed by a federation key of ${gateway}` });
  }
  if (payload.iss !== gateway) throw refuse("errSignature", { m: `iss ${String(payload.iss).slice(0, 120)}` });
  if (payload.sub !== holder.kid) throw refuse("errSignature", { m: "sub is not this wallet's key" });
  const uses = payload.uses;
  if (!Array.isArray(uses) || uses.length > MAX_USES) throw refuse("errSignature", { m: "uses" });
  return { gateway, kid: header.kid, uses: uses.filter((u) => u && typeof u === "object") };
}
