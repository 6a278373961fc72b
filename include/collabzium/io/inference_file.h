#pragma once
// The HDF5 file of `collabzium infer` (the README, "Inference"), written from one thread and read
// back by `summarize` and `infer --resume`. It uses the generic HDF5 layer of the results file.
//
// Layout
//   /         root attributes as a results file (results_file.h) with format = "collabzium-inference",
//             format_version = [1, 0]; `seed` is infer.seed
//   /draws    one double dataset [K] per column: each prior key (a choice key holds the index of the
//             drawn value, 0-based, and an attribute `values`: the values as text), each observed
//             quantity (its simulated value; NaN for an invalid draw), NaN fill; uint8 [K] datasets
//             `accepted`, `invalid` (the drawn scenario was inconsistent or could not be generated)
//             and `done` (fill 0)
//   /summary  the tidy posterior: parameter, value, measure (strings), value_num, mcse (double);
//             rewritten whole
//
// Crash safety: a batch's values (and accepted, invalid) are written and flushed before its `done`
// marks, which are then flushed: a kill -9 loses at most the draws of the batch being written, and
// the file stays readable and resumable. As in a results file, a chunk (4096 draws) is allocated
// and flushed before values go into it, after a check of the disk's free space: a write that would
// not fit throws DiskFull (results_file.h) with nothing written, and the file stays resumable.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "collabzium/io/run_metadata.h"

namespace collabzium {

inline constexpr const char* kInferenceFormat = "collabzium-inference";
inline constexpr int kInferenceFormatMajor = 1;
inline constexpr int kInferenceFormatMinor = 0;

struct InferenceColumn {
  std::string name;
  std::vector<std::string> values;  // a choice key's values (as text); empty for numbers
};

// A row of the tidy posterior summary.
struct PosteriorRow {
  std::string parameter, value, measure;
  double value_num = 0, mcse = 0;
};

class InferenceWriter {
 public:
  // Creates (truncates) `path` with datasets for `columns` (numbers) followed by accepted, invalid
  // and done, each of length `draws`; complete = 0 until mark_complete().
  InferenceWriter(const std::string& path, const RunMetadata& meta, const std::vector<InferenceColumn>& columns,
                  std::size_t draws);
  // Opens a partial file of the same inference (config, seed, columns, draws) for --resume;
  // InputError naming what differs otherwise.
  static InferenceWriter resume(const std::string& path, const RunMetadata& meta,
                                const std::vector<InferenceColumn>& columns, std::size_t draws);
  InferenceWriter(InferenceWriter&&) noexcept;
  InferenceWriter& operator=(InferenceWriter&&) noexcept;
  ~InferenceWriter();

  std::vector<std::uint8_t> done() const;
  // Writes draws `index[i]` (0-based): values[i * width ...], width = columns + 2 (accepted, invalid
  // last, as 0/1), then marks them done and flushes.
  void write(const std::vector<std::uint64_t>& index, const std::vector<double>& values);
  void write_summary(const std::vector<PosteriorRow>& rows);
  void mark_complete();

 private:
  struct Impl;
  explicit InferenceWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct InferenceFile {
  std::string path;
  RunMetadata meta;
  bool complete = false;
  std::vector<InferenceColumn> columns;  // prior keys and observed quantities, in the order written
  std::size_t draws = 0;
  std::vector<std::uint8_t> done, accepted, invalid;
  std::vector<PosteriorRow> summary;
  std::vector<double> column(const std::string& name) const;  // K values, NaN where not written
};

// Whether `path` is an HDF5 file whose root `format` attribute says "collabzium-inference" (false
// for anything else, a results file included; never throws).
bool is_inference_file(const std::string& path);
// InputError with a one-line message on a missing, foreign, wrong-version or damaged file.
InferenceFile read_inference(const std::string& path);
// read_inference and every column in a child process first (check_readable_in_child).
void check_inference_readable(const std::string& path);

}  // namespace collabzium
