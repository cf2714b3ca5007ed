// console.js - AkiDB's web console: fills index.html from the server's own
// REST API (docs/API.md) and nothing else.  Collections of the key's tenant
// (GET /api/v1/collections), tenants for admin keys (GET /api/v1/tenants and
// /api/v1/tenants/{name}), loaded models (GET /v1/models, /info), searches
// (POST /api/v1/collections/{name}/search, by text or vector, with a filter)
// and live metrics: /metrics polled every 2 s, its Prometheus text parsed
// here and drawn as small inline-SVG charts.
//
// With auth on, the API key the user types is kept in sessionStorage (this
// tab only) and sent as "Authorization: Bearer".  Every value from the
// server reaches the page through textContent, never as markup.
'use strict';

const KEY_ITEM = 'akidb.key';
const POLL_MS = 2000;
const HISTORY = 90;          // samples kept per chart (3 minutes)

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'data') for (const [d, dv] of Object.entries(v)) e.dataset[d] = dv;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
  return e;
}

function svgEl(tag, attrs) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

// ---- the API ------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, msg) {
    super(msg);
    this.status = status;
  }
}

function key() {
  try { return sessionStorage.getItem(KEY_ITEM) || ''; } catch { return ''; }
}

// fetch() of this server's path; answers the parsed JSON (or text), throws
// ApiError with the server's message on an error status.
async function api(path, { method = 'GET', body, text = false } = {}) {
  const headers = { Accept: text ? 'text/plain' : 'application/json' };
  if (key()) headers.Authorization = `Bearer ${key()}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store', credentials: 'omit',
  });
  const raw = await r.text();
  if (!r.ok) {
    let msg = raw;
    try {
      const j = JSON.parse(raw);
      msg = (j.error && j.error.message) || (j.status && j.status.error) || raw;
    } catch { /* not JSON */ }
    if (r.status === 401) showKeyPanel(`The server refused the key: ${msg}`);
    throw new ApiError(r.status, `${method} ${path}: ${r.status} ${msg}`);
  }
  return text ? raw : JSON.parse(raw);
}

function showError(msg) {
  const e = $('error');
  e.textContent = msg || '';
  e.classList.toggle('hidden', !msg);
}

function showKeyPanel(why) {
  if (why) $('key-why').textContent = why;
  $('key-panel').classList.remove('hidden');
  $('key-input').focus();
}

// ---- collections, tenants, models -------------------------------------------

let selected = '';           // the collection the search box uses
const collections = new Map();

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function loadCollections() {
  let list;
  try {
    list = (await api('/api/v1/collections')).collections || [];
  } catch (e) {
    $('coll-note').textContent = e.message;
    fill($('collections').tBodies[0], []);
    return;
  }
  collections.clear();
  for (const c of list) collections.set(c.name, c);
  if (!collections.has(selected)) selected = list.length ? list[0].name : '';
  const rows = list.map((c) => {
    const tr = el('tr', { class: `pick${c.name === selected ? ' sel' : ''}`, data: { name: c.name } },
      el('td', {}, c.name),
      el('td', { class: 'num' }, c.points),
      el('td', { class: 'num' }, c.dimension),
      el('td', {}, c.metric),
      el('td', {}, c.model == null ? '—' : c.model),
      el('td', { class: 'num' }, c.hnsw ? `${c.hnsw.m} / ${c.hnsw.ef_construction}` : ''));
    tr.addEventListener('click', () => { selected = c.name; renderCollectionChoice(); loadCollections(); });
    return tr;
  });
  fill($('collections').tBodies[0], rows);
  $('coll-note').textContent = list.length ? '' : 'No collections yet in this tenant.';
  renderCollectionChoice();
}

function renderCollectionChoice() {
  const s = $('search-collection');
  const names = [...collections.keys()];
  const same = s.options.length === names.length && names.every((n, i) => s.options[i].value === n);
  if (!same) s.replaceChildren(...names.map((n) => el('option', { value: n }, n)));
  s.value = selected;
  const c = collections.get(selected);
  if (c && !c.model && $('mode-text').checked && !$('search-query').value) $('mode-vector').checked = true;
}

async function loadTenants() {
  const note = $('tenant-note');
  let names;
  try {
    names = ((await api('/api/v1/tenants')).tenants || []).map((t) => t.name);
  } catch (e) {
    fill($('tenants').tBodies[0], []);
    note.textContent = e.status === 403 ? 'Listing tenants needs an admin key.' : e.message;
    return;
  }
  const info = await Promise.all(names.map((n) =>
    api(`/api/v1/tenants/${encodeURIComponent(n)}`).catch(() => ({ name: n }))));
  fill($('tenants').tBodies[0], info.map((t) => el('tr', {},
    el('td', {}, t.name),
    el('td', { class: 'num' }, t.collections ?? '?'),
    el('td', { class: 'num' }, t.keys ?? '?'))));
  note.textContent = names.length ? '' : 'No tenants.';
}

async function loadModels() {
  try {
    const m = (await api('/v1/models')).data || [];
    fill($('models').tBodies[0], m.map((x) => el('tr', {},
      el('td', {}, x.id),
      el('td', { class: 'num' }, x.dimension ?? ''),
      el('td', { class: 'num' }, x.max_tokens ?? ''),
      el('td', {}, x.pooling ?? ''),
      el('td', {}, x.normalize == null ? '' : String(x.normalize)),
      el('td', { class: 'muted' }, x.default ? 'default' : ''))));
    $('model-note').textContent = m.length ? '' : 'No models loaded: collections take vectors only.';
  } catch (e) {
    $('model-note').textContent = e.message;
  }
  try {
    const i = await api('/info');
    $('version').textContent = i.version ? `v${i.version}` : '';
    const cpu = i.cpu || {};
    const parts = [];
    if (cpu.brand) parts.push(cpu.brand);
    if (cpu.cpus) parts.push(`${cpu.cpus} CPUs`);
    if (i.kernels) parts.push(`kernels: ${typeof i.kernels === 'string' ? i.kernels : JSON.stringify(i.kernels)}`);
    if (i.model_dtype) parts.push(`weights ${i.model_dtype}`);
    $('cpu').textContent = parts.join(' · ');
  } catch { /* /info is optional here */ }
}

async function whoami() {
  try {
    const r = await api('/ready');
    $('ready').textContent = r.status || 'ready';
    $('ready').className = 'pill ok';
    $('whoami').textContent = r.auth ? (key() ? 'key set' : 'auth on: no key') : 'auth off';
    if (r.auth && !key()) showKeyPanel();
  } catch (e) {
    $('ready').textContent = e.status ? String(e.status) : 'down';
    $('ready').className = 'pill bad';
  }
}

// ---- search ---------------------------------------------------------------------------

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${what} is not valid JSON: ${e.message}`);
  }
}

async function search(ev) {
  ev.preventDefault();
  const status = $('search-status');
  const tbody = $('hits').tBodies[0];
  try {
    const name = $('search-collection').value;
    if (!name) throw new Error('no collection to search');
    const q = $('search-query').value.trim();
    if (!q) throw new Error('type a text or a vector');
    const body = { top_k: Number($('search-topk').value) || 10, include: ['payload', 'text'] };
    if ($('mode-vector').checked) {
      const v = parseJson(q, 'the vector');
      if (!Array.isArray(v)) throw new Error('the vector must be a JSON array of numbers');
      body.vector = v;
    } else {
      body.text = q;
    }
    const f = $('search-filter').value.trim();
    if (f) body.filter = parseJson(f, 'the filter');
    if ($('search-exact').checked) body.exact = true;
    status.textContent = 'searching…';
    const r = await api(`/api/v1/collections/${encodeURIComponent(name)}/search`, { method: 'POST', body });
    const hits = r.hits || [];
    fill(tbody, hits.map((h, i) => el('tr', { class: 'hit', data: { id: String(h.id), score: String(h.score) } },
      el('td', { class: 'num' }, i + 1),
      el('td', { class: 'mono hit-id' }, h.id),
      el('td', { class: 'num hit-score' }, Number(h.score).toFixed(6)),
      el('td', {}, h.text ?? ''),
      el('td', { class: 'mono payload' }, h.payload == null ? '' : JSON.stringify(h.payload)))));
    const ms = typeof r.latency_ms === 'number' ? ` in ${r.latency_ms.toFixed(2)} ms` : '';
    status.textContent = `${hits.length} hit${hits.length === 1 ? '' : 's'}${ms}${r.model ? ` · model ${r.model}` : ''}`;
    status.dataset.done = String(Date.now());
  } catch (e) {
    fill(tbody, []);
    status.textContent = e.message;
    status.dataset.done = String(Date.now());
  }
}

// ---- metrics ---------------------------------------------------------------------------

// Prometheus text format -> [{name, labels: {...}, value}].
function parseProm(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3]))) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

const sum = (samples, name, pred = () => true) =>
  samples.filter((s) => s.name === name && pred(s.labels)).reduce((a, s) => a + s.value, 0);

// Each chart: a label, how to read its value from one scrape, and whether
// it is a counter (drawn as a rate per second) or a gauge.
const CHARTS = [
  { id: 'req', label: 'requests / s', rate: true, get: (s) => sum(s, 'akidb_http_requests_total') },
  { id: 'err', label: 'errors (4xx/5xx) / s', rate: true,
    get: (s) => sum(s, 'akidb_http_requests_total', (l) => Number(l.status) >= 400) },
  { id: 'lat', label: 'mean latency (ms)', latency: true,
    get: (s) => [sum(s, 'akidb_http_request_duration_seconds_sum'), sum(s, 'akidb_http_request_duration_seconds_count')] },
  { id: 'emb', label: 'texts embedded / s', rate: true, get: (s) => sum(s, 'akidb_embed_texts_total') },
  { id: 'queue', label: 'embed queue', get: (s) => sum(s, 'akidb_embed_queue_depth') },
  { id: 'inflight', label: 'requests in flight', get: (s) => sum(s, 'akidb_http_in_flight') },
  { id: 'points', label: 'points', get: (s) => sum(s, 'akidb_points') },
  { id: 'colls', label: 'collections', get: (s) => sum(s, 'akidb_collections') },
];
const series = new Map(CHARTS.map((c) => [c.id, []]));
let prev = null;             // {t, values} of the previous scrape

function buildCharts() {
  $('charts').replaceChildren(...CHARTS.map((c) => el('div', { class: 'chart', id: `chart-${c.id}` },
    el('div', { class: 'label' }, c.label),
    el('div', { class: 'value' }, '–'),
    (() => { const s = svgEl('svg', { viewBox: '0 0 100 30', preserveAspectRatio: 'none' });
      s.append(svgEl('polygon', { points: '' }), svgEl('polyline', { points: '' })); return s; })())));
}

function fmt(v) {
  if (!Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1);
}

function draw(c) {
  const box = $(`chart-${c.id}`);
  const ys = series.get(c.id);
  box.querySelector('.value').textContent = ys.length ? fmt(ys[ys.length - 1]) : '–';
  if (ys.length < 2) return;
  const max = Math.max(...ys), min = Math.min(0, ...ys);
  const span = max - min || 1;
  const x = (i) => ((i / (ys.length - 1)) * 100).toFixed(2);   // the history so far spans the width
  const pts = ys.map((y, i) => `${x(i)},${(28 - ((y - min) / span) * 26).toFixed(2)}`);
  box.querySelector('polyline').setAttribute('points', pts.join(' '));
  box.querySelector('polygon').setAttribute('points', `0,30 ${pts.join(' ')} 100,30`);
}

async function pollMetrics() {
  try {
    const samples = parseProm(await api('/metrics', { text: true }));
    const t = performance.now() / 1000;
    const values = Object.fromEntries(CHARTS.map((c) => [c.id, c.get(samples)]));
    for (const c of CHARTS) {
      let y;
      if (c.rate) y = prev ? Math.max(0, (values[c.id] - prev.values[c.id]) / (t - prev.t)) : NaN;
      else if (c.latency) {
        const [s1, n1] = values[c.id];
        const [s0, n0] = prev ? prev.values[c.id] : [0, 0];
        y = n1 > n0 ? ((s1 - s0) / (n1 - n0)) * 1000 : 0;
      } else y = values[c.id];
      if (Number.isFinite(y)) {
        const ys = series.get(c.id);
        ys.push(y);
        if (ys.length > HISTORY) ys.shift();
      }
      draw(c);
    }
    prev = { t, values };
    const up = sum(samples, 'akidb_uptime_seconds');
    $('metrics-note').textContent = up ? `up ${fmt(Math.round(up))} s · ${samples.length} samples` : '';
  } catch (e) {
    $('metrics-note').textContent = e.message;
  }
}

// ---- start -------------------------------------------------------------------------------

async function refresh() {
  showError('');
  await whoami();
  await Promise.all([loadCollections(), loadTenants(), loadModels()]);
}

function start() {
  buildCharts();
  $('search-form').addEventListener('submit', search);
  $('search-collection').addEventListener('change', (e) => { selected = e.target.value; loadCollections(); });
  $('key-btn').addEventListener('click', () => $('key-panel').classList.toggle('hidden'));
  $('key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    try { sessionStorage.setItem(KEY_ITEM, $('key-input').value.trim()); } catch { /* private mode */ }
    $('key-input').value = '';
    $('key-panel').classList.add('hidden');
    refresh();
  });
  $('key-forget').addEventListener('click', () => {
    try { sessionStorage.removeItem(KEY_ITEM); } catch { /* private mode */ }
    refresh();
  });
  refresh().then(() => document.body.setAttribute('data-ready', '1'));
  pollMetrics();
  setInterval(pollMetrics, POLL_MS);
  setInterval(loadCollections, 10 * POLL_MS);
}

document.addEventListener('DOMContentLoaded', start);
