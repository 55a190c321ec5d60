@0xc0a97eb6cee641d0;
# messaging_bench's Cap'n Proto floor: the least one RPC call costs.
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("smol::bench");

interface Echo {
  echo @0 (payload :Data) -> (payload :Data);
}
