// `serve`: the sandbox's HTTP API, served in-process on a free loopback port and spoken to with
// cpp-httplib's client. Every endpoint, every refusal (400 with the command line's message, 413,
// 429), and that a study equals `run` on the scenario file the sandbox offers for download.
#include <httplib.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <regex>
#include <string>
#include <thread>

#include "cli_runner.h"
#include "collabzium/error.h"
#include "collabzium/serve/assets.h"
#include "collabzium/serve/http_server.h"
#include "collabzium/serve/request.h"
#include "collabzium/serve/sandbox.h"
#include "collabzium/serve/serve_command.h"

using namespace collabzium;
using collabzium::testing::run_cli;
using collabzium::testing::scratch_dir;
using collabzium::testing::slurp;
using collabzium::testing::write_text;

namespace {

const std::string kSeedConfig = std::string(COLLABZIUM_SOURCE_DIR) + "/configs/gidhagen2025.toml";

// A sandbox on the seed scenario, listening on a free port until destroyed.
struct Running {
  explicit Running(int threads) : sandbox(load_scenario(kSeedConfig), threads), server(sandbox) {
    port = server.bind("127.0.0.1", 0);
    thread = std::thread([this] { server.listen(); });
    client = std::make_unique<httplib::Client>("127.0.0.1", port);
    client->set_read_timeout(600);
    // listen() may not have started yet: wait for the first answer.
    for (int i = 0; i < 500 && !client->Get("/api/scenario"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ~Running() {
    server.stop();
    thread.join();
  }
  httplib::Result post(const std::string& path, const std::string& body) {
    return client->Post(path.c_str(), body, "application/json");
  }
  Sandbox sandbox;
  SandboxServer server;
  int port = 0;
  std::thread thread;
  std::unique_ptr<httplib::Client> client;
};

std::string error_of(const httplib::Result& r) {
  const std::smatch m = [&] {
    std::smatch x;
    std::regex_search(r->body, x, std::regex("^\\{\"error\": \"(.*)\"\\}$"));
    return x;
  }();
  if (m.empty()) return "(no error): " + r->body;
  std::string out;  // the messages' only escapes are \" and \\ (no control characters)
  const std::string text = m[1].str();
  for (std::size_t i = 0; i < text.size(); ++i) out += text[i] == '\\' ? text[++i] : text[i];
  return out;
}

// The command line's one-line message for these --set values (validate on the seed scenario).
std::string cli_message(const std::string& args) {
  const auto dir = scratch_dir("serve-cli");
  const auto r = run_cli("validate '" + kSeedConfig + "' " + args, dir);
  REQUIRE(r.status == 2);
  std::string line = r.err;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  return line;
}

std::string csv_number(const std::string& json) {
  if (json == "null") return "NA";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", std::stod(json));
  return buf;
}

// The study's rows in the summary CSV's form (condition 1, no swept keys).
std::string rows_as_csv(const std::string& body) {
  const std::regex row(
      "\\{\"model\": \"([^\"]*)\",\"rater\": \"([^\"]*)\",\"term\": \"([^\"]*)\",\"measure\": \"([^\"]*)\","
      "\"value\": ([^,]*),\"mcse\": ([^}]*)\\}");
  std::string csv = "condition,model,rater,term,measure,value,mcse\n";
  for (auto it = std::sregex_iterator(body.begin(), body.end(), row); it != std::sregex_iterator(); ++it)
    csv += "1," + (*it)[1].str() + "," + (*it)[2].str() + "," + (*it)[3].str() + "," + (*it)[4].str() + "," +
           csv_number((*it)[5].str()) + "," + csv_number((*it)[6].str()) + "\n";
  return csv;
}

}  // namespace

TEST_CASE("request bodies become the command line's --set overrides", "[serve]") {
  CHECK(request_overrides("{}").empty());
  CHECK(request_overrides(R"( {"design.patients": 60, "seed": 7, "replications": 200} )") ==
        std::vector<std::string>{"design.patients=60", "run.seed=7", "run.replications=200"});
  // Numbers keep their text, so an integer key refuses 60.0 exactly as `--set design.patients=60.0`.
  CHECK(request_overrides(R"({"design.patients": 60.0, "x": -1.5e-3})") ==
        std::vector<std::string>{"design.patients=60.0", "x=-1.5e-3"});
  CHECK(request_overrides(R"({"detection.roc_thresholds": [0.5, 1], "analysis.models": ["lagged"], "b": true})") ==
        std::vector<std::string>{"detection.roc_thresholds=[0.5, 1]", "analysis.models=[\"lagged\"]", "b=true"});
  // JSON escapes are decoded and re-escaped for TOML (which has no \/ and wants controls escaped).
  CHECK(request_overrides(R"({"description": "a\"b\\c\/d\n\u00e9\ud83d\ude00"})") ==
        std::vector<std::string>{"description=\"a\\\"b\\\\c/d\\u000a\xc3\xa9\xf0\x9f\x98\x80\""});
  auto refused = [](const std::string& body) {
    try {
      request_overrides(body);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(refused("") == "request: invalid JSON at byte 1: expected an object of KEY: VALUE, got the end");
  CHECK(refused("[1]") == "request: invalid JSON at byte 1: expected an object of KEY: VALUE, got '['");
  CHECK(refused(R"({"a": 1,})") == "request: invalid JSON at byte 9: expected a key in double quotes, got '}'");
  CHECK(refused(R"({"a": 01})") == "request: invalid JSON at byte 8: expected ',' or '}', got '1'");
  CHECK(refused(R"({"a": 1} x)") == "request: invalid JSON at byte 10: expected the end of the body, got 'x'");
  CHECK(refused(R"({"a": null})") == "--set: a: expected a number, string, boolean or list, got null");
  CHECK(refused(R"({"a": {"b": 1}})") == "--set: a: expected a number, string, boolean or list, got an object");
  CHECK(refused(R"({"a": [[1]]})") ==
        "request: invalid JSON at byte 8: expected a number, string or boolean in the list, got '['");
  CHECK(refused(R"({"a": 1, "a": 2})") == "request: a: given twice");
  CHECK(refused(R"({"sweep.design.patients": [1, 2]})") ==
        "--set: sweep.design.patients: the sandbox studies one condition (no sweep); sweeps are for run");
  CHECK(refused(R"({"a=b": 1})") == "--set: a=b: unknown key");
  CHECK(refused("{\"a\": \"x\ty\"}") ==
        "request: invalid JSON at byte 9: expected no control character in a string, got '\\x09'");
  CHECK(refused(R"({"a": "\ud83d"})") ==
        "request: invalid JSON at byte 14: expected the low surrogate of a pair, got '\"'");
}

TEST_CASE("serve: only loopback hosts are quiet", "[serve]") {
  CHECK(is_loopback_host("127.0.0.1"));
  CHECK(is_loopback_host("localhost"));
  CHECK(is_loopback_host("::1"));
  CHECK_FALSE(is_loopback_host("0.0.0.0"));
  CHECK_FALSE(is_loopback_host("192.168.1.2"));
}

TEST_CASE("serve: the page and its assets come from the binary", "[serve]") {
  Running s(1);
  auto page = s.client->Get("/");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(page->get_header_value("Content-Type") == "text/html; charset=utf-8");
  CHECK(page->body.find("<script src=\"/chart.js\"></script>") != std::string::npos);
  for (const char* path : {"/app.js", "/style.css", "/chart.js"}) {
    auto r = s.client->Get(path);
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == std::string(find_asset(path)->data));
  }
  CHECK(s.client->Get("/chart.js")->body.find("Chart.js v3") != std::string::npos);
  // Nothing else is served: no path reaches the file system.
  for (const char* path : {"/index.html", "/configs/gidhagen2025.toml", "/../configs/gidhagen2025.toml", "/api/"}) {
    auto r = s.client->Get(path);
    REQUIRE(r);
    CHECK(r->status == 404);
  }
}

TEST_CASE("serve: /api/scenario is the starting scenario", "[serve]") {
  Running s(1);
  auto r = s.client->Get("/api/scenario");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "application/json");
  CHECK(r->body.rfind("{\"name\": \"gidhagen2025\",", 0) == 0);
  CHECK(r->body.find("\"design.patients\": 119,") != std::string::npos);
  CHECK(r->body.find("\"rupture.onset_probability\": 0.12139999999999999,") != std::string::npos);
  CHECK(r->body.find("\"distress.effects.rupture_via\": \"latent\",") != std::string::npos);
  CHECK(r->body.find("\"limits\": {\"replications\": 2000,\"patients\": 2000,") != std::string::npos);
  CHECK(r->body.find("\"rule_defaults\": {\"absolute_drop\": 0.5,\"sd_drop\": 1.5,") != std::string::npos);
}

// The page offers the values of each choice key that /api/scenario lists: the enums' names.
TEST_CASE("serve: /api/scenario lists every choice key's values, as config/choices.h names them", "[serve]") {
  Running s(1);
  auto r = s.client->Get("/api/scenario");
  REQUIRE(r);
  auto listed = [](const std::string& key, std::span<const std::string_view> names) {
    std::string text = "\"" + key + "\": [";
    for (std::size_t i = 0; i < names.size(); ++i) (text += i ? ",\"" : "\"") += std::string(names[i]) + "\"";
    return text + "]";
  };
  CHECK(r->body.find("\"choices\": {") != std::string::npos);
  CHECK(r->body.find(listed("detection.rule", choice_names(DetectionRule{}))) != std::string::npos);
  CHECK(r->body.find(listed("distress.effects.rupture_via", choice_names(EventVia{}))) != std::string::npos);
  CHECK(r->body.find(listed("distress.effects.repair_via", choice_names(EventVia{}))) != std::string::npos);
  CHECK(r->body.find(listed("analysis.models", choice_names(ModelKind{}))) != std::string::npos);
  std::size_t choice_keys = 0;
  for (const auto& key : scenario_keys()) {
    const std::vector<std::string> values = key_choices(key);
    if (values.empty()) continue;
    ++choice_keys;
    const std::vector<std::string_view> names(values.begin(), values.end());
    CHECK(r->body.find(listed(key, names)) != std::string::npos);
  }
  CHECK(choice_keys >= 4);
}

TEST_CASE("serve: /api/cohort is the cohort `simulate --seed` writes, with its detected events", "[serve]") {
  Running s(1);
  const std::string body = R"({"design.patients": 40, "seed": 3, "raters.patient.registration": 0.9})";
  auto r = s.post("/api/cohort", body);
  REQUIRE(r);
  REQUIRE(r->status == 200);
  CHECK(r->body.rfind("{\"seed\": 3,\"patients\": 40,", 0) == 0);
  // The same settings give the same answer.
  CHECK(s.post("/api/cohort", body)->body == r->body);
  // Three example patients; the sessions of the first are the simulated cohort's.
  const auto dir = scratch_dir("serve-cohort");
  REQUIRE(run_cli("simulate '" + kSeedConfig +
                      "' --set design.patients=40 --set raters.patient.registration=0.9 --seed 3 --out c.csv",
                  dir)
              .status == 0);
  const std::string csv = slurp(dir / "c.csv");
  std::smatch m;
  REQUIRE(std::regex_search(r->body, m, std::regex("\"examples\": \\[\\{\"patient\": \"([0-9]+)\"")));
  const std::string first = m[1].str();
  std::size_t rows = 0;
  for (std::size_t at = csv.find('\n'); at != std::string::npos && at + 1 < csv.size(); at = csv.find('\n', at + 1))
    rows += csv.compare(at + 1, first.size() + 1, first + ",") == 0;
  REQUIRE(std::regex_search(r->body, m, std::regex("\"session\": \\[([0-9,]*)\\]")));
  const std::string sessions = m[1].str();
  CHECK(static_cast<std::size_t>(std::count(sessions.begin(), sessions.end(), ',') + 1) == rows);
  CHECK(std::count(r->body.begin(), r->body.end(), '{') == 1 + 1 + 2 + 3);  // top, detection, 2 raters, 3 examples
}

TEST_CASE("serve: a bad value is 400 with the command line's one-line message", "[serve]") {
  Running s(1);
  const std::pair<const char*, const char*> cases[] = {
      {R"({"design.patients": 0})", "--set design.patients=0"},
      {R"({"design.patients": 60.0})", "--set design.patients=60.0"},
      {R"({"raters.patient.registration": 1.5})", "--set raters.patient.registration=1.5"},
      {R"({"detection.rule": "largest_drop"})", "--set detection.rule='\"largest_drop\"'"},
      {R"({"no.such.key": 1})", "--set no.such.key=1"},
      {R"({"seed": -1})", "--set run.seed=-1"},
      // A request cannot make the server read a file: `base` is refused as on the command line.
      {R"({"base": "/etc/passwd"})", "--set base='\"/etc/passwd\"'"},
      {R"({"design.sessions.min": 30, "design.sessions.max": 10})",
       "--set design.sessions.min=30 --set design.sessions.max=10"},
  };
  for (const auto& [body, args] : cases) {
    INFO(body);
    const std::string expected = cli_message(args);
    for (const char* path : {"/api/cohort", "/api/study", "/api/scenario.toml"}) {
      auto r = s.post(path, body);
      REQUIRE(r);
      CHECK(r->status == 400);
      CHECK(error_of(r) == expected);
    }
  }
  auto r = s.post("/api/study", "{\"design.patients\": ");
  CHECK(r->status == 400);
  CHECK(error_of(r) == "request: invalid JSON at byte 21: expected a value, got the end");
}

TEST_CASE("serve: requests over the limits are 413", "[serve]") {
  Running s(1);
  const std::pair<std::string, std::string> cases[] = {
      {R"({"replications": 2001})",
       "run.replications: must be at most 2000 in the sandbox (use the command line for more), got 2001"},
      {R"({"design.patients": 2001})",
       "design.patients: must be at most 2000 in the sandbox (use the command line for more), got 2001"},
      {R"({"design.patients": 2000, "design.sessions.max": 101})",
       "design.patients: x design.sessions.max (the most rows of a cohort) must be at most 200000 in the sandbox "
       "(use the command line for more), got 202000"},
      {R"({"analysis.models": ["lagged", "dsem"]})",
       "analysis.models: \"dsem\" (about 0.3 s per replication) is not offered in the sandbox; use the command line"},
  };
  for (const auto& [body, expected] : cases) {
    for (const char* path : {"/api/cohort", "/api/study", "/api/scenario.toml"}) {
      auto r = s.post(path, body);
      REQUIRE(r);
      CHECK(r->status == 413);
      CHECK(error_of(r) == expected);
    }
  }
  // A body over 64 KiB is refused before it is read to the end.
  const std::string big = "{\"description\": \"" + std::string(64 * 1024, 'x') + "\"}";
  auto r = s.post("/api/study", big);
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(error_of(r) == "request: the body must be at most 65536 bytes");
}

TEST_CASE("serve: no more studies than threads (429), and a client that leaves frees its slot", "[serve]") {
  Running s(1);
  httplib::Client streaming("127.0.0.1", s.port);
  streaming.set_read_timeout(600);
  httplib::Request req;
  req.method = "POST";
  req.path = "/api/study?progress=1";
  // Small cohorts: the abandoned study stops at its next batch (a tenth of it), soon also when sanitized.
  req.body = R"({"replications": 2000, "design.patients": 30})";
  req.set_header("Content-Type", "application/json");
  std::string second_error, lines;
  int second_status = 0;
  // The first progress line means the study holds the only slot: a second study is refused then.
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    lines.append(data, n);
    if (second_status == 0 && lines.find('\n') != std::string::npos) {
      auto r = s.post("/api/study", R"({"replications": 20})");
      second_status = r ? r->status : -1;
      if (r) second_error = error_of(r);
      return false;  // and the first client goes away
    }
    return true;
  };
  streaming.send(req);
  CHECK(lines.rfind("{\"done\": 0, \"total\": 2000}\n", 0) == 0);
  CHECK(second_status == 429);
  CHECK(second_error == "busy: 1 studies are running (as many as the server has threads); try again shortly");
  // The abandoned study stops at its next batch and frees the slot; until then the answer is 429.
  int status = 429;
  for (int attempt = 0; attempt < 6000 && status == 429; ++attempt) {
    auto r = s.post("/api/study", R"({"replications": 20, "design.patients": 30})");
    status = r ? r->status : -1;
    if (status == 429) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(status == 200);
  // Cohorts and scenario files are not studies: never refused for being busy.
  CHECK(s.post("/api/cohort", "{}")->status == 200);
}

TEST_CASE("serve: a study equals `run` on the downloaded scenario file, streamed or not", "[serve]") {
  Running s(2);
  const std::string body =
      R"({"design.patients": 60, "raters.patient.registration": 0.3, "raters.therapist.false_alarm_rate": 0.16,)"
      R"( "detection.threshold": 0.5, "detection.roc_thresholds": [0.25, 0.5, 1], "seed": 11, "replications": 24})";
  auto toml = s.post("/api/scenario.toml", body);
  REQUIRE(toml);
  REQUIRE(toml->status == 200);
  CHECK(toml->get_header_value("Content-Disposition") == "attachment; filename=\"gidhagen2025.toml\"");
  CHECK(toml->body.find("\nregistration = 0.3\n") != std::string::npos);
  CHECK(toml->body.find("\nreplications = 24\nseed = 11\n") != std::string::npos);

  auto study = s.post("/api/study", body);
  REQUIRE(study);
  REQUIRE(study->status == 200);
  CHECK(study->body.rfind("{\"seed\": 11,\"replications\": 24,\"failed\": 0,", 0) == 0);
  const std::string csv = rows_as_csv(study->body);
  CHECK(csv.find("\n1,roc,patient,threshold=0.25,sensitivity,") != std::string::npos);

  const auto dir = scratch_dir("serve-run");
  write_text(dir / "sandbox.toml", toml->body);
  CHECK(run_cli("validate sandbox.toml", dir).status == 0);
  const auto run = run_cli("run sandbox.toml --out r.h5 --threads 1", dir);
  REQUIRE(run.status == 0);
  CHECK(slurp(dir / "r.summary.csv") == csv);

  // The streamed answer: progress lines from 0 to 24, then the same result.
  httplib::Request req;
  req.method = "POST";
  req.path = "/api/study?progress=1";
  req.body = body;
  std::string streamed;
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    streamed.append(data, n);
    return true;
  };
  httplib::Client c("127.0.0.1", s.port);
  c.set_read_timeout(600);
  auto r = c.send(req);
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type") == "application/x-ndjson");
  CHECK(streamed.rfind("{\"done\": 0, \"total\": 24}\n", 0) == 0);
  CHECK(streamed.find("{\"done\": 24, \"total\": 24}\n") != std::string::npos);
  const std::string last = streamed.substr(streamed.rfind('\n', streamed.size() - 2) + 1);
  CHECK(rows_as_csv(last) == csv);
  // Only the elapsed time may differ between the two answers.
  const std::regex seconds("\"seconds\": [0-9.e+-]+"), threads("\"threads\": [0-9]+");
  CHECK(std::regex_replace(std::regex_replace(last, seconds, ""), threads, "") + "" ==
        std::regex_replace(std::regex_replace(study->body, seconds, ""), threads, "") + "\n");
}

TEST_CASE("serve refuses what it cannot serve with one line and exit status 2", "[serve]") {
  const auto dir = scratch_dir("serve-refusals");
  write_text(dir / "sweep.toml", "[sweep]\n\"design.patients\" = [30, 60]\n");
  auto r = run_cli("serve sweep.toml --port 0", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "sweep.toml: sweep: serve takes a scenario without a sweep (it has 2 conditions)\n");
  r = run_cli("serve --port 0 --set design.patients=0", dir);
  CHECK(r.status == 2);
  CHECK(r.err == "--set: design.patients: must be an integer in [1, 100000000], got 0\n");
  r = run_cli("serve --port 65536", dir);
  CHECK(r.status == 2);
  CHECK(r.err.find("--port: must be an integer in [0, 65535], got 65536") != std::string::npos);
  r = run_cli("serve --host 203.0.113.7 --port 0", dir);  // TEST-NET-3: not an address of this machine
  CHECK(r.status == 2);
  CHECK(r.err == "--port: cannot listen on 203.0.113.7:0 (in use, or not an address of this machine)\n");
}
