// Reliability of outputs and results files (issue 16): one file in two roles is refused before
// anything is written, special files are refused as inputs without blocking, a results file is
// never lost or replaced by an unfinished run, a full disk stops a run with a resumable file, and a
// damaged results file is one line and exit status 2.
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>

#include "cli_runner.h"
#include "collabzium/error.h"
#include "collabzium/io/cohort_reader.h"
#include "collabzium/io/results_file.h"
#include "collabzium/config/scenario.h"
#include "collabzium/study/runner.h"

using namespace collabzium;
using namespace collabzium::testing;
namespace fs = std::filesystem;

namespace {

const char* kStudy =
    "name = \"rel\"\n[run]\nreplications = 12\nseed = 7\n"
    "[design]\npatients = 20\ntherapists = 2\n[design.sessions]\ndistribution = \"fixed\"\nmean = 6\n"
    "[analysis]\nmodels = [\"lagged\"]\n";

// The same study with another seed: "another study" for `run`.
const char* kOtherStudy =
    "name = \"rel\"\n[run]\nreplications = 12\nseed = 8\n"
    "[design]\npatients = 20\ntherapists = 2\n[design.sessions]\ndistribution = \"fixed\"\nmean = 6\n"
    "[analysis]\nmodels = [\"lagged\"]\n";

bool one_line(const std::string& err) { return !err.empty() && err.back() == '\n' && err.find('\n') == err.size() - 1; }

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string error_of_run(const ScenarioFile& f, RunRequest req) {
  std::ostringstream sink;
  req.progress = false;
  try {
    run_study(f, req, sink);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("one file in two roles of a command is refused with exit 2 before anything is written",
          "[reliability][cli]") {
  const auto dir = scratch_dir("rel-same");
  write_text(dir / "s.toml", kStudy);
  const std::string config = slurp(dir / "s.toml");
  REQUIRE(run_cli("run s.toml --out r.h5 --threads 1", dir).status == 0);
  const std::string results = slurp(dir / "r.h5");

  // summarize X.h5 --csv X.h5 used to replace the results with the CSV.
  auto r = run_cli("summarize r.h5 --csv r.h5", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "r.h5: --csv: is the same file as the input FILE (r.h5); expected a different path\n");
  CHECK(slurp(dir / "r.h5") == results);

  REQUIRE(run_cli("simulate s.toml --out c.csv", dir).status == 0);
  // analyze --out r --events r used to leave a mix of both.
  r = run_cli("analyze s.toml --data c.csv --out both --events both", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "both: --events: is the same file as the output --out (both); expected a different path\n");
  CHECK_FALSE(fs::exists(dir / "both"));
  r = run_cli("analyze s.toml --data c.csv --out c.csv", dir);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "is the same file as the input --data"));

  // An output over the config, in every verb that writes one.
  for (const std::string args :
       {"simulate s.toml --out s.toml", "run s.toml --out s.toml",
        "solve s.toml --vary design.patients --target "
        "lagged.patient.rupture --power 0.8 --out ./s.toml",
        "calibrate s.toml --match lagged.patient.rupture.power=0.5 --free distress.effects.rupture=0:2 --out s.toml"}) {
    INFO(args);
    r = run_cli(args, dir);
    CHECK(r.status == 2);
    CHECK(contains(r.err, "is the same file as the input config (s.toml)"));
    CHECK(one_line(r.err));
    CHECK(slurp(dir / "s.toml") == config);
  }
  // run: the summary CSV beside the results file is an output too.
  write_text(dir / "x.summary.csv", kStudy);
  r = run_cli("run x.summary.csv --out x.h5", dir);
  CHECK(r.status == 2);
  CHECK(r.err ==
        "x.summary.csv: summary CSV: is the same file as the input config (x.summary.csv); expected a "
        "different path\n");
  CHECK_FALSE(fs::exists(dir / "x.h5"));
  // An existing directory as --out.
  fs::create_directories(dir / "folder");
  r = run_cli("run s.toml --out folder", dir);
  CHECK(r.status == 2);
  CHECK(one_line(r.err));
  CHECK(fs::is_directory(dir / "folder"));
}

TEST_CASE("a directory or a FIFO as a config, data or results file is refused without blocking", "[reliability][cli]") {
  const auto dir = scratch_dir("rel-inputs");
  write_text(dir / "s.toml", kStudy);
  fs::create_directories(dir / "folder");
  REQUIRE(::mkfifo((dir / "fifo").c_str(), 0600) == 0);
  const std::string d = (dir / "folder").string(), p = (dir / "fifo").string();

  try {
    load_scenario(p);
    FAIL("a FIFO was read as a scenario");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()) == p + ": config: expected a scenario file (TOML), got a FIFO");
  }
  try {
    read_cohort_csv(p);
    FAIL("a FIFO was read as a cohort");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()) == p + ": data: expected a readable CSV file, got a FIFO");
  }
  try {
    read_results(p);
    FAIL("a FIFO was read as a results file");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()) == p + ": expected a collabzium results file (.h5), got a FIFO");
  }
  for (const std::string args : {"validate fifo", "validate folder", "analyze s.toml --data fifo",
                                 "analyze s.toml --data folder", "summarize fifo", "summarize folder"}) {
    INFO(args);
    const auto r = run_cli(args, dir);
    CHECK(r.status == 2);
    CHECK(one_line(r.err));
  }
  // A FIFO as --out of run is not a results file to replace.
  const auto r = run_cli("run s.toml --out fifo", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "fifo: --out: expected a results file (.h5) or a new path, got a FIFO\n");
}

TEST_CASE("an existing results file is refused unless continued or forced, and replaced only by a complete run",
          "[reliability][runner]") {
  const auto dir = scratch_dir("rel-force");
  const ScenarioFile study = parse_scenario(kStudy, "s.toml"), other = parse_scenario(kOtherStudy, "o.toml");
  const std::string out = (dir / "r.h5").string();
  REQUIRE(error_of_run(study, {.out = out, .threads = 1}).empty());
  const std::string original = slurp(out);

  // The same study, complete, without --resume: refused (rerunning would only reproduce it).
  CHECK(error_of_run(study, {.out = out, .threads = 1}) ==
        out +
            ": --out: already holds the complete results of this study; continue it with --resume (nothing to "
            "run), or rerun it with --force");
  // --resume over a complete file of the same study runs nothing and keeps it complete.
  REQUIRE(error_of_run(study, {.out = out, .threads = 1, .resume = true}).empty());
  CHECK(read_results(out).complete);

  // Another study (another seed): refused, with or without --resume; the file is untouched.
  const std::string refused = error_of_run(other, {.out = out, .threads = 1});
  CHECK(refused == out +
                       ": --out: holds the results of another study (seed 7, not 8); use another --out, or "
                       "--force to replace it once this run is complete");
  CHECK(error_of_run(other, {.out = out, .threads = 1, .resume = true}) == refused);
  CHECK(read_results(out).meta.seed == 7);

  // --force, interrupted: the old file stays as it was and no temporary file is left.
  RunRequest interrupted{.out = out, .threads = 1};
  interrupted.force = true;
  interrupted.stop_after = 3;
  CHECK(contains(error_of_run(other, interrupted), out + " is unchanged"));
  CHECK(read_results(out).meta.seed == 7);
  CHECK(read_results(out).complete);
  std::size_t entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().filename().string().rfind("r.", 0) == 0;
  CHECK(entries == 2);  // r.h5 and r.summary.csv

  // --force, complete: replaced, identical to a run into a new file.
  RunRequest forced{.out = out, .threads = 1};
  forced.force = true;
  REQUIRE(error_of_run(other, forced).empty());
  REQUIRE(error_of_run(other, {.out = (dir / "fresh.h5").string(), .threads = 2}).empty());
  const ResultsFile replaced = read_results(out), fresh = read_results((dir / "fresh.h5").string());
  CHECK(replaced.meta.seed == 8);
  CHECK(replaced.complete);
  CHECK(replaced.summary.size() == fresh.summary.size());
  for (const auto& col : fresh.columns) {
    const auto a = replaced.column(col), b = fresh.column(col);
    REQUIRE(a.size() == b.size());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
  }
  CHECK(slurp(dir / "r.summary.csv") == slurp(dir / "fresh.summary.csv"));

  // A foreign HDF5 file is refused (exit 2 on the command line) and left as it was.
  const std::string foreign = (dir / "foreign.h5").string();
  H5Fclose(H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
  const std::string foreign_bytes = slurp(foreign);
  CHECK(error_of_run(study, {.out = foreign}) ==
        foreign +
            ": not a collabzium results file (no 'format' attribute) (--out: use another path, or --force to "
            "replace it once this run is complete)");
  CHECK(slurp(foreign) == foreign_bytes);

  // A file that is not a results file (here a text file) is refused unless --force.
  write_text(dir / "text.h5", "not HDF5\n");
  const std::string text = (dir / "text.h5").string();
  CHECK(error_of_run(study, {.out = text}) ==
        text +
            ": not an HDF5 file (expected a collabzium results file) (--out: use another path, or --force to "
            "replace it once this run is complete)");
  CHECK(slurp(dir / "text.h5") == "not HDF5\n");
  RunRequest replace_text{.out = text, .threads = 1};
  replace_text.force = true;
  REQUIRE(error_of_run(study, replace_text).empty());
  CHECK(read_results(text).complete);
}

TEST_CASE("results files grow by chunks as replications are run, not by the replications requested",
          "[reliability][runner]") {
  const auto dir = scratch_dir("rel-grow");
  ScenarioFile f = parse_scenario(kStudy, "s.toml", {"run.replications=200000"});
  RunRequest req{.out = (dir / "big.h5").string(), .threads = 1};
  req.stop_after = 4;
  CHECK(contains(error_of_run(f, req), "continue with --resume"));
  const ResultsFile partial = read_results(req.out);
  CHECK(partial.n_done() == 4);
  CHECK(partial.n_replications == 200000);
  // One chunk (4096 replications) of every column and of `done`, and HDF5's structures; preallocated,
  // it would be 200000 x 8 bytes per column.
  CHECK(fs::file_size(req.out) < (partial.columns.size() * 8 + 1) * 4096 + (1 << 20));
  // Unwritten chunks read as NaN (values) and 0 (done).
  const auto values = partial.column(partial.columns.front(), 0);
  CHECK(std::isnan(values.back()));
}

TEST_CASE("a full disk stops a run with one line and a resumable file (test hook)", "[reliability][runner]") {
  const auto dir = scratch_dir("rel-full");
  const ScenarioFile f = parse_scenario(kStudy, "s.toml");
  const std::string out = (dir / "full.h5").string();
  // Room for the file's structure, not for the first chunks of records.
  ::setenv("COLLABZIUM_TEST_FREE_BYTES", std::to_string((1 << 20) + 100).c_str(), 1);
  const std::string err = error_of_run(f, {.out = out, .threads = 1});
  ::unsetenv("COLLABZIUM_TEST_FREE_BYTES");
  CHECK(contains(err, out + ": not enough space on the disk: 1048676 bytes free, "));
  CHECK(contains(err, "stopped with 0 of 12 replications in the file: free some space and continue with --resume"));
  CHECK(err.find('\n') == std::string::npos);
  const ResultsFile partial = read_results(out);
  CHECK_FALSE(partial.complete);
  CHECK(partial.n_done() == 0);
  REQUIRE(error_of_run(f, {.out = out, .threads = 1, .resume = true}).empty());
  REQUIRE(error_of_run(f, {.out = (dir / "whole.h5").string(), .threads = 1}).empty());
  CHECK(slurp(dir / "full.summary.csv") == slurp(dir / "whole.summary.csv"));
}

TEST_CASE("a disk filling up mid-run leaves a resumable file (a small tmpfs, where it can be mounted)",
          "[reliability][cli]") {
  const auto dir = scratch_dir("rel-tmpfs");
  fs::create_directories(dir / "disk");
  const std::string disk = (dir / "disk").string();
  if (::mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=6m") != 0) {
    WARN("no tmpfs could be mounted here (" << std::strerror(errno) << "); the full-disk hook test covers it");
    return;
  }
  write_text(dir / "s.toml", std::string(kStudy) + "[sweep]\n\"design.patients\" = [20, 21, 22, 23, 24, 25, 26, 27]\n");
  // 8 conditions x 5000 replications: a chunk of every column takes 4096 x 8 x ~100 columns, ~3.3 MB:
  // the first fits in 6 MiB with the 1 MiB kept spare, the second does not.
  const auto r = run_cli("run s.toml --out disk/r.h5 --replications 5000 --threads 2", dir);
  const auto s = run_cli("summarize disk/r.h5", dir);
  std::error_code ec;
  fs::copy_file(dir / "disk" / "r.h5", dir / "r.h5", ec);
  ::umount(disk.c_str());
  CHECK(r.status == 1);
  CHECK(contains(r.err, "not enough space on the disk"));
  CHECK(contains(r.err, "free some space and continue with --resume"));
  CHECK(one_line(r.err));
  INFO(s.err);
  CHECK(s.status == 0);
  CHECK(contains(s.out, "INCOMPLETE"));
  REQUIRE_FALSE(ec);
  const ResultsFile partial = read_results((dir / "r.h5").string());
  CHECK(partial.n_done() > 0);
  CHECK(partial.n_done() < 40000);
}

TEST_CASE("a damaged results file is exit 2 and one line, whatever byte is changed or cut", "[reliability][results]") {
  const auto dir = scratch_dir("rel-damaged");
  const ScenarioFile f = parse_scenario(kStudy, "s.toml");
  const std::string good_path = (dir / "good.h5").string();
  REQUIRE(error_of_run(f, {.out = good_path, .threads = 1}).empty());
  const std::string good = slurp(good_path);
  const std::string bad = (dir / "bad.h5").string();
  auto check_damaged = [&](const std::string& bytes, const std::string& what) {
    write_text(bad, bytes);
    std::ostringstream sink;
    try {
      summarize_results(bad, "", sink);
    } catch (const InputError& e) {
      INFO(what << ": " << e.what());
      CHECK(std::string(e.what()).rfind(bad, 0) == 0);
      CHECK(std::string(e.what()).find('\n') == std::string::npos);
    } catch (const std::exception& e) {
      FAIL(what << ": not an InputError: " << e.what());
    }
  };
  // Cut at every 1/64 of the file, and one byte flipped at every 1/256.
  for (std::size_t k = 1; k < 64; ++k) check_damaged(good.substr(0, good.size() * k / 64), "cut " + std::to_string(k));
  for (std::size_t k = 0; k < 256; ++k) {
    std::string bytes = good;
    bytes[bytes.size() * k / 256] ^= 0x5a;
    check_damaged(bytes, "flip " + std::to_string(k));
  }
}
