#include "collabzium/io/inference_file.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include "collabzium/config/limits.h"
#include "collabzium/error.h"
#include "collabzium/input_file.h"
#include "collabzium/io/results_file.h"
#include "collabzium/numeric.h"
#include "h5.h"
#include "h5_format.h"

namespace collabzium {
namespace {

using h5::check, h5::dataset, h5::Handle;

// What the file is called in messages.
constexpr const char* kNoun = "inference file";
constexpr const char* kDraws = "draws";
constexpr const char* kSummary = "summary";
constexpr const char* kValues = "values";
constexpr const char* kFlags[] = {"accepted", "invalid", "done"};
constexpr hsize_t kChunk = 4096;
// A done mask of K bytes is held in memory: refuse shapes no inference can have written before
// allocating (a damaged dataspace can claim 2^64 elements).
constexpr hsize_t kMaxDraws = static_cast<hsize_t>(kMaxInferDraws);

[[noreturn]] void damaged(const std::string& path, const std::string& what) {
  throw InputError(locate(path, 0, "", "damaged or unreadable inference file: " + what));
}

template <class Read>
auto reading(const std::string& path, Read read) -> decltype(read()) {
  return h5::reading(path, kNoun, read);
}

Handle open_inference(const std::string& path, unsigned flags) {
  Handle file = h5::open_format_file(path, flags, kNoun);
  const h5::FormatStamp stamp = h5::read_format_stamp(file, path, kNoun, kInferenceFormat);
  if (!stamp.readable)
    throw InputError(locate(path, 0, "", "not a collabzium inference file (no readable 'format' attribute)"));
  const std::vector<int>& version = stamp.version;
  if (version.size() != 2 || version[0] != kInferenceFormatMajor)
    throw InputError(locate(path, 0, "", "inference format version not supported (this program reads 1.x)"));
  for (const char* g : {kDraws, kSummary})
    if (!h5::link_exists(file, g)) damaged(path, std::string("no /") + g);
  return file;
}

hsize_t chunk_draws(hsize_t draws) { return std::max<hsize_t>(1, std::min<hsize_t>(draws, kChunk)); }

Handle chunked_dcpl(const std::string& path, hsize_t draws, hid_t mem_type, const void* fill) {
  Handle p = h5::plain_dcpl(path);
  const hsize_t chunk = chunk_draws(draws);
  check(H5Pset_chunk(p, 1, &chunk), path, "dataset properties");
  check(H5Pset_fill_value(p, mem_type, fill), path, "dataset properties");
  check(H5Pset_fill_time(p, H5D_FILL_TIME_IFSET), path, "dataset properties");
  // Chunks are allocated as draws reach them: a file holds what was run, not what was requested.
  check(H5Pset_alloc_time(p, H5D_ALLOC_TIME_INCR), path, "dataset properties");
  return p;
}

std::vector<PosteriorRow> read_summary(hid_t file, const std::string& path) {
  Handle g = h5::group(H5Gopen2(file, kSummary, H5P_DEFAULT), path, "open /summary");
  if (!h5::link_exists(g, "measure")) return {};
  Handle d = dataset(H5Dopen2(g, "measure", H5P_DEFAULT), path, "open /summary/measure");
  const auto dims = h5::dataset_dims(d, path, "measure");
  if (dims.size() != 1 || dims[0] > kMaxDraws) damaged(path, "/summary/measure is not a column");
  const std::size_t n = static_cast<std::size_t>(dims[0]);
  const auto parameter = h5::read_dataset<std::string>(g, "parameter", n, path);
  const auto value = h5::read_dataset<std::string>(g, "value", n, path);
  const auto measure = h5::read_dataset<std::string>(g, "measure", n, path);
  const auto num = h5::read_dataset<double>(g, "value_num", n, path);
  const auto mcse = h5::read_dataset<double>(g, "mcse", n, path);
  std::vector<PosteriorRow> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = {parameter[i], value[i], measure[i], num[i], mcse[i]};
  return rows;
}

void write_summary_group(hid_t file, const std::vector<PosteriorRow>& rows, const std::string& path) {
  Handle g = h5::replace_group(file, kSummary, path);
  std::vector<std::string> text(rows.size());
  std::vector<double> num(rows.size());
  for (auto [field, name] : {std::pair{&PosteriorRow::parameter, "parameter"}, std::pair{&PosteriorRow::value, "value"},
                             std::pair{&PosteriorRow::measure, "measure"}}) {
    for (std::size_t i = 0; i < rows.size(); ++i) text[i] = rows[i].*field;
    h5::write_dataset(g, name, text, path);
  }
  for (auto [field, name] :
       {std::pair{&PosteriorRow::value_num, "value_num"}, std::pair{&PosteriorRow::mcse, "mcse"}}) {
    for (std::size_t i = 0; i < rows.size(); ++i) num[i] = rows[i].*field;
    h5::write_dataset(g, name, num, path);
  }
}

InferenceFile read_unchecked(const std::string& path) {
  InferenceFile out;
  out.path = path;
  Handle file = open_inference(path, H5F_ACC_RDONLY);
  out.meta = h5::read_run_metadata(
      file, path, InputError(locate(path, 0, "", "damaged or unreadable inference file: seed is not one integer")));
  const auto complete = h5::read_attribute<int>(file, "complete", path);
  out.complete = complete.size() == 1 && complete[0] != 0;
  Handle g = h5::group(H5Gopen2(file, kDraws, H5P_DEFAULT), path, "open /draws");
  if (!h5::link_exists(g, "done")) damaged(path, "no /draws/done");
  {
    Handle d = dataset(H5Dopen2(g, "done", H5P_DEFAULT), path, "open /draws/done");
    const auto dims = h5::dataset_dims(d, path, "done");
    if (dims.size() != 1 || dims[0] > kMaxDraws) damaged(path, "/draws/done is not a column of draws");
    out.draws = static_cast<std::size_t>(dims[0]);
  }
  for (auto& name : h5::link_names(g, path)) {
    if (std::find(std::begin(kFlags), std::end(kFlags), name) != std::end(kFlags)) continue;
    Handle d = dataset(H5Dopen2(g, name.c_str(), H5P_DEFAULT), path, "open /draws/" + name);
    const auto dims = h5::dataset_dims(d, path, name);
    if (dims.size() != 1 || dims[0] != out.draws) damaged(path, "/draws/" + name + " has the wrong length");
    InferenceColumn c{name, {}};
    if (h5::attribute_exists(d, kValues)) c.values = h5::read_string_list_attribute(d, kValues, path);
    out.columns.push_back(std::move(c));
  }
  out.done = h5::read_dataset<std::uint8_t>(g, "done", out.draws, path);
  out.accepted = h5::read_dataset<std::uint8_t>(g, "accepted", out.draws, path);
  out.invalid = h5::read_dataset<std::uint8_t>(g, "invalid", out.draws, path);
  out.summary = read_summary(file, path);
  return out;
}

}  // namespace

struct InferenceWriter::Impl {
  std::string path;
  Handle file;                  // declared first: closed last
  std::vector<Handle> columns;  // value columns, then accepted, invalid
  Handle done;
  std::size_t draws = 0;
  hsize_t chunk = 1;  // draws per chunk

  // The chunks the draws at `coords` reach, allocated before values go into them (DiskFull, with
  // nothing written, when they do not fit; h5::allocate_chunks).
  void ensure_allocated(const std::vector<hsize_t>& coords) {
    std::vector<std::vector<hsize_t>> starts;
    for (const hsize_t k : coords) starts.push_back({k / chunk * chunk});
    std::sort(starts.begin(), starts.end());
    starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
    const std::vector<double> nan(chunk, kNaN);
    const std::vector<std::uint8_t> zero(chunk, 0);
    std::vector<h5::ChunkedDataset> targets;
    const std::size_t values = columns.size() - 2;  // accepted and invalid are the last two
    for (std::size_t j = 0; j < columns.size(); ++j)
      targets.push_back(j < values
                            ? h5::ChunkedDataset{columns[j], H5T_NATIVE_DOUBLE, sizeof(double), nan.data(), "values"}
                            : h5::ChunkedDataset{columns[j], H5T_NATIVE_UINT8, 1, zero.data(), "flags"});
    targets.push_back({done, H5T_NATIVE_UINT8, 1, zero.data(), "done"});
    h5::allocate_chunks(file, targets, starts, {chunk}, {draws}, path);
  }
};

InferenceWriter::InferenceWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
InferenceWriter::InferenceWriter(InferenceWriter&&) noexcept = default;
InferenceWriter& InferenceWriter::operator=(InferenceWriter&&) noexcept = default;
InferenceWriter::~InferenceWriter() = default;

InferenceWriter::InferenceWriter(const std::string& path, const RunMetadata& meta,
                                 const std::vector<InferenceColumn>& columns, std::size_t draws)
    : impl_(std::make_unique<Impl>()) {
  h5::silence_errors();
  Impl& m = *impl_;
  m.path = path;
  m.draws = draws;
  m.chunk = chunk_draws(draws);
  h5::check_free_space(path, h5::kSpareBytes);
  const Handle fapl = h5::file_access_plist(path);
  const hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (id < 0) throw InputError(locate(path, 0, "", "cannot create the inference file: " + h5::last_error()));
  m.file = Handle(id, H5Fclose);
  h5::write_root_attributes(m.file, kInferenceFormat, kInferenceFormatMajor, kInferenceFormatMinor, meta, path);
  Handle g = h5::group(H5Gcreate2(m.file, kDraws, H5P_DEFAULT, h5::track_order_gcpl(path), H5P_DEFAULT), path,
                       "create /draws");
  const hsize_t dims = draws;
  Handle s = h5::space(H5Screate_simple(1, &dims, nullptr), path, "dataspace");
  const Handle values_dcpl = chunked_dcpl(path, draws, H5T_NATIVE_DOUBLE, &kNaN);
  const std::uint8_t zero = 0;
  const Handle flags_dcpl = chunked_dcpl(path, draws, H5T_NATIVE_UINT8, &zero);
  for (const auto& c : columns) {
    if (c.name.empty() || c.name.find('/') != std::string::npos ||
        std::find(std::begin(kFlags), std::end(kFlags), c.name) != std::end(kFlags))
      throw std::invalid_argument("inference file: invalid column name '" + c.name + "'");
    m.columns.push_back(dataset(H5Dcreate2(g, c.name.c_str(), H5T_IEEE_F64LE, s, H5P_DEFAULT, values_dcpl, H5P_DEFAULT),
                                path, "create /draws/" + c.name));
    if (!c.values.empty()) h5::write_string_list_attribute(m.columns.back(), kValues, c.values, path);
  }
  for (const char* flag : kFlags) {
    Handle d = dataset(H5Dcreate2(g, flag, H5T_STD_U8LE, s, H5P_DEFAULT, flags_dcpl, H5P_DEFAULT), path,
                       std::string("create /draws/") + flag);
    if (std::string(flag) == "done") m.done = std::move(d);
    else m.columns.push_back(std::move(d));
  }
  write_summary_group(m.file, {}, path);
  check(H5Fflush(m.file, H5F_SCOPE_LOCAL), path, "flush");
}

InferenceWriter InferenceWriter::resume(const std::string& path, const RunMetadata& meta,
                                        const std::vector<InferenceColumn>& columns, std::size_t draws) {
  const InferenceFile existing = reading(path, [&] { return read_unchecked(path); });
  auto refuse = [&](const std::string& what) {
    throw InputError(locate(path, 0, "--resume",
                            what + "; it cannot be resumed by this inference (start anew without --resume, or use "
                                   "another --out)"));
  };
  if (existing.meta.config != meta.config || existing.meta.seed != meta.seed)
    refuse("holds another inference (a different configuration or seed)");
  if (existing.draws != draws)
    refuse("holds " + std::to_string(existing.draws) + " draws, not " + std::to_string(draws));
  if (existing.columns.size() != columns.size()) refuse("holds other columns");
  for (std::size_t i = 0; i < columns.size(); ++i)
    if (existing.columns[i].name != columns[i].name) refuse("holds other columns");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->draws = draws;
  impl->chunk = chunk_draws(draws);
  impl->file = open_inference(path, H5F_ACC_RDWR);
  Handle g = h5::group(H5Gopen2(impl->file, kDraws, H5P_DEFAULT), path, "open /draws");
  for (const auto& c : columns)
    impl->columns.push_back(dataset(H5Dopen2(g, c.name.c_str(), H5P_DEFAULT), path, "open /draws/" + c.name));
  for (const char* flag : kFlags) {
    Handle d = dataset(H5Dopen2(g, flag, H5P_DEFAULT), path, std::string("open /draws/") + flag);
    if (std::string(flag) == "done") impl->done = std::move(d);
    else impl->columns.push_back(std::move(d));
  }
  h5::update_attribute(impl->file, "complete", 0, path);
  return InferenceWriter(std::move(impl));
}

std::vector<std::uint8_t> InferenceWriter::done() const {
  std::vector<std::uint8_t> out(impl_->draws);
  if (!out.empty())
    check(H5Dread(impl_->done, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), impl_->path, "read done");
  return out;
}

void InferenceWriter::write(const std::vector<std::uint64_t>& index, const std::vector<double>& values) {
  Impl& m = *impl_;
  const std::size_t n = index.size();
  if (n == 0) return;
  const std::size_t width = m.columns.size();
  if (values.size() != n * width) throw std::invalid_argument("inference file: a batch of the wrong width");
  std::vector<hsize_t> coords(index.begin(), index.end());
  for (hsize_t c : coords)
    if (c >= m.draws) throw std::out_of_range("inference file: draw out of range");
  m.ensure_allocated(coords);
  const hsize_t count = n;
  Handle mem = h5::space(H5Screate_simple(1, &count, nullptr), m.path, "dataspace");
  auto write_column = [&](hid_t d, hid_t mem_type, const void* buf, const std::string& what) {
    Handle fs = h5::space(H5Dget_space(d), m.path, "dataspace");
    check(H5Sselect_elements(fs, H5S_SELECT_SET, n, coords.data()), m.path, "select draws");
    check(H5Dwrite(d, mem_type, mem, fs, H5P_DEFAULT, buf), m.path, "write " + what);
  };
  std::vector<double> column(n);
  std::vector<std::uint8_t> flags(n);
  for (std::size_t k = 0; k < width; ++k) {
    const bool flag = k + 2 >= width;  // accepted, invalid
    for (std::size_t i = 0; i < n; ++i) {
      column[i] = values[i * width + k];
      flags[i] = column[i] != 0 ? 1 : 0;
    }
    if (flag) write_column(m.columns[k], H5T_NATIVE_UINT8, flags.data(), "flags");
    else write_column(m.columns[k], H5T_NATIVE_DOUBLE, column.data(), "values");
  }
  // Values reach the file before the marks that say they are there.
  check(H5Fflush(m.file, H5F_SCOPE_LOCAL), m.path, "flush");
  std::fill(flags.begin(), flags.end(), 1);
  write_column(m.done, H5T_NATIVE_UINT8, flags.data(), "done");
  check(H5Fflush(m.file, H5F_SCOPE_LOCAL), m.path, "flush");
}

void InferenceWriter::write_summary(const std::vector<PosteriorRow>& rows) {
  // A rough bound of what the table takes (strings, numbers, HDF5's overhead per row).
  h5::check_free_space(impl_->path, h5::kSpareBytes + 256 * rows.size());
  write_summary_group(impl_->file, rows, impl_->path);
  check(H5Fflush(impl_->file, H5F_SCOPE_LOCAL), impl_->path, "flush");
}

void InferenceWriter::mark_complete() {
  h5::update_attribute(impl_->file, "complete", 1, impl_->path);
  check(H5Fflush(impl_->file, H5F_SCOPE_LOCAL), impl_->path, "flush");
}

std::vector<double> InferenceFile::column(const std::string& name) const {
  return reading(path, [&] {
    Handle file = open_inference(path, H5F_ACC_RDONLY);
    Handle g = h5::group(H5Gopen2(file, kDraws, H5P_DEFAULT), path, "open /draws");
    if (!h5::link_exists(g, name)) throw InputError(locate(path, 0, name, "no such column in /draws"));
    return h5::read_dataset<double>(g, name, draws, path);
  });
}

bool is_inference_file(const std::string& path) {
  try {
    h5::silence_errors();
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec) || H5Fis_hdf5(path.c_str()) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return false;
    }
    open_inference(path, H5F_ACC_RDONLY);
    return true;
  } catch (...) {
    return false;
  }
}

InferenceFile read_inference(const std::string& path) {
  return reading(path, [&] { return read_unchecked(path); });
}

void check_inference_readable(const std::string& path) {
  check_readable_in_child(path, [&] {
    const InferenceFile f = read_inference(path);
    for (const auto& c : f.columns) f.column(c.name);
  });
}

}  // namespace collabzium
