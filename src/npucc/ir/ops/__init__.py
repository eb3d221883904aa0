"""The core op set. Importing this package registers every op declared in its modules."""
# ruff: noqa: I001  (a plain list, one line per op module; append new modules at the end)

from . import elementwise  # noqa: F401
from . import conv  # noqa: F401
from . import linear  # noqa: F401
from . import pool  # noqa: F401
from . import quant  # noqa: F401
from . import reduce  # noqa: F401
from . import resize  # noqa: F401
from . import shape  # noqa: F401
from . import detection  # noqa: F401
from . import unary_math  # noqa: F401
from . import logic  # noqa: F401
from . import normalization  # noqa: F401
from . import partition  # noqa: F401
from . import recurrent  # noqa: F401
from . import indexing  # noqa: F401
from . import roi  # noqa: F401
from . import box_decode  # noqa: F401
from . import signal  # noqa: F401
