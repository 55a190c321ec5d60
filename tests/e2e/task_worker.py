#!/usr/bin/env python3
# A Python worker for python_tasks_test: answers a subtask with its input in
# capitals, after reporting progress; input "fail" raises, so every attempt
# fails.
import sys

sys.path.insert(0, sys.argv[1])
import smolswarms  # noqa: E402

agent = smolswarms.Agent()
agent.hello()


@agent.on_subtask
def subtask(s):
    s.progress(0.5, "halfway")
    if s.input == "fail":
        raise ValueError("cannot do " + s.input)
    return s.input.upper()


agent.run()
