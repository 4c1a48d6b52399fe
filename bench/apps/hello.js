'use strict';
// Hello world: the smallest HTTP app. PORT comes from the environment.
const http = require('node:http');
http.createServer((req, res) => res.end('hello')).listen(Number(process.env.PORT) || 3000);
