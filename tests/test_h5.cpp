// The generic HDF5 layer under the results file (src/io/h5.h): typed reads give back what typed
// writes stored, and refuse data of the wrong type or shape with a one-line InputError.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "collabzium/error.h"
#include "io/h5.h"

using namespace collabzium;

namespace {

std::string scratch_file() {
  const auto dir = std::filesystem::temp_directory_path() / "collabzium_h5_tests";
  std::filesystem::create_directories(dir);
  return (dir / "layer.h5").string();
}

template <class F>
std::string input_error_of(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "no InputError";
}

}  // namespace

TEST_CASE("h5: typed datasets and attributes round-trip; wrong types and shapes are refused", "[h5]") {
  const std::string path = scratch_file();
  h5::silence_errors();
  {
    h5::Handle f = h5::file(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), path, "create");
    h5::write_dataset(f, "x", std::vector<double>{0.5, -2, 1e300}, path);
    h5::write_dataset(f, "i", std::vector<int>{1, -7, 2147483647}, path);
    h5::write_dataset(f, "t", std::vector<std::string>{"a", "", "Smith, J."}, path);
    h5::write_attribute(f, "version", std::vector<int>{1, 0}, path);
    h5::write_attribute(f, "seed", -1234567890123LL, path);
    h5::write_string_attribute(f, "name", "results", path);
    // A 2 x 3 dataset, which no one-dimensional read accepts.
    const hsize_t dims[2] = {2, 3};
    h5::Handle s = h5::space(H5Screate_simple(2, dims, nullptr), path, "dataspace");
    h5::Handle d = h5::dataset(H5Dcreate2(f, "grid", H5T_IEEE_F64LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path,
                               "create grid");
  }
  h5::Handle f = h5::file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), path, "open");
  CHECK(h5::read_dataset<double>(f, "x", 3, path) == std::vector<double>{0.5, -2, 1e300});
  CHECK(h5::read_dataset<int>(f, "i", 3, path) == std::vector<int>{1, -7, 2147483647});
  CHECK(h5::read_dataset<double>(f, "i", 3, path) == std::vector<double>{1, -7, 2147483647});  // exact
  CHECK(h5::read_dataset<std::string>(f, "t", 3, path) == std::vector<std::string>{"a", "", "Smith, J."});
  CHECK(h5::read_attribute<int>(f, "version", path) == std::vector<int>{1, 0});
  CHECK(h5::read_attribute<long long>(f, "seed", path) == std::vector<long long>{-1234567890123LL});
  CHECK(h5::read_string_attribute(f, "name", path) == "results");

  const std::vector<std::pair<std::string, std::string>> refusals{
      {input_error_of([&] { h5::read_dataset<double>(f, "x", 4, path); }),
       path + ": /x: expected 4 numbers, got 3 values"},
      {input_error_of([&] { h5::read_dataset<double>(f, "grid", 6, path); }),
       path + ": /grid: expected 6 numbers, got a 2 x 3 array"},
      {input_error_of([&] { h5::read_dataset<double>(f, "t", 3, path); }), path + ": /t: expected numbers, got text"},
      {input_error_of([&] { h5::read_dataset<int>(f, "x", 3, path); }),
       path + ": /x: expected integers, got floating-point numbers"},
      {input_error_of([&] { h5::read_dataset<std::string>(f, "i", 3, path); }),
       path + ": /i: expected texts, got integers"},
      {input_error_of([&] { h5::read_attribute<int>(f, "name", path); }), path + ": name: expected integers, got text"},
      {input_error_of([&] { h5::read_string_attribute(f, "version", path); }),
       path + ": version: expected a single text attribute"},
  };
  for (const auto& [message, expected] : refusals) CHECK(message == expected);
  f.reset();
  CHECK(H5Fget_obj_count(static_cast<hid_t>(H5F_OBJ_ALL), H5F_OBJ_ALL) == 0);  // nothing left open
  std::filesystem::remove(path);
}
