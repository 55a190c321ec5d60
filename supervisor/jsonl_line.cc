#include "supervisor/jsonl_line.h"

#include <limits>

namespace smol::supervisor::jsonl {

// ---- Reading the agent's lines ----

const json* field(const json& j, const char* name, bool required) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    if (required) throw BadLine(std::string("field '") + name + "' is missing");
    return nullptr;
  }
  return &*it;
}

std::optional<uint64_t> op_id(const json& in) {
  if (in.find("id") == in.end()) return std::nullopt;
  return number(in, "id");
}

std::string bytes(const json& j, const char* name, bool required) {
  const json* v = field(j, name, required);
  if (!v) return "";
  if (!v->is_string()) throw BadLine(std::string("field '") + name + "' must be a string");
  return v->get<std::string>();
}

std::string text(const json& j, const char* name, bool required) {
  std::string s = bytes(j, name, required);
  if (s.find('\0') != std::string::npos) {
    throw BadLine(std::string("field '") + name + "' contains a NUL byte (\\u0000), which it cannot hold");
  }
  return s;
}

uint64_t number(const json& j, const char* name, bool required) {
  const json* v = field(j, name, required);
  if (!v) return 0;
  if (!v->is_number_unsigned()) {
    throw BadLine(std::string("field '") + name + "' must be a non-negative integer");
  }
  return v->get<uint64_t>();
}

uint32_t number32(const json& j, const char* name, bool required) {
  uint64_t v = number(j, name, required);
  if (v > std::numeric_limits<uint32_t>::max()) {
    throw BadLine(std::string("field '") + name + "' must be at most 4294967295");
  }
  return static_cast<uint32_t>(v);
}

std::vector<std::string> strings(const json& j, const char* name) {
  const json* v = field(j, name, false);
  std::vector<std::string> out;
  if (!v) return out;
  if (!v->is_array()) throw BadLine(std::string("field '") + name + "' must be a list of strings");
  for (const json& e : *v) {
    if (!e.is_string()) throw BadLine(std::string("field '") + name + "' must be a list of strings");
    out.push_back(e.get<std::string>());
    if (out.back().find('\0') != std::string::npos) {
      throw BadLine(std::string("field '") + name + "' has a string with a NUL byte (\\u0000), which it cannot hold");
    }
  }
  return out;
}


std::string line_of(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace smol::supervisor::jsonl
