// A small JSON API with no herd-specific code: herd clusters it as it is.
const http = require('node:http');

const port = Number(process.env.PORT || 3000);
const users = new Map([['1', { id: '1', name: 'Ada' }], ['2', { id: '2', name: 'Grace' }]]);

const server = http.createServer((req, res) => {
  const match = /^\/users\/([^/]+)$/.exec(req.url || '');
  if (req.url === '/') return send(res, 200, { hello: 'world', pid: process.pid });
  if (match) {
    const user = users.get(match[1]);
    return user ? send(res, 200, user) : send(res, 404, { error: 'no such user' });
  }
  send(res, 404, { error: 'not found' });
});

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

server.listen(port, () => console.log(`hello-api worker ${process.pid} listening on ${port}`));
