'use strict';
// HTTP/2 client for the e2e tests (node's built-in http2; node carries
// OpenSSL inside its executable). Everything goes over ONE session (one TLS
// connection) to https://127.0.0.1:PORT, so :authority is "127.0.0.1:PORT".
//
//   node h2_client.js PORT get REQ...        all REQs at once (concurrent streams)
//   node h2_client.js PORT seq REQ...        REQs one after the other
//        REQ is "/path" (GET) or "METHOD:/path"
//   node h2_client.js PORT many N G          N streams in flight at once:
//                                            GET /h2/gate/<i>?n=N&g=G, i = 0..N-1
//   node h2_client.js PORT post SIZE PATH    POST of SIZE random bytes to PATH
//   node h2_client.js PORT reset PATH AFTER  GET PATH, cancelled by the client
//                                            (RST_STREAM CANCEL) once the response
//                                            headers and first DATA arrived; then
//                                            GET AFTER on the same session
//   node h2_client.js PORT preopen           the session and its first calls
//        (PUT and GET with decoy headers, which fill the HPACK dynamic table),
//        then prints {"opened":...} and waits for lines on stdin: each line is
//        a list of REQs made one after the other ("METHOD:/path", with decoy
//        headers that change every call); an empty line or EOF ends.
//
// Prints one JSON line per request: {method, path, status, bytes, ms, body,
// trailers, rstCode, localPort}, ms measured around the request (from just
// before session.request() to the stream's 'close'), and a last line
// {"done": true, "localPorts": [...]}.
const http2 = require('http2');
const crypto = require('crypto');
const readline = require('readline');
const {performance} = require('perf_hooks');

const [port, mode, ...args] = process.argv.slice(2);
const session = http2.connect(`https://127.0.0.1:${port}`, {rejectUnauthorized: false});
const localPorts = new Set();
let decoy = 0;

function fail(e) {
  process.stderr.write(`h2_client: ${e && e.stack || e}\n`);
  process.exit(1);
}
session.on('error', fail);

function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }

function parseReq(r) {
  const m = /^([A-Z]+):(\/.*)$/.exec(r);
  return m ? [m[1], m[2]] : ['GET', r];
}

// opts: body (Buffer), headers, onData(req, chunk) (e.g. to cancel)
function request(method, path, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const headers = {':method': method, ':path': path, ...(opts.headers || {})};
    const req = session.request(headers, {endStream: !opts.body});
    const res = {method, path, status: 0, bytes: 0, ms: 0, body: '', trailers: null, rstCode: 0};
    const chunks = [];
    req.on('response', (h) => { res.status = h[':status']; res.openStreams = h['x-open-streams']; });
    req.on('trailers', (t) => { res.trailers = {...t}; });
    req.on('data', (d) => {
      res.bytes += d.length;
      if (res.bytes <= 200) chunks.push(d);
      if (opts.onData) opts.onData(req, d);
    });
    req.on('error', (e) => { if (!opts.onData) reject(e); });
    req.on('close', () => {
      res.ms = performance.now() - t0;
      res.rstCode = req.rstCode;
      res.body = res.bytes <= 200 ? Buffer.concat(chunks).toString() : '';
      res.localPort = session.socket ? session.socket.localPort : null;
      if (res.localPort) localPorts.add(res.localPort);
      resolve(res);
    });
    if (opts.body) req.end(opts.body);
  });
}

async function seq(reqs, withDecoys) {
  for (const r of reqs) {
    const [m, p] = parseReq(r);
    const headers = {};
    if (withDecoys) {
      // custom headers are added to the HPACK dynamic table (nghttp2 indexes
      // them), with values that look like paths, hosts and methods
      decoy++;
      headers['x-decoy-path'] = `/h2/decoy/${decoy}`;
      headers['x-decoy-host'] = `decoy${decoy}.example:${port}`;
      headers['x-decoy-method'] = decoy % 2 ? 'PATCH' : 'OPTIONS';
    }
    out(await request(m, p, {headers, body: m === 'GET' || m === 'HEAD' ? null : Buffer.from('x=1')}));
  }
}

async function main() {
  await new Promise((resolve) => session.once('connect', resolve));
  localPorts.add(session.socket.localPort);
  if (mode === 'get') {
    for (const r of await Promise.all(args.map((a) => request(...parseReq(a))))) out(r);
  } else if (mode === 'seq') {
    await seq(args, false);
  } else if (mode === 'many') {
    const n = +args[0];
    const g = args[1];
    const ps = [];
    for (let i = 0; i < n; i++) ps.push(request('GET', `/h2/gate/${i}?n=${n}&g=${g}`));
    for (const r of await Promise.all(ps)) out(r);
  } else if (mode === 'post') {
    const body = crypto.randomBytes(+args[0]);
    out(await request('POST', args[1], {body}));
  } else if (mode === 'reset') {
    out(await request('GET', args[0], {
      onData: (req) => { if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL); },
    }));
    out(await request('GET', args[1]));
  } else if (mode === 'preopen') {
    await seq(['PUT:/h2/pre/before/put', '/h2/pre/before/get'], true);
    out({opened: true, localPort: session.socket.localPort});
    const rl = readline.createInterface({input: process.stdin});
    for await (const line of rl) {
      if (!line.trim()) break;
      await seq(line.trim().split(/\s+/), true);
      out({batch: true});
    }
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  out({done: true, localPorts: [...localPorts]});
  session.close();
}

main().catch(fail);
