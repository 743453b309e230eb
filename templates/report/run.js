/* The run report's tree: built from the JSON in #run-data, a chunk at a time.
 *
 * Rows are made only for what is on show: a suite's children when it is
 * opened, a test's details when its row is opened, a log when asked for. Long
 * lists are drawn in slices of a few milliseconds, so the page answers while
 * a big run is drawn. All text goes in through textContent: no markup from
 * the data is ever parsed.
 */
(function () {
  "use strict";

  var PREVIEW_CHARS = 10000;   // a longer text shows this much until asked
  var SLICE_MS = 12;           // drawing work per slice before the page may paint
  var FIRST_ROWS = 150;        // rows opened at the start, level by level
  var COMPOSITE = { suite: true, flow: true };
  var FAILING = { error: true, failure: true, unexpected_success: true };
  var DETAIL_TITLES = {
    error: "Error", failure: "Failure", skip: "Skip reason",
    expected_failure: "Expected failure", unexpected_success: "Unexpected success"
  };

  var data = JSON.parse(document.getElementById("run-data").textContent);
  var treeBox = document.getElementById("tree");
  var shownLine = document.getElementById("shown");
  var search = document.getElementById("search");
  var sortBox = document.getElementById("sort");
  var chips = Array.prototype.slice.call(document.querySelectorAll(".chip[data-outcome]"));
  var LABELS = {};
  chips.forEach(function (chip) { LABELS[chip.dataset.outcome] = chip.dataset.label; });

  var byId = new Map();        // node id -> node
  var elementOf = new Map();   // node id -> its .node element, once drawn
  var state = {
    outcomes: new Set(),       // empty: every outcome
    query: "",
    expanded: new Set(),       // composites open when not filtering
    closedInFilter: new Set(), // composites the user closed while filtering
    open: new Set(),           // tests whose details are open
    sort: "",                  // "" (as they ran), duration, outcome or name
    total: 0
  };
  var work = [];               // drawing still to do: {box, nodes, depth, next}
  var timer = null;            // the next slice, when one is due

  // --- the data ---------------------------------------------------------

  function isComposite(node) { return COMPOSITE[node.kind] === true; }

  var LISTS = ["tags", "infos", "details", "reruns", "signatures", "children"];
  var TEXTS = ["name", "classname", "description", "note", "log", "stdout", "stderr"];

  /** Parents, search text and per-composite counts, once; a view made
   *  elsewhere may leave out empty fields, so they are filled in here. */
  function index(node, parent) {
    LISTS.forEach(function (key) { if (!Array.isArray(node[key])) node[key] = []; });
    TEXTS.forEach(function (key) { if (typeof node[key] !== "string") node[key] = ""; });
    if (!node.resources) node.resources = {};
    node._parent = parent;
    // Search finds names, tags, messages, tracebacks and what the test printed or logged.
    node._hay = [node.name, node.classname, node.tags.join(" "), node.infos.join("\n"),
                 node.details.map(function (detail) { return detail[1]; }).join("\n"),
                 node.stdout, node.stderr, node.log].join("\n").toLowerCase();
    byId.set(String(node.id), node);
    if (!isComposite(node)) {
      state.total += 1;
      return [1, FAILING[node.outcome] ? 1 : 0];
    }
    var tests = 0, failing = 0;
    node.children.forEach(function (child) {
      var sums = index(child, node);
      tests += sums[0];
      failing += sums[1];
    });
    node._tests = tests;
    node._failing = failing;
    return [tests, failing];
  }

  function filtering() { return state.outcomes.size > 0 || state.query !== ""; }

  /** Marks how many tests under each node the filter lets through. */
  function mark(node, named) {
    named = named || state.query === "" || node._hay.indexOf(state.query) !== -1;
    if (!isComposite(node)) {
      var outcomeOk = state.outcomes.size === 0 || state.outcomes.has(node.outcome);
      node._shown = named && outcomeOk ? 1 : 0;
      return node._shown;
    }
    var shown = 0;
    node.children.forEach(function (child) { shown += mark(child, named); });
    node._shown = shown;
    return shown;
  }

  var OUTCOME_ORDER = ["error", "failure", "unexpected_success", "expected_failure",
                       "skip", "success"];
  var ORDERS = {
    duration: function (a, b) { return (b.duration || 0) - (a.duration || 0); },
    wait: function (a, b) { return (b.lock_wait || 0) - (a.lock_wait || 0); },
    outcome: function (a, b) { return rank(a) - rank(b); },
    name: function (a, b) { return a.name.localeCompare(b.name); }
  };
  function rank(node) {
    var index = OUTCOME_ORDER.indexOf(node.outcome);
    return index === -1 ? OUTCOME_ORDER.length : index;
  }

  function visibleChildren(node) {
    var children = filtering()
      ? node.children.filter(function (child) { return child._shown > 0; })
      : node.children;
    // A stable sort: equal keys keep the order they ran in.
    return ORDERS[state.sort] ? children.slice().sort(ORDERS[state.sort]) : children;
  }

  /** The ten slowest tests, each a button that finds it. */
  function listSlowest() {
    var tests = [];
    byId.forEach(function (node) {
      if (!isComposite(node) && typeof node.duration === "number") tests.push(node);
    });
    tests.sort(ORDERS.duration);
    var list = document.getElementById("slowest");
    tests.slice(0, 10).forEach(function (node) {
      var item = make("li", "");
      var find = make("button", "link-button", node.name);
      find.type = "button";
      find.addEventListener("click", function () {
        search.value = node.name;
        state.query = node.name.toLowerCase();
        refilter();
      });
      item.appendChild(find);
      item.appendChild(make("span", "muted", " " + formatDuration(node.duration)));
      list.appendChild(item);
    });
    document.getElementById("slowest-box").hidden = tests.length === 0;
  }

  function isExpanded(node) {
    if (node === data.tree) return true;
    return filtering() ? !state.closedInFilter.has(node.id) : state.expanded.has(node.id);
  }

  /** Opens the first levels of the tree while they fit in FIRST_ROWS rows. */
  function openFirstLevels() {
    var queue = [data.tree], rows = 0;
    while (queue.length) {
      var node = queue.shift();
      if (node !== data.tree) {
        if (rows + node.children.length > FIRST_ROWS) continue;
        state.expanded.add(node.id);
      }
      rows += node.children.length;
      node.children.forEach(function (child) { if (isComposite(child)) queue.push(child); });
    }
  }

  // --- small helpers ----------------------------------------------------

  function make(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = text;
    return element;
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 1) return Math.round(seconds * 1000) + " ms";
    if (seconds < 60) return seconds.toFixed(seconds < 10 ? 2 : 1) + " s";
    var minutes = Math.floor(Math.round(seconds) / 60), rest = Math.round(seconds) % 60;
    if (minutes < 60) return minutes + " min " + rest + " s";
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function formatMoment(iso) {
    return iso ? iso.replace("T", " ").replace(/(\.\d{3})\d+/, "$1") : "";
  }

  /** The line that says what went wrong: the last one of the first detail. */
  function headline(node) {
    if (!node.details.length) return "";
    var text = node.details[0][1].replace(/\s+$/, "");
    var line = text.slice(text.lastIndexOf("\n") + 1).trim();
    return line.length > 300 ? line.slice(0, 300) + "…" : line;
  }

  function safeLink(url) {
    return /^https?:\/\//i.test(url || "") ? url : null;
  }

  function plural(count, word) { return count + " " + word + (count === 1 ? "" : "s"); }

  // --- rows -------------------------------------------------------------

  function buildNode(node, depth) {
    var box = make("div", "node " + (isComposite(node) ? "composite" : "leaf"));
    box.dataset.id = node.id;
    var row = make("div", "row o-" + (node.outcome || "none"));
    row.tabIndex = 0;
    row.setAttribute("role", "treeitem");
    row.setAttribute("aria-level", depth + 1);
    row.setAttribute("aria-expanded", "false");
    row.style.setProperty("--depth", depth);
    row.appendChild(make("span", "twisty", "\u25B6"));
    row.appendChild(make("span", "badge", LABELS[node.outcome] || "No result"));
    row.appendChild(make("span", "name", node.name));
    if (node.kind !== "suite" && node.kind !== "case") row.appendChild(make("span", "kind", node.kind));
    node.tags.forEach(function (tag) { row.appendChild(make("span", "tag", tag)); });
    if (isComposite(node)) {
      row.appendChild(compositeSummary(node));
      row.appendChild(make("span", "message", node.note || ""));
    } else {
      var message = make("span", "message", headline(node));
      if (message.textContent) message.title = message.textContent;
      row.appendChild(message);
    }
    // A wait of a millisecond or more shows on the row: a badly balanced
    // pool shows itself where people look.
    if (typeof node.lock_wait === "number" && node.lock_wait >= 0.0005) {
      var wait = make("span", "wait", "waited " + formatDuration(node.lock_wait));
      wait.title = "Waited this long for its resources' locks";
      row.appendChild(wait);
    }
    row.appendChild(make("span", "duration", formatDuration(node.duration)));
    box.appendChild(row);
    elementOf.set(node.id, box);
    return box;
  }

  function compositeSummary(node) {
    var sum = make("span", "sum", plural(node._tests, "test"));
    if (node._failing) {
      sum.appendChild(document.createTextNode(" · "));
      sum.appendChild(make("span", "bad", node._failing + " not passed"));
    }
    return sum;
  }

  // --- drawing, a slice at a time ----------------------------------------

  function queue(box, nodes, depth) {
    if (!nodes.length) return;
    work.push({ box: box, nodes: nodes, depth: depth, next: 0 });
    document.body.dataset.drawing = "busy";
    nextSlice();
  }

  function nextSlice() {
    if (timer === null) timer = setTimeout(function () { timer = null; pump(); }, 0);
  }

  /** Draws depth first (so the page fills from the top) until the slice ends. */
  function pump() {
    var started = performance.now(), made = 0;
    while (work.length) {
      var job = work[work.length - 1];
      if (job.next >= job.nodes.length) { work.pop(); continue; }
      var node = job.nodes[job.next++];
      job.box.appendChild(buildNode(node, job.depth));
      if (isComposite(node) && isExpanded(node)) openComposite(node, job.depth);
      else if (state.open.has(node.id)) openPanel(node, job.depth);
      if ((++made & 63) === 0 && performance.now() - started > SLICE_MS) break;
    }
    if (work.length) nextSlice();
    else document.body.dataset.drawing = "done";
  }

  function drawAll() {
    work = [];
    elementOf.clear();
    treeBox.textContent = "";
    if (filtering()) mark(data.tree, false);
    var top = visibleChildren(data.tree);
    if (!top.length) treeBox.appendChild(make("div", "empty", "No test matches."));
    queue(treeBox, top, 0);
    pump();   // the first slice now, with the page's first paint
    updateShownLine();
  }

  function updateShownLine() {
    var total = plural(state.total, "test");
    shownLine.textContent = filtering() ? "Showing " + data.tree._shown + " of " + total : total;
  }

  // --- opening and closing ------------------------------------------------

  function kidsBox(node, box) {
    var kids = box.querySelector(":scope > .kids");
    if (!kids) {
      kids = make("div", "kids");
      kids.setAttribute("role", "group");
      box.appendChild(kids);
    }
    return kids;
  }

  function openComposite(node, depth) {
    var box = elementOf.get(node.id);
    box.firstChild.setAttribute("aria-expanded", "true");
    var hasPanel = node.details.length || node.infos.length || node.log || node.stdout ||
        node.stderr || node.signatures.length;
    if (hasPanel && !box.querySelector(":scope > .panel")) box.appendChild(buildPanel(node, depth));
    var kids = kidsBox(node, box);
    kids.hidden = false;
    if (!kids.dataset.drawn) {
      kids.dataset.drawn = "1";
      queue(kids, visibleChildren(node), depth + 1);
    }
    var panel = box.querySelector(":scope > .panel");
    if (panel) panel.hidden = false;
  }

  function closeComposite(node) {
    var box = elementOf.get(node.id);
    box.firstChild.setAttribute("aria-expanded", "false");
    box.querySelectorAll(":scope > .kids, :scope > .panel").forEach(function (part) { part.hidden = true; });
  }

  function openPanel(node, depth) {
    var box = elementOf.get(node.id);
    var panel = box.querySelector(":scope > .panel");
    if (!panel) box.appendChild(buildPanel(node, depth));
    else panel.hidden = false;
    box.firstChild.setAttribute("aria-expanded", "true");
  }

  function closePanel(node) {
    var box = elementOf.get(node.id);
    var panel = box.querySelector(":scope > .panel");
    if (panel) panel.hidden = true;
    box.firstChild.setAttribute("aria-expanded", "false");
  }

  function depthOf(node) {
    var depth = -1;
    for (var up = node._parent; up; up = up._parent) depth += 1;
    return depth;
  }

  function toggle(node) {
    var open = elementOf.get(node.id).firstChild.getAttribute("aria-expanded") === "true";
    if (isComposite(node)) {
      if (filtering()) {
        if (open) state.closedInFilter.add(node.id); else state.closedInFilter.delete(node.id);
      } else if (open) state.expanded.delete(node.id);
      else state.expanded.add(node.id);
      if (open) closeComposite(node); else openComposite(node, depthOf(node));
    } else {
      if (open) state.open.delete(node.id); else state.open.add(node.id);
      if (open) closePanel(node); else openPanel(node, depthOf(node));
    }
  }

  // --- a test's details ---------------------------------------------------

  function buildPanel(node, depth) {
    var panel = make("div", "panel");
    panel.style.setProperty("--depth", depth);
    if (node.description) panel.appendChild(make("p", "description", node.description));
    if (!isComposite(node)) panel.appendChild(facts(node));
    if (node.note) panel.appendChild(make("p", "note", node.note));
    node.signatures.forEach(function (signature) { panel.appendChild(knownIssue(signature)); });
    if (node.infos.length) {
      panel.appendChild(make("h3", "", "Success messages"));
      var list = make("ul", "infos");
      node.infos.forEach(function (info) { list.appendChild(make("li", "", info)); });
      panel.appendChild(list);
    }
    node.details.forEach(function (detail) {
      panel.appendChild(make("h3", "o-" + detail[0], DETAIL_TITLES[detail[0]] || detail[0]));
      panel.appendChild(textBlock(detail[1]));
    });
    if (node.reruns.length) panel.appendChild(reruns(node.reruns));
    [["stdout", "Show its stdout"], ["stderr", "Show its stderr"], ["log", "Show the log"]]
      .forEach(function (pair) {
        var text = node[pair[0]];
        if (text) panel.appendChild(later(pair[1] + " (" + plural(lineCount(text), "line") + ")",
                                          function () { return textBlock(text, true); }));
      });
    return panel;
  }

  function facts(node) {
    var list = make("dl", "pairs");
    function add(term, value) {
      if (!value) return;
      list.appendChild(make("dt", "", term));
      list.appendChild(make("dd", "", value));
    }
    add("class", node.classname);
    add("started", formatMoment(node.start));
    add("ended", formatMoment(node.end));
    add("duration", formatDuration(node.duration));
    if (typeof node.lock_wait === "number") {
      add("lock wait", formatDuration(node.lock_wait) + (node.kind === "flow"
          ? " (the flow's own resources, for all its blocks)" : ""));
    }
    if (typeof node.setup_time === "number") add("resources' set-up", formatDuration(node.setup_time));
    add("tags", node.tags.join(", "));
    [["work directory", node.work_dir], ["log file", node.log_file]].forEach(function (pair) {
      if (!pair[1]) return;
      var link = make("a", "", pair[1]);
      link.href = pair[1];
      list.appendChild(make("dt", "", pair[0]));
      var value = make("dd", "");
      value.appendChild(link);
      list.appendChild(value);
    });
    var resources = Object.keys(node.resources).map(function (request) {
      return request + " = " + node.resources[request];
    });
    add("resources", resources.join(", "));
    return list;
  }

  function knownIssue(signature) {
    var box = make("div", "signature");
    box.appendChild(make("strong", "", "Known issue: "));
    var url = safeLink(signature.link);
    if (url) {
      var link = make("a", "", signature.name || url);
      link.href = url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      box.appendChild(link);
    } else {
      box.appendChild(document.createTextNode((signature.name || "") + (signature.link ? " (" + signature.link + ")" : "")));
    }
    if (signature.pattern) {
      box.appendChild(document.createTextNode(" matched "));
      box.appendChild(make("code", "", signature.pattern));
    }
    return box;
  }

  function reruns(attempts) {
    var box = make("div", "reruns");
    box.appendChild(make("h3", "", "Earlier attempts (" + attempts.length + ")"));
    attempts.forEach(function (attempt, number) {
      var line = make("div", "attempt o-" + attempt.outcome);
      line.appendChild(make("span", "muted", "#" + (number + 1)));
      line.appendChild(make("span", "badge", LABELS[attempt.outcome] || attempt.outcome));
      line.appendChild(make("span", "muted", formatDuration(attempt.duration)));
      if (attempt.details.length) {
        line.appendChild(later("Show what happened", function () {
          var texts = make("div", "");
          attempt.details.forEach(function (detail) { texts.appendChild(textBlock(detail[1])); });
          return texts;
        }));
      }
      box.appendChild(line);
    });
    return box;
  }

  function lineCount(text) { return text.split("\n").length; }

  /** A button that draws (once) and then shows or hides what ``build`` makes. */
  function later(label, build) {
    var box = make("div", "later");
    var button = make("button", "link-button", label);
    button.type = "button";
    var shown = null;
    button.addEventListener("click", function () {
      if (!shown) { shown = build(); box.appendChild(shown); button.textContent = "Hide"; return; }
      shown.hidden = !shown.hidden;
      button.textContent = shown.hidden ? label : "Hide";
    });
    box.appendChild(button);
    return box;
  }

  /** Preformatted text; a long one shows its start (a log: its end) until
   *  asked for all. */
  function textBlock(text, fromEnd) {
    var box = make("div", "text-block");
    var preview = text;
    if (text.length > PREVIEW_CHARS) {
      preview = fromEnd ? "…\n" + text.slice(-PREVIEW_CHARS) : text.slice(0, PREVIEW_CHARS) + "\n…";
    }
    var pre = make("pre", "text", preview);
    box.appendChild(pre);
    if (text.length > PREVIEW_CHARS) {
      var more = make("button", "link-button", "Show all " + text.length.toLocaleString("en") + " characters");
      more.type = "button";
      more.addEventListener("click", function () { pre.textContent = text; more.remove(); });
      box.appendChild(more);
    }
    return box;
  }

  // --- the controls -------------------------------------------------------

  function nodeOfEvent(event) {
    var row = event.target.closest(".row");
    return row ? byId.get(row.parentNode.dataset.id) : null;
  }

  function onTreeClick(event) {
    if (event.target.closest("a, button, .panel")) return;
    var node = nodeOfEvent(event);
    if (node && !(window.getSelection && String(window.getSelection()).length)) toggle(node);
  }

  /** Enter, Space and the arrows on a focused row: open, close, move. */
  function onTreeKey(event) {
    var node = nodeOfEvent(event);
    if (!node || !event.target.classList.contains("row")) return;
    var open = event.target.getAttribute("aria-expanded") === "true";
    if (event.key === "Enter" || event.key === " " ||
        (event.key === "ArrowRight" && !open) || (event.key === "ArrowLeft" && open)) {
      event.preventDefault();
      toggle(node);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      focusNextRow(event.target, event.key === "ArrowDown" ? 1 : -1);
    }
  }

  function focusNextRow(row, step) {
    var rows = Array.prototype.filter.call(treeBox.querySelectorAll(".row"), function (each) {
      return !each.closest("[hidden]");
    });
    var next = rows[rows.indexOf(row) + step];
    if (next) next.focus();
  }

  function setOutcomes(outcomes) {
    state.outcomes = outcomes;
    showPressed();
    refilter();
  }

  function showPressed() {
    chips.forEach(function (chip) {
      chip.setAttribute("aria-pressed", String(state.outcomes.has(chip.dataset.outcome)));
    });
    var problems = Object.keys(FAILING);
    var onlyProblems = state.outcomes.size === problems.length &&
      problems.every(function (outcome) { return state.outcomes.has(outcome); });
    document.getElementById("problems").setAttribute("aria-pressed", String(onlyProblems));
  }

  function onChip(event) {
    var outcome = event.currentTarget.dataset.outcome;
    var outcomes = new Set(state.outcomes);
    if (outcomes.has(outcome)) outcomes.delete(outcome); else outcomes.add(outcome);
    setOutcomes(outcomes);
  }

  function refilter() {
    state.closedInFilter.clear();
    document.getElementById("clear").hidden = !filtering();
    rememberInAddress();
    drawAll();
  }

  /** The filter goes into the address (#outcome=failure&q=...): a link or a
   *  reload shows the same tests. */
  function rememberInAddress() {
    var params = new URLSearchParams();
    state.outcomes.forEach(function (outcome) { params.append("outcome", outcome); });
    if (state.query) params.set("q", state.query);
    if (state.sort) params.set("sort", state.sort);
    var hash = params.toString();
    if (hash !== location.hash.slice(1) && history.replaceState) {
      history.replaceState(null, "", hash ? "#" + hash : location.pathname + location.search);
    }
  }

  function readAddress() {
    var params = new URLSearchParams(location.hash.slice(1));
    params.getAll("outcome").forEach(function (outcome) {
      if (LABELS[outcome]) state.outcomes.add(outcome);
    });
    state.query = (params.get("q") || "").trim().toLowerCase();
    search.value = state.query;
    state.sort = ORDERS[params.get("sort")] ? params.get("sort") : "";
    sortBox.value = state.sort;
    showPressed();
  }

  var searchTimer = null;
  function onSearch() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(function () {
      var query = search.value.trim().toLowerCase();
      if (query !== state.query) { state.query = query; refilter(); }
    }, 120);
  }

  function setAllOpen(open) {
    byId.forEach(function (node) {
      if (!isComposite(node) || node === data.tree) return;
      if (filtering()) {
        if (open) state.closedInFilter.delete(node.id); else state.closedInFilter.add(node.id);
      } else if (open) state.expanded.add(node.id);
      else state.expanded.delete(node.id);
    });
    drawAll();
  }

  function onKey(event) {
    var typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName);
    if (event.key === "/" && !typing) { event.preventDefault(); search.focus(); search.select(); }
    if (event.key === "Escape" && event.target === search) { search.value = ""; onSearch(); }
  }

  function wire() {
    treeBox.addEventListener("click", onTreeClick);
    treeBox.addEventListener("keydown", onTreeKey);
    chips.forEach(function (chip) { chip.addEventListener("click", onChip); });
    document.getElementById("problems").addEventListener("click", function (event) {
      var pressed = event.currentTarget.getAttribute("aria-pressed") === "true";
      setOutcomes(new Set(pressed ? [] : Object.keys(FAILING)));
    });
    document.getElementById("clear").addEventListener("click", function () {
      search.value = "";
      state.query = "";
      setOutcomes(new Set());
    });
    document.getElementById("expand-all").addEventListener("click", function () { setAllOpen(true); });
    document.getElementById("collapse-all").addEventListener("click", function () { setAllOpen(false); });
    search.addEventListener("input", onSearch);
    sortBox.addEventListener("change", function () {
      state.sort = sortBox.value;
      refilter();
    });
    document.addEventListener("keydown", onKey);
    // A link followed in the open page (#outcome=failure) filters it too.
    window.addEventListener("hashchange", function () {
      state.outcomes.clear();
      readAddress();
      refilter();
    });
  }

  index(data.tree, null);
  openFirstLevels();
  listSlowest();
  wire();
  readAddress();
  refilter();
  document.body.dataset.ready = "1";
})();
