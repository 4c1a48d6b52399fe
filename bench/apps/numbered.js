'use strict';
// Answers 200 and prints `pid=<pid> n=<k>` every 5 ms (k = 1, 2, 3, ...), so a
// log file shows any line lost or written twice. PORT comes from the environment.
const http = require('node:http');
let n = 0;
setInterval(() => console.log(`pid=${process.pid} n=${++n}`), 5);
http.createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT) || 3000);
