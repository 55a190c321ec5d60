// What swarmctl's tables show of text that agents wrote: readable text in
// any script as it is, escape sequences and broken bytes spelled out.
#include "cli/printable.h"

#include <gtest/gtest.h>

namespace smol::cli {
namespace {

TEST(Printable, KeepsTextInAnyScript) {
  EXPECT_EQ(printable("notes/2026 \"draft\" \\ ok"), "notes/2026 \"draft\" \\ ok");
  EXPECT_EQ(printable("Grüße aus Köln, 東京, 🐝"), "Grüße aus Köln, 東京, 🐝");
}

TEST(Printable, SpellsOutTerminalEscapes) {
  EXPECT_EQ(printable("evil\x1b]0;pwned\a\x1b[31mRED"), "evil\\x1b]0;pwned\\x07\\x1b[31mRED");
  EXPECT_EQ(printable(std::string("a\0b\x7f", 4)), "a\\x00b\\x7f");
  // C1 controls (U+009B is a one-character CSI on some terminals).
  EXPECT_EQ(printable("x\xc2\x9b" "31m"), "x\\xc2\\x9b31m");
}

TEST(Printable, KeepsOneCellOnOneLine) {
  EXPECT_EQ(printable("line one\nline\ttwo\r"), "line one line two ");
}

TEST(Printable, SpellsOutBytesThatAreNotUtf8) {
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(printable("cut \xe6\x9d"), "cut \\xe6\\x9d");       // a sequence cut short
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");               // an overlong '/'
  EXPECT_EQ(printable("\xed\xa0\x80"), "\\xed\\xa0\\x80");      // a UTF-16 surrogate
  EXPECT_EQ(printable("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // past U+10FFFF
}

}  // namespace
}  // namespace smol::cli
