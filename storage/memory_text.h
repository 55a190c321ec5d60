// The words the memory index sees in a text: one tokenizer for entries and
// queries, so both sides split and fold the same way.
//
// A word is a run of ASCII letters and digits, and of bytes >= 0x80 (so a
// UTF-8 word stays whole); ASCII letters are folded to lower case, nothing
// else is. Everything else separates words. A word longer than kMaxTermBytes
// is cut to that length (so one giant token cannot make a giant key). There
// are no stop words and no stemming: BM25's idf already gives frequent words
// little weight, and stemming is a language choice the store does not make.
//
// Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "storage/memory_codec.h"

namespace smol::storage::memory {

inline constexpr size_t kMaxTermBytes = 64;

// The distinct terms of text[0, max_bytes) with their counts, in order of
// first occurrence, and the number of words (the BM25 document length).
DocTerms count_terms(std::string_view text, size_t max_bytes);

// The distinct terms of a query, sorted.
std::vector<std::string> query_terms(std::string_view text, size_t max_bytes);

}  // namespace smol::storage::memory
