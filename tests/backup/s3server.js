// s3server.js - an S3-compatible store on loopback for the backup tests:
// s3rver (npm) behind a front that checks every request's AWS SigV4
// signature with the aws4 package, since s3rver 3.x accepts any V4
// signature of a known key.  A wrong secret is refused as S3 refuses it
// (403 SignatureDoesNotMatch).  The front counts requests by kind and
// prints, on stdout, one line "PORT <n>" once it listens.
//
// usage: node s3server.js DIR ACCESS_KEY SECRET [BUCKET]
// (s3rver knows one account, whose key is S3RVER: ACCESS_KEY must be it.)
'use strict';

const http = require('http');
const aws4 = require('aws4');
const S3rver = require('s3rver');

const [dir, accessKey, secret, bucket = 'backups'] = process.argv.slice(2);
const stats = { requests: 0, refused: 0, multipartParts: 0, completes: 0 };

function parseAuth(h) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(h || '');
  if (!m) return null;
  return { key: m[1], region: m[3], signed: m[4].split(';'), sig: m[5] };
}

function refuse(res, code, text) {
  stats.refused++;
  res.writeHead(403, { 'Content-Type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${text}</Message></Error>`);
}

function verify(req) {
  const a = parseAuth(req.headers.authorization);
  if (!a) return ['AccessDenied', 'no SigV4 Authorization header'];
  if (a.key !== accessKey) return ['InvalidAccessKeyId', 'unknown key'];
  const headers = {};
  for (const h of a.signed) {
    if (req.headers[h] === undefined) return ['AccessDenied', `signed header ${h} missing`];
    headers[h] = req.headers[h];
  }
  const opts = { host: req.headers.host, method: req.method, path: req.url,
                 service: 's3', region: a.region, headers, doNotModifyHeaders: true };
  const signer = new aws4.RequestSigner(opts, { accessKeyId: accessKey, secretAccessKey: secret });
  // The request's own time: aws4 would otherwise take the clock's.
  signer.datetime = req.headers['x-amz-date'];
  const want = /Signature=([0-9a-f]{64})/.exec(signer.authHeader())[1];
  if (want !== a.sig) return ['SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'];
  return null;
}

async function main() {
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true,
                          configureBuckets: [{ name: bucket }] });
  const inner = await s3.run();
  const front = http.createServer((req, res) => {
    stats.requests++;
    if (req.url === '/_stats') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(stats));
      return;
    }
    const bad = verify(req);
    if (bad) {
      req.resume();
      refuse(res, bad[0], bad[1]);
      return;
    }
    if (/[?&]partNumber=/.test(req.url)) stats.multipartParts++;
    if (req.method === 'POST' && /[?&]uploadId=/.test(req.url)) stats.completes++;
    const up = http.request({ host: '127.0.0.1', port: inner.port, method: req.method,
                              path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
    req.pipe(up);
  });
  front.listen(0, '127.0.0.1', () => {
    process.stdout.write(`PORT ${front.address().port}\n`);
  });
  const stop = () => { front.close(); s3.close().then(() => process.exit(0)); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => { console.error(e); process.exit(1); });
