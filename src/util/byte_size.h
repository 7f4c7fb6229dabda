// Human-readable byte sizes for command-line limits such as `--max-shard-size`, spelled the way Hugging Face spells
// them (`save_pretrained(max_shard_size="5GB")`): decimal units KB/MB/GB/TB are powers of 1000 and binary units
// KiB/MiB/GiB/TiB powers of 1024, so "5GB" gives the same shards as transformers does.
#ifndef OCTET_UTIL_BYTE_SIZE_H_
#define OCTET_UTIL_BYTE_SIZE_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace octet {

// Parses "<number>[ ]<unit>": the number is a non-negative decimal ("1.5GB" is fine, the result is rounded down to
// whole bytes); the unit is one of B, K/KB, M/MB, G/GB, T/TB (powers of 1000), KiB, MiB, GiB, TiB (powers of 1024),
// case-insensitive; no unit means bytes. The result must be at least one byte: every caller uses it as a limit, and
// a zero limit is always a typo. `what` names the option in the error ("--max-shard-size: ...").
uint64_t ParseByteSize(std::string_view text, std::string_view what);

// "4.44 GB" / "812.3 MB" / "96 B": decimal units, two decimals (one from 100 up), for progress and summaries.
std::string FormatByteSize(uint64_t bytes);

}  // namespace octet

#endif  // OCTET_UTIL_BYTE_SIZE_H_
