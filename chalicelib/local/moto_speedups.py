"""moto's per-request work that does not need to be redone for every request.

Sampled in the hour-long soak (100 endpoints, 21 runs/s), three costs stood out in the store,
none of them DynamoDB's semantics:

- Answers are written through botocore's shape walker, which for every attribute value of every
  item tries each of the ten members of `AttributeValue` with a picker that guesses key
  spellings: about 13% of the store's CPU. An attribute value is already in its wire form
  (`{"S": "..."}`); `attribute_value` copies it as the walker would, and anything else (an
  unknown member, an object instead of a dict) still goes through the walker.
- Every condition expression is cut into tokens by trying seven regular expressions in turn at
  each position, twice per UpdateItem (once to validate, once to evaluate): about 6%. The tokens
  depend only on the expression's text, of which the engine uses a handful; they are cached by
  text, and each request gets fresh nodes.
- Every request lists the handler class's methods through `inspect.getmembers` to check that
  the action exists: about 3.5%. A class's methods do not change while the store runs.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable
from typing import Any

ATTRIBUTE_VALUE = "AttributeValue"
LEXED_EXPRESSIONS = 1024
_STRINGS = ("S", "N")
_STRING_SETS = ("SS", "NS")
_FLAGS = ("NULL", "BOOL")
# What each shortcut replaced: (owner, attribute name, moto's own value).
_installed: list[tuple[Any, str, Any]] = []


class Unusual(Exception):
    """An attribute value not in its plain wire form: left to moto's own serializer."""


def _string(value: Any) -> Any:
    # The walker's string rule (moto BaseJSONSerializer._serialize_type_string).
    return str(value) if value not in (None, {}, []) else value


def attribute_value(value: Any, base64: Callable[[Any], str]) -> dict[str, Any]:
    """`value` (an AttributeValue as a dict) as moto's JSON serializer writes it.

    Raises Unusual for anything the shortcut does not cover exactly.
    """
    if type(value) is not dict:
        raise Unusual
    out: dict[str, Any] = {}
    for member, inner in value.items():
        if inner is None:
            continue  # the walker leaves absent members out
        if member in _STRINGS:
            out[member] = _string(inner)
        elif member in _FLAGS:
            out[member] = inner
        elif member == "B":
            out[member] = base64(inner)
        elif member in _STRING_SETS:
            out[member] = [_string(x) for x in _listed(inner)]
        elif member == "BS":
            out[member] = [base64(x) for x in _listed(inner)]
        elif member == "M":
            if type(inner) is not dict:
                raise Unusual
            out[member] = {k: attribute_value(v, base64) for k, v in inner.items()}
        elif member == "L":
            out[member] = [attribute_value(x, base64) for x in _listed(inner)]
        else:
            raise Unusual
    return out


def _listed(value: Any) -> list[Any]:
    if type(value) is not list:
        raise Unusual
    if any(x is None for x in value):
        raise Unusual  # the walker keeps a None as it is; not worth mirroring
    return value


def _install_serializer() -> None:
    from moto.core.serialize import JSONSerializer

    walk_structure = JSONSerializer._serialize_type_structure
    walk_map = JSONSerializer._serialize_type_map

    def is_dynamodb(serializer: Any) -> bool:
        return bool(serializer.service_model.service_name == "dynamodb")

    def shortcut(self: Any, out: Any, shape: Any, key: str, plain: Callable[[], Any]) -> bool:
        # Writes what `plain` makes, as the walker would; False leaves the value to the walker.
        try:
            value = plain()
        except Unusual:
            return False
        self._default_serialize(out, value, shape, key)
        return True

    def structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            key
            and shape.name == ATTRIBUTE_VALUE
            and is_dynamodb(self)
            and shortcut(self, serialized, shape, key, lambda: attribute_value(value, self._base64))
        ):
            return
        walk_structure(self, serialized, value, shape, key)

    def mapping(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        def plain() -> dict[str, Any]:
            return {k: attribute_value(v, self._base64) for k, v in value.items()}

        if (
            shape.value.name == ATTRIBUTE_VALUE
            and type(value) is dict
            and is_dynamodb(self)
            and shortcut(self, serialized, shape, key, plain)
        ):
            return
        walk_map(self, serialized, value, shape, key)

    _replace(JSONSerializer, "_serialize_type_structure", structure)
    _replace(JSONSerializer, "_serialize_type_map", mapping)


def _install_condition_lexing() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser as Parser

    lex = Parser._lex_condition_expression

    @functools.lru_cache(maxsize=LEXED_EXPRESSIONS)
    def tokens(expression: str) -> tuple[tuple[str, str, str], ...]:
        nodes = lex(Parser(expression, None, None))
        return tuple((node.nonterminal, node.kind, node.text) for node in nodes)

    def cached_lex(self: Any) -> deque[Any]:
        # Fresh nodes each time: later passes hand them on, and their children lists must
        # never be shared between requests.
        return deque(
            self.Node(nonterminal=nt, kind=kind, text=text, value=text, children=[])
            for nt, kind, text in tokens(self.condition_expression)
        )

    _replace(Parser, "_lex_condition_expression", cached_lex)


def _install_method_names() -> None:
    from moto.core import responses
    from moto.core.utils import method_names_from_class

    # call_action looks the name up in moto.core.responses at each request.
    _replace(responses, "method_names_from_class", functools.cache(method_names_from_class))


def _replace(owner: Any, name: str, value: Any) -> None:
    _installed.append((owner, name, getattr(owner, name)))
    setattr(owner, name, value)


def install() -> None:
    """Apply the three shortcuts to moto in this process; idempotent."""
    if _installed:
        return
    _install_serializer()
    _install_condition_lexing()
    _install_method_names()


def uninstall() -> None:
    """Give moto back its own code (tests compare the two)."""
    while _installed:
        owner, name, value = _installed.pop()
        setattr(owner, name, value)
