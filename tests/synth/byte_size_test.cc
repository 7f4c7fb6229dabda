#include "util/byte_size.h"

#include <string>

#include <gtest/gtest.h>

#include "util/error.h"

namespace octet {
namespace {

TEST(SynthByteSizeTest, AcceptsHuggingFaceSpellings) {
  EXPECT_EQ(ParseByteSize("5GB", "--max-shard-size"), 5'000'000'000u);
  EXPECT_EQ(ParseByteSize("500MB", "x"), 500'000'000u);
  EXPECT_EQ(ParseByteSize("500mb", "x"), 500'000'000u);
  EXPECT_EQ(ParseByteSize("2GB", "x"), 2'000'000'000u);
  EXPECT_EQ(ParseByteSize("1GiB", "x"), 1073741824u);
  EXPECT_EQ(ParseByteSize("10KiB", "x"), 10240u);
  EXPECT_EQ(ParseByteSize("3MiB", "x"), 3u * 1024 * 1024);
  EXPECT_EQ(ParseByteSize("1TiB", "x"), 1099511627776u);
  EXPECT_EQ(ParseByteSize("100kB", "x"), 100'000u);
  EXPECT_EQ(ParseByteSize("100K", "x"), 100'000u);
  EXPECT_EQ(ParseByteSize("1.5GB", "x"), 1'500'000'000u);
  EXPECT_EQ(ParseByteSize("2 GB", "x"), 2'000'000'000u);
  EXPECT_EQ(ParseByteSize("4096", "x"), 4096u);
  EXPECT_EQ(ParseByteSize("4096B", "x"), 4096u);
  EXPECT_EQ(ParseByteSize("18446744073709551615", "x"), 18446744073709551615u);
}

TEST(SynthByteSizeTest, RefusesNonsenseWithTheOptionName) {
  for (const std::string bad : {"", "GB", "-5GB", "5XB", "5 G B", "1.2.3GB", "0", "0GB", "0.0000000001B",
                                "18446744073709551616", "20000000TB", "5GB extra", "0x10"}) {
    try {
      ParseByteSize(bad, "--max-shard-size");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("--max-shard-size"), std::string::npos) << message;
      EXPECT_NE(message.find("'" + bad + "'"), std::string::npos) << message;
    }
  }
}

TEST(SynthByteSizeTest, FormatsWithDecimalUnits) {
  EXPECT_EQ(FormatByteSize(0), "0 B");
  EXPECT_EQ(FormatByteSize(999), "999 B");
  EXPECT_EQ(FormatByteSize(1500), "1.50 kB");
  EXPECT_EQ(FormatByteSize(4'444'000'000), "4.44 GB");
  EXPECT_EQ(FormatByteSize(812'300'000), "812.3 MB");
}

}  // namespace
}  // namespace octet
