#pragma once
// Output files that are either complete or absent. A regular file (or a new path) is written to
// "PATH.tmp-PID" beside it and renamed onto PATH only when complete, so a failed or interrupted
// command leaves no half-written file. A path that exists and is not a regular file (/dev/null,
// /dev/stdout, a FIFO, a device) is written directly, as Unix tools do: renaming over it would
// replace the device with a regular file.
#include <array>
#include <ostream>
#include <streambuf>
#include <string>
#include <utility>
#include <vector>

namespace collabzium {

// A buffered stream over a file descriptor that remembers the first write error (errno), so the
// message can say why writing failed ("No space left on device"), which std::ofstream loses.
class FdStreamBuf : public std::streambuf {
 public:
  FdStreamBuf() { setp(buffer_.data(), buffer_.data() + buffer_.size()); }
  void attach(int fd) { fd_ = fd; }
  int error() const { return error_; }

 protected:
  int_type overflow(int_type ch) override;
  int sync() override;

 private:
  bool drain();
  int fd_ = -1;
  int error_ = 0;
  std::array<char, 1 << 16> buffer_;
};

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // removes the temporary file unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  std::ostream& stream() { return out_; }
  // Where the content goes until commit(): the temporary name, or the path itself when direct.
  const std::string& temporary_path() const { return tmp_; }
  bool direct() const { return tmp_ == path_; }
  // Flushes, closes, renames. A write error (a full disk, /dev/full) throws std::runtime_error
  // with one line naming the path and the system's reason; the temporary file is removed.
  void commit();

 private:
  void discard();
  std::string path_, tmp_;
  int fd_ = -1;
  FdStreamBuf buf_;
  std::ostream out_{&buf_};
  bool committed_ = false;
};

// What an output path is, as far as writing it goes.
enum class PathKind { Missing, Regular, Directory, Special };
PathKind path_kind(const std::string& path);

// The temporary name an atomic write of `path` uses ("PATH.tmp-PID"), or the path itself when it
// exists and is not a regular file.
std::string staging_path(const std::string& path);

// Refuses (InputError, exit 2) before anything is written when two of a command's files are the
// same file: two outputs, or an output and an input. Each entry is (role, path), e.g. ("--out",
// "r.json"); empty paths are skipped; special files such as /dev/null may repeat. Existing files
// are compared by device and inode (hard links, symlinks, "./x" and "x" are one file), new ones by
// their absolute lexical path. Also refuses an output path that is an existing directory.
void refuse_same_files(const std::vector<std::pair<std::string, std::string>>& inputs,
                       const std::vector<std::pair<std::string, std::string>>& outputs);

}  // namespace collabzium
