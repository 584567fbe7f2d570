"""Downloads for the public record: one figure set as JSON, CSV or Markdown (docs/PROTOCOL.md §4).

The views compute their data once and hand it to the renderers here; nothing here computes a figure.
What a netizen typed is neutralised for each format: CSV cells that a spreadsheet would run as a
formula get a leading apostrophe, Markdown gets its marks escaped so text never becomes markup.
"""

import csv
import html
import io
import json
import re
import urllib.parse
from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse, JsonResponse

from core.http import api_error

FORMATS = ("json", "csv", "md")
CONTENT_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
}


def requested_format(request: HttpRequest) -> str | None:
    """`?format=` as given (None when absent); the caller answers `bad_format()` if not in FORMATS."""
    value = request.GET.get("format")
    return None if value is None else value.strip().lower()


def bad_format() -> HttpResponse:
    return api_error(400, "bad_request", "format must be json, csv or md", {"format": "unknown"})


# --- CSV -----------------------------------------------------------------------------------------

# A cell starting with one of these is a formula to Excel, LibreOffice and Google Sheets
# (OWASP "CSV injection"); the apostrophe makes them show it as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, str) and value.lstrip(" ").startswith(_FORMULA_START):
        return "'" + value
    return value


def as_csv(header: list[str], rows: Iterable[list]) -> str:
    """UTF-8 CSV with a byte-order mark, so that Excel reads the Chinese as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue()


# --- Markdown ------------------------------------------------------------------------------------

_MARKDOWN_SPECIALS = str.maketrans({ch: "\\" + ch for ch in "\\`*_[]#|~"})
# What starts a block when it begins a line: list items ("- ", "+ ", "1. ", "1) "), setext
# underlines and thematic breaks (a line of only - or =); headings, fences and quotes are escaped
# already (#, ` and &gt;).
_LINE_START = re.compile(r"^([-+])(?=\s|$)|^([-=])(?=[-= ]*$)|^(\d{1,9})([.)])(?=\s|$)")


def _escape_line_start(match: re.Match) -> str:
    if match[3]:
        return f"{match[3]}\\{match[4]}"
    return "\\" + (match[1] or match[2])


def md_text(text: str) -> str:
    """Plain text as Markdown that shows exactly that text, on one paragraph.

    <, > and & become entities, Markdown's inline marks get a backslash, a line that would start a
    block (list, heading underline, rule) has its first mark escaped, and line breaks stay as hard
    breaks (a backslash at the end of the line) with blank lines dropped, so a netizen's newlines
    cannot end the item they are in.
    """
    escaped = html.escape(text, quote=False).translate(_MARKDOWN_SPECIALS)
    lines = []
    for line in escaped.splitlines():
        line = line.strip()
        if line:
            lines.append(_LINE_START.sub(_escape_line_start, line))
    return "\\\n".join(lines)


def md_cell(text: object) -> str:
    """A table cell: like md_text, on one line (a line break would end the row)."""
    if text is None:
        return "–"
    return md_text(str(text)).replace("\\\n", " ")


def md_table(header: list[str], rows: Iterable[list]) -> list[str]:
    lines = ["| " + " | ".join(md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(value) for value in row) + " |" for row in rows]
    return lines


def percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


# --- the response --------------------------------------------------------------------------------

_UNSAFE_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def content_disposition(ascii_name: str, display_name: str) -> str:
    """`attachment` with an ASCII `filename` for old clients and RFC 5987 `filename*` in UTF-8."""
    plain = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).strip("-") or "download"
    display = _UNSAFE_FILENAME.sub("_", display_name).strip()[:120] or plain
    quoted = urllib.parse.quote(display, safe="")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quoted}"


def download(data: dict, output: str, body: str | None, ascii_stem: str, display_stem: str) -> HttpResponse:
    """The attachment: JSON from `data`, or the CSV/Markdown `body` the caller rendered from it."""
    if output == "json":
        body = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    response = HttpResponse(body, content_type=CONTENT_TYPES[output])
    response["Content-Disposition"] = content_disposition(
        f"{ascii_stem}.{output}", f"{display_stem}.{output}"
    )
    return response


def respond(
    request: HttpRequest,
    data: Callable[[], dict],
    renderers: dict[str, Callable[[dict], str]],
    names: Callable[[dict], tuple[str, str]],
) -> HttpResponse:
    """The one way an open-format export answers: the JSON itself without `?format=`; with
    `?format=json|csv|md` a download (`renderers` makes the CSV and the Markdown from the data,
    `names` the file's ASCII and display stems); a bad format is 400 before any work is done."""
    output = requested_format(request)
    if output is not None and output not in FORMATS:
        return bad_format()
    found = data()
    if output is None:
        return JsonResponse(found, json_dumps_params={"ensure_ascii": False})
    ascii_stem, display_stem = names(found)
    body = renderers[output](found) if output in renderers else None
    return download(found, output, body, ascii_stem, display_stem)
