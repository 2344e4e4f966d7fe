// files.js: the Files pane. Browsing runs fs_cd / fs_list -info_frame /
// fs_info; uploads and downloads run fs_upload / fs_download over GEN_FILE
// in the host's dialect (genfile 0x01, the host says -to_host/-from_host),
// exactly as pkg/client does, with a progress bar, cancel (TERM_CMD) and
// resume (-offset).

import { Conversation } from "./client.js";
import { $, el, button, fmtBytes } from "./dom.js";
import { FI, T, decodeText, encodeText, parseFileInfo, quoteArg } from "./wire.js";

const CHUNK = 1 << 20; // upload frame size, as pkg/client's default
const WINDOW = 4; // chunks sent ahead of the host's acknowledgements

/** Files is the pane; client() returns the current session. */
export class Files {
  constructor(client) {
    this.client = client;
    this.cwd = "";
    $("files-up").addEventListener("click", () => this.cd(".."));
    $("files-refresh").addEventListener("click", () => this.refresh());
    $("file-pick").addEventListener("change", (ev) => {
      for (const f of ev.target.files) this.upload(f);
      ev.target.value = "";
    });
    const view = $("files-view");
    view.addEventListener("dragover", (ev) => {
      ev.preventDefault();
      view.classList.add("dragging");
    });
    view.addEventListener("dragleave", (ev) => {
      if (ev.target === view) view.classList.remove("dragging");
    });
    view.addEventListener("drop", (ev) => {
      ev.preventDefault();
      view.classList.remove("dragging");
      for (const f of ev.dataTransfer.files) this.upload(f);
    });
  }

  /** available reports whether the session has the file commands. */
  available() {
    const c = this.client();
    return !!c && ["fs_cd", "fs_list", "fs_upload", "fs_download"].every((n) => c.commands.has(n));
  }

  error(msg) {
    $("files-error").textContent = msg;
  }

  async run(name, args) {
    const r = await this.client().run(name, args);
    if (r.errors.length) this.error(r.errors.join("; "));
    return r;
  }

  async cd(path) {
    this.error("");
    const r = await this.run("fs_cd", `-path ${quoteArg(path)}`);
    if (!r.errors.length) await this.refresh();
  }

  /** refresh shows the current directory (fs_cd without -path) and its entries. */
  async refresh() {
    if (!this.available()) {
      this.error("this account has no file commands (fs_cd, fs_list, fs_upload, fs_download)");
      return;
    }
    this.error("");
    const r = await this.run("fs_cd", "");
    this.cwd = r.text.trim();
    $("files-cwd").textContent = this.cwd;
    const call = this.client().start("fs_list", T.TEXT, encodeText("-info_frame"));
    const conv = new Conversation(call);
    const entries = [];
    conv.onother = (f) => {
      if (f.type === T.FILE_INFO) {
        const fi = parseFileInfo(f.payload);
        if (fi) entries.push(fi);
      }
    };
    await conv.until(/(?!)/);
    if (conv.errors.length) this.error(conv.errors.join("; "));
    entries.sort((a, b) => (b.flags & FI.DIR) - (a.flags & FI.DIR) || a.name.localeCompare(b.name));
    const tb = $("files-list");
    tb.replaceChildren();
    for (const e of entries) {
      const tr = el("tr");
      tr.dataset.name = e.name;
      const dir = (e.flags & FI.DIR) !== 0;
      const name = el("td", "", "name");
      if (dir) name.append(button(e.name + "/", () => this.cd(e.name), "link"));
      else name.append(el("span", e.name));
      if (e.flags & FI.LINK) name.append(el("span", ` → ${e.target}`, "muted"));
      tr.append(name, el("td", dir ? "" : fmtBytes(e.size), "num"),
        el("td", e.modified ? new Date(e.modified).toLocaleString() : ""));
      const act = el("td");
      if (!dir) act.append(button("Download", () => this.download(e.name), "download"));
      tr.append(act);
      tb.append(tr);
    }
    if (!entries.length) {
      const tr = el("tr");
      const td = el("td", "(empty)", "muted");
      td.colSpan = 4;
      tr.append(td);
      tb.append(tr);
    }
  }

  /** transferRow adds a row with a progress bar to the transfer list. */
  transferRow(kind, name) {
    const li = el("li", "", "transfer");
    li.dataset.name = name;
    li.dataset.kind = kind;
    li.dataset.state = "running";
    const label = el("span", `${kind === "up" ? "↑" : "↓"} ${name}`, "tname");
    const bar = el("progress");
    bar.max = 1;
    bar.value = 0;
    const info = el("span", "", "tinfo");
    const actions = el("span", "", "tact");
    li.append(label, bar, info, actions);
    $("transfers").prepend(li);
    return {
      li, bar, info, actions,
      progress(done, total) {
        bar.max = Math.max(total, 1);
        bar.value = done;
        info.textContent = `${fmtBytes(done)} of ${fmtBytes(total)}`;
      },
      state(s, text) {
        li.dataset.state = s;
        if (text !== undefined) info.textContent = text;
      },
      setActions(...btns) {
        actions.replaceChildren(...btns);
      },
    };
  }

  /**
   * upload sends file (from offset) into the current directory. A fresh
   * upload with "replace existing files" ticked adds -force -truncate; a
   * resume adds -force and -offset (never -truncate).
   */
  upload(file, offset = 0, row = null) {
    if (!this.available()) {
      this.error("this account has no file commands");
      return;
    }
    const c = this.client();
    row = row || this.transferRow("up", file.name);
    row.state("running");
    const len = file.size - offset;
    let args = `-remote_file ${quoteArg(file.name)} -len ${len}`;
    if (offset > 0) args += ` -offset ${offset} -force`;
    else if ($("files-overwrite").checked) args += " -force -truncate";
    let call;
    try {
      call = c.start("fs_upload", T.GEN_FILE, encodeText(args));
    } catch (e) {
      row.state("failed", e.message);
      return;
    }
    let phase = "reply"; // reply, ready, data
    let sent = 0; // bytes of this call sent
    let acked = 0; // bytes the host reported received
    let pumping = false;
    let cancelled = false;
    let exists = false;
    const errors = [];
    const cancel = button("Cancel", () => {
      cancelled = true;
      call.terminate();
    }, "cancel");
    row.setActions(cancel);
    row.progress(offset, file.size);
    const pump = async () => {
      if (pumping) return;
      pumping = true;
      try {
        while (!cancelled && call.busy && sent < len && sent - acked < WINDOW * CHUNK) {
          const n = Math.min(CHUNK, len - sent);
          const buf = new Uint8Array(await file.slice(offset + sent, offset + sent + n).arrayBuffer());
          if (cancelled || !call.busy) break;
          call.send(T.GEN_FILE, buf);
          sent += n;
        }
      } catch (e) {
        errors.push(`cannot read the file: ${e.message}`);
        call.terminate();
      } finally {
        pumping = false;
      }
    };
    call.onframe = (f) => {
      switch (f.type) {
        case T.GEN_FILE:
          if (phase === "reply") phase = "ready";
          else if (phase === "ready") {
            phase = "data";
            pump();
          }
          return;
        case T.TEXT: {
          const t = decodeText(f.payload);
          if (t.includes("already exists")) {
            exists = true;
            call.sendText("n");
            return;
          }
          // One line per data frame; take the latest if several came together.
          const m = [...t.matchAll(/(\d+)\/(\d+)/g)].pop();
          if (m) {
            acked = Math.max(acked, Number(m[1]));
            row.progress(offset + acked, file.size);
            pump();
          }
          return;
        }
        case T.ERR:
          errors.push(decodeText(f.payload).trim());
          return;
        case T.IDLE:
          this.uploadEnded(file, row, { offset, len, acked, cancelled, exists, errors });
      }
    };
  }

  uploadEnded(file, row, r) {
    if (r.acked >= r.len && !r.errors.length && !r.exists) {
      row.progress(file.size, file.size);
      row.state("done", `${fmtBytes(file.size)} uploaded`);
      row.setActions();
      this.refresh();
      return;
    }
    if (r.exists) {
      row.state("exists", "already exists here");
      row.setActions(button("Replace", () => {
        $("files-overwrite").checked = true;
        this.upload(file, 0, row);
        $("files-overwrite").checked = false;
      }, "replace"));
      return;
    }
    const why = r.cancelled ? "cancelled" : r.errors.join("; ") || "ended early";
    row.state(r.cancelled ? "cancelled" : "failed", `${why} after ${fmtBytes(r.offset + r.acked)} of ${fmtBytes(file.size)}`);
    row.setActions(button("Resume", () => this.resumeUpload(file, row), "resume"));
    this.refresh();
  }

  /** resumeUpload asks the host how much of the file it has and sends the rest. */
  async resumeUpload(file, row) {
    const conv = new Conversation(this.client().start("fs_info", T.TEXT, encodeText(`-path ${quoteArg(file.name)} -info_frame`)));
    let size = 0;
    conv.onother = (f) => {
      const fi = f.type === T.FILE_INFO ? parseFileInfo(f.payload) : null;
      if (fi) size = fi.size;
    };
    await conv.until(/(?!)/);
    if (conv.errors.length) size = 0; // nothing there: start over
    if (size >= file.size) {
      row.progress(file.size, file.size);
      row.state("done", "already complete");
      row.setActions();
      return;
    }
    this.upload(file, size, row);
  }

  /**
   * download fetches name from the current directory (from the bytes
   * already held, for a resume) and saves it when complete. The file is
   * kept in the tab's memory until then.
   */
  download(name, parts = [], row = null) {
    const c = this.client();
    row = row || this.transferRow("down", name);
    row.state("running");
    const offset = parts.reduce((n, p) => n + p.length, 0);
    let args = `-remote_file ${quoteArg(name)}`;
    if (offset > 0) args += ` -offset ${offset}`;
    let call;
    try {
      call = c.start("fs_download", T.GEN_FILE, encodeText(args));
    } catch (e) {
      row.state("failed", e.message);
      return;
    }
    let total = -1;
    let got = offset;
    let cancelled = false;
    const errors = [];
    row.setActions(button("Cancel", () => {
      cancelled = true;
      call.terminate();
    }, "cancel"));
    call.onframe = (f) => {
      switch (f.type) {
        case T.GEN_FILE:
          if (total < 0) {
            const m = /-len\s+(\d+)/.exec(decodeText(f.payload));
            if (!m) {
              errors.push("the host's reply has no -len");
              call.terminate();
              return;
            }
            total = offset + Number(m[1]);
            row.progress(got, total);
            call.send(T.GEN_FILE, new Uint8Array(0)); // ready
            return;
          }
          if (cancelled) return;
          parts.push(f.payload);
          got += f.payload.length;
          row.progress(got, total);
          return;
        case T.ERR:
          errors.push(decodeText(f.payload).trim());
          return;
        case T.IDLE:
          if (total >= 0 && got >= total && !errors.length) {
            this.save(name, parts, row);
            return;
          }
          row.state(cancelled ? "cancelled" : "failed",
            `${cancelled ? "cancelled" : errors.join("; ") || "ended early"} after ${fmtBytes(got)}`);
          row.setActions(button("Resume", () => this.download(name, parts, row), "resume"));
      }
    };
  }

  /** save hands the downloaded bytes to the browser as a file. */
  save(name, parts, row) {
    const blob = new Blob(parts);
    const a = el("a", "Save again");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    row.progress(blob.size, blob.size);
    row.state("done", `${fmtBytes(blob.size)} downloaded`);
    row.setActions(a);
    a.click();
  }
}
