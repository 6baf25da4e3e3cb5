"""The export files as a spreadsheet program reads them: LibreOffice (headless) opens the
XLSX (both sheets, typed cells) and imports the CSV with formula evaluation switched ON,
and no cell becomes a formula. Skipped where LibreOffice is not installed (it is not
part of the stack; CI's image may lack it)."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chalicelib.exchange.formats import open_writer
from tests.component.test_export_formats import FIELDS

SOFFICE = shutil.which("soffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) not installed")

FORMULAS = ["=1+1", "+SUM(1,2)", "-2+3", "@SUM(A1)", "\t=1+2", "\r=3",
            '=HYPERLINK("http://evil.example","click")', "=cmd|' /C calc'!A0"]
# CSV import options (LibreOffice's "Filter Options" token string): comma, double quote,
# UTF-8 (76), from line 1, ..., and the 13th token: evaluate formulas = true.
CSV_IN = "CSV:44,34,76,1,,0,false,true,false,false,false,-1,true"
# Sheet export to CSV: the 12th token -1 writes every sheet to its own file.
CSV_OUT = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


def _rows() -> list[dict[str, Any]]:
    return [{"sku": f"S{i}", "name": text, "quantity": i, "price": "12.50", "active": i % 2 == 0,
             "createdAt": "2026-01-01T10:00:00.000Z", "launch": "2026-01-02",
             "tags": ["a", "b"], "dims": {"w": 1}}
            for i, text in enumerate([*FORMULAS, "plain"])]


def _write(tmp_path: Path, fmt: str) -> Path:
    writer = open_writer(fmt, FIELDS, entity="products", **({"bom": True} if fmt == "csv"
                                                              else {}))
    path = tmp_path / f"products.{fmt}"
    path.write_bytes(writer.write(_rows()) + writer.finish())
    return path


def _soffice(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "out"
    # Its own profile: a second instance sharing the user's would hand over and exit.
    profile = f"-env:UserInstallation=file://{tmp_path}/profile"
    done = subprocess.run([str(SOFFICE), profile, "--headless", *args, "--outdir", str(out)],
                          capture_output=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    return out


def test_libreoffice_opens_the_xlsx_with_its_dictionary_sheet(tmp_path: Path) -> None:
    out = _soffice(tmp_path, "--convert-to", CSV_OUT, str(_write(tmp_path, "xlsx")))
    data = list(csv.reader((out / "products-products.csv").open(encoding="utf-8")))
    assert data[0] == [f.name for f in FIELDS]
    # Text as written, never a formula's result (a CR inside a cell comes back as LF).
    assert [r[1] for r in data[1:]] == [t.replace("\r", "\n") for t in [*FORMULAS, "plain"]]
    first = data[1]
    assert first[2] == "0" and first[3] == "12.5" and first[4] == "TRUE"  # typed cells
    assert first[5] == "2026-01-01 10:00:00"  # a date-time cell, not text
    dictionary = list(csv.reader((out / "products-Data dictionary.csv").open(encoding="utf-8")))
    assert dictionary[0] == ["field", "type", "description", "example"]
    assert [r[0] for r in dictionary[1:]] == [f.name for f in FIELDS]


def test_libreoffice_runs_no_formula_from_the_csv(tmp_path: Path) -> None:
    import openpyxl

    out = _soffice(tmp_path, f"--infilter={CSV_IN}", "--convert-to", "xlsx",
                   str(_write(tmp_path, "csv")))
    sheet = openpyxl.load_workbook(out / "products.xlsx").active
    names = [row[1].value for row in sheet.iter_rows(min_row=2)]
    kinds = [row[1].data_type for row in sheet.iter_rows(min_row=2)]
    assert kinds == ["s"] * len(names)  # text, never "f" (a formula)
    assert all(str(v).startswith("'") for v in names[:len(FORMULAS)]), names
    assert names[-1] == "plain"
    assert sheet.cell(row=1, column=1).value == "sku"  # the BOM read as UTF-8's, not text
