"""pgreconcile: repair drift between Django migrations and a live PostgreSQL database."""
__version__ = "0.1.0"
