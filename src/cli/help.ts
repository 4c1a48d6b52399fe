export const HELP = `herd: run a Node.js API on every core, keep it alive, reload it with zero failed requests

usage: herd <command> [options]

apps
  start <script|config> [--name N] [-i N|max] [--env E] [--only a,b] [-- app args]
        [--node-args "ARGS"] [--watch] [--max-memory-restart 512M] [-x | --exec-mode fork|cluster]
                          start an app (or every app in a config); starts the daemon if needed.
                          An app that runs already is left as it is (the options given are
                          named as ignored, with the command that applies them)
  start <name|all>        start a listed app that is stopped, as it was
  run <script|config>     the same supervisor in the foreground (containers, systemd):
                          SIGTERM/SIGINT drain every app and exit 0, SIGHUP reloads
  stop <name|all>         drain and stop the workers; the app stays listed
  restart <name|all> [--update-env] [--env E]
                          stop every worker, then start new ones (connections queue meanwhile);
                          --update-env: with the CLI's environment and the config re-read
  reload <name|all> [--update-env] [--env E]
                          rolling reload: new worker first, wait until ready, drain the old one;
                          re-reads the app's config file
  reload <config>, restart <config>
                          the same for the file's apps, file re-read (as startOrReload/startOrRestart)
  startOrReload <config>, startOrRestart <config> [start options] [--update-env]
                          start the file's apps that are not running, reload (restart) the others
  delete <name|all>       stop and forget an app
  scale <name> <N|+N|-N|auto>
                          set or change the number of workers (fixed); auto: size it between
                          instances { min, max } again (docs/autoscaling.md)
  reset <name|all>        set the restart counters back to 0
  sendSignal <signal> <name> [--worker ID]
                          send a signal (SIGUSR2, usr2, 12) to every worker of the app, or to one

inspect
  list [--json]           apps and their workers (alias: ls)
  jlist                   the processes as JSON in PM2's jlist shape (pm_id, name, pid, pm2_env.status...)
  pid [name]              the pids of the app's processes (or of every app), one a line
  describe <name> [--json] details, recent events and the last stderr of a crashed worker
                          (aliases: show, info, desc)
  env <name> [--json]     the environment of the app's workers, values as they are (secrets too)
  metrics <name> [--json] [--worker ID]
                          requests, latency, routes, status codes, event loop, CPU, memory,
                          custom metrics; of the app, or of one worker
  monit                   live view of every app and worker (arrows or j/k move, q quits)
  jobs [--json]           every job (app key cron): schedule, next tick, the last runs with exit
                          codes, skipped ticks (overlap, redis unavailable, missed, another host)
  profile <name> [--worker ID|all] [--duration 10s] [--out DIR] [--json]
                          CPU profile of a running worker (the first online one by default; all:
                          every worker at once) through its inspector: a .cpuprofile (DevTools,
                          speedscope) and a flame-graph page per worker, and the top functions
                          by self time
  bench <name> [--path /x] [-c 50] [-d 30s] [--rate R] [--expect 'p99<200ms,errors<0.1%']
        [--report FILE] [--port P] [--json]
                          load test the app's port with each worker's CPU, ELU, loop delay, heap,
                          GC and restarts per second; writes an HTML report; exit 1 when an
                          --expect threshold fails
  heap <name> [--worker ID] [--out FILE] [--diff 60s] [--force] [--json]
                          heap snapshot of a worker (out of rotation meanwhile), written 0600 for
                          Chrome DevTools; --diff 60s: two snapshots that far apart and the
                          constructors that grew (--out DIR keeps both files)
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
  save [--force]          write every listed app (settings, env, workers) to $HERD_HOME/dump.herd.json;
                          an empty list only with --force (alias: dump)
  resurrect               start the dump's apps that were not stopped on purpose and are not running
                          (without a dump: the apps herd remembers); a bad dump changes nothing
  kill                    stop every app and the daemon; the app list is kept (herd resurrect)
  fleet status [--json]   every host of the fleet (config key fleet: Redis), its apps, and totals per app
  fleet reload <app> [--batch N] [--drain] [--expect-revision R] [--settle 10s] [--host H]
                          rolling reload host by host; stops at the first host that fails
  fleet restart|stop|start <app> [--host H]   the verb on every host that runs the app
  fleet scale <app> <N> [--host H]
  lb haproxy <app> [--port P] [--backend B] [--socket S]
                          print an HAProxy config for the app's hosts from the fleet registry: a server
                          per host, checks on herd's /ready, runtime API on S (/run/haproxy/admin.sock)
  lb haproxy <app> --sync [--once] [--socket S] [--backend B]
                          keep a running HAProxy's backend in step with the registry (runtime API, no
                          reload): hosts that join are added, hosts gone are removed; each second, or once
  lb nginx <app> [--port P] [--static DIR] [--static-prefix /static/]
                          print an nginx config for the app's hosts; nginx serves DIR itself
  update                  replace the running daemon by the herd installed now (after npm i -g);
                          every app keeps its workers, pids and sockets: nothing is restarted
  chaos <name> [--every 2s] [--for 1m] [--kill worker|daemon|both] [--signal KILL|STOP] [--seed N]
        [-c 50] [--baseline 5s] [--url URL | --no-probe] [--expect 99.9%] [--timeout 10s] [--json]
                          kill workers (and the daemon) at random under probe traffic, then report
                          availability, errors, lost requests and recovery per kill; exit 1 below
                          --expect, on a kill not recovered or an app errored
  daemon                  start the daemon in the background without apps; exits once it answers
                          (an error when one runs already)
  startup [systemd] [--user U] [--print]
                          write /etc/systemd/system/herd-U.service (as root): the daemon of U's
                          HERD_HOME at boot, with the apps saved by herd save; --print shows it
  unstartup [systemd] [--user U]
                          stop, disable and remove that unit

options
  a command accepts only the options listed with it; any other is an error (exit 2)
  --json                  machine-readable output on read commands
  PM2 spellings           -n (--name), -a (--update-env), -x (fork mode), --max-memory-restart=200M
  -h, --help              this help;  -v, --version  herd's version

environment
  HERD_HOME               state directory (default ~/.herd)
  HERD_LOG_DIR            app log directory (default $HERD_HOME/logs)

exit codes: 0 ok, 1 operation failed, 2 bad usage or config
`;
