#pragma once
// The settings of `infer`: its [infer] tables, parsed and validated with the scenario.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "collabzium/config/choices.h"
#include "collabzium/config/key_value.h"
#include "collabzium/config/limits.h"

namespace collabzium {

// [infer] (docs/model.md section 8): approximate Bayesian computation over scenario keys. The
// tables are validated with the scenario (each prior bound and value like the key itself); the
// observed names are checked against the record by the `infer` verb, which knows the record.
struct Prior {
  std::string key;  // a scenario key (real for uniform, log_uniform and normal; any for choice)
  PriorKind kind = PriorKind::Uniform;
  double a = 0, b = 0;  // uniform, log_uniform: [a, b]; normal: mean a, sd b
  // normal: the truncation (the key's own range when `bounds` is not given)
  bool bounds_given = false;
  double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
  std::vector<KeyValue> values;  // choice: the values, each valid for the key
  std::vector<double> weights;   // choice: normalized prior probabilities
  std::string file;              // where it was written, for messages
  long line = 0;
};

struct Observed {
  std::string name;  // MODEL.RATER.TERM (a coefficient) or another record column (a number)
  Finding finding = Finding::Number;
  double value = std::numeric_limits<double>::quiet_NaN(), tolerance = std::numeric_limits<double>::quiet_NaN();
  std::string file;
  long line = 0;
};

struct InferSettings {
  bool present = false;  // the file has an [infer] table
  std::int64_t draws = 20000;
  std::int64_t seed = -1;          // -1 until resolved: run.seed
  std::vector<Prior> prior;        // by key name
  std::vector<Observed> observed;  // by name
};

}  // namespace collabzium
