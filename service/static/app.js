// The customer form. Every field, range and option list is read at run time from the API's
// own OpenAPI document, so the page cannot drift from the contract it submits to. Errors
// shown next to fields are the API's own (RFC 9457 problem bodies), not a second copy of
// the rules.
"use strict";

const state = { fields: [], properties: {}, examples: {}, batchLimit: 10000 };

const $ = (id) => document.getElementById(id);

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

function svgElement(tag, attributes = {}, text = "") {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

function formatPercent(p) {
  return `${(p * 100).toFixed(1)}%`;
}

// ---- building the form from the schema -------------------------------------------------

function codeOptions(codes) {
  return Object.entries(codes)
    .map(([code, meaning]) => [Number(code), meaning])
    .sort((a, b) => a[0] - b[0]);
}

function control(name, schema, label) {
  let input;
  if (schema["x-codes"]) {
    input = element("select", { id: name, name });
    input.append(element("option", { value: "" }, "— choose —"));
    for (const [code, meaning] of codeOptions(schema["x-codes"])) {
      input.append(element("option", { value: String(code) }, `${meaning} (${code})`));
    }
  } else {
    input = element("input", {
      id: name,
      name,
      type: "number",
      inputmode: schema.type === "integer" ? "numeric" : "decimal",
      step: schema.type === "integer" ? "1" : "any",
    });
    const low = schema.minimum ?? schema.exclusiveMinimum;
    if (low !== undefined) input.setAttribute("min", String(low));
    if (schema.maximum !== undefined) input.setAttribute("max", String(schema.maximum));
  }
  input.setAttribute("aria-describedby", `err-${name}`);
  input.setAttribute("title", schema.description || label);
  const error = element("p", { id: `err-${name}`, class: "field-error" });
  return { input, error };
}

function addField(container, name, schema, label) {
  const wrapper = element("div", { class: "field" });
  const { input, error } = control(name, schema, label);
  wrapper.append(element("label", { for: name }, label), input, error);
  container.append(wrapper);
}

function buildForm(properties) {
  const profile = $("fields-profile");
  const repayment = $("fields-repayment");
  const amounts = $("fields-amounts");
  const bills = [];
  const payments = [];
  for (const [name, schema] of Object.entries(properties)) {
    const group = schema["x-group"];
    if (group === "profile") addField(profile, name, schema, schema.title);
    else if (group === "repayment") addField(repayment, name, schema, schema["x-month"]);
    else if (group === "bill") bills.push([name, schema]);
    else if (group === "payment") payments.push([name, schema]);
  }
  amounts.append(
    element("span", { class: "head month-head" }, "Month"),
    element("span", { class: "head" }, "Bill statement"),
    element("span", { class: "head" }, "Amount paid"),
  );
  bills.forEach(([billName, billSchema], index) => {
    amounts.append(element("span", { class: "month" }, billSchema["x-month"]));
    for (const [name, schema] of [[billName, billSchema], payments[index]]) {
      const cell = element("div", { class: "field" });
      const { input, error } = control(name, schema, schema.title);
      cell.append(element("label", { for: name, class: "visually-hidden" }, schema.title), input, error);
      amounts.append(cell);
    }
  });
  // The visible column heads carry the meaning; the per-input labels stay for screen readers.
  const style = element("style");
  style.textContent =
    ".visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}";
  document.head.append(style);
}

// ---- reading, filling, clearing -----------------------------------------------------------

function readForm() {
  const body = {};
  for (const name of state.fields) {
    const raw = $(name).value.trim();
    if (raw === "") continue; // the API names a missing field; nothing is guessed here
    const number = Number(raw);
    body[name] = Number.isFinite(number) ? number : raw;
  }
  return body;
}

function fill(customer) {
  clearErrors();
  for (const name of state.fields) $(name).value = customer[name] ?? "";
}

function clearErrors() {
  for (const name of state.fields) {
    $(`err-${name}`).textContent = "";
    $(name).removeAttribute("aria-invalid");
  }
  $("form-error").hidden = true;
  $("form-error").replaceChildren();
}

function showProblem(container, problem, describe) {
  container.replaceChildren(element("strong", {}, problem.title || "Request failed"));
  container.append(element("p", {}, problem.detail || ""));
  if (problem.errors && problem.errors.length && describe) {
    const list = element("ul");
    for (const error of problem.errors) list.append(element("li", {}, describe(error)));
    container.append(list);
  }
  container.hidden = false;
}

// ---- scoring one customer -----------------------------------------------------------------

function showResult(prediction) {
  const result = $("result");
  const probability = $("probability");
  probability.textContent = formatPercent(prediction.probability);
  probability.dataset.probability = String(prediction.probability);
  $("gauge-fill").setAttribute("width", String(200 * prediction.probability));
  const x = String(200 * prediction.threshold);
  $("gauge-threshold").setAttribute("x1", x);
  $("gauge-threshold").setAttribute("x2", x);
  $("decision").textContent = prediction.default
    ? `Likely to default: at or above the model's threshold of ${formatPercent(prediction.threshold)}.`
    : `Not likely to default: below the model's threshold of ${formatPercent(prediction.threshold)}.`;
  const score = $("score");
  score.textContent = String(prediction.score);
  score.dataset.score = String(prediction.score);
  $("grade-part").hidden = prediction.grade === undefined;
  if (prediction.grade !== undefined) {
    $("grade").textContent = String(prediction.grade);
    $("grade").dataset.grade = String(prediction.grade);
  }
  result.classList.toggle("risky", prediction.default);
  result.classList.toggle("safe", !prediction.default);
  showReasons(prediction);
  const link = $("result-version");
  link.textContent = prediction.model_version;
  link.href = `/models/${encodeURIComponent(prediction.model_version)}`;
  $("model-link").href = link.href;
  $("report-link").href = `${link.getAttribute("href")}/report`;
  result.hidden = false;
}

// Scoring always asks for reasons; a model version trained before reason codes answers 409
// (explanation-unavailable), and then the page asks again without them.
async function postScoring(path, payload) {
  const send = (url) => fetch(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(payload),
  });
  let response = await send(`${path}?explain=true`);
  let body = await response.json();
  if (response.status === 409 && String(body.type).endsWith("explanation-unavailable")) {
    response = await send(path);
    body = await response.json();
  }
  return { response, body };
}

function showReasons(prediction) {
  // Every reason in the explanation, largest effect first, as a bar either side of zero.
  $("reasons").hidden = !prediction.explanation;
  if (!prediction.explanation) return;
  const list = $("reason-list");
  list.replaceChildren(
    ...prediction.reasons.map((r) => element("li", { "data-code": r.code }, `${r.text} (+${(100 * r.contribution).toFixed(1)} percentage points of probability)`)),
  );
  if (prediction.reasons.length === 0) list.append(element("li", {}, "No reason raised the risk above the base rate."));
  $("reason-base").textContent = formatPercent(prediction.explanation.base);
  const entries = Object.entries(prediction.explanation.contributions)
    .filter(([, value]) => value !== 0)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  const largest = Math.max(...entries.map(([, value]) => Math.abs(value)), 1e-9);
  const svg = $("reason-bars");
  const chartWidth = 250, row = 16, labelWidth = 118, half = 66, zero = labelWidth + half;
  svg.setAttribute("viewBox", `0 0 ${chartWidth} ${entries.length * row + 4}`);
  svg.replaceChildren(svgElement("title", { id: "reason-bars-title" }, "How much each reason raised or lowered the risk"));
  entries.forEach(([code, value], i) => {
    const y = 2 + i * row;
    const width = (half * Math.abs(value)) / largest;
    svg.append(svgElement("text", { class: "label", x: "0", y: String(y + 10) }, code));
    const bar = svgElement("rect", {
      class: value > 0 ? "raise" : "lower", "data-code": code, "data-contribution": String(value),
      x: String(value > 0 ? zero : zero - width), y: String(y + 1), width: String(width), height: "12",
    });
    bar.append(svgElement("title", {}, `${code}: ${value > 0 ? "+" : ""}${(100 * value).toFixed(2)} percentage points of probability`));
    svg.append(bar);
  });
  svg.append(svgElement("line", { class: "zero", x1: String(zero), x2: String(zero), y1: "0", y2: String(entries.length * row + 4) }));
}

async function submitCustomer(event) {
  event.preventDefault();
  clearErrors();
  let response, body;
  try {
    ({ response, body } = await postScoring("/predict", readForm()));
  } catch (error) {
    showProblem($("form-error"), { title: "The service did not answer", detail: String(error) });
    return;
  }
  if (response.ok) {
    showResult(body);
    return;
  }
  $("result").hidden = true;
  const unplaced = [];
  let first = null;
  for (const error of body.errors || []) {
    const target = $(`err-${error.field}`);
    if (target && state.fields.includes(error.field)) {
      target.textContent = error.message;
      $(error.field).setAttribute("aria-invalid", "true");
      first = first || $(error.field);
    } else {
      unplaced.push(error);
    }
  }
  showProblem($("form-error"), { ...body, errors: unplaced }, (e) => `${e.field}: ${e.message}`);
  if (first) first.focus();
}

// ---- scoring a CSV file -------------------------------------------------------------------

function parseCsv(text) {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  const unquote = (cell) => cell.trim().replace(/^"(.*)"$/, "$1");
  const header = lines[0].split(",").map(unquote);
  const rows = lines.slice(1).map((line) => line.split(",").map(unquote));
  return { header, rows, lines };
}

function customersFrom(table) {
  const columns = table.header.map((name) => name.toLowerCase());
  const missing = state.fields.filter((name) => !columns.includes(name));
  if (missing.length) throw new Error(`The file lacks these columns: ${missing.map((m) => m.toUpperCase()).join(", ")}.`);
  const index = Object.fromEntries(state.fields.map((name) => [name, columns.indexOf(name)]));
  return table.rows.map((row) => {
    const customer = {};
    for (const name of state.fields) {
      const raw = row[index[name]] ?? "";
      const number = Number(raw);
      customer[name] = raw !== "" && Number.isFinite(number) ? number : raw;
    }
    return customer;
  });
}

function drawHistogram(probabilities, threshold) {
  const svg = $("histogram");
  svg.replaceChildren(svgElement("title", { id: "histogram-title" }, "Histogram of predicted probabilities"));
  const bins = new Array(10).fill(0);
  for (const p of probabilities) bins[Math.min(9, Math.floor(p * 10))] += 1;
  const tallest = Math.max(...bins, 1);
  const left = 24, bottom = 120, width = 28, height = 100;
  bins.forEach((count, i) => {
    const barHeight = (height * count) / tallest;
    const bar = svgElement("rect", {
      class: "bar", x: String(left + i * (width + 1)), y: String(bottom - barHeight),
      width: String(width), height: String(barHeight),
    });
    bar.append(svgElement("title", {}, `${i * 10}–${i * 10 + 10}%: ${count}`));
    svg.append(bar);
    svg.append(svgElement("text", { class: "axis", x: String(left + i * (width + 1)), y: "132" }, `${i * 10}`));
  });
  svg.append(svgElement("text", { class: "axis", x: String(left + 10 * (width + 1) - 4), y: "132" }, "100%"));
  svg.append(svgElement("text", { class: "axis", x: "0", y: String(bottom - height + 8) }, String(tallest)));
  const x = String(left + threshold * 10 * (width + 1));
  svg.append(svgElement("line", { class: "threshold", x1: x, x2: x, y1: String(bottom - height - 4), y2: String(bottom) }));
}

const REASON_COLUMNS = 4;

function scoredCsv(table, result) {
  const reasonHeader = Array.from({ length: REASON_COLUMNS }, (_, i) => `reason_${i + 1}`).join(",");
  const out = [`${table.lines[0]},probability,default,score,grade,model_version,${reasonHeader}`];
  table.lines.slice(1).forEach((line, i) => {
    const p = result.predictions[i];
    const reasons = p.reasons || [];
    const codes = Array.from({ length: REASON_COLUMNS }, (_, k) => (reasons[k] ? reasons[k].code : ""));
    const grade = p.grade === undefined ? "" : p.grade;
    out.push(`${line},${p.probability},${p.default ? 1 : 0},${p.score},${grade},${result.model_version},${codes.join(",")}`);
  });
  return out.join("\n") + "\n";
}

// Reasons cost milliseconds a customer, so a large file goes in parts of this many rows,
// each well inside the service's request time limit.
const PART_ROWS = 1000;

async function scoreInParts(customers, errorBox) {
  const status = $("batch-status");
  const predictions = [];
  let last = null;
  for (let start = 0; start < customers.length; start += PART_ROWS) {
    const end = Math.min(start + PART_ROWS, customers.length);
    status.textContent = `Scoring rows ${(start + 1).toLocaleString("en")}–${end.toLocaleString("en")} of ${customers.length.toLocaleString("en")}…`;
    const { response, body } = await postScoring("/predict/batch", { customers: customers.slice(start, end) });
    if (!response.ok) {
      status.textContent = "";
      showProblem(errorBox, body, (e) => {
        const match = /^customers\[(\d+)\]\.(.+)$/.exec(e.field);
        return match ? `row ${start + Number(match[1]) + 1}, ${match[2].toUpperCase()}: ${e.message}` : `${e.field}: ${e.message}`;
      });
      return null;
    }
    if (last && body.model_version !== last.model_version) {
      status.textContent = "";
      throw new Error("The served model changed while the file was being scored; score it again.");
    }
    predictions.push(...body.predictions);
    last = body;
  }
  status.textContent = "";
  return { ...last, count: predictions.length, predictions };
}

async function submitBatch(event) {
  event.preventDefault();
  const errorBox = $("batch-error");
  errorBox.hidden = true;
  $("batch-summary").hidden = true;
  const file = $("batch-file").files[0];
  try {
    if (!file) throw new Error("Choose a CSV file first.");
    const table = parseCsv(await file.text());
    if (table.rows.length === 0) throw new Error("The file has a header but no rows.");
    if (table.rows.length > state.batchLimit) {
      throw new Error(`The file has ${table.rows.length} rows; the limit is ${state.batchLimit.toLocaleString("en")}.`);
    }
    const customers = customersFrom(table);
    const body = await scoreInParts(customers, errorBox);
    if (!body) return;
    const probabilities = body.predictions.map((p) => p.probability);
    const defaults = body.predictions.filter((p) => p.default).length;
    $("batch-count").textContent = body.count.toLocaleString("en");
    $("batch-share").textContent = formatPercent(defaults / body.count);
    $("batch-mean").textContent = formatPercent(probabilities.reduce((a, b) => a + b, 0) / body.count);
    $("batch-version").textContent = body.model_version;
    drawHistogram(probabilities, body.threshold);
    const download = $("batch-download");
    if (download.href.startsWith("blob:")) URL.revokeObjectURL(download.href);
    download.href = URL.createObjectURL(new Blob([scoredCsv(table, body)], { type: "text/csv" }));
    download.download = file.name.replace(/\.csv$/i, "") + "-scored.csv";
    $("batch-summary").hidden = false;
  } catch (error) {
    showProblem(errorBox, { title: "Cannot score this file", detail: error.message });
  }
}

// ---- monitoring --------------------------------------------------------------------------

function drawPsiBars(report) {
  const svg = $("psi-bars");
  svg.replaceChildren(svgElement("title", { id: "psi-bars-title" }, "PSI of each input and of the score, with the 0.1 and 0.25 bands"));
  const entries = [...Object.entries(report.inputs), ["score", report.score]];
  const left = 70, top = 8, width = 540, rowHeight = 11;
  const largest = Math.max(0.3, ...entries.map(([, d]) => d.psi));
  const x = (value) => left + (value / largest) * width;
  svg.setAttribute("viewBox", `0 0 640 ${top + entries.length * rowHeight + 16}`);
  entries.forEach(([name, d], i) => {
    const y = top + i * rowHeight;
    svg.append(svgElement("text", { x: left - 4, y: y + 8, "text-anchor": "end" }, name));
    const bar = svgElement("rect", { x: left, y: y + 1, height: rowHeight - 3, width: Math.max(x(d.psi) - left, 1), class: `psi-${d.status}` });
    bar.append(svgElement("title", {}, `${name}: PSI ${d.psi.toFixed(3)} (${d.status})`));
    svg.append(bar);
    svg.append(svgElement("text", { x: x(d.psi) + 3, y: y + 8 }, d.psi.toFixed(3)));
  });
  const bottom = top + entries.length * rowHeight;
  for (const band of [0.1, 0.25]) {
    svg.append(svgElement("line", { x1: x(band), x2: x(band), y1: top - 4, y2: bottom, class: "psi-band" }));
    svg.append(svgElement("text", { x: x(band), y: bottom + 11, "text-anchor": "middle" }, String(band)));
  }
}

function shortNumber(e) {
  if (Math.abs(e) >= 1000) return `${Math.round(e / 1000)}k`;
  return Number.isInteger(e) ? String(e) : String(Number(e.toPrecision(2)));
}

function binLabels(d) {
  const edges = d.edges.map(shortNumber);
  if (d.kind === "categories") return [...edges, "other"];
  return edges.length ? [`<${edges[0]}`, ...edges.map((e) => `≥${e}`)] : ["all"];
}

function drawDistribution(name, d) {
  const figure = element("figure", { class: "drift-plot" });
  const svg = svgElement("svg", { viewBox: "0 0 200 90", role: "img" });
  svg.append(svgElement("title", {}, `${name}: reference (grey) and recent (blue) shares by bin`));
  const bins = d.reference.length;
  const slot = 190 / bins;
  const tallest = Math.max(...d.reference, ...d.recent, 0.01);
  const labels = binLabels(d);
  d.reference.forEach((share, i) => {
    const recent = d.recent[i];
    const h1 = (share / tallest) * 70, h2 = (recent / tallest) * 70;
    svg.append(svgElement("rect", { x: 5 + i * slot, y: 75 - h1, width: slot * 0.45, height: h1, class: "drift-reference" }));
    svg.append(svgElement("rect", { x: 5 + i * slot + slot * 0.45, y: 75 - h2, width: slot * 0.45, height: h2, class: "drift-recent" }));
    if (bins <= 12) svg.append(svgElement("text", { x: 5 + (i + 0.45) * slot, y: 86, "text-anchor": "middle", "font-size": 6 }, labels[i]));
  });
  figure.append(svg);
  figure.append(element("figcaption", {}, `${name}: PSI ${d.psi.toFixed(3)}, ${d.status}`));
  return figure;
}

async function showDrift() {
  const status = $("drift-status");
  const errorBox = $("drift-error");
  errorBox.hidden = true;
  status.textContent = "Measuring drift…";
  const response = await fetch("/monitoring/drift");
  const body = await response.json();
  if (!response.ok) {
    status.textContent = "";
    $("drift").hidden = true;
    showProblem(errorBox, body);
    return;
  }
  status.textContent = `Model ${body.model_version}: the latest ${body.window.toLocaleString("en")} decisions (window ${body.window_size.toLocaleString("en")}).`;
  drawPsiBars(body);
  const plots = $("drift-plots");
  plots.replaceChildren(...[...Object.entries(body.inputs), ["score", body.score]].map(([name, d]) => drawDistribution(name, d)));
  $("drift").hidden = false;
}

// ---- performance ---------------------------------------------------------------------

function plotFrame(svg, title) {
  svg.replaceChildren(svgElement("title", {}, title));
  svg.append(svgElement("rect", { class: "frame", x: "20", y: "10", width: "210", height: "210" }));
  svg.append(svgElement("line", { class: "diagonal", x1: "20", y1: "220", x2: "230", y2: "10" }));
}

const plotX = (v) => 20 + 210 * v;
const plotY = (v) => 220 - 210 * v;

function drawRoc(curve) {
  const svg = $("performance-roc");
  plotFrame(svg, "ROC curve of the decisions with outcomes");
  const points = curve.map(([fpr, tpr]) => `${plotX(fpr).toFixed(2)},${plotY(tpr).toFixed(2)}`).join(" ");
  svg.append(svgElement("polyline", { class: "roc", points, "data-points": String(curve.length) }));
}

function drawBands(bands) {
  const svg = $("performance-bands");
  plotFrame(svg, "Observed default rate against mean PD by grade, with 95% Jeffreys intervals");
  const rows = $("performance-band-table").querySelector("tbody");
  rows.replaceChildren();
  for (const band of bands) {
    const [low, high] = band.jeffreys_interval;
    const x = plotX(band.mean_probability);
    svg.append(svgElement("line", { class: `interval ${band.status}`, x1: String(x), x2: String(x), y1: String(plotY(low)), y2: String(plotY(high)) }));
    const dot = svgElement("circle", {
      class: `band ${band.status}`, cx: String(x), cy: String(plotY(band.observed_rate)), r: "3.5",
      "data-band": String(band.band), "data-status": band.status,
    });
    dot.append(svgElement("title", {}, `grade ${band.band}: observed ${formatPercent(band.observed_rate)}, mean PD ${formatPercent(band.mean_probability)} (${band.status})`));
    svg.append(dot);
    const row = element("tr", { "data-band": String(band.band), "data-status": band.status });
    for (const cell of [band.band, band.count, band.defaults, formatPercent(band.observed_rate), formatPercent(band.mean_probability), band.jeffreys_p.toPrecision(3), band.status]) {
      row.append(element("td", {}, String(cell)));
    }
    rows.append(row);
  }
}

function drawMonths(months) {
  const svg = $("performance-months");
  svg.replaceChildren(svgElement("title", {}, "ROC AUC by month of decision"));
  const width = 280 / Math.max(months.length, 1);
  months.forEach((month, i) => {
    const auc = month.roc_auc;
    const x = 30 + i * width;
    if (auc !== null) {
      const height = 120 * auc;
      const bar = svgElement("rect", { class: "month", x: String(x + 2), y: String(140 - height), width: String(width - 4), height: String(height), "data-month": month.month, "data-roc-auc": String(auc) });
      bar.append(svgElement("title", {}, `${month.month}: ROC AUC ${auc.toFixed(4)} over ${month.with_outcome} decisions`));
      svg.append(bar);
      svg.append(svgElement("text", { class: "axis", x: String(x + 2), y: String(136 - height) }, auc.toFixed(3)));
    }
    svg.append(svgElement("text", { class: "axis", x: String(x + 2), y: "154" }, month.month));
  });
}

async function showPerformance() {
  const status = $("performance-status");
  const errorBox = $("performance-error");
  errorBox.hidden = true;
  status.textContent = "Measuring performance…";
  const response = await fetch("/monitoring/performance");
  const body = await response.json();
  status.textContent = "";
  if (!response.ok) {
    $("performance").hidden = true;
    showProblem(errorBox, body);
    return;
  }
  status.textContent = `Model ${body.model_version}: ${body.with_outcome.toLocaleString("en")} of ${body.decisions.toLocaleString("en")} decisions have an outcome.`;
  const figures = [
    ["ROC AUC", body.roc_auc === null ? "–" : body.roc_auc.toFixed(4), "roc_auc"],
    ["Gini", body.gini === null ? "–" : body.gini.toFixed(4), "gini"],
    ["KS", body.ks === null ? "–" : body.ks.toFixed(4), "ks"],
    ["Brier", body.brier.toFixed(4), "brier"],
    ["Default rate", formatPercent(body.default_rate), "default_rate"],
    ["Expected ROC AUC (estimate)", body.estimated.roc_auc.toFixed(4), "estimated_roc_auc"],
  ];
  $("performance-summary").replaceChildren(...figures.map(([label, value, key]) => {
    const item = element("div", {});
    item.append(element("dt", {}, label), element("dd", { "data-figure": key }, value));
    return item;
  }));
  drawRoc(body.roc_curve);
  drawBands(body.bands);
  drawMonths(body.by_month);
  $("performance").hidden = false;
}

// ---- challengers -----------------------------------------------------------------------

function formatSigned(value, digits = 4) {
  return value === null ? "–" : `${value >= 0 ? "+" : ""}${value.toFixed(digits)}`;
}

function formatPValue(p) {
  if (p === null) return "–";
  return p < 0.001 ? "< 0.001" : p.toFixed(3);
}

const formatFigure = (value, digits = 4) => (value === null ? "–" : value.toFixed(digits));

function figureList(figures) {
  const list = element("dl", { class: "figures" });
  for (const [label, text, key, value, extra = {}] of figures) {
    const item = element("div", {});
    const attributes = { "data-figure": key, "data-value": value === null ? "" : String(value), ...extra };
    item.append(element("dt", {}, label), element("dd", attributes, text));
    list.append(item);
  }
  return list;
}

// Rows: the champion's decision; columns: the challenger's. Declined: predicted to default.
const SWAP_ROWS = [
  ["Champion approves", [["both_approve", "both approve"], ["swap_out", "swap out"]]],
  ["Champion declines", [["swap_in", "swap in"], ["both_decline", "both decline"]]],
];

function swapTable(comparison) {
  const rates = comparison.outcomes ? comparison.outcomes.default_rate : null;
  const table = element("table", { class: "swap-table" });
  table.append(element("caption", {}, rates
    ? "Swap set: customers by each version's decision, with the observed default rate of those with an outcome"
    : "Swap set: customers by each version's decision"));
  const head = element("tr");
  head.append(element("td"), element("th", { scope: "col" }, "Challenger approves"), element("th", { scope: "col" }, "Challenger declines"));
  table.appendChild(element("thead")).append(head);
  const body = table.appendChild(element("tbody"));
  for (const [label, cells] of SWAP_ROWS) {
    const row = body.appendChild(element("tr"));
    row.append(element("th", { scope: "row" }, label));
    for (const [cell, name] of cells) {
      const count = comparison.swap[cell];
      const td = element("td", { "data-cell": cell, "data-count": String(count) });
      td.append(element("span", { class: "count" }, count.toLocaleString("en")), element("span", { class: "cell-name" }, name));
      if (rates) {
        const rate = rates[cell];
        td.dataset.defaultRate = rate === null ? "" : String(rate);
        td.append(element("span", { class: "rate" }, rate === null ? "no outcome yet" : `${formatPercent(rate)} defaulted`));
      }
      row.append(td);
    }
  }
  return table;
}

const ROC_STYLES = [["champion", "roc-champion"], ["challenger", "roc-challenger"]];

function comparisonRoc(outcomes, label) {
  const svg = svgElement("svg", { class: "performance-plot roc-pair", viewBox: "0 0 240 262", role: "img", "aria-label": label });
  plotFrame(svg, label);
  for (const [role, style] of ROC_STYLES) {
    const curve = outcomes[role].roc_curve;
    if (curve.length === 0) continue; // one outcome only: no curve to draw
    const points = curve.map(([fpr, tpr]) => `${plotX(fpr).toFixed(2)},${plotY(tpr).toFixed(2)}`).join(" ");
    svg.append(svgElement("polyline", { class: `roc ${style}`, points, "data-version": role, "data-points": String(curve.length) }));
  }
  ROC_STYLES.forEach(([role, style], i) => {
    const y = 238 + 16 * i;
    const key = svgElement("g", { class: "legend", "data-version": role });
    key.append(svgElement("line", { class: `roc ${style}`, x1: "24", x2: "52", y1: String(y - 3), y2: String(y - 3) }));
    const auc = outcomes[role].roc_auc;
    key.append(svgElement("text", { x: "58", y: String(y) }, `${role} ${outcomes[role].model_version}, AUC ${formatFigure(auc)}`));
    svg.append(key);
  });
  return svg;
}

const VERSION_METRICS = [["ROC AUC", "roc_auc"], ["Gini", "gini"], ["KS", "ks"], ["Brier", "brier"]];

function metricTable(outcomes) {
  const table = element("table", { class: "band-table metric-table" });
  table.append(element("caption", {}, `Both versions on the ${outcomes.customers.toLocaleString("en")} customers with an outcome`));
  const head = element("tr");
  head.append(element("td"), element("th", { scope: "col" }, "champion"), element("th", { scope: "col" }, "challenger"));
  table.appendChild(element("thead")).append(head);
  const body = table.appendChild(element("tbody"));
  for (const [label, key] of VERSION_METRICS) {
    const row = body.appendChild(element("tr", { "data-metric": key }));
    row.append(element("th", { scope: "row" }, label));
    for (const role of ["champion", "challenger"]) {
      const value = outcomes[role][key];
      row.append(element("td", { "data-version": role, "data-metric": key, "data-value": value === null ? "" : String(value) }, formatFigure(value)));
    }
  }
  return table;
}

function comparisonCard(comparison, index) {
  const id = `comparison-${index}-title`;
  const card = element("article", {
    class: "comparison", "aria-labelledby": id,
    "data-champion": comparison.champion_version, "data-challenger": comparison.challenger_version,
  });
  const title = element("h2", { id });
  title.append(
    element("span", { class: "version", "data-role": "champion" }, comparison.champion_version),
    element("span", { class: "role" }, " champion, against challenger "),
    element("span", { class: "version", "data-role": "challenger" }, comparison.challenger_version),
  );
  card.append(title);
  card.append(figureList([
    ["Customers scored by both", comparison.customers.toLocaleString("en"), "customers", comparison.customers],
    ["Same decision", formatPercent(comparison.agreement), "agreement", comparison.agreement],
    ["PSI of the probabilities", `${comparison.psi.toFixed(3)} (${comparison.psi_status})`, "psi", comparison.psi,
      { "data-status": comparison.psi_status, class: `psi-text-${comparison.psi_status}` }],
    ["Spearman correlation", formatFigure(comparison.spearman, 3), "spearman", comparison.spearman],
  ]));
  const tables = card.appendChild(element("div", { class: "comparison-body" }));
  tables.appendChild(element("div", { class: "table-scroll" })).append(swapTable(comparison));
  const outcomes = comparison.outcomes;
  if (!outcomes) {
    card.append(element("p", { class: "caption no-outcomes" },
      "None of these customers has an outcome yet: the ROC curves, AUC, Gini, KS and Brier of both versions appear once outcomes are recorded (POST /outcomes)."));
    return card;
  }
  const figure = element("figure", { class: "roc-figure" });
  figure.append(comparisonRoc(outcomes, `ROC curves of ${comparison.champion_version} (champion, solid) and ${comparison.challenger_version} (challenger, dashed)`));
  figure.append(element("figcaption", {}, "ROC curves on the same customers: the champion solid, the challenger dashed."));
  tables.append(figure);
  const measured = tables.appendChild(element("div", { class: "comparison-measured" }));
  measured.appendChild(element("div", { class: "table-scroll" })).append(metricTable(outcomes));
  measured.append(figureList([
    ["ROC AUC difference (challenger − champion)", formatSigned(outcomes.roc_auc_difference), "roc_auc_difference", outcomes.roc_auc_difference],
    ["DeLong p-value (the AUCs are equal)", formatPValue(outcomes.delong_p_value), "delong_p_value", outcomes.delong_p_value],
  ]));
  return card;
}

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  let body;
  try {
    body = await response.json();
  } catch (error) {
    body = { title: `The service answered ${response.status}`, detail: "The answer was not JSON." };
  }
  return { response, body };
}

async function showComparisons() {
  const status = $("challengers-status");
  const errorBox = $("challengers-error");
  const list = $("challengers");
  errorBox.hidden = true;
  list.setAttribute("aria-busy", "true");
  status.textContent = "Comparing the champion with its challengers…";
  try {
    const { response, body } = await getJson("/monitoring/challengers");
    status.textContent = "";
    if (!response.ok) {
      list.replaceChildren();
      $("challengers-empty").hidden = true;
      showProblem(errorBox, body);
      return;
    }
    const count = body.comparisons.length;
    $("challengers-empty").hidden = count > 0;
    list.replaceChildren(...body.comparisons.map(comparisonCard));
    if (count) status.textContent = `${count} challenger${count === 1 ? "" : "s"} compared with the champion over every decision in the log.`;
  } catch (error) {
    status.textContent = "";
    showProblem(errorBox, { title: "The service did not answer", detail: String(error) });
  } finally {
    list.removeAttribute("aria-busy");
  }
}

function historyRow(entry) {
  const row = element("tr", { "data-sequence": String(entry.sequence), "data-action": entry.action, "data-hash": entry.hash });
  const time = element("td");
  time.append(element("time", { datetime: entry.at }, entry.at.slice(0, 19).replace("T", " ")));
  const hash = element("td");
  hash.append(element("code", { title: entry.hash }, entry.hash.slice(0, 12)));
  row.append(
    time,
    element("td", { class: `action-${entry.action}` }, entry.action),
    element("td", {}, entry.alias),
    element("td", {}, `${entry.from_version ?? "(not set)"} → ${entry.to_version}`),
    element("td", {}, entry.actor),
    element("td", { class: "reason" }, entry.reason),
    hash,
  );
  return row;
}

async function showHistory() {
  const status = $("history-status");
  const errorBox = $("history-error");
  const table = $("history-table");
  errorBox.hidden = true;
  status.textContent = "Reading the promotion history…";
  try {
    const { response, body } = await getJson("/models/history");
    status.textContent = "";
    if (!response.ok) {
      table.hidden = true;
      table.querySelector("tbody").replaceChildren();
      showProblem(errorBox, body);
      errorBox.dataset.problem = String(body.type || "");
      if (String(body.type).endsWith("history-tampered")) {
        errorBox.append(element("p", {}, "The history is not shown: an entry was edited, removed or cut off, and no promotion is accepted until an operator repairs it."));
      }
      return;
    }
    const entries = [...body.entries].reverse(); // newest first
    table.querySelector("tbody").replaceChildren(...entries.map(historyRow));
    table.hidden = entries.length === 0;
    status.textContent = entries.length
      ? `${entries.length} entr${entries.length === 1 ? "y" : "ies"}, chain checked; head ${body.head.slice(0, 12)}.`
      : "No promotion, approval or rollback is on record.";
  } catch (error) {
    status.textContent = "";
    showProblem(errorBox, { title: "The service did not answer", detail: String(error) });
  }
}

function showChallengers() {
  return Promise.all([showComparisons(), showHistory()]);
}

// ---- tabs -----------------------------------------------------------------------------

// What a tab loads each time it is selected, by the mouse or the keyboard alike.
const tabLoaders = {};

function selectTab(tab) {
  for (const other of document.querySelectorAll('[role="tab"]')) {
    const selected = other === tab;
    other.setAttribute("aria-selected", String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !selected;
  }
  tab.focus();
  const load = tabLoaders[tab.id];
  if (load) load();
}

function setUpTabs() {
  const tabs = [...document.querySelectorAll('[role="tab"]')];
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => selectTab(tab));
    tab.addEventListener("keydown", (event) => {
      if (event.key === "ArrowRight") selectTab(tabs[(i + 1) % tabs.length]);
      if (event.key === "ArrowLeft") selectTab(tabs[(i - 1 + tabs.length) % tabs.length]);
    });
  });
}

// ---- start -------------------------------------------------------------------------------

async function start() {
  setUpTabs();
  const status = $("form-status");
  try {
    const document_ = await (await fetch("/openapi.json")).json();
    const schemas = document_.components.schemas;
    const customer = schemas.CustomerFeatures;
    state.properties = customer.properties;
    state.fields = Object.keys(customer.properties);
    state.examples = customer["x-example-customers"] || {};
    state.batchLimit = schemas.BatchRequest.properties.customers.maxItems;
    $("batch-limit").textContent = state.batchLimit.toLocaleString("en");
    buildForm(customer.properties);
    const health = await (await fetch("/health/ready")).json();
    if (health.model_version) {
      $("report-link").href = `/models/${encodeURIComponent(health.model_version)}/report`;
    }
  } catch (error) {
    status.textContent = "The API's contract could not be loaded; reload the page.";
    return;
  }
  $("fill-low").addEventListener("click", () => fill(state.examples.low_risk));
  $("fill-high").addEventListener("click", () => fill(state.examples.high_risk));
  $("clear").addEventListener("click", () => {
    fill({});
    $("result").hidden = true;
  });
  $("customer-form").addEventListener("submit", submitCustomer);
  $("batch-form").addEventListener("submit", submitBatch);
  $("drift-refresh").addEventListener("click", showDrift);
  $("performance-refresh").addEventListener("click", showPerformance);
  $("challengers-refresh").addEventListener("click", showChallengers);
  tabLoaders["tab-monitoring"] = showDrift;
  tabLoaders["tab-performance"] = showPerformance;
  tabLoaders["tab-challengers"] = showChallengers;
  $("submit").disabled = false;
  status.textContent = `Enter a customer's ${state.fields.length} features, or fill in an example.`;
}

start();
