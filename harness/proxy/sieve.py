"""Which requests no HTTP toxic on a pipe can match, decided from a request line's raw bytes.

A pipe whose HTTP toxics match only some requests (e.g. `POST /token`) lets every other request go
straight to the server without building a Request or calling a stage (RequestFramer.skim). The sieve
answers exactly what `HttpMatch.matches` would for each toxic, compiled once per change of toxics: exact
paths as a frozenset, prefixes as a tuple for bytes.startswith, regexes as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from harness.proxy.http import HttpMatch

PathTest = Callable[[bytes], bool]


def _always(path: bytes) -> bool:
    return True


def _path_test(matches: list[HttpMatch]) -> PathTest:
    """Whether any of `matches` (all for one method) matches a path, given as the target's bytes
    before the query string. A path is the latin-1 decoding of those bytes (see http._path_of), so a
    toxic path that is not latin-1 matches nothing."""
    exact: set[bytes] = set()
    prefixes: list[bytes] = []
    regexes = []
    for match in matches:
        if not match.path:
            return _always
        if match.match == "regex":
            regexes.append(match._regex)
            continue
        try:
            raw = match.path.encode("latin-1")
        except UnicodeEncodeError:
            continue
        if match.match == "exact":
            exact.add(raw)
        else:
            prefixes.append(raw)
    exact_set = frozenset(exact)
    prefix_tuple = tuple(prefixes)
    if not prefix_tuple and not regexes:
        return exact_set.__contains__

    def test(path: bytes) -> bool:
        if path in exact_set or (prefix_tuple and path.startswith(prefix_tuple)):
            return True
        text = path.decode("latin-1")
        return any(regex.search(text) is not None for regex in regexes)  # type: ignore[union-attr]

    return test


# (method, path test, path) for the native relay: method b"" for any; the test _relay.PATH_ANY, _EXACT, _PREFIX
NativeRules = tuple[tuple[bytes, int, bytes], ...]
PATH_ANY, PATH_EXACT, PATH_PREFIX = range(3)  # as harness/proxy/_relay.c numbers them


def _native_rules(matches: Iterable[HttpMatch]) -> NativeRules | None:
    """The relay's rules for these toxics, or None if one is a regex. A method that is not ASCII or a path that
    is not latin-1 matches no request (as in _path_test and RequestSieve.of): it is left out."""
    rules: list[tuple[bytes, int, bytes]] = []
    for match in matches:
        if match.path and match.match == "regex":
            return None
        try:
            method = match.method.encode("ascii")
            path = match.path.encode("latin-1")
        except UnicodeEncodeError:
            continue
        kind = PATH_ANY if not path else PATH_EXACT if match.match == "exact" else PATH_PREFIX
        rules.append((method, kind, path))
    return tuple(rules)


class RequestSieve:
    """`may_match(method, path)`: could one of the toxics match this request? Exact, not approximate:
    False means none of them will act on it."""

    __slots__ = ("_any_method", "_by_method", "native")

    def __init__(self, any_method: PathTest | None, by_method: dict[bytes, PathTest],
                 native: NativeRules | None = None):  # fmt: skip
        self._any_method = any_method
        self._by_method = by_method
        # The same tests for the native relay (harness/proxy/_relay.c), None if one is a regex (it has none).
        self.native = native

    @classmethod
    def of(cls, matches: Iterable[HttpMatch]) -> RequestSieve | None:
        """The sieve for these toxics; None when one of them matches every request (nothing to sift)."""
        matches = list(matches)
        grouped: dict[str, list[HttpMatch]] = {}
        for match in matches:
            if not match.method and not match.path:
                return None
            grouped.setdefault(match.method, []).append(match)
        any_method = _path_test(grouped.pop("")) if "" in grouped else None
        by_method: dict[bytes, PathTest] = {}
        for method, group in grouped.items():
            try:
                by_method[method.encode("ascii")] = _path_test(group)
            except UnicodeEncodeError:  # a request's method is ASCII: this toxic matches nothing
                continue
        return cls(any_method, by_method, _native_rules(matches))

    def may_match(self, method: bytes, path: bytes) -> bool:
        test = self._any_method
        if test is not None and test(path):
            return True
        test = self._by_method.get(method)
        return test is not None and test(path)


__all__ = ["RequestSieve"]
