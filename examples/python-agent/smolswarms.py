"""smolswarms: join a SmolSwarms swarm from Python, standard library only.

swarmd starts every agent with a socket on fd $SMOLSWARMS_FD. An agent
started with ``protocol = "jsonl"`` in its swarm spec speaks newline-delimited
JSON on it (docs/jsonl-protocol.md); this module is that protocol as a few
methods::

    import smolswarms

    agent = smolswarms.Agent()
    me = agent.hello()

    @agent.on_message
    def handle(msg):
        if msg.kind == "request":
            agent.reply(msg.request_id, "re: " + msg.payload)

    agent.broadcast("hello", "hi from " + me["agent_id"])
    agent.run()   # serves messages and vibe checks until shutdown

Everything happens on the thread that calls the methods: no background
thread, no locks. While a call waits for swarmd's answer, vibe checks are
answered at once (an agent busy in a long request still says how it is) and
messages are kept for later, except in ``request()`` and ``run()``, which
hand them to the message handler as they come. So a handler runs only at
points where the agent is waiting anyway, and may itself make calls.
"""

import json
import os
import socket
import sys
import traceback
from collections import deque

__all__ = ["Agent", "Message", "SmolError"]

TIERS = ("short_term", "working", "long_term")


class SmolError(Exception):
    """swarmd refused an operation; str(e) is its message.

    Also raised when the connection to swarmd is gone.
    """


class Message:
    """A message delivered to this agent.

    kind is "dm", "broadcast", "request" (answer it with Agent.reply and
    request_id) or "undeliverable" (one of this agent's own messages came
    back; reason says why). sender is the sending agent's id, or "operator"
    for swarmctl.
    """

    __slots__ = ("kind", "sender", "topic", "payload", "request_id", "reason")

    def __init__(self, line):
        self.kind = line.get("kind", "")
        self.sender = line.get("from", "")
        self.topic = line.get("topic", "")
        self.payload = line.get("payload", "")
        self.request_id = line.get("request_id")
        self.reason = line.get("reason", "")

    def __repr__(self):
        return "Message(%s from %s [%s]: %r)" % (self.kind, self.sender, self.topic,
                                                  self.payload[:60])


class Agent:
    """One agent's connection to swarmd.

    Use it from one thread. Call hello() first, then anything else; run()
    serves until swarmd asks the agent to stop (or goes away).
    """

    def __init__(self, fd=None):
        """Takes the socket swarmd gave this process (fd defaults to $SMOLSWARMS_FD)."""
        if fd is None:
            if "SMOLSWARMS_FD" not in os.environ:
                raise SmolError("SMOLSWARMS_FD is not set: run this agent from a swarm spec")
            fd = int(os.environ["SMOLSWARMS_FD"])
        self._sock = socket.socket(fileno=fd)
        self._reader = self._sock.makefile("rb")
        self._next_id = 0
        self._answers = {}       # id -> answer line, read while waiting for another id
        self._inbox = deque()    # messages read while not dispatching
        self._on_message = None
        self._on_vibe = None
        self.shutting_down = False
        self.shutdown_deadline_ms = None
        self.agent_id = ""
        self.swarm = ""
        self.role = ""
        self.index = 0
        self.peers = []
        self.permissions = {}

    # -- handlers -------------------------------------------------------------

    def on_message(self, handler):
        """Sets handler(Message) for every message; returns it (usable as a decorator).

        A request whose handler raises is answered with the exception's text
        as an error; the traceback goes to stderr, and the agent carries on.
        """
        self._on_message = handler
        return handler

    def on_vibe(self, handler):
        """Sets handler() answering vibe checks; returns it (usable as a decorator).

        It returns (health, note) or just health, health being "ok",
        "degraded" or "failing". Without one, the agent answers "ok". A
        handler that raises answers "failing" with the exception's text.
        """
        self._on_vibe = handler
        return handler

    # -- joining --------------------------------------------------------------

    def hello(self, role=None):
        """Joins the swarm; returns swarmd's answer (agent_id, swarm, role, index, peers, permissions).

        The answer's fields are also kept as attributes of the Agent.
        """
        fields = {} if role is None else {"role": role}
        me = self._call("hello", fields)
        self.agent_id = me.get("agent_id", "")
        self.swarm = me.get("swarm", "")
        self.role = me.get("role", "")
        self.index = me.get("index", 0)
        self.peers = me.get("peers", [])
        self.permissions = me.get("permissions", {})
        return me

    # -- messaging ------------------------------------------------------------

    def send(self, to, payload, topic=""):
        """Sends a direct message to an agent id or "role/index"; returns once swarmd queued it.

        A message that cannot be delivered after all comes back to the
        message handler as kind "undeliverable".
        """
        self._call("send", {"to": to, "topic": topic, "payload": payload})

    def broadcast(self, topic, payload):
        """Sends to every other agent of the swarm; returns (recipients, refused ids).

        Agents whose queue was full are skipped, not waited for: they are
        the refused ids.
        """
        ok = self._call("broadcast", {"topic": topic, "payload": payload})
        return ok.get("recipients", 0), ok.get("refused", [])

    def request(self, to, payload, topic="", deadline_ms=0):
        """Asks another agent and returns its reply's payload (deadline_ms 0: swarmd's 30 s).

        Messages that arrive meanwhile go to the message handler. Raises
        SmolError if the request fails, times out or is answered with an error.
        """
        fields = {"to": to, "topic": topic, "payload": payload}
        if deadline_ms:
            fields["deadline_ms"] = int(deadline_ms)
        return self._call("request", fields, dispatch=True).get("payload", "")

    def reply(self, request_id, payload):
        """Answers the request with this request_id."""
        self._call("reply", {"request_id": request_id, "payload": payload})

    def reply_error(self, request_id, error):
        """Answers the request with this request_id with an error; the asker's request fails with it."""
        self._call("reply", {"request_id": request_id, "error": str(error)})

    # -- memory ---------------------------------------------------------------
    # Tiers: "short_term" (this agent's own, expires), "working" (the swarm's),
    # "long_term". What a role may read or write is its [agents.permissions].

    def mem_put(self, tier, key, value, tags=None, ttl_ms=None):
        """Stores value under key; returns once it is durable."""
        fields = {"tier": tier, "key": key, "value": value}
        if tags:
            fields["tags"] = list(tags)
        if ttl_ms:
            fields["ttl_ms"] = int(ttl_ms)
        self._call("mem.put", fields)

    def mem_get(self, tier, key):
        """Returns the entry (a dict: value, tags, writer, ...) or None if there is none."""
        ok = self._call("mem.get", {"tier": tier, "key": key})
        return ok.get("entry") if ok.get("found") else None

    def mem_delete(self, tier, key):
        """Removes the entry under key, if any."""
        self._call("mem.delete", {"tier": tier, "key": key})

    def mem_list(self, tier, prefix="", start_after="", limit=0):
        """Returns (entries without values, next_start_after); pass the latter back for the next page."""
        fields = {"tier": tier}
        if prefix:
            fields["prefix"] = prefix
        if start_after:
            fields["start_after"] = start_after
        if limit:
            fields["limit"] = int(limit)
        ok = self._call("mem.list", fields)
        return ok.get("entries", []), ok.get("next_start_after", "")

    def mem_recall(self, query, k=0, tiers=None, tags=None):
        """Returns the entries best matching query: a list of {"score", "entry"}, best first."""
        fields = {"query": query}
        if k:
            fields["k"] = int(k)
        if tiers:
            fields["tiers"] = list(tiers)
        if tags:
            fields["tags"] = list(tags)
        return self._call("mem.recall", fields).get("hits", [])

    def mem_consolidate(self, tier, key, to=None):
        """Moves an entry up a tier (to the next one, or `to`); returns the entry."""
        fields = {"tier": tier, "key": key}
        if to:
            fields["to"] = to
        return self._call("mem.consolidate", fields).get("entry")

    # -- serving --------------------------------------------------------------

    def run(self):
        """Serves messages and vibe checks until swarmd asks the agent to stop or goes away.

        Returns then; the agent should finish up and exit within
        shutdown_deadline_ms.
        """
        while not self.shutting_down:
            if self._inbox:
                self._dispatch(self._inbox.popleft())
                continue
            line = self._read()
            if line is None:
                return
            self._handle(line, dispatch=True)

    def close(self):
        """Closes the connection (swarmd sees the agent leave)."""
        try:
            self._reader.close()
        finally:
            self._sock.close()

    # -- internals ------------------------------------------------------------

    def _call(self, op, fields, dispatch=False):
        # Sends one line with a fresh id and waits for its answer. Lines read
        # meanwhile are answers to outer calls (kept), vibe checks (answered)
        # or messages (dispatched, or kept for later).
        self._next_id += 1
        call_id = self._next_id
        line = {"op": op, "id": call_id}
        line.update(fields)
        self._write(line)
        while call_id not in self._answers:
            if dispatch and self._inbox:
                self._dispatch(self._inbox.popleft())
                continue
            got = self._read()
            if got is None:
                raise SmolError("%s: swarmd closed the connection" % op)
            self._handle(got, dispatch)
        answer = self._answers.pop(call_id)
        if answer.get("op") == "error":
            raise SmolError(answer.get("error", "%s failed" % op))
        return answer

    def _handle(self, line, dispatch):
        op = line.get("op")
        if op in ("ok", "error"):
            if line.get("id") is not None:
                self._answers[line["id"]] = line
            else:
                # A failure of a line that had no id: nothing waits for it.
                sys.stderr.write("smolswarms: swarmd: %s\n" % line.get("error", line))
                sys.stderr.flush()
        elif op == "message":
            msg = Message(line)
            if dispatch and not self._inbox:
                self._dispatch(msg)
            else:
                self._inbox.append(msg)
        elif op == "vibe":
            self._answer_vibe(line.get("id"))
        elif op == "shutdown":
            self.shutting_down = True
            self.shutdown_deadline_ms = line.get("deadline_ms")
        # Anything else is from a newer swarmd; ignore it.

    def _dispatch(self, msg):
        if self._on_message is None:
            if msg.kind == "request":
                self._try_reply_error(msg.request_id, "this agent takes no requests")
            return
        try:
            self._on_message(msg)
        except Exception as e:  # the agent keeps serving; the asker hears why
            self._report()
            if msg.kind == "request":
                self._try_reply_error(msg.request_id, "%s: %s" % (type(e).__name__, e))

    def _try_reply_error(self, request_id, error):
        try:
            self.reply_error(request_id, error)
        except SmolError:
            pass  # answered already, or the asker gave up

    def _answer_vibe(self, vibe_id):
        health, note = "ok", ""
        if self._on_vibe is not None:
            try:
                got = self._on_vibe()
                if isinstance(got, tuple):
                    health, note = got[0], (got[1] if len(got) > 1 else "")
                else:
                    health = got
            except Exception as e:
                health, note = "failing", "%s: %s" % (type(e).__name__, e)
        self._write({"op": "vibe", "id": vibe_id, "health": str(health), "note": str(note or "")})

    def _report(self):
        traceback.print_exc(file=sys.stderr)
        sys.stderr.flush()

    def _write(self, line):
        data = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        try:
            self._sock.sendall(data)
        except OSError as e:
            raise SmolError("swarmd closed the connection: %s" % e)

    def _read(self):
        # One line from swarmd as a dict; None at end of file.
        while True:
            try:
                raw = self._reader.readline()
            except OSError:
                return None
            if not raw:
                return None
            if not raw.endswith(b"\n"):
                return None  # cut off: the connection is gone
            raw = raw.strip()
            if not raw:
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                sys.stderr.write("smolswarms: swarmd sent a line that is not JSON: %r\n" % raw[:200])
                continue
            if isinstance(line, dict):
                return line
