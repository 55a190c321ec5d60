// Output: how swarmctl shows what swarmd answered, as aligned tables for
// people or as JSON for programs.
//
// JSON mirrors the schema by reflection (to_json()): field names in
// snake_case, enums as lowercase strings ("start_timeout"), so a field added
// to control.capnp shows up without touching swarmctl. Human output names
// enum values the same way (enum_name()).
//
// Everything here writes to stdout; errors go through Failure and main().
#pragma once

#include <capnp/capability.h>
#include <capnp/dynamic.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace smol::cli {

// Rows of text printed in columns as wide as their widest cell, two spaces
// apart, with no trailing spaces. An empty header prints no header line.
// Cells are shown as printable() makes them: agents write much of what
// tables show.
class Table {
 public:
  explicit Table(std::vector<std::string> header = {});

  void add(std::vector<std::string> row);
  void print() const;

 private:
  std::vector<std::vector<std::string>> rows_;  // the header first, if any
};

// A Cap'n Proto struct (or any value) as JSON, named as described above.
nlohmann::ordered_json to_json(capnp::DynamicValue::Reader value);

// The results of a call, e.g. {"swarm": {...}, "ready_millis": 9.8}.
template <typename Results>
nlohmann::ordered_json to_json(const capnp::Response<Results>& response) {
  return to_json(capnp::toDynamic(typename Results::Reader(response)));
}

// "startTimeout" -> "start_timeout"; a value newer than this build -> its number.
std::string enum_name(capnp::DynamicEnum value);

// Writes `text` to stdout at once (unbuffered, so followed logs appear as
// they come). Throws Failure if stdout is gone.
void print(std::string_view text);

// Prints one JSON document on one line. Invalid UTF-8 (agent output is
// arbitrary bytes) is replaced by U+FFFD rather than failing.
void print_json(const nlohmann::ordered_json& doc);

// A duration rounded down to its two largest units, for ages and uptimes:
// "3s", "4m12s", "2h3m", "5d". (format_duration in base/units.h is
// exact, so that it reads back; a table column wants it short.)
std::string format_rough(std::chrono::milliseconds d);

// How long ago `unix_millis` was, as format_rough() does it; "-" for 0.
std::string format_age(int64_t unix_millis);

// A byte count in the largest binary unit, to one decimal below 10 of it:
// "512B", "3.4KiB", "64MiB", "1.5GiB". (format_bytes in base/units.h is
// exact, so that it reads back; a table column wants it short.)
std::string format_size(uint64_t bytes);

// A measured duration with a precision fit for it: "9.8 ms", "120 ms", "2.4 s".
std::string format_elapsed(double millis);

}  // namespace smol::cli
