#include "collabzium/model/random.h"

namespace collabzium {

std::uint64_t mix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t condition, std::uint64_t replication,
                          StreamPurpose purpose) {
  // Chained hashing: each word is folded into a fully mixed state, so no two distinct tuples
  // are related by a simple shift (unlike seed + replication).
  std::uint64_t h = mix64(seed ^ 0x436f6c6c61627a69ULL);  // "Collabzi"
  h = mix64(h ^ condition);
  h = mix64(h ^ replication);
  h = mix64(h ^ static_cast<std::uint64_t>(purpose));
  return h;
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t tag) {
  return mix64(mix64(seed) ^ tag) & ((std::uint64_t{1} << 62) - 1);
}

}  // namespace collabzium
