// The sandbox page: controls -> URL -> two requests (one cohort, one study) -> panels.
// The whole state is in the URL's query, so a link reproduces a setting. Every request carries all
// of the page's settings; the server starts from its own scenario and applies them as --set keys.
"use strict";

const RATER_COLORS = { patient: "#e08214", therapist: "#2166ac", truth: "#333333" };

// Controls, in the order shown. kind: real, int (slider) | choice (its values from /api/scenario) |
// number (free integer).
const CONTROLS = [
  { group: "Design" },
  { key: "design.patients", label: "patients", kind: "int", min: 10, max: 500, step: 1 },
  { key: "design.sessions.mean", label: "mean sessions per patient", kind: "real", min: 4, max: 40, step: 1 },
  { group: "Patient as rater" },
  { key: "raters.patient.registration", label: "registration: P(registers a rupture)", kind: "real", min: 0, max: 1, step: 0.05 },
  { key: "raters.patient.sensitivity", label: "sensitivity: share of the depth shown", kind: "real", min: 0, max: 2, step: 0.05 },
  { key: "raters.patient.false_alarm_rate", label: "false-alarm rate per session", kind: "real", min: 0, max: 0.3, step: 0.005 },
  { key: "raters.patient.occasion_sd", label: "occasion noise (sd)", kind: "real", min: 0, max: 0.6, step: 0.01 },
  { key: "raters.patient.mood_congruence", label: "mood congruence", kind: "real", min: -0.5, max: 0.5, step: 0.01 },
  { group: "Therapist as rater" },
  { key: "raters.therapist.registration", label: "registration: P(registers a rupture)", kind: "real", min: 0, max: 1, step: 0.05 },
  { key: "raters.therapist.sensitivity", label: "sensitivity: share of the depth shown", kind: "real", min: 0, max: 2, step: 0.05 },
  { key: "raters.therapist.false_alarm_rate", label: "false-alarm rate per session", kind: "real", min: 0, max: 0.3, step: 0.005 },
  { key: "raters.therapist.occasion_sd", label: "occasion noise (sd)", kind: "real", min: 0, max: 0.6, step: 0.01 },
  { key: "raters.therapist.mood_congruence", label: "mood congruence", kind: "real", min: -0.5, max: 0.5, step: 0.01 },
  { group: "Effects on next-session distress" },
  { key: "distress.effects.rupture", label: "rupture (β_R)", kind: "real", min: -3, max: 5, step: 0.1 },
  { key: "distress.effects.repair", label: "repair (β_P)", kind: "real", min: -5, max: 3, step: 0.1 },
  { key: "distress.effects.rupture_via", label: "ruptures that move distress", kind: "choice" },
  { key: "distress.effects.repair_via", label: "repairs that move distress", kind: "choice" },
  { group: "Detection" },
  { key: "detection.rule", label: "rule", kind: "choice" },
  { key: "detection.threshold", label: "threshold", kind: "real", min: 0, max: 2, step: 1 / 24 },
  { group: "Study" },
  { key: "seed", label: "seed", kind: "number", min: 0 },
  { key: "replications", label: "replications", kind: "int", min: 20, max: 2000, step: 20 },
];

// Threshold slider ranges per rule (in the rule's own units). A rule without one (a rule the
// server offers that this table does not know) gets a range around its default threshold.
const THRESHOLD_RANGE = {
  absolute_drop: [1 / 12, 2, 1 / 24], sd_drop: [0.25, 4, 0.05], rci: [0.5, 4, 0.05],
  percent_drop: [0.02, 0.5, 0.01], sudden_loss: [1 / 12, 2, 1 / 24],
};
function thresholdRange(rule) {
  const d = Number(state.ruleDefaults[rule]) || 1;
  return THRESHOLD_RANGE[rule] || [d / 10, 4 * d, d / 20];
}

const state = { defaults: {}, values: {}, ruleDefaults: {}, generation: 0, charts: {}, pending: 0 };
let studyAbort = null, cohortAbort = null, timer = null;

function $(id) { return document.getElementById(id); }
function fmt(x, d = 3) { return x === null || x === undefined || Number.isNaN(x) ? "NA" : Number(x).toFixed(d); }
function withSe(v, se, d = 3) {
  if (v === null || v === undefined) return "NA";
  return se === null || se === undefined ? fmt(v, d) : `${fmt(v, d)} (${fmt(se, d)})`;
}

function setStatus(text, kind) {
  $("status-text").textContent = text;
  $("status").className = kind || "";
}

// Control values as the request body: numbers stay numbers (integers for integer keys, so the
// scenario registry sees 119, not 119.0), choices strings.
function body() {
  const b = {};
  for (const c of CONTROLS) {
    if (!c.key) continue;
    const v = state.values[c.key];
    if (c.kind === "choice") b[c.key] = v;
    else if (c.kind === "int" || c.kind === "number") b[c.key] = Math.round(Number(v));
    else b[c.key] = Number(v);
  }
  b["detection.roc_thresholds"] = rocThresholds(b["detection.rule"], b["detection.threshold"]);
  return b;
}

// A grid over the slider's range plus the current threshold, so that point is on the curve.
function rocThresholds(rule, current) {
  const [lo, hi] = thresholdRange(rule);
  const grid = [];
  for (let k = 0; k <= 16; ++k) grid.push(Number((lo + (hi - lo) * k / 16).toPrecision(6)));
  grid.push(current);
  return [...new Set(grid)].sort((a, b) => a - b);
}

// `choices`: the admissible values of each choice key, as /api/scenario lists them.
function buildControls(choices) {
  const aside = $("controls");
  let fieldset = null;
  for (const c of CONTROLS) {
    if (c.group) {
      fieldset = document.createElement("fieldset");
      const legend = document.createElement("legend");
      legend.textContent = c.group;
      fieldset.appendChild(legend);
      aside.appendChild(fieldset);
      continue;
    }
    const div = document.createElement("div");
    div.className = "control";
    const id = "ctl-" + c.key.replace(/\./g, "-");
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = c.label;
    label.title = c.key;
    div.appendChild(label);
    let input;
    if (c.kind === "choice") {
      input = document.createElement("select");
      for (const o of choices[c.key] || []) {
        const opt = document.createElement("option");
        opt.value = opt.textContent = o;
        input.appendChild(opt);
      }
    } else {
      input = document.createElement("input");
      input.type = c.kind === "number" ? "number" : "range";
      if (c.min !== undefined) input.min = c.min;
      if (c.max !== undefined) input.max = c.max;
      input.step = c.step || 1;
    }
    input.id = id;
    input.dataset.key = c.key;
    div.appendChild(input);
    if (input.type === "range") {
      const out = document.createElement("output");
      out.id = id + "-value";
      out.htmlFor = id;
      div.appendChild(out);
    }
    input.addEventListener("input", () => onInput(c, input));
    fieldset.appendChild(div);
  }
}

function showValue(c) {
  const input = $("ctl-" + c.key.replace(/\./g, "-"));
  const v = state.values[c.key];
  if (input.type === "range") {
    // A value outside the slider's range (from the scenario or a link) widens the slider.
    const x = Number(v);
    if (x < Number(input.min)) input.min = x;
    if (x > Number(input.max)) input.max = x;
  }
  input.value = v;
  const out = $(input.id + "-value");
  if (out) out.textContent = c.kind === "int" ? String(v) : fmt(Number(v), c.key === "detection.threshold" ? 3 : 2);
}

function onInput(c, input) {
  state.values[c.key] = input.value;
  if (c.key === "detection.rule") {
    // A rule's threshold lives on its own scale: a new rule starts at its default.
    state.values["detection.threshold"] = String(state.ruleDefaults[input.value]);
    applyThresholdRange();
  }
  for (const d of CONTROLS) if (d.key) showValue(d);
  schedule();
}

function applyThresholdRange() {
  const [lo, hi, step] = thresholdRange(state.values["detection.rule"]);
  const input = $("ctl-detection-threshold");
  input.min = lo;
  input.max = hi;
  input.step = step;
}

function writeUrl() {
  const q = new URLSearchParams();
  for (const c of CONTROLS) if (c.key && String(state.values[c.key]) !== String(state.defaults[c.key])) q.set(c.key, state.values[c.key]);
  const url = location.pathname + (q.toString() ? "?" + q.toString() : "");
  history.replaceState(null, "", url);
  $("share").href = url;
}

// Coalesces a slider's burst of input events into one update, and drops a study still running for
// an older setting: the server stops it when the connection closes.
function schedule() {
  clearTimeout(timer);
  timer = setTimeout(update, 250);
}

async function update() {
  writeUrl();
  const generation = ++state.generation;
  document.body.dataset.state = "busy";
  const b = JSON.stringify(body());
  try {
    await Promise.all([loadCohort(b, generation), loadStudy(b, generation), loadToml(b, generation)]);
    if (generation !== state.generation) return;
    document.body.dataset.state = "ready";
    document.body.dataset.generation = String(generation);
  } catch (e) {
    if (e.name === "AbortError" || generation !== state.generation) return;
    setStatus(e.message, "error");
    document.body.dataset.state = "error";
    document.body.dataset.generation = String(generation);
  }
}

async function post(path, b, signal) {
  const r = await fetch(path, { method: "POST", body: b, headers: { "Content-Type": "application/json" }, signal });
  if (!r.ok) {
    let message = `${r.status} ${r.statusText}`;
    try { message = (await r.json()).error || message; } catch (_) { /* not JSON */ }
    const e = new Error(message);
    e.status = r.status;
    throw e;
  }
  return r;
}

async function loadCohort(b, generation) {
  if (cohortAbort) cohortAbort.abort();
  cohortAbort = new AbortController();
  const data = await (await post("/api/cohort", b, cohortAbort.signal)).json();
  if (generation === state.generation) drawExamples(data);
}

async function loadToml(b, generation) {
  const text = await (await post("/api/scenario.toml", b)).text();
  if (generation === state.generation) $("toml").textContent = text;
}

// The study answer is streamed: progress lines, then the result. A 429 (every slot busy) is retried.
async function loadStudy(b, generation) {
  if (studyAbort) studyAbort.abort();
  studyAbort = new AbortController();
  const signal = studyAbort.signal;
  const progress = $("progress");
  for (let attempt = 0; ; ++attempt) {
    let r;
    try {
      r = await post("/api/study?progress=1", b, signal);
    } catch (e) {
      if (e.status === 429 && attempt < 40 && generation === state.generation) {
        setStatus("the server is busy with other studies; retrying…");
        await new Promise(res => setTimeout(res, 400));
        continue;
      }
      throw e;
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", result = null;
    const t0 = performance.now();
    progress.hidden = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = JSON.parse(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
        if (line.error) throw new Error(line.error);
        if (line.rows) result = line;
        else if (generation === state.generation) {
          progress.value = line.total ? line.done / line.total : 0;
          setStatus(`study: ${line.done} of ${line.total} replications`);
        }
      }
    }
    progress.hidden = true;
    if (!result) throw new Error("the study's answer ended early");
    if (generation !== state.generation) return;
    setStatus(`study of ${result.replications} replications, seed ${result.seed}: ` +
      `${((performance.now() - t0) / 1000).toFixed(2)} s (${result.threads} thread${result.threads > 1 ? "s" : ""})`);
    drawStudy(result);
    return;
  }
}

function row(rows, model, rater, term, measure) {
  return rows.find(r => r.model === model && r.rater === rater && r.term === term && r.measure === measure);
}

function chart(id, config) {
  if (state.charts[id]) state.charts[id].destroy();
  state.charts[id] = new Chart($(id) || document.getElementById(id), config);
  return state.charts[id];
}

function drawExamples(data) {
  $("cohort-note").textContent = `(one cohort: ${data.patients} patients, ${data.sessions} sessions, seed ${data.seed})`;
  const box = $("examples");
  box.innerHTML = "";
  data.examples.forEach((p, n) => {
    const div = document.createElement("div");
    div.className = "example";
    div.innerHTML = `<h3>patient ${p.patient} (therapist ${p.therapist})${p.why ? ": " + p.why : ""}${p.dropout ? "; dropped out" : ""}</h3>` +
      `<div class="upper"><canvas id="ex-a-${n}"></canvas></div><div class="lower"><canvas id="ex-d-${n}"></canvas></div>`;
    box.appendChild(div);
    const points = (ys) => p.session.map((s, k) => ({ x: s, y: ys[k] }));
    const marks = (flags, ys) => p.session.map((s, k) => (flags[k] ? { x: s, y: ys[k] } : null)).filter(Boolean);
    const line = (label, ys, color, dash) => ({ label, data: points(ys), borderColor: color, backgroundColor: color,
      borderWidth: 1.5, pointRadius: 0, borderDash: dash || [], spanGaps: false, order: 2 });
    const mark = (label, flags, ys, color, style) => ({ label, data: marks(flags, ys), type: "scatter",
      borderColor: color, backgroundColor: color, pointStyle: style, pointRadius: style === "triangle" ? 6 : 4, order: 1 });
    chart(`ex-a-${n}`, {
      type: "line",
      data: { datasets: [
        line("latent", p.true_alliance, "#999", [4, 3]),
        line("patient", p.alliance_patient, RATER_COLORS.patient),
        line("therapist", p.alliance_therapist, RATER_COLORS.therapist),
        mark("true onset", p.true_onset, p.true_alliance, RATER_COLORS.truth, "triangle"),
        mark("true repair", p.true_repair, p.true_alliance, RATER_COLORS.truth, "circle"),
        mark("patient: rupture", p.patient_rupture, p.alliance_patient, RATER_COLORS.patient, "triangle"),
        mark("patient: repair", p.patient_repair, p.alliance_patient, RATER_COLORS.patient, "circle"),
        mark("therapist: rupture", p.therapist_rupture, p.alliance_therapist, RATER_COLORS.therapist, "triangle"),
        mark("therapist: repair", p.therapist_repair, p.alliance_therapist, RATER_COLORS.therapist, "circle"),
      ] },
      options: { animation: false, maintainAspectRatio: false, parsing: false,
        plugins: { legend: { display: n === 0, labels: { boxWidth: 10, font: { size: 9 } } } },
        scales: { x: { type: "linear", title: { display: false } }, y: { title: { display: true, text: "alliance (1-5)" } } } },
    });
    chart(`ex-d-${n}`, {
      type: "line",
      data: { datasets: [line("distress", p.distress, "#7b3294")] },
      options: { animation: false, maintainAspectRatio: false, parsing: false, plugins: { legend: { display: false } },
        scales: { x: { type: "linear", title: { display: true, text: "session" } }, y: { title: { display: true, text: "distress" } } } },
    });
  });
}

function drawStudy(result) {
  const rows = result.rows;
  // (b) detection accuracy
  const measures = [["sensitivity", "sensitivity"], ["specificity", "specificity"], ["ppv", "PPV"], ["f1", "F1"],
    ["prevalence", "patients with ≥ 1 detected"], ["true_prevalence", "patients with ≥ 1 true"]];
  const tbody = $("accuracy").querySelector("tbody");
  tbody.innerHTML = "";
  for (const [m, label] of measures) {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td>${label}</td>`;
    for (const rater of ["patient", "therapist"]) {
      const r = row(rows, "detection", rater, "rupture", m);
      const td = document.createElement("td");
      td.id = `acc-${rater}-${m}`;
      td.dataset.value = r && r.value !== null ? r.value : "";
      td.textContent = r ? withSe(r.value, r.mcse) : "NA";
      tr.appendChild(td);
    }
    tbody.appendChild(tr);
  }
  const kappa = row(rows, "detection", "patient", "rupture", "kappa");
  const tr = document.createElement("tr");
  tr.innerHTML = `<td>agreement (Cohen's κ)</td><td colspan="2">${kappa ? withSe(kappa.value, kappa.mcse) : "NA"}</td>`;
  tbody.appendChild(tr);

  const datasets = [];
  for (const rater of ["patient", "therapist"]) {
    const pts = [];
    for (const r of rows) {
      if (r.model !== "roc" || r.rater !== rater || !r.term.startsWith("threshold=")) continue;
      const t = Number(r.term.slice(10));
      let p = pts.find(q => q.t === t);
      if (!p) pts.push(p = { t });
      p[r.measure] = r.value;
    }
    pts.sort((a, b) => b.t - a.t);
    const auc = row(rows, "roc", rater, "rupture", "auc");
    datasets.push({ label: `${rater} (AUC ${auc ? fmt(auc.value, 2) : "NA"})`, borderColor: RATER_COLORS[rater],
      backgroundColor: RATER_COLORS[rater], showLine: true, pointRadius: 2,
      data: pts.filter(p => p.sensitivity !== null && p.specificity !== null).map(p => ({ x: 1 - p.specificity, y: p.sensitivity })) });
    const sens = row(rows, "detection", rater, "rupture", "sensitivity"), spec = row(rows, "detection", rater, "rupture", "specificity");
    if (sens && spec && sens.value !== null && spec.value !== null)
      datasets.push({ label: `${rater}: current threshold`, data: [{ x: 1 - spec.value, y: sens.value }], pointRadius: 8,
        pointStyle: "rectRot", borderColor: "#000", backgroundColor: RATER_COLORS[rater] });
  }
  chart("roc", { type: "scatter", data: { datasets },
    options: { animation: false, maintainAspectRatio: false,
      plugins: { legend: { labels: { boxWidth: 10, font: { size: 10 } } } },
      scales: { x: { min: 0, max: 1, title: { display: true, text: "1 − specificity (sessions flagged without an onset)" } },
        y: { min: 0, max: 1, title: { display: true, text: "sensitivity (onsets found)" } } } } });

  // (c) power
  const pbody = $("power").querySelector("tbody");
  pbody.innerHTML = "";
  const bars = { labels: [], data: [], colors: [] };
  for (const [model, rater, label] of [["lagged", "patient", "patient-reported"], ["lagged", "therapist", "therapist-reported"], ["oracle", "truth", "true events"]]) {
    for (const term of ["rupture", "repair"]) {
      const pw = row(rows, model, rater, term, "power"), mean = row(rows, model, rater, term, "mean"), tv = row(rows, model, rater, term, "true_value");
      const tr2 = document.createElement("tr");
      tr2.innerHTML = `<td>${label} ${term}</td><td id="power-${rater}-${term}">${pw ? withSe(pw.value, pw.mcse) : "NA"}</td>` +
        `<td>${mean ? withSe(mean.value, mean.mcse, 2) : "NA"}</td><td>${tv ? fmt(tv.value, 2) : "NA"}</td>`;
      pbody.appendChild(tr2);
      bars.labels.push(`${label} ${term}`);
      bars.data.push(pw ? pw.value : null);
      bars.colors.push(RATER_COLORS[rater]);
    }
  }
  chart("power-chart", { type: "bar",
    data: { labels: bars.labels, datasets: [{ label: "power", data: bars.data, backgroundColor: bars.colors }] },
    options: { animation: false, maintainAspectRatio: false, indexAxis: "y", plugins: { legend: { display: false } },
      scales: { x: { min: 0, max: 1, title: { display: true, text: "power (share of studies with p < α)" } } } } });
  const pat = result.pattern;
  $("pattern").innerHTML = `Probability of the published pattern: <strong id="pattern-probability">${withSe(pat.probability, pat.mcse)}</strong> ` +
    `(of ${pat.n} replications with all four tests).`;
}

async function init() {
  const scenario = await (await fetch("/api/scenario")).json();
  buildControls(scenario.choices);
  state.ruleDefaults = scenario.rule_defaults;
  for (const c of CONTROLS) {
    if (!c.key) continue;
    let v = c.key === "seed" ? scenario.keys["run.seed"] : c.key === "replications" ? 200 : scenario.keys[c.key];
    if (c.key === "detection.threshold" && (v === null || v === undefined)) v = scenario.rule_defaults[scenario.keys["detection.rule"]];
    state.defaults[c.key] = String(v);
  }
  // The slider of replications is capped by the server's limit.
  $("ctl-replications").max = scenario.limits.replications;
  $("ctl-design-patients").max = Math.min(2000, scenario.limits.patients);
  const q = new URLSearchParams(location.search);
  for (const c of CONTROLS) if (c.key) state.values[c.key] = q.has(c.key) ? q.get(c.key) : state.defaults[c.key];
  applyThresholdRange();
  for (const c of CONTROLS) if (c.key) showValue(c);
  $("download").addEventListener("click", async () => {
    const r = await post("/api/scenario.toml", JSON.stringify(body()));
    const url = URL.createObjectURL(new Blob([await r.text()], { type: "application/toml" }));
    const a = document.createElement("a");
    a.href = url;
    a.download = `${scenario.name}-sandbox.toml`;
    a.click();
    URL.revokeObjectURL(url);
  });
  update();
}

init().catch(e => { setStatus(e.message, "error"); document.body.dataset.state = "error"; });
