@0x8fcf29392b537147;
# What swarmd persists in LMDB, one capnp message per value. Fields are only
# ever appended, so an older daemon's records still read.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("smol::storage::rec");

enum SwarmStatus {
  active @0;    # the daemon was running it when the record was written
  stopped @1;
  failed @2;
}

struct SwarmRecord {
  name @0 :Text;
  specToml @1 :Text;
  sourceName @2 :Text;
  baseDir @3 :Text;
  status @4 :SwarmStatus;
  createdUnixMillis @5 :Int64;
  stoppedUnixMillis @6 :Int64;
  lastError @7 :Text;
}
