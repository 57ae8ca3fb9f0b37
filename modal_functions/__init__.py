"""CanvasCast compute plane: three capabilities behind one HTTP job contract."""

__version__ = "0.1.0"
