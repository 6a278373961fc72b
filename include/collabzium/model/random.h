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

inline double draw_normal(Engine& eng, double sd) {
  if (sd == 0) return 0.0;  // no draw: a zero sd switches a component off without shifting the stream
  return boost::random::normal_distribution<double>(0.0, sd)(eng);
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
