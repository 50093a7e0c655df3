/* The harness's part of Locust's web page (served by harness/load/webui.py; our own code, no library and
   nothing from a CDN: the page must work offline).

   - Start form: the "Custom parameters" section opens by itself, so the scenario picker is in sight, and
     the users and ramp-up fields show the chosen scenario's (its phases drive the load, not those fields).
   - Resilience tab: above Locust's table, the test's verdict and report once it has ended, the SLO table
     (coloured by state) and live charts drawn as SVG: availability of operations and attempts, operation
     p95 and attempts per operation, per second, fault windows shaded, phases marked.
   - Locust's own charts: each fault window is shaded on them (an ECharts markArea).

   Every number and its wording comes from /resilience/live (the orchestrator's live.json: the report's
   own functions on the records so far); this script only lays it out. */
(function () {
  "use strict";
  const BASE = "./resilience/";
  const POLL_MS = 1000;
  const STATE_COLOURS = {
    holding: "#14632d", violated: "#8a1414", pass: "#14632d", fail: "#8a1414",
    waiting: "#666", pending: "#7a5200", "no data yet": "#7a5200", no_data: "#7a5200",
  };
  const STATE_BACKGROUNDS = {
    holding: "#dff3e4", violated: "#fbe0e0", pass: "#dff3e4", fail: "#fbe0e0",
    waiting: "#eee", pending: "#fff1cc", "no data yet": "#fff1cc", no_data: "#fff1cc",
  };
  const FAULT_FILL = "rgba(214, 39, 40, 0.13)";
  let live = null;
  let choices = [];

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "style") node.style.cssText = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const child of children || []) node.appendChild(child);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  }

  async function getJson(path) {
    const response = await fetch(BASE + path, { cache: "no-store" });
    return response.ok ? response.json() : null;
  }

  // --- the start form ------------------------------------------------------------------------------

  function setInput(input, value) {
    if (!input || value === null || value === undefined || input.value === String(value)) return;
    const setter = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
    setter.call(input, String(value));  // as a user would type it: React sees the change
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function tendForm() {
    const picker = document.querySelector("select[name='harnessScenario']");
    if (!picker) return;
    for (const button of document.querySelectorAll("button[aria-expanded='false']")) {
      // the picker sits in the closed "Custom parameters" section: open it, once per form
      if (button.textContent.trim().startsWith("Custom parameters") && !button.dataset.harnessOpened) {
        button.dataset.harnessOpened = "1";
        button.click();
      }
    }
    const chosen = choices.find((c) => c.plan === picker.value) || choices[0];
    if (chosen) {
      setInput(document.querySelector("input[name='userCount']"), chosen.users);
      setInput(document.querySelector("input[name='spawnRate']"), chosen.spawn_rate);
    }
  }

  // --- the Resilience tab --------------------------------------------------------------------------

  function resilienceSelected() {
    const tab = Array.from(document.querySelectorAll("[role='tab']")).find((t) => /resilience/i.test(t.textContent));
    return tab && tab.getAttribute("aria-selected") === "true";
  }

  function tabTable() {
    for (const table of document.querySelectorAll("table")) {
      const head = table.querySelector("thead");
      if (head && /Section/.test(head.textContent) && /Value/.test(head.textContent)) return table;
    }
    return null;
  }

  function view() {
    let root = document.getElementById("harness-view");
    const table = tabTable();
    if (!resilienceSelected() || !table) {
      if (root) root.remove();
      return null;
    }
    const anchor = table.closest(".MuiTableContainer-root, .MuiPaper-root") || table;
    if (!root || root.nextSibling !== anchor) {
      if (root) root.remove();
      root = el("div", { id: "harness-view", style: "margin: 0 0 1.2rem; font: 14px system-ui, sans-serif;" });
      anchor.parentNode.insertBefore(root, anchor);
    }
    return root;
  }

  function render() {
    const root = view();
    if (!root) return;
    root.replaceChildren(...(live && live.run_id ? [banner(), sloTable(), charts()] : [
      el("p", { id: "harness-no-test", text: "No test yet: start one in the form; its figures appear here." }),
    ]));
  }

  function banner() {
    const ended = live.ended;
    const shown = live.display || {};
    if (!ended) {
      return el("div", { id: "harness-now", style: "color:#333; margin-bottom:.6rem;" }, [
        el("strong", { text: `Test ${live.run_id} (${live.scenario}) ` }),
        el("span", { text: `${shown.line || ""}` }),
      ]);
    }
    const pass = ended.verdict === "pass";
    const box = el("div", {
      id: "harness-verdict",
      style: `border:2px solid ${pass ? "#14632d" : "#8a1414"}; background:${pass ? "#dff3e4" : "#fbe0e0"};`
        + " padding:.5rem .8rem; border-radius:.4rem; margin-bottom:.6rem;",
    }, [
      el("strong", { text: `Test ${live.run_id} ended: ${String(ended.verdict || ended.status).toUpperCase()}` }),
      el("span", { text: ` (status ${ended.status}, exit code ${ended.exit_code}). ` }),
    ]);
    if (ended.report) {
      box.appendChild(el("span", { text: "Report: " }));
      box.appendChild(el("a", { href: `${BASE}report?run=${encodeURIComponent(live.run_id)}`, target: "_blank",
                                id: "harness-report-link", text: ended.report }));
    }
    return box;
  }

  function sloTable() {
    const slos = (live.display && live.display.slos) || [];
    const rows = slos.map((s) => el("tr", {}, [
      el("td", { text: s.name, style: "padding:.2rem .6rem;" }),
      el("td", { text: s.state, class: "harness-slo-state", "data-state": s.state,
                 style: `padding:.2rem .6rem; font-weight:600; color:${STATE_COLOURS[s.state] || "#333"};`
                   + ` background:${STATE_BACKGROUNDS[s.state] || "transparent"};` }),
      el("td", { text: s.observed || "—", style: "padding:.2rem .6rem; font-variant-numeric:tabular-nums;" }),
      el("td", { text: s.note ? `${s.objective}; ${s.note}` : s.objective,
                 style: "padding:.2rem .6rem; color:#555;" }),
    ]));
    const head = el("tr", {}, ["SLO", "so far", "observed (95% interval)", "objective"].map(
      (h) => el("th", { text: h, style: "text-align:left; padding:.2rem .6rem; border-bottom:1px solid #ccc;" })));
    const caption = live.ended ? "SLOs of the report" : `SLOs over the records so far (${live.display.window ? "judged every few seconds" : ""})`;
    return el("div", {}, [
      el("div", { text: caption, style: "color:#555; font-size:12px; margin:.2rem 0;" }),
      el("table", { id: "harness-slos", style: "border-collapse:collapse; margin-bottom:.8rem;" }, [head, ...rows]),
    ]);
  }

  function charts() {
    const series = live.series || { t: [] };
    const box = el("div", { id: "harness-charts", style: "display:flex; flex-wrap:wrap; gap:.8rem;" });
    box.appendChild(chart("Availability per second", "share ok", [
      { name: "operations", values: series.availability_operation, colour: "#1f77b4" },
      { name: "attempts", values: series.availability_attempt, colour: "#ff7f0e" },
    ], series.t, { min: 0, max: 1, format: (v) => `${Math.round(v * 100)}%` }, "harness-chart-availability"));
    box.appendChild(chart("Operation p95 per second", "ms", [
      { name: "p95", values: series.p95_ms, colour: "#2ca02c" },
    ], series.t, { min: 0 }, "harness-chart-p95"));
    box.appendChild(chart("Attempts per operation per second", "attempts/op", [
      { name: "attempts/op", values: series.attempts_per_operation, colour: "#d62728" },
    ], series.t, { min: 0 }, "harness-chart-attempts"));
    return box;
  }

  function chart(title, unit, lines, t, scale, id) {
    const W = 420, H = 210, L = 48, R = 10, T = 24, B = 30;
    const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id, role: "img", "aria-label": title });
    const end = Math.max(1, ...(t.length ? [t[t.length - 1] + 1] : [1]), ...(live.phases || []).map((p) => p.end_s || 0));
    let high = scale.max;
    if (high === undefined) {
      const all = lines.flatMap((l) => (l.values || []).filter((v) => v !== null));
      high = Math.max(1, ...all) * 1.1;
    }
    const x = (s) => L + (s / end) * (W - L - R);
    const y = (v) => T + (1 - (v - scale.min) / (high - scale.min)) * (H - T - B);
    for (const f of live.faults || []) {  // fault windows first, under everything
      const from = x(f.start_s), to = x(f.end_s === null ? end : f.end_s);
      root.appendChild(svg("rect", { x: from, y: T, width: Math.max(1, to - from), height: H - T - B, fill: FAULT_FILL,
                                     class: "harness-fault", "data-fault": f.name }));
    }
    for (const p of live.phases || []) {
      root.appendChild(svg("line", { x1: x(p.start_s), x2: x(p.start_s), y1: T, y2: H - B, stroke: "#999",
                                     "stroke-dasharray": "3,3" }));
      const name = svg("text", { x: x(p.start_s) + 2, y: T + 9, "font-size": 9, fill: "#555" });
      name.textContent = p.name;
      root.appendChild(name);
    }
    root.appendChild(svg("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#333" }));
    root.appendChild(svg("line", { x1: L, x2: L, y1: T, y2: H - B, stroke: "#333" }));
    for (const v of [scale.min, (scale.min + high) / 2, high]) {
      const label = svg("text", { x: L - 4, y: y(v) + 3, "font-size": 9, "text-anchor": "end", fill: "#333" });
      label.textContent = scale.format ? scale.format(v) : (v >= 100 ? v.toFixed(0) : v.toFixed(2));
      root.appendChild(label);
    }
    const axis = svg("text", { x: W - R, y: H - 6, "font-size": 9, "text-anchor": "end", fill: "#333" });
    axis.textContent = `seconds since the test started (${unit} per second)`;
    root.appendChild(axis);
    const heading = svg("text", { x: L, y: 14, "font-size": 12, "font-weight": 600, fill: "#222" });
    heading.textContent = title;
    root.appendChild(heading);
    lines.forEach((line, i) => {
      let d = "";
      let previous = null;
      (line.values || []).forEach((v, k) => {
        if (v === null || v === undefined) { previous = null; return; }
        const px = x(t[k] + 0.5), py = y(v);
        // a second without records breaks the line: no line is drawn across a gap in the data
        d += (previous !== null && t[k] === previous + 1 ? "L" : "M") + px.toFixed(1) + "," + py.toFixed(1);
        previous = t[k];
      });
      root.appendChild(svg("path", { d, fill: "none", stroke: line.colour, "stroke-width": 1.5, class: "harness-line" }));
      const key = svg("text", { x: W - R - 4, y: T + 10 + 11 * i, "font-size": 9, "text-anchor": "end", fill: line.colour });
      key.textContent = line.name;
      root.appendChild(key);
    });
    return root;
  }

  // --- Locust's own charts -------------------------------------------------------------------------

  function echartsOf(dom) {
    // Locust keeps each chart's ECharts instance in a React state hook of the chart component: walk up
    // from the chart's element to the component and read its hooks (the bundle exposes no other handle)
    const key = Object.keys(dom).find((k) => k.startsWith("__reactFiber$"));
    for (let fiber = key ? dom[key] : null; fiber; fiber = fiber.return) {
      for (let hook = fiber.memoizedState; hook && typeof hook === "object" && "next" in hook; hook = hook.next) {
        const value = hook.memoizedState;
        if (value && typeof value.setOption === "function" && typeof value.getDom === "function" && value.getDom() === dom) {
          return value;
        }
      }
    }
    return null;
  }

  function markLocustCharts() {
    // Locust's bundle registers no ECharts mark component (markLine/markArea draw nothing), so each fault
    // window is drawn over the chart: a shaded band at the pixels ECharts maps its times to
    const faults = (live && live.faults) || [];
    for (const dom of document.querySelectorAll("[_echarts_instance_]")) {
      if (dom.closest("#harness-view")) continue;
      const chart = echartsOf(dom);
      const grid = chart && chart.getModel && chart.getModel().getComponent("grid", 0);
      const rect = grid && grid.coordinateSystem && grid.coordinateSystem.getRect();
      if (!rect) continue;
      let layer = dom.querySelector(":scope > .harness-fault-layer");
      if (!layer) {
        if (getComputedStyle(dom).position === "static") dom.style.position = "relative";
        layer = el("div", { class: "harness-fault-layer",
                            style: "position:absolute; inset:0; pointer-events:none; z-index:1;" });
        dom.appendChild(layer);
      }
      const bands = [];
      for (const f of faults) {
        const from = chart.convertToPixel({ xAxisIndex: 0 }, Math.round((live.t0 + f.start_s) * 1000));
        const toMs = f.end_s === null ? Date.now() : Math.round((live.t0 + f.end_s) * 1000);
        const to = chart.convertToPixel({ xAxisIndex: 0 }, toMs);
        const left = Math.max(rect.x, Math.min(from, rect.x + rect.width));
        const right = Math.max(rect.x, Math.min(to, rect.x + rect.width));
        if (!(right > left)) continue;  // outside the time shown
        bands.push(el("div", {
          class: "harness-fault-mark", "data-fault": f.name, title: f.label,
          style: `position:absolute; left:${left}px; top:${rect.y}px; width:${right - left}px;`
            + ` height:${rect.height}px; background:${FAULT_FILL}; border-left:1px dashed #d62728;`,
        }, [el("span", { text: f.label, style: "position:absolute; top:2px; left:3px; font:10px sans-serif;"
                                               + " color:#a11; white-space:nowrap;" })]));
      }
      layer.replaceChildren(...bands);
    }
  }

  // --- the loop ------------------------------------------------------------------------------------

  async function tick() {
    try {
      live = await getJson("live");
      if (!choices.length) choices = ((await getJson("choices")) || {}).choices || [];
    } catch (e) {
      return;  // the web UI is going away: nothing to show
    }
    tendForm();
    render();
    markLocustCharts();
  }

  window.harnessResilience = { echartsOf, tick };
  setInterval(tick, POLL_MS);
  tick();
})();
