"""Remote sources (issue 14): every reader over s3:// against a local S3-compatible server.

One moto server (``moto[server]``, from the dev extra) runs on 127.0.0.1 for the whole
session, with IAM checks on: the tests read with the access key of an IAM user allowed
everything, taken from the environment as the real clients take it, and check the errors
of another user's key (no permission), of an unknown key and of missing buckets and keys.
Nothing outside the machine is contacted. Skipped when moto is not installed.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
import torch

pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install -e '.[dev]')")
pytest.importorskip("flask", reason="moto[server] is not installed (pip install -e '.[dev]')")

from tabloader.datasets import (
    CsvDataset,
    CsvStream,
    ParquetDataset,
    ParquetStream,
    TabularDataset,
    read_dataset,
)
from tabloader.errors import AccessError, DataFileNotFoundError, StorageError
from tabloader.loaders import make_loader

BUCKET = "tabloader-test"
ROOT = Path(__file__).resolve().parents[1]


def _frame(n: int, start: int = 0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"f{j}": rng.standard_normal(n).round(4) for j in range(4)})
    df["color"] = rng.choice(["red", "green", "blue"], n)
    df["rid"] = np.arange(start, start + n)
    df["label"] = (df["f0"] + 0.5 * df["f1"] > 0).astype(int)
    return df


def _write_files(root: Path) -> None:
    a, b = _frame(300, 0, 1), _frame(200, 300, 2)
    (root / "csv").mkdir(parents=True)
    a.to_csv(root / "csv" / "a.csv", index=False)
    b.to_csv(root / "csv" / "b.csv", index=False)
    (root / "csv" / "_SUCCESS").write_text("")
    (root / "gz").mkdir()
    with gzip.open(root / "gz" / "a.csv.gz", "wt") as fh:
        fh.write(a.to_csv(index=False))
    (root / "pq").mkdir()
    pq.write_table(pa.Table.from_pandas(a, preserve_index=False), root / "pq" / "a.parquet", 64)
    pq.write_table(pa.Table.from_pandas(b, preserve_index=False), root / "pq" / "b.parquet", 50)
    hive = pd.concat([a, b], ignore_index=True)
    hive["region"] = np.where(hive["rid"] % 3 == 0, "east", "west")
    hive.to_parquet(root / "hive", partition_cols=["region"], row_group_size=70)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3:
    """The session's server: endpoint, keys, the local copy of the bucket's files."""

    def __init__(self, endpoint: str, keys: dict[str, tuple[str, str]], local: Path) -> None:
        self.endpoint = endpoint
        self.keys = keys
        self.local = local

    def url(self, rel: str) -> str:
        return f"s3://{BUCKET}/data/{rel}"

    def path(self, rel: str) -> str:
        return str(self.local / rel)

    def filesystem(self, user: str = "reader", **kw) -> pafs.S3FileSystem:
        key, secret = self.keys.get(user, (user, "not-a-secret"))
        return pafs.S3FileSystem(
            access_key=key, secret_key=secret, endpoint_override=self.endpoint, **kw
        )


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    mp = pytest.MonkeyPatch()
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "setup",
        "AWS_SECRET_ACCESS_KEY": "setup",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    for k, v in env.items():
        mp.setenv(k, v)
    try:
        iam = boto3.client("iam", endpoint_url=endpoint)
        keys = {}
        for user, allowed in (("reader", True), ("nobody", False)):
            iam.create_user(UserName=user)
            k = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = (k["AccessKeyId"], k["SecretAccessKey"])
            if allowed:
                policy = {"Version": "2012-10-17"}
                policy["Statement"] = [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
                iam.put_user_policy(
                    UserName=user, PolicyName="all", PolicyDocument=json.dumps(policy)
                )
        # from now on every request needs a known key, allowed by IAM
        req = urllib.request.Request(
            f"{endpoint}/moto-api/reset-auth",
            data=b"0",
            method="POST",
            headers={"Content-Type": "text/plain"},
        )
        urllib.request.urlopen(req, timeout=10).read()
        mp.setenv("AWS_ACCESS_KEY_ID", keys["reader"][0])
        mp.setenv("AWS_SECRET_ACCESS_KEY", keys["reader"][1])
        local = tmp_path_factory.mktemp("bucket")
        _write_files(local)
        srv = S3(endpoint, keys, local)
        fs = srv.filesystem(allow_bucket_creation=True)
        fs.create_dir(BUCKET)
        pafs.copy_files(str(local), f"{BUCKET}/data", destination_filesystem=fs)
        yield srv
    finally:
        mp.undo()
        server.stop()


SPEC = {"target": "label", "categorical": ["color"], "features": ["f0", "f1", "f2", "f3", "color"]}

READERS = [
    (CsvDataset, "csv/a.csv", SPEC),
    (CsvDataset, "gz/a.csv.gz", SPEC),
    (CsvDataset, "csv/", SPEC),
    (CsvDataset, "csv/*.csv", SPEC),
    (ParquetDataset, "pq/a.parquet", SPEC),
    (ParquetDataset, "pq/*.parquet", SPEC),
    (ParquetDataset, "hive/", {**SPEC, "features": None, "categorical": ["color", "region"]}),
    (read_dataset, "csv/a.csv", SPEC),
    (
        read_dataset,
        "hive/",
        {"target": "rid", "task": "regression", "categorical": ["color", "region"]},
    ),
]


def _same(remote, local) -> None:
    assert torch.equal(remote.features, local.features)
    assert torch.equal(remote.targets, local.targets)
    assert remote.feature_names == local.feature_names
    assert remote.task == local.task


@pytest.mark.parametrize(("reader", "rel", "spec"), READERS)
def test_readers_give_the_tensors_of_local_files(s3, reader, rel, spec):
    remote = reader(s3.url(rel), **spec)
    local = reader(s3.path(rel), **spec)
    _same(remote, local)
    assert s3.keys["reader"][1] not in repr(remote)


def test_filesystem_argument_takes_a_ready_pyarrow_filesystem(s3):
    fs = s3.filesystem()
    local = ParquetDataset(s3.path("pq"), **SPEC)
    _same(ParquetDataset(f"{BUCKET}/data/pq", filesystem=fs, **SPEC), local)
    _same(
        read_dataset(
            [f"{BUCKET}/data/pq/a.parquet", f"{BUCKET}/data/pq/b.parquet"], filesystem=fs, **SPEC
        ),
        local,
    )
    stream = CsvStream(f"{BUCKET}/data/csv/a.csv", filesystem=fs, batch_size=64, **SPEC)
    X = torch.cat([x for x, _ in stream])
    assert torch.equal(X, CsvDataset(s3.path("csv/a.csv"), **SPEC).features)


def _batches(stream) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*list(stream))
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("shuffle", [False, True])
def test_streams_give_the_batches_of_local_files(s3, shuffle):
    kw = dict(SPEC, batch_size=48, shuffle=shuffle, seed=5, shuffle_buffer=128)
    for cls, rel, extra in (
        (ParquetStream, "pq/", {"chunk_rows": 40}),
        (ParquetStream, "hive/", {"features": None, "categorical": ["color", "region"]}),
        (CsvStream, "csv/*.csv", {"block_size": 3000}),
        (CsvStream, "gz/a.csv.gz", {}),
    ):
        remote = cls(s3.url(rel), **{**kw, **extra})
        local = cls(s3.path(rel), **{**kw, **extra})
        assert remote.n_units == local.n_units
        for a, b in zip(_batches(remote), _batches(local)):
            assert torch.equal(a, b)
        assert "s3://" in remote.source


@pytest.mark.parametrize(("world_size", "num_workers"), [(2, 0), (3, 0), (2, 1)])
def test_streams_read_every_row_once_over_ranks_and_workers(s3, world_size, num_workers):
    # with workers, the filesystem given travels to them (they start from a fork server
    # whose environment may predate this test's); URLs resolve again in a new process
    where = {"filesystem": s3.filesystem()} if num_workers else {}
    prefix = f"{BUCKET}/data/" if num_workers else "s3://" + BUCKET + "/data/"
    counts = set()
    for cls, rel, extra in (
        (ParquetStream, "pq/", {"chunk_rows": 40}),
        (CsvStream, "csv/", {"block_size": 2500}),
    ):
        seen = []
        for rank in range(world_size):
            stream = cls(
                prefix + rel,
                target="rid",
                task="regression",
                features=["f0", "f1"],
                batch_size=32,
                shuffle=True,
                seed=11,
                rank=rank,
                world_size=world_size,
                **extra,
                **where,
            )
            batches = [y for _, y in make_loader(stream, num_workers=num_workers)]
            counts.add(len(batches))
            seen.append(torch.cat(batches).flatten())
        got = torch.cat(seen).to(torch.int64).sort().values
        assert torch.equal(got, torch.arange(500))
    assert len(counts) <= 2  # every rank of one stream yields the same number of batches


def test_a_pickled_stream_resolves_its_urls_again(s3, monkeypatch):
    import pickle

    from tabloader.datasets import _remote

    stream = ParquetStream(s3.url("pq/"), batch_size=64, **SPEC)
    data = pickle.dumps(stream)
    assert s3.keys["reader"][1].encode() not in data  # credentials stay in the environment
    monkeypatch.setattr(_remote, "_CACHE", {})
    copy = pickle.loads(data)
    assert copy._files[0]._fs is None  # resolved on first use, in the new process
    for a, b in zip(_batches(copy), _batches(stream)):
        assert torch.equal(a, b)


def test_resume_from_a_saved_state(s3):
    def make():
        return ParquetStream(s3.url("pq/"), batch_size=40, shuffle=True, seed=2, **SPEC)

    full = list(make())
    stream = make()
    it = iter(stream)
    first = [next(it) for _ in range(5)]
    state = json.loads(json.dumps(stream.state_dict()))
    text = json.dumps(state)
    assert s3.url("pq/a.parquet") in text
    for secret in (*s3.keys["reader"], s3.endpoint):
        assert secret not in text
    again = make()
    again.load_state_dict(state)
    rest = list(again)
    assert len(first) + len(rest) == len(full)
    for (xa, ya), (xb, yb) in zip(first + rest, full):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_transient_errors_are_retried_and_skip_what_was_read(s3, monkeypatch):
    from tabloader.datasets import _remote

    monkeypatch.setattr(_remote, "BACKOFF_S", 0.0)
    stream = ParquetStream(s3.url("pq/a.parquet"), batch_size=64, chunk_rows=20, **SPEC)
    want = _batches(ParquetStream(s3.path("pq/a.parquet"), batch_size=64, **SPEC))
    calls: dict[tuple, int] = {}
    lock = threading.Lock()

    def flaky(fetch, key_of):  # every read breaks once, after one chunk (read-ahead threads)
        def read(units, columns):
            with lock:
                key = key_of(units)
                calls[key] = calls.get(key, 0) + 1
                first = calls[key] == 1
            for i, item in enumerate(fetch(units, columns)):
                if first and i == 1:
                    raise OSError("AWS Error NETWORK_CONNECTION during GetObject: curlCode: 56")
                yield item

        return read

    # adjacent row groups are read together (one ranged read), a single one alone
    monkeypatch.setattr(stream, "_fetch_unit", flaky(stream._fetch_unit, lambda u: (u.index,)))
    monkeypatch.setattr(
        stream, "_fetch_group", flaky(stream._fetch_group, lambda us: tuple(u.index for u in us))
    )
    for a, b in zip(_batches(stream), want):
        assert torch.equal(a, b)
    assert set(calls.values()) == {2}
    assert sorted(i for key in calls for i in key) == list(range(stream.n_units))

    def broken(unit, columns):
        raise OSError(
            "AWS Error NETWORK_CONNECTION during GetObject: curlCode: 28, Timeout was reached"
        )
        yield

    monkeypatch.setattr(stream, "_fetch_unit", broken)
    monkeypatch.setattr(stream, "_fetch_group", broken)
    with pytest.raises(StorageError, match=r"s3://tabloader-test/data/pq/a.parquet.*tried 3 times"):
        list(stream)


def test_read_ahead_is_bounded_and_stops(s3, monkeypatch):
    from tabloader.datasets import _readahead

    monkeypatch.setattr(_readahead, "READ_AHEAD_BYTES", 1)  # one chunk at a time
    stream = ParquetStream(s3.url("pq/"), batch_size=30, chunk_rows=16, **SPEC)
    local = ParquetStream(s3.path("pq/"), batch_size=30, chunk_rows=16, **SPEC)
    for a, b in zip(_batches(stream), _batches(local)):
        assert torch.equal(a, b)
    it = iter(stream)
    next(it)
    del it  # left early: the thread ends
    for t in threading.enumerate():
        if t.name == "tabloader-read-ahead":
            t.join(5)
            assert not t.is_alive()


# ---------------------------------------------------------------------- errors
def test_missing_key_and_missing_bucket(s3):
    with pytest.raises(
        DataFileNotFoundError,
        match=r"data file s3://tabloader-test/data/nope.parquet does not exist",
    ):
        ParquetDataset(s3.url("nope.parquet"), target="label")
    with pytest.raises(
        DataFileNotFoundError, match=r"s3://no-such-bucket/a.csv.*no bucket 'no-such-bucket'"
    ):
        CsvDataset("s3://no-such-bucket/a.csv", target="label")
    with pytest.raises(DataFileNotFoundError, match=r"glob pattern .* matches no data files"):
        ParquetStream(s3.url("pq/*.nope"), target="label", batch_size=4)
    with pytest.raises(FileNotFoundError):  # also the builtin
        CsvStream(s3.url("csv/nope/"), target="label", batch_size=4)


def test_bad_credentials_and_no_permission(s3, monkeypatch):
    from tabloader.datasets import _remote

    url = s3.url("pq/a.parquet")
    with pytest.raises(
        AccessError, match=r"access to s3://tabloader-test/data/pq/a.parquet was refused"
    ):
        ParquetDataset(
            f"{BUCKET}/data/pq/a.parquet", filesystem=s3.filesystem("AKIAUNKNOWN"), target="label"
        )
    with pytest.raises(PermissionError, match="refused"):  # also the builtin
        CsvStream(
            f"{BUCKET}/data/csv/", filesystem=s3.filesystem("nobody"), target="label", batch_size=8
        )
    # the same from the environment, as a user would set it
    monkeypatch.setattr(_remote, "_CACHE", {})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWN")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
    with pytest.raises(AccessError) as info:
        ParquetStream(url, target="label", batch_size=8)
    assert url in str(info.value) and "wrong-secret" not in str(info.value)
    monkeypatch.setattr(_remote, "_CACHE", {})


def test_timeout_is_a_storage_error(s3, monkeypatch):
    from tabloader.datasets import _remote

    monkeypatch.setattr(_remote, "BACKOFF_S", 0.0)
    monkeypatch.setattr(_remote, "RETRIES", 2)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections and never answers
    try:
        fs = pafs.S3FileSystem(
            access_key="a",
            secret_key="b",
            endpoint_override=f"http://127.0.0.1:{silent.getsockname()[1]}",
            connect_timeout=0.3,
            request_timeout=0.3,
            retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=1),
        )
        with pytest.raises(StorageError, match=r"could not read s3://bkt/a.csv: .*tried 2 times"):
            CsvDataset("bkt/a.csv", filesystem=fs, target="label")
    finally:
        silent.close()


def test_fsspec_protocols_and_filesystems():
    fsspec = pytest.importorskip("fsspec")
    mem = fsspec.filesystem("memory")
    df = _frame(120)
    with mem.open("/tl-test/x/a.csv", "wb") as fh:
        fh.write(df.to_csv(index=False).encode())
    with mem.open("/tl-test/x/b.parquet", "wb") as fh:
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), fh, row_group_size=25)
    local = TabularDataset.from_pandas(df, **SPEC)
    _same(CsvDataset("memory://tl-test/x/a.csv", **SPEC), local)
    _same(ParquetDataset("/tl-test/x/b.parquet", filesystem=mem, **SPEC), local)
    _same(read_dataset("memory://tl-test/x/*.parquet", **SPEC), local)
    stream = ParquetStream("memory://tl-test/x/*.parquet", batch_size=32, **SPEC)
    X, y = _batches(stream)
    assert torch.equal(X, local.features) and torch.equal(y, local.targets)
    with pytest.raises(DataFileNotFoundError, match=r"memory://tl-test/x/none\.csv"):
        CsvDataset("memory://tl-test/x/none.csv", target="label")
    mem.rm("/tl-test", recursive=True)


def test_local_paths_keep_their_behaviour(tmp_path):
    from tabloader.datasets._remote import RemotePath, is_remote

    df = _frame(50)
    df.to_csv(tmp_path / "a.csv", index=False)
    ds = CsvDataset(f"file://{tmp_path / 'a.csv'}", **SPEC)
    assert not is_remote(str(tmp_path / "a.csv"))
    assert torch.equal(ds.features, CsvDataset(str(tmp_path / "a.csv"), **SPEC).features)
    assert isinstance(RemotePath("s3://b/k", "b/k"), str)


# ---------------------------------------------------------------------- command line
def _cli(s3, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "tabloader", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_cli_trains_from_s3_and_says_what_is_missing(s3, tmp_path):
    out = tmp_path / "model.pt"
    done = _cli(
        s3,
        "train",
        s3.url("csv/"),
        "--target",
        "label",
        "--categorical",
        "color",
        "--features",
        "f0,f1,f2,f3,color",
        "--max-epochs",
        "2",
        "--out",
        str(out),
        "--quiet",
    )
    assert done.returncode == 0, done.stderr
    assert out.exists()
    assert s3.keys["reader"][1] not in out.read_bytes().decode("latin-1")
    for rel in ("csv/a.csv", "pq/a.parquet"):
        preds = tmp_path / "preds.csv"
        kept = _cli(s3, "predict", str(out), s3.url(rel), "--keep", "f0", "--out", str(preds))
        assert kept.returncode == 0, kept.stderr
        frame = pd.read_csv(preds)
        read = pd.read_csv if rel.endswith(".csv") else pd.read_parquet
        expected = read(s3.path(rel))["f0"].to_numpy()
        np.testing.assert_allclose(frame["f0"].to_numpy(), expected, rtol=1e-6)
    missing = _cli(s3, "train", s3.url("csv/none.csv"), "--target", "label")
    assert missing.returncode == 2
    assert "s3://tabloader-test/data/csv/none.csv does not exist" in missing.stderr
