"""The page shell of a report: inline style sheet, inline script, table of contents; nothing fetched.

Responsive: wider than 700 px the contents are a sticky sidebar; at 700 px or
less they collapse into a "☰ Contents" menu at the top (a checkbox toggles it,
no script needed) and the page never scrolls sideways: wide tables scroll inside
their own box, figures shrink to the width, long words and paths wrap.

The script (a few dozen lines, no library) sorts a ``table.sortable`` by the
clicked column (numbers by ``data-v``, NaN last; a second click reverses) and
hides the rows whose ``data-problem`` / ``data-method`` / ``data-step`` do not
contain the text typed in the table's filter boxes (case-insensitive).
"""

from __future__ import annotations

import html
from typing import Sequence

__all__ = ["document", "CSS", "SCRIPT"]

CSS = """
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222; line-height: 1.45; }
.layout { display: grid; grid-template-columns: 220px minmax(0, 1fr); }
nav.toc { position: sticky; top: 0; height: 100vh; overflow-y: auto; padding: 1em .8em; background: #f7f7f7;
          border-right: 1px solid #ddd; font-size: 13px; }
nav.toc a { display: block; color: #1a5fb4; text-decoration: none; padding: 1px 0; overflow-wrap: anywhere; }
nav.toc a.sub { padding-left: 1em; font-size: 12px; }
main { padding: 0 2em 3em; min-width: 0; }
h1 { margin-top: .8em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.8em; }
.headline { font-size: 16px; background: #eef5ff; border-left: 4px solid #1a5fb4; padding: .5em .9em; }
table { border-collapse: separate; border-spacing: 0; font-size: 13px; }
th, td { border-bottom: 1px solid #e3e3e3; border-right: 1px solid #eee; padding: 3px 5px; text-align: right; }
td { white-space: nowrap; } td.text { text-align: left; white-space: normal; min-width: 4em; max-width: 20em; }
th { background: #f0f0f0; position: sticky; top: 0; z-index: 1; cursor: pointer; white-space: normal;
     vertical-align: bottom; user-select: none; }
th[data-dir="asc"]::after { content: " ▲"; } th[data-dir="desc"]::after { content: " ▼"; }
.table-scroll { max-height: 75vh; overflow: auto; border: 1px solid #ddd; max-width: 100%; }
.table-tools { display: flex; gap: .6em; align-items: center; margin: .4em 0; flex-wrap: wrap; font-size: 13px; }
.table-tools input { font-size: 13px; padding: 2px 5px; width: 13em; }
.table-tools .count { color: #666; } a.csv { margin-left: auto; }
tr[hidden] { display: none; }
img { max-width: 100%; height: auto; display: block; margin: .5em 0; }
figure { margin: 1em 0; } figcaption { font-size: 13px; color: #444; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: .4em .8em; margin: .5em 0; font-size: 14px; }
.missing { background: #fdecea; border-left: 4px solid #c62828; padding: .4em .8em; margin: .5em 0; }
details.problem { border: 1px solid #ddd; border-radius: 4px; margin: .5em 0; padding: .2em .8em; }
details.problem > summary { cursor: pointer; font-weight: 600; padding: .3em 0; }
details.problem > summary span { font-weight: normal; color: #555; }
pre { background: #f6f6f6; padding: .5em; overflow-x: auto; font-size: 12px; }
code { background: #f6f6f6; padding: 0 .2em; }
main, .headline, .note, figcaption, h1, h2, h3, p { overflow-wrap: anywhere; }
th, td { overflow-wrap: normal; }  /* whole words in tables; a wide table scrolls inside its own box */
.toc-toggle { position: absolute; opacity: 0; pointer-events: none; }
.toc-button { display: none; }
@media (max-width: 700px) {
  .layout { display: block; }
  nav.toc { position: sticky; top: 0; z-index: 5; height: auto; border-right: none; border-bottom: 1px solid #ddd;
            padding: .4em .8em; }
  nav.toc > strong { display: none; }
  .toc-button { display: inline-block; cursor: pointer; font-weight: 600; padding: .2em .5em; border: 1px solid #bbb;
                border-radius: 4px; background: #fff; }
  .toc-links { display: none; max-height: 70vh; overflow-y: auto; padding-top: .4em; }
  .toc-toggle:checked ~ .toc-links { display: block; }
  main { padding: 0 .8em 2em; }
  .table-tools input { width: 100%; }
  h1 { font-size: 1.5em; }
}
"""

SCRIPT = """
(function () {
  function key(cell) {
    var v = cell.getAttribute('data-v');
    return v === null ? cell.textContent.trim().toLowerCase() : parseFloat(v);
  }
  function compare(x, y, up) {
    if (typeof x === 'number' && typeof y === 'number') {
      if (isNaN(x) || isNaN(y)) { return isNaN(x) === isNaN(y) ? 0 : (isNaN(x) ? 1 : -1); }
      return up ? (x < y ? -1 : x > y ? 1 : 0) : (x > y ? -1 : x < y ? 1 : 0);
    }
    return up ? String(x).localeCompare(String(y)) : String(y).localeCompare(String(x));
  }
  document.querySelectorAll('table.sortable').forEach(function (table) {
    table.querySelectorAll('thead th').forEach(function (th, i) {
      th.addEventListener('click', function () {
        var up = th.getAttribute('data-dir') !== 'asc';
        table.querySelectorAll('thead th').forEach(function (h) { h.removeAttribute('data-dir'); });
        th.setAttribute('data-dir', up ? 'asc' : 'desc');
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) { return compare(key(a.cells[i]), key(b.cells[i]), up); });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.querySelectorAll('nav.toc a').forEach(function (link) {  // on a phone, a chosen entry closes the menu
    link.addEventListener('click', function () { var t = document.getElementById('toc-toggle'); if (t) { t.checked = false; } });
  });
  document.querySelectorAll('.table-block').forEach(function (block) {
    var table = block.querySelector('table'), inputs = block.querySelectorAll('input[data-filter]');
    var count = block.querySelector('.count');
    function update() {
      var rows = table.tBodies[0].rows, shown = 0;
      for (var r = 0; r < rows.length; r++) {
        var ok = true;
        inputs.forEach(function (input) {
          var text = (rows[r].getAttribute('data-' + input.getAttribute('data-filter')) || '').toLowerCase();
          if (text.indexOf(input.value.trim().toLowerCase()) < 0) { ok = false; }
        });
        rows[r].hidden = !ok; shown += ok ? 1 : 0;
      }
      count.textContent = shown + ' of ' + rows.length + ' rows';
    }
    inputs.forEach(function (input) { input.addEventListener('input', update); });
    update();
  });
})();
"""


def document(title: str, toc: Sequence[tuple[str, str, bool]], body: Sequence[str]) -> str:
    """The whole page: ``toc`` is (anchor, text, is_sub_entry) triples; ``body`` the sections' HTML."""
    sub_class = ' class="sub"'
    links = "".join(f'<a href="#{html.escape(anchor)}"{sub_class if sub else ""}>{html.escape(text)}</a>'
                    for anchor, text, sub in toc)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            '<div class="layout"><nav class="toc"><strong>Contents</strong>'
            '<input type="checkbox" id="toc-toggle" class="toc-toggle" aria-label="show the contents">'
            f'<label for="toc-toggle" class="toc-button">☰ Contents</label><div class="toc-links">{links}</div></nav><main>'
            + "\n".join(part for part in body if part)
            + f"</main></div><script>{SCRIPT}</script></body></html>\n")
