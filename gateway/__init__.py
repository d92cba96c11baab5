"""The HTTP face and persistence of one city gateway: FastAPI routes, SQLAlchemy, settings."""
