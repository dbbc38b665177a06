"""Wire adapters: bytes in, typed requests or one error of the family out.

They know nothing of storage. ``expertsender`` is the XML dialect of ExpertSender's
API v2; ``body`` reads request bodies within their limits.
"""
