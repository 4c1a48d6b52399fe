export const HELP = `herd: run a Node.js API on every core, keep it alive, reload it with zero failed requests

usage: herd <command> [options]

apps
  start <script|config> [--name N] [-i N|max] [--env E] [--only a,b] [-- app args]
                          start an app (or every app in a config); starts the daemon if needed
  run <script|config>     the same supervisor in the foreground (containers, systemd):
                          SIGTERM/SIGINT drain every app and exit 0, SIGHUP reloads
  stop <name|all>         drain and stop the workers; the app stays listed
  restart <name|all>      stop every worker, then start new ones (connections queue meanwhile)
  reload <name|all> [--update-env] [--env E]
                          rolling reload: new worker first, wait until ready, drain the old one;
                          re-reads the app's config file
  delete <name|all>       stop and forget an app
  scale <name> <N|+N|-N>  set or change the number of workers

inspect
  list [--json]           apps and their workers (alias: ls)
  describe <name> [--json] details, recent events and the last stderr of a crashed worker
  metrics <name> [--json] [--worker ID]
                          requests, latency, routes, status codes, event loop, CPU, memory,
                          custom metrics; of the app, or of one worker
  monit                   live view of every app and worker (arrows or j/k move, q quits)
  alerts [--json]         alert rules, the alerts firing now, and recent firing/resolved events
  dashboard [--port P] [--host H]
                          serve the web dashboard from the daemon (127.0.0.1:9414 by default)
                          and print its URL with the access token

logs
  logs [name] [--lines N] [-f|--follow] [--err|--out] [--grep RE] [--since 10m] [--json]
                          the last N lines (default 15) of every worker merged in time order,
                          then with --follow new lines as they come; --json: one object a line
  flush [name]            empty the log files of an app (or of every app)

daemon
  kill                    stop every app and the daemon

options
  --json                  machine-readable output on read commands
  -h, --help              this help;  -v, --version  herd's version

environment
  HERD_HOME               state directory (default ~/.herd)
  HERD_LOG_DIR            app log directory (default $HERD_HOME/logs)

exit codes: 0 ok, 1 operation failed, 2 bad usage or config
`;
