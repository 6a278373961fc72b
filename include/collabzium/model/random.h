#pragma once
// Random streams. Every draw of replication r of condition c comes from an engine whose seed is a
// hash of (seed, c, r, purpose): results never depend on threads, ranks, order or resuming, and the
// named purposes keep parts of the model apart (changing a rater's parameters changes only that
// rater's stream, so the latent truth of the cohort stays the same). The hash is SplitMix64's
// finalizer applied to each word in turn, so neighbouring triples give unrelated seeds.
#include <boost/random/gamma_distribution.hpp>
#include <boost/random/mersenne_twister.hpp>
#include <boost/random/normal_distribution.hpp>
#include <boost/random/poisson_distribution.hpp>
#include <boost/random/uniform_01.hpp>
#include <boost/random/uniform_int_distribution.hpp>
#include <cmath>
#include <cstdint>

namespace collabzium {

using Engine = boost::random::mt19937_64;

// The version of the random streams: the generator, the seed derivation and the samplers below.
// "v1" is that of every release so far, kept forever so that published results reproduce bit for
// bit; a faster layout would get a new name. `collabzium --version` and `validate` report it.
inline constexpr const char* kRandomStreamVersion = "v1";

enum class StreamPurpose : std::uint64_t {
  Design = 1,               // allocation to therapists, planned numbers of sessions
  Latent = 2,               // alliance, ruptures, repairs, latent distress, dropout
  PatientRater = 3,         // the patient's ratings of the alliance
  TherapistRater = 4,       // the therapist's ratings of the alliance
  DistressMeasurement = 5,  // the distress questionnaire's item noise
  // One uniform per rupture episode and rater decides registration (u < registration), so raising
  // `registration` registers a superset of the same episodes and rating noise never shifts it.
  PatientRegistration = 6,
  TherapistRegistration = 7,
  Dsem = 8,  // the DSEM sampler's chains (analysis model "dsem")
  // `infer`'s prior draws: draw k of key K uses (infer.seed, 0, k + 1, InferPrior) with K's name
  // hashed in, so adding a prior key leaves the other keys' draws unchanged.
  InferPrior = 9,
};

std::uint64_t mix64(std::uint64_t x);
std::uint64_t stream_seed(std::uint64_t seed, std::uint64_t condition, std::uint64_t replication,
                          StreamPurpose purpose);

// A seed for an independent run derived from `seed` and a tag: mix64(mix64(seed) ^ tag), kept to 62
// bits so that it is a valid run.seed. Different tags give unrelated streams (calibrate's check run,
// solve's batches and verification run).
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t tag);

inline Engine make_stream(std::uint64_t seed, std::uint64_t condition, std::uint64_t replication,
                          StreamPurpose purpose) {
  return Engine(stream_seed(seed, condition, replication, purpose));
}

// Sampling helpers: the engine is always passed explicitly.
inline double draw_uniform(Engine& eng) { return boost::random::uniform_01<double>()(eng); }

namespace detail {

// Boost's ziggurat (boost::random::normal_distribution, Boost 1.74 and later) once its first box
// test failed: the wedge test of that box, the tail, and the further rounds. Out of line: it runs for
// about 3% of draws.
double unit_normal_rest(Engine& eng, int box, double x, int sign);

// The same numbers from the same engine words as boost::random::detail::unit_normal_distribution
// with mt19937_64, whose generate_int_float_pair<double, 8> takes one 64-bit word: the low 8 bits
// are the box and the sign, bits 8..63 (bit 11 cleared, as Boost does) the uniform. The common case
// (the point falls inside its box) is inlined into the item loops; Boost's call per draw cost about
// 40 instructions more than the draw itself (tests/test_random.cpp compares the two).
inline double unit_normal(Engine& eng) {
  using Table = boost::random::detail::normal_table<double>;
  std::uint64_t u = eng();
  int box = static_cast<int>(u & 0xFF);
  u &= ~(std::uint64_t(1) << 11);
  const double r = static_cast<double>(u >> 8) * (1.0 / static_cast<double>(std::uint64_t(1) << 56));
  const int sign = (box & 1) * 2 - 1;
  box >>= 1;
  const double x = r * Table::table_x[box];
  if (x < Table::table_x[box + 1]) [[likely]]
    return x * sign;
  return unit_normal_rest(eng, box, x, sign);
}

}  // namespace detail

// N(0, sd²) exactly as boost::random::normal_distribution<double>(0, sd) draws it: unit · sd + 0.
inline double draw_normal(Engine& eng, double sd) {
  if (sd == 0) return 0.0;  // no draw: a zero sd switches a component off without shifting the stream
  return detail::unit_normal(eng) * sd + 0.0;
}

inline bool draw_bernoulli(Engine& eng, double p) { return draw_uniform(eng) < p; }

// Gamma with the given mean and sd (shape mean²/sd², scale sd²/mean); sd 0 gives the mean.
inline double draw_gamma_mean_sd(Engine& eng, double mean, double sd) {
  if (sd == 0) return mean;
  const double shape = (mean * mean) / (sd * sd);
  return boost::random::gamma_distribution<double>(shape, (sd * sd) / mean)(eng);
}

inline std::int64_t draw_poisson(Engine& eng, double mean) {
  return boost::random::poisson_distribution<std::int64_t, double>(mean)(eng);
}

inline std::int64_t draw_uniform_int(Engine& eng, std::int64_t lo, std::int64_t hi) {
  return boost::random::uniform_int_distribution<std::int64_t>(lo, hi)(eng);
}

}  // namespace collabzium
