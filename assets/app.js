// Casebook's one script. Every page works without it; it adds the in-place
// Close flow of the history page, toasts with Undo, and "Load more" in place.
// Cards always come from the server's own template (GET /sessions/{id}/card).

const VIA = { "Casebook-Via": "history" };
const FIELDS = { outcome: "Outcome", outcome_notes: "Notes" };
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

// Places an open popover just below its button, inside the viewport.
function place(pop) {
  const button = invokerOf(pop);
  if (!button || !pop.matches(":popover-open")) return;
  const r = button.getBoundingClientRect();
  const width = document.documentElement.clientWidth;
  const left = Math.max(8, Math.min(r.left, width - pop.offsetWidth - 8));
  pop.style.left = `${left + scrollX}px`;
  pop.style.top = `${r.bottom + 6 + scrollY}px`;
  const below = pop.getBoundingClientRect().bottom - innerHeight + 8;
  if (below > 0) scrollBy({ top: below, behavior: "instant" });
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

// Replaces a card with the server's fresh rendering of it.
async function refreshCard(id) {
  const query = new URLSearchParams(location.search);
  for (const key of ["cursor", "closed", "reopened"]) query.delete(key);
  const res = await fetch(`/sessions/${id}/card?${query}`);
  const old = document.getElementById(`s-${id}`);
  if (!res.ok || !old) return null;
  const template = document.createElement("template");
  template.innerHTML = await res.text();
  const fresh = template.content.firstElementChild;
  fresh.hidden = !shown(fresh);
  old.replaceWith(fresh);
  setup(fresh);
  return fresh;
}

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

function ago(iso) {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (!(seconds >= 45)) return "just now";
  const rtf = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
  for (const [unit, size] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
    if (seconds >= size) return rtf.format(-Math.round(seconds / size), unit);
  }
  return "just now";
}

// The same explanations the server gives on the no-script path.
function conflictText(problem) {
  if (problem.current_status === "completed" && problem.outcome_label) {
    return `Already closed as ${problem.outcome_label} by ${problem.completed_by} ${ago(problem.completed_at)}`;
  }
  if (problem.current_status === "prepared") {
    return "This session hasn’t been started yet — start it before closing it.";
  }
  return problem.detail || "The session changed in the meantime.";
}

async function post(url, body) {
  const headers = { ...VIA, Accept: "application/json", "X-CSRF-Token": CSRF };
  if (body) headers["Content-Type"] = "application/json";
  const res = await fetch(url, { method: "POST", headers, body: body && JSON.stringify(body) });
  return { res, json: await res.json().catch(() => ({})) };
}

async function reopen(id) {
  try {
    const { res, json } = await post(`/api/sessions/${id}/reopen`);
    await refreshCard(id);
    toast(res.ok ? "Session reopened" : conflictText(json), { error: !res.ok });
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
    reply = await post(`/api/sessions/${id}/complete`, {
      outcome: form.outcome.value,
      outcome_notes: form.outcome_notes.value,
    });
  } catch {
    setBusy(confirm, false);
    toast("Couldn’t reach Casebook, so the session is still open. Your choice is kept; try again.", { error: true });
    return;
  }
  const { res, json } = reply;
  setBusy(confirm, false);
  syncConfirm(form);
  if (res.status === 422) {
    showError(form, (json.errors || []).map((e) => `${FIELDS[e.field] || e.field} ${e.message}.`).join(" ") || json.detail);
    return;
  }
  if (!res.ok && res.status !== 409) {
    toast(json.detail || `The session was not closed (error ${res.status}).`, { error: true });
    return;
  }
  pop.hidePopover();
  const fresh = await refreshCard(id);
  const note = res.ok
    ? toast(`Session closed as ${json.outcome_label}`, { undo: () => reopen(id) })
    : toast(conflictText(json), { error: true });
  // The Close button is gone: focus the card's first action, or Undo when
  // the filter hid the card.
  const target = fresh && !fresh.hidden ? fresh.querySelector(".actions a") : note.querySelector("button");
  (target || document.getElementById("main")).focus();
}

document.addEventListener("submit", (e) => {
  const form = e.target;
  if (form.matches("form.pop")) {
    e.preventDefault();
    closeSession(form);
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
  const list = button.form.querySelector("[data-plan]");
  const [action] = button.value.split("-");
  const row = button.closest(".plan-row");
  if (action === "add") {
    e.preventDefault();
    const template = list.lastElementChild;
    const fresh = template.cloneNode(true);
    const input = fresh.querySelector("input");
    input.value = "";
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
    fresh.querySelector(".field-error")?.remove();
    list.append(fresh);
    renumberPlan(list);
    input.focus();
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
    button.focus();
  }
});

// Similar past sessions follow the new session's text.
const offer = document.querySelector("[data-similar]");
let timer, asked = 0;
offer?.closest("form").addEventListener("input", ({ target: { form, name } }) => {
  const fields = ["title", "problem", "customer"];
  if (!fields.includes(name)) return;
  clearTimeout(timer);
  timer = setTimeout(async () => {
    const n = ++asked;
    const text = fields.map((f) => form.elements[f].value).join("\n");
    const res = await fetch(`/sessions/new/similar?text=${encodeURIComponent(text)}`).catch(() => {});
    const html = res?.ok && (await res.text());
    if (!html || n !== asked) return;
    offer.lastElementChild.innerHTML = html;
    offer.hidden = !offer.querySelector("li");
  }, 400);
});
