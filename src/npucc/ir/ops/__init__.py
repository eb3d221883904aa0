"""The core op set. Importing this package registers every op declared in its modules."""

from . import elementwise  # noqa: F401
