// table.js: the table viewers' text (commands.md §3) as rows. A viewer
// prints pages of a header line, a separator line of "-------" cells and
// the rows, each column padded to a width at least 4 wider than its
// longest cell; a full page ends with the question "next page (y/n)? ".

import { Conversation } from "./client.js";
import { T, encodeText } from "./wire.js";

/**
 * parseTables reads every header/separator/rows block in text and returns
 * the rows as objects keyed by column name. Column positions come from the
 * header line (names have no spaces); cells are trimmed at the end only.
 */
export function parseTables(text) {
  const lines = text.split("\n");
  const rows = [];
  let cols = null;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (i + 1 < lines.length && /^-------/.test(lines[i + 1]) && /\S/.test(l)) {
      cols = [];
      for (const m of l.matchAll(/\S+/g)) cols.push({ name: m[0], at: m.index });
      i++;
      continue;
    }
    if (!cols || l.trim() === "") continue;
    const r = {};
    cols.forEach((c, j) => {
      const end = j + 1 < cols.length ? cols[j + 1].at : l.length;
      r[c.name] = l.slice(c.at, end).trimEnd();
    });
    rows.push(r);
  }
  return rows;
}

/**
 * readTable runs a viewer command and answers "next page" with y until the
 * last page; it resolves with {rows, errors}.
 */
export async function readTable(client, name, args = "") {
  const conv = new Conversation(client.start(name, T.TEXT, encodeText(args)));
  let text = "";
  for (;;) {
    // The question ends a page without a line break: drop it, so the next
    // page's header starts a line of its own.
    text += (await conv.until(/next page \(y\/n\)\? $/)).replace(/next page \(y\/n\)\? $/, "\n");
    if (conv.ended) break;
    conv.say("y");
  }
  return { rows: parseTables(text), errors: conv.errors };
}
