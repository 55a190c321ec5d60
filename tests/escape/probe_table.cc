#include "tests/escape/probe_table.h"

#include <signal.h>
#include <string.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

namespace smol::escape {
namespace {

constexpr int kEscapedExit = 0, kBlockedExit = 10, kSetupExit = 20;  // probe.h

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || text[i] == sep) {
      parts.emplace_back(text.substr(start, i - start));
      start = i + 1;
    }
  }
  return parts;
}

std::optional<Outcome::Kind> kind_named(std::string_view name) {
  if (name == "escaped") return Outcome::Kind::escaped;
  if (name == "blocked") return Outcome::Kind::blocked;
  if (name == "killed") return Outcome::Kind::killed;
  if (name == "setup") return Outcome::Kind::setup;
  return std::nullopt;
}

std::string_view kind_name(Outcome::Kind kind) {
  switch (kind) {
    case Outcome::Kind::escaped:
      return "escaped";
    case Outcome::Kind::blocked:
      return "blocked";
    case Outcome::Kind::killed:
      return "killed";
    case Outcome::Kind::setup:
      return "setup";
    case Outcome::Kind::other:
      break;
  }
  return "other";
}

bool takes_detail(Outcome::Kind kind) {
  return kind == Outcome::Kind::blocked || kind == Outcome::Kind::killed;
}

// The line of output that starts with tag, without the tag; nullopt if none.
std::optional<std::string> report_line(const std::string& output, std::string_view tag) {
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(tag)) return line.substr(tag.size());
  }
  return std::nullopt;
}

}  // namespace

Expectation parse_expectation(std::string_view text) {
  Expectation alternatives;
  std::optional<Outcome::Kind> previous;
  for (const std::string& token : split(text, '|')) {
    size_t colon = token.find(':');
    Outcome alt;
    if (auto kind = kind_named(token.substr(0, colon))) {
      alt.kind = *kind;
      if (colon != std::string::npos) alt.detail = token.substr(colon + 1);
    } else if (colon == std::string::npos && previous && takes_detail(*previous)) {
      alt = {*previous, token};  // "blocked:EROFS|EACCES"
    } else {
      throw std::invalid_argument("bad outcome '" + token + "' in '" + std::string(text) + "'");
    }
    if (takes_detail(alt.kind) == alt.detail.empty()) {
      throw std::invalid_argument("outcome '" + token + "' needs " +
                                  (alt.detail.empty() ? "a name after ':'" : "no ':'"));
    }
    previous = alt.kind;
    alternatives.push_back(std::move(alt));
  }
  return alternatives;
}

std::string to_string(const Outcome& outcome) {
  std::string s(kind_name(outcome.kind));
  if (!outcome.detail.empty()) s += ":" + outcome.detail;
  return s;
}

std::string to_string(const Expectation& expectation) {
  std::string s;
  for (const Outcome& alt : expectation) s += (s.empty() ? "" : "|") + to_string(alt);
  return s;
}

std::vector<ProbeRow> load_probe_table(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<ProbeRow> rows;
  std::set<std::string> names;
  bool header_seen = false;
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols = split(line, '\t');
    auto fail = [&](const std::string& what) {
      return std::runtime_error(path + ":" + std::to_string(number) + ": " + what);
    };
    if (cols.size() != 8)
      throw fail("expected 8 tab-separated columns, got " + std::to_string(cols.size()));
    if (!header_seen) {  // the column names; README.md says what each means
      header_seen = true;
      continue;
    }
    try {
      ProbeRow row;
      row.name = cols[0];
      row.program = cols[1];
      if (cols[2] != "-") {
        for (std::string& arg : split(cols[2], ' ')) {
          if (!arg.empty()) row.args.push_back(std::move(arg));
        }
      }
      row.requires_ = cols[3] == "-" ? "" : cols[3];
      row.outside = parse_expectation(cols[4]);
      if (cols[5] != "-") row.outside_unmet = parse_expectation(cols[5]);
      if (row.requires_.empty() != row.outside_unmet.empty()) {
        throw std::invalid_argument("outside_unmet goes with requires, and only with it");
      }
      row.inside = parse_expectation(cols[6]);
      row.inside_strict = cols[7] == "=" ? row.inside : parse_expectation(cols[7]);
      row.line = number;
      if (!names.insert(row.name).second) throw std::invalid_argument("duplicate name " + row.name);
      rows.push_back(std::move(row));
    } catch (const std::invalid_argument& e) {
      throw fail(e.what());
    }
  }
  return rows;
}

std::string substitute(std::string_view text, const std::map<std::string, std::string>& values) {
  std::string out;
  while (!text.empty()) {
    size_t open = text.find('{');
    out += text.substr(0, open);
    if (open == std::string_view::npos) break;
    size_t close = text.find('}', open);
    if (close == std::string_view::npos)
      throw std::invalid_argument("unclosed { in " + std::string(text));
    std::string name(text.substr(open + 1, close - open - 1));
    auto it = values.find(name);
    if (it == values.end()) throw std::invalid_argument("no value for placeholder {" + name + "}");
    out += it->second;
    text.remove_prefix(close + 1);
  }
  return out;
}

Outcome observed_outcome(const ProbeRun& run) {
  if (run.signal != 0) {
    if (!run.seccomp_syscall.empty()) return {Outcome::Kind::killed, run.seccomp_syscall};
    const char* abbrev = sigabbrev_np(run.signal);
    return {Outcome::Kind::killed,
            abbrev ? std::string("SIG") + abbrev : std::to_string(run.signal)};
  }
  if (run.exit_code == kEscapedExit && report_line(run.output, "ESCAPED: ")) {
    return {Outcome::Kind::escaped, ""};
  }
  if (run.exit_code == kSetupExit && report_line(run.output, "SETUP: ")) {
    return {Outcome::Kind::setup, ""};
  }
  if (auto blocked = report_line(run.output, "BLOCKED: ");
      run.exit_code == kBlockedExit && blocked) {
    // "<call>: <ERRNO_NAME> (<strerror>)": the call may itself hold ": ".
    size_t paren = blocked->rfind(" (");
    size_t colon = blocked->rfind(": ", paren);
    if (paren != std::string::npos && colon != std::string::npos) {
      return {Outcome::Kind::blocked, blocked->substr(colon + 2, paren - colon - 2)};
    }
  }
  return {Outcome::Kind::other, "exit " + std::to_string(run.exit_code) + " without its report"};
}

bool matches(const Expectation& expected, const Outcome& observed) {
  return std::find(expected.begin(), expected.end(), observed) != expected.end();
}

}  // namespace smol::escape
