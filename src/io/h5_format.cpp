#include "h5_format.h"

#include <filesystem>

#include "collabzium/input_file.h"

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

}  // namespace collabzium::h5
