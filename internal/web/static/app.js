// app.js: the console's page. Every piece of host data reaches the DOM
// through textContent or input values, never innerHTML, so a cast or a
// command output containing markup is shown as text.

import { Client } from "./client.js";
import { A, T, decodeText, encodeText, parsePeerInfo, parsePeerStat, parseChMemberInfo, quoteArg } from "./wire.js";

const $ = (id) => document.getElementById(id);
const NOBODY = "0".repeat(64);

/** el creates an element with text content and a class. */
function el(tag, text = "", cls = "") {
  const e = document.createElement(tag);
  if (text !== "") e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function setStatus(text) {
  $("status").textContent = text;
}

const wsURL = () => `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/mrci`;

let client = null;
let loggedIn = false;
const openSubs = []; // {ch, sub} opened by this page, in order
const peers = new Map(); // session id -> name

// ---------------------------------------------------------------- session

function connect() {
  loggedIn = false;
  peers.clear();
  unnamed.clear();
  openSubs.length = 0;
  renderSubs();
  client = new Client(wsURL());
  const c = client;
  c.onready = () => {
    if (c !== client) return;
    setStatus("connected");
    showLogin();
  };
  c.onclose = (reason) => {
    if (c !== client) return;
    setStatus(`disconnected: ${reason}`);
    document.body.dataset.state = "closed";
    $("login-submit").disabled = true;
  };
  c.oncommands = () => c === client && renderCommands();
  c.onmyinfo = (me) => c === client && myInfo(me);
  c.onasync = (f) => c === client && asyncFrame(f);
  c.connect();
}

function myInfo(me) {
  const now = me.userId !== NOBODY;
  $("me").textContent = now ? `${me.displayName || me.userName} (rank ${me.rank})` : "";
  if (now && !loggedIn) {
    loggedIn = true;
    $("login-view").hidden = true;
    $("app-view").hidden = false;
    $("logout").hidden = false;
    document.body.dataset.state = "app";
    $("chat-in").focus();
  } else if (!now && loggedIn) {
    loggedIn = false;
    showLogin();
  }
}

function showLogin() {
  $("app-view").hidden = true;
  $("logout").hidden = true;
  $("login-view").hidden = false;
  $("login-prompt").hidden = true;
  $("login-submit").disabled = false;
  document.body.dataset.state = "login";
  $("login-user").focus();
}

// Logging out ends the session: the host tells peers the session left, and
// a fresh anonymous session takes its place.
$("logout").addEventListener("click", () => {
  client.close();
  $("chat-log").replaceChildren();
  $("console-out").replaceChildren();
  connect();
});

// ------------------------------------------------------------------ login

let loginCall = null;

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const user = $("login-user").value.trim();
  const password = $("login-pass").value;
  $("login-pass").value = "";
  $("login-log").textContent = "";
  let call;
  try {
    call = client.start("auth", T.TEXT, encodeText(`-user ${quoteArg(user)}`));
  } catch (e) {
    $("login-log").textContent = e.message;
    return;
  }
  loginCall = call;
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
  loginCall.sendText($("login-answer").value);
  $("login-answer").value = "";
  $("login-prompt").hidden = true;
});

$("login-cancel").addEventListener("click", () => loginCall && loginCall.terminate());

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

const unnamed = new Set(); // peers known only by a PEER_STAT so far

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
}

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
    case A.SYS_MSG:
      consoleText(decodeText(f.payload), f.type === T.ERR ? "err" : "");
      return;
    case A.INVITED_TO_CH: {
      const m = parseChMemberInfo(f.payload);
      if (m) chatLine(null, `${m.userName} was invited to ${m.channelName}`, "event");
      return;
    }
    case A.DEL_CH:
    case A.RM_SUB_CH:
      // Sub-channels closed by the host: forget ours and re-list with ls_open_chs.
      consoleText(`(a channel or sub-channel you had open changed; run ls_open_chs)\n`, "");
  }
}

function renderSubs() {
  const ul = $("subchs");
  ul.replaceChildren();
  for (const s of openSubs) {
    const li = el("li");
    li.append(el("span", `${s.ch} / ${s.sub}`));
    const b = el("button", "×");
    b.type = "button";
    b.title = `close ${s.ch} / ${s.sub}`;
    b.addEventListener("click", () => closeSub(s));
    li.append(b);
    ul.append(li);
  }
  $("chat-in").disabled = openSubs.length === 0;
  $("chat-in").placeholder = openSubs.length ? `message to ${openSubs.map((s) => s.sub).join(", ")}` : "open a sub-channel to chat";
}

async function openSub(ch, sub) {
  const args = `-ch_name ${quoteArg(ch)} -sub_name ${quoteArg(sub)}`;
  $("open-error").textContent = "";
  let r;
  try {
    r = await client.run("open_sub_ch", args);
  } catch (e) {
    $("open-error").textContent = e.message;
    return;
  }
  if (r.errors.length) {
    $("open-error").textContent = r.errors.join("; ");
    return;
  }
  openSubs.push({ ch, sub });
  renderSubs();
  chatLine(null, `you opened ${ch} / ${sub}`, "event");
  // Ask the peers to introduce themselves (answers arrive as PEER_INFO); a
  // sub-channel without active updates answers with an error we ignore.
  if (client.commands.has("ping_peers")) client.run("ping_peers").catch(() => {});
}

async function closeSub(s) {
  const r = await client.run("close_sub_ch", `-ch_name ${quoteArg(s.ch)} -sub_name ${quoteArg(s.sub)}`);
  if (r.errors.length) {
    $("open-error").textContent = r.errors.join("; ");
    return;
  }
  openSubs.splice(openSubs.indexOf(s), 1);
  renderSubs();
  chatLine(null, `you closed ${s.ch} / ${s.sub}`, "event");
}

$("open-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  if (openSubs.length >= 6) {
    $("open-error").textContent = "at most 6 sub-channels can be open at once";
    return;
  }
  openSub($("open-ch").value.trim(), $("open-sub").value.trim());
});

$("chat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("chat-in").value;
  if (text.trim() === "") return;
  $("chat-in").value = "";
  let call;
  try {
    call = client.start("cast", T.TEXT, encodeText(text));
  } catch (e) {
    chatLine(null, e.message, "event");
    return;
  }
  const errs = [];
  call.onframe = (f) => f.type === T.ERR && errs.push(decodeText(f.payload).trim());
  await call.done;
  if (errs.length) chatLine(null, `not sent: ${errs.join("; ")}`, "event");
  else chatLine(client.me ? client.me.userName : "me", text, "mine");
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
      case T.BIG_TEXT:
        consoleText(decodeText(f.payload), "");
        break;
      case T.ERR:
        consoleText(decodeText(f.payload) + "\n", "err");
        break;
      case T.PRIV_TEXT:
        consoleText(decodeText(f.payload), "");
        consoleInput("hidden", `${call.name} (hidden):`);
        break;
      case T.IDLE:
        consoleCall = null;
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

consoleInput("command", ">");
connect();
