// wire.js: the bytes of the MRCI protocol (wire version 2.0.2) for the
// browser. It mirrors internal/wire: frames are [type u8][cmd u16 LE]
// [branch u16 LE][length u24 LE][payload]; text is UTF-16LE without BOM or
// terminator; structured payloads have fixed-width UTF-16LE fields padded
// with zeros. Pure functions and one stream parser; no I/O here.

/** Type ids (types.md §1). */
export const T = Object.freeze({
  GEN_FILE: 1, TEXT: 2, ERR: 3, PRIV_TEXT: 4, IDLE: 5, HOST_CERT: 6, FILE_INFO: 7,
  PEER_INFO: 8, MY_INFO: 9, PEER_STAT: 10, P2P_REQUEST: 11, P2P_CLOSE: 12, P2P_OPEN: 13,
  BYTES: 14, SESSION_ID: 15, NEW_CMD: 16, CMD_ID: 17, BIG_TEXT: 18, TERM_CMD: 19,
  HOST_VER: 20, PING_PEERS: 24, CH_MEMBER_INFO: 25, CH_ID: 26, KILL_CMD: 27,
  HALT_CMD: 28, RESUME_CMD: 29,
});

/** Async command ids a client sees (seed async.md §5.1). */
export const A = Object.freeze({
  RDY: 1, SYS_MSG: 2, CAST: 4, USER_DELETED: 7, TO_PEER: 16, LIMITED_CAST: 17, P2P: 19,
  NEW_CH_MEMBER: 21, DEL_CH: 22, RENAME_CH: 23, NEW_SUB_CH: 25, RM_SUB_CH: 26,
  RENAME_SUB_CH: 27, INVITED_TO_CH: 28, RM_CH_MEMBER: 29, INVITE_ACCEPTED: 30,
  MEM_LEVEL_CHANGED: 31, SUB_CH_LEVEL_CHG: 32, ADD_RDONLY: 33, RM_RDONLY: 34,
  ADD_CMD: 35, RM_CMD: 36,
});

export const FRAME_HEADER_LEN = 8;
export const CLIENT_HEADER_LEN = 410;
export const HOST_HEADER_LEN = 35;
export const MAX_PAYLOAD = 0xffffff;
/** The lowest command id; lower ids are async ids. */
export const FIRST_COMMAND_ID = 256;

/** encodeText returns s as UTF-16LE code units (JS strings are UTF-16). */
export function encodeText(s) {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    out[2 * i] = u & 0xff;
    out[2 * i + 1] = u >> 8;
  }
  return out;
}

const utf16 = new TextDecoder("utf-16le"); // strips one leading BOM

/**
 * decodeText decodes UTF-16LE the robust way of protocol.md §15.4: on
 * 2-byte boundaries, U+0000 units dropped, unpaired surrogates replaced,
 * a trailing odd byte ignored.
 */
export function decodeText(b) {
  const even = b.subarray(0, b.length - (b.length % 2));
  return utf16.decode(even).replaceAll("\u0000", "");
}

/** appendFixed writes s into a zero-padded field of width bytes at off. */
function putFixed(dst, off, s, width) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    const pair = u >= 0xd800 && u < 0xdc00 && i + 1 < s.length;
    const need = pair ? 4 : 2;
    if (n + need > width) break;
    dst[off + n] = u & 0xff;
    dst[off + n + 1] = u >> 8;
    n += 2;
    if (pair) {
      const u2 = s.charCodeAt(++i);
      dst[off + n] = u2 & 0xff;
      dst[off + n + 1] = u2 >> 8;
      n += 2;
    }
  }
}

/** readFixed decodes a fixed-width field: code units up to the first 0x0000. */
export function readFixed(b, off, width) {
  const f = b.subarray(off, off + width);
  for (let i = 0; i + 1 < f.length; i += 2) {
    if (f[i] === 0 && f[i + 1] === 0) return decodeText(f.subarray(0, i));
  }
  return decodeText(f);
}

/** readNullTerm decodes a 16-bit null-terminated string at off: [text, next offset]. */
export function readNullTerm(b, off) {
  for (let i = off; i + 1 < b.length; i += 2) {
    if (b[i] === 0 && b[i + 1] === 0) return [decodeText(b.subarray(off, i)), i + 2];
  }
  return [decodeText(b.subarray(off)), b.length];
}

/** clientHeader returns the 410-byte client header (protocol.md §4). */
export function clientHeader(appName, commonName) {
  const b = new Uint8Array(CLIENT_HEADER_LEN);
  b.set([0x4d, 0x52, 0x43, 0x49]); // "MRCI"
  putFixed(b, 4, appName, 134);
  putFixed(b, 138, commonName, 272);
  return b;
}

/** parseHostHeader decodes the 35-byte host header. */
export function parseHostHeader(b) {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    reply: b[0],
    version: [v.getUint16(1, true), v.getUint16(3, true), v.getUint16(5, true)],
    sessionId: hex(b.subarray(7, 35)),
  };
}

/** encodeFrame returns one encoded frame. */
export function encodeFrame(type, cmd, branch, payload = new Uint8Array(0)) {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`payload of ${payload.length} bytes exceeds the wire maximum`);
  const b = new Uint8Array(FRAME_HEADER_LEN + payload.length);
  const n = payload.length;
  b.set([type, cmd & 0xff, cmd >> 8, branch & 0xff, branch >> 8, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  b.set(payload, FRAME_HEADER_LEN);
  return b;
}

/**
 * StreamParser turns the byte stream from the host into the host header
 * and then frames, whatever the WebSocket message boundaries are.
 */
export class StreamParser {
  constructor(maxPayload = MAX_PAYLOAD) {
    this.buf = new Uint8Array(64 << 10);
    this.start = 0;
    this.end = 0;
    this.header = null;
    this.maxPayload = maxPayload;
  }

  /** push appends received bytes. */
  push(bytes) {
    if (this.end + bytes.length > this.buf.length) {
      const live = this.end - this.start;
      if (live + bytes.length > this.buf.length) {
        const nb = new Uint8Array(Math.max(live + bytes.length, 2 * this.buf.length));
        nb.set(this.buf.subarray(this.start, this.end));
        this.buf = nb;
      } else {
        this.buf.copyWithin(0, this.start, this.end);
      }
      this.start = 0;
      this.end = live;
    }
    this.buf.set(bytes, this.end);
    this.end += bytes.length;
  }

  /** next returns the next complete item ({header} or {frame}) or null. */
  next() {
    const avail = this.end - this.start;
    if (this.header === null) {
      if (avail < HOST_HEADER_LEN) return null;
      this.header = parseHostHeader(this.buf.slice(this.start, this.start + HOST_HEADER_LEN));
      this.start += HOST_HEADER_LEN;
      return { header: this.header };
    }
    if (avail < FRAME_HEADER_LEN) return null;
    const h = this.buf.subarray(this.start, this.start + FRAME_HEADER_LEN);
    const len = h[5] | (h[6] << 8) | (h[7] << 16);
    if (len > this.maxPayload) throw new RangeError(`frame of ${len} bytes exceeds the limit`);
    if (avail < FRAME_HEADER_LEN + len) return null;
    const frame = {
      type: h[0],
      cmd: h[1] | (h[2] << 8),
      branch: h[3] | (h[4] << 8),
      payload: this.buf.slice(this.start + FRAME_HEADER_LEN, this.start + FRAME_HEADER_LEN + len),
    };
    this.start += FRAME_HEADER_LEN + len;
    if (this.start === this.end) this.start = this.end = 0;
    return { frame };
  }
}

/** hex formats bytes as lower-case hex. */
export function hex(b) {
  let s = "";
  for (const c of b) s += c.toString(16).padStart(2, "0");
  return s;
}

function view(b) {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** parseNewCmd decodes a NEW_CMD payload (types.md §8.1), or null if short. */
export function parseNewCmd(p) {
  if (p.length < 259) return null;
  let off = 259;
  let summary, io, long;
  [summary, off] = readNullTerm(p, off);
  [io, off] = readNullTerm(p, off);
  [long] = readNullTerm(p, off);
  return {
    id: view(p).getUint16(0, true),
    genFile: p[2],
    name: readFixed(p, 3, 128).trim().toLowerCase(),
    library: readFixed(p, 131, 128),
    summary, io, long,
  };
}

/** parseCmdId decodes a CMD_ID payload. */
export function parseCmdId(p) {
  return p.length >= 2 ? view(p).getUint16(0, true) : -1;
}

/** parsePeerInfo decodes a PEER_INFO payload (306 bytes), or null. */
export function parsePeerInfo(p) {
  if (p.length < 306) return null;
  return {
    sessionId: hex(p.subarray(0, 28)),
    userId: hex(p.subarray(28, 60)),
    userName: readFixed(p, 60, 48),
    appName: readFixed(p, 108, 134),
    displayName: readFixed(p, 242, 64),
  };
}

/** parseMyInfo decodes a MY_INFO payload (439 bytes), or null. */
export function parseMyInfo(p) {
  if (p.length < 439) return null;
  return {
    ...parsePeerInfo(p),
    email: readFixed(p, 306, 128),
    rank: view(p).getUint32(434, true),
    emailVerified: p[438] !== 0,
  };
}

/** parseSubChannelList decodes the 54-byte open list: valid entries only. */
export function parseSubChannelList(p, off = 0) {
  const out = [];
  for (let i = 0; i < 6; i++) {
    const o = off + 9 * i;
    const ch = view(p).getBigUint64(o, true);
    if (ch !== 0n) out.push({ channel: ch.toString(), sub: p[o + 8] });
  }
  return out;
}

/** parsePeerStat decodes a PEER_STAT payload (83 bytes), or null. */
export function parsePeerStat(p) {
  if (p.length < 83) return null;
  return {
    sessionId: hex(p.subarray(0, 28)),
    open: parseSubChannelList(p, 28),
    disconnected: p[82] !== 0,
  };
}

/** parseChMemberInfo decodes a CH_MEMBER_INFO payload, or null. */
export function parseChMemberInfo(p) {
  if (p.length < 42) return null;
  let off = 42;
  let userName, displayName, channelName;
  [userName, off] = readNullTerm(p, off);
  [displayName, off] = readNullTerm(p, off);
  [channelName] = readNullTerm(p, off);
  return {
    channelId: view(p).getBigUint64(0, true).toString(),
    userId: hex(p.subarray(8, 40)),
    pending: p[40] !== 0,
    level: p[41],
    userName, displayName, channelName,
  };
}

/**
 * quoteArg quotes one argument for the host's argument tokenizer
 * (protocol.md §13.1), as pkg/client.QuoteArg does: unchanged without
 * whitespace or quotes, else in double quotes with quotes escaped by a
 * backslash and trailing backslashes after the closing quote.
 */
export function quoteArg(s) {
  if (s !== "" && !/[\s"']/.test(s)) return s;
  const m = /\\*$/.exec(s);
  const body = s.slice(0, s.length - m[0].length);
  return '"' + body.replace(/["']/g, (q) => "\\" + q) + '"' + m[0];
}

/** unhex turns lower-case hex back into bytes. */
export function unhex(s) {
  const b = new Uint8Array(s.length >> 1);
  for (let i = 0; i < b.length; i++) b[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return b;
}

/** FILE_INFO flag bits (types.md §10). */
export const FI = Object.freeze({ FILE: 0x01, DIR: 0x02, LINK: 0x04, READ: 0x08, WRITE: 0x10, EXEC: 0x20, EXISTS: 0x40 });

/**
 * parseFileInfo decodes a FILE_INFO payload (types.md §10), or null if
 * short. The end of the payload ends the last string (the original omits
 * its terminator).
 */
export function parseFileInfo(p) {
  if (p.length < 25) return null;
  const v = view(p);
  let off = 25;
  let name, target;
  [name, off] = readNullTerm(p, off);
  [target] = readNullTerm(p, off);
  return {
    flags: p[0],
    modified: Number(v.getBigUint64(9, true)),
    size: Number(v.getBigUint64(17, true)),
    name, target,
  };
}
