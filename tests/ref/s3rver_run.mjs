// s3rver_run.mjs - an S3-compatible server on loopback for tests/test_s3.c:
// s3rver (npm) on 127.0.0.1 at a free port, objects kept in DIR, the given
// buckets created.  Prints one line "PORT <n>" once it listens, and runs
// until stdin closes or a SIGTERM arrives.  s3rver checks the access key id
// (S3RVER) but not SigV4 signatures.
//   node --openssl-legacy-provider s3rver_run.mjs DIR [BUCKET...]
// Run it with --openssl-legacy-provider: s3rver's ListObjectsV2 continuation
// tokens are DES-encrypted, which OpenSSL 3 keeps in its legacy provider.
// AKIDB_TOKREF_DIR, when set, is the node_modules folder to load s3rver from.
import { createRequire } from 'node:module';
import path from 'node:path';

const mods = process.env.AKIDB_TOKREF_DIR;
const require = createRequire(mods ? path.join(path.resolve(mods), '..', 'x.js') : import.meta.url);
const S3rver = require('s3rver');

const [dir, ...buckets] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node s3rver_run.mjs DIR [BUCKET...]');
  process.exit(2);
}
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory: dir,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
const addr = await server.run();
process.stdout.write(`PORT ${addr.port}\n`);
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.stdin.on('end', stop);
process.stdin.resume();
