#!/usr/bin/env python3
# A Python lead for python_tasks_test: delegates one subtask per word of the
# task's input (plus one with an empty key, which swarmd refuses), prints
# every outcome, delegates the first key again (its stored outcome comes
# back), and answers with the outcomes in key order. Input "boom": fails the
# task; "twice": delegates one key twice and answers with its one result.
import sys

sys.path.insert(0, sys.argv[1])
import smolswarms  # noqa: E402

agent = smolswarms.Agent()
me = agent.hello()


def say(text):
    print(text, flush=True)


@agent.on_task
def task(t):
    words = t.input.split()
    if words == ["boom"]:
        raise RuntimeError("the lead gave up")
    if words == ["twice"]:
        # One key given twice: swarmd refuses the second, runs the first.
        d = agent.delegate([("a", "x"), ("a", "y")])
        for r in d.refused:
            say("refused %s: %s" % (r.reason, r.message))
        return d.wait()["a"].result
    agent.report_usage("py-model", 10, 20)
    d = agent.delegate([("w%d" % i, w) for i, w in enumerate(words)] + [("", "no key")])
    for r in d.refused:
        say("refused %s: %s" % (r.reason, r.message))
    out = {}
    for r in d:
        say("outcome %s %s %s attempts=%d" % (r.key, r.outcome, r.result or r.error, r.attempts))
        out[r.key] = r.result if r.ok else "<%s>" % r.outcome
    again = agent.delegate([("w0", "ignored")]).wait()
    say("again w0 %s" % again["w0"].result)
    return " ".join(out[k] for k in sorted(out))


agent.run()
