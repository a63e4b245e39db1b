// clipdex page: search as you type, play a hit from its start, find similar clips.
// Plain JavaScript, no build step; all text goes through textContent (file names are data).
"use strict";

const $ = (id) => document.getElementById(id);
const K = 24;
const DEBOUNCE_MS = 250;
let pending = null;   // AbortController of the request in flight
let timer = 0;
let playing = null;   // the hit being played

function clock(seconds) {
  const s = Math.max(0, seconds);
  const m = Math.floor(s / 60);
  const rest = (s - 60 * m).toFixed(1).padStart(4, "0");
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
}

function baseName(path) {
  return path.split(/[\\/]/).pop();
}

// A 422's detail is a list of {loc: ["query", name], msg}: say which parameter and why.
function problem(detail) {
  if (!Array.isArray(detail)) return detail;
  return detail.map((d) => `${(d.loc || []).slice(-1)[0]}: ${d.msg}`).join("; ");
}

async function getJSON(url) {
  if (pending) pending.abort();
  pending = new AbortController();
  const response = await fetch(url, { signal: pending.signal });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(problem(body.detail) || `${response.status} ${response.statusText}`);
  return body;
}

function show(hits, message) {
  const list = $("results");
  list.replaceChildren();
  $("message").textContent = message;
  for (const hit of hits) {
    const card = $("card").content.firstElementChild.cloneNode(true);
    const name = baseName(hit.path);
    Object.assign(card.dataset, { clip: hit.clip_id, video: hit.video_id, start: hit.start, end: hit.end });
    const img = card.querySelector("img");
    img.src = `/api/clips/${hit.clip_id}/thumbnail.jpg`;
    img.alt = `${name} at ${clock((hit.start + hit.end) / 2)}`;
    card.querySelector(".name").textContent = name;
    card.querySelector(".span").textContent = `${clock(hit.start)}–${clock(hit.end)}`;
    card.querySelector(".score").textContent = `score ${hit.score.toFixed(3)}`;
    const play = card.querySelector(".play");
    play.title = hit.path;
    play.setAttribute("aria-label", `Play ${name} from ${clock(hit.start)} to ${clock(hit.end)}, score ${hit.score.toFixed(3)}`);
    play.addEventListener("click", () => playHit(hit, card));
    const similar = card.querySelector(".similar");
    similar.setAttribute("aria-label", `Clips similar to ${name} at ${clock(hit.start)}`);
    similar.addEventListener("click", () => findSimilar(hit));
    list.append(card);
  }
}

async function search() {
  const query = $("q").value.trim();
  if (!query) { show([], ""); return; }
  $("message").textContent = "Searching…";
  const params = new URLSearchParams({ q: query, k: K, rerank: $("rerank").checked });
  for (const input of document.querySelectorAll("#filters [data-param]")) {
    const value = input.value.trim();
    if (value) params.append(input.dataset.param, value);
  }
  try {
    const body = await getJSON(`/api/search?${params}`);
    if (body.query.trim() !== $("q").value.trim()) return;  // a newer query is on its way
    show(body.hits, body.hits.length ? `${body.hits.length} results for “${query}”` : `No results for “${query}”`);
  } catch (error) {
    if (error.name !== "AbortError") $("message").textContent = `Search failed: ${error.message}`;
  }
}

async function findSimilar(hit) {
  $("message").textContent = "Looking for similar clips…";
  try {
    const body = await getJSON(`/api/clips/${hit.clip_id}/similar?k=${K}`);
    const clip = body.clip;  // the best clip of the span that was clicked
    show(body.hits, `${body.hits.length} clips similar to ${baseName(clip.path)} ${clock(clip.start)}–${clock(clip.end)}`);
    $("results").querySelector(".play")?.focus();
  } catch (error) {
    if (error.name !== "AbortError") $("message").textContent = `Similar clips failed: ${error.message}`;
  }
}

// A picture or short video, chosen or dropped: POST it to /api/similar (nothing is kept).
async function searchWithFile(file) {
  if (!file) return;
  if (pending) pending.abort();
  pending = new AbortController();
  $("message").textContent = `Looking for clips like ${file.name}…`;
  const form = new FormData();
  form.append("file", file);
  try {
    const response = await fetch(`/api/similar?k=${K}`, { method: "POST", body: form, signal: pending.signal });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(problem(body.detail) || `${response.status} ${response.statusText}`);
    show(body.hits, `${body.hits.length} clips like ${file.name}`);
  } catch (error) {
    if (error.name !== "AbortError") $("message").textContent = `Search with ${file.name} failed: ${error.message}`;
  }
}

function playHit(hit, card) {
  const video = $("video");
  playing = hit;
  document.querySelectorAll(".card.active").forEach((c) => c.classList.remove("active"));
  card.classList.add("active");
  $("player").hidden = false;
  $("now-playing").textContent = `${baseName(hit.path)} · ${clock(hit.start)}–${clock(hit.end)}`;
  const src = `/api/videos/${hit.video_id}/media`;
  const start = () => {
    video.currentTime = hit.start;
    video.play().catch(() => { video.muted = true; return video.play(); }).catch(() => {});
    markSpan();
  };
  if (video.dataset.src === src && video.readyState >= 1) {
    start();
  } else {
    video.dataset.src = src;
    video.src = `${src}#t=${hit.start}`;  // media fragment: the browser starts here too
    video.addEventListener("loadedmetadata", start, { once: true });
  }
  $("player").scrollIntoView({ block: "nearest" });
}

function markSpan() {
  const video = $("video");
  const duration = video.duration;
  if (!playing || !isFinite(duration) || duration <= 0) return;
  const mark = $("span-mark");
  mark.style.left = `${(100 * playing.start) / duration}%`;
  mark.style.width = `${(100 * (playing.end - playing.start)) / duration}%`;
  $("cursor").style.left = `${(100 * video.currentTime) / duration}%`;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(search, DEBOUNCE_MS);
}

async function showStatus() {
  try {
    const response = await fetch("/api/status");
    const body = await response.json();
    const failed = body.failed.length ? `, ${body.failed.length} failed` : "";
    $("status").textContent = `${body.videos} videos, ${body.clips} clips${failed}`;
  } catch (error) {
    $("status").textContent = "";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("q").addEventListener("input", schedule);
  $("rerank").addEventListener("change", search);
  $("filters").addEventListener("input", schedule);
  $("search-form").addEventListener("submit", (event) => { event.preventDefault(); clearTimeout(timer); search(); });
  $("upload").addEventListener("change", (event) => { searchWithFile(event.target.files[0]); event.target.value = ""; });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => { event.preventDefault(); searchWithFile(event.dataTransfer.files[0]); });
  $("video").addEventListener("timeupdate", markSpan);
  $("video").addEventListener("loadedmetadata", markSpan);
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && document.activeElement !== $("q")) { event.preventDefault(); $("q").focus(); }
  });
  showStatus();
  setInterval(showStatus, 10000);  // counts grow while `clipdex watch` indexes
});
