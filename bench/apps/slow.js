'use strict';
// Answers after 20 ms, like an API doing a quick database call. No signal handling.
const http = require('node:http');
http
  .createServer((req, res) => {
    setTimeout(() => res.end('ok'), 20);
  })
  .listen(Number(process.env.PORT) || 3000);
