"""A plugin module that fails to import (tests/unit/plugins/test_registry.py)."""

raise ImportError("this plugin needs a library that is not installed (on purpose)")
