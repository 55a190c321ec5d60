#include "cli/output.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "base/sys_error.h"
#include "cli/failure.h"
#include "cli/printable.h"

namespace smol::cli {
namespace {

std::string snake_case(kj::StringPtr camel) {
  std::string out;
  for (char c : camel) {
    if (std::isupper(static_cast<unsigned char>(c))) {
      out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out;
}

// Columns line up on a terminal by characters, not bytes: count UTF-8 lead
// bytes only.
size_t display_width(std::string_view s) {
  return std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; });
}

}  // namespace

Table::Table(std::vector<std::string> header) {
  if (!header.empty()) rows_.push_back(std::move(header));
}

void Table::add(std::vector<std::string> row) {
  for (std::string& cell : row) cell = printable(cell);
  rows_.push_back(std::move(row));
}

void Table::print() const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], display_width(row[i]));
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) line += "  ";
      line += row[i];
      line.append(widths[i] - display_width(row[i]), ' ');
    }
    // Padding of the last columns (or empty cells there) must not trail.
    line.erase(line.find_last_not_of(' ') + 1);
    out += line;
    out += '\n';
  }
  cli::print(out);
}

std::string enum_name(capnp::DynamicEnum value) {
  KJ_IF_MAYBE(e, value.getEnumerant()) {
    return snake_case(e->getProto().getName());
  }
  return std::to_string(value.getRaw());
}

nlohmann::ordered_json to_json(capnp::DynamicValue::Reader value) {
  switch (value.getType()) {
    case capnp::DynamicValue::BOOL: return value.as<bool>();
    case capnp::DynamicValue::INT: return value.as<int64_t>();
    case capnp::DynamicValue::UINT: return value.as<uint64_t>();
    case capnp::DynamicValue::FLOAT: return value.as<double>();
    case capnp::DynamicValue::TEXT: {
      capnp::Text::Reader t = value.as<capnp::Text>();
      return std::string(t.cStr(), t.size());
    }
    case capnp::DynamicValue::DATA: {
      auto d = value.as<capnp::Data>().asChars();
      return std::string(d.begin(), d.size());
    }
    case capnp::DynamicValue::ENUM: return enum_name(value.as<capnp::DynamicEnum>());
    case capnp::DynamicValue::LIST: {
      nlohmann::ordered_json list = nlohmann::ordered_json::array();
      for (auto element : value.as<capnp::DynamicList>()) list.push_back(to_json(element));
      return list;
    }
    case capnp::DynamicValue::STRUCT: {
      auto s = value.as<capnp::DynamicStruct>();
      nlohmann::ordered_json object = nlohmann::ordered_json::object();
      for (auto field : s.getSchema().getNonUnionFields()) {
        object[snake_case(field.getProto().getName())] = to_json(s.get(field));
      }
      KJ_IF_MAYBE(field, s.which()) {
        object[snake_case(field->getProto().getName())] = to_json(s.get(*field));
      }
      return object;
    }
    default:
      // Void, capabilities and untyped pointers have no JSON meaning here.
      return nullptr;
  }
}

void print(std::string_view text) {
  while (!text.empty()) {
    ssize_t n = retry_eintr([&] { return ::write(STDOUT_FILENO, text.data(), text.size()); });
    if (n < 0) throw Failure(std::string("cannot write to stdout: ") + strerrordesc_np(errno));
    text.remove_prefix(static_cast<size_t>(n));
  }
}

void print_json(const nlohmann::ordered_json& doc) {
  print(doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + '\n');
}

std::string format_rough(std::chrono::milliseconds d) {
  // A clock that stepped back shows "0s", not a negative age.
  int64_t s = std::max<int64_t>(d.count() / 1000, 0);
  auto two = [](int64_t big, char big_unit, int64_t small, char small_unit) {
    std::string out = std::to_string(big) + big_unit;
    if (small > 0) out += std::to_string(small) + small_unit;
    return out;
  };
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return two(s / 60, 'm', s % 60, 's');
  if (s < 86400) return two(s / 3600, 'h', s / 60 % 60, 'm');
  return std::to_string(s / 86400) + "d";
}

std::string format_age(int64_t unix_millis) {
  if (unix_millis == 0) return "-";
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return format_rough(now - std::chrono::milliseconds(unix_millis));
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit > 0 && v < 10 ? "%.1f%s" : "%.0f%s", v, kUnits[unit]);
  return buf;
}

std::string format_elapsed(double millis) {
  char buf[32];
  if (millis < 100) {
    std::snprintf(buf, sizeof buf, "%.1f ms", millis);
  } else if (millis < 1000) {
    std::snprintf(buf, sizeof buf, "%.0f ms", millis);
  } else if (millis < 60000) {
    std::snprintf(buf, sizeof buf, "%.1f s", millis / 1000);
  } else {
    return format_rough(std::chrono::milliseconds(static_cast<int64_t>(millis)));
  }
  return buf;
}

}  // namespace smol::cli
