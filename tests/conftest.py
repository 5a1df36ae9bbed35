"""For every test: a wide terminal, so tables the ``errand`` commands print in this process
(their consoles are made when ``errand.cli`` is imported) never cut what tests look for; and
a data directory of the run's own, so no test reads the user's ``errand.toml`` or writes in
the user's data directory (a test that needs a particular one sets ``ERRAND_HOME`` itself)."""

import os
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

os.environ.setdefault("COLUMNS", "200")

USER_DIRS = [
    Path(platformdirs.user_data_dir("errand")),
    Path(platformdirs.user_config_dir("errand")),
]


@pytest.fixture(autouse=True, scope="session")
def _run_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    absent = [path for path in USER_DIRS if not path.exists()]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ERRAND_HOME", str(tmp_path_factory.mktemp("errand-home")))
        yield
    made = [str(path) for path in absent if path.exists()]
    assert not made, f"the tests wrote in the user's own Errand folders: {made}"
