// printable(): text from agents made safe to show on the operator's terminal.
//
// Memory keys, tags and values, vibe notes and the like are written by
// agents, and agents are not trusted: printed raw, an escape sequence in a
// key could retitle the operator's terminal, move its cursor or hide rows
// of a table. So what swarmctl shows in its tables keeps valid UTF-8 (names
// in any script read as written) and spells out every control character
// and every byte that is not UTF-8 as \xNN. Tabs and line breaks become
// spaces, so that one cell stays one line.
#pragma once

#include <string>
#include <string_view>

namespace smol::cli {

std::string printable(std::string_view text);

}  // namespace smol::cli
