// /console: the agency console. Plain ES2020 module, no build step, no external resources.
//
// Sign-in (username, password, TOTP) sets an HttpOnly session cookie; the answer carries the
// session's CSRF token, which every later call sends as X-CSRF-Token (kept in memory only:
// a reload asks GET /console/api/session again). Errors are the gateway's problem answers;
// field errors are shown beside their field, in both languages.
//
// Deliberately not here: anything a server must decide (validation, scoping, the CSV's
// parsing): the page shows what the gateway answers.

import { both, callApi, errorFrom, formatTime, h, lang, pair, startLang, t, useTexts } from "./page.js";

const API = "/console/api";
const CHUNK = 25; // batch rows sent per call: the progress bar moves once a chunk

useTexts({
  zh: {
    title: "签发机构工作台", brand: "签发机构工作台", signinTitle: "操作员登录", username: "用户名",
    password: "密码", totp: "动态验证码（6 位）", signin: "登录", signout: "退出登录",
    tabsLabel: "功能", tabIssue: "签发", tabBatch: "批量签发", tabSearch: "查询",
    issueTitle: "签发一张证照", typeLabel: "证照类型", validFrom: "有效期起始日期（可不填，默认今天）",
    validUntil: "有效期截止日期（可不填，按类型默认）", issue: "签发", issued: "已签发：{id}",
    open: "查看", batchTitle: "批量签发（CSV）",
    batchHint: "CSV 首行为字段名（与签发表单相同），可另加 valid_from、valid_until、ref 列；每行签发一张，错误行不影响其他行，重新上传同一文件不会重复签发。",
    batchFile: "CSV 文件（UTF-8）", batchStart: "开始签发", progress: "进度",
    batchCount: "已处理 {n} / {total} 行", batchDone: "完成：签发 {ok} 张（其中 {already} 张此前已签发），{bad} 行有错误。",
    noFile: "请选择 CSV 文件。", download: "下载结果文件", row: "行", error: "错误",
    searchTitle: "查询证照", statusLabel: "状态", qLabel: "持证主体名称或代码", issuedFrom: "签发日期自",
    issuedTo: "签发日期至", search: "查询", colHolder: "持证主体", colCode: "代码", colType: "类型",
    colStatus: "状态", colIssued: "签发时间", none: "没有符合条件的证照。", more: "下一页",
    anyType: "全部类型", anyStatus: "全部状态", historyTitle: "状态变更记录", colAt: "时间",
    colChange: "变更", colReason: "原因", colActor: "操作人", statusTitle: "暂扣、恢复或撤销",
    reasonLabel: "原因（必填）", codeLabel: "撤销时的国家状态代码", suspend: "暂扣", reinstate: "恢复",
    revoke: "撤销", printA4: "打印（A4 副本）", printCard: "打印（卡片）", qrAlt: "证照二维码",
    busy: "请稍候…", footer: "本工作台仅供签发机构操作员使用；所有操作均记入审计日志。",
    changed: "状态已变更为：{s}", printed: "已生成打印文件 {f}", noHistory: "尚无变更。",
    mIdentifier: "证照标识", mName: "证照名称", mAuthority: "颁发机构", mIssued: "签发日期",
    mHolder: "持证主体", mHolderCode: "持证主体代码", mValidFrom: "有效期起始", mValidUntil: "有效期截止",
    mStatus: "证照状态", mJurisdiction: "管辖属地编码", required: "（必填）", fieldProblem: "请检查标红的字段。",
    signedInAs: "操作员 {u}",
  },
  en: {
    title: "Agency console", brand: "Agency console", signinTitle: "Operator sign-in", username: "Username",
    password: "Password", totp: "One-time code (6 digits)", signin: "Sign in", signout: "Sign out",
    tabsLabel: "Sections", tabIssue: "Issue", tabBatch: "Batch", tabSearch: "Search",
    issueTitle: "Issue one credential", typeLabel: "Credential type",
    validFrom: "Valid from (optional, default today)", validUntil: "Valid until (optional, the type's default)",
    issue: "Issue", issued: "Issued: {id}", open: "Open", batchTitle: "Batch issuance (CSV)",
    batchHint: "The first line names the fields (as on the issue form), optionally valid_from, valid_until and ref; one credential a row; a bad row does not stop the others; uploading the same file again issues nothing twice.",
    batchFile: "CSV file (UTF-8)", batchStart: "Start", progress: "Progress",
    batchCount: "{n} of {total} rows done", batchDone: "Done: {ok} issued ({already} of them earlier), {bad} rows with errors.",
    noFile: "Choose a CSV file.", download: "Download the result file", row: "Row", error: "Error",
    searchTitle: "Search credentials", statusLabel: "Status", qLabel: "Holder name or code",
    issuedFrom: "Issued from", issuedTo: "Issued until", search: "Search", colHolder: "Holder",
    colCode: "Code", colType: "Type", colStatus: "Status", colIssued: "Issued", none: "No credential matches.",
    more: "Next page", anyType: "All types", anyStatus: "All statuses", historyTitle: "Status history",
    colAt: "Time", colChange: "Change", colReason: "Reason", colActor: "By", statusTitle: "Suspend, reinstate or revoke",
    reasonLabel: "Reason (required)", codeLabel: "National status code (revocation)", suspend: "Suspend",
    reinstate: "Reinstate", revoke: "Revoke", printA4: "Print (A4 copy)", printCard: "Print (card)",
    qrAlt: "Credential QR code", busy: "Please wait…",
    footer: "For issuing agencies' operators only; every action is recorded in the audit log.",
    changed: "Status is now: {s}", printed: "Print file ready: {f}", noHistory: "No changes yet.",
    mIdentifier: "Identifier", mName: "Licence name", mAuthority: "Issued by", mIssued: "Issued on",
    mHolder: "Holder", mHolderCode: "Holder code", mValidFrom: "Valid from", mValidUntil: "Valid until",
    mStatus: "Status", mJurisdiction: "Jurisdiction code", required: " (required)",
    fieldProblem: "Check the fields marked in red.", signedInAs: "Operator {u}",
  },
});

const $ = (id) => document.getElementById(id);
let me = null; // {operator, csrf_token, types, status_codes}
let searchCursor = null;
let shown = null; // the credential on the detail panel

// ---- calls ---------------------------------------------------------------------------------

function headers(json) {
  const out = me ? { "X-CSRF-Token": me.csrf_token } : {};
  if (json) out["Content-Type"] = "application/json";
  return out;
}

async function call(path, method, body) {
  busy(true);
  const init = { method: method || "GET", headers: headers(body !== undefined) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const answer = await callApi(API + path, init);
  busy(false);
  if (answer.status === 401 && me && !path.startsWith("/sign-in")) signedOut();
  return answer;
}

function busy(on) {
  $("busy").hidden = !on;
}

function problem(answer) {
  const box = $("problem");
  box.replaceChildren();
  if (!answer) return;
  const e = answer.error || errorFrom(answer.status, answer.data);
  box.append(pair("p", "notice notice--bad", { zh: e.zh, en: e.en }, "span"));
  box.scrollIntoView({ block: "nearest" });
}

/** Show the answer's field errors beside their fields in `form`; true when there were any. */
function fieldErrors(form, answer) {
  for (const slot of form.querySelectorAll(".field-error")) slot.replaceChildren();
  for (const field of form.querySelectorAll(".field")) field.classList.remove("field--bad");
  const detail = answer && answer.data && answer.data.detail;
  const errors = detail && Array.isArray(detail.errors) ? detail.errors : [];
  let placed = 0;
  for (const e of errors) {
    const name = String(e.field || "").replace(/^subject\./, "");
    const field = form.querySelector(`.field[data-field="${CSS.escape(name)}"]`);
    if (!field) continue;
    field.classList.add("field--bad");
    field.querySelector(".field-error").append(pair("span", null, { zh: e.message, en: e.message_en }, "span"));
    placed += 1;
  }
  return placed > 0;
}

// ---- sign-in -------------------------------------------------------------------------------

function signedOut() {
  me = null;
  $("console").hidden = true;
  $("signin").hidden = false;
}

function signedIn(data) {
  me = data;
  $("signin").hidden = true;
  $("console").hidden = false;
  $("agency-name").textContent = data.operator.agency_name;
  $("operator-name").textContent = t("signedInAs").replace("{u}", data.operator.username);
  for (const id of ["issue-type", "batch-type", "search-type"]) fillTypes($(id), id === "search-type");
  fillStatuses();
  renderForm();
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  problem(null);
  const answer = await call("/sign-in", "POST", {
    username: form.username.value.trim(),
    password: form.password.value,
    code: form.code.value.trim(),
  });
  form.password.value = "";
  form.code.value = "";
  if (answer.ok) signedIn(answer.data);
  else problem(answer);
}

async function signOut() {
  await call("/sign-out", "POST", {});
  signedOut();
}

// ---- the issue form, generated from the type's fields ---------------------------------------

const label = (texts) => (texts ? texts[lang] || texts.zh : "");

function fillTypes(select, withAny) {
  const keep = select.value;
  select.replaceChildren();
  if (withAny) select.append(h("option", { value: "" }, t("anyType")));
  for (const type of me.types) select.append(h("option", { value: type.code }, label(type.name)));
  if (keep) select.value = keep;
}

function fillStatuses() {
  const status = $("search-status");
  const keep = status.value;
  status.replaceChildren(h("option", { value: "" }, t("anyStatus")));
  const names = [{ code: "01", zh: "有效", en: "valid" }, { code: "02", zh: "暂扣", en: "suspended" }, ...me.status_codes];
  for (const s of names) status.append(h("option", { value: s.code }, `${s.code} ${s[lang]}`));
  status.value = keep;
  const code = $("status-code");
  const keepCode = code.value;
  code.replaceChildren(...me.status_codes.map((s) => h("option", { value: s.code }, `${s.code} ${s[lang]}`)));
  if (keepCode) code.value = keepCode;
}

function renderForm() {
  const type = me.types.find((x) => x.code === $("issue-type").value) || me.types[0];
  const box = $("issue-fields");
  const values = {};
  for (const input of box.querySelectorAll("[name]")) values[input.name] = input.value;
  box.replaceChildren();
  if (!type) return;
  for (const f of type.fields) {
    const id = `issue-f-${f.name}`;
    const attrs = { id, name: f.name, "data-subject": "1", required: f.required || null };
    let input;
    if (Array.isArray(f.enum)) {
      input = h("select", attrs, h("option", { value: "" }, "—"), f.enum.map((v) => h("option", { value: v }, v)));
    } else {
      const date = f.check === "date";
      input = h("input", { ...attrs, type: date ? "date" : "text", maxlength: f.max_length || null,
        class: f.check && !date ? "mono" : null, spellcheck: "false" });
    }
    if (values[f.name]) input.value = values[f.name];
    const hint = f.hint ? h("p", { class: "hint" }, label(f.hint)) : null;
    box.append(h("div", { class: "field", "data-field": f.name },
      h("label", { for: id }, label(f.label) + (f.required ? t("required") : "")), input, hint,
      h("p", { class: "field-error", role: "alert" })));
  }
}

async function issueOne(event) {
  event.preventDefault();
  const form = event.target;
  problem(null);
  $("issue-result").replaceChildren();
  const subject = {};
  for (const input of form.querySelectorAll("[data-subject]")) {
    if (input.value.trim() !== "") subject[input.name] = input.value.trim();
  }
  const body = { type: form.type.value, subject };
  if (form.valid_from.value) body.valid_from = form.valid_from.value;
  if (form.valid_until.value) body.valid_until = form.valid_until.value;
  const answer = await call("/credentials", "POST", body);
  if (!answer.ok) {
    const placed = fieldErrors(form, answer);
    problem(placed ? { error: both("fieldProblem") } : answer);
    return;
  }
  fieldErrors(form, null);
  const done = answer.data;
  $("issue-result").append(
    h("p", { class: "notice notice--ok" }, t("issued").replace("{id}", done.identifier), " ",
      h("button", { type: "button", class: "button button--secondary", "data-open": done.id }, t("open"))),
  );
}

// ---- batch: the server parses, the page sends chunks and moves the bar ----------------------

async function runBatch(event) {
  event.preventDefault();
  problem(null);
  const file = $("batch-file").files[0];
  if (!file) {
    problem({ error: both("noFile") });
    return;
  }
  const type = $("batch-type").value;
  const parsed = await call("/batch/parse", "POST", { type, csv: await file.text() });
  if (!parsed.ok) {
    problem(parsed);
    return;
  }
  const rows = parsed.data.rows;
  const total = rows.length;
  const progress = $("batch-progress");
  const errors = $("batch-errors");
  errors.tBodies[0].replaceChildren();
  errors.hidden = true;
  $("batch-download").hidden = true;
  $("batch-summary").textContent = "";
  $("batch-run").hidden = false;
  $("batch-start").disabled = true;
  const csv = [];
  let ok = 0, already = 0, bad = 0;
  try {
    for (let at = 0; at < total; at += CHUNK) {
      const chunk = rows.slice(at, at + CHUNK);
      const answer = await call("/batch/issue", "POST", { type, rows: chunk, first_row: at + 1 });
      if (!answer.ok) {
        problem(answer);
        return;
      }
      csv.push(csv.length ? answer.data.csv.replace(/^[^\n]*\n/, "") : answer.data.csv);
      for (const r of answer.data.results) {
        if (r.error) {
          bad += 1;
          errors.tBodies[0].append(h("tr", null, h("td", null, String(r.row)),
            h("td", null, [r.error.field ? `${r.error.field}: ` : "", lang === "en" ? r.error.message_en : r.error.message])));
        } else {
          ok += 1;
          if (r.already) already += 1;
        }
      }
      const done = Math.min(total, at + CHUNK);
      progress.value = Math.round((done / total) * 100);
      $("batch-count").textContent = t("batchCount").replace("{n}", done).replace("{total}", total);
    }
  } finally {
    $("batch-start").disabled = false;
  }
  errors.hidden = bad === 0;
  $("batch-summary").textContent = t("batchDone").replace("{ok}", ok).replace("{already}", already).replace("{bad}", bad);
  const link = $("batch-download");
  if (link.href) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob(["\ufeff" + csv.join("")], { type: "text/csv;charset=utf-8" }));
  link.hidden = false;
}

// ---- search and paging -----------------------------------------------------------------------

async function search(event, more) {
  if (event) event.preventDefault();
  problem(null);
  const form = $("search-form");
  const params = new URLSearchParams();
  for (const name of ["type", "status", "q", "issued_from", "issued_to"]) {
    const value = form[name].value.trim();
    if (value) params.set(name, value);
  }
  if (more && searchCursor) params.set("cursor", searchCursor);
  const answer = await call(`/credentials?${params}`);
  if (!answer.ok) {
    if (!fieldErrors(form, answer)) problem(answer);
    return;
  }
  fieldErrors(form, null);
  const body = $("search-results").tBodies[0];
  if (!more) body.replaceChildren();
  for (const item of answer.data.items) {
    body.append(h("tr", null,
      h("td", null, item.subject_name || "—"),
      h("td", { class: "mono" }, item.subject_code || "—"),
      h("td", null, label(item.type_name) || item.type),
      h("td", null, statusText(item)),
      h("td", null, formatTime(item.issued_at) || "—"),
      h("td", null, h("button", { type: "button", class: "button button--secondary", "data-open": item.id }, t("open")))));
  }
  searchCursor = answer.data.next_cursor || null;
  $("search-results").hidden = body.rows.length === 0;
  $("search-none").hidden = body.rows.length !== 0;
  $("search-more").hidden = !searchCursor;
}

function statusText(item) {
  const names = item.status_name || {};
  return `${item.status_code} ${names[lang] || names.zh || item.status || ""}`.trim();
}

// ---- one credential --------------------------------------------------------------------------

async function open(id) {
  problem(null);
  const answer = await call(`/credentials/${encodeURIComponent(id)}`);
  if (!answer.ok) {
    problem(answer);
    return;
  }
  showDetail(answer.data);
}

function showDetail(d) {
  shown = d;
  const m = d.metadata;
  $("detail").hidden = false;
  $("detail-title").textContent = `${label(d.type_name)} · ${m.holder}`;
  const rows = [
    ["mIdentifier", m.licence_identifier, "mono"], ["mName", m.licence_name], ["mAuthority", `${m.issuing_authority} (${m.issuing_authority_code})`],
    ["mHolder", m.holder], ["mHolderCode", m.holder_code, "mono"], ["mIssued", formatTime(m.issue_date)],
    ["mValidFrom", formatTime(m.valid_from, true)], ["mValidUntil", formatTime(m.valid_until, true) || "—"],
    ["mStatus", `${m.status.code} ${m.status[lang]}`], ["mJurisdiction", m.jurisdiction_code, "mono"],
  ].map(([key, value, cls]) => h("tr", null, h("th", null, t(key)), h("td", { class: cls || null, id: `meta-${key}` }, value)));
  for (const [name, value] of Object.entries(d.subject || {})) {
    rows.push(h("tr", null, h("th", null, label(d.labels[name]) || name), h("td", null, String(value))));
  }
  $("detail-meta").tBodies[0].replaceChildren(...rows);
  $("detail-qr").src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(d.qr_svg_text);
  const history = d.status_history || [];
  $("detail-history").tBodies[0].replaceChildren(
    ...(history.length
      ? history.map((c) => h("tr", null, h("td", null, formatTime(c.at) || "—"),
          h("td", null, `${c.from || ""} → ${c.to || c.code || ""}` + (c.status ? ` ${c.status[lang] || c.status.zh}` : "")),
          h("td", null, c.reason || ""), h("td", { class: "mono" }, c.actor || "")))
      : [h("tr", null, h("td", { colspan: "4" }, t("noHistory")))]),
  );
  $("detail-notice").replaceChildren();
  $("detail").scrollIntoView({ block: "start" });
}

async function changeStatus(action) {
  const form = $("status-form");
  problem(null);
  const body = { reason: form.reason.value };
  if (action === "revoke") body.code = form.code.value;
  const answer = await call(`/credentials/${encodeURIComponent(shown.id)}/${action}`, "POST", body);
  if (!answer.ok) {
    if (!fieldErrors(form, answer)) problem(answer);
    return;
  }
  fieldErrors(form, null);
  form.reason.value = "";
  showDetail(answer.data);
  const s = answer.data.metadata.status;
  $("detail-notice").append(h("p", { class: "notice notice--ok" }, t("changed").replace("{s}", `${s.code} ${s[lang]}`)));
}

async function printIt(size) {
  problem(null);
  busy(true);
  let response;
  try {
    response = await fetch(`${document.body.dataset.apiBase || ""}${API}/credentials/${encodeURIComponent(shown.id)}/print`, {
      method: "POST", headers: headers(true), body: JSON.stringify({ size }), credentials: "same-origin", cache: "no-store",
    });
  } catch (_) {
    busy(false);
    problem({ error: both("errNetwork") });
    return;
  }
  busy(false);
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    problem({ status: response.status, data });
    return;
  }
  const name = `${shown.metadata.licence_identifier}-${size}.pdf`;
  const url = URL.createObjectURL(await response.blob());
  const link = h("a", { href: url, download: name, class: "button button--secondary" }, name);
  $("detail-notice").replaceChildren(h("p", { class: "notice notice--ok" }, t("printed").replace("{f}", ""), link));
  link.click();
}

// ---- wiring ----------------------------------------------------------------------------------

function showTab(name) {
  for (const button of document.querySelectorAll("[data-tab]")) {
    button.setAttribute("aria-pressed", String(button.dataset.tab === name));
    $(`panel-${button.dataset.tab}`).hidden = button.dataset.tab !== name;
  }
}

document.addEventListener("click", (event) => {
  const target = event.target.closest("[data-open],[data-tab],[data-action],[data-size]");
  if (!target) return;
  if (target.dataset.open) open(target.dataset.open);
  else if (target.dataset.tab) showTab(target.dataset.tab);
  else if (target.dataset.action) changeStatus(target.dataset.action);
  else if (target.dataset.size) printIt(target.dataset.size);
});
$("signin-form").addEventListener("submit", signIn);
$("signout").addEventListener("click", signOut);
$("issue-type").addEventListener("change", renderForm);
$("issue-form").addEventListener("submit", issueOne);
$("batch-form").addEventListener("submit", runBatch);
$("search-form").addEventListener("submit", (e) => search(e, false));
$("search-more").addEventListener("click", () => search(null, true));

startLang(() => {
  if (!me) return;
  $("operator-name").textContent = t("signedInAs").replace("{u}", me.operator.username);
  for (const id of ["issue-type", "batch-type", "search-type"]) fillTypes($(id), id === "search-type");
  fillStatuses();
  renderForm();
  if (shown) showDetail(shown);
});

callApi(API + "/session", { method: "GET" }).then((answer) => {
  if (answer.ok) signedIn(answer.data);
  else signedOut();
});
