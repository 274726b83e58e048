"""The report to the General Assembly rendered as Markdown or HTML (``mailbot report --format``).

Every text that came from a State is data: the HTML renderer escapes it and
the Markdown renderer backslash-escapes its punctuation.
"""

from __future__ import annotations

import html
import re

from mailbot.domain.report import Heading, Paragraph, Quote, Report, Table, format_long_date

#: characters XML 1.0 cannot hold (nor HTML show): removed from every text
XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# --- Markdown -----------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~&])")
_MD_LINE_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-+=>])")


def _md(text: str) -> str:
    """Backslash-escape Markdown syntax so that State text renders as written.

    Inline markup characters are escaped everywhere; what would start a list,
    a heading or a quote is escaped at the start of the text.
    """
    text = _MD_SPECIAL.sub(r"\\\1", XML_UNSAFE.sub("", text)).replace("\n", " ")
    return _MD_LINE_START.sub(
        lambda m: f"{m[1]}{m[2]}\\{m[3]}" if m[2] else f"{m[4]}\\{m[5]}", text, count=1)


def _md_cell(text: str) -> str:
    return _md(text) or " "


def render_markdown(report: Report) -> str:
    """The report as Markdown (CommonMark with pipe tables)."""
    t = report.title
    out: list[str] = [
        f"**{_md(t.organization)}** \u2014 {_md(t.symbol)}",
        "",
        f"**{_md(t.organ)}**",
        "",
        f"Distr.: {_md(t.distribution)}  ",
        f"{_md(format_long_date(t.issued_on))}  ",
        f"Original: {_md(t.original)}",
        "",
        f"{_md(t.session_line)}  ",
        f"{_md(t.item_line)}  ",
        f"**{_md(t.agenda_title)}**",
        "",
        f"# {_md(t.title)}",
        "",
    ]
    if t.subtitle:
        out += [f"*{_md(t.subtitle)}*", ""]
    out += ["## Summary", ""]
    for p in report.summary:
        out += [_md(p.text), ""]
    for section in report.sections:
        out += [f"## {_md(section.heading)}", ""]
        for block in section.blocks:
            if isinstance(block, Paragraph):
                prefix = f"{block.number}\\. " if block.number is not None else ""
                out += [prefix + _md(block.text), ""]
            elif isinstance(block, Quote):
                out += [f"> {_md(block.text)}", ""]
            elif isinstance(block, Heading):
                out += [f"{'#' * (block.level + 1)} {_md(block.text)}", ""]
            elif isinstance(block, Table):
                out.append("| " + " | ".join(_md_cell(c) for c in block.columns) + " |")
                out.append("|" + "---|" * len(block.columns))
                for row in block.rows:
                    out.append("| " + " | ".join(_md_cell(c) for c in row) + " |")
                if not block.rows:
                    out.append("| " + " | ".join(["\u2014"] + [" "] * (len(block.columns) - 1))
                               + " |")
                out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


# --- HTML ---------------------------------------------------------------------------------------

_CSS = """
body { font-family: "Times New Roman", serif; max-width: 46em; margin: 2em auto; }
.masthead { border-bottom: 2px solid #000; margin-bottom: 1em; }
.masthead .symbol { float: right; font-weight: bold; }
.masthead .distr { text-align: right; }
.agenda { font-weight: bold; }
blockquote { margin-left: 3em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; }
th, td { border: 1px solid #000; padding: 0.2em 0.6em; text-align: left; }
p.numbered { text-indent: -2em; padding-left: 2em; }
"""


def _h(text: str) -> str:
    return html.escape(XML_UNSAFE.sub("", text), quote=True)


def render_html(report: Report) -> str:
    """The report as a standalone HTML5 page; every text is escaped."""
    t = report.title
    out: list[str] = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{_h(t.symbol)} \u2014 {_h(t.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        '<header class="masthead">',
        f'<p><span class="symbol">{_h(t.symbol)}</span><strong>{_h(t.organization)}</strong></p>',
        f"<p><strong>{_h(t.organ)}</strong></p>",
        f'<p class="distr">Distr.: {_h(t.distribution)}<br>{_h(format_long_date(t.issued_on))}'
        f"<br>Original: {_h(t.original)}</p>",
        "</header>",
        f"<p>{_h(t.session_line)}<br>{_h(t.item_line)}<br>"
        f'<span class="agenda">{_h(t.agenda_title)}</span></p>',
        f"<h1>{_h(t.title)}</h1>",
    ]
    if t.subtitle:
        out.append(f'<p class="subtitle"><em>{_h(t.subtitle)}</em></p>')
    out.append('<section class="summary"><h2>Summary</h2>')
    out.extend(f"<p>{_h(p.text)}</p>" for p in report.summary)
    out.append("</section>")
    for section in report.sections:
        out.append(f"<section><h2>{_h(section.heading)}</h2>")
        for block in section.blocks:
            if isinstance(block, Paragraph):
                if block.number is not None:
                    out.append(f'<p class="numbered">{block.number}.&#9;{_h(block.text)}</p>')
                else:
                    out.append(f"<p>{_h(block.text)}</p>")
            elif isinstance(block, Quote):
                out.append(f"<blockquote><p>{_h(block.text)}</p></blockquote>")
            elif isinstance(block, Heading):
                level = min(block.level + 1, 6)
                out.append(f"<h{level}>{_h(block.text)}</h{level}>")
            elif isinstance(block, Table):
                out.append("<table>")
                if block.caption:
                    out.append(f"<caption>{_h(block.caption)}</caption>")
                out.append("<thead><tr>" + "".join(f'<th scope="col">{_h(c)}</th>'
                                                   for c in block.columns) + "</tr></thead>")
                out.append("<tbody>")
                for row in block.rows:
                    out.append("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>")
                out.append("</tbody></table>")
        out.append("</section>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
