#include "storage/memory_text.h"

#include <algorithm>
#include <array>

namespace smol::storage::memory {
namespace {

// Per byte: 0 for a separator, else the byte as it is indexed (ASCII
// letters in lower case).
constexpr std::array<char, 256> kFold = [] {
  std::array<char, 256> t{};
  for (int c = 0; c < 256; ++c) {
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80) t[c] = static_cast<char>(c);
    if (c >= 'A' && c <= 'Z') t[c] = static_cast<char>(c - 'A' + 'a');
  }
  return t;
}();

// The words of text[0, max_bytes), case-folded into `folded` (which the
// returned views point into), each cut to kMaxTermBytes.
std::vector<std::string_view> words_of(std::string_view text, size_t max_bytes, std::string& folded) {
  text = text.substr(0, max_bytes);
  folded.resize(text.size());
  for (size_t i = 0; i < text.size(); ++i) folded[i] = kFold[static_cast<unsigned char>(text[i])];
  std::vector<std::string_view> words;
  words.reserve(text.size() / 5);
  std::string_view all = folded;
  size_t i = 0;
  while (i < all.size()) {
    while (i < all.size() && all[i] == 0) ++i;
    size_t start = i;
    while (i < all.size() && all[i] != 0) ++i;
    if (i > start) words.push_back(all.substr(start, std::min(i - start, kMaxTermBytes)));
  }
  return words;
}

}  // namespace

DocTerms count_terms(std::string_view text, size_t max_bytes) {
  std::string folded;
  std::vector<std::string_view> words = words_of(text, max_bytes, folded);
  // Counted in a small open-addressing table (FNV-1a, linear probing; a
  // word is never empty, so an empty view marks a free slot). Nothing needs
  // the terms sorted; they come out in order of first occurrence.
  size_t capacity = 16;
  while (capacity < 2 * words.size()) capacity *= 2;
  const size_t mask = capacity - 1;
  std::vector<std::pair<std::string_view, uint32_t>> table(capacity);
  std::vector<size_t> order;
  for (std::string_view w : words) {
    uint64_t h = 14695981039346656037ull;
    for (char c : w) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    size_t slot = h & mask;
    while (!table[slot].first.empty() && table[slot].first != w) slot = (slot + 1) & mask;
    if (table[slot].first.empty()) {
      table[slot].first = w;
      order.push_back(slot);
    }
    ++table[slot].second;
  }
  DocTerms out;
  out.length = static_cast<uint32_t>(words.size());
  out.terms.reserve(order.size());
  for (size_t slot : order) out.terms.push_back({std::string(table[slot].first), table[slot].second});
  return out;
}

std::vector<std::string> query_terms(std::string_view text, size_t max_bytes) {
  std::string folded;
  std::vector<std::string_view> words = words_of(text, max_bytes, folded);
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  return {words.begin(), words.end()};
}

}  // namespace smol::storage::memory
