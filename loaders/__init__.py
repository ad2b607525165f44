"""DataLoader factories."""

__all__: list[str] = []
