// The studio's entry: the API key, the tabs (arrow keys move between them), and each page's start.

import { $, apiKey, forgetInfo, guarded, serverInfo, setApiKey, setStatus, showError } from "./common.js";
import { initLabel, showLabel } from "./label.js";
import { initSearch, showSearch } from "./search.js";
import { initShelves, showShelves } from "./shelves.js";
import { initTry, showTry } from "./try.js";

const TABS = ["try", "search", "label", "shelves"];
const started = new Set();

function selectTab(name, focus = false) {
  for (const tab of TABS) {
    const button = $(`tab-${tab}`);
    const on = tab === name;
    button.setAttribute("aria-selected", String(on));
    button.tabIndex = on ? 0 : -1;
    $(`page-${tab}`).hidden = !on;
    if (on && focus) button.focus();
  }
  if (window.location.hash !== `#${name}`) history.replaceState(null, "", `#${name}`);
  startPage(name);
}

async function startPage(name) {
  await guarded(async () => {
    const info = await serverInfo();
    if (info.keyRequired && !apiKey()) {
      showError("This server needs an API key: enter it in 'API key' at the top of the page, then press 'Use key'.");
      $("api-key").focus();
      return;
    }
    if (name === "try") { if (!started.has("try")) { initTry(); started.add("try"); } await showTry(); }
    if (name === "search") { if (!started.has("search")) { initSearch(); started.add("search"); } await showSearch(); }
    if (name === "label") { if (!started.has("label")) { initLabel(); started.add("label"); } await showLabel(info); }
    if (name === "shelves") { if (!started.has("shelves")) { initShelves(); started.add("shelves"); } await showShelves(); }
  });
}

function wireTabs() {
  for (const [i, tab] of TABS.entries()) {
    const button = $(`tab-${tab}`);
    button.addEventListener("click", () => selectTab(tab));
    button.addEventListener("keydown", (e) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[e.key];
      if (step) { e.preventDefault(); selectTab(TABS[(i + step + TABS.length) % TABS.length], true); }
      if (e.key === "Home") { e.preventDefault(); selectTab(TABS[0], true); }
      if (e.key === "End") { e.preventDefault(); selectTab(TABS[TABS.length - 1], true); }
    });
  }
}

function wireKey() {
  $("api-key").value = apiKey();
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    setApiKey($("api-key").value.trim());
    forgetInfo();
    setStatus("Key saved for this browser tab.");
    const current = TABS.find((t) => !$(`page-${t}`).hidden) || "try";
    selectTab(current);
  });
}

window.addEventListener("unhandledrejection", (e) => showError(`Something went wrong: ${e.reason && e.reason.message ? e.reason.message : e.reason}`));
wireTabs();
wireKey();
const first = window.location.hash.slice(1);
selectTab(TABS.includes(first) ? first : "try");
