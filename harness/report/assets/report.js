// nfbench report: sorting and filtering of the problems x methods matrices, and the per-problem
// drill-down, rendered from the JSON block #nfbench-data only when a problem is opened (the JSON is
// parsed on first use, so a large report loads as fast as its tables). Every text from the runs goes
// in through textContent, never as HTML. Links #p=<group>:<task_id> open a problem directly.
(function () {
  "use strict";
  let data = null;
  const load = () => data || (data = JSON.parse(document.getElementById("nfbench-data").textContent));
  const str = (i) => (i === null || i === undefined ? null : load().strings[i]);

  function el(tag, cls, ...children) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    for (const c of children) {
      if (c === null || c === undefined) continue;
      node.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
    }
    return node;
  }
  const show = (v) => (typeof v === "string" ? v : JSON.stringify(v));
  const hasPlus = (v) => v.plus_status !== null && v.plus_status !== undefined;  // absent: no plus tests
  const passed = (v) => v.base_status === "pass" && (!hasPlus(v) || v.plus_status === "pass");

  // --- matrix: sort by a column, filter by id and by agreement -----------------------------------
  const collator = new Intl.Collator(undefined, { numeric: true });
  function sortBy(table, th) {
    const col = Number(th.dataset.col);
    const prev = th.dataset.dir; // first click: ids ascending, solved fractions highest first
    const dir = prev ? (prev === "asc" ? "desc" : "asc") : (col === 0 ? "asc" : "desc");
    table.querySelectorAll("th").forEach((h) => delete h.dataset.dir);
    th.dataset.dir = dir;
    const sign = dir === "asc" ? 1 : -1;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows);
    const key = (r) => (col === 0 ? r.dataset.problem : Number(r.cells[col].dataset.v));
    rows.sort((a, b) => {
      const d = col === 0 ? collator.compare(key(a), key(b)) : key(a) - key(b);
      return sign * d || collator.compare(a.dataset.problem, b.dataset.problem);
    });
    body.append(...rows);
  }

  function applyFilter(section) {
    const text = section.querySelector(".filter").value.trim().toLowerCase();
    const mode = section.querySelector(".mode").value;
    const rows = section.querySelectorAll("table.matrix tbody tr");
    let shown = 0;
    rows.forEach((r) => {
      const vals = Array.from(r.cells).slice(1, -1).map((c) => Number(c.dataset.v)).filter((v) => v >= 0);
      const lo = Math.min(...vals), hi = Math.max(...vals);
      const ok = (!text || r.dataset.problem.toLowerCase().includes(text)) &&
        (mode === "all" || (mode === "differ" && hi > lo) || (mode === "unsolved" && hi === 0) ||
         (mode === "solved" && lo === 1));
      r.hidden = !ok;
      shown += ok;
    });
    section.querySelector(".shown").textContent = `${shown} of ${rows.length} problems shown`;
  }

  // --- drill-down ---------------------------------------------------------------------------------
  const KNOWN = new Set(["base_status", "plus_status", "base_fail_test", "plus_fail_test", "seconds", "detail"]);
  const FAIL_PARTS = ["input", "expected", "got"]; // of the first failing test: bare, base_ or plus_

  function dl(pairs) {
    const list = el("dl", "fields");
    for (const [k, v] of pairs) list.append(el("dt", null, k), el("dd", null, show(v)));
    return list;
  }

  function failingTest(v) {
    const box = el("div", "failing");
    for (const prefix of ["", "base_", "plus_"]) {
      const fields = FAIL_PARTS.filter((f) => v[prefix + f] !== undefined && v[prefix + f] !== null);
      FAIL_PARTS.forEach((f) => KNOWN.add(prefix + f));
      if (!fields.length) continue;
      const part = prefix ? prefix.slice(0, -1) : "first failing";
      const row = el("div", "expected-got");
      for (const f of fields) row.append(el("div", null, el("b", null, `${part} test ${f}`), el("pre", null, show(v[prefix + f]))));
      box.append(row);
    }
    return box.childNodes.length ? box : null;
  }

  function verdictBlock(v) {
    const pairs = [["base", v.base_status ?? "(no verdict)"], ["plus", hasPlus(v) ? v.plus_status : "(no plus tests)"]];
    for (const part of ["base", "plus"]) {
      const idx = v[`${part}_fail_test`];
      if (idx !== null && idx !== undefined) pairs.push([`first failing ${part} test`, `#${idx}`]);
    }
    if (v.detail) pairs.push(["detail", v.detail]);
    if (v.seconds !== undefined) pairs.push(["sandbox seconds", v.seconds]);
    const failing = failingTest(v);
    const other = Object.keys(v).filter((k) => !KNOWN.has(k)).map((k) => [k, v[k]]);
    return el("div", "verdict", dl(pairs), failing, other.length ? dl(other) : null);
  }

  function label(v) {
    if (!v.base_status) return "no verdict";
    if (v.base_status !== "pass") return v.base_status;
    return passed(v) ? "pass" : `plus ${v.plus_status}`;
  }

  function sampleBlock(s, open) {
    const v = s.verdict || {};
    const ok = passed(v);
    const c = Object.fromEntries(load().cost_fields.map((f, k) => [f, s.cost[k]]).filter(([, x]) => x !== null));
    const seconds = (c.reasoning_seconds || 0) + (c.answer_seconds || 0);
    const summary = el("summary", null, el("span", `badge ${ok ? "pass" : "fail"}`, label(v)),
      ` sample ${s.i} · ${c.reasoning_positions ?? "?"} reasoning positions · ${c.answer_tokens ?? "?"} answer tokens · ${seconds.toFixed(2)} s`);
    const body = el("details", "sample", summary);
    body.open = open;
    const reasoning = str(s.reasoning);
    body.append(el("h5", null, "reasoning (text, or the latent summary the method records)"),
      el("pre", "reasoning", reasoning === null ? "(none recorded)" : reasoning),
      el("h5", null, "program"), el("pre", "program", str(s.solution) ?? "(none)"),
      el("h5", null, "verdict"), verdictBlock(v),
      el("h5", null, "cost"), dl(Object.entries(c)));
    if (Object.keys(s.extra || {}).length) body.append(el("h5", null, "method extras"), dl(Object.entries(s.extra)));
    if (s.raw !== undefined) {
      const raw = el("details", "raw", el("summary", null, "raw model output"), el("pre", null, str(s.raw)));
      body.append(raw);
    }
    return body;
  }

  function openProblem(gid, tid, scroll) {
    const group = load().groups[gid];
    const panel = document.getElementById(`drill-${gid}`);
    if (!group || !panel || !group.problems[tid]) return false;
    const per = group.problems[tid];
    const prompts = new Set(per.flatMap((cell) => cell.samples.map((s) => s.prompt)));
    panel.replaceChildren(el("h3", null, `${tid} (${group.task} / ${group.backbone})`));
    if (prompts.size === 1) panel.append(el("h4", null, "prompt"), el("pre", "prompt", str([...prompts][0]) ?? "(none)"));
    per.forEach((cell, r) => {
      const run = group.runs[r];
      const samples = cell.samples;
      const shown = samples.length < cell.n ? ` (the first ${samples.length} are shown)` : "";
      const section = el("section", "method", el("h4", null, `${run.method}: ${cell.ok}/${cell.n} passed${shown}`,
        el("span", "meta", ` (${run.run_id})`)));
      if (prompts.size > 1 && samples.length) section.append(el("h5", null, "prompt"), el("pre", "prompt", str(samples[0].prompt)));
      if (!samples.length) section.append(el("p", "meta", "not run on this problem"));
      const failing = samples.findIndex((s) => !passed(s.verdict || {}));  // unfolded: why did it fail?
      samples.forEach((s, k) => section.append(sampleBlock(s, k === Math.max(failing, 0))));
      panel.append(section);
    });
    panel.dataset.problem = tid;
    document.querySelectorAll(`section.problems[data-group="${gid}"] tr.open`).forEach((r) => r.classList.remove("open"));
    const row = document.querySelector(`section.problems[data-group="${gid}"] tr[data-problem="${CSS.escape(tid)}"]`);
    if (row) row.classList.add("open");
    const top = panel.getBoundingClientRect().top;  // scroll only if the panel's top is out of sight
    if (scroll && (top < 0 || top > window.innerHeight - 80)) panel.scrollIntoView({ block: "start" });
    return true;
  }

  function fromHash() {
    const m = /^#p=(\d+):(.+)$/.exec(location.hash);
    if (m) openProblem(Number(m[1]), decodeURIComponent(m[2]), true);
  }

  document.querySelectorAll("section.problems").forEach((section) => {
    const table = section.querySelector("table.matrix");
    table.querySelectorAll("th").forEach((th) => th.addEventListener("click", () => sortBy(table, th)));
    section.querySelector(".filter").addEventListener("input", () => applyFilter(section));
    section.querySelector(".mode").addEventListener("change", () => applyFilter(section));
    table.addEventListener("click", (e) => {
      const a = e.target.closest("a[data-open]");
      if (!a) return;
      e.preventDefault();
      try { history.replaceState(null, "", a.getAttribute("href")); } catch (err) { /* some file: URLs refuse */ }
      openProblem(Number(a.dataset.open), a.closest("tr").dataset.problem, true);
    });
    applyFilter(section);
  });
  window.addEventListener("hashchange", fromHash);
  fromHash();
})();
