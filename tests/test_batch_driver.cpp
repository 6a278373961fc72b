// The one batch driver of `run`, `infer` and the sandbox: the batch loop itself, and `infer` over
// an existing or a full disk behaving as `run` does (same refusals, same full-disk stop, a file
// that --resume completes to the bytes of an uninterrupted inference).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <numeric>
#include <string>

#include "cli_runner.h"
#include "collabzium/io/inference_file.h"
#include "collabzium/io/results_file.h"
#include "collabzium/study/batch_driver.h"

using namespace collabzium;
using namespace collabzium::testing;
namespace fs = std::filesystem;

namespace {

bool one_line(const std::string& err) { return !err.empty() && err.back() == '\n' && err.find('\n') == err.size() - 1; }

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A small inference (40 patients of 8 sessions, 30 draws) and a small study, each fast.
const char* kInference =
    "name = \"drv\"\n[design]\npatients = 40\ntherapists = 4\n[design.sessions]\ndistribution = \"fixed\"\n"
    "mean = 8\n[infer]\ndraws = 30\nseed = 5\n"
    "[infer.prior]\n\"rupture.onset_probability\" = { uniform = [0.02, 0.3] }\n"
    "\"distress.effects.rupture_via\" = { choice = [\"latent\", \"patient\", \"therapist\"] }\n"
    "[infer.observed]\n\"detection.patient.prevalence\" = { value = 0.5, tolerance = 0.2 }\n"
    "\"lagged.patient.rupture\" = \"any\"\n";

const char* kStudy =
    "name = \"drv\"\n[run]\nreplications = 12\nseed = 7\n"
    "[design]\npatients = 20\ntherapists = 2\n[design.sessions]\ndistribution = \"fixed\"\nmean = 6\n"
    "[analysis]\nmodels = [\"lagged\"]\n";

// Runs the CLI with COLLABZIUM_TEST_FREE_BYTES set: a disk with this many bytes free.
CliResult run_with_free_bytes(const std::string& args, const fs::path& dir, std::uintmax_t free) {
  ::setenv("COLLABZIUM_TEST_FREE_BYTES", std::to_string(free).c_str(), 1);
  CliResult r = run_cli(args, dir);
  ::unsetenv("COLLABZIUM_TEST_FREE_BYTES");
  return r;
}

void check_same_draws(const std::string& a_path, const std::string& b_path) {
  const InferenceFile a = read_inference(a_path), b = read_inference(b_path);
  CHECK(b.complete);
  CHECK(b.done == a.done);
  CHECK(b.accepted == a.accepted);
  CHECK(b.invalid == a.invalid);
  REQUIRE(b.columns.size() == a.columns.size());
  for (const auto& c : a.columns) {
    INFO(c.name);
    const auto x = a.column(c.name), y = b.column(c.name);
    REQUIRE(x.size() == y.size());
    CHECK(std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0);
  }
}

}  // namespace

TEST_CASE("the batch loop runs every pending task once, in batches, and stops when told", "[driver]") {
  // Row of task t: {t, 2t}; tasks 3 and 5 are already done.
  RecordTable table({"t", "twice"}, 2, 5);
  std::vector<std::uint8_t> done(10, 0);
  done[3] = done[5] = 1;
  const ComputeRows compute = [](const std::vector<std::uint64_t>& tasks, double* rows) {
    for (std::size_t i = 0; i < tasks.size(); ++i) {
      rows[2 * i] = static_cast<double>(tasks[i]);
      rows[2 * i + 1] = 2.0 * static_cast<double>(tasks[i]);
    }
    return std::size_t{1};  // one failure per batch, to count them
  };
  BatchLoop loop;
  loop.width = 2;
  loop.fixed_batch = 3;
  std::vector<std::pair<std::size_t, std::size_t>> asked;
  loop.keep_going = [&](std::size_t d, std::size_t total) {
    asked.emplace_back(d, total);
    return true;
  };
  const std::vector<std::uint64_t> pending = pending_tasks(done);
  CHECK(pending == std::vector<std::uint64_t>{0, 1, 2, 4, 6, 7, 8, 9});
  CHECK(run_batches(loop, compute, pending, &table, done) == 3);  // 8 tasks in batches of 3, 3, 2
  CHECK(asked == std::vector<std::pair<std::size_t, std::size_t>>{{2, 10}, {5, 10}, {8, 10}});
  CHECK(std::count(done.begin(), done.end(), 1) == 10);
  // Tasks 3 and 5 were done before: not computed again.
  CHECK(table.column("twice", 1) == std::vector<double>{0, 12, 14, 16, 18});
  CHECK(table.column("t", 0) == std::vector<double>{0, 1, 2, 0, 4});

  // Stopped by keep_going and by stop_after: at a batch boundary, with done marking what was written.
  std::vector<std::uint8_t> none(10, 0);
  RecordTable partial({"t", "twice"}, 2, 5);
  loop.keep_going = [](std::size_t d, std::size_t) { return d < 3; };
  run_batches(loop, compute, pending_tasks(none), &partial, none);
  CHECK(none == partial.done());
  CHECK(std::count(none.begin(), none.end(), 1) == 3);
  loop.keep_going = nullptr;
  loop.stop_after = 4;
  run_batches(loop, compute, pending_tasks(none), &partial, none);
  CHECK(std::count(none.begin(), none.end(), 1) == 7);  // 3 + 4: a batch of 3, then one of 1
}

TEST_CASE("infer on a full disk stops as run does, with one line and a file --resume completes",
          "[driver][infer][reliability][cli]") {
  const auto dir = scratch_dir("driver-full");
  write_text(dir / "i.toml", kInference);
  write_text(dir / "s.toml", kStudy);
  // Room for the file's structure, not for the first chunks of draws (or records).
  const std::uintmax_t free = (1 << 20) + 100;
  const auto infer = run_with_free_bytes("infer i.toml --out full.h5 --threads 2", dir, free);
  const auto run = run_with_free_bytes("run s.toml --out full_run.h5 --threads 2", dir, free);
  INFO(infer.err);
  CHECK(infer.status == 1);
  CHECK(infer.status == run.status);
  CHECK(one_line(infer.err));
  CHECK(one_line(run.err));
  CHECK(infer.err.rfind("collabzium: full.h5: not enough space on the disk: 1048676 bytes free, ", 0) == 0);
  CHECK(contains(infer.err, "; stopped with 0 of 30 draws in the file: free some space and continue with --resume"));
  CHECK(
      contains(run.err, "; stopped with 0 of 12 replications in the file: free some space and continue with --resume"));
  CHECK_FALSE(fs::exists(dir / "full.summary.csv"));
  {
    const InferenceFile partial = read_inference((dir / "full.h5").string());
    CHECK_FALSE(partial.complete);
    CHECK(std::count(partial.done.begin(), partial.done.end(), 1) == 0);
  }
  // Not even the structure fits: refused before the file is created.
  const auto tiny = run_with_free_bytes("infer i.toml --out tiny.h5", dir, 1000);
  CHECK(tiny.status == 1);
  CHECK(one_line(tiny.err));
  CHECK(contains(tiny.err, "tiny.h5: not enough space on the disk: 1000 bytes free"));
  CHECK_FALSE(fs::exists(dir / "tiny.h5"));

  // Space freed: --resume completes it to what an uninterrupted inference writes.
  const auto resumed = run_cli("infer i.toml --out full.h5 --threads 1 --resume", dir);
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  REQUIRE(run_cli("infer i.toml --out whole.h5 --threads 2", dir).status == 0);
  check_same_draws((dir / "whole.h5").string(), (dir / "full.h5").string());
  CHECK(slurp(dir / "full.summary.csv") == slurp(dir / "whole.summary.csv"));

  // A --force run over an existing file, stopped by the disk, leaves that file as it was.
  const std::string before = slurp(dir / "whole.h5");
  const auto forced = run_with_free_bytes("infer i.toml --out whole.h5 --force --set infer.seed=9", dir, free);
  CHECK(forced.status == 1);
  CHECK(contains(forced.err, "stopped after 0 of 30 draws; whole.h5 is unchanged"));
  CHECK(slurp(dir / "whole.h5") == before);
  for (const auto& e : fs::directory_iterator(dir)) CHECK_FALSE(contains(e.path().string(), ".tmp-"));
}

TEST_CASE("infer --resume refuses another inference and a file being written as run does", "[driver][infer][cli]") {
  const auto dir = scratch_dir("driver-resume");
  write_text(dir / "i.toml", kInference);
  write_text(dir / "s.toml", kStudy);
  REQUIRE(run_cli("infer i.toml --out i.h5 --threads 2", dir).status == 0);
  REQUIRE(run_cli("run s.toml --out r.h5 --threads 2", dir).status == 0);
  const std::string kept = slurp(dir / "i.h5");

  // A changed prior, number of draws or seed: another study, said as `run` says it.
  const std::string other_config =
      "holds the results of another study (a different configuration); use another --out, or --force to replace it "
      "once this run is complete\n";
  std::string other_prior = kInference;
  other_prior.replace(other_prior.find("[0.02, 0.3]"), 11, "[0.05, 0.3]");
  write_text(dir / "other_prior.toml", other_prior);
  for (const std::string change : {"other_prior.toml", "i.toml --draws 31"}) {
    INFO(change);
    const auto r = run_cli("infer " + change + " --out i.h5 --resume", dir);
    CHECK(r.status == 2);
    CHECK(r.err == "i.h5: --out: " + other_config);
  }
  const auto run_other = run_cli("run s.toml --out r.h5 --resume --set design.patients=21", dir);
  CHECK(run_other.status == 2);
  CHECK(run_other.err == "r.h5: --out: " + other_config);
  // Another seed is named (it is in the config too, but the seed is what a user changed).
  auto r = run_cli("infer i.toml --out i.h5 --resume --set infer.seed=6", dir);
  CHECK(r.status == 2);
  CHECK(contains(r.err, "i.h5: --out: holds the results of another study (seed 5, not 6)"));
  r = run_cli("run s.toml --out r.h5 --resume --seed 8", dir);
  CHECK(contains(r.err, "r.h5: --out: holds the results of another study (seed 7, not 8)"));
  CHECK(slurp(dir / "i.h5") == kept);

  // A second --resume while a run still writes the file (HDF5's lock): the same refusal for both.
  const InferenceFile inference = read_inference((dir / "i.h5").string());
  const ResultsFile results = read_results((dir / "r.h5").string());
  CliResult infer_busy, run_busy;
  const int held = while_child_holds(
      [&](const std::function<void()>& until_released) {
        const InferenceWriter iw =
            InferenceWriter::resume(inference.path, inference.meta, inference.columns, inference.draws);
        const ResultsWriter rw = ResultsWriter::resume(results.path, results.meta, results.columns,
                                                       results.n_conditions, results.n_replications);
        until_released();
      },
      [&] {
        infer_busy = run_cli("infer i.toml --out i.h5 --resume", dir);
        run_busy = run_cli("run s.toml --out r.h5 --resume", dir);
      });
  REQUIRE(held == 0);
  INFO(infer_busy.err);
  INFO(run_busy.err);
  CHECK(infer_busy.status == 2);
  CHECK(run_busy.status == infer_busy.status);
  CHECK(one_line(infer_busy.err));
  CHECK(infer_busy.err.rfind("i.h5: cannot open the inference file (is a run still writing it?): ", 0) == 0);
  CHECK(run_busy.err.rfind("r.h5: cannot open the results file (is a run still writing it?): ", 0) == 0);
  const std::string tail = " (--out: use another path, or --force to replace it once this run is complete)\n";
  CHECK(infer_busy.err.substr(infer_busy.err.size() - tail.size()) == tail);
  CHECK(run_busy.err.substr(run_busy.err.size() - tail.size()) == tail);
  // Once the writer is gone, the file is continued (complete: nothing to run).
  r = run_cli("infer i.toml --out i.h5 --resume", dir);
  CHECK(r.status == 0);
}
