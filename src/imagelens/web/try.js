// The Try page: an image (file, drop, paste or URL) -> the chosen features -> shapes on the image, a list, the JSON.

import { $, V40, V_PREVIEW, api, apiKey, copyText, el, formatBytes, guarded, serverInfo, setStatus, showError } from "./common.js";
import { applyThreshold, drawShapes, shapesOf } from "./overlay.js";

const state = { image: null, url: null, objectUrl: null, last: null };

const SDK_NAMES = {
  read: "READ", smartCrops: "SMART_CROPS", caption: "CAPTION", denseCaptions: "DENSE_CAPTIONS",
  tags: "TAGS", objects: "OBJECTS", people: "PEOPLE",
};
const V32_NAMES = { faces: "Faces", color: "Color", brands: "Brands", categories: "Categories", adult: "Adult", imageType: "ImageType" };

export function initTry() {
  wire();
}

/** The feature checkboxes, from the server's registry (drawn once; a new key keeps the choices). */
export async function showTry() {
  const info = await serverInfo();
  const list = $("feature-list");
  if (list.children.length) return;
  for (const f of info.features) {
    const id = `feat-${f.name}`;
    const box = el("input", { type: "checkbox", id, value: f.name, "data-surface": f.surface });
    if (!f.available || f.surface === "none") box.disabled = true;
    if (["caption", "objects", "people", "tags"].includes(f.name) && !box.disabled) box.checked = true;
    const label = el("label", { for: id }, box, ` ${f.name} `, el("small", { text: f.surface === "v32" ? `${f.summary} (3.2)` : f.summary }));
    list.append(label);
  }
}

function wire() {
  const drop = $("drop");
  drop.addEventListener("click", () => $("try-file").click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("try-file").click(); }
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) useFile(file);
  });
  document.addEventListener("paste", (e) => {
    if ($("page-try").hidden) return;
    const item = [...(e.clipboardData ? e.clipboardData.items : [])].find((i) => i.kind === "file");
    if (item) useFile(item.getAsFile());
  });
  $("try-file").addEventListener("change", (e) => { if (e.target.files[0]) useFile(e.target.files[0]); });
  $("url-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const url = $("try-url").value.trim();
    if (!url) { showError("Enter an image URL first."); return; }
    state.image = null;
    state.url = url;
    showImage(url);
    analyze();
  });
  $("analyze").addEventListener("click", analyze);
  $("threshold").addEventListener("input", refreshThreshold);
  $("copy-curl").addEventListener("click", () => showSnippet(curlSnippet()));
  $("copy-python").addEventListener("click", () => showSnippet(pythonSnippet()));
}

async function useFile(file) {
  const info = await serverInfo();
  state.url = null;
  if (file.size > info.maxBytes) {
    state.image = null;
    showError(`The file '${file.name}' is ${formatBytes(file.size)}; the server accepts images up to ${formatBytes(info.maxBytes)}. Choose a smaller image.`);
    return;
  }
  if (file.type && !file.type.startsWith("image/")) {
    state.image = null;
    showError(`The file '${file.name}' is not an image (its type is ${file.type}). Choose a JPEG, PNG, GIF, BMP or WEBP file.`);
    return;
  }
  state.image = file;
  if (state.objectUrl) URL.revokeObjectURL(state.objectUrl);
  state.objectUrl = URL.createObjectURL(file);
  showImage(state.objectUrl);
  analyze();
}

function showImage(src) {
  const img = $("try-image");
  img.onerror = () => { img.dataset.broken = "true"; };
  img.removeAttribute("data-broken");
  img.src = src;
  $("stage").hidden = false;
  $("overlay").replaceChildren();
  $("items").replaceChildren();
  $("json").textContent = "";
  $("caption").textContent = "";
  $("background").hidden = true;
}

function chosen() {
  return [...document.querySelectorAll("#feature-list input:checked")].map((i) => ({ name: i.value, surface: i.dataset.surface }));
}

function source() {
  return state.image ? state.image : { url: state.url };
}

async function analyze() {
  if (!state.image && !state.url) { showError("Choose, drop or paste an image, or enter its URL, first."); return; }
  const features = chosen();
  const v40 = features.filter((f) => f.surface === "v40").map((f) => f.name);
  const landmarks = features.some((f) => f.name === "landmarks");
  const v32 = features.filter((f) => f.surface === "v32" && V32_NAMES[f.name]).map((f) => V32_NAMES[f.name]);
  if (landmarks && !v32.includes("Categories")) v32.push("Categories"); // 3.2 reports landmarks inside categories
  const background = $("feat-background").checked;
  if (!v40.length && !v32.length && !background) { showError("Pick at least one feature."); return; }
  await guarded(async () => {
    const body = source();
    const out40 = v40.length ? await api(`/computervision/imageanalysis:analyze?api-version=${V40}&features=${v40.join(",")}`, { method: "POST", body }) : null;
    const out32 = v32.length ? await api(`/vision/v3.2/analyze?visualFeatures=${v32.join(",")}${landmarks ? "&details=Landmarks" : ""}`, { method: "POST", body }) : null;
    state.last = { out40, out32 };
    render(out40, out32);
    if (background) {
      const png = await api(`/computervision/imageanalysis:segment?api-version=${V_PREVIEW}&mode=backgroundRemoval`, { method: "POST", body, binary: true });
      $("background-image").src = URL.createObjectURL(png);
      $("background").hidden = false;
    }
    setStatus("Analysis done.");
  }, "Analyzing…");
}

function render(out40, out32) {
  const meta = (out40 && out40.metadata) || (out32 && out32.metadata) || { width: 1, height: 1 };
  const shapes = shapesOf(out40, out32);
  drawShapes($("overlay"), meta.width, meta.height, shapes);
  const items = $("items");
  items.replaceChildren();
  for (const [i, s] of shapes.entries()) {
    const conf = s.confidence == null ? "" : ` ${s.confidence.toFixed(2)}`;
    const li = el("li", { "data-kind": s.kind, "data-index": String(i), class: s.kind, text: `${s.kind}: ${s.label}${conf}` });
    if (s.confidence != null) li.dataset.confidence = String(s.confidence);
    items.append(li);
  }
  for (const t of (out40 && out40.tagsResult && out40.tagsResult.values) || []) {
    const li = el("li", { "data-kind": "tags", "data-confidence": String(t.confidence), class: "tags", text: `tag: ${t.name} ${t.confidence.toFixed(2)}` });
    items.append(li);
  }
  const caption = out40 && out40.captionResult;
  $("caption").textContent = caption ? `Caption: "${caption.text}" (${caption.confidence.toFixed(2)})` : "";
  if (out32 && out32.color) {
    items.append(el("li", { class: "color", text: `colour: dominant ${out32.color.dominantColors.join(", ")}, accent #${out32.color.accentColor}` }));
  }
  $("json").textContent = JSON.stringify(out32 ? { "imageanalysis:analyze": out40, "v3.2/analyze": out32 } : out40, null, 2);
  refreshThreshold();
}

function refreshThreshold() {
  const value = Number($("threshold").value);
  $("threshold-value").textContent = value.toFixed(2);
  const shown = applyThreshold($("page-try"), value);
  $("overlay").setAttribute("aria-label", `Results drawn on the image: ${shown} shapes at or above ${value.toFixed(2)}`);
}

function endpoint() {
  return window.location.origin;
}

function curlSnippet() {
  const v40 = chosen().filter((f) => f.surface === "v40").map((f) => f.name);
  const key = apiKey() ? "$IMAGELENS_KEY" : "";
  const header = key ? ` \\\n  -H "Ocp-Apim-Subscription-Key: ${key}"` : "";
  const data = state.url
    ? ` \\\n  -H "Content-Type: application/json" \\\n  -d '${JSON.stringify({ url: state.url })}'`
    : ` \\\n  -H "Content-Type: application/octet-stream" \\\n  --data-binary @${state.image ? state.image.name : "image.jpg"}`;
  return `curl -X POST "${endpoint()}/computervision/imageanalysis:analyze?api-version=${V40}&features=${v40.join(",") || "caption"}"${header}${data}`;
}

function pythonSnippet() {
  const v40 = chosen().filter((f) => f.surface === "v40").map((f) => `VisualFeatures.${SDK_NAMES[f.name]}`);
  const call = state.url
    ? `result = client.analyze_from_url(\n    image_url=${JSON.stringify(state.url)},\n    visual_features=[${v40.join(", ") || "VisualFeatures.CAPTION"}],\n)`
    : `with open(${JSON.stringify(state.image ? state.image.name : "image.jpg")}, "rb") as f:\n    result = client.analyze(\n        image_data=f.read(),\n        visual_features=[${v40.join(", ") || "VisualFeatures.CAPTION"}],\n    )`;
  return `# pip install azure-ai-vision-imageanalysis
import os

from azure.ai.vision.imageanalysis import ImageAnalysisClient
from azure.ai.vision.imageanalysis.models import VisualFeatures
from azure.core.credentials import AzureKeyCredential

client = ImageAnalysisClient(
    endpoint=${JSON.stringify(endpoint())},
    credential=AzureKeyCredential(os.environ.get("IMAGELENS_KEY", "any")),
)
${call}
print(result.as_dict())`;
}

async function showSnippet(text) {
  const pre = $("snippet");
  pre.textContent = text;
  const copied = await copyText(text);
  setStatus(copied ? "Copied to the clipboard." : "The code is below; select it to copy.");
}
