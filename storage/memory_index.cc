#include "storage/memory_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <limits>
#include <queue>

namespace smol::storage::memory {
namespace {

// A partition's scores go into an array when its docid range is at most
// this many times its document count (or small anyway).
constexpr uint64_t kDenseFactor = 8;
constexpr uint64_t kDenseAlways = 1 << 16;
// Shares of postings with tf < kTableTf in documents shorter than
// kTableLengths words come from a table (most postings; divisions were most
// of a query's time).
constexpr uint32_t kTableTf = 16;
constexpr uint32_t kTableLengths = 128;

// Scores scanned per step when picking the best.
constexpr size_t kBlock = 32;

// Whether any of d[0, n) is >= floor. Most blocks of scores hold nothing
// that reaches the floor; g++ -O2 does not vectorise this comparison, so on
// x86-64 it is written with SSE2 (part of the base instruction set), two
// doubles at a time.
inline bool any_at_least(const double* d, size_t n, double floor) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128d f = _mm_set1_pd(floor);
  __m128d hit = _mm_setzero_pd();
  for (; i + 2 <= n; i += 2) hit = _mm_or_pd(hit, _mm_cmpge_pd(_mm_loadu_pd(d + i), f));
  if (_mm_movemask_pd(hit) != 0) return true;
#endif
  for (; i < n; ++i) {
    if (d[i] >= floor) return true;
  }
  return false;
}

// One posting's part of a score: idf * (k1 + 1) * tf / (tf + K(length)).
inline double share(double weight, uint32_t tf, uint32_t length, double base, double per_length) {
  double f = tf;
  return weight * f / (f + base + per_length * length);
}

inline uint64_t take_varint(const char*& p, const char* end) {
  if (p < end && static_cast<uint8_t>(*p) < 0x80) return static_cast<uint8_t>(*p++);
  uint64_t v = 0;
  for (int shift = 0; p < end && shift < 64; shift += 7) {
    auto b = static_cast<uint8_t>(*p++);
    v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) break;
  }
  return v;
}

// Calls fn(docid, tf, length) for each posting of a raw kPostings chunk:
// varint(docid gap) varint(tf) varint(length), the first gap from 0.
template <typename Fn>
void for_each_posting(std::string_view raw, Fn&& fn) {
  const char* p = raw.data();
  const char* end = p + raw.size();
  uint64_t docid = 0;
  while (p < end) {
    docid += take_varint(p, end);
    auto tf = static_cast<uint32_t>(take_varint(p, end));
    auto length = static_cast<uint32_t>(take_varint(p, end));
    fn(docid, tf, length);
  }
}

}  // namespace

PartitionStats read_stats(const Txn& txn, const Dbs& dbs, std::string_view partition) {
  std::string key = stats_key(partition);
  std::optional<std::string_view> v = txn.get(dbs.meta, key);
  if (!v) return {};
  std::vector<uint64_t> c = decode_counters(*v, 3, dbs.meta.name, key);
  return {c[0], c[1], std::max<uint64_t>(c[2], 1)};
}

// --- IndexWriter ---

IndexWriter::Partition& IndexWriter::partition(std::string_view name) {
  auto it = partitions_.find(name);
  if (it != partitions_.end()) return it->second;
  Partition p;
  p.stats = read_stats(txn_, dbs_, name);
  return partitions_.emplace(std::string(name), std::move(p)).first->second;
}

uint64_t IndexWriter::add(std::string_view name, std::string_view entry_key, const DocTerms& terms) {
  Partition& p = partition(name);
  uint64_t docid = p.stats.next_docid++;
  for (const TermCount& t : terms.terms) {
    auto it = p.added.find(t.term);
    if (it == p.added.end()) it = p.added.emplace(t.term, std::vector<std::string>{}).first;
    it->second.push_back(posting_item(docid, t.tf, terms.length));
  }
  ++p.stats.docs;
  p.stats.total_length += terms.length;
  txn_.put(dbs_.docs, docid_key(name, docid), encode_doc(name, entry_key, terms));
  return docid;
}

std::optional<DocRecord> IndexWriter::remove(std::string_view name, uint64_t docid) {
  std::string key = docid_key(name, docid);
  std::optional<std::string_view> v = txn_.get(dbs_.docs, key);
  if (!v) return std::nullopt;
  DocRecord doc = decode_doc(*v, dbs_.docs.name, key);
  Partition& p = partition(name);
  for (const TermCount& t : doc.terms.terms) {
    std::string item = posting_item(docid, t.tf, doc.terms.length);
    // Added by this batch (a put and a re-put of one key): not in the set yet.
    auto added = p.added.find(t.term);
    if (added != p.added.end()) {
      auto at = std::find(added->second.rbegin(), added->second.rend(), item);
      if (at != added->second.rend()) {
        added->second.erase(std::next(at).base());
        continue;
      }
    }
    sets_.erase(postings_name(name, t.term), item);
  }
  // Saturating: a stats record older than its documents must not wrap.
  p.stats.docs -= std::min<uint64_t>(p.stats.docs, 1);
  p.stats.total_length -= std::min<uint64_t>(p.stats.total_length, doc.terms.length);
  txn_.del(dbs_.docs, key);
  return doc;
}

void IndexWriter::write_back() {
  for (const auto& [name, p] : partitions_) {
    for (const auto& [term, items] : p.added) sets_.append(postings_name(name, term), items);
    // Kept when empty: next_docid must not start over.
    txn_.put(dbs_.meta, stats_key(name),
             encode_counters({p.stats.docs, p.stats.total_length, p.stats.next_docid}));
  }
  partitions_.clear();
}

// --- Ranker ---

Ranker::Ranker(const Txn& txn, const Dbs& dbs, std::vector<std::string> partitions,
               std::vector<std::string> terms, Bm25 params)
    : txn_(txn), dbs_(dbs), partitions_(std::move(partitions)), terms_(std::move(terms)),
      params_(params) {
  uint64_t total_length = 0;
  for (const std::string& p : partitions_) {
    stats_.push_back(read_stats(txn_, dbs_, p));
    n_ += stats_.back().docs;
    total_length += stats_.back().total_length;
  }
  avgdl_ = n_ == 0 ? 0 : static_cast<double>(total_length) / static_cast<double>(n_);
  for (const std::string& t : terms_) {
    uint64_t df = 0;
    for (const std::string& p : partitions_) {
      df += SetReader(txn_, dbs_.postings, postings_name(p, t), ChunkFormat::kPostings).size();
    }
    double n = static_cast<double>(n_), d = static_cast<double>(df);
    idf_.push_back(std::log(1.0 + (n - d + 0.5) / (d + 0.5)));
  }
}

void Ranker::score_all() {
  scores_.emplace(partitions_.size());
  if (n_ == 0 || avgdl_ <= 0) return;
  // K(|d|) = k1 * (1 - b + b * |d| / avgdl) = base + per_length * |d|
  const double base = params_.k1 * (1 - params_.b);
  const double per_length = params_.k1 * params_.b / avgdl_;
  for (size_t pi = 0; pi < partitions_.size(); ++pi) {
    Scores& scores = (*scores_)[pi];
    std::vector<SetReader> lists;
    std::vector<std::string> names;
    uint64_t low = UINT64_MAX;
    for (const std::string& t : terms_) {
      names.push_back(postings_name(partitions_[pi], t));
      lists.emplace_back(txn_, dbs_.postings, names.back(), ChunkFormat::kPostings);
      std::optional<std::string_view> first = lists.back().first();
      if (first && first->size() >= 8) low = std::min(low, get_be64(first->data()));
    }
    if (low == UINT64_MAX) continue;  // no term occurs here
    const uint64_t high = stats_[pi].next_docid;
    const bool dense = high > low && high - low <= std::max(kDenseAlways, kDenseFactor * stats_[pi].docs);
    if (dense) {
      scores.base = low;
      scores.dense.assign(high - low, 0.0);
    }
    for (size_t t = 0; t < terms_.size(); ++t) {
      const double weight = idf_[t] * (params_.k1 + 1);
      // Computed by the same expression as the postings outside it.
      double table[kTableTf][kTableLengths];
      for (uint32_t tf = 1; tf < kTableTf; ++tf) {
        for (uint32_t length = 0; length < kTableLengths; ++length) {
          table[tf][length] = share(weight, tf, length, base, per_length);
        }
      }
      auto contribution = [&](uint32_t tf, uint32_t length) {
        return tf < kTableTf && length < kTableLengths ? table[tf][length]
                                                       : share(weight, tf, length, base, per_length);
      };
      while (std::optional<std::string_view> raw = lists[t].next_chunk()) {
        if (dense) {
          double* out = scores.dense.data();
          const size_t size = scores.dense.size();
          bool bad = false;
          for_each_posting(*raw, [&](uint64_t docid, uint32_t tf, uint32_t length) {
            uint64_t i = docid - low;
            if (i < size) {
              out[i] += contribution(tf, length);
            } else {
              bad = true;
            }
          });
          if (bad) ByteReader({}, dbs_.postings.name, names[t]).fail("docid outside the partition's range");
        } else {
          for_each_posting(*raw, [&](uint64_t docid, uint32_t tf, uint32_t length) {
            scores.sparse[docid] += contribution(tf, length);
          });
        }
      }
    }
  }
}

std::vector<Scored> Ranker::top(size_t limit) {
  if (!scores_) score_all();
  if (limit == 0) return {};
  // Better = higher score, then lower docid, then earlier partition. The
  // heap keeps the worst of the best on top.
  auto better = [](const Scored& x, const Scored& y) {
    if (x.score != y.score) return x.score > y.score;
    if (x.docid != y.docid) return x.docid < y.docid;
    return x.partition < y.partition;
  };
  std::priority_queue<Scored, std::vector<Scored>, decltype(better)> best(better);
  auto offer = [&](const Scored& s) {
    if (best.size() < limit) {
      best.push(s);
    } else if (better(s, best.top())) {
      best.pop();
      best.push(s);
    }
  };
  // Once the heap is full only a score at least its worst can enter; most
  // documents are turned away by one comparison with this local copy.
  // Scores are > 0 where a query term occurs, 0 elsewhere, so one
  // comparison with a floor of at least the smallest double turns both
  // kinds away.
  double floor = std::numeric_limits<double>::min();
  for (size_t pi = 0; pi < scores_->size(); ++pi) {
    const Scores& scores = (*scores_)[pi];
    const double* dense = scores.dense.data();
    const size_t size = scores.dense.size();
    for (size_t block = 0; block < size; block += kBlock) {
      const size_t end = std::min(size, block + kBlock);
      if (!any_at_least(dense + block, end - block, floor)) continue;
      for (size_t i = block; i < end; ++i) {
        const double s = dense[i];
        if (s < floor) continue;
        offer({pi, scores.base + i, s});
        if (best.size() == limit) floor = std::max(best.top().score, std::numeric_limits<double>::min());
      }
    }
    for (const auto& [docid, s] : scores.sparse) offer({pi, docid, s});
  }
  std::vector<Scored> out;
  out.reserve(best.size());
  while (!best.empty()) {
    out.push_back(best.top());
    best.pop();
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace smol::storage::memory
