'use strict';
// Baseline: Node's own cluster module, a primary with WORKERS workers (default 2)
// running hello.js. Default scheduling (round-robin on Linux), as PM2 uses.
const cluster = require('node:cluster');
const path = require('node:path');
if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS) || 2;
  cluster.setupPrimary({ exec: path.join(__dirname, 'hello.js') });
  let ready = 0;
  for (let i = 0; i < n; i++) {
    cluster.fork().on('listening', () => {
      if (++ready === n) console.log(`node-cluster: ${n} workers listening`);
    });
  }
  cluster.on('exit', (w, code, signal) => console.error(`node-cluster: worker ${w.process.pid} exited (${signal || code})`));
  const stop = () => { for (const w of Object.values(cluster.workers)) w.kill(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
