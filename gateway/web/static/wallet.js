// ecert-gateway web wallet (/wallet). Plain ES2020 module, no build step, no external resources.
//
// - The holder key: ECDSA P-256 made with WebCrypto, non-extractable; the CryptoKey itself is
//   kept in IndexedDB (structured clone keeps it non-extractable), with the public JWK and its
//   RFC 7638 thumbprint. Credentials and the presentation history are kept there too.
// - Receive (OpenID4VCI 1.0, pre-authorised code): offer → Credential Issuer Metadata → RFC 8414
//   metadata → token (code + PIN as tx_code) → c_nonce → an openid4vci-proof+jwt signed here →
//   the SD-JWT VC, kept only once it checks: typ dc+sd-jwt, the issuer's signature with the key
//   its JWT VC Issuer Metadata publishes, every Disclosure referenced, cnf = this wallet's key.
// - Present (OpenID4VP 1.0, direct_post): this gateway resolves the counter through the
//   federation (POST {api_base}/wallet/api/requests/resolve); the holder sees who asks (name,
//   city, role, chain), which fields and why, chooses a credential when several match, and
//   consents; the page sends only the requested Disclosures and a KB-JWT (aud = client_id, the
//   request's nonce, iat, sd_hash) to the counter's response_uri, and shows its answer.
// Server and issuer text is only ever set with textContent, never parsed as HTML.
import {
  both,
  callApi,
  errorFrom,
  formatTime,
  formatValue,
  h,
  lang,
  other,
  pair,
  row,
  startLang,
  t,
  textPair,
  useTexts,
  verdict,
  TIMEOUT_MS,
} from "./page.js";

const DB_NAME = "ecert-wallet";
const PRE_AUTHORIZED = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
const OFFER_SCHEME = "openid-credential-offer://";
const REQUEST_SCHEME = "openid4vp://";
const MAX_LINK = 4096;
const MAX_ANSWER_BYTES = 256 * 1024;
const MAX_CREDENTIALS = 100;
const MAX_HISTORY = 500;
const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;

useTexts({
  zh: {
    brand: "证照钱包",
    title: "证照钱包",
    setupTitle: "创建钱包",
    setupText: "持有人密钥在本浏览器中生成，不可导出，只保存在本设备上。清除浏览器数据会删除钱包。",
    makeKey: "生成持有人密钥",
    receiveTitle: "领取证照",
    offerLabel: "领取链接（openid-credential-offer://…）",
    pinLabel: "取证码（签发机关另行告知的 6 位数字）",
    receive: "领取",
    presentTitle: "向核验点出示",
    requestLabel: "核验点的出示请求（openid4vp://…）",
    resolve: "查看请求",
    camera: "用摄像头扫码",
    upload: "上传二维码图片",
    cameraStop: "关闭摄像头",
    consentTitle: "确认出示",
    consentYes: "同意出示",
    consentNo: "拒绝",
    credsTitle: "我的证照",
    historyTitle: "出示记录",
    keyLabel: "持有人密钥",
    footer: "钱包数据只保存在本设备的浏览器中。",
    home: "网关首页",
    noCredentials: "钱包里还没有证照。",
    noHistory: "还没有出示记录。",
    busyReceive: "正在领取…",
    busyResolve: "正在核实核验点…",
    busyPresent: "正在出示…",
    busyKey: "正在生成密钥…",
    received: "已领取并验证：{t}",
    counter: "核验点",
    city: "所在城市",
    role: "角色",
    chain: "信任链",
    asks: "索取字段",
    purpose: "用证事由",
    credential: "出示的证照",
    issuer: "签发方",
    issuedAt: "签发时间",
    expires: "有效期至",
    noExpiry: "长期有效",
    headAccepted: "已出示",
    headRefused: "核验点拒绝",
    headDeclined: "未出示",
    accepted: "核验点已接受：{f}",
    declined: "您拒绝了出示，未发送任何信息。",
    outcomeAccepted: "接受",
    outcomeRefused: "拒绝",
    errKeyMissing: "请先生成持有人密钥。",
    errNoCrypto: "此浏览器不支持 WebCrypto 或 IndexedDB，无法使用钱包。",
    errOffer: "不是领取链接：应为 openid-credential-offer://?credential_offer_uri=… 或 credential_offer=…",
    errPin: "请输入取证码。",
    errRequest: "不是出示请求：应为 openid4vp://?client_id=…&request_uri=…",
    errNoMatch: "钱包里没有核验点所要的证照（{t}）。",
    errTooLong: "链接过长（上限 {n} 个字符）。",
    errStep: "{s}失败：{m}",
    errAnswer: "{s}：应答无法识别（HTTP {c}）。",
    errTooBig: "{s}：应答过大。",
    errReach: "{s}：无法连接，请检查网络后重试。",
    errTimeout: "{s}：超时，请重试。",
    errCheck: "证照未通过检查，未保存：{m}",
    errFull: "钱包已满（上限 {n} 张证照）。",
    errCamera: "无法打开摄像头：未获授权或设备不可用。",
    errImage: "图片超过 10 MB。",
    errQr: "二维码既不是领取链接，也不是出示请求。",
    stepOffer: "读取领取链接",
    stepMeta: "读取签发方信息",
    stepToken: "验证取证码",
    stepNonce: "获取 nonce",
    stepCredential: "领取证照",
    stepKeys: "读取签发方密钥",
    stepResponse: "向核验点出示",
  },
  en: {
    brand: "Certificate wallet",
    title: "Certificate wallet",
    setupTitle: "Set up the wallet",
    setupText:
      "The holder key is made in this browser, cannot be exported and stays on this device. Clearing the browser's data deletes the wallet.",
    makeKey: "Make the holder key",
    receiveTitle: "Receive a certificate",
    offerLabel: "Offer link (openid-credential-offer://…)",
    pinLabel: "PIN (6 digits the issuer gave you separately)",
    receive: "Receive",
    presentTitle: "Present to a counter",
    requestLabel: "The counter's request (openid4vp://…)",
    resolve: "See the request",
    camera: "Scan with the camera",
    upload: "Upload a QR image",
    cameraStop: "Close camera",
    consentTitle: "Present these details?",
    consentYes: "Present",
    consentNo: "Decline",
    credsTitle: "My certificates",
    historyTitle: "Presentation history",
    keyLabel: "Holder key",
    footer: "The wallet's data stays in this device's browser.",
    home: "Gateway home",
    noCredentials: "No certificates yet.",
    noHistory: "Nothing presented yet.",
    busyReceive: "Receiving…",
    busyResolve: "Checking the counter…",
    busyPresent: "Presenting…",
    busyKey: "Making the key…",
    received: "Received and verified: {t}",
    counter: "Counter",
    city: "City",
    role: "Role",
    chain: "Trust chain",
    asks: "Asks for",
    purpose: "Reason",
    credential: "Certificate presented",
    issuer: "Issuer",
    issuedAt: "Issued",
    expires: "Valid until",
    noExpiry: "No expiry",
    headAccepted: "Presented",
    headRefused: "Refused by the counter",
    headDeclined: "Not presented",
    accepted: "The counter accepted: {f}",
    declined: "You declined; nothing was sent.",
    outcomeAccepted: "accepted",
    outcomeRefused: "refused",
    errKeyMissing: "Make the holder key first.",
    errNoCrypto: "This browser lacks WebCrypto or IndexedDB; the wallet cannot work here.",
    errOffer:
      "Not an offer: expected openid-credential-offer://?credential_offer_uri=… or credential_offer=…",
    errPin: "Enter the PIN.",
    errRequest: "Not a request: expected openid4vp://?client_id=…&request_uri=…",
    errNoMatch: "No certificate in the wallet is of the type the counter asks for ({t}).",
    errTooLong: "The link is too long (at most {n} characters).",
    errStep: "{s} failed: {m}",
    errAnswer: "{s}: unreadable answer (HTTP {c}).",
    errTooBig: "{s}: the answer is too large.",
    errReach: "{s}: cannot connect; check the network and try again.",
    errTimeout: "{s}: timed out; please try again.",
    errCheck: "The certificate failed a check and was not kept: {m}",
    errFull: "The wallet is full (at most {n} certificates).",
    errCamera: "Cannot open the camera: permission denied or no camera available.",
    errImage: "The image is over 10 MB.",
    errQr: "The QR code is neither an offer nor a request.",
    stepOffer: "Reading the offer",
    stepMeta: "Reading the issuer's metadata",
    stepToken: "Checking the PIN",
    stepNonce: "Getting a nonce",
    stepCredential: "Receiving the certificate",
    stepKeys: "Reading the issuer's keys",
    stepResponse: "Presenting to the counter",
  },
});

const $ = (id) => document.getElementById(id);
const els = {
  notice: $("notice"),
  setup: $("setup"),
  wallet: $("wallet"),
  makeKey: $("make-key"),
  receiveForm: $("receive-form"),
  offer: $("offer-input"),
  pin: $("pin-input"),
  presentForm: $("present-form"),
  request: $("request-input"),
  cameraButton: $("camera-button"),
  upload: $("upload-button"),
  file: $("file-input"),
  camera: $("camera"),
  video: $("camera-video"),
  cameraStop: $("camera-stop"),
  busy: $("busy"),
  busyText: $("busy-text"),
  consent: $("consent"),
  consentBody: $("consent-body"),
  yes: $("consent-yes"),
  no: $("consent-no"),
  answer: $("answer"),
  credentials: $("credentials"),
  history: $("history"),
  kid: $("holder-kid"),
};

// A refusal the holder reads: {zh, en}.
class Refusal extends Error {
  constructor(texts) {
    super(texts.en);
    this.texts = texts;
  }
}
const refuse = (key, values) => new Refusal(both(key, values));

// ---- base64url, JSON, hashes -----------------------------------------------------------------

const encoder = new TextEncoder();

function b64url(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function unb64url(text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw refuse("errCheck", { m: "base64url" });
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

const decodeJson = (segment) => JSON.parse(new TextDecoder().decode(unb64url(segment)));
const jsonSegment = (value) => b64url(encoder.encode(JSON.stringify(value)));
const sha256 = async (text) => b64url(await crypto.subtle.digest("SHA-256", encoder.encode(text)));

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

async function store(name, mode, work) {
  const tx = (await db()).transaction(name, mode);
  const request = work(tx.objectStore(name));
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(request ? request.result : undefined);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

const getHolder = () => store("keys", "readonly", (s) => s.get("holder"));
const allOf = (name) => store(name, "readonly", (s) => s.getAll());

// ---- the holder key and signing ----------------------------------------------------------------

let holder = null; // {privateKey: CryptoKey, jwk: {kty, crv, x, y}, kid}

async function makeHolder() {
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
async function signJws(header, payload) {
  const input = `${jsonSegment({ alg: "ES256", ...header })}.${jsonSegment(payload)}`;
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    holder.privateKey,
    encoder.encode(input),
  );
  return `${input}.${b64url(signature)}`;
}

// ---- talking to issuers and counters (any origin, bounded) -------------------------------------

// One call to an absolute URL: {status, ok, data} once it answered; a Refusal naming the step
// otherwise. The body is read no further than MAX_ANSWER_BYTES.
async function remote(step, url, init) {
  const stepName = both(step);
  const named = (key, values) => new Refusal({
    zh: fill2("zh", key, { s: stepName.zh, ...values }),
    en: fill2("en", key, { s: stepName.en, ...values }),
  });
  const controller = new AbortController();
  const timer = window.setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  let text;
  try {
    response = await fetch(url, {
      ...init,
      credentials: "omit",
      cache: "no-store",
      redirect: "error",
      signal: controller.signal,
    });
    text = await boundedText(response, MAX_ANSWER_BYTES);
  } catch (err) {
    throw named(err && err.name === "AbortError" ? "errTimeout" : "errReach");
  } finally {
    window.clearTimeout(timer);
  }
  if (text === null) throw named("errTooBig");
  let data = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch (_) {
    data = null;
  }
  if (!response.ok) {
    const said = messageOf(response.status, data);
    throw new Refusal({
      zh: fill2("zh", "errStep", { s: stepName.zh, m: said.zh }),
      en: fill2("en", "errStep", { s: stepName.en, m: said.en }),
    });
  }
  if (!data || typeof data !== "object") throw named("errAnswer", { c: response.status });
  return data;
}

const fill2 = (which, key, values) => both(key, values)[which];

// The body as text, read no further than ``limit`` bytes (null past it: the rest is dropped).
async function boundedText(response, limit) {
  if (!response.body) return "";
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
  return new TextDecoder().decode(all);
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

function offerQuery(link) {
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

// The checks a browser can make before keeping a credential (SD-JWT VC, RFC 9901 §7.1).
async function checkCredential(serialized) {
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
  if (!cnf || cnf.x !== holder.jwk.x || cnf.y !== holder.jwk.y) {
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
  for (const d of disclosures) byDigest.set(await sha256(d), JSON.parse(new TextDecoder().decode(unb64url(d))));
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

async function receive(link, pin) {
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
  const checked = await checkCredential(serialized);
  const config = (meta.credential_configurations_supported || {})[ids[0]] || {};
  const display = (config.credential_metadata && config.credential_metadata.display) || [];
  const named = (prefix) => (display.find((d) => String(d.locale || "").startsWith(prefix)) || {}).name;
  const labels = {};
  for (const c of (config.credential_metadata && config.credential_metadata.claims) || []) {
    const path = Array.isArray(c.path) ? c.path[0] : null;
    const shown = Array.isArray(c.display) ? c.display : [];
    const pick = (p) => (shown.find((d) => String(d.locale || "").startsWith(p)) || {}).name;
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

// The Disclosures that reveal the requested top-level claims, and everything under them.
async function presentation(record, asked) {
  const [jwt, ...rest] = record.credential.split("~");
  const disclosures = rest.filter((d) => d);
  const wanted = new Set(asked.fields.map((f) => f.name));
  const digests = await Promise.all(disclosures.map(sha256));
  const byDigest = new Map(digests.map((digest, i) => [digest, disclosures[i]]));
  const chosen = new Set();
  const take = (node) => {
    // Everything nested inside a chosen claim goes with it.
    if (Array.isArray(node)) {
      for (const e of node) {
        if (e && typeof e === "object" && byDigest.has(e["..."])) {
          chosen.add(e["..."]);
          take(JSON.parse(new TextDecoder().decode(unb64url(byDigest.get(e["..."]))))[1]);
        } else take(e);
      }
    } else if (node && typeof node === "object") {
      for (const digest of Array.isArray(node._sd) ? node._sd : []) {
        if (!byDigest.has(digest)) continue;
        chosen.add(digest);
        take(JSON.parse(new TextDecoder().decode(unb64url(byDigest.get(digest))))[2]);
      }
      for (const [k, v] of Object.entries(node)) if (k !== "_sd") take(v);
    }
  };
  const payload = decodeJson(jwt.split(".")[1]);
  for (const digest of Array.isArray(payload._sd) ? payload._sd : []) {
    const d = byDigest.get(digest);
    if (!d) continue;
    const [, name, value] = JSON.parse(new TextDecoder().decode(unb64url(d)));
    if (wanted.has(name)) {
      chosen.add(digest);
      take(value);
    }
  }
  const kept = disclosures.filter((_, i) => chosen.has(digests[i]));
  const presented = `${jwt}~${kept.map((d) => `${d}~`).join("")}`;
  const kb = await signJws(
    { typ: "kb+jwt" },
    {
      iat: Math.floor(Date.now() / 1000),
      aud: asked.client_id,
      nonce: asked.nonce,
      sd_hash: await sha256(presented),
    },
  );
  return presented + kb;
}

async function present(asked, record) {
  const vp = await presentation(record, asked);
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

// ---- rendering -----------------------------------------------------------------------------------

let notice = null; // {zh, en, kind}
let pending = null; // {asked, matches}
let outcome = null; // a history entry just made, or {declined: true}

function showNotice(texts, kind) {
  notice = texts ? { ...texts, kind: kind || "bad" } : null;
  renderNotice();
}

function renderNotice() {
  els.notice.hidden = !notice;
  if (!notice) return;
  els.notice.className = `wallet-notice wallet-notice--${notice.kind}`;
  els.notice.replaceChildren(pair("p", null, notice, "span"));
}

function fail(err) {
  if (err instanceof Refusal) showNotice(err.texts);
  else showNotice({ zh: String(err && err.message ? err.message : err), en: String(err) });
}

function busy(key) {
  els.busy.hidden = !key;
  els.busyText.textContent = key ? t(key) : "";
}

const label = (record, name) => (record && record.labels && record.labels[name]) || null;

function credentialCard(record) {
  const rows = Object.entries(record.claims).map(([name, value]) =>
    row(label(record, name) || { zh: name, en: name }, formatValue(value)),
  );
  rows.push(
    row(both("issuer"), String(record.issuer), "meta meta-first", "mono"),
    row(both("issuedAt"), formatTime(new Date(record.issuedAt * 1000).toISOString()) || "—", "meta"),
    row(
      both("expires"),
      record.expires ? formatTime(new Date(record.expires * 1000).toISOString()) : t("noExpiry"),
      "meta",
    ),
  );
  return h(
    "li",
    { class: "card wallet-card", "data-credential": record.id },
    h(
      "details",
      null,
      h(
        "summary",
        null,
        pair("span", "cred-type", record.typeName, "span"),
        h("span", { class: "hint cred-when" }, formatTime(new Date(record.issuedAt * 1000).toISOString())),
      ),
      h("table", { class: "fields" }, h("tbody", null, rows)),
    ),
  );
}

function fieldNames(fields) {
  return fields.map((f) => textPair(f.label, f.name)[lang]).join(t("listSep") || "、");
}

function historyItem(e) {
  const when = formatTime(new Date(e.at).toISOString());
  const outcomeText = e.accepted ? t("outcomeAccepted") : t("outcomeRefused");
  return h(
    "li",
    { class: `card wallet-card history-${e.accepted ? "ok" : "bad"}` },
    h("p", { class: "history-head" }, `${e.counter}（${e.city}）`, h("span", { class: "history-outcome" }, outcomeText)),
    h("p", null, `${textPair(e.type, e.type && e.type.code)[lang]}：${fieldNames(e.fields)}`),
    h("p", { class: "hint" }, `${t("purpose")}${t("colon")}${e.purpose}`),
    h("p", { class: "hint" }, when || ""),
    e.answer ? pair("p", "hint", e.answer, "span") : null,
  );
}

async function renderLists() {
  const creds = await allOf("credentials");
  els.credentials.replaceChildren(
    ...(creds.length ? creds.map(credentialCard) : [pair("li", "hint", both("noCredentials"))]),
  );
  const entries = (await allOf("history")).reverse();
  els.history.replaceChildren(
    ...(entries.length ? entries.map(historyItem) : [pair("li", "hint", both("noHistory"))]),
  );
}

function consentView() {
  const { asked, matches } = pending;
  const v = asked.verifier;
  const chosen = pending.choice || matches[0];
  const rows = [
    row(both("counter"), h("strong", { id: "consent-verifier" }, v.name)),
    row(both("city"), h("span", { id: "consent-city" }, v.city)),
    row(both("role"), pair("span", null, textPair(v.role, v.role.code), "span")),
    row(both("asks"), h("ul", { id: "consent-fields", class: "consent-fields" },
      asked.fields.map((f) => h("li", null, pair("span", null, textPair(f.label, f.name), "span"),
        h("span", { class: "consent-value" }, formatValue(chosen.claims[f.name])))))),
    row(both("purpose"), h("span", { id: "consent-purpose" }, asked.purpose)),
    row(both("chain"), h("ol", { class: "chain" }, asked.chain.map((c) => h("li", { class: "mono" }, c)))),
  ];
  const pick = matches.length > 1
    ? h("fieldset", { class: "consent-pick" }, pair("legend", null, both("credential"), "span"),
      matches.map((m) => h("label", null,
        h("input", { type: "radio", name: "pick", value: m.id, checked: m === chosen }),
        ` ${textPair(m.typeName, m.type)[lang]} · ${formatTime(new Date(m.receivedAt).toISOString())} · ${m.id.slice(0, 8)}`)))
    : null;
  els.consentBody.replaceChildren(h("table", { class: "fields" }, h("tbody", null, rows)));
  if (pick) els.consentBody.append(pick);
  if (pick) {
    for (const input of pick.querySelectorAll("input")) {
      input.addEventListener("change", () => {
        pending.choice = matches.find((m) => m.id === input.value);
        consentView();
      });
    }
  }
}

function renderOutcome() {
  if (!outcome) {
    els.answer.replaceChildren();
    return;
  }
  if (outcome.declined) {
    els.answer.replaceChildren(verdict("warn", "warn", "headDeclined", both("declined")));
    return;
  }
  const fields = { zh: "", en: "" };
  for (const which of ["zh", "en"]) {
    fields[which] = outcome.fields.map((f) => textPair(f.label, f.name)[which]).join(which === "zh" ? "、" : ", ");
  }
  const message = outcome.accepted
    ? { zh: fill2("zh", "accepted", { f: fields.zh }), en: fill2("en", "accepted", { f: fields.en }) }
    : outcome.answer;
  els.answer.replaceChildren(
    verdict(
      outcome.accepted ? "ok" : "bad",
      outcome.accepted ? "ok" : "bad",
      outcome.accepted ? "headAccepted" : "headRefused",
      message,
    ),
  );
}

function rerender() {
  renderNotice();
  if (pending) consentView();
  renderOutcome();
  if (holder) renderLists().catch(fail);
}

// ---- actions -------------------------------------------------------------------------------------

async function guarded(busyKey, work) {
  showNotice(null);
  busy(busyKey);
  try {
    await work();
  } catch (err) {
    fail(err);
  } finally {
    busy(null);
  }
}

function onReceive(event) {
  event.preventDefault();
  const link = els.offer.value.trim();
  const pin = els.pin.value.trim();
  guarded("busyReceive", async () => {
    if (!holder) throw refuse("errKeyMissing");
    offerQuery(link);
    if (!pin) throw refuse("errPin");
    const record = await receive(link, pin);
    els.offer.value = "";
    els.pin.value = "";
    await renderLists();
    showNotice(both("received", { t: record.typeName[lang] }), "ok");
  });
}

function onResolve(event) {
  if (event) event.preventDefault();
  const link = els.request.value.trim();
  guarded("busyResolve", async () => {
    if (!holder) throw refuse("errKeyMissing");
    if (link.length > MAX_LINK) throw refuse("errTooLong", { n: MAX_LINK });
    if (!link.startsWith(REQUEST_SCHEME)) throw refuse("errRequest");
    pending = null;
    outcome = null;
    renderOutcome();
    const got = await callApi("/wallet/api/requests/resolve", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ uri: link }),
    });
    if (got.error) throw new Refusal(got.error);
    if (!got.ok) throw new Refusal(errorFrom(got.status, got.data));
    const asked = got.data;
    const code = asked.credential_type.code;
    // Of the type asked for, and holding every field asked for (an older credential may lack one).
    const matches = (await allOf("credentials")).filter(
      (r) => (r.vct === asked.vct || r.type === code) && asked.fields.every((f) => f.name in r.claims),
    );
    if (!matches.length) throw refuse("errNoMatch", { t: textPair(asked.credential_type, code)[lang] });
    pending = { asked, matches, choice: null };
    consentView();
    els.consent.hidden = false;
    els.consent.scrollIntoView({ block: "start" });
  });
}

function onConsent(yes) {
  const taken = pending;
  pending = null;
  els.consent.hidden = true;
  if (!yes) {
    outcome = { declined: true };
    renderOutcome();
    return;
  }
  guarded("busyPresent", async () => {
    outcome = await present(taken.asked, taken.choice || taken.matches[0]);
    els.request.value = "";
    renderOutcome();
    await renderLists();
    els.answer.scrollIntoView({ block: "start" });
  });
}

// A scanned or uploaded QR: an offer fills the receive form, a request is resolved at once.
function scanned(text) {
  const value = String(text || "").trim();
  if (value.startsWith(OFFER_SCHEME)) {
    els.offer.value = value;
    els.pin.focus();
  } else if (value.startsWith(REQUEST_SCHEME)) {
    els.request.value = value;
    onResolve(null);
  } else {
    showNotice(both("errQr"));
  }
}

function onUpload() {
  const file = els.file.files && els.file.files[0];
  els.file.value = "";
  if (!file) return;
  if (file.size > MAX_UPLOAD_BYTES) {
    showNotice(both("errImage"));
    return;
  }
  guarded("busyResolve", async () => {
    const form = new FormData();
    form.append("file", file, file.name || "image");
    const got = await callApi("/wallet/api/qr/image", { method: "POST", body: form });
    if (got.error) throw new Refusal(got.error);
    if (!got.ok) throw new Refusal(errorFrom(got.status, got.data));
    scanned(got.data.text);
  });
}

// The camera, where the browser has BarcodeDetector; otherwise the upload (decoded by the
// gateway) is the way in. Frames are looked at every 250 ms until a code is seen or it stops.
const scanner = { stream: null, timer: 0 };

async function cameraProbe() {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) return;
  try {
    const formats = await window.BarcodeDetector.getSupportedFormats();
    els.cameraButton.hidden = !formats.includes("qr_code");
  } catch (_) {
    els.cameraButton.hidden = true;
  }
}

async function cameraOn() {
  showNotice(null);
  let detector;
  try {
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    scanner.stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" } },
      audio: false,
    });
  } catch (_) {
    showNotice(both("errCamera"));
    return;
  }
  els.video.srcObject = scanner.stream;
  els.camera.hidden = false;
  els.video.play().catch(() => {});
  const look = async () => {
    if (!scanner.stream) return;
    let codes = [];
    try {
      codes = await detector.detect(els.video);
    } catch (_) {
      codes = [];
    }
    const seen = codes.find((c) => c.rawValue);
    if (seen) {
      cameraOff();
      scanned(seen.rawValue);
    } else if (scanner.stream) {
      scanner.timer = window.setTimeout(look, 250);
    }
  };
  look();
}

function cameraOff() {
  window.clearTimeout(scanner.timer);
  for (const track of scanner.stream ? scanner.stream.getTracks() : []) track.stop();
  scanner.stream = null;
  els.video.srcObject = null;
  els.camera.hidden = true;
}

// #offer=<link> or #request=<link> (a QR that opens this page), else the raw link itself.
function fromHash() {
  const raw = location.hash.slice(1);
  if (!raw) return;
  const params = new URLSearchParams(raw);
  let link = params.get("offer") || params.get("request");
  try {
    link = link || decodeURIComponent(raw);
  } catch (_) {
    link = raw; // not percent-encoded after all: scanned() says what it expected
  }
  history.replaceState(null, "", location.pathname + location.search);
  scanned(link);
}

function showWallet() {
  els.setup.hidden = true;
  els.wallet.hidden = false;
  els.kid.textContent = holder.kid;
}

async function start() {
  startLang(rerender);
  if (!window.crypto || !crypto.subtle || !window.indexedDB) {
    showNotice(both("errNoCrypto"));
    return;
  }
  els.makeKey.addEventListener("click", () =>
    guarded("busyKey", async () => {
      holder = holder || (await makeHolder());
      showWallet();
      await renderLists();
    }),
  );
  els.receiveForm.addEventListener("submit", onReceive);
  els.presentForm.addEventListener("submit", onResolve);
  els.yes.addEventListener("click", () => onConsent(true));
  els.no.addEventListener("click", () => onConsent(false));
  els.upload.addEventListener("click", () => els.file.click());
  els.file.addEventListener("change", onUpload);
  els.cameraButton.addEventListener("click", cameraOn);
  els.cameraStop.addEventListener("click", cameraOff);
  window.addEventListener("pagehide", cameraOff);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) cameraOff();
  });
  window.addEventListener("hashchange", fromHash);
  cameraProbe();
  try {
    holder = (await getHolder()) || null;
  } catch (err) {
    fail(err);
    return;
  }
  if (holder) {
    showWallet();
    await renderLists();
    fromHash();
  } else {
    els.setup.hidden = false;
  }
}

start();
