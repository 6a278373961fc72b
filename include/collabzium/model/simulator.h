#pragma once
// The data-generating model of MODEL.md section 2: one cohort per (seed, condition, replication).
#include <cstdint>

#include "collabzium/model/cohort.h"
#include "collabzium/model/scenario.h"

namespace collabzium {

// Simulates replication `replication` of condition `condition` (both 1-based) into `out`,
// replacing its contents. Draws only from the streams of (seed, condition, replication).
void simulate_cohort(const Scenario& scenario, std::uint64_t seed, int condition,
                     std::int64_t replication, Cohort& out);

inline Cohort simulate_cohort(const Scenario& scenario, std::uint64_t seed, int condition,
                              std::int64_t replication) {
  Cohort c;
  simulate_cohort(scenario, seed, condition, replication, c);
  return c;
}

}  // namespace collabzium
