#pragma once
// Atomic output: content goes to "PATH.tmp-PID" and is renamed onto PATH only when complete, so a
// failed or interrupted command leaves no half-written file.
#include <fstream>
#include <string>

namespace collabzium {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temporary file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  std::ostream& stream() { return out_; }
  const std::string& temporary_path() const { return tmp_; }
  void commit();  // flushes, closes, renames; throws std::runtime_error on failure

 private:
  std::string path_, tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace collabzium
