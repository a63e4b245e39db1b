// clipdex page: search as you type, play a hit from its start, find similar clips.
// Plain JavaScript, no build step; all text goes through textContent (file names are data).
// The search (query, filters, count, or the clip whose similar clips are shown) lives in the
// URL: it can be bookmarked and shared, and Back returns to the previous search.
"use strict";

const $ = (id) => document.getElementById(id);
const DEFAULT_COUNT = "24";
const DEBOUNCE_MS = 250;
const MAX_K = 100;  // the API's limit on k for similar clips
let pending = null;   // AbortController of the request in flight
let timer = 0;
let playing = null;   // the hit being played
let current = null;   // what the results show: {kind, params, hits, more}
let typedEntry = "";  // the query of the history entry made by typing, if the last one was

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

function count() {
  return Number($("count").value);
}

// Where a hit plays from: its first matched transcript line, else the span's start.
function playFrom(hit) {
  return hit.lines && hit.lines.length ? hit.lines[0].start : hit.start;
}

// The matched line, its matched words in <mark>. Offsets count code points (Python's str),
// so the text is split with Array.from, not indexed in UTF-16 units.
function said(element, line) {
  const chars = Array.from(line.text);
  let at = 0;
  for (const [start, end] of line.marks || []) {
    if (start < at) continue;
    element.append(chars.slice(at, start).join(""));
    const mark = document.createElement("mark");
    mark.textContent = chars.slice(start, end).join("");
    element.append(mark);
    at = end;
  }
  element.append(chars.slice(at).join(""));
  element.hidden = false;
}

// A hit of a file without pictures (a voice memo, a podcast): found by its words, it has no
// clip (a video's hit found by words gets the clip playing at its line).
function soundOnly(hit) {
  return hit.clip_id == null;
}

function soundTile(name) {
  const tile = document.createElement("span");
  tile.className = "sound-tile";
  tile.setAttribute("role", "img");
  tile.setAttribute("aria-label", `${name}: sound only`);
  tile.textContent = "♪ sound only";
  return tile;
}

function card(hit) {
  const item = $("card").content.firstElementChild.cloneNode(true);
  const name = baseName(hit.path);
  Object.assign(item.dataset, { clip: hit.clip_id, video: hit.video_id, start: hit.start, end: hit.end });
  const img = item.querySelector("img");
  if (soundOnly(hit)) {
    img.replaceWith(soundTile(name));  // no picture to show: no empty or broken image either
  } else {
    img.src = `/api/clips/${hit.clip_id}/thumbnail.jpg`;
    img.alt = `${name} at ${clock((hit.start + hit.end) / 2)}`;
  }
  if (hit.lines && hit.lines.length) said(item.querySelector(".said"), hit.lines[0]);
  item.querySelector(".name").textContent = name;
  item.querySelector(".span").textContent = `${clock(hit.start)}–${clock(hit.end)}`;
  item.querySelector(".score").textContent = `score ${hit.score.toFixed(3)}`;
  const play = item.querySelector(".play");
  play.title = hit.path;
  play.setAttribute("aria-label", `Play ${name} from ${clock(hit.start)} to ${clock(hit.end)}, score ${hit.score.toFixed(3)}`);
  play.addEventListener("click", () => playHit(hit, item));
  const similar = item.querySelector(".similar");
  similar.setAttribute("aria-label", `Clips similar to ${name} at ${clock(hit.start)}`);
  similar.addEventListener("click", () => findSimilar(hit.clip_id));
  similar.hidden = hit.clip_id == null;  // a file with words but no pictures
  return item;
}

// Show a new list of hits; `more` shows the "More results" button.
function show(hits, message, more = false) {
  $("results").replaceChildren(...hits.map(card));
  $("message").textContent = message;
  $("more").hidden = !more;
}

// The search the form describes, as URL parameters (defaults left out).
function formParams() {
  const params = new URLSearchParams({ q: $("q").value.trim() });
  if ($("count").value !== DEFAULT_COUNT) params.set("k", $("count").value);
  if (!$("rerank").checked) params.set("rerank", "false");
  for (const input of document.querySelectorAll("#filters [data-param]")) {
    const value = input.value.trim();
    if (value) params.append(input.dataset.param, value);
  }
  return params;
}

// Keep the URL in step with what is shown. Typing that extends or trims the query of an entry
// itself made by typing replaces it; anything else is a new entry, so Back returns to it.
function remember(params, typing) {
  const url = params.toString() ? `?${params}` : location.pathname;
  if (`?${params}` === location.search || (!params.toString() && !location.search)) return;
  const q = params.get("q") || "";
  const continuing = typing && typedEntry && (q.startsWith(typedEntry) || typedEntry.startsWith(q));
  if (continuing) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  typedEntry = typing ? q : "";
}

// Fill the form from the URL: a bookmarked, shared or Back-restored search.
function fillForm(params) {
  $("q").value = params.get("q") || "";
  const k = params.get("k") || DEFAULT_COUNT;
  $("count").value = [...$("count").options].some((o) => o.value === k) ? k : DEFAULT_COUNT;
  $("rerank").checked = params.get("rerank") !== "false";
  let narrowed = false;
  for (const input of document.querySelectorAll("#filters [data-param]")) {
    input.value = params.get(input.dataset.param) || "";
    narrowed ||= Boolean(input.value);
  }
  if (narrowed) $("filters").open = true;
}

function fromURL() {
  const params = new URLSearchParams(location.search);
  fillForm(params);
  typedEntry = "";
  const similar = params.get("similar");
  if (similar && /^\d+$/.test(similar)) findSimilar(Number(similar), false);
  else search({ record: false });
}

async function search({ record = true, typing = false } = {}) {
  clearTimeout(timer);
  const params = formParams();
  const query = params.get("q");
  if (record) remember(query ? params : new URLSearchParams(), typing);
  if (!query) { if (pending) pending.abort(); current = null; show([], ""); return; }
  $("message").textContent = "Searching…";
  const asked = new URLSearchParams(params);
  asked.set("k", count());
  try {
    const body = await getJSON(`/api/search?${asked}`);
    if (body.query.trim() !== $("q").value.trim()) return;  // a newer query is on its way
    current = { kind: "search", params: asked, hits: body.hits, more: body.more };
    show(body.hits, summary(), body.more);
  } catch (error) {
    if (error.name !== "AbortError") { $("message").textContent = `Search failed: ${error.message}`; $("more").hidden = true; }
  }
}

function summary() {
  const n = current.hits.length;
  if (current.kind === "search") {
    const query = current.params.get("q");
    return n ? `${n} results for “${query}”` : `No results for “${query}”`;
  }
  const clip = current.clip;  // the best clip of the span that was clicked
  return `${n} clips similar to ${baseName(clip.path)} ${clock(clip.start)}–${clock(clip.end)}`;
}

// The next page: a search asks for the hits after those shown (spans already shown, grown by a
// clip found only now, are skipped); similar clips ask again for more, up to the API's limit.
async function more() {
  if (!current) return;
  const button = $("more");
  button.disabled = true;
  try {
    if (current.kind === "search") {
      const asked = new URLSearchParams(current.params);
      asked.set("offset", current.hits.length);
      const body = await getJSON(`/api/search?${asked}`);
      // By span, not clip: a file with words but no pictures (audio) has no clip id.
      const where = (h) => `${h.video_id}@${h.start}`;
      const shown = new Set(current.hits.map(where));
      const fresh = body.hits.filter((h) => !shown.has(where(h)));
      current.hits.push(...fresh);
      $("results").append(...fresh.map(card));
      current.more = body.more && fresh.length > 0;
    } else {
      const k = Math.min(MAX_K, current.hits.length + count());
      const body = await getJSON(`/api/clips/${current.clip.clip_id}/similar?k=${k}`);
      const shown = new Set(current.hits.map((h) => h.clip_id));
      const fresh = body.hits.filter((h) => !shown.has(h.clip_id));
      current.hits.push(...fresh);
      $("results").append(...fresh.map(card));
      current.more = body.hits.length === k && k < MAX_K;
    }
    $("message").textContent = summary();
    button.hidden = !current.more;
  } catch (error) {
    if (error.name !== "AbortError") $("message").textContent = `More results failed: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

async function findSimilar(clipId, record = true) {
  clearTimeout(timer);
  if (record) {
    const params = new URLSearchParams({ similar: clipId });
    if ($("count").value !== DEFAULT_COUNT) params.set("k", $("count").value);
    remember(params, false);
  }
  $("message").textContent = "Looking for similar clips…";
  const k = count();
  try {
    const body = await getJSON(`/api/clips/${clipId}/similar?k=${k}`);
    current = { kind: "similar", clip: body.clip, hits: body.hits, more: body.hits.length === k };
    show(body.hits, summary(), current.more);
    $("results").querySelector(".play")?.focus();
  } catch (error) {
    if (error.name !== "AbortError") { $("message").textContent = `Similar clips failed: ${error.message}`; $("more").hidden = true; }
  }
}

// A picture or short video, chosen or dropped: POST it to /api/similar (nothing is kept).
async function searchWithFile(file) {
  if (!file) return;
  if (pending) pending.abort();
  pending = new AbortController();
  current = null;
  $("message").textContent = `Looking for clips like ${file.name}…`;
  const form = new FormData();
  form.append("file", file);
  try {
    const response = await fetch(`/api/similar?k=${count()}`, { method: "POST", body: form, signal: pending.signal });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(problem(body.detail) || `${response.status} ${response.statusText}`);
    show(body.hits, `${body.hits.length} clips like ${file.name}`);
  } catch (error) {
    if (error.name !== "AbortError") $("message").textContent = `Search with ${file.name} failed: ${error.message}`;
  }
}

function playHit(hit, item) {
  const video = $("video");
  playing = hit;
  document.querySelectorAll(".card.active").forEach((c) => c.classList.remove("active"));
  item.classList.add("active");
  $("player").hidden = false;
  $("cannot-play").hidden = true;
  asSound(soundOnly(hit));  // until the file's own metadata says whether it has a picture
  $("now-playing").textContent = `${baseName(hit.path)} · ${clock(hit.start)}–${clock(hit.end)}`;
  const src = `/api/videos/${hit.video_id}/media`;
  const from = playFrom(hit);
  const start = () => {
    video.currentTime = from;
    video.play().catch(() => { video.muted = true; return video.play(); }).catch(() => {});
    markSpan();
  };
  if (video.dataset.src === src && video.readyState >= 1) {
    start();
  } else {
    video.dataset.src = src;
    captions(video, hit.video_id);
    video.src = `${src}#t=${from}`;  // media fragment: the browser starts here too
    video.addEventListener("loadedmetadata", start, { once: true });
  }
  $("player").scrollIntoView({ block: "nearest" });
}

// What the video says, as captions: a fresh <track> per video (changing a track's src does
// not reliably reload its cues), shown at once. Its cues also feed the line shown beside the
// controls of a file without pictures (`saying`).
function captions(video, videoId) {
  video.querySelectorAll("track").forEach((track) => track.remove());
  const track = document.createElement("track");
  Object.assign(track, { kind: "captions", label: "Transcript", default: true });
  track.src = `/api/videos/${videoId}/transcript.vtt`;
  video.append(track);
  track.track.mode = $("player").classList.contains("sound") ? "hidden" : "showing";
  track.track.addEventListener("cuechange", saying);
}

// A file without pictures plays as sound: the player drops its picture box (the <video> keeps
// only its controls) and, instead of captions drawn over a black box, shows the line being
// said below them. Decided from the hit, then from the file itself once its metadata is in.
function asSound(sound) {
  const video = $("video");
  $("player").classList.toggle("sound", sound);
  const track = video.querySelector("track");
  if (track) track.track.mode = sound ? "hidden" : "showing";
  saying();
}

function saying() {
  const line = $("line");
  const track = $("video").querySelector("track")?.track;
  const sound = $("player").classList.contains("sound");
  const cues = sound && track && track.activeCues ? [...track.activeCues] : [];
  line.textContent = cues.map((cue) => cue.text).join(" ");
  line.hidden = !sound;
}

// The browser could not load or decode the file (say an AVI, or a codec it lacks): say so, and
// offer the file itself with the moment to open it at.
const MEDIA_ERRORS = {
  2: "a network error stopped the download",
  3: "it could not decode the video",
  4: "it does not support this file's format or codec",
};

function cannotPlay() {
  const video = $("video");
  if (!playing || !video.error) return;
  const name = baseName(playing.path);
  const why = MEDIA_ERRORS[video.error.code] || "the video could not be played";
  $("cannot-play-why").textContent = `This browser cannot play ${name}: ${why}.`;
  const link = $("download");
  link.href = `/api/videos/${playing.video_id}/media`;
  link.download = name;
  link.title = playing.path;
  $("play-at").textContent = clock(playFrom(playing));
  $("cannot-play").hidden = false;
  video.removeAttribute("data-src");  // try again from scratch on the next click
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
  timer = setTimeout(() => search({ typing: true }), DEBOUNCE_MS);
}

function showFailed(body) {
  const files = [
    ...body.failed.map((f) => ({ ...f, kind: "not indexed" })),
    ...body.partial.map((f) => ({ ...f, kind: "indexed in part" })),
  ];
  const toggle = $("failed-toggle");
  toggle.hidden = files.length === 0;
  if (!files.length) { $("failed").hidden = true; return; }
  const parts = [];
  if (body.failed.length) parts.push(`${body.failed.length} failed`);
  if (body.partial.length) parts.push(`${body.partial.length} partly read`);
  toggle.textContent = `${parts.join(", ")}: ${$("failed").hidden ? "show" : "hide"} why`;
  $("failed-list").replaceChildren(...files.map((file) => {
    const item = document.createElement("li");
    const path = document.createElement("code");
    path.textContent = file.path;
    const reason = document.createElement("span");
    reason.className = "reason";
    reason.textContent = ` (${file.kind}): ${file.error || "no reason recorded"}`;
    item.append(path, reason);
    return item;
  }));
}

let lastStatus = null;

async function showStatus() {
  try {
    const response = await fetch("/api/status");
    const body = await response.json();
    lastStatus = body;
    $("status").textContent = `${body.videos} videos, ${body.clips} clips`;
    showFailed(body);
    $("library-path").textContent = body.library;
    $("empty").hidden = body.videos > 0;
  } catch (error) {
    $("status").textContent = "";
  }
}

function typingIn(element) {
  return element instanceof HTMLInputElement || element instanceof HTMLTextAreaElement
    || element instanceof HTMLSelectElement || Boolean(element?.isContentEditable);
}

document.addEventListener("DOMContentLoaded", () => {
  $("q").addEventListener("input", schedule);
  $("rerank").addEventListener("change", () => search());
  $("count").addEventListener("change", () => {
    if (current?.kind === "similar") findSimilar(current.clip.clip_id); else search();
  });
  $("filters").addEventListener("input", schedule);
  $("search-form").addEventListener("submit", (event) => { event.preventDefault(); typedEntry = ""; search(); });
  $("more").addEventListener("click", more);
  $("upload").addEventListener("change", (event) => { searchWithFile(event.target.files[0]); event.target.value = ""; });
  document.addEventListener("dragover", (event) => event.preventDefault());
  document.addEventListener("drop", (event) => { event.preventDefault(); searchWithFile(event.dataTransfer.files[0]); });
  $("video").addEventListener("timeupdate", markSpan);
  $("video").addEventListener("loadedmetadata", markSpan);
  $("video").addEventListener("loadedmetadata", (event) => asSound(event.target.videoWidth === 0));
  $("video").addEventListener("error", cannotPlay);
  $("failed-toggle").addEventListener("click", () => {
    const failed = $("failed");
    failed.hidden = !failed.hidden;
    $("failed-toggle").setAttribute("aria-expanded", String(!failed.hidden));
    if (lastStatus) showFailed(lastStatus);
  });
  // "/" focuses the search box, unless the focus is already in a box (it is typed there).
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && !typingIn(document.activeElement)) { event.preventDefault(); $("q").focus(); }
  });
  window.addEventListener("popstate", fromURL);
  if (location.search) fromURL();
  showStatus();
  setInterval(showStatus, 10000);  // counts grow while `clipdex watch` indexes
});
