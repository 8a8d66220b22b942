import re

import ravelin
from ravelin import _core


def test_version_matches_the_crate():
    assert re.fullmatch(r"\d+\.\d+\.\d+", ravelin.__version__)
    assert ravelin.__version__ == _core.__version__


def test_core_errors_are_value_errors():
    assert issubclass(ravelin.RavelinError, ValueError)
    assert issubclass(ravelin.InvalidRuleError, ravelin.RavelinError)
    assert issubclass(ravelin.UnknownNameError, ravelin.RavelinError)


def test_package_is_typed():
    from importlib import resources

    assert resources.files("ravelin").joinpath("py.typed").is_file()
    assert resources.files("ravelin").joinpath("_core.pyi").is_file()


def test_guard_errors_carry_status_and_generic_message():
    err = ravelin.RateLimitedError("limit 10/minute on key k_1", retry_after=1.2)
    assert err.status == 429 and err.code == "rate_limited"
    assert err.headers["Retry-After"] == "2"
    assert "k_1" not in err.public_message
    assert issubclass(ravelin.RevokedKeyError, ravelin.AuthenticationError)
    assert ravelin.RevokedKeyError.status == 401
