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

A swarm's lead splits the tasks it is given (``swarmctl task run``) into
subtasks that swarmd runs on its workers; the workers answer them::

    @lead.on_task
    def split(task):
        parts = lead.delegate([("part-%d" % i, chunk) for i, chunk in enumerate(chunks(task.input))])
        return "".join(r.result for r in parts if r.ok)   # results as they come

    @worker.on_subtask
    def work(subtask):
        subtask.progress(0.5, "half way")
        return subtask.input.upper()   # raising fails the attempt (swarmd may retry it)

Everything happens on the thread that calls the methods: no background
thread, no locks. While a call waits for swarmd's answer, vibe checks are
answered at once (an agent busy in a long request still says how it is) and
messages are kept for later, except in ``request()``, ``run()`` and while
waiting for a delegation's results, which hand them to the message handler
as they come. Tasks and subtasks are handled in ``run()``, one at a time, in
the order they came. So a handler runs only at points where the agent is
waiting anyway, and may itself make calls.
"""

import json
import os
import socket
import sys
import traceback
from collections import deque

__all__ = ["Agent", "Delegation", "Dropped", "Message", "Refusal", "Result", "SmolError",
           "Subtask", "Task"]

TIERS = ("short_term", "working", "long_term")


class SmolError(Exception):
    """swarmd refused an operation; str(e) is its message.

    Also raised when the connection to swarmd is gone.
    """


class Dropped(SmolError):
    """swarmd no longer wants the task or subtask being handled.

    It was cancelled, timed out, its task ended, or the agent is shutting
    down. Raised by the calls made for it (delegate, waiting for results,
    progress); let it end the handler: no answer is sent for it.
    """


def _as_text(value):
    # Payloads are strings: None is "", bytes are UTF-8, anything else is JSON.
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return json.dumps(value, ensure_ascii=False)


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


class Task:
    """A task for this agent, the swarm's lead (on_task).

    id ("t-00000000002a"), input, resumed (True: handed again after a
    restart; delegating the same keys again returns the outcomes already
    known), budget_tokens (0: none). dropped turns True once swarmd no
    longer wants an answer.
    """

    __slots__ = ("id", "input", "resumed", "budget_tokens", "dropped", "_agent")
    kind = "task"

    def __init__(self, agent, line):
        self._agent = agent
        self.id = line.get("task", "")
        self.input = line.get("input", "")
        self.resumed = bool(line.get("resumed", False))
        self.budget_tokens = line.get("budget_tokens", 0)
        self.dropped = False

    @property
    def task_id(self):
        return self.id

    def delegate(self, subtasks, role=None, timeout_ms=None, max_attempts=None):
        """Agent.delegate for this task."""
        return self._agent.delegate(subtasks, role, timeout_ms, max_attempts, on=self)

    def report_usage(self, model, input_tokens, output_tokens):
        """Agent.report_usage for this task."""
        self._agent.report_usage(model, input_tokens, output_tokens, task=self.id)

    def _ref(self):
        return {"task": self.id}

    def __repr__(self):
        return "Task(%s%s: %r)" % (self.id, ", resumed" if self.resumed else "", self.input[:60])


class Subtask:
    """A subtask for this agent, a worker (on_subtask).

    attempt (names this try), task_id, key (unique within the task), input,
    number (1 for the first attempt), timeout_ms (the attempt fails after
    it), can_delegate (whether it may delegate further: [tasks] max_depth).
    dropped turns True once swarmd no longer wants an answer.
    """

    __slots__ = ("attempt", "task_id", "key", "input", "number", "timeout_ms", "can_delegate",
                 "dropped", "_agent")
    kind = "subtask"

    def __init__(self, agent, line):
        self._agent = agent
        self.attempt = line.get("attempt", 0)
        self.task_id = line.get("task", "")
        self.key = line.get("key", "")
        self.input = line.get("input", "")
        self.number = line.get("number", 1)
        self.timeout_ms = line.get("timeout_ms", 0)
        self.can_delegate = bool(line.get("can_delegate", False))
        self.dropped = False

    def progress(self, fraction, note=""):
        """Tells swarmd (and `swarmctl task`) how far along it is: fraction 0..1 and a note.

        Raises Dropped once swarmd no longer wants the subtask, or the
        agent is shutting down: a cue to stop working on it.
        """
        if self.dropped:
            raise Dropped("subtask %s (attempt %d) was dropped" % (self.key, self.attempt))
        if self._agent.shutting_down:
            raise Dropped("the agent is shutting down")
        fields = {"attempt": self.attempt, "fraction": float(fraction)}
        if note:
            fields["note"] = str(note)
        self._agent._item_call(self, "subtask.progress", fields)

    def delegate(self, subtasks, role=None, timeout_ms=None, max_attempts=None):
        """Agent.delegate for this subtask (only if can_delegate)."""
        return self._agent.delegate(subtasks, role, timeout_ms, max_attempts, on=self)

    def report_usage(self, model, input_tokens, output_tokens):
        """Agent.report_usage for this subtask's task."""
        self._agent.report_usage(model, input_tokens, output_tokens, task=self.task_id)

    def _ref(self):
        return {"attempt": self.attempt}

    def __repr__(self):
        return "Subtask(%s/%s #%d: %r)" % (self.task_id, self.key, self.number, self.input[:60])


class Result:
    """The outcome of one delegated subtask.

    outcome is "succeeded" (ok is True; result is the worker's answer),
    "failed" (error is the last attempt's error) or "cancelled" (error says
    why); attempts is how many were made, worker who answered ("" if none).
    """

    __slots__ = ("key", "outcome", "result", "error", "attempts", "worker")

    def __init__(self, item):
        self.key = item.get("key", "")
        self.outcome = item.get("outcome", "")
        self.result = item.get("result", "")
        self.error = item.get("error", "")
        self.attempts = item.get("attempts", 0)
        self.worker = item.get("worker", "")

    @property
    def ok(self):
        return self.outcome == "succeeded"

    def __repr__(self):
        return "Result(%s %s: %r)" % (self.key, self.outcome,
                                      (self.result if self.ok else self.error)[:60])


class Refusal:
    """A subtask swarmd would not take: index and key in the delegate call, reason (one word) and message."""

    __slots__ = ("index", "key", "reason", "message")

    def __init__(self, item):
        self.index = item.get("index", 0)
        self.key = item.get("key", "")
        self.reason = item.get("reason", "")
        self.message = item.get("message", "")

    def __repr__(self):
        return "Refusal(%s %s: %s)" % (self.key, self.reason, self.message)


class Delegation:
    """Subtasks delegated together (Agent.delegate): their results, as they come.

    Iterating it yields a Result per subtask taken, in the order they
    finish, waiting for each (meanwhile the agent answers vibe checks and
    hands messages to the message handler); it ends once every one has
    come. refused lists the subtasks swarmd would not take; keys those it
    took; results maps each key to its Result once it has come.
    """

    def __init__(self, agent, owner, number, keys, refused):
        self._agent = agent
        self._owner = owner
        self.id = number
        self.refused = [Refusal(r) for r in refused]
        no = set(r.index for r in self.refused)
        self.keys = []
        for i, key in enumerate(keys):
            if i not in no and key not in self.keys:
                self.keys.append(key)
        self.results = {}
        self._waiting = set(self.keys)
        self._arrived = deque()

    @property
    def done(self):
        """True once every subtask's result has come."""
        return not self._waiting

    def __iter__(self):
        while True:
            if self._arrived:
                yield self._arrived.popleft()
            elif not self._waiting:
                return
            else:
                self._agent._await_results(self._owner)

    def wait(self):
        """Waits for every result; returns results (key -> Result)."""
        for _ in self:
            pass
        return self.results

    def cancel_remaining(self):
        """Cancels the subtasks without a result yet; returns how many.

        Each still comes as a Result, outcome "cancelled".
        """
        if not self._waiting:
            return 0
        return self._agent._item_call(self._owner, "task.cancel_remaining",
                                      {"delegation": self.id}).get("cancelled", 0)

    def _arrive(self, items):
        for item in items:
            r = Result(item)
            if r.key in self._waiting:
                self._waiting.discard(r.key)
                self.results[r.key] = r
                self._arrived.append(r)

    def __repr__(self):
        return "Delegation(%d: %d of %d in, %d refused)" % (
            self.id, len(self.results), len(self.keys), len(self.refused))


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
        self._on_task = None
        self._on_subtask = None
        self._work = deque()       # tasks and subtasks for run(), in order
        self._live = {}            # ("task", id) or ("attempt", n) -> Task or Subtask not yet answered
        self._current = []         # the items whose handlers run, innermost last
        self._delegations = {}     # delegation number -> Delegation waiting for results
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

    def on_task(self, handler):
        """Sets handler(Task) -> result for the tasks this agent (a lead) is given.

        It runs in run(), a task at a time: it may delegate (Agent.delegate
        or Task.delegate) and wait for the results, and returns the task's
        result (a str; None is "", anything else is sent as JSON). A handler
        that raises fails the task with the exception's text (Dropped: no
        answer). Returns handler (usable as a decorator).
        """
        self._on_task = handler
        return handler

    def on_subtask(self, handler):
        """Sets handler(Subtask) -> result for the subtasks this agent (a worker) is given.

        It runs in run(), a subtask at a time, may report progress
        (Subtask.progress), and returns the subtask's result as on_task's
        does. A handler that raises fails this attempt with the exception's
        text (swarmd may try it again on another worker).
        """
        self._on_subtask = handler
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

    # -- tasks ----------------------------------------------------------------

    def delegate(self, subtasks, role=None, timeout_ms=None, max_attempts=None, on=None):
        """Has swarmd run subtasks on workers; returns a Delegation to read their results from.

        subtasks: (key, input) or (key, input, to) tuples, or dicts with
        key, input and to; a key is unique within the task (delegating a key
        again gets its outcome, not a second run), input is a str (others
        as for results), to an agent id or "role/index" (else any worker of
        role, or of the swarm's worker roles). timeout_ms and max_attempts
        default to the swarm's [tasks] settings. on is the Task or Subtask
        it is for (default: the one being handled). Subtasks swarmd will not
        take are in the Delegation's refused, the others still go.
        """
        owner = on if on is not None else (self._current[-1] if self._current else None)
        if owner is None:
            raise SmolError("delegate: no task or subtask is being handled here: call it "
                            "from on_task or on_subtask, or pass on=")
        specs = []
        for s in subtasks:
            if isinstance(s, dict):
                key, value, to = s.get("key"), s.get("input"), s.get("to")
            else:
                key, value, to = (tuple(s) + (None, None))[:3]
            spec = {"key": str(key), "input": _as_text(value)}
            if to:
                spec["to"] = str(to)
            specs.append(spec)
        fields = owner._ref()
        fields["subtasks"] = specs
        if role:
            fields["role"] = role
        if timeout_ms:
            fields["timeout_ms"] = int(timeout_ms)
        if max_attempts:
            fields["max_attempts"] = int(max_attempts)
        ok = self._item_call(owner, "task.delegate", fields)
        d = Delegation(self, owner, ok.get("delegation", 0), [s["key"] for s in specs],
                       ok.get("refused", []))
        if not d.done:
            self._delegations[d.id] = d
        return d

    def report_usage(self, model, input_tokens, output_tokens, task=None):
        """Tells swarmd how many tokens a model call used, counted against the token budgets.

        task defaults to the task being handled (or, outside a handler, the
        only one this agent works on). Once a budget runs out, delegating
        is refused (budget_exceeded) and the task fails or pauses.
        """
        if task is None and self._current:
            task = self._current[-1].task_id
        fields = {"model": str(model), "input_tokens": int(input_tokens),
                  "output_tokens": int(output_tokens)}
        if task:
            fields["task"] = task
        self._call("usage", fields)

    # -- serving --------------------------------------------------------------

    def run(self):
        """Serves messages and vibe checks until swarmd asks the agent to stop or goes away.

        Returns then; the agent should finish up and exit within
        shutdown_deadline_ms.
        """
        while not self.shutting_down:
            if self._inbox:
                self._dispatch(self._inbox.popleft())
            elif self._work:
                self._run_item(self._work.popleft())
            elif not self._serve_once(dispatch=True):
                return

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
            if not self._serve_once(dispatch):
                raise SmolError("%s: swarmd closed the connection" % op)
        answer = self._answers.pop(call_id)
        if answer.get("op") == "error":
            raise SmolError(answer.get("error", "%s failed" % op))
        return answer

    def _serve_once(self, dispatch):
        # Hands one kept message to the handler (if dispatching), or reads
        # and handles one line; False at end of file.
        if dispatch and self._inbox:
            self._dispatch(self._inbox.popleft())
            return True
        line = self._read()
        if line is None:
            return False
        self._handle(line, dispatch)
        return True

    def _item_call(self, item, op, fields, dispatch=False):
        # A call for a task or subtask: once swarmd has dropped it, its
        # refusal is Dropped.
        try:
            return self._call(op, fields, dispatch)
        except SmolError as e:
            if item.dropped and not isinstance(e, Dropped):
                raise Dropped("%s was dropped: %s" % (item.kind, e))
            raise

    def _await_results(self, owner):
        if owner.dropped:
            raise Dropped("%s was dropped" % owner.kind)
        if self.shutting_down:
            raise Dropped("the agent is shutting down")
        if not self._serve_once(dispatch=True):
            raise SmolError("swarmd closed the connection while results were awaited")

    def _run_item(self, item):
        # Runs a task's or subtask's handler and answers with its result or
        # its exception, unless swarmd has dropped it meanwhile.
        handler = self._on_task if item.kind == "task" else self._on_subtask
        self._current.append(item)
        answer = None
        try:
            if handler is None:
                answer = ("fail", {"error": "this agent takes no %ss" % item.kind})
            else:
                answer = ("done", {"result": _as_text(handler(item))})
        except Dropped:
            pass
        except Exception as e:  # the agent keeps serving; the task hears why
            self._report()
            answer = ("fail", {"error": "%s: %s" % (type(e).__name__, e)})
        finally:
            self._current.pop()
        try:
            if answer is not None and not item.dropped:
                fields = item._ref()
                fields.update(answer[1])
                self._item_call(item, "%s.%s" % (item.kind, answer[0]), fields)
        except Dropped:
            pass
        except SmolError as e:
            sys.stderr.write("smolswarms: %s not answered: %s\n" % (item.kind, e))
            sys.stderr.flush()
        finally:
            self._forget(item)

    def _live_key(self, item):
        return ("task", item.id) if item.kind == "task" else ("attempt", item.attempt)

    def _forget(self, item):
        # Forgets the item and its delegations (swarmd sends their results no more).
        if self._live.get(self._live_key(item)) is item:
            del self._live[self._live_key(item)]
        for number in [n for n, d in self._delegations.items() if d._owner is item]:
            del self._delegations[number]

    def _drop(self, line):
        gone = [("attempt", a) for a in line.get("attempts", [])]
        gone += [("task", t) for t in line.get("tasks", [])]
        for key in gone:
            item = self._live.get(key)
            if item is not None:
                item.dropped = True
                self._forget(item)
        if gone:
            self._work = deque(i for i in self._work if not i.dropped)

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
        elif op in ("task", "subtask"):
            item = Task(self, line) if op == "task" else Subtask(self, line)
            self._live[self._live_key(item)] = item
            self._work.append(item)
        elif op == "results":
            d = self._delegations.get(line.get("delegation"))
            if d is not None:
                d._arrive(line.get("results", []))
                if d.done:
                    del self._delegations[d.id]
        elif op == "drop":
            self._drop(line)
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
