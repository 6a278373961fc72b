// Replays the fuzzing seed corpora and every input the fuzzers once failed on (fuzz/regressions/)
// through the same checks as the libFuzzer harnesses, so a g++ build covers them too.
#include <sys/stat.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>

#include "../fuzz/harness.h"

using namespace collabzium;
namespace fs = std::filesystem;

namespace {

// The files of fuzz/corpus/HARNESS and fuzz/regressions/HARNESS, sorted.
std::vector<fs::path> fuzz_inputs(const std::string& harness) {
  std::vector<fs::path> files;
  for (const char* kind : {"corpus", "regressions"}) {
    const fs::path dir = fs::path(COLLABZIUM_SOURCE_DIR) / "fuzz" / kind / harness;
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("fuzz inputs: scenario seeds and regressions pass the scenario checks", "[fuzz]") {
  const auto files = fuzz_inputs("scenario");
  REQUIRE(files.size() >= 10);
  for (const auto& f : files) {
    INFO(f.string());
    CHECK_NOTHROW(fuzz::check_scenario_input(file_bytes(f)));
  }
}

TEST_CASE("fuzz inputs: cohort CSV seeds and regressions pass the cohort checks", "[fuzz]") {
  const auto files = fuzz_inputs("cohort_csv");
  REQUIRE(files.size() >= 1);
  for (const auto& f : files) {
    INFO(f.string());
    CHECK_NOTHROW(fuzz::check_cohort_input(file_bytes(f)));
  }
}

TEST_CASE("fuzz inputs: results file seeds and regressions pass the summarize checks", "[fuzz]") {
  const auto files = fuzz_inputs("results_file");
  REQUIRE(files.size() >= 1);
  const fuzz::TempFile temp(".test.h5");
  for (const auto& f : files) {
    INFO(f.string());
    CHECK_NOTHROW(fuzz::check_results_input(file_bytes(f), temp));
  }
}

TEST_CASE("fuzz inputs: sandbox request seeds and regressions pass the request checks", "[fuzz]") {
  const auto files = fuzz_inputs("request");
  REQUIRE(files.size() >= 3);
  for (const auto& f : files) {
    INFO(f.string());
    CHECK_NOTHROW(fuzz::check_request_input(file_bytes(f)));
  }
}

TEST_CASE("the scenario fuzz input splits into TOML and --set overrides", "[fuzz]") {
  const auto in = fuzz::split_scenario_input("a = 1\n--set x=1\n--set y=[1,\n2]");
  CHECK(in.toml == "a = 1");
  CHECK(in.overrides == std::vector<std::string>{"x=1", "y=[1,\n2]"});
  CHECK(fuzz::split_scenario_input("a = 1").overrides.empty());
}

TEST_CASE("a sweep whose condition count overflows 64 bits is refused, not expanded to 0 conditions", "[fuzz]") {
  const fs::path file = fs::path(COLLABZIUM_SOURCE_DIR) / "fuzz/regressions/scenario/sweep_count_wraps_to_zero.toml";
  CHECK(error_of([&] { load_scenario(file.string()); }) ==
        file.string() +
            ": sweep: must have at most 1000000 conditions, got 256 x 256 x 256 x 256 x 256 x 256 x 256 x 256");
  // Just over the limit, without wrapping.
  std::string toml = "[sweep]\n\"design.patients\" = [";
  for (int i = 1; i <= 1001; ++i) toml += std::to_string(i) + (i < 1001 ? "," : "]\n");
  toml += "\"design.therapists\" = [";
  for (int i = 1; i <= 1000; ++i) toml += std::string("1") + (i < 1000 ? "," : "]\n");
  CHECK(error_of([&] { parse_scenario(toml, "s.toml"); }) ==
        "s.toml: sweep: must have at most 1000000 conditions, got 1001 x 1000");
}

TEST_CASE("a directory or a FIFO given as the scenario file is refused without reading it", "[fuzz]") {
  const fs::path dir = fs::temp_directory_path() / ("collabzium_test_dir_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  CHECK(error_of([&] { load_scenario(dir.string()); }) ==
        dir.string() + ": config: expected a scenario file (TOML), got a directory");
  const fs::path fifo = dir / "fifo.toml";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Opening a FIFO without a writer would block; it must be refused before that.
  CHECK(error_of([&] { load_scenario(fifo.string()); }) ==
        fifo.string() + ": config: expected a scenario file (TOML), got a FIFO");
  fs::remove_all(dir);
}

TEST_CASE("summarize refuses a results file whose config has another number of conditions", "[fuzz]") {
  // Written by fuzz/make_results_seed.py with a two-condition sweep in the config attribute over
  // datasets of one condition; summarize used to index past the datasets (std::out_of_range).
  const std::string file =
      std::string(COLLABZIUM_SOURCE_DIR) + "/fuzz/regressions/results_file/config_has_more_conditions.h5";
  std::ostringstream out;
  CHECK(error_of([&] { summarize_results(file, "", out); }) ==
        file + ": damaged results file: its config has 2 conditions, /replications holds 1");
}
