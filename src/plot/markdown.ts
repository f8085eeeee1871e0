/**
 * A small markdown subset rendered to HTML, for the text blocks of reports.
 *
 * @module
 */

import { escapeHtml } from "./text.ts";

/** Relative links and http(s) links only: no `javascript:` or other schemes. */
function safeHref(href: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(href) || /^https?:/i.test(href);
}

function inline(text: string): string {
  const codes: string[] = [];
  let html = escapeHtml(text).replace(/`([^`]+)`/g, (_, code: string) => {
    codes.push(`<code>${code}</code>`);
    return `\uE000${codes.length - 1}\uE000`;
  });
  html = html
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
    .replace(
      /\[([^\]]+)\]\(([^)\s]+)\)/g,
      (_, label: string, href: string) => safeHref(href) ? `<a href="${href}">${label}</a>` : label,
    );
  return html.replace(/\uE000(\d+)\uE000/g, (_, i: string) => codes[Number(i)]);
}

function cells(line: string): string[] {
  return line.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
}

/**
 * Renders a markdown subset to HTML: `#`–`######` headings, paragraphs, `-`/`*` and `1.`
 * lists, fenced code blocks, pipe tables, and inline `code`, `**bold**`, `*italic*` and
 * `[links](url)`. All text is HTML-escaped; anything else is shown as plain text.
 *
 * @example Usage
 * ```ts
 * import { markdownToHtml } from "./markdown.ts";
 * markdownToHtml("# Results\n\nR@1 is **0.42**.");
 * // "<h1>Results</h1>\n<p>R@1 is <strong>0.42</strong>.</p>"
 * ```
 *
 * @param markdown The text.
 * @returns The HTML fragment.
 */
export function markdownToHtml(markdown: string): string {
  const lines = markdown.replace(/\r\n?/g, "\n").split("\n");
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "") {
      i++;
      continue;
    }
    const fence = line.match(/^```/);
    if (fence) {
      const body: string[] = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
      i++;
      out.push(`<pre><code>${escapeHtml(body.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    if (heading) {
      const level = heading[1].length;
      out.push(`<h${level}>${inline(heading[2].trim())}</h${level}>`);
      i++;
      continue;
    }
    if (/^\s*\|/.test(line) && i + 1 < lines.length && /^\s*\|?\s*:?-+/.test(lines[i + 1])) {
      const head = cells(line);
      const rows: string[][] = [];
      for (i += 2; i < lines.length && /^\s*\|/.test(lines[i]); i++) rows.push(cells(lines[i]));
      out.push(
        `<table><thead><tr>${head.map((c) => `<th>${inline(c)}</th>`).join("")}</tr></thead>` +
          `<tbody>${
            rows.map((r) => `<tr>${r.map((c) => `<td>${inline(c)}</td>`).join("")}</tr>`).join("")
          }</tbody></table>`,
      );
      continue;
    }
    const listKind = /^\s*[-*]\s+/.test(line) ? "ul" : /^\s*\d+[.)]\s+/.test(line) ? "ol" : "";
    if (listKind !== "") {
      const item = listKind === "ul" ? /^\s*[-*]\s+/ : /^\s*\d+[.)]\s+/;
      const items: string[] = [];
      for (; i < lines.length && item.test(lines[i]); i++) {
        items.push(`<li>${inline(lines[i].replace(item, ""))}</li>`);
      }
      out.push(`<${listKind}>${items.join("")}</${listKind}>`);
      continue;
    }
    const paragraph: string[] = [];
    for (
      ;
      i < lines.length && lines[i].trim() !== "" &&
      !/^(#{1,6}\s|```|\s*[-*]\s|\s*\d+[.)]\s|\s*\|)/.test(lines[i]);
      i++
    ) paragraph.push(lines[i].trim());
    out.push(`<p>${inline(paragraph.join(" "))}</p>`);
  }
  return out.join("\n");
}
