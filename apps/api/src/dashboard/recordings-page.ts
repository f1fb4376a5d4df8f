import { RECORDING_STATES } from '@recfleet/contract';

/**
 * The recordings page: static HTML and small scripts (no build step). The script polls the plugin's
 * JSON endpoints and plays a recording with hls.js (served by the plugin from node_modules); a channel
 * recording plays as a synchronized grid of its users (channel-grid.ts).
 */

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function recordingsPageHtml(basePath: string, queuesUrl: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recfleet · recordings</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
  header { display: flex; gap: 1rem; align-items: center; padding: .75rem 1.25rem; background: #1d2330; color: #fff; }
  header h1 { font-size: 1.1rem; margin: 0; flex: 1; }
  header a { color: #9ecbff; }
  main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(320px, 2fr); gap: 1.25rem; padding: 1.25rem; }
  section { min-width: 0; overflow-x: auto; background: #fff; border-radius: 6px; padding: 1rem; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #e6e8ec; }
  td { white-space: nowrap; }
  td.id { font-family: ui-monospace, monospace; font-size: 12px; white-space: normal; word-break: break-all; }
  tr.selected { background: #eef5ff; }
  .state { padding: .1rem .45rem; border-radius: 3px; background: #e6e8ec; font-size: 12px; }
  .state-recording, .state-joining { background: #d7f5dd; }
  .state-uploaded { background: #d8e8ff; }
  .state-backed_up, .state-stopping { background: #fff1c9; }
  .state-failed { background: #ffd9d6; }
  .storage-failing { margin-left: .4rem; color: #b42318; font-size: 12px; }
  progress { width: 3.5rem; }
  video { width: 100%; background: #000; border-radius: 4px; min-height: 180px; }
  .filters { display: flex; gap: .5rem; margin-bottom: .75rem; }
  #player-status { margin-top: .5rem; color: #5a6270; min-height: 1.4em; }
  #error { color: #b42318; }
  #grid[hidden], #users[hidden], video[hidden] { display: none; }
  .grid-controls { display: flex; gap: .5rem; align-items: center; margin-bottom: .5rem; }
  .grid-seek { flex: 1; }
  .grid-clock { font-family: ui-monospace, monospace; font-size: 12px; }
  .grid-cells { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: .5rem; }
  .grid-cell { position: relative; margin: 0; }
  .grid-cell video { min-height: 0; aspect-ratio: 16 / 9; display: block; }
  .grid-cell figcaption { font-size: 12px; color: #5a6270; }
  .grid-placeholder { position: absolute; left: 0; right: 0; top: 0; aspect-ratio: 16 / 9; display: flex; align-items: center; justify-content: center; text-align: center; padding: .5rem; box-sizing: border-box; background: #2a3140; color: #cfd6e4; border-radius: 4px; font-size: 13px; }
  .grid-placeholder[hidden] { display: none; }
  #users { margin-top: .75rem; font-size: 13px; }
  @media (max-width: 1000px) { main { grid-template-columns: minmax(0, 1fr); } }
</style>
</head>
<body data-base="${escapeAttr(basePath)}">
<header><h1>recfleet · recordings</h1><a href="${escapeAttr(queuesUrl)}">Queues</a></header>
<main>
  <section>
    <div class="filters">
      <select id="filter-state" aria-label="state">
        <option value="">all states</option>
        ${RECORDING_STATES.map((state) => `<option>${state}</option>`).join('')}
      </select>
      <input id="filter-channel" placeholder="channel" aria-label="channel">
      <span id="error"></span>
    </div>
    <table id="recordings">
      <thead><tr><th>Recording</th><th>Channel</th><th>State</th><th>Recorded</th><th>Segments</th><th>Uploaded</th><th>Created</th><th></th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
  <section id="player">
    <h2 id="player-title">Player</h2>
    <video id="video" controls muted playsinline></video>
    <div id="grid" hidden></div>
    <div id="player-status">Choose a recording to play it (live ones play from their live edge).</div>
    <table id="users" hidden>
      <thead><tr><th>User</th><th>Present</th><th>Tracks</th><th>Segments</th><th>Recorded</th><th>Joined</th></tr></thead>
      <tbody></tbody>
    </table>
  </section>
</main>
<script src="${escapeAttr(basePath)}/assets/hls.min.js"></script>
<script src="${escapeAttr(basePath)}/assets/channel-grid.js"></script>
<script src="${escapeAttr(basePath)}/assets/recordings.js"></script>
</body>
</html>
`;
}

/** Runs in the browser. Plain ES2017, DOM built with textContent only (no HTML from data). */
export const RECORDINGS_SCRIPT = `'use strict';
(function () {
  var base = document.body.getAttribute('data-base');
  var tbody = document.querySelector('#recordings tbody');
  var video = document.getElementById('video');
  var statusLine = document.getElementById('player-status');
  var title = document.getElementById('player-title');
  var errorLine = document.getElementById('error');
  var stateFilter = document.getElementById('filter-state');
  var channelFilter = document.getElementById('filter-channel');
  var gridRoot = document.getElementById('grid');
  var usersTable = document.getElementById('users');
  var hls = null;
  var grid = null;
  // Exposed for whoever drives the page (tests, the console): what plays and what went wrong.
  var player = (window.recfleetPlayer = { recordingId: null, url: null, errors: [], events: [], grid: null });

  function getJson(url) {
    return fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } }).then(function (r) {
      if (!r.ok) throw new Error(url + ': HTTP ' + r.status);
      return r.json();
    });
  }
  function seconds(s) {
    if (typeof s !== 'number') return '-';
    if (s < 60) return s.toFixed(1) + ' s';
    var m = Math.floor(s / 60), r = Math.floor(s % 60);
    return m + ':' + (r < 10 ? '0' : '') + r;
  }
  function cell(tr, text, cls) {
    var td = document.createElement('td');
    if (cls) td.className = cls;
    if (text !== undefined) td.textContent = text;
    tr.appendChild(td);
    return td;
  }
  function render(list) {
    var rows = document.createDocumentFragment();
    list.forEach(function (r) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-recording-id', r.recordingId);
      if (r.recordingId === player.recordingId) tr.className = 'selected';
      cell(tr, r.recordingId, 'id');
      cell(tr, (r.appId || '?') + '/' + (r.channel || '?'));
      var st = document.createElement('span');
      st.className = 'state state-' + r.state;
      st.textContent = r.state;
      var stateCell = cell(tr);
      stateCell.appendChild(st);
      if (r.storageStatus) {
        var sf = document.createElement('span');
        sf.className = 'storage-failing';
        sf.textContent = r.storageStatus;
        if (r.storageError && r.storageError.message) sf.title = r.storageError.message;
        stateCell.appendChild(sf);
      }
      var p = r.progress;
      cell(tr, p ? seconds(p.durationSeconds) : '-');
      cell(tr, p ? String(p.segments) : '-');
      var up = cell(tr, undefined, 'upload');
      if (p) {
        var bar = document.createElement('progress');
        bar.max = 100;
        bar.value = p.uploadPercent;
        up.appendChild(bar);
        // Rounded down, as everywhere: 100 % only once everything is uploaded.
        up.appendChild(document.createTextNode(' ' + Math.floor(p.uploadPercent) + '%'));
      } else up.textContent = '-';
      cell(tr, r.createdAt ? new Date(r.createdAt).toLocaleTimeString() : '-');
      var action = cell(tr);
      if (r.playable) {
        var b = document.createElement('button');
        b.type = 'button';
        b.className = 'play';
        b.textContent = r.state === 'recording' || r.state === 'joining' ? 'Watch live' : 'Play';
        b.addEventListener('click', function () { play(r.recordingId); });
        action.appendChild(b);
      }
      rows.appendChild(tr);
    });
    tbody.replaceChildren(rows);
  }
  function refresh() {
    var q = [];
    if (stateFilter.value) q.push('state=' + encodeURIComponent(stateFilter.value));
    if (channelFilter.value) q.push('channel=' + encodeURIComponent(channelFilter.value));
    return getJson(base + '/api/recordings' + (q.length ? '?' + q.join('&') : '')).then(function (body) {
      errorLine.textContent = '';
      render(body.recordings);
    }, function (e) { errorLine.textContent = String(e.message || e); });
  }
  // A channel recording's users: who is there now, their tracks and what is recorded of them.
  function renderUsers(users) {
    usersTable.hidden = !users;
    if (!users) return;
    var rows = document.createDocumentFragment();
    users.forEach(function (u) {
      var tr = document.createElement('tr');
      tr.setAttribute('data-uid', String(u.uid));
      var live = u.progress || [];
      var segments = Math.max(
        live.reduce(function (n, p) { return n + p.segments; }, 0),
        u.tracks.reduce(function (n, t) { return n + t.segments; }, 0));
      var recorded = Math.max(
        live.reduce(function (n, p) { return n + p.durationSeconds; }, 0),
        u.tracks.reduce(function (n, t) { return n + t.durationSeconds; }, 0));
      var last = u.intervals[u.intervals.length - 1];
      cell(tr, String(u.uid));
      cell(tr, u.present ? 'yes' : 'no');
      cell(tr, u.tracks.map(function (t) { return t.type; }).join(', ') || '-');
      cell(tr, String(segments));
      cell(tr, seconds(recorded));
      cell(tr, last ? new Date(last.joinedAt).toLocaleTimeString() : '-');
      rows.appendChild(tr);
    });
    usersTable.tBodies[0].replaceChildren(rows);
  }
  function stopPlayback() {
    if (hls) { hls.destroy(); hls = null; }
    if (grid) { grid.destroy(); grid = null; player.grid = null; }
  }
  // A live channel recording gains users and segments: its users and grid cells are kept current.
  function followGrid(id) {
    setTimeout(function () {
      if (player.recordingId !== id || !grid) return;
      getJson(base + '/api/recordings/' + encodeURIComponent(id)).then(function (r) {
        if (player.recordingId !== id || !grid) return;
        renderUsers(r.users);
        if (r.media && r.media.grid) grid.update(r.media.grid.tracks);
        if (r.media && r.media.live) followGrid(id);
      }, function () { followGrid(id); });
    }, 5000);
  }
  function playGrid(id, r) {
    video.hidden = true;
    gridRoot.hidden = false;
    grid = window.RecfleetChannelGrid(gridRoot, r.media.grid.tracks, { autoplay: true });
    player.grid = grid;
    player.url = r.media.grid.manifestUrl;
    statusLine.textContent = (r.media.live ? 'Live: ' : 'Recorded: ') + r.state + ' · ' +
      r.media.grid.tracks.length + ' user track(s), in step by program date-time';
    if (r.media.live) followGrid(id);
    refresh();
  }
  function play(id) {
    return getJson(base + '/api/recordings/' + encodeURIComponent(id)).then(function (r) {
      player.recordingId = id;
      title.textContent = id;
      stopPlayback();
      renderUsers(r.users);
      if (r.media && r.media.grid) return playGrid(id, r);
      video.hidden = false;
      gridRoot.hidden = true;
      if (!r.media) {
        player.url = null;
        statusLine.textContent = r.mediaUnavailable || 'This recording cannot be played here.';
        if (r.retryAfterMs) {
          setTimeout(function () { if (player.recordingId === id && !player.url) play(id); }, r.retryAfterMs);
        }
        return;
      }
      var url = r.media.playlistUrl;
      player.url = url;
      statusLine.textContent = (r.media.live ? 'Live: ' : 'Recorded: ') + r.state;
      if (window.Hls && window.Hls.isSupported()) {
        startHls(url, r.media.signed, -1);
      } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
        video.src = url;
        video.play();
      } else {
        statusLine.textContent = 'This browser cannot play HLS.';
      }
      refresh();
    }, function (e) { statusLine.textContent = String(e.message || e); });
  }
  // Signed segment URLs expire (a paused or long recorded playback outlives them): on a 401/403 for a
  // segment, fetch the playlist again, which signs every segment anew, and resume where playback was.
  var renewedAt = 0;
  function startHls(url, signed, position) {
    if (hls) hls.destroy();
    hls = new window.Hls({ liveDurationInfinity: true, startPosition: position });
    player.hls = hls;
    hls.on(window.Hls.Events.ERROR, function (_event, data) {
      var status = data.response && data.response.code;
      if (signed && data.details === 'fragLoadError' && (status === 401 || status === 403) && Date.now() - renewedAt > 10000) {
        renewedAt = Date.now();
        player.events.push('renew_signed_urls');
        startHls(url, signed, video.currentTime);
        return;
      }
      player.errors.push({ type: data.type, details: data.details, fatal: data.fatal, at: Date.now() });
      if (data.fatal) statusLine.textContent = 'Playback error: ' + data.details;
    });
    hls.on(window.Hls.Events.MANIFEST_PARSED, function () {
      player.events.push('manifest_parsed');
      video.play().catch(function (e) { player.errors.push({ type: 'play', details: String(e), fatal: false }); });
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  }
  window.recfleetPlay = play;
  stateFilter.addEventListener('change', refresh);
  channelFilter.addEventListener('input', refresh);
  refresh();
  setInterval(refresh, 2000);
  var wanted = new URLSearchParams(location.search).get('play');
  if (wanted) play(wanted);
})();
`;
