#pragma once
// The sandbox over HTTP (cpp-httplib): the embedded page and its assets, and the JSON API of
// serve/sandbox.h. The routes are the README's "Sandbox" section.
#include <atomic>
#include <memory>
#include <string>

#include "collabzium/serve/sandbox.h"

namespace collabzium {

class SandboxServer {
 public:
  explicit SandboxServer(Sandbox& sandbox);
  ~SandboxServer();
  SandboxServer(const SandboxServer&) = delete;
  SandboxServer& operator=(const SandboxServer&) = delete;

  // Binds host:port (port 0: any free port) and returns the port; throws InputError when it cannot.
  int bind(const std::string& host, int port);
  // Serves until stop(); returns once every connection's work has ended.
  void listen();
  // From any thread: stops accepting, cancels running studies at their next batch.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace collabzium
