// Checking a parsed TOML document key by key, and reporting what is wrong
// the way a user can fix it: one line per problem,
//   "hello.toml:5:9: agents[0].count = 0: must be between 1 and 10000".
//
// Both of swarmd's TOML inputs (swarm specs, swarm_spec.h, and the daemon
// config, config.h) go through here, so unknown keys, wrong types,
// positions and escaping read the same in both. A parser makes one Problems,
// one TableReader per table it knows, and throws its own error type with
// Problems::lines() when anything was reported.
//
// Everything here runs on the caller's thread and keeps no global state.
// Text taken from the input is always escaped before it reaches a message,
// so a hostile file cannot put control characters on an operator's terminal.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smol::toml_check {

// s as a TOML basic string: in double quotes, with '"', '\' and every
// control character (C0, DEL, C1) escaped; bytes that are not UTF-8 become
// "\xNN". Safe to print and, for valid UTF-8, valid TOML.
std::string quote(std::string_view s);

// s with control characters and invalid UTF-8 escaped as in quote(), but no
// quotes added: for parser messages and source names.
std::string escape(std::string_view s);

// A short rendering of a value for messages: quoted strings, numbers, and
// arrays/tables cut off with "…" past about 60 characters.
std::string render(const toml::node& value);

// "agents" + 0 -> "agents[0]"; "agents[0]" + "count" -> "agents[0].count";
// keys that are not bare TOML keys are quoted.
std::string index_path(std::string_view array_path, size_t index);
std::string key_path(std::string_view table_path, std::string_view key);

// The lines joined with '\n', for an exception's what().
std::string join_lines(const std::vector<std::string>& lines);

// The entries of a table in the order they appear in the file (toml::table
// iterates in key order).
std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& t);

// The problems found in one document, reported in file order.
class Problems {
 public:
  // source_name is what the user calls the input ("hello.toml").
  explicit Problems(std::string_view source_name);

  // "<where>: <path> = <value>: <rule>", at the value's position.
  void bad_value(const toml::node& value, std::string_view path, std::string_view rule);
  // "<where>: <text>", for problems that are not about one value (an
  // unknown or missing key).
  void add(const toml::source_region& where, std::string_view text);

  bool empty() const { return found_.empty(); }
  // Every problem, sorted by position. A hostile input can hold millions of
  // mistakes; past kMaxLines the rest are counted in one last line.
  std::vector<std::string> lines() const;
  static constexpr size_t kMaxLines = 100;

 private:
  struct Found {
    toml::source_position at;
    std::string line;
  };
  std::string source_name_;  // escaped once
  std::vector<Found> found_;
};

// Parses text. On a syntax error, adds it to problems at toml++'s position
// with toml++'s description, and returns nullopt.
std::optional<toml::table> parse_document(std::string_view text, std::string_view source_name,
                                          Problems& problems);

enum class Need { optional, required };

// Reads the keys of one table. Construction reports every key not in
// `known` (with "did you mean" when one is close); each getter reports a
// missing required key (at the table's position) or a value of the wrong
// type, and returns nothing in both cases, so callers only see good values.
// The table and problems must outlive the reader; returned pointers point
// into the table.
class TableReader {
 public:
  // path names the table in messages: "" for the document root,
  // "agents[0]", "control".
  TableReader(const toml::table& table, std::string path,
              std::initializer_list<std::string_view> known, Problems& problems);

  // The value under key, or null when it is absent.
  const toml::node* find(std::string_view key, Need need = Need::optional) const;

  const std::string* string(std::string_view key, Need need = Need::optional) const;
  // The getters below read optional keys.
  const toml::table* table(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  // An integer within [min, max].
  std::optional<int64_t> integer(std::string_view key, int64_t min, int64_t max) const;
  // An array (of any elements; the caller checks them).
  const toml::array* array(std::string_view key) const;
  // A string among choices; returns its index in choices.
  std::optional<size_t> one_of(std::string_view key,
                               std::initializer_list<std::string_view> choices) const;
  std::optional<size_t> one_of(std::string_view key, std::span<const std::string> choices) const;
  // A duration string (units.h) of at least min and, when given, at most max.
  std::optional<std::chrono::milliseconds> duration(
      std::string_view key, std::chrono::milliseconds min,
      std::optional<std::chrono::milliseconds> max = std::nullopt) const;
  // A size: a string such as "64KiB" (units.h) or an integer number of bytes.
  std::optional<uint64_t> bytes(std::string_view key) const;
  // A size within [min, max].
  std::optional<uint64_t> bytes(std::string_view key, uint64_t min, uint64_t max) const;

  // Reports the value under key (which must be present) as breaking rule.
  void bad(std::string_view key, std::string_view rule) const;
  // "agents[0].count" for "count".
  std::string path_of(std::string_view key) const { return key_path(path_, key); }

 private:
  // The value under key if it has the type; reports "must be <what>" otherwise.
  const toml::node* of_type(std::string_view key, Need need, toml::node_type type,
                            std::string_view what) const;
  // one_of() for either kind of choices.
  template <typename Choices>
  std::optional<size_t> choice(std::string_view key, const Choices& choices) const;

  const toml::table& table_;
  std::string path_;
  Problems& problems_;
};

}  // namespace smol::toml_check
