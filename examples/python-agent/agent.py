#!/usr/bin/env python3
"""An example SmolSwarms agent in Python, standard library only.

It joins its swarm, keeps a note in the swarm's working memory and recalls
it, says hello to everyone, prints every message it gets, answers requests
with "re: " and the request, answers vibe checks, and exits cleanly when
swarmd stops it. With --ask AGENT TEXT it also sends AGENT a request and
prints the reply. Run it from a swarm spec with protocol = "jsonl" (see
swarm.toml and README.md beside it).
"""

import sys

try:
    import smolswarms
    from smolswarms import Agent  # noqa: F401  (an empty smolswarms.py fails here)
except ImportError as e:
    # In its sandbox the agent sees only its own program of this directory:
    # the spec must list the library under read_only (see swarm.toml).
    sys.exit("agent.py: cannot import smolswarms (%s): list the absolute path of smolswarms.py "
             "under [agents.sandbox] read_only in the swarm spec" % e)


def main(argv):
    agent = smolswarms.Agent()
    me = agent.hello()
    name = me["agent_id"]
    seen = {"messages": 0}

    def say(text):
        # The agent's stdout is its log (swarmctl logs SWARM/ID): flush each line.
        print("%s: %s" % (name, text), flush=True)

    @agent.on_message
    def handle(msg):
        seen["messages"] += 1
        reason = " (%s)" % msg.reason if msg.reason else ""
        say("%s from %s [%s]: %s%s" % (msg.kind, msg.sender, msg.topic, msg.payload, reason))
        if msg.kind == "request":
            agent.reply(msg.request_id, "re: " + msg.payload)

    @agent.on_vibe
    def vibe():
        return "ok", "messages seen: %d" % seen["messages"]

    say("ready in swarm %s as %s/%d" % (me["swarm"], me["role"], me["index"]))

    # Working memory is shared by the swarm: every agent (and swarmctl mem)
    # can read this note.
    key = "notes/" + name
    agent.mem_put("working", key, "%s started and says hello" % name, tags=["python"])
    hits = agent.mem_recall(name, k=1, tiers=["working"])
    if hits:
        entry = hits[0]["entry"]
        say("recalled %s: %s" % (entry["key"], entry["value"]))
    else:
        say("recalled nothing")

    recipients, refused = agent.broadcast("hello", "hello from " + name)
    say("said hello to %d agents%s" % (recipients, " (refused: %s)" % ", ".join(refused)
                                                   if refused else ""))

    if len(argv) == 3 and argv[0] == "--ask":
        # A request waits for its reply; messages that come meanwhile are
        # handled as they arrive.
        try:
            say("reply from %s: %s" % (argv[1], agent.request(argv[1], argv[2], topic="ask")))
        except smolswarms.SmolError as e:
            say("request failed: %s" % e)

    agent.run()
    say("shutting down after %d messages" % seen["messages"])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except smolswarms.SmolError as e:
        print("agent.py: %s" % e, file=sys.stderr, flush=True)
        sys.exit(1)
