// Workaround MANAGER_LOOPBACK_NNI30 (nni==3.0), see backends/nni/web_workarounds.py.
//
// NNI 3.0's Node.js manager calls `app.listen(port)` (nni_node/rest_server/index.js)
// with no host, so Node binds every interface (`*:PORT`), and its REST API has no
// authentication; main.js accepts no host argument (its yargs parser is strict).
// Loaded before main.js with `node --require` (through NODE_OPTIONS), this script
// makes every server that would listen on all interfaces listen on
// $UNAS_NNI_MANAGER_HOST (default 127.0.0.1) instead. A server given an explicit,
// specific host keeps it; Unix sockets and inherited handles are left alone.
'use strict';

const net = require('net');

const HOST = process.env.UNAS_NNI_MANAGER_HOST || '127.0.0.1';
const WILDCARDS = new Set([undefined, null, '', '0.0.0.0', '::']);
const originalListen = net.Server.prototype.listen;

function isPort(value) {
  return value === undefined || value === null || typeof value === 'number'
    || (typeof value === 'string' && /^\d+$/.test(value));
}

// http.Server and https.Server inherit this method, so express's app.listen goes through it.
net.Server.prototype.listen = function listenOnHost(...args) {
  const first = args[0];
  if (isPort(first)) {
    // listen(port[, host][, backlog][, callback]); no port means a random one
    if (first === undefined || first === null) args[0] = 0;
    if (typeof args[1] === 'string' || args[1] === null) {
      if (WILDCARDS.has(args[1])) args[1] = HOST;
    } else {
      args.splice(1, 0, HOST);
    }
  } else if (first && typeof first === 'object' && first.path === undefined && first.fd === undefined
             && first._handle === undefined && first.handle === undefined && WILDCARDS.has(first.host)) {
    // listen({port, host, ...}[, callback])
    args[0] = { ...first, host: HOST };
  }
  return originalListen.apply(this, args);
};
