"""The page's helpers: theme, rendering of results, and the guards around the served app."""
