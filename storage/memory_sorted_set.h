// Sorted sets of byte strings kept in one LMDB database, in chunks.
//
// Why: for items that arrive mostly in order and are read in runs
// (postings by document, entries by expiry time, tasks by age), a chunk
// holds hundreds of items in one LMDB value, so an append or a run of reads
// touches one value instead of one B-tree entry per item, and postings
// shrink to a quarter (below). Items that arrive all over the range cost a
// chunk rewrite each and are better as plain keys walked with Txn::scan:
// the store lists an agent's keys from mem_entries itself. A set keeps its
// items, sorted bytewise, in chunks:
//   "h" name                            -> head: item count, next chunk id,
//                                          per chunk its id, item count and
//                                          where it starts; then the set's
//                                          last item and its chunk's size
//   "c" varint(len name) name be32(id)  -> chunk: the items, encoded
// Seeking reads the head and one chunk; an insert or erase rewrites one
// chunk and the head. Appending past the end (new postings, later expiry
// times) fills the last chunk to the brim and starts new ones, and, thanks
// to the last item kept in the head, neither decodes nor re-encodes what the
// last chunk already holds. Erasing empties chunks, which are then dropped,
// and merges a small chunk into its neighbour.
//
// A database holds sets of one ChunkFormat:
//   kItems     varint(len) item ... ; a chunk holds about kChunkBytes, and
//              the head keeps each chunk's first item.
//   kPostings  for items that are a be64 docid, ascending, and two varints
//              (memory_index.h). A chunk stores each as varint(docid gap
//              from the one before, the first from 0) and the two varints:
//              about 3 bytes instead of 11, so a query reads a quarter of
//              the bytes. A chunk holds about kPostingChunkBytes of items
//              as they are (~1,400 postings), and the head keeps only each
//              chunk's first docid, as a gap from the previous chunk's.
//
// Scale: the head grows with the set: for kItems, the first item and
// ~4 bytes per chunk, ~60 KiB for 10^5 keys of 40 bytes; for kPostings ~5
// bytes per 1,400 postings. Past ~10^6 items per kItems set it wants a
// second head level, or plain keys.
//
// Threads: the loop thread, like the Txn they read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "storage/lmdb_env.h"

namespace smol::storage::memory {

inline constexpr size_t kChunkBytes = 4096;
// Postings are stored in about a quarter of their size, so their chunks
// hold four times the items: about 1,400 postings, 4 KiB stored.
inline constexpr size_t kPostingChunkBytes = 4 * kChunkBytes;

enum class ChunkFormat { kItems, kPostings };

// Reads one set. The Txn must not be written to while the reader is in use
// (views point into the map). Throws LmdbError(MDB_CORRUPTED) for a head or
// chunk it cannot decode, or a chunk the head names but that is missing.
class SetReader {
 public:
  // Reads the head; an absent set is empty.
  SetReader(const Txn& txn, const NamedDb& db, std::string_view name,
            ChunkFormat format = ChunkFormat::kItems);

  uint64_t size() const { return total_; }

  // Where the set starts, from the head (no chunk is read): kItems, the
  // smallest item; kPostings, the be64 docid of the first posting. nullopt
  // when the set is empty.
  std::optional<std::string_view> first() const;

  // Positions before the first item >= from ("" = the first item).
  void seek(std::string_view from);
  // The next item, or nullopt at the end. Valid until the Txn ends
  // (kPostings: until the next call).
  std::optional<std::string_view> next();
  // For scans that decode chunks themselves: the next whole chunk, as
  // stored (kItems: varint(len) item ...; kPostings: see above), or nullopt
  // at the end. Not to be mixed with seek() and next().
  std::optional<std::string_view> next_chunk();

 private:
  struct Chunk {
    uint32_t id;
    std::string_view first;
  };
  bool load(size_t index);
  std::string_view take();

  const Txn& txn_;
  const NamedDb& db_;
  std::string name_;
  ChunkFormat format_;
  std::string firsts_;     // kPostings: the chunks' first docids, be64
  uint64_t previous_ = 0;  // kPostings: the docid before rest_
  std::string decoded_;    // kPostings: the item next() returned
  uint64_t total_ = 0;
  std::vector<Chunk> chunks_;
  size_t chunk_ = 0;          // index into chunks_ of the loaded chunk
  std::string_view rest_;     // what is left of it
  bool loaded_ = false;
};

// Edits the sets one write transaction touches. Heads and chunks are
// decoded on first use, edited in memory and written back once by
// write_back(), so a batch of a thousand puts rewrites each set once.
// Create one per run of an LmdbEnv::write body (the body may run twice);
// nothing of it outlives the body.
class SetWriter {
 public:
  SetWriter(Txn& txn, const NamedDb& db, ChunkFormat format = ChunkFormat::kItems);
  SetWriter(const SetWriter&) = delete;
  SetWriter& operator=(const SetWriter&) = delete;
  ~SetWriter();

  // Returns false when the item was there already.
  bool insert(std::string_view name, std::string_view item);
  // Adds items that are sorted and each greater than every item of the set
  // (new postings: docids only grow), filling the last chunk and new ones
  // without a search per item. Falls back to insert() if they are not.
  void append(std::string_view name, const std::vector<std::string>& items);
  // Returns false when the item was not there.
  bool erase(std::string_view name, std::string_view item);
  // Up to limit items >= from, in order.
  std::vector<std::string> range(std::string_view name, std::string_view from, size_t limit);
  uint64_t size(std::string_view name);

  // Puts every changed chunk and head, deletes emptied ones. Call once, last.
  void write_back();

 private:
  struct Chunk;
  struct Set;
  Set& set(std::string_view name);
  // A chunk's size limit, in items as they are.
  size_t limit() const { return format_ == ChunkFormat::kItems ? kChunkBytes : kPostingChunkBytes; }
  // The chunk at index, decoded.
  Chunk& chunk(Set& s, size_t index);
  // The last chunk, loaded but not decoded if it was not loaded yet.
  Chunk& tail(Set& s);
  std::string_view stored(const Set& s, size_t index, std::string& key) const;
  void check_count(const Set& s, size_t index, size_t count, std::string_view key) const;
  // Appends item in the database's format; previous is the item before it
  // in the chunk ("" at its start).
  void encode(std::string& out, std::string_view item, std::string_view previous,
              std::string_view set) const;
  size_t find(const Set& s, std::string_view item) const;
  void split(Set& s, size_t index, bool appended);
  void merge_small(Set& s, size_t index);

  Txn& txn_;
  const NamedDb& db_;
  ChunkFormat format_;
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<Set>, Hash, std::equal_to<>> sets_;
};

// Deletes every set of db whose name starts with name_prefix, heads and
// chunks (write Txn only). Returns how many sets it deleted.
size_t drop_sets(Txn& txn, const NamedDb& db, std::string_view name_prefix);

}  // namespace smol::storage::memory
