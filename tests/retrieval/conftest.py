import pytest


@pytest.fixture(autouse=True)
def _videofm_scope():
    import tasks  # noqa: F401
    from mmengine.registry import init_default_scope
    init_default_scope('videofm')
