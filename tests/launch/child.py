#!/usr/bin/env python3
"""child.py - a stand-in for etcd under etcd-medic-launch, for the tests of
the launcher's own behaviour.  Stdlib only.

It appends to the file $CHILD_RECORD one line per event:
  start {"argv": [...], "env": {...}}   its arguments and the ETCD_MEDIC_*
                                        variables it was given
  signal NAME                   a signal it received
and then waits for signals.  $CHILD_ON says what each signal does, as
comma-separated NAME=ACTION (default: TERM=exit0,INT=record,HUP=record,
QUIT=record), ACTION one of
  record  write it down and keep running
  exit0   write it down and exit with status 0 (as etcd after a clean stop)
  die     write it down and die of that very signal (as etcd 3.4 does after
          its clean stop: it re-raises the signal)
With CHILD_ORPHAN=1 it first leaves an orphan behind: a grandchild whose
parent exits at once and which itself exits after 0.3 s, so that it is
reparented to the launcher (a subreaper, or PID 1) which must reap it.
"""

import json
import os
import signal
import sys
import time

RECORD = os.environ["CHILD_RECORD"]


def record(line):
    with open(RECORD, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def make_orphan():
    pid = os.fork()
    if pid == 0:
        if os.fork() == 0:
            time.sleep(0.3)
            os._exit(0)
        os._exit(0)
    os.waitpid(pid, 0)


def main():
    actions = {"TERM": "exit0", "INT": "record", "HUP": "record", "QUIT": "record"}
    for item in filter(None, os.environ.get("CHILD_ON", "").split(",")):
        name, action = item.split("=", 1)
        actions[name] = action

    def handler(signo, _frame):
        name = signal.Signals(signo).name[3:]
        record("signal " + name)
        action = actions.get(name, "record")
        if action == "exit0":
            sys.exit(0)
        if action == "die":
            signal.signal(signo, signal.SIG_DFL)
            os.kill(os.getpid(), signo)
            time.sleep(5)

    for name in actions:
        signal.signal(getattr(signal, "SIG" + name), handler)
    if os.environ.get("CHILD_ORPHAN") == "1":
        make_orphan()
    env = {k: v for k, v in os.environ.items() if k.startswith("ETCD_MEDIC")}
    record("start " + json.dumps({"argv": sys.argv[1:], "env": env}))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
