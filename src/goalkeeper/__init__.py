"""goalkeeper: business goals attributed to the messages that drove them.

Wire-compatible with ExpertSender's API v2 Goals method; see the README.
"""

__version__ = "0.1.0"
