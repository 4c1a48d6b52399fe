// `npm run demo` runs this with `herd run` in the foreground: the demo API on
// every core, sharing port 3000, and the web dashboard on 127.0.0.1:9414 (its
// URL, with the access token, is printed at start). Try
// `curl localhost:3000/users/1`, then in another shell
// `node dist/cli/main.js list` and `node dist/cli/main.js reload hello-api`.
module.exports = {
  dashboard: { port: 9414 },
  apps: [
    {
      name: 'hello-api',
      script: './server.js',
      instances: 'max',
      env: { PORT: 3000 },
      killTimeout: '5s',
    },
  ],
};
