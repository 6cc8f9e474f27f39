"""khabar: the same news across outlets and languages."""

__version__ = "0.1.0"
