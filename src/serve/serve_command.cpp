#include "collabzium/serve/serve_command.h"

#include <omp.h>
#include <pthread.h>

#include <csignal>
#include <ostream>
#include <thread>

#include "collabzium/error.h"
#include "collabzium/config/scenario.h"
#include "collabzium/serve/assets.h"
#include "collabzium/serve/http_server.h"
#include "collabzium/serve/sandbox.h"

namespace collabzium {

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void command_serve(const ServeOptions& o, std::ostream& out, std::ostream& err) {
  const ScenarioFile start =
      o.config.empty() ? parse_scenario(std::string(embedded_seed_scenario()), "gidhagen2025.toml", o.overrides)
                       : load_scenario(o.config, o.overrides);
  if (o.threads && (*o.threads < 0 || *o.threads > kMaxThreads))
    throw InputError(
        locate("--threads", 0, "",
               "must be an integer in [0, " + std::to_string(kMaxThreads) + "], got " + std::to_string(*o.threads)));
  if (o.port < 0 || o.port > 65535)
    throw InputError(locate("--port", 0, "", "must be an integer in [0, 65535], got " + std::to_string(o.port)));
  const int threads = o.threads.value_or(0) > 0 ? static_cast<int>(*o.threads) : omp_get_num_procs();
  Sandbox sandbox(start, threads);

  // SIGINT and SIGTERM are taken by one thread with sigwait, blocked everywhere else (the server's
  // and OpenMP's threads inherit the mask), so stopping runs as ordinary code, not in a handler.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that closes its connection mid-answer must not kill the server.
  std::signal(SIGPIPE, SIG_IGN);

  SandboxServer server(sandbox);
  const int port = server.bind(o.host, static_cast<int>(o.port));
  if (!is_loopback_host(o.host))
    err << "collabzium serve: warning: listening on " << o.host
        << ", not loopback: anyone who can reach this machine can use the sandbox (it has no authentication)\n";
  const std::string shown = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
  out << "collabzium serve: " << start.base.name << " on http://" << shown << ":" << port << "/ (" << threads
      << " studies at once; Ctrl-C stops)" << std::endl;

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server.stop();
  });
  server.listen();
  // listen() only returns after stop(); should it return on its own, wake the waiter.
  pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  out << "collabzium serve: stopped" << std::endl;
}

}  // namespace collabzium
