// scimbridge admin console: IOMETE's LDAP settings page over the admin API
// (/api/v1). Plain script, no build step; the session lives in an HttpOnly
// cookie, so the page never holds the admin token. Secrets are write-only:
// the API never returns them and the page clears them once sent.
"use strict";

const API = "/api/v1";

// The form, top to bottom: [JSON path, label, kind, choices or hint].
// Kinds: text, area, secret, int, bool, list (comma-separated), lines (one
// per line), select.
const SECTIONS = [
  {id: "connection", title: "Connection", fields: [
    ["vendor", "Vendor", "select", ["openldap", "ad", "other"], "Choosing another refills the fields still at the defaults of the one before."],
    ["connection.url", "Connection URL", "text", null, "ldap://host:389 or ldaps://host:636"],
    ["connection.startTls", "StartTLS", "bool"],
    ["connection.caCertPem", "CA certificate", "area", null, "PEM certificates to trust besides the system's."],
    ["connection.insecureSkipVerify", "Skip TLS certificate verification (tests only)", "bool"],
    ["connection.allowPlaintextBind", "Allow the bind credential over plain LDAP to a non-loopback host", "bool"],
    ["connection.bindDn", "Bind DN", "text", null, "Empty for an anonymous bind."],
    ["connection.bindCredential", "Bind Credential", "secret"],
    ["connection.connectTimeoutSeconds", "Connect timeout", "int", null, "seconds"],
    ["connection.readTimeoutSeconds", "Read timeout", "int", null, "seconds"],
    ["connection.pageSize", "Page size", "int", null, "entries per page of a search"],
    ["connection.rangeSize", "Range size", "int", null, "0: the server chooses the slices of large member lists"],
  ], buttons: [["test-connection", "Test connection"], ["test-authentication", "Test authentication"]]},
  {id: "users", title: "User searching", fields: [
    ["users.usersDn", "Users DN", "text", null, "e.g. ou=people,dc=example,dc=com"],
    ["users.objectClasses", "User object classes", "list", null, "comma-separated; an entry must have all"],
    ["users.filter", "Custom user LDAP filter", "text", null, "ANDed with the object classes, e.g. (department=sales)"],
    ["users.scope", "User search scope", "select", ["subtree", "one"]],
  ], buttons: [["preview-users", "Validate user filters"]]},
  {id: "mappings", title: "User attribute mappings", fields: [
    ["users.attributes.username", "username", "text"],
    ["users.attributes.email", "email", "text"],
    ["users.attributes.firstName", "firstName", "text"],
    ["users.attributes.lastName", "lastName", "text"],
    ["users.attributes.displayName", "displayName", "text"],
    ["users.attributes.externalId", "externalId", "text"],
    ["users.attributes.employeeNumber", "employeeNumber", "text"],
    ["users.attributes.department", "department", "text"],
    ["users.attributes.disabledAttribute", "disabledAttribute", "text", null, "AD: userAccountControl"],
    ["users.attributes.disabledBit", "disabledBit", "int", null, "AD: 2 (ACCOUNTDISABLE)"],
  ]},
  {id: "groups", title: "Group searching", fields: [
    ["groups.enabled", "Enable group searching and updating", "bool"],
    ["groups.groupsDn", "Groups DN", "text", null, "e.g. ou=groups,dc=example,dc=com"],
    ["groups.objectClasses", "Group object classes", "list", null, "comma-separated"],
    ["groups.filter", "Custom group LDAP filter", "text"],
    ["groups.scope", "Group search scope", "select", ["subtree", "one"]],
    ["groups.attributes.name", "name", "text"],
    ["groups.attributes.membership", "membership", "text", null, "member, uniqueMember or memberUid"],
    ["groups.attributes.membershipAttributeType", "membershipAttributeType", "select", ["DN", "UID"]],
    ["groups.attributes.membershipUserAttribute", "membershipUserAttribute", "text", null, "the user attribute UID members name"],
    ["groups.attributes.externalId", "group externalId", "text"],
  ]},
  {id: "sync", title: "Sync settings", fields: [
    ["sync.periodicFullSync", "Periodic full sync", "bool"],
    ["sync.fullSyncIntervalSeconds", "Full sync interval", "int", null, "seconds"],
    ["sync.maxDeletes", "Maximum deletions per run", "int", null, "a run that would delete more is held for approval"],
    ["sync.changedSyncIntervalSeconds", "Updated/New LDAP user sync interval", "int", null, "seconds; 0: off"],
    ["sync.live", "Live changes", "bool"],
    ["sync.livePollSeconds", "Live poll interval", "int", null, "seconds, where the directory is polled (Active Directory)"],
  ]},
  {id: "push", title: "Push target", fields: [
    ["push.enabled", "Push each sync's changes to a SCIM target", "bool"],
    ["push.url", "Push URL", "text", null, "the target's SCIM base URL"],
    ["push.token", "Push token", "secret"],
    ["push.authHeader", "Auth header", "text", null, "Authorization sends Bearer <token>; another header the raw token"],
    ["push.profile", "Profile", "select", ["rfc", "iomete"]],
    ["push.deprovision", "Deprovision", "select", ["delete", "deactivate"]],
    ["push.groupMembers", "Group members", "select", ["flatten", "nested"]],
    ["push.concurrency", "Concurrency", "int", null, "parallel requests"],
    ["push.timeoutSeconds", "Push timeout", "int", null, "seconds"],
    ["push.caCertPem", "Push CA certificate", "area"],
    ["push.insecureSkipVerify", "Skip the push target's certificate verification (tests only)", "bool"],
    ["push.scopeGroups", "Scope groups", "lines", null, "one group DN or name a line; empty: everyone"],
  ], buttons: [["test-push", "Test push"]]},
];

const SECRET_SET = {"connection.bindCredential": "connection.bindCredentialSet", "push.token": "push.tokenSet"};

const $ = (id) => document.getElementById(id);
const inputs = new Map(); // JSON path → input element
let loaded = null; // the settings document as the API last answered it
let ldapEnabled = false;

// ---- helpers ----

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (v === true) e.setAttribute(k, "");
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function idOf(path) { return "f-" + path.replace(/\./g, "-"); }

function getPath(doc, path) {
  let v = doc;
  for (const p of path.split(".")) v = v == null ? undefined : v[p];
  return v;
}

function setPath(doc, path, v) {
  const parts = path.split(".");
  let m = doc;
  for (const p of parts.slice(0, -1)) m = m[p] = m[p] || {};
  m[parts[parts.length - 1]] = v;
}

function show(id, text, kind) {
  const e = $(id);
  e.textContent = text;
  e.className = "result" + (kind ? " " + kind : "");
}

function fmtTime(s) {
  if (!s) return "—";
  const d = new Date(s);
  return isNaN(d) ? s : d.toLocaleString();
}

function fmtMs(ms) {
  if (ms == null) return "—";
  return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s";
}

// api calls the admin API with the session cookie. A 401 means the session
// ended: the page goes back to sign-in.
async function api(method, path, body) {
  const opt = {method, headers: {"Accept": "application/json"}, credentials: "same-origin", cache: "no-store"};
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(API + path, opt);
  } catch (err) {
    return {status: 0, body: {error: "scimbridge did not answer: is it running? (" + err.message + ")"}};
  }
  let data = {};
  if (res.status !== 204) {
    try { data = await res.json(); } catch (err) { data = {error: "unreadable answer (HTTP " + res.status + ")"}; }
  }
  if (res.status === 401 && path !== "/session") {
    signedOut("Your session has ended: sign in again with the admin token. Unsaved changes in the form are kept.", true);
  }
  return {status: res.status, body: data};
}

// ---- the form ----

function buildForm() {
  const root = $("sections");
  for (const sec of SECTIONS) {
    const titleId = "sec-" + sec.id;
    const fs = el("fieldset", {class: "card", id: "section-" + sec.id, "aria-labelledby": titleId},
      el("legend", {id: titleId, text: sec.title}));
    const grid = el("div", {class: "grid"});
    for (const f of sec.fields) grid.append(buildField(f));
    fs.append(grid);
    if (sec.buttons) {
      const bar = el("div", {class: "buttons"});
      for (const [action, label] of sec.buttons) {
        bar.append(el("button", {type: "button", "data-action": action, text: label}));
      }
      fs.append(bar);
      for (const [action, label] of sec.buttons) {
        fs.append(el("p", {class: "result", role: "status", "aria-label": label + " result", id: "result-" + action}));
      }
      if (sec.id === "users") fs.append(el("div", {id: "preview", class: "table-wrap"}));
    }
    root.append(fs);
  }
}

function buildField([path, label, kind, choices, hint]) {
  const id = idOf(path);
  const errId = "err-" + id;
  const hintId = "hint-" + id;
  const described = [hint || kind === "secret" ? hintId : null, errId].filter(Boolean).join(" ");
  let input;
  if (kind === "bool") {
    input = el("input", {type: "checkbox", id, "aria-describedby": errId});
  } else if (kind === "select") {
    input = el("select", {id, "aria-describedby": described});
    for (const c of choices) input.append(el("option", {value: c, text: c}));
  } else if (kind === "area" || kind === "lines") {
    input = el("textarea", {id, rows: kind === "area" ? 3 : 2, spellcheck: "false", "aria-describedby": described});
  } else {
    input = el("input", {
      type: kind === "secret" ? "password" : "text", id, spellcheck: "false",
      autocomplete: kind === "secret" ? "new-password" : "off",
      inputmode: kind === "int" ? "numeric" : null, "aria-describedby": described,
    });
  }
  input.dataset.path = path;
  input.dataset.kind = kind;
  inputs.set(path, input);
  const wrap = el("div", {class: "field" + (kind === "bool" ? " check" : "") + (kind === "area" || kind === "lines" ? " wide" : "")});
  if (kind === "bool") {
    wrap.append(el("label", {}, input, document.createTextNode(" " + label)));
  } else {
    wrap.append(el("label", {for: id, text: label}), input);
  }
  if (hint || kind === "secret") wrap.append(el("p", {class: "hint", id: hintId, text: hint || ""}));
  wrap.append(el("p", {class: "field-error", id: errId}));
  return wrap;
}

// shown is how the form shows the value v of a field of this kind.
function shown(kind, v) {
  if (kind === "bool") return !!v;
  if (kind === "list") return (v || []).join(", ");
  if (kind === "lines") return (v || []).join("\n");
  return v == null ? "" : String(v);
}

function current(input) { return input.dataset.kind === "bool" ? input.checked : input.value; }

function setShown(input, v) {
  if (input.dataset.kind === "bool") input.checked = v;
  else input.value = v;
}

let vendorShown = "openldap";

function fill(doc) {
  loaded = doc;
  vendorShown = doc.vendor;
  for (const [path, input] of inputs) {
    const kind = input.dataset.kind;
    const v = getPath(doc, path);
    if (kind === "secret") {
      input.value = "";
      const set = !!getPath(doc, SECRET_SET[path]);
      input.placeholder = set ? "•••••• set: leave empty to keep it" : "not set";
      $("hint-" + input.id).textContent = set
        ? "One is stored. It is never shown; type a new one to replace it."
        : "None is stored yet.";
    } else setShown(input, shown(kind, v));
  }
}

// vendorChanged moves the fields that still hold the old vendor's defaults
// to the new vendor's (AD: sAMAccountName, objectGUID, …); fields the admin
// changed stay as they are.
async function vendorChanged() {
  const input = inputs.get("vendor");
  const from = vendorShown, to = input.value;
  const hint = $("hint-" + input.id);
  const [a, b] = await Promise.all([api("GET", "/settings/defaults?vendor=" + from), api("GET", "/settings/defaults?vendor=" + to)]);
  if (a.status !== 200 || b.status !== 200) { hint.textContent = "The defaults of " + to + " could not be read: " + ((a.status !== 200 ? a : b).body.error || "no answer"); return; }
  let moved = 0;
  for (const [path, field] of inputs) {
    const kind = field.dataset.kind;
    if (path === "vendor" || kind === "secret") continue;
    const old = shown(kind, getPath(a.body, path)), next = shown(kind, getPath(b.body, path));
    if (old !== next && current(field) === old) { setShown(field, next); moved++; }
  }
  vendorShown = to;
  hint.textContent = moved + (moved === 1 ? " field that held the " : " fields that held the ") + from + " defaults now " + (moved === 1 ? "holds" : "hold") + " the " + to + " defaults.";
}

// documentFromForm is the settings document the form shows: the last
// loaded document with every field of the form laid over it. "enabled" is
// left out (Enable / Disable LDAP have their own buttons), so is an empty
// secret (the stored one is kept).
function documentFromForm() {
  const doc = JSON.parse(JSON.stringify(loaded || {}));
  delete doc.enabled;
  for (const [path, input] of inputs) {
    const kind = input.dataset.kind;
    let v;
    if (kind === "bool") v = input.checked;
    else if (kind === "int") {
      const t = input.value.trim();
      v = /^-?\d+$/.test(t) ? Number(t) : t; // the API names a non-number
    } else if (kind === "list") v = input.value.split(",").map((s) => s.trim()).filter(Boolean);
    else if (kind === "lines") v = input.value.split("\n").map((s) => s.trim()).filter(Boolean);
    else v = input.value;
    setPath(doc, path, v);
  }
  if (doc.connection) delete doc.connection.bindCredentialSet;
  if (doc.push) delete doc.push.tokenSet;
  return doc;
}

function clearFieldErrors() {
  for (const input of inputs.values()) {
    input.removeAttribute("aria-invalid");
    $("err-" + input.id).textContent = "";
  }
}

// showFieldErrors puts each of the API's field errors next to its field and
// returns the ones no field of the form shows.
function showFieldErrors(fields) {
  clearFieldErrors();
  const rest = [];
  let first = null;
  for (const f of fields || []) {
    const input = inputs.get(f.field.replace(/\[\d+\]/g, ""));
    if (!input) { rest.push(f); continue; }
    const p = $("err-" + input.id);
    p.textContent = p.textContent ? p.textContent + "; " + f.message : f.message;
    input.setAttribute("aria-invalid", "true");
    first = first || input;
  }
  if (first) first.focus();
  return rest;
}

function errorText(r, fallback) {
  const b = r.body || {};
  let msg = b.error || fallback;
  const rest = showFieldErrors(b.fields);
  const n = (b.fields || []).length - rest.length;
  if (n > 0) msg += ": " + n + (n === 1 ? " field is" : " fields are") + " marked below";
  for (const f of rest) msg += "; " + (f.field ? f.field + ": " : "") + f.message;
  return msg;
}

// ---- buttons ----

async function save(ev) {
  ev.preventDefault();
  show("save-result", "Saving…");
  const r = await api("PUT", "/settings", documentFromForm());
  if (r.status === 200) {
    clearFieldErrors();
    fill(r.body);
    show("save-result", "Saved.", "ok");
    refreshStatus();
  } else if (r.status !== 401) {
    show("save-result", errorText(r, "Save failed"), "bad");
  }
}

async function runTest(action, label) {
  const id = "result-" + action;
  show(id, label + ": running…");
  const r = await api("POST", "/settings/" + action, documentFromForm());
  if (r.status === 401) return;
  if (r.status !== 200) {
    show(id, label + " could not run: " + errorText(r, "HTTP " + r.status), "bad");
    return;
  }
  clearFieldErrors();
  if (action === "preview-users") { showPreview(r.body, label); return; }
  const b = r.body;
  if (b.ok) show(id, label + " succeeded. " + (b.message || ""), "ok");
  else show(id, label + " failed at the " + b.step + " step: " + b.message, "bad");
}

function showPreview(p, label) {
  const box = $("preview");
  box.replaceChildren();
  if (!p.ok) { show("result-preview-users", label + " failed: " + p.message, "bad"); return; }
  const n = p.users.length;
  show("result-preview-users", label + " succeeded: " + (n === 0 ? p.message : "the first " + n + " users as a sync would map them."), n ? "ok" : "bad");
  if (!n) return;
  const body = el("tbody");
  for (const u of p.users) {
    const m = u.user || {};
    body.append(el("tr", {},
      el("td", {text: u.dn}), el("td", {text: m.userName || ""}), el("td", {text: m.email || ""}),
      el("td", {text: m.firstName || ""}), el("td", {text: m.lastName || ""}),
      el("td", {text: u.problems.join("; ")})));
  }
  box.append(el("table", {"aria-label": "Preview of the first users"},
    el("thead", {}, el("tr", {}, ...["DN", "username", "email", "firstName", "lastName", "Problems"].map((h) => el("th", {scope: "col", text: h})))),
    body));
}

async function toggleLDAP() {
  const on = !ldapEnabled;
  show("ldap-result", (on ? "Enabling" : "Disabling") + " LDAP…");
  const r = await api("POST", on ? "/ldap/enable" : "/ldap/disable");
  if (r.status === 401) return;
  if (r.status !== 200) { show("ldap-result", errorText(r, "HTTP " + r.status), "bad"); return; }
  const enabled = r.body.periodicFullSync ? "LDAP enabled: syncs run on schedule (see Next run)." : "LDAP enabled: periodic full sync is off, so syncs run when you press Sync all users.";
  show("ldap-result", on ? enabled : "LDAP disabled: no scheduled syncs.", "ok");
  renderStatus(r.body);
}

let polling = null;

function runName(id, dryRun) { return (dryRun ? "Dry run " : "Sync run ") + id; }

// startSync starts a sync, a dry run, or a sync that may delete more than
// sync.maxDeletes (the approval of a held run).
async function startSync(dryRun, allowDeletes) {
  const what = dryRun ? "Dry run" : "Sync";
  $("sync-approve").hidden = true;
  show("sync-result", what + ": starting…");
  const r = await api("POST", "/sync" + (dryRun ? "?dryRun=true" : allowDeletes ? "?allowDeletes=true" : ""));
  if (r.status === 401) return;
  if (r.status !== 202) {
    const running = r.body && r.body.runId;
    show("sync-result", what + " not started: " + errorText(r, "HTTP " + r.status) + (running ? " (run " + running + ")" : ""), "bad");
    if (running) follow(running);
    return;
  }
  follow(r.body.runId);
}

// follow shows a run's live progress until it ends, then its outcome.
async function follow(id) {
  if (polling) clearTimeout(polling);
  const bar = $("sync-progress");
  bar.hidden = false;
  for (;;) {
    const r = await api("GET", "/sync/runs/" + id);
    if (r.status !== 200) {
      bar.hidden = true;
      if (r.status !== 401) show("sync-result", "Run " + id + ": " + errorText(r, "HTTP " + r.status), "bad");
      return;
    }
    const run = r.body;
    const name = runName(id, run.dryRun);
    if (run.status !== "running" && !run.progress) { // a run that pushes has its status but still its progress
      bar.hidden = true;
      const ok = run.status === "succeeded";
      let msg = name + " " + run.status + ": " + runSummary(run) + "." + (run.error ? " " + run.error + "." : "");
      if (run.status === "held") msg += " Nothing was applied: to apply it, press Approve the deletions and sync.";
      await Promise.all([refreshRuns(), refreshStatus()]);
      openReport(run);
      // The outcome comes last: once it shows, the history and report are current.
      show("sync-result", msg, ok ? "ok" : "bad");
      $("sync-approve").hidden = run.status !== "held";
      return;
    }
    const p = run.progress;
    const read = p && p.phase.startsWith("reading") ? ", " + p.entries + " entries read so far" : "";
    show("sync-result", name + " running" + (p ? ": " + p.phase + read : "") + "…");
    await new Promise((res) => { polling = setTimeout(res, 300); });
  }
}

function plural(n, word) { return n + " " + word + (n === 1 ? "" : "s"); }

function runSummary(run) {
  return plural(run.users, "user") + " (" + run.usersCreated + " created, " + run.usersUpdated + " updated, " + run.usersDeleted + " deleted), " +
    plural(run.groups, "group") + " (" + run.groupsCreated + " created, " + run.groupsUpdated + " updated, " + run.groupsDeleted + " deleted), " +
    run.skipped + " skipped";
}

// ---- status and history ----

async function refreshStatus() {
  const r = await api("GET", "/status");
  if (r.status === 200) renderStatus(r.body);
}

function renderStatus(s) {
  ldapEnabled = !!s.enabled;
  $("toggle-ldap").textContent = ldapEnabled ? "Disable LDAP" : "Enable LDAP";
  const last = s.lastRun;
  const rows = [
    ["LDAP", ldapEnabled ? "enabled" : "disabled"],
    ["Last run", last ? "run " + last.id + " " + last.status + " (" + last.trigger + "), " + fmtTime(last.startedAt) : "none yet"],
    ["Next run", s.nextRun ? fmtTime(s.nextRun) : "none scheduled"],
    ["Users", String(s.users)],
    ["Groups", String(s.groups)],
    ["Push", !s.pushEnabled ? "off" : s.push
      ? s.push.pendingChanges + " changes to send, " + s.push.pending + " pending, " + s.push.failed + " failed" : "on"],
  ];
  $("status-panel").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {text: v})]));
}

async function refreshRuns() {
  const r = await api("GET", "/sync/runs?limit=20");
  if (r.status !== 200) return [];
  const body = $("runs-table").querySelector("tbody");
  body.replaceChildren();
  for (const run of r.body.runs) {
    const b = el("button", {type: "button", class: "quiet", "aria-label": "Open the report of run " + run.id, text: "Report"});
    b.addEventListener("click", () => openReport(run, true));
    body.append(el("tr", {},
      el("th", {scope: "row", text: String(run.id) + (run.dryRun ? " (dry run)" : "")}),
      el("td", {class: "st-" + run.status, text: run.status}), el("td", {text: run.trigger}),
      el("td", {text: String(run.users)}), el("td", {text: String(run.groups)}),
      el("td", {text: String(run.usersCreated + run.groupsCreated)}),
      el("td", {text: String(run.usersUpdated + run.groupsUpdated)}),
      el("td", {text: String(run.usersDeleted + run.groupsDeleted)}),
      el("td", {text: String(run.skipped)}),
      el("td", {text: fmtTime(run.startedAt)}), el("td", {text: fmtMs(run.durationMs)}),
      el("td", {}, b)));
  }
  $("runs-empty").hidden = r.body.runs.length > 0;
  return r.body.runs;
}

// openReport shows a run's report; asked from its button, focus moves there.
function openReport(run, focus) {
  $("run-report").hidden = false;
  $("run-report-title").textContent = "Report of run " + run.id + (run.dryRun ? " (dry run: nothing was written)" : "");
  const counts = [
    ["Status", run.status], ["Trigger", run.trigger], ["Started", fmtTime(run.startedAt)], ["Duration", fmtMs(run.durationMs)],
    ["Users", run.users], ["Users created", run.usersCreated], ["Users updated", run.usersUpdated], ["Users deleted", run.usersDeleted],
    ["Groups", run.groups], ["Groups created", run.groupsCreated], ["Groups updated", run.groupsUpdated], ["Groups deleted", run.groupsDeleted],
    ["Memberships changed", run.membershipsChanged], ["Dangling members", run.danglingMembers],
    ["Skipped", run.skipped], ["Kept unchanged", run.keptUnchanged],
  ].filter(([, v]) => v !== undefined);
  $("run-report-counts").replaceChildren(...counts.flatMap(([k, v]) => [el("dt", {text: k}), el("dd", {text: String(v)})]));
  const err = $("run-report-error");
  err.hidden = !run.error;
  err.textContent = run.error || "";
  const skipped = run.skippedEntries || [];
  const table = $("run-report-skipped");
  table.hidden = skipped.length === 0;
  $("run-report-noskips").hidden = skipped.length > 0;
  table.querySelector("tbody").replaceChildren(...skipped.map((s) => el("tr", {}, el("td", {text: s.dn}), el("td", {text: s.reason}))));
  $("run-report-push").textContent = pushSummary(run.push);
  if (focus) $("run-report-title").focus();
}

function pushSummary(p) {
  if (!p) return "No push in this run.";
  if (p.created === undefined) return "The push failed: " + (p.error || "no report") + ".";
  let s = "Pushed: " + p.created + " created, " + p.updated + " updated, " + p.deleted + " deleted, " + p.failed + " failed, " +
    p.pending + " still pending (" + plural(p.sent, "request") + ")";
  if (p.error) s += ". Stopped early: " + p.error;
  for (const f of p.failures || []) s += ". " + f.type + " " + f.name + " refused: " + f.error;
  return s + ".";
}

// ---- sign-in ----

let keptForm = false; // the form survived an ended session: do not reload it over the admin's edits

function signedIn() {
  $("sign-in-view").hidden = true;
  $("console-view").hidden = false;
  $("sign-out").hidden = false;
  if (keptForm) {
    keptForm = false;
    refreshRuns();
    refreshStatus();
  } else {
    loadAll();
  }
}

// signedOut shows the sign-in form. An ended session keeps the form as the
// admin left it; signing out empties it.
function signedOut(message, keepForm) {
  if (polling) clearTimeout(polling);
  $("console-view").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in-view").hidden = false;
  keptForm = !!keepForm && loaded !== null;
  if (!keptForm) {
    loaded = null;
    for (const input of inputs.values()) { if (input.type !== "checkbox") input.value = ""; }
    clearFieldErrors();
  }
  show("sign-in-result", message || "", message ? "bad" : "");
  $("admin-token").focus();
}

async function loadAll() {
  const r = await api("GET", "/settings");
  if (r.status !== 200) return;
  fill(r.body);
  const [runs] = await Promise.all([refreshRuns(), refreshStatus()]);
  if (runs.length && runs[0].status === "running") follow(runs[0].id);
}

async function signIn(ev) {
  ev.preventDefault();
  const input = $("admin-token");
  const token = input.value;
  input.value = "";
  if (!token.trim()) { show("sign-in-result", "Type the admin token (SCIMBRIDGE_ADMIN_TOKEN) first.", "bad"); return; }
  show("sign-in-result", "Signing in…");
  const r = await api("POST", "/session", {token});
  if (r.status === 200) { show("sign-in-result", ""); signedIn(); }
  else show("sign-in-result", (r.body && r.body.error) || "Sign-in failed (HTTP " + r.status + ")", "bad");
}

async function signOut() {
  await api("DELETE", "/session");
  signedOut("Signed out.");
  $("sign-in-result").className = "result";
}

async function start() {
  buildForm();
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("settings-form").addEventListener("submit", save);
  $("toggle-ldap").addEventListener("click", toggleLDAP);
  $("sync-now").addEventListener("click", () => startSync(false));
  $("sync-dry").addEventListener("click", () => startSync(true));
  $("sync-approve").addEventListener("click", () => startSync(false, true));
  inputs.get("vendor").addEventListener("change", vendorChanged);
  for (const sec of SECTIONS) {
    for (const [action, label] of sec.buttons || []) {
      document.querySelector('[data-action="' + action + '"]').addEventListener("click", () => runTest(action, label));
    }
  }
  const r = await api("GET", "/session");
  if (r.status === 200) signedIn();
  else signedOut("");
}

document.addEventListener("DOMContentLoaded", start);
