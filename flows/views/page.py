"""The report's Markdown as one HTML page: the subset the report writes (headings, tables, lists,
images, links, code blocks, ``<details>`` folds) converted line by line, with a small style sheet."""

from __future__ import annotations

import html
import re

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px}"
         "figure{display:inline-block;width:260px;margin:4px;vertical-align:top}figure img{width:100%;"
         "border:1px solid #ddd}figcaption{font-size:12px;color:#444}pre{background:#f6f6f6;"
         "padding:.5em;overflow-x:auto;font-size:12px}")
_RAW = ("<details", "</details", "<summary")


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"!\[([^\]]*)\]\(([^)]+)\)",
                  r"<figure><a href='\2'><img src='\2' alt='\1' title='\1'></a><figcaption>\1</figcaption></figure>",
                  text)
    text = re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r"<a href='\2'>\1</a>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def to_html(markdown: str, title: str) -> str:
    """One HTML page of ``markdown`` titled ``title``."""
    out = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style>"]
    code = table = items = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            out.append("</pre>" if code else "<pre>")
            code = not code
            continue
        if code:
            out.append(html.escape(line))
            continue
        if table and not line.startswith("|"):
            out.append("</table>")
            table = False
        if items and not line.startswith("- "):
            out.append("</ul>")
            items = False
        if line.startswith(_RAW):
            out.append(line)
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= {"-", " "}:
                continue
            tag = "th" if not table else "td"
            out.append(("<table>" if not table else "") + "<tr>"
                       + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in cells) + "</tr>")
            table = True
        elif line.startswith("- "):
            out.append(("<ul>" if not items else "") + f"<li>{_inline(line[2:])}</li>")
            items = True
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>" if not line.startswith("![") else _inline(line))
    out += ["</table>"] * table + ["</ul>"] * items
    return "\n".join(out) + "\n"
