"""o3 layer."""
