// Vigil console: follows /api/vigil/stream and updates the page in place.
// No framework, no build step; the server renders every page, this only keeps it live.
(function () {
  'use strict';
  var liveState = document.getElementById('live-state');
  if (!liveState) { return; }
  var namesEl = document.getElementById('svm-names');
  var names = namesEl ? JSON.parse(namesEl.textContent || '{}') : {};
  var MAX_ROWS = 50;

  function cell(text, cls) {
    var td = document.createElement('td');
    td.textContent = (text === undefined || text === null || text === '') ? '\u2013' : String(text);
    if (cls) { td.className = cls; }
    return td;
  }

  function svmName(ev) {
    var uuid = ev.svm && ev.svm.uuid;
    return names[uuid] || (ev.svm && ev.svm.name) || uuid;
  }

  function onEvent(ev) {
    var tables = document.querySelectorAll('table[data-live="events"]');
    tables.forEach(function (table) {
      var wantType = table.getAttribute('data-type');
      var wantSvm = table.getAttribute('data-svm');
      if (wantType && wantType !== ev.type) { return; }
      if (wantSvm && ev.svm && wantSvm !== ev.svm.uuid) { return; }
      var body = table.tBodies[0];
      var empty = body.querySelector('tr.empty');
      if (empty) { empty.remove(); }
      var tr = document.createElement('tr');
      tr.className = ev.type + ' fresh';
      if (table.id === 'threats') {
        [ev.event_time, svmName(ev), ev.file_path, ev.server].forEach(function (v) { tr.appendChild(cell(v)); });
      } else {
        [ev.event_time, svmName(ev), ev.type, ev.file_path, ev.server, ev.disconnect_reason,
          ev.consecutive_occurrence_count || 1].forEach(function (v) { tr.appendChild(cell(v)); });
      }
      body.insertBefore(tr, body.firstChild);
      while (body.rows.length > MAX_ROWS) { body.deleteRow(body.rows.length - 1); }
    });
    if (ev.type === 'file_infected') {
      var count = document.getElementById('threats-24h');
      if (count) { count.textContent = String(parseInt(count.textContent, 10) + 1); }
    }
    if (ev.type === 'scanner_connected' || ev.type === 'scanner_disconnected') {
      var state = ev.type === 'scanner_connected' ? 'connected' : 'disconnected';
      document.querySelectorAll('#servers tr[data-svm]').forEach(function (tr) {
        if (tr.getAttribute('data-svm') === ev.svm.uuid && tr.getAttribute('data-server') === ev.server) {
          var badge = tr.querySelector('.state .badge');
          badge.className = 'badge ' + state;
          badge.textContent = state;
          tr.querySelector('.since').textContent = ev.event_time;
        }
      });
    }
  }

  function seconds(s) {
    if (!isFinite(s)) { return '\u2013'; }
    s = Math.max(0, Math.round(s));
    if (s < 60) { return s + ' s'; }
    return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
  }

  function postButton(table, action, fields, label, cls) {
    var form = document.createElement('form');
    form.method = 'post';
    form.action = action;
    form.className = 'inline';
    var all = Object.assign({ csrf: table.getAttribute('data-csrf') }, fields);
    Object.keys(all).forEach(function (k) {
      var input = document.createElement('input');
      input.type = 'hidden';
      input.name = k;
      input.value = all[k];
      form.appendChild(input);
    });
    var b = document.createElement('button');
    b.type = 'submit';
    b.className = cls;
    b.textContent = label;
    form.appendChild(b);
    return form;
  }

  function newRunRow(table, run) {
    var tr = document.createElement('tr');
    tr.setAttribute('data-run', run.uuid);
    tr.setAttribute('data-svm', run.svm.uuid);
    tr.setAttribute('data-start', run.start_time || '');
    tr.appendChild(cell(run.policy));
    tr.appendChild(cell(svmName(run)));
    tr.appendChild(cell(run.type));
    tr.appendChild(cell(run.status, 'status'));
    var td = document.createElement('td');
    td.className = 'progress';
    var bar = document.createElement('progress');
    bar.max = 100;
    bar.value = 0;
    bar.setAttribute('aria-label', 'Progress of ' + run.policy);
    var pct = document.createElement('span');
    pct.className = 'percent';
    td.appendChild(bar);
    td.appendChild(document.createTextNode(' '));
    td.appendChild(pct);
    tr.appendChild(td);
    ['files', 'rate', 'eta', 'infected'].forEach(function (c) { tr.appendChild(cell('', c)); });
    tr.appendChild(cell(run.start_time));
    tr.appendChild(cell('', 'actions'));
    tr.querySelector('.actions').textContent = '';
    var body = table.tBodies[0];
    body.insertBefore(tr, body.firstChild);
    return tr;
  }

  function onRun(run) {
    var table = document.getElementById('runs');
    if (!table) { return; }
    var tr = table.querySelector('tr[data-run="' + run.uuid + '"]');
    if (!tr) { tr = newRunRow(table, run); }
    var running = run.status === 'RUNNING';
    var done = run.files_done || 0;
    var queued = run.files_queued || 0;
    var pct;
    if (!running && /^COMPLETED/.test(run.status)) {
      pct = 100;
    } else if (queued > 0) {
      pct = Math.floor(done * 100 / queued);
      if (run.walking && pct > 99) { pct = 99; }
    } else {
      pct = 0;
    }
    tr.querySelector('.status').textContent = run.status;
    tr.querySelector('progress').value = pct;
    tr.querySelector('.percent').textContent = pct + '%' + (running && run.walking ? ' (finding files)' : '');
    tr.querySelector('.files').textContent = running
      ? done + ' of ' + queued + (run.walking ? '+' : '')
      : String(run.files_scanned !== undefined ? run.files_scanned : done);
    var start = Date.parse(run.start_time);
    var end = run.end_time ? Date.parse(run.end_time) : Date.now();
    var elapsed = (end - start) / 1000;
    var rate = elapsed > 0 ? done / elapsed : NaN;
    tr.querySelector('.rate').textContent = isFinite(rate) ? rate.toFixed(1) : '\u2013';
    tr.querySelector('.eta').textContent = !running ? '\u2013'
      : (run.walking || !(rate > 0)) ? 'estimating' : seconds((queued - done) / rate);
    tr.querySelector('.infected').textContent = String(run.infected_count || 0);
    var actions = tr.querySelector('.actions');
    var mayAct = (table.getAttribute('data-act-svms') || '').split(' ').indexOf(run.svm.uuid) >= 0;
    var cancel = actions.querySelector('form');
    if (running && mayAct && !cancel) {
      actions.appendChild(postButton(table, '/console/on-demand/cancel',
        { svm: run.svm.uuid, policy: run.policy }, 'Cancel ' + run.policy, 'act danger'));
    }
    if (!running) {
      if (cancel) { cancel.remove(); }
      if (run.report && !actions.querySelector('a.report')) {
        var a = document.createElement('a');
        a.className = 'report';
        a.href = '/console/on-demand/report?svm=' + encodeURIComponent(run.svm.uuid) + '&run=' + encodeURIComponent(run.uuid);
        a.textContent = 'Report';
        actions.appendChild(a);
      }
    }
  }

  function onScans(data) {
    var svg = document.getElementById('rate');
    if (!svg) { return; }
    var rate = data.per_minute || [];
    var max = Math.max.apply(null, rate.concat([1]));
    var rects = svg.querySelectorAll('rect');
    rate.forEach(function (n, i) {
      var r = rects[i];
      if (!r) { return; }
      var h = Math.floor(n * 100 / max);
      r.setAttribute('y', String(100 - h));
      r.setAttribute('height', String(h));
      r.querySelector('title').textContent = String(n);
    });
    var total = rate.reduce(function (a, b) { return a + b; }, 0);
    document.getElementById('scans-total').textContent = String(total);
    document.getElementById('scans-now').textContent = String(rate.length ? rate[rate.length - 1] : 0);
  }

  var source = new EventSource('/api/vigil/stream?topics=events,runs,scans');
  source.onopen = function () { liveState.textContent = 'live'; liveState.className = 'on'; };
  source.onerror = function () { liveState.textContent = 'reconnecting\u2026'; liveState.className = 'off'; };
  source.addEventListener('events', function (e) { onEvent(JSON.parse(e.data)); });
  source.addEventListener('runs', function (e) { onRun(JSON.parse(e.data)); });
  source.addEventListener('scans', function (e) { onScans(JSON.parse(e.data)); });
}());
