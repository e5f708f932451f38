// The explore page: read the form, POST /explain, draw the answer. Text goes in with
// textContent only, so nothing the user typed or the model named can become markup.
"use strict";

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function shown(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return String(Number(value.toPrecision(4)));
  return String(value);
}

function record(slot) {
  const values = {};
  for (const field of document.querySelectorAll(`[name^="${slot}:"]`)) {
    const name = field.name.slice(slot.length + 1);
    const raw = field.value;
    if (raw === "") values[name] = null;
    else if (field.dataset.type === "boolean") values[name] = raw === "true";
    else if (field.dataset.type === "string") values[name] = raw;
    // Not a number: sent as typed, so the server's answer names the field.
    else values[name] = Number.isNaN(Number(raw)) ? raw : Number(raw);
  }
  return values;
}

function table(headers, rows, id) {
  const node = element("table");
  if (id) node.id = id;
  const head = node.createTHead().insertRow();
  for (const name of headers) head.appendChild(element("th", name));
  const body = node.createTBody();
  for (const row of rows) {
    const line = body.insertRow();
    for (const value of row) {
      const cell = line.insertCell();
      if (value instanceof Node) cell.appendChild(value);
      else cell.textContent = shown(value);
    }
  }
  return node;
}

function bar(value, largest) {
  const node = element("span", shown(value), value < 0 ? "bar negative" : "bar");
  node.style.width = `${Math.round((16 * Math.abs(value)) / (largest || 1)) + 4}ch`;
  return node;
}

function columns(count) {
  return count === 2 ? ["record A", "record B", "B - A"] : ["record A"];
}

function withDifference(values) {
  if (values.length !== 2) return values;
  const [a, b] = values;
  return [a, b, typeof a === "number" && typeof b === "number" ? b - a : a === b ? "" : "differs"];
}

function block(result, title, ...nodes) {
  const node = element("div", null, "block");
  node.appendChild(element("h3", title));
  for (const child of nodes) node.appendChild(child);
  result.appendChild(node);
}

function draw(answer) {
  const result = document.getElementById("result");
  result.replaceChildren();
  const count = answer.predictions.length;
  const prediction = answer.predictions.map((p) => ("label" in p ? p.label : p.value));
  const rows = [["prediction", ...withDifference(prediction)]];
  if ("probabilities" in answer.predictions[0]) {
    for (const label of Object.keys(answer.predictions[0].probabilities)) {
      rows.push([`probability of ${label}`, ...withDifference(answer.predictions.map((p) => p.probabilities[label]))]);
    }
  }
  block(result, "Prediction", table(["", ...columns(count)], rows, "prediction"));
  for (const step of answer.steps) {
    const lines = step.features.map((name, index) => [name, ...withDifference(step.values.map((row) => row[index]))]);
    const node = table(["column", ...columns(count)], lines);
    node.className = "step";
    node.dataset.step = step.name;
    block(result, `Step "${step.name}" (${step.estimator}): its output`, node);
  }
  const explained = answer.contributions;
  const method = element("p", explained.method, "method");
  if (explained.values === null) {
    block(result, "Why: per-feature contributions", method);
    return;
  }
  const largest = Math.max(...explained.values.flat().map(Math.abs));
  const order = explained.features.map((_, index) => index);
  order.sort((i, j) => Math.abs(explained.values[0][j]) - Math.abs(explained.values[0][i]));
  const lines = order.map((index) => [explained.features[index], ...explained.values.map((row) => bar(row[index], largest))]);
  lines.push(["base", ...explained.base]);
  lines.push(["= sum", ...explained.values.map((row, i) => row.reduce((s, v) => s + v, explained.base[i]))]);
  lines.push(["explains", ...explained.explains]);
  const contributions = table(["feature", ...columns(count).slice(0, count)], lines, "contributions");
  block(result, "Why: per-feature contributions", method, contributions);
}

function fail(answer, status) {
  const box = document.getElementById("error");
  const error = (answer && answer.error) || { message: `HTTP ${status}`, details: [] };
  box.appendChild(element("p", error.message));
  const list = element("ul");
  for (const detail of error.details || []) {
    const record = detail.row === 1 ? "record B" : "record A";
    list.appendChild(element("li", `${record}, ${detail.field ?? "record"}: ${detail.message}`));
  }
  box.appendChild(list);
}

async function explain(slots) {
  document.getElementById("error").replaceChildren();
  document.getElementById("result").replaceChildren(element("p", "working..."));
  const response = await fetch("/explain", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ instances: slots.map(record) }),
  });
  const answer = await response.json().catch(() => null);
  if (response.ok) draw(answer);
  else {
    document.getElementById("result").replaceChildren();
    fail(answer, response.status);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("records").addEventListener("submit", (event) => {
    event.preventDefault();
    explain(["a"]);
  });
  document.getElementById("compare").addEventListener("click", () => explain(["a", "b"]));
});
