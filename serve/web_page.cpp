#include "serve/web_page.h"

namespace sembed::serve {

const std::string& web_page() {
  static const std::string page = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sembed</title>
<link rel="icon" href="data:,">
<style>
:root { color-scheme: light dark; --fg: #1f2328; --muted: #59636e; --bg: #fff; --line: #d1d9e0;
  --accent: #0969da; --err: #d1242f; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --line: #3d444d; --accent: #4493f8;
    --err: #f85149; }
}
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
main { max-width: 56rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .25rem 1rem; }
h1 { font-size: 1.4rem; margin: 0; }
#model { color: var(--muted); font-size: .9rem; }
[role=tablist] { display: flex; gap: .25rem; border-bottom: 1px solid var(--line); margin: 1rem 0; }
[role=tab] { font: inherit; color: var(--muted); background: none; cursor: pointer;
  border: 1px solid transparent; border-bottom: 0; border-radius: 6px 6px 0 0;
  padding: .45rem 1rem; margin-bottom: -1px; }
[role=tab][aria-selected=true] { color: var(--fg); background: var(--bg); font-weight: 600;
  border-color: var(--line); }
form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; }
label { display: flex; flex-direction: column; gap: .2rem; font-size: .85rem; color: var(--muted); }
.grow { flex: 1 1 18rem; }
input, button { font: inherit; color: inherit; }
input { width: 100%; padding: .45rem .6rem; border: 1px solid var(--line); border-radius: 6px;
  background: var(--bg); }
input[type=number] { width: 6rem; }
button[type=submit] { padding: .45rem 1.1rem; border: 1px solid var(--accent); border-radius: 6px;
  background: var(--accent); color: #fff; cursor: pointer; }
:disabled { opacity: .5; cursor: default; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 1px; }
.status { min-height: 1.5em; margin: .75rem 0; color: var(--muted); }
.error { color: var(--err); }
#hits { list-style: none; padding: 0; margin: 0; }
.hit { display: grid; grid-template-columns: 4.5rem 1fr auto; gap: .75rem; padding: .55rem .25rem;
  border-bottom: 1px solid var(--line); }
.score, #similarity-score { font-variant-numeric: tabular-nums; font-weight: 600; }
.text { overflow-wrap: anywhere; }
.id { color: var(--muted); font-size: .85rem; }
#similarity-score { display: block; font-size: 2rem; }
details { margin-top: 2rem; color: var(--muted); }
details label { margin-top: .5rem; max-width: 28rem; }
</style>
</head>
<body>
<main>
<header>
  <h1>sembed</h1>
  <span id="model" role="status">connecting&hellip;</span>
</header>
<div role="tablist" aria-label="Mode">
  <button type="button" role="tab" id="tab-search" aria-controls="panel-search"
    aria-selected="true">Search</button>
  <button type="button" role="tab" id="tab-similarity" aria-controls="panel-similarity"
    aria-selected="false" tabindex="-1">Similarity</button>
</div>
<section id="panel-search" role="tabpanel" aria-labelledby="tab-search">
  <form id="search-form" role="search">
    <label class="grow">Query
      <input id="q" name="q" type="search" autocomplete="off" required autofocus></label>
    <label>Results <input id="k" name="k" type="number" min="1" max="1000" value="10"></label>
    <button type="submit">Search</button>
  </form>
  <p id="search-status" class="status" role="status"></p>
  <ol id="hits" aria-label="Results" aria-busy="false"></ol>
</section>
<section id="panel-similarity" role="tabpanel" aria-labelledby="tab-similarity" hidden>
  <form id="similarity-form">
    <label class="grow">First sentence <input id="a" name="a" autocomplete="off" required></label>
    <label class="grow">Second sentence <input id="b" name="b" autocomplete="off" required></label>
    <button type="submit">Score</button>
  </form>
  <p id="similarity-status" class="status" role="status"></p>
  <output id="similarity-score" for="a b" aria-label="Cosine similarity"></output>
</section>
<details id="settings">
  <summary>API key</summary>
  <label>Sent as <code>Authorization: Bearer</code> when the server requires one; kept in this
    browser's local storage.
    <input id="key" type="password" autocomplete="off" spellcheck="false"></label>
</details>
</main>
<script>
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const searchForm = $("search-form"), similarityForm = $("similarity-form");
  const searchStatus = $("search-status"), similarityStatus = $("similarity-status");
  const hitList = $("hits"), keyInput = $("key");
  const KEY_ITEM = "sembed.apiKey";
  let searchEnabled = true;

  try { keyInput.value = localStorage.getItem(KEY_ITEM) || ""; } catch (e) {}
  keyInput.addEventListener("change", () => {
    try { localStorage.setItem(KEY_ITEM, keyInput.value.trim()); } catch (e) {}
    loadInfo();
  });

  function setStatus(el, text, isError) {
    el.textContent = text;
    el.classList.toggle("error", Boolean(isError));
  }
  const fmt = (x) => (typeof x === "number" ? x.toFixed(4) : "n/a");
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

  // GET (no body) or POST JSON to the API; throws an Error with the server's message.
  async function call(path, body) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const key = keyInput.value.trim();
    if (key) headers["Authorization"] = "Bearer " + key;
    let res;
    try {
      res = await fetch(path, { method: body === undefined ? "GET" : "POST", headers,
                                body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new Error("cannot reach the server (" + e.message + ")");
    }
    let data = null;
    try { data = await res.json(); } catch (e) {}
    if (!res.ok) {
      let message = data && data.error && data.error.message ? data.error.message
                                                             : "HTTP " + res.status;
      if (res.status === 401) {
        message = "Unauthorized: " + message + " (enter the API key below)";
        $("settings").open = true;
      }
      const error = new Error(message);
      error.status = res.status;
      throw error;
    }
    return data;
  }

  // Tabs: click, or the arrow keys on the focused tab.
  const tabs = [$("tab-search"), $("tab-similarity")];
  function selectTab(name, focus) {
    for (const tab of tabs) {
      const on = tab.id === "tab-" + name;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      $(tab.getAttribute("aria-controls")).hidden = !on;
      if (on && focus) tab.focus();
    }
  }
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => selectTab(tab.id.slice(4)));
    tab.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
      e.preventDefault();
      const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      selectTab(next.id.slice(4), true);
    });
  });

  // Model and index facts; says so when there is nothing to search. Retries while loading.
  async function loadInfo() {
    const model = $("model");
    for (;;) {
      try {
        const info = await call("info");
        const index = info.index;
        model.textContent = info.model_id + " \u00b7 dim " + info.dim + " \u00b7 " + info.device +
            (index ? " \u00b7 " + index.size + " rows (" + index.kind + ")" : "");
        model.classList.remove("error");
        if (info.max_k) $("k").max = info.max_k;
        searchEnabled = Boolean(index);
        for (const el of searchForm.elements) el.disabled = !searchEnabled;
        if (!searchEnabled)
          setStatus(searchStatus, "Search is unavailable: this server has no embedding set " +
                    "(start it with --embeddings DIR). The Similarity tab works.", true);
        return info;
      } catch (e) {
        if (e.status !== 503) {
          setStatus(model, e.message, true);
          return null;
        }
        setStatus(model, "the model is loading\u2026");
        await sleep(1000);
      }
    }
  }

  function cell(className, text) {
    const span = document.createElement("span");
    span.className = className;
    span.textContent = text;
    return span;
  }

  let searchSeq = 0;
  searchForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const query = $("q").value, k = Number($("k").value) || 10;
    if (!searchEnabled || !query.trim()) return;
    const seq = ++searchSeq, start = performance.now();
    const params = new URLSearchParams({ q: query });
    if (k !== 10) params.set("k", k);
    history.replaceState(null, "", "?" + params);
    hitList.setAttribute("aria-busy", "true");
    setStatus(searchStatus, "Searching\u2026");
    try {
      const hits = await call("search", { query, k });
      if (seq !== searchSeq) return;
      hitList.replaceChildren(...hits.map((hit) => {
        const li = document.createElement("li");
        li.className = "hit";
        li.append(cell("score", fmt(hit.score)), cell("text", hit.text), cell("id", "#" + hit.id));
        return li;
      }));
      setStatus(searchStatus, hits.length + (hits.length === 1 ? " result" : " results") +
                " in " + Math.round(performance.now() - start) + " ms");
    } catch (err) {
      if (seq !== searchSeq) return;
      hitList.replaceChildren();
      setStatus(searchStatus, err.message, true);
    } finally {
      if (seq === searchSeq) hitList.setAttribute("aria-busy", "false");
    }
  });

  let similaritySeq = 0;
  similarityForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const a = $("a").value, b = $("b").value, out = $("similarity-score");
    if (!a.trim() || !b.trim()) return;
    const seq = ++similaritySeq;
    setStatus(similarityStatus, "Scoring\u2026");
    try {
      const scores = await call("similarity", { inputs: { source_sentence: a, sentences: [b] } });
      if (seq !== similaritySeq) return;
      out.textContent = fmt(scores[0]);
      setStatus(similarityStatus, "Cosine similarity of the two sentences:");
    } catch (err) {
      if (seq !== similaritySeq) return;
      out.textContent = "";
      setStatus(similarityStatus, err.message, true);
    }
  });

  // The URL (query or fragment) acts as a user would: fill the box, then submit as Enter does.
  const given = new URLSearchParams(location.search);
  for (const [name, value] of new URLSearchParams(location.hash.slice(1))) given.set(name, value);
  function type(input, value) {
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }
  function submit(form) {
    if (form.requestSubmit) form.requestSubmit();
    else form.dispatchEvent(new Event("submit", { cancelable: true }));
  }
  const tab = given.get("tab");
  if (tab === "search" || tab === "similarity") selectTab(tab);
  if (given.has("k")) $("k").value = given.get("k");
  for (const name of ["q", "a", "b"]) if (given.has(name)) type($(name), given.get(name));
  loadInfo().then((info) => {
    if (info && !info.index && !tab) selectTab("similarity");
    if (given.get("q")) submit(searchForm);
    if (given.get("a") && given.get("b")) submit(similarityForm);
  });
})();
</script>
</body>
</html>
)html";
  return page;
}

}  // namespace sembed::serve
