@0xc4f1e0a3b5d27e91;
# Swarm memory as both protocols see it: the operator's (control.capnp,
# `swarmctl mem`) and the agents' (agent.capnp, Memory). The store itself is
# storage/memory_store.h; these are its entries on the wire.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("smol::rpc");

enum MemoryTier {
  shortTerm @0;   # private to its owner agent, with a time-to-live
  working @1;     # shared by the swarm
  longTerm @2;    # kept until deleted, across daemon restarts
}

struct MemoryTierStep {
  tier @0 :MemoryTier;
  enteredUnixMillis @1 :Int64;
  by @2 :Text;                       # "" = daemon or operator
}

struct MemoryEntry {
  key @0 :Text;
  tier @1 :MemoryTier;
  owner @2 :Text;                    # shortTerm: the owner agent; else ""
  value @3 :Data;                    # empty in memList
  valueSize @4 :UInt64;
  tags @5 :List(Text);
  expiresUnixMillis @6 :Int64;       # shortTerm only; 0 = never
  writer @7 :Text;                   # provenance: the last put's agent
  createdUnixMillis @8 :Int64;
  updatedUnixMillis @9 :Int64;
  tiersPassed @10 :List(MemoryTierStep);  # oldest first
  recallCount @11 :UInt64;
  lastRecalledUnixMillis @12 :Int64;
}

struct MemoryHit {
  score @0 :Float64;
  entry @1 :MemoryEntry;
}

