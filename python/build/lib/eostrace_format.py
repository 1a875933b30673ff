"""Compatibility name: ``import eostrace_format`` is ``eostrace.format`` (the helper that used to
live in samples/python/). New code: ``import eostrace`` / ``from eostrace import format``."""
import sys as _sys

from eostrace import format as _format

_sys.modules[__name__] = _format
