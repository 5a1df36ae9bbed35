// A small, sanitising Markdown renderer for agent output, which is untrusted.
//
// Contract: `renderMarkdown(text)` returns a DocumentFragment built only from
// createElement/createTextNode; raw HTML in the input is shown as text, never parsed. The
// elements it makes are p, br, em, strong, del, code, pre, h3–h6, ul, ol, li, blockquote, hr,
// table (thead, tbody, tr, th, td; a GitHub-style pipe table) and a (images become links: nothing is fetched unless the user taps). A link is kept only when its URL parses as absolute http, https or mailto; it gets
// rel="noopener noreferrer" and target="_blank". Anything else in a link shows as its text.
// Input longer than MAX_MARKDOWN_CHARS is shown as plain text (bounded work on hostile input).

export const MAX_MARKDOWN_CHARS = 100_000;
const MAX_DEPTH = 12;
// Bounds on how far one delimiter looks for its partner, so hostile input ("*a *a *a ...",
// "[[[[...") costs linear time, not quadratic.
const MAX_CANDIDATES = 64;
const MAX_LINK_CHARS = 2048;
const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);

/**
 * The href to use for `raw`, or null when it is not an absolute http/https/mailto URL.
 * @param {string} raw
 * @returns {string | null}
 */
export function safeHref(raw) {
  let text = raw.trim();
  if (text.startsWith("<") && text.endsWith(">")) text = text.slice(1, -1);
  // Control characters and whitespace inside a scheme are how filters get fooled.
  if (/[\u0000-\u0020\u007f]/.test(text)) return null;
  let url;
  try {
    url = new URL(text);
  } catch {
    return null;
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
}

/**
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function renderMarkdown(text) {
  const fragment = document.createDocumentFragment();
  if (text.length > MAX_MARKDOWN_CHARS) {
    const pre = document.createElement("pre");
    pre.textContent = text;
    fragment.appendChild(pre);
    return fragment;
  }
  renderBlocks(text.replace(/\r\n?/g, "\n").split("\n"), fragment, 0);
  return fragment;
}

const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$/;
const RULE = /^ {0,3}([-*_])([ \t]*\1){2,}[ \t]*$/;
const BULLET = /^( {0,3})[-*+][ \t]+(.*)$/;
const ORDERED = /^( {0,3})(\d{1,9})[.)][ \t]+(.*)$/;
const QUOTE = /^ {0,3}>[ ]?(.*)$/;
const TABLE_RULE = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const MAX_TABLE_COLUMNS = 30;

/**
 * The cells of one table row (`| a | b |` or `a | b`); `\|` is a literal bar.
 * @param {string} line
 */
function cellsOf(line) {
  let text = line.trim();
  if (text.startsWith("|")) text = text.slice(1);
  if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
  return text.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

/**
 * Whether lines[i] starts a table: a row with a bar, then a rule row of as many columns.
 * @param {string[]} lines
 * @param {number} i
 */
function startsTable(lines, i) {
  const head = lines[i];
  const rule = lines[i + 1];
  if (head === undefined || rule === undefined || !head.includes("|") || !TABLE_RULE.test(rule)) return false;
  const columns = cellsOf(head).length;
  return columns > 1 && columns <= MAX_TABLE_COLUMNS && cellsOf(rule).length === columns;
}

/**
 * A table starting at lines[start]; returns the index after it.
 * @param {string[]} lines
 * @param {number} start
 * @param {Node} parent
 * @param {number} depth
 */
function renderTable(lines, start, parent, depth) {
  const header = cellsOf(lines[start]);
  const align = cellsOf(lines[start + 1]).map((rule) =>
    rule.startsWith(":") && rule.endsWith(":") ? "center" : rule.endsWith(":") ? "right" : "");
  const table = document.createElement("table");
  const head = document.createElement("thead");
  const body = document.createElement("tbody");
  /**
   * @param {string[]} cells
   * @param {"th" | "td"} tag
   */
  const row = (cells, tag) => {
    const tr = document.createElement("tr");
    header.forEach((_, n) => {
      const cell = document.createElement(tag);
      if (align[n]) cell.className = `align-${align[n]}`;
      renderInline(cells[n] ?? "", cell, depth + 1, false);
      tr.appendChild(cell);
    });
    return tr;
  };
  head.appendChild(row(header, "th"));
  let i = start + 2;
  while (i < lines.length && lines[i].trim() !== "" && lines[i].includes("|")) {
    body.appendChild(row(cellsOf(lines[i]), "td"));
    i += 1;
  }
  table.append(head, body);
  // Wide tables scroll inside their own box instead of widening the page.
  const box = document.createElement("div");
  box.className = "table-scroll";
  box.appendChild(table);
  parent.appendChild(box);
  return i;
}

/** @param {string} line */
function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || BULLET.test(line) ||
    ORDERED.test(line) || QUOTE.test(line);
}

/**
 * @param {string[]} lines
 * @param {Node} parent
 * @param {number} depth
 */
function renderBlocks(lines, parent, depth) {
  if (depth > MAX_DEPTH) {
    parent.appendChild(textBlock("p", lines.join("\n")));
    return;
  }
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if (line.trim() === "") {
      i += 1;
    } else if ((m = FENCE.exec(line))) {
      const fence = m[1];
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence)) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence, or past the end
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.textContent = body.join("\n");
      pre.appendChild(code);
      parent.appendChild(pre);
    } else if ((m = HEADING.exec(line))) {
      // Agent headings sit inside the task page, under its own h1/h2.
      const level = Math.min(6, m[1].length + 2);
      const heading = document.createElement(`h${level}`);
      renderInline(m[2], heading, depth + 1, false);
      parent.appendChild(heading);
      i += 1;
    } else if (RULE.test(line)) {
      parent.appendChild(document.createElement("hr"));
      i += 1;
    } else if (startsTable(lines, i)) {
      i = renderTable(lines, i, parent, depth);
    } else if (BULLET.test(line) || ORDERED.test(line)) {
      i = renderList(lines, i, parent, depth);
    } else if (QUOTE.test(line)) {
      const inner = [];
      while (i < lines.length && (m = QUOTE.exec(lines[i]))) {
        inner.push(m[1]);
        i += 1;
      }
      const quote = document.createElement("blockquote");
      renderBlocks(inner, quote, depth + 1);
      parent.appendChild(quote);
    } else {
      const para = [];
      while (i < lines.length && lines[i].trim() !== "" && (para.length === 0 || !(startsBlock(lines[i]) || startsTable(lines, i)))) {
        para.push(lines[i].trim());
        i += 1;
      }
      const p = document.createElement("p");
      para.forEach((text, n) => {
        if (n > 0) p.appendChild(document.createElement("br"));
        renderInline(text, p, depth + 1, false);
      });
      parent.appendChild(p);
    }
  }
}

/**
 * A list starting at lines[start]; returns the index after it.
 * @param {string[]} lines
 * @param {number} start
 * @param {Node} parent
 * @param {number} depth
 */
function renderList(lines, start, parent, depth) {
  const ordered = ORDERED.test(lines[start]) && !BULLET.test(lines[start]);
  const pattern = ordered ? ORDERED : BULLET;
  const list = document.createElement(ordered ? "ol" : "ul");
  if (ordered) {
    const first = Number(/** @type {RegExpExecArray} */ (ORDERED.exec(lines[start]))[2]);
    if (first !== 1) list.setAttribute("start", String(first));
  }
  let i = start;
  while (i < lines.length) {
    const m = pattern.exec(lines[i]);
    if (!m) break;
    const item = [ordered ? m[3] : m[2]];
    i += 1;
    // Indented lines belong to the item (continuations and nested lists).
    while (i < lines.length && /^( {2,}|\t)/.test(lines[i]) && lines[i].trim() !== "") {
      item.push(lines[i].replace(/^( {1,4}|\t)/, ""));
      i += 1;
    }
    const li = document.createElement("li");
    if (item.length === 1) {
      renderInline(item[0], li, depth + 1, false);
    } else {
      renderBlocks(item, li, depth + 1);
    }
    list.appendChild(li);
  }
  parent.appendChild(list);
  return i;
}

/**
 * @param {string} tag
 * @param {string} text
 */
function textBlock(tag, text) {
  const el = document.createElement(tag);
  el.textContent = text;
  return el;
}

const PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
const BARE_URL = /^(https?:\/\/[^\s<>"'`]*[^\s<>"'`.,:;!?)\]])/;

/**
 * Render inline Markdown from `text` into `parent` as elements and text nodes.
 * @param {string} text
 * @param {Node} parent
 * @param {number} depth
 * @param {boolean} inLink  links inside links are shown as text
 */
function renderInline(text, parent, depth, inLink) {
  if (depth > MAX_DEPTH) {
    parent.appendChild(document.createTextNode(text));
    return;
  }
  let buffer = "";
  const flush = () => {
    if (buffer) parent.appendChild(document.createTextNode(buffer));
    buffer = "";
  };
  /** @param {Node} node */
  const emit = (node) => {
    flush();
    parent.appendChild(node);
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    const rest = text.slice(i);
    if (c === "\\" && i + 1 < text.length && PUNCTUATION.includes(text[i + 1])) {
      buffer += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      const run = /^`+/.exec(rest)?.[0] ?? "`";
      const close = findRun(text, i + run.length, run);
      if (close >= 0) {
        let inner = text.slice(i + run.length, close);
        if (inner.length > 2 && inner.startsWith(" ") && inner.endsWith(" ")) inner = inner.slice(1, -1);
        const code = document.createElement("code");
        code.textContent = inner;
        emit(code);
        i = close + run.length;
        continue;
      }
      buffer += run;
      i += run.length;
      continue;
    }
    const image = c === "!" && text[i + 1] === "[";
    if ((c === "[" || image) && !inLink) {
      // An image is shown as a link to it, so nothing loads unless the user taps it.
      const link = parseLink(text, image ? i + 1 : i);
      if (link) {
        const href = safeHref(link.url);
        if (href) {
          const a = document.createElement("a");
          a.setAttribute("href", href);
          a.setAttribute("rel", "noopener noreferrer");
          a.setAttribute("target", "_blank");
          renderInline(link.label, a, depth + 1, true);
          emit(a);
        } else {
          // An unsafe link keeps its words and loses its target.
          flush();
          renderInline(link.label, parent, depth + 1, true);
        }
        i = link.end;
        continue;
      }
    }
    if (c === "<" && !inLink) {
      const m = /^<([^\s<>]+)>/.exec(rest);
      const href = m ? safeHref(m[1]) : null;
      if (m && href) {
        emit(makeLink(href, m[1]));
        i += m[0].length;
        continue;
      }
    }
    if (c === "h" && !inLink && (i === 0 || /[\s(]/.test(text[i - 1]))) {
      const m = BARE_URL.exec(rest);
      const href = m ? safeHref(m[1]) : null;
      if (m && href) {
        emit(makeLink(href, m[1]));
        i += m[1].length;
        continue;
      }
    }
    const delimiter = /^(\*\*|__|~~|\*|_)/.exec(rest)?.[0];
    if (delimiter && !(delimiter.startsWith("_") && i > 0 && /\w/.test(text[i - 1]))) {
      const close = findClosing(text, i + delimiter.length, delimiter);
      if (close > i + delimiter.length) {
        const tag = delimiter === "~~" ? "del" : delimiter.length === 2 ? "strong" : "em";
        const el = document.createElement(tag);
        renderInline(text.slice(i + delimiter.length, close), el, depth + 1, inLink);
        emit(el);
        i = close + delimiter.length;
        continue;
      }
    }
    buffer += c;
    i += 1;
  }
  flush();
}

/**
 * @param {string} href
 * @param {string} label
 */
function makeLink(href, label) {
  const a = document.createElement("a");
  a.setAttribute("href", href);
  a.setAttribute("rel", "noopener noreferrer");
  a.setAttribute("target", "_blank");
  a.textContent = label;
  return a;
}

/**
 * Index of the next backtick run exactly equal to `run` at or after `from`, or -1.
 * @param {string} text
 * @param {number} from
 * @param {string} run
 */
function findRun(text, from, run) {
  let at = text.indexOf(run, from);
  for (let tries = 0; at >= 0 && tries < MAX_CANDIDATES; tries += 1) {
    const before = at > 0 ? text[at - 1] : "";
    const after = text[at + run.length] ?? "";
    if (before !== "`" && after !== "`") return at;
    at = text.indexOf(run, at + 1);
  }
  return -1;
}

/**
 * Index of the closing emphasis delimiter, not preceded by whitespace, or -1.
 * @param {string} text
 * @param {number} from
 * @param {string} delimiter
 */
function findClosing(text, from, delimiter) {
  if (/^\s/.test(text.slice(from, from + 1))) return -1;
  let at = text.indexOf(delimiter, from);
  for (let tries = 0; at >= 0 && tries < MAX_CANDIDATES; tries += 1) {
    const single = delimiter.length === 1;
    const doubled = single && (text[at + 1] === delimiter || text[at - 1] === delimiter);
    if (!/\s/.test(text[at - 1]) && !doubled) return at;
    at = text.indexOf(delimiter, at + 1);
  }
  return -1;
}

/**
 * Parse `[label](url)` at `start`.
 * @param {string} text
 * @param {number} start
 * @returns {{label: string, url: string, end: number} | null}
 */
function parseLink(text, start) {
  let depth = 0;
  let i = start;
  const labelEnd = Math.min(text.length, start + MAX_LINK_CHARS);
  for (; i < labelEnd; i += 1) {
    if (text[i] === "\\") {
      i += 1;
    } else if (text[i] === "[") {
      depth += 1;
    } else if (text[i] === "]") {
      depth -= 1;
      if (depth === 0) break;
    }
  }
  if (depth !== 0 || text[i + 1] !== "(") return null;
  const label = text.slice(start + 1, i);
  let parens = 0;
  let j = i + 2;
  const urlEnd = Math.min(text.length, j + MAX_LINK_CHARS);
  for (; j < urlEnd; j += 1) {
    if (text[j] === "(") parens += 1;
    if (text[j] === ")") {
      if (parens === 0) break;
      parens -= 1;
    }
  }
  if (j >= urlEnd) return null;
  // An optional title ("...") after the URL is dropped.
  const url = text.slice(i + 2, j).trim().replace(/\s+"[^"]*"$/, "");
  return { label, url, end: j + 1 };
}
