"""DynamoDB expressions: parsed once, their trees copied as trees."""

from __future__ import annotations

import json
from typing import Any

from devstack.moto_patches.registry import replace

# -- expressions parsed once ---------------------------------------------------------------

def parsed_once() -> None:
    """moto parses an UpdateItem's expressions twice per call (to check the names and
    values used, then to apply them), and the same few expressions on every call. An
    update expression's tree depends on its text alone and nothing changes it (moto's
    validator works on a copy): one tree per text. A condition's depends on its names
    and values too: one per (text, names, values), so at least the second parse of a
    call is saved; the names and values it found are kept with it."""
    from moto.dynamodb.comparisons import ConditionExpressionParser
    from moto.dynamodb.parsing import expressions

    parser: Any = getattr(expressions, "UpdateExpressionParser")  # noqa: B009 - untyped
    real_make = parser.make.__func__
    trees: dict[str, Any] = {}

    def make(cls: Any, expression_str: str) -> Any:
        tree = trees.get(expression_str)
        if tree is None:
            if len(trees) >= _MEMO_SIZE:
                trees.clear()
            tree = trees[expression_str] = real_make(cls, expression_str)
        return tree

    real_parse = ConditionExpressionParser.parse
    ops: dict[tuple[str, str, str], tuple[Any, list[str], list[str]]] = {}

    def parse(self: Any) -> Any:
        try:
            key = (self.condition_expression or "",
                   json.dumps(self.expression_attribute_names, sort_keys=True),
                   json.dumps(self.expression_attribute_values, sort_keys=True))
        except TypeError:  # a value JSON cannot hold (bytes): parse as moto does
            return real_parse(self)
        found = ops.get(key)
        if found is None:
            op = real_parse(self)  # an invalid expression raises: nothing is kept
            if len(ops) >= _MEMO_SIZE:
                ops.clear()
            ops[key] = (op, list(self.expr_attr_names_found),
                        list(self.expr_attr_values_found))
            return op
        self.expr_attr_names_found.extend(found[1])
        self.expr_attr_values_found.extend(found[2])
        return found[0]

    replace(parser, "make", classmethod(make))
    replace(ConditionExpressionParser, "parse", parse)


_MEMO_SIZE = 512


# -- an update expression's tree copied as a tree ----------------------------------------

def trees_copied_plainly() -> None:
    """moto's update validator starts from copy.deepcopy of the expression's tree: the
    generic, pickle-protocol copy of every node (a fifth of the stack's CPU under load).
    A tree node holds only its type name, its children (nodes, or strings and numbers)
    and its parent: copying those is the same tree."""
    from moto.dynamodb.parsing import ast_nodes, validators

    node_class: Any = getattr(ast_nodes, "Node")  # noqa: B009 - untyped module

    def clone(node: Any, parent: Any) -> Any:
        copied = object.__new__(type(node))
        copied.__dict__.update(node.__dict__)
        copied.parent = parent
        if node.children is not None:
            copied.children = [clone(child, copied) if isinstance(child, node_class)
                               else child for child in node.children]
        return copied

    def __init__(self: Any, expression: Any, expression_attribute_names: Any,
                 expression_attribute_values: Any, item: Any, table: Any) -> None:
        # moto's Validator.__init__, with the copy above instead of copy.deepcopy
        self.expression_attribute_names = expression_attribute_names
        self.expression_attribute_values = expression_attribute_values
        self.item = item
        self.table = table
        self.processors = self.get_ast_processors()
        self.node_to_validate = clone(expression, expression.parent)

    replace(validators.Validator, "__init__", __init__)
