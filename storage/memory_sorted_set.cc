#include "storage/memory_sorted_set.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "storage/memory_codec.h"

namespace smol::storage::memory {
namespace {

std::string head_key(std::string_view name) {
  std::string k = "h";
  k += name;
  return k;
}

// What every chunk key of the set starts with: 4 bytes of id follow.
std::string chunk_prefix(std::string_view name) {
  std::string k = "c";
  put_varint(k, name.size());
  k += name;
  return k;
}

std::string chunk_key(std::string_view name, uint32_t id) {
  std::string k = chunk_prefix(name);
  for (int shift = 24; shift >= 0; shift -= 8) k.push_back(static_cast<char>(id >> shift));
  return k;
}

size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

size_t encoded_size(std::string_view item) { return varint_size(item.size()) + item.size(); }

// Where a chunk starts, as its head entry keeps it: kItems, its first item;
// kPostings, only the be64 docid of its first posting, which is all a search
// compares (a posting sorts after its own docid and before the next one's).
std::string first_key(ChunkFormat format, std::string_view item) {
  return std::string(format == ChunkFormat::kItems ? item : item.substr(0, 8));
}

// In the head, a kPostings chunk's first docid is the gap from the one
// before, so heads of long lists stay a few bytes per chunk.
void put_first(std::string& out, ChunkFormat format, std::string_view first, uint64_t& previous) {
  if (format == ChunkFormat::kItems) {
    put_str(out, first);
    return;
  }
  uint64_t docid = get_be64(first.data());
  put_varint(out, docid - previous);
  previous = docid;
}

// Reads one item off the front of a kItems chunk; the caller checked it is
// not empty.
std::string_view take_item(std::string_view& rest, std::string_view db, std::string_view key) {
  auto b = static_cast<uint8_t>(rest[0]);
  if (b < 0x80 && rest.size() > b) {  // the common case: a short item
    std::string_view item = rest.substr(1, b);
    rest.remove_prefix(1 + b);
    return item;
  }
  ByteReader r(rest, db, key);
  std::string_view item = r.str();
  rest.remove_prefix(static_cast<size_t>(item.data() + item.size() - rest.data()));
  return item;
}

// Reads one posting off the front of a kPostings chunk into `out` (be64
// docid + the two varints); `previous` is the docid before it.
void take_posting(std::string_view& rest, uint64_t& previous, std::string& out,
                  std::string_view db, std::string_view key) {
  ByteReader r(rest, db, key);
  previous += r.varint();
  size_t tail = rest.size() - r.remaining();
  r.varint();
  r.varint();
  size_t end = rest.size() - r.remaining();
  out.clear();
  put_be64(out, previous);
  out.append(rest.substr(tail, end - tail));
  rest.remove_prefix(end);
}

// Appends a posting item (be64 docid + varints) in kPostings form.
void put_posting(std::string& out, std::string_view item, uint64_t previous, std::string_view db,
                 std::string_view key) {
  if (item.size() < 10) ByteReader({}, db, key).fail("posting shorter than 10 bytes");
  put_varint(out, get_be64(item.data()) - previous);
  out.append(item.substr(8));
}

}  // namespace

// --- SetReader ---

SetReader::SetReader(const Txn& txn, const NamedDb& db, std::string_view name, ChunkFormat format)
    : txn_(txn), db_(db), name_(name), format_(format) {
  std::string key = head_key(name);
  std::optional<std::string_view> head = txn.get(db, key);
  if (!head) return;
  ByteReader r(*head, db.name, key);
  if (r.byte() != kRecordVersion) r.fail("unknown head version");
  total_ = r.varint();
  r.varint();  // next chunk id
  uint64_t n = r.varint();
  if (n > head->size()) r.fail("chunk count " + std::to_string(n));
  chunks_.reserve(n);
  if (format_ == ChunkFormat::kPostings) firsts_.reserve(8 * n);  // views point into it
  uint64_t docid = 0;
  for (uint64_t i = 0; i < n; ++i) {
    auto id = static_cast<uint32_t>(r.varint());
    r.varint();  // count
    if (format_ == ChunkFormat::kItems) {
      chunks_.push_back({id, r.str()});
    } else {
      docid += r.varint();
      put_be64(firsts_, docid);
      chunks_.push_back({id, std::string_view(firsts_).substr(8 * i, 8)});
    }
  }
}

bool SetReader::load(size_t index) {
  chunk_ = index;
  loaded_ = true;
  rest_ = {};
  previous_ = 0;
  if (index >= chunks_.size()) return false;
  std::string key = chunk_key(name_, chunks_[index].id);
  std::optional<std::string_view> value = txn_.get(db_, key);
  if (!value) ByteReader({}, db_.name, key).fail("chunk named by the set's head is missing");
  rest_ = *value;
  return true;
}

void SetReader::seek(std::string_view from) {
  if (chunks_.empty()) {
    load(0);
    return;
  }
  auto it = std::upper_bound(chunks_.begin(), chunks_.end(), from,
                             [](std::string_view f, const Chunk& c) { return f < c.first; });
  size_t index = it == chunks_.begin() ? 0 : static_cast<size_t>(it - chunks_.begin()) - 1;
  load(index);
  // Every item of later chunks is > from; only this chunk needs skipping in.
  while (!rest_.empty()) {
    std::string_view before = rest_;
    uint64_t previous = previous_;
    if (take() >= from) {
      rest_ = before;
      previous_ = previous;
      break;
    }
  }
}

std::string_view SetReader::take() {
  if (format_ == ChunkFormat::kItems) return take_item(rest_, db_.name, name_);
  take_posting(rest_, previous_, decoded_, db_.name, name_);
  return decoded_;
}

std::optional<std::string_view> SetReader::first() const {
  if (chunks_.empty()) return std::nullopt;
  return chunks_.front().first;
}

std::optional<std::string_view> SetReader::next_chunk() {
  if (!loaded_ ? !load(0) : !load(chunk_ + 1)) return std::nullopt;
  return std::exchange(rest_, {});
}

std::optional<std::string_view> SetReader::next() {
  if (!loaded_) load(0);
  while (rest_.empty()) {
    if (chunk_ + 1 >= chunks_.size()) return std::nullopt;
    load(chunk_ + 1);
  }
  return take();
}

// --- SetWriter ---

// A chunk being edited. Decoded into items for inserts and erases; a chunk
// that is only appended to (the tail of a posting list, at every put) stays
// as stored and gets the new items encoded onto its end, so a batch does not
// decode and re-encode the whole tail of every term it touches.
struct SetWriter::Chunk {
  bool decoded = true;
  std::vector<std::string> items;  // decoded
  std::string raw;                 // not decoded: the chunk as it will be stored
  std::string last;                // not decoded: its last item, "" if none
  size_t bytes = 0;                // its items as they are, varint(len) + item
  bool dirty = false;
};

struct SetWriter::Set {
  struct Meta {
    uint32_t id = 0;
    uint32_t count = 0;
    std::string first;
    std::unique_ptr<Chunk> chunk;  // null until loaded
  };
  std::string name;
  bool dirty = false;
  uint64_t total = 0;
  uint32_t next_id = 0;
  std::vector<Meta> chunks;
  std::vector<uint32_t> dropped;
  // From the head: the set's last item and its chunk's size, valid while
  // that chunk (tail_id) is still the last one.
  std::string last;
  size_t tail_bytes = 0;
  uint32_t tail_id = UINT32_MAX;
};

SetWriter::SetWriter(Txn& txn, const NamedDb& db, ChunkFormat format)
    : txn_(txn), db_(db), format_(format) {}

SetWriter::~SetWriter() = default;

SetWriter::Set& SetWriter::set(std::string_view name) {
  auto it = sets_.find(name);
  if (it != sets_.end()) return *it->second;
  auto s = std::make_unique<Set>();
  s->name = name;
  std::string key = head_key(name);
  if (std::optional<std::string_view> head = txn_.get(db_, key)) {
    ByteReader r(*head, db_.name, key);
    if (r.byte() != kRecordVersion) r.fail("unknown head version");
    s->total = r.varint();
    s->next_id = static_cast<uint32_t>(r.varint());
    uint64_t n = r.varint();
    if (n > head->size()) r.fail("chunk count " + std::to_string(n));
    s->chunks.resize(n);
    uint64_t docid = 0;
    for (Set::Meta& m : s->chunks) {
      m.id = static_cast<uint32_t>(r.varint());
      m.count = static_cast<uint32_t>(r.varint());
      if (format_ == ChunkFormat::kItems) {
        m.first = r.str();
      } else {
        docid += r.varint();
        put_be64(m.first, docid);
      }
    }
    if (!s->chunks.empty()) {
      s->last = r.str();
      s->tail_bytes = r.varint();
      s->tail_id = s->chunks.back().id;
    }
  }
  Set& ref = *s;
  sets_.emplace(std::string(name), std::move(s));
  return ref;
}

void SetWriter::encode(std::string& out, std::string_view item, std::string_view previous,
                       std::string_view set) const {
  if (format_ == ChunkFormat::kItems) {
    put_str(out, item);
    return;
  }
  uint64_t docid = previous.size() >= 8 ? get_be64(previous.data()) : 0;
  put_posting(out, item, docid, db_.name, set);
}

std::string_view SetWriter::stored(const Set& s, size_t index, std::string& key) const {
  key = chunk_key(s.name, s.chunks[index].id);
  std::optional<std::string_view> value = txn_.get(db_, key);
  if (!value) ByteReader({}, db_.name, key).fail("chunk named by the set's head is missing");
  return *value;
}

void SetWriter::check_count(const Set& s, size_t index, size_t count, std::string_view key) const {
  if (count != s.chunks[index].count) {
    ByteReader({}, db_.name, key)
        .fail("chunk holds " + std::to_string(count) + " items, its head says " +
              std::to_string(s.chunks[index].count));
  }
}

SetWriter::Chunk& SetWriter::chunk(Set& s, size_t index) {
  Set::Meta& m = s.chunks[index];
  if (m.chunk && m.chunk->decoded) return *m.chunk;
  std::string key;
  std::string kept;  // the raw bytes of a chunk appended to without decoding
  std::string_view rest;
  if (m.chunk) {
    kept = std::move(m.chunk->raw);
    rest = kept;
    key = chunk_key(s.name, m.id);
  } else {
    rest = stored(s, index, key);
  }
  auto c = std::make_unique<Chunk>();
  bool dirty = m.chunk && m.chunk->dirty;
  c->items.reserve(m.count);
  uint64_t previous = 0;
  std::string posting;
  while (!rest.empty()) {
    if (format_ == ChunkFormat::kItems) {
      c->items.emplace_back(take_item(rest, db_.name, key));
    } else {
      take_posting(rest, previous, posting, db_.name, key);
      c->items.push_back(posting);
    }
    c->bytes += encoded_size(c->items.back());
  }
  check_count(s, index, c->items.size(), key);
  c->dirty = dirty;
  m.chunk = std::move(c);
  return *m.chunk;
}

SetWriter::Chunk& SetWriter::tail(Set& s) {
  Set::Meta& m = s.chunks.back();
  if (m.chunk) return *m.chunk;
  std::string key;
  std::string_view rest = stored(s, s.chunks.size() - 1, key);
  auto c = std::make_unique<Chunk>();
  c->decoded = false;
  c->raw = rest;
  if (m.id == s.tail_id) {
    // The head says what the chunk ends with: no need to read it through.
    c->last = s.last;
    c->bytes = s.tail_bytes;
    m.chunk = std::move(c);
    return *m.chunk;
  }
  // Only the last item and the sizes are needed: items are not copied out.
  size_t count = 0;
  uint64_t docid = 0;
  std::string_view last;
  while (!rest.empty()) {
    if (format_ == ChunkFormat::kItems) {
      last = take_item(rest, db_.name, key);
      c->bytes += encoded_size(last);
    } else {
      ByteReader r(rest, db_.name, key);
      docid += r.varint();
      size_t tail_start = rest.size() - r.remaining();
      r.varint();
      r.varint();
      size_t end = rest.size() - r.remaining();
      last = rest.substr(tail_start, end - tail_start);
      c->bytes += 1 + 8 + last.size();  // as a be64 item, whose length fits one byte
      rest.remove_prefix(end);
    }
    ++count;
  }
  if (format_ == ChunkFormat::kItems) {
    c->last = last;
  } else if (count > 0) {
    put_be64(c->last, docid);
    c->last += last;
  }
  check_count(s, s.chunks.size() - 1, count, key);
  m.chunk = std::move(c);
  return *m.chunk;
}

size_t SetWriter::find(const Set& s, std::string_view item) const {
  auto it = std::upper_bound(s.chunks.begin(), s.chunks.end(), item,
                             [](std::string_view i, const Set::Meta& m) { return i < m.first; });
  return it == s.chunks.begin() ? 0 : static_cast<size_t>(it - s.chunks.begin()) - 1;
}

bool SetWriter::insert(std::string_view name, std::string_view item) {
  Set& s = set(name);
  if (s.chunks.empty()) {
    Set::Meta m;
    m.id = s.next_id++;
    m.first = first_key(format_, item);
    m.chunk = std::make_unique<Chunk>();
    s.chunks.push_back(std::move(m));
  }
  size_t index = find(s, item);
  Chunk& c = chunk(s, index);
  auto pos = std::lower_bound(c.items.begin(), c.items.end(), item);
  if (pos != c.items.end() && *pos == item) return false;
  bool appended = index + 1 == s.chunks.size() && pos == c.items.end();
  bool at_front = pos == c.items.begin();
  c.items.emplace(pos, item);
  c.bytes += encoded_size(item);
  c.dirty = true;
  Set::Meta& m = s.chunks[index];
  ++m.count;
  if (at_front) m.first = first_key(format_, item);
  ++s.total;
  s.dirty = true;
  if (c.bytes > limit() && c.items.size() >= 2) split(s, index, appended);
  return true;
}

void SetWriter::append(std::string_view name, const std::vector<std::string>& items) {
  if (items.empty()) return;
  Set& s = set(name);
  bool in_order = std::is_sorted(items.begin(), items.end()) &&
                  std::adjacent_find(items.begin(), items.end()) == items.end();
  if (in_order && !s.chunks.empty()) {
    const Chunk& t = tail(s);
    std::string_view last = t.decoded ? std::string_view(t.items.back()) : std::string_view(t.last);
    in_order = last < items.front();
  }
  if (!in_order) {
    for (const std::string& i : items) insert(name, i);
    return;
  }
  for (const std::string& item : items) {
    size_t size = encoded_size(item);
    if (s.chunks.empty() || tail(s).bytes + size > limit()) {
      Set::Meta m;
      m.id = s.next_id++;
      m.first = first_key(format_, item);
      m.chunk = std::make_unique<Chunk>();
      m.chunk->decoded = false;
      s.chunks.push_back(std::move(m));
    }
    Set::Meta& m = s.chunks.back();
    Chunk& c = *m.chunk;
    if (c.decoded) {
      c.items.push_back(item);
    } else {
      encode(c.raw, item, c.last, name);
      c.last = item;
    }
    c.bytes += size;
    c.dirty = true;
    ++m.count;
  }
  s.total += items.size();
  s.dirty = true;
}

void SetWriter::split(Set& s, size_t index, bool appended) {
  Chunk& c = *s.chunks[index].chunk;
  // Appends (new postings, later expiry times) move only the item that
  // overflowed, so chunks fill up instead of staying half empty.
  size_t keep = appended ? c.items.size() - 1 : c.items.size() / 2;
  auto moved = std::make_unique<Chunk>();
  moved->items.assign(std::make_move_iterator(c.items.begin() + static_cast<ptrdiff_t>(keep)),
                      std::make_move_iterator(c.items.end()));
  c.items.resize(keep);
  for (const std::string& i : moved->items) moved->bytes += encoded_size(i);
  c.bytes -= moved->bytes;
  moved->dirty = true;
  Set::Meta m;
  m.id = s.next_id++;
  m.count = static_cast<uint32_t>(moved->items.size());
  m.first = first_key(format_, moved->items.front());
  m.chunk = std::move(moved);
  s.chunks[index].count = static_cast<uint32_t>(keep);
  s.chunks.insert(s.chunks.begin() + static_cast<ptrdiff_t>(index) + 1, std::move(m));
}

bool SetWriter::erase(std::string_view name, std::string_view item) {
  Set& s = set(name);
  if (s.chunks.empty()) return false;
  size_t index = find(s, item);
  Chunk& c = chunk(s, index);
  auto pos = std::lower_bound(c.items.begin(), c.items.end(), item);
  if (pos == c.items.end() || *pos != item) return false;
  bool at_front = pos == c.items.begin();
  c.bytes -= encoded_size(item);
  c.items.erase(pos);
  c.dirty = true;
  Set::Meta& m = s.chunks[index];
  --m.count;
  --s.total;
  s.dirty = true;
  if (c.items.empty()) {
    s.dropped.push_back(m.id);
    s.chunks.erase(s.chunks.begin() + static_cast<ptrdiff_t>(index));
    return true;
  }
  if (at_front) m.first = first_key(format_, c.items.front());
  merge_small(s, index);
  return true;
}

void SetWriter::merge_small(Set& s, size_t index) {
  if (s.chunks[index].chunk->bytes >= limit() / 4 || s.chunks.size() < 2) return;
  // Merge the pair (index, index + 1), or (index - 1, index) at the end.
  size_t left = index + 1 < s.chunks.size() ? index : index - 1;
  Chunk& a = chunk(s, left);
  Chunk& b = chunk(s, left + 1);
  if (a.bytes + b.bytes > limit()) return;
  a.items.insert(a.items.end(), std::make_move_iterator(b.items.begin()),
                 std::make_move_iterator(b.items.end()));
  a.bytes += b.bytes;
  a.dirty = true;
  s.chunks[left].count += s.chunks[left + 1].count;
  s.dropped.push_back(s.chunks[left + 1].id);
  s.chunks.erase(s.chunks.begin() + static_cast<ptrdiff_t>(left) + 1);
}

std::vector<std::string> SetWriter::range(std::string_view name, std::string_view from,
                                          size_t limit) {
  std::vector<std::string> out;
  Set& s = set(name);
  for (size_t index = s.chunks.empty() ? 0 : find(s, from);
       index < s.chunks.size() && out.size() < limit; ++index) {
    const Chunk& c = chunk(s, index);
    for (auto it = std::lower_bound(c.items.begin(), c.items.end(), from);
         it != c.items.end() && out.size() < limit; ++it) {
      out.push_back(*it);
    }
  }
  return out;
}

uint64_t SetWriter::size(std::string_view name) { return set(name).total; }

void SetWriter::write_back() {
  for (auto& [name, s] : sets_) {
    if (!s->dirty) continue;
    for (uint32_t id : s->dropped) txn_.del(db_, chunk_key(name, id));
    std::string value;
    for (const Set::Meta& m : s->chunks) {
      if (!m.chunk || !m.chunk->dirty) continue;
      if (!m.chunk->decoded) {
        txn_.put(db_, chunk_key(name, m.id), m.chunk->raw);
        continue;
      }
      value.clear();
      value.reserve(m.chunk->bytes);
      std::string_view previous;
      for (const std::string& i : m.chunk->items) {
        encode(value, i, previous, name);
        previous = i;
      }
      assert(format_ != ChunkFormat::kItems || value.size() == m.chunk->bytes);
      txn_.put(db_, chunk_key(name, m.id), value);
    }
    if (s->total == 0) {
      txn_.del(db_, head_key(name));
      continue;
    }
    value.clear();
    value.push_back(static_cast<char>(kRecordVersion));
    put_varint(value, s->total);
    put_varint(value, s->next_id);
    put_varint(value, s->chunks.size());
    uint64_t docid = 0;
    for (const Set::Meta& m : s->chunks) {
      put_varint(value, m.id);
      put_varint(value, m.count);
      put_first(value, format_, m.first, docid);
    }
    // The last item and the last chunk's size, so the next append need not
    // read that chunk through (see tail()).
    const Chunk& t = tail(*s);
    put_str(value, t.decoded ? std::string_view(t.items.back()) : std::string_view(t.last));
    put_varint(value, t.bytes);
    txn_.put(db_, head_key(name), value);
  }
  sets_.clear();
}

size_t drop_sets(Txn& txn, const NamedDb& db, std::string_view name_prefix) {
  const std::string heads = head_key(name_prefix);
  std::vector<std::string> names;
  txn.scan(db, heads, [&](std::string_view key, std::string_view) {
    if (!key.starts_with(heads)) return false;
    names.emplace_back(key.substr(1));
    return true;
  });
  for (const std::string& name : names) {
    const std::string chunks = chunk_prefix(name);
    std::vector<std::string> keys;
    txn.scan(db, chunks, [&](std::string_view key, std::string_view) {
      if (!key.starts_with(chunks)) return false;
      if (key.size() == chunks.size() + 4) keys.emplace_back(key);
      return true;
    });
    for (const std::string& key : keys) txn.del(db, key);
    txn.del(db, head_key(name));
  }
  return names.size();
}

}  // namespace smol::storage::memory
