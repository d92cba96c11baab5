// ecert-gateway pages (/v, /counter): what they share. Plain ES2020 module, no build step, no
// external resources.
//
// - The language: Chinese first, an English toggle (remembered in localStorage under
//   "ecert.lang"); markup carries the Chinese text and data-i18n keys, setLang() fills them.
// - DOM helpers that only ever set server text with textContent, never parse it as HTML.
// - The verdict banner and the rows of a result card, as /v shows them: large and clear.
// - Bounded calls to the gateway's JSON API, errors turned into {zh, en, code}.
// - Reading a QR: a camera (where the browser's BarcodeDetector reads qr_code) and a photo
//   upload the gateway decodes (qrReader).
//
// Deliberately not here: what a page does with them (verify.js, counter.js), or with a QR's
// text.

const LANG_KEY = "ecert.lang";
const TIME_ZONE = "Asia/Shanghai";
const AMBER = new Set(["SUSPENDED", "STATUS_UNAVAILABLE", "TRUST_LIST_STALE"]);
const TIMEOUT_MS = 20000;
export const MAX_UPLOAD_BYTES = 10 * 1024 * 1024; // the gateway's bound on an uploaded image
const DETECT_EVERY_MS = 250;

const COMMON = {
  zh: {
    headValid: "有效",
    headValidNotHolder: "证照有效，持证人未核验",
    headInvalid: "无效",
    headSuspended: "暂停使用",
    headUnsure: "无法确认",
    headError: "无法核验",
    issuer: "签发机构",
    freshStatus: "状态数据更新于 {t}",
    freshAge: "（{a}前，时效上限 {m}）",
    freshAgeUnbounded: "（{a}前）",
    ageUnits: { s: "秒", min: "分钟", h: "小时", d: "天" },
    freshTrust: "信任列表更新于 {t}",
    notAvailable: "无",
    checkedAt: "核验时间 {t}（北京时间）",
    errorCode: "错误代码 {c}",
    roles: { agency: "签发机构", city: "市级", region: "省级 / 区域" },
    yes: "是",
    no: "否",
    listSep: "、",
    colon: "：",
    sentenceSep: "；",
    errNetwork: "无法连接核验服务，请检查网络后重试。",
    errTimeout: "核验超时，请重试。",
    errHttp: "核验服务返回错误（HTTP {s}）。",
    errShape: "核验服务返回了无法识别的应答。",
    errInvalid: "请求内容有误：{m}",
    errTooBig: "图片超过 10 MB，请缩小或截图后再上传。",
    errCamera: "无法打开摄像头：未获授权或设备不可用。",
  },
  en: {
    headValid: "Valid",
    headValidNotHolder: "Valid certificate, holder not verified",
    headInvalid: "Not valid",
    headSuspended: "Suspended",
    headUnsure: "Cannot confirm",
    headError: "Could not verify",
    issuer: "Issued by",
    freshStatus: "Status data as of {t}",
    freshAge: " ({a} old, relied on for at most {m})",
    freshAgeUnbounded: " ({a} old)",
    ageUnits: { s: " s", min: " min", h: " h", d: " d" },
    freshTrust: "trust list as of {t}",
    notAvailable: "none",
    checkedAt: "Checked at {t} (Beijing time)",
    errorCode: "Error code {c}",
    roles: { agency: "agency", city: "city", region: "region" },
    yes: "Yes",
    no: "No",
    listSep: ", ",
    colon: ": ",
    sentenceSep: "; ",
    errNetwork: "Cannot reach the verification service; check the network and try again.",
    errTimeout: "Verification timed out; please try again.",
    errHttp: "The verification service returned an error (HTTP {s}).",
    errShape: "The verification service gave an answer this page cannot read.",
    errInvalid: "Invalid request: {m}",
    errTooBig: "The image is over 10 MB; shrink it or take a screenshot and try again.",
    errCamera: "Cannot open the camera: permission denied or no camera available.",
  },
};

let T = COMMON;
export let lang = "zh";
let onLangChange = () => {};

// ---- language ------------------------------------------------------------------------------

/** The page's texts, over the shared ones; call once, before startLang(). */
export function useTexts(page) {
  T = { zh: { ...COMMON.zh, ...page.zh }, en: { ...COMMON.en, ...page.en } };
}

export const t = (key) => T[lang][key];
const other = () => (lang === "zh" ? "en" : "zh");
const langAttr = (which) => (which === "zh" ? "zh-CN" : "en");
export const fill = (template, values) =>
  template.replace(/\{(\w+)\}/g, (_, key) => (values[key] === undefined ? "" : values[key]));
export const both = (key, values) => ({
  zh: fill(T.zh[key], values || {}),
  en: fill(T.en[key], values || {}),
});

function storedLang() {
  try {
    return window.localStorage.getItem(LANG_KEY);
  } catch (_) {
    return null;
  }
}

function setLang(next, remember) {
  lang = next === "en" ? "en" : "zh";
  if (remember) {
    try {
      window.localStorage.setItem(LANG_KEY, lang);
    } catch (_) {
      // Private mode or storage disabled: the choice lasts for this page only.
    }
  }
  document.documentElement.lang = langAttr(lang);
  for (const el of document.querySelectorAll("[data-i18n]")) {
    const text = T[lang][el.dataset.i18n];
    if (typeof text === "string") el.textContent = text;
  }
  for (const [attr, key] of [["aria-label", "i18nAriaLabel"], ["alt", "i18nAlt"]]) {
    for (const el of document.querySelectorAll(`[data-i18n-${attr}]`)) {
      el.setAttribute(attr, T[lang][el.dataset[key]]);
    }
  }
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
  }
  const city = document.querySelector(".brand-city");
  document.title = T[lang].title + (city && city.textContent ? " · " + city.textContent : "");
  onLangChange();
}

/** Wire the toggle and apply the remembered (or the page's default) language; onChange runs
 * after every switch, for what the page rendered itself. With {remember: false} (a shared
 * kiosk) a choice is neither remembered nor taken from what was remembered. */
export function startLang(onChange, options) {
  const remember = !(options && options.remember === false);
  onLangChange = onChange || (() => {});
  for (const button of document.querySelectorAll("[data-lang]")) {
    button.addEventListener("click", () => setLang(button.dataset.lang, remember));
  }
  setLang((remember && storedLang()) || document.body.dataset.langDefault || "zh", false);
}

/** Back to the page's default language (Chinese), not remembered. */
export const resetLang = () => setLang(document.body.dataset.langDefault || "zh", false);

// ---- small DOM helpers ---------------------------------------------------------------------

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Primary language text, then the other language in a smaller line or span. */
export function pair(tag, cls, texts, altTag) {
  const first = texts[lang] || texts[other()] || "";
  const second = texts[other()];
  return h(
    tag,
    { class: cls, lang: langAttr(lang) },
    first,
    second && second !== first
      ? h(altTag || "span", { class: "alt", lang: langAttr(other()) }, second)
      : null,
  );
}

export const textPair = (obj, fallback) => ({
  zh: (obj && obj.zh) || fallback || "",
  en: (obj && obj.en) || fallback || "",
});

const SVG = "http://www.w3.org/2000/svg";
const ICONS = {
  ok: ["M6.5 12.5l3.6 3.6 7.4-7.6"],
  bad: ["M8 8l8 8", "M16 8l-8 8"],
  warn: ["M12 6.5v7", "M12 17v.6"],
  unsure: ["M9 9.2a3 3 0 1 1 4.2 2.8c-.8.4-1.2 1-1.2 1.9v.6", "M12 17.3v.5"],
};

function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const circle = document.createElementNS(SVG, "circle");
  for (const [k, v] of Object.entries({ cx: 12, cy: 12, r: 10.5, fill: "none" })) {
    circle.setAttribute(k, String(v));
  }
  circle.setAttribute("stroke", "currentColor");
  circle.setAttribute("stroke-width", "1.8");
  svg.append(circle);
  for (const d of ICONS[name]) {
    const path = document.createElementNS(SVG, "path");
    path.setAttribute("d", d);
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2.4");
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("stroke-linejoin", "round");
    svg.append(path);
  }
  return h("div", { class: "verdict-icon" }, svg);
}

// ---- formatting ----------------------------------------------------------------------------

let timeFormat = null;

export function formatTime(iso, dateOnlyAtMidnight) {
  if (iso === null || iso === undefined || iso === "") return null;
  const text = String(iso);
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) return text;
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) return text;
  try {
    timeFormat =
      timeFormat ||
      new Intl.DateTimeFormat("en-GB", {
        timeZone: TIME_ZONE,
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      });
    const p = {};
    for (const part of timeFormat.formatToParts(date)) p[part.type] = part.value;
    const day = `${p.year}-${p.month}-${p.day}`;
    const time = `${p.hour}:${p.minute}`;
    return dateOnlyAtMidnight && time === "00:00" ? day : `${day} ${time}`;
  } catch (_) {
    return date.toISOString().replace("T", " ").slice(0, 16) + " UTC";
  }
}

export function formatValue(value) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return value ? T[lang].yes : T[lang].no;
  if (Array.isArray(value)) return value.map(formatValue).join(T[lang].listSep);
  if (typeof value === "object") {
    if (typeof value.zh === "string" || typeof value.en === "string") {
      return value[lang] || value[other()];
    }
    return JSON.stringify(value);
  }
  return String(value);
}

// ---- a result: verdict banner and card rows ------------------------------------------------

/** "ok" (green), "warn" (amber: suspended, or validity not confirmable now) or "bad" (red). */
function kindOf(result) {
  if (result.valid === true && result.reason === "VALID") return "ok";
  if (AMBER.has(result.reason) || result.valid === true) return "warn";
  return "bad";
}

function headline(result, kind) {
  if (kind === "ok" && result.credential && result.credential.holder_identified === false) {
    return { icon: "ok", key: "headValidNotHolder" }; // a personal type: the QR is not the holder
  }
  if (kind === "ok") return { icon: "ok", key: "headValid" };
  if (kind === "bad") return { icon: "bad", key: "headInvalid" };
  if (result.reason === "SUSPENDED") return { icon: "warn", key: "headSuspended" };
  return { icon: "unsure", key: "headUnsure" };
}

export function verdict(kind, iconName, headKey, message, code) {
  const head = both(headKey);
  return h(
    "div",
    { class: `verdict verdict--${kind}` },
    icon(iconName),
    h(
      "div",
      { class: "verdict-text" },
      pair("p", "verdict-head", head),
      h("p", { class: "verdict-msg", lang: langAttr(lang) }, message[lang] || message[other()]),
      message[other()] && message[other()] !== message[lang]
        ? h("p", { class: "verdict-msg-alt", lang: langAttr(other()) }, message[other()])
        : null,
      code ? h("p", { class: "verdict-msg-alt mono" }, fill(T[lang].errorCode, { c: code })) : null,
    ),
  );
}

/** The banner of a result (reason code, message zh/en): its node, its colour ("ok", "warn",
 * "bad") and what a screen reader says; withCode adds the reason code under a refusal. */
export function resultVerdict(result, withCode) {
  const kind = kindOf(result);
  const head = headline(result, kind);
  const message = textPair(result.message, result.reason);
  const code = withCode && kind !== "ok" ? result.reason : null;
  return {
    kind,
    node: verdict(kind, head.icon, head.key, message, code),
    spoken: t(head.key) + t("colon") + message[lang],
  };
}

/** The warning that heads a card that is not plainly valid (the page's cautionBad and
 * cautionUnsure texts), or null. */
export function caution(result, kind) {
  if (kind === "ok") return null;
  const unsure = kind === "warn" && result.reason !== "SUSPENDED";
  return pair("p", "caution", both(unsure ? "cautionUnsure" : "cautionBad"), "span");
}

/** A card's table: the result's own rows, then the meta rows, the first of them ruled off;
 * each row is [labelTexts, valueNode, valueClass?]. */
export function fieldsTable(own, metas) {
  const rows = [
    ...own.map(([label, value, valueClass]) => row(label, value, null, valueClass)),
    ...metas.map(([label, value, valueClass], n) =>
      row(label, value, n ? "meta" : "meta meta-first", valueClass),
    ),
  ];
  return rows.length ? h("table", { class: "fields" }, h("tbody", null, rows)) : null;
}

/** ``seconds`` as a counter reads it: the largest whole unit (90 → "1 min" / "1分钟"). */
function formatAge(seconds, which) {
  const units = T[which].ageUnits;
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${units[unit]}`;
    if (seconds >= size * 2) return `${Math.floor(seconds / size)}${units[unit]}`;
  }
  return `${seconds}${units.s}`;
}

/** How old the status data was and the bound it was held to (issue 11: the answer says how
 * old its status data was), from an answer's ``freshness``; "" when it does not say. */
function ageText(fresh, which) {
  const age = fresh ? fresh.status_age_seconds : undefined;
  if (typeof age !== "number" || age < 0) return "";
  const max = fresh.status_max_age_seconds;
  return typeof max === "number"
    ? fill(T[which].freshAge, { a: formatAge(age, which), m: formatAge(max, which) })
    : fill(T[which].freshAgeUnbounded, { a: formatAge(age, which) });
}

/** A card's last lines: how old the status data (and, when given, the trust list) were, and
 * when the check was made; ``fresh`` (an answer's ``freshness``, optional) adds the status
 * data's age and its bound. */
export function freshness(status, trust, checkedAt, fresh) {
  const line = (which) =>
    fill(T[which].freshStatus, { t: formatTime(status) || T[which].notAvailable }) +
    ageText(fresh, which) +
    (trust === undefined
      ? ""
      : T[which].sentenceSep + fill(T[which].freshTrust, { t: formatTime(trust) || T[which].notAvailable }));
  return [
    pair("p", "freshness", { zh: line("zh"), en: line("en") }),
    h("p", { class: "freshness", lang: langAttr(lang) }, fill(t("checkedAt"), { t: formatTime(checkedAt) || "—" })),
  ];
}

/** Say ``text`` to screen readers through the live region ``el``. */
export function announce(el, text) {
  el.textContent = "";
  window.setTimeout(() => {
    el.textContent = text;
  }, 50);
}

function row(labelTexts, valueNode, cls, valueClass) {
  return h(
    "tr",
    { class: cls },
    pair("th", null, labelTexts, "span"),
    h("td", { class: valueClass }, valueNode),
  );
}

export function chainNode(issuer) {
  const chain = Array.isArray(issuer.chain) && issuer.chain.length ? issuer.chain : null;
  if (!chain) return issuer.name || issuer.id || "—";
  return h(
    "ol",
    { class: "chain" },
    chain.map((link) =>
      h(
        "li",
        null,
        link.name || "—",
        link.role ? h("span", { class: "role" }, T[lang].roles[link.role] || String(link.role)) : null,
      ),
    ),
  );
}

/** The error banner of a failed call (amber: nothing was decided). */
export const errorVerdict = (e) => verdict("warn", "warn", "headError", e, e.code);

// ---- talking to the API --------------------------------------------------------------------

/** {zh, en, code} from an error answer: the gateway's {detail: {code, message, message_en}},
 * FastAPI's validation list, or only an HTTP status. */
export function errorFrom(status, data) {
  const detail = data && typeof data === "object" ? data.detail : undefined;
  if (detail && typeof detail === "object" && !Array.isArray(detail)) {
    const zh = detail.message || detail.message_en;
    const en = detail.message_en || detail.message;
    if (zh) return { zh: String(zh), en: String(en), code: detail.code || null };
  }
  if (typeof detail === "string" && detail) {
    const http = both("errHttp", { s: status });
    return { zh: `${http.zh}${detail}`, en: `${http.en} ${detail}`, code: null };
  }
  if (Array.isArray(detail) && detail.length) {
    const text = detail
      .map((item) => {
        if (!item || typeof item !== "object") return String(item);
        const where = Array.isArray(item.loc) ? item.loc.join(".") + ": " : "";
        return where + (item.msg || JSON.stringify(item));
      })
      .join("; ");
    return { ...both("errInvalid", { m: text }), code: null };
  }
  if (status >= 200 && status < 300) return { ...both("errShape"), code: null };
  return { ...both("errHttp", { s: status }), code: null };
}

/** One call to {api_base}{path}, aborted after timeoutMs: {ok, status, data, response} once
 * the gateway answered (data null when the body is not JSON), or {error} when it did not. */
export async function callApi(path, init, timeoutMs) {
  const apiBase = (document.body.dataset.apiBase || "").replace(/\/+$/, "");
  const controller = new AbortController();
  const timer = window.setTimeout(() => controller.abort(), timeoutMs || TIMEOUT_MS);
  try {
    const response = await fetch(apiBase + path, {
      ...init,
      headers: { Accept: "application/json", ...((init && init.headers) || {}) },
      credentials: "same-origin",
      cache: "no-store",
      signal: controller.signal,
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    return { ok: response.ok, status: response.status, data, response };
  } catch (err) {
    return { error: { ...both(err && err.name === "AbortError" ? "errTimeout" : "errNetwork") } };
  } finally {
    window.clearTimeout(timer);
  }
}

// ---- reading a QR: camera or photo ---------------------------------------------------------

/** Wire a page's QR reader (its markup: templates/qr_reader.html): els {cameraButton, camera
 * (the viewfinder), video, cameraStop, upload, file}; imagePath: the gateway's endpoint that reads an image posted as "file" and
 * answers {text}. onText(text) gets what a QR says; onProblem({zh, en, code}) what went wrong;
 * onBusy(bool), if given, while an upload is read. The camera button shows only where
 * BarcodeDetector reads qr_code (and there is a camera API); the camera stops at its first
 * QR, on its stop button, and when the page is hidden. Returns {stop}. */
export function qrReader(els, { imagePath, onText, onProblem, onBusy }) {
  const busy = onBusy || (() => {});
  let stream = null;
  let detector = null;
  let timer = 0;

  function stop() {
    window.clearTimeout(timer);
    for (const track of stream ? stream.getTracks() : []) track.stop();
    const wasOn = stream !== null;
    stream = null;
    els.video.srcObject = null;
    els.camera.hidden = true;
    if (wasOn) els.cameraButton.hidden = false;
  }

  function look() {
    if (!stream) return;
    detector.detect(els.video).then(
      (codes) => {
        if (!stream) return;
        const hit = codes.find((code) => code.rawValue);
        if (!hit) {
          timer = window.setTimeout(look, DETECT_EVERY_MS);
          return;
        }
        stop();
        onText(hit.rawValue);
      },
      () => {
        timer = window.setTimeout(look, DETECT_EVERY_MS * 2); // no frame yet
      },
    );
  }

  async function start() {
    try {
      detector = detector || new window.BarcodeDetector({ formats: ["qr_code"] });
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: "environment" } },
        audio: false,
      });
    } catch (_) {
      stream = null;
      onProblem({ ...both("errCamera"), code: null });
      return;
    }
    els.video.srcObject = stream;
    els.camera.hidden = false;
    els.cameraButton.hidden = true;
    els.video.play().catch(() => {}); // settles once frames arrive; look() retries until then
    look();
  }

  async function probe() {
    if (!("BarcodeDetector" in window)) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      els.cameraButton.hidden = !formats.includes("qr_code");
    } catch (_) {
      els.cameraButton.hidden = true; // no usable detector
    }
  }

  async function upload() {
    const file = els.file.files && els.file.files[0];
    els.file.value = "";
    if (!file) return;
    if (file.size > MAX_UPLOAD_BYTES) {
      onProblem({ ...both("errTooBig"), code: null });
      return;
    }
    const form = new FormData();
    form.append("file", file, file.name || "image");
    busy(true);
    const answer = await callApi(imagePath, { method: "POST", body: form });
    busy(false);
    if (answer.ok && answer.data && typeof answer.data.text === "string") onText(answer.data.text);
    else onProblem(answer.error || errorFrom(answer.status, answer.data));
  }

  els.cameraButton.hidden = true;
  els.cameraButton.addEventListener("click", start);
  els.cameraStop.addEventListener("click", stop);
  els.upload.addEventListener("click", () => els.file.click());
  els.file.addEventListener("change", upload);
  window.addEventListener("pagehide", stop);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stop();
  });
  probe();
  return { stop };
}
