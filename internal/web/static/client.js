// client.js: one MRCI session over the console's WebSocket. The socket
// carries the MRCI byte stream itself (client header, host header, frames),
// so this is the same client side a TCP client implements, minus TLS:
// HTTPS (or loopback) already secures the transport and the host answers
// reply 1 (docs/web.md).

import {
  A, T, FIRST_COMMAND_ID, StreamParser, clientHeader, decodeText, encodeFrame, encodeText,
  parseCmdId, parseMyInfo, parseNewCmd,
} from "./wire.js";

export const APP_NAME = "MRCI web console 0.1";

/**
 * Call is one running command instance (command id + branch id). Its
 * onframe callback sees every frame of the call, the final IDLE included.
 */
export class Call {
  constructor(client, cmd, branch, name) {
    this.client = client;
    this.cmd = cmd;
    this.branch = branch;
    this.name = name;
    this.busy = true;
    this.onframe = () => {};
    this.done = new Promise((resolve) => { this.resolve = resolve; });
  }

  /** send sends one frame to the command. */
  send(type, payload) {
    this.client.sendFrame(type, this.cmd, this.branch, payload);
  }

  /** sendText answers a prompt (or sends input) as TEXT. */
  sendText(s) {
    this.send(T.TEXT, encodeText(s));
  }

  /** terminate asks the command to stop (TERM_CMD). */
  terminate() {
    if (this.busy) this.send(T.TERM_CMD, new Uint8Array(0));
  }

  deliver(f) {
    this.onframe(f);
    if (f.type === T.IDLE) {
      this.busy = false;
      this.resolve();
    }
  }
}

/**
 * Client is an MRCI session. Set the on* callbacks before connect:
 * onready(), onclose(reason), onasync(frame), oncommands(), onmyinfo(info).
 */
export class Client {
  constructor(url) {
    this.url = url;
    this.commands = new Map(); // name -> NEW_CMD record
    this.names = new Map(); // id -> name
    this.calls = new Map(); // cmd | branch << 16 -> Call
    this.me = null;
    this.hostHeader = null;
    this.parser = new StreamParser();
    this.onready = () => {};
    this.onclose = () => {};
    this.onasync = () => {};
    this.oncommands = () => {};
    this.onmyinfo = () => {};
  }

  /** connect opens the WebSocket and sends the client header. */
  connect() {
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => ws.send(clientHeader(APP_NAME, location.hostname));
    ws.onmessage = (ev) => this.receive(new Uint8Array(ev.data));
    ws.onclose = (ev) => this.closed(ev.reason || (ev.code === 1000 ? "the host closed the session" : `connection lost (${ev.code})`));
    ws.onerror = () => {};
  }

  /** close ends the session. */
  close() {
    if (this.ws) this.ws.close(1000);
  }

  closed(reason) {
    if (this.ended) return;
    this.ended = true;
    for (const c of this.calls.values()) c.deliver({ type: T.IDLE, cmd: c.cmd, branch: c.branch, payload: new Uint8Array(0) });
    this.calls.clear();
    this.onclose(reason);
  }

  receive(bytes) {
    this.parser.push(bytes);
    try {
      for (let item = this.parser.next(); item; item = this.parser.next()) {
        if (item.header) this.hostHeaderReceived(item.header);
        else this.route(item.frame);
      }
    } catch (e) {
      this.fail(`protocol error: ${e.message}`);
    }
  }

  fail(reason) {
    this.ws.close(4000, reason.slice(0, 120));
    this.closed(reason);
  }

  hostHeaderReceived(h) {
    this.hostHeader = h;
    if (h.version[0] !== 2) this.fail(`the host speaks wire version ${h.version.join(".")}, this console 2.x`);
    else if (h.reply !== 1) this.fail(`the host refused the session (reply ${h.reply})`);
  }

  route(f) {
    if (f.cmd < FIRST_COMMAND_ID) {
      this.async(f);
      return;
    }
    const key = f.cmd | (f.branch << 16);
    const call = this.calls.get(key);
    if (!call) return; // output of a call we gave up on
    if (f.type === T.IDLE) this.calls.delete(key);
    call.deliver(f);
  }

  async(f) {
    switch (f.cmd) {
      case A.RDY:
        this.onready();
        break;
      case A.ADD_CMD: {
        const c = parseNewCmd(f.payload);
        if (c && c.id >= FIRST_COMMAND_ID) {
          this.commands.set(c.name, c);
          this.names.set(c.id, c.name);
          this.oncommands();
        }
        break;
      }
      case A.RM_CMD: {
        const id = parseCmdId(f.payload);
        const name = this.names.get(id);
        if (name !== undefined) {
          this.names.delete(id);
          this.commands.delete(name);
          this.oncommands();
        }
        break;
      }
      case A.SYS_MSG:
        if (f.type === T.MY_INFO) {
          this.me = parseMyInfo(f.payload);
          if (this.me) this.onmyinfo(this.me);
          break;
        }
        this.onasync(f);
        break;
      default:
        this.onasync(f);
    }
  }

  sendFrame(type, cmd, branch, payload) {
    if (this.ended) return;
    this.ws.send(encodeFrame(type, cmd, branch, payload));
  }

  /**
   * start starts a command with a first frame (TEXT arguments by default)
   * and returns its Call, or throws if the session has no such command.
   */
  start(name, type = T.TEXT, payload = encodeText("")) {
    const c = this.commands.get(name.toLowerCase());
    if (!c) throw new Error(`no such command: ${name}`);
    let branch = 0;
    while (this.calls.has(c.id | (branch << 16))) branch++;
    const call = new Call(this, c.id, branch, c.name);
    this.calls.set(c.id | (branch << 16), call);
    this.sendFrame(type, c.id, branch, payload);
    return call;
  }

  /**
   * run starts a command with TEXT arguments and collects its TEXT/ERR
   * output; it resolves with {text, errors} at IDLE. Prompts are answered
   * by ask(frame) -> string (default: cancel the command).
   */
  async run(name, args = "", ask = null) {
    const call = this.start(name, T.TEXT, encodeText(args));
    const out = { text: "", errors: [] };
    call.onframe = (f) => {
      if (f.type === T.TEXT || f.type === T.BIG_TEXT) {
        out.text += decodeText(f.payload);
      } else if (f.type === T.ERR) out.errors.push(decodeText(f.payload).trim());
      else if (f.type === T.PRIV_TEXT) {
        if (ask) call.sendText(ask(f));
        else call.terminate();
      }
    };
    await call.done;
    return out;
  }

  /** text decodes a TEXT-like frame's payload. */
  static text(f) {
    return decodeText(f.payload);
  }
}

/**
 * Conversation follows one interactive call: it collects the call's text
 * (TEXT, BIG_TEXT and PRIV_TEXT prompts) and ERR messages, and until(re)
 * resolves with the text gathered since the last until once that text
 * matches re (a prompt at its end) or the call has ended (IDLE).
 */
export class Conversation {
  constructor(call) {
    this.call = call;
    this.buf = "";
    this.errors = [];
    this.ended = false;
    this.waiter = null;
    this.onother = () => {}; // frames of other types
    this.tap = () => {}; // every frame, before it is handled
    call.onframe = (f) => {
      this.tap(f);
      switch (f.type) {
        case T.TEXT:
        case T.BIG_TEXT:
        case T.PRIV_TEXT:
          this.buf += decodeText(f.payload);
          break;
        case T.ERR:
          this.errors.push(decodeText(f.payload).trim());
          break;
        case T.IDLE:
          this.ended = true;
          break;
        default:
          this.onother(f);
      }
      this.check();
    };
  }

  /** until waits for text matching re, or the end of the call. */
  until(re) {
    return new Promise((resolve) => {
      this.waiter = { re, resolve };
      this.check();
    });
  }

  check() {
    const w = this.waiter;
    if (!w || !(this.ended || w.re.test(this.buf))) return;
    this.waiter = null;
    const text = this.buf;
    this.buf = "";
    w.resolve(text);
  }

  /** say answers a prompt with TEXT. */
  say(s) {
    this.call.sendText(s);
  }
}
