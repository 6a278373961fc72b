#include "h5_format.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "collabzium/input_file.h"
#include "collabzium/io/results_file.h"  // DiskFull

namespace collabzium::h5 {

Handle open_format_file(const std::string& path, unsigned flags, const std::string& noun) {
  silence_errors();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(locate(path, 0, "", "no such file"));
  check_regular_input(path, "", "a collabzium " + noun + " (.h5)");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw InputError(locate(path, 0, "", "not an HDF5 file (expected a collabzium " + noun + ")"));
  }
  const Handle fapl = file_access_plist(path);
  const hid_t id = H5Fopen(path.c_str(), flags, fapl);  // the message is read before fapl is closed
  if (id < 0)
    throw InputError(locate(path, 0, "",
                            "cannot open the " + noun + (flags == H5F_ACC_RDWR ? " for writing" : "") +
                                " (is a run still writing it?): " + last_error()));
  return Handle(id, H5Fclose);
}

FormatStamp read_format_stamp(hid_t file, const std::string& path, const std::string& noun, const char* expected) {
  FormatStamp stamp;
  stamp.present = attribute_exists(file, "format") && attribute_exists(file, "format_version");
  if (!stamp.present) return stamp;
  try {
    stamp.format = read_string_attribute(file, "format", path);
    stamp.version = read_attribute<int>(file, "format_version", path);
    stamp.readable = true;
  } catch (const std::exception&) {
    return stamp;
  }
  if (stamp.format != expected)
    throw InputError(locate(path, 0, "", "not a collabzium " + noun + " (format is '" + stamp.format + "')"));
  return stamp;
}

void write_root_attributes(hid_t file, const char* format, int major, int minor, const RunMetadata& meta,
                           const std::string& path) {
  write_string_attribute(file, "format", format, path);
  write_attribute(file, "format_version", std::vector<int>{major, minor}, path);
  write_string_attribute(file, "program_version", meta.program_version, path);
  write_string_attribute(file, "git_sha", meta.git_sha, path);
  write_string_attribute(file, "created", meta.created.empty() ? iso8601_utc_now() : meta.created, path);
  write_attribute(file, "seed", static_cast<long long>(meta.seed), path);
  write_string_attribute(file, "config", meta.config, path);
  write_attribute(file, "complete", 0, path);
}

RunMetadata read_run_metadata(hid_t file, const std::string& path, const InputError& bad_seed) {
  RunMetadata m;
  m.program_version = read_string_attribute(file, "program_version", path);
  m.git_sha = read_string_attribute(file, "git_sha", path);
  m.created = read_string_attribute(file, "created", path);
  m.config = read_string_attribute(file, "config", path);
  const auto seed = read_attribute<long long>(file, "seed", path);
  if (seed.size() != 1) throw bad_seed;
  m.seed = seed[0];
  return m;
}

void check_free_space(const std::string& path, std::uintmax_t bytes) {
  if (const char* fake = std::getenv("COLLABZIUM_TEST_FREE_BYTES")) {
    // Test hook: pretend the disk has this many bytes free (a full disk without filling one).
    const std::uintmax_t free = std::strtoull(fake, nullptr, 10);
    if (free < bytes) throw DiskFull(path, free, bytes);
    return;
  }
  std::error_code ec;
  std::filesystem::path folder = std::filesystem::absolute(path, ec).parent_path();
  struct statvfs st {};
  if (::statvfs(folder.c_str(), &st) != 0) return;  // unknown: let the write itself report
  const std::uintmax_t free = static_cast<std::uintmax_t>(st.f_bavail) * st.f_frsize;
  if (free < bytes) throw DiskFull(path, free, bytes);
}

void allocate_chunks(hid_t file, const std::vector<ChunkedDataset>& datasets,
                     const std::vector<std::vector<hsize_t>>& starts, const std::vector<hsize_t>& chunk,
                     const std::vector<hsize_t>& dims, const std::string& path) {
  hsize_t chunk_elements = 1;
  for (const hsize_t n : chunk) chunk_elements *= n;
  struct Missing {
    const ChunkedDataset* d;
    const std::vector<hsize_t>* start;
  };
  std::vector<Missing> missing;
  std::uintmax_t bytes = 0;
  for (const ChunkedDataset& d : datasets)
    for (const auto& start : starts) {
      unsigned filter_mask = 0;
      haddr_t addr = HADDR_UNDEF;
      hsize_t size = 0;
      check(H5Dget_chunk_info_by_coord(d.dataset, start.data(), &filter_mask, &addr, &size), path,
            "chunk of " + d.name);
      if (addr != HADDR_UNDEF) continue;
      missing.push_back({&d, &start});
      bytes += chunk_elements * d.element_bytes;
    }
  if (missing.empty()) return;
  check_free_space(path, bytes + kSpareBytes);
  for (const Missing& x : missing) {
    std::vector<hsize_t> count(chunk.size());
    for (std::size_t i = 0; i < chunk.size(); ++i) count[i] = std::min(chunk[i], dims[i] - (*x.start)[i]);
    Handle file_space = simple_space(dims, path);
    check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, x.start->data(), nullptr, count.data(), nullptr), path,
          "select chunk");
    Handle mem_space = simple_space(count, path);
    check(H5Dwrite(x.d->dataset, x.d->mem_type, mem_space, file_space, H5P_DEFAULT, x.d->fill), path,
          "allocate " + x.d->name);
  }
  check(H5Fflush(file, H5F_SCOPE_LOCAL), path, "flush");
}

}  // namespace collabzium::h5
