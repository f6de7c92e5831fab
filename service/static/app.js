// The analyst page: sends each dropped image to POST /v1/analyze and draws the report.
// Report text is always inserted with textContent (never innerHTML): metadata and
// manifests are attacker-controlled.
"use strict";

const keyInput = document.getElementById("api-key");
const policySelect = document.getElementById("policy");
const dropZone = document.getElementById("drop-zone");
const fileInput = document.getElementById("file-input");
const statusLine = document.getElementById("status");
const results = document.getElementById("results");
const template = document.getElementById("result-template");
const LEVEL_COLORS = { low: "#2e7d32", medium: "#ef6c00", high: "#c62828" };
const PARALLEL = 4;

let cards = [];  // every card on the page, in order: a policy change re-runs them

keyInput.value = sessionStorage.getItem("synthcheck-key") || "";
keyInput.addEventListener("change", () => sessionStorage.setItem("synthcheck-key", keyInput.value));
keyInput.addEventListener("input", () => keyInput.removeAttribute("aria-invalid"));
// A card shows the policy that produced it; a change of policy re-runs every card, so the
// page never mixes verdicts made under different policies.
policySelect.addEventListener("change", () => {
  if (!cards.length) return;
  if (!keyInput.value) {
    statusLine.textContent = `Enter an API key to re-run the cards under the ${policySelect.value} policy.`;
    return;
  }
  const fresh = cards.map((old) => {
    old.replaced = true;  // a request still running for it is not drawn
    const card = newCard(old.file, policySelect.value);
    old.root.replaceWith(card.root);
    return card;
  });
  cards = fresh;
  analyseCards(fresh);
});

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

async function analyzeFile(file, policy) {
  const body = new FormData();
  body.append("file", file, file.name);
  const url = `/v1/analyze?policy=${encodeURIComponent(policy)}&thumbnails=true`;
  const response = await fetch(url, { method: "POST", body, headers: { "X-API-Key": keyInput.value } });
  let payload = null;
  try { payload = await response.json(); } catch (e) { /* not JSON: handled below */ }
  if (response.ok) return { report: payload };
  const error = (payload && payload.error) || { code: `http_${response.status}`, message: response.statusText };
  return { report: payload && payload.report, error, status: response.status };
}

async function handleFiles(fileList) {
  const files = Array.from(fileList);
  if (!files.length) return;
  if (!keyInput.value) {
    statusLine.textContent = "Enter an API key first.";
    keyInput.focus();
    return;
  }
  // Cards keep the upload order (the first file dropped is the first card).
  const batch = files.map((file) => { const card = newCard(file, policySelect.value); results.append(card.root);
    return card; });
  cards.push(...batch);
  await analyseCards(batch);
}

async function analyseCards(batch) {
  statusLine.textContent = `Analysing ${batch.length} ${batch.length === 1 ? "file" : "files"}…`;
  let next = 0, done = 0, analysed = 0, refused = 0;
  async function worker() {
    while (next < batch.length) {
      const card = batch[next++];
      if (card.replaced) continue;
      let outcome;
      try { outcome = await analyzeFile(card.file, card.policy); }
      catch (e) { outcome = { error: { code: "network_error", message: String(e) } }; }
      if (card.replaced) continue;
      render(card, outcome);
      done++;
      if (outcome.report && outcome.report.risk) analysed++;
      if (outcome.status === 401) refused++;
      const counts = `${done} of ${batch.length} done: ${analysed} analysed, ${done - analysed} could not be.`;
      statusLine.textContent = refused ? `The API key was refused: check the API key field. ${counts}` : counts;
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, batch.length) }, worker));
}

function newCard(file, policy) {
  const root = template.content.firstElementChild.cloneNode(true);
  const card = { root, file, policy, q: (sel) => root.querySelector(sel) };
  card.q(".file-name").textContent = file.name;
  card.q(".card-policy").textContent = `policy: ${policy}`;
  root.dataset.policy = policy;
  card.q(".level-badge").textContent = "analysing…";
  return card;
}

// Only what the report computed is shown: an error card has the error and nothing else
// (no empty gauge, no "Evidence" heading, no "no manifest" line for a file never read).
function render(card, { report, error, status }) {
  const badge = card.q(".level-badge");
  if (error) {
    const box = card.q(".error-box");
    box.hidden = false;
    // The API's own 401 message tells a program to send the X-API-Key header; on this page
    // the analyst can only fix the key field.
    const message = status === 401 ? "The API key was refused: check the API key field at the top of the page."
      : error.message;
    box.textContent = `${message} (${error.code}${status ? `, HTTP ${status}` : ""})`;
    if (status === 401) keyInput.setAttribute("aria-invalid", "true");
  }
  if (!report || !report.risk) {
    badge.textContent = "error";
    badge.className = "level-badge level-error";
    card.root.dataset.level = "error";
    return;
  }
  const risk = report.risk;
  badge.textContent = risk.level;
  badge.className = `level-badge level-${risk.level}`;
  card.root.dataset.level = risk.level;
  card.q(".gauge-row").hidden = false;
  drawGauge(card, risk);
  card.q(".summary").textContent = risk.summary;
  card.q(".evidence-section").hidden = false;
  renderEvidence(card, report.evidence || []);
  if (report.provenance) {
    card.q(".c2pa-section").hidden = false;
    renderC2pa(card, report.provenance);
  }
  if (report.metadata) {
    card.q(".metadata-details").hidden = false;
    renderMetadata(card, report);
  }
  if (!report.width) return;  // pixels never decoded: no preview to show
  const img = card.q(".preview");
  img.addEventListener("error", () => { card.q(".visual").hidden = true; });  // the browser cannot show it
  img.addEventListener("load", () => { card.q(".visual").hidden = false; drawHeatmap(card, report);
    drawFaces(card, report); });
  img.src = URL.createObjectURL(card.file);
}

// Never round a probability to certainty: 0.9961 is "> 99%", not "100%".
function percent(p) {
  if (p >= 1) return "100%";
  if (p <= 0) return "0%";
  if (p >= 0.995) return "> 99%";
  if (p < 0.005) return "< 1%";
  return `${Math.round(p * 100)}%`;
}

function drawGauge(card, risk) {
  const fill = card.q(".gauge-fill");
  const length = fill.getTotalLength();
  fill.style.strokeDasharray = `${length}`;
  fill.style.strokeDashoffset = `${length * (1 - risk.score)}`;
  fill.style.stroke = LEVEL_COLORS[risk.level];
  card.q(".gauge-score").textContent = percent(risk.score);
  card.q(".gauge").setAttribute("aria-label", `risk ${percent(risk.score)}, level ${risk.level}`);
}

function renderEvidence(card, evidence) {
  const list = card.q(".evidence");
  list.replaceChildren();
  const sorted = [...evidence].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight));
  for (const item of sorted) {
    const li = el("li");
    const side = item.weight > 0 ? "for" : item.weight < 0 ? "against" : "neutral";
    li.append(el("span", (item.weight > 0 ? "+" : "") + item.weight.toFixed(1), `weight ${side}`),
              el("span", item.source, "source"), el("span", item.message, "message"));
    li.title = item.code;
    list.append(li);
  }
}

function renderC2pa(card, prov) {
  const box = card.q(".c2pa");
  box.replaceChildren();
  if (prov.state === "none") {
    box.append(el("p", "No C2PA manifest in this file (an outcome, not an error: most images have none)."));
    return;
  }
  const t = prov.trust || {};
  const tier = { c2pa: "on the official C2PA Trust List", user: "trusted through your own trust anchors",
                 interim: "on the frozen interim trust list (not the official C2PA list: counts for less)" }[t.list];
  const trust = { trusted: `signature valid, signer ${tier || "trusted"}`,
                  valid: "signature valid, but the signer is on none of the trust lists in use",
                  invalid: "fails validation", unreadable: "present but unreadable" }[prov.state] || prov.state;
  const product = prov.conforming_product;
  const ts = prov.timestamp;
  const own = (prov.signals || []).filter((s) => s.own).map((s) => s.text);
  const theirs = (prov.signals || []).filter((s) => !s.own).map((s) => `${s.text} (${s.signer || "unknown signer"})`);
  const rows = [
    ["State", trust],
    ["Signer", [prov.issuer, prov.common_name].filter(Boolean).join(" — ") || "unknown"],
    ["Trust list", t.list ? [t.list_name, t.list_version, t.entity && `through ${t.entity}`].filter(Boolean).join(", ")
      : `checked: ${(t.lists_checked_names || []).join(", ") || "none in use"}`],
    ["Conforming product", product && (product.established
      ? `${product.product} (${product.organization}), assurance level ${product.assurance_level}`
      : `name matches ${product.product} (${product.organization}), not established: not signed through the C2PA Trust List`)],
    ["Signed", prov.signing_time],
    ["Time-stamp", ts && [ts.time, ts.authority && `by ${ts.authority}`,
      ts.trusted === true ? "trusted" : ts.trusted === false ? "not trusted" : null,
      ts.issuer_on_tsa_list ? "issuer on the C2PA TSA Trust List" : null].filter(Boolean).join(", ")],
    ["Generator", prov.claim_generator],
    ["C2PA signals", [...new Set(own)].join("; ")],
    ["Ingredients' signals", [...new Set(theirs)].join("; ")],
    ["Source types", (prov.digital_source_types || []).join(", ")],
    ["Remote manifest", prov.remote_manifest_url],
  ];
  const dl = el("dl");
  for (const [name, value] of rows) {
    if (!value) continue;
    dl.append(el("dt", name), el("dd", value));
  }
  if ((prov.actions || []).length) {
    const ul = el("ul");
    for (const a of prov.actions) {
      ul.append(el("li", [a.action, a.software_agent, a.digital_source_type].filter(Boolean).join(" · ")));
    }
    dl.append(el("dt", "Actions"), wrap("dd", ul));
  }
  if ((prov.ingredients || []).length) dl.append(el("dt", "Ingredients"), wrap("dd", ingredientList(prov.ingredients)));
  if ((prov.failures || []).length) {
    const ul = el("ul");
    for (const f of prov.failures) ul.append(el("li", `${f.code}: ${f.message}`));
    dl.append(el("dt", "Failures"), wrap("dd", ul));
  }
  box.append(dl);
  const thumb = prov.thumbnail;
  if (thumb && thumb.data_base64) {
    const img = el("img", null, "thumb");
    img.alt = "thumbnail stored in the manifest";
    img.src = `data:${thumb.format || "image/jpeg"};base64,${thumb.data_base64}`;
    box.append(el("p", "Manifest thumbnail (what the signer saw):"), img);
  }
}

function ingredientList(ingredients) {  // the report flattens the tree; depth indents
  const ul = el("ul");
  for (const ing of ingredients) {
    const indent = "↳ ".repeat(ing.depth || 0);
    const li = el("li", indent + [ing.title, ing.format, ing.relationship, ing.claim_generator].filter(Boolean).join(" · "));
    const thumb = ing.thumbnail;
    if (thumb && thumb.data_base64) {  // what the signer saw of this ingredient
      const img = el("img", null, "thumb ingredient-thumb");
      img.alt = `thumbnail of ingredient ${ing.title || ""}`;
      img.src = `data:${thumb.format || "image/jpeg"};base64,${thumb.data_base64}`;
      li.append(img);
    }
    ul.append(li);
  }
  return ul;
}

function wrap(tag, child) { const node = el(tag); node.append(child); return node; }

function renderMetadata(card, report) {
  const body = card.q(".metadata tbody");
  body.replaceChildren();
  const rows = [["format", report.media_type], ["size", report.width ? `${report.width} × ${report.height}` : null],
                ["bytes", report.size_bytes], ["sha256", report.sha256]];
  for (const [section, values] of Object.entries(report.metadata || {})) {
    if (values && typeof values === "object" && !Array.isArray(values)) {
      for (const [k, v] of Object.entries(values)) rows.push([`${section}.${k}`, typeof v === "object" ? JSON.stringify(v) : v]);
    } else if (values !== null && values !== undefined) {
      rows.push([section, typeof values === "object" ? JSON.stringify(values) : values]);
    }
  }
  for (const [k, v] of rows) {
    if (v === null || v === undefined || v === "") continue;
    const tr = el("tr");
    tr.append(el("td", k), el("td", v));
    body.append(tr);
  }
}

// Off by default (the photo is what the analyst looks at first). The classifier scores crops
// (report.classifier.crops, in the image's pixels), not the whole image: the heatmap is drawn
// over those crops only, each outlined and tinted red in proportion to how far its score is
// above 0.5 (a crop the classifier finds nothing in stays clear); the rest of the image was
// not scored and is never tinted.
function drawHeatmap(card, report) {
  const classifier = report.classifier;
  const canvas = card.q(".heatmap");
  const outlines = card.q(".scored-crops");
  const note = card.q(".heatmap-note");
  const toggle = card.q(".heatmap-toggle");
  outlines.replaceChildren();
  const crops = (classifier && classifier.crops) || [];
  if (!crops.length) {
    canvas.hidden = true;
    outlines.hidden = true;
    toggle.hidden = true;
    note.textContent = "No classifier result for this image.";
    return;
  }
  const img = card.q(".preview");
  const scores = (classifier.regions || []).flat();
  canvas.width = img.naturalWidth || report.width;
  canvas.height = img.naturalHeight || report.height;
  const sx = canvas.width / report.width, sy = canvas.height / report.height;
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  let tinted = 0;
  crops.forEach(([x, y, w, h], i) => {
    const outline = el("div", null, "scored-crop");
    outline.style.left = `${(100 * x) / report.width}%`;
    outline.style.top = `${(100 * y) / report.height}%`;
    outline.style.width = `${(100 * w) / report.width}%`;
    outline.style.height = `${(100 * h) / report.height}%`;
    outline.dataset.box = [x, y, w, h].join(",");
    outline.title = `scored crop at (${x}, ${y}, ${w}, ${h}): ${percent(scores[i])} generated`;
    outlines.append(outline);
    const alpha = 0.6 * Math.max(0, scores[i] - 0.5) * 2;
    if (!(alpha > 0)) return;
    ctx.fillStyle = `rgba(198, 40, 40, ${alpha.toFixed(3)})`;
    ctx.fillRect(x * sx, y * sy, w * sx, h * sy);
    tinted++;
  });
  canvas.dataset.cells = String(crops.length);
  canvas.dataset.tinted = String(tinted);
  toggle.hidden = false;
  const box = toggle.querySelector("input");
  const show = () => { canvas.hidden = !box.checked; outlines.hidden = !box.checked; };
  show();
  box.addEventListener("change", show);
  const scored = (report.evidence || []).find((e) => e.code === "classifier_score");
  const what = scored && scored.details && scored.details.scored;
  note.textContent = `${classifier.model} ${classifier.version}: p(generated) = ${percent(classifier.p_generated)}` +
    (what ? ` for ${what}` : "") + `. With the heatmap on, the scored ${crops.length === 1 ? "crop is" : "crops are"} ` +
    `outlined and tinted red above 50% (the redder, the more suspicious); ` +
    (classifier.global_view
      ? `the rest of the image was seen only at low resolution, in the whole image shrunk to ` +
        `${classifier.global_view[0]}x${classifier.global_view[1]}, which has no place on the map.`
      : `the rest of the image was not scored by the classifier.`);
}

// Each face the faces check found, boxed where it is, labelled with its score (red from
// 50% up). Boxes are placed in percent of the image, so they follow the preview's size.
function drawFaces(card, report) {
  const layer = card.q(".face-boxes");
  const note = card.q(".faces-note");
  layer.replaceChildren();
  const faces = report.faces;
  if (!faces) { note.textContent = "Faces were not checked."; return; }
  if (!faces.length) { note.textContent = "No face found."; return; }
  for (const face of faces) {
    const [x, y, w, h] = face.box;
    const box = el("div");
    box.className = "face-box" + (face.p_generated !== null && face.p_generated >= 0.5 ? " suspicious" : "");
    box.style.left = `${(100 * x) / report.width}%`;
    box.style.top = `${(100 * y) / report.height}%`;
    box.style.width = `${(100 * w) / report.width}%`;
    box.style.height = `${(100 * h) / report.height}%`;
    box.dataset.box = face.box.join(",");
    const label = face.p_generated === null ? "not scored" : `${percent(face.p_generated)} generated`;
    box.title = `face at (${face.box.join(", ")}): ${label}`;
    box.append(el("span", label));
    layer.append(box);
  }
  placeFaceLabels(layer);
  // The boxes follow the preview's size; the labels are placed again when it changes.
  if (!layer.dataset.observed && window.ResizeObserver) {
    new ResizeObserver(() => placeFaceLabels(layer)).observe(layer);
    layer.dataset.observed = "1";
  }
  const scored = faces.filter((f) => f.p_generated !== null);
  note.textContent = `${faces.length} face${faces.length === 1 ? "" : "s"} found` +
    (scored.length ? `; highest score ${percent(Math.max(...scored.map((f) => f.p_generated)))} generated.` : ".");
}

// Faces side by side would have their labels drawn over each other ("> 99% 97% generated"):
// each label, largest face first, takes the first place that no label placed before it
// covers: above its box, below it, then one label's height further out each time.
function placeFaceLabels(layer) {
  const placed = [];
  for (const label of layer.querySelectorAll(".face-box span")) {
    const height = label.getBoundingClientRect().height;
    for (let k = 0; k < 8; k++) {
      for (const [side, other] of [["bottom", "top"], ["top", "bottom"]]) {
        label.style[other] = "auto";
        label.style[side] = `calc(100% + ${k * height}px)`;
        const r = label.getBoundingClientRect();
        if (!placed.some((p) => r.left < p.right && p.left < r.right && r.top < p.bottom && p.top < r.bottom)) {
          k = 8;
          break;
        }
      }
    }
    placed.push(label.getBoundingClientRect());
  }
}

dropZone.addEventListener("dragover", (e) => { e.preventDefault(); dropZone.classList.add("over"); });
dropZone.addEventListener("dragleave", () => dropZone.classList.remove("over"));
dropZone.addEventListener("drop", (e) => {
  e.preventDefault();
  dropZone.classList.remove("over");
  handleFiles(e.dataTransfer.files);
});
fileInput.addEventListener("change", () => { handleFiles(fileInput.files); fileInput.value = ""; });
