#include "collabzium/io/results_file.h"

#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <functional>
#include <iostream>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <utility>

#include "collabzium/error.h"
#include "collabzium/input_file.h"
#include "collabzium/numeric.h"
#include "h5.h"
#include "h5_format.h"

namespace collabzium {
namespace {

// The generic HDF5 layer (h5.h) does the handles, errors and typed I/O; this file is the format.
using h5::check, h5::dataset, h5::dataset_dims, h5::group, h5::Handle, h5::link_exists, h5::link_names, h5::plist,
    h5::simple_space, h5::space, h5::track_order_gcpl;

// ---------------------------------------------------------------------------------------------
// Layout constants and validation.

// What the file is called in messages.
constexpr const char* kNoun = "results file";
constexpr const char* kConditions = "conditions";
constexpr const char* kReplications = "replications";
constexpr const char* kSummary = "summary";
constexpr const char* kDone = "done";
constexpr const char* kIndex = "index";
constexpr hsize_t kChunkReplications = 4096;
// Writes group a batch's replications of one condition into clusters: a replication joins the
// current cluster if it follows the previous one within kMaxGap, or if the cluster still holds at
// least one in kMaxSpread of the replications it spans (so a patched cluster's buffer and extra I/O
// stay within kMaxSpread values per replication written). Clusters of at least kMinSegment
// replications are written as one hyperslab each, the rest as one element selection.
constexpr std::size_t kMaxGap = 64;
constexpr std::size_t kMaxSpread = 64;
constexpr std::size_t kMinSegment = 8;

// A done mask of C x R bytes is held in memory: refuse shapes no run can have written before
// allocating it (a damaged dataspace can claim 2^64 elements).
constexpr std::size_t kMaxResultsCells = std::size_t{1} << 36;

void check_name(const std::string& name, const char* what, const char* reserved) {
  if (name.empty() || name == "." || name.find('/') != std::string::npos || name == reserved)
    throw std::invalid_argument(std::string("results file: invalid ") + what + " name '" + name +
                                "' (must be non-empty, without '/', and not '" + reserved + "')");
}

void check_unique(std::vector<std::string> names, const char* what) {
  std::sort(names.begin(), names.end());
  const auto dup = std::adjacent_find(names.begin(), names.end());
  if (dup != names.end())
    throw std::invalid_argument(std::string("results file: duplicate ") + what + " '" + *dup + "'");
}

// Opens `path` (read-only or read-write) after checking it is a collabzium results file of a
// readable major version; every problem is an InputError naming the file.
Handle open_results_file(const std::string& path, unsigned flags) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(locate(path, 0, "", "is a directory, expected a collabzium results file (.h5)"));
  Handle file = h5::open_format_file(path, flags, kNoun);
  const h5::FormatStamp stamp = h5::read_format_stamp(file, path, kNoun, kResultsFormat);
  if (!stamp.present) throw InputError(locate(path, 0, "", "not a collabzium results file (no 'format' attribute)"));
  if (!stamp.readable)
    throw InputError(locate(path, 0, "", "not a collabzium results file (unreadable 'format' attribute)"));
  const std::vector<int>& version = stamp.version;
  if (version.size() != 2) throw InputError(locate(path, 0, "format_version", "expected [major, minor]"));
  if (version[0] != kResultsFormatMajor)
    throw InputError(locate(path, 0, "",
                            "results format version " + std::to_string(version[0]) + "." + std::to_string(version[1]) +
                                " is not supported (this program reads " + std::to_string(kResultsFormatMajor) +
                                ".x)"));
  for (const char* g : {kConditions, kReplications, kSummary})
    if (!link_exists(file, g)) throw InputError(locate(path, 0, "", std::string("damaged results file: no /") + g));
  return file;
}

RunMetadata read_metadata(hid_t file, const std::string& path) {
  return h5::read_run_metadata(file, path, InputError(locate(path, 0, "seed", "expected one integer")));
}

bool read_complete(hid_t file, const std::string& path) {
  const auto c = h5::read_attribute<int>(file, "complete", path);
  if (c.size() != 1) throw InputError(locate(path, 0, "complete", "expected 0 or 1"));
  return c[0] != 0;
}

// Shape (C, R) from /replications/done.
std::pair<std::size_t, std::size_t> read_shape(hid_t file, const std::string& path) {
  const std::string name = std::string("/") + kReplications + "/" + kDone;
  if (!link_exists(file, name)) throw InputError(locate(path, 0, "", "damaged results file: no " + name));
  Handle d = dataset(H5Dopen2(file, name.c_str(), H5P_DEFAULT), path, "open " + name);
  const auto dims = dataset_dims(d, path, name);
  if (dims.size() != 2) throw InputError(locate(path, 0, name, "expected conditions x replications"));
  if (dims[0] > 0 && dims[1] > kMaxResultsCells / dims[0])
    throw InputError(
        locate(path, 0, name,
               "damaged results file: " + std::to_string(dims[0]) + " x " + std::to_string(dims[1]) + " replications"));
  return {static_cast<std::size_t>(dims[0]), static_cast<std::size_t>(dims[1])};
}

// Record columns: /replications minus `done`, in creation order, each checked to be C x R.
std::vector<std::string> read_columns(hid_t file, std::size_t C, std::size_t R, const std::string& path) {
  Handle g = group(H5Gopen2(file, kReplications, H5P_DEFAULT), path, "open /replications");
  std::vector<std::string> names;
  for (auto& name : link_names(g, path)) {
    if (name == kDone) continue;
    Handle d = dataset(H5Dopen2(g, name.c_str(), H5P_DEFAULT), path, "open /replications/" + name);
    const auto dims = dataset_dims(d, path, name);
    if (dims.size() != 2 || dims[0] != C || dims[1] != R)
      throw InputError(locate(path, 0, "/replications/" + name,
                              "expected " + std::to_string(C) + " x " + std::to_string(R) + " values"));
    names.push_back(std::move(name));
  }
  return names;
}

void write_summary_group(hid_t file, const std::vector<SummaryRow>& rows, const std::string& path) {
  Handle g = h5::replace_group(file, kSummary, path);
  const std::size_t n = rows.size();
  std::vector<int> condition(n);
  std::vector<std::string> text(n);
  std::vector<double> number(n);
  for (std::size_t i = 0; i < n; ++i) condition[i] = rows[i].condition;
  h5::write_dataset(g, "condition", condition, path);
  for (auto field : {&SummaryRow::model, &SummaryRow::rater, &SummaryRow::term, &SummaryRow::measure}) {
    for (std::size_t i = 0; i < n; ++i) text[i] = rows[i].*field;
    const char* name = field == &SummaryRow::model   ? "model"
                       : field == &SummaryRow::rater ? "rater"
                       : field == &SummaryRow::term  ? "term"
                                                     : "measure";
    h5::write_dataset(g, name, text, path);
  }
  for (std::size_t i = 0; i < n; ++i) number[i] = rows[i].value;
  h5::write_dataset(g, "value", number, path);
  for (std::size_t i = 0; i < n; ++i) number[i] = rows[i].mcse;
  h5::write_dataset(g, "mcse", number, path);
}

std::vector<SummaryRow> read_summary_group(hid_t file, const std::string& path) {
  Handle g = group(H5Gopen2(file, kSummary, H5P_DEFAULT), path, "open /summary");
  const std::string cname = "condition";
  if (!link_exists(g, cname)) throw InputError(locate(path, 0, "/summary", "damaged results file: no condition"));
  std::size_t n = 0;
  {
    Handle d = dataset(H5Dopen2(g, cname.c_str(), H5P_DEFAULT), path, "open /summary/condition");
    const auto dims = dataset_dims(d, path, cname);
    if (dims.size() != 1) throw InputError(locate(path, 0, "/summary/condition", "expected a column"));
    n = static_cast<std::size_t>(dims[0]);
  }
  std::vector<SummaryRow> rows(n);
  const auto condition = h5::read_dataset<int>(g, cname, n, path);
  for (std::size_t i = 0; i < n; ++i) rows[i].condition = condition[i];
  for (auto [field, name] : {std::pair{&SummaryRow::model, "model"}, std::pair{&SummaryRow::rater, "rater"},
                             std::pair{&SummaryRow::term, "term"}, std::pair{&SummaryRow::measure, "measure"}}) {
    auto text = h5::read_dataset<std::string>(g, name, n, path);
    for (std::size_t i = 0; i < n; ++i) rows[i].*field = std::move(text[i]);
  }
  const auto value = h5::read_dataset<double>(g, "value", n, path);
  const auto mcse = h5::read_dataset<double>(g, "mcse", n, path);
  for (std::size_t i = 0; i < n; ++i) {
    rows[i].value = value[i];
    rows[i].mcse = mcse[i];
  }
  return rows;
}

// Access properties of record-column datasets: no chunk cache, so H5Dwrite puts values in the file
// (the OS) before it returns, ahead of the `done` marks that go through the cache.
Handle uncached_dapl(const std::string& path) {
  Handle p = plist(H5Pcreate(H5P_DATASET_ACCESS), path, "dataset access properties");
  check(H5Pset_chunk_cache(p, H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, H5D_CHUNK_CACHE_W0_DEFAULT), path,
        "dataset access properties");
  return p;
}

template <class Read>
auto reading(const std::string& path, Read read) -> decltype(read()) {
  return h5::reading(path, kNoun, read);
}

hsize_t chunk_replications(std::size_t n_replications) {
  return std::max<hsize_t>(1, std::min<hsize_t>(n_replications, kChunkReplications));
}

std::string mismatch(const std::string& what) {
  return what + "; it cannot be resumed by this run (start a new run without --resume, or use another --out)";
}

}  // namespace

// -------------------------------------------------------------------------------------------------

DiskFull::DiskFull(const std::string& path, std::uintmax_t free, std::uintmax_t needed)
    : std::runtime_error(path + ": not enough space on the disk: " + std::to_string(free) + " bytes free, " +
                         std::to_string(needed) + " needed"),
      free_bytes(free),
      needed_bytes(needed) {}

std::string iso8601_utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct ResultsWriter::Impl {
  std::string path;
  Handle file;  // declared first: closed last
  std::vector<std::string> columns;
  std::size_t C = 0, R = 0;
  std::vector<Handle> datasets;
  Handle done;
  hsize_t chunk_r = 1;  // replications per chunk
  bool known_incomplete = false;

  // Allocates the chunks of every dataset that the entries at `order` of (c, r) reach and that are
  // not in the file yet (h5::allocate_chunks: DiskFull with nothing written when they do not fit).
  void ensure_allocated(const std::vector<std::size_t>& c, const std::vector<std::size_t>& r,
                        const std::vector<std::size_t>& order) {
    std::vector<std::vector<hsize_t>> chunks;  // (condition, first replication of the chunk)
    for (std::size_t q : order) chunks.push_back({c[q], r[q] / chunk_r * chunk_r});
    chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());  // `order` is sorted
    const std::vector<double> nan(chunk_r, kNaN);
    const std::vector<std::uint8_t> zero(chunk_r, 0);
    std::vector<h5::ChunkedDataset> targets;
    for (std::size_t j = 0; j < datasets.size(); ++j)
      targets.push_back({datasets[j], H5T_NATIVE_DOUBLE, sizeof(double), nan.data(), "/replications/" + columns[j]});
    targets.push_back({done, H5T_NATIVE_UINT8, sizeof(std::uint8_t), zero.data(), "/replications/done"});
    h5::allocate_chunks(file, targets, chunks, {1, chunk_r}, {C, R}, path);
  }

  void mark_incomplete() {
    if (known_incomplete) return;
    h5::update_attribute(file, "complete", 0, path);
    check(H5Fflush(file, H5F_SCOPE_LOCAL), path, "flush");
    known_incomplete = true;
  }
};

ResultsWriter::ResultsWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ResultsWriter::ResultsWriter(ResultsWriter&&) noexcept = default;
ResultsWriter& ResultsWriter::operator=(ResultsWriter&&) noexcept = default;
ResultsWriter::~ResultsWriter() = default;

const std::string& ResultsWriter::path() const { return impl_->path; }
const std::vector<std::string>& ResultsWriter::columns() const { return impl_->columns; }
std::size_t ResultsWriter::n_conditions() const { return impl_->C; }
std::size_t ResultsWriter::n_replications() const { return impl_->R; }

namespace {

// Condition keys and record columns must be valid, unique dataset names; condition columns the right length.
void check_layout(const std::vector<ConditionColumn>& conditions, const std::vector<std::string>& columns,
                  std::size_t n_conditions) {
  std::vector<std::string> keys;
  for (const auto& cc : conditions) {
    check_name(cc.key, "condition key", kIndex);
    const bool numbers = !cc.numbers.empty() || cc.texts.empty();
    const std::size_t n = numbers ? cc.numbers.size() : cc.texts.size();
    if ((numbers && !cc.texts.empty()) || n != n_conditions)
      throw std::invalid_argument("results file: condition column '" + cc.key + "' must hold " +
                                  std::to_string(n_conditions) + " numbers or texts");
    keys.push_back(cc.key);
  }
  check_unique(keys, "condition key");
  for (const auto& c : columns) check_name(c, "column", kDone);
  check_unique(columns, "column");
}

Handle create_results_file(const std::string& path) {
  const Handle fapl = h5::file_access_plist(path);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (id < 0) {
    const std::string why = h5::last_error();
    std::error_code ec;
    const auto folder = std::filesystem::absolute(path, ec).parent_path();
    if (!std::filesystem::is_directory(folder, ec))
      throw InputError(
          locate(path, 0, "", "cannot create the results file: folder " + folder.string() + " does not exist"));
    throw InputError(locate(path, 0, "", "cannot create the results file: " + why));
  }
  return Handle(id, H5Fclose);
}

void write_conditions_group(hid_t file, const std::vector<ConditionColumn>& conditions, std::size_t n_conditions,
                            const std::string& path) {
  Handle g = group(H5Gcreate2(file, kConditions, H5P_DEFAULT, track_order_gcpl(path), H5P_DEFAULT), path,
                   "create /conditions");
  for (const auto& cc : conditions) {
    if (!cc.texts.empty()) h5::write_dataset(g, cc.key, cc.texts, path);
    else h5::write_dataset(g, cc.key, cc.numbers, path);
  }
  std::vector<int> index(n_conditions);
  std::iota(index.begin(), index.end(), 1);
  h5::write_dataset(g, kIndex, index, path);
}

}  // namespace

ResultsWriter::ResultsWriter(const std::string& path, const RunMetadata& meta,
                             const std::vector<ConditionColumn>& conditions, const std::vector<std::string>& columns,
                             std::size_t n_conditions, std::size_t n_replications)
    : impl_(std::make_unique<Impl>()) {
  h5::silence_errors();
  check_layout(conditions, columns, n_conditions);
  Impl& m = *impl_;
  m.path = path;
  m.columns = columns;
  m.C = n_conditions;
  m.R = n_replications;
  h5::check_free_space(path, h5::kSpareBytes);
  m.file = create_results_file(path);
  h5::write_root_attributes(m.file, kResultsFormat, kResultsFormatMajor, kResultsFormatMinor, meta, path);
  m.known_incomplete = true;
  write_conditions_group(m.file, conditions, n_conditions, path);

  // /replications: chunks of 1 x min(R, 4096), NaN / 0 filled, allocated as they are first written.
  {
    Handle g = group(H5Gcreate2(m.file, kReplications, H5P_DEFAULT, track_order_gcpl(path), H5P_DEFAULT), path,
                     "create /replications");
    const std::vector<hsize_t> dims{n_conditions, n_replications};
    const hsize_t maxdims[2] = {H5S_UNLIMITED, H5S_UNLIMITED};
    Handle s = space(H5Screate_simple(2, dims.data(), maxdims), path, "dataspace");
    m.chunk_r = chunk_replications(n_replications);
    const hsize_t chunk[2] = {1, m.chunk_r};
    auto chunked_dcpl = [&](hid_t mem_type, const void* fill) {
      Handle p = h5::plain_dcpl(path);
      check(H5Pset_chunk(p, 2, chunk), path, "dataset properties");
      check(H5Pset_fill_value(p, mem_type, fill), path, "dataset properties");
      check(H5Pset_fill_time(p, H5D_FILL_TIME_IFSET), path, "dataset properties");
      // Chunks are allocated as replications reach them (ensure_allocated), not all up front: a
      // file holds what was run, not what was requested.
      check(H5Pset_alloc_time(p, H5D_ALLOC_TIME_INCR), path, "dataset properties");
      return p;
    };
    const std::uint8_t zero = 0;
    Handle values_dcpl = chunked_dcpl(H5T_NATIVE_DOUBLE, &kNaN);
    Handle dapl = uncached_dapl(path);
    m.datasets.reserve(columns.size());
    for (const auto& c : columns)
      m.datasets.push_back(dataset(H5Dcreate2(g, c.c_str(), H5T_IEEE_F64LE, s, H5P_DEFAULT, values_dcpl, dapl), path,
                                   "create /replications/" + c));
    m.done =
        dataset(H5Dcreate2(g, kDone, H5T_STD_U8LE, s, H5P_DEFAULT, chunked_dcpl(H5T_NATIVE_UINT8, &zero), H5P_DEFAULT),
                path, "create /replications/done");
  }

  write_summary_group(m.file, {}, path);
  check(H5Fflush(m.file, H5F_SCOPE_LOCAL), path, "flush");
}

ResultsWriter ResultsWriter::resume(const std::string& path, const RunMetadata& meta,
                                    const std::vector<std::string>& columns, std::size_t n_conditions,
                                    std::size_t n_replications) {
  return reading(path, [&]() -> ResultsWriter {
    auto impl = std::make_unique<Impl>();
    Impl& m = *impl;
    m.path = path;
    m.file = open_results_file(path, H5F_ACC_RDWR);
    const RunMetadata old = read_metadata(m.file, path);
    if (old.config != meta.config)
      throw InputError(locate(path, 0, "", mismatch("written for a different configuration")));
    if (old.seed != meta.seed)
      throw InputError(
          locate(path, 0, "",
                 mismatch("written with seed " + std::to_string(old.seed) + ", not " + std::to_string(meta.seed))));
    const auto [C, R] = read_shape(m.file, path);
    if (C != n_conditions || R != n_replications)
      throw InputError(locate(
          path, 0, "",
          mismatch("holds " + std::to_string(C) + " conditions x " + std::to_string(R) + " replications, this run " +
                   std::to_string(n_conditions) + " x " + std::to_string(n_replications))));
    const auto file_columns = read_columns(m.file, C, R, path);
    if (file_columns != columns) {
      std::string diff = "has other record columns (" + std::to_string(file_columns.size()) + " in the file, " +
                         std::to_string(columns.size()) + " in this run";
      for (std::size_t i = 0; i < std::min(file_columns.size(), columns.size()); ++i)
        if (file_columns[i] != columns[i]) {
          diff += "; column " + std::to_string(i + 1) + " is '" + file_columns[i] + "', expected '" + columns[i] + "'";
          break;
        }
      throw InputError(locate(path, 0, "", mismatch(diff + ")")));
    }
    m.columns = columns;
    m.C = C;
    m.R = R;
    m.known_incomplete = !read_complete(m.file, path);
    Handle g = group(H5Gopen2(m.file, kReplications, H5P_DEFAULT), path, "open /replications");
    Handle dapl = uncached_dapl(path);
    m.datasets.reserve(columns.size());
    for (const auto& c : columns)
      m.datasets.push_back(dataset(H5Dopen2(g, c.c_str(), dapl), path, "open /replications/" + c));
    m.done = dataset(H5Dopen2(g, kDone, H5P_DEFAULT), path, "open /replications/done");
    m.chunk_r = chunk_replications(R);
    return ResultsWriter(std::move(impl));
  });
}

std::vector<std::uint8_t> ResultsWriter::done() const {
  const Impl& m = *impl_;
  std::vector<std::uint8_t> out(m.C * m.R, 0);
  if (!out.empty())
    check(H5Dread(m.done, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), m.path, "read done");
  return out;
}

void ResultsWriter::write(const std::vector<std::size_t>& c, const std::vector<std::size_t>& r,
                          const std::vector<double>& values) {
  Impl& m = *impl_;
  const std::size_t n = c.size(), k = m.columns.size();
  if (r.size() != n || values.size() != n * k)
    throw std::invalid_argument("ResultsWriter::write: " + std::to_string(n) + " conditions, " +
                                std::to_string(r.size()) + " replications and " + std::to_string(values.size()) +
                                " values for " + std::to_string(k) + " columns");
  for (std::size_t i = 0; i < n; ++i)
    if (c[i] >= m.C || r[i] >= m.R)
      throw std::out_of_range("ResultsWriter::write: condition " + std::to_string(c[i]) + ", replication " +
                              std::to_string(r[i]) + " outside " + std::to_string(m.C) + " x " + std::to_string(m.R));
  if (n == 0) return;
  h5::silence_errors();

  // Sorted by condition and replication; of duplicates the last one wins.
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return c[a] != c[b] ? c[a] < c[b] : r[a] < r[b]; });
  std::size_t kept = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (i + 1 < n && c[order[i]] == c[order[i + 1]] && r[order[i]] == r[order[i + 1]]) continue;
    order[kept++] = order[i];
  }
  order.resize(kept);
  m.ensure_allocated(c, r, order);
  m.mark_incomplete();

  // Segments: clusters of nearby replications of one condition (gaps of at most kMaxGap). A gapless
  // cluster is one hyperslab write; a cluster with gaps is read, patched and written back as one
  // hyperslab, far cheaper than scattered element I/O. Small clusters join one element selection.
  struct Segment {
    hsize_t c, r0, span;
    std::size_t first, count;  // positions in `order`
    Handle file_space, mem_space;
  };
  std::vector<Segment> segments;
  std::vector<std::size_t> sparse;  // positions in `order`
  for (std::size_t i = 0; i < kept;) {
    std::size_t j = i + 1;
    while (j < kept && c[order[j]] == c[order[i]] &&
           (r[order[j]] - r[order[j - 1]] <= kMaxGap || r[order[j]] - r[order[i]] < kMaxSpread * (j - i + 1)))
      ++j;
    if (j - i >= kMinSegment) {
      Segment s{c[order[i]], r[order[i]], r[order[j - 1]] - r[order[i]] + 1, i, j - i, {}, {}};
      s.file_space = simple_space({m.C, m.R}, m.path);
      const hsize_t start[2] = {s.c, s.r0}, count[2] = {1, s.span};
      check(H5Sselect_hyperslab(s.file_space, H5S_SELECT_SET, start, nullptr, count, nullptr), m.path,
            "select replications");
      s.mem_space = simple_space({s.span}, m.path);
      segments.push_back(std::move(s));
    } else {
      for (std::size_t q = i; q < j; ++q) sparse.push_back(q);
    }
    i = j;
  }
  Handle sparse_file_space, sparse_mem_space;
  if (!sparse.empty()) {
    sparse_file_space = simple_space({m.C, m.R}, m.path);
    std::vector<hsize_t> coords(2 * sparse.size());
    for (std::size_t i = 0; i < sparse.size(); ++i) {
      coords[2 * i] = c[order[sparse[i]]];
      coords[2 * i + 1] = r[order[sparse[i]]];
    }
    check(H5Sselect_elements(sparse_file_space, H5S_SELECT_SET, sparse.size(), coords.data()), m.path,
          "select replications");
    sparse_mem_space = simple_space({sparse.size()}, m.path);
  }

  // Writes one dataset: value(q) is the value of the entry at position q of `order`.
  auto write_dataset = [&](hid_t d, hid_t mem_type, auto value, const std::string& name) {
    using T = decltype(value(std::size_t{0}));
    std::vector<T> buffer;
    for (const Segment& s : segments) {
      buffer.resize(s.span);
      if (s.span != s.count)
        check(H5Dread(d, mem_type, s.mem_space, s.file_space, H5P_DEFAULT, buffer.data()), m.path, "read " + name);
      for (std::size_t q = s.first; q < s.first + s.count; ++q) buffer[r[order[q]] - s.r0] = value(q);
      check(H5Dwrite(d, mem_type, s.mem_space, s.file_space, H5P_DEFAULT, buffer.data()), m.path, "write " + name);
    }
    if (!sparse.empty()) {
      buffer.resize(sparse.size());
      for (std::size_t i = 0; i < sparse.size(); ++i) buffer[i] = value(sparse[i]);
      check(H5Dwrite(d, mem_type, sparse_mem_space, sparse_file_space, H5P_DEFAULT, buffer.data()), m.path,
            "write " + name);
    }
  };
  // Values first: they bypass the chunk cache, so they are in the file before any `done` mark is.
  for (std::size_t j = 0; j < k; ++j)
    write_dataset(
        m.datasets[j], H5T_NATIVE_DOUBLE, [&](std::size_t q) { return values[order[q] * k + j]; },
        "/replications/" + m.columns[j]);
  write_dataset(
      m.done, H5T_NATIVE_UINT8, [](std::size_t) { return std::uint8_t{1}; }, "/replications/done");
}

void ResultsWriter::flush() {
  h5::silence_errors();
  check(H5Fflush(impl_->file, H5F_SCOPE_LOCAL), impl_->path, "flush");
}

void ResultsWriter::write_summary(const std::vector<SummaryRow>& rows) {
  h5::silence_errors();
  // A rough bound of what the table takes (strings, numbers, HDF5's overhead per row).
  h5::check_free_space(impl_->path, h5::kSpareBytes + 256 * rows.size());
  impl_->mark_incomplete();
  write_summary_group(impl_->file, rows, impl_->path);
  flush();
}

void ResultsWriter::mark_complete() {
  h5::silence_errors();
  h5::update_attribute(impl_->file, "complete", 1, impl_->path);
  impl_->known_incomplete = false;
  flush();
}

// -------------------------------------------------------------------------------------------------

namespace {
ResultsFile read_results_unchecked(const std::string& path);
}

ResultsFile read_results(const std::string& path) {
  return reading(path, [&] { return read_results_unchecked(path); });
}

namespace {
ResultsFile read_results_unchecked(const std::string& path) {
  ResultsFile out;
  out.path = path;
  Handle file = open_results_file(path, H5F_ACC_RDONLY);
  out.meta = read_metadata(file, path);
  const auto version = h5::read_attribute<int>(file, "format_version", path);
  out.format_version = {version[0], version[1]};
  out.complete = read_complete(file, path);
  std::tie(out.n_conditions, out.n_replications) = read_shape(file, path);
  const std::size_t C = out.n_conditions, R = out.n_replications;

  {
    Handle g = group(H5Gopen2(file, kConditions, H5P_DEFAULT), path, "open /conditions");
    for (const auto& name : link_names(g, path)) {
      if (name == kIndex) continue;
      Handle d = dataset(H5Dopen2(g, name.c_str(), H5P_DEFAULT), path, "open /conditions/" + name);
      ConditionColumn cc;
      cc.key = name;
      if (h5::holds_strings(d, path, "/conditions/" + name)) cc.texts = h5::read_dataset<std::string>(g, name, C, path);
      else cc.numbers = h5::read_dataset<double>(g, name, C, path);
      out.conditions.push_back(std::move(cc));
    }
  }
  out.columns = read_columns(file, C, R, path);
  out.done.assign(C * R, 0);
  if (!out.done.empty()) {
    const std::string name = std::string("/") + kReplications + "/" + kDone;
    Handle d = dataset(H5Dopen2(file, name.c_str(), H5P_DEFAULT), path, "open " + name);
    check(H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.done.data()), path, "read " + name);
  }
  out.summary = read_summary_group(file, path);
  return out;
}
}  // namespace

void check_results_readable(const std::string& path) {
  check_readable_in_child(path, [&] {
    const ResultsFile rf = read_results(path);
    const ResultsColumnReader reader(rf);
    for (const auto& name : rf.columns) reader.column(name);
  });
}

void check_readable_in_child(const std::string& path, const std::function<void()>& read_all) {
  std::cout.flush();
  std::cerr.flush();
  const pid_t child = ::fork();
  if (child < 0) return;  // no process to spare: the reads below are then the only check
  if (child == 0) {
    // The child reads everything a reader can: the metadata and summary (read_results) and every
    // value of every column. Whatever it finds, it only tells how it ended: a crash ends it by the
    // signal itself (handlers inherited from the parent, e.g. a test framework's, are dropped).
    for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) std::signal(sig, SIG_DFL);
    int status = 0;
    try {
      read_all();
    } catch (...) {
      status = 2;
    }
    ::_exit(status);
  }
  // libhdf5 can also loop on a damaged file: the child gets 20 s plus 1 s per 20 MB (HDF5 reads
  // hundreds of MB per second), then counts as stuck.
  std::error_code size_error;
  const auto bytes = std::filesystem::file_size(path, size_error);
  const double limit_s = 20.0 + (size_error ? 0.0 : static_cast<double>(bytes) / 20e6);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
  int status = 0;
  for (;;) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) return;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
      throw InputError(locate(path, 0, "",
                              "damaged results file: the HDF5 library did not finish reading it within " +
                                  std::to_string(static_cast<long>(limit_s)) + " s"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFSIGNALED(status))
    throw InputError(locate(
        path, 0, "",
        "damaged results file: the HDF5 library crashed reading it (signal " + std::to_string(WTERMSIG(status)) + ")"));
}

struct ResultsColumnReader::Impl {
  const ResultsFile* results;
  Handle file;
};

ResultsColumnReader::ResultsColumnReader(const ResultsFile& results) : impl_(std::make_unique<Impl>()) {
  impl_->results = &results;
  impl_->file = reading(results.path, [&] { return open_results_file(results.path, H5F_ACC_RDONLY); });
}
ResultsColumnReader::ResultsColumnReader(ResultsColumnReader&&) noexcept = default;
ResultsColumnReader& ResultsColumnReader::operator=(ResultsColumnReader&&) noexcept = default;
ResultsColumnReader::~ResultsColumnReader() = default;

// Reads rows [first, first + count) of one record column.
std::vector<double> ResultsColumnReader::rows(const std::string& name, std::size_t first, std::size_t count) const {
  return reading(impl_->results->path, [&] { return rows_unchecked(name, first, count); });
}

std::vector<double> ResultsColumnReader::rows_unchecked(const std::string& name, std::size_t first,
                                                        std::size_t count) const {
  const ResultsFile& rf = *impl_->results;
  if (std::find(rf.columns.begin(), rf.columns.end(), name) == rf.columns.end())
    throw InputError(locate(rf.path, 0, name, "no such column in the results file"));
  std::vector<double> out(count * rf.n_replications);
  if (out.empty()) return out;
  h5::silence_errors();
  const std::string dname = std::string("/") + kReplications + "/" + name;
  Handle d = dataset(H5Dopen2(impl_->file, dname.c_str(), H5P_DEFAULT), rf.path, "open " + dname);
  const auto dims = dataset_dims(d, rf.path, dname);
  if (dims.size() != 2 || dims[0] < first + count || dims[1] != rf.n_replications)
    throw InputError(locate(rf.path, 0, dname, "the file changed since it was read"));
  Handle file_space = space(H5Dget_space(d), rf.path, dname);
  const hsize_t start[2] = {first, 0}, n[2] = {count, rf.n_replications};
  check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, n, nullptr), rf.path, "select " + dname);
  Handle mem_space = simple_space({out.size()}, rf.path);
  check(H5Dread(d, H5T_NATIVE_DOUBLE, mem_space, file_space, H5P_DEFAULT, out.data()), rf.path, "read " + dname);
  return out;
}

std::vector<double> ResultsColumnReader::column(const std::string& name, std::size_t condition) const {
  const ResultsFile& rf = *impl_->results;
  if (condition >= rf.n_conditions)
    throw std::out_of_range("ResultsFile::column: condition " + std::to_string(condition) + " of " +
                            std::to_string(rf.n_conditions));
  return rows(name, condition, 1);
}

std::vector<double> ResultsColumnReader::column(const std::string& name) const {
  return rows(name, 0, impl_->results->n_conditions);
}

std::vector<double> ResultsFile::column(const std::string& name, std::size_t condition) const {
  return ResultsColumnReader(*this).column(name, condition);
}

std::vector<double> ResultsFile::column(const std::string& name) const {
  return ResultsColumnReader(*this).column(name);
}

std::size_t ResultsFile::n_done() const {
  return static_cast<std::size_t>(std::count(done.begin(), done.end(), std::uint8_t{1}));
}

std::size_t ResultsFile::n_done(std::size_t condition) const {
  if (condition >= n_conditions) throw std::out_of_range("ResultsFile::n_done: condition out of range");
  const auto first = done.begin() + static_cast<std::ptrdiff_t>(condition * n_replications);
  return static_cast<std::size_t>(
      std::count(first, first + static_cast<std::ptrdiff_t>(n_replications), std::uint8_t{1}));
}

}  // namespace collabzium
