"""amazon-cls: multi-label classification of Planet chips of the Amazon basin."""

from amazon_cls.config import register_resolvers

__version__ = "0.1.0"

register_resolvers()
