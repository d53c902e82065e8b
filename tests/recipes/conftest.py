"""One private cache for every recipe test (``AMBIENT_DCS_CACHE``): the 1-epoch scoring classifier and
VAE are trained once for the whole session, then loaded; nothing reads or writes the user's cache."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AMBIENT_DCS_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield
