// Linear mixed-model fitter against lme4 1.1-31 / lmerTest 3.1-3 (tests/fixtures/lme4, made by
// make_fixtures.R) and edge cases.
#include <catch2/catch.hpp>

#include "collabzium/analysis/lmm/criterion.h"
#include "collabzium/analysis/lmm/mixed_model.h"
#include "collabzium/io/csv.h"

#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using collabzium::DfMethod;
using collabzium::fit_lmm;
using collabzium::LmmControl;
using collabzium::LmmFit;
using collabzium::LmmOptions;
using collabzium::LmmProblem;

namespace {

const std::string kDir = std::string(COLLABZIUM_SOURCE_DIR) + "/tests/fixtures/lme4/";

// The fixtures are read with the project's own CSV reader; every row must match the header.
struct Csv {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  int col(const std::string& name) const {
    const auto it = std::find(header.begin(), header.end(), name);
    REQUIRE(it != header.end());
    return static_cast<int>(it - header.begin());
  }
};

Csv read_csv(const std::string& path) {
  collabzium::CsvTable table = collabzium::read_csv_table(path);
  for (const auto& row : table.rows) REQUIRE(row.size() == table.header.size());
  return {std::move(table.header), std::move(table.rows)};
}

double num(const std::string& s) { return s == "NA" ? std::nan("") : std::stod(s); }

struct Spec {
  std::string fixture, data, y, group, parent, slope;
  std::vector<std::string> x;
  bool reml;
};

std::vector<Spec> read_specs() {
  const Csv c = read_csv(kDir + "fixtures.csv");
  std::vector<Spec> out;
  for (const auto& r : c.rows) {
    Spec s;
    s.fixture = r[c.col("fixture")];
    s.data = r[c.col("data")];
    s.y = r[c.col("y")];
    std::istringstream xs(r[c.col("x")]);
    for (std::string v; std::getline(xs, v, ';');) s.x.push_back(v);
    s.group = r[c.col("group")];
    s.parent = r[c.col("parent")];
    s.slope = r[c.col("slope")];
    s.reml = r[c.col("reml")] == "1";
    out.push_back(s);
  }
  return out;
}

// fixture -> quantity -> name -> value
using Expected = std::map<std::string, std::map<std::string, std::map<std::string, double>>>;

Expected read_expected() {
  const Csv c = read_csv(kDir + "expected.csv");
  Expected e;
  for (const auto& r : c.rows) {
    if (r[0] == "_meta") continue;
    e[r[0]][r[1]][r[2]] = std::stod(r[3]);
  }
  return e;
}

// Builds the problem as R's model.frame + na.omit would: intercept first, rows with a missing
// value in a model variable dropped, patients / therapists numbered by first appearance.
LmmProblem build_problem(const Spec& s) {
  const Csv d = read_csv(kDir + s.data);
  std::vector<int> cols{d.col(s.y)};
  for (const auto& x : s.x) cols.push_back(d.col(x));
  const int gc = d.col(s.group);
  const int pc = s.parent.empty() ? -1 : d.col(s.parent);
  const int sc = s.slope.empty() ? -1 : d.col(s.slope);
  std::vector<size_t> rows;
  for (size_t i = 0; i < d.rows.size(); ++i) {
    bool ok = true;
    for (int c : cols) ok = ok && !std::isnan(num(d.rows[i][c]));
    if (sc >= 0) ok = ok && !std::isnan(num(d.rows[i][sc]));
    if (ok) rows.push_back(i);
  }
  LmmProblem pr;
  const Eigen::Index n = static_cast<Eigen::Index>(rows.size()), p = static_cast<Eigen::Index>(s.x.size()) + 1;
  pr.X.resize(n, p);
  pr.y.resize(n);
  pr.names.push_back("(Intercept)");
  for (const auto& x : s.x) pr.names.push_back(x);
  if (sc >= 0) pr.slope.resize(n);
  std::map<std::string, int> gid, pid;
  std::vector<int> gparent;
  for (Eigen::Index i = 0; i < n; ++i) {
    const auto& r = d.rows[rows[i]];
    pr.y(i) = num(r[cols[0]]);
    pr.X(i, 0) = 1.0;
    for (Eigen::Index j = 1; j < p; ++j) pr.X(i, j) = num(r[cols[j]]);
    if (sc >= 0) pr.slope(i) = num(r[sc]);
    const auto [it, fresh] = gid.emplace(r[gc], static_cast<int>(gid.size()));
    pr.group.push_back(it->second);
    if (pc >= 0 && fresh) {
      const auto pit = pid.emplace(r[pc], static_cast<int>(pid.size())).first;
      gparent.push_back(pit->second);
    }
  }
  if (pc >= 0) pr.parent = gparent;
  return pr;
}

bool close_rel(double a, double e, double rel, double abs = 0.0) {
  return std::fabs(a - e) <= rel * std::fabs(e) + abs;
}

// COLLABZIUM_MM_VERBOSE=1 prints the worst discrepancies per quantity over all checks.
std::map<std::string, double>& worst() {
  static std::map<std::string, double> w;
  return w;
}
void note(const std::string& what, double err) {
  if (!std::getenv("COLLABZIUM_MM_VERBOSE")) return;
  double& w = worst()[what];
  if (std::isfinite(err)) w = std::max(w, err);
}
struct Reporter {
  Reporter() { worst(); }  // the map outlives the reporter
  ~Reporter() {
    for (const auto& kv : worst()) std::printf("worst %-28s %.3g\n", kv.first.c_str(), kv.second);
  }
} reporter;

void check_against(const LmmFit& fit, const std::map<std::string, std::map<std::string, double>>& ex) {
  const double sigma2 = ex.at("sigma2").at("");
  const auto rel = [](double a, double e) { return e == 0.0 ? std::fabs(a) : std::fabs(a / e - 1.0); };
  note("sigma2 rel", rel(fit.sigma2, sigma2));
  note("tau2 rel (tau2 > 1e-8 sigma2)",
       ex.at("tau2").at("") > 1e-8 * sigma2 ? rel(fit.tau2, ex.at("tau2").at("")) : 0.0);
  if (ex.count("tau2_therapist") && ex.at("tau2_therapist").at("") > 1e-8 * sigma2)
    note("tau2_therapist rel", rel(fit.tau2_therapist, ex.at("tau2_therapist").at("")));
  if (ex.count("slope_var")) note("slope_var rel", rel(fit.slope_var, ex.at("slope_var").at("")));
  if (ex.count("slope_corr")) note("slope_corr abs", std::fabs(fit.slope_corr - ex.at("slope_corr").at("")));
  note("criterion abs", std::fabs(fit.criterion - ex.at("criterion").at("")));
  for (const auto& co : fit.coefficients) {
    if (!ex.at("estimate").count(co.name)) continue;
    const double se = ex.at("se").at(co.name);
    note("estimate abs / se", std::fabs(co.estimate - ex.at("estimate").at(co.name)) / se);
    note("estimate rel", rel(co.estimate, ex.at("estimate").at(co.name)));
    note("se rel", rel(co.se, se));
    note("df rel", rel(co.df, ex.at("df").at(co.name)));
    note("t abs", std::fabs(co.t - ex.at("t").at(co.name)));
    note("p abs", std::fabs(co.p - ex.at("p").at(co.name)));
  }
  CHECK(fit.converged);
  // variance components: 1e-5 relative; a component on the boundary (lme4 may stop at θ ~ 1e-7
  // instead of 0) is compared with an absolute floor of 1e-10 σ²
  CHECK(close_rel(fit.sigma2, sigma2, 1e-5));
  CHECK(close_rel(fit.tau2, ex.at("tau2").at(""), 1e-5, 1e-10 * sigma2));
  if (ex.count("tau2_therapist"))
    CHECK(close_rel(fit.tau2_therapist, ex.at("tau2_therapist").at(""), 1e-5, 1e-10 * sigma2));
  else CHECK(std::isnan(fit.tau2_therapist));
  if (ex.count("slope_var")) {
    CHECK(close_rel(fit.slope_var, ex.at("slope_var").at(""), 1e-5, 1e-10 * sigma2));
    CHECK(std::fabs(fit.slope_corr - ex.at("slope_corr").at("")) <= 1e-5);
  } else {
    CHECK(std::isnan(fit.slope_var));
    CHECK(std::isnan(fit.slope_corr));
  }
  CHECK(std::fabs(fit.criterion - ex.at("criterion").at("")) <= 1e-6);
  // θ in lme4's order (patient block, then therapist)
  const auto& th = ex.at("theta");
  REQUIRE(fit.theta.size() == th.size());
  {
    size_t i = 0;  // names are "<k>:<lme4 name>", k = 1.. in lme4's order, so the map is in order
    for (const auto& kv : th) {
      INFO("theta " << kv.first);
      REQUIRE(kv.first.rfind(std::to_string(i + 1) + ":", 0) == 0);
      CHECK(std::fabs(fit.theta[i] - kv.second) <= 1e-5 * std::max(1.0, std::fabs(kv.second)));
      ++i;
    }
  }

  std::vector<std::string> dropped;
  if (ex.count("dropped"))
    for (const auto& kv : ex.at("dropped")) dropped.push_back(kv.first);
  std::vector<std::string> got = fit.dropped;
  std::sort(got.begin(), got.end());
  CHECK(got == dropped);

  const auto& est = ex.at("estimate");
  for (const auto& co : fit.coefficients) {
    INFO("coefficient " << co.name);
    if (std::find(dropped.begin(), dropped.end(), co.name) != dropped.end()) {
      CHECK(std::isnan(co.estimate));
      CHECK(std::isnan(co.se));
      CHECK(std::isnan(co.p));
      continue;
    }
    REQUIRE(est.count(co.name) == 1);
    const double se = ex.at("se").at(co.name);
    CHECK(std::fabs(co.estimate - est.at(co.name)) <= std::max(1e-6 * std::fabs(est.at(co.name)), 1e-4 * se));
    CHECK(close_rel(co.se, se, 1e-5));
    CHECK(close_rel(co.df, ex.at("df").at(co.name), 1e-3));
    CHECK(std::fabs(co.t - ex.at("t").at(co.name)) <= 1e-4 + 1e-5 * std::fabs(ex.at("t").at(co.name)));
    CHECK(std::fabs(co.p - ex.at("p").at(co.name)) <= 1e-6);
    // (1 − α) CI = estimate ± t_{df, 1−α/2} SE
    boost::math::students_t T(co.df);
    const double q = boost::math::quantile(boost::math::complement(T, 0.025));
    CHECK(co.ci_low == Approx(co.estimate - q * co.se).epsilon(1e-12));
    CHECK(co.ci_high == Approx(co.estimate + q * co.se).epsilon(1e-12));
  }
}

// Ordinary least squares on the full-rank X: β, SE with s² = RSS/(n − p).
struct Ols {
  Eigen::VectorXd beta, se;
  double rss;
};
Ols ols(const Eigen::MatrixXd& X, const Eigen::VectorXd& y) {
  Ols o;
  Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(X);
  o.beta = qr.solve(y);
  o.rss = (y - X * o.beta).squaredNorm();
  const double s2 = o.rss / static_cast<double>(X.rows() - X.cols());
  const Eigen::MatrixXd XtXi = (X.transpose() * X).inverse();
  o.se = (s2 * XtXi.diagonal()).cwiseSqrt();
  return o;
}

LmmProblem fixture_problem(const std::string& name) {
  for (const auto& s : read_specs())
    if (s.fixture == name) return build_problem(s);
  FAIL("no fixture " << name);
  return {};
}

}  // namespace

TEST_CASE("fit_lmm agrees with lme4/lmerTest on every fixture", "[mixed_model]") {
  const auto specs = read_specs();
  const Expected ex = read_expected();
  REQUIRE(specs.size() >= 20);
  // The initial-conditions model (docs/model.md 4.1) is among them: REML, ML, without the session term
  // and with a therapist intercept.
  CHECK(std::count_if(specs.begin(), specs.end(), [](const Spec& s) { return s.fixture.rfind("initial_", 0) == 0; }) ==
        4);
  for (const auto& s : specs) {
    SECTION(s.fixture) {
      INFO("fixture " << s.fixture);
      const LmmProblem pr = build_problem(s);
      LmmOptions opt;
      opt.reml = s.reml;
      const LmmFit fit = fit_lmm(pr, opt);
      INFO("message: " << fit.message);
      check_against(fit, ex.at(s.fixture));
    }
  }
}

TEST_CASE("small sample: Satterthwaite df far below the residual df, as lmerTest", "[mixed_model]") {
  const Expected ex = read_expected();
  const LmmProblem pr = fixture_problem("smallsample_reml");
  const LmmFit fit = fit_lmm(pr, {});
  const double resid = static_cast<double>(pr.y.size() - pr.X.cols());
  REQUIRE(resid == 15.0);
  // patient-level covariate z: about 4 df (6 patients, 2 patient-level coefficients)
  CHECK(fit.coefficients[1].name == "z");
  CHECK(fit.coefficients[1].df < 0.3 * resid);
  CHECK(fit.coefficients[1].df == Approx(ex.at("smallsample_reml").at("df").at("z")).epsilon(1e-3));
  LmmOptions r;
  r.df = DfMethod::Residual;
  const LmmFit fr = fit_lmm(pr, r);
  CHECK(fr.coefficients[1].df == resid);
  CHECK(fr.coefficients[1].p < fit.coefficients[1].p);  // more df, smaller p for the same t
  CHECK(fr.coefficients[1].t == fit.coefficients[1].t);
}

TEST_CASE("general blocked path with numerical derivatives matches the random-intercept path", "[mixed_model]") {
  const auto specs = read_specs();
  const Expected ex = read_expected();
  for (const auto& s : specs) {
    if (!s.parent.empty() || !s.slope.empty()) continue;
    SECTION(s.fixture) {
      const LmmProblem pr = build_problem(s);
      LmmOptions opt;
      opt.reml = s.reml;
      const LmmFit a = fit_lmm(pr, opt);
      opt.general_path = true;
      const LmmFit b = fit_lmm(pr, opt);
      INFO("message: " << b.message);
      check_against(b, ex.at(s.fixture));
      CHECK(std::fabs(a.criterion - b.criterion) <= 1e-8);
      for (size_t j = 0; j < a.coefficients.size(); ++j) {
        if (std::isnan(a.coefficients[j].df)) continue;
        CHECK(close_rel(b.coefficients[j].df, a.coefficients[j].df, 1e-5));
      }
    }
  }
}

TEST_CASE("random-intercept fit: exact optimum and row-order invariance", "[mixed_model]") {
  LmmProblem pr = fixture_problem("lagged_reml");
  const LmmFit a = fit_lmm(pr, {});
  REQUIRE(a.converged);
  REQUIRE(a.message.empty());
  REQUIRE(a.theta.size() == 1);
  // shuffling rows (and relabelling patients) changes nothing but rounding
  std::mt19937 rng(7);
  std::vector<int> perm(pr.y.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  LmmProblem sh = pr;
  const int G = *std::max_element(pr.group.begin(), pr.group.end()) + 1;
  for (size_t i = 0; i < perm.size(); ++i) {
    sh.X.row(i) = pr.X.row(perm[i]);
    sh.y(i) = pr.y(perm[i]);
    sh.group[i] = G - 1 - pr.group[perm[i]];
  }
  const LmmFit b = fit_lmm(sh, {});
  CHECK(b.criterion == Approx(a.criterion).epsilon(1e-12));
  CHECK(b.theta[0] == Approx(a.theta[0]).epsilon(1e-8));
  for (size_t j = 0; j < a.coefficients.size(); ++j) {
    CHECK(b.coefficients[j].estimate == Approx(a.coefficients[j].estimate).epsilon(1e-9));
    CHECK(b.coefficients[j].df == Approx(a.coefficients[j].df).epsilon(1e-7));
  }
}

TEST_CASE("residual and z df on a boundary fit equal OLS closed forms", "[mixed_model]") {
  // singular_reml: θ̂ = 0 exactly, so the REML fit is OLS with s² = RSS/(n − p)
  const LmmProblem pr = fixture_problem("singular_reml");
  const Ols o = ols(pr.X, pr.y);
  const double n = static_cast<double>(pr.y.size()), p = static_cast<double>(pr.X.cols());
  LmmOptions opt;
  opt.df = DfMethod::Residual;
  const LmmFit r = fit_lmm(pr, opt);
  REQUIRE(r.singular);
  REQUIRE(r.theta[0] == 0.0);
  CHECK(r.tau2 == 0.0);
  CHECK(r.sigma2 == Approx(o.rss / (n - p)).epsilon(1e-12));
  // REML criterion at θ = 0: log|X'X| + (n−p)(1 + log(2π RSS/(n−p)))
  const double logdet = std::log((pr.X.transpose() * pr.X).determinant());
  CHECK(r.criterion == Approx(logdet + (n - p) * (1.0 + std::log(2.0 * M_PI * o.rss / (n - p)))).epsilon(1e-12));
  opt.df = DfMethod::Z;
  const LmmFit z = fit_lmm(pr, opt);
  boost::math::students_t T(n - p);
  boost::math::normal N;
  for (int j = 0; j < pr.X.cols(); ++j) {
    const auto& c = r.coefficients[j];
    CHECK(c.estimate == Approx(o.beta(j)).epsilon(1e-10));
    CHECK(c.se == Approx(o.se(j)).epsilon(1e-10));
    CHECK(c.df == n - p);
    const double t = o.beta(j) / o.se(j);
    CHECK(c.t == Approx(t).epsilon(1e-9));
    CHECK(std::fabs(c.p - 2.0 * boost::math::cdf(boost::math::complement(T, std::fabs(t)))) <= 1e-12);
    const auto& cz = z.coefficients[j];
    CHECK(std::isinf(cz.df));
    CHECK(cz.estimate == c.estimate);
    CHECK(std::fabs(cz.p - 2.0 * boost::math::cdf(boost::math::complement(N, std::fabs(t)))) <= 1e-12);
    CHECK(cz.ci_low == Approx(cz.estimate - 1.959963984540054 * cz.se).epsilon(1e-12));
    CHECK(cz.ci_high == Approx(cz.estimate + 1.959963984540054 * cz.se).epsilon(1e-12));
  }
  // ML at θ = 0: σ² = RSS/n, criterion n(1 + log(2π RSS/n))
  opt.reml = false;
  const LmmFit ml = fit_lmm(fixture_problem("singular_ml"), opt);
  REQUIRE(ml.theta[0] == 0.0);
  CHECK(ml.sigma2 == Approx(o.rss / n).epsilon(1e-12));
  CHECK(ml.criterion == Approx(n * (1.0 + std::log(2.0 * M_PI * o.rss / n))).epsilon(1e-12));
  // alpha is honoured
  opt.alpha = 0.1;
  const LmmFit a10 = fit_lmm(pr, opt);
  CHECK(a10.coefficients[1].ci_high ==
        Approx(a10.coefficients[1].estimate + 1.6448536269514722 * a10.coefficients[1].se).epsilon(1e-12));
}

TEST_CASE("rank-deficient X: later aliased, constant and all-zero columns are dropped", "[mixed_model]") {
  const LmmProblem base = fixture_problem("unbalanced_reml");
  const LmmFit ref = fit_lmm(base, {});
  REQUIRE(ref.dropped.empty());
  const Eigen::Index n = base.X.rows();
  struct Extra {
    std::string name;
    Eigen::VectorXd col;
  };
  const std::vector<Extra> extras{
      {.name = "x1_copy", .col = base.X.col(1)},
      {.name = "constant", .col = Eigen::VectorXd::Constant(n, 3.0)},
      {.name = "all_zero", .col = Eigen::VectorXd::Zero(n)},
      {.name = "combination", .col = base.X.col(1) - 2.0 * base.X.col(2) + 0.5 * base.X.col(0)}};
  for (const auto& e : extras) {
    SECTION(e.name) {
      LmmProblem pr = base;
      // insert in the middle: the extra column comes after those it is aliased with, except
      // "x1_copy" placed before x2 (x2 is not aliased, so only the copy goes)
      pr.X.conservativeResize(n, 4);
      pr.X.col(3) = pr.X.col(2);
      pr.X.col(2) = e.col;
      pr.names = {"(Intercept)", "x1", e.name, "x2"};
      if (e.name == "combination") {  // aliased only once x2 is in: it must come after x2
        pr.X.col(2).swap(pr.X.col(3));
        std::swap(pr.names[2], pr.names[3]);
      }
      const int at = e.name == "combination" ? 3 : 2;  // position of the extra column
      const LmmFit fit = fit_lmm(pr, {});
      REQUIRE(fit.dropped == std::vector<std::string>{e.name});
      CHECK(fit.rank == 3);
      CHECK(fit.message.find(e.name) != std::string::npos);
      CHECK(std::isnan(fit.coefficients[at].estimate));
      CHECK(std::isnan(fit.coefficients[at].se));
      CHECK(std::isnan(fit.coefficients[at].df));
      CHECK(fit.coefficients[at].name == e.name);
      CHECK(std::isnan(fit.vcov(at, at)));
      CHECK(fit.criterion == Approx(ref.criterion).epsilon(1e-12));
      int k = 0;
      for (int j = 0; j < 4; ++j) {
        if (j == at) continue;
        CHECK(fit.coefficients[j].name == ref.coefficients[k].name);
        CHECK(fit.coefficients[j].estimate == Approx(ref.coefficients[k].estimate).epsilon(1e-10));
        CHECK(fit.coefficients[j].se == Approx(ref.coefficients[k].se).epsilon(1e-10));
        CHECK(fit.coefficients[j].df == Approx(ref.coefficients[k].df).epsilon(1e-8));
        ++k;
      }
    }
  }
}

TEST_CASE("one row per patient: no crash, not identifiable, OLS fixed effects", "[mixed_model]") {
  std::mt19937 rng(3);
  std::normal_distribution<double> N01;
  const int n = 40;
  LmmProblem pr;
  pr.X.resize(n, 2);
  pr.y.resize(n);
  pr.names = {"(Intercept)", "x"};
  for (int i = 0; i < n; ++i) {
    pr.X(i, 0) = 1.0;
    pr.X(i, 1) = N01(rng);
    pr.y(i) = 1.0 + 0.5 * pr.X(i, 1) + N01(rng);
    pr.group.push_back(i);
  }
  for (bool reml : {true, false}) {
    LmmOptions opt;
    opt.reml = reml;
    LmmFit fit;
    REQUIRE_NOTHROW(fit = fit_lmm(pr, opt));
    CHECK_FALSE(fit.converged);
    CHECK(fit.message.find("single row") != std::string::npos);
    CHECK(std::isnan(fit.tau2));
    const Ols o = ols(pr.X, pr.y);
    CHECK(fit.sigma2 == Approx(o.rss / (reml ? n - 2.0 : n)).epsilon(1e-12));
    for (int j = 0; j < 2; ++j) {
      CHECK(fit.coefficients[j].estimate == Approx(o.beta(j)).epsilon(1e-10));
      CHECK(fit.coefficients[j].df == n - 2.0);
    }
  }
}

TEST_CASE("a patient with a single row, two patients, one patient: finite or recorded", "[mixed_model]") {
  LmmProblem pr = fixture_problem("balanced_reml");
  // unbalanced fixture already has patient 1 with one row
  {
    const LmmProblem u = fixture_problem("unbalanced_reml");
    CHECK(std::count(u.group.begin(), u.group.end(), u.group[0]) == 1);
  }
  // keep only the first row of the last patient
  const int last = pr.group.back();
  LmmProblem cut;
  cut.names = pr.names;
  std::vector<int> rows;
  bool seen = false;
  for (int i = 0; i < pr.y.size(); ++i) {
    if (pr.group[i] == last) {
      if (seen) continue;
      seen = true;
    }
    rows.push_back(i);
  }
  cut.X = pr.X(rows, Eigen::all);
  cut.y = pr.y(rows);
  for (int i : rows) cut.group.push_back(pr.group[i]);
  const LmmFit fit = fit_lmm(cut, {});
  CHECK(fit.converged);
  CHECK(std::isfinite(fit.tau2));
  for (const auto& c : fit.coefficients) CHECK(std::isfinite(c.df));

  // a single patient: not identifiable, recorded, never thrown
  LmmProblem one = pr;
  std::fill(one.group.begin(), one.group.end(), 0);
  one.X.col(2).setZero();  // trt is constant within the single patient anyway
  LmmFit f1;
  REQUIRE_NOTHROW(f1 = fit_lmm(one, {}));
  CHECK_FALSE(f1.converged);
  CHECK(f1.message.find("fewer than 2 patients") != std::string::npos);
  CHECK(f1.dropped == std::vector<std::string>{"trt"});

  // patient indices with gaps (unused indices) are fine
  LmmProblem gaps = pr;
  for (auto& g : gaps.group) g = 3 * g + 2;
  const LmmFit fg = fit_lmm(gaps, {});
  const LmmFit f0 = fit_lmm(pr, {});
  CHECK(fg.groups == f0.groups);
  CHECK(fg.criterion == Approx(f0.criterion).epsilon(1e-13));
}

TEST_CASE("invalid shapes throw, numerical trouble does not", "[mixed_model]") {
  LmmProblem pr = fixture_problem("balanced_reml");
  {
    LmmProblem b = pr;
    b.y.conservativeResize(b.y.size() - 1);
    CHECK_THROWS_AS(fit_lmm(b, {}), std::invalid_argument);
  }
  {
    LmmProblem b = pr;
    b.names.pop_back();
    CHECK_THROWS_AS(fit_lmm(b, {}), std::invalid_argument);
  }
  {
    LmmProblem b = pr;
    b.parent = {0, 1};  // fewer entries than patients
    CHECK_THROWS_AS(fit_lmm(b, {}), std::invalid_argument);
  }
  {
    LmmProblem b = pr;
    b.slope = Eigen::VectorXd::Zero(3);
    CHECK_THROWS_AS(fit_lmm(b, {}), std::invalid_argument);
  }
  {
    LmmProblem b = pr;
    b.y(4) = std::nan("");
    LmmFit f;
    REQUIRE_NOTHROW(f = fit_lmm(b, {}));
    CHECK_FALSE(f.converged);
    CHECK(std::isnan(f.coefficients[0].estimate));
    CHECK_FALSE(f.message.empty());
  }
  {
    // perfect fit: y exactly linear in X, residual variance zero
    LmmProblem b = pr;
    b.y = 2.0 * b.X.col(1) + b.X.col(0);
    LmmFit f;
    REQUIRE_NOTHROW(f = fit_lmm(b, {}));
    CHECK_FALSE(f.converged);
    CHECK_FALSE(f.message.empty());
  }
  {
    // fewer rows than columns
    LmmProblem b;
    b.X = pr.X.topRows(2);
    b.y = pr.y.head(2);
    b.names = pr.names;
    b.group = {0, 1};
    LmmFit f;
    REQUIRE_NOTHROW(f = fit_lmm(b, {}));
    CHECK_FALSE(f.converged);
  }
  {
    // a therapist per patient and a single therapist
    LmmProblem b = pr;
    const int G = *std::max_element(b.group.begin(), b.group.end()) + 1;
    b.parent.assign(G, 0);
    LmmFit f;
    REQUIRE_NOTHROW(f = fit_lmm(b, {}));
    CHECK_FALSE(f.converged);
    CHECK(f.message.find("fewer than 2 therapists") != std::string::npos);
    // an all-zero random-slope covariate adds nothing: the random-intercept fit comes back
    LmmProblem c = pr;
    c.slope = Eigen::VectorXd::Zero(pr.y.size());
    REQUIRE_NOTHROW(f = fit_lmm(c, {}));
    const LmmFit ri = fit_lmm(pr, {});
    CHECK(std::fabs(f.criterion - ri.criterion) <= 1e-8);
    CHECK(f.tau2 == Approx(ri.tau2).epsilon(1e-6));
    CHECK(f.coefficients[1].estimate == Approx(ri.coefficients[1].estimate).epsilon(1e-8));
  }
}

TEST_CASE("random small problems never throw and converged fits are finite", "[mixed_model]") {
  std::mt19937 rng(11);
  std::normal_distribution<double> N01;
  std::uniform_int_distribution<int> sizes(1, 6), kind(0, 3);
  int converged = 0;
  for (int rep = 0; rep < 200; ++rep) {
    const int G = 2 + rep % 9, H = 1 + rep % 3;
    LmmProblem pr;
    std::vector<double> x, y, s;
    std::vector<int> grp;
    for (int g = 0; g < G; ++g) {
      const double b = N01(rng) * (rep % 4 == 0 ? 0.0 : 1.0), bs = 0.5 * N01(rng);
      for (int k = sizes(rng); k > 0; --k) {
        const double xi = N01(rng), si = static_cast<double>(k);
        x.push_back(xi);
        s.push_back(si);
        y.push_back(1.0 + 0.5 * xi + b + bs * si + N01(rng));
        grp.push_back(g);
      }
    }
    const Eigen::Index n = static_cast<Eigen::Index>(y.size());
    pr.X.resize(n, 2);
    pr.names = {"(Intercept)", "x"};
    pr.y = Eigen::Map<Eigen::VectorXd>(y.data(), n);
    pr.X.col(0).setOnes();
    pr.X.col(1) = Eigen::Map<Eigen::VectorXd>(x.data(), n);
    pr.group = grp;
    const int k = kind(rng);
    if (k & 1) pr.slope = Eigen::Map<Eigen::VectorXd>(s.data(), n);
    if (k & 2) {
      for (int g = 0; g < G; ++g) pr.parent.push_back(g % (H + 1));
    }
    LmmOptions opt;
    opt.reml = rep % 2 == 0;
    LmmFit fit;
    INFO("rep " << rep << " kind " << k);
    REQUIRE_NOTHROW(fit = fit_lmm(pr, opt));
    if (std::getenv("COLLABZIUM_MM_VERBOSE") && !fit.message.empty())
      std::printf("rep %d kind %d converged %d singular %d: %s\n", rep, k, fit.converged, fit.singular,
                  fit.message.c_str());
    if (fit.converged) {
      ++converged;
      CHECK(std::isfinite(fit.criterion));
      CHECK(std::isfinite(fit.sigma2));
      for (const auto& c : fit.coefficients) {
        CHECK(std::isfinite(c.estimate));
        CHECK(std::isfinite(c.se));
      }
    } else {
      CHECK_FALSE(fit.message.empty());
    }
  }
  CHECK(converged > 100);
}

TEST_CASE("the fit records the control it used and what the optimizer did", "[mixed_model][lmm_control]") {
  const LmmProblem pr = fixture_problem("nested_reml");
  const LmmFit d = fit_lmm(pr, {});
  CHECK(d.control == LmmControl{});
  CHECK(d.control.max_evaluations == 20000);
  CHECK(d.control.singular_tolerance == 1e-4);
  CHECK(d.control.gradient_tolerance == 2e-3);
  CHECK(d.control.boundary_snap_tolerance == 1e-6);
  LmmOptions opt;
  opt.control.gradient_tolerance = 1e-3;
  opt.control.hessian_eigen_tolerance = 1e-9;
  opt.control.max_evaluations = 12345;
  opt.control.richardson_levels = 5;
  const LmmFit f = fit_lmm(pr, opt);
  CHECK(f.control == opt.control);
  CHECK(f.control.gradient_tolerance == 1e-3);
  CHECK(f.control.hessian_eigen_tolerance == 1e-9);
  CHECK(f.control.max_evaluations == 12345);
  CHECK(f.control.richardson_levels == 5);
  CHECK_FALSE(f.control == d.control);
  // the optimizer summary agrees with the fit it belongs to
  for (const LmmFit* x : {&d, &f}) {
    const auto& s = x->optimizer;
    CHECK(s.optimizer == "BOBYQA");
    CHECK(s.evaluations == x->iterations);
    CHECK(s.final_theta == x->theta);
    CHECK(s.fmin == x->criterion);
    CHECK(s.initial == std::vector<double>{1.0, 1.0});
    CHECK(s.lower_bounds == std::vector<double>{0.0, 0.0});
    CHECK(s.runs == 2);
    CHECK(s.return_code != "MAXEVAL_REACHED");
    CHECK(s.max_abs_gradient < 1e-3);
    CHECK(s.scaled_gradient < x->control.gradient_tolerance);
  }
  // random intercept alone: grid + Brent + Newton, analytic gradient ~0 at the interior optimum
  const LmmFit r = fit_lmm(fixture_problem("lagged_reml"), {});
  CHECK(r.optimizer.optimizer == "grid+Brent+Newton");
  CHECK(r.optimizer.return_code == "BRENT_CONVERGED");
  CHECK(r.optimizer.evaluations == r.iterations);
  CHECK(r.optimizer.final_theta == r.theta);
  CHECK(r.optimizer.lower_bounds == std::vector<double>{0.0});
  CHECK(r.optimizer.newton_steps >= 1);
  CHECK(r.optimizer.snapped == 0);
  CHECK(r.optimizer.scaled_gradient < 1e-8);
  // θ̂ = 0 on the boundary: no free component, so no gradient check
  const LmmFit b = fit_lmm(fixture_problem("singular_reml"), {});
  CHECK(b.theta[0] == 0.0);
  CHECK(std::isnan(b.optimizer.max_abs_gradient));
  // df other than Satterthwaite computes no derivatives
  LmmOptions res;
  res.df = DfMethod::Residual;
  CHECK(std::isnan(fit_lmm(fixture_problem("lagged_reml"), res).optimizer.scaled_gradient));
  // every patient a single row: θ is not estimable, nothing is optimized
  LmmProblem single = fixture_problem("balanced_reml");
  std::iota(single.group.begin(), single.group.end(), 0);
  const LmmFit s1 = fit_lmm(single, {});
  CHECK(s1.optimizer.optimizer == "none");
  CHECK(s1.optimizer.return_code == "NOT_ESTIMABLE");
  CHECK(s1.iterations == 0);
}

TEST_CASE("control changes have their documented effect", "[mixed_model][lmm_control]") {
  const LmmProblem nested = fixture_problem("nested_reml");
  const LmmFit ref = fit_lmm(nested, {});
  REQUIRE(ref.converged);
  REQUIRE_FALSE(ref.singular);
  REQUIRE(ref.theta.size() == 2);
  REQUIRE(ref.theta[1] > 0.2);  // therapist θ, lme4: 0.2258

  SECTION("max_evaluations caps BOBYQA: not converged, the message names the limit") {
    LmmOptions opt;
    opt.control.max_evaluations = 5;
    const LmmFit f = fit_lmm(nested, opt);
    CHECK_FALSE(f.converged);
    CHECK(f.message.find("max_evaluations = 5") != std::string::npos);
    CHECK(f.optimizer.return_code == "MAXEVAL_REACHED");
    CHECK(f.optimizer.runs == 1);
    // 5 in BOBYQA, plus at most one boundary-snapping evaluation per diagonal θ
    CHECK(f.iterations >= 5);
    CHECK(f.iterations <= 7);
  }
  SECTION("brent_max_iterations caps Brent: not converged, the message names the limit") {
    LmmOptions opt;
    opt.control.brent_max_iterations = 3;
    const LmmFit f = fit_lmm(fixture_problem("lagged_reml"), opt);
    CHECK_FALSE(f.converged);
    CHECK(f.message.find("Brent did not converge in 3 iterations") != std::string::npos);
    CHECK(f.optimizer.return_code == "BRENT_MAX_ITERATIONS");
  }
  SECTION("singular_tolerance above a θ component makes the fit singular") {
    LmmOptions opt;
    opt.control.singular_tolerance = 0.3;
    const LmmFit f = fit_lmm(nested, opt);
    CHECK(f.singular);
    CHECK(f.theta == ref.theta);  // only the diagnosis changes
    CHECK(f.criterion == ref.criterion);
  }
  SECTION("a looser boundary snap moves a small θ onto the bound: singular, variance exactly 0") {
    LmmOptions opt;
    opt.control.boundary_snap_tolerance = 0.3;        // the therapist θ (0.2258) is within it
    opt.control.boundary_snap_criterion_slack = 1e6;  // and any rise of the criterion is accepted
    const LmmFit f = fit_lmm(nested, opt);
    CHECK(f.optimizer.snapped == 1);
    CHECK(f.theta[1] == 0.0);
    CHECK(f.theta[0] == ref.theta[0]);
    CHECK(f.tau2_therapist == 0.0);
    CHECK(f.singular);
    CHECK(f.criterion > ref.criterion);
    // with the default slack the rise of the criterion is refused: the fit is unchanged
    opt.control.boundary_snap_criterion_slack = LmmControl{}.boundary_snap_criterion_slack;
    const LmmFit g = fit_lmm(nested, opt);
    CHECK(g.optimizer.snapped == 0);
    CHECK(g.theta == ref.theta);
    CHECK_FALSE(g.singular);
  }
  SECTION("no snapping leaves BOBYQA's point near the bound where lme4 also stops short of 0") {
    // nested_ml: the therapist variance is on the boundary (lme4: θ = 1.45e-7)
    LmmOptions ml;
    ml.reml = false;
    const LmmProblem pr = fixture_problem("nested_ml");
    const LmmFit snapped = fit_lmm(pr, ml);
    ml.control.boundary_snap_tolerance = 0.0;
    const LmmFit unsnapped = fit_lmm(pr, ml);
    CHECK(snapped.theta[1] == 0.0);
    CHECK(unsnapped.theta[1] >= 0.0);
    CHECK(unsnapped.theta[1] < 1e-4);
    CHECK(unsnapped.optimizer.snapped == 0);
    CHECK(snapped.singular);
    CHECK(unsnapped.singular);
    CHECK(std::fabs(snapped.criterion - unsnapped.criterion) <= 1e-10);
  }
  SECTION("nonsensical controls are refused") {
    LmmOptions opt;
    opt.control.max_evaluations = 0;
    CHECK_THROWS_AS(fit_lmm(nested, opt), std::invalid_argument);
    opt.control = {};
    opt.control.singular_tolerance = -1.0;
    CHECK_THROWS_AS(fit_lmm(nested, opt), std::invalid_argument);
    opt.control = {};
    opt.control.richardson_levels = 0;
    CHECK_THROWS_AS(fit_lmm(nested, opt), std::invalid_argument);
  }
}

TEST_CASE("analytic derivatives of the profiled criterion match finite differences", "[mixed_model][lmm_control]") {
  using collabzium::lmm::ProfiledCriterion;
  // any [X y] will do: the criterion and its derivatives are consistent for every response
  const LmmProblem pr = fixture_problem("lagged_reml");
  const Eigen::Index n = pr.X.rows(), p = pr.X.cols();
  Eigen::MatrixXd W(n, p + 1);
  W.leftCols(p) = pr.X;
  W.col(p) = pr.y;
  const int G = *std::max_element(pr.group.begin(), pr.group.end()) + 1;
  for (bool reml : {true, false}) {
    ProfiledCriterion f(W, pr.group, G, nullptr, nullptr, 0, reml, true);
    REQUIRE(f.ntheta() == 1);
    for (double th : {0.2, 0.86, 2.5}) {
      INFO("reml " << reml << " theta " << th);
      double d1, d2;
      REQUIRE(f.newton_derivatives(th, d1, d2));
      const double h = 1e-3 * th, t0 = th, tp = th + h, tm = th - h;
      const double f0 = f.objective(&t0), fp = f.objective(&tp), fm = f.objective(&tm);
      const double fd1 = (fp - fm) / (2.0 * h), fd2 = (fp - 2.0 * f0 + fm) / (h * h);
      CHECK(std::fabs(d1 - fd1) <= 1e-5 * std::fabs(d2) + 1e-6);
      CHECK(d2 == Approx(fd2).epsilon(1e-4));
    }
    CHECK(f.evaluations() == 3 * 3);  // objective() counts, newton_derivatives() does not
  }
}

TEST_CASE("the shared derivative algebra: solving with A or multiplying by A^-1 agree", "[mixed_model][lmm_control]") {
  using namespace collabzium::lmm;
  const LmmProblem pr = fixture_problem("balanced_reml");
  const Eigen::Index n = pr.X.rows(), p = pr.X.cols();
  Eigen::MatrixXd W(n, p + 1);
  W.leftCols(p) = pr.X;
  W.col(p) = pr.y;
  InterceptModel im;
  const int G = *std::max_element(pr.group.begin(), pr.group.end()) + 1;
  im.build(W, pr.group, G);
  Eigen::MatrixXd M, M1, M2;
  double ld, ld1, ld2;
  im.M_at(0.9, M, ld);
  im.derivs(0.9, M1, M2, ld1, ld2);
  const Eigen::LLT<Eigen::MatrixXd> llt(M.topLeftCorner(p, p));
  const Eigen::MatrixXd Ainv = llt.solve(Eigen::MatrixXd::Identity(p, p));
  const Eigen::VectorXd beta = llt.solve(M.col(p).head(p));
  const auto a = profile_derivatives(M1, M2, beta, [&](const auto& x) { return llt.solve(x); });
  const auto b = profile_derivatives(M1, M2, beta, [&](const auto& x) { return Ainv * x; });
  CHECK(a.r2_1 == b.r2_1);  // no A⁻¹ involved
  CHECK(a.r2_2 == Approx(b.r2_2).epsilon(1e-12));
  CHECK(a.logdetA_1 == Approx(b.logdetA_1).epsilon(1e-12));
  CHECK(a.logdetA_2 == Approx(b.logdetA_2).epsilon(1e-12));
  CHECK((a.Ainv_A1 - b.Ainv_A1).cwiseAbs().maxCoeff() <= 1e-12 * a.Ainv_A1.cwiseAbs().maxCoeff());
  // (r²)' against a central difference of r²(θ) = the Schur complement of A in M(θ)
  auto r2 = [&](double th) {
    Eigen::MatrixXd Mt;
    double l;
    im.M_at(th, Mt, l);
    const Eigen::LLT<Eigen::MatrixXd> c(Mt.topLeftCorner(p, p));
    return Mt(p, p) - Mt.col(p).head(p).dot(c.solve(Mt.col(p).head(p)));
  };
  const double h = 1e-4;
  CHECK(a.r2_1 == Approx((r2(0.9 + h) - r2(0.9 - h)) / (2.0 * h)).epsilon(1e-6));
}

TEST_CASE("a non-finite value anywhere in X or y is refused, not fitted", "[mixed_model]") {
  const LmmProblem base = fixture_problem("balanced_reml");
  const double bad[] = {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                        collabzium::kNaN};
  for (double v : bad) {
    for (Eigen::Index at : {Eigen::Index{0}, base.X.size() / 2, base.X.size() - 1}) {
      LmmProblem pr = base;
      pr.X.data()[at] = v;
      CHECK(fit_lmm(pr).message.find("non-finite") != std::string::npos);
    }
    LmmProblem pr = base;
    pr.y(pr.y.size() - 1) = v;
    CHECK(fit_lmm(pr).message.find("non-finite") != std::string::npos);
  }
  CHECK(fit_lmm(base).message.find("non-finite") == std::string::npos);
}
