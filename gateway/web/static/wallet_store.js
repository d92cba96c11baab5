// The web wallet's storage (/wallet): one IndexedDB database, "ecert-wallet", holding the holder
// key (a non-extractable CryptoKey, structured-cloned as is, with its public JWK and RFC 7638
// thumbprint), the credentials and the presentation history; and signing with that key.
//
// Deliberately not here: what is stored when (wallet_protocol.js), showing it (wallet.js).
import { b64url, jsonSegment, sha256, encoder } from "./wallet_sdjwt.js";

const DB_NAME = "ecert-wallet";

// ---- IndexedDB ---------------------------------------------------------------------------------

let dbPromise = null;

function db() {
  dbPromise =
    dbPromise ||
    new Promise((resolve, reject) => {
      const opening = indexedDB.open(DB_NAME, 1);
      opening.onupgradeneeded = () => {
        const made = opening.result;
        made.createObjectStore("keys");
        made.createObjectStore("credentials", { keyPath: "id" });
        made.createObjectStore("history", { keyPath: "seq", autoIncrement: true });
      };
      opening.onsuccess = () => resolve(opening.result);
      opening.onerror = () => reject(opening.error);
    });
  return dbPromise;
}

export async function store(name, mode, work) {
  const tx = (await db()).transaction(name, mode);
  const request = work(tx.objectStore(name));
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(request ? request.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export const getHolder = () => store("keys", "readonly", (s) => s.get("holder"));
export const allOf = (name) => store(name, "readonly", (s) => s.getAll());

// ---- the holder key and signing ----------------------------------------------------------------

export async function makeHolder() {
  const pair_ = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
    "sign",
  ]);
  const full = await crypto.subtle.exportKey("jwk", pair_.publicKey);
  const jwk = { crv: full.crv, kty: full.kty, x: full.x, y: full.y }; // RFC 7638 member order
  const made = {
    privateKey: pair_.privateKey,
    jwk,
    kid: await sha256(JSON.stringify(jwk)),
    created: Date.now(),
  };
  await store("keys", "readwrite", (s) => s.add(made, "holder"));
  return made;
}

// A compact JWS signed with the holder key: WebCrypto's ECDSA signature is r||s, as JWS wants.
export async function signJws(holder, header, payload) {
  const input = `${jsonSegment({ alg: "ES256", ...header })}.${jsonSegment(payload)}`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    holder.privateKey,
    encoder.encode(input),
  );
  return `${input}.${b64url(signature)}`;
}

