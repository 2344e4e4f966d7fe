// admin.js: the administration pages for rank 1. Every page is the same
// commands an operator would type: the table viewers (ls_users,
// ls_ranked_cmds, ls_bans, ls_certs, ls_mods, ls_act_log, ls_auth_log,
// ls_dbg) give the rows, and the buttons and forms run add_ban, rm_ban,
// set_user_rank, host_config, ... with their prompts shown in the page.

import { Conversation } from "./client.js";
import { $, el, button } from "./dom.js";
import { T, decodeText, encodeText, quoteArg } from "./wire.js";
import { readTable } from "./table.js";

const q = quoteArg;

/**
 * The pages: a viewer and its row actions, plus forms for the commands
 * that add. Fields are [flag, label, optional?]; flags are [flag, label].
 */
const PAGES = [
  {
    id: "users", title: "Users", views: ["ls_users"],
    actions: (r) => [
      ["Lock", "lock_acct", `-user ${q(r.user_name)} -state 1`],
      ["Unlock", "lock_acct", `-user ${q(r.user_name)} -state 0`],
      ["Require new password", "request_new_pw", `-user ${q(r.user_name)} -req 1`],
      ["Delete", "rm_acct", `-name ${q(r.user_name)} -force`, true],
    ],
    forms: [
      { title: "Add a user", cmd: "add_acct", fields: [["-name", "user name"], ["-email", "e-mail"], ["-disp", "display name", true]] },
      { title: "Change a user's rank", cmd: "set_user_rank", fields: [["-user", "user name"], ["-rank", "rank"]] },
    ],
  },
  {
    id: "ranks", title: "Ranks", views: ["ls_ranked_cmds"],
    actions: (r) => [["Remove", "rm_ranked_cmd", `-command ${q(r.command_name)} -mod ${q(r.module_executable)}`, true]],
    forms: [{ title: "Rank a command", cmd: "add_ranked_cmd", fields: [["-mod", "module (internal for built-in commands)"], ["-command", "command"], ["-rank", "rank"]] }],
  },
  {
    id: "bans", title: "Bans", views: ["ls_bans"],
    actions: (r) => [["Lift", "rm_ban", `-ip ${q(r.ip_address)}`]],
    forms: [{ title: "Ban an address", cmd: "add_ban", fields: [["-ip", "address or CIDR range"]] }],
  },
  {
    id: "certs", title: "Certificates", views: ["ls_certs"],
    actions: (r) => [
      ["Show", "cert_info", `-name ${q(r.common_name)}`],
      ["Remove", "rm_cert", `-name ${q(r.common_name)} -force`, true],
    ],
    forms: [{
      title: "Install a certificate (files on the host)", cmd: "add_cert",
      fields: [["-name", "common name"], ["-cert", "certificate file"], ["-priv", "private key file"]], flags: [["-force", "replace"]],
    }],
  },
  {
    id: "mods", title: "Modules", views: ["ls_mods"],
    actions: (r) => [["Remove", "rm_mod", `-mod_path ${q(modulePath(r))}`, true]],
    forms: [{ title: "Register a module", cmd: "add_mod", fields: [["-mod_path", "executable on the host"]] }],
  },
  { id: "settings", title: "Settings", settings: true },
  { id: "logs", title: "Logs", views: ["ls_act_log", "ls_auth_log", "ls_dbg"], actions: () => [] },
];

/**
 * modulePath is the registered path of an ls_mods row, without the
 * " (missing on node ...: why)" mark of a node that lacks the file.
 */
function modulePath(r) {
  return r.module_executable.replace(/ \(missing on [^()]*\)$/, "");
}

/** Admin is the administration pane. */
export class Admin {
  constructor(client) {
    this.client = client;
    this.page = PAGES[0];
    const tabs = $("admin-tabs");
    for (const p of PAGES) {
      const b = button(p.title, () => this.show(p.id), "tab");
      b.id = `admin-tab-${p.id}`;
      tabs.append(b);
    }
  }

  /** available reports whether the session has administration commands. */
  available() {
    const c = this.client();
    return !!c && ["ls_users", "host_config", "ls_bans"].some((n) => c.commands.has(n));
  }

  has(name) {
    return this.client().commands.has(name);
  }

  show(id) {
    this.page = PAGES.find((p) => p.id === id) || PAGES[0];
    for (const b of $("admin-tabs").children) b.classList.toggle("active", b.id === `admin-tab-${this.page.id}`);
    $("admin-view").dataset.page = this.page.id;
    const root = $("admin-page");
    root.replaceChildren();
    if (this.page.settings) this.settings(root);
    else this.viewerPage(root, this.page);
  }

  /** output adds a mini console to a page (command output and prompts) and returns its run function. */
  output(root) {
    const box = el("div", "", "admin-out");
    const pre = el("pre", "", "out");
    pre.id = "admin-out";
    const form = el("form", "", "answer");
    const input = el("input");
    input.id = "admin-answer";
    input.autocomplete = "off";
    form.append(input, el("button", "Send"));
    form.hidden = true;
    box.append(pre, form);
    root.append(box);
    let current = null;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (current) current.sendText(input.value);
      input.value = "";
    });
    /** run runs a command here; it resolves with true when it had no errors. */
    return async (name, args) => {
      pre.append(el("span", `> ${name} ${args}\n`, "cmd"));
      let call;
      try {
        call = this.client().start(name, T.TEXT, encodeText(args));
      } catch (e) {
        pre.append(el("span", `${e.message}\n`, "err"));
        return false;
      }
      current = call;
      let ok = true;
      const conv = new Conversation(call);
      conv.tap = (f) => {
        if (f.type === T.TEXT || f.type === T.BIG_TEXT || f.type === T.PRIV_TEXT) {
          pre.append(document.createTextNode(decodeText(f.payload)));
          form.hidden = false;
          input.type = f.type === T.PRIV_TEXT ? "password" : "text";
        } else if (f.type === T.ERR) {
          ok = false;
          pre.append(el("span", decodeText(f.payload).trim() + "\n", "err"));
        }
      };
      await conv.until(/(?!)/);
      current = null;
      form.hidden = true;
      return ok;
    };
  }

  async viewerPage(root, page) {
    const head = el("div", "", "toolbar");
    let view = page.views[0];
    if (page.views.length > 1) {
      const sel = el("select");
      sel.id = "admin-view-select";
      sel.setAttribute("aria-label", "log");
      for (const v of page.views) {
        const o = el("option", v);
        o.value = v;
        sel.append(o);
      }
      sel.addEventListener("change", () => {
        view = sel.value;
        load();
      });
      head.append(sel);
    }
    const filter = el("input");
    filter.id = "admin-filter";
    filter.placeholder = "filter: -column text";
    filter.setAttribute("aria-label", "filter");
    head.append(filter, button("Refresh", () => load(), "", "run the viewer again"));
    const table = el("table", "", "grid");
    table.id = "admin-table";
    const scroll = el("div", "", "scroll");
    scroll.append(table);
    const forms = el("div", "", "forms");
    root.append(head, scroll, forms);
    const run = this.output(root);
    filter.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") load();
    });

    const load = async () => {
      if (!this.has(view)) {
        table.replaceChildren(el("caption", `this session has no ${view} command`));
        return;
      }
      const { rows, errors } = await readTable(this.client(), view, filter.value);
      table.replaceChildren();
      if (errors.length) table.append(el("caption", errors.join("; "), "error"));
      const cols = rows.length ? Object.keys(rows[0]) : [];
      const tr = el("tr");
      for (const c of cols) tr.append(el("th", c));
      if (cols.length) tr.append(el("th"));
      const thead = el("thead");
      thead.append(tr);
      const tbody = el("tbody");
      for (const r of rows) {
        const row = el("tr");
        for (const c of cols) row.append(el("td", r[c]));
        const act = el("td", "", "actions");
        for (const [label, cmd, args, confirm] of page.actions(r)) {
          if (!this.has(cmd)) continue;
          const b = button(label, async () => {
            if (confirm && b.dataset.armed !== "1") {
              b.dataset.armed = "1";
              b.textContent = `${label}: sure?`;
              return;
            }
            if (await run(cmd, args)) load();
          }, "small");
          b.dataset.cmd = cmd;
          act.append(b);
        }
        row.append(act);
        tbody.append(row);
      }
      table.append(thead, tbody);
      if (!rows.length && !errors.length) table.append(el("caption", "(no rows)"));
    };

    for (const f of page.forms || []) {
      if (!this.has(f.cmd)) continue;
      const form = el("form", "", "admin-form");
      form.dataset.cmd = f.cmd;
      form.append(el("h3", f.title));
      const inputs = [];
      for (const [flag, label, optional] of f.fields) {
        const i = el("input");
        i.name = flag;
        i.placeholder = label;
        i.setAttribute("aria-label", label);
        i.required = !optional;
        inputs.push(i);
        form.append(i);
      }
      const checks = [];
      for (const [flag, label] of f.flags || []) {
        const c = el("input");
        c.type = "checkbox";
        c.name = flag;
        const l = el("label", "", "check");
        l.append(c, document.createTextNode(` ${label}`));
        checks.push(c);
        form.append(l);
      }
      form.append(el("button", "Run"));
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const args = inputs.filter((i) => i.value.trim() !== "").map((i) => `${i.name} ${q(i.value.trim())}`)
          .concat(checks.filter((c) => c.checked).map((c) => c.name)).join(" ");
        if (await run(f.cmd, args)) {
          for (const i of inputs) i.value = "";
          load();
        }
      });
      forms.append(form);
    }
    await load();
  }

  /**
   * settings shows host_config's screen as a table and changes one setting
   * through the same menu: option number, value, and back out with 0.
   */
  async settings(root) {
    if (!this.has("host_config")) {
      root.append(el("p", "this session has no host_config command"));
      return;
    }
    const table = el("table", "", "grid");
    table.id = "settings-table";
    const form = el("form", "", "admin-form");
    form.id = "settings-form";
    const sel = el("select");
    sel.id = "settings-option";
    sel.setAttribute("aria-label", "setting");
    const value = el("input");
    value.id = "settings-value";
    value.placeholder = "new value";
    value.setAttribute("aria-label", "new value");
    value.required = true;
    const explain = el("p", "", "muted");
    const err = el("p", "", "error");
    err.id = "settings-error";
    err.setAttribute("role", "alert");
    form.append(el("h3", "Change a setting"), sel, value, el("button", "Apply"), explain, err);
    const scroll = el("div", "", "scroll");
    scroll.append(table);
    root.append(scroll, form);

    const render = (screen) => {
      const last = screen.lastIndexOf("Host settings:");
      const [settingsPart, optionsPart = ""] = screen.slice(Math.max(last, 0)).split(/\nOptions:\n/);
      table.replaceChildren();
      const tb = el("tbody");
      for (const l of settingsPart.split("\n")) {
        const m = /^ {2}(\S.*?):\s+(.*)$/.exec(l);
        if (!m) continue;
        const tr = el("tr");
        tr.append(el("th", m[1]), el("td", m[2]));
        tb.append(tr);
      }
      table.append(tb);
      const chosen = sel.value;
      sel.replaceChildren();
      for (const l of optionsPart.split("\n")) {
        const m = /^\s*(\d+): (.*)$/.exec(l);
        if (!m || m[1] === "0") continue;
        const o = el("option", `${m[1]}: ${m[2]}`);
        o.value = m[1];
        sel.append(o);
      }
      if (chosen) sel.value = chosen;
    };

    const SELECT = /select an option: $/;
    const VALUE = /value \(leave blank to go back\): $/;
    const session = async (steps) => {
      const conv = new Conversation(this.client().start("host_config", T.TEXT, encodeText("")));
      let screen = await conv.until(SELECT);
      const result = await steps(conv, screen);
      if (result) screen = result;
      if (!conv.ended) {
        conv.say("0");
        await conv.until(/(?!)/);
      }
      render(screen);
      return conv;
    };
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      err.textContent = "";
      await session(async (conv) => {
        conv.say(sel.value);
        explain.textContent = (await conv.until(VALUE)).replace(VALUE, "").trim();
        const before = conv.errors.length;
        conv.say(value.value.trim());
        const after = await conv.until(new RegExp(`${SELECT.source}|${VALUE.source}`));
        if (VALUE.test(after) || conv.errors.length > before) {
          err.textContent = conv.errors.slice(before).join("; ") || "refused";
          conv.say(""); // back to the screen
          return (await conv.until(SELECT));
        }
        value.value = "";
        return after;
      });
    });
    await session(async () => null);
  }
}
