"""Errors the cleaning path reports about a document, as opposed to bugs."""


class DocumentError(ValueError):
    """A document that cannot be cleaned as sent; the message says why and what to do."""
