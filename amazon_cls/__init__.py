"""amazon-cls: multi-label classification of Planet chips of the Amazon basin."""

import time

STARTED = time.monotonic()  # the package is imported first: entry points count elapsed time from here

from amazon_cls.config import register_resolvers  # noqa: E402

__version__ = "0.1.0"

register_resolvers()
