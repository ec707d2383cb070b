"""Rating data sets: MovieLens from local copies or GroupLens, and synthetic ratings."""
# License: BSD 3 clause

import contextlib
import hashlib
import os
import sys
import tempfile
import time
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

# Official archives and their checksums, as (algorithm, hex digest): SHA-256 as
# published by several independent users; for the large releases only MD5 sums are
# published (GroupLens' own .md5 files, quoted in public projects' download code).
# None: no checksum is recorded, so the archive is never downloaded without one
# passed as ``checksum=``.
ARCHIVES = {
    "ml-100k": (
        "ml-100k.zip",
        ("sha256", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
    ),
    "ml-1m": (
        "ml-1m.zip",
        ("sha256", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
    ),
    "ml-latest-small": (
        "ml-latest-small.zip",
        ("sha256", "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"),
    ),
    "ml-10m": ("ml-10m.zip", ("md5", "ce571fd55effeba0271552578f2648bd")),
    "ml-20m": ("ml-20m.zip", ("md5", "cd245b17a1ae2cc31bb14903e1204af3")),
    "ml-25m": ("ml-25m.zip", ("md5", "6b51fb2759a8657d3bfcbfc42b592ada")),
    "ml-32m": ("ml-32m.zip", None),
}

# Folder an official archive unpacks to, where it is not the data set's name.
_FOLDERS = {"ml-10m": "ml-10M100K"}

# Length of a hex digest of each supported algorithm.
_DIGEST_LENGTHS = {"md5": 32, "sha256": 64}

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
        The folder as an absolute path, a relative one resolved against the
        current folder when it is read (not created here; loaders create it when
        they write to it).
    """
    if data_home is None:
        # An empty variable would otherwise mean the current folder.
        data_home = os.environ.get("SKGMF_DATA_HOME") or Path("~") / "skgmf_data"
    # Absolute now: a relative path read later (a symlink followed, a process that
    # changed folder, as sphinx-gallery's examples do) would point elsewhere.
    return Path(data_home).expanduser().absolute()


# Ratings files of each data set, in every layout GroupLens ships; the first is the
# official archive's.
_RATINGS_FILES = {
    "ml-100k": ["u.data"],
    "ml-1m": ["ratings.dat", "ratings_notimestamp.csv"],
    "ml-latest-small": ["ratings.csv"],
    "ml-10m": ["ratings.dat"],
    "ml-20m": ["ratings.csv"],
    "ml-25m": ["ratings.csv"],
    "ml-32m": ["ratings.csv"],
}


def _folder(name):
    """Folder name of ``name``'s official archive."""
    return _FOLDERS.get(name, name)


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
    folders = [home / _folder(name)]
    if name == "ml-latest-small":
        folders += sorted(home.glob("ml-latest-small-*"), reverse=True)
    family = "ml-latest-small" if name in VERSIONS else name
    for folder in folders:
        path = _ratings_file(folder, family)
        if path is not None:
            return path if filename is None else folder / filename
    return None


# Column types of every loaded ratings file: 25M rows take 500 MB, not the 800 MB of
# int64/float64 columns (MovieLens ids and ratings fit these types exactly).
_DTYPES = {"user": np.int32, "item": np.int32, "rating": np.float32, "timestamp": np.int64}


def _read_ratings(path):
    """Read one ratings file into the common frame: user, item, rating, timestamp.

    Every file is parsed by pandas' C engine with explicit column types, so no
    object column is ever built.
    """
    if path.name == "u.data" or path.suffix in (".base", ".test"):
        df = pd.read_csv(path, sep="\t", names=COLUMNS, dtype=_DTYPES, engine="c")
    elif path.name == "ratings.dat":
        # "1::122::5::838985046": splitting on ":" puts the fields in the even
        # columns, empty odd ones in between; the "::" separator itself would need
        # the python engine, about 20 times slower on 10M rows.
        df = pd.read_csv(
            path, sep=":", header=None, usecols=[0, 2, 4, 6],
            dtype=dict(zip([0, 2, 4, 6], _DTYPES.values())), engine="c",
        )
        df.columns = COLUMNS
    else:
        columns = {"userId": "user", "movieId": "item", "rating": "rating",
                   "timestamp": "timestamp"}
        header = pd.read_csv(path, nrows=0).columns
        dtype = {col: _DTYPES[new] for col, new in columns.items() if col in header}
        df = pd.read_csv(path, usecols=list(dtype), dtype=dtype, engine="c")
        df = df.rename(columns=columns)
        if "timestamp" not in df:
            # A copy without timestamps: missing, never a made-up time.
            df["timestamp"] = _missing_timestamps(len(df))
    return df[COLUMNS]


def _missing_timestamps(n):
    """A nullable Int64 array of ``n`` missing values, built without Python objects."""
    return pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, dtype=bool))


def _manual_copy_hint(name, home):
    """Where a copy of ``name`` downloaded by hand must go."""
    filename, _ = ARCHIVES[name]
    return (
        f"To install it by hand, put the official {filename} ({_GROUPLENS}{filename}) "
        f"at {home / filename}, or unpack it so that "
        f"{home / _folder(name) / _RATINGS_FILES[name][0]} exists; set SKGMF_DATA_HOME "
        "(or pass data_home) to use another folder."
    )


def _expected_checksum(name, checksum):
    """(algorithm, hex digest) to verify ``name``'s archive with, or None if unknown.

    ``checksum``, when given, is a hex MD5 or SHA-256 digest and replaces the table's.
    """
    if checksum is None:
        return ARCHIVES[name][1]
    digest = checksum.strip().lower()
    for algorithm, length in _DIGEST_LENGTHS.items():
        if len(digest) == length and all(c in "0123456789abcdef" for c in digest):
            return algorithm, digest
    raise ValueError(
        f"checksum must be the hex MD5 (32 digits) or SHA-256 (64 digits) of "
        f"{ARCHIVES[name][0]}, got {checksum!r}."
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


class _Progress:
    """A one-line download progress bar on a stream (stderr), redrawn in place."""

    # Redraw at most this often: a 260 MB download has some 16,000 blocks.
    _INTERVAL = 0.2

    def __init__(self, label, total, stream):
        self.label, self.total, self.stream = label, total, stream
        self.done, self.start, self.shown = 0, time.monotonic(), 0.0

    def update(self, n_bytes):
        self.done += n_bytes
        now = time.monotonic()
        if now - self.shown >= self._INTERVAL:
            self.shown = now
            self._draw(now)

    def close(self):
        self._draw(time.monotonic())
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, now):
        mb = self.done / 1e6
        rate = mb / max(now - self.start, 1e-9)
        if self.total:
            filled = int(30 * self.done / self.total)
            line = (f"{self.label}: [{'#' * filled}{'.' * (30 - filled)}] "
                    f"{100 * self.done / self.total:3.0f}% {mb:.1f}/{self.total / 1e6:.1f} MB")
        else:  # the server sent no Content-Length
            line = f"{self.label}: {mb:.1f} MB"
        self.stream.write(f"\r{line} {rate:.1f} MB/s")
        self.stream.flush()


def _show_progress(verbose):
    """Whether to draw a download progress bar: ``verbose``, else if stderr is a TTY."""
    if verbose is None:
        return sys.stderr is not None and sys.stderr.isatty()
    return bool(verbose)


def _download(name, home, base_url, checksum, verbose):
    """Download and verify the archive of ``name``, then unpack it into ``home``.

    The archive goes to a temporary folder outside ``home``, so a failed or corrupt
    download creates nothing there, not even ``home`` itself.
    """
    filename, _ = ARCHIVES[name]
    expected = _expected_checksum(name, checksum)
    if expected is None:
        # Never accept a download nothing verifies.
        raise FileNotFoundError(
            f"No local copy of {name} under {home}, and skgmf records no checksum of "
            f"{filename} to verify a download with, so it does not download it. Pass "
            "checksum= (the MD5 or SHA-256 GroupLens publishes next to the archive, "
            f"{_GROUPLENS}{filename}.md5) to download it. "
            + _manual_copy_hint(name, home)
        )
    algorithm, digest = expected
    url = base_url.rstrip("/") + "/" + filename
    with tempfile.TemporaryDirectory(prefix="skgmf-download-") as tmp:
        archive = Path(tmp) / filename
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(archive, "wb") as f:
                size = response.headers.get("Content-Length")
                progress = None
                if _show_progress(verbose):
                    progress = _Progress(f"Downloading {filename}",
                                         int(size) if size and size.isdigit() else None,
                                         sys.stderr)
                for block in iter(lambda: response.read(1 << 20), b""):
                    f.write(block)
                    if progress is not None:
                        progress.update(len(block))
                if progress is not None:
                    progress.close()
        except OSError as exc:
            raise OSError(
                f"Could not download {name} from {url}: {exc}. "
                + _manual_copy_hint(name, home)
            ) from exc
        actual = _hexdigest(archive, algorithm)
        if actual != digest:
            raise OSError(
                f"The download of {url} is corrupt: its {_ALGORITHM_NAMES[algorithm]} is "
                f"{actual}, expected {digest}. Nothing was written to {home}. "
                + _manual_copy_hint(name, home)
            )
        _unpack(archive, name, home)


_ALGORITHM_NAMES = {"md5": "MD5", "sha256": "SHA-256"}


def _hexdigest(path, algorithm="sha256"):
    """Hex digest of a file by ``algorithm`` ({"md5", "sha256"}), read in blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpack(archive, name, home):
    """Unpack a verified archive of ``name`` into ``home / _folder(name)`` atomically.

    It is extracted into a temporary folder inside ``home`` and renamed into place,
    so no reader ever sees a half-unpacked copy.
    """
    folder = _folder(name)
    with (
        _created_folders(home),
        tempfile.TemporaryDirectory(dir=home, prefix=".unpack-") as tmp,
        zipfile.ZipFile(archive) as zf,
    ):
        zf.extractall(tmp)
        # Official archives hold one top-level folder named after the data set
        # (ml-10m's is ml-10M100K).
        unpacked = Path(tmp) / folder
        if _ratings_file(unpacked, name) is None:
            raise OSError(f"{archive} holds no {folder}/ folder with a ratings file.")
        try:
            os.replace(unpacked, home / folder)
        except OSError as exc:
            # Fine if another process has just unpacked the same archive.
            if _ratings_file(home / folder, name) is None:
                raise OSError(
                    f"Could not unpack {archive} into {home / folder}, which exists "
                    f"and holds no ratings file: remove it. ({exc})"
                ) from exc


def _unpack_manual_copy(name, home, checksum):
    """Verify an official archive of ``name`` put in ``home`` by hand, then unpack it.

    An archive with no recorded checksum (and none passed) is unpacked as it is,
    like a folder unpacked by hand: the user chose that file.
    """
    filename, _ = ARCHIVES[name]
    archive = home / filename
    expected = _expected_checksum(name, checksum)
    if expected is not None:
        algorithm, digest = expected
        actual = _hexdigest(archive, algorithm)
        if actual != digest:
            raise OSError(
                f"{archive} is not the official {filename}: its "
                f"{_ALGORITHM_NAMES[algorithm]} is {actual}, expected {digest}. "
                f"Replace it with {_GROUPLENS}{filename} or remove it."
            )
    _unpack(archive, name, home)


def load_movielens(name="ml-100k", *, data_home=None, download=True,
                   base_url=_GROUPLENS, checksum=None, verbose=None, return_X_y=False):
    """Load a MovieLens rating data set as a DataFrame.

    Rows keep the order of the file: ml-1m and ml-latest-small are sorted by user,
    so shuffle before an unshuffled split (``KFold(shuffle=True)``), or most test
    users are unknown to the training rows.

    Reads a local copy under ``data_home`` in the folder layout GroupLens ships
    (``ml-100k/u.data``, ``ml-1m/ratings.dat``, ``ml-latest-small/ratings.csv``,
    ``ml-10M100K/ratings.dat``, ``ml-20m/ratings.csv``, ``ml-25m/ratings.csv``,
    ``ml-32m/ratings.csv``; also ``ml-1m/ratings_notimestamp.csv``, a copy without
    timestamps). If none is found, the official archive (``<name>.zip``) is used:
    one put in ``data_home`` by hand, else, if ``download`` is True, one downloaded
    from ``base_url``. Its checksum is verified (SHA-256 for ml-100k, ml-1m and
    ml-latest-small; MD5, the only sum published, for ml-10m, ml-20m and ml-25m)
    and it is unpacked atomically next to it; a wrong checksum is an error, and a
    failed or corrupt download leaves nothing behind. MovieLens data is never
    shipped with skgmf (GroupLens terms of use).

    skgmf records no checksum of ``ml-32m.zip``, so it never downloads it unless
    ``checksum`` is passed: put the zip or its unpacked ``ml-32m/`` folder in
    ``data_home`` by hand (a zip put there is then unpacked unverified, as a folder
    is used unverified), or pass the checksum GroupLens publishes in
    ``ml-32m.zip.md5``.

    Parameters
    ----------
    name : {"ml-100k", "ml-1m", "ml-latest-small", "ml-10m", "ml-20m", "ml-25m", \
"ml-32m"} or str, default="ml-100k"
        Data set. ``"ml-latest-small-2016"`` and ``"ml-latest-small-2018"`` name
        dated snapshots of ml-latest-small; they are read from ``data_home`` only
        (the seed notebook used the 2016 one).
    data_home : str or path-like, default=None
        See :func:`get_data_home`.
    download : bool, default=True
        Download the archive when no local copy, unpacked or zipped, is found.
    base_url : str, default="https://files.grouplens.org/datasets/movielens/"
        Folder URL the archives are downloaded from, with or without the final ``/``.
    checksum : str, default=None
        Hex MD5 (32 digits) or SHA-256 (64 digits) of the archive, used instead of
        the recorded one to verify a download or a zip put in ``data_home`` by hand.
    verbose : bool, default=None
        Draw a progress bar on stderr while downloading. None draws it only when
        stderr is a terminal.
    return_X_y : bool, default=False
        Return ``(X, y)`` instead of the DataFrame: ``X`` the ``user`` and
        ``item`` columns, ``y`` the ``rating`` column, ready for ``fit`` (as
        scikit-learn's ``fetch_*`` loaders do).

    Returns
    -------
    ratings : pandas.DataFrame
        Columns ``user``, ``item`` (int32 MovieLens ids), ``rating`` (float32) and
        ``timestamp`` (int64 seconds; nullable Int64, all missing, for a copy
        without timestamps). 25M ratings take 500 MB.
    (X, y) : tuple of pandas.DataFrame and pandas.Series
        If ``return_X_y``: ``X`` of shape (n_ratings, 2), ``y`` of shape (n_ratings,).

    Examples
    --------
    >>> from skgmf.datasets import load_movielens
    >>> ratings = load_movielens("ml-100k")  # doctest: +SKIP
    >>> ratings.shape  # doctest: +SKIP
    (100000, 4)
    """
    _check_name(name)
    if checksum is not None:
        _expected_checksum(name, checksum)  # a malformed one is an error at once
    home = get_data_home(data_home)
    path = _find_local(home, name)
    if path is None and name in ARCHIVES and (home / ARCHIVES[name][0]).is_file():
        _unpack_manual_copy(name, home, checksum)
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
        _download(name, home, base_url, checksum, verbose)
        path = _find_local(home, name)
    ratings = _read_ratings(path)
    if return_X_y:
        return ratings[["user", "item"]], ratings["rating"]
    return ratings


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


def load_movies(name="ml-100k", *, data_home=None, download=True, base_url=_GROUPLENS,
                checksum=None, verbose=None):
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
    checksum : str, default=None
        Checksum of the archive, as in :func:`load_movielens`.
    verbose : bool, default=None
        Download progress bar, as in :func:`load_movielens`.

    Returns
    -------
    movies : pandas.DataFrame
        Indexed by ``item`` (the int32 MovieLens id used in the ratings), with columns
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
    load_movielens(name, data_home=data_home, download=download, base_url=base_url,
                   checksum=checksum, verbose=verbose)
    family = "ml-latest-small" if name in VERSIONS else name
    filename = {"ml-100k": "u.item", "ml-1m": "movies.dat", "ml-10m": "movies.dat"}.get(
        family, "movies.csv"
    )
    path = _find_local(get_data_home(data_home), name, filename)
    if family == "ml-100k":
        # u.item: id, title, release dates, IMDb URL, then one 0/1 flag per genre.
        names = ["item", "title", "release", "video_release", "url", *_ML100K_GENRES]
        df = pd.read_csv(path, sep="|", header=None, names=names, encoding="latin-1")
        flags = df[list(_ML100K_GENRES)].to_numpy(dtype=bool)
        df["genres"] = [
            "|".join(genre for genre, flag in zip(_ML100K_GENRES, row) if flag) for row in flags
        ]
    elif family in ("ml-1m", "ml-10m"):
        # Titles hold ":" themselves, so "::" needs the python engine; the files
        # are small (10,681 movies in ml-10m). ml-1m's is latin-1, ml-10m's UTF-8.
        encoding = "latin-1" if family == "ml-1m" else "utf-8"
        df = pd.read_csv(path, sep="::", names=["item", "title", "genres"],
                         engine="python", encoding=encoding)
    else:
        df = pd.read_csv(path).rename(columns={"movieId": "item"})
    df["item"] = df["item"].astype(np.int32)
    return df.set_index("item")[["title", "genres"]]


def _zipf_weights(n, exponent):
    """Probability of each rank 0..n-1 under :func:`_zipf_ranks`' draws."""
    edges = np.arange(1, n + 2, dtype=np.float64)
    cdf = np.log(edges) if exponent == 1 else edges ** (1 - exponent)
    weights = np.diff(cdf)
    return weights / weights.sum()


def _zipf_ranks(n, exponent, size, rng):
    """Ranks in 0..n-1 with probability about proportional to ``(rank + 1.5) ** -exponent``.

    Inverse transform of a power law on [1, n + 1), rounded down: one power per
    draw, however large ``n`` is (exponent 0 is uniform).
    """
    u = rng.random_sample(size)
    if exponent == 1:
        x = np.exp(u * np.log(n + 1))
    else:
        top = (n + 1) ** (1 - exponent)
        x = (u * (top - 1) + 1) ** (1 / (1 - exponent))
    # Rounding can reach n + 1 itself.
    return np.minimum(x.astype(np.int64) - 1, n - 1)


def _distinct_pairs(n_users, n_items, n_ratings, exponent, rng):
    """``n_ratings`` distinct (user, item) pairs in random order, as int64 keys.

    Each draw picks a user by activity and an item by popularity (Zipf-like weights
    of ``exponent`` over randomly permuted ids; 0 is uniform), and the first
    ``n_ratings`` distinct draws are kept: a sample without replacement, at a cost
    that grows with ``n_ratings``, not ``n_users * n_items``. Draws come in rounds,
    each sized to fall a few standard deviations short of the pairs still missing,
    so all its distinct new pairs are kept and only a (small) round that overshoots
    needs the order of first draws. When the pairs fill half the matrix or more,
    drawing from all of it costs no more.
    """
    n_cells = n_users * n_items
    user_ids, item_ids = rng.permutation(n_users), rng.permutation(n_items)
    if n_ratings == 0:
        return np.empty(0, dtype=np.int64)
    if 2 * n_ratings >= n_cells:
        p = None
        if exponent > 0:
            p = np.outer(_zipf_weights(n_users, exponent)[np.argsort(user_ids)],
                         _zipf_weights(n_items, exponent)[np.argsort(item_ids)]).ravel()
        return rng.choice(n_cells, n_ratings, replace=False, p=p)
    rounds, sorted_rounds, n_kept, yield_ = [], [], 0, 1.0
    while n_kept < n_ratings:
        missing = n_ratings - n_kept
        target = missing - 3 * np.sqrt(missing) if missing > 10_000 else missing
        # Uniform draws hit a new pair with probability (n_cells - n_kept) / n_cells
        # less their own repeats; skewed ones less often, which the yield of the
        # last round measures. Either way the round is sized to fall short.
        size = -n_cells * np.log1p(-target / (n_cells - n_kept))
        size = int(min(max(size, target / yield_), 4 * n_ratings)) + 1
        keys = np.empty(size, dtype=np.int64)
        for start in range(0, size, 1 << 22):  # chunks bound the float temporaries
            stop = min(start + (1 << 22), size)
            users = user_ids[_zipf_ranks(n_users, exponent, stop - start, rng)]
            items = item_ids[_zipf_ranks(n_items, exponent, stop - start, rng)]
            keys[start:stop] = users.astype(np.int64) * n_items + items
        for kept in sorted_rounds:  # drop pairs kept in earlier rounds
            found = np.searchsorted(kept, keys).clip(max=len(kept) - 1)
            keys = keys[kept[found] != keys]
        new = np.unique(keys)
        if len(new) > missing:
            # The round overshot: keep the first draws of its new pairs.
            _, first = np.unique(keys, return_index=True)
            new = keys[np.sort(first)[:missing]]
            rounds.append(new)
            break
        yield_ = max(len(new) / size, 1e-6)
        if len(new):
            rounds.append(new)
            sorted_rounds.append(new)
            n_kept += len(new)
    keys = np.concatenate(rounds) if len(rounds) > 1 else rounds[0]
    # Rounds are sorted by key; a permutation gives the pairs a random order.
    rng.shuffle(keys)
    return keys


@validate_params(
    {
        "n_users": [Interval(Integral, 1, None, closed="left")],
        "n_items": [Interval(Integral, 1, None, closed="left")],
        "n_ratings": [Interval(Integral, 0, None, closed="left")],
        "n_factors": [Interval(Integral, 1, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "popularity_exponent": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_ratings(n_users=500, n_items=300, n_ratings=20_000, *, n_factors=3,
                 noise=0.3, popularity_exponent=0.5, random_state=None):
    """Generate explicit ratings with a known low-rank structure and biases.

    Ratings are :math:`3.5 + b_u + b_i + p_u^\\top q_i + \\varepsilon`, rounded to
    integers and clipped to 1..5, for distinct random (user, item) pairs. As in
    MovieLens, a few items are rated far more often than most (popularity) and a
    few users rate far more than most (activity): the user and item of each pair
    are drawn with Zipf-like weights, :math:`(r + 1.5)^{-s}` for the item (or
    user) of rank :math:`r` in a random order of the ids, and repeated pairs are
    redrawn, which caps how many ratings the most popular ones get.

    Time and memory grow with ``n_ratings``, not with ``n_users * n_items``: 25M
    ratings at ML-25M's size (162,541 users, 59,047 items) take about 40 s and
    1.9 GB at peak on a 2-core machine.

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
    popularity_exponent : float, default=0.5
        Zipf exponent :math:`s` of item popularity and user activity. 0 draws the
        pairs uniformly. With 0.5 the top 1% of items get about 8% of the ratings
        at ML-1M's size, as they do in ML-1M, and the most active user of an
        ML-25M-sized set rates about half the items, as ML-25M's does; larger
        exponents make ratings more concentrated (and a dense request slower).
    random_state : int, RandomState instance or None, default=None
        Seed of the generator.

    Returns
    -------
    ratings : pandas.DataFrame
        Columns ``user``, ``item`` (int32 ids from 0), ``rating`` (float32) and
        ``timestamp`` (nullable Int64, missing), in random order.

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
    keys = _distinct_pairs(n_users, n_items, n_ratings, popularity_exponent, rng)
    user = (keys // n_items).astype(np.int32)
    item = (keys % n_items).astype(np.int32)
    del keys
    rating = np.empty(n_ratings, dtype=np.float32)
    for start in range(0, n_ratings, 1 << 20):  # chunks bound the (rows, n_factors) temporaries
        u, i = user[start:start + (1 << 20)], item[start:start + (1 << 20)]
        y = (3.5 + bu[u] + bi[i] + np.einsum("ij,ij->i", P[u], Q[i])
             + rng.normal(0, noise, len(u)))
        rating[start:start + len(u)] = np.clip(np.round(y), 1, 5)
    return pd.DataFrame(
        {"user": user, "item": item, "rating": rating,
         "timestamp": _missing_timestamps(n_ratings)},
        copy=False,
    )
