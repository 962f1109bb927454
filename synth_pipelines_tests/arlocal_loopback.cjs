// Starts arlocal (the Arweave test node) bound to one host, 127.0.0.1 unless told otherwise.
// arlocal's own CLI calls koa's app.listen(port), which binds every interface and has no host
// option; this launcher builds the same ArLocal object and swaps in a listen() that passes the host.
// Usage: ARLOCAL_MODULE=<dir>/node_modules/arlocal node arlocal_loopback.cjs PORT [HOST]
// Run it in a scratch folder: arlocal writes ./logs (request lines) and its database (./db) there.
'use strict';
const http = require('http');
const path = require('path');

const port = Number(process.argv[2] || 1984);
const host = process.argv[3] || '127.0.0.1';
const ArLocal = require(process.env.ARLOCAL_MODULE || 'arlocal').default;

// showLogs = false: arlocal otherwise prints every posted transaction, its data included.
const arlocal = new ArLocal(port, false, path.join(process.cwd(), 'db'), false, 0);
arlocal.app.listen = function listen(p, callback) {
  const server = http.createServer(this.callback());
  return server.listen(p, host, () => {
    console.log(`arlocal listening on http://${host}:${p}`);
    if (callback) callback();
  });
};

arlocal.start().then(() => {
  arlocal.getServer().on('error', (err) => { console.error(`arlocal: ${err.message}`); process.exit(1); });
});

function stop() { arlocal.stop().finally(() => setTimeout(() => process.exit(0), 200)); }
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
