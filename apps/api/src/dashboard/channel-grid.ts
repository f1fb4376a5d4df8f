/**
 * The synchronized grid of a channel recording (individual mode): every user's playlist in its own
 * cell, each with its own hls.js, held on ONE timeline of wall-clock time — from the earliest user's
 * first segment to the latest user's last — by the playlists' EXT-X-PROGRAM-DATE-TIME. No composing:
 * each cell maps the shared time to its own media time through its fragments' dates, so users who
 * joined late, left early or came back after a gap are placed where they were. Served by the plugin
 * as `/assets/channel-grid.js`; plain ES2017, DOM built with textContent only.
 *
 *   const grid = RecfleetChannelGrid(element, [{ uid, type, playlistUrl, firstProgramDateTime }]);
 */
export const CHANNEL_GRID_SCRIPT = `'use strict';
(function () {
  /** PDT gaps shorter than this between a user's segments are the date estimate's jitter, not absence. */
  var JOIN_TOLERANCE_MS = 250;
  /** A playing cell further off the shared time than this is moved (seeked) to it. */
  var SEEK_BEYOND_S = 0.3;
  var TICK_MS = 100;

  function clock(ms) { return new Date(ms).toISOString().slice(11, 23) + 'Z'; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /** Fragments of a cell with a program date, as hls.js holds them (its start is the media time). */
  function fragmentsOf(cell) {
    var details = cell.details;
    if (!details) return [];
    return details.fragments.filter(function (f) { return typeof f.programDateTime === 'number'; });
  }

  /** The fragment index whose date range holds \`t\` (ms since epoch), or -1 with where \`t\` falls. */
  function locate(frags, t) {
    var lo = 0, hi = frags.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (frags[mid].programDateTime <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    if (found < 0) return { index: -1, next: frags.length ? frags[0].programDateTime : null };
    var f = frags[found], next = frags[found + 1];
    var end = f.programDateTime + f.duration * 1000;
    // Consecutive segments whose dates nearly meet are one stretch of presence.
    if (next && next.programDateTime - end < JOIN_TOLERANCE_MS) end = next.programDateTime;
    if (t < end) return { index: found };
    return { index: -1, next: next ? next.programDateTime : null, left: end };
  }

  window.RecfleetChannelGrid = function (root, tracks, options) {
    options = options || {};
    var Hls = window.Hls;
    var cells = [];
    var errors = [];
    var state = { playing: false, anchorPos: NaN, anchorWall: 0, start: NaN, end: NaN, timer: null, autoplayed: false };

    root.replaceChildren();
    var bar = el('div', 'grid-controls');
    var toggle = el('button', 'grid-play', 'Play');
    toggle.type = 'button';
    var seekBar = el('input', 'grid-seek');
    seekBar.type = 'range';
    seekBar.min = '0';
    seekBar.max = '0';
    seekBar.step = '10';
    seekBar.setAttribute('aria-label', 'position');
    var time = el('span', 'grid-clock', '--:--:--');
    bar.appendChild(toggle);
    bar.appendChild(seekBar);
    bar.appendChild(time);
    var area = el('div', 'grid-cells');
    root.appendChild(bar);
    root.appendChild(area);

    function position(now) {
      if (!isFinite(state.anchorPos)) return NaN;
      var p = state.playing ? state.anchorPos + (now - state.anchorWall) : state.anchorPos;
      return Math.min(p, state.end);
    }

    /** The shared timeline: the earliest first date to the latest last date over every user. */
    function updateTimeline() {
      var start = Infinity, end = -Infinity;
      cells.forEach(function (c) {
        var frags = fragmentsOf(c);
        if (frags.length) {
          var last = frags[frags.length - 1];
          start = Math.min(start, frags[0].programDateTime);
          end = Math.max(end, last.programDateTime + last.duration * 1000);
        } else if (c.track.firstProgramDateTime) {
          var first = Date.parse(c.track.firstProgramDateTime);
          start = Math.min(start, first);
          end = Math.max(end, first + (c.track.durationSeconds || 0) * 1000);
        }
      });
      if (!isFinite(start)) return;
      state.start = start;
      state.end = end;
      if (!isFinite(state.anchorPos)) { state.anchorPos = start; state.anchorWall = performance.now(); }
      seekBar.max = String(Math.max(0, Math.round(end - start)));
      // Autoplay once every cell knows its dates, so that none starts late.
      var known = cells.every(function (c) { return c.details || c.failed; });
      if (options.autoplay && known && !state.autoplayed) { state.autoplayed = true; play(); }
    }

    function addCell(t) {
      var figure = el('figure', 'grid-cell');
      figure.setAttribute('data-uid', String(t.uid));
      figure.setAttribute('data-track', t.uid + '-' + t.type);
      var video = el('video');
      video.muted = true;
      video.playsInline = true;
      var placeholder = el('div', 'grid-placeholder', 'loading…');
      figure.appendChild(video);
      figure.appendChild(placeholder);
      figure.appendChild(el('figcaption', '', 'uid ' + t.uid + ' · ' + t.type));
      area.appendChild(figure);
      var cell = { track: t, video: video, placeholder: placeholder, details: null, failed: false, target: null };
      var hls = new Hls({ startPosition: 0, maxBufferLength: 12, backBufferLength: 30 });
      cell.hls = hls;
      function onDetails(_e, data) { cell.details = data.details; updateTimeline(); }
      hls.on(Hls.Events.LEVEL_LOADED, onDetails);
      hls.on(Hls.Events.LEVEL_UPDATED, onDetails);
      hls.on(Hls.Events.ERROR, function (_e, data) {
        errors.push({ uid: t.uid, type: data.type, details: data.details, fatal: data.fatal, at: Date.now() });
        if (data.fatal) {
          cell.failed = true;
          placeholder.textContent = 'uid ' + t.uid + ': playback error (' + data.details + ')';
          updateTimeline();
        }
      });
      hls.loadSource(t.playlistUrl);
      hls.attachMedia(video);
      cells.push(cell);
    }

    /** Where a cell is at shared time \`pos\`: its media time, or why it shows its placeholder. */
    function place(cell, pos) {
      if (cell.failed) return { target: null, why: cell.placeholder.textContent };
      if (!cell.details) return { target: null, why: 'loading…' };
      var who = 'uid ' + cell.track.uid;
      var frags = fragmentsOf(cell);
      if (!frags.length) return { target: null, why: who + ': no dated segments yet' };
      var at = locate(frags, pos);
      if (at.index >= 0) {
        var f = frags[at.index];
        return { target: f.start + (pos - f.programDateTime) / 1000 };
      }
      if (at.left === undefined) return { target: null, why: who + ' joins at ' + clock(at.next) };
      if (at.next !== null) return { target: null, why: who + ' away, back at ' + clock(at.next) };
      return { target: null, why: who + ' left at ' + clock(at.left) };
    }

    function tick() {
      var now = performance.now();
      var pos = position(now);
      if (!isFinite(pos)) return;
      if (state.playing && pos >= state.end) {
        state.playing = false;
        state.anchorPos = state.end;
        toggle.textContent = 'Play';
      }
      // Every cell that should show media must be able to: while one buffers, the clock holds and the
      // others wait for it, so that no cell drifts from the shared time.
      var waiting = false;
      cells.forEach(function (c) {
        var p = place(c, pos);
        c.target = p.target;
        c.why = p.why;
        if (c.target !== null && (c.video.readyState < 3 || c.video.seeking)) waiting = true;
      });
      if (waiting && state.playing) { state.anchorPos = pos; state.anchorWall = now; }
      var run = state.playing && !waiting;
      cells.forEach(function (c) {
        var v = c.video;
        c.placeholder.hidden = c.target !== null;
        if (c.target === null) {
          if (c.placeholder.textContent !== c.why) c.placeholder.textContent = c.why;
          if (!v.paused) v.pause();
          return;
        }
        var off = v.currentTime - c.target;
        if (!v.seeking && Math.abs(off) > (run ? SEEK_BEYOND_S : 0.05)) {
          v.currentTime = c.target;
          v.playbackRate = 1;
        } else if (run) {
          // Small drift is taken up by the rate, not by seeking (which would stall the cell).
          var rate = Math.abs(off) > 0.03 ? Math.max(0.9, Math.min(1.1, 1 - off)) : 1;
          if (v.playbackRate !== rate) v.playbackRate = rate;
        }
        if (run && v.paused) v.play().catch(function (e) { errors.push({ uid: c.track.uid, type: 'play', details: String(e), fatal: false }); });
        if (!run && !v.paused) v.pause();
      });
      if (document.activeElement !== seekBar) seekBar.value = String(Math.round(pos - state.start));
      time.textContent = clock(pos);
    }

    function play() {
      if (!isFinite(state.start)) return;
      var now = performance.now();
      var pos = position(now);
      if (pos >= state.end) pos = state.start;
      state.anchorPos = pos;
      state.anchorWall = now;
      state.playing = true;
      toggle.textContent = 'Pause';
      tick();
    }
    function pause() {
      var now = performance.now();
      state.anchorPos = position(now);
      state.anchorWall = now;
      state.playing = false;
      toggle.textContent = 'Play';
      tick();
    }
    /** Moves every cell to shared time \`ms\` (ms since epoch). */
    function seek(ms) {
      if (!isFinite(state.start)) return;
      state.anchorPos = Math.max(state.start, Math.min(state.end, ms));
      state.anchorWall = performance.now();
      tick();
    }

    toggle.addEventListener('click', function () { if (state.playing) pause(); else play(); });
    seekBar.addEventListener('input', function () { seek(state.start + Number(seekBar.value)); });
    tracks.forEach(addCell);
    state.timer = setInterval(tick, TICK_MS);

    return {
      play: play,
      pause: pause,
      seek: seek,
      errors: errors,
      /** Adds cells for tracks not shown yet (a live recording's users who joined since). */
      update: function (next) {
        next.forEach(function (t) {
          if (!cells.some(function (c) { return c.track.uid === t.uid && c.track.type === t.type; })) addCell(t);
        });
      },
      /** What the grid shows now: the shared time and, per cell, where its media is. */
      snapshot: function () {
        var now = performance.now();
        return {
          position: position(now),
          start: state.start,
          end: state.end,
          playing: state.playing,
          cells: cells.map(function (c) {
            var date = c.hls.playingDate;
            return {
              uid: c.track.uid,
              type: c.track.type,
              currentTime: c.video.currentTime,
              paused: c.video.paused,
              readyState: c.video.readyState,
              showing: c.target !== null,
              placeholder: c.placeholder.hidden ? null : c.placeholder.textContent,
              playingDate: date ? date.getTime() : null,
            };
          }),
        };
      },
      destroy: function () {
        clearInterval(state.timer);
        cells.forEach(function (c) { c.hls.destroy(); });
        root.replaceChildren();
      },
    };
  };
})();
`;
