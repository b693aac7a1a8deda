// Casebook's one script. Every page works without it; it adds the in-place
// Close flow of the history page, toasts with Undo, and "Load more" in place.
// Cards always come from the server's own template (GET /sessions/{id}/card).
// Every action calls the JSON API and shows what the server renders or says:
// a refusal is the problem's `detail`, word for word, as the API gives it.

const HISTORY = "history";
const TOAST_MS = 8000;
const toasts = document.getElementById("toasts");
// Every change made with the login cookie proves it comes from this page.
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

document.documentElement.classList.add("js");

// The popover's Confirm stays disabled until an outcome is chosen. The HTML
// leaves it enabled so the form still submits where this script never runs.
function syncConfirm(form) {
  const confirm = form.querySelector("button:not([type])");
  if (confirm.getAttribute("aria-busy") !== "true") confirm.disabled = !form.outcome.value;
}
const setup = (root) => root.querySelectorAll("form.pop").forEach(syncConfirm);

for (const type of ["change", "input"]) {
  document.addEventListener(type, (e) => {
    const form = e.target.closest?.("form.pop");
    if (form) syncConfirm(form);
  });
}

const invokerOf = (pop) => document.querySelector(`[popovertarget="${pop.id}"][data-close]`);

// Does a popover at this viewport position cover a card's title?
function coversATitle(top, left, pop) {
  const bottom = top + pop.offsetHeight;
  const right = left + pop.offsetWidth;
  return [...document.querySelectorAll(".card h2")].some((h) => {
    const t = h.getBoundingClientRect();
    return t.bottom > top && t.top < bottom && t.right > left && t.left < right;
  });
}

// Places an open popover just below its button, inside the viewport; above
// it when below would cover a card's title (the next card's, or when below
// there is no room) and above covers none. The card itself is highlighted
// (CSS) so it is always clear which session the popover closes.
function place(pop) {
  const button = invokerOf(pop);
  if (!button || !pop.matches(":popover-open")) return;
  const r = button.getBoundingClientRect();
  const width = document.documentElement.clientWidth;
  const left = Math.max(8, Math.min(r.left, width - pop.offsetWidth - 8));
  const below = r.bottom + 6;
  const above = r.top - 6 - pop.offsetHeight;
  const header = document.querySelector(".top")?.getBoundingClientRect().bottom ?? 0;
  const flip = coversATitle(below, left, pop) && above >= header + 4 && !coversATitle(above, left, pop);
  pop.classList.toggle("pop-above", flip);
  pop.style.left = `${left + scrollX}px`;
  pop.style.top = `${(flip ? above : below) + scrollY}px`;
  const overflow = pop.getBoundingClientRect().bottom - innerHeight + 8;
  if (!flip && overflow > 0) scrollBy({ top: overflow, behavior: "instant" });
}

// Popover toggle events do not bubble, so listen in the capture phase.
document.addEventListener("toggle", (e) => {
  const pop = e.target;
  if (!pop.classList?.contains("pop")) return;
  if (e.newState === "open") {
    place(pop);
    pop.querySelector("select").focus();
  } else {
    showError(pop, "");
    const active = document.activeElement;
    if (!active || active === document.body || pop.contains(active)) invokerOf(pop)?.focus();
  }
}, true);
addEventListener("resize", () => document.querySelectorAll(".pop:popover-open").forEach(place));

function setBusy(button, busy) {
  button.setAttribute("aria-busy", String(busy));
  button.disabled = busy;
}

// The message line is made on first need: fifty popovers need not carry it.
function showError(form, message) {
  let err = form.querySelector(".err");
  if (!err && !message) return;
  if (!err) {
    err = document.createElement("p");
    err.className = "err";
    err.setAttribute("role", "alert");
    form.querySelector(".pop-actions").before(err);
  }
  err.textContent = message;
  err.hidden = !message;
}

// Is a card for this status shown by the page's current filter?
function shown(card) {
  const status = new URLSearchParams(location.search).get("status");
  return !status || card.dataset.status === status;
}

// The server's rendering of a card, and whether it passes the page's filters.
async function fetchCard(id) {
  const query = new URLSearchParams(location.search);
  for (const key of ["cursor", "closed", "reopened"]) query.delete(key);
  const res = await fetch(`/sessions/${id}/card?${query}`);
  if (!res.ok) return {};
  const template = document.createElement("template");
  template.innerHTML = await res.text();
  return { fresh: template.content.firstElementChild, belongs: res.headers.get("Casebook-Filter") !== "no-match" };
}

// Replaces a card with the server's fresh rendering of it, and returns that
// (also when the card has left the page meanwhile: it still says what to say).
async function refreshCard(id) {
  const { fresh } = await fetchCard(id);
  const old = document.getElementById(`s-${id}`);
  if (!fresh) return null;
  fresh.hidden = !shown(fresh);
  if (old) old.replaceWith(fresh), setup(fresh);
  return fresh;
}

// An element of a card that is on the page and shown, to focus after an action.
const onCard = (card, css) => (card?.isConnected && !card.hidden ? card.querySelector(css) : null);

function toast(text, { undo, error } = {}) {
  const el = document.createElement("div");
  el.className = error ? "toast toast-error" : "toast";
  const span = document.createElement("span");
  span.textContent = text;
  el.append(span);
  if (undo) {
    const button = document.createElement("button");
    button.className = "btn btn-sm";
    button.textContent = "Undo";
    button.addEventListener("click", async () => {
      button.disabled = true;
      el.remove();
      await undo();
    });
    el.append(button);
  }
  toasts.append(el);
  setTimeout(() => el.remove(), TOAST_MS);
  return el;
}

async function post(url, body, via, method = "POST") {
  const headers = { Accept: "application/json", "X-CSRF-Token": CSRF };
  if (via) headers["Casebook-Via"] = via;
  if (body) headers["Content-Type"] = "application/json";
  const res = await fetch(url, { method, headers, body: body && JSON.stringify(body) });
  return { res, json: await res.json().catch(() => ({})) };
}

// What the server said was wrong: its problem's `detail`. Only an answer that
// is not Casebook's (a proxy's error page) has none.
const problemText = (res, json) => json.detail || `${res.status} ${res.statusText}: nothing was changed.`;

// The page a form is on, for the timeline ("via details page").
const viaOf = (form) => form.elements.via?.value || form.closest("[data-via]")?.dataset.via;

async function reopen(id) {
  try {
    const { res, json } = await post(`/api/sessions/${id}/reopen`, undefined, HISTORY);
    await refreshCard(id);
    toast(res.ok ? "Session reopened" : problemText(res, json), { error: !res.ok });
  } catch {
    toast("Couldn’t reach Casebook, so the session is still closed. Try again.", { error: true });
  }
}

async function closeSession(form) {
  const pop = form;
  const id = form.id.slice(2);
  const confirm = form.querySelector("button:not([type])");
  if (confirm.getAttribute("aria-busy") === "true" || !form.outcome.value) return;
  setBusy(confirm, true);
  showError(form, "");
  let reply;
  try {
    reply = await post(form.dataset.api, apiBody(form), viaOf(form));
  } catch {
    setBusy(confirm, false);
    toast("Couldn’t reach Casebook, so the session is still open. Your choice is kept; try again.", { error: true });
    return;
  }
  const { res, json } = reply;
  setBusy(confirm, false);
  syncConfirm(form);
  if (res.status === 422) {
    showError(form, problemText(res, json));
    return;
  }
  if (!res.ok && res.status !== 409) {
    toast(problemText(res, json), { error: true });
    return;
  }
  pop.hidePopover();
  const fresh = await refreshCard(id);
  // The toast names what was closed, in the server's words (the fresh card
  // carries them; the no-script toast is made from the same).
  const note = res.ok
    ? toast(fresh?.dataset.closedText ?? json.outcome_label, { undo: () => reopen(id) })
    : toast(problemText(res, json), { error: true });
  // The Close button is gone: focus the card's first action, or Undo when
  // the filter hid the card.
  const target = onCard(fresh, ".actions a") ?? note.querySelector("button");
  (target || document.getElementById("main")).focus();
}

// A card's own form (Start): the API, then the server's fresh card in place.
async function actOnCard(form) {
  const id = form.dataset.card;
  const button = form.querySelector("button");
  if (button.getAttribute("aria-busy") === "true") return;
  setBusy(button, true);
  let reply;
  try {
    reply = await post(form.dataset.api, apiBody(form), viaOf(form));
  } catch {
    setBusy(button, false);
    toast("Couldn’t reach Casebook, so nothing was changed. Try again.", { error: true });
    return;
  }
  const { res, json } = reply;
  const fresh = await refreshCard(id);
  if (!res.ok) toast(problemText(res, json), { error: true });
  if (!fresh?.isConnected) setBusy(button, false);
  // Focus stays on the card: its next action (Resume after Start).
  const next = onCard(fresh, ".actions a[href$='/work']") ?? onCard(fresh, ".actions a");
  (next || document.getElementById("main")).focus();
}

document.addEventListener("submit", (e) => {
  const form = e.target;
  if (form.matches("form.pop")) {
    e.preventDefault();
    closeSession(form);
  } else if (form.matches("form[data-card]")) {
    e.preventDefault();
    actOnCard(form);
  } else if (form.matches("form[data-api]")) {
    e.preventDefault();
    actInPlace(form);
  } else if (form.matches("form.undo")) {
    // The server-rendered toast after a no-script close: undo in place.
    e.preventDefault();
    const id = form.action.match(/sessions\/([^/]+)\/reopen/)[1];
    form.closest(".toast").remove();
    reopen(id);
  }
});

// "Load more" appends the next page's cards instead of leaving the page.
document.addEventListener("click", async (e) => {
  const more = e.target.closest?.("a.load-more");
  if (!more || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  more.setAttribute("aria-busy", "true");
  try {
    const res = await fetch(more.href);
    const page = new DOMParser().parseFromString(await res.text(), "text/html");
    const incoming = [...page.querySelectorAll("#cards > .card")];
    document.getElementById("cards").append(...incoming);
    setup(document.getElementById("cards"));
    const next = page.querySelector("a.load-more");
    if (next) more.replaceWith(next);
    else more.closest(".more").remove();
    incoming[0]?.querySelector(".actions a")?.focus();
  } catch {
    location.href = more.href;
  }
});

// A server-rendered toast (after a no-script action) fades like the others,
// and the one-time marker leaves the URL so a reload does not repeat it.
for (const el of toasts.querySelectorAll(".toast")) setTimeout(() => el.remove(), TOAST_MS);
const url = new URL(location.href);
if (url.searchParams.has("closed") || url.searchParams.has("reopened")) {
  url.searchParams.delete("closed");
  url.searchParams.delete("reopened");
  history.replaceState(null, "", url);
}

setup(document);

// The workspace's Complete panel, like the popover: Confirm waits for an outcome.
const outcomeForms = () => document.querySelectorAll("form[data-outcome-form]");
function syncOutcomeForm(form) {
  form.querySelector("[data-confirm]").disabled = !form.outcome.value;
}
outcomeForms().forEach(syncOutcomeForm);
document.addEventListener("change", (e) => {
  const form = e.target.closest?.("form[data-outcome-form]");
  if (form) syncOutcomeForm(form);
});

// The plan editor of /sessions/new: add, move and remove steps in place. The
// same buttons post to the server (which makes the same edits) without script.
function renumberPlan(list) {
  const rows = [...list.children];
  rows.forEach((row, i) => {
    const n = i + 1;
    const input = row.querySelector("input");
    const label = row.querySelector("label");
    input.id = `step-${n}`;
    label.htmlFor = input.id;
    label.textContent = `Step ${n}`;
    for (const [value, name] of [["up", "up"], ["down", "down"], ["remove", "Remove"]]) {
      const button = row.querySelector(`button[value^="${value}-"]`);
      button.value = `${value}-${i}`;
      const verb = name === "Remove" ? `Remove step ${n}` : `Move step ${n} ${name}`;
      button.setAttribute("aria-label", verb);
    }
    row.querySelector('button[value^="up-"]').disabled = i === 0;
    row.querySelector('button[value^="down-"]').disabled = i === rows.length - 1;
  });
}

document.addEventListener("click", (e) => {
  const button = e.target.closest?.("form[data-plan-form] button[name=intent]");
  if (!button) return;
  // Enter outside the plan (the form's implicit submission) does nothing with
  // script; in a step the keydown handler below adds the next step.
  if (button.matches(".default-submit")) return e.preventDefault();
  const list = button.form.querySelector("[data-plan]");
  const [action] = button.value.split("-");
  const row = button.closest(".plan-row");
  if (action === "add") {
    e.preventDefault();
    addStepAfter(list, list.lastElementChild);
  } else if (row && ["up", "down", "remove"].includes(action)) {
    e.preventDefault();
    if (action === "up" && row.previousElementSibling) row.previousElementSibling.before(row);
    if (action === "down" && row.nextElementSibling) row.nextElementSibling.after(row);
    if (action === "remove") {
      const focusTarget = row.nextElementSibling || row.previousElementSibling;
      if (list.children.length === 1) {
        row.querySelector("input").value = "";
      } else {
        row.remove();
      }
      renumberPlan(list);
      (focusTarget || list.querySelector(".plan-row"))?.querySelector("input").focus();
      return;
    }
    renumberPlan(list);
    // Moving the row took focus from the button; at the top or bottom the
    // button is now disabled, so the other arrow of the same step takes it.
    const other = row.querySelector(`button[value^="${action === "up" ? "down" : "up"}-"]`);
    (button.disabled ? other : button).focus();
  }
});

// New session's runbook chooser: the list narrows as the engineer types (the
// Filter button asks the server the same without script).
document.addEventListener("input", (e) => {
  const field = e.target.closest?.("[data-runbook-filter]");
  if (!field) return;
  const words = field.value.toLowerCase().split(/\s+/).filter(Boolean);
  const options = document.querySelectorAll("[data-runbook-options] li");
  let shown = 0;
  for (const option of options) {
    const match = words.every((w) => option.dataset.key.includes(w));
    option.hidden = !match;
    if (match) shown += 1;
  }
  const none = document.querySelector("[data-runbook-none]");
  if (none) none.hidden = shown > 0 || options.length === 0;
});
// Live pages: changes made elsewhere (a colleague, another tab, the API)
// arrive over GET /api/stream and are shown as the server renders them. The
// history page swaps in the changed card, adds a new one that passes its
// filters and removes one that no longer does; the details and workspace
// pages re-read the parts of the page nobody is using.
const liveList = document.querySelector("[data-live-list]");
const liveSession = document.querySelector("[data-live-session]")?.dataset.liveSession;

// The card's Close popover was open when the session was closed elsewhere:
// it closes, and the toast says by whom, as what, and what was not saved.
function closedUnderneath(pop, s) {
  const typed = [pop.outcome.value && pop.outcome.selectedOptions[0].text, pop.outcome_notes.value.trim()];
  pop.hidePopover();
  const lost = typed.some(Boolean) ? ` Not saved: ${typed.filter(Boolean).join(", ")}.` : "";
  toast(`${s.completed_by ?? "Someone"} closed “${s.title}” as ${s.outcome_label ?? s.status}.${lost}`, { error: true });
}

async function liveCard(s) {
  const old = document.getElementById(`s-${s.id}`);
  // Only a session newer than the first card belongs at the top; ids are
  // UUIDv7, so they sort by creation time.
  const first = liveList.querySelector(".card");
  if (!old && first && `s-${s.id}` < first.id) return;
  const pop = document.getElementById(`p-${s.id}`);
  const open = pop?.matches(":popover-open");
  // This page's own close is on its way, or the session is still open for
  // what is being typed: leave the card as it is.
  if (open && (pop.querySelector("[aria-busy=true]") || s.status === "active")) return;
  const { fresh, belongs } = await fetchCard(s.id);
  if (!fresh) return;
  if (open) closedUnderneath(pop, s);
  const current = document.getElementById(`s-${s.id}`);
  if (!belongs) return current?.remove();
  // Unchanged (this page's own change, say): keep it, and the focus in it.
  if (current?.textContent === fresh.textContent) return;
  if (current) current.replaceWith(fresh);
  else liveList.prepend(fresh), document.querySelector(".empty")?.remove();
  setup(fresh);
}

// Someone is using this part of the page: focus is in it, or a field in it
// holds what they typed or chose.
const edited = (f) => f.tagName === "SELECT" ? [...f.options].some((o) => o.selected !== o.defaultSelected) : f.value !== f.defaultValue;
const FORM_FIELDS = "input, textarea, select";
const inUse = (el) => el.contains(document.activeElement) || (el.matches(FORM_FIELDS) ? [el] : [...el.querySelectorAll(FORM_FIELDS)]).some(edited);

// Puts the server's fresh rendering in place of `now`, except the parts in
// use: those stay, and what is around them is updated.
function merge(now, next) {
  if (!inUse(now)) return now.replaceWith(document.importNode(next, true));
  const [a, b] = [now.children, next.children];
  if (a.length !== b.length) return;
  [...a].forEach((el, i) => {
    if (!inUse(el)) el.replaceWith(document.importNode(b[i], true));
    // A field in use is kept whole (a select's options hold its choice).
    else if (!el.matches(FORM_FIELDS) && el.tagName === b[i].tagName && el.className === b[i].className) merge(el, b[i]);
  });
}

async function liveRegions() {
  const res = await fetch(location.pathname);
  const fresh = new DOMParser().parseFromString(await res.text(), "text/html").getElementById("main");
  if (res.ok && fresh) merge(document.getElementById("main"), fresh);
  outcomeForms().forEach(syncOutcomeForm);
}

if ((liveList || liveSession) && window.EventSource) {
  // One change at a time, in the order they happened.
  let queue = Promise.resolve();
  const later = (work) => { queue = queue.then(work).catch(() => {}); };
  const stream = new EventSource("/api/stream");
  stream.addEventListener("session", (e) => {
    const s = JSON.parse(e.data);
    if (liveList) later(() => liveCard(s));
    else if (s.id === liveSession) later(liveRegions);
  });
  // More changed while disconnected than the server replays.
  stream.addEventListener("reload", () => {
    if (liveSession) later(liveRegions);
    else if (!document.querySelector(".pop:popover-open")) location.reload();
  });
}

// The new-session form offers similar past sessions as the problem is typed:
// after a pause, the server's own list (GET /sessions/new/similar) replaces
// the one in the form. Each offer's "Use this plan" posts the form, which
// comes back with that plan added (the same as without script).
const similarOffer = document.querySelector("[data-similar]");
if (similarOffer) {
  const form = similarOffer.closest("form");
  const list = similarOffer.querySelector("[data-similar-list]");
  const SIMILAR_PAUSE_MS = 400;
  let timer;
  let asked = "";
  let latest;
  const text = () => ["title", "problem", "customer"].map((name) => form.elements[name].value).join("\n");
  async function offerSimilar() {
    const now = text();
    if (now.trim() === asked.trim()) return;
    asked = now;
    const request = (latest = new AbortController());
    try {
      const response = await fetch(`/sessions/new/similar?text=${encodeURIComponent(now)}`, {
        signal: request.signal,
      });
      if (!response.ok || request !== latest) return;
      const html = await response.text();
      if (request !== latest) return;
      list.innerHTML = html;
      similarOffer.hidden = !list.querySelector("li");
    } catch {
      // Offline or superseded: the offers stay as they were.
    }
  }
  form.addEventListener("input", (e) => {
    if (!["title", "problem", "customer"].includes(e.target.name)) return;
    clearTimeout(timer);
    latest?.abort();
    timer = setTimeout(offerSimilar, SIMILAR_PAUSE_MS);
  });
}
// A new empty step below `row`, focused: the + button and Enter in a step.
function addStepAfter(list, row) {
  const fresh = row.cloneNode(true);
  const input = fresh.querySelector("input");
  input.value = "";
  input.defaultValue = "";
  input.removeAttribute("aria-invalid");
  input.removeAttribute("aria-describedby");
  fresh.querySelector(".field-error")?.remove();
  row.after(fresh);
  renumberPlan(list);
  input.focus();
}

// Enter in a step adds the next step instead of submitting half a plan.
document.addEventListener("keydown", (e) => {
  if (e.key !== "Enter" || e.isComposing || e.shiftKey || e.ctrlKey || e.metaKey || e.altKey) return;
  const input = e.target.closest?.("[data-plan] .plan-row input");
  if (!input) return;
  e.preventDefault();
  addStepAfter(input.closest("[data-plan]"), input.closest(".plan-row"));
});

// --- Actions in place ------------------------------------------------------
// The workspace's and the details page's forms call the JSON API. Check,
// uncheck, notes, plan edits and the summary swap in the server's own
// rendering of what changed (the page, read again), so text typed anywhere
// else on the page stays where it is; Start, Complete, Reopen and Delete go
// where the form's `next` says, as the no-script post would. A refusal shows
// the API's own words beside the form.

// What only the page's own route reads: the token (sent as a header), where
// to go next, and which page it is (sent as Casebook-Via).
const FORM_ONLY = new Set(["csrf", "next", "via"]);

// The form's fields as the API's JSON body.
function apiBody(form) {
  const body = {};
  for (const [name, value] of new FormData(form)) if (!FORM_ONLY.has(name)) body[name] = value;
  return Object.keys(body).length ? body : undefined;
}

function showFormMessage(form, message) {
  let line = form.querySelector(":scope > .api-error");
  if (!line && !message) return;
  if (!line) {
    line = document.createElement("p");
    line.className = "field-error api-error";
    line.setAttribute("role", "alert");
    form.append(line);
  }
  line.textContent = message;
  line.hidden = !message;
}

// Replaces the elements with these ids by the server's fresh rendering.
async function swapFromServer(ids) {
  const source = document.querySelector("[data-workspace]")?.dataset.workspace ?? location.pathname;
  const res = await fetch(source, { headers: { Accept: "text/html" } });
  const page = new DOMParser().parseFromString(await res.text(), "text/html");
  for (const id of ids) {
    const fresh = page.getElementById(id);
    const old = document.getElementById(id);
    if (fresh && old) old.replaceWith(document.adoptNode(fresh));
  }
}

// What is typed in the regions about to be re-rendered, outside the form
// that acted (a finding in another step when a step is added); the returned
// function puts it back into the fresh fields with the same ids.
function keepTyped(ids, form) {
  const typed = ids
    .flatMap((id) => [...(document.getElementById(id)?.querySelectorAll(FORM_FIELDS) ?? [])])
    .filter((f) => f.id && !form.contains(f) && edited(f))
    .map((f) => [f.id, f.value]);
  return () => {
    for (const [id, value] of typed) {
      const field = document.getElementById(id);
      if (field) field.value = value;
    }
  };
}

// Loads `next` afresh, even when it differs from this page only by its
// #fragment (the workspace's Complete: its address now leads to the details).
function go(next) {
  const url = new URL(next, location.href);
  if (url.pathname !== location.pathname || url.search !== location.search) return location.assign(url);
  history.replaceState(history.state, "", url);
  location.reload();
}

async function actInPlace(form) {
  const button = form.querySelector("button:not([type=button])");
  if (button.getAttribute("aria-busy") === "true") return;
  const hadFocus = form.contains(document.activeElement);
  setBusy(button, true);
  showFormMessage(form, "");
  let reply;
  try {
    reply = await post(form.dataset.api, apiBody(form), viaOf(form), form.dataset.method);
  } catch {
    setBusy(button, false);
    showFormMessage(form, "Couldn’t reach Casebook, so nothing was saved; your text is kept. Try again.");
    return;
  }
  const { res, json } = reply;
  if (!res.ok) {
    setBusy(button, false);
    if (form.matches("[data-outcome-form]")) syncOutcomeForm(form);
    showFormMessage(form, problemText(res, json));
    return;
  }
  if (!form.dataset.swap) {
    // Done (started, completed, reopened, deleted): on to where the form's
    // own post would have gone. Only this form's input was sent.
    form.dataset.sent = "";
    go(form.elements.next.value);
    return;
  }
  const ids = form.dataset.swap.split(" ");
  const restore = keepTyped(ids, form);
  try {
    await swapFromServer(ids);
    restore();
  } catch {
    location.reload();
    return;
  }
  setBusy(button, false);
  if (form.matches(".note-form")) {
    form.text.value = form.text.defaultValue = "";
    if (hadFocus) form.text.focus();
  } else if (form.matches(".add-step-form")) {
    // The plan was re-rendered with the new step: ready for the next one.
    if (hadFocus) document.getElementById("new-step")?.focus();
  } else if (hadFocus) {
    // The step was re-rendered: focus its next action (Uncheck, or the finding).
    document.getElementById(ids[0])?.querySelector("input:not([type=hidden]), button")?.focus();
  }
}

// --- Unsent text is never lost silently -----------------------------------
// Leaving a page with text typed but not yet sent asks first.

let leavingOnPurpose = false;

function changedField(field) {
  if (field.type === "hidden" || field.type === "submit" || field.type === "button") return false;
  if (field.tagName === "SELECT") {
    // With no option marked selected, the first is the default.
    const initial = Math.max(0, [...field.options].findIndex((o) => o.defaultSelected));
    return field.selectedIndex !== initial;
  }
  return field.value !== field.defaultValue;
}

function hasUnsentText() {
  // (A Close popover's choice is dropped on purpose by Cancel and Escape.)
  const forms = document.querySelectorAll("form[data-api]:not([data-sent]):not(.pop), form[data-guard]");
  return [...forms].some((form) => [...form.elements].some(changedField));
}

// Registered last: a form that really leaves the page is not unsent text.
document.addEventListener("submit", (e) => {
  if (!e.defaultPrevented && e.target.matches("form[data-guard]")) leavingOnPurpose = true;
});

addEventListener("beforeunload", (e) => {
  if (leavingOnPurpose || !hasUnsentText()) return;
  e.preventDefault();
  e.returnValue = "";
});

// --- The header menu on narrow screens -------------------------------------
// CSS folds the navigation behind the Menu button only where this script runs.

function setMenu(toggle, open) {
  toggle.setAttribute("aria-expanded", String(open));
  toggle.closest(".top").classList.toggle("menu-open", open);
}

document.addEventListener("click", (e) => {
  const toggle = e.target.closest?.(".menu-toggle");
  if (toggle) setMenu(toggle, toggle.getAttribute("aria-expanded") !== "true");
});

document.addEventListener("keydown", (e) => {
  const toggle = document.querySelector(".menu-toggle[aria-expanded=true]");
  if (e.key === "Escape" && toggle && toggle.closest(".top").contains(document.activeElement)) {
    setMenu(toggle, false);
    toggle.focus();
  }
});

// --- History filters apply as they change ---------------------------------
// The filter bar stays a plain GET form; a changed choice submits it.

document.addEventListener("change", (e) => {
  const form = e.target.closest?.("form.filters");
  if (form && e.target.matches("select")) form.requestSubmit();
});

// --- Copy buttons ----------------------------------------------------------
// A button with data-copy="<id>" copies that element's text (a new token, a
// summary). Without script the text is still there to select.

document.addEventListener("click", async (e) => {
  const button = e.target.closest?.("button[data-copy]");
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const label = button.dataset.label ?? button.textContent;
  button.dataset.label = label;
  try {
    await navigator.clipboard.writeText(source.innerText.trim());
    button.textContent = "Copied";
  } catch {
    // No clipboard (permissions, an old browser): select it for Ctrl+C.
    getSelection().selectAllChildren(source);
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => { button.textContent = label; }, 4000);
});
