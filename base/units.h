// Durations and byte sizes as people write them: "500ms", "1.5s", "2m",
// "64KiB", "10MB". One parser per unit kind, shared by the swarm spec, the
// daemon config and swarmctl's options, so "10s" means the same everywhere.
//
// Every function here is pure and may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smol {

// Parses a non-negative duration: a number with a unit, "ms", "s", "m" or
// "h" ("500ms", "10s", "1.5s", "2m", "1h"), or a sum of such terms with no
// spaces ("1h30m", "1m0.5s"; the form format_duration writes).
// Returns nullopt for anything else: no unit ("10"), a sign, spaces, a
// fraction of a millisecond ("1.0005s"), or a value that does not fit.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest form parse_duration reads back exactly: "0s", "500ms",
// "1.5s", "1m30s", "2h", "1h0.25s". A negative d gets a leading '-' (for
// display only; parse_duration rejects it).
std::string format_duration(std::chrono::milliseconds d);

// Parses a byte count: a plain number of bytes ("512", "512B"), or a number
// with a binary unit ("64KiB", "1MiB", "2GiB", "1TiB"; "K", "M", "G", "T"
// mean the same, as in systemd and ulimit) or a decimal one ("10kB"/"10KB",
// "10MB" = 10^7, "GB", "TB"). A fraction is allowed where the result is a
// whole number of bytes ("1.5KiB"). Returns nullopt for anything else,
// including spaces, signs and values above 2^64-1.
std::optional<uint64_t> parse_bytes(std::string_view text);

// The largest binary unit that shows the value with at most three decimals,
// else plain bytes: "64KiB", "1.5MiB", "1000B", "0B". parse_bytes reads it
// back exactly.
std::string format_bytes(uint64_t bytes);

}  // namespace smol
