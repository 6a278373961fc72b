#pragma once
// The checks behind the libFuzzer harnesses, kept free of libFuzzer so that the Catch2 test
// (tests/test_fuzz_regressions.cpp) replays the corpus and every committed regression input with
// g++ too. Each check_* takes arbitrary bytes: bad input must end in InputError (swallowed here);
// any other exception is a finding and is thrown on as FuzzFinding or as itself.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

#include "collabzium/error.h"
#include "collabzium/io/cohort_reader.h"
#include "collabzium/config/scenario.h"
#include "collabzium/serve/request.h"
#include "collabzium/study/runner.h"

namespace collabzium::fuzz {

// A broken property (not a crash): the message says which.
class FuzzFinding : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

// Scenario input: TOML text, then optionally "\n--set " followed by one KEY=VALUE override, repeated
// (an override runs to the next "\n--set " or the end, so it may span lines). At most 8 overrides
// are taken; the rest stays in the last one.
struct ScenarioInput {
  std::string toml;
  std::vector<std::string> overrides;
};

inline ScenarioInput split_scenario_input(std::string_view data) {
  static constexpr std::string_view kMarker = "\n--set ";
  ScenarioInput in;
  std::size_t cut = data.find(kMarker);
  in.toml = std::string(data.substr(0, cut));
  while (cut != std::string_view::npos) {
    const std::size_t start = cut + kMarker.size();
    cut = in.overrides.size() + 1 < 8 ? data.find(kMarker, start) : std::string_view::npos;
    in.overrides.emplace_back(data.substr(start, cut == std::string_view::npos ? cut : cut - start));
  }
  return in;
}

// parse_scenario accepts or refuses with InputError; when it accepts, to_toml's output must parse
// again (no overrides) and print identically, with the same number of conditions.
inline void check_scenario_input(std::string_view data) {
  const ScenarioInput in = split_scenario_input(data);
  ScenarioFile first;
  try {
    first = parse_scenario(in.toml, "fuzz.toml", in.overrides);
  } catch (const InputError&) {
    return;
  }
  // One condition per combination of sweep values, numbered from 1 (no sweep: the base, once).
  std::size_t expected = 1;
  for (const auto& axis : first.sweep) {
    if (axis.values.empty() || expected > 1000000 / axis.values.size())
      throw FuzzFinding("accepted a sweep with an empty axis or over 1000000 conditions");
    expected *= axis.values.size();
  }
  if (first.conditions.size() != expected)
    throw FuzzFinding("expected " + std::to_string(expected) + " conditions, got " +
                      std::to_string(first.conditions.size()));
  for (std::size_t c = 0; c < expected; ++c)
    if (first.conditions[c].index != static_cast<int>(c) + 1) throw FuzzFinding("conditions not numbered 1..C");
  const std::string printed = to_toml(first);
  ScenarioFile second;
  try {
    second = parse_scenario(printed, "printed.toml");
  } catch (const InputError& e) {
    throw FuzzFinding(std::string("to_toml output refused by parse_scenario: ") + e.what() + "\n" + printed);
  }
  if (second.conditions.size() != first.conditions.size())
    throw FuzzFinding("to_toml output has " + std::to_string(second.conditions.size()) + " conditions, not " +
                      std::to_string(first.conditions.size()));
  const std::string reprinted = to_toml(second);
  if (reprinted != printed) throw FuzzFinding("to_toml is not stable:\n" + printed + "\n---\n" + reprinted);
}

// parse_cohort_csv accepts or refuses with InputError; an accepted cohort has the shape cohort.h
// promises: consistent sizes, indices in range, rows sorted by patient then session, each patient's
// rows contiguous at offset[i].
inline void check_cohort_input(std::string_view data) {
  Cohort c;
  try {
    parse_cohort_csv(std::string(data), "fuzz.csv", c);
  } catch (const InputError&) {
    return;
  }
  const std::size_t n = c.rows(), p = c.patients();
  auto require = [](bool ok, const char* what) {
    if (!ok) throw FuzzFinding(std::string("cohort read from CSV: ") + what);
  };
  require(n > 0 && p > 0, "no rows or no patients");
  for (const std::size_t size :
       {c.patient.size(), c.distress.size(), c.alliance_patient.size(), c.alliance_therapist.size(),
        c.true_alliance.size(), c.true_distress.size(), c.true_ruptured.size(), c.true_onset.size(),
        c.true_repair.size(), c.registered_patient.size(), c.registered_therapist.size(), c.dropout.size()})
    require(size == n, "a per-row vector does not have one entry per row");
  require(c.offset.size() == p + 1 && c.offset.front() == 0 && c.offset.back() == n, "offsets do not cover the rows");
  require(c.patient_labels.size() == p, "not one label per patient");
  require(static_cast<std::size_t>(c.n_therapists) == c.therapist_labels.size(), "not one label per therapist");
  for (std::size_t i = 0; i < p; ++i) {
    require(c.therapist[i] >= 0 && c.therapist[i] < c.n_therapists, "therapist index out of range");
    require(c.offset[i] < c.offset[i + 1], "a patient without rows");
    for (std::size_t r = c.offset[i]; r < c.offset[i + 1]; ++r) {
      require(c.patient[r] == static_cast<int>(i), "a row outside its patient's block");
      require(c.session[r] >= 1, "a session below 1");
      require(r == c.offset[i] || c.session[r - 1] < c.session[r], "sessions not strictly increasing");
    }
  }
}

// A temporary file private to this process, removed on exit.
class TempFile {
 public:
  explicit TempFile(const std::string& suffix)
      : path_((std::filesystem::temp_directory_path() / ("collabzium_fuzz_" + std::to_string(::getpid()) + suffix))
                  .string()) {}
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }
  void write(std::string_view data) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) throw std::runtime_error("cannot write " + path_);
  }

 private:
  std::string path_;
};

// The bytes as a results file through `summarize` (read_results, the config attribute through
// parse_scenario, every column read back, the summary computed and printed).
inline void check_results_input(std::string_view data, const TempFile& file) {
  file.write(data);
  std::ostringstream sink;
  try {
    summarize_results(file.path(), "", sink);
  } catch (const InputError& e) {
    // Every failure while reading a results file, HDF5's included, is one line naming the file.
    const std::string what = e.what();
    if (what.rfind(file.path(), 0) != 0 || what.find('\n') != std::string::npos) throw;
  }
}

// A sandbox request body (`serve`): request_overrides accepts or refuses with InputError; what it
// accepts are KEY=VALUE overrides, and the scenario they make (from an empty file, as --set values)
// is accepted or refused with InputError, has one condition (requests cannot sweep) and prints as
// TOML that parses again.
inline void check_request_input(std::string_view data) {
  std::vector<std::string> overrides;
  try {
    overrides = request_overrides(data);
  } catch (const InputError&) {
    return;
  }
  for (const auto& o : overrides)
    if (o.find('=') == std::string::npos || o.find('=') == 0) throw FuzzFinding("an override without KEY=: " + o);
  ScenarioFile file;
  try {
    file = parse_scenario("", "sandbox.toml", overrides);
  } catch (const InputError&) {
    return;
  }
  if (file.conditions.size() != 1 || !file.sweep.empty()) throw FuzzFinding("a request made a sweep");
  const std::string printed = to_toml(file);
  try {
    parse_scenario(printed, "printed.toml");
  } catch (const InputError& e) {
    throw FuzzFinding(std::string("to_toml output refused by parse_scenario: ") + e.what() + "\n" + printed);
  }
}

}  // namespace collabzium::fuzz
