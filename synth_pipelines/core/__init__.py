"""What every stage shares: the request model, the table schema, settings, and small file/URI helpers."""
