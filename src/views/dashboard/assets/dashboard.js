// patchwork-gateway dashboard: live rows from /live (Server-Sent Events) with pause/resume.
// Every value is set as text (textContent), never parsed as HTML.
"use strict";
(function () {
  const section = document.querySelector("[data-live-section]");
  if (!section) return;
  const tbody = section.querySelector("table.records tbody");
  const toggle = document.getElementById("live-toggle");
  const status = document.getElementById("live-status");
  const maxRows = parseInt(section.dataset.maxRows || "50", 10);
  const risks = ["none", "low", "medium", "high", "critical"];
  const want = {
    session: section.dataset.filterSession || "",
    risk: section.dataset.filterRisk || "",
    verdict: section.dataset.filterVerdict || "",
    action: section.dataset.filterAction || "",
  };
  let after = section.dataset.after || "";
  let paused = false;
  let queued = [];
  let source = null;

  function keeps(r) {
    if (want.session && !r.session.startsWith(want.session)) return false;
    if (want.verdict && r.verdict !== want.verdict) return false;
    if (want.action && r.action !== want.action) return false;
    if (want.risk && risks.indexOf(r.risk) < risks.indexOf(want.risk)) return false;
    return true;
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    if (text !== undefined) td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function link(href, text, title) {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    if (title) a.title = title;
    return a;
  }

  function badge(kind, value) {
    const s = document.createElement("span");
    s.className = kind + " " + kind.charAt(0) + "-" + value.replace(/[^a-z_]/g, "");
    s.textContent = value;
    return s;
  }

  function rowOf(r) {
    const tr = document.createElement("tr");
    tr.className = "fresh" + (r.refused ? " refused" : "");
    cell(tr, undefined, "nowrap").appendChild(link("/events/" + r.seq, String(r.seq)));
    cell(tr, r.time, "nowrap");
    const s = cell(tr, undefined, "nowrap");
    if (r.session) s.appendChild(link("/sessions/" + encodeURIComponent(r.session), r.session.slice(0, 8), r.session));
    cell(tr, r.tool);
    cell(tr, r.action);
    cell(tr).appendChild(badge("verdict", r.verdict));
    cell(tr).appendChild(badge("risk", r.risk));
    cell(tr, r.target, "target");
    const rules = cell(tr);
    r.rules.forEach(function (id, i) {
      if (i > 0) rules.appendChild(document.createTextNode(", "));
      rules.appendChild(link("/policy#rule-" + encodeURIComponent(id), id));
    });
    return tr;
  }

  function bump(name, by) {
    const el = document.querySelector('[data-count="' + name + '"]');
    if (el) el.textContent = String(parseInt(el.textContent, 10) + by);
  }

  function show(r) {
    tbody.insertBefore(rowOf(r), tbody.firstChild);
    while (tbody.rows.length > maxRows) tbody.deleteRow(tbody.rows.length - 1);
    bump("records", 1);
    if (r.verdict) bump("calls", 1);
    if (r.refused) bump("refusals", 1);
    if (r.verdict === "deny" || r.verdict === "ask" || r.verdict === "flag") bump(r.verdict, 1);
  }

  function say(text) { status.textContent = text; }

  function connect() {
    source = new EventSource("/live" + (after !== "" ? "?after=" + encodeURIComponent(after) : ""));
    source.addEventListener("open", function () { if (!paused) say("Live: new records appear here as they are written."); });
    source.addEventListener("record", function (ev) {
      const r = JSON.parse(ev.data);
      after = String(r.seq);
      if (!keeps(r)) return;
      if (paused) {
        queued.push(r);
        say("Paused: " + queued.length + " new record(s) waiting. Resume to show them.");
      } else {
        show(r);
      }
    });
    source.addEventListener("reload", function () {
      if (paused) say("The ledger changed: reload the page to see it.");
      else location.reload();
    });
    source.addEventListener("lagged", function () { say("Fell behind the ledger: reload the page."); });
    source.addEventListener("error", function () { if (!paused) say("Live: reconnecting…"); });
  }

  toggle.addEventListener("click", function () {
    paused = !paused;
    toggle.setAttribute("aria-pressed", String(paused));
    toggle.textContent = paused ? "Resume live updates" : "Pause live updates";
    if (paused) {
      say("Paused: new records are held back.");
    } else {
      queued.forEach(show);
      queued = [];
      say("Live: new records appear here as they are written.");
    }
  });

  connect();
})();
