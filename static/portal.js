/* Switchboard dashboard: live updates over /ws/live/ without reloading the page.
 *
 * The page is rendered complete by the server; this script keeps it current:
 *  - frames from /ws/live/ update rows in place (message status, incoming messages,
 *    device state);
 *  - anything a frame cannot say (counters, rows not on screen, unread counts) comes
 *    from the JSON snapshot at data-data-url, fetched at most every RESYNC_MIN_MS while
 *    events arrive, on every (re)connect, and every SAFETY_MS as a safety net;
 *  - a dropped socket reconnects with exponential backoff and jitter.
 * Vanilla JS, no dependencies. Text is always set with textContent (never innerHTML).
 */
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root) return;
  var cfg = root.dataset;
  var canAdmin = cfg.canAdmin === "1";
  var canSend = cfg.canSend === "1";
  var csrfInput = document.querySelector('input[name="csrfmiddlewaretoken"]');
  var csrf = csrfInput ? csrfInput.value : "";
  var channelNames = JSON.parse(document.getElementById("channel-names").textContent || "{}");
  var liveState = document.getElementById("live-state");
  var announcer = document.getElementById("announcer");

  var FEED_MAX = 50;
  var RESYNC_MIN_MS = 2000;
  var SAFETY_MS = 30000;
  var BACKOFF_START_MS = 1000;
  var BACKOFF_MAX_MS = 30000;

  // --- rendering helpers -------------------------------------------------------------

  function fmtTime(iso) {
    if (!iso) return "never";
    var d = new Date(iso);
    if (isNaN(d.getTime())) return iso;
    return d.toDateString() === new Date().toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
  }

  function fill(el, data) {
    el.querySelectorAll("[data-field]").forEach(function (node) {
      var key = node.dataset.field;
      if (!(key in data)) return;
      var value = data[key];
      if (node.tagName === "TIME") {
        node.setAttribute("datetime", value || "");
        node.textContent = fmtTime(value);
      } else {
        node.textContent = value === null || value === undefined ? "" : String(value);
      }
    });
  }

  function fromTemplate(id) {
    return document.getElementById(id).content.firstElementChild.cloneNode(true);
  }

  function announce(text) {
    announcer.textContent = "";
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  function setLive(state, text) {
    liveState.dataset.state = state;
    liveState.textContent = text;
  }

  function byId(container, attr, id) {
    return container.querySelector("[" + attr + '="' + CSS.escape(id) + '"]');
  }

  /* Make `container` show `items` in order, reusing the element of an id already shown
   * (so a row updated in place keeps its identity and focus). */
  function syncList(container, items, attr, tpl, update, emptyId) {
    var keep = new Set(items.map(function (i) { return i.id; }));
    Array.prototype.slice.call(container.children).forEach(function (el) {
      if (!keep.has(el.getAttribute(attr))) el.remove();
    });
    items.forEach(function (item, index) {
      var el = byId(container, attr, item.id);
      if (!el) {
        el = fromTemplate(tpl);
        el.setAttribute(attr, item.id);
      }
      update(el, item);
      if (container.children[index] !== el) container.insertBefore(el, container.children[index] || null);
    });
    document.getElementById(emptyId).hidden = items.length > 0;
  }

  // --- rows -----------------------------------------------------------------------------

  function statusLabel(status) { return String(status).replace(/_/g, " "); }

  function updateMessage(li, m) {
    var shownAt = Number(li.dataset.at || 0);
    var at = Date.parse(m.lastStatusAt || "") || 0;
    if (shownAt && at && at < shownAt) return;  // an older view of this message: keep the newer one
    if (at) li.dataset.at = String(at);
    li.dataset.status = m.status;
    if (m.direction) li.dataset.direction = m.direction;
    m.statusLabel = statusLabel(m.status);
    fill(li, m);
  }

  function updateDevice(li, d) {
    li.dataset.connection = d.connectionState;
    fill(li, d);
  }

  function updateConversation(li, c) {
    li.dataset.unread = String(c.unreadCount);
    fill(li, c);
    var form = li.querySelector("form");
    form.action = cfg.readUrl.replace("{id}", c.id);
    form.querySelector("button").disabled = !(canSend && c.unreadCount > 0);
  }

  function updateChannel(li, ch) {
    li.dataset.state = ch.state;
    li.dataset.paused = ch.paused ? "1" : "0";
    fill(li, ch);
    var form = li.querySelector("form");
    form.action = (ch.paused ? cfg.resumeUrl : cfg.pauseUrl).replace("{id}", ch.id);
    form.querySelector('[data-role="verb"]').textContent = ch.paused ? "Resume" : "Pause";
    form.querySelector("button").disabled = !canAdmin;
  }

  function senderText(sender) {
    if (!sender || typeof sender !== "object") return String(sender || "");
    return sender.identifierValue || sender.username || sender.msisdn || sender.name || "";
  }

  // --- snapshot --------------------------------------------------------------------------

  var resyncTimer = null;
  var lastResync = 0;
  var resyncing = false;

  function scheduleResync() {
    if (resyncTimer) return;
    var wait = Math.max(0, lastResync + RESYNC_MIN_MS - Date.now());
    resyncTimer = window.setTimeout(function () { resyncTimer = null; resync(); }, wait);
  }

  function resync() {
    if (resyncing) { scheduleResync(); return; }
    resyncing = true;
    lastResync = Date.now();
    fetch(cfg.dataUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { setLive("offline", "Logged out: reload the page to log in"); stop(); return null; }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (snap) { if (snap) render(snap); })
      .catch(function () { /* the next event or the safety timer tries again */ })
      .finally(function () { resyncing = false; });
  }

  function render(snap) {
    channelNames = snap.channelNames || channelNames;
    Object.keys(snap.counters).forEach(function (name) {
      var dd = root.querySelector('[data-counter="' + name + '"]');
      if (dd) dd.textContent = String(snap.counters[name]);
    });
    syncList(document.getElementById("feed"), snap.messages, "data-message-id", "tpl-message", updateMessage, "feed-empty");
    syncList(document.getElementById("devices"), snap.devices, "data-endpoint-id", "tpl-device", updateDevice, "devices-empty");
    syncList(document.getElementById("conversations"), snap.conversations, "data-conversation-id", "tpl-conversation",
      updateConversation, "conversations-empty");
    syncList(document.getElementById("channels"), snap.channels, "data-channel-id", "tpl-channel", updateChannel, "channels-empty");
  }

  // --- live frames -----------------------------------------------------------------------

  var feed = document.getElementById("feed");

  function onStatus(f) {
    var li = byId(feed, "data-message-id", f.messageId);
    if (li) {
      updateMessage(li, { status: f.status, reason: f.reason, lastStatusAt: f.at });
      li.classList.remove("flash");
      void li.offsetWidth;  // restart the highlight animation
      li.classList.add("flash");
    }
    scheduleResync();  // counters, and the row if it is not on screen yet
  }

  function onIncoming(f) {
    if (!byId(feed, "data-message-id", f.messageId)) {
      var li = fromTemplate("tpl-message");
      li.setAttribute("data-message-id", f.messageId);
      updateMessage(li, {
        id: f.messageId, direction: "incoming", directionLabel: "In", channelId: f.channelId,
        channel: channelNames[f.channelId] || "", peer: senderText(f.sender), text: f.text,
        status: "delivered", reason: "", createdAt: f.at, lastStatusAt: f.at
      });
      feed.insertBefore(li, feed.firstElementChild);
      while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
      document.getElementById("feed-empty").hidden = true;
    }
    scheduleResync();  // unread counts of conversations
  }

  function onEndpoint(f) {
    var li = byId(document.getElementById("devices"), "data-endpoint-id", f.endpointId);
    if (li) {
      updateDevice(li, {
        connectionState: f.connectionState, sendPermission: f.sendPermission,
        readPermission: f.readPermission, lastSeenAt: f.at
      });
    } else {
      scheduleResync();
    }
  }

  var handlers = { "message.status": onStatus, "message.incoming": onIncoming, "endpoint.state": onEndpoint };

  // --- the socket ------------------------------------------------------------------------

  var socket = null;
  var backoff = BACKOFF_START_MS;
  var retryTimer = null;
  var stopped = false;

  function connect() {
    if (stopped) return;
    window.clearTimeout(retryTimer);
    setLive("connecting", "Connecting…");
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + cfg.wsPath);
    socket = ws;
    ws.onopen = function () {
      backoff = BACKOFF_START_MS;
      setLive("open", "Live");
      resync();  // catch up on whatever happened while we were away
    };
    ws.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      var handler = handlers[frame.type];
      if (handler && frame.workspaceId === cfg.workspace) handler(frame);
    };
    ws.onclose = function (event) {
      if (socket !== ws || stopped) return;
      if (event.code === 4401 || event.code === 4403) {
        // Signed out, or access to this workspace withdrawn: reconnecting cannot help.
        stopped = true;
        setLive("ended", event.code === 4401 ? "Signed out: reload the page to sign in" : "No longer a member of this workspace");
        return;
      }
      var wait = Math.round(backoff * (0.75 + Math.random() * 0.5));
      backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
      setLive("retrying", "Reconnecting in " + Math.max(1, Math.round(wait / 1000)) + " s");
      retryTimer = window.setTimeout(connect, wait);
    };
  }

  function stop() {
    stopped = true;
    window.clearTimeout(retryTimer);
    if (socket) socket.close();
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && socket && socket.readyState === WebSocket.CLOSED) connect();
  });
  window.setInterval(function () { if (!stopped) resync(); }, SAFETY_MS);

  // --- actions (forms work without JS too; with JS they stay on the page) -----------------

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var action = form.dataset.action;
    if (!action) return;
    event.preventDefault();
    var button = form.querySelector("button");
    button.disabled = true;
    var li = form.closest("li");
    fetch(form.action, {
      method: "POST",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      credentials: "same-origin"
    })
      .then(function (r) { return r.json().catch(function () { return {}; }).then(function (body) { return [r, body]; }); })
      .then(function (pair) {
        var r = pair[0], body = pair[1];
        if (!r.ok) { announce(body.message || "That did not work (HTTP " + r.status + ")."); return; }
        var name = li.querySelector("[data-field]").textContent;
        if (action === "toggle-pause") {
          updateChannel(li, { id: body.id, paused: body.paused, state: body.paused ? "paused" : "running" });
          announce(name + (body.paused ? " paused." : " resumed."));
        } else {
          updateConversation(li, { id: body.id, unreadCount: 0 });
          announce("Conversation with " + name + " marked read.");
        }
      })
      .catch(function () { announce("Network error; try again."); })
      .finally(function () {
        if (action === "toggle-pause") button.disabled = !canAdmin;
        else button.disabled = !(canSend && Number(li.dataset.unread) > 0);
      });
  });

  var switcher = document.getElementById("workspace-select");
  if (switcher) switcher.addEventListener("change", function () { switcher.form.submit(); });

  document.querySelectorAll("time[datetime]").forEach(function (t) {
    var iso = t.getAttribute("datetime");
    t.textContent = fmtTime(iso);
  });
  feed.querySelectorAll("li[data-status-at]").forEach(function (li) {
    // rows rendered by the server: remember their status time so older frames do not win
    li.dataset.at = String(Date.parse(li.dataset.statusAt) || 0);
  });
  connect();
})();
