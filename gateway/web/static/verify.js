// ecert-gateway verify page (/v). Plain ES2020, no build step, no external resources.
//
// - With a hash (a phone camera opened the certificate's QR URL): POST {"qr": location.href} to
//   {api_base}/api/v1/verify and show the answer.
// - Without a hash (counter or 24-hour kiosk): a scanner-gun input that submits on Enter (or Tab)
//   and keeps focus, a photo/screenshot upload (POST {api_base}/api/v1/verify/image, field
//   "file"), and a camera button where the browser has BarcodeDetector.
// Server text is only ever set with textContent, never parsed as HTML.
(() => {
  "use strict";

  const LANG_KEY = "ecert.lang";
  const MAX_UPLOAD_BYTES = 10 * 1024 * 1024;
  const TIMEOUT_MS = 20000;
  const AMBER = new Set(["SUSPENDED", "STATUS_UNAVAILABLE", "TRUST_LIST_STALE"]);
  const TIME_ZONE = "Asia/Shanghai";

  const T = {
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
      headValid: "有效",
      headValidNotHolder: "证照有效，持证人未核验",
      headInvalid: "无效",
      headSuspended: "暂停使用",
      headUnsure: "无法确认",
      headError: "无法核验",
      cautionBad: "以下内容仅用于识别证照，不代表证照有效。",
      cautionUnsure: "目前无法确认证照是否有效，请勿仅凭以下内容办理业务。",
      identifier: "证照标识",
      validFrom: "有效期自",
      validUntil: "有效期至",
      noExpiry: "长期有效",
      issuer: "签发机构",
      freshStatus: "状态数据更新于 {t}",
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
      headValid: "Valid",
      headValidNotHolder: "Valid certificate, holder not verified",
      headInvalid: "Not valid",
      headSuspended: "Suspended",
      headUnsure: "Cannot confirm",
      headError: "Could not verify",
      cautionBad: "Shown only to identify the certificate; it is NOT valid.",
      cautionUnsure: "Validity cannot be confirmed now; do not rely on the details below alone.",
      identifier: "Certificate ID",
      validFrom: "Valid from",
      validUntil: "Valid until",
      noExpiry: "No expiry",
      issuer: "Issued by",
      freshStatus: "Status data as of {t}",
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

  const $ = (id) => document.getElementById(id);
  const body = document.body;
  const apiBase = (body.dataset.apiBase || "").replace(/\/+$/, "");
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

  let lang = "zh";
  let outcome = null; // {results: [...]} or {error: {zh, en, code}}
  let statusKey = "";
  let sequence = 0;

  // ---- language ------------------------------------------------------------------------------

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
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    for (const el of document.querySelectorAll("[data-i18n]")) {
      const text = T[lang][el.dataset.i18n];
      if (typeof text === "string") el.textContent = text;
    }
    for (const el of document.querySelectorAll("[data-i18n-aria-label]")) {
      el.setAttribute("aria-label", T[lang][el.dataset.i18nAriaLabel]);
    }
    for (const button of document.querySelectorAll("[data-lang]")) {
      button.setAttribute("aria-pressed", String(button.dataset.lang === lang));
    }
    const city = document.querySelector(".brand-city");
    document.title = T[lang].title + (city && city.textContent ? " · " + city.textContent : "");
    els.status.textContent = statusKey ? T[lang][statusKey] : "";
    if (outcome) render(false);
  }

  const other = () => (lang === "zh" ? "en" : "zh");
  const fill = (template, values) =>
    template.replace(/\{(\w+)\}/g, (_, key) => (values[key] === undefined ? "" : values[key]));

  // ---- small DOM helpers ---------------------------------------------------------------------

  function h(tag, attrs, ...children) {
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

  const langAttr = (which) => (which === "zh" ? "zh-CN" : "en");

  // Primary language text, then the other language in a smaller line or span.
  function pair(tag, cls, texts, altTag) {
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

  const both = (key, values) => ({
    zh: fill(T.zh[key], values || {}),
    en: fill(T.en[key], values || {}),
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

  function formatTime(iso, dateOnlyAtMidnight) {
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

  function formatValue(value) {
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

  const textPair = (obj, fallback) => ({
    zh: (obj && obj.zh) || fallback || "",
    en: (obj && obj.en) || fallback || "",
  });

  // ---- rendering -----------------------------------------------------------------------------

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

  function verdict(kind, iconName, headKey, message, code) {
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

  function row(labelTexts, valueNode, cls, valueClass) {
    return h(
      "tr",
      { class: cls },
      pair("th", null, labelTexts, "span"),
      h("td", { class: valueClass }, valueNode),
    );
  }

  function chainNode(issuer) {
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
          link.role
            ? h("span", { class: "role" }, T[lang].roles[link.role] || String(link.role))
            : null,
        ),
      ),
    );
  }

  function card(result, kind) {
    const parts = [];
    const cred = result.credential;
    if (kind !== "ok" && (cred || result.issuer)) {
      const unsure = kind === "warn" && result.reason !== "SUSPENDED";
      parts.push(pair("p", "caution", both(unsure ? "cautionUnsure" : "cautionBad"), "span"));
    }
    const rows = [];
    let metaRows = 0;
    const meta = () => (metaRows++ ? "meta" : "meta meta-first");
    if (cred) {
      parts.push(pair("h2", "cred-type", textPair(cred.type_name, cred.type), "span"));
      for (const field of Array.isArray(cred.fields) ? cred.fields : []) {
        rows.push(row(textPair(field.label, field.name), formatValue(field.value)));
      }
      if (cred.identifier) {
        rows.push(row(both("identifier"), cred.identifier, meta(), "mono"));
      }
      rows.push(row(both("validFrom"), formatTime(cred.valid_from, true) || "—", meta()));
      rows.push(
        row(both("validUntil"), formatTime(cred.valid_until, true) || T[lang].noExpiry, meta()),
      );
    }
    if (result.issuer) {
      rows.push(row(both("issuer"), chainNode(result.issuer), meta()));
    }
    if (rows.length) parts.push(h("table", { class: "fields" }, h("tbody", null, rows)));

    const fresh = result.freshness || {};
    const none = (which) => T[which].notAvailable;
    const freshLine = (which) =>
      fill(T[which].freshStatus, { t: formatTime(fresh.status) || none(which) }) +
      (which === "zh" ? "；" : "; ") +
      fill(T[which].freshTrust, { t: formatTime(fresh.trust) || none(which) });
    parts.push(
      pair("p", "freshness", { zh: freshLine("zh"), en: freshLine("en") }),
      h(
        "p",
        { class: "freshness", lang: langAttr(lang) },
        fill(T[lang].checkedAt, { t: formatTime(result.checked_at) || "—" }),
      ),
    );
    return h("div", { class: `card card--${kind}` }, parts);
  }

  function renderResult(result) {
    const kind = kindOf(result);
    const head = headline(result, kind);
    const message = textPair(result.message, result.reason);
    return {
      node: h(
        "article",
        { class: "result-item" },
        verdict(kind, head.icon, head.key, message),
        card(result, kind),
      ),
      spoken: T[lang][head.key] + T[lang].colon + message[lang],
    };
  }

  function render(announce) {
    let nodes = [];
    let spoken = "";
    if (outcome.error) {
      const e = outcome.error;
      nodes = [h("article", { class: "result-item" }, verdict("warn", "warn", "headError", e, e.code))];
      spoken = T[lang].headError + T[lang].colon + e[lang];
    } else {
      const rendered = outcome.results.map(renderResult);
      nodes = rendered.map((r) => r.node);
      spoken = rendered.map((r) => r.spoken).join(T[lang].sentenceSep);
    }
    els.result.replaceChildren(...nodes);
    if (announce) {
      els.announce.textContent = "";
      window.setTimeout(() => {
        els.announce.textContent = spoken;
      }, 50);
    }
  }

  function show(next) {
    outcome = next;
    render(true);
    if (kioskMode()) {
      els.result.scrollIntoView({ block: "nearest" });
    } else {
      window.scrollTo({ top: 0 });
      els.again.hidden = false;
    }
  }

  // ---- talking to the API --------------------------------------------------------------------

  function errorFrom(status, data) {
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

  const isResult = (x) => x && typeof x === "object" && typeof x.reason === "string";

  async function request(path, init) {
    const mine = ++sequence;
    els.busy.hidden = false;
    els.result.setAttribute("aria-busy", "true");
    const controller = new AbortController();
    const timer = window.setTimeout(() => controller.abort(), TIMEOUT_MS);
    let next;
    try {
      const response = await fetch(apiBase + path, {
        ...init,
        headers: { Accept: "application/json", ...(init.headers || {}) },
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
      if (response.ok && isResult(data)) next = { results: [data] };
      else if (response.ok && Array.isArray(data) && data.length && data.every(isResult)) {
        next = { results: data };
      } else next = { error: errorFrom(response.status, data) };
    } catch (err) {
      next = { error: { ...both(err && err.name === "AbortError" ? "errTimeout" : "errNetwork") } };
    } finally {
      window.clearTimeout(timer);
    }
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

  const kioskMode = () => !els.scan.hidden;

  function setStatus(key) {
    statusKey = key;
    els.status.textContent = key ? T[lang][key] : "";
  }

  function focusInput() {
    if (kioskMode() && !camera.stream) els.input.focus({ preventScroll: true });
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
    return (
      el &&
      (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName))
    );
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
      if (!kioskMode() || isTyping(document.activeElement)) return;
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

  // ---- start ---------------------------------------------------------------------------------

  function showKiosk() {
    els.scan.hidden = false;
    els.again.hidden = true;
    focusInput();
  }

  function start() {
    for (const button of document.querySelectorAll("[data-lang]")) {
      button.addEventListener("click", () => setLang(button.dataset.lang, true));
    }
    setLang(storedLang() || body.dataset.langDefault || "zh", false);
    setupKiosk();
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
})();
