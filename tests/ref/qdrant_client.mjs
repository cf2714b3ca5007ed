// qdrant_client.mjs - drives `akidb serve` through Qdrant's official
// JavaScript client (@qdrant/js-client-rest) and checks every answer against
// values computed here: brute-force Cosine / Dot / Euclid over the same
// float32 vectors, filters evaluated on the same payloads, scroll pages
// joined and compared with the full id set.
//
//   [QDRANT_API_KEY=key] node qdrant_client.mjs BASE_URL [MODEL]
//
// With QDRANT_API_KEY, requests carry it in Qdrant's `api-key` header, and a
// wrong key must be refused with 401 in Qdrant's error shape.
// With MODEL (a model the server loaded), a collection bound to it takes
// Documents ({"text"}) on upsert and query texts; the expected ranking uses
// the vectors that akidb's own /api/v1/embed gives for the same texts.
// Exits 0 when every check holds; prints each failure otherwise.
import { QdrantClient } from '@qdrant/js-client-rest';

const base = process.argv[2];
const model = process.argv[3];
const apiKey = process.env.QDRANT_API_KEY;
const hdrs = { 'content-type': 'application/json', ...(apiKey ? { 'api-key': apiKey } : {}) };
let failures = 0;
let checks = 0;

function check(ok, what) {
  checks++;
  if (!ok) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
}

// Deterministic vectors (xorshift32), rounded to float32 as the store keeps them.
let seed = 2463534242;
function rnd() {
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed / 4294967296 - 0.5;
}
const vec = (d) => Array.from({ length: d }, () => Math.fround(rnd()));

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const norm = (a) => Math.sqrt(dot(a, a));
const SCORE = {
  Cosine: (q, p) => dot(q, p) / (norm(q) * norm(p)),
  Dot: (q, p) => dot(q, p),
  Euclid: (q, p) => Math.sqrt(q.reduce((s, x, i) => s + (x - p[i]) ** 2, 0)),
};
const better = (dist) => (a, b) => (dist === 'Euclid' ? a.score - b.score : b.score - a.score);

// Ids: integers and UUIDs (upper-case on the way in; answered lower-case).
function uuid(i) {
  const h = (i * 2654435761 >>> 0).toString(16).padStart(8, '0');
  return `${h}-ABCD-4EF0-8123-${(i + 1).toString(16).padStart(12, '0')}`.toUpperCase();
}
const idOut = (id) => (typeof id === 'string' ? id.toLowerCase() : id);
const key = (id) => JSON.stringify(idOut(id));

// The payload filter semantics of the cases below, evaluated here.
const get = (p, path) => path.split('.').reduce((o, k) => (o == null ? undefined : o[k]), p);
// The id of point i (payload n: i) in every collection case.
const idOf = (i) => (i % 2 === 0 ? i * 1000 + 7 : uuid(i));
// Qdrant's rules: is_empty holds for absent, null and []; except for a
// value (of an array: some element) that is not null and not listed.
const isEmpty = (v) => v === undefined || v === null || (Array.isArray(v) && v.length === 0);
const except = (v, list) => (Array.isArray(v) ? v : v === undefined ? [] : [v]).some((x) => x !== null && !list.includes(x));
const F = {
  group1: { filter: { must: [{ key: 'group', match: { value: 1 } }] }, fn: (p) => p.group === 1 },
  range: {
    filter: { must: [{ key: 'n', range: { gte: 10, lt: 30 } }], must_not: [{ key: 'meta.lang', match: { value: 'fr' } }] },
    fn: (p) => p.n >= 10 && p.n < 30 && get(p, 'meta.lang') !== 'fr',
  },
  should: {
    filter: { should: [{ key: 'tags', match: { any: ['red'] } }, { is_empty: { key: 'opt' } }] },
    fn: (p) => (p.tags || []).includes('red') || p.opt === undefined || p.opt === null,
  },
  except: {
    filter: { must: [{ key: 'group', match: { except: [0, 2] } }, { is_null: { key: 'opt' } }] },
    fn: (p) => p.group !== 0 && p.group !== 2 && p.opt === null,
  },
  emptyTags: { filter: { must: [{ is_empty: { key: 'tags' } }] }, fn: (p) => isEmpty(p.tags) },
  exceptTags: { filter: { must: [{ key: 'tags', match: { except: ['blue'] } }] }, fn: (p) => except(p.tags, ['blue']) },
  notExceptTags: {
    filter: { must_not: [{ key: 'tags', match: { except: ['red', 'big'] } }] },
    fn: (p) => !except(p.tags, ['red', 'big']),
  },
  hasId: {
    filter: { should: [{ has_id: [0, 1, 2, 3, 4, 5].map(idOf) }, { key: 'group', match: { value: 2 } }] },
    fn: (p) => p.n <= 5 || p.group === 2,
  },
  notIds: { filter: { must_not: { has_id: [idOf(1), idOf(2), 424242] } }, fn: (p) => p.n !== 1 && p.n !== 2 },
};

function payloadOf(i) {
  const p = { n: i, group: i % 3, tags: i % 4 === 0 ? ['red', 'big'] : ['blue'], meta: { lang: i % 5 === 0 ? 'fr' : 'en' } };
  if (i % 11 === 3) p.tags = [];
  else if (i % 13 === 5) p.tags = ['blue', 'red'];
  if (i % 7 === 1) p.opt = null;
  else if (i % 7 === 2) p.opt = 'set';
  return p;
}

function bruteForce(points, q, dist, pred, limit) {
  return points
    .filter((p) => !pred || pred(p.payload))
    .map((p) => ({ id: idOut(p.id), score: SCORE[dist](q, p.vector) }))
    .sort(better(dist))
    .slice(0, limit);
}

function sameHits(got, want, what) {
  const ok = got.length === want.length &&
    got.every((h, i) => key(h.id) === key(want[i].id) && Math.abs(h.score - want[i].score) <= 1e-4 * Math.max(1, Math.abs(want[i].score)));
  check(ok, `${what}: got ${JSON.stringify(got.map((h) => [h.id, h.score]))} want ${JSON.stringify(want.map((h) => [h.id, h.score]))}`);
}

async function rejects(promise, status, what) {
  try {
    await promise;
    check(false, `${what}: accepted`);
  } catch (e) {
    check(e.status === status, `${what}: status ${e.status}, want ${status} (${e.message})`);
  }
}

async function collectionCase(client, dist) {
  const name = `qd_${dist.toLowerCase()}`;
  const dim = 8;
  const N = 60;
  check((await client.collectionExists(name)).exists === false, `${name} absent at first`);
  await client.createCollection(name, { vectors: { size: dim, distance: dist } });
  check((await client.collectionExists(name)).exists === true, `${name} exists`);
  await rejects(client.createCollection(name, { vectors: { size: dim, distance: dist } }), 409, `${name} created twice`);
  const points = [];
  for (let i = 0; i < N; i++) {
    const id = idOf(i);
    points.push({ id, vector: vec(dim), payload: payloadOf(i) });
  }
  // points form for the first half, batch form for the rest
  const half = N / 2;
  await client.upsert(name, { wait: true, points: points.slice(0, half) });
  const rest = points.slice(half);
  await client.upsert(name, {
    wait: true,
    batch: { ids: rest.map((p) => p.id), vectors: rest.map((p) => p.vector), payloads: rest.map((p) => p.payload) },
  });
  // Cosine keeps unit vectors: compare with normalised ones
  const stored = points.map((p) => ({ ...p, vector: dist === 'Cosine' ? p.vector.map((x) => x / norm(p.vector)) : p.vector }));

  const info = await client.getCollection(name);
  check(info.points_count === N, `${name} points_count ${info.points_count}`);
  check(info.config.params.vectors.size === dim && info.config.params.vectors.distance === dist,
    `${name} vectors config ${JSON.stringify(info.config.params.vectors)}`);

  for (let t = 0; t < 3; t++) {
    const q = vec(dim);
    const hits = await client.search(name, { vector: q, limit: 5 });
    sameHits(hits, bruteForce(points, q, dist, null, 5), `${name} search ${t}`);
    for (const [fname, f] of Object.entries(F)) {
      const fh = await client.search(name, { vector: q, limit: 4, filter: f.filter, with_payload: true });
      sameHits(fh, bruteForce(points, q, dist, f.fn, 4), `${name} search filter ${fname}`);
      check(fh.every((h) => f.fn(h.payload)), `${name} search filter ${fname}: payloads`);
    }
    const off = await client.search(name, { vector: q, limit: 3, offset: 2 });
    sameHits(off, bruteForce(points, q, dist, null, 5).slice(2), `${name} search offset`);
    const qr = await client.query(name, { query: q, limit: 6, filter: F.range.filter });
    sameHits(qr.points, bruteForce(points, q, dist, F.range.fn, 6), `${name} query`);
    const qi = await client.query(name, { query: q, limit: 5, filter: F.hasId.filter });
    sameHits(qi.points, bruteForce(points, q, dist, F.hasId.fn, 5), `${name} query has_id`);
    // a query by point id: that point's vector, the point itself left out
    const by = points[3 + t];
    const others = points.filter((p) => p !== by);
    const qb = await client.query(name, { query: by.id, limit: 4, filter: F.notIds.filter });
    sameHits(qb.points, bruteForce(others, stored[3 + t].vector, dist, F.notIds.fn, 4), `${name} query by id`);
    const qbn = await client.query(name, { query: { nearest: by.id }, limit: 2 });
    sameHits(qbn.points, bruteForce(others, stored[3 + t].vector, dist, null, 2), `${name} query nearest id`);
    const qn = await client.query(name, { query: { nearest: q }, limit: 3, with_payload: true });
    sameHits(qn.points, bruteForce(points, q, dist, null, 3), `${name} query nearest`);
  }

  await rejects(client.query(name, { query: 999999999, limit: 3 }), 404, `${name} query by a missing id`);

  // batches: one answer per request, in order, each as the request alone
  {
    const qs = [vec(dim), vec(dim), vec(dim)];
    const sb = await client.searchBatch(name, { searches: [
      { vector: qs[0], limit: 3 },
      { vector: qs[1], limit: 4, filter: F.range.filter },
      { vector: qs[2], limit: 2, offset: 1 }] });
    check(sb.length === 3, `${name} searchBatch answers ${sb.length}`);
    sameHits(sb[0], bruteForce(points, qs[0], dist, null, 3), `${name} searchBatch 0`);
    sameHits(sb[1], bruteForce(points, qs[1], dist, F.range.fn, 4), `${name} searchBatch 1`);
    sameHits(sb[2], bruteForce(points, qs[2], dist, null, 3).slice(1), `${name} searchBatch 2`);
    const qb = await client.queryBatch(name, { searches: [
      { query: qs[0], limit: 5, filter: F.hasId.filter },
      { query: { nearest: qs[1] }, limit: 2 }] });
    check(qb.length === 2, `${name} queryBatch answers ${qb.length}`);
    sameHits(qb[0].points, bruteForce(points, qs[0], dist, F.hasId.fn, 5), `${name} queryBatch 0`);
    sameHits(qb[1].points, bruteForce(points, qs[1], dist, null, 2), `${name} queryBatch 1`);
    // one bad request fails the batch, as in Qdrant
    await rejects(client.searchBatch(name, { searches: [{ vector: qs[0], limit: 3 },
      { vector: [1, 2], limit: 3 }] }), 400, `${name} searchBatch with a bad vector`);
    check((await client.searchBatch(name, { searches: [] })).length === 0, `${name} empty searchBatch`);
  }

  // payload indexes: acknowledged (filters need none), bad schemas refused
  {
    const r = await client.createPayloadIndex(name, { field_name: "doc_id", field_schema: "keyword", wait: true });
    check(r.status === "completed", `${name} createPayloadIndex ${JSON.stringify(r)}`);
    const r2 = await client.createPayloadIndex(name, { field_name: "n", field_schema: { type: "integer", range: true } });
    check(r2.status === "completed", `${name} createPayloadIndex integer ${JSON.stringify(r2)}`);
    await rejects(client.createPayloadIndex(name, { field_name: "x", field_schema: "vector" }), 400,
      `${name} createPayloadIndex of an unknown type`);
    await rejects(client.createPayloadIndex("no_such_collection", { field_name: "x", field_schema: "keyword" }), 404,
      `createPayloadIndex on a missing collection`);
    const d = await client.deletePayloadIndex(name, "doc_id", { wait: true });
    check(d.status === "completed", `${name} deletePayloadIndex ${JSON.stringify(d)}`);
  }

  // scroll to the end, pages of 7
  const seen = [];
  let offset;
  let pages = 0;
  do {
    const page = await client.scroll(name, { limit: 7, offset, with_payload: true });
    seen.push(...page.points);
    offset = page.next_page_offset ?? undefined;
    pages++;
  } while (offset !== undefined && pages < 100);
  const want = new Set(points.map((p) => key(p.id)));
  check(seen.length === N && new Set(seen.map((p) => key(p.id))).size === N && seen.every((p) => want.has(key(p.id))),
    `${name} scroll saw ${seen.length} points in ${pages} pages`);
  check(pages === Math.ceil(N / 7), `${name} scroll pages ${pages}`);
  // Qdrant's order: integer ids by value, then UUIDs
  const ints = points.map((p) => p.id).filter((id) => typeof id === 'number').sort((a, b) => a - b);
  const uuids = points.map((p) => idOut(p.id)).filter((id) => typeof id === 'string').sort();
  check(JSON.stringify(seen.map((p) => p.id)) === JSON.stringify([...ints, ...uuids]),
    `${name} scroll order ${JSON.stringify(seen.slice(0, 8).map((p) => p.id))} ...`);
  check(seen.every((p) => JSON.stringify(p.payload) === JSON.stringify(points.find((x) => key(x.id) === key(p.id)).payload)),
    `${name} scroll payloads`);
  const fseen = [];
  offset = undefined;
  do {
    const page = await client.scroll(name, { limit: 4, offset, filter: F.should.filter });
    fseen.push(...page.points);
    offset = page.next_page_offset ?? undefined;
  } while (offset !== undefined);
  check(fseen.length === points.filter((p) => F.should.fn(p.payload)).length, `${name} filtered scroll ${fseen.length}`);
  const iseen = (await client.scroll(name, { limit: 100, filter: F.hasId.filter, with_payload: true })).points;
  check(iseen.length === points.filter((p) => F.hasId.fn(p.payload)).length && iseen.every((p) => F.hasId.fn(p.payload)),
    `${name} scroll has_id ${iseen.length}`);

  // counts
  check((await client.count(name, {})).count === N, `${name} count`);
  for (const [fname, f] of Object.entries(F)) {
    const c = (await client.count(name, { filter: f.filter })).count;
    const w = points.filter((p) => f.fn(p.payload)).length;
    check(c === w, `${name} count ${fname}: ${c} want ${w}`);
  }
  const idsSome = [points[0].id, points[1].id, points[3].id, 999999999];
  const hc = (await client.count(name, { filter: { must: [{ has_id: idsSome }, F.group1.filter] } })).count;
  check(hc === [0, 1, 3].filter((i) => points[i].payload.group === 1).length, `${name} count has_id ${hc}`);

  // retrieve with vectors
  const got = await client.retrieve(name, { ids: [points[1].id, points[4].id], with_vector: true });
  check(got.length === 2 && key(got[0].id) === key(points[1].id) && key(got[1].id) === key(points[4].id), `${name} retrieve ids`);
  for (const r of got) {
    const s = stored.find((p) => key(p.id) === key(r.id));
    check(r.vector.every((x, i) => Math.abs(x - s.vector[i]) <= 1e-6), `${name} retrieve vector ${r.id}`);
  }

  // payload: set (merge) by filter, overwrite by ids
  await client.setPayload(name, { payload: { flagged: true }, filter: F.group1.filter, wait: true });
  const flagged = (await client.count(name, { filter: { must: [{ key: 'flagged', match: { value: true } }] } })).count;
  check(flagged === points.filter((p) => p.payload.group === 1).length, `${name} set payload by filter ${flagged}`);
  await client.overwritePayload(name, { payload: { only: 1 }, points: [points[2].id], wait: true });
  const ow = await client.retrieve(name, { ids: [points[2].id] });
  check(JSON.stringify(ow[0].payload) === '{"only":1}', `${name} overwrite payload ${JSON.stringify(ow[0].payload)}`);

  // delete by filter, then by ids
  await client.delete(name, { filter: F.range.filter, wait: true });
  const left = points.filter((p) => p.id !== points[2].id ? !F.range.fn(p.payload) : true);
  check((await client.count(name, {})).count === left.length, `${name} count after delete by filter`);
  await client.delete(name, { points: [left[0].id], wait: true });
  check((await client.count(name, {})).count === left.length - 1, `${name} count after delete by ids`);
  check((await client.getCollection(name)).points_count === left.length - 1, `${name} points_count after deletes`);

  // refusals in Qdrant's shape
  await rejects(client.upsert(name, { wait: true, points: [{ id: 'not-a-uuid', vector: vec(dim) }] }), 400, `${name} bad id`);
  await rejects(client.upsert(name, { wait: true, points: [{ id: -1, vector: vec(dim) }] }), 400, `${name} negative id`);
  await rejects(client.search(name, { vector: vec(dim + 1), limit: 1 }), 400, `${name} wrong dimension`);
  await rejects(client.search(name, { vector: vec(dim), limit: 1, filter: { must: [{ key: 'x', match: { text: 'a' } }] } }), 400, `${name} full-text filter`);
  await rejects(client.getCollection(`${name}_missing`), 404, `${name} missing collection`);

  await client.deleteCollection(name);
  check((await client.collectionExists(name)).exists === false, `${name} deleted`);
}

// A collection bound to MODEL: Documents on upsert, texts as queries.
async function modelCase(client) {
  const emb = async (texts) => {
    const r = await fetch(`${base}/api/v1/embed`, {
      method: 'POST',
      headers: hdrs,
      body: JSON.stringify({ model, texts }),
    });
    return (await r.json()).embeddings;
  };
  const texts = ['the cat sat on the mat', 'dogs chase cats', 'a bowl of noodles', 'stock prices fell', 'the kitten sleeps'];
  const vecs = await emb(texts);
  const dim = vecs[0].length;
  const name = 'qd_model';
  const r = await fetch(`${base}/collections/${name}`, {
    method: 'PUT',
    headers: hdrs,
    body: JSON.stringify({ vectors: { size: dim, distance: 'Cosine' }, model }),
  });
  check(r.status === 200, `create ${name} with model: ${r.status}`);
  await client.upsert(name, { wait: true, points: texts.map((t, i) => ({ id: i + 1, vector: { text: t, model }, payload: { t } })) });
  const points = texts.map((t, i) => ({ id: i + 1, vector: vecs[i], payload: { t } }));
  for (const q of ['a cat', 'money']) {
    const [qv] = await emb([q]);
    const want = bruteForce(points, qv, 'Cosine', null, 3);
    sameHits((await client.query(name, { query: q, limit: 3 })).points, want, `query text '${q}'`);
    sameHits((await client.query(name, { query: { text: q, model }, limit: 3 })).points, want, `query document '${q}'`);
  }
  await client.deleteCollection(name);
}

const client = new QdrantClient({ url: base, apiKey, checkCompatibility: false });
const root = await (await fetch(`${base}/`)).json();
if (apiKey) {
  const wrong = new QdrantClient({ url: base, apiKey: 'ak_wrong_key_0123456789', checkCompatibility: false });
  await rejects(wrong.getCollections(), 401, 'wrong api-key');
  const r = await fetch(`${base}/collections`, { headers: { 'api-key': 'ak_wrong_key_0123456789' } });
  const body = await r.json();
  check(r.status === 401 && typeof body.status.error === 'string' && typeof body.time === 'number',
    `401 in Qdrant's shape: ${JSON.stringify(body)}`);
}
check(root.title === 'qdrant - vector search engine' && typeof root.version === 'string', `GET / ${JSON.stringify(root)}`);
for (const dist of ['Cosine', 'Dot', 'Euclid'])
  await collectionCase(client, dist);
if (model)
  await modelCase(client);
check((await client.getCollections()).collections.length === 0, 'no collections left');
console.log(`qdrant_client: ${checks} checks, ${failures} failed`);
process.exit(failures ? 1 : 0);
