// ecert-gateway counter page (/counter). Plain ES2020 module, no build step, no external
// resources.
//
// - Sign in: the counter key (vk_…) is checked with GET {api_base}/api/v1/counter and kept in
//   sessionStorage only (this tab; never a URL, never localStorage); "sign out" forgets it.
// - Ask: a type and fields among those the counter's role allows, and a reason; POST
//   {api_base}/api/v1/presentation-requests makes the signed request. Its QR, its openid4vp://
//   link (copyable) and a countdown to its expiry are shown.
// - Live: GET {api_base}/api/v1/presentation-requests/{id} once a second, backing off on errors
//   (2, 4, 8, at most 10 s), each call bounded; it stops when the wallet answered, when the
//   request expired, on sign-out and on a new request. The answer is shown as /v shows one.
// - A reference code (亮证码): a scanner gun types it into the code field and presses Enter;
//   POST {api_base}/api/v1/references/resolve {code, reason} (the same reason field) answers
//   in the shape of a presentation's result, shown in the same view (a used, expired or unknown
//   code with its reason code; too many wrong codes: the gateway's 429 message with its wait).
//   The field is emptied and focused after each result, so the next scan needs no click.
// - The camera (where BarcodeDetector reads QR codes) or an uploaded photo (read by
//   POST {api_base}/wallet/api/qr/image, the gateway's QR reader that keeps nothing and needs
//   no key) gives a QR's text: a reference code, in either form, goes into the code field and
//   resolves at once with the reason; anything else (a wallet request's openid4vp:// link, a
//   certificate's QR) is refused with what was expected and what was found.
// What the pages share (language, DOM helpers, the verdict banner, API calls) is page.js.
import { announce, both, callApi, caution, chainNode, errorFrom, fieldsTable, fill } from "./page.js";
import { formatTime, formatValue, freshness, h, pair, resultVerdict, startLang, t } from "./page.js";
import { qrReader, textPair, useTexts, verdict } from "./page.js";

const KEY_STORE = "ecert.counterKey"; // sessionStorage
const POLL_MS = 1000;
const MAX_BACKOFF_MS = 10000;
const POLL_TIMEOUT_MS = 8000;
const EXPIRY_GRACE_MS = 5000; // polls past the expiry the page computed, for a late answer
const QR_IMAGE_PATH = "/wallet/api/qr/image";
// trust/reference_code.py: 16 base32 characters, after a GB/T 2260 region code in the routable
// form; any case, spaces and hyphens ignored, at most 64 characters.
const MAX_CODE_INPUT = 64;
const CITY_CODE = /^[1-9]\d{5}$/;
const BARE_CODE = /^[A-Z2-7]{16}$/;
const SHOWN_CHARS = 40; // of a QR that is not a code, in the message

useTexts({
  zh: {
    brand: "核验点出示请求",
    title: "核验点出示请求",
    signinTitle: "核验点登录",
    keyLabel: "核验点密钥（vk_ 开头，登记核验点时显示一次）",
    keyHint: "密钥只保存在本浏览器标签页中，关闭标签页或退出登录即清除。",
    signin: "登录",
    signout: "退出登录",
    typeLabel: "证照类型",
    fieldsLabel: "索取字段（本核验点角色允许的）",
    reasonLabel: "用证事由（必填）",
    reasonHint: "最多 {n} 个字符；持证人出示前或在用证记录中会看到。",
    codeLabel: "亮证码（扫码枪扫描，或输入后按回车）",
    codeHint: "持证人在电子证照钱包中出示的亮证码，每个码只能核验一次。",
    resolveCode: "核验亮证码",
    askTitle: "或请持证人用钱包出示",
    errNoCode: "请扫描或输入亮证码。",
    camera: "用摄像头扫码",
    upload: "上传二维码图片",
    cameraHint: "将持证人的亮证码二维码对准取景框",
    cameraStop: "关闭摄像头",
    errRequestQr: "这是出示请求的二维码（openid4vp://），应由持证人的钱包扫描；此处请扫描持证人钱包中的亮证码。",
    errNotCode: "二维码内容不是亮证码：应为 330100-ABCD-EFGH-JKLM-NP23 这样的码，读到的是“{f}”。",
    headThrottled: "请稍后再试",
    shownBy: "出示方式",
    byCode: "亮证码",
    codeBound: "已确认（亮证码由证照绑定的钱包密钥申请）",
    byMark: "（信任标志授予，提交时核验）",
    ask: "生成出示请求",
    busy: "请稍候…",
    requestTitle: "请持证人用电子证照钱包扫描",
    headExpired: "已过期",
    qrAlt: "出示请求二维码",
    linkLabel: "出示链接（同一台设备上的钱包可粘贴）",
    copy: "复制",
    copied: "已复制",
    copyFailed: "无法自动复制，请手动选中链接复制。",
    remaining: "剩余 {t}",
    waiting: "等待持证人出示…",
    retrying: "暂时无法获取结果，{s} 秒后重试。",
    expired: "出示请求已过期，持证人未出示。",
    askedType: "证照",
    askedFields: "字段",
    askedReason: "用证事由",
    resultLabel: "出示结果",
    again: "发起新的出示请求",
    footer: "出示结果依据签发机构的数字签名、持证人绑定和证照状态数据得出。",
    home: "网关首页",
    cautionBad: "出示未通过，请勿依据本次出示办理业务。",
    cautionUnsure: "目前无法确认证照是否有效，请勿仅凭本次出示办理业务。",
    noFields: "持证人未披露任何字段。",
    holderBinding: "持证人绑定",
    bound: "已确认（出示由证照绑定的密钥签名）",
    notBound: "未确认",
    status: "证照状态",
    statusValid: "有效（未撤销、未暂停）",
    statusRevoked: "已撤销",
    statusSuspended: "暂停使用",
    statusUnavailable: "无法获取状态数据",
    statusNotChecked: "未查询（核验在此之前未通过）",
    reasonAsked: "用证事由",
    shownByDelegate: "由授权代理人 {n} 出示",
    delegationInfo: "委托人：{by}；委托事项：{p}；期限至 {u}",
    errNoFields: "请至少选择一个字段。",
    errNoReason: "请填写用证事由。",
    errKeyShape: "核验点密钥应以 vk_ 开头。",
    errSignedOut: "核验点密钥无效或已被撤销，请重新登录。",
  },
  en: {
    brand: "Counter: ask for a presentation",
    title: "Counter presentation request",
    signinTitle: "Counter sign-in",
    keyLabel: "Counter key (starts vk_, shown once when the counter was registered)",
    keyHint: "The key is kept in this browser tab only; closing the tab or signing out forgets it.",
    signin: "Sign in",
    signout: "Sign out",
    typeLabel: "Certificate type",
    fieldsLabel: "Fields to ask for (those this counter's role allows)",
    reasonLabel: "Reason (required)",
    reasonHint: "At most {n} characters; the holder sees it before presenting or in the use records.",
    codeLabel: "Reference code (scan it with the scanner, or type it and press Enter)",
    codeHint: "The code the holder shows in the e-certificate wallet; each code resolves once.",
    resolveCode: "Check the code",
    askTitle: "Or ask the holder's wallet for a presentation",
    errNoCode: "Scan or type the reference code.",
    camera: "Scan with camera",
    upload: "Upload QR photo",
    cameraHint: "Point the camera at the holder's reference code QR",
    cameraStop: "Close camera",
    errRequestQr: "This QR is a presentation request (openid4vp://), for the holder's wallet to scan; here, scan the reference code the holder's wallet shows.",
    errNotCode: "The QR does not hold a reference code: expected one like 330100-ABCD-EFGH-JKLM-NP23, found “{f}”.",
    headThrottled: "Try again later",
    shownBy: "Shown by",
    byCode: "Reference code",
    codeBound: "Confirmed (the code was asked for with the wallet key the certificate is bound to)",
    byMark: " (granted by a trust mark, checked when asked)",
    ask: "Create the request",
    busy: "Please wait…",
    requestTitle: "Ask the holder to scan this with their e-certificate wallet",
    headExpired: "Expired",
    qrAlt: "Presentation request QR code",
    linkLabel: "Request link (a wallet on the same device can paste it)",
    copy: "Copy",
    copied: "Copied",
    copyFailed: "Cannot copy automatically; select the link and copy it.",
    remaining: "{t} left",
    waiting: "Waiting for the holder to present…",
    retrying: "Cannot read the result just now; retrying in {s} s.",
    expired: "The request expired; the holder did not present.",
    askedType: "Certificate",
    askedFields: "Fields",
    askedReason: "Reason",
    resultLabel: "Presentation result",
    again: "New presentation request",
    footer: "The answer rests on the issuer's signature, the holder binding and the status data.",
    home: "Gateway home",
    cautionBad: "The presentation failed; do not rely on it.",
    cautionUnsure: "Validity cannot be confirmed now; do not rely on this presentation alone.",
    noFields: "The holder disclosed no field.",
    holderBinding: "Holder binding",
    bound: "Confirmed (signed with the key the certificate is bound to)",
    notBound: "Not confirmed",
    status: "Status",
    statusValid: "Valid (not revoked, not suspended)",
    statusRevoked: "Revoked",
    statusSuspended: "Suspended",
    statusUnavailable: "Status data unavailable",
    statusNotChecked: "Not checked (verification failed before it)",
    reasonAsked: "Reason",
    shownByDelegate: "shown by authorised delegate {n}",
    delegationInfo: "delegated by {by}; purposes: {p}; until {u}",
    errNoFields: "Choose at least one field.",
    errNoReason: "Enter the reason.",
    errKeyShape: "A counter key starts with vk_.",
    errSignedOut: "The counter key is not valid (or was withdrawn); sign in again.",
  },
});

const STATUS_KEYS = {
  VALID: "statusValid",
  REVOKED: "statusRevoked",
  SUSPENDED: "statusSuspended",
  STATUS_UNAVAILABLE: "statusUnavailable",
};

const $ = (id) => document.getElementById(id);
const els = {
  signin: $("signin"),
  signinForm: $("signin-form"),
  keyInput: $("key-input"),
  desk: $("desk"),
  deskName: $("desk-name"),
  deskRole: $("desk-role"),
  signout: $("signout"),
  askForm: $("ask-form"),
  type: $("type-select"),
  boxes: $("field-boxes"),
  reason: $("reason-input"),
  reasonHint: $("reason-hint"),
  codeForm: $("code-form"),
  code: $("code-input"),
  codeButton: $("code-button"),
  cameraButton: $("camera-button"),
  camera: $("camera"),
  video: $("camera-video"),
  cameraStop: $("camera-stop"),
  upload: $("upload-button"),
  file: $("file-input"),
  askButton: $("ask-button"),
  busy: $("busy"),
  problem: $("problem"),
  request: $("request"),
  qr: $("request-qr"),
  countdown: $("countdown"),
  waiting: $("waiting"),
  link: $("request-link"),
  copy: $("copy"),
  copied: $("copied"),
  asked: $("asked"),
  result: $("result"),
  announce: $("announce"),
  again: $("again"),
};

let key = null; // the counter key, mirrored in sessionStorage
let profile = null; // GET /api/v1/counter
let problem = null; // {zh, en, code}: the last error to show
let current = null; // the live request: {id, uri, qr_png, type, fields, reason, deadline}
let answered = null; // {reason, result, byCode?}: a presentation's answer or a code's result
let waitingKey = ""; // what #waiting says: "waiting", "retrying", "expired"
let retryIn = 0;
let pollTimer = 0;
let tickTimer = 0;
let copiedKey = "";
let reader = null; // page.js's QR reader: the camera and the photo upload

// ---- storage -------------------------------------------------------------------------------

function storedKey() {
  try {
    return window.sessionStorage.getItem(KEY_STORE);
  } catch (_) {
    return null;
  }
}

function storeKey(value) {
  try {
    if (value) window.sessionStorage.setItem(KEY_STORE, value);
    else window.sessionStorage.removeItem(KEY_STORE);
  } catch (_) {
    // Storage disabled: the key lasts as long as this page.
  }
}

const authorised = () => ({ Authorization: `Bearer ${key}` });

// ---- problems (zh/en, both shown) ----------------------------------------------------------

function fieldErrors(data) {
  const errors = data && data.detail && Array.isArray(data.detail.errors) ? data.detail.errors : [];
  return errors.filter((e) => e && (e.message || e.message_en));
}

function problemFrom(answer) {
  if (answer.error) return answer.error;
  const base = errorFrom(answer.status, answer.data);
  const listed = fieldErrors(answer.data);
  if (!listed.length) return base;
  return {
    zh: listed.map((e) => e.message || e.message_en).join("；"),
    en: listed.map((e) => e.message_en || e.message).join("; "),
    code: base.code,
  };
}

function showProblem(next) {
  problem = next;
  renderProblem();
}

function renderProblem() {
  const banner = problem && verdict("warn", "warn", problem.head || "headError", problem, problem.code);
  els.problem.replaceChildren(...(banner ? [h("article", { class: "result-item" }, banner)] : []));
}

// ---- sign in and out -----------------------------------------------------------------------

async function signIn(candidate, quiet) {
  els.busy.hidden = false;
  const answer = await callApi("/api/v1/counter", {
    headers: { Authorization: `Bearer ${candidate}` },
  });
  els.busy.hidden = true;
  if (answer.ok && answer.data && typeof answer.data.id === "string") {
    key = candidate;
    storeKey(key);
    profile = answer.data;
    showProblem(null);
    els.keyInput.value = "";
    els.signin.hidden = true;
    els.desk.hidden = false;
    renderDesk(true);
    els.reason.focus();
    return;
  }
  if (answer.status === 401) storeKey(null);
  showSignIn();
  if (!quiet || answer.status !== 401) showProblem(problemFrom(answer));
}

function showSignIn() {
  stopRequest();
  if (reader) reader.stop();
  key = null;
  profile = null;
  els.desk.hidden = true;
  els.askForm.hidden = false;
  els.request.hidden = true;
  els.result.replaceChildren();
  els.again.hidden = true;
  els.signin.hidden = false;
  els.keyInput.focus();
}

function signOut(why) {
  storeKey(null);
  showSignIn();
  showProblem(why || null);
}

// ---- the desk: who the counter is, what it may ask -----------------------------------------

function chosenType() {
  return (profile.may_request || []).find((x) => x.type === els.type.value) || profile.may_request[0];
}

function renderDesk(fresh) {
  els.deskName.replaceChildren(profile.name);
  els.deskRole.replaceChildren(
    `${profile.city.name} · `,
    pair("span", null, textPair(profile.role.name, profile.role.code)),
  );
  const selected = fresh ? null : els.type.value;
  els.type.replaceChildren(
    ...profile.may_request.map((x) =>
      h("option", { value: x.type, selected: x.type === selected }, formatValue(x.name)),
    ),
  );
  const checked = fresh
    ? null
    : new Set([...els.boxes.querySelectorAll("input:checked")].map((box) => box.value));
  renderFieldBoxes(checked);
  const max = profile.reason_max_length;
  els.reason.maxLength = max;
  els.reasonHint.textContent = fill(t("reasonHint"), { n: max });
}

function renderFieldBoxes(checked) {
  els.boxes.replaceChildren(
    ...chosenType().fields.map((field) =>
      h(
        "label",
        { class: "field-box" },
        h("input", {
          type: "checkbox",
          name: "field",
          value: field.name,
          checked: checked === null ? !field.trust_mark : checked.has(field.name),
        }),
        pair("span", null, textPair(field.label, field.name)),
        field.trust_mark ? pair("small", "by-mark", both("byMark")) : null,
      ),
    ),
  );
}

// ---- asking --------------------------------------------------------------------------------

async function ask() {
  const fields = [...els.boxes.querySelectorAll("input:checked")].map((box) => box.value);
  const reason = els.reason.value.trim();
  if (!fields.length) return showProblem(both("errNoFields"));
  if (!reason) {
    els.reason.focus();
    return showProblem(both("errNoReason"));
  }
  showProblem(null);
  stopRequest();
  els.askButton.disabled = true;
  els.busy.hidden = false;
  const type = els.type.value;
  const asking = key;
  const answer = await callApi("/api/v1/presentation-requests", {
    method: "POST",
    headers: { ...authorised(), "Content-Type": "application/json" },
    body: JSON.stringify({ type, fields, reason }),
  });
  els.askButton.disabled = false;
  els.busy.hidden = true;
  if (key !== asking) return; // signed out meanwhile
  if (answer.status === 401) return signOut(both("errSignedOut"));
  if (!answer.ok || !answer.data || typeof answer.data.id !== "string") {
    return showProblem(problemFrom(answer));
  }
  // The countdown runs on this machine's clock, from the gateway's own time of the answer.
  const served = Date.parse(answer.response.headers.get("Date") || "");
  const now = Number.isNaN(served) ? Date.now() : served;
  const left = Math.min(profile.request_ttl * 1000, Math.max(0, answer.data.expires_at * 1000 - now));
  current = { ...answer.data, type, fields, reason, deadline: Date.now() + left };
  answered = null;
  showRequest();
  schedulePoll(POLL_MS, 0);
}

function showRequest() {
  const apiBase = (document.body.dataset.apiBase || "").replace(/\/+$/, "");
  els.result.replaceChildren();
  els.askForm.hidden = true;
  els.again.hidden = false; // also the way to give up on this request
  els.qr.src = apiBase + current.qr_png;
  els.link.value = current.uri;
  copiedKey = "";
  els.copied.textContent = "";
  setWaiting("waiting");
  els.request.hidden = false;
  tick();
  tickTimer = window.setInterval(tick, 1000);
  renderAsked();
  els.request.scrollIntoView({ block: "start" });
}

function renderAsked() {
  if (!current) return;
  const type = profile.may_request.find((x) => x.type === current.type);
  const labels = new Map((type ? type.fields : []).map((f) => [f.name, f.label]));
  const item = (labelKey, value) =>
    h("div", null, pair("dt", null, both(labelKey)), h("dd", null, value));
  els.asked.replaceChildren(
    item("askedType", type ? formatValue(type.name) : current.type),
    item("askedFields", current.fields.map((f) => formatValue(labels.get(f) || f)).join(t("listSep"))),
    item("askedReason", current.reason),
  );
}

function tick() {
  if (!current) return;
  const left = Math.max(0, Math.ceil((current.deadline - Date.now()) / 1000));
  const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  els.countdown.textContent = fill(t("remaining"), { t: clock });
  els.countdown.classList.toggle("countdown--low", left <= 30);
}

function setWaiting(which, seconds) {
  waitingKey = which;
  retryIn = seconds || 0;
  els.waiting.textContent = which ? fill(t(which), { s: retryIn }) : "";
}

function stopRequest() {
  window.clearTimeout(pollTimer);
  window.clearInterval(tickTimer);
  pollTimer = 0;
  tickTimer = 0;
  current = null;
}

function schedulePoll(delay, failures) {
  window.clearTimeout(pollTimer);
  const mine = current;
  pollTimer = window.setTimeout(() => poll(mine, failures), delay);
}

async function poll(mine, failures) {
  if (!mine || mine !== current) return; // signed out, or a newer request
  const answer = await callApi(
    `/api/v1/presentation-requests/${encodeURIComponent(mine.id)}`,
    { headers: authorised() },
    POLL_TIMEOUT_MS,
  );
  if (mine !== current) return;
  if (answer.status === 401) return signOut(both("errSignedOut"));
  const data = answer.ok && answer.data && typeof answer.data.state === "string" ? answer.data : null;
  if (data && data.state === "answered" && data.result) return showAnswer(data);
  if ((data && data.state === "expired") || Date.now() > mine.deadline + EXPIRY_GRACE_MS) {
    return showExpired();
  }
  if (data) {
    setWaiting("waiting");
    return schedulePoll(POLL_MS, 0);
  }
  const delay = Math.min(MAX_BACKOFF_MS, POLL_MS * 2 ** (failures + 1));
  setWaiting("retrying", Math.round(delay / 1000));
  schedulePoll(delay, failures + 1);
}

function showExpired() {
  stopRequest();
  els.request.hidden = true;
  showProblem({ ...both("expired"), code: null, head: "headExpired" });
  els.again.hidden = false;
}

function showAnswer(data) {
  stopRequest();
  answered = data;
  els.request.hidden = true;
  renderAnswer(true);
  els.again.hidden = false;
  els.result.scrollIntoView({ block: "start" });
  els.code.focus({ preventScroll: true }); // a scanned code may come next
}

// ---- a reference code (亮证码) -------------------------------------------------------------

async function resolveCode() {
  const code = els.code.value.trim();
  const reason = els.reason.value.trim();
  if (!code) {
    els.code.focus();
    return showProblem(both("errNoCode"));
  }
  if (!reason) {
    els.reason.focus();
    return showProblem(both("errNoReason"));
  }
  showProblem(null);
  // A code answers at once: any live presentation request gives way to it.
  stopRequest();
  answered = null;
  els.request.hidden = true;
  els.askForm.hidden = false;
  els.again.hidden = true;
  els.result.replaceChildren();
  els.code.value = "";
  els.codeButton.disabled = true;
  els.busy.hidden = false;
  const asking = key;
  const answer = await callApi("/api/v1/references/resolve", {
    method: "POST",
    headers: { ...authorised(), "Content-Type": "application/json" },
    body: JSON.stringify({ code, reason }),
  });
  els.codeButton.disabled = false;
  els.busy.hidden = true;
  if (key !== asking) return; // signed out meanwhile
  if (answer.status === 401) return signOut(both("errSignedOut"));
  if (answer.ok && answer.data && typeof answer.data.reason === "string") {
    answered = { reason, result: answer.data, byCode: true };
    renderAnswer(true);
  } else if (answer.status === 429) {
    showProblem({ ...problemFrom(answer), head: "headThrottled" });
  } else {
    showProblem(problemFrom(answer));
  }
  els.code.focus({ preventScroll: true }); // the next scan needs no click
}

/** The code a QR's text holds, grouped (330100-ABCD-EFGH-JKLM-NP23 or ABCD-EFGH-JKLM-NP23), or
 * null when it holds none. */
function referenceCode(text) {
  if (text.length > MAX_CODE_INPUT) return null;
  const plain = text.replace(/[\s-]+/g, "").toUpperCase();
  const city = plain.length === 22 ? plain.slice(0, 6) : null;
  const code = city ? plain.slice(6) : plain;
  if ((city && !CITY_CODE.test(city)) || !BARE_CODE.test(code)) return null;
  const grouped = code.match(/.{4}/g).join("-");
  return city ? `${city}-${grouped}` : grouped;
}

/** A QR read by the camera or from a photo: a code resolves at once (resolveCode asks for the
 * reason first, keeping the code in the field); anything else is refused. */
function fromQr(text) {
  const code = referenceCode(text);
  if (code) {
    els.code.value = code;
    resolveCode();
    return;
  }
  const trimmed = text.trim();
  const shown = trimmed.length > SHOWN_CHARS ? trimmed.slice(0, SHOWN_CHARS - 1) + "…" : trimmed;
  qrProblem(/^openid4vp:/i.test(trimmed) ? both("errRequestQr") : both("errNotCode", { f: shown }));
}

/** A QR that gave no code (or no QR at all): the previous holder's result goes, so it is not
 * taken for this one's. */
function qrProblem(next) {
  answered = null;
  els.result.replaceChildren();
  showProblem(next);
  els.code.focus({ preventScroll: true });
}

// ---- the answer, in /v's style -------------------------------------------------------------

function answerCard(data, result, kind) {
  const parts = [caution(result, kind)];
  const byCode = data.byCode === true;
  if (result.type || !byCode) {
    parts.push(pair("h2", "cred-type", textPair(result.type_name, result.type), "span"));
  }
  parts.push(...delegationLines(result.delegation));
  const fields = Array.isArray(result.fields) ? result.fields : [];
  if (!fields.length && !(byCode && !result.type)) parts.push(pair("p", "hint", both("noFields")));
  const bound = result.holder_binding === true;
  const boundKey = bound ? (byCode ? "codeBound" : "bound") : "notBound";
  const own = fields.map((f) => [textPair(f.label, f.name), formatValue(f.value)]);
  const metas = [
    ...(byCode ? [[both("shownBy"), pair("span", null, both("byCode"))]] : []),
    ...(result.type
      ? [[both("holderBinding"), pair("span", bound ? "bound" : "not-bound", both(boundKey))]]
      : []),
    ...(result.type || !byCode
      ? [[both("status"), pair("span", null, both(STATUS_KEYS[result.reason] || "statusNotChecked"))]]
      : []),
    ...(result.issuer ? [[both("issuer"), chainNode(result.issuer)]] : []),
    [both("reasonAsked"), data.reason],
  ];
  // A code's result says how old both the trust list and the status data were; a code that
  // resolved nothing used neither, so only when it was checked.
  let fresh = freshness(result.status_as_of, undefined, result.checked_at, result.freshness);
  if (byCode && result.type && result.freshness) {
    const f = result.freshness;
    fresh = freshness(f.status, f.trust, result.checked_at, f);
  } else if (byCode) {
    fresh = fresh.slice(1);
  }
  parts.push(fieldsTable(own, metas), ...fresh);
  return h("div", { class: `card card--${kind}` }, parts);
}

/** Who showed a delegated credential (委托用证): the delegate by name, for whom, for what, until
 * when; nothing when the holder showed it. */
function delegationLines(delegation) {
  if (!delegation || typeof delegation.delegate !== "string") return [];
  const purposes = Array.isArray(delegation.purposes) ? delegation.purposes : [];
  const by = (delegation.delegated_by && delegation.delegated_by.name) || "";
  const until = formatTime(delegation.until) || "—";
  const info = {
    zh: both("delegationInfo", { by, p: purposes.join("、"), u: until }).zh,
    en: both("delegationInfo", { by, p: purposes.join(", "), u: until }).en,
  };
  return [
    pair("p", "delegate", both("shownByDelegate", { n: delegation.delegate }), "span"),
    pair("p", "delegation-info", info, "span"),
  ];
}

function renderAnswer(speak) {
  const banner = resultVerdict(answered.result, true);
  els.result.replaceChildren(
    h("article", { class: "result-item" }, banner.node, answerCard(answered, answered.result, banner.kind)),
  );
  if (speak) announce(els.announce, banner.spoken);
}

// ---- copy the link -------------------------------------------------------------------------

async function copyLink() {
  let done = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(els.link.value);
      done = true;
    }
  } catch (_) {
    done = false;
  }
  if (!done) {
    els.link.focus();
    els.link.select();
    try {
      done = document.execCommand("copy");
    } catch (_) {
      done = false;
    }
  }
  copiedKey = done ? "copied" : "copyFailed";
  els.copied.textContent = t(copiedKey);
}

// ---- start ---------------------------------------------------------------------------------

function relabel() {
  if (profile) renderDesk(false);
  renderAsked();
  renderProblem();
  if (answered) renderAnswer(false);
  if (current) tick();
  if (waitingKey) setWaiting(waitingKey, retryIn);
  els.copied.textContent = copiedKey ? t(copiedKey) : "";
}

function start() {
  startLang(relabel);
  els.signinForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const candidate = els.keyInput.value.trim();
    if (!candidate.startsWith("vk_")) return showProblem(both("errKeyShape"));
    signIn(candidate, false);
  });
  els.signout.addEventListener("click", () => signOut(null));
  els.type.addEventListener("change", () => renderFieldBoxes(null));
  els.askForm.addEventListener("submit", (event) => {
    event.preventDefault();
    ask();
  });
  els.codeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    resolveCode();
  });
  els.copy.addEventListener("click", copyLink);
  reader = qrReader(els, {
    imagePath: QR_IMAGE_PATH,
    onText: fromQr,
    onProblem: qrProblem,
    onBusy: (on) => {
      els.busy.hidden = !on;
      els.upload.disabled = on;
    },
  });
  els.again.addEventListener("click", () => {
    stopRequest();
    answered = null;
    els.request.hidden = true;
    els.askForm.hidden = false;
    els.result.replaceChildren();
    els.again.hidden = true;
    showProblem(null);
    setWaiting("");
    els.reason.focus();
  });
  window.addEventListener("pagehide", stopRequest);
  const remembered = storedKey();
  if (remembered) signIn(remembered, true);
  else showSignIn();
}

start();
