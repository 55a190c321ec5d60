#!/usr/bin/env python3
"""jsonl_probe: a test agent that speaks the jsonl protocol by hand (the python agent tests).

It says hello, then writes each argument as one raw line on its connection to
swarmd and prints what comes back, then serves (answering vibe checks) until
shut down, printing every line it reads. Lines from swarmd are printed as
"got " and the JSON re-encoded compactly with sorted keys, so that tests can
look for e.g. '"id":9,"op":"error"'.

    jsonl_probe.py [--with-hello LINE | --reset] [LINE | --endless BYTES | --await | --stall]...

    LINE             written as it is, plus "\\n"; the probe then prints what
                     swarmd sends until an ok or error line
    --endless BYTES  writes BYTES bytes of "x" and no newline: a line too long
                     for swarmd, which stops the probe
    --await          waits for a message (e.g. swarmctl dm) before going on
    --stall          stops reading for good (until it is killed)
    --with-hello L   first: writes hello and L in one write, then prints what
                     swarmd sends until both are answered
    --reset          first: writes hello, and once its answer has arrived,
                     closes the connection without reading it (so the kernel
                     resets it), then keeps running until it is killed
"""

import json
import os
import select
import signal
import socket
import sys


def say(text):
    print(text, flush=True)


def main(args):
    sock = socket.socket(fileno=int(os.environ["SMOLSWARMS_FD"]))
    reader = sock.makefile("rb")

    def read():
        raw = reader.readline()
        if not raw:
            return None
        try:
            line = json.loads(raw)
        except ValueError:
            say("got not json: %r" % raw[:200])
            return {}
        say("got " + json.dumps(line, sort_keys=True, separators=(",", ":")))
        return line

    def answer(line):
        # Answers what needs an answer; True once swarmd asks the probe to stop.
        if not isinstance(line, dict):
            return False
        if line.get("op") == "vibe":
            sock.sendall(b'{"op":"vibe","id":%d,"health":"ok","note":"probing"}\n' % line["id"])
        return line.get("op") == "shutdown"

    def until_answered():
        while True:
            line = read()
            if line is None:
                say("connection closed")
                sys.exit(0)
            if answer(line):
                say("shutdown")
                sys.exit(0)
            if isinstance(line, dict) and line.get("op") in ("ok", "error"):
                return

    hello = b'{"op":"hello","id":1}\n'
    if args and args[0] == "--reset":
        sock.sendall(hello)
        select.select([sock], [], [])
        reader.close()  # the fd closes with the last of its users
        sock.close()
        say("closed with the answer unread")
        while True:
            signal.pause()
    if args and args[0] == "--with-hello":
        say("sent with hello " + args[1])
        sock.sendall(hello + args[1].encode("utf-8") + b"\n")
        until_answered()
        until_answered()
        args = args[2:]
    else:
        sock.sendall(hello)
        until_answered()
    i = 0
    while i < len(args):
        if args[i] == "--endless":
            size = int(args[i + 1])
            say("writing %d bytes without a newline" % size)
            try:
                sock.sendall(b"x" * size)
            except OSError as e:
                say("write failed: %s" % e)
            i += 2
            continue
        if args[i] == "--stall":
            say("reading no more")
            while True:
                signal.pause()
        if args[i] == "--await":
            say("awaiting a message")
            while True:
                line = read()
                if line is None:
                    say("connection closed")
                    return 0
                if answer(line):
                    say("shutdown")
                    return 0
                if isinstance(line, dict) and line.get("op") == "message":
                    break
            i += 1
            continue
        say("sent " + args[i])
        sock.sendall(args[i].encode("utf-8") + b"\n")
        until_answered()
        i += 1
    say("probe done")
    while True:
        line = read()
        if line is None:
            say("connection closed")
            return 0
        if answer(line):
            say("shutdown")
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
