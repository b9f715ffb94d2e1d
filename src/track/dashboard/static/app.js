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

async function api(path) {
  const response = await fetch("/api/" + path);
  const body = await response.json();
  if (response.status === 401 && body.login) {
    loginView(body.error);
    throw new LoginRequired(body.error);
  }
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

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

async function projectsView() {
  setCrumbs(["projects"]);
  const projects = await api("projects");
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
                  where: params.get("where") || "", offset: +(params.get("offset") || 0), limit: +(params.get("limit") || 50) };
  const selected = new Set();
  const filter = el("input", { type: "text", id: "filter", value: state.where,
                               placeholder: "filter: parameters.lr>0.01 status=completed  (or JSON)" });
  const compare = el("button", { id: "compare", class: "primary", disabled: "",
                                 onclick: () => { location.hash = "#/compare?uids=" + [...selected].join(","); } }, "Compare selected");
  const message = el("div", { class: "error", id: "message" });
  const table = el("div", { class: "table-wrap" });
  const pager = el("div", { class: "pager" });
  const apply = () => { state.where = filter.value; state.offset = 0; load(); };
  filter.addEventListener("keydown", (e) => { if (e.key === "Enter") apply(); });
  const searchLink = group ? el("a", { href: `#/search?project=${encodeURIComponent(project || "")}&group=${encodeURIComponent(group)}` }, "search view") : null;
  show(el("h1", {}, "Trials"), el("div", { class: "toolbar" }, filter, el("button", { id: "apply", onclick: apply }, "Filter"), compare, searchLink),
       message, table, pager);

  function query() {
    const q = new URLSearchParams({ sort: state.sort, order: state.order, offset: state.offset, limit: state.limit });
    if (project) q.set("project", project);
    if (group) q.set("group", group);
    if (state.where) q.set("where", state.where);
    return q;
  }

  async function load() {
    let page;
    try { page = await api("trials?" + query()); message.textContent = ""; }
    catch (error) { if (!(error instanceof LoginRequired)) message.textContent = error.message; return; }
    history.replaceState(null, "", "#/trials?" + query());
    const columns = [["name", "name"], ["status", "status"], ["start_time", "started"], ["duration", "duration"],
      ...page.parameters.map((p) => ["parameters." + p, p]), ...page.metrics.map((m) => ["metrics." + m, m])];
    const head = el("tr", {}, el("th", {}), columns.map(([key, text]) => el("th", {
      class: "sortable" + (state.sort === key ? " sorted " + state.order : ""), "data-column": key,
      onclick: () => { state.order = state.sort === key && state.order === "desc" ? "asc" : "desc"; state.sort = key; load(); } }, text)));
    const rows = page.rows.map((row) => el("tr", { "data-uid": row.uid },
      el("td", {}, el("input", { type: "checkbox", checked: selected.has(row.uid) ? "" : null,
        onchange: (e) => { e.target.checked ? selected.add(row.uid) : selected.delete(row.uid); compare.disabled = selected.size < 2;
                           compare.textContent = `Compare selected (${selected.size})`; } })),
      el("td", {}, el("a", { href: "#/trial/" + row.uid }, row.name || shortUid(row.uid))),
      el("td", {}, badge(row.status)), el("td", {}, fmt(row.start_time, "time")),
      el("td", { class: "num" }, fmt(row.duration, "duration")),
      page.parameters.map((p) => el("td", { class: "num" }, fmt(row.parameters[p]))),
      page.metrics.map((m) => el("td", { class: "num" }, fmt(row.metrics[m])))));
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

function axisFor(mode) {
  return { step: { title: "step" }, wall: { title: "wall time", type: "date" }, relative: { title: "seconds" } }[mode];
}

function xValues(series, mode, origin) {
  if (mode === "wall") return series.time.map((t) => new Date(t * 1000));
  if (mode === "relative") return series.time.map((t) => t - origin);
  return series.step;
}

function drawChart(node, metric, traces, mode, log) {
  const layout = { title: { text: plain(metric), font: { size: 14 } }, margin: { l: 55, r: 15, t: 36, b: 40 },
                   xaxis: axisFor(mode), yaxis: { type: log ? "log" : "linear" }, showlegend: traces.length > 1,
                   legend: { orientation: "h", y: -0.2 }, paper_bgcolor: "#fff", plot_bgcolor: "#fff" };
  Plotly.react(node, traces, layout, PLOT_CONFIG);
}

function chartControls(onChange) {
  const mode = el("select", { id: "xmode", onchange: onChange },
                  el("option", { value: "step" }, "x: step"), el("option", { value: "wall" }, "x: wall time"),
                  el("option", { value: "relative" }, "x: relative time"));
  const log = el("input", { type: "checkbox", id: "logscale", onchange: onChange });
  return { mode, log, node: el("div", { class: "toolbar" }, mode, el("label", {}, log, " log scale")) };
}

function chartGrid(names) {
  return el("div", { class: "charts" }, names.map((name) => el("div", { class: "chart", "data-metric": name })));
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

async function trialView(uid) {
  setCrumbs(["projects", "#/"], ["trial"]);
  let trial = await api("trials/" + encodeURIComponent(uid));
  let series = await api("trials/" + encodeURIComponent(uid) + "/metrics");
  const controls = chartControls(() => draw());
  const charts = chartGrid(Object.keys(series).sort());
  const header = el("div");
  const details = el("div");
  const editor = el("div");
  show(header, controls.node, charts, details, editor);

  function draw() {
    const first = Math.min(...Object.values(series).map((s) => s.time[0] ?? Infinity));
    for (const node of charts.children) {
      const s = series[node.dataset.metric];
      const trace = { x: xValues(s, controls.mode.value, first), y: s.value, type: "scatter", mode: "lines",
                      name: plain(node.dataset.metric), line: { color: COLORS[0], width: 1.5 } };
      drawChart(node, node.dataset.metric + (s.total > s.value.length ? ` (${s.value.length} of ${s.total} points)` : ""),
                [trace], controls.mode.value, controls.log.checked);
    }
  }

  function render() {
    setCrumbs(["projects", "#/"], [trial.project || "?", "#/project/" + encodeURIComponent(trial.project || "")],
              ["trials", "#/trials?project=" + encodeURIComponent(trial.project || "")], [label(trial)]);
    header.replaceChildren(el("h1", {}, label(trial), " ", badge(trial.status),
                              trial.status === "Running" ? el("span", { class: "live" }, "● live") : null),
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
  async function poll() {
    if (trial.status !== "Running") return;
    try {
      trial = await api("trials/" + encodeURIComponent(uid));
      series = await api("trials/" + encodeURIComponent(uid) + "/metrics");
    } catch (error) { fail(error); return; }
    const names = Object.keys(series).sort();
    if (names.length !== charts.children.length) charts.replaceChildren(...chartGrid(names).children);
    render();
    draw();
    timer = setTimeout(poll, 2000);
  }
  timer = setTimeout(poll, 2000);
}

// ---- compare view ---------------------------------------------------------------------

async function compareView(params) {
  setCrumbs(["projects", "#/"], ["compare"]);
  const uids = (params.get("uids") || "").split(",").filter(Boolean);
  const trials = await Promise.all(uids.map((u) => api("trials/" + encodeURIComponent(u))));
  const series = await Promise.all(uids.map((u) => api("trials/" + encodeURIComponent(u) + "/metrics")));
  const names = [...new Set(series.flatMap((s) => Object.keys(s)))].sort();
  const controls = chartControls(() => draw());
  const charts = chartGrid(names);
  const parameters = [...new Set(trials.flatMap((t) => Object.keys(t.parameters)))].sort();
  const table = el("table", { id: "compare-table" },
    el("tr", {}, el("th", {}, "field"), trials.map((t, i) => el("th", { style: `color:${COLORS[i % COLORS.length]}` }, label(t)))),
    el("tr", {}, el("td", {}, "status"), trials.map((t) => el("td", {}, badge(t.status)))),
    parameters.map((p) => el("tr", {}, el("td", {}, p), trials.map((t) => el("td", { class: "num" }, fmt(t.parameters[p]))))),
    names.map((m) => el("tr", {}, el("td", {}, m + " (last)"), trials.map((t) => el("td", { class: "num" }, fmt(t.metrics[m]))))));
  show(el("h1", {}, `Comparing ${trials.length} trials`), controls.node, charts,
       el("h2", {}, "Parameters and last values"), el("div", { class: "table-wrap" }, table));

  function draw() {
    for (const node of charts.children) {
      const metric = node.dataset.metric;
      const traces = [];
      series.forEach((s, i) => {
        if (!s[metric]) return;
        traces.push({ x: xValues(s[metric], controls.mode.value, s[metric].time[0]), y: s[metric].value,
                      type: "scatter", mode: "lines", name: plain(label(trials[i])),
                      line: { color: COLORS[i % COLORS.length], width: 1.5 } });
      });
      drawChart(node, metric, traces, controls.mode.value, controls.log.checked);
    }
  }
  draw();
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
    if (!parts.length) await projectsView();
    else if (parts[0] === "project") await projectView(parts[1]);
    else if (parts[0] === "trials") await trialsView(params);
    else if (parts[0] === "trial") await trialView(parts[1]);
    else if (parts[0] === "compare") await compareView(params);
    else if (parts[0] === "search") await searchView(params);
    else show(el("p", { class: "error" }, "no such page"));
  } catch (error) { fail(error); }
}

document.getElementById("logout").addEventListener("click", () => logout().catch(fail));
window.addEventListener("hashchange", route);
loadInfo().then((ready) => ready && route(), fail);
