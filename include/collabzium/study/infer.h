#pragma once
// `infer`: approximate Bayesian computation by rejection (docs/model.md section 8). Draw k
// takes the prior keys' values from streams of (infer.seed, k), simulates one study of the
// scenario with those values from its own streams of (infer.seed, k), analyzes it as the study
// did, and is accepted when every observed finding holds. Every draw is kept, so `summarize` can
// recompute the posterior at other tolerances without simulating.
#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "collabzium/io/inference_file.h"
#include "collabzium/config/scenario.h"
#include "collabzium/study/batch_driver.h"
#include "collabzium/study/record.h"

namespace collabzium {

// The seed of the simulated studies of an inference: derive_seed(infer.seed, kInferStudyTag);
// draw k simulates replication k + 1 of condition 1 under it.
inline constexpr std::uint64_t kInferStudyTag = 0x696e666572ULL;  // "infer"

// Prior draw k (0-based) of one prior: the value of a real key, or the index of a choice.
double draw_prior(const Prior& prior, std::uint64_t seed, std::uint64_t k);
// The prior's cumulative distribution function at x (continuous kinds; for tests and figures).
double prior_cdf(const Prior& prior, double x);

// One observed finding checked against its simulated quantities (a number: its value; a
// coefficient finding: estimate then p). NaN fails every condition but "any".
bool meets(const Observed& observed, const double* quantities, double alpha);

// What the draws of an inference compute, fixed before the first.
struct InferencePlan {
  Scenario scenario;                    // the base, its analysis narrowed to the models the observed findings name
  std::vector<KeyHandle> keys;          // per prior
  std::vector<std::string> quantities;  // /draws names of the observed quantities (record columns)
  std::vector<std::size_t> first;       // per observed: its first quantity (1 for numbers, 2 for findings)
  RecordLayout layout;
  bool layout_varies = false;  // a prior key changes the record's columns: one layout per draw
  std::vector<int> column;     // per quantity: its column in `layout`
  double alpha = 0.05;
  std::uint64_t seed = 0, study_seed = 0;
  std::size_t width() const { return keys.size() + quantities.size() + 2; }  // + accepted, invalid
};

// Checks the observed names against the record (InputError FILE:LINE: infer.observed.NAME: ...).
InferencePlan plan_inference(const ScenarioFile& file);

// Draws `draws` (0-based indices) in parallel; draw i's row goes to rows[i * plan.width() ...]:
// prior values, observed quantities, accepted, invalid. Results do not depend on `threads` or order.
void compute_draws(const InferencePlan& plan, const InferSettings& infer, const std::vector<std::uint64_t>& draws,
                   int threads, double* rows);

// What `infer` is asked (batch_driver.h): stop_after counts draws.
using InferenceRequest = StudyRequest;
// Draws the missing draws into the inference file, then writes its posterior, the CSV and the
// table on `out`; as `run`, an interrupted or disk-full run throws RunInterrupted.
void run_inference(const ScenarioFile& file, const InferenceRequest& request, std::ostream& out);

// The posterior from kept draws: `values` maps each /draws column name to its K values.
struct PosteriorInput {
  const InferSettings* infer = nullptr;
  double alpha = 0.05;
  std::map<std::string, std::vector<double>> values;
  std::vector<std::uint8_t> done, invalid;
};
// Acceptance per draw (done, valid, every condition met) and the tidy summary.
std::vector<std::uint8_t> accepted_draws(const PosteriorInput& in);
std::vector<PosteriorRow> posterior_summary(const PosteriorInput& in);
void print_posterior(const std::vector<PosteriorRow>& rows, std::ostream& out);
void write_posterior_csv(const std::vector<PosteriorRow>& rows, std::ostream& out);

// `summarize` of an inference file: --tolerance NAME=VALUE replaces an observed number's tolerance.
void summarize_inference(const std::string& path, const std::string& csv, const std::vector<std::string>& tolerances,
                         std::ostream& out);

}  // namespace collabzium
