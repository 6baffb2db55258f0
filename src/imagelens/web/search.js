// The Search page: an image index (Azure's retrieval-index shape), images added from files, text queries, and a
// click on a hit to search by that image.

import { $, V_INDEX, api, el, guarded, setStatus, showError } from "./common.js";

// documentId -> {file, url} of the images added from this page (the index keeps vectors, not pictures).
const state = { index: null, thumbs: new Map() };

const base = (name) => `/computervision/retrieval/indexes/${encodeURIComponent(name)}`;

export function initSearch() {
  $("index-form").addEventListener("submit", (e) => { e.preventDefault(); openIndex($("index-name").value.trim()); });
  $("index-files").addEventListener("change", (e) => addImages([...e.target.files]));
  $("query-form").addEventListener("submit", (e) => { e.preventDefault(); queryText($("query-text").value); });
}

export async function showSearch() {
  await guarded(async () => {
    const list = await api(`/computervision/retrieval/indexes?api-version=${V_INDEX}`);
    $("index-names").replaceChildren(...list.value.map((i) => el("option", { value: i.name })));
  });
}

async function openIndex(name) {
  if (!name) { showError("Enter an index name."); return; }
  await guarded(async () => {
    const list = await api(`/computervision/retrieval/indexes?api-version=${V_INDEX}`);
    const stats = list.value.find((i) => i.name === name)
      || await api(`${base(name)}?api-version=${V_INDEX}`, { method: "PUT", body: {} });
    state.index = name;
    showStats(stats);
    await showSearch();
  }, "Opening the index…");
}

function showStats(stats) {
  $("index-stats").textContent = `Index '${stats.name}': ${stats.documentCount} image(s), model ${stats.features[0].modelVersion}.`;
}

async function addImages(files) {
  if (!state.index) { showError("Create or open an index first."); return; }
  await guarded(async () => {
    for (const [i, file] of files.entries()) {
      setStatus(`Adding ${file.name} (${i + 1} of ${files.length})…`);
      await api(`${base(state.index)}/documents/${encodeURIComponent(file.name)}?api-version=${V_INDEX}`, { method: "PUT", body: file });
      state.thumbs.set(file.name, { file, url: URL.createObjectURL(file) });
    }
    showStats(await api(`${base(state.index)}?api-version=${V_INDEX}`));
    setStatus(`Added ${files.length} image(s).`);
  });
}

async function queryText(text) {
  if (!state.index) { showError("Create or open an index first."); return; }
  if (!text.trim()) { showError("Type what to search for."); return; }
  await guarded(async () => {
    const result = await api(`${base(state.index)}:queryByText?api-version=${V_INDEX}`, { method: "POST", body: { queryText: text, top: 12 } });
    showHits(result, `'${text}'`);
  }, "Searching…");
}

async function queryImage(documentId, hit) {
  const thumb = state.thumbs.get(documentId);
  let body;
  if (thumb) body = thumb.file;
  else if (hit.documentUrl) body = { url: hit.documentUrl };
  else { showError(`The image '${documentId}' was not added from this page and has no URL: it cannot be sent as a query.`); return; }
  await guarded(async () => {
    const result = await api(`${base(state.index)}:queryByImage?api-version=${V_INDEX}&top=12`, { method: "POST", body });
    showHits(result, `the image '${documentId}'`);
  }, "Searching…");
}

function showHits(result, what) {
  const list = $("hits");
  list.replaceChildren();
  for (const hit of result.value) {
    const thumb = state.thumbs.get(hit.documentId);
    const src = thumb ? thumb.url : hit.documentUrl;
    const img = src ? el("img", { src, alt: hit.documentId }) : el("span", { class: "noimage", text: "no preview" });
    const button = el("button", { type: "button", class: "hit", "data-document": hit.documentId, "data-relevance": String(hit.relevance),
      "aria-label": `${hit.documentId}, relevance ${hit.relevance.toFixed(3)}: search by this image`,
      onclick: () => queryImage(hit.documentId, hit) },
      img, el("span", { text: `${hit.documentId} · ${hit.relevance.toFixed(3)}` }));
    list.append(el("li", {}, button));
  }
  setStatus(`${result.value.length} hit(s) for ${what}.`);
}
