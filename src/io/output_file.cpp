#include "collabzium/io/output_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "collabzium/error.h"

namespace collabzium {

PathKind path_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return PathKind::Missing;
  if (S_ISREG(st.st_mode)) return PathKind::Regular;
  if (S_ISDIR(st.st_mode)) return PathKind::Directory;
  return PathKind::Special;
}

std::string staging_path(const std::string& path) {
  if (path_kind(path) == PathKind::Special) return path;
  return path + ".tmp-" + std::to_string(::getpid());
}

bool FdStreamBuf::drain() {
  const char* p = pbase();
  while (p < pptr()) {
    const ssize_t n = ::write(fd_, p, static_cast<std::size_t>(pptr() - p));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!error_) error_ = n < 0 ? errno : EIO;
      setp(buffer_.data(), buffer_.data() + buffer_.size());
      return false;
    }
    p += n;
  }
  setp(buffer_.data(), buffer_.data() + buffer_.size());
  return true;
}

FdStreamBuf::int_type FdStreamBuf::overflow(int_type ch) {
  if (!drain()) return traits_type::eof();
  if (!traits_type::eq_int_type(ch, traits_type::eof())) {
    *pptr() = traits_type::to_char_type(ch);
    pbump(1);
  }
  return traits_type::not_eof(ch);
}

int FdStreamBuf::sync() { return drain() ? 0 : -1; }

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  if (path_kind(path_) == PathKind::Directory)
    throw InputError(locate(path_, 0, "", "is a directory; expected a file name to write"));
  tmp_ = staging_path(path_);
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int e = errno;
    throw InputError(locate(path_, 0, "", std::string("cannot write the output file: ") + std::strerror(e)));
  }
  buf_.attach(fd_);
}

void AtomicFile::discard() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  if (!direct()) std::remove(tmp_.c_str());
  committed_ = true;  // nothing left to clean up
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::commit() {
  out_.flush();
  int e = buf_.error();
  if (!e && ::close(fd_) != 0) e = errno;
  else if (e) ::close(fd_);
  fd_ = -1;
  if (e || out_.bad()) {
    discard();
    throw std::runtime_error(path_ + ": writing failed: " + std::strerror(e ? e : EIO));
  }
  if (!direct() && std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    e = errno;
    discard();
    throw std::runtime_error(path_ + ": could not move the finished file into place: " + std::strerror(e));
  }
  committed_ = true;
}

namespace {

struct FileIdentity {
  bool exists = false, special = false;
  dev_t dev = 0;
  ino_t ino = 0;
  std::string lexical;  // absolute, normalized
};

FileIdentity identify(const std::string& path) {
  FileIdentity id;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    id.exists = true;
    id.special = !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode);
    id.dev = st.st_dev;
    id.ino = st.st_ino;
  }
  std::error_code ec;
  const auto abs = std::filesystem::absolute(path, ec);
  id.lexical = (ec ? std::filesystem::path(path) : abs).lexically_normal().string();
  return id;
}

bool same_file(const FileIdentity& a, const FileIdentity& b) {
  if (a.exists && b.exists) return a.dev == b.dev && a.ino == b.ino;
  return a.lexical == b.lexical;
}

}  // namespace

void refuse_same_files(const std::vector<std::pair<std::string, std::string>>& inputs,
                       const std::vector<std::pair<std::string, std::string>>& outputs) {
  std::vector<std::pair<const std::pair<std::string, std::string>*, FileIdentity>> seen;
  for (const auto& in : inputs)
    if (!in.second.empty()) seen.emplace_back(&in, identify(in.second));
  const std::size_t n_inputs = seen.size();
  for (const auto& out : outputs) {
    if (out.second.empty()) continue;
    if (path_kind(out.second) == PathKind::Directory)
      throw InputError(locate(out.second, 0, out.first, "is a directory; expected a file name to write"));
    FileIdentity id = identify(out.second);
    if (!id.special)
      for (std::size_t k = 0; k < seen.size(); ++k)
        if (same_file(id, seen[k].second)) {
          const bool is_input = k < n_inputs;
          throw InputError(locate(out.second, 0, out.first,
                                  std::string("is the same file as ") + (is_input ? "the input " : "the output ") +
                                      seen[k].first->first + " (" + seen[k].first->second +
                                      "); expected a different path"));
        }
    seen.emplace_back(&out, std::move(id));
  }
}

}  // namespace collabzium
