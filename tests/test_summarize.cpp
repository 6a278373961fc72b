// `summarize` on a finished run: the same table and CSV as the run printed and wrote, read through
// one opening of the results file.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "collabzium/io/results_file.h"
#include "collabzium/config/scenario.h"
#include "collabzium/study/runner.h"

// The library keeps HDF5's include path private; the tests get it for the HDF5 layer's own tests.
#include <hdf5.h>

using namespace collabzium;

namespace {

const char* kStudy =
    "name = \"summarize\"\n[run]\nreplications = 6\nseed = 5\n"
    "[design]\npatients = 24\ntherapists = 3\n[design.sessions]\ndistribution = \"fixed\"\nmean = 6\n"
    "[sweep]\n\"distress.effects.rupture\" = [0.0, 1.0]\n";

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The text after the first line (the run's and summarize's first lines differ by design).
std::string after_first_line(const std::string& s) { return s.substr(s.find('\n') + 1); }

}  // namespace

TEST_CASE("summarize prints the run's table and writes its CSV through one opening of the file", "[summarize]") {
  const auto dir = std::filesystem::temp_directory_path() / "collabzium_summarize_tests";
  std::filesystem::create_directories(dir);
  const std::string h5 = (dir / "s.h5").string();
  std::filesystem::remove(h5);
  const ScenarioFile f = parse_scenario(kStudy, "s.toml");
  RunRequest req;
  req.out = h5;
  req.threads = 2;
  req.progress = false;
  std::ostringstream run_out;
  run_study(f, req, run_out);

  std::ostringstream summarize_out;
  const std::string csv = (dir / "again.csv").string();
  summarize_results(h5, csv, summarize_out);
  CHECK(slurp(csv) == slurp(summary_csv_path(h5)));
  // The run ends with "wrote ..."; without it (and the first lines) the two tables are the same.
  std::string table = after_first_line(run_out.str());
  table = table.substr(0, table.rfind("wrote "));
  CHECK(after_first_line(summarize_out.str()) == table);
  CHECK(summarize_out.str().rfind("Results " + h5 + ": complete, 12 of 12 replications, seed 5", 0) == 0);

  // A column reader holds exactly one open file and reads what the one-off reads give.
  const ResultsFile results = read_results(h5);
  {
    const ResultsColumnReader columns(results);
    CHECK(H5Fget_obj_count(static_cast<hid_t>(H5F_OBJ_ALL), H5F_OBJ_FILE) == 1);
    for (const auto& name : {results.columns.front(), results.columns.back()})
      for (std::size_t c = 0; c < results.n_conditions; ++c) {
        const auto a = columns.column(name, c), b = results.column(name, c);
        REQUIRE(a.size() == b.size());
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
      }
  }
  CHECK(H5Fget_obj_count(static_cast<hid_t>(H5F_OBJ_ALL), H5F_OBJ_ALL) == 0);
  std::filesystem::remove_all(dir);
}
