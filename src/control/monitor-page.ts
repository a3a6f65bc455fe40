/**
 * The monitor page's assets, hand-written and compiled into `dist` as strings, so the page needs
 * no file reads, no bundler step and nothing from the network at run time. The script talks only
 * to the `/monitor` WebSocket of the server that served it, and puts every value into the page as
 * text (never as HTML), so nothing an agent or a relay user writes can run in it.
 */

/** `GET /monitor`: the page. */
export const MONITOR_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>agent-relay-runner monitor</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/monitor/app.css">
<script src="/monitor/app.js" defer></script>
</head>
<body>
<header class="bar">
  <h1><span id="agent-name">agent</span> <span id="state" class="badge">…</span></h1>
  <div class="chips"><span id="bus" class="chip">relay …</span> <span id="live" class="chip">connecting…</span></div>
</header>
<main class="grid">
  <section class="panel"><h2>Status</h2><dl id="status" class="kv"></dl></section>
  <section class="panel"><h2>Outbox</h2><dl id="outbox" class="kv"><div class="kv-row"><dt>pending</dt><dd>…</dd></div></dl></section>
  <section class="panel wide"><h2>Deliveries</h2><p id="deliveries-empty" class="empty">No messages yet.</p><ol id="deliveries" class="rows"></ol></section>
  <section class="panel wide"><h2>Permission requests</h2><p id="permissions-empty" class="empty">None waiting.</p><ul id="permissions" class="rows"></ul></section>
  <section class="panel"><h2>Session mirror</h2><ol id="mirror" class="log"></ol></section>
  <section class="panel"><h2>Timeline</h2><ol id="timeline" class="log"></ol></section>
</main>
</body>
</html>
`;

/** `GET /monitor/app.css`: one column below 720 px, two above. */
export const MONITOR_CSS = `:root {
  color-scheme: light dark;
  --bg: #f5f6f8; --panel: #fff; --text: #1c2230; --muted: #667085; --line: #e2e5ea;
  --ok: #1a7f37; --ok-soft: #d3ecd9; --bad: #c62828; --warn: #a15c00; --busy: #1d4ed8; --busy-soft: #dbe6ff; --accent: #2f63c7;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root { --bg: #13161b; --panel: #1c2027; --text: #e5e7eb; --muted: #98a2b3; --line: #2c323c; --ok-soft: #1f3d2a; --busy-soft: #1e2c4d; --accent: #7aa2f7; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
.bar { position: sticky; top: 0; z-index: 1; display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between;
  gap: 6px 16px; padding: 10px 16px; background: var(--panel); border-bottom: 1px solid var(--line); }
h1 { margin: 0; font-size: 18px; display: flex; flex-wrap: wrap; align-items: center; gap: 8px; overflow-wrap: anywhere; }
h2 { margin: 0 0 8px; font-size: 12px; font-weight: 600; letter-spacing: .05em; text-transform: uppercase; color: var(--muted); }
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px; padding: 12px; max-width: 1200px; margin: 0 auto; }
.panel { min-width: 0; padding: 12px; background: var(--panel); border: 1px solid var(--line); border-radius: 8px; }
.wide { grid-column: 1 / -1; }
.badge, .chip { display: inline-block; padding: 1px 9px; border-radius: 999px; font-size: 12px; font-weight: 600; background: var(--line); color: var(--muted); }
.badge[data-state=idle] { background: var(--ok-soft); color: var(--ok); }
.badge[data-state=busy] { background: var(--busy-soft); color: var(--busy); }
.badge[data-state=stalled], .badge[data-state=starting] { background: #fdecc8; color: var(--warn); }
.badge[data-state=error], .badge[data-state=offline] { background: #fbd5d5; color: var(--bad); }
.chip.ok { color: var(--ok); } .chip.bad { color: var(--bad); }
.kv { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 3px 14px; margin: 0; }
.kv-row { display: contents; }
dt { color: var(--muted); } dd { margin: 0; overflow-wrap: anywhere; font-variant-numeric: tabular-nums; }
.kv-row.warn dd { color: var(--warn); font-weight: 600; }
.rows, .log { list-style: none; margin: 0; padding: 0; }
.empty { margin: 0; color: var(--muted); }
.delivery, .permission { padding: 8px 0; border-top: 1px solid var(--line); }
.delivery:first-child, .permission:first-child { border-top: 0; padding-top: 0; }
.head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 10px; }
.from, .tool { font-weight: 600; }
.id { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--muted); overflow-wrap: anywhere; }
.at { margin-left: auto; font-size: 12px; color: var(--muted); }
.excerpt, .summary { margin: 3px 0 6px; overflow-wrap: anywhere; white-space: pre-wrap; }
.steps { display: flex; flex-wrap: wrap; gap: 4px; margin: 0; padding: 0; list-style: none; }
.step { flex: 1 1 0; min-width: 68px; padding: 2px 4px; border-radius: 4px; text-align: center; font-size: 12px; background: var(--line); color: var(--muted); }
.step.done { background: var(--ok-soft); color: var(--ok); }
.step.current { font-weight: 700; outline: 1px solid currentColor; }
.delivery[data-state=answered] .step.done { background: var(--ok); color: #fff; }
.log { max-height: 340px; overflow: auto; font-size: 13px; }
.entry { display: flex; flex-wrap: wrap; align-items: baseline; gap: 2px 8px; padding: 4px 0; border-top: 1px solid var(--line); }
.entry:first-child { border-top: 0; }
.tag { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; color: var(--accent); }
.body { flex: 1 1 14em; min-width: 0; overflow-wrap: anywhere; white-space: pre-wrap; }
@media (max-width: 720px) {
  .grid { grid-template-columns: minmax(0, 1fr); gap: 8px; padding: 8px; }
  .bar { padding: 8px 10px; }
  .log { max-height: 240px; }
}
`;

/**
 * `GET /monitor/app.js`: renders the events of the `/monitor` stream. A `hello` (first frame of
 * every connection) resets the page; the runner replays its recent events right after it.
 */
export const MONITOR_JS = String.raw`(function () {
  'use strict';
  var STEPS = ['queued', 'injected', 'consumed', 'answered'];
  var MAX_DELIVERIES = 100;
  var MAX_LOG = 200;
  var deliveries = new Map();
  var permissions = [];
  var retryMs = 500;

  function $(id) { return document.getElementById(id); }
  function make(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function clip(text, max) { text = String(text); return text.length > max ? text.slice(0, max - 1) + '…' : text; }
  function time(ms) { return typeof ms === 'number' ? new Date(ms).toLocaleTimeString() : ''; }
  function age(ms) {
    if (typeof ms !== 'number' || !isFinite(ms) || ms < 0) return '–';
    var s = Math.round(ms / 1000);
    if (s < 60) return s + ' s';
    var m = Math.floor(s / 60);
    return m < 60 ? m + ' min ' + (s % 60) + ' s' : Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }
  function kv(list, pairs) {
    list.replaceChildren();
    pairs.forEach(function (pair) {
      var row = make('div', 'kv-row' + (pair[2] ? ' ' + pair[2] : ''));
      row.dataset.key = pair[0];
      row.append(make('dt', '', pair[0]), make('dd', '', pair[1]));
      list.append(row);
    });
  }
  function trim(list, max) { while (list.children.length > max) list.lastElementChild.remove(); }

  function showLive(text, ok) { var live = $('live'); live.textContent = text; live.className = 'chip ' + (ok ? 'ok' : 'bad'); }
  function showLink(connected) {
    var bus = $('bus');
    bus.textContent = connected ? 'relay connected' : 'relay disconnected';
    bus.className = 'chip ' + (connected ? 'ok' : 'bad');
  }
  function showAgent(agent) {
    if (!agent) return;
    $('agent-name').textContent = agent.name || 'agent';
    document.title = (agent.name || 'agent') + ' · monitor';
  }
  function showStatus(s) {
    if (!s || typeof s !== 'object') return;
    var badge = $('state');
    badge.textContent = s.state || 'unknown';
    badge.dataset.state = s.state || '';
    var pairs = [
      ['state', s.state || 'unknown', s.state === 'stalled' || s.state === 'error' || s.state === 'offline' ? 'warn' : ''],
      ['open subagents', s.openSubagents || 0]
    ];
    if (s.lastActivityAt) pairs.push(['last activity', time(s.lastActivityAt)]);
    if (s.sessionId) pairs.push(['session', s.sessionId]);
    if (s.context) pairs.push(['context', s.context.usedTokens + (s.context.windowTokens ? ' / ' + s.context.windowTokens : '') + ' tokens']);
    if (s.providerVersion) pairs.push(['provider version', s.providerVersion]);
    if (s.providerWarning) pairs.push(['provider warning', s.providerWarning, 'warn']);
    if (s.detail) pairs.push(['detail', s.detail, 'warn']);
    kv($('status'), pairs);
    if (typeof s.connected === 'boolean') showLink(s.connected);
  }
  function showOutbox(o) {
    if (!o) return;
    kv($('outbox'), [
      ['pending', o.pending, o.pending > 0 && o.oldestPendingAgeMs > 30000 ? 'warn' : ''],
      ['oldest pending', o.pending > 0 ? age(o.oldestPendingAgeMs) : '–'],
      ['retries', o.retries],
      ['poisoned', o.poisoned, o.poisoned > 0 ? 'warn' : ''],
      ['shed', o.shed, o.shed > 0 ? 'warn' : ''],
      ['rejected', o.rejected, o.rejected > 0 ? 'warn' : ''],
      ['delivered', o.delivered],
      ['next retry', o.nextRetryAt ? time(o.nextRetryAt) : '–']
    ]);
  }

  function deliveryRow(d) {
    var row = deliveries.get(d.messageId);
    if (row) return row;
    var li = make('li', 'delivery');
    li.dataset.messageId = d.messageId;
    var head = make('div', 'head');
    head.append(make('span', 'from', d.from || '?'), make('span', 'id', d.messageId), make('time', 'at', ''));
    var steps = make('ol', 'steps');
    STEPS.forEach(function (step) { var node = make('li', 'step', step); node.dataset.step = step; steps.append(node); });
    li.append(head, make('p', 'excerpt', d.excerpt || ''), steps);
    $('deliveries').prepend(li);
    $('deliveries-empty').hidden = true;
    row = { li: li, state: '' };
    deliveries.set(d.messageId, row);
    while (deliveries.size > MAX_DELIVERIES) {
      var oldest = deliveries.keys().next().value;
      deliveries.get(oldest).li.remove();
      deliveries.delete(oldest);
    }
    return row;
  }
  function setState(row, state, at) {
    // A message that was answered stays answered (a later requeue of its turn changes nothing for the sender).
    if (row.state === 'answered' || STEPS.indexOf(state) < 0) return;
    row.state = state;
    row.li.dataset.state = state;
    var reached = STEPS.indexOf(state);
    row.li.querySelectorAll('.step').forEach(function (node, i) {
      node.classList.toggle('done', i <= reached);
      node.classList.toggle('current', i === reached);
    });
    row.li.querySelector('.at').textContent = state + ' ' + time(at);
  }

  function renderPermissions() {
    var list = $('permissions');
    list.replaceChildren();
    permissions.forEach(function (p) {
      var li = make('li', 'permission');
      li.dataset.requestId = p.requestId;
      var head = make('div', 'head');
      head.append(make('span', 'tool', p.tool), make('span', 'id', p.requestId),
        make('span', 'at', 'waiting ' + age(Date.now() - p.since) + ', times out at ' + time(p.deadline)));
      li.append(head, make('p', 'summary', p.summary));
      list.append(li);
    });
    $('permissions-empty').hidden = permissions.length > 0;
  }
  function logEntry(listId, tag, body, at) {
    var li = make('li', 'entry');
    if (at) li.append(make('time', 'at', time(at)));
    li.append(make('span', 'tag', tag));
    if (body) li.append(make('span', 'body', body));
    var list = $(listId);
    list.prepend(li);
    trim(list, MAX_LOG);
  }
  function reset() {
    deliveries.clear();
    $('deliveries').replaceChildren();
    $('deliveries-empty').hidden = false;
    $('mirror').replaceChildren();
    $('timeline').replaceChildren();
    permissions = [];
    renderPermissions();
  }

  var handlers = {
    hello: function (e) { reset(); showStatus(e.status); },
    agent: function (e) { showAgent(e.agent); },
    status: function (e) { showStatus(e.status); },
    link: function (e) { showLink(Boolean(e.link && e.link.connected)); },
    outbox: function (e) { showOutbox(e.outbox); },
    permissions: function (e) { permissions = Array.isArray(e.permissions) ? e.permissions : []; renderPermissions(); },
    delivery: function (e) { if (e.delivery && e.delivery.messageId) setState(deliveryRow(e.delivery), e.delivery.state, e.delivery.at); },
    sent: function (e) {
      var row = e.sent && e.sent.replyTo ? deliveries.get(e.sent.replyTo) : undefined;
      if (row) setState(row, 'answered', e.sent.at);
    },
    mirror: function (e) {
      if (e.mirror) logEntry('mirror', e.mirror.entry, clip(e.mirror.body, 800));
    },
    timeline: function (e) {
      var t = e.timeline;
      if (t) logEntry('timeline', t.event, t.data && Object.keys(t.data).length > 0 ? clip(JSON.stringify(t.data), 300) : '', t.at);
    }
  };

  function connect() {
    var ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/monitor');
    ws.onopen = function () { retryMs = 500; showLive('live', true); };
    ws.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (error) { return; }
      var handle = event && handlers[event.type];
      if (!handle) return;
      try { handle(event); } catch (error) { console.error('monitor: could not show a ' + event.type + ' event', error); }
    };
    ws.onclose = function () {
      showLive('offline, retrying in ' + Math.round(retryMs / 1000) + ' s (a restarted runner needs a new login link)', false);
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 10000);
    };
  }
  setInterval(renderPermissions, 1000);
  connect();
})();
`;
