#pragma once
// The configuration's limits, stated in its refusal messages.
#include <cstddef>
#include <cstdint>

namespace collabzium {

// Limits checked while parsing, before anything is allocated (messages state them):
//   conditions of the sweep (product of the axis lengths);
//   conditions x run.replications, the replications of a study;
//   design.patients x design.sessions.max, the most rows a cohort can have;
//   the shape mean²/sd² of the Gamma depths (rupture.depth_*, raters.*.false_alarm_depth*).
inline constexpr std::size_t kMaxConditions = 1000000;
inline constexpr std::size_t kMaxStudyReplications = 100000000;
inline constexpr std::int64_t kMaxCohortRows = 10000000;
inline constexpr double kMinGammaShape = 1e-12, kMaxGammaShape = 1e12;
// The most threads a run, solve or calibrate may ask for (run.threads and --threads).
inline constexpr std::int64_t kMaxThreads = 4096;

// `infer`'s draws: as many as a study's replications.
inline constexpr std::int64_t kMaxInferDraws = static_cast<std::int64_t>(kMaxStudyReplications);

}  // namespace collabzium
