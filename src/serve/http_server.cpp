#include "collabzium/serve/http_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <cstdio>

#include "collabzium/error.h"
#include "collabzium/serve/assets.h"

namespace collabzium {

namespace {

void send(httplib::Response& res, const Reply& reply) {
  res.status = reply.status;
  if (!reply.filename.empty()) res.set_header("Content-Disposition", "attachment; filename=\"" + reply.filename + "\"");
  res.set_content(reply.body, reply.content_type);
}

std::string error_json(const std::string& message) {
  std::string out = "{\"error\": \"";
  for (const char c : message) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"}";
}

}  // namespace

struct SandboxServer::Impl {
  explicit Impl(Sandbox& s) : sandbox(s) {}
  Sandbox& sandbox;
  httplib::Server server;
  std::atomic<bool> stopping{false};
  int listen_socket = -1;

  // Also the cancellation point of studies: the server is stopping.
  StudyProgress keep_going() {
    return [this](std::size_t, std::size_t) { return !stopping.load(); };
  }

  void routes() {
    for (const Asset& a : embedded_assets()) {
      server.Get(std::string(a.path), [&a](const httplib::Request&, httplib::Response& res) {
        res.set_header("Cache-Control", "no-cache");
        res.set_content(a.data.data(), a.data.size(), std::string(a.content_type).c_str());
      });
    }
    server.Get("/api/scenario",
               [this](const httplib::Request&, httplib::Response& res) { send(res, sandbox.scenario()); });
    server.Post("/api/cohort",
                [this](const httplib::Request& req, httplib::Response& res) { send(res, sandbox.cohort(req.body)); });
    server.Post("/api/scenario.toml", [this](const httplib::Request& req, httplib::Response& res) {
      send(res, sandbox.scenario_toml(req.body));
    });
    server.Post("/api/study", [this](const httplib::Request& req, httplib::Response& res) { study(req, res); });
    // httplib answers an over-long body (413) and unknown routes (404) itself, with an empty body.
    server.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 413)
        res.set_content(
            error_json("request: the body must be at most " + std::to_string(sandbox.limits().body_bytes) + " bytes"),
            "application/json");
      else if (res.status == 404) res.set_content(error_json("not found"), "application/json");
    });
    server.set_payload_max_length(sandbox.limits().body_bytes);
  }

  // POST /api/study; with ?progress=1 the answer is NDJSON: {"done": D, "total": R} lines while the
  // study runs, then the result on one line. Refusals (400, 413, 429) come before the stream, as
  // ordinary answers; a client that goes away cancels the study at its next batch.
  void study(const httplib::Request& req, httplib::Response& res) {
    auto prepared = sandbox.prepare_study(req.body);
    if (auto* r = std::get_if<Reply>(&prepared)) return send(res, *r);
    auto ticket = std::make_shared<StudyTicket>(std::move(std::get<StudyTicket>(prepared)));
    if (!req.has_param("progress")) {
      const std::optional<Reply> reply = sandbox.run_prepared(*ticket, keep_going());
      if (!reply) {
        res.status = 503;
        res.set_content(error_json("the server is shutting down"), "application/json");
        return;
      }
      return send(res, *reply);
    }
    res.set_chunked_content_provider("application/x-ndjson", [this, ticket](std::size_t, httplib::DataSink& sink) {
      const std::optional<Reply> reply = sandbox.run_prepared(*ticket, [&](std::size_t done, std::size_t total) {
        if (stopping.load()) return false;
        const std::string line = "{\"done\": " + std::to_string(done) + ", \"total\": " + std::to_string(total) + "}\n";
        return sink.write(line.data(), line.size());
      });
      if (!reply) return false;  // cancelled: the connection is dropped
      const std::string line = reply->body + "\n";
      sink.write(line.data(), line.size());
      sink.done();
      return true;
    });
  }
};

SandboxServer::SandboxServer(Sandbox& sandbox) : impl_(std::make_unique<Impl>(sandbox)) {
  Impl& m = *impl_;
  // Room for every study slot plus quick answers (page, cohorts, 429s) beside them.
  const int workers = sandbox.threads() + 8;
  m.server.new_task_queue = [workers] { return new httplib::ThreadPool(static_cast<std::size_t>(workers)); };
  m.server.set_keep_alive_timeout(2);
  m.server.set_socket_options([&m](int sock) {
    httplib::default_socket_options(sock);
    m.listen_socket = sock;
  });
  m.routes();
}

SandboxServer::~SandboxServer() = default;

int SandboxServer::bind(const std::string& host, int port) {
  Impl& m = *impl_;
  const int bound = port == 0 ? m.server.bind_to_any_port(host) : (m.server.bind_to_port(host, port) ? port : -1);
  if (bound < 0)
    throw InputError(locate(
        "--port", 0, "",
        "cannot listen on " + host + ":" + std::to_string(port) + " (in use, or not an address of this machine)"));
  // The library listens with a backlog of 5, too short for a class opening the page at once: the
  // kernel would drop connections and clients would retry after a second or more.
  if (m.listen_socket >= 0) ::listen(m.listen_socket, 512);
  return bound;
}

void SandboxServer::listen() { impl_->server.listen_after_bind(); }

void SandboxServer::stop() {
  impl_->stopping.store(true);
  impl_->server.stop();
}

}  // namespace collabzium
