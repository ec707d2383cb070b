"""Rating data sets: MovieLens from local copies or GroupLens, and synthetic ratings."""
# License: BSD 3 clause

import contextlib
import hashlib
import os
import shutil
import tempfile
import urllib.request
import zipfile
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["get_data_home", "load_movielens", "load_movies", "make_ratings"]

_GROUPLENS = "https://files.grouplens.org/datasets/movielens/"

# Official archives and their SHA-256 (as published by several independent users).
ARCHIVES = {
    "ml-100k": ("ml-100k.zip", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
    "ml-1m": ("ml-1m.zip", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
    "ml-latest-small": (
        "ml-latest-small.zip",
        "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
    ),
}

COLUMNS = ["user", "item", "rating", "timestamp"]

# Local-only snapshots of ml-latest-small (GroupLens serves only the newest one).
VERSIONS = ("ml-latest-small-2016", "ml-latest-small-2018")


def get_data_home(data_home=None):
    """Folder holding MovieLens copies.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Explicit folder. Otherwise ``$SKGMF_DATA_HOME`` if set and not empty, else
        ``~/skgmf_data`` (as :func:`sklearn.datasets.get_data_home` does with
        ``~/scikit_learn_data``).

    Returns
    -------
    data_home : pathlib.Path
        The folder (not created here; loaders create it when they write to it).
    """
    if data_home is None:
        # An empty variable would otherwise mean the current folder.
        data_home = os.environ.get("SKGMF_DATA_HOME") or Path("~") / "skgmf_data"
    return Path(data_home).expanduser()


# Ratings files of each data set, in every layout GroupLens ships; the first is the
# official archive's.
_RATINGS_FILES = {
    "ml-100k": ["u.data"],
    "ml-1m": ["ratings.dat", "ratings_notimestamp.csv"],
    "ml-latest-small": ["ratings.csv"],
}


def _ratings_file(folder, name):
    """The ratings file of a dataset folder in any layout GroupLens ships, or None."""
    for candidate in _RATINGS_FILES[name]:
        if (folder / candidate).exists():
            return folder / candidate
    return None


def _find_local(home, name, filename=None):
    """Ratings file (or ``filename``) of ``name`` under ``home``, or None.

    ``ml-latest-small`` may sit in a folder with a version suffix; the newest wins.
    """
    folders = [home / name]
    if name == "ml-latest-small":
        folders += sorted(home.glob("ml-latest-small-*"), reverse=True)
    family = "ml-latest-small" if name in VERSIONS else name
    for folder in folders:
        path = _ratings_file(folder, family)
        if path is not None:
            return path if filename is None else folder / filename
    return None


def _read_ratings(path):
    """Read one ratings file into the common frame: user, item, rating, timestamp."""
    if path.name == "u.data" or path.suffix in (".base", ".test"):
        df = pd.read_csv(path, sep="\t", names=COLUMNS)
    elif path.name == "ratings.dat":
        df = pd.read_csv(path, sep="::", names=COLUMNS, engine="python")
    else:
        df = pd.read_csv(path)
        df = df.rename(columns={"userId": "user", "movieId": "item"})
        if "timestamp" not in df:
            df["timestamp"] = pd.NA
    df = df[COLUMNS]
    df["rating"] = df["rating"].astype("float32")
    df["timestamp"] = df["timestamp"].astype("Int64")
    return df


def _manual_copy_hint(name, home):
    """Where a copy of ``name`` downloaded by hand must go."""
    filename, _ = ARCHIVES[name]
    return (
        f"To install it by hand, put the official {filename} ({_GROUPLENS}{filename}) "
        f"at {home / filename}, or unpack it so that "
        f"{home / name / _RATINGS_FILES[name][0]} exists; set SKGMF_DATA_HOME "
        "(or pass data_home) to use another folder."
    )


@contextlib.contextmanager
def _created_folders(folder):
    """Create ``folder`` and its missing parents; remove them again if the block fails."""
    missing = [p for p in [folder, *folder.parents] if not p.exists()]  # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    try:
        yield
    except BaseException:
        for path in missing:
            try:
                path.rmdir()
            except OSError:  # not empty: something else wrote there meanwhile
                break
        raise


def _download(name, home, base_url):
    """Download and verify the archive of ``name``, then unpack it into ``home``.

    The archive goes to a temporary folder outside ``home``, so a failed or corrupt
    download creates nothing there, not even ``home`` itself.
    """
    filename, sha256 = ARCHIVES[name]
    url = base_url.rstrip("/") + "/" + filename
    with tempfile.TemporaryDirectory(prefix="skgmf-download-") as tmp:
        archive = Path(tmp) / filename
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as f:
                shutil.copyfileobj(response, f)
        except OSError as exc:
            raise OSError(
                f"Could not download {name} from {url}: {exc}. "
                + _manual_copy_hint(name, home)
            ) from exc
        digest = _sha256(archive)
        if digest != sha256:
            raise OSError(
                f"The download of {url} is corrupt: its SHA-256 is {digest}, "
                f"expected {sha256}. Nothing was written to {home}. "
                + _manual_copy_hint(name, home)
            )
        _unpack(archive, name, home)


def _sha256(path):
    """Hex SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack(archive, name, home):
    """Unpack a verified archive of ``name`` into ``home / name`` atomically.

    It is extracted into a temporary folder inside ``home`` and renamed into place,
    so no reader ever sees a half-unpacked copy.
    """
    with (
        _created_folders(home),
        tempfile.TemporaryDirectory(dir=home, prefix=".unpack-") as tmp,
        zipfile.ZipFile(archive) as zf,
    ):
        zf.extractall(tmp)
        # Official archives hold one top-level folder named after the data set.
        unpacked = Path(tmp) / name
        if _ratings_file(unpacked, name) is None:
            raise OSError(f"{archive} holds no {name}/ folder with a ratings file.")
        try:
            os.replace(unpacked, home / name)
        except OSError as exc:
            # Fine if another process has just unpacked the same archive.
            if _ratings_file(home / name, name) is None:
                raise OSError(
                    f"Could not unpack {archive} into {home / name}, which exists "
                    f"and holds no ratings file: remove it. ({exc})"
                ) from exc


def _unpack_manual_copy(name, home):
    """Verify an official archive of ``name`` put in ``home`` by hand, then unpack it."""
    filename, sha256 = ARCHIVES[name]
    archive = home / filename
    digest = _sha256(archive)
    if digest != sha256:
        raise OSError(
            f"{archive} is not the official {filename}: its SHA-256 is {digest}, "
            f"expected {sha256}. Replace it with {_GROUPLENS}{filename} or remove it."
        )
    _unpack(archive, name, home)


def load_movielens(name="ml-100k", *, data_home=None, download=True,
                   base_url=_GROUPLENS):
    """Load a MovieLens rating data set as a DataFrame.

    Reads a local copy under ``data_home`` in the folder layout GroupLens ships
    (``ml-100k/u.data``, ``ml-1m/ratings.dat``, ``ml-latest-small/ratings.csv``;
    also ``ml-1m/ratings_notimestamp.csv``, a copy without timestamps). If none is
    found, the official archive (``ml-100k.zip``, ``ml-1m.zip`` or
    ``ml-latest-small.zip``) is used: one put in ``data_home`` by hand, else, if
    ``download`` is True, one downloaded from ``base_url``. Its SHA-256 is verified
    and it is unpacked atomically next to it; a wrong checksum is an error, and a
    failed or corrupt download leaves nothing behind. MovieLens data is never
    shipped with skgmf (GroupLens terms of use).

    Parameters
    ----------
    name : {"ml-100k", "ml-1m", "ml-latest-small"} or str, default="ml-100k"
        Data set. ``"ml-latest-small-2016"`` and ``"ml-latest-small-2018"`` name
        dated snapshots of ml-latest-small; they are read from ``data_home`` only
        (the seed notebook used the 2016 one).
    data_home : str or path-like, default=None
        See :func:`get_data_home`.
    download : bool, default=True
        Download the archive when no local copy, unpacked or zipped, is found.
    base_url : str, default="https://files.grouplens.org/datasets/movielens/"
        Folder URL the archives are downloaded from, with or without the final ``/``.

    Returns
    -------
    ratings : pandas.DataFrame
        Columns ``user``, ``item`` (int64 MovieLens ids), ``rating`` (float32) and
        ``timestamp`` (nullable Int64 seconds; missing where the copy lacks them).

    Examples
    --------
    >>> from skgmf.datasets import load_movielens
    >>> ratings = load_movielens("ml-100k")  # doctest: +SKIP
    >>> ratings.shape  # doctest: +SKIP
    (100000, 4)
    """
    _check_name(name)
    home = get_data_home(data_home)
    path = _find_local(home, name)
    if path is None and name in ARCHIVES and (home / ARCHIVES[name][0]).is_file():
        _unpack_manual_copy(name, home)
        path = _find_local(home, name)
    if path is None:
        if name in VERSIONS:
            raise FileNotFoundError(
                f"No local copy of {name} under {home}; GroupLens serves only the "
                "newest snapshot, as name='ml-latest-small'."
            )
        if not download:
            raise FileNotFoundError(
                f"No local copy of {name} under {home} and download=False. "
                + _manual_copy_hint(name, home)
            )
        _download(name, home, base_url)
        path = _find_local(home, name)
    return _read_ratings(path)


def _check_name(name):
    if not isinstance(name, str) or (name not in ARCHIVES and name not in VERSIONS):
        raise ValueError(
            f"name must be one of {sorted(ARCHIVES) + list(VERSIONS)}, got {name!r}."
        )


# ml-100k's genres in the order of u.item's flag columns (u.genre lists them).
_ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)


def load_movies(name="ml-100k", *, data_home=None, download=True, base_url=_GROUPLENS):
    """Load the titles and genres of a MovieLens data set's movies.

    Parameters
    ----------
    name : str, default="ml-100k"
        Data set, as in :func:`load_movielens`.
    data_home : str or path-like, default=None
        See :func:`get_data_home`.
    download : bool, default=True
        Download the archive when no local copy is found.
    base_url : str, default="https://files.grouplens.org/datasets/movielens/"
        Where the archives are downloaded from.

    Returns
    -------
    movies : pandas.DataFrame
        Indexed by ``item`` (the MovieLens id used in the ratings), with columns
        ``title`` and ``genres``, ``"|"``-separated as in ml-1m's ``movies.dat``
        (for ml-100k, built from the genre flags of ``u.item`` in the order of
        ``u.genre``).

    Examples
    --------
    >>> from skgmf.datasets import load_movies
    >>> movies = load_movies("ml-100k")  # doctest: +SKIP
    >>> movies.loc[1, "title"], movies.loc[1, "genres"]  # doctest: +SKIP
    ('Toy Story (1995)', "Animation|Children's|Comedy")
    """
    load_movielens(name, data_home=data_home, download=download, base_url=base_url)
    family = "ml-latest-small" if name in VERSIONS else name
    filename = {"ml-100k": "u.item", "ml-1m": "movies.dat"}.get(family, "movies.csv")
    path = _find_local(get_data_home(data_home), name, filename)
    if family == "ml-100k":
        # u.item: id, title, release dates, IMDb URL, then one 0/1 flag per genre.
        names = ["item", "title", "release", "video_release", "url", *_ML100K_GENRES]
        df = pd.read_csv(path, sep="|", header=None, names=names, encoding="latin-1")
        flags = df[list(_ML100K_GENRES)].to_numpy(dtype=bool)
        df["genres"] = [
            "|".join(genre for genre, flag in zip(_ML100K_GENRES, row) if flag) for row in flags
        ]
    elif family == "ml-1m":
        df = pd.read_csv(path, sep="::", names=["item", "title", "genres"],
                         engine="python", encoding="latin-1")
    else:
        df = pd.read_csv(path).rename(columns={"movieId": "item"})
    return df.set_index("item")[["title", "genres"]]


def _distinct_pairs(n_users, n_items, n_ratings, rng):
    """``n_ratings`` distinct (user, item) pairs, uniformly at random and in random order.

    Pairs are drawn with replacement as int64 keys and the first draw of each is
    kept, redrawing the shortfall: the first ``n_ratings`` distinct draws of a
    uniform sequence are a uniform sample without replacement, at a cost that grows
    with ``n_ratings``, not ``n_users * n_items``. When the pairs fill half the
    matrix or more, permuting all of it costs no more and needs no redraws.
    """
    n_cells = n_users * n_items
    if 2 * n_ratings >= n_cells:
        keys = rng.choice(n_cells, n_ratings, replace=False)
    else:
        keys = np.empty(0, dtype=np.int64)
        while len(keys) < n_ratings:
            # Enough draws on average: at most a fraction n_ratings / n_cells repeats.
            size = int((n_ratings - len(keys)) / (1 - n_ratings / n_cells)) + 1
            draws = np.concatenate([keys, rng.randint(0, n_cells, size, dtype=np.int64)])
            _, first = np.unique(draws, return_index=True)
            keys = draws[np.sort(first)][:n_ratings]
    return keys // n_items, keys % n_items


@validate_params(
    {
        "n_users": [Interval(Integral, 1, None, closed="left")],
        "n_items": [Interval(Integral, 1, None, closed="left")],
        "n_ratings": [Interval(Integral, 0, None, closed="left")],
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_ratings(n_users=500, n_items=300, n_ratings=20_000, *, n_factors=3,
                 noise=0.3, random_state=None):
    """Generate explicit ratings with a known low-rank structure and biases.

    Ratings are :math:`3.5 + b_u + b_i + p_u^\\top q_i + \\varepsilon`, rounded to
    integers and clipped to 1..5, for distinct random (user, item) pairs.

    Parameters
    ----------
    n_users, n_items : int, default=500, 300
        Number of users and items.
    n_ratings : int, default=20000
        Number of distinct rated pairs; at most ``n_users * n_items``.
    n_factors : int, default=3
        Rank of the planted interaction.
    noise : float, default=0.3
        Standard deviation of the Gaussian noise before rounding.
    random_state : int, RandomState instance or None, default=None
        Seed of the generator.

    Returns
    -------
    ratings : pandas.DataFrame
        Columns ``user``, ``item``, ``rating`` and ``timestamp`` (missing).

    Examples
    --------
    >>> from skgmf.datasets import make_ratings
    >>> make_ratings(50, 40, 300, random_state=0).shape
    (300, 4)
    """
    if n_ratings > n_users * n_items:
        raise ValueError(
            f"n_ratings={n_ratings} exceeds the {n_users * n_items} possible pairs."
        )
    rng = check_random_state(random_state)
    # Scale so that p_u . q_i has variance 0.64 whatever n_factors is.
    scale = np.sqrt(0.8 / np.sqrt(n_factors))
    P = rng.normal(0, scale, (n_users, n_factors))
    Q = rng.normal(0, scale, (n_items, n_factors))
    bu, bi = rng.normal(0, 0.3, n_users), rng.normal(0, 0.4, n_items)
    u, i = _distinct_pairs(n_users, n_items, n_ratings, rng)
    y = 3.5 + bu[u] + bi[i] + np.sum(P[u] * Q[i], axis=1) + rng.normal(0, noise, n_ratings)
    return pd.DataFrame(
        {
            "user": u,
            "item": i,
            "rating": np.clip(np.round(y), 1, 5).astype("float32"),
            "timestamp": pd.array([pd.NA] * n_ratings, dtype="Int64"),
        }
    )
