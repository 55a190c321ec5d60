// The escape suite's table (probes.tsv) and the outcomes it speaks of.
//
// Both runners use this: probes_outside_test (unconfined, as root) and the
// sandboxed runner (through `swarmctl run`). A runner loads the table,
// substitutes its own values for the {placeholders}, runs each probe,
// classifies the run with observed_outcome() and checks it against the
// row's expectation with matches(). The format is in probes.tsv's header and
// README.md.
//
// Thread: plain functions and values; any thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smol::escape {

// One alternative of an expected outcome, or what one run showed.
struct Outcome {
  enum class Kind { escaped, blocked, killed, setup, other };
  Kind kind = Kind::other;
  // blocked: the errno name (EACCES). killed: the syscall the seccomp
  // violation was attributed to (ptrace), or a signal name (SIGSYS).
  // other: what the run looked like. escaped, setup: empty.
  std::string detail;

  bool operator==(const Outcome&) const = default;
};

// Alternatives: the run must show one of them.
using Expectation = std::vector<Outcome>;

// Parses "escaped", "blocked:EROFS|EACCES", "killed:ptrace",
// "escaped|blocked:ENOSYS". A bare name continues the kind before it.
// Throws std::invalid_argument on anything else.
Expectation parse_expectation(std::string_view text);

std::string to_string(const Outcome& outcome);
std::string to_string(const Expectation& expectation);

struct ProbeRow {
  std::string name;
  std::string program;            // probe-NAME, or a {placeholder}
  std::vector<std::string> args;  // may hold {placeholders}
  std::string requires_;          // "" (none), "kconfig:CONFIG_X", "cap:CAP_X"
  Expectation outside;            // unconfined, when requires_ holds
  Expectation outside_unmet;      // unconfined, when it does not (empty: no requirement)
  Expectation inside;             // confined, default profile
  Expectation inside_strict;      // confined, strict profile
  int line = 0;                   // in the table, for messages
};

// Reads the table. Throws std::runtime_error naming the line on a format
// error (wrong column count, bad outcome, duplicate name).
std::vector<ProbeRow> load_probe_table(const std::string& path);

// Replaces each {name} in text by values.at(name). Throws
// std::invalid_argument for a placeholder values does not have.
std::string substitute(std::string_view text, const std::map<std::string, std::string>& values);

// What one run of a probe showed, as its runner saw it.
struct ProbeRun {
  int exit_code = -1;           // when it exited
  int signal = 0;               // when a signal killed it
  std::string output;           // its stdout
  std::string seccomp_syscall;  // inside: the syscall the daemon blamed, if any
};

// The outcome a run shows: the probe's own report (ESCAPED/BLOCKED/SETUP
// line with the matching exit status), or killed; anything else is `other`.
Outcome observed_outcome(const ProbeRun& run);

// Whether observed is one of the alternatives.
bool matches(const Expectation& expected, const Outcome& observed);

}  // namespace smol::escape
