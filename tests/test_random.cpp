// draw_normal inlines the common case of Boost's ziggurat; the streams must stay Boost's draw for
// draw, including the rare wedge and tail paths (results files are compared bit for bit).
#include <catch2/catch.hpp>
#include <cstring>

#include "collabzium/model/random.h"

using namespace collabzium;

TEST_CASE("draw_normal gives boost::random::normal_distribution's numbers, bit for bit", "[random]") {
  Engine ours = make_stream(20251126, 1, 1, StreamPurpose::Latent), boost_engine = ours;
  const double sds[] = {1.0, 0.6, 0.15, 3.0, 0.0, 1e-300, 7.5};
  long mismatches = 0, tails = 0;
  for (long k = 0; k < 4'000'000; ++k) {
    const double sd = sds[k % 7];
    const double a = draw_normal(ours, sd);
    const double b = sd == 0 ? 0.0 : boost::random::normal_distribution<double>(0.0, sd)(boost_engine);
    if (std::memcmp(&a, &b, sizeof a) != 0) ++mismatches;
    if (sd == 1.0 && std::fabs(a) > boost::random::detail::normal_table<double>::table_x[1]) ++tails;
  }
  CHECK(mismatches == 0);
  CHECK(tails > 0);                 // the tail path was taken
  CHECK(ours() == boost_engine());  // and the engines are at the same word
}
