// console_ui.mjs - the web console in a real browser: starts `akidb serve`
// (auth on) on a free port with a fresh data folder and the committed tiny
// model, fills two collections through the API (one bound to the model, one
// of explicit vectors), then drives headless Chromium (puppeteer-core)
// through the console: enter the API key, search by text with a filter and
// by vector, and checks the hits shown (ids, and scores both as the page
// formats them and at full precision) equal what the API answers for the
// same search.  Also checks the collections, tenants and models panels,
// that the metrics charts draw, and that the page logs no error (a
// Content-Security-Policy violation would).  Saves a screenshot to
// $AKIDB_BUILD/console_ui.png (and to $AKIDB_CONSOLE_SHOT when set).
//
//   AKIDB_BIN=build/akidb [AKIDB_SRC=.] [AKIDB_BUILD=build] node tests/ref/console_ui.mjs
//
// Exits 0 when every check holds, 1 on a failure, 77 with a "SKIP:" line
// when chromium, puppeteer-core or the binary is missing.
import { spawn, execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = process.env.AKIDB_SRC || path.resolve(here, '../..');
const build = process.env.AKIDB_BUILD || path.join(src, 'build');
const bin = process.env.AKIDB_BIN;
const KEY = 'ak_console_ui_admin_key_0123456789';

function skip(why) {
  console.log(`SKIP: console_ui: ${why}`);
  process.exit(77);
}

function findChromium() {
  const env = process.env.CHROMIUM || process.env.PUPPETEER_EXECUTABLE_PATH;
  if (env) return fs.existsSync(env) ? env : null;
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      const p = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
      if (p) return p;
    } catch { /* not on PATH */ }
  }
  return null;
}

async function loadPuppeteer() {
  const dirs = [process.env.AKIDB_TOKREF_DIR, path.join(here, 'node_modules')].filter(Boolean);
  for (const d of dirs) {
    try {
      const req = createRequire(path.join(path.resolve(d), '..', 'x.js'));
      const mod = await import(req.resolve('puppeteer-core'));
      return mod.default || mod;
    } catch { /* next */ }
  }
  return null;
}

const chromium = findChromium();
if (!chromium) skip('no chromium on the PATH (apt-get install chromium, or scripts/deps.sh --test)');
const puppeteer = await loadPuppeteer();
if (!puppeteer) skip('puppeteer-core is not in tests/ref/node_modules (cd tests/ref && npm ci --ignore-scripts)');
if (!bin || !fs.existsSync(bin)) skip('AKIDB_BIN does not name the akidb binary');

let failures = 0;
let checks = 0;
function check(ok, what) {
  checks++;
  if (!ok) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
}

// ---- a server with a model and two collections ----------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'akidb_console_ui_'));
const model = path.join(tmp, 'tiny');
fs.mkdirSync(path.join(model, '1_Pooling'), { recursive: true });
for (const f of ['config.json', 'model.safetensors', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json'])
  fs.copyFileSync(path.join(src, 'tests/golden/tiny/tiny_f16', f), path.join(model, f));
for (const f of ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'])
  fs.copyFileSync(path.join(src, 'tests/data/minilm', f), path.join(model, f));

const log = [];
const server = spawn(bin, ['serve', '--data', path.join(tmp, 'data'), '--model', `tiny=${model}`,
  '--port', '0', '--no-model-scan', '--auth', 'on', '--threads', '1'],
{ env: { ...process.env, AKIDB_ADMIN_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] });
const port = await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error(`akidb serve did not start:\n${log.join('')}`)), 30000);
  const onData = (d) => {
    log.push(String(d));
    const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log.join(''));
    if (m) { clearTimeout(timer); resolve(Number(m[1])); }
  };
  server.stdout.on('data', onData);
  server.stderr.on('data', onData);
  server.on('exit', (code) => reject(new Error(`akidb serve exited (${code}):\n${log.join('')}`)));
});
const base = `http://127.0.0.1:${port}`;
let browser;
let texts;

async function api(method, p, body) {
  const r = await fetch(base + p, {
    method,
    headers: { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

async function main() {
  for (let i = 0; i < 300; i++) {      // the model loads after the listener starts
    const r = await fetch(`${base}/ready`);
    if (r.ok) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  texts = ['cats purr on the sofa', 'dogs bark at the mail', 'a kitten sleeps in the sun',
    'the stock market fell today', 'rain is expected tomorrow', 'my cat chases a red dot',
    'bread rises in a warm oven', 'puppies play in the park'];
  await api('POST', '/api/v1/collections', { name: 'notes', model: 'tiny' });
  await api('POST', '/api/v1/collections/notes/points', {
    points: texts.map((t, i) => ({ id: `n${i}`, text: t, payload: { group: i % 2, n: i } })),
  });
  await api('POST', '/api/v1/collections', { name: 'vecs', dimension: 4, metric: 'dot' });
  await api('POST', '/api/v1/collections/vecs/points', {
    points: Array.from({ length: 12 }, (_, i) => ({
      id: `v${i}`, vector: [Math.sin(i), Math.cos(i), i / 12, 1 - i / 12], payload: { i },
    })),
  });

  browser = await puppeteer.launch({
    executablePath: chromium, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  const asked = [];
  page.on('request', (r) => asked.push(r.url()));

  const resp = await page.goto(`${base}/`, { waitUntil: 'load' });
  check(resp.status() === 200, `GET / in the browser: ${resp.status()}`);
  check((resp.headers()['content-type'] || '').startsWith('text/html'), 'GET / in the browser is HTML');
  check((resp.headers()['content-security-policy'] || '').includes("default-src 'none'"), 'the page has a CSP');

  // auth is on and no key is kept yet: the key panel asks for one
  await page.waitForSelector('#key-panel:not(.hidden)', { timeout: 10000 });
  // the 401s the page got without a key are expected: let the requests made
  // without one finish (an emulated server answers slowly), then forget them
  await page.waitForNetworkIdle({ idleTime: 300, timeout: 20000 }).catch(() => {});
  problems.length = 0;
  await page.type('#key-input', KEY);
  await page.click('#key-save');
  await page.waitForFunction(() => document.querySelectorAll('#collections tbody tr').length === 2, { timeout: 10000 });
  check(await page.evaluate(() => sessionStorage.getItem('akidb.key')) === KEY, 'the key is kept in sessionStorage');

  const colls = await page.$$eval('#collections tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  const notes = colls.find((r) => r[0] === 'notes');
  const vecs = colls.find((r) => r[0] === 'vecs');
  check(notes && notes[1] === '8' && notes[2] === '32' && notes[3] === 'cosine' && notes[4] === 'tiny',
    `collections panel, notes: ${JSON.stringify(notes)}`);
  check(vecs && vecs[1] === '12' && vecs[2] === '4' && vecs[3] === 'dot', `collections panel, vecs: ${JSON.stringify(vecs)}`);
  await page.waitForFunction(() => document.querySelectorAll('#tenants tbody tr').length > 0, { timeout: 10000 });
  const tenants = await page.$$eval('#tenants tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  check(tenants.some((t) => t[0] === 'default' && t[1] === '2'), `tenants panel: ${JSON.stringify(tenants)}`);
  const models = await page.$$eval('#models tbody tr', (rows) => rows.map((r) => [...r.cells].map((c) => c.textContent)));
  check(models.length === 1 && models[0][0] === 'tiny' && models[0][1] === '32', `models panel: ${JSON.stringify(models)}`);

  // Runs one search through the form; returns the rows shown.
  async function uiSearch({ collection, mode, query, topK, filter }) {
    await page.select('#search-collection', collection);
    await page.click(mode === 'vector' ? '#mode-vector' : '#mode-text');
    for (const [sel, v] of [['#search-query', query], ['#search-filter', filter || ''], ['#search-topk', String(topK)]]) {
      await page.$eval(sel, (e) => { e.value = ''; });
      if (v) await page.type(sel, v);
    }
    const before = await page.$eval('#search-status', (e) => e.dataset.done || '');
    await page.click('#search-btn');
    await page.waitForFunction((b) => (document.getElementById('search-status').dataset.done || '') !== b,
      { timeout: 15000 }, before);
    return page.$$eval('#hits tbody tr', (rows) => rows.map((r) => ({
      id: r.dataset.id, score: r.dataset.score,
      idShown: r.querySelector('.hit-id').textContent, scoreShown: r.querySelector('.hit-score').textContent,
      payload: r.querySelector('.payload').textContent,
    })));
  }

  function compare(what, shown, hits) {
    check(hits.length > 0, `${what}: the API found hits`);
    check(shown.length === hits.length, `${what}: ${shown.length} rows shown, the API answers ${hits.length}`);
    hits.forEach((h, i) => {
      const s = shown[i] || {};
      check(s.id === h.id && s.idShown === h.id, `${what} #${i}: id ${s.id} shown, API ${h.id}`);
      check(s.score === String(h.score), `${what} #${i}: score ${s.score}, API ${h.score}`);
      check(s.scoreShown === h.score.toFixed(6), `${what} #${i}: score shown ${s.scoreShown}, API ${h.score}`);
      check(s.payload === JSON.stringify(h.payload), `${what} #${i}: payload ${s.payload}`);
    });
  }

  // by text, with a filter
  const filter = { group: 1 };
  const shownText = await uiSearch({ collection: 'notes', mode: 'text', query: 'a cat on a warm sofa', topK: 3, filter: JSON.stringify(filter) });
  const apiText = await api('POST', '/api/v1/collections/notes/search', { text: 'a cat on a warm sofa', top_k: 3, filter, include: ['payload', 'text'] });
  compare('text search', shownText, apiText.hits);
  check(apiText.hits.every((h) => h.payload.group === 1), 'the filter held');

  // by vector
  const q = [0.3, -0.2, 0.9, 0.1];
  const shownVec = await uiSearch({ collection: 'vecs', mode: 'vector', query: JSON.stringify(q), topK: 5 });
  const apiVec = await api('POST', '/api/v1/collections/vecs/search', { vector: q, top_k: 5, include: ['payload', 'text'] });
  compare('vector search', shownVec, apiVec.hits);

  // a bad filter is reported, not sent
  await uiSearch({ collection: 'vecs', mode: 'vector', query: JSON.stringify(q), topK: 5, filter: '{oops' });
  const status = await page.$eval('#search-status', (e) => e.textContent);
  check(/filter is not valid JSON/.test(status), `a bad filter is named: ${status}`);
  // put the vector search back for the screenshot
  await uiSearch({ collection: 'notes', mode: 'text', query: 'a cat on a warm sofa', topK: 5, filter: '' });

  // the metrics charts draw once two scrapes are in
  await page.waitForFunction(() => (document.querySelector('#chart-req polyline')?.getAttribute('points') || '').length > 0,
    { timeout: 10000 });
  const pointsShown = await page.$eval('#chart-points .value', (e) => e.textContent);
  check(pointsShown === '20', `points chart: ${pointsShown}`);

  check(problems.length === 0, `the page logged no error: ${problems.join(' | ')}`);
  check(asked.every((u) => u.startsWith(base)), `every request went to the server: ${asked.filter((u) => !u.startsWith(base)).join(', ')}`);

  if (process.env.AKIDB_CONSOLE_SHOT) {   // the docs' picture: some traffic on the charts first
    for (let i = 0; i < 12; i++) {
      for (let k = 0; k <= i % 4; k++)
        await api('POST', '/api/v1/collections/notes/search', { text: texts[(i + k) % texts.length], top_k: 3 });
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
  const shot = path.join(build, 'console_ui.png');
  fs.mkdirSync(build, { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env.AKIDB_CONSOLE_SHOT) fs.copyFileSync(shot, process.env.AKIDB_CONSOLE_SHOT);
  console.log(`screenshot: ${shot}`);
}

let code = 0;
try {
  await main();
} catch (e) {
  console.error(`FAIL: ${e.stack || e}`);
  failures++;
} finally {
  if (browser) await browser.close().catch(() => {});
  server.kill('SIGTERM');
  await new Promise((res) => { if (server.exitCode !== null) res(); else server.on('exit', res); });
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`console_ui: ${checks - failures}/${checks} checks passed`);
code = failures ? 1 : 0;
process.exit(code);
