"""skgmf.datasets: local MovieLens copies, checksummed download, synthetic ratings."""
# License: BSD 3 clause

import functools
import hashlib
import http.server
import io
import shutil
import tempfile
import threading
import zipfile

import numpy as np
import pandas as pd
import pytest

from skgmf import datasets
from skgmf.datasets import load_movielens, load_movies, make_ratings

from .conftest import require_dataset


def test_load_ml100k_from_local_copy():
    home = require_dataset("ml-100k/u.data").parents[1]
    df = load_movielens("ml-100k", data_home=home, download=False)
    assert df.shape == (100_000, 4)
    assert list(df.columns) == ["user", "item", "rating", "timestamp"]
    assert df["user"].nunique() == 943 and df["item"].nunique() == 1682
    assert df["timestamp"].notna().all()


def test_load_ml1m_copy_without_timestamps():
    home = require_dataset("ml-1m/ratings_notimestamp.csv").parents[1]
    df = load_movielens("ml-1m", data_home=home, download=False)
    assert df.shape == (1_000_209, 4)
    assert df["timestamp"].isna().all()
    assert set(df["rating"].unique()) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize(
    "name, n_ratings", [("ml-latest-small-2016", 100_004), ("ml-latest-small-2018", 100_836)]
)
def test_load_a_dated_ml_latest_small_snapshot(name, n_ratings):
    home = require_dataset(f"{name}/ratings.csv").parents[1]
    assert len(load_movielens(name, data_home=home, download=False)) == n_ratings


def test_dated_snapshot_is_never_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="newest snapshot"):
        load_movielens("ml-latest-small-2016", data_home=tmp_path)


@pytest.mark.parametrize(
    "name, file, n_movies",
    [("ml-100k", "ml-100k/u.item", 1682), ("ml-1m", "ml-1m/movies.dat", 3883),
     ("ml-latest-small-2016", "ml-latest-small-2016/movies.csv", 9125)],
)
def test_load_movies_titles_for_every_rated_movie(name, file, n_movies):
    home = require_dataset(file).parents[1]
    movies = load_movies(name, data_home=home, download=False)
    assert len(movies) == n_movies and list(movies.columns) == ["title", "genres"]
    assert movies.loc[1, "title"] == "Toy Story (1995)"
    ratings = load_movielens(name, data_home=home, download=False)
    assert ratings["item"].isin(movies.index).all()


def test_load_movies_ml100k_genres_from_the_u_item_flags():
    home = require_dataset("ml-100k/u.genre").parents[1]
    movies = load_movies("ml-100k", data_home=home, download=False)
    assert movies.loc[1, "genres"] == "Animation|Children's|Comedy"  # Toy Story
    assert movies.loc[2, "genres"] == "Action|Adventure|Thriller"  # GoldenEye
    assert movies.loc[267, "genres"] == "unknown"  # the movie titled "unknown"
    # The genre order is u.genre's, and every movie has at least one genre.
    genre = pd.read_csv(home / "ml-100k" / "u.genre", sep="|", names=["name", "flag"])
    assert tuple(genre.sort_values("flag")["name"]) == datasets._ML100K_GENRES
    genres = movies["genres"].str.split("|").explode()
    assert set(genres) == set(genre["name"]) and len(genres) == 2893


def test_load_ml_latest_small_from_versioned_folder(tmp_path):
    # Both snapshots side by side (links to the real copies): the newest must win.
    for version in ("ml-latest-small-2016", "ml-latest-small-2018"):
        real = require_dataset(f"{version}/ratings.csv").parent
        (tmp_path / version).symlink_to(real, target_is_directory=True)
    df = load_movielens("ml-latest-small", data_home=tmp_path, download=False)
    assert len(df) == 100_836  # 2018's count; 2016 has 100,004
    assert df["rating"].min() == 0.5


def test_newest_versioned_folder_wins(tmp_path):
    header = "userId,movieId,rating,timestamp\n"
    for version, n_rows in (("ml-latest-small-2016", 3), ("ml-latest-small-2018", 2)):
        (tmp_path / version).mkdir()
        rows = "".join(f"{u},1,4.0,0\n" for u in range(1, n_rows + 1))
        (tmp_path / version / "ratings.csv").write_text(header + rows)
    df = load_movielens("ml-latest-small", data_home=tmp_path, download=False)
    assert df["user"].tolist() == [1, 2]


def test_missing_copy_without_download_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_movielens("ml-100k", data_home=tmp_path, download=False)


@pytest.mark.parametrize("name", ["ml-5m", ["ml-100k"], None])
def test_unknown_name_is_rejected(tmp_path, name):
    with pytest.raises(ValueError, match="name must be one of"):
        load_movielens(name, data_home=tmp_path)


@pytest.fixture
def archive_server(tmp_path):
    """Serve a small ml-100k.zip built here on 127.0.0.1; yield (base_url, sha256)."""
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "ml-100k.zip", "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t10\t5\t881250949\n2\t10\t3\t881250950\n")
    sha256 = hashlib.sha256((served / "ml-100k.zip").read_bytes()).hexdigest()
    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", sha256
    server.shutdown()


def test_download_verifies_checksum_and_unpacks(archive_server, tmp_path, monkeypatch):
    base_url, sha256 = archive_server
    monkeypatch.setitem(datasets.ARCHIVES, "ml-100k", ("ml-100k.zip", ("sha256", sha256)))
    home = tmp_path / "home"
    df = load_movielens("ml-100k", data_home=home, base_url=base_url)
    assert df["user"].tolist() == [1, 2]
    assert (home / "ml-100k" / "u.data").exists()
    # A second call reads the cache (the server is not needed).
    assert len(load_movielens("ml-100k", data_home=home, download=False)) == 2


def test_download_base_url_without_final_slash(archive_server, tmp_path, monkeypatch):
    base_url, sha256 = archive_server
    monkeypatch.setitem(datasets.ARCHIVES, "ml-100k", ("ml-100k.zip", ("sha256", sha256)))
    df = load_movielens("ml-100k", data_home=tmp_path / "home", base_url=base_url[:-1])
    assert df["user"].tolist() == [1, 2]


@pytest.mark.parametrize(
    "name, archive, message",
    [
        ("ml-100k", ("ml-100k.zip", ("sha256", "0" * 64)), "is corrupt"),
        ("ml-1m", ("missing.zip", ("sha256", "0" * 64)), "Could not download ml-1m"),
    ],
    ids=["corrupt", "unreachable"],
)
def test_failed_download_creates_nothing_and_says_where_a_copy_goes(
    archive_server, tmp_path, monkeypatch, name, archive, message
):
    base_url, _ = archive_server
    monkeypatch.setitem(datasets.ARCHIVES, name, archive)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    home = tmp_path / "parent" / "home"
    with pytest.raises(OSError, match=message) as excinfo:
        load_movielens(name, data_home=home, base_url=base_url)
    # Neither the data home nor its missing parent is created; no temporary file stays.
    assert not (tmp_path / "parent").exists()
    assert list((tmp_path / "tmp").iterdir()) == []
    text = str(excinfo.value)
    assert str(home / archive[0]) in text and "SKGMF_DATA_HOME" in text
    assert str(home / name / datasets._RATINGS_FILES[name][0]) in text


def test_failed_download_leaves_an_existing_data_home_untouched(archive_server, tmp_path,
                                                                monkeypatch):
    base_url, _ = archive_server
    monkeypatch.setitem(datasets.ARCHIVES, "ml-100k", ("ml-100k.zip", ("sha256", "0" * 64)))
    home = tmp_path / "home"
    home.mkdir()
    with pytest.raises(OSError, match="is corrupt"):
        load_movielens("ml-100k", data_home=home, base_url=base_url)
    assert list(home.iterdir()) == []


def test_archive_without_the_data_set_folder_is_rejected_and_cleaned_up(
    archive_server, tmp_path, monkeypatch
):
    base_url, _ = archive_server
    with zipfile.ZipFile(tmp_path / "served" / "ml-1m.zip", "w") as zf:
        zf.writestr("ratings.dat", "1::10::5::978300760\n")
    sha256 = hashlib.sha256((tmp_path / "served" / "ml-1m.zip").read_bytes()).hexdigest()
    monkeypatch.setitem(datasets.ARCHIVES, "ml-1m", ("ml-1m.zip", ("sha256", sha256)))
    home = tmp_path / "parent" / "home"
    with pytest.raises(OSError, match="holds no ml-1m/ folder"):
        load_movielens("ml-1m", data_home=home, base_url=base_url)
    assert not (tmp_path / "parent").exists()


def test_missing_copy_without_download_says_where_a_copy_goes(tmp_path):
    with pytest.raises(FileNotFoundError, match="SKGMF_DATA_HOME") as excinfo:
        load_movielens("ml-1m", data_home=tmp_path, download=False)
    assert str(tmp_path / "ml-1m.zip") in str(excinfo.value)
    assert str(tmp_path / "ml-1m" / "ratings.dat") in str(excinfo.value)


# One rating in the format of each official archive's ratings file.
CSV_HEADER = "userId,movieId,rating,timestamp\n"
ARCHIVE_RATINGS = {
    "ml-100k": ("ml-100k/u.data", "7\t10\t4\t881250949\n"),
    "ml-1m": ("ml-1m/ratings.dat", "7::10::4::978300760\n"),
    "ml-latest-small": ("ml-latest-small/ratings.csv", CSV_HEADER + "7,10,4.0,964982703\n"),
    "ml-10m": ("ml-10M100K/ratings.dat", "7::10::4.0::838985046\n"),
    "ml-20m": ("ml-20m/ratings.csv", CSV_HEADER + "7,10,4.0,1112486027\n"),
    "ml-25m": ("ml-25m/ratings.csv", CSV_HEADER + "7,10,4.0,1147880044\n"),
    "ml-32m": ("ml-32m/ratings.csv", CSV_HEADER + "7,10,4.0,1225734739\n"),
}
LARGE = ["ml-10m", "ml-20m", "ml-25m", "ml-32m"]


def write_archive(home, name):
    """Write a small ``<name>.zip`` into ``home``; return its path and SHA-256."""
    home.mkdir(parents=True, exist_ok=True)
    archive = home / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(*ARCHIVE_RATINGS[name])
    return archive, hashlib.sha256(archive.read_bytes()).hexdigest()


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(ARCHIVE_RATINGS))
def test_manually_downloaded_zip_is_verified_and_unpacked(tmp_path, monkeypatch, name):
    archive, sha256 = write_archive(tmp_path, name)
    monkeypatch.setitem(datasets.ARCHIVES, name, (archive.name, ("sha256", sha256)))
    df = load_movielens(name, data_home=tmp_path, download=False)
    assert df[["user", "item"]].values.tolist() == [[7, 10]]
    assert df["rating"].tolist() == [4.0]
    # Unpacked next to the zip, which stays; no temporary folder is left behind.
    folder = datasets._folder(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([archive.name, folder])
    archive.unlink()
    assert len(load_movielens(name, data_home=tmp_path, download=False)) == 1


def test_manually_downloaded_zip_with_wrong_checksum_is_an_error(tmp_path, monkeypatch):
    archive, sha256 = write_archive(tmp_path, "ml-100k")
    monkeypatch.setitem(datasets.ARCHIVES, "ml-100k", (archive.name, ("sha256", "0" * 64)))
    with pytest.raises(OSError, match="not the official ml-100k.zip") as excinfo:
        load_movielens("ml-100k", data_home=tmp_path)
    assert all(s in str(excinfo.value) for s in (str(archive), sha256, "0" * 64))
    assert [p.name for p in tmp_path.iterdir()] == [archive.name]


def test_data_home_defaults_to_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SKGMF_DATA_HOME", str(tmp_path))
    assert datasets.get_data_home() == tmp_path


@pytest.mark.parametrize("value", [None, ""], ids=["unset", "empty"])
def test_data_home_defaults_to_skgmf_data_in_home_folder(monkeypatch, tmp_path, value):
    monkeypatch.setenv("HOME", str(tmp_path))
    if value is None:
        monkeypatch.delenv("SKGMF_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("SKGMF_DATA_HOME", value)
    assert datasets.get_data_home() == tmp_path / "skgmf_data"


def test_make_ratings_shape_range_and_determinism():
    a = make_ratings(50, 40, 500, random_state=0)
    b = make_ratings(50, 40, 500, random_state=0)
    assert a.equals(b)
    assert a.shape == (500, 4)
    assert set(np.unique(a["rating"])) <= {1, 2, 3, 4, 5}
    assert not a.duplicated(["user", "item"]).any()


def test_make_ratings_cost_grows_with_ratings_not_matrix_size():
    # 300,000 x 300,000 cells: a permutation of them all would need 671 GiB.
    a = make_ratings(300_000, 300_000, 1000, random_state=0)
    assert a.shape == (1000, 4)
    assert not a.duplicated(["user", "item"]).any()
    assert a["user"].between(0, 299_999).all() and a["item"].between(0, 299_999).all()
    assert a.equals(make_ratings(300_000, 300_000, 1000, random_state=0))


@pytest.mark.parametrize("popularity_exponent", [0, 0.5, 1, 2])
@pytest.mark.parametrize("n_ratings", [0, 1, 30, 49, 50, 99, 100])
def test_make_ratings_gives_distinct_pairs_at_any_density(n_ratings, popularity_exponent):
    a = make_ratings(10, 10, n_ratings, popularity_exponent=popularity_exponent,
                     random_state=0)
    assert len(a) == n_ratings and not a.duplicated(["user", "item"]).any()
    assert a["user"].between(0, 9).all() and a["item"].between(0, 9).all()


def test_make_ratings_pairs_are_uniform_without_popularity():
    # Each of the 100 cells is rated with probability 0.3: 60 times in 200 draws.
    counts = np.zeros((10, 10))
    for seed in range(200):
        a = make_ratings(10, 10, 30, popularity_exponent=0, random_state=seed)
        np.add.at(counts, (a["user"], a["item"]), 1)
    assert counts.sum() == 6000
    # Binomial(200, 0.3) has standard deviation 6.5; a row or column mean, 2.05.
    assert 30 < counts.min() and counts.max() < 90
    assert np.abs(counts.mean(axis=0) - 60).max() < 8
    assert np.abs(counts.mean(axis=1) - 60).max() < 8


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_users=50.0), "'n_users' parameter"),
        (dict(n_items=0), "'n_items' parameter"),
        (dict(n_ratings=-1), "'n_ratings' parameter"),
        (dict(n_factors=0), "'n_factors' parameter"),
        (dict(noise=-0.1), "'noise' parameter"),
        (dict(popularity_exponent=-0.5), "'popularity_exponent' parameter"),
        (dict(random_state="0"), "'random_state' parameter"),
    ],
)
def test_make_ratings_rejects_invalid_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        make_ratings(**{"n_users": 5, "n_items": 4, "n_ratings": 3, **params})


def test_make_ratings_rejects_too_many_ratings():
    with pytest.raises(ValueError, match="exceeds"):
        make_ratings(2, 2, 5)


# The large releases: ml-10m's archive unpacks to ml-10M100K/ with "::"-separated
# .dat files; ml-20m, ml-25m and ml-32m to a folder of their name with CSV files.
LARGE_RATINGS = {
    "ml-10m": ("ml-10M100K/ratings.dat",
               "1::122::5::838985046\n1::185::4.5::838983525\n71567::2107::1::912580553\n"),
    **{
        name: (f"{name}/ratings.csv",
               CSV_HEADER + "1,122,5.0,838985046\n1,185,4.5,838983525\n71567,2107,1.0,912580553\n")
        for name in ("ml-20m", "ml-25m", "ml-32m")
    },
}
LARGE_MOVIES = {
    "ml-10m": ("ml-10M100K/movies.dat",
               "122::Boomerang (1992)::Comedy|Romance\n"
               "185::Net, The (1995)::Action|Crime|Thriller\n"
               "2107::Halloween H20: 20 Years Later (1998)::Horror|Thriller\n"),
    **{
        name: (f"{name}/movies.csv",
               "movieId,title,genres\n122,Boomerang (1992),Comedy|Romance\n"
               '185,"Net, The (1995)",Action|Crime|Thriller\n'
               "2107,Halloween H20: 20 Years Later (1998),Horror|Thriller\n")
        for name in ("ml-20m", "ml-25m", "ml-32m")
    },
}


def write_large_copy(home, name):
    """Unpack a small copy of ``name`` in its official layout under ``home``."""
    for relative, text in (LARGE_RATINGS[name], LARGE_MOVIES[name]):
        (home / relative).parent.mkdir(parents=True, exist_ok=True)
        (home / relative).write_text(text)


def write_large_archive(folder, name):
    """Write a small ``<name>.zip`` in the official layout into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"{name}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(*LARGE_RATINGS[name])
        zf.writestr(*LARGE_MOVIES[name])
    return archive


def check_large_ratings(df):
    assert list(df.columns) == ["user", "item", "rating", "timestamp"]
    assert df.dtypes.tolist() == [np.int32, np.int32, np.float32, np.int64]
    assert df.values.tolist() == [[1, 122, 5.0, 838985046], [1, 185, 4.5, 838983525],
                                  [71567, 2107, 1.0, 912580553]]


@pytest.mark.parametrize("name", LARGE)
def test_load_large_release_from_local_copy_in_official_layout(tmp_path, name):
    write_large_copy(tmp_path, name)
    check_large_ratings(load_movielens(name, data_home=tmp_path, download=False))
    movies = load_movies(name, data_home=tmp_path, download=False)
    assert movies.index.dtype == np.int32 and list(movies.columns) == ["title", "genres"]
    assert movies.loc[185, "title"] == "Net, The (1995)"  # a comma inside the title
    assert movies.loc[2107, "title"] == "Halloween H20: 20 Years Later (1998)"  # a colon
    assert movies.loc[185, "genres"] == "Action|Crime|Thriller"


@pytest.mark.parametrize("name", ["ml-10m", "ml-20m", "ml-25m"])
def test_download_large_release_verifies_md5(archive_server, tmp_path, monkeypatch, name):
    base_url, _ = archive_server
    archive = write_large_archive(tmp_path / "served", name)
    monkeypatch.setitem(datasets.ARCHIVES, name, (archive.name, ("md5", md5(archive))))
    home = tmp_path / "home"
    check_large_ratings(load_movielens(name, data_home=home, base_url=base_url))
    assert sorted(p.name for p in home.iterdir()) == [datasets._folder(name)]
    assert load_movies(name, data_home=home, download=False).loc[122, "title"] == (
        "Boomerang (1992)"
    )


def test_download_with_wrong_md5_is_corrupt_and_creates_nothing(archive_server, tmp_path,
                                                                 monkeypatch):
    base_url, _ = archive_server
    write_large_archive(tmp_path / "served", "ml-25m")
    monkeypatch.setitem(datasets.ARCHIVES, "ml-25m", ("ml-25m.zip", ("md5", "0" * 32)))
    home = tmp_path / "home"
    with pytest.raises(OSError, match="is corrupt: its MD5 is [0-9a-f]{32}, expected 0{32}"):
        load_movielens("ml-25m", data_home=home, base_url=base_url)
    assert not home.exists()


def test_large_releases_record_md5_of_the_official_archives():
    assert datasets.ARCHIVES["ml-10m"][1] == ("md5", "ce571fd55effeba0271552578f2648bd")
    assert datasets.ARCHIVES["ml-20m"][1] == ("md5", "cd245b17a1ae2cc31bb14903e1204af3")
    assert datasets.ARCHIVES["ml-25m"][1] == ("md5", "6b51fb2759a8657d3bfcbfc42b592ada")
    assert datasets.ARCHIVES["ml-32m"] == ("ml-32m.zip", None)


def test_ml32m_without_recorded_checksum_is_never_downloaded(archive_server, tmp_path):
    base_url, _ = archive_server
    write_large_archive(tmp_path / "served", "ml-32m")
    home = tmp_path / "home"
    with pytest.raises(FileNotFoundError, match="records no checksum of ml-32m.zip") as excinfo:
        load_movielens("ml-32m", data_home=home, base_url=base_url)
    text = str(excinfo.value)
    assert "checksum=" in text and str(home / "ml-32m" / "ratings.csv") in text
    assert not home.exists()


def test_ml32m_downloads_with_a_checksum_passed(archive_server, tmp_path):
    base_url, _ = archive_server
    archive = write_large_archive(tmp_path / "served", "ml-32m")
    home = tmp_path / "home"
    with pytest.raises(OSError, match="is corrupt"):
        load_movielens("ml-32m", data_home=home, base_url=base_url, checksum="f" * 32)
    for checksum in (md5(archive), hashlib.sha256(archive.read_bytes()).hexdigest().upper()):
        shutil.rmtree(home, ignore_errors=True)
        check_large_ratings(load_movielens("ml-32m", data_home=home, base_url=base_url,
                                           checksum=checksum))


def test_ml32m_zip_put_by_hand_is_unpacked(tmp_path):
    write_large_archive(tmp_path, "ml-32m")
    check_large_ratings(load_movielens("ml-32m", data_home=tmp_path, download=False))
    assert (tmp_path / "ml-32m" / "movies.csv").exists()


def test_zip_put_by_hand_is_verified_by_md5(tmp_path, monkeypatch):
    archive = write_large_archive(tmp_path, "ml-10m")
    monkeypatch.setitem(datasets.ARCHIVES, "ml-10m", ("ml-10m.zip", ("md5", "0" * 32)))
    with pytest.raises(OSError, match="not the official ml-10m.zip: its MD5 is"):
        load_movielens("ml-10m", data_home=tmp_path)
    monkeypatch.setitem(datasets.ARCHIVES, "ml-10m", ("ml-10m.zip", ("md5", md5(archive))))
    check_large_ratings(load_movielens("ml-10m", data_home=tmp_path))
    assert (tmp_path / "ml-10M100K" / "ratings.dat").exists()


@pytest.mark.parametrize("checksum", ["abc", "g" * 32, "0" * 40])
def test_malformed_checksum_is_rejected(tmp_path, checksum):
    write_large_copy(tmp_path, "ml-25m")
    with pytest.raises(ValueError, match="hex MD5 .32 digits. or SHA-256 .64 digits."):
        load_movielens("ml-25m", data_home=tmp_path, checksum=checksum)


def test_download_progress_bar_only_when_asked_or_on_a_terminal(archive_server, tmp_path,
                                                                monkeypatch, capsys):
    base_url, _ = archive_server
    archive = write_large_archive(tmp_path / "served", "ml-20m")
    monkeypatch.setitem(datasets.ARCHIVES, "ml-20m", (archive.name, ("md5", md5(archive))))
    # stderr is no terminal under pytest: the default draws nothing.
    load_movielens("ml-20m", data_home=tmp_path / "a", base_url=base_url)
    assert capsys.readouterr() == ("", "")
    load_movielens("ml-20m", data_home=tmp_path / "b", base_url=base_url, verbose=True)
    out, err = capsys.readouterr()
    size = archive.stat().st_size / 1e6
    assert out == "" and err.startswith("\rDownloading ml-20m.zip: [") and err.endswith("\n")
    assert f"100% {size:.1f}/{size:.1f} MB" in err.splitlines()[-1]
    assert not datasets._show_progress(False) and datasets._show_progress(True)


def test_progress_bar_without_content_length():
    stream = io.StringIO()
    progress = datasets._Progress("Downloading x.zip", None, stream)
    progress.update(2_500_000)
    progress.close()
    last = stream.getvalue().rpartition("\r")[2]  # the final redraw
    assert last.startswith("Downloading x.zip: 2.5 MB ") and last.endswith(" MB/s\n")


def test_small_releases_load_with_compact_dtypes():
    home = require_dataset("ml-100k/u.data").parents[1]
    df = load_movielens("ml-100k", data_home=home, download=False)
    assert df.dtypes.tolist() == [np.int32, np.int32, np.float32, np.int64]
    home = require_dataset("ml-1m/ratings_notimestamp.csv").parents[1]
    df = load_movielens("ml-1m", data_home=home, download=False)
    assert df.dtypes.tolist() == [np.int32, np.int32, np.float32, pd.Int64Dtype()]


def test_make_ratings_dtypes():
    a = make_ratings(50, 40, 300, random_state=0)
    assert a.dtypes.tolist() == [np.int32, np.int32, np.float32, pd.Int64Dtype()]
    assert a["timestamp"].isna().all()
    assert make_ratings(5, 4, 0, random_state=0).dtypes.tolist() == a.dtypes.tolist()


@pytest.mark.parametrize("n_users, n_items, n_ratings", [(943, 1682, 100_000),
                                                         (20_000, 5_000, 200_000)])
def test_make_ratings_popularity_and_activity_are_skewed(n_users, n_items, n_ratings):
    a = make_ratings(n_users, n_items, n_ratings, random_state=0)
    assert len(a) == n_ratings and not a.duplicated(["user", "item"]).any()
    for column, n in (("item", n_items), ("user", n_users)):
        counts = np.sort(np.bincount(a[column], minlength=n))[::-1]
        # Uniform pairs would give the top 1% about 1% of the ratings.
        assert counts[: n // 100].sum() / n_ratings > 0.05
        assert counts[0] > 10 * np.median(counts)
    # A stronger exponent concentrates more; 0 is flat.
    shares = []
    for exponent in (0, 0.5, 1):
        counts = np.sort(np.bincount(make_ratings(
            n_users, n_items, n_ratings, popularity_exponent=exponent, random_state=0
        )["item"], minlength=n_items))[::-1]
        shares.append(counts[: n_items // 100].sum() / n_ratings)
    assert shares[0] < 0.02 < shares[1] < shares[2]


def test_make_ratings_dense_request_follows_popularity():
    # 80% of the cells: the dense path; the most popular items are rated by almost all.
    a = make_ratings(50, 40, 1600, popularity_exponent=1, random_state=0)
    assert not a.duplicated(["user", "item"]).any()
    counts = np.bincount(a["item"], minlength=40)
    assert counts.max() == 50 and counts.min() < 40


def test_zipf_ranks_follow_their_weights():
    rng = np.random.RandomState(0)
    for exponent in (0, 0.5, 1, 1.5):
        ranks = datasets._zipf_ranks(20, exponent, 200_000, rng)
        assert ranks.min() == 0 and ranks.max() == 19
        freq = np.bincount(ranks, minlength=20) / len(ranks)
        np.testing.assert_allclose(freq, datasets._zipf_weights(20, exponent), atol=0.004)
