#!/usr/bin/env python3
"""A worker of the research swarm in Python, speaking jsonl through smolswarms.py.

It does exactly what the C++ worker (worker.cc) does, so the lead cannot
tell them apart: each subtask names a byte range of a file

    doc GPL-3
    path /usr/share/common-licenses/GPL-3
    offset 0
    length 35149        (0: to the end of the file)

which it splits into words (runs of ASCII letters, lowercased), keeps the
terms (3+ letters, not among the stop words the lead put in working memory
under "research/stopwords") and answers with

    doc GPL-3
    words 5644
    kept 2710
    t program 77
    ...

most frequent first, ties in alphabetical order. An agent that called a
model here would report its tokens with subtask.report_usage(model,
input_tokens, output_tokens); this one needs none.
"""

import re
import sys

try:
    import smolswarms
except ImportError as e:
    # In its sandbox the agent sees its own program and what the spec lists
    # under read_only: smolswarms.py beside this file (a link to
    # ../python-agent/smolswarms.py).
    sys.exit("worker.py: cannot import smolswarms (%s): swarm.toml must list smolswarms.py "
             "under [agents.sandbox] read_only" % e)

MIN_LENGTH = 3
STOP_WORDS_KEY = "research/stopwords"
WORD = re.compile(rb"[A-Za-z]+")


def parse_input(text):
    doc = {"offset": 0, "length": 0}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key in ("doc", "path"):
            doc[key] = value
        elif key in ("offset", "length"):
            doc[key] = int(value)
    if not doc.get("doc") or not doc.get("path"):
        raise ValueError("subtask input needs 'doc NAME' and 'path PATH' lines, got: %r" % text)
    return doc


def read_range(doc):
    try:
        with open(doc["path"], "rb") as f:
            f.seek(doc["offset"])
            return f.read(doc["length"]) if doc["length"] else f.read()
    except OSError as e:
        raise OSError("cannot read %s (is it readable in the sandbox?): %s" % (doc["path"], e))


def main():
    agent = smolswarms.Agent()

    def say(text):
        print(text, flush=True)

    @agent.on_subtask
    def work(subtask):
        doc = parse_input(subtask.input)
        subtask.progress(0.1, "reading " + doc["doc"])
        entry = agent.mem_get("working", STOP_WORDS_KEY)
        if entry is None:
            raise LookupError("no %s in working memory: the lead puts it there before delegating"
                              % STOP_WORDS_KEY)
        stop = set(entry["value"].split())
        data = read_range(doc)
        subtask.progress(0.5, "read %d bytes of %s" % (len(data), doc["doc"]))
        words = 0
        terms = {}
        for m in WORD.finditer(data):
            words += 1
            w = m.group().decode("ascii").lower()
            if len(w) >= MIN_LENGTH and w not in stop:
                terms[w] = terms.get(w, 0) + 1
        note = "%s: %d words, %d distinct terms" % (doc["doc"], words, len(terms))
        subtask.progress(1.0, note)
        say(note)
        ranked = sorted(terms.items(), key=lambda kv: (-kv[1], kv[0]))
        lines = ["doc " + doc["doc"], "words %d" % words, "kept %d" % sum(terms.values())]
        lines += ["t %s %d" % kv for kv in ranked]
        return "\n".join(lines) + "\n"

    me = agent.hello()
    say("%s: research worker (Python) ready in swarm %s" % (me["agent_id"], me["swarm"]))
    agent.run()


if __name__ == "__main__":
    main()
