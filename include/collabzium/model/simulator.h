#pragma once
// The data-generating model of docs/model.md section 2: one cohort per (seed, condition, replication).
#include <cstdint>

#include "collabzium/config/scenario.h"
#include "collabzium/error.h"
#include "collabzium/model/cohort.h"
#include "collabzium/model/parameters.h"

namespace collabzium {

// A generated value (latent or observed alliance or distress) that is not finite: each key is in
// its range but together they overflow the model's arithmetic. An InputError (exit status 2) whose
// message names the value, where it arose and the keys that enter it; the runner stops the whole
// command on it rather than counting the replication as a failed fit.
class GeneratorError : public InputError {
 public:
  using InputError::InputError;
};

// Simulates replication `replication` of condition `condition` (both 1-based) into `out`,
// replacing its contents. Draws only from the streams of (seed, condition, replication). Throws
// GeneratorError when a generated value is not finite.
void simulate_cohort(const Scenario& scenario, std::uint64_t seed, int condition, std::int64_t replication,
                     Cohort& out);

// The same with the session-level parameters of `table` (built from `scenario`, perhaps with an
// arm); every other key comes from `scenario`. `reference`, when not null, receives the cohort in
// which every patient follows the table's base entry, from the same person-level draws and streams
// (the other world of a trial's potential outcomes). With ParameterTable(scenario) and no reference,
// the same cohort as above.
void simulate_cohort(const Scenario& scenario, const ParameterTable& table, std::uint64_t seed, int condition,
                     std::int64_t replication, Cohort& out, Cohort* reference = nullptr);

inline Cohort simulate_cohort(const Scenario& scenario, std::uint64_t seed, int condition, std::int64_t replication) {
  Cohort c;
  simulate_cohort(scenario, seed, condition, replication, c);
  return c;
}

}  // namespace collabzium
