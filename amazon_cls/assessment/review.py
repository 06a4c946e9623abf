"""`review.html`: a page to label a sample's cells blind, offline.

One HTML file with its script and style inline, and a folder of pictures beside it (`review/`):
for each sampled cell, its chip at every date of the run side by side, outlined, with the dates.
It shows neither the stratum nor the model's labels; the cell's centre in degrees, to look it up
elsewhere. Keys: 1 change (forest lost in the period), 2 no change, 3 cannot tell; arrows move, u
goes to the next unit not reviewed; an optional type and a free note. The labels live in the
browser's localStorage (a reload loses nothing) and "Export" downloads `sample.csv` with
`reference`, `type` and `note` filled, every other column as `sample` wrote it.
"""

from __future__ import annotations

import hashlib
import html
import json
from pathlib import Path

import pandas as pd
import rasterio
from PIL import Image, ImageDraw
from rasterio.windows import Window

from amazon_cls.store.atomic import write_atomic, write_text

REFERENCES = ("change", "no_change", "unclear")  # keys 1, 2, 3
SHOWN_PX = 320  # each picture's side on the page: the cell in the middle half of it


def crop(raster: rasterio.io.DatasetReader, box: tuple[int, int, int, int]) -> Image.Image:
    """The cell and half a cell's width around it (read as a window), the cell outlined, scaled for the eye."""
    left, top, right, bottom = box
    margin = max(right - left, bottom - top) // 2
    window = (max(0, left - margin), max(0, top - margin))
    window += (min(raster.width, right + margin), min(raster.height, bottom + margin))
    pixels = raster.read(window=Window.from_slices((window[1], window[3]), (window[0], window[2])))
    picture = Image.fromarray(pixels.transpose(1, 2, 0))
    scale = SHOWN_PX / max(picture.size)
    picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))))
    outline = [(left - window[0]) * scale, (top - window[1]) * scale, (right - window[0]) * scale - 1]
    outline.append((bottom - window[1]) * scale - 1)
    ImageDraw.Draw(picture).rectangle(outline, outline=(255, 230, 0), width=2)
    return picture


def write_pictures(units: pd.DataFrame, chips: dict[str, Path], folder: Path) -> dict[str, list[dict]]:
    """`review/<sample_id>_<date>.jpg` for every unit and date, read from each date's chips raster
    (monitor's `chips/<date>.tif`) window by window; per unit, its pictures and dates."""
    shown: dict[str, list[dict]] = {unit: [] for unit in units["sample_id"]}
    for day, path in chips.items():
        with rasterio.open(path) as raster:
            for unit in units.itertuples():
                box = (int(unit.left), int(unit.top), int(unit.right), int(unit.bottom))
                picture = crop(raster, box)
                target = folder / f"{unit.sample_id}_{day}.jpg"
                write_atomic(target, lambda tmp, picture=picture: picture.save(tmp, format="JPEG", quality=90))
                shown[unit.sample_id].append({"date": day, "src": f"{folder.name}/{target.name}"})
    return shown


def write_page(
    path: Path, sample_csv: str, shown: dict[str, list[dict]], types: list[str], title: str, download: str
) -> Path:
    """The page: `sample_csv` (the text of sample.csv as written) is what it exports, filled in,
    as the file `download`."""
    key = "amazon-cls-review:" + hashlib.blake2b(sample_csv.encode(), digest_size=8).hexdigest()
    data = {"csv": sample_csv, "items": shown, "types": types, "key": key, "references": list(REFERENCES)}
    data["download"] = download
    script = PAGE_SCRIPT.replace("__DATA__", json.dumps(data).replace("</", "<\\/"))
    page = PAGE.replace("__TITLE__", html.escape(title)).replace("__SCRIPT__", script)
    return write_text(path, page)


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Review: __TITLE__</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
  header { display: flex; gap: 1.5em; align-items: baseline; flex-wrap: wrap; }
  #progress { font-weight: bold; }
  .dates { display: flex; gap: 12px; flex-wrap: wrap; margin: 1em 0; }
  figure { margin: 0; text-align: center; }
  figure img { width: 320px; height: auto; border: 1px solid #999; }
  figcaption { font-size: 0.9em; margin-top: 0.3em; }
  .choice button { font-size: 1em; padding: 0.4em 0.9em; margin-right: 0.4em; }
  .choice button.on { background: #2b6cb0; color: white; }
  .keys { color: #555; font-size: 0.9em; }
  input[type=text] { width: 28em; }
</style>
</head>
<body>
<header>
  <h1>Review of __TITLE__</h1>
  <span id="progress"></span>
  <button id="export">Export</button>
</header>
<p class="keys">Was forest lost in this cell (outlined) between the first and the last date?
Any forest lost inside the outline counts. Keys: <b>1</b> change, <b>2</b> no change,
<b>3</b> cannot tell (cloud, too coarse); <b>&larr;</b> <b>&rarr;</b> previous, next; <b>u</b> the next
unit not reviewed. The labels stay in this browser until you export.</p>
<h2 id="unit"></h2>
<p id="where" class="keys"></p>
<div class="dates" id="dates"></div>
<div class="choice" id="choice"></div>
<p><label>Type (optional) <select id="type"></select></label>
<label>Note <input type="text" id="note"></label></p>
<script>
__SCRIPT__
</script>
</body>
</html>
"""

PAGE_SCRIPT = r"""
const DATA = __DATA__;
const lines = DATA.csv.replace(/\n$/, "").split("\n");
const header = parseRow(lines[0]);
const rows = lines.slice(1).map(parseRow);
const ids = rows.map(row => row[header.indexOf("sample_id")]);
let labels = JSON.parse(localStorage.getItem(DATA.key) || "{}");
let at = 0;

function parseRow(line) {  // the CSV as pandas writes it: quotes around fields with commas or quotes
  const out = []; let field = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") { out.push(field); field = ""; }
    else field += c;
  }
  out.push(field);
  return out;
}
function quote(value) {
  return /[",\n\r]/.test(value) ? '"' + value.replace(/"/g, '""') + '"' : value;
}
function save() { localStorage.setItem(DATA.key, JSON.stringify(labels)); }
function label(id) { return labels[id] || {reference: "", type: "", note: ""}; }
function show() {
  const id = ids[at], given = label(id);
  const row = rows[at], where = ["lat", "lon"].map(name => row[header.indexOf(name)]).join(", ");
  document.getElementById("unit").textContent = id + " (" + (at + 1) + " of " + ids.length + ")";
  document.getElementById("where").textContent = "centre " + where + " (lat, lon)";
  const dates = document.getElementById("dates");
  dates.replaceChildren(...DATA.items[id].map(shot => {
    const figure = document.createElement("figure"), img = document.createElement("img");
    img.src = shot.src; img.alt = id + " on " + shot.date;
    const caption = document.createElement("figcaption"); caption.textContent = shot.date;
    figure.append(img, caption); return figure;
  }));
  const choice = document.getElementById("choice");
  choice.replaceChildren(...DATA.references.map((name, k) => {
    const button = document.createElement("button");
    button.textContent = (k + 1) + " " + name.replace("_", " ");
    button.className = given.reference === name ? "on" : "";
    button.onclick = () => choose(name); return button;
  }));
  document.getElementById("type").value = given.type;
  document.getElementById("note").value = given.note;
  const done = ids.filter(i => label(i).reference).length;
  document.getElementById("progress").textContent = done + " of " + ids.length + " reviewed";
}
function update(field, value) { labels[ids[at]] = {...label(ids[at]), [field]: value}; save(); show(); }
function choose(name) { update("reference", name); }
function move(by) { at = Math.min(ids.length - 1, Math.max(0, at + by)); show(); }
function exported() {
  const column = name => header.indexOf(name);
  const out = [lines[0]];
  rows.forEach(row => {
    const given = label(row[column("sample_id")]), filled = row.slice();
    for (const name of ["reference", "type", "note"]) filled[column(name)] = given[name];
    out.push(filled.map(quote).join(","));
  });
  return out.join("\n") + "\n";
}
const select = document.getElementById("type");
select.append(...["", ...DATA.types].map(name => {
  const option = document.createElement("option"); option.value = name; option.textContent = name || "(none)";
  return option;
}));
select.onchange = () => update("type", select.value);
document.getElementById("note").onchange = event => update("note", event.target.value);
document.addEventListener("keydown", event => {
  if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT") return;
  const k = {"1": 0, "2": 1, "3": 2}[event.key];
  if (k !== undefined) { choose(DATA.references[k]); move(1); }
  else if (event.key === "ArrowRight") move(1);
  else if (event.key === "ArrowLeft") move(-1);
  else if (event.key === "u") {
    const next = ids.findIndex((i, k) => k > at && !label(i).reference);
    if (next >= 0) { at = next; show(); }
  }
});
document.getElementById("export").onclick = () => {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([exported()], {type: "text/csv"}));
  link.download = DATA.download; document.body.append(link); link.click(); link.remove();
};
show();
"""
