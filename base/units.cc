#include "base/units.h"

#include <limits>
#include <span>

namespace smol {
namespace {

// Wide enough that 38 digits times any unit factor never wraps unnoticed.
using u128 = unsigned __int128;

struct Unit {
  std::string_view name;
  uint64_t factor;  // in the base unit: milliseconds, or bytes
};

constexpr Unit kDurationUnits[] = {{"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 60 * 60 * 1000}};

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr uint64_t kTiB = 1024 * kGiB;
constexpr uint64_t kKB = 1000;
constexpr uint64_t kMB = 1000 * kKB;
constexpr uint64_t kGB = 1000 * kMB;
constexpr uint64_t kTB = 1000 * kGB;

// Single letters are binary, as in systemd and ulimit.
constexpr Unit kByteUnits[] = {{"", 1},     {"B", 1},      {"K", kKiB},   {"KiB", kKiB},
                               {"kB", kKB}, {"KB", kKB},   {"M", kMiB},   {"MiB", kMiB},
                               {"MB", kMB}, {"G", kGiB},   {"GiB", kGiB}, {"GB", kGB},
                               {"T", kTiB}, {"TiB", kTiB}, {"TB", kTB}};

// Binary units from the largest down, for formatting.
constexpr Unit kFormatByteUnits[] = {{"TiB", kTiB}, {"GiB", kGiB}, {"MiB", kMiB}, {"KiB", kKiB}};

// 20 digits hold any uint64_t; with at most 18 more for a fraction the
// mantissa stays below 10^38, inside u128.
constexpr size_t kMaxWholeDigits = 20;
constexpr size_t kMaxFractionDigits = 18;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Reads one "<digits>[.<digits>]<unit>" term from the front of text and
// drops it from text. Returns the term in the base unit, or nullopt when it
// is malformed, names no unit of `units`, is not a whole number of base
// units, or exceeds uint64_t.
std::optional<uint64_t> take_term(std::string_view& text, std::span<const Unit> units) {
  size_t i = 0;
  u128 mantissa = 0;
  u128 divisor = 1;
  auto digits = [&](bool fraction) {
    size_t start = i;
    for (; i < text.size() && is_digit(text[i]); ++i) {
      if (i - start == (fraction ? kMaxFractionDigits : kMaxWholeDigits)) return false;
      mantissa = mantissa * 10 + static_cast<unsigned>(text[i] - '0');
      if (fraction) divisor *= 10;
    }
    return i > start;
  };
  if (!digits(false)) return std::nullopt;
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits(true)) return std::nullopt;
  }

  size_t unit_end = i;
  while (unit_end < text.size() && is_letter(text[unit_end])) ++unit_end;
  std::string_view name = text.substr(i, unit_end - i);
  for (const Unit& unit : units) {
    if (unit.name != name) continue;
    u128 scaled;
    if (__builtin_mul_overflow(mantissa, u128{unit.factor}, &scaled)) return std::nullopt;
    if (scaled % divisor != 0 || scaled / divisor > std::numeric_limits<uint64_t>::max()) {
      return std::nullopt;
    }
    text.remove_prefix(unit_end);
    return static_cast<uint64_t>(scaled / divisor);
  }
  return std::nullopt;
}

// "12", or "1.5" for whole 1 and 500 thousandths: at most three decimals,
// trailing zeros dropped.
std::string decimal(uint64_t whole, unsigned thousandths) {
  std::string out = std::to_string(whole);
  if (thousandths == 0) return out;
  std::string frac = std::to_string(1000 + thousandths).substr(1);
  while (frac.back() == '0') frac.pop_back();
  return out + "." + frac;
}

// The magnitude part of format_duration.
std::string format_millis(uint64_t ms) {
  if (ms == 0) return "0s";
  if (ms < 1000) return std::to_string(ms) + "ms";
  uint64_t hours = ms / 3'600'000;
  uint64_t minutes = ms / 60'000 % 60;
  uint64_t seconds_ms = ms % 60'000;
  std::string out;
  if (hours) out += std::to_string(hours) + "h";
  if (minutes) out += std::to_string(minutes) + "m";
  if (seconds_ms) out += decimal(seconds_ms / 1000, seconds_ms % 1000) + "s";
  return out;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint64_t total = 0;
  while (!text.empty()) {
    std::optional<uint64_t> term = take_term(text, kDurationUnits);
    if (!term || __builtin_add_overflow(total, *term, &total)) return std::nullopt;
  }
  if (total > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
  return std::chrono::milliseconds(static_cast<int64_t>(total));
}

std::string format_duration(std::chrono::milliseconds d) {
  // Unsigned negation, so that the most negative value has a magnitude too.
  if (d.count() < 0) return "-" + format_millis(0 - static_cast<uint64_t>(d.count()));
  return format_millis(static_cast<uint64_t>(d.count()));
}

std::optional<uint64_t> parse_bytes(std::string_view text) {
  std::optional<uint64_t> bytes = take_term(text, kByteUnits);
  return text.empty() ? bytes : std::nullopt;
}

std::string format_bytes(uint64_t bytes) {
  for (const Unit& unit : kFormatByteUnits) {
    u128 thousandths = u128{bytes} * 1000;
    if (bytes >= unit.factor && thousandths % unit.factor == 0) {
      u128 t = thousandths / unit.factor;
      return decimal(static_cast<uint64_t>(t / 1000), static_cast<unsigned>(t % 1000)) +
             std::string(unit.name);
    }
  }
  return std::to_string(bytes) + "B";
}

}  // namespace smol
