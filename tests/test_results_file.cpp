#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

// The library keeps HDF5's include path private; Debian installs the serial headers here. Used only to
// build foreign and wrong-version files.
#if __has_include(<hdf5/serial/hdf5.h>)
#include <hdf5/serial/hdf5.h>
#else
#include <hdf5.h>
#endif

#include "cli_runner.h"  // while_child_holds
#include "collabzium/error.h"
#include "collabzium/io/results_file.h"

using namespace collabzium;
using collabzium::testing::while_child_holds;
namespace fs = std::filesystem;

namespace {

fs::path scratch(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("collabzium-results-test-" + std::to_string(::getpid()) + "-" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

const std::vector<std::string> kColumns = {"lagged.patient.rupture.estimate", "lagged.patient.rupture.se",
                                           "oracle.truth.rupture.p",          "detection.patient.rupture.f1",
                                           "a.first.after.in.creation.order", "fit.nonconverged"};

RunMetadata meta() {
  RunMetadata m;
  m.program_version = "0.1.0";
  m.git_sha = "abc123def456";
  m.created = "2025-01-02T03:04:05Z";
  m.config = "name = \"t\"\n[design]\npatients = 119\n# \xc3\xa9 unicode and a \"quote\"\n";
  m.seed = -1234567890123LL;
  return m;
}

std::vector<ConditionColumn> conditions3() {
  return {{.key = "design.patients", .numbers = {60, 119, 200}, .texts = {}},
          {.key = "detection.rule", .numbers = {}, .texts = {"rci", "absolute_drop", "rci"}}};
}

// A value per (condition, replication, column) with awkward bit patterns mixed in.
double value_of(std::size_t c, std::size_t r, std::size_t j) {
  switch ((c * 7 + r * 3 + j) % 11) {
    case 0: return std::numeric_limits<double>::quiet_NaN();
    case 1: return -0.0;
    case 2: return std::numeric_limits<double>::denorm_min() * double(r + 1);
    case 3: return std::numeric_limits<double>::infinity();
    case 4: return std::bit_cast<double>(std::uint64_t{0x7ff4000000000000ULL} + r);  // NaN with a payload
    default: return std::sin(double(c * 100003 + r * 17 + j)) * 1e3 / 3.0;
  }
}

std::uint64_t bits(double x) { return std::bit_cast<std::uint64_t>(x); }

void write_batch(ResultsWriter& w, const std::vector<std::pair<std::size_t, std::size_t>>& cells) {
  std::vector<std::size_t> c, r;
  std::vector<double> v;
  for (auto [ci, ri] : cells) {
    c.push_back(ci);
    r.push_back(ri);
    for (std::size_t j = 0; j < w.columns().size(); ++j) v.push_back(value_of(ci, ri, j));
  }
  w.write(c, r, v);
}

// Every (condition, replication) cell in a shuffled order, cut into batches of varied sizes, some of
// them contiguous runs (hyperslab), some scattered densely (patched runs) or sparsely (elements).
std::vector<std::vector<std::pair<std::size_t, std::size_t>>> batches(std::size_t C, std::size_t R, unsigned seed) {
  std::vector<std::pair<std::size_t, std::size_t>> contiguous, scattered;
  for (std::size_t c = 0; c < C; ++c)
    for (std::size_t r = 0; r < R; ++r) (((r / 500) + c) % 2 ? contiguous : scattered).push_back({c, r});
  std::mt19937 rng(seed);
  std::shuffle(scattered.begin(), scattered.end(), rng);
  std::vector<std::vector<std::pair<std::size_t, std::size_t>>> out;
  for (std::size_t i = 0; i < contiguous.size();) {
    const std::size_t n = std::min<std::size_t>(1 + rng() % 1500, contiguous.size() - i);
    out.emplace_back(contiguous.begin() + i, contiguous.begin() + i + n);
    i += n;
  }
  for (std::size_t i = 0; i < scattered.size();) {
    // Large batches are dense enough to be patched in runs; small ones go by element selection.
    const std::size_t n = std::min<std::size_t>(rng() % 3 ? 1 + rng() % 3000 : 1 + rng() % 12, scattered.size() - i);
    out.emplace_back(scattered.begin() + i, scattered.begin() + i + n);
    i += n;
  }
  std::shuffle(out.begin(), out.end(), rng);
  return out;
}

std::vector<SummaryRow> summary_rows() {
  return {{.condition = 1,
           .model = "lagged",
           .rater = "patient",
           .term = "rupture",
           .measure = "power",
           .value = 0.8125,
           .mcse = 0.0123},
          {.condition = 2,
           .model = "detection",
           .rater = "therapist",
           .term = "repair",
           .measure = "kappa",
           .value = std::numeric_limits<double>::quiet_NaN(),
           .mcse = -0.0},
          {.condition = 3,
           .model = "oracle",
           .rater = "truth",
           .term = "(Intercept)",
           .measure = "bias",
           .value = -1e-300,
           .mcse = 5e-324}};
}

void check_same_summary(const std::vector<SummaryRow>& a, const std::vector<SummaryRow>& b) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].condition == b[i].condition);
    CHECK(a[i].model == b[i].model);
    CHECK(a[i].rater == b[i].rater);
    CHECK(a[i].term == b[i].term);
    CHECK(a[i].measure == b[i].measure);
    CHECK(bits(a[i].value) == bits(b[i].value));
    CHECK(bits(a[i].mcse) == bits(b[i].mcse));
  }
}

// Compares every dataset and attribute of two results files (created excepted when asked).
void check_same_file(const std::string& pa, const std::string& pb) {
  const ResultsFile a = read_results(pa), b = read_results(pb);
  CHECK(a.meta.program_version == b.meta.program_version);
  CHECK(a.meta.git_sha == b.meta.git_sha);
  CHECK(a.meta.created == b.meta.created);
  CHECK(a.meta.config == b.meta.config);
  CHECK(a.meta.seed == b.meta.seed);
  CHECK(a.format_version == b.format_version);
  CHECK(a.complete == b.complete);
  REQUIRE(a.conditions.size() == b.conditions.size());
  for (std::size_t i = 0; i < a.conditions.size(); ++i) {
    CHECK(a.conditions[i].key == b.conditions[i].key);
    CHECK(a.conditions[i].numbers == b.conditions[i].numbers);
    CHECK(a.conditions[i].texts == b.conditions[i].texts);
  }
  REQUIRE(a.columns == b.columns);
  REQUIRE(a.n_conditions == b.n_conditions);
  REQUIRE(a.n_replications == b.n_replications);
  CHECK(a.done == b.done);
  for (const auto& col : a.columns) {
    const auto x = a.column(col), y = b.column(col);
    REQUIRE(x.size() == y.size());
    CHECK(std::memcmp(x.data(), y.data(), x.size() * sizeof(double)) == 0);
  }
  check_same_summary(a.summary, b.summary);
}

std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no InputError";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Every HDF5 handle the library opened is closed again, on errors too.
ssize_t open_hdf5_objects() { return H5Fget_obj_count(static_cast<hid_t>(H5F_OBJ_ALL), H5F_OBJ_ALL); }

}  // namespace

TEST_CASE("results file: metadata, conditions, columns and summary round trip", "[results_file]") {
  const auto dir = scratch("roundtrip");
  const std::string path = (dir / "r.h5").string();
  {
    ResultsWriter w(path, meta(), conditions3(), kColumns, 3, 5);
    CHECK(w.n_conditions() == 3);
    CHECK(w.n_replications() == 5);
    CHECK(w.done() == std::vector<std::uint8_t>(15, 0));
    w.write_summary(summary_rows());
  }
  ResultsFile f = read_results(path);
  CHECK(f.path == path);
  CHECK(f.meta.program_version == "0.1.0");
  CHECK(f.meta.git_sha == "abc123def456");
  CHECK(f.meta.created == "2025-01-02T03:04:05Z");
  CHECK(f.meta.config == meta().config);
  CHECK(f.meta.seed == -1234567890123LL);
  CHECK(f.format_version == std::array<int, 2>{1, 0});
  CHECK_FALSE(f.complete);
  REQUIRE(f.conditions.size() == 2);
  CHECK(f.conditions[0].key == "design.patients");
  CHECK(f.conditions[0].numbers == std::vector<double>{60, 119, 200});
  CHECK(f.conditions[0].texts.empty());
  CHECK(f.conditions[1].key == "detection.rule");
  CHECK(f.conditions[1].numbers.empty());
  CHECK(f.conditions[1].texts == std::vector<std::string>{"rci", "absolute_drop", "rci"});
  CHECK(f.columns == kColumns);  // creation order, not alphabetical
  CHECK(f.n_conditions == 3);
  CHECK(f.n_replications == 5);
  CHECK(f.done == std::vector<std::uint8_t>(15, 0));
  CHECK(f.n_done() == 0);
  check_same_summary(f.summary, summary_rows());
  // Nothing written yet: NaN everywhere.
  for (const auto& col : kColumns)
    for (std::size_t c = 0; c < 3; ++c)
      for (double x : f.column(col, c)) CHECK(std::isnan(x));
  CHECK(contains(input_error_of([&] { f.column("no.such.column", 0); }), "no such column"));
  CHECK_THROWS_AS(f.column(kColumns[0], 3), std::out_of_range);

  // The summary is rewritten whole; complete is set by mark_complete only.
  {
    ResultsWriter w = ResultsWriter::resume(path, meta(), kColumns, 3, 5);
    w.write_summary({summary_rows()[1]});
    CHECK_FALSE(read_results(path).complete);
    w.mark_complete();
  }
  f = read_results(path);
  CHECK(f.complete);
  check_same_summary(f.summary, {summary_rows()[1]});
  {
    ResultsWriter w = ResultsWriter::resume(path, meta(), kColumns, 3, 5);
    w.write_summary({});
  }
  f = read_results(path);
  CHECK_FALSE(f.complete);
  CHECK(f.summary.empty());
  CHECK(open_hdf5_objects() == 0);
  fs::remove_all(dir);
}

TEST_CASE("results file: no conditions swept, no columns, empty created filled in", "[results_file]") {
  const auto dir = scratch("degenerate");
  const std::string path = (dir / "r.h5").string();
  RunMetadata m = meta();
  m.created.clear();
  {
    ResultsWriter w(path, m, {}, {}, 1, 3);
    w.write({0, 0}, {0, 2}, {});
    w.mark_complete();
  }
  const ResultsFile f = read_results(path);
  CHECK(f.conditions.empty());
  CHECK(f.columns.empty());
  CHECK(f.done == std::vector<std::uint8_t>{1, 0, 1});
  CHECK(f.complete);
  REQUIRE(f.meta.created.size() == 20);
  CHECK(f.meta.created[10] == 'T');
  CHECK(f.meta.created.back() == 'Z');
  fs::remove_all(dir);
}

TEST_CASE("results file: writes in any order and batch are bit-exact and marked done", "[results_file]") {
  const auto dir = scratch("order");
  const std::string path = (dir / "r.h5").string();
  const std::size_t C = 3, R = 9000;  // three chunks per condition, the last partial
  std::vector<std::uint8_t> expected_done(C * R, 0);
  {
    ResultsWriter w(path, meta(), conditions3(), kColumns, C, R);
    auto all = batches(C, R, 7);
    // Leave a few batches out to check the done mask and the NaN fill.
    for (std::size_t b = 0; b < all.size(); ++b) {
      if (b % 5 == 3) continue;
      write_batch(w, all[b]);
      for (auto [c, r] : all[b]) expected_done[c * R + r] = 1;
      if (b % 4 == 0) w.flush();
    }
    CHECK(w.done() == expected_done);
  }
  const ResultsFile f = read_results(path);
  CHECK(f.done == expected_done);
  CHECK(f.n_done() == static_cast<std::size_t>(std::count(expected_done.begin(), expected_done.end(), 1)));
  std::size_t n_done_sum = 0;
  for (std::size_t c = 0; c < C; ++c) n_done_sum += f.n_done(c);
  CHECK(n_done_sum == f.n_done());
  for (std::size_t j = 0; j < kColumns.size(); ++j) {
    const auto all = f.column(kColumns[j]);
    REQUIRE(all.size() == C * R);
    std::size_t wrong = 0;
    for (std::size_t c = 0; c < C; ++c) {
      const auto col = f.column(kColumns[j], c);
      REQUIRE(col.size() == R);
      for (std::size_t r = 0; r < R; ++r) {
        const std::uint64_t want =
            expected_done[c * R + r] ? bits(value_of(c, r, j)) : bits(std::numeric_limits<double>::quiet_NaN());
        if (bits(col[r]) != want || bits(all[c * R + r]) != want) ++wrong;
      }
    }
    CHECK(wrong == 0);
  }
  fs::remove_all(dir);
}

TEST_CASE("results file: rewriting a replication overwrites it; in a batch the last entry wins", "[results_file]") {
  const auto dir = scratch("overwrite");
  const std::string path = (dir / "r.h5").string();
  const std::vector<std::string> cols = {"x", "y"};
  {
    ResultsWriter w(path, meta(), {}, cols, 2, 4);
    w.write({1, 0, 1}, {2, 3, 2}, {1, 2, 3, 4, 5, 6});
    w.write({0}, {3}, {7, 8});
  }
  const ResultsFile f = read_results(path);
  CHECK(f.done == std::vector<std::uint8_t>{0, 0, 0, 1, 0, 0, 1, 0});
  CHECK(f.column("x", 1)[2] == 5);
  CHECK(f.column("y", 1)[2] == 6);
  CHECK(f.column("x", 0)[3] == 7);
  CHECK(f.column("y", 0)[3] == 8);
  fs::remove_all(dir);
}

TEST_CASE("results file: a resumed partial file ends identical to one written in one go", "[results_file]") {
  const auto dir = scratch("resume");
  const std::string one = (dir / "one.h5").string(), two = (dir / "two.h5").string();
  const std::size_t C = 3, R = 5000;
  const auto all = batches(C, R, 11);
  {
    ResultsWriter w(one, meta(), conditions3(), kColumns, C, R);
    for (const auto& b : all) write_batch(w, b);
    w.write_summary(summary_rows());
    w.mark_complete();
  }
  std::vector<std::uint8_t> expected_done(C * R, 0);
  {
    ResultsWriter w(two, meta(), conditions3(), kColumns, C, R);
    for (std::size_t b = 0; b < all.size() / 2; ++b) {
      write_batch(w, all[b]);
      for (auto [c, r] : all[b]) expected_done[c * R + r] = 1;
    }
    w.write_summary({summary_rows()[0]});  // an interim summary
    // closed without mark_complete, as after SIGINT
  }
  CHECK_FALSE(read_results(two).complete);
  {
    // The runner's view: program version of the resuming build may differ; the file keeps its own.
    RunMetadata m = meta();
    m.created = "2030-01-01T00:00:00Z";
    m.program_version = "9.9.9";
    ResultsWriter w = ResultsWriter::resume(two, m, kColumns, C, R);
    const auto done = w.done();
    CHECK(done == expected_done);
    // Run only what is missing, in batches of the runner's choosing.
    std::vector<std::pair<std::size_t, std::size_t>> missing;
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t r = 0; r < R; ++r)
        if (!done[c * R + r]) missing.push_back({c, r});
    for (std::size_t i = 0; i < missing.size(); i += 777)
      write_batch(w, {missing.begin() + i, missing.begin() + std::min(i + 777, missing.size())});
    CHECK(w.done() == std::vector<std::uint8_t>(C * R, 1));
    w.write_summary(summary_rows());
    w.mark_complete();
  }
  check_same_file(one, two);
  fs::remove_all(dir);
}

TEST_CASE("results file: resume and read refuse foreign, mismatched and damaged files", "[results_file]") {
  const auto dir = scratch("refuse");
  const std::string path = (dir / "r.h5").string();
  { ResultsWriter w(path, meta(), conditions3(), kColumns, 3, 10); }
  auto resume_error = [&](const std::string& p, const RunMetadata& m, const std::vector<std::string>& cols,
                          std::size_t C,
                          std::size_t R) { return input_error_of([&] { ResultsWriter::resume(p, m, cols, C, R); }); };
  CHECK(resume_error(path, meta(), kColumns, 3, 10) == "no InputError");

  RunMetadata other = meta();
  other.config += "[alliance]\nmean = 3.5\n";
  std::string e = resume_error(path, other, kColumns, 3, 10);
  CHECK(contains(e, path + ": "));
  CHECK(contains(e, "different configuration"));
  CHECK(e.find('\n') == std::string::npos);

  other = meta();
  other.seed = 5;
  CHECK(contains(resume_error(path, other, kColumns, 3, 10), "seed"));

  auto renamed = kColumns;
  renamed[2] = "oracle.truth.rupture.p_value";
  CHECK(contains(resume_error(path, meta(), renamed, 3, 10), "column 3 is 'oracle.truth.rupture.p'"));
  auto reordered = kColumns;
  std::swap(reordered[0], reordered[1]);
  CHECK(contains(resume_error(path, meta(), reordered, 3, 10), "other record columns"));
  auto fewer = kColumns;
  fewer.pop_back();
  CHECK(contains(resume_error(path, meta(), fewer, 3, 10), "other record columns"));
  CHECK(contains(resume_error(path, meta(), kColumns, 2, 10), "3 conditions x 10 replications"));
  CHECK(contains(resume_error(path, meta(), kColumns, 3, 11), "3 conditions x 10 replications"));

  const std::string missing = (dir / "missing.h5").string();
  CHECK(contains(resume_error(missing, meta(), kColumns, 3, 10), "no such file"));
  CHECK(contains(input_error_of([&] { read_results(missing); }), "no such file"));

  const std::string text = (dir / "text.h5").string();
  std::ofstream(text) << "condition,value\n1,2\n";
  CHECK(contains(resume_error(text, meta(), kColumns, 3, 10), "not an HDF5 file"));
  CHECK(contains(input_error_of([&] { read_results(text); }), "not an HDF5 file"));

  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string foreign = (dir / "foreign.h5").string();
  {
    const hid_t f = H5Fcreate(foreign.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(f >= 0);
    const hid_t g = H5Gcreate2(f, "replications", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Gclose(g);
    H5Fclose(f);
  }
  CHECK(contains(resume_error(foreign, meta(), kColumns, 3, 10), "not a collabzium results file"));
  CHECK(contains(input_error_of([&] { read_results(foreign); }), "not a collabzium results file"));
  CHECK(fs::file_size(foreign) > 0);  // left alone

  // Another format name, and another major version.
  auto set_attr = [&](const std::string& p, const char* name, const std::vector<int>* version, const char* format) {
    const hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    REQUIRE(f >= 0);
    const hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    REQUIRE(a >= 0);
    if (version) {
      REQUIRE(H5Awrite(a, H5T_NATIVE_INT, version->data()) >= 0);
    } else {
      const hid_t t = H5Tcopy(H5T_C_S1);
      H5Tset_size(t, H5T_VARIABLE);
      REQUIRE(H5Awrite(a, t, &format) >= 0);
      H5Tclose(t);
    }
    H5Aclose(a);
    H5Fclose(f);
  };
  const std::string v2 = (dir / "v2.h5").string();
  fs::copy_file(path, v2);
  const std::vector<int> two_zero{2, 0};
  set_attr(v2, "format_version", &two_zero, nullptr);
  e = resume_error(v2, meta(), kColumns, 3, 10);
  CHECK(contains(e, "format version 2.0 is not supported"));
  CHECK(contains(input_error_of([&] { read_results(v2); }), "format version 2.0"));
  const std::string v1_7 = (dir / "v1_7.h5").string();
  fs::copy_file(path, v1_7);
  const std::vector<int> one_seven{1, 7};
  set_attr(v1_7, "format_version", &one_seven, nullptr);
  CHECK(resume_error(v1_7, meta(), kColumns, 3, 10) == "no InputError");  // minor versions are compatible
  CHECK(read_results(v1_7).format_version == std::array<int, 2>{1, 7});
  const std::string other_format = (dir / "other.h5").string();
  fs::copy_file(path, other_format);
  set_attr(other_format, "format", nullptr, "somebody-elses-results");
  CHECK(contains(resume_error(other_format, meta(), kColumns, 3, 10), "not a collabzium results file"));

  // Refused files are not modified.
  const ResultsFile f = read_results(path);
  CHECK(f.columns == kColumns);
  CHECK(f.n_replications == 10);
  CHECK(open_hdf5_objects() == 0);
  fs::remove_all(dir);
}

TEST_CASE("results file: creation errors and misuse", "[results_file]") {
  const auto dir = scratch("misuse");
  CHECK(contains(
      input_error_of([&] { ResultsWriter w((dir / "no/such/folder/r.h5").string(), meta(), {}, kColumns, 1, 1); }),
      "cannot create the results file"));
  const std::string path = (dir / "r.h5").string();
  CHECK_THROWS_AS(ResultsWriter(path, meta(), {}, {"a", "done"}, 1, 1), std::invalid_argument);
  CHECK_THROWS_AS(ResultsWriter(path, meta(), {}, {"a/b"}, 1, 1), std::invalid_argument);
  CHECK_THROWS_AS(ResultsWriter(path, meta(), {}, {"a", "a"}, 1, 1), std::invalid_argument);
  CHECK_THROWS_AS(ResultsWriter(path, meta(), {{.key = "index", .numbers = {1}, .texts = {}}}, {"a"}, 1, 1),
                  std::invalid_argument);
  CHECK_THROWS_AS(ResultsWriter(path, meta(), {{.key = "k", .numbers = {1, 2}, .texts = {}}}, {"a"}, 1, 1),
                  std::invalid_argument);
  ResultsWriter w(path, meta(), {}, {"a", "b"}, 2, 3);
  CHECK_THROWS_AS(w.write({0}, {0}, {1}), std::invalid_argument);
  CHECK_THROWS_AS(w.write({0}, {0, 1}, {1, 2}), std::invalid_argument);
  CHECK_THROWS_AS(w.write({2}, {0}, {1, 2}), std::out_of_range);
  CHECK_THROWS_AS(w.write({0}, {3}, {1, 2}), std::out_of_range);
  CHECK(w.done() == std::vector<std::uint8_t>(6, 0));
  CHECK(open_hdf5_objects() > 0);
  fs::remove_all(dir);
}

TEST_CASE("results file: no HDF5 handle outlives its writer", "[results_file]") { CHECK(open_hdf5_objects() == 0); }

TEST_CASE("results file: a kill -9 loses nothing flushed, and the file resumes", "[results_file]") {
  const auto dir = scratch("crash");
  const std::string path = (dir / "r.h5").string();
  const std::size_t C = 3, R = 4000;
  const auto all = batches(C, R, 3);
  const std::size_t flushed = all.size() / 3, written = 2 * all.size() / 3;
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    try {
      ResultsWriter w(path, meta(), conditions3(), kColumns, C, R);
      for (std::size_t b = 0; b < written; ++b) {
        write_batch(w, all[b]);
        if (b + 1 == flushed) w.flush();
      }
      w.write_summary({});  // metadata changes after the flush
      for (std::size_t b = written; b < all.size(); ++b) write_batch(w, all[b]);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "crash test child: %s\n", e.what());
      ::_exit(3);
    }
    ::kill(::getpid(), SIGKILL);
    ::_exit(4);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  INFO("child status " << status);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);

  ResultsFile f = read_results(path);
  CHECK_FALSE(f.complete);
  std::size_t lost = 0;
  for (std::size_t b = 0; b < flushed; ++b)
    for (auto [c, r] : all[b]) lost += f.done[c * R + r] == 0;
  CHECK(lost == 0);
  // Whatever is marked done holds its values.
  std::size_t wrong = 0;
  for (std::size_t j = 0; j < kColumns.size(); ++j)
    for (std::size_t c = 0; c < C; ++c) {
      const auto col = f.column(kColumns[j], c);
      for (std::size_t r = 0; r < R; ++r)
        if (f.done[c * R + r] && bits(col[r]) != bits(value_of(c, r, j))) ++wrong;
    }
  CHECK(wrong == 0);

  {
    ResultsWriter w = ResultsWriter::resume(path, meta(), kColumns, C, R);
    const auto done = w.done();
    std::vector<std::pair<std::size_t, std::size_t>> missing;
    for (std::size_t c = 0; c < C; ++c)
      for (std::size_t r = 0; r < R; ++r)
        if (!done[c * R + r]) missing.push_back({c, r});
    write_batch(w, missing);
    w.mark_complete();
  }
  f = read_results(path);
  CHECK(f.complete);
  CHECK(f.n_done() == C * R);
  CHECK(open_hdf5_objects() == 0);
  fs::remove_all(dir);
}

TEST_CASE("results file: a file another process is writing is refused with a clear message", "[results_file]") {
  const auto dir = scratch("locked");
  const std::string path = (dir / "r.h5").string();
  std::string e, e2;
  const int held = while_child_holds(
      [&](const std::function<void()>& until_released) {
        const ResultsWriter w(path, meta(), {}, kColumns, 1, 10);
        until_released();
      },
      [&] {
        e = input_error_of([&] { read_results(path); });
        e2 = input_error_of([&] { ResultsWriter::resume(path, meta(), kColumns, 1, 10); });
      });
  REQUIRE(held == 0);
  CHECK(contains(e, "is a run still writing it?"));
  CHECK(contains(e2, "is a run still writing it?"));
  CHECK(e.find('\n') == std::string::npos);
  CHECK_FALSE(contains(e, "unknown HDF5 error"));  // HDF5's reason follows
  CHECK(read_results(path).columns == kColumns);   // fine once the writer is gone
  fs::remove_all(dir);
}
