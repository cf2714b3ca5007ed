// langchain_client.mjs - drives `akidb serve` through LangChain's Qdrant
// vector store (@langchain/qdrant), with the embeddings coming from the
// server's OpenAI route through @langchain/openai's OpenAIEmbeddings, and
// checks every answer against values computed here: the embeddings fetched
// from /v1/embeddings as floats, brute-force cosine similarity over them,
// the filters evaluated on the same metadata.
//
//   QDRANT_API_KEY=key node langchain_client.mjs BASE_URL MODEL
//
// The key goes to the Qdrant client (api-key header) and to the OpenAI
// client (Authorization: Bearer).  Exits 0 when every check holds; prints
// each failure otherwise.
import { QdrantVectorStore } from '@langchain/qdrant';
import { OpenAIEmbeddings } from '@langchain/openai';

const base = process.argv[2];
const model = process.argv[3];
const apiKey = process.env.QDRANT_API_KEY;
let failures = 0;
let checks = 0;

function check(ok, what) {
  checks++;
  if (!ok) {
    failures++;
    console.error(`FAIL: ${what}`);
  }
}

const texts = [
  'The cat sat on the warm windowsill all afternoon.',
  'Stock markets fell sharply after the announcement.',
  'A recipe for sourdough bread needs patience.',
  'The rocket reached orbit on its third attempt.',
  'Kittens and puppies playing in the garden.',
  'Interest rates are expected to rise next quarter.',
  'Fresh basil and tomatoes make a simple sauce.',
  'Astronomers found water vapour on a distant planet.',
  'My dog chases the neighbour\'s cat every morning.',
  'The central bank held its policy meeting today.',
  'Slow-cooked beans with garlic and olive oil.',
  'A telescope launched to study the early universe.',
  'Birds gather at the feeder when snow falls.',
  'Bond yields climbed for the fifth straight day.',
];
const metadatas = texts.map((_, i) => ({ n: i, source: ['pets', 'money', 'food', 'space'][i % 4], tags: i % 5 === 0 ? [] : ['t'] }));
const queries = ['a sleepy cat in the sun', 'what will the bank do with rates', 'cooking dinner tonight'];

// The vectors as the server computes them, asked for as plain floats.
async function embedRaw(input) {
  const r = await fetch(`${base}/v1/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ input, model, encoding_format: 'float' }),
  });
  check(r.status === 200, `/v1/embeddings status ${r.status}`);
  // the shortest decimal of each float32 comes back; fround recovers it
  return (await r.json()).data.map((d) => d.embedding.map(Math.fround));
}

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const cosine = (a, b) => dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
const close = (a, b) => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));

// The expected hits: documents passing pred, by decreasing cosine.
function bruteForce(live, vecs, q, pred, k) {
  return live
    .filter((i) => !pred || pred(metadatas[i]))
    .map((i) => ({ i, score: cosine(q, vecs[i]) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

// got: [Document, score] pairs.  Each rank's score must be the expected
// one, and the document returned must have that score itself (equal scores
// may come in either order).
function sameHits(got, want, vecs, q, what) {
  const ok = got.length === want.length && got.every(([doc, score], r) => {
    const i = texts.indexOf(doc.pageContent);
    return i >= 0 && close(score, want[r].score) && close(cosine(q, vecs[i]), want[r].score) &&
      JSON.stringify(doc.metadata) === JSON.stringify(metadatas[i]);
  });
  check(ok, `${what}: got ${JSON.stringify(got.map(([d, s]) => [d.metadata?.n, s]))} ` +
    `want ${JSON.stringify(want.map((h) => [h.i, h.score]))}`);
}

async function main() {
  const embeddings = new OpenAIEmbeddings({ apiKey, model, configuration: { baseURL: `${base}/v1` } });
  const vecs = await embedRaw(texts);
  const qvecs = await embedRaw(queries);
  const dim = vecs[0].length;

  // LangChain's vectors are the server's, bit for bit (base64 on the wire)
  const lc = await embeddings.embedDocuments(texts);
  check(lc.length === texts.length && lc.every((v, i) => v.length === dim && v.every((x, j) => x === vecs[i][j])),
    'embedDocuments equals /v1/embeddings');
  const lq = await embeddings.embedQuery(queries[0]);
  check(lq.every((x, j) => x === qvecs[0][j]), 'embedQuery equals /v1/embeddings');

  const collectionName = 'lc_docs';
  const store = await QdrantVectorStore.fromTexts(texts, metadatas, embeddings, { url: base, apiKey, collectionName });
  const info = await store.client.getCollection(collectionName);
  check(info.points_count === texts.length, `points_count ${info.points_count}`);
  check(info.config.params.vectors.size === dim && info.config.params.vectors.distance === 'Cosine',
    `vectors config ${JSON.stringify(info.config.params.vectors)}`);

  let live = texts.map((_, i) => i);
  const filters = {
    none: [undefined, null],
    source: [{ must: [{ key: 'metadata.source', match: { value: 'money' } }] }, (m) => m.source === 'money'],
    anyNot: [{
      should: [{ key: 'metadata.source', match: { any: ['pets', 'space'] } }],
      must_not: [{ key: 'metadata.n', range: { gte: 10 } }],
    }, (m) => (m.source === 'pets' || m.source === 'space') && !(m.n >= 10)],
    emptyTags: [{ must: [{ is_empty: { key: 'metadata.tags' } }] }, (m) => m.tags.length === 0],
  };
  async function searches(what) {
    for (const [qi, q] of queries.entries()) {
      for (const [fname, [filter, pred]] of Object.entries(filters)) {
        const got = await store.similaritySearchWithScore(q, 3, filter);
        sameHits(got, bruteForce(live, vecs, qvecs[qi], pred, 3), vecs, qvecs[qi], `${what} query ${qi} filter ${fname}`);
      }
      const docs = await store.similaritySearch(q, 2, filters.source[0]);
      const want = bruteForce(live, vecs, qvecs[qi], filters.source[1], 2);
      check(docs.length === want.length && docs.every((d, r) => close(cosine(qvecs[qi], vecs[texts.indexOf(d.pageContent)]), want[r].score)),
        `${what} similaritySearch ${qi}: ${docs.map((d) => d.metadata.n)}`);
    }
  }
  await searches('all');

  // delete by ids (those LangChain generated, read back by scroll)
  const all = (await store.client.scroll(collectionName, { limit: 100, with_payload: true })).points;
  check(all.length === texts.length, `scroll ${all.length}`);
  const idOfN = (n) => all.find((p) => p.payload.metadata.n === n).id;
  check(all.every((p) => /^[0-9a-f-]{36}$/.test(p.id) && p.payload.content === texts[p.payload.metadata.n]),
    'stored ids are UUIDs and payloads hold the texts');
  await store.delete({ ids: [idOfN(0), idOfN(5)] });
  live = live.filter((i) => i !== 0 && i !== 5);
  check((await store.client.count(collectionName, { exact: true })).count === live.length, 'count after delete by ids');
  await searches('after delete by ids');

  // delete by filter
  await store.delete({ filter: { must: [{ key: 'metadata.source', match: { value: 'pets' } }] } });
  live = live.filter((i) => metadatas[i].source !== 'pets');
  check((await store.client.count(collectionName, { exact: true })).count === live.length, 'count after delete by filter');
  await searches('after delete by filter');

  // a second store on the existing collection sees the same documents
  const again = await QdrantVectorStore.fromExistingCollection(embeddings, { url: base, apiKey, collectionName });
  const got = await again.similaritySearchWithScore(queries[1], 4);
  sameHits(got, bruteForce(live, vecs, qvecs[1], null, 4), vecs, qvecs[1], 'existing collection');
}

try {
  await main();
} catch (e) {
  failures++;
  console.error(`FAIL: ${e.stack || e}`);
}
console.log(`langchain_client: ${checks} checks, ${failures} failures`);
process.exit(failures ? 1 : 0);
