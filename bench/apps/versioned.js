'use strict';
// Reads VERSION_FILE once at start; the content "throw" makes it fail at boot,
// anything else is served back after 20 ms.
const fs = require('node:fs');
const http = require('node:http');
const version = fs.readFileSync(process.env.VERSION_FILE, 'utf8').trim();
if (version === 'throw') throw new Error(`bench: broken version requested in ${process.env.VERSION_FILE}`);
http
  .createServer((req, res) => {
    setTimeout(() => res.end(version), 20);
  })
  .listen(Number(process.env.PORT) || 3000);
