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

namespace detail {

// Boost's loop (boost/random/normal_distribution.hpp, unit_normal_distribution::operator()) from
// the wedge test of the first box on, with the same operations in the same order.
double unit_normal_rest(Engine& eng, int box, double x, int sign) {
  using Table = boost::random::detail::normal_table<double>;
  const double* tx = Table::table_x;
  const double* ty = Table::table_y;
  for (;;) {
    if (box == 0) return boost::random::detail::unit_normal_distribution<double>().generate_tail(eng) * sign;
    const double y01 = boost::random::uniform_01<double>()(eng);
    const double y = ty[box] + y01 * (ty[box + 1] - ty[box]);
    double above_upper, above_lower;
    if (tx[box] >= 1) {  // convex (incl. the inflection box)
      above_upper = (tx[box] - tx[box + 1]) * y01 - (tx[box] - x);
      above_lower = y - (ty[box] + (tx[box] - x) * ty[box] * tx[box]);
    } else {  // concave
      above_lower = (tx[box] - tx[box + 1]) * y01 - (tx[box] - x);
      above_upper = y - (ty[box] + (tx[box] - x) * ty[box] * tx[box]);
    }
    if (above_upper < 0 && (above_lower < 0 || y < boost::random::detail::unit_normal_distribution<double>::f(x)))
      return x * sign;
    std::uint64_t u = eng();
    box = static_cast<int>(u & 0xFF);
    u &= ~(std::uint64_t(1) << 11);
    const double r = static_cast<double>(u >> 8) * (1.0 / static_cast<double>(std::uint64_t(1) << 56));
    sign = (box & 1) * 2 - 1;
    box >>= 1;
    x = r * tx[box];
    if (x < tx[box + 1]) return x * sign;
  }
}

}  // namespace detail

}  // namespace collabzium
