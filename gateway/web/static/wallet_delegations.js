// The web wallet's delegated use (委托用证) (/wallet), as the CLI wallet does it (`ecert wallet
// delegate`, `delegations`, `revoke-delegation`): each call carries a holder proof of the
// credential (wallet_codes.js holderProof) to the gateway that issued it.
//
// - Delegate: POST {gateway}/api/v1/delegations {proof, name, purposes, until} → 201 the
//   delegation with offer {offer_uri, credential_offer_uri, tx_code, expires_at, qr_png}. The
//   offer's QR is read from {credential_offer_uri}/qr.png (the gateway's own image; the page
//   never builds a QR) and shown as a data: URL, the page's images being its own or data: only.
// - List: POST {gateway}/api/v1/delegations/list {proof} → {delegations: […]}, newest first; a
//   delegated copy's proof lists its own delegation only.
// - Revoke: POST {gateway}/api/v1/delegations/revoke {proof, delegation_id} → the delegation.
// - A delegated copy carries its delegation in plain view in the SD-JWT VC's signed payload
//   ("delegation": {id, delegate, purposes, until, by: {name, status_list}}).
//
// Deliberately not here: showing any of it (wallet.js); checking the input (the gateway answers
// every bad field at once, in zh and en: a Refusal's ``fields``).
import { remote, remoteDataUrl } from "./wallet_protocol.js";
import { gatewayOf, holderProof } from "./wallet_codes.js";
import { decodeJson, refuse } from "./wallet_sdjwt.js";

const MAX_LISTED = 100; // what the gateway answers at most
const MAX_QR_BYTES = 64 * 1024;
const MAX_TEXT = 200;
const STATES = ["active", "revoked", "expired", "suspended", "ended"];
const json = { Accept: "application/json", "Content-Type": "application/json" };

const text = (value) => (typeof value === "string" ? value.slice(0, MAX_TEXT) : "");

// The delegation a kept credential is a copy for, from its signed payload; null for an original.
export function delegationOf(record) {
  let payload = null;
  try {
    payload = decodeJson(String(record.credential).split("~")[0].split(".")[1]);
  } catch (_) {
    return null;
  }
  const d = payload && payload.delegation;
  if (!d || typeof d !== "object") return null;
  const purposes = Array.isArray(d.purposes) ? d.purposes.slice(0, 5).map(text) : [];
  const by = d.by && typeof d.by === "object" ? d.by : {};
  return {
    id: text(d.id),
    delegate: text(d.delegate),
    purposes,
    until: Number.isInteger(d.until) ? d.until : null,
    by: text(by.name),
  };
}

async function call(record, holder, path, step, fields) {
  const gateway = gatewayOf(record);
  const proof = await holderProof(record, holder, gateway);
  const answer = await remote(step, `${gateway}/api/v1/delegations${path}`, {
    method: "POST",
    headers: json,
    body: JSON.stringify({ proof, ...fields }),
  });
  return { gateway, answer };
}

// One delegation as the gateway answered it, its texts bounded; a Refusal when it is not one.
function delegationFrom(d) {
  const ok =
    d && typeof d === "object" && typeof d.id === "string" && typeof d.delegate === "string" &&
    Array.isArray(d.purposes) && STATES.includes(d.state) && d.state_text && typeof d.state_text === "object";
  if (!ok) throw refuse("errDelegationAnswer");
  return {
    id: text(d.id),
    delegate: text(d.delegate),
    purposes: d.purposes.slice(0, 5).map(text),
    until: text(d.until),
    createdAt: text(d.created_at),
    revokedAt: d.revoked_at ? text(d.revoked_at) : null,
    received: d.received === true,
    state: d.state,
    stateText: { zh: text(d.state_text.zh), en: text(d.state_text.en) },
  };
}

// Delegate ``record`` to an agent: {delegation, offer: {link, pin, qrPng, expiresAt}}.
export async function delegate(record, holder, { name, purposes, until }) {
  const { gateway, answer } = await call(record, holder, "", "stepDelegate", { name, purposes, until });
  const made = delegationFrom(answer);
  const offer = answer.offer && typeof answer.offer === "object" ? answer.offer : {};
  const link = typeof offer.offer_uri === "string" ? offer.offer_uri : "";
  const pin = typeof offer.tx_code === "string" ? offer.tx_code : "";
  const offerUrl = typeof offer.credential_offer_uri === "string" ? offer.credential_offer_uri : "";
  const ok =
    link.startsWith("openid-credential-offer://") && link.length <= 4096 && /^\d{4,8}$/.test(pin) &&
    offerUrl.startsWith(`${gateway}/`) && Number.isInteger(offer.expires_at);
  if (!ok) throw refuse("errDelegationAnswer");
  const qrPng = await remoteDataUrl("stepOfferQr", `${offerUrl}/qr.png`, "image/png", MAX_QR_BYTES);
  return { delegation: made, offer: { link, pin, qrPng, expiresAt: offer.expires_at } };
}

// The delegations of ``record`` (a copy: its own), newest first.
export async function listDelegations(record, holder) {
  const { answer } = await call(record, holder, "/list", "stepDelegations", {});
  const listed = answer.delegations;
  if (!Array.isArray(listed) || listed.length > MAX_LISTED) throw refuse("errDelegationAnswer");
  return listed.map(delegationFrom);
}

// Revoke the delegation ``id`` of ``record``: the delegation as it now stands.
export async function revokeDelegation(record, holder, id) {
  const { answer } = await call(record, holder, "/revoke", "stepRevoke", { delegation_id: id });
  return delegationFrom(answer);
}
