// The Shelves page: tiles stitched into one shelf, the shelf rectified (corners found or four clicked), products and
// gaps from a product recognition run, and a planogram's compliance drawn on the shelf.

import { $, api, el, guarded, setStatus, showError, svgEl } from "./common.js";
import { drawShapes } from "./overlay.js";

const V_SHELF = "2023-04-01-preview";
const MODEL = "ms-pretrained-product-detection";
const CORNERS = ["topLeft", "topRight", "bottomRight", "bottomLeft"];
// image: the shelf as a Blob; size: its pixels; run: the last run's result; corners: clicked points, normalised.
const state = { image: null, size: null, run: null, corners: [], picking: false };

export function initShelves() {
  $("shelf-tiles").addEventListener("change", (e) => useTiles([...e.target.files]));
  $("shelf-stitch").addEventListener("click", stitchTiles);
  $("shelf-rectify-auto").addEventListener("click", () => rectify(null));
  $("shelf-pick").addEventListener("click", startPicking);
  $("shelf-overlay").addEventListener("click", pickCorner);
  $("shelf-products").addEventListener("click", products);
  $("planogram-file").addEventListener("change", loadPlanogram);
  $("shelf-match").addEventListener("click", match);
}

export async function showShelves() {}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(new Error(`could not read ${file.name}`));
    reader.readAsDataURL(file);
  });
}

function useTiles(files) {
  state.tiles = files;
  $("shelf-tile-count").textContent = files.length ? `${files.length} tile(s) chosen.` : "";
  if (files.length === 1) setShelf(files[0], "The one tile is the shelf.");
}

async function stitchTiles() {
  const tiles = state.tiles || [];
  if (tiles.length < 2) { showError("Choose 2 to 20 overlapping tiles (left to right) to stitch; one tile is used as it is."); return; }
  await guarded(async () => {
    const images = await Promise.all(tiles.map(readBase64));
    const blob = await api("/studio/api/shelves/stitch", { method: "POST", body: { images }, binary: true });
    await setShelf(blob, `Stitched ${tiles.length} tiles.`);
  }, "Stitching…");
}

async function rectify(corners) {
  if (!state.image) { showError("Stitch tiles or choose one shelf image first."); return; }
  await guarded(async () => {
    const body = { image: await readBase64(state.image) };
    if (corners) body.controlPoints = Object.fromEntries(CORNERS.map((name, i) => [name, corners[i]]));
    const blob = await api("/studio/api/shelves/rectify", { method: "POST", body, binary: true });
    await setShelf(blob, corners ? "Rectified with the four corners." : "Rectified with the corners found.");
  }, "Rectifying…");
}

function startPicking() {
  if (!state.image) { showError("Stitch tiles or choose one shelf image first."); return; }
  state.picking = true;
  state.corners = [];
  $("shelf-stage").classList.add("drawing");
  setStatus("Click the shelf's corners: top left, top right, bottom right, bottom left.");
}

function pickCorner(e) {
  if (!state.picking) return;
  const rect = $("shelf-overlay").getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (e.clientX - rect.left) / rect.width));
  const y = Math.min(1, Math.max(0, (e.clientY - rect.top) / rect.height));
  state.corners.push({ x, y });
  $("shelf-overlay").append(svgEl("circle", { class: "corner", cx: x * state.size.width, cy: y * state.size.height,
    r: Math.max(3, state.size.width / 100), "data-corner": CORNERS[state.corners.length - 1] }));
  if (state.corners.length === 4) {
    state.picking = false;
    $("shelf-stage").classList.remove("drawing");
    rectify(state.corners);
  } else {
    setStatus(`Corner ${state.corners.length} of 4 set; next: ${CORNERS[state.corners.length]}.`);
  }
}

async function setShelf(blob, message) {
  state.image = blob;
  state.run = null;
  const img = $("shelf-image");
  const url = URL.createObjectURL(blob);
  await new Promise((resolve, reject) => {
    img.onload = resolve;
    img.onerror = () => reject(new Error("the shelf image could not be shown: is it an image?"));
    img.src = url;
  });
  state.size = { width: img.naturalWidth, height: img.naturalHeight };
  img.dataset.width = String(state.size.width);
  img.dataset.height = String(state.size.height);
  $("shelf-stage").hidden = false;
  draw([]);
  $("shelf-json").textContent = "";
  $("compliance").replaceChildren();
  setStatus(`${message} The shelf is ${state.size.width} x ${state.size.height} pixels.`);
}

function draw(shapes) {
  drawShapes($("shelf-overlay"), state.size.width, state.size.height, shapes);
}

const label = (item) => ((item.classifications || item.tags || [])[0] || {});

function runShapes(result) {
  const one = (kind) => (item) => ({ kind, label: label(item).label || label(item).name || kind,
    confidence: label(item).confidence ?? null, box: item.boundingBox });
  return [...result.products.map(one("product")), ...result.gaps.map(one("gap"))];
}

async function products() {
  if (!state.image) { showError("Stitch tiles or choose one shelf image first."); return; }
  await guarded(async () => {
    const run = `studio-${Date.now()}`;
    const path = `/computervision/productrecognition/${MODEL}/runs/${run}?api-version=${V_SHELF}`;
    let answer = await api(path, { method: "PUT", body: state.image });
    while (answer.status === "notStarted" || answer.status === "running") {
      await new Promise((r) => setTimeout(r, 300));
      answer = await api(path);
    }
    if (answer.status !== "succeeded") throw new Error((answer.error && answer.error.message) || `the run ${answer.status}`);
    state.run = answer.result;
    draw(runShapes(answer.result));
    $("shelf-json").textContent = JSON.stringify(answer.result, null, 2);
    setStatus(`${answer.result.products.length} product(s) and ${answer.result.gaps.length} gap(s).`);
  }, "Finding products and gaps…");
}

async function loadPlanogram(e) {
  const file = e.target.files[0];
  if (file) $("planogram").value = await file.text();
}

async function match() {
  if (!state.run) { showError("Find the products first: compliance compares them with the planogram."); return; }
  let planogram;
  try {
    planogram = JSON.parse($("planogram").value);
  } catch (err) {
    showError(`The planogram is not valid JSON: ${err.message}`);
    return;
  }
  await guarded(async () => {
    const answer = await api(`/computervision/planogramcompliance:match?api-version=${V_SHELF}`,
      { method: "POST", body: { detectedProducts: state.run, planogram } });
    const positions = answer.matchingResultPerPosition;
    // Matched and misplaced positions at the product found there; the run's gaps stay drawn as gaps.
    const shapes = positions.filter((p) => p.detectedObject).map((p) => ({ kind: p.state,
      label: `position ${p.positionId}: expected ${p.expectedProductId}`, confidence: null, box: p.detectedObject.boundingBox }));
    draw([...shapes, ...runShapes(state.run).filter((s) => s.kind === "gap")]);
    $("compliance").replaceChildren(...positions.map((p) => el("li", { class: p.state, "data-state": p.state,
      text: `position ${p.positionId} (${p.expectedProductId}): ${p.state}` })));
    $("shelf-json").textContent = JSON.stringify(answer, null, 2);
    const count = (s) => positions.filter((p) => p.state === s).length;
    setStatus(`Compliance: ${count("matched")} matched, ${count("misplaced")} misplaced, ${count("gap")} gap(s).`);
  }, "Checking the planogram…");
}
