// The pages' access to podrun's API: same-origin requests carrying the session cookie, the login, and streams
// (watches and logs) read as they arrive. Every stream takes an AbortSignal, so a page never keeps more than the
// few connections it shows (browsers allow six per host over HTTP/1.1).

export const TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json";

export class Unauthorized extends Error {}

// A tab hidden this long closes its streams, so that background tabs do not hold the connections the visible one
// needs; it reloads when shown again.
const HIDDEN_PAUSE_MS = 30000;
const page = new AbortController();
let hiddenTimer = null;
document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    hiddenTimer = setTimeout(() => page.abort(), HIDDEN_PAUSE_MS);
  } else {
    clearTimeout(hiddenTimer);
    if (page.signal.aborted) location.reload();
  }
});

async function check(response) {
  if (response.status === 401) throw new Unauthorized("Unauthorized");
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).message || message; } catch { /* not a Status */ }
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response;
}

export async function getJSON(path, accept = "application/json") {
  return (await check(await fetch(path, { headers: { Accept: accept }, credentials: "same-origin" }))).json();
}

export async function getText(path) {
  return (await check(await fetch(path, { credentials: "same-origin" }))).text();
}

// Calls onChunk with each piece of text as it arrives; resolves when the stream ends.
export async function stream(path, onChunk, { accept = "*/*", signal } = {}) {
  const both = signal ? AbortSignal.any([signal, page.signal]) : page.signal;
  const response = await check(await fetch(path, { headers: { Accept: accept }, credentials: "same-origin", signal: both }));
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk(value);
  }
}

// Calls onObject with each JSON line (a watch event or a lifecycle record); resolves when the stream ends.
export async function streamLines(path, onObject, options = {}) {
  let pending = "";
  await stream(path, (chunk) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop();
    for (const line of lines) if (line.trim()) onObject(JSON.parse(line));
  }, options);
}

// A watch of a collection from `resourceVersion`, resumed after the server ends it; `onEvent` gets each event.
export async function watch(path, resourceVersion, onEvent, { accept = "application/json", signal } = {}) {
  let rv = resourceVersion;
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    await streamLines(`${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, (event) => {
      const meta = event.object?.metadata || {};
      if (meta.resourceVersion) rv = meta.resourceVersion;
      const rowMeta = event.object?.rows?.[0]?.object?.metadata;
      if (rowMeta?.resourceVersion) rv = rowMeta.resourceVersion;
      if (event.type !== "BOOKMARK") onEvent(event);
    }, { accept, signal });
    if (signal?.aborted || page.signal.aborted) return;
  }
}

export function setConnection(text, live) {
  const badge = document.getElementById("connection");
  badge.textContent = text;
  badge.classList.toggle("live", live);
}

// Exchanges a login code from the URL's fragment (podrun dashboard) for a session cookie, and wires the login form
// and the log-out button. The fragment is removed first: it is never sent to the server, nor kept in the history.
export async function logIn() {
  await redeemCode();
  // A login URL opened in a tab that already shows the page only changes the fragment: no new page load.
  window.addEventListener("hashchange", async () => { if (await redeemCode()) location.reload(); });
  document.getElementById("login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const ok = await postSession({ token: document.getElementById("login-token").value });
    if (ok) location.reload();
    else document.getElementById("login-error").textContent = "That token was refused.";
  });
  document.getElementById("logout").addEventListener("click", async () => {
    await fetch("/ui/session", { method: "DELETE", credentials: "same-origin" });
    location.reload();
  });
}

async function redeemCode() {
  const code = new URLSearchParams(location.hash.slice(1)).get("code");
  if (!code) return false;
  history.replaceState(null, "", location.pathname + location.search);
  return postSession({ code });
}

async function postSession(body) {
  const response = await fetch("/ui/session", {
    method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return response.ok;
}

// Runs `main`; shows the login form when the server refuses the session, any other failure in the badge.
export async function runPage(main) {
  await logIn();
  try {
    document.getElementById("content").hidden = false;
    await main();
  } catch (error) {
    if (error instanceof Unauthorized) {
      document.getElementById("content").hidden = true;
      document.getElementById("login").hidden = false;
      setConnection("not logged in", false);
    } else if (error.name !== "AbortError") {
      setConnection(`error: ${error.message}`, false);
      throw error;
    }
  }
}

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value; else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}
