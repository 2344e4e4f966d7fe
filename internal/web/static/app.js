// app.js: the console's page. Every piece of host data reaches the DOM
// through textContent or input values (dom.js), never innerHTML, so a cast,
// a file name or a user name containing markup is shown as text.

import { Client } from "./client.js";
import { $, el, button } from "./dom.js";
import { Files } from "./files.js";
import { Admin } from "./admin.js";
import { readTable } from "./table.js";
import {
  A, T, decodeText, encodeText, parsePeerInfo, parsePeerStat, parseChMemberInfo, quoteArg, unhex,
} from "./wire.js";

const NOBODY = "0".repeat(64);
const MAX_OPEN = 6; // sub-channels a session may have open (protocol.md)

function setStatus(text) {
  $("status").textContent = text;
}

function banner(text) {
  $("banner").textContent = text;
  $("banner").hidden = text === "";
}

const wsURL = () => `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/mrci`;

let client = null;
let loggedIn = false;
let openSubs = []; // {ch, sub, readOnly} open on this session, from ls_open_chs
let current = -1; // index of the selected open sub-channel (keyboard)
const peers = new Map(); // session id -> name
const unnamed = new Set(); // peers known only by a PEER_STAT so far
const p2pOpen = new Set(); // session ids with an open private link
const p2pPending = new Map(); // session id -> name: requests to us

// Reconnecting. The password is kept only when the user ticked "keep",
// and only in this variable (the tab's memory): never in storage or URLs.
let userEnded = false; // logout: no reconnect
let resume = null; // {user, password|null, subs: [{ch, sub}]} to restore
let retry = 0;
let retryTimer = 0;
let lastLogin = null; // {user, password|null} of the session now logged in
let pendingReopen = null; // sub-channels to open again after a reconnect

const files = new Files(() => client);
const admin = new Admin(() => client);

// ---------------------------------------------------------------- session

function connect() {
  loggedIn = false;
  peers.clear();
  unnamed.clear();
  p2pOpen.clear();
  p2pPending.clear();
  openSubs = [];
  channelsShown = "";
  $("chans").replaceChildren();
  $("invites").replaceChildren();
  renderSubs();
  renderPeers();
  client = new Client(wsURL());
  const c = client;
  c.onready = () => {
    if (c !== client) return;
    retry = 0;
    setStatus("connected");
    if (resume) showReconnect();
    else showLogin();
  };
  c.onclose = (reason) => {
    if (c !== client) return;
    document.body.dataset.state = "closed";
    $("login-submit").disabled = true;
    if (userEnded) return;
    // A lost connection: remember what to restore and try again.
    if (loggedIn && lastLogin) resume = { ...lastLogin, subs: openSubs.map((s) => ({ ch: s.ch, sub: s.sub })) };
    const wait = Math.min(30, 2 ** retry);
    retry++;
    setStatus(`disconnected: ${reason}; reconnecting in ${wait} s`);
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, wait * 1000);
  };
  c.oncommands = () => c === client && commandsChanged();
  c.onmyinfo = (me) => c === client && myInfo(me);
  c.onasync = (f) => c === client && asyncFrame(f);
  c.connect();
}

function myInfo(me) {
  const now = me.userId !== NOBODY;
  $("me").textContent = now ? `${me.displayName || me.userName} (rank ${me.rank})` : "";
  if (now && !loggedIn) {
    loggedIn = true;
    banner("");
    for (const id of ["login-view", "reconnect-view"]) $(id).hidden = true;
    $("app-view").hidden = false;
    $("logout").hidden = false;
    $("nav").hidden = false;
    document.body.dataset.state = "app";
    showView(document.body.dataset.view || "chat");
    refreshChannels();
    if (resume && resume.subs.length) pendingReopen = resume.subs;
    resume = null;
    tryReopen();
    $("chat-in").focus();
  } else if (!now && loggedIn) {
    loggedIn = false;
    showLogin();
  }
}

function showLogin() {
  for (const id of ["app-view", "reconnect-view", "logout", "nav"]) $(id).hidden = true;
  $("login-view").hidden = false;
  $("login-prompt").hidden = true;
  $("login-submit").disabled = false;
  document.body.dataset.state = "login";
  $("login-user").focus();
}

/** showReconnect asks whether to log in again after a lost connection. */
function showReconnect() {
  for (const id of ["app-view", "login-view", "logout", "nav"]) $(id).hidden = true;
  $("reconnect-view").hidden = false;
  document.body.dataset.state = "reconnect";
  const n = resume.subs.length;
  $("reconnect-text").textContent = `The connection was lost and is back. Log in again as ${resume.user}` +
    (n ? ` and re-open ${n} sub-channel${n > 1 ? "s" : ""} (${resume.subs.map((s) => `${s.ch} / ${s.sub}`).join(", ")})?` : "?");
  $("reconnect-pass-label").hidden = resume.password !== null;
  $("reconnect-pass").required = resume.password === null;
  $("reconnect-yes").focus();
}

$("reconnect-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const pw = resume.password ?? $("reconnect-pass").value;
  $("reconnect-pass").value = "";
  $("reconnect-view").hidden = true;
  $("login-view").hidden = false;
  document.body.dataset.state = "login";
  login(resume.user, pw, resume.password !== null);
});

$("reconnect-no").addEventListener("click", () => {
  resume = null;
  showLogin();
});

// Logging out ends the session: the host tells peers the session left, and
// a fresh anonymous session takes its place.
$("logout").addEventListener("click", () => {
  userEnded = true;
  lastLogin = null;
  resume = null;
  client.close();
  $("chat-log").replaceChildren();
  $("console-out").replaceChildren();
  userEnded = false;
  connect();
});

// ------------------------------------------------------------------ login

let loginCall = null;

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const user = $("login-user").value.trim();
  const password = $("login-pass").value;
  $("login-pass").value = "";
  login(user, password, $("login-keep").checked);
});

/** login runs auth and answers its first PRIV_TEXT with the password. */
function login(user, password, keep) {
  $("login-log").textContent = "";
  let call;
  try {
    call = client.start("auth", T.TEXT, encodeText(`-user ${quoteArg(user)}`));
  } catch (e) {
    $("login-log").textContent = e.message;
    return;
  }
  loginCall = call;
  lastLogin = { user, password: keep ? password : null };
  $("login-submit").disabled = true;
  let answered = false; // the password typed in the form was sent
  call.onframe = (f) => {
    switch (f.type) {
      case T.PRIV_TEXT:
        if (!answered) {
          answered = true;
          call.sendText(password);
          return;
        }
        loginPrompt(decodeText(f.payload), true);
        return;
      case T.TEXT: {
        const text = decodeText(f.payload);
        if (answered && text.trim() !== "" && !text.includes("Access granted")) {
          loginPrompt(text, false); // the forced user-name change asks with TEXT
          return;
        }
        $("login-log").append(text);
        return;
      }
      case T.ERR:
        $("login-log").append(el("span", decodeText(f.payload), "error"));
        return;
      case T.IDLE:
        loginCall = null;
        $("login-prompt").hidden = true;
        $("login-submit").disabled = false;
        if (!loggedIn && $("login-log").textContent.trim() === "") $("login-log").textContent = "login cancelled";
    }
  };
}

// Account recovery before login (docs/email.md): request_pw_reset mails a
// temporary password, recover_acct asks for it (hidden) and for a new
// password; the prompts use the login prompt field.
function recoverArgs() {
  const who = $("recover-who").value.trim();
  return who.includes("@") ? `-email ${quoteArg(who)}` : `-user ${quoteArg(who)}`;
}

function promptedCall(name, args) {
  $("login-log").textContent = "";
  let call;
  try {
    call = client.start(name, T.TEXT, encodeText(args));
  } catch (e) {
    $("login-log").textContent = e.message;
    return;
  }
  loginCall = call;
  let newPassword = false; // recover_acct asked for the new password
  let last = 0; // type of the previous frame
  call.onframe = (f) => {
    const prev = last;
    last = f.type;
    switch (f.type) {
      case T.PRIV_TEXT: {
        const text = decodeText(f.payload);
        if (/new password/i.test(text)) newPassword = true;
        loginPrompt(text, true);
        return;
      }
      case T.TEXT:
      case T.BIG_TEXT:
        $("login-log").append(decodeText(f.payload));
        return;
      case T.ERR:
        $("login-log").append(el("span", decodeText(f.payload).trim() + "\n", "error"));
        return;
      case T.IDLE:
        loginCall = null;
        $("login-prompt").hidden = true;
        // The host says nothing when recover_acct succeeds: it ends.
        if (name === "recover_acct" && newPassword && prev !== T.ERR) {
          $("login-log").append("Your password was changed: log in with the new password.\n");
        }
    }
  };
}

$("recover-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  promptedCall("request_pw_reset", recoverArgs());
});
$("recover-have").addEventListener("click", () => {
  if ($("recover-who").reportValidity()) promptedCall("recover_acct", recoverArgs());
});

function loginPrompt(text, hidden) {
  $("login-prompt-label").textContent = text.trim();
  const a = $("login-answer");
  a.type = hidden ? "password" : "text";
  a.autocomplete = hidden ? "new-password" : "off";
  a.value = "";
  $("login-prompt").hidden = false;
  a.focus();
}

$("login-prompt").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (!loginCall) return;
  const v = $("login-answer").value;
  // A forced password change: the new password is the one to keep.
  if (loginCall.name === "auth" && $("login-answer").type === "password" && lastLogin && lastLogin.password !== null) lastLogin.password = v;
  loginCall.sendText(v);
  $("login-answer").value = "";
  $("login-prompt").hidden = true;
});

$("login-cancel").addEventListener("click", () => loginCall && loginCall.terminate());

// ------------------------------------------------------------------ views

function showView(v) {
  if (v === "admin" && !admin.available()) v = "chat";
  document.body.dataset.view = v;
  $("chat").hidden = v !== "chat";
  $("console").hidden = v !== "chat";
  $("files-view").hidden = v !== "files";
  $("admin-view").hidden = v !== "admin";
  for (const b of $("nav").querySelectorAll("button")) b.classList.toggle("active", b.dataset.view === v);
  if (v === "files") files.refresh();
  if (v === "admin") admin.show(admin.page.id);
}

for (const b of $("nav").querySelectorAll("button")) b.addEventListener("click", () => showView(b.dataset.view));

function toggleSidebar(show = $("sidebar").hidden) {
  $("sidebar").hidden = !show;
  $("menu").setAttribute("aria-expanded", String(show));
  document.body.classList.toggle("no-sidebar", !show);
}
$("menu").addEventListener("click", () => toggleSidebar());
if (matchMedia("(max-width: 700px)").matches) toggleSidebar(false);

function commandsChanged() {
  renderCommands();
  $("nav-admin").hidden = !admin.available();
  $("nav-files").hidden = !files.available();
  $("recover").hidden = !client.commands.has("recover_acct");
  $("recover-request").hidden = !client.commands.has("request_pw_reset");
  // The user's commands arrive after login (ADD_CMD): list the channels
  // once the viewers are there.
  if (loggedIn) refreshChannels();
  renderPeers();
  tryReopen();
}

// ------------------------------------------------------------------- chat

function time() {
  const now = new Date();
  const t = el("time", now.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }));
  t.dateTime = now.toISOString();
  return t;
}

/** chatLine appends a line: who said text (event lines have no speaker). */
function chatLine(who, text, cls = "") {
  const li = el("li", "", cls);
  li.append(time());
  if (who !== null) li.append(el("span", who, "who"));
  li.append(el("span", text, "text"));
  const log = $("chat-log");
  const atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  if (atEnd) log.scrollTop = log.scrollHeight;
}

const shortId = (sid) => sid.slice(0, 8);
const peerName = (sid) => peers.get(sid) ?? `session ${shortId(sid)}`;

/**
 * peerInfo records a peer's names (PEER_INFO: a ping answer, a newcomer's
 * ping, or a rename) and says so in the conversation.
 */
function peerInfo(p) {
  const name = p.displayName && p.displayName !== p.userName ? `${p.displayName} (${p.userName})` : p.userName;
  const old = peers.get(p.sessionId);
  if (old === undefined) chatLine(null, `${name} is here`, "event");
  else if (unnamed.has(p.sessionId)) chatLine(null, `${old} is ${name}`, "event");
  else if (old !== name) chatLine(null, `${old} is now ${name}`, "event");
  unnamed.delete(p.sessionId);
  peers.set(p.sessionId, name);
  renderPeers();
}

/** peerStat turns a PEER_STAT into a join or leave line. */
function peerStat(s) {
  if (s.disconnected || s.open.length === 0) {
    chatLine(null, `${peerName(s.sessionId)} left`, "event");
    peers.delete(s.sessionId);
    unnamed.delete(s.sessionId);
  } else if (!peers.has(s.sessionId)) {
    chatLine(null, `${peerName(s.sessionId)} joined`, "event");
    peers.set(s.sessionId, peerName(s.sessionId));
    unnamed.add(s.sessionId);
  }
  renderPeers();
}

// Channel events (ASYNC 21-34) change what the sidebar lists: each one is
// said in the conversation when it concerns people, and the lists are read
// again from the viewers (ls_chs, ls_sub_chs, ls_open_chs).
const CHANNEL_EVENTS = new Set([A.NEW_CH_MEMBER, A.DEL_CH, A.RENAME_CH, A.NEW_SUB_CH, A.RM_SUB_CH, A.RENAME_SUB_CH,
  A.INVITED_TO_CH, A.RM_CH_MEMBER, A.INVITE_ACCEPTED, A.MEM_LEVEL_CHANGED, A.SUB_CH_LEVEL_CHG, A.ADD_RDONLY, A.RM_RDONLY]);

function asyncFrame(f) {
  switch (f.cmd) {
    case A.CAST:
      if (f.type === T.TEXT || f.type === T.BIG_TEXT) chatLine("cast", decodeText(f.payload));
      else if (f.type === T.PEER_INFO) { const p = parsePeerInfo(f.payload); if (p) peerInfo(p); }
      else chatLine("cast", `(${f.payload.length} bytes of frame type ${f.type})`);
      return;
    case A.TO_PEER:
    case A.LIMITED_CAST:
      if (f.type === T.PEER_INFO) { const p = parsePeerInfo(f.payload); if (p) peerInfo(p); }
      else if (f.type === T.PEER_STAT) { const s = parsePeerStat(f.payload); if (s) peerStat(s); }
      return;
    case A.P2P:
      p2pFrame(f);
      return;
    case A.SYS_MSG: {
      const text = decodeText(f.payload);
      if (/host is (shutting down|restarting)/i.test(text)) {
        banner(`The host is closing: ${text.trim()}`);
        document.body.dataset.hostClosing = "1";
      }
      consoleText(text.endsWith("\n") ? text : text + "\n", f.type === T.ERR ? "err" : "");
      return;
    }
  }
  if (!CHANNEL_EVENTS.has(f.cmd)) return;
  if (f.cmd === A.INVITED_TO_CH || f.cmd === A.NEW_CH_MEMBER) {
    const m = parseChMemberInfo(f.payload);
    if (m && f.cmd === A.INVITED_TO_CH) chatLine(null, `${m.userName} was invited to ${m.channelName}`, "event");
    if (m && f.cmd === A.NEW_CH_MEMBER) chatLine(null, `${m.userName} is a member of ${m.channelName}`, "event");
  }
  refreshChannels();
}

let refreshing = null;
let refreshAgain = false;

/** refreshChannels reads the channel lists again (coalescing bursts). */
function refreshChannels() {
  if (refreshing) {
    refreshAgain = true;
    return refreshing;
  }
  refreshing = (async () => {
    try {
      do {
        refreshAgain = false;
        await loadChannels();
      } while (refreshAgain);
    } catch (e) {
      $("chans-note").textContent = `channel list: ${e.message}`;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

async function loadChannels() {
  const c = client;
  const has = (n) => c.commands.has(n);
  if (has("ls_open_chs")) {
    const { rows } = await readTable(c, "ls_open_chs");
    openSubs = rows.map((r) => ({ ch: r.channel_name, sub: r.sub_channel_name, readOnly: r.read_only === "1" }));
    renderSubs();
  }
  if (!has("ls_chs")) {
    $("chans-note").textContent = "this account cannot list its channels (ls_chs)";
    $("invites").replaceChildren(el("li", "—", "muted"));
    return;
  }
  const { rows: chans } = await readTable(c, "ls_chs");
  const tree = [];
  for (const ch of chans) {
    const pending = ch.pending_invite === "1" || ch.pending_invite === "true";
    const entry = { id: ch.channel_id, name: ch.channel_name, level: ch.access_level, pending, subs: [] };
    if (!pending && has("ls_sub_chs")) {
      const { rows } = await readTable(c, "ls_sub_chs", `-ch_name ${quoteArg(ch.channel_name)}`);
      entry.subs = rows.map((r) => ({ id: r.sub_channel_id, name: r.sub_channel_name, level: r.lowest_access_level,
        active: r.active_updates === "1" || r.active_updates === "true" }));
    }
    tree.push(entry);
  }
  if (c !== client) return;
  renderChannels(tree);
}

function isOpen(ch, sub) {
  return openSubs.some((s) => s.ch === ch && s.sub === sub);
}

let channelsShown = ""; // what renderChannels last drew

function renderChannels(tree) {
  // Re-reads often find nothing new: leave the DOM (and the user's pointer
  // and focus) alone then.
  const sig = JSON.stringify(tree);
  if (sig === channelsShown) return;
  channelsShown = sig;
  const ul = $("chans");
  const inv = $("invites");
  ul.replaceChildren();
  inv.replaceChildren();
  $("chans-note").textContent = tree.some((t) => !t.pending) ? "" : "no channels yet";
  for (const ch of tree) {
    if (ch.pending) {
      const li = el("li", "", "invite");
      li.dataset.ch = ch.name;
      li.append(el("span", ch.name, "name"),
        button("Accept", () => channelCmd("accept_ch", ch.name), "small accept"),
        button("Decline", () => channelCmd("decline_ch", ch.name), "small decline"));
      inv.append(li);
      continue;
    }
    const li = el("li", "", "chan");
    li.dataset.ch = ch.name;
    li.append(el("span", ch.name, "name"), el("span", ` level ${ch.level}`, "muted"));
    const subs = el("ul");
    for (const s of ch.subs) {
      const si = el("li", "", "sub");
      si.dataset.ch = ch.name;
      si.dataset.sub = s.name;
      si.append(el("span", s.name, "name"));
      if (s.active) si.append(el("span", "live", "badge"));
      // One button whose label follows the open state (renderSubs).
      si.append(button("Open", () => (isOpen(ch.name, s.name) ? closeSub({ ch: ch.name, sub: s.name }) : openSub(ch.name, s.name)), "small toggle"));
      subs.append(si);
    }
    li.append(subs);
    ul.append(li);
  }
  if (!inv.children.length) inv.append(el("li", "none", "muted"));
  renderSubs();
}

async function channelCmd(cmd, ch) {
  const r = await client.run(cmd, `-ch_name ${quoteArg(ch)}`);
  $("open-error").textContent = r.errors.join("; ");
  refreshChannels();
}

function renderSubs() {
  const ul = $("subchs");
  ul.replaceChildren();
  openSubs.forEach((s, i) => {
    const li = el("li", "", i === current ? "current" : "");
    li.dataset.ch = s.ch;
    li.dataset.sub = s.sub;
    li.append(el("span", `${i + 1}. ${s.ch} / ${s.sub}${s.readOnly ? " (read only)" : ""}`));
    li.append(button("×", () => closeSub(s), "", `close ${s.ch} / ${s.sub}`));
    ul.append(li);
  });
  if (current >= openSubs.length) current = openSubs.length - 1;
  $("chat-current").textContent = current >= 0 && openSubs[current] ? `· ${openSubs[current].ch} / ${openSubs[current].sub}` : "";
  const to = $("chat-to").value;
  $("chat-in").disabled = openSubs.length === 0 && to === "";
  $("chat-in").placeholder = to !== "" ? `private message to ${peerName(to)}`
    : openSubs.length ? `message to ${openSubs.map((s) => s.sub).join(", ")}` : "open a sub-channel to chat";
  for (const li of $("chans").querySelectorAll("li.sub")) {
    const open = isOpen(li.dataset.ch, li.dataset.sub);
    li.classList.toggle("open", open);
    const b = li.querySelector("button.toggle");
    b.textContent = open ? "Close" : "Open";
    b.classList.toggle("open", !open); // the action the button takes
    b.classList.toggle("close", open);
  }
}

async function openSub(ch, sub) {
  $("open-error").textContent = "";
  if (openSubs.length >= MAX_OPEN) {
    $("open-error").textContent = `At most ${MAX_OPEN} sub-channels can be open at once (the protocol's limit): close one first.`;
    return false;
  }
  let r;
  try {
    r = await client.run("open_sub_ch", `-ch_name ${quoteArg(ch)} -sub_name ${quoteArg(sub)}`);
  } catch (e) {
    $("open-error").textContent = e.message;
    return false;
  }
  if (r.errors.length) {
    $("open-error").textContent = r.errors.join("; ");
    return false;
  }
  if (!isOpen(ch, sub)) openSubs.push({ ch, sub, readOnly: false });
  current = openSubs.length - 1;
  renderSubs();
  chatLine(null, `you opened ${ch} / ${sub}`, "event");
  // Ask the peers to introduce themselves (answers arrive as PEER_INFO); a
  // sub-channel without active updates answers with an error we ignore.
  if (client.commands.has("ping_peers")) client.run("ping_peers").catch(() => {});
  refreshChannels();
  return true;
}

/**
 * tryReopen opens the sub-channels a lost session had open, once the
 * logged-in session has open_sub_ch (its commands arrive after MY_INFO).
 */
async function tryReopen() {
  if (!pendingReopen || !loggedIn || !client.commands.has("open_sub_ch")) return;
  const subs = pendingReopen;
  pendingReopen = null;
  for (const s of subs) if (!isOpen(s.ch, s.sub)) await openSub(s.ch, s.sub);
}

async function closeSub(s) {
  const r = await client.run("close_sub_ch", `-ch_name ${quoteArg(s.ch)} -sub_name ${quoteArg(s.sub)}`);
  if (r.errors.length) {
    $("open-error").textContent = r.errors.join("; ");
    return;
  }
  openSubs = openSubs.filter((o) => !(o.ch === s.ch && o.sub === s.sub));
  renderSubs();
  chatLine(null, `you closed ${s.ch} / ${s.sub}`, "event");
  refreshChannels();
}

$("open-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  openSub($("open-ch").value.trim(), $("open-sub").value.trim());
});

// ----------------------------------------------------- private (P2P) chat

function sidBytes(sid) {
  return unhex(sid);
}

function renderPeers() {
  const ul = $("people");
  ul.replaceChildren();
  for (const [sid, name] of peers) {
    const li = el("li", "", "peer");
    li.dataset.sid = sid;
    li.append(el("span", name, "name"));
    if (p2pOpen.has(sid)) {
      li.append(el("span", "private", "badge"), button("End", () => p2pCmd("p2p_close", sid), "small end"));
    } else if (client && client.commands.has("p2p_request")) {
      li.append(button("Private", () => p2pCmd("p2p_request", sid), "small private", "ask for a private conversation"));
    }
    ul.append(li);
  }
  if (!ul.children.length) ul.append(el("li", "nobody on active sub-channels", "muted"));
  const reqs = $("p2p-requests");
  reqs.replaceChildren();
  for (const [sid, name] of p2pPending) {
    const li = el("li", "", "p2p-request");
    li.dataset.sid = sid;
    li.append(el("span", name, "name"),
      button("Accept", () => p2pCmd("p2p_open", sid), "small accept"),
      button("Decline", () => p2pCmd("p2p_close", sid), "small decline"));
    reqs.append(li);
  }
  if (!reqs.children.length) reqs.append(el("li", "none", "muted"));
  // The chat box's recipient: the open sub-channels or a private link.
  const to = $("chat-to");
  const chosen = to.value;
  to.replaceChildren(new Option("open sub-channels", ""));
  for (const sid of p2pOpen) to.append(new Option(`private: ${peerName(sid)}`, sid));
  to.value = p2pOpen.has(chosen) ? chosen : "";
  to.hidden = to.options.length < 2; // only shown when there is a choice
  renderSubs();
}

$("chat-to").addEventListener("change", () => renderSubs());

async function p2pCmd(cmd, sid) {
  let call;
  try {
    call = client.start(cmd, T.SESSION_ID, sidBytes(sid));
  } catch (e) {
    chatLine(null, e.message, "event");
    return;
  }
  const errs = [];
  call.onframe = (f) => f.type === T.ERR && errs.push(decodeText(f.payload).trim());
  await call.done;
  if (errs.length) {
    chatLine(null, `${cmd}: ${errs.join("; ")}`, "event");
    return;
  }
  const name = peerName(sid);
  if (cmd === "p2p_request") chatLine(null, `you asked ${name} for a private conversation`, "event");
  if (cmd === "p2p_open") {
    p2pPending.delete(sid);
    p2pOpen.add(sid);
    chatLine(null, `private conversation with ${name} open`, "event private");
  }
  if (cmd === "p2p_close") {
    p2pPending.delete(sid);
    if (p2pOpen.delete(sid)) chatLine(null, `private conversation with ${name} ended`, "event private");
  }
  renderPeers();
}

function p2pFrame(f) {
  const src = f.payload.length >= 28 ? Array.from(f.payload.subarray(0, 28), (b) => b.toString(16).padStart(2, "0")).join("") : "";
  switch (f.type) {
    case T.P2P_REQUEST: {
      const p = parsePeerInfo(f.payload);
      if (!p) return;
      if (!peers.has(p.sessionId)) peers.set(p.sessionId, p.userName);
      p2pPending.set(p.sessionId, p.userName);
      chatLine(null, `${p.userName} asks for a private conversation`, "event private");
      break;
    }
    case T.P2P_OPEN:
      p2pOpen.add(src);
      chatLine(null, `${peerName(src)} accepted: private conversation open`, "event private");
      break;
    case T.P2P_CLOSE:
      p2pPending.delete(src);
      if (p2pOpen.delete(src)) chatLine(null, `private conversation with ${peerName(src)} ended`, "event private");
      else chatLine(null, `${peerName(src)} declined or withdrew the private conversation`, "event private");
      break;
    case T.TEXT:
    case T.BIG_TEXT:
      chatLine(`${peerName(src)} (private)`, decodeText(f.payload.subarray(28)), "private");
      return;
    default:
      return;
  }
  renderPeers();
}

$("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("chat-in").value;
  if (text.trim() === "") return;
  $("chat-in").value = "";
  const to = $("chat-to").value;
  let call;
  try {
    if (to) {
      const body = encodeText(text);
      const payload = new Uint8Array(28 + body.length);
      payload.set(sidBytes(to));
      payload.set(body, 28);
      call = client.start("to_peer", T.TEXT, payload);
    } else {
      call = client.start("cast", T.TEXT, encodeText(text));
    }
  } catch (e) {
    chatLine(null, e.message, "event");
    return;
  }
  const errs = [];
  call.onframe = (f) => f.type === T.ERR && errs.push(decodeText(f.payload).trim());
  await call.done;
  const me = client.me ? client.me.userName : "me";
  if (errs.length) chatLine(null, `not sent: ${errs.join("; ")}`, "event");
  else if (to) chatLine(`${me} → ${peerName(to)}`, text, "mine private");
  else chatLine(me, text, "mine");
});

// ---------------------------------------------------------------- console

let consoleCall = null;

function consoleText(text, cls) {
  const out = $("console-out");
  const atEnd = out.scrollHeight - out.scrollTop - out.clientHeight < 40;
  out.append(cls ? el("span", text, cls) : document.createTextNode(text));
  if (atEnd) out.scrollTop = out.scrollHeight;
}

function renderCommands() {
  const names = [...client.commands.keys()].sort();
  const list = $("cmd-list");
  const dl = $("cmd-names");
  list.replaceChildren();
  dl.replaceChildren();
  for (const n of names) {
    const c = client.commands.get(n);
    const li = el("li", n);
    li.title = c.summary;
    li.addEventListener("click", () => {
      consoleText(`${n}: ${c.summary}\n  ${c.io}\n  ${c.long}\n`, "cmd");
      $("console-in").value = `${n} `;
      $("console-in").focus();
    });
    list.append(li);
    const o = document.createElement("option");
    o.value = n;
    o.label = c.summary;
    dl.append(o);
  }
}

/** consoleInput sets the input for a prompt (hidden for PRIV_TEXT) or a command line. */
function consoleInput(mode, label) {
  const i = $("console-in");
  i.type = mode === "hidden" ? "password" : "text";
  i.setAttribute("list", mode === "command" ? "cmd-names" : "");
  $("console-prompt").textContent = label;
  $("console-send").textContent = mode === "command" ? "Run" : "Send";
  $("console-stop").disabled = mode === "command";
  document.body.dataset.console = mode;
}

function help(name) {
  if (name) {
    const c = client.commands.get(name.toLowerCase());
    consoleText(c ? `${c.name}: ${c.summary}\n  usage: ${c.io}\n  ${c.long}\n` : `no such command: ${name}\n`, c ? "" : "err");
    return;
  }
  for (const n of [...client.commands.keys()].sort()) consoleText(`${n.padEnd(24)}${client.commands.get(n).summary}\n`, "");
}

function runCommand(line) {
  const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(line);
  if (!m) return;
  const [, name, args] = m;
  consoleText(`> ${line}\n`, "cmd");
  if (name === "?" || (name === "help" && !client.commands.has("help"))) {
    help(args.trim());
    return;
  }
  let call;
  try {
    call = client.start(name, T.TEXT, encodeText(args));
  } catch (e) {
    consoleText(`${e.message} (type ? for the list)\n`, "err");
    return;
  }
  consoleCall = call;
  consoleInput("input", `${call.name}:`);
  call.onframe = (f) => {
    switch (f.type) {
      case T.TEXT:
      case T.BIG_TEXT: {
        const text = decodeText(f.payload);
        consoleText(text, "");
        // A table viewer's page question: offer buttons as well.
        $("console-pager").hidden = !/next page \(y\/n\)\? $/.test(text);
        break;
      }
      case T.ERR:
        consoleText(decodeText(f.payload) + "\n", "err");
        break;
      case T.PRIV_TEXT:
        consoleText(decodeText(f.payload), "");
        consoleInput("hidden", `${call.name} (hidden):`);
        break;
      case T.IDLE:
        consoleCall = null;
        $("console-pager").hidden = true;
        consoleInput("command", ">");
        break;
      default:
        consoleText(`(${f.payload.length} bytes of frame type ${f.type})\n`, "");
    }
  };
}

$("console-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const i = $("console-in");
  const v = i.value;
  i.value = "";
  if (consoleCall) {
    if (i.type !== "password") consoleText(v + "\n", "");
    else consoleText("\n", "");
    consoleCall.sendText(v);
    consoleInput("input", `${consoleCall.name}:`);
    return;
  }
  if (v.trim() !== "") runCommand(v);
});

$("console-stop").addEventListener("click", () => consoleCall && consoleCall.terminate());

for (const [id, answer] of [["console-next", "y"], ["console-last", "n"]]) {
  $(id).addEventListener("click", () => {
    if (!consoleCall) return;
    $("console-pager").hidden = true;
    consoleText(answer + "\n", "");
    consoleCall.sendText(answer);
    $("console-in").focus();
  });
}

// Tab completes a command name from the NEW_CMD list.
$("console-in").addEventListener("keydown", (ev) => {
  if (ev.key !== "Tab" || consoleCall) return;
  const i = $("console-in");
  if (/\s/.test(i.value)) return;
  ev.preventDefault();
  const hits = [...client.commands.keys()].filter((n) => n.startsWith(i.value.toLowerCase())).sort();
  if (hits.length === 1) i.value = `${hits[0]} `;
  else if (hits.length > 1) {
    let p = hits[0];
    for (const h of hits) while (!h.startsWith(p)) p = p.slice(0, -1);
    i.value = p;
    consoleText(hits.join("  ") + "\n", "");
  }
});

// ------------------------------------------------------- keyboard shortcuts

/**
 * Shortcuts (docs/web.md): Alt+1..6 select the Nth open sub-channel,
 * Alt+ArrowUp/ArrowDown the previous/next one, Alt+W closes the selected
 * one; Alt+C chat, Alt+F files, Alt+A administration, Alt+K the console
 * input, Alt+M shows or hides the sidebar.
 */
function selectSub(i) {
  if (!openSubs.length) return;
  current = (i + openSubs.length) % openSubs.length;
  showView("chat");
  renderSubs();
  $("chat-in").focus();
}

document.addEventListener("keydown", (ev) => {
  if (!ev.altKey || ev.ctrlKey || ev.metaKey || !loggedIn) return;
  const k = ev.key.toLowerCase();
  const digit = /^Digit([1-6])$/.exec(ev.code);
  let done = true;
  if (digit) {
    if (Number(digit[1]) <= openSubs.length) selectSub(Number(digit[1]) - 1);
  } else if (ev.key === "ArrowUp") selectSub(current - 1);
  else if (ev.key === "ArrowDown") selectSub(current + 1);
  else if (ev.code === "KeyW" && openSubs[current]) closeSub(openSubs[current]);
  else if (ev.code === "KeyC") showView("chat");
  else if (ev.code === "KeyF") showView("files");
  else if (ev.code === "KeyA") showView("admin");
  else if (ev.code === "KeyK") { showView("chat"); $("console-in").focus(); }
  else if (ev.code === "KeyM") toggleSidebar();
  else done = false;
  if (done || k === "") ev.preventDefault();
});

consoleInput("command", ">");
connect();
