#include "supervisor/toml_check.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "base/units.h"

namespace smol::toml_check {
namespace {

// Messages show this much of a value; enough to recognise it.
constexpr size_t kRenderLimit = 60;

// Keys further than this from every known key get a list instead of a guess.
constexpr size_t kMaxSuggestDistance = 2;

// The length of the UTF-8 sequence at the front of s (non-empty) and its
// code point, or 0 for bytes that are not UTF-8 (stray continuations,
// overlong forms, surrogates, values past U+10FFFF, truncated sequences).
size_t utf8_sequence(std::string_view s, char32_t& cp) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  size_t len;
  char32_t min;
  if (byte(0) < 0x80) {
    cp = byte(0);
    return 1;
  } else if ((byte(0) & 0xE0) == 0xC0) {
    len = 2, cp = byte(0) & 0x1F, min = 0x80;
  } else if ((byte(0) & 0xF0) == 0xE0) {
    len = 3, cp = byte(0) & 0x0F, min = 0x800;
  } else if ((byte(0) & 0xF8) == 0xF0) {
    len = 4, cp = byte(0) & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    if ((byte(i) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i) & 0x3F);
  }
  if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
  return len;
}

// C0, DEL and C1: the code points a terminal may act on.
bool is_control(char32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp < 0xA0); }

std::string escaped(std::string_view s, bool quoted) {
  std::string out;
  out.reserve(s.size() + 2);
  char hex[8];
  for (size_t i = 0; i < s.size();) {
    char32_t cp;
    size_t len = utf8_sequence(s.substr(i), cp);
    if (len == 0) {
      std::snprintf(hex, sizeof hex, "\\x%02X", static_cast<unsigned char>(s[i]));
      out += hex;
      ++i;
      continue;
    }
    if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (is_control(cp)) {
      std::snprintf(hex, sizeof hex, "\\u%04X", static_cast<unsigned>(cp));
      out += hex;
    } else {
      if (quoted && (cp == '"' || cp == '\\')) out += '\\';
      out.append(s.substr(i, len));
    }
    i += len;
  }
  return out;
}

// The first n bytes of s or fewer, never splitting a UTF-8 sequence.
std::string_view cut(std::string_view s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

bool is_bare_key(std::string_view key) {
  return !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

std::string key_text(std::string_view key) {
  return is_bare_key(key) ? std::string(key) : quote(key);
}

void render_into(const toml::node& node, std::string& out) {
  if (out.size() > kRenderLimit) return;
  if (const auto* s = node.as_string()) {
    out += quote(cut(s->get(), kRenderLimit + 1));
  } else if (const auto* array = node.as_array()) {
    out += '[';
    for (size_t i = 0; i < array->size() && out.size() <= kRenderLimit; ++i) {
      if (i > 0) out += ", ";
      render_into(*array->get(i), out);
    }
    out += ']';
  } else if (const auto* table = node.as_table()) {
    out += '{';
    for (const auto& [key, value] : in_file_order(*table)) {
      if (out.size() > kRenderLimit) break;
      out += (out.back() == '{' ? " " : ", ") + key_text(key->str()) + " = ";
      render_into(*value, out);
    }
    out += out.back() == '{' ? "}" : " }";
  } else {
    std::ostringstream scalar;
    node.visit([&](const auto& v) {
      if constexpr (!toml::is_container<decltype(v)>) scalar << v;
    });
    out += scalar.str();
  }
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// "a, b or c", or with quoted: "\"a\", \"b\" or \"c\"". Items are
// string_views or strings.
template <typename Items>
std::string alternatives(const Items& items, bool quoted) {
  std::string text;
  size_t i = 0;
  for (std::string_view item : items) {
    if (i > 0) text += i + 1 == std::size(items) ? " or " : ", ";
    text += quoted ? quote(item) : std::string(item);
    ++i;
  }
  return text;
}

std::string unknown_key_message(std::string_view key, std::string_view table_path,
                                std::initializer_list<std::string_view> known) {
  std::string text = "unknown key '" + escape(key) + "'";
  if (!table_path.empty()) text += " in " + std::string(table_path);
  std::string_view best;
  size_t best_distance = kMaxSuggestDistance + 1;
  for (std::string_view k : known) {
    // Keys of very different lengths cannot be close; skip the quadratic work.
    if (key.size() > k.size() + kMaxSuggestDistance) continue;
    if (size_t d = edit_distance(key, k); d < best_distance) {
      best = k;
      best_distance = d;
    }
  }
  if (!best.empty()) return text + "; did you mean '" + std::string(best) + "'?";
  return text + "; expected " + alternatives(known, false);
}

bool before(const toml::source_position& a, const toml::source_position& b) {
  return a.line != b.line ? a.line < b.line : a.column < b.column;
}

}  // namespace

std::string quote(std::string_view s) { return "\"" + escaped(s, true) + "\""; }

std::string escape(std::string_view s) { return escaped(s, false); }

std::string render(const toml::node& value) {
  std::string out;
  render_into(value, out);
  if (out.size() <= kRenderLimit) return out;
  return std::string(cut(out, kRenderLimit)) + "…";
}

std::string index_path(std::string_view array_path, size_t index) {
  return std::string(array_path) + "[" + std::to_string(index) + "]";
}

std::string key_path(std::string_view table_path, std::string_view key) {
  if (table_path.empty()) return key_text(key);
  return std::string(table_path) + "." + key_text(key);
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (size_t i = 0; i < lines.size(); ++i) text += (i > 0 ? "\n" : "") + lines[i];
  return text;
}

std::vector<std::pair<const toml::key*, const toml::node*>> in_file_order(const toml::table& t) {
  std::vector<std::pair<const toml::key*, const toml::node*>> entries;
  entries.reserve(t.size());
  for (const auto& [key, value] : t) entries.emplace_back(&key, &value);
  std::stable_sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
    return before(a.first->source().begin, b.first->source().begin);
  });
  return entries;
}

Problems::Problems(std::string_view source_name) : source_name_(escape(source_name)) {}

void Problems::bad_value(const toml::node& value, std::string_view path, std::string_view rule) {
  add(value.source(), std::string(path) + " = " + render(value) + ": " + std::string(rule));
}

void Problems::add(const toml::source_region& where, std::string_view text) {
  found_.push_back({where.begin, source_name_ + ":" + std::to_string(where.begin.line) + ":" +
                                     std::to_string(where.begin.column) + ": " +
                                     std::string(text)});
}

std::vector<std::string> Problems::lines() const {
  std::vector<const Found*> sorted;
  sorted.reserve(found_.size());
  for (const Found& f : found_) sorted.push_back(&f);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Found* a, const Found* b) { return before(a->at, b->at); });
  std::vector<std::string> out;
  for (size_t i = 0; i < sorted.size() && i < kMaxLines; ++i) out.push_back(sorted[i]->line);
  if (sorted.size() > kMaxLines) {
    out.push_back(source_name_ + ": " + std::to_string(sorted.size() - kMaxLines) +
                  " more problems not shown");
  }
  return out;
}

std::optional<toml::table> parse_document(std::string_view text, std::string_view source_name,
                                          Problems& problems) {
  try {
    return toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    problems.add(e.source(), escape(e.description()));
    return std::nullopt;
  }
}

TableReader::TableReader(const toml::table& table, std::string path,
                         std::initializer_list<std::string_view> known, Problems& problems)
    : table_(table), path_(std::move(path)), problems_(problems) {
  for (const auto& [key, value] : in_file_order(table)) {
    if (std::find(known.begin(), known.end(), key->str()) == known.end()) {
      problems_.add(key->source(), unknown_key_message(key->str(), path_, known));
    }
  }
}

const toml::node* TableReader::find(std::string_view key, Need need) const {
  const toml::node* node = table_.get(key);
  if (!node && need == Need::required) {
    problems_.add(table_.source(), (path_.empty() ? "" : path_ + ": ") + "missing required key '" +
                                       std::string(key) + "'");
  }
  return node;
}

const toml::node* TableReader::of_type(std::string_view key, Need need, toml::node_type type,
                                       std::string_view what) const {
  const toml::node* node = find(key, need);
  if (node && node->type() != type) {
    problems_.bad_value(*node, path_of(key), "must be " + std::string(what));
    return nullptr;
  }
  return node;
}

const std::string* TableReader::string(std::string_view key, Need need) const {
  const toml::node* node = of_type(key, need, toml::node_type::string, "a string");
  return node ? &node->as_string()->get() : nullptr;
}

const toml::table* TableReader::table(std::string_view key) const {
  const toml::node* node = of_type(key, Need::optional, toml::node_type::table, "a table");
  return node ? node->as_table() : nullptr;
}

std::optional<bool> TableReader::boolean(std::string_view key) const {
  const toml::node* node = of_type(key, Need::optional, toml::node_type::boolean, "true or false");
  if (!node) return std::nullopt;
  return node->as_boolean()->get();
}

std::optional<int64_t> TableReader::integer(std::string_view key, int64_t min, int64_t max) const {
  const toml::node* node = of_type(key, Need::optional, toml::node_type::integer, "an integer");
  if (!node) return std::nullopt;
  int64_t value = node->as_integer()->get();
  if (value < min || value > max) {
    bad(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return std::nullopt;
  }
  return value;
}

const toml::array* TableReader::array(std::string_view key) const {
  const toml::node* node = of_type(key, Need::optional, toml::node_type::array, "an array");
  return node ? node->as_array() : nullptr;
}

template <typename Choices>
std::optional<size_t> TableReader::choice(std::string_view key, const Choices& choices) const {
  const std::string* value = string(key);
  if (!value) return std::nullopt;
  auto it = std::find(std::begin(choices), std::end(choices), *value);
  if (it == std::end(choices)) {
    bad(key, "must be " + alternatives(choices, true));
    return std::nullopt;
  }
  return static_cast<size_t>(it - std::begin(choices));
}

std::optional<size_t> TableReader::one_of(std::string_view key,
                                          std::initializer_list<std::string_view> choices) const {
  return choice(key, choices);
}

std::optional<size_t> TableReader::one_of(std::string_view key,
                                          std::span<const std::string> choices) const {
  return choice(key, choices);
}

std::optional<std::chrono::milliseconds> TableReader::duration(
    std::string_view key, std::chrono::milliseconds min,
    std::optional<std::chrono::milliseconds> max) const {
  const toml::node* node = of_type(key, Need::optional, toml::node_type::string,
                                   "a duration string like \"10s\" or \"500ms\"");
  if (!node) return std::nullopt;
  std::optional<std::chrono::milliseconds> value = parse_duration(node->as_string()->get());
  if (!value) {
    bad(key, "must be a number with a unit ms, s, m or h, like \"500ms\", \"1.5s\" or \"2m\"");
  } else if (*value < min || (max && *value > *max)) {
    bad(key, max ? "must be between " + format_duration(min) + " and " + format_duration(*max)
                 : "must be at least " + format_duration(min));
  } else {
    return value;
  }
  return std::nullopt;
}

std::optional<uint64_t> TableReader::bytes(std::string_view key) const {
  const toml::node* node = find(key);
  if (!node) return std::nullopt;
  std::optional<uint64_t> value;
  if (const auto* i = node->as_integer(); i && i->get() >= 0) {
    value = static_cast<uint64_t>(i->get());
  } else if (const auto* s = node->as_string()) {
    value = parse_bytes(s->get());
  }
  if (!value) bad(key, "must be a size like \"64KiB\" or \"1MiB\", or a number of bytes");
  return value;
}

std::optional<uint64_t> TableReader::bytes(std::string_view key, uint64_t min, uint64_t max) const {
  std::optional<uint64_t> value = bytes(key);
  if (value && (*value < min || *value > max)) {
    bad(key, "must be between " + format_bytes(min) + " and " + format_bytes(max));
    return std::nullopt;
  }
  return value;
}

void TableReader::bad(std::string_view key, std::string_view rule) const {
  problems_.bad_value(*table_.get(key), path_of(key), rule);
}

}  // namespace smol::toml_check
