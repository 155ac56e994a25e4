'use strict';
// HTTP/2-only TLS server for the e2e tests (node's built-in http2, whose
// OpenSSL is inside the node executable): node h2_server.js CERT KEY LOG
//
// Listens on 127.0.0.1 (port chosen by the kernel), prints "PORT <n>", and
// appends "<:method> <:authority> <:path>" to LOG for every stream it gets.
// A TLS *server*: the daemon must never report anything for this process.
//
// Routes (the query string is always allowed and ignored unless named):
//   /h2/echo          any method: reads the whole body, answers its size ("<n>\n")
//   /h2/slow?ms=N     answers after N ms
//   /h2/trailers      headers, a body, then trailers (END_STREAM on the trailers)
//   /h2/hold?ms=N     headers and a first DATA chunk at once, the end after N ms
//                     (a client can reset the stream in between)
//   /h2/gate/...?n=N&g=G  held until N streams of gate G are open at the same
//                     time, then all answered (503 if that takes over 8 s)
//   /h2/big?size=N    N bytes of body
//   anything else     200 "hello from h2\n"
const http2 = require('http2');
const fs = require('fs');

const [certFile, keyFile, logFile] = process.argv.slice(2);
const log = fs.openSync(logFile, 'a');
const gates = new Map();

const server = http2.createSecureServer({
  cert: fs.readFileSync(certFile),
  key: fs.readFileSync(keyFile),
  allowHTTP1: false,
  settings: {maxConcurrentStreams: 1000},
});

function reply(stream, status, body, extra) {
  if (stream.destroyed || stream.closed) return;
  stream.respond({':status': status, 'content-type': 'text/plain', ...(extra || {})});
  stream.end(body);
}

server.on('sessionError', () => {});
server.on('stream', (stream, headers) => {
  const method = headers[':method'];
  const path = headers[':path'];
  fs.writeSync(log, `${method} ${headers[':authority']} ${path}\n`);
  stream.on('error', () => {});
  const url = new URL(path, 'https://server.invalid');
  const q = url.searchParams;
  const p = url.pathname;

  if (p === '/h2/echo') {
    let n = 0;
    stream.on('data', (d) => { n += d.length; });
    stream.on('end', () => reply(stream, 200, `${n}\n`));
    return;
  }
  stream.resume(); // any other request body is read and dropped
  if (p === '/h2/slow') {
    setTimeout(() => reply(stream, 200, 'slow\n'), +(q.get('ms') || 300));
  } else if (p === '/h2/trailers') {
    stream.respond({':status': 200, 'content-type': 'text/plain'}, {waitForTrailers: true});
    stream.on('wantTrailers', () => stream.sendTrailers({'x-checksum': 'c0ffee', 'x-rows': '3'}));
    stream.end('a body followed by trailers\n');
  } else if (p === '/h2/hold') {
    stream.respond({':status': 200, 'content-type': 'text/plain'});
    stream.write('first part\n');
    const t = setTimeout(() => { if (!stream.closed) stream.end('last part\n'); }, +(q.get('ms') || 3000));
    stream.on('close', () => clearTimeout(t));
  } else if (p.startsWith('/h2/gate/')) {
    const g = q.get('g') || '';
    const n = +(q.get('n') || 1);
    let gate = gates.get(g);
    if (!gate) {
      gate = {pending: [], timer: null};
      gate.timer = setTimeout(() => {
        gates.delete(g);
        for (const s of gate.pending) reply(s, 503, 'gate timeout\n');
      }, 8000);
      gates.set(g, gate);
    }
    gate.pending.push(stream);
    if (gate.pending.length >= n) {
      clearTimeout(gate.timer);
      gates.delete(g);
      const open = gate.pending.filter((s) => !s.closed).length;
      for (const s of gate.pending) reply(s, 200, `${open}\n`, {'x-open-streams': String(open)});
    }
  } else if (p === '/h2/big') {
    reply(stream, 200, Buffer.alloc(+(q.get('size') || 1000000), 'b'));
  } else {
    reply(stream, 200, 'hello from h2\n');
  }
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`PORT ${server.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
