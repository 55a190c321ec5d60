// The jsonl protocol's lines (docs/jsonl-protocol.md), as both halves of a
// jsonl agent's bridge read and write them: jsonl_bridge.* (hello,
// messages, memory) and jsonl_tasks.* (tasks). Reading a field checks its
// type and names it when it is wrong; writing never fails on bytes that are
// not UTF-8.
//
// Thread: any (pure functions); Lines, the loop thread.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <capnp/common.h>
#include <kj/async.h>

namespace smol::supervisor::jsonl {

using json = nlohmann::json;

// ---- Reading the agent's lines (the bridge's other ops use these too) ----

// A line the agent sent that breaks the protocol's rules: answered with an
// error line naming the problem, and the agent carries on.
class BadLine : public std::runtime_error {
 public:
  using runtime_error::runtime_error;
};

// Fields of a line; each throws BadLine naming the field when it is missing
// (and required) or of the wrong type. A null field counts as missing.
const json* field(const json& j, const char* name, bool required);
// The id of an op that expects an answer.
std::optional<uint64_t> op_id(const json& in);
// A string for a Cap'n Proto Text field (names, keys, topics, notes), which
// cannot hold a NUL byte: one is refused rather than cut off there.
std::string text(const json& j, const char* name, bool required = true);
// A string for a Data field (payloads, values, results): any bytes.
std::string bytes(const json& j, const char* name, bool required = true);
uint64_t number(const json& j, const char* name, bool required = false);
// A number that must fit a UInt32 field (timeouts, limits, counts).
uint32_t number32(const json& j, const char* name, bool required = false);
// A list for a List(Text) field (tags, tiers); as text(), no NUL bytes.
std::vector<std::string> strings(const json& j, const char* name);


// j as one line for the agent. Payloads are arbitrary bytes and JSON
// strings must be UTF-8: bytes that are not are replaced rather than
// failing the line.
std::string line_of(const json& j);

// ---- The bridge, as the task half sees it ----

class Lines {
 public:
  // Queues lines (each ending in '\n') after every earlier one; resolves
  // once they are written, which is the daemon's flow control.
  virtual kj::Promise<void> write(std::string lines) = 0;
  // Queues one line without waiting for it.
  virtual void write_line(const json& line) = 0;
  // Answers the agent's op `id` (none: an op without one) with an ok line
  // carrying result's fields.
  virtual void answer(std::optional<uint64_t> id, json result) = 0;

 protected:
  ~Lines() = default;
};

}  // namespace smol::supervisor::jsonl
