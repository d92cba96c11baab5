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
// - Show a reference code (亮证码) of a credential: a fresh code from its issuing gateway, its
//   QR and grouped text as the gateway made them, renewed every REFRESH_MS with a countdown to
//   the next code and to this code's expiry. It stops when the holder closes it, when the page
//   is hidden, on a failure, and after MAX_SHOWN_MS (then it asks for a tap): an open phone
//   does not mint codes forever. Timers read the page's clock (Date, setInterval) only.
// - Use records (用证记录) of a credential, shown only once their signature verifies with the
//   issuing gateway's federation keys (wallet_codes.js).
// - Delegated use (委托用证) of a credential: a form (the agent's name, 1–5 purposes, an end
//   date) whose answer shows the offer for the agent's wallet (its QR, the link to copy, the
//   PIN to give by another channel); the delegations with their state, whether the agent
//   received each, and a revoke button that asks first. A delegated copy says by whom, for what
//   and until when it was delegated, and its own delegation's state (wallet_delegations.js).
// Server and issuer text is only ever set with textContent, never parsed as HTML.
//
// This module is the page (rendering, consent, camera and upload); the work is in
// wallet_store.js (IndexedDB, the key, signing), wallet_sdjwt.js (checking a credential,
// choosing Disclosures, the KB-JWT), wallet_protocol.js (OpenID4VCI and OpenID4VP calls) and
// wallet_codes.js (holder proofs, codes, use records), wallet_delegations.js (委托用证); the
// texts in wallet_texts.js.
import {
  both,
  callApi,
  errorFrom,
  fill,
  formatTime,
  fieldsTable,
  formatValue,
  h,
  lang,
  pair,
  qrReader,
  startLang,
  t,
  textPair,
  useTexts,
  verdict,
} from "./page.js";
import { askCode, readUses } from "./wallet_codes.js";
import { delegate, delegationOf, listDelegations, revokeDelegation } from "./wallet_delegations.js";
import { MAX_LINK, OFFER_SCHEME, offerQuery, present, receive } from "./wallet_protocol.js";
import { refuse, Refusal } from "./wallet_sdjwt.js";
import { allOf, getHolder, makeHolder } from "./wallet_store.js";
import { TEXTS } from "./wallet_texts.js";

useTexts(TEXTS);

const REQUEST_SCHEME = "openid4vp://";
const REFRESH_MS = 60 * 1000; // a new code every minute
const MAX_SHOWN_MS = 10 * 60 * 1000; // then stop and ask for a tap
const TICK_MS = 1000;

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
  codeView: $("code-view"),
  codeType: $("code-type"),
  codeQr: $("code-qr"),
  codeDisplay: $("code-display"),
  codeNext: $("code-next"),
  codeExpiry: $("code-expiry"),
  codeStopped: $("code-stopped"),
  codeAgain: $("code-again"),
  codeClose: $("code-close"),
  usesView: $("uses-view"),
  usesType: $("uses-type"),
  usesVerified: $("uses-verified"),
  uses: $("uses"),
  usesClose: $("uses-close"),
  dlView: $("delegations-view"),
  dlType: $("delegations-type"),
  dlCopy: $("delegated-copy"),
  dlForm: $("delegate-form"),
  dlName: $("delegate-name"),
  dlPurposes: $("delegate-purposes"),
  dlUntil: $("delegate-until"),
  dlProblem: $("delegate-problem"),
  dlOffer: $("delegate-offer"),
  dlOfferQr: $("delegate-offer-qr"),
  dlOfferLink: $("delegate-offer-link"),
  dlOfferCopy: $("delegate-offer-copy"),
  dlOfferPin: $("delegate-offer-pin"),
  dlList: $("delegations"),
  dlClose: $("delegations-close"),
};

// ---- rendering -----------------------------------------------------------------------------------

let holder = null; // {privateKey: CryptoKey, jwk: {kty, crv, x, y}, kid}
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

const when = (seconds) => formatTime(new Date(seconds * 1000).toISOString());

function credentialCard(record) {
  const copy = delegationOf(record);
  const own = Object.entries(record.claims).filter(([name]) => name !== "delegation").map(([name, value]) => [
    label(record, name) || { zh: name, en: name },
    formatValue(value),
  ]);
  const metas = [
    [both("issuer"), String(record.issuer), "mono"],
    [both("issuedAt"), when(record.issuedAt) || "—"],
    [both("expires"), record.expires ? when(record.expires) : t("noExpiry")],
  ];
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
        h("span", { class: "hint cred-when" }, when(record.issuedAt)),
      ),
      fieldsTable(own, metas),
    ),
    copy ? pair("p", "cred-delegated", copyText(copy), "span") : null,
    h(
      "div",
      { class: "card-actions" },
      action("button code-button", "showCode", () => openCode(record)),
      action("button button--secondary uses-button", "showUses", () => openUses(record)),
      action("button button--secondary delegate-button", copy ? "delegations" : "delegate", () =>
        openDelegations(record),
      ),
    ),
  );
}

// 委托副本: by whom, to whom, for what, until when (as the copy's signed payload says).
function copyText(copy) {
  const until = copy.until ? untilText(new Date(copy.until * 1000).toISOString()) : "—";
  const values = (which) => ({ b: copy.by || "—", n: copy.delegate, p: copy.purposes.join(which === "zh" ? "、" : ", "), u: until });
  return { zh: both("delegatedCopy", values("zh")).zh, en: both("delegatedCopy", values("en")).en };
}

// An end of day (23:59:59 China time) as its date; any other moment with its time.
function untilText(iso) {
  const shown = formatTime(iso) || "—";
  return shown.endsWith(" 23:59") ? shown.slice(0, 10) : shown;
}

function action(cls, key, onClick) {
  const button = h("button", { type: "button", class: cls }, t(key));
  button.addEventListener("click", onClick);
  return button;
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
    h("p", null, `${textPair(e.type, e.type && e.type.code)[lang]}${t("colon")}${fieldNames(e.fields)}`),
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
  const asks = h(
    "ul",
    { id: "consent-fields", class: "consent-fields" },
    asked.fields.map((f) =>
      h(
        "li",
        null,
        pair("span", null, textPair(f.label, f.name), "span"),
        h("span", { class: "consent-value" }, formatValue(chosen.claims[f.name])),
      ),
    ),
  );
  const chain = h("ol", { class: "chain" }, asked.chain.map((c) => h("li", { class: "mono" }, c)));
  const rows = [
    [both("counter"), h("strong", { id: "consent-verifier" }, v.name)],
    [both("city"), h("span", { id: "consent-city" }, v.city)],
    [both("role"), pair("span", null, textPair(v.role, v.role.code), "span")],
    ...(asked.roles_by_trust_mark || []).map((r) => [
      both("markRole"),
      h("span", null, pair("span", null, textPair(r), "span"), h("span", { class: "mono alt" }, r.issuer)),
    ]),
    [both("asks"), asks],
    [both("purpose"), h("span", { id: "consent-purpose" }, asked.purpose)],
    [both("chain"), chain],
  ];
  const pick = matches.length > 1
    ? h("fieldset", { class: "consent-pick" }, pair("legend", null, both("credential"), "span"),
      matches.map((m) => h("label", null,
        h("input", { type: "radio", name: "pick", value: m.id, checked: m === chosen }),
        ` ${textPair(m.typeName, m.type)[lang]} · ${formatTime(new Date(m.receivedAt).toISOString())} · ${m.id.slice(0, 8)}`)))
    : null;
  els.consentBody.replaceChildren(fieldsTable(rows, []));
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
    ? { zh: both("accepted", { f: fields.zh }).zh, en: both("accepted", { f: fields.en }).en }
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
  renderCode();
  renderUses();
  renderDelegations();
  if (holder) renderLists().catch(fail);
}

// ---- 亮证码: a code for one credential, renewed every REFRESH_MS while shown ------------------

// {record, started, code: {display, qrPng, until} | null, next, asking, stopped, error, timer}
let shown = null;

const clockText = (ms) => {
  const left = Math.max(0, Math.ceil(ms / 1000));
  return `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
};

function openCode(record) {
  closeCode();
  closeUses();
  closeDelegations();
  showNotice(null);
  shown = { record, started: Date.now(), code: null, next: 0, asking: false, stopped: null, error: null };
  shown.timer = window.setInterval(codeTick, TICK_MS);
  els.codeView.hidden = false;
  renderCode();
  els.codeView.scrollIntoView({ block: "start" });
  fetchCode(shown);
}

async function fetchCode(view) {
  view.asking = true;
  renderCode();
  try {
    const got = await askCode(view.record, holder);
    if (view !== shown || view.stopped) return; // closed or stopped meanwhile: drop it
    const now = Date.now();
    view.code = { ...got, until: now + got.expiresIn * 1000 };
    view.next = now + REFRESH_MS;
  } catch (err) {
    if (view !== shown) return;
    view.error = err instanceof Refusal ? err.texts : { zh: String(err), en: String(err) };
    stopCode("failed");
  } finally {
    view.asking = false;
  }
  renderCode();
}

function codeTick() {
  const view = shown;
  if (!view || view.stopped) return;
  const now = Date.now();
  if (view.code && !view.asking && now >= view.next) {
    if (now - view.started >= MAX_SHOWN_MS) stopCode("capped");
    else fetchCode(view);
  }
  renderCountdown();
}

// No more codes: the one shown is taken off the screen; "Show again" starts anew.
function stopCode(why) {
  if (!shown) return;
  window.clearInterval(shown.timer);
  shown.stopped = why;
  shown.code = null;
  renderCode();
}

function closeCode() {
  if (shown) window.clearInterval(shown.timer);
  shown = null;
  els.codeView.hidden = true;
}

function renderCountdown() {
  const code = shown && !shown.stopped ? shown.code : null;
  if (!code) {
    els.codeNext.textContent = shown && !shown.stopped ? t("codeRenewing") : "";
    els.codeExpiry.textContent = "";
    return;
  }
  const now = Date.now();
  els.codeNext.textContent = shown.asking
    ? t("codeRenewing")
    : fill(t("codeNext"), { t: clockText(shown.next - now) });
  els.codeExpiry.textContent = fill(t("codeExpiry"), { t: clockText(code.until - now) });
}

function renderCode() {
  if (!shown) return;
  els.codeType.textContent = textPair(shown.record.typeName, shown.record.type)[lang];
  const code = shown.stopped ? null : shown.code;
  els.codeQr.hidden = !code;
  if (code) {
    if (els.codeQr.getAttribute("src") !== code.qrPng) els.codeQr.src = code.qrPng;
  } else {
    els.codeQr.removeAttribute("src");
  }
  els.codeDisplay.textContent = code ? code.display : "";
  const why = shown.stopped;
  els.codeStopped.hidden = !why;
  els.codeStopped.replaceChildren();
  if (why === "failed") {
    const m = shown.error;
    const said = { zh: both("codeFailed", { m: m.zh }).zh, en: both("codeFailed", { m: m.en }).en };
    els.codeStopped.append(pair("span", null, said, "span"));
  } else if (why) {
    els.codeStopped.append(pair("span", null, both(why === "capped" ? "codeCapped" : "codeHidden"), "span"));
  }
  els.codeAgain.hidden = !why;
  renderCountdown();
}

// ---- 用证记录: a credential's use records, as its issuing gateway signed them -----------------

let usesShown = null; // {record, gateway, kid, uses}

function openUses(record) {
  guarded("busyUses", async () => {
    closeCode();
    closeDelegations();
    usesShown = null;
    renderUses();
    const got = await readUses(record, holder);
    usesShown = { record, ...got };
    renderUses();
    els.usesView.scrollIntoView({ block: "start" });
  });
}

function closeUses() {
  usesShown = null;
  renderUses();
}

const RESULTS = { VALID: "resultValid", REVOKED: "resultRevoked", SUSPENDED: "resultSuspended", EXPIRED: "resultExpired" };

function useItem(record, u) {
  const ok = u.reason_code === "VALID";
  const fields = Array.isArray(u.fields) ? u.fields.slice(0, 64) : [];
  const labelled = (which) =>
    fields.map((name) => textPair(label(record, name), String(name))[which]).join(which === "zh" ? "、" : ", ");
  // 委托用证: a use by an authorised delegate names the delegate
  const by = u.shown_by && typeof u.shown_by === "object" ? u.shown_by : {};
  const delegate = by.kind === "delegate" && typeof by.name === "string" ? by.name : null;
  const result = RESULTS[u.reason_code]
    ? both(RESULTS[u.reason_code])
    : both("resultOther", { c: String(u.reason_code || "—") });
  return h(
    "li",
    { class: `card wallet-card use-item history-${ok ? "ok" : "bad"}` },
    h("p", { class: "history-head" }, `${u.counter}（${u.city}）`, h("span", { class: "history-outcome" }, result[lang])),
    ...(delegate ? [pair("p", "use-by", both("usesByDelegate", { n: delegate }), "span")] : []),
    h("p", { class: "use-reason" }, `${t("purpose")}${t("colon")}${u.reason}`),
    h("p", { class: "use-fields" }, `${t("usesFields")}${t("colon")}${labelled(lang) || "—"}`),
    h("p", { class: "hint" }, formatTime(u.at) || String(u.at)),
  );
}

function renderUses() {
  els.usesView.hidden = !usesShown;
  if (!usesShown) {
    els.uses.replaceChildren();
    els.usesVerified.replaceChildren();
    return;
  }
  const { record, gateway, kid, uses } = usesShown;
  els.usesType.textContent = textPair(record.typeName, record.type)[lang];
  els.usesVerified.replaceChildren(
    pair("span", null, both("usesVerified", { g: gateway, k: String(kid).slice(0, 12) }), "span"),
  );
  els.uses.replaceChildren(
    ...(uses.length ? uses.map((u) => useItem(record, u)) : [pair("li", "hint", both("usesNone"))]),
  );
}

// ---- 委托用证: delegate a credential, list and revoke its delegations ------------------------

// {record, copy, list, offer, confirming, fields: [{field, zh, en}], problem: {zh, en} | null}
let dl = null;
const FIELD_ERRORS = { name: "delegate-name-error", purposes: "delegate-purposes-error", until: "delegate-until-error" };

function openDelegations(record) {
  guarded("busyDelegations", async () => {
    closeCode();
    closeUses();
    const copy = delegationOf(record);
    const list = await listDelegations(record, holder);
    const same = dl && dl.record.id === record.id;
    dl = { record, copy, list, offer: null, confirming: null, fields: [], problem: null };
    if (!same) {
      els.dlForm.reset();
      els.dlUntil.value = "";
    }
    renderDelegations();
    els.dlView.scrollIntoView({ block: "start" });
  });
}

function closeDelegations() {
  dl = null;
  renderDelegations();
}

function onDelegate(event) {
  event.preventDefault();
  const view = dl;
  if (!view || view.copy) return;
  const purposes = els.dlPurposes.value.split(/\n/).map((p) => p.trim()).filter(Boolean);
  const asked = { name: els.dlName.value, purposes, until: els.dlUntil.value };
  view.fields = [];
  view.problem = null;
  view.offer = null;
  renderDelegations();
  guarded("busyDelegate", async () => {
    try {
      const made = await delegate(view.record, holder, asked);
      view.offer = made.offer;
      view.list = await listDelegations(view.record, holder);
      els.dlForm.reset();
      showNotice(both("delegated", { n: made.delegation.delegate }), "ok");
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      const said = err.fields || [];
      view.fields = said.filter((f) => f.field in FIELD_ERRORS);
      // Under each field what the gateway said of it; anything else (a credential that cannot
      // be delegated, a refused proof, a malformed field) as the whole message.
      view.problem = view.fields.length && view.fields.length === said.length ? null : err.texts;
    } finally {
      renderDelegations();
    }
    if (view.offer) els.dlOffer.scrollIntoView({ block: "start" });
  });
}

function onRevoke(item) {
  const view = dl;
  guarded("busyRevoke", async () => {
    view.confirming = null;
    view.problem = null;
    try {
      const done = await revokeDelegation(view.record, holder, item.id);
      view.list = view.list.map((d) => (d.id === done.id ? done : d));
      showNotice(both("revoked", { n: done.delegate }), "ok");
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      view.problem = err.texts;
    } finally {
      renderDelegations();
    }
  });
}

function delegationItem(view, d) {
  const purposes = (which) => d.purposes.join(which === "zh" ? "、" : ", ");
  const live = d.state === "active" || d.state === "suspended";
  const confirming = view.confirming === d.id;
  const ask = (key, cls, onClick) => action(cls, key, onClick);
  return h(
    "li",
    { class: `card wallet-card delegation-item history-${d.state === "active" ? "ok" : "bad"}`, "data-delegation": d.id },
    h("p", { class: "history-head" }, h("span", { class: "delegation-agent" }, d.delegate),
      pair("span", "history-outcome delegation-state", d.stateText, "span")),
    h("p", { class: "delegation-purposes" }, `${t("delegationPurposes")}${t("colon")}${purposes(lang)}`),
    h("p", { class: "delegation-until" }, `${t("delegationUntil")}${t("colon")}${untilText(d.until)}`),
    pair("p", "hint delegation-received", both(d.received ? "delegationReceived" : "delegationNotReceived"), "span"),
    d.revokedAt ? h("p", { class: "hint" }, fill(t("delegationRevokedAt"), { t: formatTime(d.revokedAt) })) : null,
    !view.copy && live && !confirming
      ? h("div", { class: "card-actions" }, ask("revoke", "button button--danger revoke-button", () => {
          view.confirming = d.id;
          renderDelegations();
        }))
      : null,
    confirming
      ? h("div", { class: "revoke-confirm", role: "alertdialog", "aria-label": t("revoke") },
          pair("p", null, both("revokeConfirm", { n: d.delegate }), "span"),
          h("div", { class: "consent-actions" },
            ask("revokeYes", "button button--danger revoke-yes", () => onRevoke(d)),
            ask("revokeNo", "button button--secondary revoke-no", () => {
              view.confirming = null;
              renderDelegations();
            })))
      : null,
  );
}

function renderDelegations() {
  els.dlView.hidden = !dl;
  if (!dl) {
    els.dlList.replaceChildren();
    return;
  }
  const { record, copy, list, offer, fields, problem } = dl;
  els.dlType.textContent = textPair(record.typeName, record.type)[lang];
  els.dlCopy.hidden = !copy;
  els.dlCopy.replaceChildren(...(copy ? [pair("span", null, copyText(copy), "span")] : []));
  els.dlForm.hidden = Boolean(copy);
  for (const [field, id] of Object.entries(FIELD_ERRORS)) {
    const said = fields.filter((f) => f.field === field);
    const el = $(id);
    el.hidden = !said.length;
    el.replaceChildren(...said.map((f) => pair("span", "field-message", f, "span")));
    const input = el.previousElementSibling;
    if (said.length) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
  els.dlProblem.hidden = !problem;
  els.dlProblem.replaceChildren(...(problem ? [pair("span", null, problem, "span")] : []));
  els.dlOffer.hidden = !offer;
  if (offer) {
    if (els.dlOfferQr.getAttribute("src") !== offer.qrPng) els.dlOfferQr.src = offer.qrPng;
    els.dlOfferLink.value = offer.link;
    els.dlOfferPin.textContent = offer.pin;
  } else {
    els.dlOfferQr.removeAttribute("src");
    els.dlOfferLink.value = "";
    els.dlOfferPin.textContent = "";
  }
  els.dlList.replaceChildren(
    ...(list.length ? list.map((d) => delegationItem(dl, d)) : [pair("li", "hint", both("delegationsNone"))]),
  );
}

async function copyOffer() {
  els.dlOfferLink.select();
  try {
    await navigator.clipboard.writeText(els.dlOfferLink.value);
  } catch (_) {
    document.execCommand("copy"); // no clipboard permission: the selected text
  }
  els.dlOfferCopy.textContent = t("offerCopied");
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
    const record = await receive(link, pin, holder);
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
    outcome = await present(taken.asked, taken.choice || taken.matches[0], holder);
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
  // The camera where the browser has BarcodeDetector, else a photo the gateway decodes; both
  // stop when the page is hidden (page.js).
  qrReader(els, {
    imagePath: "/wallet/api/qr/image",
    onText: scanned,
    onProblem: (texts) => showNotice(texts),
    onBusy: (on) => busy(on ? "busyResolve" : null),
  });
  els.codeClose.addEventListener("click", closeCode);
  els.codeAgain.addEventListener("click", () => shown && openCode(shown.record));
  els.usesClose.addEventListener("click", closeUses);
  els.dlForm.addEventListener("submit", onDelegate);
  els.dlClose.addEventListener("click", closeDelegations);
  els.dlOfferCopy.addEventListener("click", () => copyOffer().catch(fail));
  window.addEventListener("pagehide", closeCode);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden && shown && !shown.stopped) stopCode("hidden");
  });
  window.addEventListener("hashchange", fromHash);
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
