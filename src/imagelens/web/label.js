// The Label and train page: a dataset of uploaded images with boxes (or one label per image) kept as a COCO file in
// the server's data folder, registered with Azure's dataset route, then training, progress and evaluation.

import { $, V_PREVIEW, api, el, guarded, setStatus, showError, svgEl } from "./common.js";

const state = { name: null, kind: "imageObjectDetection", coco: null, current: null, urls: new Map(), poll: null };
const studio = (name) => `/studio/api/datasets/${encodeURIComponent(name)}`;
const MODEL_KIND = { imageObjectDetection: "Generic-Detector", imageClassification: "Generic-Classifier" };

export function initLabel() {
  $("dataset-form").addEventListener("submit", (e) => { e.preventDefault(); openDataset($("dataset-name").value.trim()); });
  $("label-files").addEventListener("change", (e) => upload([...e.target.files]));
  $("coco-import").addEventListener("change", (e) => { if (e.target.files[0]) importCoco(e.target.files[0]); });
  $("coco-export").addEventListener("click", exportCoco);
  $("dataset-save").addEventListener("click", save);
  $("box-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const box = ["box-x", "box-y", "box-w", "box-h"].map((id) => Number($(id).value));
    if (box.some((v) => !Number.isFinite(v)) || box[2] <= 0 || box[3] <= 0) { showError("Enter x, y, w and h (w and h above 0)."); return; }
    addBox(box);
  });
  $("assign-label").addEventListener("click", assignLabel);
  wireDrawing();
  $("train-form").addEventListener("submit", (e) => { e.preventDefault(); train(); });
  $("eval-form").addEventListener("submit", (e) => { e.preventDefault(); evaluate(); });
  $("suggest-form").addEventListener("submit", (e) => { e.preventDefault(); suggest(); });
}

export async function showLabel(info) {
  if (!info.dataDir) {
    showError("Labelling needs a data folder on the server: start it with IMAGELENS_DATA_DIR=/some/folder.");
    return;
  }
  await guarded(async () => {
    const sets = await api(`/computervision/datasets?api-version=${V_PREVIEW}`);
    $("dataset-names").replaceChildren(...sets.map((d) => el("option", { value: d.name })));
  });
}

async function registeredDataset(name) {
  const sets = await api(`/computervision/datasets?api-version=${V_PREVIEW}`);
  return sets.find((d) => d.name === name) || null;
}

async function openDataset(name) {
  if (!name) { showError("Enter a dataset name."); return; }
  await guarded(async () => {
    const registered = await registeredDataset(name);
    if (registered) $("dataset-kind").value = registered.annotationKind;
    state.name = name;
    state.kind = $("dataset-kind").value;
    state.coco = await api(`${studio(name)}/coco`);
    state.current = null;
    state.urls.clear();
    $("label-area").hidden = false;
    $("box-form").hidden = state.kind !== "imageObjectDetection";
    $("assign-label").hidden = state.kind === "imageObjectDetection";
    $("label-stage").hidden = true;
    renderImages();
    renderBoxes();
    setStatus(`Dataset '${name}': ${state.coco.images.length} image(s).`);
  }, "Opening the dataset…");
}

function safeName(name) {
  const dot = name.lastIndexOf(".");
  const stem = (dot > 0 ? name.slice(0, dot) : name).replace(/[^A-Za-z0-9._-]/g, "_").replace(/^[._-]+/, "") || "image";
  const ext = (dot > 0 ? name.slice(dot) : ".png").toLowerCase();
  return `${stem.slice(0, 100)}${ext}`;
}

async function upload(files) {
  if (!state.coco) { showError("Open a dataset first."); return; }
  await guarded(async () => {
    for (const [i, file] of files.entries()) {
      setStatus(`Uploading ${file.name} (${i + 1} of ${files.length})…`);
      const name = safeName(file.name);
      const saved = await api(`${studio(state.name)}/images/${encodeURIComponent(name)}`, { method: "PUT", body: file });
      const existing = state.coco.images.find((im) => im.file_name === saved.file_name);
      if (existing) Object.assign(existing, { width: saved.width, height: saved.height });
      else {
        const id = Math.max(0, ...state.coco.images.map((im) => im.id)) + 1;
        state.coco.images.push({ id, file_name: saved.file_name, width: saved.width, height: saved.height });
      }
      state.urls.set(saved.file_name, URL.createObjectURL(file));
    }
    renderImages();
    const last = state.coco.images[state.coco.images.length - 1];
    if (last) await select(last.id);
    setStatus(`Uploaded ${files.length} image(s). Draw boxes, then save.`);
  });
}

function annotationsOf(imageId) {
  return state.coco.annotations.filter((a) => a.image_id === imageId);
}

function renderImages() {
  const list = $("label-images");
  list.replaceChildren();
  for (const im of state.coco.images) {
    const count = annotationsOf(im.id).length;
    const button = el("button", { type: "button", "data-image": String(im.id), "aria-pressed": String(state.current === im.id),
      onclick: () => select(im.id), text: `${im.file_name.replace(/^images\//, "")} (${count} label${count === 1 ? "" : "s"})` });
    list.append(el("li", {}, button));
  }
}

async function imageUrl(im) {
  if (!state.urls.has(im.file_name)) {
    const blob = await api(`${studio(state.name)}/images/${encodeURIComponent(im.file_name.replace(/^images\//, ""))}`, { binary: true });
    state.urls.set(im.file_name, URL.createObjectURL(blob));
  }
  return state.urls.get(im.file_name);
}

async function select(imageId) {
  state.current = imageId;
  const im = state.coco.images.find((x) => x.id === imageId);
  await guarded(async () => {
    $("label-image").src = await imageUrl(im);
    $("label-image").alt = `The image being labelled: ${im.file_name}`;
    $("label-stage").hidden = false;
    renderImages();
    renderBoxes();
  });
}

function category(name) {
  let cat = state.coco.categories.find((c) => c.name === name);
  if (!cat) {
    cat = { id: Math.max(0, ...state.coco.categories.map((c) => c.id)) + 1, name };
    state.coco.categories.push(cat);
  }
  return cat;
}

function nextAnnotationId() {
  return Math.max(0, ...state.coco.annotations.map((a) => a.id)) + 1;
}

function currentLabel() {
  const label = $("current-label").value.trim();
  if (!label) showError("Enter a label first.");
  return label;
}

function addBox(box) {
  if (state.current === null) { showError("Choose an image first."); return; }
  const label = currentLabel();
  if (!label) return;
  const im = state.coco.images.find((x) => x.id === state.current);
  const [x, y] = [Math.max(0, box[0]), Math.max(0, box[1])];
  const w = Math.min(im.width - x, box[2]);
  const h = Math.min(im.height - y, box[3]);
  if (w < 1 || h < 1) { showError("The box lies outside the image."); return; }
  const rounded = [x, y, w, h].map((v) => Math.round(v * 10) / 10);
  state.coco.annotations.push({ id: nextAnnotationId(), image_id: state.current, category_id: category(label).id, bbox: rounded, area: rounded[2] * rounded[3], iscrowd: 0 });
  renderImages();
  renderBoxes();
  setStatus(`Added a '${label}' box. Save the dataset to keep it.`);
}

function assignLabel() {
  if (state.current === null) { showError("Choose an image first."); return; }
  const label = currentLabel();
  if (!label) return;
  state.coco.annotations = state.coco.annotations.filter((a) => a.image_id !== state.current);
  state.coco.annotations.push({ id: nextAnnotationId(), image_id: state.current, category_id: category(label).id });
  renderImages();
  renderBoxes();
}

function renderBoxes() {
  const list = $("label-boxes");
  const svg = $("label-overlay");
  list.replaceChildren();
  svg.replaceChildren();
  if (state.current === null) return;
  const im = state.coco.images.find((x) => x.id === state.current);
  svg.setAttribute("viewBox", `0 0 ${im.width} ${im.height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const names = Object.fromEntries(state.coco.categories.map((c) => [c.id, c.name]));
  for (const a of annotationsOf(state.current)) {
    const name = names[a.category_id];
    let text = `${name}`;
    if (a.bbox) {
      const [x, y, w, h] = a.bbox;
      const rect = svgEl("rect", { x, y, width: w, height: h, class: "shape label-box", "data-annotation": a.id });
      rect.append(Object.assign(svgEl("title"), { textContent: `${name}: drag to move` }));
      svg.append(rect);
      const r = Math.max(im.width, im.height) / 80;
      for (const [corner, cx, cy] of [["nw", x, y], ["ne", x + w, y], ["sw", x, y + h], ["se", x + w, y + h]]) {
        svg.append(svgEl("rect", { x: cx - r, y: cy - r, width: 2 * r, height: 2 * r, class: "handle", "data-corner": corner, "data-annotation": a.id }));
      }
      text = `${name}: x ${x}, y ${y}, w ${w}, h ${h}`;
    }
    const remove = el("button", { type: "button", "aria-label": `Delete ${text}`, text: "Delete",
      onclick: () => { state.coco.annotations = state.coco.annotations.filter((b) => b.id !== a.id); renderImages(); renderBoxes(); } });
    list.append(el("li", { "data-annotation": String(a.id) }, el("span", { text }), " ", remove));
  }
}

function wireDrawing() {
  const svg = $("label-overlay");
  let start = null;
  let ghost = null;
  const point = (e) => {
    const r = svg.getBoundingClientRect();
    const vb = svg.viewBox.baseVal;
    return [((e.clientX - r.left) / r.width) * vb.width, ((e.clientY - r.top) / r.height) * vb.height];
  };
  let drag = null; // moving a box by its body or resizing it by a corner handle
  svg.addEventListener("pointerdown", (e) => {
    if (state.kind !== "imageObjectDetection" || state.current === null) return;
    const id = e.target.dataset ? Number(e.target.dataset.annotation) : NaN;
    const annotation = state.coco.annotations.find((a) => a.id === id && a.bbox);
    if (annotation) {
      drag = { annotation, corner: e.target.dataset.corner || null, from: point(e), bbox: [...annotation.bbox] };
      svg.setPointerCapture(e.pointerId);
      return;
    }
    start = point(e);
    ghost = svgEl("rect", { class: "shape ghost", x: start[0], y: start[1], width: 0, height: 0 });
    svg.append(ghost);
    svg.setPointerCapture(e.pointerId);
  });
  svg.addEventListener("pointermove", (e) => {
    if (drag) {
      drag.annotation.bbox = dragged(drag, point(e));
      const [x, y, w, h] = drag.annotation.bbox;
      const rect = svg.querySelector(`rect.label-box[data-annotation="${drag.annotation.id}"]`);
      for (const [k, v] of Object.entries({ x, y, width: w, height: h })) rect.setAttribute(k, v);
      return;
    }
    if (!start) return;
    const [x, y] = point(e);
    ghost.setAttribute("x", Math.min(x, start[0]));
    ghost.setAttribute("y", Math.min(y, start[1]));
    ghost.setAttribute("width", Math.abs(x - start[0]));
    ghost.setAttribute("height", Math.abs(y - start[1]));
  });
  svg.addEventListener("pointerup", (e) => {
    if (drag) {
      const { annotation } = drag;
      annotation.bbox = dragged(drag, point(e)).map((v) => Math.round(v * 10) / 10);
      annotation.area = annotation.bbox[2] * annotation.bbox[3];
      drag = null;
      renderBoxes();
      setStatus("Moved the box. Save the dataset to keep it.");
      return;
    }
    if (!start) return;
    const [x, y] = point(e);
    const box = [Math.min(x, start[0]), Math.min(y, start[1]), Math.abs(x - start[0]), Math.abs(y - start[1])];
    start = null;
    ghost.remove();
    if (box[2] >= 2 && box[3] >= 2) addBox(box);
  });
}

/** The box of a drag: moved by the pointer's offset, or one corner following the pointer; kept inside the image. */
function dragged(drag, [px, py]) {
  const im = state.coco.images.find((x) => x.id === state.current);
  const [x, y, w, h] = drag.bbox;
  const [dx, dy] = [px - drag.from[0], py - drag.from[1]];
  if (!drag.corner) {
    return [Math.min(Math.max(0, x + dx), im.width - w), Math.min(Math.max(0, y + dy), im.height - h), w, h];
  }
  let [x0, y0, x1, y1] = [x, y, x + w, y + h];
  if (drag.corner.includes("w")) x0 = x + dx; else x1 = x + w + dx;
  if (drag.corner.includes("n")) y0 = y + dy; else y1 = y + h + dy;
  [x0, x1] = [Math.max(0, Math.min(x0, x1)), Math.min(im.width, Math.max(x0, x1))];
  [y0, y1] = [Math.max(0, Math.min(y0, y1)), Math.min(im.height, Math.max(y0, y1))];
  return [x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0)];
}

async function save() {
  if (!state.coco) { showError("Open a dataset first."); return; }
  await guarded(async () => {
    const saved = await api(`${studio(state.name)}/coco`, { method: "PUT", body: state.coco });
    const path = `/computervision/datasets/${encodeURIComponent(state.name)}?api-version=${V_PREVIEW}`;
    if (await registeredDataset(state.name)) {
      await api(path, { method: "PATCH", body: { annotationFileUris: [saved.annotationFileUri] } });
    } else {
      await api(path, { method: "PUT", body: { annotationKind: state.kind, annotationFileUris: [saved.annotationFileUri] } });
    }
    await showLabel({ dataDir: true });
    setStatus(`Saved '${state.name}': ${state.coco.images.length} image(s), ${state.coco.annotations.length} label(s).`);
  }, "Saving…");
}

function exportCoco() {
  if (!state.coco) { showError("Open a dataset first."); return; }
  const blob = new Blob([JSON.stringify(state.coco, null, 2)], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob), download: `${state.name}.coco.json` });
  document.body.append(link);
  link.click();
  link.remove();
}

async function importCoco(file) {
  if (!state.coco) { showError("Open a dataset first."); return; }
  await guarded(async () => {
    let coco;
    try { coco = JSON.parse(await file.text()); } catch (_) { throw new Error(`'${file.name}' is not valid JSON.`); }
    await api(`${studio(state.name)}/coco`, { method: "PUT", body: coco });
    state.coco = await api(`${studio(state.name)}/coco`);
    renderImages();
    renderBoxes();
    setStatus(`Imported ${state.coco.images.length} image(s) and ${state.coco.annotations.length} label(s) from ${file.name}. Save to register them.`);
  }, "Importing…");
}

async function train() {
  if (!state.name) { showError("Open and save a dataset first."); return; }
  const model = $("model-name").value.trim();
  const minutes = Number($("budget").value);
  await guarded(async () => {
    await api(`/computervision/models/${encodeURIComponent(model)}?api-version=${V_PREVIEW}`, { method: "PUT",
      body: { trainingParameters: { trainingDatasetName: state.name, timeBudgetInMinutes: minutes, modelKind: MODEL_KIND[state.kind] } } });
    watch(model);
  }, "Starting the training…");
}

function watch(model) {
  clearInterval(state.poll);
  const bar = $("train-progress");
  bar.hidden = false;
  bar.removeAttribute("value");
  const tick = async () => {
    let detail;
    try { detail = await api(`/studio/api/models/${encodeURIComponent(model)}`); } catch (err) {
      clearInterval(state.poll);
      showError(err.message);
      return;
    }
    const done = ["succeeded", "failed", "cancelled"].includes(detail.status);
    const p = done ? {} : detail.progress || {};
    const parts = [p.stage, p.epoch != null ? `epoch ${p.epoch}${p.epochs ? ` of ${p.epochs}` : ""}` : null,
      p.done != null && p.total ? `${p.done} of ${p.total}` : null, p.loss != null ? `loss ${Number(p.loss).toFixed(3)}` : null].filter(Boolean);
    $("train-status").textContent = `Model '${model}': ${detail.status}${parts.length ? ` (${parts.join(", ")})` : ""}, ${detail.trainingSeconds} s.`;
    $("train-status").dataset.status = detail.status;
    if (p.done != null && p.total) { bar.max = p.total; bar.value = p.done; }
    if (done) {
      clearInterval(state.poll);
      bar.max = 1;
      bar.value = 1;
      if (detail.error) showError(`Training ${detail.status}: ${detail.error.message || JSON.stringify(detail.error)}`);
      if (detail.performance) showPerformance(detail.performance, `Model '${model}' on its held-out images`);
    }
  };
  state.poll = setInterval(tick, 1000);
  tick();
}

async function evaluate() {
  const model = $("model-name").value.trim();
  const test = $("eval-dataset").value.trim();
  if (!test) { showError("Pick the dataset to evaluate on."); return; }
  const name = `studio-${Date.now()}`;
  const path = `/computervision/models/${encodeURIComponent(model)}/evaluations/${name}?api-version=${V_PREVIEW}`;
  await guarded(async () => {
    await api(path, { method: "PUT", body: { evaluationParameters: { testDatasetName: test } } });
    const detail = `/studio/api/models/${encodeURIComponent(model)}/evaluations/${name}`;
    for (;;) {
      const ev = await api(detail);
      if (ev.status === "succeeded" || ev.status === "failed") {
        if (ev.error) throw new Error(`Evaluation failed: ${ev.error.message}`);
        showPerformance(ev.performance, `Model '${model}' on '${test}'`);
        return;
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }, "Evaluating…");
}

const fmt = (v) => (v == null ? "–" : Number(v).toFixed(3));

function table(caption, head, rows) {
  return el("table", {}, el("caption", { text: caption }),
    el("thead", {}, el("tr", {}, ...head.map((h) => el("th", { scope: "col", text: h })))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c, i) => el(i === 0 ? "th" : "td", i === 0 ? { scope: "row", text: c } : { text: c }))))));
}

function showPerformance(perf, title) {
  const out = $("performance");
  out.replaceChildren(el("h3", { text: title }));
  if (perf.task === "detection") {
    out.append(el("p", { text: `mAP@.5:.95 ${fmt(perf.map50_95)} · mAP@.30 ${fmt(perf.map30)} · mAP@.50 ${fmt(perf.map50)} · mAP@.75 ${fmt(perf.map75)} on ${perf.num_images} image(s)` }));
    out.append(table("Per class", ["class", "AP@.50", "AP@.50:.95", "recall@.50", "ground truth"],
      perf.per_class.map((c) => [c.name, fmt(c.ap50), fmt(c.ap50_95), fmt(c.recall50), String(c.num_ground_truth)])));
    if (perf.pr_curves && perf.pr_curves.length) out.append(prPlot(perf.pr_curves, "at IoU 0.50"));
    return;
  }
  out.append(el("p", { text: `top-1 accuracy ${fmt(perf.accuracy_top1)} · mean AP ${fmt(perf.mean_average_precision)} · ECE ${fmt(perf.calibration_ece)} on ${perf.num_images} image(s)` }));
  out.append(table("Per class", ["class", "AP", "precision", "recall", "images"],
    perf.per_class.map((c) => [c.name, fmt(c.average_precision), fmt(c.precision), fmt(c.recall), String(c.support)])));
  const cm = perf.confusion_matrix;
  if (cm) out.append(table("Confusion (rows: true class, columns: predicted)", ["", ...cm.labels], cm.matrix.map((row, i) => [cm.labels[i], ...row.map(String)])));
  if (perf.pr_curves && perf.pr_curves.length) out.append(prPlot(perf.pr_curves, "one class against the rest"));
  if (perf.calibration_bins && perf.calibration_bins.length) out.append(calibrationPlot(perf.calibration_bins));
}

const COLOURS = ["#0b63ce", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#e67700", "#1098ad", "#5c940d"];

function prPlot(curves, how) {
  const svg = svgEl("svg", { viewBox: "0 0 100 100", class: "plot", role: "img", "aria-label": `Precision against recall per class, ${how}` });
  svg.append(svgEl("line", { x1: 0, y1: 100, x2: 100, y2: 100, class: "diagonal" }));
  const legend = el("ul", { class: "legend" });
  curves.forEach((c, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const d = c.recall.map((r, k) => `${k ? "L" : "M"}${(r * 100).toFixed(2)} ${(100 - c.precision[k] * 100).toFixed(2)}`).join(" ");
    const path = svgEl("path", { d, class: "pr", stroke: colour, "data-class": c.name });
    path.append(Object.assign(svgEl("title"), { textContent: c.name }));
    svg.append(path);
    const swatch = svgEl("svg", { class: "swatch", viewBox: "0 0 1 1", "aria-hidden": "true" });
    swatch.append(svgEl("rect", { width: 1, height: 1, fill: colour }));
    legend.append(el("li", {}, swatch, c.name));
  });
  return el("figure", {}, svg, legend, el("figcaption", { text: `Precision (up) against recall (right) per class, ${how}.` }));
}

async function suggest() {
  if (!state.name) { showError("Open a dataset first."); return; }
  const model = $("model-name").value.trim();
  const top = Number($("suggest-top").value) || 10;
  const list = $("suggestions");
  await guarded(async () => {
    const q = `dataset=${encodeURIComponent(state.name)}&top=${top}`;
    const got = await api(`/studio/api/models/${encodeURIComponent(model)}/suggestions?${q}`);
    list.replaceChildren(...got.suggestions.map((s) => {
      const file = s.file_name.replace(/^images\//, "");
      const open = el("button", { type: "button", "data-file": s.file_name, text: `${file}: uncertainty ${fmt(s.uncertainty)}`,
        onclick: () => guarded(() => openSuggested(s.file_name)) });
      return el("li", {}, open);
    }));
    const skipped = got.skipped.length ? `; ${got.skipped.length} could not be read (${got.skipped.map((k) => k.message).join("; ")})` : "";
    setStatus(`${got.suggestions.length} of ${got.unlabelled} unlabelled image(s) suggested by '${model}'${skipped}.`);
  }, "Ranking the unlabelled images…");
}

async function openSuggested(fileName) {
  let im = state.coco.images.find((x) => x.file_name === fileName);
  if (!im) { // uploaded before, never saved into the COCO file: add it with its size
    const url = await imageUrl({ file_name: fileName });
    const size = await new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve([img.naturalWidth, img.naturalHeight]);
      img.onerror = () => reject(new Error(`'${fileName}' could not be shown.`));
      img.src = url;
    });
    im = { id: Math.max(0, ...state.coco.images.map((x) => x.id)) + 1, file_name: fileName, width: size[0], height: size[1] };
    state.coco.images.push(im);
  }
  await select(im.id);
  $("label-stage").scrollIntoView({ block: "nearest" });
}

function calibrationPlot(bins) {
  const svg = svgEl("svg", { viewBox: "0 0 100 100", class: "plot", role: "img", "aria-label": "Calibration: accuracy against confidence per bin" });
  svg.append(svgEl("line", { x1: 0, y1: 100, x2: 100, y2: 0, class: "diagonal" }));
  for (const b of bins) {
    if (!b.count) continue;
    svg.append(svgEl("rect", { x: b.lower * 100, y: 100 - b.accuracy * 100, width: (b.upper - b.lower) * 100, height: b.accuracy * 100, class: "bar" }));
  }
  return el("figure", {}, svg, el("figcaption", { text: "Calibration: accuracy per confidence bin (the diagonal is perfect)." }));
}
