"""Where a video says it comes from: its Content Credentials (C2PA)."""
