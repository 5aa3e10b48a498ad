/* Gatehouse admin pages: plain JavaScript, no build step, nothing loaded from
 * elsewhere.  Every value from the server is put on the page as text
 * (textContent), never as HTML.  Every change sends the session's CSRF
 * token in X-CSRF-Token. */
"use strict";

let me = null;

function $(sel) { return document.querySelector(sel); }

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function say(text, ok) {
  const m = $("#message");
  m.textContent = text;
  m.className = ok ? "ok" : "";
  m.hidden = !text;
}

function when(t) {
  if (!t) return "";
  const d = new Date(t * 1000);
  return d.toLocaleString("en-GB", { dateStyle: "short", timeStyle: "short" });
}

async function api(method, path, body) {
  const opts = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  if (method !== "GET" && me) opts.headers["X-CSRF-Token"] = me.csrf;
  const r = await fetch(path, opts);
  let data = null;
  try { data = await r.json(); } catch (e) { data = { error: "unexpected answer (" + r.status + ")" }; }
  if (r.status === 401 && path !== "/api/login") { me = null; show(); }
  if (!r.ok) throw new Error(data.error || ("error " + r.status));
  return data;
}

function show() {
  const page = (location.hash || "#guests").slice(1);
  $("#login").hidden = !!me;
  $("#nav").hidden = !me;
  $("#logout").hidden = !me;
  $("#who").textContent = me ? me.name + " (" + me.role + ")" : "";
  for (const s of ["guests", "dispensations", "safeguarding", "status"]) $("#" + s).hidden = true;
  if (!me) return;
  for (const a of document.querySelectorAll("nav a")) {
    a.hidden = !me.may[a.dataset.cap];
    a.classList.toggle("active", a.getAttribute("href") === "#" + page);
  }
  const allowed = { guests: "grants", dispensations: "grants", safeguarding: "safeguarding", status: "status" };
  let target = allowed[page] && me.may[allowed[page]] ? page : null;
  if (!target) target = Object.keys(allowed).find((p) => me.may[allowed[p]]);
  if (!target) return;
  if (location.hash !== "#" + target) { location.hash = "#" + target; return; }
  $("#" + target).hidden = false;
  ({ guests: loadGuests, dispensations: loadDispensations, safeguarding: loadSafeguarding,
     status: loadStatus })[target]().catch((e) => say(e.message));
}

/* --- guest access ------------------------------------------------------ */

function grantButtons(v) {
  const reason = el("input", { placeholder: "Reason (required)", maxlength: "400", "aria-label": "Reason for " + v.address });
  const row = el("div", { class: "row" }, reason);
  for (const [label, dur] of [["1 hour", "1h"], ["3 hours", "3h"], ["the day", "8h"]]) {
    row.append(el("button", { type: "button", "data-duration": dur, onclick: async () => {
      if (!reason.value.trim()) { say("Give a reason for the grant."); reason.focus(); return; }
      try {
        await api("POST", "/api/grants", { kind: "guest", client: v.address, segment: v.segment, duration: dur, reason: reason.value.trim() });
        say("Granted " + v.address + " for " + label + ".", true);
        loadGuests();
      } catch (e) { say(e.message); }
    } }, "Grant for " + label));
  }
  return row;
}

function grantCard(g, live) {
  const what = g.kind === "guest" ? "guest access" : (g.category ? "category " + g.category : g.name);
  const card = el("div", { class: "card grant", "data-id": String(g.id) },
    el("h4", {}, (g.client || "every client of " + g.segment) + " — " + what),
    el("div", {}, "Segment " + g.segment + ", " + when(g.from) + " until " + when(g.until) + " (" + g.state + ")"),
    el("div", { class: "names" }, "By " + g.by + ": " + g.reason));
  if (g.revoked) card.append(el("div", { class: "names" }, "Revoked " + when(g.revoked) + " by " + g.revoked_by + (g.revoke_reason ? ": " + g.revoke_reason : "")));
  if (live) {
    const reason = el("input", { placeholder: "Why end it early? (optional)", maxlength: "400" });
    card.append(el("div", { class: "row" }, reason, el("button", { type: "button", class: "danger", onclick: async () => {
      try {
        await api("POST", "/api/grants/" + g.id + "/revoke", { reason: reason.value.trim() });
        say("Grant " + g.id + " revoked.", true);
        show();
      } catch (e) { say(e.message); }
    } }, "Revoke")));
  }
  return card;
}

async function loadGuests() {
  const [v, g] = await Promise.all([api("GET", "/api/visitors"), api("GET", "/api/grants")]);
  const box = $("#visitors");
  box.replaceChildren();
  if (!v.segments.length) box.append(el("p", {}, "No segment needs a grant (guest-access: grant-required)."));
  else if (!v.devices.length) box.append(el("p", {}, "No visitor device in the last hour on " + v.segments.join(", ") + "."));
  for (const d of v.devices) {
    const card = el("div", { class: "card visitor", "data-address": d.address },
      el("h4", {}, d.address + (d.host ? " — " + d.host : "")),
      el("div", {}, "Segment " + d.segment + (d.mac ? ", MAC " + d.mac : "") + ", first seen " + when(d.first) + ", last seen " + when(d.last) + ", " + d.queries + " queries"),
      el("div", { class: "names" }, "Tried: " + d.names.join(", ")));
    if (d.grant) card.append(el("div", { class: "granted" }, "Granted until " + when(d.granted_until) + " (grant " + d.grant + ")"));
    else card.append(grantButtons(d));
    box.append(card);
  }
  const live = $("#live-grants"), past = $("#past-grants");
  live.replaceChildren();
  past.replaceChildren();
  const lg = g.live.filter((x) => x.kind === "guest"), pg = g.past.filter((x) => x.kind === "guest");
  if (!lg.length) live.append(el("p", {}, "None."));
  for (const x of lg) live.append(grantCard(x, true));
  if (!pg.length) past.append(el("p", {}, "None."));
  for (const x of pg.slice(0, 30)) past.append(grantCard(x, false));
}

/* --- dispensations ----------------------------------------------------- */

let optionsLoaded = false;

async function loadDispensations() {
  if (!optionsLoaded) {
    const o = await api("GET", "/api/options");
    const seg = $("#exemption-form select[name=segment]"), cat = $("#exemption-form select[name=category]");
    seg.append(el("option", { value: "" }, "(from the client address)"));
    for (const s of o.segments) seg.append(el("option", { value: s.name }, s.name));
    for (const c of o.categories) cat.append(el("option", { value: c }, c.replace(/_/g, " ")));
    optionsLoaded = true;
  }
  const g = await api("GET", "/api/grants");
  const box = $("#live-exemptions");
  box.replaceChildren();
  const ex = g.live.filter((x) => x.kind === "exemption");
  if (!ex.length) box.append(el("p", {}, "None."));
  for (const x of ex) box.append(grantCard(x, true));
}

/* --- safeguarding ------------------------------------------------------ */

function searchParams() {
  const f = new FormData($("#search-form"));
  const p = new URLSearchParams();
  for (const [k, v] of f.entries()) if (String(v).trim()) p.append(k, String(v).trim());
  return p;
}

async function loadSafeguarding() {
  const r = await api("GET", "/api/reports");
  const box = $("#report-days");
  box.replaceChildren();
  for (const d of r.days) box.append(el("button", { type: "button", class: "day", onclick: () => {
    const f = $("#report");
    f.hidden = false;
    f.src = "/api/report?date=" + encodeURIComponent(d);
  } }, d), " ");
}

async function runSearch() {
  const data = await api("GET", "/api/search?" + searchParams().toString());
  const t = el("table", {}, el("tr", {}, ...["Time", "Client", "Segment", "Name", "Type", "Verdict", "Category"].map((h) => el("th", {}, h))));
  for (const r of data.rows) t.append(el("tr", {}, ...[when(r.time), r.client, r.segment, r.name, r.type, r.verdict, r.category].map((c) => el("td", {}, c))));
  $("#results").replaceChildren(el("p", {}, data.rows.length + " records" + (data.rows.length >= data.limit ? " (the first " + data.limit + ")" : "")), t);
}

/* --- status ------------------------------------------------------------ */

async function loadStatus() {
  const s = await api("GET", "/api/status");
  const box = $("#status-body");
  box.replaceChildren();
  const rows = [];
  if (!s.running) rows.push(["Resolver", "NOT running: " + s.error]);
  else {
    const r = s.resolver;
    const rate = (x) => x === null ? "measuring…" : x.toFixed(1);
    rows.push(["Resolver", "running, version " + r.version + ", up " + Math.round(r.uptime / 60) + " min"]);
    rows.push(["Queries per minute", rate(s.queries_per_minute)]);
    rows.push(["Blocks per minute", rate(s.blocks_per_minute)]);
    rows.push(["Cache hit rate", (r.cache_hit_rate * 100).toFixed(1) + "%"]);
    rows.push(["Query log", r.log_enabled ? (r.log_stopped ? "STOPPED" : "writing") + ", lag " + (r.log_lag_us / 1e6).toFixed(1) + " s, " + r.log_dropped + " dropped" : "off"]);
    rows.push(["Blocklist index", r.index_open ? r.index_names + " names, built " + when(r.index_built) : "none"]);
    rows.push(["Live grants", r.grants_live]);
  }
  rows.push(["Admin sessions", s.admin.sessions + ", failed log-ins since start: " + s.admin.login_failures]);
  box.append(el("table", { class: "status" }, ...rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))));
  box.append(el("h3", {}, "Segments"));
  box.append(el("table", {}, el("tr", {}, el("th", {}, "Segment"), el("th", {}, "Networks"), el("th", {}, "Policy"), el("th", {}, "Guests")),
    ...s.segments.map((g) => el("tr", {}, el("td", {}, g.name), el("td", {}, g.networks.join(" ")), el("td", {}, g.policy), el("td", {}, g.guest ? "grant required" : "")))));
  box.append(el("h3", {}, "Policies"));
  box.append(el("table", {}, el("tr", {}, el("th", {}, "Policy"), el("th", {}, "Blocks")),
    ...s.policies.map((p) => el("tr", {}, el("td", {}, p.name), el("td", {}, p.default_block ? "everything not allowed" : p.block.join(", "))))));
}

/* --- start ------------------------------------------------------------- */

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      const r = await api("POST", "/api/login", { name: f.get("name"), password: f.get("password") });
      ev.target.reset();
      me = await api("GET", "/api/me");
      me.csrf = r.csrf;
      say("");
      show();
    } catch (e) { say(e.message); }
  });
  $("#logout").addEventListener("click", async () => {
    try { await api("POST", "/api/logout", {}); } catch (e) { /* logged out anyway */ }
    me = null;
    say("Logged out.", true);
    show();
  });
  $("#exemption-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target), body = { kind: "exemption" };
    for (const k of ["client", "segment", "category", "name", "duration", "from", "reason"]) {
      const v = String(f.get(k) || "").trim();
      if (v) body[k] = v;
    }
    try {
      const g = await api("POST", "/api/grants", body);
      say("Dispensation " + g.id + " granted until " + when(g.until) + ".", true);
      loadDispensations();
    } catch (e) { say(e.message); }
  });
  $("#search-form").addEventListener("submit", (ev) => { ev.preventDefault(); runSearch().catch((e) => say(e.message)); });
  $("#csv").addEventListener("click", (ev) => {
    ev.preventDefault();
    const p = searchParams();
    p.set("format", "csv");
    location.href = "/api/search?" + p.toString();
  });
  window.addEventListener("hashchange", show);
  api("GET", "/api/me").then((m) => { me = m; show(); }).catch(() => { me = null; show(); });
});
