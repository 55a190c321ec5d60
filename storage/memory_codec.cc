#include "storage/memory_codec.h"

#include <cstdio>

#include "storage/lmdb_env.h"

namespace smol::storage::memory {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_be64(std::string& out, uint64_t v) {
  char bytes[8];
  for (int i = 7; i >= 0; --i, v >>= 8) bytes[i] = static_cast<char>(v);
  out.append(bytes, 8);
}

void put_str(std::string& out, std::string_view s) {
  put_varint(out, s.size());
  out.append(s);
}

uint64_t get_be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string printable(std::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && u != '\\') {
      out.push_back(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  return out;
}

void ByteReader::fail(std::string_view why) const {
  std::string where(db_);
  where += '/';
  where += printable(key_);
  throw LmdbError(MDB_CORRUPTED, "decode", where, "corrupt record: " + std::string(why));
}

uint8_t ByteReader::byte() {
  if (p_ == end_) fail("ends early");
  return static_cast<uint8_t>(*p_++);
}

uint64_t ByteReader::varint() {
  if (p_ != end_ && static_cast<uint8_t>(*p_) < 0x80) return static_cast<uint8_t>(*p_++);
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    uint8_t b = byte();
    v |= uint64_t{b & 0x7fu} << shift;
    if ((b & 0x80) == 0) return v;
  }
  fail("varint longer than 10 bytes");
}

uint64_t ByteReader::be64() { return get_be64(bytes(8).data()); }

std::string_view ByteReader::bytes(size_t n) {
  if (static_cast<size_t>(end_ - p_) < n) fail("ends early");
  std::string_view s(p_, n);
  p_ += n;
  return s;
}

std::string_view ByteReader::str() { return bytes(varint()); }

// --- keys ---

char tier_char(Tier tier) {
  switch (tier) {
    case Tier::short_term: return 's';
    case Tier::working: return 'w';
    case Tier::long_term: return 'l';
  }
  return '?';
}

std::string tier_prefix(std::string_view swarm, Tier tier) {
  std::string p(swarm);
  p += '\0';
  p += tier_char(tier);
  if (tier != Tier::short_term) p += '\0';
  return p;
}

std::string partition(std::string_view swarm, Tier tier, std::string_view agent) {
  std::string p = tier_prefix(swarm, tier);
  if (tier == Tier::short_term) {
    p += agent;
    p += '\0';
  }
  return p;
}

std::string entry_key(std::string_view swarm, Tier tier, std::string_view agent, std::string_view key) {
  std::string k = partition(swarm, tier, agent);
  k += key;
  return k;
}

EntryKeyParts parse_entry_key(std::string_view ek, std::string_view db) {
  EntryKeyParts parts;
  size_t swarm_end = ek.find('\0');
  if (swarm_end == std::string_view::npos || swarm_end + 2 > ek.size()) {
    ByteReader({}, db, ek).fail("not an entry key");
  }
  parts.swarm = ek.substr(0, swarm_end);
  char t = ek[swarm_end + 1];
  size_t rest = swarm_end + 2;
  if (t == 's') {
    parts.tier = Tier::short_term;
    size_t agent_end = ek.find('\0', rest);
    if (agent_end == std::string_view::npos) ByteReader({}, db, ek).fail("not an entry key");
    parts.agent = ek.substr(rest, agent_end - rest);
    parts.key = ek.substr(agent_end + 1);
    return parts;
  }
  if ((t != 'w' && t != 'l') || rest >= ek.size() || ek[rest] != '\0') {
    ByteReader({}, db, ek).fail("not an entry key");
  }
  parts.tier = t == 'w' ? Tier::working : Tier::long_term;
  parts.key = ek.substr(rest + 1);
  return parts;
}

std::string postings_name(std::string_view partition, std::string_view term) {
  std::string n = "P";
  n += partition;
  n += term;
  return n;
}

std::string expiry_item(int64_t expires_ms, std::string_view entry_key) {
  std::string item;
  put_be64(item, static_cast<uint64_t>(expires_ms));
  item += entry_key;
  return item;
}

std::string docid_key(std::string_view partition, uint64_t docid) {
  std::string k(partition);
  put_be64(k, docid);
  return k;
}

std::string stats_key(std::string_view partition) {
  std::string k = "S";
  k += partition;
  return k;
}

std::string usage_key(std::string_view swarm) {
  std::string k = "U";
  k += swarm;
  return k;
}

// --- entry records ---

namespace {

Tier read_tier(ByteReader& r) {
  uint8_t t = r.byte();
  if (t >= kTierCount) r.fail("unknown tier " + std::to_string(t));
  return static_cast<Tier>(t);
}

void check_version(ByteReader& r) {
  uint8_t v = r.byte();
  if (v != kRecordVersion) r.fail("unknown record version " + std::to_string(v));
}

}  // namespace

std::string encode_entry(const Entry& e, uint64_t docid) {
  std::string out;
  out.reserve(64 + e.owner.size() + e.provenance.writer.size() + e.value.size());
  out.push_back(static_cast<char>(kRecordVersion));
  out.push_back(static_cast<char>(e.tier));
  put_varint(out, docid);
  put_str(out, e.owner);
  const Provenance& p = e.provenance;
  put_str(out, p.writer);
  put_varint(out, static_cast<uint64_t>(p.created_ms));
  put_varint(out, static_cast<uint64_t>(p.updated_ms));
  put_varint(out, static_cast<uint64_t>(e.expires_ms));
  put_varint(out, p.recall_count);
  put_varint(out, static_cast<uint64_t>(p.last_recalled_ms));
  put_varint(out, e.tags.size());
  for (const std::string& t : e.tags) put_str(out, t);
  put_varint(out, p.tiers.size());
  for (const TierStep& s : p.tiers) {
    out.push_back(static_cast<char>(s.tier));
    put_varint(out, static_cast<uint64_t>(s.entered_ms));
    put_str(out, s.by);
  }
  put_str(out, e.value);
  return out;
}

EntryRecord decode_entry(std::string_view value, bool with_value, std::string_view db,
                         std::string_view key) {
  ByteReader r(value, db, key);
  EntryRecord rec;
  Entry& e = rec.entry;
  check_version(r);
  e.tier = read_tier(r);
  rec.docid = r.varint();
  e.owner = r.str();
  Provenance& p = e.provenance;
  p.writer = r.str();
  p.created_ms = static_cast<int64_t>(r.varint());
  p.updated_ms = static_cast<int64_t>(r.varint());
  e.expires_ms = static_cast<int64_t>(r.varint());
  p.recall_count = r.varint();
  p.last_recalled_ms = static_cast<int64_t>(r.varint());
  uint64_t ntags = r.varint();
  if (ntags > value.size()) r.fail("tag count " + std::to_string(ntags));
  for (uint64_t i = 0; i < ntags; ++i) e.tags.emplace_back(r.str());
  uint64_t nsteps = r.varint();
  if (nsteps > value.size()) r.fail("tier step count " + std::to_string(nsteps));
  for (uint64_t i = 0; i < nsteps; ++i) {
    TierStep s;
    s.tier = read_tier(r);
    s.entered_ms = static_cast<int64_t>(r.varint());
    s.by = r.str();
    p.tiers.push_back(std::move(s));
  }
  std::string_view v = r.str();
  e.value_size = v.size();
  if (with_value) e.value = v;
  return rec;
}

// --- index records ---

std::string encode_doc(std::string_view partition, std::string_view entry_key, const DocTerms& terms) {
  std::string out;
  out.push_back(static_cast<char>(kRecordVersion));
  put_str(out, partition);
  put_str(out, entry_key);
  put_varint(out, terms.length);
  put_varint(out, terms.terms.size());
  for (const TermCount& t : terms.terms) {
    put_str(out, t.term);
    put_varint(out, t.tf);
  }
  return out;
}

DocRecord decode_doc(std::string_view value, std::string_view db, std::string_view key) {
  ByteReader r(value, db, key);
  check_version(r);
  DocRecord d;
  d.partition = r.str();
  d.entry_key = r.str();
  d.terms.length = static_cast<uint32_t>(r.varint());
  uint64_t n = r.varint();
  if (n > value.size()) r.fail("term count " + std::to_string(n));
  d.terms.terms.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    TermCount t;
    t.term = r.str();
    t.tf = static_cast<uint32_t>(r.varint());
    d.terms.terms.push_back(std::move(t));
  }
  return d;
}

std::string_view doc_entry_key(std::string_view value, std::string_view db, std::string_view key) {
  ByteReader r(value, db, key);
  check_version(r);
  r.str();
  return r.str();
}

std::string posting_item(uint64_t docid, uint32_t tf, uint32_t length) {
  std::string item;
  put_be64(item, docid);
  put_varint(item, tf);
  put_varint(item, length);
  return item;
}

std::string encode_counters(const std::vector<uint64_t>& values) {
  std::string out;
  out.push_back(static_cast<char>(kRecordVersion));
  for (uint64_t v : values) put_varint(out, v);
  return out;
}

std::vector<uint64_t> decode_counters(std::string_view value, size_t n, std::string_view db,
                                      std::string_view key) {
  ByteReader r(value, db, key);
  check_version(r);
  std::vector<uint64_t> out(n, 0);
  for (size_t i = 0; i < n && !r.done(); ++i) out[i] = r.varint();
  return out;
}

}  // namespace smol::storage::memory
