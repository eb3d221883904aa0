"""Text form of the IR (printer and parser). See docs/IR_TEXT.md for the grammar.

`format_graph` prints a Graph as readable SSA text; `parse` reads it back. Printing is canonical
(attributes after defaults are filled, provenance sorted) and exact: with `max_inline=None` every
payload is printed in full and `parse(format_graph(g, max_inline=None))` equals `g` bit for bit
(`graphs_equal`). The printer, the parser and equality live in one module each.
"""

from .compare import describe_difference, graphs_equal, same_attr_value, same_attrs
from .parser import parse, random_payload
from .printer import format_attr_value, format_graph, format_type, format_value_name, payload_digest

__all__ = ["describe_difference", "format_attr_value", "format_graph", "format_type",
           "format_value_name", "graphs_equal", "parse", "payload_digest", "random_payload",
           "same_attr_value", "same_attrs"]
