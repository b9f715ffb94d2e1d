// track dashboard: a hash-routed page over the JSON API; charts drawn by plotly.js.
"use strict";

const view = document.getElementById("view");
const crumbs = document.getElementById("crumbs");
const COLORS = ["#3559e0", "#e4572e", "#17bebb", "#ffc914", "#76b041", "#8e44ad",
                "#f25f5c", "#2d3047", "#ff8c42", "#0b6e4f"];
const PLOT_CONFIG = { displaylogo: false, responsive: true };
let timer = null;  // the live-update poll of the current view
let editAllowed = false;  // /api/info's "edit": the write endpoints are open

// The API answered 401: the login form is showing, the current view stops.
class LoginRequired extends Error {}

// The response and its JSON body (null for 304 Not Modified); 401 shows the login form.
async function request(path, init = {}) {
  const response = await fetch("/api/" + path, init);
  if (response.status === 304) return { response, body: null };
  const body = await response.json();
  if (response.status === 401 && body.login) {
    loginView(body.error);
    throw new LoginRequired(body.error);
  }
  if (!response.ok) throw new Error(body.error || response.statusText);
  return { response, body };
}

async function api(path) { return (await request(path)).body; }

async function post(path, body) {
  const response = await fetch("/api/" + path, { method: "POST", headers: { "content-type": "application/json" },
                                                 body: JSON.stringify(body) });
  return { ok: response.ok, body: await response.json().catch(() => ({ error: response.statusText })) };
}

// Plotly renders names as (a subset of) HTML, links included: escape them so they show as text.
const plain = (text) => String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fmt(value, kind) {
  if (value === null || value === undefined) return "–";
  if (kind === "time") return new Date(value * 1000).toLocaleString();
  if (kind === "duration") {
    if (value < 60) return value.toFixed(1) + "s";
    const m = Math.floor(value / 60), h = Math.floor(m / 60);
    return h ? `${h}h${String(m % 60).padStart(2, "0")}m` : `${m}m${String(Math.floor(value % 60)).padStart(2, "0")}s`;
  }
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(4);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const shortUid = (uid) => { const i = uid.lastIndexOf("_"); return i > 12 ? uid.slice(0, 12) + uid.slice(i) : uid; };
const badge = (status) => el("span", { class: "badge " + status }, status);
const label = (trial) => (trial.metadata && trial.metadata.display_name) || trial.name || shortUid(trial.uid);

function setCrumbs(...parts) {
  crumbs.replaceChildren(...parts.map(([text, href]) => href ? el("a", { href }, text) : el("span", {}, text)));
}

function parseHash() {
  const [path, query] = location.hash.slice(1).split("?");
  return { parts: (path || "/").split("/").filter(Boolean).map(decodeURIComponent),
           params: new URLSearchParams(query || "") };
}

function show(...nodes) { view.replaceChildren(...nodes); }
function fail(error) { if (!(error instanceof LoginRequired)) show(el("p", { class: "error" }, error.message)); }

// ---- login ------------------------------------------------------------------------------

function showUser(info) {
  editAllowed = Boolean(info && info.edit);
  document.getElementById("store").textContent = info ? info.title : "";
  document.title = info ? "track · " + info.title : "track";
  document.getElementById("user").textContent = info && info.user ? info.user : "";
  document.getElementById("logout").hidden = !(info && info.user);
  if (info && info.no_auth && !document.getElementById("no-auth-banner")) {
    document.body.prepend(el("div", { id: "no-auth-banner", class: "banner", role: "alert" },
      "No login: anyone who can reach this address can read the whole store (track ui --no-auth)."));
  }
}

// Show the store and user in the header; false when the login form is showing instead.
async function loadInfo() {
  try { showUser(await api("info")); return true; }
  catch (error) { if (error instanceof LoginRequired) return false; throw error; }
}

function loginView(message) {
  clearTimeout(timer);
  showUser(null);
  const shown = document.getElementById("login-message");
  if (shown) { shown.textContent = message; return; }  // a late request must not reset what is typed
  setCrumbs(["log in"]);
  const username = el("input", { type: "text", id: "username", autocomplete: "username", required: "" });
  const password = el("input", { type: "password", id: "password", autocomplete: "current-password", required: "" });
  const error = el("p", { class: "error", id: "login-error", role: "alert" });
  const submit = el("button", { type: "submit", class: "primary", id: "login" }, "Log in");
  const form = el("form", { id: "login-form", class: "panel login" },
    el("h1", {}, "Log in"), el("p", { class: "muted", id: "login-message" }, message),
    el("label", {}, "user", username), el("label", {}, "password", password), submit, error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.textContent = "";
    try {
      const answer = await post("login", { username: username.value, password: password.value });
      if (!answer.ok) { error.textContent = answer.body.error; return; }
      if (await loadInfo()) await route();
    } catch (failure) { error.textContent = failure.message; }
    finally { submit.disabled = false; }
  });
  show(form);
  username.focus();
}

async function logout() {
  await post("logout", {});
  await route();
}

// ---- projects and groups -------------------------------------------------------------

// The store's projects. Landing on the bare address (`/`, no hash) with exactly one project
// opens straight on its runs table; `#/` (the "projects" link) always lists them.
async function projectsView(landing = true) {
  setCrumbs(["projects"]);
  const projects = await api("projects");
  if (landing && projects.length === 1) {
    const q = new URLSearchParams({ project: projects[0].uid });
    history.replaceState(null, "", "#/trials?" + q);
    await trialsView(q);
    return;
  }
  show(el("h1", {}, "Projects"),
       projects.length ? el("div", { class: "cards" }, projects.map((p) =>
         el("a", { class: "card", href: "#/project/" + encodeURIComponent(p.uid) },
            el("b", {}, p.name || p.uid), el("span", { class: "muted" }, `${p.groups} groups · ${p.trials} trials`))))
       : el("p", { class: "muted" }, "This store holds no project yet."),
       el("p", {}, el("a", { href: "#/trials" }, "All trials →")));
}

async function projectView(project) {
  setCrumbs(["projects", "#/"], [project]);
  const groups = await api("projects/" + encodeURIComponent(project) + "/groups");
  const trials = "#/trials?project=" + encodeURIComponent(project);
  show(el("h1", {}, project),
       el("p", {}, el("a", { href: trials }, "All trials of this project →")),
       el("div", { class: "cards" }, groups.map((g) => {
         const q = `project=${encodeURIComponent(project)}&group=${encodeURIComponent(g.uid)}`;
         return el("div", { class: "card" }, el("b", {}, el("a", { href: "#/trials?" + q }, g.name || g.uid)),
                   el("span", { class: "muted" }, `${g.trials} trials · `), el("a", { href: "#/search?" + q }, "search view"));
       })));
}

// ---- trials table ----------------------------------------------------------------------

async function trialsView(params) {
  const project = params.get("project"), group = params.get("group");
  setCrumbs(["projects", "#/"], ...(project ? [[project, "#/project/" + encodeURIComponent(project)]] : []), ["trials"]);
  const state = { sort: params.get("sort") || "start_time", order: params.get("order") || "desc",
                  where: params.get("where") || "", offset: +(params.get("offset") || 0), limit: +(params.get("limit") || 50),
                  summaries: params.getAll("summary") };
  const selected = new Set((params.get("selected") || "").split(",").filter(Boolean));
  const filter = el("input", { type: "text", id: "filter", value: state.where,
                               placeholder: "filter: parameters.lr>0.01 status=completed  (or JSON)" });
  const compare = el("button", { id: "compare", class: "primary", disabled: "",
                                 onclick: () => { location.hash = "#/compare?uids=" + [...selected].join(","); } }, "Compare selected");
  const message = el("div", { class: "error", id: "message" });
  const table = el("div", { class: "table-wrap" });
  const pager = el("div", { class: "pager" });
  const apply = () => { state.where = filter.value; state.offset = 0; load(); };
  const showSelection = () => {
    compare.disabled = selected.size < 2;
    compare.textContent = selected.size ? `Compare selected (${selected.size})` : "Compare selected";
  };
  const select = (uid, on) => {
    if (on) selected.add(uid); else selected.delete(uid);
    showSelection();
    history.replaceState(null, "", "#/trials?" + query());
  };
  filter.addEventListener("keydown", (e) => { if (e.key === "Enter") apply(); });
  // Metric summary columns ("loss (min)"): chosen here, computed and sorted by the server.
  const summaryMetric = el("select", { id: "summary-metric" });
  const summaryKind = el("select", { id: "summary-kind" }, ["last", "min", "max"].map((k) => el("option", { value: k }, k)));
  const addSummary = el("button", { id: "add-summary", onclick: () => {
    const column = summaryMetric.value + ":" + summaryKind.value;
    if (summaryMetric.value && !state.summaries.includes(column)) { state.summaries.push(column); load(); }
  } }, "Add column");
  const summaryControls = el("span", { class: "toolbar" }, "metric column ", summaryMetric, summaryKind, addSummary);
  const searchLink = group ? el("a", { href: `#/search?project=${encodeURIComponent(project || "")}&group=${encodeURIComponent(group)}` }, "search view") : null;
  show(el("h1", {}, "Trials"), el("div", { class: "toolbar" }, filter, el("button", { id: "apply", onclick: apply }, "Filter"), compare, searchLink, summaryControls),
       message, table, pager);

  function query() {
    const q = new URLSearchParams({ sort: state.sort, order: state.order, offset: state.offset, limit: state.limit });
    if (project) q.set("project", project);
    if (group) q.set("group", group);
    if (state.where) q.set("where", state.where);
    if (selected.size) q.set("selected", [...selected].join(","));
    for (const column of state.summaries) q.append("summary", column);
    return q;
  }

  async function load() {
    let page;
    try { page = await api("trials?" + query()); message.textContent = ""; }
    catch (error) { if (!(error instanceof LoginRequired)) message.textContent = error.message; return; }
    history.replaceState(null, "", "#/trials?" + query());
    const columns = [["name", "name"], ["status", "status"], ["start_time", "started"], ["duration", "duration"],
      ...page.parameters.map((p) => ["parameters." + p, p]), ...page.metrics.map((m) => ["metrics." + m, m]),
      ...page.summaries.map((c) => ["summaries." + c, `${c.slice(0, c.lastIndexOf(":"))} (${c.slice(c.lastIndexOf(":") + 1)})`])];
    const removeSummary = (column) => el("button", { class: "remove-summary", title: "remove this column", onclick: (e) => {
      e.stopPropagation();
      state.summaries = state.summaries.filter((c) => c !== column);
      if (state.sort === "summaries." + column) state.sort = "start_time";
      load();
    } }, "×");
    const head = el("tr", {}, el("th", {}), columns.map(([key, text]) => el("th", {
      class: "sortable" + (state.sort === key ? " sorted " + state.order : ""), "data-column": key,
      onclick: () => { state.order = state.sort === key && state.order === "desc" ? "asc" : "desc"; state.sort = key; load(); } },
      text, key.startsWith("summaries.") ? removeSummary(key.slice("summaries.".length)) : null)));
    const chosen = summaryMetric.value;
    summaryMetric.replaceChildren(...page.metrics.map((m) => el("option", { value: m }, m)));
    if (page.metrics.includes(chosen)) summaryMetric.value = chosen;
    summaryControls.hidden = !page.metrics.length;
    showSelection();
    const rows = page.rows.map((row) => el("tr", { "data-uid": row.uid },
      el("td", {}, el("input", { type: "checkbox", checked: selected.has(row.uid) ? "" : null,
        onchange: (e) => select(row.uid, e.target.checked) })),
      el("td", {}, el("a", { href: "#/trial/" + row.uid }, row.name || shortUid(row.uid))),
      el("td", {}, badge(row.status)), el("td", {}, fmt(row.start_time, "time")),
      el("td", { class: "num" }, fmt(row.duration, "duration")),
      page.parameters.map((p) => el("td", { class: "num" }, fmt(row.parameters[p]))),
      page.metrics.map((m) => el("td", { class: "num" }, fmt(row.metrics[m]))),
      page.summaries.map((c) => el("td", { class: "num", "data-summary": c }, fmt(row.summaries[c])))));
    table.replaceChildren(el("table", { id: "trials" }, el("thead", {}, head), el("tbody", {}, rows)));
    const last = Math.min(page.offset + page.rows.length, page.total);
    pager.replaceChildren(
      el("button", { disabled: page.offset ? null : "", onclick: () => { state.offset = Math.max(0, state.offset - state.limit); load(); } }, "‹ Prev"),
      el("span", { id: "range" }, page.total ? `${page.offset + 1}–${last} of ${page.total}` : "no trials"),
      el("button", { disabled: last < page.total ? null : "", onclick: () => { state.offset += state.limit; load(); } }, "Next ›"),
      page.running ? el("span", { class: "live" }, `● ${page.running} running, updating live`) : "");
    clearTimeout(timer);
    if (page.running) timer = setTimeout(load, 3000);
  }
  await load();
}

// ---- charts ---------------------------------------------------------------------------

// What a chart view shows, read from and written back to the URL hash so a link restores it:
// smoothing weight, x axis, metrics drawn in log scale, grouping parameters and the band drawn
// around each group's mean, metric filter, metric sections opened or closed by hand.
function chartState(params) {
  const list = (key) => (params.get(key) || "").split(",").filter(Boolean);
  const smooth = Math.min(Math.max(Number(params.get("smooth")) || 0, 0), 0.99);
  return { smooth, x: ["step", "wall", "relative"].includes(params.get("x")) ? params.get("x") : "step",
           log: new Set(list("log")), group: list("groupby"),
           band: Object.hasOwn(BANDS, params.get("band")) ? params.get("band") : "minmax",
           find: params.get("find") || "", open: new Set(list("open")), closed: new Set(list("closed")) };
}

// The state as hash parameters (defaults left out, so plain links stay short).
function stateParams(state, extra = {}) {
  const q = new URLSearchParams(extra);
  if (state.smooth) q.set("smooth", String(state.smooth));
  if (state.x !== "step") q.set("x", state.x);
  if (state.band !== "minmax") q.set("band", state.band);
  for (const [key, name] of [["log", "log"], ["group", "groupby"], ["open", "open"], ["closed", "closed"]]) {
    const values = [...state[key]];
    if (values.length) q.set(name, values.join(","));
  }
  if (state.find) q.set("find", state.find);
  return q;
}

// Record the view in the address bar without re-routing (replaceState fires no hashchange).
function remember(path, query) {
  const text = query.toString();
  history.replaceState(null, "", "#" + path + (text ? "?" + text : ""));
}

// TensorBoard's debiased exponential moving average; NaN and infinities pass through unsmoothed.
function ema(values, weight) {
  let last = 0, count = 0;
  return values.map((value) => {
    if (!Number.isFinite(value)) return value;
    last = last * weight + (1 - weight) * value;
    count += 1;
    return last / (1 - Math.pow(weight, count));
  });
}

// "#rrggbb" as an rgba() colour of the given opacity (for bands).
function fade(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${alpha})`;
}

function axisFor(mode) {
  return { step: { title: "step" }, wall: { title: "wall time", type: "date" }, relative: { title: "seconds" } }[mode];
}

function xValues(series, mode, origin) {
  if (mode === "wall") return series.time.map((t) => new Date(t * 1000));
  if (mode === "relative") return series.time.map((t) => t - origin);
  return series.step;
}

// Plotly traces for lines {x, y, name, color, lo?, hi?}: a band (min–max or ± std) under a
// line when it has one, and with smoothing on the raw line kept faint under its smoothed curve.
// Each trace's `meta` says what it is: "line" (unsmoothed), "raw", "smoothed", "band-low" or
// "band-high".
function plotTraces(lines, weight) {
  const traces = [];
  for (const line of lines) {
    const base = { x: line.x, type: "scatter", mode: "lines", legendgroup: line.key || line.name };
    if (line.lo) {
      const edge = { width: 0, color: line.color };
      traces.push({ ...base, y: line.lo, line: edge, showlegend: false, hoverinfo: "skip", meta: "band-low" });
      traces.push({ ...base, y: line.hi, line: edge, fill: "tonexty", fillcolor: fade(line.color, 0.18),
                    showlegend: false, hoverinfo: "skip", meta: "band-high" });
    }
    if (weight > 0) {
      traces.push({ ...base, y: line.y, name: line.name, line: { color: line.color, width: 1 }, opacity: 0.25,
                    showlegend: false, hoverinfo: "skip", meta: "raw" });
      traces.push({ ...base, y: ema(line.y, weight), name: line.name, line: { color: line.color, width: 1.5 },
                    meta: "smoothed" });
    } else {
      traces.push({ ...base, y: line.y, name: line.name, line: { color: line.color, width: 1.5 }, meta: "line" });
    }
  }
  return traces;
}

// ---- live runs ------------------------------------------------------------------------

// A trial's new points since what `series` holds, merged into it; false when nothing changed.
// The request sends the point count of each metric (`since`) and the last ETag, so an
// unchanged trial costs a 304 and a changed one only its new points. `changed` gets the
// names of the metrics that grew, `replaced` those sent whole (new, or rewritten).
// `query` adds request parameters ("&names=...&points=...").
async function fetchNewPoints(uid, series, live, query = "") {
  const since = Object.fromEntries(Object.entries(series).map(([name, s]) => [name, s.total]));
  const headers = live.etag ? { "if-none-match": live.etag } : {};
  const { response, body } = await request(`trials/${encodeURIComponent(uid)}/metrics?since=` +
    encodeURIComponent(JSON.stringify(since)) + query, { cache: "no-store", headers });
  live.etag = response.headers.get("etag");
  live.changed = {};
  live.replaced = [];
  if (!body) return false;
  for (const [name, fresh] of Object.entries(body)) {
    const held = series[name];
    if (!held || fresh.from !== held.total) { series[name] = fresh; live.replaced.push(name); continue; }
    // new arrays: the charts drawn so far hold the old ones and extend their own copies
    for (const key of ["step", "time", "value"]) held[key] = held[key].concat(fresh[key]);
    held.total = fresh.total;
    held.dropped += fresh.dropped;
    live.changed[name] = fresh;
  }
  return live.replaced.length > 0 || Object.keys(live.changed).length > 0;
}

// Append new points to the traces of one line of a chart (its plain or raw trace, and the
// smoothed one recomputed over `allY`) without redrawing; false when the chart lacks the line.
function extendLine(node, key, x, y, allY, weight) {
  const update = { x: [], y: [] }, indices = [];
  (node.data || []).forEach((trace, i) => {
    if (trace.legendgroup !== key || !["line", "raw", "smoothed"].includes(trace.meta)) return;
    update.x.push(x);
    update.y.push(trace.meta === "smoothed" ? ema(allY, weight).slice(allY.length - y.length) : y);
    indices.push(i);
  });
  if (!indices.length) return false;
  if (x.length) Plotly.extendTraces(node, update, indices);
  return true;
}

// "heartbeat 3 s ago" for a running trial, from the server's own clock.
function heartbeatText(trial) {
  if (trial.heartbeat_age === undefined) return "no heartbeat yet";
  const age = trial.heartbeat_age;
  return "heartbeat " + (age < 90 ? `${Math.round(age)} s` : fmt(age, "duration")) + " ago";
}

function drawChart(node, title, lines, state) {
  const box = node.parentElement.querySelector(".chart-log");
  if (box) box.checked = state.log.has(node.dataset.metric);
  const layout = { title: { text: plain(title), font: { size: 14 } }, margin: { l: 55, r: 15, t: 36, b: 40 },
                   xaxis: axisFor(state.x), yaxis: { type: state.log.has(node.dataset.metric) ? "log" : "linear" },
                   showlegend: lines.length > 1, legend: { orientation: "h", y: -0.2 },
                   paper_bgcolor: "#fff", plot_bgcolor: "#fff" };
  Plotly.react(node, plotTraces(lines, state.smooth), layout, PLOT_CONFIG);
}

// The toolbar over the charts: x axis, log scale for every chart, smoothing slider.
function chartControls(state, names, onChange) {
  const mode = el("select", { id: "xmode", onchange: () => { state.x = mode.value; onChange(); } },
                  el("option", { value: "step" }, "x: step"), el("option", { value: "wall" }, "x: wall time"),
                  el("option", { value: "relative" }, "x: relative time"));
  mode.value = state.x;
  const log = el("input", { type: "checkbox", id: "logscale", onchange: () => {
    state.log = new Set(log.checked ? names() : []);
    onChange();
  } });
  log.checked = names().length > 0 && names().every((name) => state.log.has(name));
  const shown = el("output", { id: "smoothing-value" });
  const smooth = el("input", { type: "range", id: "smoothing", min: "0", max: "0.99", step: "0.01",
                               value: String(state.smooth), title: "EMA smoothing weight (0 = off)" });
  const showSmooth = () => { shown.textContent = state.smooth ? state.smooth.toFixed(2) : "off"; };
  smooth.addEventListener("input", () => { state.smooth = Number(smooth.value); showSmooth(); onChange(); });
  showSmooth();
  const node = el("div", { class: "toolbar" }, mode, el("label", {}, log, " log scale"),
                  el("label", { class: "smoothing" }, "smoothing ", smooth, shown));
  return { mode, log, smooth, node };
}

// The metrics panel: a search box filtering metric names, then one chart per metric, grouped by
// the prefix before the first "/" (train/, val/, system/...) in sections that fold; system/*
// starts folded. Each chart has its own log-scale box. `charts()` lists the plotly divs.
function metricsPanel(names, state, onChange) {
  const cell = (name) => {
    const log = el("input", { type: "checkbox", class: "chart-log", checked: state.log.has(name) ? "" : null,
                              onchange: () => { if (log.checked) state.log.add(name); else state.log.delete(name); onChange(); } });
    return el("div", { class: "chart-cell", "data-name": name },
              el("label", { class: "chart-options muted" }, log, " log"), el("div", { class: "chart", "data-metric": name }));
  };
  const prefixes = new Map();
  for (const name of names) {
    const prefix = name.includes("/") ? name.slice(0, name.indexOf("/")) : "";
    if (!prefixes.has(prefix)) prefixes.set(prefix, []);
    prefixes.get(prefix).push(name);
  }
  const sections = [...prefixes].map(([prefix, members]) => {
    const grid = el("div", { class: "charts" }, members.map(cell));
    if (!prefix) return el("div", { class: "metric-group", "data-prefix": "" }, grid);
    const open = state.open.has(prefix) || (prefix !== "system" && !state.closed.has(prefix));
    const section = el("details", { class: "metric-group", "data-prefix": prefix, open: open ? "" : null },
                       el("summary", {}, `${prefix}/ (${members.length})`), grid);
    section.addEventListener("toggle", () => {
      state.open.delete(prefix);
      state.closed.delete(prefix);
      if (section.open && prefix === "system") state.open.add(prefix);
      if (!section.open && prefix !== "system") state.closed.add(prefix);
      onChange();  // a chart drawn while folded needs its real width
    });
    return section;
  });
  const find = el("input", { type: "search", id: "metric-filter", placeholder: "filter metrics", value: state.find });
  const filter = () => {
    const text = find.value.trim().toLowerCase();
    for (const node of panel.querySelectorAll(".chart-cell")) node.hidden = !node.dataset.name.toLowerCase().includes(text);
    for (const section of sections) section.hidden = !section.querySelector(".chart-cell:not([hidden])");
  };
  find.addEventListener("input", () => { state.find = find.value.trim(); filter(); onChange(); });
  const panel = el("div", { class: "metrics-panel" }, names.length > 1 ? find : null, sections);
  filter();
  return { node: panel, charts: () => [...panel.querySelectorAll(".chart[data-metric]")] };
}

// ---- trial page -----------------------------------------------------------------------

function kvTable(object, id) {
  const entries = Object.entries(object || {});
  if (!entries.length) return el("p", { class: "muted" }, "none");
  const cell = (k, v) => {
    if (v && typeof v === "object") {
      const size = Array.isArray(v) ? `${v.length} items` : `${Object.keys(v).length} keys`;
      return el("details", {}, el("summary", {}, size), el("pre", {}, JSON.stringify(v, null, 2)));
    }
    return fmt(v, /(_time|heartbeat)$/.test(k) ? "time" : "");
  };
  return el("table", { class: "kv", id }, entries.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, cell(k, v)))));
}

// Tag changes as the CLI takes them: +label, -label, key=value (value read as JSON when it parses).
function tagChanges(text) {
  const add = {}, remove = [];
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (word.startsWith("+") && word.length > 1) add[word.slice(1)] = null;
    else if (word.startsWith("-") && word.length > 1) remove.push(word.slice(1));
    else if (word.indexOf("=") > 0) {
      const key = word.slice(0, word.indexOf("=")), value = word.slice(word.indexOf("=") + 1);
      try { add[key] = JSON.parse(value); } catch (error) { add[key] = value; }
    } else throw new Error(`${word}: not +label, -label or name=value`);
  }
  return { add, remove };
}

// Rename, note, tags and delete (shown when the dashboard allows edits); onSaved gets the trial.
function editPanel(trial, onSaved) {
  const metadata = trial.metadata || {};
  const name = el("input", { type: "text", id: "edit-name", value: metadata.display_name || "", placeholder: trial.name || "" });
  const note = el("textarea", { id: "edit-note", rows: "2" }, metadata.note || "");
  const tags = el("input", { type: "text", id: "edit-tags", placeholder: "+label -label key=value" });
  const message = el("span", { class: "muted", id: "edit-message" });
  const path = "trials/" + encodeURIComponent(trial.uid);
  async function send(action, body) {
    const answer = await post(path + "/" + action, body);
    if (!answer.ok) throw new Error(answer.body.error || "refused");
    return answer.body;
  }
  async function save() {
    try {
      let saved = await send("display", { name: name.value.trim(), note: note.value });
      if (tags.value.trim()) saved = await send("tags", tagChanges(tags.value));
      tags.value = "";
      message.textContent = "saved";
      onSaved(saved);
    } catch (error) { message.textContent = error.message; }
  }
  async function remove() {
    if (!window.confirm(`Delete trial ${label(trial)} (${trial.uid}) and all its points? This cannot be undone.`)) return;
    try {
      await send("delete", {});
      location.hash = trial.project ? "#/trials?project=" + encodeURIComponent(trial.project) : "#/";
    } catch (error) { message.textContent = error.message; }
  }
  return el("div", { class: "panel edit" }, el("h2", {}, "Edit"),
    el("label", {}, "Display name (the uid stays) ", name), el("label", {}, "Note ", note),
    el("label", {}, "Tags ", tags),
    el("div", { class: "toolbar" }, el("button", { class: "primary", id: "edit-save", onclick: save }, "Save"),
       el("button", { class: "danger", id: "edit-delete", onclick: remove }, "Delete trial…"), message));
}

// The trial's artifacts: a download link each, images (PNG, JPEG) shown inline as well.
function artifactsPanel(uid) {
  const body = el("div", { id: "artifacts" }, el("p", { class: "muted" }, "loading…"));
  const base = "/api/trials/" + encodeURIComponent(uid) + "/artifacts";
  const href = (name) => base + "/" + name.split("/").map(encodeURIComponent).join("/");
  request("trials/" + encodeURIComponent(uid) + "/artifacts").then(({ body: list }) => {
    body.replaceChildren(...(list.length ? list.map((a) => el("div", { class: "artifact" },
      el("a", { href: href(a.name), download: a.name.split("/").pop() }, a.name),
      el("span", { class: "muted" }, ` ${fmt(a.size)} bytes · ${a.media_type} · ${fmt(a.time, "time")}`),
      ["image/png", "image/jpeg"].includes(a.media_type)
        ? el("div", {}, el("img", { src: href(a.name), alt: a.name, style: "max-width: 100%" })) : null))
      : [el("p", { class: "muted" }, "none")]));
  }).catch((error) => body.replaceChildren(el("p", { class: "muted" }, error.message)));
  return el("div", { class: "panel" }, el("h2", {}, "Artifacts"), body);
}

// The trial's media (metadata.media, written by log_image/log_table): per series the entry of
// the last step, a step slider when it has several; images by their artifact URL, tables
// fetched as JSON and sortable by a click on a column header.
function mediaPanel(uid, media) {
  const series = Object.entries(media || {}).filter(([, entries]) => Array.isArray(entries) && entries.length);
  if (!series.length) return el("div", { id: "media" });
  const path = (name) => "trials/" + encodeURIComponent(uid) + "/artifacts/" + name.split("/").map(encodeURIComponent).join("/");
  const cmp = (a, b) => a === b ? 0 : a === null ? 1 : b === null ? -1
    : typeof a === "number" && typeof b === "number" ? a - b : String(a).localeCompare(String(b), undefined, { numeric: true });
  function table(data) {
    const order = { column: -1, asc: true };
    const head = el("tr"), body = el("tbody");
    const fill = () => body.replaceChildren(...data.rows.map((row) => el("tr", {}, row.map((cell) =>
      el("td", { class: typeof cell === "number" ? "num" : "" }, cell === null ? "" : typeof cell === "object" ? JSON.stringify(cell) : cell)))));
    head.append(...data.columns.map((name, i) => el("th", { class: "sortable", onclick: (event) => {
      order.asc = order.column === i ? !order.asc : true;
      order.column = i;
      data.rows.sort((a, b) => (order.asc ? 1 : -1) * cmp(a[i], b[i]));
      for (const th of head.children) th.className = "sortable";
      event.currentTarget.className = "sortable sorted" + (order.asc ? " asc" : "");
      fill();
    } }, name)));
    fill();
    return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), body));
  }
  const items = series.map(([name, entries]) => {
    const box = el("div", { class: "media-item" }), label = el("span", { class: "muted" });
    const image = el("img", { alt: name });
    let shown = 0;
    function pick(i) {
      const entry = entries[i], step = entry.step ?? i;
      shown = i;
      label.textContent = ` step ${step}` + (entry.caption ? " · " + entry.caption : "");
      if (entry.kind === "image") {
        image.src = "/api/" + path(entry.artifact);
        image.dataset.step = step;
        box.replaceChildren(image);
      } else {
        request(path(entry.artifact)).then(({ body }) => { if (shown === i) box.replaceChildren(table(body)); })
          .catch((error) => box.replaceChildren(el("p", { class: "muted" }, error.message)));
      }
    }
    const slider = entries.length > 1 ? el("input", { type: "range", class: "media-step", min: 0, max: entries.length - 1,
      step: 1, value: entries.length - 1, "aria-label": name + " step", oninput: (event) => pick(Number(event.target.value)) }) : null;
    pick(entries.length - 1);
    return el("div", { class: "media-series", "data-name": name }, el("h3", {}, name, label), slider, box);
  });
  return el("div", { class: "panel", id: "media" }, el("h2", {}, "Media"), items);
}

async function trialView(uid, params) {
  setCrumbs(["projects", "#/"], ["trial"]);
  let trial = await api("trials/" + encodeURIComponent(uid));
  let series = await api("trials/" + encodeURIComponent(uid) + "/metrics");
  const state = chartState(params);
  const controls = chartControls(state, () => Object.keys(series), () => draw());
  let panel = metricsPanel(Object.keys(series).sort(), state, () => draw());
  const header = el("div");
  const details = el("div");
  const editor = el("div");
  show(header, controls.node, panel.node, details, editor);
  view.append(artifactsPanel(uid));
  view.append(mediaPanel(uid, (trial.metadata || {}).media));

  const origin = () => Math.min(...Object.values(series).map((s) => s.time[0] ?? Infinity));
  const chartTitle = (name, s) => name + (s.total > s.value.length ? ` (${s.value.length} of ${s.total} points)` : "");
  function draw() {
    remember("/trial/" + encodeURIComponent(uid), stateParams(state));
    const first = origin();
    for (const node of panel.charts()) {
      const s = series[node.dataset.metric];
      const line = { x: xValues(s, state.x, first), y: s.value, name: plain(node.dataset.metric), color: COLORS[0] };
      drawChart(node, chartTitle(node.dataset.metric, s), [line], state);
    }
  }

  function render() {
    setCrumbs(["projects", "#/"], [trial.project || "?", "#/project/" + encodeURIComponent(trial.project || "")],
              ["trials", "#/trials?project=" + encodeURIComponent(trial.project || "")], [label(trial)]);
    header.replaceChildren(el("h1", {}, label(trial), " ", badge(trial.status),
                              trial.status === "Running" ? el("span", { class: "live", id: "live-status" },
                                                              "● live · " + heartbeatText(trial)) : null),
                           el("p", { class: "muted" }, `${trial.uid} · started ${fmt(trial.start_time, "time")} · ${fmt(trial.duration, "duration")}`));
    const files = Object.entries(trial.files || {});
    const output = trial.output || {};
    details.replaceChildren(el("div", { class: "grid2" },
      el("div", { class: "panel" }, el("h2", {}, "Parameters"), kvTable(trial.parameters, "parameters"),
         el("h2", {}, "Tags"), kvTable(trial.tags, "tags"), el("h2", {}, "Last values"), kvTable(trial.metrics, "last-values")),
      el("div", { class: "panel" }, el("h2", {}, "Chronos"), kvTable(trial.chronos, "chronos"),
         el("h2", {}, "Metadata"), kvTable(trial.metadata, "metadata"))),
      el("div", { class: "panel" }, el("h2", {}, "Errors"),
         trial.errors.length ? trial.errors.map((e) => el("pre", { class: "error" }, e)) : el("p", { class: "muted" }, "none"),
         el("h2", {}, "Captured output"),
         Object.keys(output).length ? Object.entries(output).map(([k, v]) =>
           el("details", { open: "" }, el("summary", {}, k), el("pre", { id: "output-" + k }, Array.isArray(v) ? v.join("") : fmt(v))))
           : el("p", { class: "muted" }, "none"),
         el("h2", {}, "Files"),
         files.length ? files.map(([path, f]) => el("details", {}, el("summary", {}, `${path} (${f.size} bytes)`),
           f.content !== undefined ? el("pre", {}, f.content) : el("p", { class: "muted" }, "sha256 " + f.sha256)))
           : el("p", { class: "muted" }, "none")));
  }

  render();
  draw();
  if (editAllowed) {
    const saved = (changed) => { trial = changed; render(); };
    editor.replaceChildren(editPanel(trial, saved));
  }
  // While the trial runs: every 2 s its status and only its new points, appended to the charts.
  const live = { etag: null };
  async function poll() {
    if (trial.status !== "Running") return;
    let grew;
    try {
      trial = await api("trials/" + encodeURIComponent(uid));
      grew = await fetchNewPoints(uid, series, live);
    } catch (error) { fail(error); return; }
    render();
    if (grew) {
      const names = Object.keys(series).sort();
      if (names.join("\n") !== panel.charts().map((n) => n.dataset.metric).join("\n")) {
        const fresh = metricsPanel(names, state, () => draw());
        panel.node.replaceWith(fresh.node);
        panel = fresh;
      }
      const first = origin();
      for (const node of panel.charts()) {
        const name = node.dataset.metric, added = live.changed[name];
        if (!added) { if (live.replaced.includes(name)) draw(); continue; }
        if (!extendLine(node, plain(name), xValues(added, state.x, first), added.value, series[name].value, state.smooth)) draw();
        else if (series[name].total > series[name].value.length) Plotly.relayout(node, { "title.text": plain(chartTitle(name, series[name])) });
      }
    }
    timer = setTimeout(poll, 2000);
  }
  timer = setTimeout(poll, 2000);
}

// ---- compare view ---------------------------------------------------------------------

// Series requests of the compare view in flight at once (the server answers one at a time, a
// few queued keep it busy without holding every later request behind a long queue).
const COMPARE_REQUESTS = 4;

async function compareView(params) {
  setCrumbs(["projects", "#/"], ["compare"]);
  const uids = (params.get("uids") || "").split(",").filter(Boolean);
  const trials = await Promise.all(uids.map((u) => api("trials/" + encodeURIComponent(u))));
  // The metric names come from the trial documents (their last values); the points load metric
  // by metric in display order, each chart drawn once all its runs arrived, folded sections
  // only when unfolded. With many runs each series asks for fewer points.
  const metricNames = () => [...new Set(trials.flatMap((t) => Object.keys(t.metrics || {})))].sort();
  let names = metricNames();
  const series = uids.map(() => ({}));
  const points = Math.min(2000, Math.max(200, Math.floor(20000 / Math.max(uids.length, 1))));
  const queued = new Set(), loaded = new Set(), jobs = [];
  let inFlight = 0;
  const state = chartState(params);
  const controls = chartControls(state, () => names, () => draw());
  let panel = metricsPanel(names, state, () => draw());
  const parameters = [...new Set(trials.flatMap((t) => Object.keys(t.parameters)))].sort();
  const table = el("table", { id: "compare-table" },
    el("tr", {}, el("th", {}, "field"), trials.map((t, i) => el("th", { style: `color:${COLORS[i % COLORS.length]}` }, label(t)))),
    el("tr", {}, el("td", {}, "status"), trials.map((t, i) => el("td", { "data-status": i }, badge(t.status),
                                                                    t.status === "Running" ? " " + heartbeatText(t) : ""))),
    parameters.map((p) => el("tr", {}, el("td", {}, p), trials.map((t) => el("td", { class: "num" }, fmt(t.parameters[p]))))),
    names.map((m) => el("tr", {}, el("td", {}, m + " (last)"), trials.map((t) => el("td", { class: "num" }, fmt(t.metrics[m]))))));
  const grouping = groupingControl(parameters, state, () => draw());
  show(el("h1", {}, `Comparing ${trials.length} trials`), controls.node, grouping, panel.node,
       el("h2", {}, "Parameters and last values"), el("div", { class: "table-wrap" }, table));

  // The query asking for `metrics` (all of them when a name holds the list's comma) at `points`.
  const seriesQuery = (metrics) => new URLSearchParams(metrics.some((m) => m.includes(","))
    ? { points } : { names: metrics.join(","), points });

  function drawMetric(node) {
    const metric = node.dataset.metric;
    const lines = state.group.length ? groupLines(trials, series.map((s) => s[metric]), state) : [];
    if (!state.group.length) series.forEach((s, i) => {
      if (!s[metric]) return;
      lines.push({ x: xValues(s[metric], state.x, s[metric].time[0]), y: s[metric].value, key: uids[i],
                   name: plain(label(trials[i])), color: COLORS[i % COLORS.length] });
    });
    drawChart(node, metric, lines, state);
  }

  function draw() {
    remember("/compare", stateParams(state, { uids: uids.join(",") }));
    for (const node of panel.charts()) if (loaded.has(node.dataset.metric)) drawMetric(node);
    load();
  }

  // Queue every run's series of the charts not asked for yet outside folded sections, in display
  // order, and start requests up to COMPARE_REQUESTS.
  function load() {
    for (const node of panel.charts()) {
      const metric = node.dataset.metric, section = node.closest("details");
      if (queued.has(metric) || (section && !section.open)) continue;
      queued.add(metric);
      const left = { runs: uids.length };
      uids.forEach((uid, i) => jobs.push({ metric, i, left }));
    }
    while (inFlight < COMPARE_REQUESTS && jobs.length) fetchSeries(jobs.shift());
  }

  async function fetchSeries({ metric, i, left }) {
    inFlight += 1;
    let body;
    try {
      body = await api(`trials/${encodeURIComponent(uids[i])}/metrics?` + seriesQuery([metric]));
    } catch (error) { jobs.length = 0; fail(error); return; } finally { inFlight -= 1; }
    if (!panel.node.isConnected) { jobs.length = 0; return; }  // the page moved on
    if (body[metric]) series[i][metric] = body[metric];
    left.runs -= 1;
    if (!left.runs) {
      loaded.add(metric);
      const node = panel.charts().find((n) => n.dataset.metric === metric);
      if (node) drawMetric(node);
    }
    load();
  }
  draw();

  // While a compared trial runs: its new points every 2 s (of the metrics loaded so far),
  // appended to its lines (grouped charts are recomputed, since a group's mean moves).
  const live = uids.map(() => ({ etag: null }));
  async function poll() {
    const running = trials.map((t, i) => i).filter((i) => trials[i].status === "Running");
    if (!running.length) return;
    let redraw = false;
    try {
      for (const i of running) {
        trials[i] = await api("trials/" + encodeURIComponent(uids[i]));
        if (!loaded.size) continue;
        if (!(await fetchNewPoints(uids[i], series[i], live[i], "&" + seriesQuery([...loaded])))) continue;
        if (state.group.length || live[i].replaced.length) { redraw = true; continue; }
        for (const node of panel.charts()) {
          const added = live[i].changed[node.dataset.metric];
          if (!added) continue;
          const s = series[i][node.dataset.metric];
          if (!extendLine(node, uids[i], xValues(added, state.x, s.time[0]), added.value, s.value, state.smooth)) redraw = true;
        }
      }
    } catch (error) { fail(error); return; }
    const now = metricNames();
    if (now.join("\n") !== names.join("\n")) {
      names = now;
      const fresh = metricsPanel(names, state, () => draw());
      panel.node.replaceWith(fresh.node);
      panel = fresh;
      redraw = true;
    }
    if (redraw) draw();
    for (const [i, trial] of trials.entries()) {
      const cell = document.querySelector(`#compare-table [data-status="${i}"]`);
      if (cell) cell.replaceChildren(badge(trial.status), trial.status === "Running" ? " " + heartbeatText(trial) : "");
    }
    timer = setTimeout(poll, 2000);
  }
  timer = setTimeout(poll, 2000);
}

const SEEDS = new Set(["seed", "random_seed"]);

// The bands a group's mean can be drawn over (`band=` in the hash; "minmax" is the default):
// the low and high edge from the values of the group's runs at one step and their mean.
const BANDS = {
  minmax: { label: "min–max", edges: (values) => [Math.min(...values), Math.max(...values)] },
  std: { label: "± std", edges: (values, mean) => { const s = sampleStd(values, mean); return [mean - s, mean + s]; } },
  none: { label: "none", edges: null },
};

// The sample standard deviation (n − 1 in the denominator, as pandas and numpy's ddof=1); 0 for
// a single value, so a step only one run reached draws no width.
function sampleStd(values, mean) {
  if (values.length < 2) return 0;
  return Math.sqrt(values.reduce((sum, v) => sum + (v - mean) * (v - mean), 0) / (values.length - 1));
}

// Checkboxes choosing the parameters the compare view groups runs by, "all but seed", and the
// band drawn around each group's mean (enabled while some parameter groups the runs).
function groupingControl(parameters, state, onChange) {
  const boxes = parameters.map((p) => el("input", { type: "checkbox", "data-param": p,
                                                     checked: state.group.includes(p) ? "" : null }));
  const band = el("select", { id: "band", title: "the band around each group's mean",
                              onchange: () => { state.band = band.value; onChange(); } },
                  Object.entries(BANDS).map(([value, b]) => el("option", { value }, "band: " + b.label)));
  band.value = state.band;
  band.disabled = !state.group.length;
  const changed = () => {
    state.group = boxes.filter((b) => b.checked).map((b) => b.dataset.param);
    band.disabled = !state.group.length;
    onChange();
  };
  boxes.forEach((b) => b.addEventListener("change", changed));
  const allButSeed = el("button", { id: "group-but-seed", onclick: () => {
    boxes.forEach((b) => { b.checked = !SEEDS.has(b.dataset.param); });
    changed();
  } }, "all but seed");
  return el("div", { class: "toolbar", id: "grouping" }, el("span", { class: "muted" }, "group by:"),
            boxes.map((b) => el("label", {}, b, " " + b.dataset.param)),
            parameters.some((p) => SEEDS.has(p)) ? allButSeed : null, band);
}

// One line per group of runs (same values of the grouping parameters): the mean over the runs
// that have each step, over the band `state.band` chooses (BANDS); named "lr=0.1 (3)".
function groupLines(trials, metricSeries, state) {
  const groups = new Map();
  trials.forEach((trial, i) => {
    if (!metricSeries[i]) return;
    const key = state.group.map((p) => `${p}=${JSON.stringify(trial.parameters[p] ?? null)}`).join(", ");
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(metricSeries[i]);
  });
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return [...groups].map(([key, members], g) => {
    const cells = new Map();
    for (const s of members) {
      s.step.forEach((step, j) => {
        if (!cells.has(step)) cells.set(step, { values: [], times: [], relative: [] });
        const cell = cells.get(step);
        cell.values.push(s.value[j]);
        cell.times.push(s.time[j]);
        cell.relative.push(s.time[j] - s.time[0]);
      });
    }
    const steps = [...cells.keys()].sort((a, b) => a - b);
    const at = steps.map((step) => cells.get(step));
    const x = state.x === "wall" ? at.map((c) => new Date(mean(c.times) * 1000))
            : state.x === "relative" ? at.map((c) => mean(c.relative)) : steps;
    const y = at.map((c) => mean(c.values));
    const line = { x, y, name: plain(`${key} (${members.length})`), color: COLORS[g % COLORS.length] };
    const edges = BANDS[state.band].edges;
    if (!edges) return line;
    const bands = at.map((c, j) => edges(c.values, y[j]));
    return { ...line, lo: bands.map((b) => b[0]), hi: bands.map((b) => b[1]) };
  });
}

// ---- search view ----------------------------------------------------------------------

async function searchView(params) {
  const project = params.get("project"), group = params.get("group");
  setCrumbs(["projects", "#/"], ...(project ? [[project, "#/project/" + encodeURIComponent(project)]] : []), ["search"]);
  const q = new URLSearchParams({ limit: 0 });
  if (project) q.set("project", project);
  if (group) q.set("group", group);
  const page = await api("trials?" + q);
  const metric = el("select", { id: "metric", onchange: () => draw() }, page.metrics.map((m) => el("option", { value: m }, m)));
  const param = el("select", { id: "param", onchange: () => draw() }, page.parameters.map((p) => el("option", { value: p }, p)));
  if (params.get("metric")) metric.value = params.get("metric");
  const parcoords = el("div", { class: "chart", id: "parcoords", style: "height:380px" });
  const scatter = el("div", { class: "chart", id: "scatter" });
  show(el("h1", {}, `Search: ${page.total} trials`),
       el("div", { class: "toolbar" }, el("label", {}, "metric ", metric), el("label", {}, "parameter ", param)),
       parcoords, el("div", { style: "height:12px" }), scatter);

  function dimension(name, values) {
    if (values.every((v) => typeof v === "number")) return { label: plain(name), values };
    const levels = [...new Set(values.map((v) => fmt(v)))].sort();
    // parcoords draws tick labels as plain text already: only its axis titles need escaping
    return { label: plain(name), values: values.map((v) => levels.indexOf(fmt(v))), tickvals: levels.map((_, i) => i),
             ticktext: levels };
  }

  function draw() {
    const rows = page.rows.filter((r) => typeof r.metrics[metric.value] === "number");
    const y = rows.map((r) => r.metrics[metric.value]);
    const dims = page.parameters.map((p) => dimension(p, rows.map((r) => r.parameters[p] ?? null)));
    const m = plain(metric.value), p = plain(param.value);
    dims.push({ label: m, values: y });
    Plotly.react(parcoords, [{ type: "parcoords", dimensions: dims,
      line: { color: y, colorscale: "Viridis", showscale: true, colorbar: { title: { text: m } } } }],
      { margin: { l: 60, r: 60, t: 50, b: 30 }, title: { text: `parameters against ${m}`, font: { size: 14 } } }, PLOT_CONFIG);
    const x = rows.map((r) => r.parameters[param.value]).map((v) => typeof v === "string" ? plain(v) : v);
    Plotly.react(scatter, [{ type: "scatter", mode: "markers", x, y,
      text: rows.map((r) => plain(r.name || shortUid(r.uid))), marker: { color: COLORS[0], size: 9, opacity: 0.8 } }],
      { margin: { l: 60, r: 20, t: 40, b: 45 }, title: { text: `${m} against ${p}`, font: { size: 14 } },
        xaxis: { title: { text: p } }, yaxis: { title: { text: m } } }, PLOT_CONFIG);
  }
  draw();
}

// ---- router ---------------------------------------------------------------------------

async function route() {
  clearTimeout(timer);
  const { parts, params } = parseHash();
  try {
    if (!parts.length) await projectsView(location.hash.length <= 1);
    else if (parts[0] === "project") await projectView(parts[1]);
    else if (parts[0] === "trials") await trialsView(params);
    else if (parts[0] === "trial") await trialView(parts[1], params);
    else if (parts[0] === "compare") await compareView(params);
    else if (parts[0] === "search") await searchView(params);
    else show(el("p", { class: "error" }, "no such page"));
  } catch (error) { fail(error); }
}

document.getElementById("logout").addEventListener("click", () => logout().catch(fail));
window.addEventListener("hashchange", route);
loadInfo().then((ready) => ready && route(), fail);
