"""groups layer."""
