// ecert-gateway verify page (/v). Plain ES2020 module, no build step, no external resources.
//
// - With a hash (a phone camera opened the certificate's QR URL): POST {"qr": location.href} to
//   {api_base}/api/v1/verify and show the answer.
// - Without a hash (counter or 24-hour kiosk): a scanner-gun input that submits on Enter (or Tab)
//   and keeps focus, a photo/screenshot upload (POST {api_base}/api/v1/verify/image, field
//   "file"), and a camera button where the browser has BarcodeDetector.
// - /v?kiosk=1 (a shared kiosk, issue 12): after the idle time the page shows (data-idle-seconds)
//   without a touch, key or scan, the answer is cleared and the page is Chinese again; a language
//   choice is never remembered there.
// - A revoked or suspended answer shows its kind, date and reason (status_detail), and every
//   answer which gateway gave it (answered_by).
// What the pages share (language, DOM helpers, the verdict banner, API calls) is page.js.
import { announce, both, callApi, caution, chainNode, errorFrom, errorVerdict } from "./page.js";
import { fieldsTable, formatTime, formatValue, freshness, h, lang, pair } from "./page.js";
import { fill, resetLang, resultVerdict, startLang, t, textPair, useTexts } from "./page.js";

const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;

useTexts({
  zh: {
    brand: "电子证照核验",
    title: "电子证照核验",
    resultLabel: "核验结果",
    busy: "正在核验…",
    again: "核验其他证照",
    scanTitle: "扫描证照二维码",
    scanLabel: "用扫码枪扫描，或粘贴二维码内容后按回车",
    submit: "核验",
    scanHint: "扫码后自动核验，可连续扫描。",
    upload: "上传照片或截图",
    camera: "使用摄像头扫码",
    cameraHint: "将二维码对准取景框",
    cameraStop: "关闭摄像头",
    footer: "核验结果依据签发机构的数字签名和证照状态数据得出。",
    home: "网关首页",
    askPresentation: "核验持证人：在核验点页面发起出示请求",
    cautionBad: "以下内容仅用于识别证照，不代表证照有效。",
    cautionUnsure: "目前无法确认证照是否有效，请勿仅凭以下内容办理业务。",
    identifier: "证照标识",
    validFrom: "有效期自",
    validUntil: "有效期至",
    noExpiry: "长期有效",
    errTooBig: "图片超过 10 MB，请缩小或截图后再上传。",
    errCamera: "无法打开摄像头：未获授权或设备不可用。",
    statusKind: "状态类别",
    statusKindValue: "{k}（状态代码 {c}）",
    revokedAt: "撤销日期",
    suspendedAt: "暂停日期",
    statusReason: "原因",
    answeredBy: "答复网关：{n}（{c}） {u}",
    kioskNote: "自助模式：无操作 {s} 秒后自动清除核验结果并恢复中文。",
    kioskCountdown: "{s} 秒后清除",
  },
  en: {
    brand: "e-Certificate check",
    title: "Verify an e-certificate",
    resultLabel: "Verification result",
    busy: "Verifying…",
    again: "Verify another certificate",
    scanTitle: "Scan the certificate's QR code",
    scanLabel: "Scan with a scanner, or paste the QR text and press Enter",
    submit: "Verify",
    scanHint: "Each scan is verified at once; scan the next one any time.",
    upload: "Upload a photo or screenshot",
    camera: "Scan with the camera",
    cameraHint: "Point the camera at the QR code",
    cameraStop: "Close camera",
    footer: "The answer rests on the issuer's digital signature and the certificate status data.",
    home: "Gateway home",
    askPresentation: "Verify the holder: ask for a presentation on the counter page",
    cautionBad: "Shown only to identify the certificate; it is NOT valid.",
    cautionUnsure: "Validity cannot be confirmed now; do not rely on the details below alone.",
    identifier: "Certificate ID",
    validFrom: "Valid from",
    validUntil: "Valid until",
    noExpiry: "No expiry",
    errTooBig: "The image is over 10 MB; shrink it or take a screenshot and try again.",
    errCamera: "Cannot open the camera: permission denied or no camera available.",
    statusKind: "Kind",
    statusKindValue: "{k} (status code {c})",
    revokedAt: "Revoked on",
    suspendedAt: "Suspended on",
    statusReason: "Reason",
    answeredBy: "Answered by the gateway of {n} ({c}) {u}",
    kioskNote: "Self-service mode: after {s} s without use, the result is cleared and the page returns to Chinese.",
    kioskCountdown: "Clearing in {s} s",
  },
});

const $ = (id) => document.getElementById(id);
const els = {
  scan: $("scan"),
  form: $("scan-form"),
  input: $("scan-input"),
  upload: $("upload-button"),
  file: $("file-input"),
  cameraButton: $("camera-button"),
  camera: $("camera"),
  video: $("camera-video"),
  cameraStop: $("camera-stop"),
  status: $("scan-status"),
  busy: $("busy"),
  result: $("result"),
  announce: $("announce"),
  again: $("again"),
};

const kiosk = {
  el: $("kiosk-idle"),
  note: $("kiosk-note"),
  countdown: $("kiosk-countdown"),
  seconds: 0, // 0: not a kiosk
  deadline: 0,
  timer: 0,
};
if (kiosk.el) kiosk.seconds = Number.parseInt(kiosk.el.dataset.idleSeconds, 10) || 0;

let outcome = null; // {results: [...]} or {error: {zh, en, code}}
let statusKey = "";
let sequence = 0;

// ---- rendering -----------------------------------------------------------------------------

function card(result, kind) {
  const parts = [];
  const cred = result.credential;
  if (cred || result.issuer) parts.push(caution(result, kind));
  const own = [];
  const metas = [];
  if (cred) {
    parts.push(pair("h2", "cred-type", textPair(cred.type_name, cred.type), "span"));
    for (const field of Array.isArray(cred.fields) ? cred.fields : []) {
      own.push([textPair(field.label, field.name), formatValue(field.value)]);
    }
    if (cred.identifier) metas.push([both("identifier"), cred.identifier, "mono"]);
    metas.push([both("validFrom"), formatTime(cred.valid_from, true) || "—"]);
    metas.push([both("validUntil"), formatTime(cred.valid_until, true) || t("noExpiry")]);
  }
  const detail = result.status_detail;
  const statusRows = [];
  if (detail && detail.code) {
    const kind = textPair(detail.kind, detail.code);
    statusRows.push([both("statusKind"), fill(t("statusKindValue"), { k: kind[lang], c: detail.code })]);
    const when = result.reason === "SUSPENDED" ? "suspendedAt" : "revokedAt";
    statusRows.push([both(when), formatTime(detail.at) || "—"]);
    statusRows.push([both("statusReason"), detail.reason || "—"]);
  }
  if (result.issuer) metas.push([both("issuer"), chainNode(result.issuer)]);
  const fresh = result.freshness || {};
  parts.push(fieldsTable([...statusRows, ...own], metas));
  if (detail && !detail.code && detail.note) {
    parts.push(pair("p", "status-note", textPair(detail.note), "span"));
  }
  parts.push(...freshness(fresh.status, fresh.trust, result.checked_at, fresh));
  const by = result.answered_by;
  if (by && by.name) {
    const values = { n: by.name, c: by.code || "—", u: by.url || "" };
    parts.push(pair("p", "answered-by", both("answeredBy", values), "span"));
  }
  if (kind === "ok" && cred && cred.holder_identified === false) {
    // A personal type: the QR is not the holder. A counter verifies the holder by asking the
    // wallet for a presentation, from its own page on this gateway.
    const base = (document.body.dataset.apiBase || "").replace(/\/+$/, "");
    parts.push(h("p", { class: "ask-holder" }, h("a", { href: `${base}/counter` },
      pair("span", null, both("askPresentation")))));
  }
  return h("div", { class: `card card--${kind}` }, parts);
}

function renderResult(result) {
  const banner = resultVerdict(result, false);
  return {
    node: h("article", { class: "result-item" }, banner.node, card(result, banner.kind)),
    spoken: banner.spoken,
  };
}

function render(speak) {
  let nodes = [];
  let spoken = "";
  if (outcome.error) {
    const e = outcome.error;
    nodes = [h("article", { class: "result-item" }, errorVerdict(e))];
    spoken = t("headError") + t("colon") + e[lang];
  } else {
    const rendered = outcome.results.map(renderResult);
    nodes = rendered.map((r) => r.node);
    spoken = rendered.map((r) => r.spoken).join(t("sentenceSep"));
  }
  els.result.replaceChildren(...nodes);
  if (speak) announce(els.announce, spoken);
}

function show(next) {
  outcome = next;
  render(true);
  armIdle();
  if (scanMode()) {
    els.result.scrollIntoView({ block: "nearest" });
  } else {
    window.scrollTo({ top: 0 });
    els.again.hidden = false;
  }
}

// ---- talking to the API --------------------------------------------------------------------

const isResult = (x) => x && typeof x === "object" && typeof x.reason === "string";

async function request(path, init) {
  const mine = ++sequence;
  els.busy.hidden = false;
  els.result.setAttribute("aria-busy", "true");
  const answer = await callApi(path, init);
  let next;
  if (answer.error) next = { error: answer.error };
  else if (answer.ok && isResult(answer.data)) next = { results: [answer.data] };
  else if (answer.ok && Array.isArray(answer.data) && answer.data.length && answer.data.every(isResult)) {
    next = { results: answer.data };
  } else next = { error: errorFrom(answer.status, answer.data) };
  if (mine !== sequence) return; // a newer scan is on its way; drop this answer
  els.busy.hidden = true;
  els.result.removeAttribute("aria-busy");
  show(next);
}

function verifyText(qr) {
  return request("/api/v1/verify", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ qr }),
  });
}

function verifyImage(file) {
  if (file.size > MAX_UPLOAD_BYTES) {
    show({ error: both("errTooBig") });
    return;
  }
  const form = new FormData();
  form.append("file", file, file.name || "image");
  request("/api/v1/verify/image", { method: "POST", body: form });
}

// ---- kiosk: scanner gun, upload, camera ----------------------------------------------------

const scanMode = () => !els.scan.hidden;

function setStatus(key) {
  statusKey = key;
  els.status.textContent = key ? t(key) : "";
}

function focusInput() {
  if (scanMode() && !camera.stream) els.input.focus({ preventScroll: true });
}

function submitScan() {
  const text = els.input.value.trim();
  els.input.value = "";
  focusInput();
  if (text) {
    setStatus("");
    verifyText(text);
  }
}

function isTyping(el) {
  return el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));
}

function setupKiosk() {
  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submitScan();
  });
  els.input.addEventListener("keydown", (event) => {
    // Some scanner guns end with Tab instead of Enter.
    if (event.key === "Tab" && !event.shiftKey && els.input.value.trim()) {
      event.preventDefault();
      submitScan();
    }
  });
  // Touch kiosks: no on-screen keyboard for the scanner; a person who taps the field gets one.
  els.input.addEventListener("pointerdown", () => {
    els.input.inputMode = "text";
  });
  // Keep the scanner's keystrokes landing in the field when focus fell back to the page.
  els.input.addEventListener("blur", () => {
    window.setTimeout(() => {
      const active = document.activeElement;
      if (!active || active === document.body) focusInput();
    }, 150);
  });
  document.addEventListener("keydown", (event) => {
    if (!scanMode() || isTyping(document.activeElement)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key.length !== 1 || event.key === " ") return;
    event.preventDefault();
    els.input.focus({ preventScroll: true });
    els.input.value += event.key;
  });
  els.upload.addEventListener("click", () => els.file.click());
  els.file.addEventListener("change", () => {
    const file = els.file.files && els.file.files[0];
    els.file.value = "";
    if (file) {
      setStatus("");
      verifyImage(file);
    }
  });
  els.cameraButton.addEventListener("click", () => camera.start());
  els.cameraStop.addEventListener("click", () => {
    camera.stop();
    focusInput();
  });
  window.addEventListener("pagehide", () => camera.stop());
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) camera.stop();
  });
  camera.probe();
}

const camera = {
  stream: null,
  detector: null,
  timer: 0,

  async probe() {
    if (!("BarcodeDetector" in window)) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      if (formats.includes("qr_code")) els.cameraButton.hidden = false;
    } catch (_) {
      // No usable detector: the button stays hidden.
    }
  },

  async start() {
    setStatus("");
    try {
      this.detector = this.detector || new window.BarcodeDetector({ formats: ["qr_code"] });
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: { ideal: "environment" } },
        audio: false,
      });
    } catch (_) {
      this.stream = null;
      setStatus("errCamera");
      return;
    }
    els.video.srcObject = this.stream;
    els.camera.hidden = false;
    els.cameraButton.hidden = true;
    // play() settles only once frames arrive; detection simply retries until then.
    els.video.play().catch(() => {});
    this.loop();
  },

  loop() {
    if (!this.stream) return;
    this.detector.detect(els.video).then(
      (codes) => {
        if (!this.stream) return;
        const hit = codes.find((code) => code.rawValue);
        if (hit) {
          this.stop();
          verifyText(hit.rawValue);
          focusInput();
        } else {
          this.timer = window.setTimeout(() => this.loop(), 200);
        }
      },
      () => {
        this.timer = window.setTimeout(() => this.loop(), 400);
      },
    );
  },

  stop() {
    window.clearTimeout(this.timer);
    if (this.stream) {
      for (const track of this.stream.getTracks()) track.stop();
    }
    const wasOn = this.stream !== null;
    this.stream = null;
    els.video.srcObject = null;
    els.camera.hidden = true;
    if (wasOn) els.cameraButton.hidden = false;
  },
};

// ---- /v?kiosk=1: back to an empty, Chinese page when nobody uses it -------------------------

const IDLE_TICK_MS = 250;

/** Whether there is anything for the idle reset to undo. */
function inUse() {
  return outcome !== null || lang !== "zh" || els.input.value !== "" || !els.busy.hidden ||
    camera.stream !== null;
}

function showIdle() {
  if (!kiosk.seconds) return;
  kiosk.note.textContent = fill(t("kioskNote"), { s: kiosk.seconds });
  const left = kiosk.deadline ? Math.max(1, Math.ceil((kiosk.deadline - Date.now()) / 1000)) : 0;
  kiosk.countdown.textContent = left ? fill(t("kioskCountdown"), { s: left }) : "";
}

/** (Re)start the idle time: called on every touch, key, scan, answer and language switch. */
function armIdle() {
  if (!kiosk.seconds) return;
  window.clearInterval(kiosk.timer);
  kiosk.timer = 0;
  kiosk.deadline = inUse() ? Date.now() + kiosk.seconds * 1000 : 0;
  if (kiosk.deadline) {
    kiosk.timer = window.setInterval(() => {
      if (Date.now() >= kiosk.deadline) resetKiosk();
      else showIdle();
    }, IDLE_TICK_MS);
  }
  showIdle();
}

/** The next person finds the page as it started: no answer, no half-typed scan, Chinese. */
function resetKiosk() {
  window.clearInterval(kiosk.timer);
  kiosk.timer = 0;
  kiosk.deadline = 0;
  sequence += 1; // an answer still on its way is dropped
  camera.stop();
  outcome = null;
  els.busy.hidden = true;
  els.result.removeAttribute("aria-busy");
  els.result.replaceChildren();
  els.input.value = "";
  setStatus("");
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  resetLang(); // runs the language callback, which re-arms nothing: the page is not in use
  showKiosk();
  window.scrollTo({ top: 0 });
}

function setupIdle() {
  if (!kiosk.seconds) return;
  for (const type of ["pointerdown", "keydown", "input", "wheel", "touchstart"]) {
    document.addEventListener(type, () => window.setTimeout(armIdle, 0), { passive: true, capture: true });
  }
  showIdle();
}

// ---- start ---------------------------------------------------------------------------------

function showKiosk() {
  els.scan.hidden = false;
  els.again.hidden = true;
  focusInput();
}

function start() {
  startLang(() => {
    els.status.textContent = statusKey ? t(statusKey) : "";
    if (outcome) render(false);
    armIdle();
  }, { remember: !kiosk.seconds });
  setupKiosk();
  setupIdle();
  els.again.addEventListener("click", () => {
    history.replaceState(null, "", location.pathname + location.search);
    outcome = null;
    els.result.replaceChildren();
    showKiosk();
  });
  window.addEventListener("hashchange", () => {
    if (location.hash.length > 1) {
      els.scan.hidden = true;
      verifyText(location.href);
    }
  });
  if (location.hash.length > 1) {
    verifyText(location.href);
  } else {
    showKiosk();
  }
}

start();
