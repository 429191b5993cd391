"""The C modules are built wherever they can be.

Both are optional at install time, and the tests comparing them with the Python
path skip without them: this makes a build that failed on a machine that has a
compiler and the Python headers a failure instead of a quiet skip.
"""

from __future__ import annotations

import shutil
import sysconfig
from pathlib import Path

import pytest

from leaktrace.protocols import dns
from leaktrace.sources import skim

CAN_BUILD = (
    shutil.which(str(sysconfig.get_config_var("CC") or "cc").split()[0]) is not None
    and (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file()
)


@pytest.mark.skipif(not CAN_BUILD, reason="no C compiler or Python headers here")
def test_native_modules_are_built_where_a_compiler_is() -> None:
    assert skim.NATIVE is not None, "sources/_skim.c was not built: pip install -e . again"
    assert dns.NATIVE is not None, "protocols/_dns.c was not built: pip install -e . again"
